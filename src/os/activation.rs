//! Sockets the process is given instead of binding its own: the one connection that inetd
//! (xinetd, tcpsvd, systemd `Accept=yes`) passes as stdin, and the listening sockets that systemd
//! socket activation passes from descriptor 3 on (`LISTEN_FDS`/`LISTEN_PID`, sd_listen_fds(3)).
//! Also the pid file, the other thing an init system asks of a server at start-up.

use std::fs;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use crate::os::sys;

/// The first descriptor systemd passes (SD_LISTEN_FDS_START).
pub const LISTEN_FDS_START: RawFd = 3;

/// More passed sockets than any sane unit has; a bigger LISTEN_FDS is taken as garbage.
const MAX_LISTEN_FDS: usize = 1024;

/// How many descriptors systemd passed to this process, following sd_listen_fds(3): none unless
/// LISTEN_PID names this very process (a child that inherited the variables by mistake must not
/// take descriptors that are not its own) and LISTEN_FDS is a count.
pub fn listen_fds_count(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    my_pid: u32,
) -> Result<usize, String> {
    let Some(pid) = listen_pid else {
        return Ok(0);
    };
    let pid: u32 = pid
        .trim()
        .parse()
        .map_err(|_| format!("LISTEN_PID is not a process id: '{pid}'"))?;
    if pid != my_pid {
        return Ok(0);
    }
    let Some(count) = listen_fds else {
        return Ok(0);
    };
    match count.trim().parse::<usize>() {
        Ok(n) if n <= MAX_LISTEN_FDS => Ok(n),
        _ => Err(format!("LISTEN_FDS is not a descriptor count: '{count}'")),
    }
}

/// Reads how many descriptors systemd passed (see [`listen_fds_count`]) and removes LISTEN_PID,
/// LISTEN_FDS and LISTEN_FDNAMES from the environment either way, as sd_listen_fds(1) does, so
/// nothing this process starts takes them for its own.
///
/// Call it first thing in `main`, while the process is still single-threaded (changing the
/// environment is only sound then).
pub fn take_systemd_environment() -> io::Result<usize> {
    let listen_pid = std::env::var("LISTEN_PID").ok();
    let listen_fds = std::env::var("LISTEN_FDS").ok();
    for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(name);
    }
    listen_fds_count(
        listen_pid.as_deref(),
        listen_fds.as_deref(),
        std::process::id(),
    )
    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// Takes the `count` listening sockets systemd passed from descriptor 3 on. Call it before the
/// process opens any file of its own.
pub fn systemd_listeners(count: usize) -> io::Result<Vec<TcpListener>> {
    (0..count)
        .map(|i| {
            let fd = LISTEN_FDS_START + i as RawFd;
            // SAFETY: by the socket-activation protocol, descriptors from LISTEN_FDS_START on
            // were passed for this process to own, and the caller adopts them before it opens
            // any file of its own, so nothing else owns this number.
            let listener = TcpListener::from(unsafe { sys::adopt_listening_socket(fd) }?);
            // A Unix or UDP socket passes the checks above but has no IP address to serve on.
            listener.local_addr().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("descriptor {fd} from systemd is not a TCP socket"),
                )
            })?;
            Ok(listener)
        })
        .collect()
}

/// The connection inetd passed as stdin, as a descriptor of our own. Then stdin and stdout,
/// and stderr when it is the same socket (classic inetd passes the connection as all three),
/// are pointed at /dev/null: nothing but the session may write to the control connection, not
/// even a log line or a panic message. (With tcpsvd, or systemd's `StandardError=journal`,
/// stderr is separate and the log goes there.)
pub fn inetd_connection() -> io::Result<TcpStream> {
    let not_a_connection = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "--inetd: stdin is not a TCP connection (start it from inetd, xinetd, tcpsvd or a systemd Accept=yes socket)",
        )
    };
    let socket = sys::duplicate_inherited_socket(0).map_err(|_| not_a_connection())?;
    let stream = TcpStream::from(socket);
    stream.peer_addr().map_err(|_| not_a_connection())?;
    let stderr_is_connection = sys::same_file(2, stream.as_raw_fd());
    // SAFETY: 0, 1 and 2 are the standard descriptors; their only other users are std's stdio
    // handles, which from now on read and write /dev/null instead of the client's socket.
    unsafe {
        sys::redirect_to_dev_null(0)?;
        sys::redirect_to_dev_null(1)?;
        if stderr_is_connection {
            sys::redirect_to_dev_null(2)?;
        }
    }
    Ok(stream)
}

/// The `--pidfile`: written once the server listens, removed when this value is dropped (a
/// clean exit). Removal after dropping privileges may fail; that is logged, not fatal.
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    pub fn create(path: &Path) -> io::Result<PidFile> {
        fs::write(path, format!("{}\n", std::process::id()))
            .map_err(|e| io::Error::new(e.kind(), format!("--pidfile {}: {e}", path.display())))?;
        Ok(PidFile {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_file(&self.path) {
            log::warn!("cannot remove pid file {}: {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sd_listen_fds_semantics() {
        assert_eq!(listen_fds_count(None, None, 42), Ok(0));
        assert_eq!(listen_fds_count(None, Some("2"), 42), Ok(0));
        assert_eq!(listen_fds_count(Some("41"), Some("2"), 42), Ok(0));
        assert_eq!(listen_fds_count(Some("42"), None, 42), Ok(0));
        assert_eq!(listen_fds_count(Some("42"), Some("2"), 42), Ok(2));
        assert_eq!(listen_fds_count(Some("42"), Some("0"), 42), Ok(0));
        assert!(listen_fds_count(Some("x"), Some("1"), 42).is_err());
        assert!(listen_fds_count(Some("42"), Some("-1"), 42).is_err());
        assert!(listen_fds_count(Some("42"), Some("99999"), 42).is_err());
    }
}
