//! Where log lines go and what they look like: standard error with a UTC timestamp, the
//! journal (which stamps lines itself) or, with `--syslog`, the local syslog socket.
//!
//! Every line is made printable here, in one place: user names, paths and command lines come
//! from clients, even before login, and must not reach a terminal, the journal or syslog as
//! escape sequences or extra lines.

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::fs::civil_time::CivilTime;
use crate::xferlog::push_printable;

/// The socket syslog(3) writes to.
pub const SYSLOG_SOCKET: &str = "/dev/log";
/// Names another socket than [`SYSLOG_SOCKET`] for `--syslog`; meant for tests, which cannot
/// bind /dev/log.
pub const SYSLOG_SOCKET_ENV: &str = "TINYFTPD_SYSLOG_SOCKET";
/// The syslog identity, as `openlog("tinyftpd", LOG_PID, LOG_DAEMON)` would set it.
const IDENT: &str = "tinyftpd";
/// Facility `daemon` (RFC 3164 4.1.1: 3), shifted into a PRI value.
const FACILITY_DAEMON: u8 = 3 << 3;

/// Where the lines go, chosen at start-up.
pub enum Sink {
    /// Standard error, each line starting with an RFC 3339 UTC timestamp.
    Stderr,
    /// Standard error that systemd connected to the journal: no timestamp (journald adds its
    /// own), and an sd-daemon(3) `<N>` prefix that journald turns into the line's priority.
    Journal,
    /// The local syslog socket.
    Syslog(Syslog),
}

/// Sets up the process's logger: the level is info, or `RUST_LOG`, or `-v`/`-q` (the flags
/// win); the sink is `--syslog`'s socket, the journal, or standard error. Call it before the
/// chroot: the syslog socket is connected now, by path, and never again inside a chroot.
pub fn init(level: Option<LevelFilter>, syslog: bool, chrooted: bool) {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(LevelFilter::Info);
    builder.parse_env("RUST_LOG");
    if let Some(level) = level {
        builder.filter_level(level);
    }
    let filter = builder.build();
    let sink = if syslog {
        let path = std::env::var_os(SYSLOG_SOCKET_ENV)
            .map_or_else(|| PathBuf::from(SYSLOG_SOCKET), PathBuf::from);
        Sink::Syslog(Syslog::connect(path, !chrooted))
    } else if stderr_is_journal() {
        Sink::Journal
    } else {
        Sink::Stderr
    };
    let max = filter.filter();
    let logger: &'static Logger = Box::leak(Box::new(Logger { filter, sink }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(max);
    }
    if let Sink::Syslog(s) = &logger.sink {
        s.warn_if_unconnected();
    }
}

struct Logger {
    /// env_logger's filter (level, `RUST_LOG` directives); its own output is not used.
    filter: env_logger::Logger,
    sink: Sink,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.filter.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.filter.matches(record) {
            return;
        }
        let message = record.args().to_string();
        match &self.sink {
            Sink::Stderr => write_stderr(&stderr_line(
                SystemTime::now(),
                record.level(),
                record.target(),
                &message,
            )),
            Sink::Journal => write_stderr(&journal_line(record.level(), record.target(), &message)),
            Sink::Syslog(syslog) => syslog.send(record.level(), record.target(), &message),
        }
    }

    fn flush(&self) {
        let _ = io::stderr().flush();
    }
}

/// One `write` of a whole line (std's stderr is unbuffered and locked for the call), so lines
/// of different threads never interleave.
fn write_stderr(line: &[u8]) {
    let _ = io::stderr().lock().write_all(line);
}

/// `[2026-12-01T12:00:00.123Z INFO  tinyftpd::session] message`: env_logger's layout with an
/// RFC 3339 timestamp. UTC, because after `--chroot` no zone file may be read (see
/// `drop_privileges` in main.rs): /etc/localtime would then be a file in DIR.
pub fn stderr_line(now: SystemTime, level: Level, target: &str, message: &str) -> Vec<u8> {
    let since_epoch = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!("[{} {level:<5} {target}] ", rfc3339_utc(since_epoch)).into_bytes();
    push_printable(&mut line, message.as_bytes());
    line.push(b'\n');
    line
}

/// `<6>[INFO  tinyftpd::session] message`: the sd-daemon(3) priority prefix, which journald
/// strips and records (`journalctl -p warning` then works), and no timestamp.
pub fn journal_line(level: Level, target: &str, message: &str) -> Vec<u8> {
    let mut line = format!("<{}>[{level:<5} {target}] ", severity(level)).into_bytes();
    push_printable(&mut line, message.as_bytes());
    line.push(b'\n');
    line
}

/// `<30>tinyftpd[1234]: message`, as glibc's syslog(3) sends it to the local socket, without
/// the local-time timestamp glibc puts after the PRI: syslogd stamps what it receives without
/// one with its own clock and zone, and after `--chroot` no zone file may be read.
pub fn syslog_line(level: Level, pid: u32, message: &str) -> Vec<u8> {
    let pri = FACILITY_DAEMON | severity(level);
    let mut line = format!("<{pri}>{IDENT}[{pid}]: ").into_bytes();
    push_printable(&mut line, message.as_bytes());
    line
}

/// The syslog severity of a level (RFC 3164 4.1.1): error -> err (3), warn -> warning (4),
/// info -> info (6), debug and trace -> debug (7).
pub fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// `2026-12-01T12:00:00.123Z` for a time since the Unix epoch.
pub fn rfc3339_utc(since_epoch: Duration) -> String {
    let secs = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX / 2);
    let t = CivilTime::from_unix(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        since_epoch.subsec_millis()
    )
}

/// True when systemd connected our stderr to the journal: `JOURNAL_STREAM` is `DEVICE:INODE`
/// of that stream, and must name the very file descriptor 2 is (systemd.exec(5)): a child
/// that inherited the variable but has its stderr redirected elsewhere still needs timestamps.
fn stderr_is_journal() -> bool {
    let Ok(value) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let identity = io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata());
    match identity {
        Ok(m) => journal_stream_names(&value, m.dev(), m.ino()),
        Err(_) => false,
    }
}

/// Whether a `JOURNAL_STREAM` value (`DEVICE:INODE`, decimal) names this device and inode.
pub fn journal_stream_names(value: &str, dev: u64, ino: u64) -> bool {
    match value.trim().split_once(':') {
        Some((d, i)) => d.parse() == Ok(dev) && i.parse() == Ok(ino),
        None => false,
    }
}

/// The `--syslog` sink: a datagram socket connected to the syslog socket.
///
/// Sessions must never wait for syslogd, so the socket is non-blocking: when syslogd does not
/// keep up (its queue is full) a line is dropped and counted, and the count is logged with
/// the next line that gets through. When the socket is gone (syslogd stopped or restarted
/// and made a new one), a line is written to stderr instead; without `--chroot` the socket
/// is first connected again by path, as glibc does. Inside a chroot the path would name a
/// file in DIR, so the socket from start-up is kept (it works again only if the same socket
/// comes back, as under systemd, where PID 1 holds /dev/log across restarts of journald).
pub struct Syslog {
    path: PathBuf,
    pid: u32,
    /// Whether the path may be connected again (not chrooted).
    reconnect: bool,
    socket: Mutex<Option<UnixDatagram>>,
    /// Lines dropped because syslogd's queue was full, not yet reported.
    dropped: AtomicU64,
    /// Whether stderr was told that syslog is unreachable (once per outage).
    told_unreachable: AtomicBool,
}

/// What became of one line sent to syslog.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    Delivered,
    /// syslogd's queue was full; counted.
    Dropped,
    /// No socket to send to; the caller writes the line elsewhere.
    Unreachable,
}

impl Syslog {
    /// Connects to the socket at `path` now (before any chroot). A failure is not fatal: lines
    /// then go to stderr, and without a chroot the path is tried again for each line.
    pub fn connect(path: PathBuf, reconnect: bool) -> Syslog {
        let socket = open_socket(&path).ok();
        Syslog {
            path,
            pid: std::process::id(),
            reconnect,
            socket: Mutex::new(socket),
            dropped: AtomicU64::new(0),
            told_unreachable: AtomicBool::new(false),
        }
    }

    fn warn_if_unconnected(&self) {
        if self.socket.lock().is_ok_and(|s| s.is_none()) {
            self.tell_unreachable_once();
        }
    }

    /// One warning on stderr per outage, so that the administrator knows where lines went.
    fn tell_unreachable_once(&self) {
        if self.told_unreachable.swap(true, Ordering::Relaxed) {
            return;
        }
        let until = if self.reconnect {
            "until it takes them again"
        } else {
            "until tinyftpd restarts (under --chroot it cannot be connected again)"
        };
        let note = format!(
            "--syslog: {} does not take lines (syslogd not running, or restarted); logging to stderr {until}",
            self.path.display()
        );
        write_stderr(&stderr_line(
            SystemTime::now(),
            Level::Warn,
            module_path!(),
            &note,
        ));
    }

    fn send(&self, level: Level, target: &str, message: &str) {
        match self.send_line(&syslog_line(level, self.pid, message)) {
            Sent::Unreachable => {
                self.tell_unreachable_once();
                write_stderr(&stderr_line(SystemTime::now(), level, target, message));
            }
            Sent::Delivered => self.told_unreachable.store(false, Ordering::Relaxed),
            Sent::Dropped => {}
        }
    }

    /// Sends one datagram without waiting; see [`Syslog`] for what happens when it cannot.
    pub fn send_line(&self, line: &[u8]) -> Sent {
        let Ok(mut socket) = self.socket.lock() else {
            return Sent::Unreachable;
        };
        if socket.is_none() && self.reconnect {
            *socket = open_socket(&self.path).ok();
        }
        let Some(s) = socket.as_ref() else {
            return Sent::Unreachable;
        };
        let mut result = s.send(line);
        if let Err(e) = &result {
            if e.kind() != io::ErrorKind::WouldBlock && self.reconnect {
                // Stale (syslogd restarted) or gone: connect by path again, once.
                if let Ok(fresh) = open_socket(&self.path) {
                    result = fresh.send(line);
                    *socket = Some(fresh);
                }
            }
        }
        match result {
            Ok(_) => {
                let dropped = self.dropped.swap(0, Ordering::Relaxed);
                if dropped > 0 {
                    let note =
                        format!("syslog: {dropped} lines were dropped (syslogd's queue was full)");
                    let noted = socket.as_ref().is_some_and(|s| {
                        s.send(&syslog_line(Level::Warn, self.pid, &note)).is_ok()
                    });
                    if !noted {
                        // Full again: report the count with a later line.
                        self.dropped.fetch_add(dropped, Ordering::Relaxed);
                    }
                }
                Sent::Delivered
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                Sent::Dropped
            }
            Err(_) => Sent::Unreachable,
        }
    }
}

fn open_socket(path: &std::path::Path) -> io::Result<UnixDatagram> {
    let socket = UnixDatagram::unbound()?;
    socket.connect(path)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(rfc3339_utc(Duration::ZERO), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_utc(Duration::from_millis(1_796_126_400_123)),
            "2026-12-01T12:00:00.123Z"
        );
        let line = stderr_line(
            SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_126_400_123),
            Level::Warn,
            "tinyftpd::session",
            "failed login: 127.0.0.1:5 user=a\x1b[2Jb\nforged",
        );
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "[2026-12-01T12:00:00.123Z WARN  tinyftpd::session] failed login: 127.0.0.1:5 user=a?[2Jb?forged\n"
        );
    }

    #[test]
    fn journal_lines_carry_the_priority_and_no_time() {
        assert_eq!(
            journal_line(Level::Error, "t", "x\ry"),
            b"<3>[ERROR t] x?y\n".to_vec()
        );
        assert_eq!(journal_line(Level::Info, "t", "m"), b"<6>[INFO  t] m\n");
    }

    #[test]
    fn syslog_priorities_facility_daemon() {
        assert_eq!(syslog_line(Level::Error, 7, "e"), b"<27>tinyftpd[7]: e");
        assert_eq!(syslog_line(Level::Warn, 7, "w"), b"<28>tinyftpd[7]: w");
        assert_eq!(syslog_line(Level::Info, 7, "i"), b"<30>tinyftpd[7]: i");
        assert_eq!(syslog_line(Level::Debug, 7, "d"), b"<31>tinyftpd[7]: d");
        assert_eq!(syslog_line(Level::Trace, 7, "t\n"), b"<31>tinyftpd[7]: t?");
    }

    #[test]
    fn journal_stream_must_name_our_stderr() {
        assert!(journal_stream_names("8:12345", 8, 12345));
        assert!(journal_stream_names("8:12345\n", 8, 12345));
        assert!(!journal_stream_names("8:12346", 8, 12345));
        assert!(!journal_stream_names("9:12345", 8, 12345));
        assert!(!journal_stream_names("", 8, 12345));
        assert!(!journal_stream_names("8", 8, 12345));
        assert!(!journal_stream_names("x:y", 8, 12345));
    }

    /// A socket path of this test's own, removed on drop.
    struct SocketPath(PathBuf);

    impl SocketPath {
        fn new(label: &str) -> SocketPath {
            let path = std::env::temp_dir().join(format!(
                "tinyftpd-syslog-{label}-{}.sock",
                std::process::id()
            ));
            let _ = std::fs::remove_file(&path);
            SocketPath(path)
        }

        fn bind(&self) -> UnixDatagram {
            let receiver = UnixDatagram::bind(&self.0).unwrap();
            receiver
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            receiver
        }
    }

    impl Drop for SocketPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn receive(receiver: &UnixDatagram) -> String {
        let mut buf = [0u8; 512];
        let n = receiver.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn a_full_syslog_queue_drops_and_counts_without_waiting() {
        let path = SocketPath::new("full");
        let receiver = path.bind();
        let syslog = Syslog::connect(path.0.clone(), false);
        let started = std::time::Instant::now();
        let mut sent = Vec::new();
        for i in 0..10_000 {
            sent.push(syslog.send_line(format!("<30>tinyftpd[1]: {i}").as_bytes()));
        }
        assert!(started.elapsed() < Duration::from_secs(2));
        let dropped = sent.iter().filter(|s| **s == Sent::Dropped).count();
        assert!(dropped > 0, "the queue never filled");
        assert!(sent.iter().all(|s| *s != Sent::Unreachable));
        // Drain the queue: the next line that gets through reports the count.
        receiver.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 512];
        while receiver.recv(&mut buf).is_ok() {}
        receiver.set_nonblocking(false).unwrap();
        assert_eq!(syslog.send_line(b"<30>tinyftpd[1]: next"), Sent::Delivered);
        assert_eq!(receive(&receiver), "<30>tinyftpd[1]: next");
        assert_eq!(
            receive(&receiver),
            format!(
                "<28>tinyftpd[{}]: syslog: {dropped} lines were dropped (syslogd's queue was full)",
                std::process::id()
            )
        );
    }

    #[test]
    fn a_restarted_syslogd_is_reconnected_unless_chrooted() {
        for reconnect in [true, false] {
            let path = SocketPath::new(if reconnect { "re" } else { "chroot" });
            let first = path.bind();
            let syslog = Syslog::connect(path.0.clone(), reconnect);
            assert_eq!(syslog.send_line(b"one"), Sent::Delivered);
            assert_eq!(receive(&first), "one");
            // syslogd restarts: its socket goes, a new one takes the path.
            drop(first);
            std::fs::remove_file(&path.0).unwrap();
            let second = path.bind();
            let expected = if reconnect {
                Sent::Delivered
            } else {
                Sent::Unreachable
            };
            assert_eq!(syslog.send_line(b"two"), expected, "reconnect {reconnect}");
            if reconnect {
                assert_eq!(receive(&second), "two");
            }
        }
    }

    #[test]
    fn no_syslogd_at_start() {
        let path = SocketPath::new("none");
        let syslog = Syslog::connect(path.0.clone(), true);
        assert_eq!(syslog.send_line(b"lost"), Sent::Unreachable);
        let receiver = path.bind();
        assert_eq!(syslog.send_line(b"found"), Sent::Delivered);
        assert_eq!(receive(&receiver), "found");
    }
}
