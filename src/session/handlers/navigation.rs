//! PWD, CWD, CDUP.

use crate::error::{FtpError, FtpResult};
use crate::protocol::reply::{codes, quote_path, Reply};
use crate::session::Session;

pub fn pwd(s: &mut Session) -> FtpResult {
    let mut text = quote_path(&s.state.cwd.to_bytes());
    text.extend_from_slice(b" is the current directory.");
    Ok(Reply::new(codes::PATH_CREATED, text))
}

/// CWD and CDUP (`..`). The working directory stays the path the client named (through any
/// symlinks inside the jail), as a shell's logical `pwd` does.
pub fn cwd(s: &mut Session, arg: &[u8]) -> FtpResult {
    let target = s.resolve(arg)?;
    if !target.stat()?.is_dir() {
        return Err(FtpError::Io(std::io::ErrorKind::NotADirectory.into()));
    }
    s.state.cwd = target.virtual_path().clone();
    Ok(Reply::new(
        codes::FILE_ACTION_OK,
        "Directory successfully changed.",
    ))
}
