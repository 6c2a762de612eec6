//! The log an administrator reads, from the real binary: what the default level says about a
//! session (start, failed and good logins, transfer, end; never a password), timestamps on
//! stderr but not in the journal, and `--syslog` (priorities, ident, pid; never blocking a
//! session when syslogd is full or gone).

use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::client::Client;
use crate::support::process::{listening_addr, Running, BIN, EXIT_LIMIT};
use crate::support::TempDir;
use tinyftpd::logging::rfc3339_utc;

const PASSWORD: &str = "Corr3ct-h0rse";
const WRONG: &str = "wr0ng-batt3ry";

/// Starts the binary serving `dir` with account `alice`, stderr to `stderr`, the environment
/// given (and no inherited `JOURNAL_STREAM`); returns it and its address.
fn start(dir: &Path, args: &[&str], env: &[(&str, &str)], stderr: Stdio) -> (Running, SocketAddr) {
    let account = format!("alice:{PASSWORD}:ro");
    let child = Command::new(BIN)
        .args(["-p", "0", "-b", "127.0.0.1", "-u", &account])
        .args(args)
        .arg(dir)
        .env_remove("JOURNAL_STREAM")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn tinyftpd");
    let mut running = Running(Some(child));
    let line = running.start_up_line();
    let addr = listening_addr(&line);
    (running, addr)
}

/// A wrong password once, then the right one, a download, QUIT. Returns the client's address,
/// which the server logs as the peer.
fn session(addr: SocketAddr) -> String {
    let mut c = Client::connect(addr);
    let peer = c.local_addr().to_string();
    c.expect("USER alice", 331);
    c.expect(format!("PASS {WRONG}"), 530);
    c.login("alice", PASSWORD);
    assert_eq!(c.retr("hello.txt"), b"hello\n");
    c.expect("QUIT", 221);
    peer
}

/// SIGTERM, then a clean exit.
fn stop(running: Running) {
    // SAFETY: kill(2) on our child, not yet reaped.
    unsafe { libc::kill(running.pid() as libc::pid_t, libc::SIGTERM) };
    assert!(running.wait_exit(EXIT_LIMIT).success());
}

fn served() -> TempDir {
    let dir = TempDir::new("logs");
    dir.write("hello.txt", b"hello\n");
    dir
}

/// The one line containing all of `needles`.
fn line_with<'a>(log: &'a str, needles: &[&str]) -> &'a str {
    log.lines()
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .unwrap_or_else(|| panic!("no line with {needles:?} in:\n{log}"))
}

/// `2026-12-01T12:00:00.123Z`.
fn is_rfc3339_utc(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 24
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23)
        && b[23] == b'Z'
}

#[test]
fn default_level_logs_each_session_login_and_transfer_with_timestamps() {
    let dir = served();
    let now = || rfc3339_utc(SystemTime::now().duration_since(UNIX_EPOCH).unwrap());
    let before = now();
    // A JOURNAL_STREAM that is not our stderr (inherited by a child whose stderr was
    // redirected): timestamps still wanted.
    let (mut running, addr) = start(
        dir.path(),
        &[],
        &[("JOURNAL_STREAM", "1:1")],
        Stdio::piped(),
    );
    let stderr = running.stderr_reader();
    let peer = session(addr);
    stop(running);
    let after = now();
    let log = stderr.join().unwrap();
    for line in log.lines() {
        let stamp = line.strip_prefix('[').and_then(|l| l.get(..24));
        assert!(
            stamp.is_some_and(is_rfc3339_utc),
            "no RFC 3339 UTC timestamp: {line:?}"
        );
        // The same fixed-width format sorts as time does: the stamp is UTC and now.
        let stamp = stamp.unwrap_or_default();
        assert!(
            before.as_str() <= stamp && stamp <= after.as_str(),
            "{stamp} not between {before} and {after}"
        );
    }
    line_with(&log, &["INFO ", "session start", &peer]);
    line_with(&log, &["WARN ", "failed login", &peer, "user=alice"]);
    line_with(&log, &["INFO ", "] login: ", &peer, "user=alice"]);
    line_with(
        &log,
        &["INFO ", "transfer", &peer, "RETR /hello.txt", "bytes=6"],
    );
    line_with(&log, &["INFO ", "session end", &peer, "user=alice"]);
    assert!(
        !log.contains(PASSWORD) && !log.contains(WRONG),
        "a password in the log:\n{log}"
    );
}

#[test]
fn stderr_that_is_the_journal_gets_priorities_and_no_timestamps() {
    let dir = served();
    let log_path = dir.path().join("stderr.log");
    let file = File::create(&log_path).unwrap();
    let meta = file.metadata().unwrap();
    let stream = format!("{}:{}", meta.dev(), meta.ino());
    let (running, addr) = start(
        dir.path(),
        &[],
        &[("JOURNAL_STREAM", &stream)],
        Stdio::from(file),
    );
    let peer = session(addr);
    stop(running);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.is_empty());
    for line in log.lines() {
        assert!(
            line.starts_with("<6>[INFO ") || line.starts_with("<4>[WARN "),
            "not a journal line: {line:?}"
        );
    }
    line_with(&log, &["<4>[WARN ", "failed login", &peer]);
    line_with(&log, &["<6>[INFO ", "session end", &peer]);
}

/// A datagram socket standing in for /dev/log, at a path in `dir`.
fn fake_syslogd(dir: &TempDir) -> (UnixDatagram, String) {
    let path = dir.path().join("log.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (socket, path.to_str().unwrap().to_string())
}

#[test]
fn syslog_gets_each_line_with_priority_ident_and_pid() {
    syslog_session(&["--syslog"]);
}

/// The socket is connected before the chroot: its path does not exist inside it.
#[test]
fn syslog_keeps_working_after_chroot() {
    if !crate::support::sys::is_root() {
        eprintln!("SKIPPED: syslog_keeps_working_after_chroot needs root");
        return;
    }
    syslog_session(&["--syslog", "--chroot"]);
}

/// The session of [`session`] logged to a fake syslogd outside DIR: every line arrives with
/// the right PRI, ident and pid, and none goes to stderr.
fn syslog_session(args: &[&str]) {
    let dir = served();
    let outside = TempDir::new("syslogd");
    let (syslogd, path) = fake_syslogd(&outside);
    let (mut running, addr) = start(
        dir.path(),
        args,
        &[("TINYFTPD_SYSLOG_SOCKET", &path)],
        Stdio::piped(),
    );
    let stderr = running.stderr_reader();
    let pid = running.pid();
    let peer = session(addr);
    let mut lines = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lines.iter().any(|l: &String| l.contains("session end")) {
        assert!(Instant::now() < deadline, "no session end in {lines:?}");
        let n = syslogd.recv(&mut buf).expect("a syslog datagram");
        lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    stop(running);
    let log = lines.join("\n");
    let info = format!("<30>tinyftpd[{pid}]: ");
    let warning = format!("<28>tinyftpd[{pid}]: ");
    for line in &lines {
        assert!(
            line.starts_with(&info) || line.starts_with(&warning),
            "{line:?}"
        );
    }
    line_with(&log, &[&info, "session start", &peer]);
    line_with(&log, &[&warning, "failed login", &peer, "user=alice"]);
    line_with(&log, &[&info, ": login: ", &peer, "user=alice"]);
    line_with(&log, &[&info, "transfer", "RETR /hello.txt"]);
    assert!(!log.contains(PASSWORD) && !log.contains(WRONG), "{log}");
    let stderr = stderr.join().unwrap();
    assert!(
        !stderr.contains("session"),
        "with --syslog, stderr has no session lines: {stderr}"
    );
}

#[test]
fn a_full_or_vanished_syslogd_never_holds_up_a_session() {
    let dir = served();
    let (syslogd, path) = fake_syslogd(&dir);
    // -v: a line per command, so the socket's queue (a few datagrams) fills at once; nothing
    // reads it.
    let (mut running, addr) = start(
        dir.path(),
        &["--syslog", "-v"],
        &[("TINYFTPD_SYSLOG_SOCKET", &path)],
        Stdio::piped(),
    );
    let stderr = running.stderr_reader();
    let started = Instant::now();
    let mut c = Client::connect(addr);
    c.login("alice", PASSWORD);
    for _ in 0..100 {
        c.expect("NOOP", 200);
    }
    assert_eq!(c.retr("hello.txt"), b"hello\n");
    c.expect("QUIT", 221);
    // syslogd goes away: lines go to stderr, sessions go on.
    drop(syslogd);
    let mut c = Client::connect(addr);
    let peer = c.local_addr().to_string();
    c.login("alice", PASSWORD);
    assert_eq!(c.retr("hello.txt"), b"hello\n");
    c.expect("QUIT", 221);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "sessions waited for syslog: {:?}",
        started.elapsed()
    );
    stop(running);
    let log = stderr.join().unwrap();
    line_with(&log, &["WARN ", "--syslog: ", "does not take lines"]);
    line_with(&log, &["INFO ", "session end", &peer]);
}
