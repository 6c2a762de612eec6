//! The one error type of a command, and the ONE mapping from errors to FTP replies.

use std::fmt;
use std::io;

use crate::fs::jail::{NotARegularFile, PathError};
use crate::protocol::command::ParseError;
use crate::protocol::reply::{codes, Reply};

/// Why a command failed. Each variant's doc names the reply code it becomes.
#[derive(Debug)]
pub enum FtpError {
    /// 501 or 522: the argument is malformed.
    Parse(ParseError),
    /// 501 for NUL in a path; 553 for a name the server reserves.
    Path(PathError),
    /// 530: the command needs a login.
    NotLoggedIn,
    /// 550: this login may not write.
    ReadOnly,
    /// 503: the command is out of order (the text says what was expected).
    BadSequence(&'static str),
    /// 504: the command is known but not for this parameter.
    NotForParameter(&'static str),
    /// 425: no PORT/PASV/EPRT/EPSV before a transfer.
    NoDataConnection,
    /// 425: the data connection could not be opened (or was refused).
    DataConnection(io::Error),
    /// 501: PORT/EPRT named another host or a privileged port (bounce protection).
    ForeignAddress,
    /// 426: the data connection broke during the transfer.
    TransferAborted,
    /// 550: not a regular file (RETR of a directory, FIFO or device).
    NotAPlainFile,
    /// 554: REST offset beyond the end of the file.
    InvalidRestart,
    /// 451: a listing reached the bound on entries per command.
    ListingTooLong(u64),
    /// 451: matching a LIST/NLST pattern took more work than one listing may.
    PatternTooCostly,
    /// 550, 450, 452, 552 or 451, from the `io::ErrorKind`.
    Io(io::Error),
    /// 502: AUTH on a server without a certificate (or built without TLS).
    TlsUnavailable,
    /// 530: `--tls-required` and USER came before AUTH TLS.
    TlsRequired,
    /// 521: `--tls-required` and a transfer without PROT P.
    ProtRequired,
    /// 522: `--tls-reuse-required` and the data connection did not resume the control
    /// connection's TLS session (what vsftpd answers, so clients' error texts match).
    TlsSessionNotResumed,
    /// 534: refused by policy (CCC; PROT C under implicit TLS).
    PolicyDenied(&'static str),
    /// 536: PROT S or E, which TLS does not offer.
    ProtNotSupported,
}

impl From<io::Error> for FtpError {
    fn from(e: io::Error) -> FtpError {
        if e.get_ref()
            .is_some_and(|inner| inner.is::<NotARegularFile>())
        {
            return FtpError::NotAPlainFile;
        }
        FtpError::Io(e)
    }
}

impl From<ParseError> for FtpError {
    fn from(e: ParseError) -> FtpError {
        FtpError::Parse(e)
    }
}

impl From<PathError> for FtpError {
    fn from(e: PathError) -> FtpError {
        FtpError::Path(e)
    }
}

impl fmt::Display for FtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FtpError::Parse(e) => write!(f, "{e}"),
            FtpError::Path(PathError::Nul) => f.write_str("Path contains a NUL byte."),
            FtpError::Path(PathError::Reserved) => f.write_str("File name not allowed."),
            FtpError::NotLoggedIn => f.write_str("Please login with USER and PASS."),
            FtpError::ReadOnly => f.write_str("Permission denied."),
            FtpError::BadSequence(expected) => write!(f, "Bad sequence of commands: {expected}."),
            FtpError::NotForParameter(what) => {
                write!(f, "Command not implemented for that parameter: {what}.")
            }
            FtpError::NoDataConnection => f.write_str("Use PORT, PASV, EPRT or EPSV first."),
            FtpError::DataConnection(_) => f.write_str("Can't open data connection."),
            FtpError::ForeignAddress => f.write_str(
                "Refused: the data connection must go to your own address, port 1024 or above.",
            ),
            FtpError::TransferAborted => f.write_str("Connection closed; transfer aborted."),
            FtpError::NotAPlainFile => f.write_str("Not a plain file."),
            FtpError::InvalidRestart => {
                f.write_str("Invalid REST parameter: beyond the end of the file.")
            }
            FtpError::ListingTooLong(n) => write!(f, "Listing stopped after {n} entries."),
            FtpError::PatternTooCostly => {
                f.write_str("Listing stopped: pattern too costly to match.")
            }
            FtpError::Io(e) => f.write_str(io_text(e.kind())),
            FtpError::TlsUnavailable => f.write_str("AUTH not available: TLS is not configured."),
            FtpError::TlsRequired => f.write_str("This server requires encryption: AUTH TLS first."),
            FtpError::ProtRequired => {
                f.write_str("Data connections must be encrypted: PBSZ 0 and PROT P first.")
            }
            FtpError::TlsSessionNotResumed => f.write_str(
                "TLS connection failed: the data connection must resume the control connection's TLS session.",
            ),
            FtpError::PolicyDenied(why) => write!(f, "Refused: {why}."),
            FtpError::ProtNotSupported => {
                f.write_str("Protection level not supported by TLS; use PROT P or PROT C.")
            }
        }
    }
}

fn io_text(kind: io::ErrorKind) -> &'static str {
    use io::ErrorKind::*;
    match kind {
        NotFound => "No such file or directory.",
        PermissionDenied | ReadOnlyFilesystem => "Permission denied.",
        AlreadyExists => "File exists.",
        IsADirectory => "Is a directory.",
        NotADirectory => "Not a directory.",
        DirectoryNotEmpty => "Directory not empty.",
        StorageFull | QuotaExceeded => "Insufficient storage space.",
        FileTooLarge => "Exceeded storage allocation.",
        InvalidInput | InvalidFilename => "Invalid file name.",
        CrossesDevices => "Cannot rename across file systems.",
        WouldBlock => "File busy; try again later.",
        Unsupported => "Not possible on this system.",
        _ => "Local error in processing.",
    }
}

impl FtpError {
    pub fn code(&self) -> u16 {
        match self {
            FtpError::Parse(ParseError::UnsupportedProtocol) => {
                codes::NETWORK_PROTOCOL_NOT_SUPPORTED
            }
            FtpError::Parse(_) | FtpError::Path(PathError::Nul) | FtpError::ForeignAddress => {
                codes::SYNTAX_ERROR_ARGS
            }
            FtpError::Path(PathError::Reserved) => codes::BAD_FILE_NAME,
            FtpError::NotLoggedIn => codes::NOT_LOGGED_IN,
            FtpError::ReadOnly | FtpError::NotAPlainFile => codes::FILE_UNAVAILABLE,
            FtpError::BadSequence(_) => codes::BAD_SEQUENCE,
            FtpError::NotForParameter(_) => codes::NOT_IMPLEMENTED_FOR_PARAM,
            FtpError::NoDataConnection | FtpError::DataConnection(_) => codes::CANT_OPEN_DATA,
            FtpError::TransferAborted => codes::TRANSFER_ABORTED,
            FtpError::InvalidRestart => codes::INVALID_REST,
            FtpError::ListingTooLong(_) | FtpError::PatternTooCostly => codes::LOCAL_ERROR,
            FtpError::Io(e) => io_code(e.kind()),
            FtpError::TlsUnavailable => codes::NOT_IMPLEMENTED,
            FtpError::TlsRequired => codes::NOT_LOGGED_IN,
            FtpError::ProtRequired => codes::PROT_REFUSED,
            FtpError::TlsSessionNotResumed => codes::NETWORK_PROTOCOL_NOT_SUPPORTED,
            FtpError::PolicyDenied(_) => codes::POLICY_DENIED,
            FtpError::ProtNotSupported => codes::PROT_NOT_SUPPORTED,
        }
    }

    pub fn to_reply(&self) -> Reply {
        Reply::new(self.code(), self.to_string())
    }
}

fn io_code(kind: io::ErrorKind) -> u16 {
    use io::ErrorKind::*;
    match kind {
        StorageFull | QuotaExceeded => codes::INSUFFICIENT_STORAGE,
        FileTooLarge => codes::EXCEEDED_STORAGE,
        InvalidFilename => codes::BAD_FILE_NAME,
        // A file under a lease (or otherwise busy): a temporary refusal, try later.
        WouldBlock => codes::FILE_BUSY,
        NotFound | PermissionDenied | ReadOnlyFilesystem | AlreadyExists | IsADirectory
        | NotADirectory | DirectoryNotEmpty | InvalidInput | CrossesDevices | Unsupported => {
            codes::FILE_UNAVAILABLE
        }
        _ => codes::LOCAL_ERROR,
    }
}

/// The result of a handler: the reply to send, or an error that maps to one.
pub type FtpResult = Result<Reply, FtpError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_kinds_map_to_codes() {
        let code = |k| FtpError::Io(io::Error::from(k)).code();
        assert_eq!(code(io::ErrorKind::NotFound), 550);
        assert_eq!(code(io::ErrorKind::StorageFull), 452);
        assert_eq!(code(io::ErrorKind::QuotaExceeded), 452);
        assert_eq!(code(io::ErrorKind::FileTooLarge), 552);
        assert_eq!(code(io::ErrorKind::Other), 451);
        assert_eq!(code(io::ErrorKind::WouldBlock), 450);
        assert_eq!(code(io::ErrorKind::Unsupported), 550);
    }

    #[test]
    fn not_a_regular_file_is_typed_not_any_invalid_input() {
        let typed = FtpError::from(crate::fs::jail::not_a_regular_file());
        assert!(matches!(typed, FtpError::NotAPlainFile), "{typed:?}");
        assert_eq!(typed.to_reply().code, 550);
        assert_eq!(typed.to_string(), "Not a plain file.");
        let other = FtpError::from(io::Error::new(io::ErrorKind::InvalidInput, "bad"));
        assert!(matches!(other, FtpError::Io(_)), "{other:?}");
    }

    #[test]
    fn parse_errors_map_to_501_and_522() {
        assert_eq!(FtpError::Parse(ParseError::MissingArgument).code(), 501);
        assert_eq!(FtpError::Parse(ParseError::UnsupportedProtocol).code(), 522);
    }
}
