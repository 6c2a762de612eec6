//! Data safety (issue 6): an upload replaces the old file only when it completed; a client that
//! dies, a reset, a full disk or two clients racing never leave a mix or a temporary behind.
//! Timeouts: idle never cuts a running transfer, a stalled transfer is aborted, a connection that
//! does not log in is closed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::hostile::{fresh_session_works, temp_files, with_hello, HELLO};
use crate::support::client::{accept, read_all};
use crate::support::sys::{is_root, mkfifo, send_urgent, set_linger_zero, set_recv_buffer};
use crate::support::{random_bytes, TempDir, TestServer};

#[test]
fn stor_from_a_client_that_dies_before_the_data_ends_keeps_the_old_file() {
    let s = TestServer::writable();
    with_hello(&s);
    let old = random_bytes(300_000, 10);
    s.root.write("target", &old);
    let new = random_bytes(2 << 20, 11);
    let mut c = s.anonymous();
    c.expect("TYPE I", 200);
    let mut data = c.epsv();
    c.expect("STOR target", 150);
    data.write_all(&new).expect("send the whole new file");
    // The client dies: its control connection goes first, then the data connection ends
    // cleanly. It never read a 226, so the upload must not count.
    c.close_write();
    drop(data);
    let rest = c.read_to_close();
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        !rest.contains("226"),
        "a dead client's upload completed: {rest}"
    );
    assert_eq!(s.root.read("target"), old, "the old file was replaced");
    assert_eq!(temp_files(s.root.path()), Vec::<String>::new());
    fresh_session_works(s.addr);
}

#[test]
fn stor_whose_data_connection_ends_in_a_reset_is_aborted() {
    let s = TestServer::writable();
    with_hello(&s);
    let old = random_bytes(300_000, 20);
    s.root.write("target", &old);
    let mut c = s.anonymous();
    c.expect("TYPE I", 200);
    for size in [0, 1000, 1 << 20] {
        let mut data = c.epsv();
        c.expect("STOR target", 150);
        data.write_all(&random_bytes(size, 21)).expect("send");
        set_linger_zero(&data);
        drop(data);
        c.expect_final(426);
        assert_eq!(
            s.root.read("target"),
            old,
            "replaced after a reset ({size} bytes)"
        );
        assert_eq!(temp_files(s.root.path()), Vec::<String>::new());
    }
    // The session goes on.
    c.stor("small", b"small file");
    assert_eq!(c.retr("small"), b"small file");
    assert_eq!(c.retr("target"), old);
    fresh_session_works(s.addr);
}

#[test]
fn two_clients_storing_one_name_leave_one_whole_file() {
    let s = TestServer::writable();
    with_hello(&s);
    const SIZE: usize = 6 << 20;
    for round in 0..2u64 {
        let bodies = [
            random_bytes(SIZE, 100 + 2 * round),
            random_bytes(SIZE, 101 + 2 * round),
        ];
        let (ready_tx, ready_rx) = mpsc::channel();
        let mut go = Vec::new();
        let workers: Vec<_> = bodies
            .iter()
            .cloned()
            .map(|body| {
                let (go_tx, go_rx) = mpsc::channel::<()>();
                go.push(go_tx);
                let ready = ready_tx.clone();
                let mut c = s.anonymous();
                thread::spawn(move || {
                    c.expect("TYPE I", 200);
                    let mut data = c.epsv();
                    c.expect("STOR same", 150);
                    ready.send(()).unwrap();
                    go_rx
                        .recv_timeout(Duration::from_secs(10))
                        .expect("go signal");
                    // Small writes, so the two uploads interleave on the server.
                    for chunk in body.chunks(64 * 1024) {
                        data.write_all(chunk).expect("send chunk");
                    }
                    drop(data);
                    c.expect_final(226);
                })
            })
            .collect();
        for _ in 0..2 {
            ready_rx
                .recv_timeout(Duration::from_secs(10))
                .expect("both uploads started");
        }
        for g in &go {
            g.send(()).unwrap();
        }
        for w in workers {
            w.join().expect("uploader");
        }
        let result = s.root.read("same");
        assert_eq!(result.len(), SIZE, "round {round}: size");
        assert!(
            result == bodies[0] || result == bodies[1],
            "round {round}: the result mixes the two uploads"
        );
        assert_eq!(temp_files(s.root.path()), Vec::<String>::new());
    }
    fresh_session_works(s.addr);
}

#[test]
fn retr_of_a_fifo_or_a_socket_is_refused_without_blocking() {
    let s = TestServer::start();
    with_hello(&s);
    // A FIFO with no writer: a blocking open would never return.
    mkfifo(&s.root.path().join("fifo"));
    let _socket = std::os::unix::net::UnixListener::bind(s.root.path().join("sock"))
        .expect("bind unix socket");
    let mut c = s.anonymous();
    let started = Instant::now();
    c.expect("RETR fifo", 550);
    c.expect("RETR sock", 550);
    // With a data connection waiting, too.
    let data = c.epsv();
    c.expect("RETR fifo", 550);
    c.expect("RETR sock", 550);
    drop(data);
    c.expect("ABOR", 226);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refusals took {:?}",
        started.elapsed()
    );
    assert_eq!(c.retr("hello.txt"), HELLO);
    fresh_session_works(s.addr);
}

/// A tmpfs of a given size, unmounted on drop.
struct SmallMount {
    dir: PathBuf,
}

impl SmallMount {
    /// `None` (with the reason) where mounting is not possible: not root, no CAP_SYS_ADMIN.
    fn new(dir: &Path, size: &str) -> Result<SmallMount, String> {
        if !is_root() {
            return Err("not running as root".into());
        }
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(SmallMount {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for SmallMount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Still busy (a session thread of the in-process server): detach it.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

#[test]
fn disk_full_gives_452_leaves_nothing_behind_and_the_session_goes_on() {
    let base = TempDir::new("disk-full");
    let served = base.path().join("small");
    std::fs::create_dir(&served).unwrap();
    let _mount = match SmallMount::new(&served, "1m") {
        Ok(m) => m,
        Err(why) => {
            println!(
                "SKIPPED: data_safety::disk_full_gives_452...: needs a 1 MiB tmpfs ({why}); \
                 run the tests as root to cover it"
            );
            return;
        }
    };
    std::fs::write(served.join("hello.txt"), HELLO).unwrap();
    let s = TestServer::with(|c| {
        c.root = served.clone();
        c.anonymous_writable = true;
    });
    let mut c = s.anonymous();
    c.expect("TYPE I", 200);
    let mut data = c.epsv();
    c.expect("STOR big", 150);
    // The server stops reading when the disk is full and closes the data connection, so this
    // write may fail; what counts is the reply.
    let _ = data.write_all(&random_bytes(3 << 20, 30));
    drop(data);
    let reply = c.reply();
    assert!(
        matches!(reply.code, 452 | 552),
        "disk full: {}",
        reply.text()
    );
    assert_eq!(temp_files(&served), Vec::<String>::new());
    assert!(!served.join("big").exists(), "a partial file was left");
    // The space is back: a small upload and a download work in the same session.
    let small = random_bytes(200_000, 31);
    c.stor("small", &small);
    assert_eq!(c.retr("small"), small);
    assert_eq!(c.retr("hello.txt"), HELLO);
    fresh_session_works(s.addr);
}

#[test]
fn idle_timeout_does_not_cut_a_long_download() {
    let s = TestServer::with(|c| c.idle_timeout = Duration::from_secs(1));
    with_hello(&s);
    let body = random_bytes(16 << 20, 40);
    s.root.write("big", &body);
    let mut c = s.anonymous();
    c.expect("TYPE I", 200);
    // Active mode, so that the small receive buffer is in place before the connection exists:
    // the server's sending then waits on this reader, not on kernel buffers.
    let listener = c.port();
    set_recv_buffer(&listener, 64 * 1024);
    let started = Instant::now();
    c.expect("RETR big", 150);
    let mut data = accept(&listener);
    let mut got = Vec::with_capacity(body.len());
    let mut buf = vec![0u8; 64 * 1024];
    // Paced reading is the scenario: at most ~6.5 MB/s, so 16 MiB take well over 2 s.
    for _ in 0..100_000 {
        let n = data.read(&mut buf).expect("read data");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        thread::sleep(Duration::from_millis(10));
    }
    let reply = c.reply();
    let took = started.elapsed();
    assert_eq!(reply.code, 226, "{}", reply.text());
    assert!(got == body, "download corrupted ({} bytes)", got.len());
    assert!(took > Duration::from_secs(2), "too fast to test: {took:?}");
    fresh_session_works(s.addr);
}

#[test]
fn idle_timeout_does_not_cut_a_long_upload() {
    let s = TestServer::with(|c| {
        c.idle_timeout = Duration::from_secs(1);
        c.anonymous_writable = true;
    });
    with_hello(&s);
    let mut c = s.anonymous();
    c.expect("TYPE I", 200);
    let mut data = c.epsv();
    c.expect("STOR slow", 150);
    let chunk = random_bytes(32 * 1024, 41);
    let started = Instant::now();
    let mut sent = 0usize;
    // Paced writing is the scenario: 2.2 s of upload with the idle timeout at 1 s.
    while started.elapsed() < Duration::from_millis(2200) && sent < 1 << 30 {
        data.write_all(&chunk).expect("send chunk");
        sent += chunk.len();
        thread::sleep(Duration::from_millis(10));
    }
    drop(data);
    c.expect_final(226);
    c.expect("NOOP", 200);
    assert_eq!(s.root.read("slow").len(), sent);
    fresh_session_works(s.addr);
}

#[test]
fn transfer_without_progress_for_the_data_timeout_is_aborted() {
    let s = TestServer::with(|c| {
        c.data_timeout = Duration::from_secs(1);
        c.anonymous_writable = true;
    });
    with_hello(&s);
    s.root.write("big", &random_bytes(16 << 20, 50));
    let old = random_bytes(1000, 51);
    s.root.write("target", &old);
    let mut c = s.anonymous();
    c.expect("TYPE I", 200);
    // A download nobody reads.
    let listener = c.port();
    set_recv_buffer(&listener, 64 * 1024);
    let started = Instant::now();
    c.expect("RETR big", 150);
    let data = accept(&listener);
    c.expect_final(426);
    let took = started.elapsed();
    drop(data);
    assert!(took < Duration::from_secs(8), "426 after {took:?}");
    c.expect("NOOP", 200);
    assert_eq!(c.retr("hello.txt"), HELLO);
    // An upload that never sends a byte and never ends.
    let data = c.epsv();
    c.expect("STOR target", 150);
    c.expect_final(426);
    drop(data);
    assert_eq!(s.root.read("target"), old);
    assert_eq!(temp_files(s.root.path()), Vec::<String>::new());
    c.expect("NOOP", 200);
    fresh_session_works(s.addr);
}

#[test]
fn login_timeout_closes_a_connection_that_only_sends_noop() {
    let s = TestServer::with(|c| c.login_timeout = Duration::from_secs(1));
    with_hello(&s);
    let mut c = s.client();
    let started = Instant::now();
    let mut noops = 0;
    // A slow client keeping the connection busy without logging in (paced on purpose).
    let last = loop {
        let reply = c.cmd("NOOP");
        if reply.code != 200 || started.elapsed() > Duration::from_secs(10) {
            break reply;
        }
        noops += 1;
        thread::sleep(Duration::from_millis(100));
    };
    let took = started.elapsed();
    assert_eq!(last.code, 421, "{}", last.text());
    assert!(noops >= 2, "only {noops} NOOPs before 421");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "421 after {took:?}"
    );
    assert!(c.try_reply().is_none(), "still open after 421");
    // One that sends nothing at all.
    let mut c = s.client();
    let reply = c.reply();
    assert_eq!(reply.code, 421, "{}", reply.text());
    // Logging in in time works as usual.
    let mut c = s.anonymous();
    c.expect("PWD", 257);
    let mut data = c.epsv();
    c.expect("RETR hello.txt", 150);
    assert_eq!(read_all(&mut data), HELLO);
    c.expect_final(226);
    fresh_session_works(s.addr);
}

/// A sender that trickles (less than the receive low-water mark in the whole upload, with
/// pauses longer than the low-water check) still makes progress: no 426 for "no progress",
/// even though each pause is a good part of the data timeout, and every byte arrives.
#[test]
fn trickling_upload_is_not_mistaken_for_a_stalled_one() {
    let s = TestServer::with(|c| {
        c.anonymous_writable = true;
        c.data_timeout = Duration::from_millis(1500);
    });
    let mut c = s.anonymous();
    let mut data = c.epsv();
    c.expect("STOR slow", 150);
    let mut sent = Vec::new();
    for i in 0..8u8 {
        let piece = vec![b'a' + i; 700];
        data.write_all(&piece).unwrap();
        sent.extend_from_slice(&piece);
        // The paced sender is the scenario here, not a wait for readiness.
        thread::sleep(Duration::from_millis(400));
    }
    drop(data);
    c.expect_final(226);
    assert_eq!(s.root.read("slow"), sent);
}

/// The directory of a running upload is renamed by another session: the upload still lands
/// (in the directory under its new name) and no temporary file is stranded.
#[test]
fn upload_survives_its_directory_being_renamed() {
    let s = TestServer::writable();
    s.root.write("sub/old.txt", b"x");
    let mut uploader = s.anonymous();
    let mut renamer = s.anonymous();
    let mut data = uploader.epsv();
    uploader.expect("STOR sub/up.bin", 150);
    data.write_all(&random_bytes(100_000, 5)).unwrap();
    renamer.expect("RNFR sub", 350);
    renamer.expect("RNTO sub2", 250);
    data.write_all(&random_bytes(100_000, 6)).unwrap();
    drop(data);
    uploader.expect_final(226);
    let mut expected = random_bytes(100_000, 5);
    expected.extend(random_bytes(100_000, 6));
    assert_eq!(s.root.read("sub2/up.bin"), expected);
    assert!(temp_files(&s.root.path().join("sub2")).is_empty());
}

/// Temporaries of a server that died mid-upload are removed at the next start (those of a
/// process still running are not).
#[test]
fn next_start_removes_stale_upload_temporaries() {
    let root = TempDir::new("stale");
    let dead_pid = (400_000..500_000u32)
        .find(|&p| !Path::new(&format!("/proc/{p}")).exists())
        .expect("a free pid");
    root.write(&format!(".tinyftpd-upload.{dead_pid}.1"), b"partial");
    root.write(
        &format!("deep/er/.tinyftpd-upload.{dead_pid}.7"),
        b"partial",
    );
    let live = format!(".tinyftpd-upload.{}.3", std::process::id());
    root.write(&live, b"someone else's running upload");
    root.write("keep.txt", b"keep");
    let server = crate::support::process::Binary::start(&[root.path().to_str().unwrap()]);
    server.wait_for_log(
        "removed 2 stale upload temporaries",
        Duration::from_secs(10),
    );
    assert_eq!(temp_files(root.path()), vec![live]);
    assert!(temp_files(&root.path().join("deep/er")).is_empty());
    assert_eq!(root.read("keep.txt"), b"keep");
}

/// SIGKILL in the middle of an upload over an existing file: the old file is intact, and no
/// temporary survives: an unnamed (O_TMPFILE) upload vanishes with the process, a named one is
/// removed by the next start.
#[test]
fn sigkill_mid_upload_keeps_the_old_file_and_the_next_start_cleans_up() {
    let root = TempDir::new("killed");
    root.write("report.pdf", b"the old, complete report");
    let mut server = crate::support::process::Binary::start(&["-w", root.path().to_str().unwrap()]);
    let mut c = crate::support::Client::connect(server.addr);
    c.login("anonymous", "x");
    let mut data = c.epsv();
    // The upload's file exists before the 150 goes out.
    c.expect("STOR report.pdf", 150);
    data.write_all(&random_bytes(256 * 1024, 9)).unwrap();
    server.signal(libc::SIGKILL);
    server.wait_exit(Duration::from_secs(10));
    drop(data);
    assert_eq!(root.read("report.pdf"), b"the old, complete report");
    let left = temp_files(root.path()).len();
    assert!(left <= 1, "{left} temporaries");
    let next = crate::support::process::Binary::start(&["-w", root.path().to_str().unwrap()]);
    if left == 1 {
        next.wait_for_log(
            "removed 1 stale upload temporaries",
            Duration::from_secs(10),
        );
    }
    assert!(temp_files(root.path()).is_empty());
    assert_eq!(root.read("report.pdf"), b"the old, complete report");
}

/// Where O_TMPFILE or linking an unnamed file is not possible (no openat2, --chroot with
/// --run-as, some file systems), uploads go through a hidden named temporary: the same promises
/// hold there.
#[test]
fn named_temporary_route_keeps_the_same_promises() {
    let s = TestServer::with(|c| {
        c.anonymous_writable = true;
        c.unnamed_uploads = false;
    });
    s.root.write("sub/old.txt", b"old contents");
    let mut c = s.anonymous();
    c.expect("TYPE I", 200);
    c.stor("sub/new.txt", b"new file");
    assert_eq!(s.root.read("sub/new.txt"), b"new file");

    // While an upload runs its temporary exists on disk but no listing shows it.
    let mut data = c.epsv();
    c.expect("STOR sub/old.txt", 150);
    data.write_all(&random_bytes(64 * 1024, 1)).unwrap();
    crate::hostile::wait_until("the named temporary", || {
        !temp_files(&s.root.path().join("sub")).is_empty()
    });
    let mut other = s.anonymous();
    let names = other.nlst("NLST -a sub");
    assert!(
        names.iter().all(|n| !n.starts_with(".tinyftpd-upload.")),
        "{names:?}"
    );
    // ... and an abort leaves the old file and removes the temporary.
    c.send("ABOR");
    c.expect_final(426);
    c.expect_final(226);
    drop(data);
    assert_eq!(s.root.read("sub/old.txt"), b"old contents");
    assert!(temp_files(&s.root.path().join("sub")).is_empty());

    // A completed upload replaces the old file, even after its directory was renamed.
    let mut data = c.epsv();
    c.expect("STOR sub/old.txt", 150);
    data.write_all(b"replaced").unwrap();
    other.expect("RNFR sub", 350);
    other.expect("RNTO moved", 250);
    drop(data);
    c.expect_final(226);
    assert_eq!(s.root.read("moved/old.txt"), b"replaced");
    assert!(temp_files(&s.root.path().join("moved")).is_empty());
}

/// Binary uploads go socket -> pipe -> file by splice(2); where that is refused (a file opened
/// for APPE is O_APPEND, which splice will not write; some file systems) or switched off, they go
/// through a buffer. Both routes store every byte of STOR, REST+STOR and APPE, across many
/// pipe-fulls.
#[test]
fn spliced_and_copied_uploads_store_the_same_bytes() {
    for splice in [true, false] {
        let s = TestServer::with(|c| {
            c.anonymous_writable = true;
            c.splice_uploads = splice;
        });
        let mut c = s.anonymous();
        c.expect("TYPE I", 200);
        let whole = random_bytes(5 << 20, 40);
        c.stor("big", &whole);
        assert!(s.root.read("big") == whole, "STOR, splice={splice}");

        let head = (3 << 20) + 17;
        s.root.write("resumed", &whole[..head]);
        c.expect(format!("REST {head}"), 350);
        c.stor("resumed", &whole[head..]);
        assert!(
            s.root.read("resumed") == whole,
            "REST+STOR, splice={splice}"
        );

        s.root.write("appended", &whole[..head]);
        c.store("APPE", "appended", &whole[head..]);
        assert!(s.root.read("appended") == whole, "APPE, splice={splice}");
        assert!(temp_files(s.root.path()).is_empty());
    }
}

/// An upload with TCP urgent data in its middle (a confused or hostile client): splice(2)
/// stops at the urgent mark as if the stream ended, which stored the upload cut short with a
/// 226. The stream's end is now confirmed by a read, which steps over the mark, so every
/// ordinary byte is stored (the urgent byte itself is out of band, as on the read route).
#[test]
fn urgent_data_in_a_spliced_upload_does_not_cut_it_short() {
    let s = TestServer::with(|c| c.anonymous_writable = true);
    let mut c = s.anonymous();
    c.expect("TYPE I", 200);
    let (before, after) = (random_bytes(3 << 20, 42), random_bytes(2 << 20, 43));
    let mut data = c.epsv();
    c.expect("STOR marked.bin", 150);
    data.write_all(&before).expect("write");
    send_urgent(&data, b"!");
    data.write_all(&after).expect("write");
    drop(data);
    c.expect_final(226);
    let stored = s.root.read("marked.bin");
    assert_eq!(stored.len(), before.len() + after.len(), "stored length");
    assert!(stored == [before, after].concat());
}

/// A binary download sends the size the 150 reply announced, even when the file grows
/// meanwhile (a log being written): the client gets what it was told, and the server stops
/// without asking the file for more.
#[test]
fn a_file_that_grows_during_retr_is_sent_as_announced() {
    let s = TestServer::with(|c| c.max_rate = Some(200_000));
    // No CR or LF, so TYPE A sends these bytes unchanged too.
    let original: Vec<u8> = random_bytes(100_000, 41)
        .into_iter()
        .map(|b| if b == b'\n' || b == b'\r' { b'x' } else { b })
        .collect();
    let mut c = s.anonymous();
    // TYPE I goes through sendfile(2), TYPE A through the buffered route FTPS also takes.
    for kind in ["I", "A"] {
        s.root.write("growing.log", &original);
        c.expect(format!("TYPE {kind}"), 200);
        let mut data = c.epsv();
        let opening = c.expect("RETR growing.log", 150);
        assert!(
            opening.text().contains("(100000 bytes)"),
            "{}",
            opening.text()
        );
        let mut first = [0u8; 1];
        data.read_exact(&mut first).expect("first byte");
        let mut more = std::fs::OpenOptions::new()
            .append(true)
            .open(s.root.path().join("growing.log"))
            .expect("open to append");
        more.write_all(&random_bytes(50_000, 42)).expect("append");
        let mut got = first.to_vec();
        got.extend(read_all(&mut data));
        assert_eq!(c.reply().code, 226);
        assert!(got == original, "TYPE {kind}: got {} bytes", got.len());
    }
}
