//! An idle session gives back its read buffer and the stack pages deep commands touched (after
//! `IDLE_RELEASE_AFTER` without a command): it must keep working exactly as before, whatever
//! it was doing when it went idle, and the pages must really go.

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use tinyftpd::server::IDLE_RELEASE_AFTER;

use crate::support::client::Client;
use crate::support::process::Binary;
use crate::support::{random_bytes, TempDir, TestServer};

/// Long enough for the session to count as idle and release.
fn go_idle() {
    thread::sleep(IDLE_RELEASE_AFTER * 3);
}

/// Commands that go deep (listings, transfers, a failed and a good login) and check their
/// results, so a page released under a live frame would show as a crash or a wrong answer.
fn deep_commands(c: &mut Client, round: u64) {
    let data = random_bytes(300_000, round);
    let name = format!("f{round}");
    c.stor(&name, &data);
    assert_eq!(c.retr(&name), data);
    assert!(c.nlst("NLST").contains(&name));
    assert!(!c.listing("LIST -la").is_empty());
    assert!(!c.listing("MLSD").is_empty());
    c.expect(format!("MLST {name}"), 250);
    c.expect("STAT", 211);
    c.expect("PWD", 257);
}

#[test]
fn a_session_keeps_working_across_idle_releases() {
    let server = TestServer::writable();
    let mut c = server.anonymous();
    for round in 0..3 {
        deep_commands(&mut c, round);
        go_idle();
        c.expect("NOOP", 200);
        go_idle();
    }
    // Pipelined commands after a release: one read brings both, the second runs from the
    // buffer without waiting.
    c.send_raw(b"NOOP\r\nPWD\r\n");
    assert_eq!(c.reply().code, 200);
    assert_eq!(c.reply().code, 257);
    c.expect("QUIT", 221);
}

#[test]
fn a_command_split_across_an_idle_release_is_whole() {
    let server = TestServer::start();
    let mut c = server.client();
    c.send_raw(b"NO");
    go_idle();
    c.send_raw(b"OP\r\n");
    assert_eq!(c.reply().code, 200);
    c.expect("USER anonymous", 331);
    go_idle();
    // The sequence state (USER, then PASS) survives the release too.
    c.expect("PASS x@y", 230);
}

#[test]
fn the_idle_timeout_still_ends_a_session_that_released() {
    let server = TestServer::with(|c| c.idle_timeout = Duration::from_secs(1));
    let mut c = server.anonymous();
    c.set_reply_timeout(Duration::from_secs(10));
    // The idle timeout still ends the session: the release's wait does not extend it.
    assert_eq!(c.reply().code, 421);
}

/// Resident KiB of the stack mapping that the session thread of `pid` (the only one) is
/// blocked in.
fn session_stack_rss_kib(pid: u32) -> Option<u64> {
    let task = fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
        .find(|t| fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with("ftp ")))?;
    let syscall = fs::read_to_string(task.path().join("syscall")).ok()?;
    let sp = u64::from_str_radix(
        syscall.split_whitespace().nth(7)?.trim_start_matches("0x"),
        16,
    )
    .ok()?;
    let smaps = fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
    let mut in_stack = false;
    for line in smaps.lines() {
        if let Some((range, _)) = line.split_once(' ').filter(|(r, _)| r.contains('-')) {
            let (lo, hi) = range.split_once('-')?;
            let (lo, hi) = (
                u64::from_str_radix(lo, 16).ok()?,
                u64::from_str_radix(hi, 16).ok()?,
            );
            in_stack = lo <= sp && sp < hi;
        } else if in_stack {
            if let Some(kib) = line.strip_prefix("Rss:") {
                return kib.trim().trim_end_matches("kB").trim().parse().ok();
            }
        }
    }
    None
}

#[test]
fn an_idle_session_keeps_only_the_top_of_its_stack() {
    let served = TempDir::new("idle-served");
    for i in 0..200 {
        served.write(&format!("entry-{i:03}"), b"x");
    }
    let server = Binary::start(&["-q", "-w", served.path().to_str().unwrap()]);
    let mut c = Client::connect(server.addr);
    c.expect("USER nobody", 331);
    c.expect("PASS wrong", 530);
    c.login("anonymous", "x@y");
    deep_commands(&mut c, 7);
    // Bounded wait for the release: glibc keeps two pages (its thread struct and static
    // TLS take more than one), musl one.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut rss = None;
    while Instant::now() < deadline {
        rss = session_stack_rss_kib(server.pid());
        if rss.is_some_and(|kib| kib <= 8) {
            break;
        }
        thread::sleep(IDLE_RELEASE_AFTER);
    }
    assert!(
        rss.is_some_and(|kib| kib <= 8),
        "idle session stack Rss {rss:?} KiB"
    );
    c.expect("NOOP", 200);
    deep_commands(&mut c, 8);
}

#[test]
fn shutdown_still_wakes_a_session_that_released() {
    let server = TestServer::start();
    let mut c = server.anonymous();
    go_idle();
    // Released, the session waits in poll(2) rather than in a read: shutdown must reach it
    // there too.
    server.ctx.begin_shutdown();
    c.set_reply_timeout(Duration::from_secs(10));
    assert_eq!(c.reply().code, 421);
}
