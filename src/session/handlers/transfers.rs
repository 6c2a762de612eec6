//! RETR, STOR, APPE, STOU, REST, ABOR: the commands that move file contents.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::time::{Instant, SystemTime};

use crate::error::{FtpError, FtpResult};
use crate::fs::jail::JailedPath;
use crate::net::data_channel::{self, DataSetup};
use crate::net::stream::Stream;
use crate::net::transfer::{self, AtomicUpload, Flow, TransferError};
use crate::os::sys::Interest;
use crate::protocol::command::TransferType;
use crate::protocol::reply::{codes, Reply};
use crate::session::{Progress as Watched, Session};
use crate::xferlog::{self, Direction};
use std::os::fd::AsRawFd;

/// Sends the preliminary reply, opens the data connection that the last PASV/EPSV/PORT/EPRT
/// set up (each set-up serves one transfer), runs `copy` over it and closes it, so that the
/// final reply goes after the data connection is closed. Under PROT P the data connection is
/// TLS (`Session::data_stream`); under `--tls-required` it must be.
pub(super) fn over_data_connection(
    s: &mut Session,
    preliminary: Reply,
    copy: impl FnOnce(&mut Session, &mut Stream) -> Result<u64, TransferError>,
) -> Result<u64, TransferError> {
    over_data_connection_towards(s, preliminary, Direction::Outgoing, copy)
}

/// [`over_data_connection`] for data going the way `direction` says (uploads: `Incoming`).
fn over_data_connection_towards(
    s: &mut Session,
    preliminary: Reply,
    direction: Direction,
    copy: impl FnOnce(&mut Session, &mut Stream) -> Result<u64, TransferError>,
) -> Result<u64, TransferError> {
    if s.tls_required_for(None) && !s.state.protect_data {
        return Err(TransferError::Failed(FtpError::ProtRequired));
    }
    let setup = std::mem::take(&mut s.state.data);
    if !setup.is_ready() {
        return Err(TransferError::Failed(FtpError::NoDataConnection));
    }
    s.send(&preliminary).map_err(TransferError::Network)?;
    let timeout = s.ctx.config.data_timeout;
    let tcp = match setup {
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
    data_channel::prepare(&tcp, timeout).map_err(TransferError::Network)?;
    let mut stream = s
        .data_stream(tcp, direction)
        .map_err(TransferError::Failed)?;
    let moved = copy(s, &mut stream)?;
    // TLS: close_notify, so the client can tell the end of the data from a truncation. Best
    // effort: the bytes are out, and after an upload the client may be gone already.
    let _ = stream.finish();
    Ok(moved)
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
            direction: direction_of(verb),
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
        Err(TransferError::Disk(e)) => (0, Err(FtpError::from(e))),
    }
}

fn mode_name(kind: TransferType) -> &'static str {
    match kind {
        TransferType::Ascii => "ASCII",
        TransferType::Image => "BINARY",
    }
}

/// RETR sends; the other transfer verbs (STOR, APPE, STOU) receive.
fn direction_of(verb: &str) -> Direction {
    if verb == "RETR" {
        Direction::Outgoing
    } else {
        Direction::Incoming
    }
}

/// The one skeleton of a file transfer (RETR, STOR, REST+STOR, APPE, STOU): the preliminary
/// reply, the data connection, `copy` over it (which reports its progress for STAT and for
/// the count of a transfer that fails midway), then the final reply with the transfer's log
/// and xferlog lines.
fn run_transfer(
    s: &mut Session,
    verb: &str,
    path: &JailedPath,
    preliminary: Vec<u8>,
    done: Reply,
    copy: impl FnOnce(&mut Session, &mut Stream, &Progress) -> Result<u64, TransferError>,
) -> FtpResult {
    let started = Instant::now();
    let progress = Progress::default();
    let outcome = over_data_connection_towards(
        s,
        Reply::new(codes::OPENING_DATA, preliminary),
        direction_of(verb),
        |s, data| copy(s, data, &progress),
    );
    finish(s, verb, path, started, &progress, outcome, done)
}

fn transfer_complete() -> Reply {
    Reply::new(codes::CLOSING_DATA, "Transfer complete.")
}

pub fn retr(s: &mut Session, arg: &[u8]) -> FtpResult {
    let offset = std::mem::take(&mut s.state.restart_offset);
    let path = s.resolve(arg)?;
    let (mut file, size) = transfer::open_for_download(&path)?;
    if offset > size {
        return Err(FtpError::InvalidRestart);
    }
    if offset > 0 {
        file.seek(SeekFrom::Start(offset))?;
    }
    let kind = s.state.transfer_type;
    let preliminary = opening_text(kind, path.virtual_path().file_name(), Some(size - offset));
    let max_rate = s.ctx.config.max_rate;
    run_transfer(
        s,
        "RETR",
        &path,
        preliminary,
        transfer_complete(),
        |s, data, progress| {
            let fd = data.as_raw_fd();
            transfer::send(&mut file, data, kind, size - offset, max_rate, |n| {
                s.watch_transfer(progress.saw(n), fd, Interest::Writable)
            })
        },
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

/// Where an upload's bytes go, and what completing it means.
enum Upload {
    /// STOR: a new file that replaces the target only once complete.
    Atomic(AtomicUpload),
    /// REST+STOR (`cut_at_end`: the file then ends where the upload ended) and APPE: the
    /// existing file, opened and positioned.
    InPlace { file: File, cut_at_end: bool },
    /// STOU: a new file under a unique name (removed again by [`stou`] if the upload fails).
    Unique(File),
}

impl Upload {
    fn file(&mut self) -> &mut File {
        match self {
            Upload::Atomic(upload) => upload.file(),
            Upload::InPlace { file, .. } | Upload::Unique(file) => file,
        }
    }

    /// The upload arrived complete: make it what the client asked for.
    fn complete(self) -> io::Result<()> {
        match self {
            Upload::Atomic(upload) => upload.commit(),
            Upload::InPlace {
                mut file,
                cut_at_end: true,
            } => {
                let end = file.stream_position()?;
                file.set_len(end)
            }
            Upload::InPlace { .. } | Upload::Unique(_) => Ok(()),
        }
    }
}

/// Every upload (STOR, REST+STOR, APPE, STOU) on the transfer skeleton.
fn receive_upload(
    s: &mut Session,
    verb: &str,
    path: &JailedPath,
    mut upload: Upload,
    preliminary: Vec<u8>,
    done: Reply,
) -> FtpResult {
    let kind = s.state.transfer_type;
    run_transfer(s, verb, path, preliminary, done, |s, data, progress| {
        let n = receive_into(s, data, upload.file(), kind, progress)?;
        upload.complete().map_err(TransferError::Disk)?;
        Ok(n)
    })
}

/// Receives into `file` and, for an upload, checks that the client is still there: a data
/// connection that ends while the control connection is already gone is an aborted upload.
fn receive_into(
    s: &mut Session,
    data: &mut Stream,
    file: &mut File,
    kind: TransferType,
    progress: &Progress,
) -> Result<u64, TransferError> {
    let fd = data.as_raw_fd();
    let max_rate = s.ctx.config.max_rate;
    let splice = s.ctx.config.splice_uploads;
    let n = transfer::receive(data, file, kind, max_rate, splice, |n| {
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

fn upload_opening_text(s: &Session, path: &JailedPath) -> Vec<u8> {
    opening_text(s.state.transfer_type, path.virtual_path().file_name(), None)
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
    let upload = AtomicUpload::create(&path, s.ctx.config.unnamed_uploads)?;
    let preliminary = upload_opening_text(s, &path);
    let done = transfer_complete();
    receive_upload(s, "STOR", &path, Upload::Atomic(upload), preliminary, done)
}

/// REST + STOR: resume an upload in place from `offset` (what resume means; not atomic).
/// Nothing is cut before the data has arrived: the file keeps its old tail until the upload
/// completes, and only then ends where the upload ended.
fn stor_resume(s: &mut Session, path: JailedPath, offset: u64) -> FtpResult {
    let mut file = transfer::open_in_place(&path, false).map_err(|e| match e.kind() {
        // Resuming a file that does not exist: the offset is past its end.
        io::ErrorKind::NotFound => FtpError::InvalidRestart,
        _ => FtpError::from(e),
    })?;
    if offset > file.metadata()?.len() {
        return Err(FtpError::InvalidRestart);
    }
    file.seek(SeekFrom::Start(offset))?;
    let upload = Upload::InPlace {
        file,
        cut_at_end: true,
    };
    let preliminary = upload_opening_text(s, &path);
    receive_upload(s, "STOR", &path, upload, preliminary, transfer_complete())
}

/// APPE: append in place (creating the file if needed).
pub fn appe(s: &mut Session, arg: &[u8]) -> FtpResult {
    s.state.restart_offset = 0;
    let path = s.resolve_in_place(arg)?;
    let upload = Upload::InPlace {
        file: transfer::open_in_place(&path, true)?,
        cut_at_end: false,
    };
    let preliminary = upload_opening_text(s, &path);
    receive_upload(s, "APPE", &path, upload, preliminary, transfer_complete())
}

/// STOU: store under a new name in the working directory that cannot collide with any file.
pub fn stou(s: &mut Session) -> FtpResult {
    s.state.restart_offset = 0;
    let dir = s.resolve(b".")?;
    let (file, path) = transfer::create_unique(&dir)?;
    let mut preliminary = b"FILE: ".to_vec();
    preliminary.extend_from_slice(path.virtual_path().file_name());
    let done = Reply::new(codes::FILE_ACTION_OK, "Transfer complete.");
    let result = receive_upload(s, "STOU", &path, Upload::Unique(file), preliminary, done);
    // Anything but the final positive reply (426 included) means no complete upload.
    if !matches!(&result, Ok(reply) if reply.code < 400) {
        let _ = path.remove_file();
    }
    result
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
