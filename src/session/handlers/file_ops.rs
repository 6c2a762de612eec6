//! Commands on files and directories that need no data connection: MKD, RMD, DELE, RNFR/RNTO,
//! SIZE, MDTM, MFMT, SITE.

use crate::error::{FtpError, FtpResult};
use crate::fs::jail::JailedPath;
use crate::fs::listing;
use crate::protocol::command::SiteArg;
use crate::protocol::reply::{codes, quote_path, Reply};
use crate::session::Session;

pub fn mkd(s: &mut Session, arg: &[u8]) -> FtpResult {
    let path = s.resolve_entry(arg)?;
    path.create_dir()?;
    let mut text = quote_path(&path.virtual_path().to_bytes());
    text.extend_from_slice(b" created.");
    Ok(Reply::new(codes::PATH_CREATED, text))
}

pub fn rmd(s: &mut Session, arg: &[u8]) -> FtpResult {
    let path = s.resolve_entry(arg)?;
    path.remove_dir()?;
    Ok(Reply::new(
        codes::FILE_ACTION_OK,
        "Remove directory operation successful.",
    ))
}

pub fn dele(s: &mut Session, arg: &[u8]) -> FtpResult {
    let path = s.resolve_entry(arg)?;
    if path.stat_entry()?.is_dir() {
        return Err(FtpError::Io(std::io::ErrorKind::IsADirectory.into()));
    }
    path.remove_file()?;
    Ok(Reply::new(
        codes::FILE_ACTION_OK,
        "Delete operation successful.",
    ))
}

pub fn rnfr(s: &mut Session, arg: &[u8]) -> FtpResult {
    let path = s.resolve_entry(arg)?;
    path.stat_entry()?;
    s.state.rename_from = Some(path);
    Ok(Reply::new(codes::PENDING_FURTHER_INFO, "Ready for RNTO."))
}

pub fn rnto(s: &mut Session, from: Option<JailedPath>, arg: &[u8]) -> FtpResult {
    let from = from.ok_or(FtpError::BadSequence("RNFR first"))?;
    let to = s.resolve_entry(arg)?;
    from.rename_to(&to)?;
    Ok(Reply::new(codes::FILE_ACTION_OK, "Rename successful."))
}

/// SIZE (RFC 3659 4): the size on disk. In TYPE A we still give the binary size, as vsftpd
/// does: clients use it for progress, and counting line ends would mean reading the file.
pub fn size(s: &mut Session, arg: &[u8]) -> FtpResult {
    let meta = s.resolve(arg)?.stat()?;
    if !meta.is_file() {
        return Err(FtpError::NotAPlainFile);
    }
    Ok(Reply::new(codes::FILE_STATUS, meta.size.to_string()))
}

pub fn mdtm(s: &mut Session, arg: &[u8]) -> FtpResult {
    let meta = s.resolve(arg)?.stat()?;
    Ok(Reply::new(codes::FILE_STATUS, listing::mdtm(meta.mtime)))
}

/// MFMT (draft-somers-ftp-mfxx): set the modification time, as FileZilla does after an upload.
/// Set on the entry by name in its held directory, never opened: works on a file nobody may
/// read, and a FIFO or device is not touched.
pub fn mfmt(s: &mut Session, unix_secs: i64, arg: &[u8]) -> FtpResult {
    let path = not_the_root(s.resolve(arg)?)?;
    path.set_mtime(unix_secs)?;
    let mut text = format!("Modify={}; ", listing::mdtm(unix_secs)).into_bytes();
    text.extend_from_slice(&path.virtual_path().to_bytes());
    Ok(Reply::new(codes::FILE_STATUS, text))
}

pub fn site(s: &mut Session, arg: SiteArg) -> FtpResult {
    match arg {
        SiteArg::Help => Ok(Reply::new(codes::HELP, "SITE commands: CHMOD HELP")),
        SiteArg::Chmod(mode, path) => {
            if !s.writable() {
                return Err(FtpError::ReadOnly);
            }
            let path = not_the_root(s.resolve(&path)?)?;
            // No set-user-ID, set-group-ID or sticky bits from a client. Never opened (so
            // `SITE CHMOD 000` can be undone by a server that is not root).
            path.set_mode(mode & 0o777)?;
            Ok(Reply::new(codes::OK, "SITE CHMOD command ok."))
        }
        SiteArg::Umask(_) | SiteArg::Unknown(_) => Ok(Reply::new(
            codes::NOT_IMPLEMENTED,
            "SITE command not implemented.",
        )),
    }
}

/// The served directory itself (also through a link to it) is not the client's to change:
/// `SITE CHMOD 0 /` would lock every session out.
fn not_the_root(path: JailedPath) -> Result<JailedPath, FtpError> {
    if path.virtual_path().is_root() || path.is_jail_root() {
        return Err(FtpError::Io(std::io::ErrorKind::PermissionDenied.into()));
    }
    Ok(path)
}
