//! Findings of the outside security audit of the jail (after issue 9), each a regression test.

use std::fs;

use tinyftpd::jail::{Access, Jail, VirtualPath};

use crate::support::process::Binary;
use crate::support::{Client, TempDir, TestServer};

/// A name as long as most file systems allow, so that a few levels pass PATH_MAX (4096).
fn long_name(level: usize) -> String {
    format!("{level:03}{}", "d".repeat(250))
}

/// Both routes must agree: a tree deeper than PATH_MAX in bytes (each level a 253-byte name)
/// that the walk serves (and LIST shows) must be served by the openat2 route too, not refused
/// with ENAMETOOLONG because the route joined the parent components into one path.
#[test]
fn openat2_route_serves_paths_longer_than_path_max_like_the_walk() {
    const LEVELS: usize = 20;
    let s = TestServer::start();
    // Built through the walk, the only way to make such a tree by descriptor.
    let walk = Jail::with_route(s.root.path(), false).expect("jail");
    let mut path = VirtualPath::root();
    for level in 0..LEVELS {
        path = path.join(long_name(level).as_bytes()).expect("join");
        walk.resolve_entry(&path)
            .and_then(|p| p.create_dir())
            .expect("mkdir below the walk");
    }
    let file = path.join(b"f").expect("join");
    let mut f = walk
        .resolve_entry(&file)
        .and_then(|p| p.open(Access::CreateNew))
        .expect("create the deep file");
    std::io::Write::write_all(&mut f, b"deep").expect("write");
    drop(f);
    assert!(path.to_bytes().len() > 4096);

    let mut c = s.anonymous();
    for level in 0..LEVELS {
        c.expect(format!("CWD {}", long_name(level)), 250);
    }
    assert_eq!(c.retr("f"), b"deep", "RETR through the openat2 route");
    c.expect("SIZE f", 213);
    c.expect("QUIT", 221);
}

fn open_fds(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/PID/fd")
        .count()
}

/// A resolution by the walk (no openat2, or a path through an absolute symlink, which openat2
/// leaves to the walk) kept every directory of the path open in the JailedPath: RNFR then held
/// one descriptor per level between commands (up to 255 per session, against the 4 per session
/// the descriptor-limit check counts), so a few sessions could use up the server's descriptors.
#[test]
fn a_pending_rnfr_holds_a_bounded_number_of_descriptors() {
    const LEVELS: usize = 150;
    let dir = TempDir::new("audit-fds");
    let deep = (0..LEVELS).map(|_| "d").collect::<Vec<_>>().join("/");
    dir.write(&format!("{deep}/f"), b"x");
    let real = fs::canonicalize(dir.path()).expect("canonicalize");
    std::os::unix::fs::symlink(real.join("d"), dir.path().join("abs")).expect("symlink");
    let server = Binary::start(&[
        dir.path().to_str().expect("UTF-8 temp path"),
        "--anonymous",
        "-w",
    ]);
    let mut c = Client::connect(server.addr);
    c.login("anonymous", "x");
    // The start-up sweep holds one directory per level of this tree while it walks it.
    server.wait_for_sweep(std::time::Duration::from_secs(10));
    let before = open_fds(server.pid());
    let below = (1..LEVELS).map(|_| "d").collect::<Vec<_>>().join("/");
    c.expect(format!("RNFR abs/{below}/f"), 350);
    let during = open_fds(server.pid());
    assert!(
        during < before + 16,
        "descriptors: {before} before RNFR, {during} while it waits for RNTO"
    );
    c.expect(format!("RNTO abs/{below}/g"), 250);
    c.expect("QUIT", 221);
}
