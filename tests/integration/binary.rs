//! The real binary: start-up line, exit codes for bad flags and a bad DIR.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::support::{Client, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_tinyftpd");

/// Kills the child on drop, so a failing test leaves no server behind.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and returns it with the address from its start-up line.
pub fn start(args: &[&str]) -> (impl Drop, std::net::SocketAddr, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tinyftpd");
    let stdout = child.stdout.take().expect("stdout");
    let child = Child(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read start-up line");
    let addr = line
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split([',', ' ']).next())
        .unwrap_or_else(|| panic!("no address in start-up line {line:?}"))
        .parse()
        .expect("address");
    (child, addr, line)
}

#[test]
fn start_up_line_names_address_and_directory() {
    let dir = TempDir::new("bin");
    dir.write("hello.txt", b"hi\n");
    let (_child, addr, line) = start(&[
        "--port",
        "0",
        "--bind",
        "127.0.0.1",
        dir.path().to_str().unwrap(),
    ]);
    assert!(addr.port() != 0);
    assert!(
        line.contains("serving") && line.contains("anonymous read-only"),
        "{line}"
    );
    let mut c = Client::connect(addr);
    c.login("anonymous", "x");
    assert_eq!(c.retr("hello.txt"), b"hi\n");
    c.expect("STOR x", 550);
}

#[test]
fn bad_flag_exits_2_with_usage() {
    let out = Command::new(BIN)
        .args(["--port", "notaport"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--port") && err.contains("Usage:"), "{err}");
}

#[test]
fn missing_dir_exits_1() {
    let dir = TempDir::new("gone");
    let missing = dir.path().join("nope");
    let out = Command::new(BIN)
        .args(["-p", "0", "-b", "127.0.0.1", missing.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let file = dir.write("file", b"");
    let out = Command::new(BIN)
        .args(["-p", "0", "-b", "127.0.0.1", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
}

#[test]
fn help_and_version() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--port",
        "--bind",
        "--writable",
        "--user",
        "--anonymous",
        "--pasv-ports",
        "--pasv-address",
        "--max-clients",
        "--max-per-ip",
        "--idle-timeout",
        "--data-timeout",
        "--verbose",
        "--quiet",
        "--banner",
        "--max-rate",
        "--port-20",
        "--xferlog",
        "--inetd",
        "--pidfile",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("tinyftpd "));
}
