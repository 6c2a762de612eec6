//! The control connection under attack or abuse: Telnet urgent ABOR as real clients send it, a
//! command flood during a listing, STAT during a listing, a transfer log that stops being read at
//! shutdown, and terminal escapes aimed at the operator's log.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::client::{read_all, Client, Reply};
use crate::support::external::{self, run_ok};
use crate::support::process::{Binary, Running, BIN};
use crate::support::sys::{mkfifo, send_urgent, set_pipe_size};
use crate::support::{TempDir, TestServer};

const IAC: u8 = 255;
const IP: u8 = 244;
const DM: u8 = 242;

/// How a client sends ABOR.
#[derive(Debug, Clone, Copy)]
enum AborStyle {
    /// `IAC IP IAC DM ABOR\r\n`, all in the normal stream.
    InBand,
    /// BSD ftp, tnftp and lftp: `IAC IP IAC` with MSG_OOB (the second IAC is the urgent byte),
    /// then `DM ABOR\r\n`.
    TelnetSynch,
    /// Python's ftplib: `ABOR\r\n` with MSG_OOB (the `\n` is the urgent byte).
    Ftplib,
}

const STYLES: [AborStyle; 3] = [AborStyle::InBand, AborStyle::TelnetSynch, AborStyle::Ftplib];

fn send_abor(c: &mut Client, style: AborStyle) {
    match style {
        AborStyle::InBand => c.send_raw(&[IAC, IP, IAC, DM, b'A', b'B', b'O', b'R', b'\r', b'\n']),
        AborStyle::TelnetSynch => {
            send_urgent(c.socket(), &[IAC, IP, IAC]);
            c.send_raw(&[DM, b'A', b'B', b'O', b'R', b'\r', b'\n']);
        }
        AborStyle::Ftplib => send_urgent(c.socket(), b"ABOR\r\n"),
    }
}

#[test]
fn urgent_abor_when_idle_is_answered_and_the_session_goes_on() {
    let s = TestServer::start();
    for style in STYLES {
        let mut c = s.anonymous();
        send_abor(&mut c, style);
        let reply = c.reply();
        assert!(
            matches!(reply.code, 225 | 226),
            "{style:?}: ABOR -> {}",
            reply.text()
        );
        // The next line must not be glued to the ABOR or lose a byte.
        c.expect("NOOP", 200);
        c.expect("PWD", 257);
    }
}

#[test]
fn urgent_abor_stops_a_download_blocked_on_a_full_socket() {
    // A long data timeout: only ABOR can end the transfer within the client's reply timeout.
    let s = TestServer::with(|c| c.data_timeout = Duration::from_secs(120));
    // Larger than every socket buffer on the way, so the transfer blocks while nobody reads.
    s.root.write("big.bin", &vec![b'x'; 24 << 20]);
    for style in STYLES {
        let mut c = s.anonymous();
        c.expect("TYPE I", 200);
        let data = c.epsv();
        c.expect("RETR big.bin", 150);
        let asked = Instant::now();
        send_abor(&mut c, style);
        let first = c.reply();
        let second = c.reply();
        assert!(
            matches!((first.code, second.code), (426, 226) | (226, 225 | 226)),
            "{style:?}: {} then {}",
            first.text(),
            second.text()
        );
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "{style:?}: ABOR took {:?}",
            asked.elapsed()
        );
        drop(data);
        c.expect("NOOP", 200);
        c.expect("PWD", 257);
    }
}

#[test]
fn python_ftplib_abort_during_a_download() {
    if !external::available("python3", "apt-get install -y python3") {
        return;
    }
    let s = TestServer::with(|c| c.data_timeout = Duration::from_secs(120));
    s.root.write("big.bin", &vec![b'y'; 24 << 20]);
    let work = TempDir::new("python-abort");
    let script = r#"
import ftplib, sys
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", int(sys.argv[1]), timeout=8)
ftp.login()
aborted = []
def got(block):
    if not aborted:
        aborted.append(ftp.abort())
try:
    final = ftp.retrbinary("RETR big.bin", got)
except (ConnectionResetError, BrokenPipeError):
    final = ftp.voidresp()
assert aborted and aborted[0][:3] in ("426", "225", "226"), aborted
assert final[:3] in ("225", "226"), final
assert ftp.pwd() == "/"
assert ftp.sendcmd("NOOP").startswith("200")
ftp.quit()
print("ok")
"#;
    let port = s.port().to_string();
    let out = run_ok("python3", &["-c", script, &port], work.path(), 30);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

/// A served directory for listings of thousands of entries, on tmpfs where the machine has one:
/// creating them on a busy disk takes seconds. Removed on drop.
struct ListingRoot(PathBuf);

impl Drop for ListingRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server whose DIR holds `many/` with `n` empty files (names of 12 bytes).
fn server_with_many_entries(n: usize) -> (TestServer, ListingRoot) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let root = ListingRoot(base.join(format!(
        "tinyftpd-test-{}-listing-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )));
    let dir = root.0.join("many");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..n {
        File::create(dir.join(format!("entry-{i:06}"))).unwrap();
    }
    let path = root.0.clone();
    (TestServer::with(|c| c.root = path), root)
}

/// Reads replies until (and with) the one with `code`; all of them are returned.
fn replies_until(c: &mut Client, code: u16) -> Vec<Reply> {
    let mut seen = Vec::new();
    loop {
        let reply = c.reply();
        let done = reply.code == code;
        seen.push(reply);
        if done {
            return seen;
        }
    }
}

#[test]
fn command_flood_during_a_listing_is_not_read_beyond_the_queue_bound() {
    // Past what the first 2 KiB read of the command line brings, and the listing looks at the
    // control connection every 512 entries: a server without the bound reads the STAT within a
    // few of those looks.
    const NOOPS: usize = 600;
    const ENTRIES: usize = 5_000;
    let (s, _root) = server_with_many_entries(ENTRIES);
    let mut c = s.anonymous();
    let mut data = c.epsv();
    // Everything at once: the listing starts with thousands of commands already waiting. The
    // server may hold a bounded number of them during the listing; the STAT behind them must
    // not be read before the listing ends (a server that reads it answers "in progress").
    let mut flood = b"NLST many\r\n".to_vec();
    for _ in 0..NOOPS {
        flood.extend_from_slice(b"NOOP\r\n");
    }
    flood.extend_from_slice(b"STAT\r\n");
    let writer = c.socket().try_clone().unwrap();
    let sender = thread::spawn(move || (&writer).write_all(&flood).map(|_| writer));
    let listing = read_all(&mut data);
    assert_eq!(listing.split(|&b| b == b'\n').count() - 1, ENTRIES);
    sender.join().unwrap().expect("send the flood");
    let before_end = replies_until(&mut c, 226);
    assert_eq!(before_end[0].code, 150);
    assert_eq!(
        before_end.len(),
        2,
        "the server read the flood during the listing: {:?}",
        before_end.iter().map(Reply::text).collect::<Vec<_>>()
    );
    for i in 0..NOOPS {
        let reply = c.reply();
        assert_eq!(reply.code, 200, "NOOP {i}: {}", reply.text());
    }
    let status = c.reply();
    assert_eq!(status.code, 211, "{}", status.text());
    c.expect("NOOP", 200);
}

#[test]
fn stat_during_a_listing_counts_entries_not_bytes() {
    let (s, _root) = server_with_many_entries(2_000);
    let mut c = s.anonymous();
    let mut data = c.epsv();
    // In one segment: the listing looks at the control connection before its first entry.
    c.send_raw(b"NLST many\r\nSTAT\r\n");
    let listing = read_all(&mut data);
    assert!(!listing.is_empty());
    let replies = replies_until(&mut c, 226);
    let texts: Vec<String> = replies.iter().map(Reply::text).collect();
    assert_eq!(replies.len(), 3, "{texts:?}");
    assert_eq!(replies[1].code, 213, "{texts:?}");
    assert!(
        texts[1].contains("entries") && !texts[1].contains("bytes"),
        "{texts:?}"
    );
}

#[test]
fn shutdown_is_bounded_when_the_transfer_log_is_not_read() {
    const TRANSFERS: usize = 4_600;
    const SESSIONS: usize = 4;
    let dir = TempDir::new("xferlog-fifo");
    let root = TempDir::new("xferlog-root");
    root.write("e", b"");
    let fifo = dir.path().join("xferlog");
    mkfifo(&fifo);
    // Our read end, opened first (so the server's open does not wait for a reader), held open
    // and never read; a small pipe fills after a few dozen lines.
    let reader = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    set_pipe_size(&reader, 4096);
    let mut server = Binary::start(&[
        "--xferlog",
        fifo.to_str().unwrap(),
        "--shutdown-grace",
        "2",
        root.path().to_str().unwrap(),
    ]);
    // Fill the pipe and then the writer's queue (4096 lines) with downloads of an empty file.
    let addr = server.addr;
    let workers: Vec<_> = (0..SESSIONS)
        .map(|_| {
            thread::spawn(move || {
                let mut c = Client::connect(addr);
                c.login("anonymous", "x@y");
                for _ in 0..TRANSFERS / SESSIONS {
                    assert!(c.retr("e").is_empty());
                }
                c.expect("QUIT", 221);
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    server.wait_for_log("session end", Duration::from_secs(10));
    let asked = Instant::now();
    server.signal(libc::SIGTERM);
    let code = server.wait_exit(Duration::from_secs(10));
    assert_eq!(code, Some(0), "exit after {:?}", asked.elapsed());
    drop(reader);
}

/// Every byte a terminal would act on: C0 controls except the newline ending each line, DEL,
/// and the C1 controls (U+0080..U+009F).
fn unsafe_for_a_terminal(text: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(text)
        .lines()
        .filter(|l| l.chars().any(|ch| ch.is_control()))
        .map(|l| format!("{l:?}"))
        .collect()
}

#[test]
fn log_lines_carry_no_terminal_escapes() {
    let root = TempDir::new("escape-root");
    root.write("a\x1b[2Jb", b"payload");
    std::fs::create_dir(root.path().join("d\x1b]0;x\x07")).unwrap();
    // The default level (transfers, failed logins) and -v (every command, debug).
    for verbosity in [None, Some("-v")] {
        let child = Command::new(BIN)
            .args(["-p", "0", "-b", "127.0.0.1"])
            .args(verbosity)
            .arg(root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tinyftpd");
        let mut running = Running(Some(child));
        let line = running.start_up_line();
        let addr = crate::support::process::listening_addr(&line);
        let mut err = running.0.as_mut().unwrap().stderr.take().unwrap();
        let stderr = thread::spawn(move || {
            let mut all = Vec::new();
            let _ = err.read_to_end(&mut all);
            all
        });
        let mut c = Client::connect(addr);
        // Before login, a user name with an OSC sequence (sets the terminal title) and BEL.
        c.expect(b"USER \x1b]0;pwned\x07", 331);
        c.expect("PASS x", 530);
        c.login("anonymous", "\x1b[31mred@x");
        c.expect(b"CWD d\x1b]0;x\x07", 250);
        c.expect("CWD /", 250);
        assert_eq!(c.retr(b"a\x1b[2Jb"), b"payload");
        c.expect(b"RETR no\x1b[Asuch\x7f", 550);
        // Not UTF-8 (and 0x9b, CSI in 8-bit terminals): refused one way or another.
        assert!(c.cmd(b"RETR \xff\xfe\x9b").code >= 500);
        let verb = c.cmd(b"NO\x1bOP\x7f\x08");
        assert!(verb.code >= 500, "{}", verb.text());
        c.expect("QUIT", 221);
        let pid = running.pid() as libc::pid_t;
        // SAFETY: kill(2) on our child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let status = running.wait_exit(Duration::from_secs(10));
        assert!(status.success());
        let text = stderr.join().unwrap();
        assert!(!text.is_empty(), "{verbosity:?}: no log at all");
        assert!(
            std::str::from_utf8(&text).is_ok(),
            "{verbosity:?}: invalid UTF-8 in the log"
        );
        let bad = unsafe_for_a_terminal(&text);
        assert!(
            bad.is_empty(),
            "{verbosity:?}: raw control bytes in {bad:?}"
        );
        assert!(
            !text.iter().any(|&b| b != b'\n' && (b < 0x20 || b == 0x7f)),
            "{verbosity:?}: a control byte in the log"
        );
    }
}
