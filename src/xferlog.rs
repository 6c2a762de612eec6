//! The transfer log (`--xferlog`): one line per finished or aborted file transfer in the xferlog
//! format of wu-ftpd, vsftpd and ProFTPD, which log analysers read.
//!
//! A transfer never waits for the disk: sessions hand lines to a bounded queue and one writer
//! thread appends them, one `write` per line (nothing is buffered in the process). When the queue
//! is full, the line is dropped and counted, and the writer warns with the count once it catches
//! up. Before each line the writer checks whether the file at the path is still the one it has
//! open (device and inode), so a log rotated away by `mv` or logrotate is followed by a new file
//! without a signal; [`XferLog::reopen`] forces a reopen (for SIGHUP).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::fs::civil_time::{CivilTime, MONTH_NAMES};
use crate::protocol::command::TransferType;

/// Lines waiting for the writer, at most. A line is about 100 bytes, so this bounds the queue
/// to a few hundred KiB while riding out a disk that stalls for seconds under a busy server.
const QUEUE_LINES: usize = 4096;

/// The log file's mode when tinyftpd creates it (the umask applies on top).
const LOG_MODE: u32 = 0o640;

/// How often a flush (or drop) looks again at a full queue or a busy writer.
const FULL_QUEUE_RETRY: Duration = Duration::from_millis(10);

/// How long dropping the log waits for the writer to write what is queued.
const DROP_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A download (RETR): `o`.
    Outgoing,
    /// An upload (STOR, APPE, STOU): `i`.
    Incoming,
}

/// One transfer, as the log line records it.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// When the transfer ended.
    pub end: SystemTime,
    pub duration: Duration,
    pub remote: IpAddr,
    /// Bytes that crossed the data connection (so far, for an incomplete transfer).
    pub bytes: u64,
    /// The path in DIR: as the client sees it, with its account's folder in front (never the
    /// host path).
    pub path: &'a [u8],
    pub kind: TransferType,
    pub direction: Direction,
    pub anonymous: bool,
    pub user: &'a str,
    pub complete: bool,
}

/// Formats one line, newline included:
/// `current-time transfer-time remote-host file-size filename transfer-type special-action-flag
/// direction access-mode username service-name authentication-method authenticated-user-id
/// completion-status`. The time is UTC (vsftpd's default), with a zero-padded day as vsftpd and
/// ProFTPD write it; the transfer time is whole seconds, at least 1. Fields are separated by
/// single spaces and cannot be quoted, so a space in a name becomes `_` (as vsftpd does) and a
/// control character `?`, which also keeps a file name from forging a second log line.
pub fn format(entry: &Entry) -> Vec<u8> {
    let secs = entry
        .end
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut line = format!(
        "{} {} {} {} ",
        timestamp(secs),
        entry.duration.as_secs_f64().round().max(1.0) as u64,
        entry.remote.to_canonical(),
        entry.bytes
    )
    .into_bytes();
    push_field(&mut line, entry.path);
    let kind = match entry.kind {
        TransferType::Ascii => 'a',
        TransferType::Image => 'b',
    };
    let direction = match entry.direction {
        Direction::Outgoing => 'o',
        Direction::Incoming => 'i',
    };
    let access = if entry.anonymous { 'a' } else { 'r' };
    line.extend_from_slice(format!(" {kind} _ {direction} {access} ").as_bytes());
    push_field(&mut line, entry.user.as_bytes());
    let status = if entry.complete { 'c' } else { 'i' };
    line.extend_from_slice(format!(" ftp 0 * {status}\n").as_bytes());
    line
}

fn push_field(line: &mut Vec<u8>, text: &[u8]) {
    if text.is_empty() {
        line.push(b'-');
        return;
    }
    let start = line.len();
    push_printable(line, text);
    for b in &mut line[start..] {
        if *b == b' ' {
            *b = b'_';
        }
    }
}

/// Appends `text` with everything a terminal or a log reader could act on replaced by `?`, as
/// vsftpd does: control characters (C0 including newline, DEL, and the C1 range U+0080-U+009F)
/// and bytes that are not UTF-8 (among them 8-bit C1 controls such as 0x9B, CSI). Client input
/// (user names, paths, command lines) reaches the transfer log and every stderr/journal line
/// through this, so a name cannot recolour the operator's terminal or forge a log line.
pub fn push_printable(out: &mut Vec<u8>, text: &[u8]) {
    for chunk in text.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                out.push(b'?');
            } else {
                let mut utf8 = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
        if !chunk.invalid().is_empty() {
            out.push(b'?');
        }
    }
}

/// `Mon Nov 25 15:22:18 2026` for Unix seconds, in UTC.
fn timestamp(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    let t = CivilTime::from_unix(secs);
    // 1970-01-01 was a Thursday.
    let weekday = (secs.div_euclid(86_400) + 4).rem_euclid(7) as usize;
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} {}",
        DAYS[weekday],
        MONTH_NAMES[(t.month as usize).saturating_sub(1) % 12],
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.year
    )
}

enum Message {
    Line(Vec<u8>),
    Reopen,
    /// Answered once every message before it is handled.
    Flush(SyncSender<()>),
}

/// The open transfer log. Dropping it writes what is queued and stops the writer thread.
pub struct XferLog {
    sender: Option<SyncSender<Message>>,
    dropped: Arc<AtomicU64>,
    writer: Option<JoinHandle<()>>,
    /// A flush ran out of time: dropping the log does not wait for the writer again.
    stuck: AtomicBool,
}

impl XferLog {
    /// Opens (creating) `path` for appending and starts the writer thread. Fails at start-up,
    /// where a clear error is most useful, rather than at the first transfer.
    pub fn open(path: &Path) -> io::Result<XferLog> {
        let file = open_log(path)
            .map_err(|e| io::Error::new(e.kind(), format!("--xferlog {}: {e}", path.display())))?;
        let (sender, receiver) = mpsc::sync_channel(QUEUE_LINES);
        let dropped = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            path: path.to_path_buf(),
            file,
            root: root_identity(),
            dropped: Arc::clone(&dropped),
            warned_chroot: false,
        };
        let writer = thread::Builder::new()
            .name("xferlog".into())
            .stack_size(64 * 1024)
            .spawn(move || writer.run(receiver))?;
        Ok(XferLog {
            sender: Some(sender),
            dropped,
            writer: Some(writer),
            stuck: AtomicBool::new(false),
        })
    }

    /// Queues the line for `entry`; never blocks.
    pub fn log(&self, entry: &Entry) {
        self.send(Message::Line(format(entry)));
    }

    /// Asks the writer to reopen the file at its path (after log rotation, on SIGHUP).
    pub fn reopen(&self) {
        self.send(Message::Reopen);
    }

    /// Waits (at most `timeout`, in all) until every line queued so far is written. For tests,
    /// and for shutdown. Bounded even when the queue is full and the writer is stuck (a stalled
    /// disk, a FIFO nobody reads): shutdown must not hang on the log.
    pub fn flush(&self, timeout: Duration) -> bool {
        let Some(sender) = &self.sender else {
            return false;
        };
        let deadline = Instant::now() + timeout;
        let (done, wait) = mpsc::sync_channel(1);
        let mut message = Message::Flush(done);
        loop {
            match sender.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    message = back;
                    thread::sleep(FULL_QUEUE_RETRY);
                }
                Err(_) => {
                    self.stuck.store(true, Ordering::Relaxed);
                    return false;
                }
            }
        }
        let done = wait
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok();
        if !done {
            self.stuck.store(true, Ordering::Relaxed);
        }
        done
    }

    fn send(&self, message: Message) {
        let Some(sender) = &self.sender else { return };
        match sender.try_send(message) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                if self.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                    log::warn!("xferlog: the disk is not keeping up; dropping lines");
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                log::warn!("xferlog: the writer thread has stopped; line lost");
            }
        }
    }
}

impl Drop for XferLog {
    fn drop(&mut self) {
        // Closing the queue ends the writer's loop once it has written every queued line. A
        // writer stuck in a write is left behind (the process is ending) rather than waited
        // for without end.
        self.sender = None;
        if let Some(writer) = self.writer.take() {
            let wait = if self.stuck.load(Ordering::Relaxed) {
                Duration::ZERO
            } else {
                DROP_WAIT
            };
            let deadline = Instant::now() + wait;
            while !writer.is_finished() && Instant::now() < deadline {
                thread::sleep(FULL_QUEUE_RETRY);
            }
            if writer.is_finished() {
                let _ = writer.join();
            } else {
                log::warn!("xferlog: the writer is stuck; queued lines are lost");
            }
        }
    }
}

fn open_log(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(LOG_MODE)
        .custom_flags(libc::O_NOCTTY)
        .open(path)
}

/// Device and inode of `/`. When they change, the process has been chrooted (`--chroot`), and
/// the log path would now name a file inside the served tree: the writer then keeps the file it
/// has open instead of following the path.
fn root_identity() -> Option<(u64, u64)> {
    fs::metadata("/").ok().map(|m| (m.dev(), m.ino()))
}

struct Writer {
    path: PathBuf,
    file: File,
    root: Option<(u64, u64)>,
    dropped: Arc<AtomicU64>,
    warned_chroot: bool,
}

impl Writer {
    fn run(mut self, queue: Receiver<Message>) {
        for message in queue {
            match message {
                Message::Line(line) => {
                    if self.rotated() {
                        self.reopen();
                    }
                    if let Err(e) = self.file.write_all(&line) {
                        log::warn!("xferlog {}: {e}", self.path.display());
                    }
                    let dropped = self.dropped.swap(0, Ordering::Relaxed);
                    if dropped > 0 {
                        log::warn!("xferlog: {dropped} lines were dropped (queue full)");
                    }
                }
                Message::Reopen => self.reopen(),
                Message::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    }

    /// True when the path no longer names the file we write (renamed or deleted away).
    fn rotated(&self) -> bool {
        let Ok(open) = self.file.metadata() else {
            return true;
        };
        match fs::metadata(&self.path) {
            Ok(now) => (now.dev(), now.ino()) != (open.dev(), open.ino()),
            Err(e) => e.kind() == io::ErrorKind::NotFound,
        }
    }

    fn reopen(&mut self) {
        if root_identity() != self.root {
            if !self.warned_chroot {
                log::warn!("xferlog: chrooted, so the log is not reopened by path; rotate it with copytruncate");
                self.warned_chroot = true;
            }
            return;
        }
        match open_log(&self.path) {
            Ok(file) => self.file = file,
            // Keep writing to the old file rather than losing lines.
            Err(e) => log::warn!("xferlog: cannot reopen {}: {e}", self.path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(path: &'a [u8], user: &'a str) -> Entry<'a> {
        Entry {
            // 2026-11-25 15:22:18 UTC, a Wednesday.
            end: UNIX_EPOCH + Duration::from_secs(1_795_620_138),
            duration: Duration::from_millis(300),
            remote: "::ffff:127.0.0.1".parse().unwrap(),
            bytes: 1234,
            path,
            kind: TransferType::Image,
            direction: Direction::Outgoing,
            anonymous: true,
            user,
            complete: true,
        }
    }

    #[test]
    fn standard_line() {
        let line = format(&entry(b"/pub/file.bin", "anonymous"));
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "Wed Nov 25 15:22:18 2026 1 127.0.0.1 1234 /pub/file.bin b _ o a anonymous ftp 0 * c\n"
        );
    }

    #[test]
    fn upload_ascii_incomplete_real_user() {
        let mut e = entry(b"/in/a b\nforged line", "alice");
        e.kind = TransferType::Ascii;
        e.direction = Direction::Incoming;
        e.anonymous = false;
        e.complete = false;
        e.duration = Duration::from_millis(2600);
        e.end = UNIX_EPOCH + Duration::from_secs(86_400 * 3);
        let line = String::from_utf8(format(&e)).unwrap();
        assert_eq!(
            line,
            "Sun Jan 04 00:00:00 1970 3 127.0.0.1 1234 /in/a_b?forged_line a _ i r alice ftp 0 * i\n"
        );
        assert_eq!(line.split(' ').count(), 18);
    }

    #[test]
    fn unprintable_text_is_replaced() {
        let mut out = Vec::new();
        push_printable(&mut out, "a\x1b]0;x\x07b\x7fc\u{9b}d\né".as_bytes());
        push_printable(&mut out, b" \xff\xfe\x9bz");
        assert_eq!(String::from_utf8(out).unwrap(), "a?]0;x?b?c?d?é ???z");
    }

    #[test]
    fn weekdays() {
        assert!(timestamp(0).starts_with("Thu Jan 01 00:00:00 1970"));
        // 2000-02-29 was a Tuesday.
        assert_eq!(timestamp(951_782_400), "Tue Feb 29 00:00:00 2000");
    }
}
