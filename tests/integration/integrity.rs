//! Large files both ways with curl, byte for byte: 20 MiB down and up, in passive and active
//! mode, and several transfers at once on one server.

use std::thread;

use crate::support::external::{self, curl};
use crate::support::{random_bytes, TempDir, TestServer};

const LARGE: usize = 20 * 1024 * 1024 + 13;

fn have_curl() -> bool {
    external::available("curl", "apt-get install -y curl")
}

fn round_trip(extra: &[&str], seed: u64) {
    let s = TestServer::writable();
    let body = random_bytes(LARGE, seed);
    s.root.write("large.bin", &body);
    let work = TempDir::new("integrity");
    let mut args = extra.to_vec();
    let url = s.url("large.bin");
    args.extend(["-o", "down.bin", &url]);
    curl(&args, work.path());
    assert!(work.read("down.bin") == body, "download differs");

    let up = random_bytes(LARGE, seed + 1);
    work.write("up.bin", &up);
    let mut args = extra.to_vec();
    let url = s.url("up.bin");
    args.extend(["-T", "up.bin", &url]);
    curl(&args, work.path());
    assert!(s.root.read("up.bin") == up, "upload differs");
}

#[test]
fn large_file_both_ways_passive() {
    if have_curl() {
        round_trip(&[], 51);
    }
}

#[test]
fn large_file_both_ways_active() {
    if have_curl() {
        round_trip(&["--ftp-port", "127.0.0.1"], 53);
    }
}

#[test]
fn concurrent_transfers_do_not_mix() {
    if !have_curl() {
        return;
    }
    let s = TestServer::writable();
    let bodies: Vec<Vec<u8>> = (0..4)
        .map(|i| random_bytes(3 * 1024 * 1024 + i, 60 + i as u64))
        .collect();
    for (i, body) in bodies.iter().enumerate() {
        s.root.write(&format!("down{i}.bin"), body);
    }
    let work = TempDir::new("integrity");
    for (i, body) in bodies.iter().enumerate() {
        work.write(&format!("up{i}.bin"), body);
    }
    thread::scope(|scope| {
        for i in 0..bodies.len() {
            let (s, work) = (&s, &work);
            scope.spawn(move || {
                let down = s.url(&format!("down{i}.bin"));
                let out = format!("got{i}.bin");
                curl(&["-o", &out, &down], work.path());
                let up = s.url(&format!("stored{i}.bin"));
                let local = format!("up{i}.bin");
                curl(&["-T", &local, &up], work.path());
            });
        }
    });
    for (i, body) in bodies.iter().enumerate() {
        assert!(
            work.read(&format!("got{i}.bin")) == *body,
            "download {i} differs"
        );
        assert!(
            s.root.read(&format!("stored{i}.bin")) == *body,
            "upload {i} differs"
        );
    }
}
