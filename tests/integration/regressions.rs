//! Cases found in review: each once let a client break a rule the server promises.

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use crate::hostile::{fresh_session_works, wait_until, with_hello};
use crate::support::sys::{mkfifo, set_recv_buffer};
use crate::support::TestServer;

/// A client that sends commands but never reads the replies cannot hold its session (and a
/// slot) in a blocked write: the write times out and the session ends.
#[test]
fn client_that_never_reads_replies_is_dropped() {
    let s = TestServer::with(|c| {
        c.login_timeout = Duration::from_secs(1);
        c.max_per_ip = 1;
    });
    with_hello(&s);
    let stream = TcpStream::connect(s.addr).unwrap();
    set_recv_buffer(&stream, 4096);
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let flood = thread::spawn(move || {
        let chunk = b"HELP\r\n".repeat(10_000);
        for _ in 0..100 {
            if writer.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    wait_until("the session to end", || s.ctx.session_count() == 0);
    drop(stream);
    let _ = flood.join();
    fresh_session_works(s.addr);
}

/// One byte now and then, never a whole line: the login timeout still applies to the line.
#[test]
fn trickled_bytes_do_not_stretch_the_login_timeout() {
    let s = TestServer::with(|c| c.login_timeout = Duration::from_secs(1));
    let mut c = s.client();
    let started = Instant::now();
    let mut closed = false;
    for _ in 0..20 {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.send_raw(b"N"))).is_err() {
            closed = true;
            break;
        }
        if s.ctx.session_count() == 0 {
            closed = true;
            break;
        }
        thread::sleep(Duration::from_millis(300)); // the trickle is the scenario
    }
    assert!(
        closed,
        "a trickling client kept its session for {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn rest_stor_without_a_data_connection_keeps_the_file_whole() {
    let s = TestServer::writable();
    let body = vec![b'z'; 100_000];
    s.root.write("big.bin", &body);
    let mut c = s.anonymous();
    c.expect("TYPE I", 200);
    c.expect("REST 10", 350);
    c.expect("STOR big.bin", 425);
    assert_eq!(s.root.read("big.bin"), body);
    c.expect("REST 5", 350);
    let _data = c.epsv();
    c.expect("STOR new.bin", 554);
    assert!(!s.root.path().join("new.bin").exists());
}

#[test]
fn a_malformed_line_still_ends_rnfr_and_pending_user() {
    let s = TestServer::writable();
    s.root.write("a.txt", b"a");
    let mut c = s.client();
    c.expect("USER anonymous", 331);
    c.expect("TYPE", 501);
    c.expect("PASS x", 503);
    c.expect("USER anonymous", 331);
    c.expect("HOST example.com", 503);
    c.expect("PASS x", 503);
    c.login("anonymous", "x");
    c.expect("RNFR a.txt", 350);
    c.expect("PORT 1,2", 501);
    c.expect("RNTO b.txt", 503);
    assert!(s.root.path().join("a.txt").exists());
}

#[test]
fn rest_applies_to_the_next_transfer_only() {
    let s = TestServer::start();
    s.root.write("f", b"0123456789");
    let mut c = s.anonymous();
    c.expect("TYPE I", 200);
    c.expect("REST 3", 350);
    c.expect("NOOP", 200);
    assert_eq!(c.retr("f"), b"0123456789");
    c.expect("REST 3", 350);
    c.expect("TYPE I", 200);
    assert_eq!(c.retr("f"), b"3456789"); // EPSV between REST and RETR keeps it
}

#[test]
fn cr_inside_an_argument_is_refused() {
    let s = TestServer::writable();
    let mut c = s.anonymous();
    c.expect(b"MKD a\rb", 501);
    assert_eq!(std::fs::read_dir(s.root.path()).unwrap().count(), 0);
    c.expect("NOOP", 200);
}

#[test]
fn the_root_cannot_be_chmodded_or_touched() {
    let s = TestServer::writable();
    let mut c = s.anonymous();
    c.expect("SITE CHMOD 0 /", 550);
    c.expect("SITE CHMOD 777 .", 550);
    c.expect("MFMT 20200101000000 /", 550);
    let mlst = c.expect("MLST /", 250);
    assert!(mlst.text().contains("perm=lcmpe;"), "{}", mlst.text());
    c.expect("CWD /", 250);
}

#[test]
fn appe_and_resume_on_a_fifo_are_refused_without_blocking() {
    let s = TestServer::writable();
    mkfifo(&s.root.path().join("fifo"));
    let mut c = s.anonymous();
    c.expect("APPE fifo", 550);
    c.expect("TYPE I", 200);
    c.expect("REST 0", 350);
    c.expect("APPE fifo", 550);
    c.expect("NOOP", 200);
}
