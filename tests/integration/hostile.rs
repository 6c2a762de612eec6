//! Hostile clients (issue 6): over-long lines, NUL, invalid UTF-8, Telnet IAC, pipelining floods,
//! clients that vanish mid-transfer, PASV descriptor exhaustion, hundreds of concurrent sessions.
//! Each test ends by checking that a fresh session still works normally.
//!
//! Covered elsewhere, so not repeated here: PORT/EPRT to 127.0.0.2, to ports < 1024 and with
//! octets > 255 (`security::port_and_eprt_bounce_refused`), the PASV/EPSV port thief from
//! 127.0.0.2 (`security::pasv_port_thief_gets_nothing`), three bad passwords then a disconnect
//! and a good login from a new connection (`security::three_failed_logins_close_the_connection`),
//! NUL in path arguments (`security::nul_byte_in_a_path_is_refused_and_the_session_goes_on`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::client::{read_all, TIMEOUT};
use crate::support::process::Binary;
use crate::support::{random_bytes, Client, TestServer};

pub const HELLO: &[u8] = b"hello, world\n";
const UPLOAD_PREFIX: &str = ".tinyftpd-upload.";

/// A served file every fresh-session check downloads.
pub fn with_hello(s: &TestServer) {
    s.root.write("hello.txt", HELLO);
}

/// A new connection logs in, asks PWD and downloads a small file: the server is still fine.
pub fn fresh_session_works(addr: SocketAddr) {
    let mut c = Client::connect(addr);
    assert_eq!(c.greeting.code, 220);
    c.login("anonymous", "fresh@example.com");
    let pwd = c.expect("PWD", 257);
    assert!(pwd.text().contains("\"/\""), "{}", pwd.text());
    c.expect("TYPE I", 200);
    assert_eq!(c.retr("hello.txt"), HELLO);
    c.expect("QUIT", 221);
}

/// Names of upload temporaries left in `dir`.
pub fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read served dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(UPLOAD_PREFIX))
        .collect()
}

/// Polls `done` (the server's own state changing, not readiness) for at most 10 s.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn one_mebibyte_line_without_line_end_gets_500_and_the_session_goes_on() {
    let s = TestServer::start();
    with_hello(&s);
    let mut c = s.anonymous();
    let mut line = vec![b'A'; 1 << 20];
    c.send_raw(&line);
    c.send_raw(b"\r\n");
    c.expect_final(500);
    c.expect("NOOP", 200);
    // An over-long line made of a real command: still refused as a whole, never cut and run.
    line.clear();
    line.extend_from_slice(b"DELE ");
    line.resize(100_000, b'x');
    c.send(&line);
    c.expect_final(500);
    // A long run of bare CRs (not line ends) is one over-long line too.
    c.send_raw(&vec![b'\r'; 10_000]);
    c.send_raw(b"\n");
    c.expect_final(500);
    assert_eq!(c.retr("hello.txt"), HELLO);
    fresh_session_works(s.addr);
}

#[test]
fn nul_bytes_in_commands_are_refused_and_the_session_goes_on() {
    let s = TestServer::start();
    with_hello(&s);
    let mut c = s.client();
    for line in [&b"\0"[..], b"\0\0\0\0", b"NO\0OP", b"NOOP\0", b"\0NOOP"] {
        c.expect(line, 500);
    }
    // A user name with a NUL is nobody's: the usual 331, then 530.
    c.expect(b"USER anonymous\0", 331);
    c.expect("PASS x", 530);
    c.login("anonymous", "x");
    for line in [&b"RETR \0"[..], b"CWD /\0..", b"SIZE hello.txt\0"] {
        c.expect(line, 501);
    }
    // Refused as a malformed (501) or unserved (504) type; either way the type stays.
    let reply = c.cmd(b"TYPE A\0");
    assert!(matches!(reply.code, 501 | 504), "{}", reply.text());
    c.expect(b"REST 1\0", 501);
    c.expect("NOOP", 200);
    let mut data = c.epsv();
    let opening = c.expect("RETR hello.txt", 150);
    assert!(opening.text().contains("BINARY"), "{}", opening.text());
    assert_eq!(read_all(&mut data), HELLO);
    c.expect_final(226);
    fresh_session_works(s.addr);
}

fn host_path(root: &Path, name: &[u8]) -> std::path::PathBuf {
    root.join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name))
}

#[test]
fn invalid_utf8_in_verbs_and_paths_is_handled_as_bytes() {
    let s = TestServer::writable();
    with_hello(&s);
    // A name on disk that is not UTF-8 (Latin-1 "e acute").
    let latin1 = b"caf\xE9.txt";
    std::fs::write(host_path(s.root.path(), latin1), b"latin-1 name").unwrap();
    let mut c = s.anonymous();
    for verb in [
        &b"\xC3\x28"[..],
        b"NO\xC3OP",
        b"\x80\x80\x80\x80",
        b"\xFE\xFE",
        b"N\xE9OP x",
    ] {
        c.expect(verb, 500);
    }
    c.expect(b"RETR \xC3\x28\xA0\xA1", 550);
    c.expect(b"CWD \xF0\x28\x8C\x28", 550);
    c.expect("TYPE I", 200);
    assert_eq!(c.retr(latin1), b"latin-1 name");
    c.expect(b"SIZE caf\xE9.txt", 213);
    // Created under exactly the bytes sent, and listed as those bytes.
    let odd = b"new\xE9\x80.bin";
    c.stor(odd, b"odd name");
    assert_eq!(
        std::fs::read(host_path(s.root.path(), odd)).unwrap(),
        b"odd name"
    );
    let names = c.listing("NLST");
    assert!(names.iter().any(|n| n == odd), "{names:?}");
    assert!(names.iter().any(|n| n == latin1), "{names:?}");
    let mkd = c.expect(b"MKD d\xC3\x28", 257);
    assert!(
        mkd.lines[0].windows(4).any(|w| w == b"d\xC3\x28\""),
        "{}",
        mkd.text()
    );
    c.expect(b"CWD d\xC3\x28", 250);
    let pwd = c.expect("PWD", 257);
    assert!(pwd.lines[0].windows(3).any(|w| w == b"d\xC3\x28"));
    c.expect("CDUP", 250);
    fresh_session_works(s.addr);
}

#[test]
fn telnet_iac_sequences_are_removed_or_unescaped() {
    let s = TestServer::writable();
    with_hello(&s);
    let mut c = s.anonymous();
    // IAC WILL/DO/WONT/DONT x before a command, IAC NOP, IAC IP IAC DM before ABOR.
    c.send_raw(b"\xFF\xFB\x18NOOP\r\n");
    c.expect_final(200);
    c.send_raw(b"\xFF\xFD\x01\xFF\xFC\x03\xFF\xFE\x1FNOOP\r\n");
    c.expect_final(200);
    c.send_raw(b"\xFF\xF1NO\xFF\xF1OP\r\n");
    c.expect_final(200);
    c.send_raw(b"\xFF\xF4\xFF\xF2ABOR\r\n");
    c.expect_final(226);
    // IAC alone at the end of a line: it takes the CR as its command byte, the LF ends the line.
    c.send_raw(b"NOOP\xFF\r\n");
    c.expect_final(200);
    // IAC as the last byte of one write, its command byte in the next.
    c.send_raw(b"NOOP\r\n\xFF");
    c.expect_final(200);
    c.send_raw(b"\xF1NOOP\r\n");
    c.expect_final(200);
    // IAC WILL as the last bytes of a write, the option in the next.
    c.send_raw(b"\xFF\xFB");
    c.send_raw(b"\x01NOOP\r\n");
    c.expect_final(200);
    // IAC IAC is a literal 0xFF in a name: stored under that byte, and names with it work.
    c.expect("TYPE I", 200);
    c.stor(b"a\xFF\xFFb", b"with 0xFF");
    assert_eq!(
        std::fs::read(host_path(s.root.path(), b"a\xFFb")).unwrap(),
        b"with 0xFF"
    );
    assert_eq!(c.retr(b"a\xFF\xFFb"), b"with 0xFF");
    c.expect(b"SIZE a\xFF\xFFb", 213);
    // A reply that names it sends the byte doubled again (RFC 959).
    let mkd = c.expect(b"MKD d\xFF\xFF", 257);
    assert!(
        mkd.lines[0].windows(4).any(|w| w == b"d\xFF\xFF\""),
        "{}",
        mkd.text()
    );
    // An IAC flood: 200,000 bytes of IAC IAC (literal 0xFF) is an over-long line.
    c.send_raw(&vec![0xFF; 200_000]);
    c.send_raw(b"\r\n");
    c.expect_final(500);
    // IAC SB ... IAC SE (subnegotiation) must not swallow the next command.
    c.send_raw(b"\xFF\xFA\x18\x01\xFF\xF0NOOP\r\n");
    let reply = c.reply();
    assert!(
        reply.code == 200 || reply.code == 500,
        "IAC SB: {}",
        reply.text()
    );
    c.expect("NOOP", 200);
    fresh_session_works(s.addr);
}

/// Reads one reply line (single-line replies only) from a raw stream.
fn raw_line(reader: &mut impl BufRead) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).expect("read reply line");
    assert!(line.ends_with("\r\n"), "short reply line {line:?}");
    line
}

#[test]
fn ten_thousand_pipelined_noops_in_one_write_are_answered_in_order() {
    let s = TestServer::start();
    with_hello(&s);
    let stream = TcpStream::connect(s.addr).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert!(raw_line(&mut reader).starts_with("220 "));
    // A SYST after every 1,000th NOOP marks the order; QUIT ends it.
    let mut batch = b"USER anonymous\r\nPASS x\r\n".to_vec();
    let mut expected = vec![331, 230];
    for i in 1..=10_000 {
        batch.extend_from_slice(b"NOOP\r\n");
        expected.push(200);
        if i % 1000 == 0 {
            batch.extend_from_slice(b"SYST\r\n");
            expected.push(215);
        }
    }
    batch.extend_from_slice(b"QUIT\r\n");
    expected.push(221);
    // One write, from another thread, so that neither side's buffers can deadlock the test.
    let mut writer = stream;
    let sender = thread::spawn(move || writer.write_all(&batch));
    for (i, code) in expected.iter().enumerate() {
        let line = raw_line(&mut reader);
        assert!(
            line.starts_with(&format!("{code} ")),
            "reply {i}: expected {code}, got {line:?}"
        );
    }
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).expect("read to close");
    assert!(rest.is_empty(), "more after QUIT: {rest:?}");
    sender.join().unwrap().expect("send batch");
    fresh_session_works(s.addr);
}

#[test]
fn client_that_disconnects_mid_retr_is_cleaned_up() {
    let s = TestServer::start();
    with_hello(&s);
    s.root.write("big", &random_bytes(16 << 20, 1));
    // Drops only the data connection: 426 and the session goes on.
    let mut c = s.anonymous();
    c.expect("TYPE I", 200);
    let mut data = c.epsv();
    c.expect("RETR big", 150);
    let mut some = [0u8; 65536];
    data.read_exact(&mut some).expect("first bytes");
    crate::support::sys::set_linger_zero(&data);
    drop(data);
    c.expect_final(426);
    c.expect("NOOP", 200);
    assert_eq!(c.retr("hello.txt"), HELLO);
    // Vanishes altogether (control first, then data) in the middle of the download.
    for _ in 0..3 {
        let mut c = s.anonymous();
        c.expect("TYPE I", 200);
        let mut data = c.epsv();
        c.expect("RETR big", 150);
        data.read_exact(&mut some).expect("first bytes");
        drop(c);
        drop(data);
    }
    // And with the data connection gone first.
    let mut c = s.anonymous();
    let mut data = c.epsv();
    c.expect("RETR big", 150);
    data.read_exact(&mut some).expect("first bytes");
    drop(data);
    drop(c);
    wait_until("the vanished sessions to end", || {
        s.ctx.session_count() == 1
    });
    fresh_session_works(s.addr);
}

#[test]
fn client_that_disconnects_mid_stor_leaves_the_old_file() {
    let s = TestServer::writable();
    with_hello(&s);
    let old = random_bytes(1 << 20, 2);
    s.root.write("target", &old);
    let new = random_bytes(4 << 20, 3);
    for close_data_first in [false, true] {
        let mut c = s.anonymous();
        c.expect("TYPE I", 200);
        let mut data = c.epsv();
        c.expect("STOR target", 150);
        data.write_all(&new[..2 << 20]).expect("send half");
        if close_data_first {
            // The data connection breaks (RST) before the control connection goes.
            crate::support::sys::set_linger_zero(&data);
            drop(data);
            drop(c);
        } else {
            drop(c);
            drop(data);
        }
        wait_until("the vanished session to end", || s.ctx.session_count() == 0);
        assert_eq!(s.root.read("target"), old, "old file changed");
        assert_eq!(temp_files(s.root.path()), Vec::<String>::new());
    }
    fresh_session_works(s.addr);
}

/// Open descriptors of a process, from /proc.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/PID/fd")
        .count()
}

#[test]
fn a_thousand_pasv_without_transfer_do_not_leak_descriptors() {
    let dir = crate::support::TempDir::new("pasv-fds");
    dir.write("hello.txt", HELLO);
    let server = Binary::start(&[dir.path().to_str().expect("UTF-8 temp path")]);
    let mut c = Client::connect(server.addr);
    c.login("anonymous", "x");
    let before = open_fds(server.pid());
    // The count is the server's: one PASV listener shows.
    c.expect("PASV", 227);
    assert_eq!(
        open_fds(server.pid()),
        before + 1,
        "not counting the server's descriptors"
    );
    for _ in 0..1000 {
        c.expect("PASV", 227);
    }
    let after_pasv = open_fds(server.pid());
    for _ in 0..1000 {
        c.epsv_port();
    }
    // Half-open data connections that are never used: connected, then PASV again.
    for _ in 0..50 {
        let _unused = c.pasv();
    }
    let after = open_fds(server.pid());
    assert!(
        after_pasv < before + 10 && after < before + 10,
        "descriptors: {before} before, {after_pasv} after 1,000 PASV, {after} after EPSV"
    );
    assert_eq!(c.retr("hello.txt"), HELLO);
    c.expect("QUIT", 221);
    fresh_session_works(server.addr);
}

/// Holds threads until the test opens it, so that they start their transfers together.
/// Bounded, so a test that failed before opening it cannot hang the threads.
struct StartSignal {
    open: Mutex<bool>,
    changed: Condvar,
}

impl StartSignal {
    fn wait(&self) {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let (open, _) = self
            .changed
            .wait_timeout_while(open, Duration::from_secs(60), |open| !*open)
            .unwrap_or_else(|e| e.into_inner());
        assert!(*open, "start signal never came");
    }

    fn open(&self) {
        *self.open.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.changed.notify_all();
    }
}

#[test]
fn three_hundred_concurrent_sessions_each_transfer() {
    const SESSIONS: usize = 300;
    // Each session holds about six descriptors in this process (client and server ends of the
    // control and data connections, the PASV listener, the file).
    let limit = crate::support::sys::raise_nofile_limit(4096);
    assert!(limit >= 4096, "RLIMIT_NOFILE {limit} too low for this test");
    let s = TestServer::with(|c| {
        c.anonymous_writable = true;
        c.max_clients = SESSIONS + 10;
        c.max_per_ip = SESSIONS + 10;
        c.data_timeout = Duration::from_secs(30);
    });
    with_hello(&s);
    // Logged in one after another, so that 300 simultaneous connects do not overflow the
    // listen backlog (the kernel would then retry handshakes after 1 s, 3 s, ...); the
    // transfers below then all run at once.
    let clients: Vec<Client> = (0..SESSIONS)
        .map(|_| {
            let mut c = s.anonymous();
            c.expect("TYPE I", 200);
            c
        })
        .collect();
    assert_eq!(s.ctx.session_count(), SESSIONS, "sessions running at once");
    let start = Arc::new(StartSignal {
        open: Mutex::new(false),
        changed: Condvar::new(),
    });
    let workers: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let start = Arc::clone(&start);
            thread::Builder::new()
                .name(format!("client {i}"))
                .stack_size(256 * 1024)
                .spawn(move || {
                    start.wait();
                    assert_eq!(c.retr("hello.txt"), HELLO);
                    let body = random_bytes(10_000, i as u64 + 1);
                    let name = format!("up-{i}");
                    c.stor(&name, &body);
                    assert_eq!(c.retr(&name), body);
                    c.expect("QUIT", 221);
                })
                .expect("spawn client thread")
        })
        .collect();
    start.open();
    let failed = workers
        .into_iter()
        .map(|w| w.join())
        .filter(|r| r.is_err())
        .count();
    assert_eq!(failed, 0, "{failed} client threads failed");
    for i in 0..SESSIONS {
        assert_eq!(
            s.root.read(&format!("up-{i}")),
            random_bytes(10_000, i as u64 + 1)
        );
    }
    wait_until("all sessions to end", || s.ctx.session_count() == 0);
    fresh_session_works(s.addr);
}

#[test]
fn command_flood_during_a_transfer_is_answered_in_order_after_it() {
    let s = TestServer::start();
    with_hello(&s);
    let body = random_bytes(8 << 20, 4);
    s.root.write("big", &body);
    let stream = TcpStream::connect(s.addr).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    assert!(raw_line(&mut reader).starts_with("220 "));
    writer
        .write_all(b"USER anonymous\r\nPASS x\r\nTYPE I\r\nEPSV\r\n")
        .unwrap();
    for code in ["331", "230", "200"] {
        assert!(raw_line(&mut reader).starts_with(code));
    }
    let epsv = raw_line(&mut reader);
    let port: u16 = epsv
        .split("(|||")
        .nth(1)
        .and_then(|r| r.split('|').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("EPSV reply {epsv:?}"));
    let mut data = TcpStream::connect((s.addr.ip(), port)).expect("connect data");
    data.set_read_timeout(Some(TIMEOUT)).unwrap();
    writer.write_all(b"RETR big\r\n").unwrap();
    assert!(raw_line(&mut reader).starts_with("150 "));
    // While the file flows: 5,000 commands in one write, then QUIT.
    let mut flood = Vec::new();
    let mut expected = Vec::new();
    for i in 0..5000 {
        if i % 2 == 0 {
            flood.extend_from_slice(b"NOOP\r\n");
            expected.push(200);
        } else {
            flood.extend_from_slice(b"PWD\r\n");
            expected.push(257);
        }
    }
    flood.extend_from_slice(b"QUIT\r\n");
    expected.push(221);
    // Before any data is read: the server cannot have sent 8 MiB into the socket buffers yet,
    // so the flood arrives during the transfer. 30 KB fit in the kernel's buffers.
    writer.write_all(&flood).expect("send flood");
    let mut got = Vec::with_capacity(body.len());
    data.read_to_end(&mut got).expect("read data");
    assert!(got == body, "download corrupted ({} bytes)", got.len());
    let done = raw_line(&mut reader);
    assert!(done.starts_with("226 "), "{done:?}");
    for (i, code) in expected.iter().enumerate() {
        let line = raw_line(&mut reader);
        assert!(
            line.starts_with(&format!("{code} ")),
            "reply {i}: expected {code}, got {line:?}"
        );
    }
    fresh_session_works(s.addr);
}
