//! Ways to start the real binary: inetd mode on an accepted socket, systemd socket activation,
//! the pid file, and the start-up checks that must fail with one clear line.

use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use crate::support::client::read_all;
use crate::support::process::{
    accepted_pair, inetd_command, listening_addr, Binary, Running, BIN, EXIT_LIMIT,
};
use crate::support::{Client, TempDir};

/// Login, PASV + RETR, LIST, QUIT; then the connection must close.
fn drive_session(client: TcpStream) {
    let mut c = Client::from_stream(client);
    assert_eq!(c.greeting.code, 220, "{}", c.greeting.text());
    c.login("anonymous", "x");
    let mut data = c.pasv();
    c.expect("RETR hello.txt", 150);
    assert_eq!(read_all(&mut data), b"hello from inetd\n");
    c.expect_final(226);
    let listing = c.listing("LIST");
    assert!(
        listing.iter().any(|l| l.ends_with(b" hello.txt")),
        "{listing:?}"
    );
    c.expect("QUIT", 221);
    assert!(c.try_reply().is_none(), "connection still open after QUIT");
}

#[test]
fn inetd_mode_serves_one_session_on_stdin_stdout() {
    let dir = TempDir::new("inetd");
    dir.write("srv/hello.txt", b"hello from inetd\n");
    let served = dir.path().join("srv");
    let xferlog = dir.path().join("xferlog");
    let (client, server_side) = accepted_pair();
    // tcpsvd and systemd style: stdin and stdout are the connection, stderr is separate.
    let mut child = Running(Some(
        inetd_command(server_side)
            .args(["--inetd", "--xferlog", xferlog.to_str().unwrap()])
            .arg(&served)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tinyftpd --inetd"),
    ));
    let stderr = child.stderr_reader();
    drive_session(client);
    let status = child.wait_exit(EXIT_LIMIT);
    assert!(status.success(), "{status:?}");
    let log = stderr.join().unwrap();
    assert!(
        log.contains("session start") && log.contains("RETR /hello.txt"),
        "the log goes to stderr: {log}"
    );
    assert!(
        !log.contains("listening on"),
        "no start-up line in inetd mode"
    );
    // The process wrote its transfer log before exiting.
    let lines = std::fs::read_to_string(&xferlog).unwrap();
    assert!(
        lines.ends_with(" 17 /hello.txt b _ o a anonymous ftp 0 * c\n"),
        "{lines}"
    );
}

#[test]
fn inetd_mode_keeps_logs_out_of_the_connection_when_stderr_is_it_too() {
    // Classic inetd passes the connection as stdin, stdout and stderr. With -v every command
    // is logged; none of it may reach the client.
    let dir = TempDir::new("inetd2");
    dir.write("hello.txt", b"hello from inetd\n");
    let (client, server_side) = accepted_pair();
    let child = Running(Some(
        Command::new(BIN)
            .args(["--inetd", "-v"])
            .arg(dir.path())
            .stdin(Stdio::from(server_side.try_clone().unwrap()))
            .stdout(Stdio::from(server_side.try_clone().unwrap()))
            .stderr(Stdio::from(server_side))
            .spawn()
            .expect("spawn tinyftpd --inetd"),
    ));
    drive_session(client);
    assert!(child.wait_exit(EXIT_LIMIT).success());
}

#[test]
fn inetd_mode_without_a_socket_is_a_clear_error() {
    let dir = TempDir::new("inetd3");
    let out = Command::new(BIN)
        .arg("--inetd")
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stdin is not a TCP connection"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(out.stdout.is_empty());
}

/// Starts the binary as systemd would: `listener` as descriptor 3, LISTEN_FDS=1 and LISTEN_PID
/// set to the pid the binary will have (`sh` sets it to its own pid, then execs, keeping it).
fn socket_activated(socket: &impl AsRawFd, listen_pid: Option<&str>, args: &[&str]) -> Running {
    let fd = socket.as_raw_fd();
    let script = match listen_pid {
        None => r#"LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@""#.to_string(),
        Some(pid) => format!(r#"LISTEN_PID={pid}; export LISTEN_PID; exec "$0" "$@""#),
    };
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(script)
        .arg(BIN)
        .args(args)
        .env("LISTEN_FDS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: between fork and exec only async-signal-safe calls (dup2, fcntl) on descriptors
    // the child inherited; no allocation.
    unsafe {
        command.pre_exec(move || {
            let rc = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Running(Some(command.spawn().expect("spawn sh + tinyftpd")))
}

#[test]
fn systemd_socket_activation_serves_on_the_passed_listener() {
    let dir = TempDir::new("sd");
    dir.write("hello.txt", b"hello from inetd\n");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // --port 0 and --bind would give another address if the passed socket were not used.
    let mut child = socket_activated(
        &listener,
        None,
        &["-p", "0", "-b", "127.0.0.1", dir.path().to_str().unwrap()],
    );
    drop(listener);
    let line = child.start_up_line();
    assert_eq!(listening_addr(&line), addr, "{line}");
    drive_session(TcpStream::connect(addr).unwrap());
    // It keeps serving: a second session on the same socket.
    drive_session(TcpStream::connect(addr).unwrap());
}

#[test]
fn socket_activation_for_another_pid_is_ignored() {
    let dir = TempDir::new("sd2");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // LISTEN_PID=1 is not us: the variables were meant for another process, so the descriptor
    // is not ours to take and the server binds its own socket.
    let mut child = socket_activated(
        &listener,
        Some("1"),
        &["-p", "0", "-b", "127.0.0.1", dir.path().to_str().unwrap()],
    );
    let line = child.start_up_line();
    let own = listening_addr(&line);
    assert_ne!(own, addr, "{line}");
    drop(Client::connect(own));
}

#[test]
fn socket_activation_with_a_connected_socket_points_to_inetd_mode() {
    let dir = TempDir::new("sd3");
    // What systemd passes with Accept=yes: a connection, not a listener.
    let (_client, connected) = accepted_pair();
    let mut child = socket_activated(&connected, None, &[dir.path().to_str().unwrap()]);
    let stderr = child.stderr_reader();
    let status = child.wait_exit(EXIT_LIMIT);
    assert_eq!(status.code(), Some(1));
    let err = stderr.join().unwrap();
    assert!(
        err.contains("not a listening stream socket") && err.contains("--inetd"),
        "{err}"
    );
}

#[test]
fn pidfile_holds_the_pid_once_listening() {
    let dir = TempDir::new("pid");
    let pidfile = dir.path().join("tinyftpd.pid");
    let mut child = Running(Some(
        Command::new(BIN)
            .args(["-p", "0", "-b", "127.0.0.1", "--pidfile"])
            .arg(&pidfile)
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    // The file is written before the start-up line is printed.
    let line = child.start_up_line();
    assert!(line.contains("listening on"), "{line}");
    let text = std::fs::read_to_string(&pidfile).unwrap();
    assert_eq!(text, format!("{}\n", child.pid()));
}

#[test]
fn pidfile_that_cannot_be_written_is_a_start_up_error() {
    let dir = TempDir::new("pid2");
    let out = Command::new(BIN)
        .args(["-p", "0", "-b", "127.0.0.1", "--pidfile"])
        .arg(dir.path().join("no/such/dir/pid"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--pidfile") && err.contains("No such file"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no start-up line when failing");
}

#[test]
fn banner_flag_sets_the_greeting() {
    let dir = TempDir::new("banner");
    let mut child = Running(Some(
        Command::new(BIN)
            .args(["-p", "0", "-b", "127.0.0.1", "--banner", "Scanner drop box"])
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    let addr = listening_addr(&child.start_up_line());
    let c = Client::connect(addr);
    assert_eq!(c.greeting.text(), "220 Scanner drop box");
}

fn exit_code_and_stderr(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn port_in_use_is_a_clear_start_up_error() {
    let dir = TempDir::new("busy");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (code, err) =
        exit_code_and_stderr(&["-p", &port, "-b", "127.0.0.1", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("taken"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn unreadable_dir_is_a_clear_start_up_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("unreadable");
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut command = Command::new(BIN);
    command.args(["-p", "0", "-b", "127.0.0.1"]).arg(&locked);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // Root reads any directory; run the check as an ordinary user instead.
        command.uid(65534).gid(65534);
    }
    let out = command.output().unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot serve") && err.contains("Permission denied"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_passive_settings_are_usage_errors() {
    for (flag, value) in [
        ("--pasv-ports", ""),
        ("--pasv-ports", "60000-50000"),
        ("--pasv-ports", "0-100"),
        ("--pasv-ports", "50000"),
        ("--pasv-address", "ftp.example.com"),
        ("--pasv-address", "10.0.0.256"),
        ("--max-rate", "fast"),
        ("--banner", "two\r\nlines"),
    ] {
        let (code, err) = exit_code_and_stderr(&["-p", "0", flag, value]);
        assert_eq!(code, Some(2), "{flag} {value:?}: {err}");
        assert!(
            err.lines().next().unwrap_or("").contains(flag),
            "{flag} {value:?}: {err}"
        );
    }
}

#[test]
fn pidfile_is_removed_on_a_clean_exit() {
    let dir = TempDir::new("pid3");
    let pidfile = dir.path().join("tinyftpd.pid");
    let served = dir.path().join("srv");
    std::fs::create_dir(&served).unwrap();
    let mut server = Binary::start(&[
        "--pidfile",
        pidfile.to_str().unwrap(),
        served.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        format!("{}\n", server.pid())
    );
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit(EXIT_LIMIT), Some(0));
    assert!(!pidfile.exists(), "pid file left behind after SIGTERM");
}

#[test]
fn inetd_mode_with_chroot_and_run_as_logs_outside_the_jail() {
    if !tinyftpd::privileges::is_root() {
        eprintln!("SKIPPED: inetd_mode_with_chroot_and_run_as_logs_outside_the_jail needs root");
        return;
    }
    let dir = TempDir::new("inetd-chroot");
    dir.write("srv/hello.txt", b"hello from inetd\n");
    let served = dir.path().join("srv");
    let xferlog = dir.path().join("xferlog");
    let (client, server_side) = accepted_pair();
    let child = Running(Some(
        inetd_command(server_side)
            .args(["--inetd", "--chroot", "--run-as", "nobody", "--xferlog"])
            .arg(&xferlog)
            .arg(&served)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    drive_session(client);
    assert!(child.wait_exit(EXIT_LIMIT).success());
    let lines = std::fs::read_to_string(&xferlog).unwrap();
    assert!(
        lines.ends_with(" /hello.txt b _ o a anonymous ftp 0 * c\n"),
        "{lines}"
    );
}

#[test]
fn port_20_below_1024_with_run_as_is_refused_at_start() {
    if !tinyftpd::privileges::is_root() {
        eprintln!("SKIPPED: port_20_below_1024_with_run_as_is_refused_at_start needs root");
        return;
    }
    let dir = TempDir::new("port20");
    // A free privileged port (found by binding; released just before the binary binds it).
    let Some(port) = (600..1024u16)
        .rev()
        .find(|&p| TcpListener::bind(("127.0.0.1", p)).is_ok())
    else {
        eprintln!("SKIPPED: no free port below 1024");
        return;
    };
    let out = Command::new(BIN)
        .args(["-p", &port.to_string(), "-b", "127.0.0.1", "--port-20"])
        .args(["--run-as", "nobody"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--port-20") && err.contains("--run-as"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn dir_unreadable_for_the_run_as_user_is_a_start_up_error() {
    use std::os::unix::fs::PermissionsExt;
    if !tinyftpd::privileges::is_root() {
        eprintln!("SKIPPED: dir_unreadable_for_the_run_as_user_is_a_start_up_error needs root");
        return;
    }
    let dir = TempDir::new("runas-locked");
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
    let (code, err) = exit_code_and_stderr(&[
        "-p",
        "0",
        "-b",
        "127.0.0.1",
        "--run-as",
        "nobody",
        locked.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("after dropping privileges") && err.contains("Permission denied"),
        "{err}"
    );
}
