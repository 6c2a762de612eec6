//! BusyBox `ftpget` and `ftpput` as real clients (the minimal FTP of embedded devices, cameras
//! and scanners): PASV, SIZE, RETR, STOR, REST, with -P, -u and -p.

use tinyftpd::config::{Account, Credential};

use crate::support::external::{self, run, run_ok};
use crate::support::{random_bytes, TempDir, TestServer};

fn have_busybox() -> bool {
    external::available("busybox", "apt-get install -y busybox")
}

/// `busybox <applet> -P port -u user -p pass 127.0.0.1 <files...>`.
fn args<'a>(applet: &'a str, port: &'a str, user: &'a str, pass: &'a str) -> Vec<&'a str> {
    vec![applet, "-P", port, "-u", user, "-p", pass, "127.0.0.1"]
}

fn account_server() -> TestServer {
    TestServer::with(|c| {
        c.anonymous = false;
        c.accounts = vec![Account {
            name: "cam".into(),
            credential: Credential::Plain("pw".into()),
            writable: true,
            root: None,
        }];
    })
}

#[test]
fn busybox_ftpget_downloads() {
    if !have_busybox() {
        return;
    }
    let s = TestServer::start();
    let body = random_bytes(2 * 1024 * 1024 + 1, 41);
    s.root.write("dir/f.bin", &body);
    s.root.write("empty", b"");
    let work = TempDir::new("busybox");
    let port = s.port().to_string();
    let mut a = args("ftpget", &port, "anonymous", "x@y");
    a.extend(["out.bin", "dir/f.bin"]);
    run_ok("busybox", &a, work.path(), 30);
    assert!(work.read("out.bin") == body, "download differs");
    let mut a = args("ftpget", &port, "anonymous", "x@y");
    a.extend(["empty", "/empty"]);
    run_ok("busybox", &a, work.path(), 30);
    assert_eq!(work.read("empty"), b"");
    // A missing file fails.
    let mut a = args("ftpget", &port, "anonymous", "x@y");
    a.extend(["missing", "missing"]);
    assert!(!run("busybox", &a, work.path(), 30).status.success());
}

#[test]
fn busybox_ftpget_continues_a_partial_file() {
    if !have_busybox() {
        return;
    }
    let s = TestServer::start();
    let body = random_bytes(1_000_000, 42);
    s.root.write("f.bin", &body);
    let work = TempDir::new("busybox");
    work.write("f.bin", &body[..333_333]);
    let port = s.port().to_string();
    let mut a = args("ftpget", &port, "anonymous", "x@y");
    a.extend(["-c", "f.bin", "f.bin"]);
    run_ok("busybox", &a, work.path(), 30);
    assert!(work.read("f.bin") == body, "continued download differs");
}

#[test]
fn busybox_ftpput_uploads_with_an_account() {
    if !have_busybox() {
        return;
    }
    let s = account_server();
    s.root.write("incoming/.keep", b"");
    let body = random_bytes(3 * 1024 * 1024 + 7, 43);
    let work = TempDir::new("busybox");
    work.write("shot.jpg", &body);
    let port = s.port().to_string();
    let mut a = args("ftpput", &port, "cam", "pw");
    a.extend(["incoming/shot.jpg", "shot.jpg"]);
    run_ok("busybox", &a, work.path(), 30);
    assert!(s.root.read("incoming/shot.jpg") == body, "upload differs");
    // And back with ftpget.
    let mut a = args("ftpget", &port, "cam", "pw");
    a.extend(["back.jpg", "incoming/shot.jpg"]);
    run_ok("busybox", &a, work.path(), 30);
    assert!(work.read("back.jpg") == body, "download differs");
    // A wrong password or anonymous fails, and writes nothing.
    for (user, pass) in [("cam", "wrong"), ("anonymous", "x@y")] {
        let mut a = args("ftpput", &port, user, pass);
        a.extend(["other.jpg", "shot.jpg"]);
        assert!(!run("busybox", &a, work.path(), 30).status.success());
    }
    assert!(!s.root.path().join("other.jpg").exists());
}

#[test]
fn busybox_ftpput_refused_on_a_read_only_server() {
    if !have_busybox() {
        return;
    }
    let s = TestServer::start();
    let work = TempDir::new("busybox");
    work.write("f", b"x");
    let port = s.port().to_string();
    let mut a = args("ftpput", &port, "anonymous", "x@y");
    a.extend(["f", "f"]);
    assert!(!run("busybox", &a, work.path(), 30).status.success());
    assert!(!s.root.path().join("f").exists());
}

/// BusyBox has no active mode: ftpget/ftpput always ask for a passive connection, EPSV first
/// (PASV only when EPSV is refused), and have no option for PORT/EPRT. `-v` shows the commands.
#[test]
fn busybox_is_passive_only() {
    if !have_busybox() {
        return;
    }
    let s = TestServer::writable();
    s.root.write("f", b"passive");
    let work = TempDir::new("busybox");
    let port = s.port().to_string();
    let mut a = args("ftpget", &port, "anonymous", "x@y");
    a.extend(["-v", "f", "f"]);
    let out = run_ok("busybox", &a, work.path(), 30);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("cmd EPSV"), "{log}");
    assert!(
        !log.contains("cmd PORT") && !log.contains("cmd EPRT"),
        "{log}"
    );
    assert_eq!(work.read("f"), b"passive");
    let mut a = args("ftpput", &port, "anonymous", "x@y");
    a.extend(["-v", "g", "f"]);
    let out = run_ok("busybox", &a, work.path(), 30);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cmd EPSV"));
    assert_eq!(s.root.read("g"), b"passive");
}
