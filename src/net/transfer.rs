//! The only code that moves file bytes: downloads, uploads, ASCII conversion and the atomic
//! upload (a hidden temporary file renamed over the target only when the upload completed).

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::fs::jail::{
    not_a_regular_file, Access, JailedPath, OpenDir, MAX_DEPTH, RESERVED_PREFIX,
};
use crate::net::stream::Stream;
use crate::os::dirents::{DirentKind, Dirents};
use crate::os::splice::Pipe;
use crate::os::sys;
use crate::protocol::command::TransferType;

/// Bytes per read/write: large enough that syscall overhead is small next to the copy.
const CHUNK: usize = 256 * 1024;

/// Uploads wake the session when this much has arrived (or the stream ended), not per segment:
/// fewer wake-ups, more throughput and less CPU per byte (the `cargo bench` figures are in the
/// README, Performance). A slow sender that leaves less than this is noticed by the session's
/// watch (`Session::watch_transfer`).
const RECEIVE_LOW_WATER: usize = 128 * 1024;

/// What the watcher of a transfer (the session, looking at its control connection between
/// chunks) wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Abort,
    /// No progress on the data connection for the data timeout.
    Stalled,
}

impl Flow {
    fn check(self) -> Result<(), TransferError> {
        match self {
            Flow::Continue => Ok(()),
            Flow::Abort => Err(TransferError::Aborted),
            Flow::Stalled => Err(TransferError::Network(io::ErrorKind::TimedOut.into())),
        }
    }
}

/// Why a transfer stopped early; the session maps each to its reply.
#[derive(Debug)]
pub enum TransferError {
    /// The data connection failed or timed out (426).
    Network(io::Error),
    /// Reading or writing the file failed (451, 452 for a full disk).
    Disk(io::Error),
    /// The client sent ABOR, or left, before the transfer ended (426; ABOR's 226 follows).
    Aborted,
    /// The server refused to go on (425 when the data connection could not be set up, 451
    /// for a listing over its bound): the reply is the error's.
    Failed(crate::error::FtpError),
}

/// A token bucket for `--max-rate`: on average at most `rate` bytes per second, in bursts of
/// at most a tenth of a second's worth (and never more than a chunk). The sleep in
/// [`Throttle::grant`] is the rate limiter; it is that short so that ABOR and STAT are still
/// answered within about 0.1 s on a throttled transfer.
#[derive(Debug)]
pub struct Throttle {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Throttle {
    pub fn new(bytes_per_second: u64) -> Throttle {
        let rate = bytes_per_second.max(1) as f64;
        let burst = (rate / 10.0).clamp(1.0, CHUNK as f64);
        Throttle {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// How many bytes (at most `want`, at least 1) may go now; first sleeps until a burst's
    /// worth (or `want`, if smaller) has accrued.
    pub fn grant(&mut self, want: usize) -> usize {
        self.refill();
        let need = (want as f64).min(self.burst).max(1.0);
        if self.tokens < need {
            std::thread::sleep(Duration::from_secs_f64((need - self.tokens) / self.rate));
            self.refill();
        }
        (self.tokens.floor().max(1.0) as usize).min(want.max(1))
    }

    /// Records bytes that went, which may be more than granted (ASCII conversion adds CRs):
    /// the debt is paid by waiting longer next time.
    pub fn spend(&mut self, bytes: usize) {
        self.tokens -= bytes as f64;
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let earned = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + earned).min(self.burst);
        self.last = now;
    }
}

/// How many bytes the next chunk may carry.
fn allowance(throttle: &mut Option<Throttle>, chunk: usize) -> usize {
    throttle.as_mut().map_or(chunk, |t| t.grant(chunk))
}

fn spent(throttle: &mut Option<Throttle>, bytes: usize) {
    if let Some(t) = throttle {
        t.spend(bytes);
    }
}

/// Sends `len` bytes of `file` from its current position to the data connection (what the 150
/// reply announced: a file that grows meanwhile is sent as it was, and a small file needs no
/// second call to see its end; 0, a file that does not know its size such as procfs, is read
/// to its end), at most `max_rate` bytes per second when given. `watch` is called before each
/// chunk with the byte count so far. TYPE I on a plain connection goes through sendfile(2);
/// TYPE A, TLS, and files sendfile cannot read, through a buffer.
pub fn send(
    file: &mut File,
    data: &mut Stream,
    kind: TransferType,
    len: u64,
    max_rate: Option<u64>,
    mut watch: impl FnMut(u64) -> Flow,
) -> Result<u64, TransferError> {
    let mut total = 0u64;
    let mut throttle = max_rate.map(Throttle::new);
    let len = if len == 0 { u64::MAX } else { len };
    if let (TransferType::Image, Some(socket)) = (kind, data.plain()) {
        let sending = Sending { file, socket, len };
        match send_with_sendfile(sending, &mut total, &mut throttle, &mut watch) {
            Err(TransferError::Disk(e)) if total == 0 && unsupported(&e) => {}
            done => return done,
        }
    }
    send_buffered(file, data, kind, len, &mut throttle, watch)
}

/// Bytes per sendfile(2) call: fewer calls and wake-ups than 256 KiB chunks, which stayed well
/// below the raw sendfile ceiling in `cargo bench` retr-big (figures: README, Performance).
/// ABOR and STAT are still answered within one chunk (a few ms at LAN speed). Not larger: a
/// blocking sendfile is not interrupted by the control connection, and a client that stops
/// reading until its STAT or ABOR is answered (Python's ftplib abort) must find the chunk
/// absorbed by the socket buffers, or both sides wait for the data timeout.
const SENDFILE_CHUNK: usize = 1024 * 1024;

/// What a sendfile(2) download moves: `len` bytes of `file` to `socket`.
struct Sending<'a> {
    file: &'a File,
    socket: &'a TcpStream,
    len: u64,
}

fn send_with_sendfile(
    sending: Sending<'_>,
    total: &mut u64,
    throttle: &mut Option<Throttle>,
    watch: &mut impl FnMut(u64) -> Flow,
) -> Result<u64, TransferError> {
    while *total < sending.len {
        watch(*total).check()?;
        let left = usize::try_from(sending.len - *total).unwrap_or(usize::MAX);
        let allowed = allowance(throttle, SENDFILE_CHUNK.min(left));
        let n = match sys::sendfile(sending.socket, sending.file, allowed) {
            Ok(n) => n,
            // sendfile reports errors of either side; a socket error is a network error.
            Err(e) if is_network_error(&e) => return Err(TransferError::Network(e)),
            Err(e) => return Err(TransferError::Disk(e)),
        };
        if n == 0 {
            return Ok(*total);
        }
        spent(throttle, n);
        *total += n as u64;
    }
    Ok(*total)
}

fn is_network_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
    )
}

/// Sends up to `len` bytes of `file` (fewer at its end) through a buffer, converted for TYPE A;
/// the count returned is of bytes sent.
fn send_buffered(
    file: &mut File,
    data: &mut Stream,
    kind: TransferType,
    len: u64,
    throttle: &mut Option<Throttle>,
    mut watch: impl FnMut(u64) -> Flow,
) -> Result<u64, TransferError> {
    let mut buf = vec![0u8; CHUNK];
    let mut converted = Vec::new();
    let (mut total, mut left) = (0u64, len);
    while left > 0 {
        watch(total).check()?;
        let allowed = allowance(throttle, CHUNK).min(usize::try_from(left).unwrap_or(CHUNK));
        let n = read_retrying(file, &mut buf[..allowed]).map_err(TransferError::Disk)?;
        if n == 0 {
            break;
        }
        left -= n as u64;
        let out = match kind {
            TransferType::Image => &buf[..n],
            TransferType::Ascii => {
                lf_to_crlf(&buf[..n], &mut converted);
                &converted[..]
            }
        };
        data.write_all(out).map_err(TransferError::Network)?;
        spent(throttle, out.len());
        total += out.len() as u64;
    }
    Ok(total)
}

/// Receives the data connection into `file` until the client closes it, at most `max_rate`
/// bytes per second when given (reading slower makes TCP slow the sender down). TYPE I on a
/// plain connection goes socket -> pipe -> file by splice(2) when `splice` allows; TYPE A, TLS,
/// and files splice cannot write (an O_APPEND file for APPE, some file systems), through a
/// buffer.
pub fn receive(
    data: &mut Stream,
    file: &mut File,
    kind: TransferType,
    max_rate: Option<u64>,
    splice: bool,
    mut watch: impl FnMut(u64) -> Flow,
) -> Result<u64, TransferError> {
    let mut total = 0u64;
    let mut throttle = max_rate.map(Throttle::new);
    // Best effort: without it the upload still works, only with more wake-ups. Not under TLS,
    // whose reads take a record's pieces as they come.
    if let Some(socket) = data.plain() {
        let _ = sys::set_receive_low_water(socket, RECEIVE_LOW_WATER);
        if let (TransferType::Image, true) = (kind, splice) {
            if copy_first_reads(socket, file, &mut total, &mut throttle, &mut watch)? {
                return Ok(total);
            }
            receive_with_splice(socket, file, &mut total, &mut throttle, &mut watch)?;
        }
    }
    receive_buffered(data, file, kind, total, &mut throttle, watch)
}

/// Bytes per splice(2) of an upload, and the pipe's size: the most an unprivileged process gets
/// by default (/proc/sys/fs/pipe-max-size), for the fewest calls per GiB (figures: README,
/// Performance).
const SPLICE_PIPE: usize = 1024 * 1024;

/// Reads copied before an upload is moved by splice(2): an upload that ends within them (a
/// small file) costs no pipe, which would take more calls than it saves (figures: README,
/// Performance).
const COPIED_READS: usize = 2;

/// Copies the first [`COPIED_READS`] reads of `socket` into `file`; true when the stream ended.
fn copy_first_reads(
    mut socket: &TcpStream,
    mut file: &File,
    total: &mut u64,
    throttle: &mut Option<Throttle>,
    watch: &mut impl FnMut(u64) -> Flow,
) -> Result<bool, TransferError> {
    let mut buf = vec![0u8; CHUNK];
    for _ in 0..COPIED_READS {
        watch(*total).check()?;
        let allowed = allowance(throttle, CHUNK);
        let n = read_retrying(&mut socket, &mut buf[..allowed]).map_err(TransferError::Network)?;
        if n == 0 {
            return Ok(true);
        }
        file.write_all(&buf[..n]).map_err(TransferError::Disk)?;
        spent(throttle, n);
        *total += n as u64;
    }
    Ok(false)
}

/// Moves an upload by splice(2) until splice is refused or returns 0, with `total` bytes in
/// the file and none waiting in a pipe: the rest, or the confirmation that there is none, then
/// goes through a buffer.
fn receive_with_splice(
    socket: &TcpStream,
    file: &File,
    total: &mut u64,
    throttle: &mut Option<Throttle>,
    watch: &mut impl FnMut(u64) -> Flow,
) -> Result<(), TransferError> {
    let Ok(pipe) = Pipe::new(SPLICE_PIPE) else {
        return Ok(());
    };
    loop {
        watch(*total).check()?;
        let allowed = allowance(throttle, pipe.capacity());
        let n = match pipe.fill_from(socket, allowed) {
            Ok(n) => n,
            Err(e) if unsupported(&e) => return Ok(()),
            Err(e) => return Err(TransferError::Network(e)),
        };
        if n == 0 {
            // The end of the stream, or TCP urgent data at the head of the queue, where
            // splice(2) also returns 0: a read tells them apart (it steps over the mark).
            return Ok(());
        }
        let refused = empty_pipe_into(&pipe, file, n)?;
        spent(throttle, n);
        *total += n as u64;
        if refused {
            return Ok(());
        }
    }
}

/// Moves the `len` bytes waiting in `pipe` into `file`, by splice(2) or, where the file refuses
/// it, by read + write (then true: the caller goes on without the pipe).
fn empty_pipe_into(pipe: &Pipe, file: &File, mut len: usize) -> Result<bool, TransferError> {
    while len > 0 {
        match pipe.drain_to(file, len) {
            Ok(0) => return Err(TransferError::Disk(io::ErrorKind::WriteZero.into())),
            Ok(n) => len -= n,
            Err(e) if unsupported(&e) => {
                copy_out_of_pipe(pipe, file, len).map_err(TransferError::Disk)?;
                return Ok(true);
            }
            Err(e) => return Err(TransferError::Disk(e)),
        }
    }
    Ok(false)
}

fn copy_out_of_pipe(pipe: &Pipe, mut file: &File, len: usize) -> io::Result<()> {
    let mut buf = vec![0u8; len.min(CHUNK)];
    let mut left = len;
    while left > 0 {
        let n = read_retrying(&mut pipe.reader(), &mut buf[..left.min(CHUNK)])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        file.write_all(&buf[..n])?;
        left -= n;
    }
    Ok(())
}

/// sendfile(2) or splice(2) refused for these descriptors (nothing moved): copy instead.
fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)
    )
}

fn receive_buffered(
    data: &mut Stream,
    file: &mut File,
    kind: TransferType,
    mut total: u64,
    throttle: &mut Option<Throttle>,
    mut watch: impl FnMut(u64) -> Flow,
) -> Result<u64, TransferError> {
    let mut buf = vec![0u8; CHUNK];
    let mut converted = Vec::new();
    let mut pending_cr = false;
    loop {
        // Bytes TLS already decrypted are not on the socket for the watcher's poll to see.
        if !data.has_buffered_input() {
            watch(total).check()?;
        }
        let allowed = allowance(throttle, CHUNK);
        let n = read_retrying(data, &mut buf[..allowed]).map_err(TransferError::Network)?;
        if n == 0 {
            if pending_cr {
                file.write_all(b"\r").map_err(TransferError::Disk)?;
            }
            return Ok(total);
        }
        let out = match kind {
            TransferType::Image => &buf[..n],
            TransferType::Ascii => {
                pending_cr = crlf_to_lf(&buf[..n], pending_cr, &mut converted);
                &converted[..]
            }
        };
        file.write_all(out).map_err(TransferError::Disk)?;
        spent(throttle, n);
        total += n as u64;
    }
}

fn read_retrying(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// TYPE A download: every LF becomes CRLF (what vsftpd and BusyBox do).
fn lf_to_crlf(input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    for line in input.split_inclusive(|&b| b == b'\n') {
        match line.split_last() {
            Some((b'\n', body)) => {
                out.extend_from_slice(body);
                out.extend_from_slice(b"\r\n");
            }
            _ => out.extend_from_slice(line),
        }
    }
}

/// TYPE A upload: CRLF becomes LF; a lone CR stays. `pending_cr` carries a CR that ended the
/// previous chunk; the return value says whether this chunk ends in one.
fn crlf_to_lf(input: &[u8], pending_cr: bool, out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut cr = pending_cr;
    for &b in input {
        if cr && b != b'\n' {
            out.push(b'\r');
        }
        cr = b == b'\r';
        if !cr {
            out.push(b);
        }
    }
    cr
}

/// Opens a file for download, with its size: must be a regular file (a FIFO or device is
/// refused; the open is non-blocking, so a FIFO cannot hang the session first).
pub fn open_for_download(path: &JailedPath) -> io::Result<(File, u64)> {
    let (file, stat) = open_regular(path, Access::Read)?;
    Ok((file, stat.size))
}

/// Opens a file to write in place: REST+STOR (an existing file, resumed) and APPE (created if
/// needed). Resuming means writing into the existing file, so these are not atomic; that is
/// what resume is for. Anything but a regular file is refused (a FIFO without a reader, a
/// socket: ENXIO), so the session never blocks in the open or on the first write.
pub fn open_in_place(path: &JailedPath, append: bool) -> io::Result<File> {
    let access = if append {
        Access::Append
    } else {
        Access::WriteExisting
    };
    open_regular(path, access).map(|(file, _)| file)
}

/// Opens `path` for I/O, refusing anything but a regular file. A Unix socket cannot be opened
/// at all (ENXIO): that too is "not a regular file", not a local error.
fn open_regular(path: &JailedPath, access: Access) -> io::Result<(File, sys::FileStat)> {
    let (file, stat) = path
        .open_checked(access)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENXIO) => not_a_regular_file(),
            _ => e,
        })?;
    let stat = match stat {
        Some(stat) => stat,
        None => sys::stat_fd(file.as_fd())?,
    };
    if !stat.is_file() {
        return Err(not_a_regular_file());
    }
    Ok((file, stat))
}

/// STOU: creates a new file in `dir` under a name no existing file has (`O_EXCL` makes the
/// check and the creation one step).
pub fn create_unique(dir: &JailedPath) -> io::Result<(File, JailedPath)> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    loop {
        let n = UPLOAD_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.child(std::ffi::OsStr::new(&format!("stou.{stamp}.{n}")))?;
        match path.open(Access::CreateNew) {
            Ok(file) => return Ok((file, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

static UPLOAD_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new upload that replaces its target only when [`AtomicUpload::commit`] is called. Dropped
/// without commit (error, abort, a dropped connection, a panic), it leaves the old target
/// untouched and no file behind. It holds its directory open, so the final step happens in that
/// directory even if it was renamed meanwhile.
///
/// The file is written unnamed (O_TMPFILE) where possible and linked under its name at the end:
/// one directory operation per new file instead of create + rename, which is what ext4
/// serialises when many uploads land in one directory; a crash then leaves nothing behind. A
/// target that exists by then is replaced by linking under a temporary name and renaming.
/// Elsewhere the file is a hidden named temporary from the start.
pub struct AtomicUpload {
    file: File,
    dir: OpenDir,
    /// `None` while the file is unnamed.
    temp_name: Option<OsString>,
    target_name: OsString,
    committed: bool,
}

impl AtomicUpload {
    /// `allow_unnamed: false` always takes the named-temporary route (tests cover both).
    pub fn create(target: &JailedPath, allow_unnamed: bool) -> io::Result<AtomicUpload> {
        let (dir, target_name) = target.open_parent()?;
        let unnamed = if allow_unnamed {
            dir.create_unnamed()?
        } else {
            None
        };
        let (file, temp_name) = match unnamed {
            Some(file) => (file, None),
            None => {
                let (file, name) = create_named_temporary(&dir)?;
                (file, Some(name))
            }
        };
        Ok(AtomicUpload {
            file,
            dir,
            temp_name,
            target_name,
            committed: false,
        })
    }

    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Makes the upload visible under its name. rename(2) itself refuses to replace a
    /// directory (EISDIR), so no extra check is needed.
    pub fn commit(mut self) -> io::Result<()> {
        self.file.flush()?;
        if self.temp_name.is_none() {
            match self.dir.link(&self.file, &self.target_name) {
                Ok(()) => {
                    self.committed = true;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let name = link_under_temporary_name(&self.dir, &self.file)?;
                    self.temp_name = Some(name);
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(temp) = &self.temp_name {
            self.dir.rename(temp, &self.target_name)?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for AtomicUpload {
    fn drop(&mut self) {
        if let (false, Some(temp)) = (self.committed, &self.temp_name) {
            let _ = self.dir.remove_file(temp);
        }
    }
}

/// A hidden temporary name carrying our pid, so that a later start can tell a stale one (see
/// [`remove_stale_temporaries`]).
fn temporary_name(n: u64) -> OsString {
    let mut name = RESERVED_PREFIX.to_vec();
    name.extend_from_slice(format!("{}.{n}", std::process::id()).as_bytes());
    OsString::from_vec(name)
}

fn create_named_temporary(dir: &OpenDir) -> io::Result<(File, OsString)> {
    loop {
        let name = temporary_name(UPLOAD_COUNTER.fetch_add(1, Ordering::Relaxed));
        match dir.create_new(&name) {
            Ok(file) => return Ok((file, name)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

fn link_under_temporary_name(dir: &OpenDir, file: &File) -> io::Result<OsString> {
    loop {
        let name = temporary_name(UPLOAD_COUNTER.fetch_add(1, Ordering::Relaxed));
        match dir.link(file, &name) {
            Ok(()) => return Ok(name),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Directories visited at most by [`remove_stale_temporaries`], so that a huge tree cannot
/// keep the sweep going for long.
const SWEEP_MAX_ENTRIES: usize = 1_000_000;

/// The getdents64 buffer of each directory level the sweep holds open: small, as up to
/// MAX_DEPTH levels may be open at once.
const SWEEP_DIRENTS: usize = 32 * 1024;

/// Removes upload temporaries left by a server that was killed mid-upload: those whose pid is
/// no longer a running process. Walks the served tree by descriptor from one opened at `root`
/// (each directory opened below its parent with O_NOFOLLOW, entries removed with unlinkat), so
/// a symlink swapped in meanwhile leads nowhere; at most [`SWEEP_MAX_ENTRIES`] entries.
/// Returns how many it removed.
pub fn remove_stale_temporaries(root: &Path) -> usize {
    let Ok(root) = fs::File::open(root) else {
        return 0;
    };
    let Ok(top) = Dirents::open(root.as_fd(), SWEEP_DIRENTS) else {
        return 0;
    };
    drop(root);
    let mut removed = 0;
    let mut seen = 0;
    let mut name = Vec::new();
    // Depth first, one open directory per level (the one being read at that depth): a wide
    // tree costs no descriptors, so sessions starting meanwhile do not run out of them. No
    // upload can lie deeper than a client path may go (the jail's MAX_DEPTH).
    let mut levels = vec![top];
    loop {
        let room = levels.len() < MAX_DEPTH;
        let Some(entries) = levels.last_mut() else {
            break;
        };
        let kind = match entries.next_entry() {
            Ok(Some(entry)) => {
                name.clear();
                name.extend_from_slice(entry.name_bytes());
                entry.kind
            }
            _ => {
                levels.pop();
                continue;
            }
        };
        seen += 1;
        if seen > SWEEP_MAX_ENTRIES {
            break;
        }
        let name = OsStr::from_bytes(&name);
        // The type from getdents spares a stat per entry; O_NOFOLLOW and the stat before
        // the unlink make sure of it.
        let is_dir = match kind {
            DirentKind::Dir => true,
            DirentKind::Unknown => sys::stat_at(entries.dir(), name).is_ok_and(|m| m.is_dir()),
            DirentKind::File | DirentKind::Symlink | DirentKind::Special => false,
        };
        if is_dir {
            if room {
                let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;
                let sub = sys::open_at(entries.dir(), name, flags, 0)
                    .and_then(|sub| Dirents::open(sub.as_fd(), SWEEP_DIRENTS));
                if let Ok(sub) = sub {
                    levels.push(sub);
                }
            }
        } else if is_stale_temporary(name.as_bytes())
            && sys::stat_at(entries.dir(), name).is_ok_and(|m| m.is_file())
            && sys::unlink_at(entries.dir(), name, false).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

fn is_stale_temporary(name: &[u8]) -> bool {
    let Some(rest) = name.strip_prefix(RESERVED_PREFIX) else {
        return false;
    };
    let pid = rest
        .split(|&b| b == b'.')
        .next()
        .and_then(|p| std::str::from_utf8(p).ok())
        .and_then(|p| p.parse::<u32>().ok());
    match pid {
        Some(pid) => pid != std::process::id() && !sys::process_exists(pid),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_paces_to_the_rate() {
        // 10 KB/s in 1 KB bursts: 5 KB beyond the first burst take about 0.4 s.
        let mut t = Throttle::new(10_000);
        let started = Instant::now();
        let mut sent = 0;
        while sent < 5_000 {
            let n = t.grant(CHUNK);
            assert!((1..=1_000).contains(&n), "{n}");
            t.spend(n);
            sent += n;
        }
        let secs = started.elapsed().as_secs_f64();
        assert!((0.35..1.5).contains(&secs), "{secs}");
    }

    #[test]
    fn throttle_grants_small_wants_whole() {
        let mut t = Throttle::new(1_000_000);
        assert_eq!(t.grant(10), 10);
        t.spend(10);
        assert_eq!(t.grant(1), 1);
    }

    #[test]
    fn ascii_out() {
        let mut out = Vec::new();
        lf_to_crlf(b"a\nb\n\nc", &mut out);
        assert_eq!(out, b"a\r\nb\r\n\r\nc");
    }

    #[test]
    fn ascii_in_across_chunks() {
        let mut out = Vec::new();
        assert!(crlf_to_lf(b"a\r\nb\r", false, &mut out));
        assert_eq!(out, b"a\nb");
        assert!(!crlf_to_lf(b"\nc\rd", true, &mut out));
        assert_eq!(out, b"\nc\rd");
    }
}
