//! Accounts files, umask, privileges and shutdown: the real binary where the process matters.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::support::client::Client;
use crate::support::process::{Binary, BIN};
use crate::support::{TempDir, TestServer};

fn hash_of(password: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(BIN)
        .arg("--hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn hash_password_makes_a_verifiable_sha512_crypt() {
    let hash = hash_of("correct horse");
    assert!(hash.starts_with("$6$"), "{hash}");
    assert!(tinyftpd::sha_crypt::verify(b"correct horse", &hash));
    assert!(!tinyftpd::sha_crypt::verify(b"wrong horse", &hash));
    assert_ne!(hash, hash_of("correct horse"), "salts must differ");
}

#[test]
fn users_file_logins_and_sighup_reload() {
    let dir = TempDir::new("users");
    let served = TempDir::new("served");
    served.write("f", b"hello");
    let users = dir.write(
        "users",
        format!("# test accounts\nalice:{}:rw\n", hash_of("wonder")).as_bytes(),
    );
    let server = Binary::start(&[
        "--users",
        users.to_str().unwrap(),
        served.path().to_str().unwrap(),
    ]);
    let mut c = Client::connect(server.addr);
    c.login("alice", "wonder");
    c.stor("up", b"by alice");
    assert_eq!(served.read("up"), b"by alice");
    let mut c = Client::connect(server.addr);
    c.expect("USER anonymous", 331);
    c.expect("PASS x", 530); // a users file turns anonymous off
    std::fs::write(&users, format!("bob:{}:ro\n", hash_of("builder"))).unwrap();
    server.signal(libc::SIGHUP);
    server.wait_for_log("reloaded users file (1 accounts)", Duration::from_secs(10));
    let mut c = Client::connect(server.addr);
    c.login("bob", "builder");
    c.expect("DELE up", 550);
    let mut c = Client::connect(server.addr);
    c.expect("USER alice", 331);
    c.expect("PASS wonder", 530);
    // A broken file on reload keeps the old accounts.
    std::fs::write(&users, "bob:nothash:ro\n").unwrap();
    server.signal(libc::SIGHUP);
    server.wait_for_log("kept the old accounts", Duration::from_secs(10));
    Client::connect(server.addr).login("bob", "builder");
}

#[test]
fn malformed_users_file_is_a_start_up_error_naming_the_line() {
    let dir = TempDir::new("badusers");
    let users = dir.write("users", b"# ok\nalice:$6$x$y:rw\ncarol:plain:rw\n");
    let out = std::process::Command::new(BIN)
        .args([
            "-p",
            "0",
            "-b",
            "127.0.0.1",
            "--users",
            users.to_str().unwrap(),
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2"), "{err}");
}

fn mode_of(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn umask_applies_to_uploads_and_directories_and_uploads_get_no_execute_bits() {
    for (mask, file_mode, dir_mode) in [
        (None, 0o644, 0o755),
        (Some("077"), 0o600, 0o700),
        (Some("000"), 0o666, 0o777),
    ] {
        let served = TempDir::new("umask");
        let mut args = vec!["-w"];
        if let Some(mask) = mask {
            args.extend(["--umask", mask]);
        }
        let root = served.path().to_str().unwrap().to_string();
        args.push(&root);
        let server = Binary::start(&args);
        let mut c = Client::connect(server.addr);
        c.login("anonymous", "x");
        c.stor("f", b"x");
        c.store("APPE", "g", b"y");
        c.expect("MKD d", 257);
        assert_eq!(
            mode_of(&served.path().join("f")),
            file_mode,
            "umask {mask:?}"
        );
        assert_eq!(
            mode_of(&served.path().join("g")),
            file_mode,
            "umask {mask:?}"
        );
        assert_eq!(
            mode_of(&served.path().join("d")),
            dir_mode,
            "umask {mask:?}"
        );
    }
}

#[test]
fn chroot_and_run_as_drop_root() {
    if !tinyftpd::privileges::is_root() {
        eprintln!("SKIPPED: chroot_and_run_as_drop_root needs root");
        return;
    }
    let Ok(nobody) = tinyftpd::privileges::lookup("nobody") else {
        eprintln!("SKIPPED: no user 'nobody' on this machine");
        return;
    };
    let served = TempDir::new("chroot");
    served.write("pub/file", b"public");
    std::fs::set_permissions(served.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = Binary::start(&[
        "--chroot",
        "--run-as",
        "nobody",
        served.path().to_str().unwrap(),
    ]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let uids: Vec<u32> = uid_line
        .split_whitespace()
        .skip(1)
        .map(|u| u.parse().unwrap())
        .collect();
    assert!(uids.iter().all(|&u| u == nobody.uid), "{uid_line}");
    let root_link = std::fs::read_link(format!("/proc/{}/root", server.pid())).unwrap();
    assert_eq!(root_link, std::fs::canonicalize(served.path()).unwrap());
    let mut c = Client::connect(server.addr);
    c.login("anonymous", "x");
    assert_eq!(c.retr("pub/file"), b"public");
    c.expect("CWD /../..", 250);
    assert!(c.expect("PWD", 257).text().contains("\"/\""));
}

#[test]
fn sigterm_tells_idle_sessions_421_and_exits_0() {
    let served = TempDir::new("term");
    let mut server = Binary::start(&[served.path().to_str().unwrap()]);
    let mut c = Client::connect(server.addr);
    c.login("anonymous", "x");
    server.signal(libc::SIGTERM);
    let reply = c.reply();
    assert_eq!(reply.code, 421, "{}", reply.text());
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
}

#[test]
fn shutdown_lets_a_running_transfer_finish() {
    let s = TestServer::start();
    s.root.write("big", &vec![1u8; 32 * 1024 * 1024]);
    let mut idle = s.anonymous();
    let mut busy = s.anonymous();
    let mut data = busy.epsv();
    busy.expect("RETR big", 150);
    let mut first = [0u8; 1024];
    std::io::Read::read_exact(&mut data, &mut first).unwrap();
    s.ctx.begin_shutdown();
    assert_eq!(idle.reply().code, 421);
    let rest = crate::support::client::read_all(&mut data);
    assert_eq!(rest.len() + first.len(), 32 * 1024 * 1024);
    busy.expect_final(226);
    busy.expect_final(421);
    assert!(s.ctx.wait_for_sessions(Duration::from_secs(10)));
    // No new sessions: the listener is closed or refuses.
    if let Ok(mut late) = std::net::TcpStream::connect(s.addr) {
        late.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut late, &mut text);
        assert!(text.is_empty() || text.starts_with("421"), "{text}");
    }
}
