//! Operations features on an in-process server: the transfer log, the rate limit, active-mode
//! connections from port L-1 (`--port-20`) and the greeting banner.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use tinyftpd::config::{Account, Config, Credential};

use crate::support::client::{accept, read_all, TIMEOUT};
use crate::support::{random_bytes, Client, TempDir, TestServer};

fn alice(writable: bool) -> Account {
    Account {
        name: "alice".into(),
        credential: Credential::Plain("secret".into()),
        writable,
        root: None,
    }
}

/// A server logging transfers to a file in a directory of its own.
fn logging_server(change: impl FnOnce(&mut Config)) -> (TestServer, TempDir, PathBuf) {
    let logs = TempDir::new("xferlog");
    let path = logs.path().join("xferlog");
    let log_path = path.clone();
    let s = TestServer::with(move |c| {
        c.xferlog = Some(log_path);
        change(c);
    });
    (s, logs, path)
}

/// The log's lines, once every line queued so far is written.
fn log_lines(s: &TestServer, path: &Path) -> Vec<String> {
    let log = s.ctx.xferlog.as_ref().expect("xferlog configured");
    assert!(log.flush(TIMEOUT), "xferlog writer did not catch up");
    match std::fs::read_to_string(path) {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("read {}: {e}", path.display()),
    }
}

/// The fields after the timestamp and the transfer time, which depend on the clock.
fn fields(line: &str) -> Vec<&str> {
    let all: Vec<&str> = line.split(' ').collect();
    assert_eq!(all.len(), 18, "not an xferlog line: {line:?}");
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    assert!(DAYS.contains(&all[0]), "{line}");
    assert!(all[4].len() == 4 && all[4].parse::<u32>().is_ok(), "{line}");
    assert!(all[5].parse::<u64>().is_ok_and(|secs| secs >= 1), "{line}");
    all[6..].to_vec()
}

#[test]
fn xferlog_records_downloads_and_uploads() {
    let (s, _logs, path) = logging_server(|c| {
        c.anonymous = true;
        c.accounts = vec![alice(true)];
    });
    s.root.write("pub/a file.bin", &random_bytes(1000, 1));
    let mut c = s.anonymous();
    assert_eq!(c.retr("pub/a file.bin").len(), 1000);
    let mut c2 = s.client();
    c2.login("alice", "secret");
    c2.expect("TYPE A", 200);
    c2.stor("up.txt", b"one\r\ntwo\r\n");
    c2.expect("TYPE I", 200);
    c2.store("APPE", "up.txt", b"three\n");
    let lines = log_lines(&s, &path);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_eq!(
        fields(&lines[0]),
        [
            "127.0.0.1",
            "1000",
            "/pub/a_file.bin",
            "b",
            "_",
            "o",
            "a",
            "anonymous",
            "ftp",
            "0",
            "*",
            "c"
        ]
    );
    assert_eq!(
        fields(&lines[1]),
        [
            "127.0.0.1",
            "10",
            "/up.txt",
            "a",
            "_",
            "i",
            "r",
            "alice",
            "ftp",
            "0",
            "*",
            "c"
        ]
    );
    assert_eq!(
        fields(&lines[2]),
        [
            "127.0.0.1",
            "6",
            "/up.txt",
            "b",
            "_",
            "i",
            "r",
            "alice",
            "ftp",
            "0",
            "*",
            "c"
        ]
    );
}

#[test]
fn xferlog_marks_aborted_transfers_incomplete() {
    // Slowed down so that ABOR surely arrives mid-transfer.
    let (s, _logs, path) = logging_server(|c| {
        c.anonymous_writable = true;
        c.max_rate = Some(256 * 1024);
    });
    let size = 4 << 20;
    s.root.write("big", &random_bytes(size, 2));
    let mut c = s.anonymous();
    let mut data = c.epsv();
    c.expect("RETR big", 150);
    let mut first = [0u8; 4096];
    data.read_exact(&mut first).unwrap();
    c.send("ABOR");
    c.expect_final(426);
    c.expect_final(226);
    drop(data);

    let mut data = c.epsv();
    c.expect("STOR partial", 150);
    data.write_all(&random_bytes(64 * 1024, 3)).unwrap();
    c.send("ABOR");
    c.expect_final(426);
    c.expect_final(226);
    drop(data);

    let lines = log_lines(&s, &path);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let retr = fields(&lines[0]);
    assert_eq!(
        retr[2..],
        [
            "/big",
            "b",
            "_",
            "o",
            "a",
            "anonymous",
            "ftp",
            "0",
            "*",
            "i"
        ]
    );
    let sent: usize = retr[1].parse().unwrap();
    assert!(sent >= first.len() && sent < size, "{sent}");
    let stor = fields(&lines[1]);
    assert_eq!(
        stor[2..],
        [
            "/partial",
            "b",
            "_",
            "i",
            "a",
            "anonymous",
            "ftp",
            "0",
            "*",
            "i"
        ]
    );
    let received: usize = stor[1].parse().unwrap();
    assert!(received <= 64 * 1024, "{received}");
}

#[test]
fn xferlog_follows_rotation() {
    let (s, logs, path) = logging_server(|_| {});
    s.root.write("f", b"0123456789");
    let mut c = s.anonymous();
    c.retr("f");
    assert_eq!(log_lines(&s, &path).len(), 1);
    // logrotate without copytruncate: rename, then the server must start a new file.
    let rotated = logs.path().join("xferlog.1");
    std::fs::rename(&path, &rotated).unwrap();
    c.retr("f");
    c.retr("f");
    assert_eq!(log_lines(&s, &path).len(), 2, "a new file at the old path");
    assert_eq!(
        log_lines(&s, &rotated).len(),
        1,
        "the old file is left alone"
    );
    // Deleted away: recreated too.
    std::fs::remove_file(&path).unwrap();
    c.retr("f");
    assert_eq!(log_lines(&s, &path).len(), 1);
}

#[test]
fn xferlog_that_cannot_be_opened_fails_at_start() {
    let logs = TempDir::new("xferlog-bad");
    let mut config = Config::new(logs.path());
    config.xferlog = Some(logs.path().join("missing-dir/xferlog"));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let err = match tinyftpd::server::Server::from_listeners(vec![listener], config) {
        Ok(_) => panic!("started without its log"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("--xferlog") && err.contains("missing-dir"),
        "{err}"
    );
}

#[test]
fn max_rate_holds_downloads_and_uploads_within_ten_percent() {
    // 2 MiB at 200 KiB/s: about 10 s each, both directions at once on two sessions.
    const RATE: f64 = 200.0 * 1024.0;
    const SIZE: usize = 2 << 20;
    let s = TestServer::with(|c| {
        c.anonymous_writable = true;
        c.max_rate = Some(RATE as u64);
        c.data_timeout = Duration::from_secs(30);
    });
    let payload = random_bytes(SIZE, 4);
    s.root.write("big", &payload);
    let addr = s.addr;
    let download = thread::spawn(move || {
        let mut c = Client::connect(addr);
        c.login("anonymous", "x");
        let mut data = c.epsv();
        c.expect("RETR big", 150);
        let started = Instant::now();
        let body = read_all(&mut data);
        let elapsed = started.elapsed();
        c.expect_final(226);
        assert_eq!(body.len(), SIZE);
        elapsed
    });
    let upload_payload = payload.clone();
    let upload = thread::spawn(move || {
        let mut c = Client::connect(addr);
        c.login("anonymous", "x");
        c.set_reply_timeout(Duration::from_secs(60));
        let mut data = c.epsv();
        c.expect("STOR up", 150);
        let started = Instant::now();
        data.write_all(&upload_payload).unwrap();
        drop(data);
        // The server has read everything when it replies.
        c.expect_final(226);
        started.elapsed()
    });
    let down = download.join().unwrap();
    let up = upload.join().unwrap();
    assert_eq!(s.root.read("up"), payload);
    for (what, elapsed) in [("download", down), ("upload", up)] {
        let rate = SIZE as f64 / elapsed.as_secs_f64();
        let error = (rate - RATE).abs() / RATE;
        eprintln!(
            "max-rate {what}: {:.0} B/s over {:.2} s (limit {RATE:.0}, off by {:.1}%)",
            rate,
            elapsed.as_secs_f64(),
            error * 100.0
        );
        assert!(error < 0.10, "{what}: {rate:.0} B/s against {RATE:.0}");
    }
}

/// A listener on 127.0.0.1 port P, chosen from `candidates`, such that P-1 is free too.
fn listener_above_a_free_port(candidates: impl Iterator<Item = u16>) -> Option<TcpListener> {
    candidates.take(200).find_map(|port| {
        let listener = TcpListener::bind(("127.0.0.1", port)).ok()?;
        let p = listener.local_addr().ok()?.port();
        if p < 2 {
            return None;
        }
        TcpListener::bind(("127.0.0.1", p - 1))
            .ok()
            .map(|_| listener)
    })
}

/// Two PORT + RETR in a row (SO_REUSEADDR makes the second bind work) and a LIST: every data
/// connection comes from port P-1.
fn check_port_20(listener: TcpListener) {
    let p = listener.local_addr().unwrap().port();
    let s = TestServer::from_listener(listener, |c| c.port_20 = true);
    s.root.write("f", b"from port L-1");
    let mut c = s.anonymous();
    for _ in 0..2 {
        let active = c.port();
        c.expect("RETR f", 150);
        let mut data = accept(&active);
        assert_eq!(data.peer_addr().unwrap().port(), p - 1);
        assert_eq!(read_all(&mut data), b"from port L-1");
        c.expect_final(226);
    }
    let active = c.port();
    c.expect("NLST", 150);
    let mut data = accept(&active);
    assert_eq!(data.peer_addr().unwrap().port(), p - 1);
    assert_eq!(read_all(&mut data), b"f\r\n");
    c.expect_final(226);
}

#[test]
fn port_20_data_connections_come_from_the_control_port_minus_one() {
    // "L-1" holds for any control port; above 1024 it needs no privilege.
    let listener = listener_above_a_free_port(std::iter::repeat(0))
        .expect("no free port pair found in 200 tries");
    check_port_20(listener);
}

#[test]
fn port_20_from_a_privileged_port_as_root() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: --port-20 from a port below 1024 needs root; run the tests as root");
        return;
    }
    let listener = listener_above_a_free_port((600..1024).rev())
        .expect("no free privileged port pair between 600 and 1023");
    check_port_20(listener);
}

#[test]
fn banner_is_the_greeting_and_the_default_hides_the_version() {
    let s = TestServer::start();
    let greeting = s.client().greeting.text();
    assert_eq!(greeting, "220 tinyftpd ready.");
    assert!(!greeting.contains(env!("CARGO_PKG_VERSION")));
    let s = TestServer::with(|c| c.banner = "Welcome to the scanner drop".into());
    assert_eq!(
        s.client().greeting.text(),
        "220 Welcome to the scanner drop"
    );
}
