//! RETR, STOR, APPE, STOU, REST, ABOR: the commands that move file contents.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::net::TcpStream;
use std::time::{Instant, SystemTime};

use crate::error::{FtpError, FtpResult};
use crate::fs::jail::JailedPath;
use crate::net::data_channel::{self, DataSetup};
use crate::net::transfer::{self, AtomicUpload, Flow, TransferError};
use crate::os::sys::Interest;
use crate::protocol::command::TransferType;
use crate::protocol::reply::{codes, Reply};
use crate::session::{Progress as Watched, Session};
use crate::xferlog::{self, Direction};
use std::os::fd::AsRawFd;

/// Sends the preliminary reply, opens the data connection that the last PASV/EPSV/PORT/EPRT
/// set up (each set-up serves one transfer), runs `copy` over it and closes it, so that the
/// final reply goes after the data connection is closed.
pub(super) fn over_data_connection(
    s: &mut Session,
    preliminary: Reply,
    copy: impl FnOnce(&mut Session, &mut TcpStream) -> Result<u64, TransferError>,
) -> Result<u64, TransferError> {
    let setup = std::mem::take(&mut s.state.data);
    if !setup.is_ready() {
        return Err(TransferError::Failed(FtpError::NoDataConnection));
    }
    s.send(&preliminary).map_err(TransferError::Network)?;
    let timeout = s.ctx.config.data_timeout;
    let mut stream = match setup {
        DataSetup::Passive(listener) => data_channel::accept_from(&listener, s.peer_ip(), timeout),
        DataSetup::Active(target) => {
            let source = s
                .ctx
                .config
                .port_20
                .then(|| data_channel::port_20_source(s.local, target))
                .flatten();
            data_channel::connect_active(target, source, timeout)
        }
        DataSetup::None => Err(FtpError::NoDataConnection),
    }
    .map_err(TransferError::Failed)?;
    data_channel::prepare(&stream, timeout).map_err(TransferError::Network)?;
    copy(s, &mut stream)
}

/// The bytes a transfer has moved so far, as last seen by its watcher: what an aborted or
/// failed transfer reports, since its error carries no count.
#[derive(Default)]
struct Progress(Cell<u64>);

impl Progress {
    fn saw(&self, bytes: u64) -> u64 {
        self.0.set(bytes);
        bytes
    }
}

/// The final reply for a transfer's outcome, with the one log line per transfer (and the
/// xferlog line, for a transfer that started).
fn finish(
    s: &Session,
    verb: &str,
    path: &JailedPath,
    started: Instant,
    progress: &Progress,
    outcome: Result<u64, TransferError>,
    done: Reply,
) -> FtpResult {
    let started_moving = !matches!(outcome, Err(TransferError::Failed(_)));
    let moved = match &outcome {
        Ok(bytes) => *bytes,
        Err(_) => progress.0.get(),
    };
    let (_, result) = outcome_reply(s, outcome, done);
    let complete = matches!(&result, Ok(r) if r.code < 400);
    let status = match &result {
        Ok(r) if r.code < 400 => "ok".to_string(),
        Ok(r) => format!("failed {}", r.code),
        Err(e) => format!("failed {}", e.code()),
    };
    let virtual_path = s.logged_path(path.virtual_path());
    let path_text = String::from_utf8_lossy(&virtual_path).into_owned();
    let elapsed = started.elapsed();
    log::info!(
        "transfer: {} user={} {verb} {path_text} bytes={moved} secs={:.3} {status}",
        s.peer,
        s.user_name(),
        elapsed.as_secs_f64()
    );
    if let (Some(log), true) = (&s.ctx.xferlog, started_moving) {
        log.log(&xferlog::Entry {
            end: SystemTime::now(),
            duration: elapsed,
            remote: s.peer_ip(),
            bytes: moved,
            path: &virtual_path,
            kind: s.state.transfer_type,
            direction: if verb == "RETR" {
                Direction::Outgoing
            } else {
                Direction::Incoming
            },
            anonymous: s
                .user()
                .is_some_and(|u| crate::auth::is_anonymous_name(u.name.as_bytes())),
            user: s.user_name(),
            complete,
        });
    }
    result
}

/// The final reply for a listing; listings are logged at debug level only.
pub(super) fn finish_listing(
    s: &Session,
    path: &JailedPath,
    started: Instant,
    outcome: Result<u64, TransferError>,
) -> FtpResult {
    let (entries, result) = outcome_reply(
        s,
        outcome,
        Reply::new(codes::CLOSING_DATA, "Directory send OK."),
    );
    log::debug!(
        "{} listed {} ({entries} entries, {:.3}s)",
        s.peer,
        String::from_utf8_lossy(&path.virtual_path().to_bytes()),
        started.elapsed().as_secs_f64()
    );
    result
}

fn outcome_reply(
    s: &Session,
    outcome: Result<u64, TransferError>,
    done: Reply,
) -> (u64, FtpResult) {
    match outcome {
        Ok(bytes) => (bytes, Ok(done)),
        Err(TransferError::Failed(e)) => (0, Err(e)),
        Err(TransferError::Aborted) => (
            0,
            Ok(Reply::new(codes::TRANSFER_ABORTED, "Transfer aborted.")),
        ),
        Err(TransferError::Network(e)) => {
            log::debug!("{} data connection: {e}", s.peer);
            (0, Err(FtpError::TransferAborted))
        }
        Err(TransferError::Disk(e)) => (0, Err(FtpError::Io(e))),
    }
}

fn mode_name(kind: TransferType) -> &'static str {
    match kind {
        TransferType::Ascii => "ASCII",
        TransferType::Image => "BINARY",
    }
}

pub fn retr(s: &mut Session, arg: &[u8]) -> FtpResult {
    let offset = std::mem::take(&mut s.state.restart_offset);
    let path = s.resolve(arg)?;
    let mut file = transfer::open_for_download(&path).map_err(|e| match e.kind() {
        io::ErrorKind::InvalidInput => FtpError::NotAPlainFile,
        _ => FtpError::Io(e),
    })?;
    let size = file.metadata()?.len();
    if offset > size {
        return Err(FtpError::InvalidRestart);
    }
    file.seek(SeekFrom::Start(offset))?;
    let kind = s.state.transfer_type;
    let preliminary = Reply::new(
        codes::OPENING_DATA,
        opening_text(kind, path.virtual_path().file_name(), Some(size - offset)),
    );
    let started = Instant::now();
    let progress = Progress::default();
    let max_rate = s.ctx.config.max_rate;
    let outcome = over_data_connection(s, preliminary, |s, data| {
        let fd = data.as_raw_fd();
        transfer::send(&mut file, data, kind, max_rate, |n| {
            s.watch_transfer(progress.saw(n), fd, Interest::Writable)
        })
    });
    finish(
        s,
        "RETR",
        &path,
        started,
        &progress,
        outcome,
        Reply::new(codes::CLOSING_DATA, "Transfer complete."),
    )
}

fn opening_text(kind: TransferType, name: &[u8], size: Option<u64>) -> Vec<u8> {
    let mut text = format!("Opening {} mode data connection for ", mode_name(kind)).into_bytes();
    text.extend_from_slice(name);
    if let Some(size) = size {
        text.extend_from_slice(format!(" ({size} bytes)").as_bytes());
    }
    text.push(b'.');
    text
}

/// Receives into `file` and, for an upload, checks that the client is still there: a data
/// connection that ends while the control connection is already gone is an aborted upload.
fn receive_into(
    s: &mut Session,
    data: &mut TcpStream,
    file: &mut File,
    kind: TransferType,
    progress: &Progress,
) -> Result<u64, TransferError> {
    let fd = data.as_raw_fd();
    let max_rate = s.ctx.config.max_rate;
    let n = transfer::receive(data, file, kind, max_rate, |n| {
        s.watch_transfer(progress.saw(n), fd, Interest::Readable)
    })?;
    progress.saw(n);
    // The data connection ended; if ABOR or the end of the control connection is already
    // here, the client did not mean this to be the end of the file.
    if s.look_at_control(Watched::Bytes(n)) == Flow::Abort || s.control_closed() {
        return Err(TransferError::Aborted);
    }
    Ok(n)
}

pub fn stor(s: &mut Session, arg: &[u8]) -> FtpResult {
    let offset = std::mem::take(&mut s.state.restart_offset);
    let path = s.resolve_entry(arg)?;
    if path.stat_entry().is_ok_and(|m| m.is_dir()) {
        return Err(FtpError::Io(io::ErrorKind::IsADirectory.into()));
    }
    if offset > 0 {
        return stor_resume(s, s.resolve_in_place(arg)?, offset);
    }
    let kind = s.state.transfer_type;
    let mut upload = AtomicUpload::create(&path, s.ctx.config.unnamed_uploads)?;
    let preliminary = Reply::new(
        codes::OPENING_DATA,
        opening_text(kind, path.virtual_path().file_name(), None),
    );
    let started = Instant::now();
    let progress = Progress::default();
    let outcome = over_data_connection(s, preliminary, |s, data| {
        let n = receive_into(s, data, upload.file(), kind, &progress)?;
        upload.commit().map_err(TransferError::Disk)?;
        Ok(n)
    });
    finish(
        s,
        "STOR",
        &path,
        started,
        &progress,
        outcome,
        Reply::new(codes::CLOSING_DATA, "Transfer complete."),
    )
}

/// REST + STOR: resume an upload in place from `offset` (what resume means; not atomic).
/// Nothing is cut before the data has arrived: the file keeps its old tail until the upload
/// completes, and only then ends where the upload ended.
fn stor_resume(s: &mut Session, path: JailedPath, offset: u64) -> FtpResult {
    let mut file = open_in_place(&path, false).map_err(|e| match e {
        // Resuming a file that does not exist: the offset is past its end.
        FtpError::Io(e) if e.kind() == io::ErrorKind::NotFound => FtpError::InvalidRestart,
        other => other,
    })?;
    if offset > file.metadata()?.len() {
        return Err(FtpError::InvalidRestart);
    }
    file.seek(SeekFrom::Start(offset))?;
    receive_in_place(s, "STOR", &path, file, true)
}

/// APPE: append in place (creating the file if needed).
pub fn appe(s: &mut Session, arg: &[u8]) -> FtpResult {
    s.state.restart_offset = 0;
    let path = s.resolve_in_place(arg)?;
    let file = open_in_place(&path, true)?;
    receive_in_place(s, "APPE", &path, file, false)
}

fn open_in_place(path: &JailedPath, append: bool) -> Result<File, FtpError> {
    transfer::open_in_place(path, append).map_err(|e| match e.kind() {
        io::ErrorKind::InvalidInput => FtpError::NotAPlainFile,
        _ => FtpError::Io(e),
    })
}

/// The upload of REST+STOR and APPE, into a file already opened and positioned. With
/// `cut_at_end`, a completed upload also ends the file where the upload ended.
fn receive_in_place(
    s: &mut Session,
    verb: &str,
    path: &JailedPath,
    mut file: File,
    cut_at_end: bool,
) -> FtpResult {
    let kind = s.state.transfer_type;
    let preliminary = Reply::new(
        codes::OPENING_DATA,
        opening_text(kind, path.virtual_path().file_name(), None),
    );
    let started = Instant::now();
    let progress = Progress::default();
    let outcome = over_data_connection(s, preliminary, |s, data| {
        let n = receive_into(s, data, &mut file, kind, &progress)?;
        if cut_at_end {
            let end = file.stream_position().map_err(TransferError::Disk)?;
            file.set_len(end).map_err(TransferError::Disk)?;
        }
        Ok(n)
    });
    finish(
        s,
        verb,
        path,
        started,
        &progress,
        outcome,
        Reply::new(codes::CLOSING_DATA, "Transfer complete."),
    )
}

/// STOU: store under a new name in the working directory that cannot collide with any file.
pub fn stou(s: &mut Session) -> FtpResult {
    s.state.restart_offset = 0;
    let dir = s.resolve(b".")?;
    let (mut file, path) = transfer::create_unique(&dir)?;
    let mut preliminary = b"FILE: ".to_vec();
    preliminary.extend_from_slice(path.virtual_path().file_name());
    let kind = s.state.transfer_type;
    let started = Instant::now();
    let progress = Progress::default();
    let outcome = over_data_connection(
        s,
        Reply::new(codes::OPENING_DATA, preliminary),
        |s, data| receive_into(s, data, &mut file, kind, &progress),
    );
    if outcome.is_err() {
        let _ = path.remove_file();
    }
    finish(
        s,
        "STOU",
        &path,
        started,
        &progress,
        outcome,
        Reply::new(codes::FILE_ACTION_OK, "Transfer complete."),
    )
}

/// REST (RFC 3659 5): the offset for the next RETR/STOR/APPE. Refused in TYPE A, where byte
/// offsets on disk and on the wire differ (resuming would corrupt the file).
pub fn rest(s: &mut Session, offset: u64) -> FtpResult {
    if s.state.transfer_type == TransferType::Ascii {
        return Err(FtpError::NotForParameter("REST in ASCII mode; use TYPE I"));
    }
    s.state.restart_offset = offset;
    Ok(Reply::new(
        codes::PENDING_FURTHER_INFO,
        format!("Restart position accepted ({offset})."),
    ))
}

/// ABOR outside a transfer (and right after an aborted one, whose 426 has gone out already):
/// drops any data connection set up but not used.
pub fn abor(s: &mut Session) -> Reply {
    s.state.data = DataSetup::None;
    s.state.restart_offset = 0;
    Reply::new(codes::CLOSING_DATA, "ABOR successful.")
}
