//! The privilege drop and start-up hardening of the real binary: nothing from the served tree
//! is looked up after `--chroot` (planted NSS files and libraries stay unused), `--users FILE`
//! is read before the drop in every mode, descriptors running out gives 421, and out-of-range
//! operator input is a usage error rather than a panic later.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::client::Client;
use crate::support::process::{
    accepted_pair, inetd_command, listening_addr, Binary, Running, BIN, EXIT_LIMIT,
};
use crate::support::sys::is_root;
use crate::support::TempDir;

fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("SKIPPED: {test} needs root");
    true
}

/// `Uid`, `Gid` and `Groups` of /proc/PID/status, each as a sorted list of numbers.
fn credentials(pid: u32) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field = |name: &str| -> Vec<u32> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in status"));
        let mut ids: Vec<u32> = line[name.len()..]
            .split_whitespace()
            .map(|n| n.parse().expect("id"))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    (field("Uid:"), field("Gid:"), field("Groups:"))
}

/// `nobody`'s ids on the host, from `id` (which asks the host's own databases).
fn host_ids_of_nobody() -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let id = |flag: &str| -> Vec<u32> {
        let out = Command::new("id")
            .args([flag, "nobody"])
            .output()
            .expect("id");
        assert!(out.status.success(), "id {flag} nobody failed");
        let mut ids: Vec<u32> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(|n| n.parse().expect("id"))
            .collect();
        ids.sort_unstable();
        ids
    };
    (id("-u"), id("-g"), id("-G"))
}

/// Plants in `dir` what glibc (and musl, for etc/group) would read if the server looked a user
/// or group up after the chroot: an etc/group that gives nobody group 0 and 4242, an
/// nsswitch.conf that names an `evil` NSS module, and that module, whose constructor creates
/// `dir/marker` (inside the chroot: `/marker`) and `host_marker`. Returns false when there is
/// no C compiler (the caller skips; under CI=true that fails).
fn plant_nss_trap(dir: &Path, host_marker: &Path) -> bool {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    if Command::new(&cc).arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no C compiler ({cc}) under CI=true: install gcc"
        );
        eprintln!("SKIPPED: the NSS trap needs a C compiler ({cc})");
        return false;
    }
    let write = |rel: &str, text: &str| {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "etc/group",
        "root:x:0:nobody\nevil:x:4242:nobody\nnogroup:x:65534:\n",
    );
    write(
        "etc/passwd",
        "root:x:0:0:root:/:/bin/sh\nnobody:x:4242:0:nobody:/:/bin/sh\n",
    );
    write(
        "etc/nsswitch.conf",
        "passwd: evil files\ngroup: evil files\nshadow: evil files\nhosts: evil files\n",
    );
    let source = dir.join("evil.c");
    std::fs::write(
        &source,
        format!(
            "#include <fcntl.h>\n#include <unistd.h>\n\
             __attribute__((constructor)) static void evil(void) {{\n\
             int fd = open(\"/marker\", O_CREAT | O_WRONLY, 0644); if (fd >= 0) close(fd);\n\
             fd = open(\"{}\", O_CREAT | O_WRONLY, 0644); if (fd >= 0) close(fd);\n}}\n",
            host_marker.display()
        ),
    )
    .unwrap();
    let library = dir.join("libnss_evil.so.2");
    let out = Command::new(&cc)
        .args(["-shared", "-fPIC", "-o"])
        .arg(&library)
        .arg(&source)
        .output()
        .expect("run cc");
    assert!(
        out.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for lib_dir in [
        "lib/x86_64-linux-gnu",
        "usr/lib/x86_64-linux-gnu",
        "lib/aarch64-linux-gnu",
        "usr/lib/aarch64-linux-gnu",
        "lib64",
        "usr/lib64",
        "lib",
        "usr/lib",
        "usr/local/lib",
    ] {
        std::fs::create_dir_all(dir.join(lib_dir)).unwrap();
        std::fs::copy(&library, dir.join(lib_dir).join("libnss_evil.so.2")).unwrap();
    }
    true
}

fn assert_dropped_to_host_nobody(pid: u32, dir: &Path, host_marker: &Path) {
    assert_eq!(
        credentials(pid),
        host_ids_of_nobody(),
        "Uid, Gid, Groups of the server vs the host's nobody"
    );
    assert!(!dir.join("marker").exists(), "the planted NSS module ran");
    assert!(!host_marker.exists(), "the planted NSS module ran");
}

/// A temporary directory with DIR (`srv`) holding the NSS trap, DIR and the host marker's
/// path; `None` when the test must skip (not root, no compiler).
fn nss_trap(test: &str) -> Option<(TempDir, PathBuf, PathBuf)> {
    if skip_unless_root(test) {
        return None;
    }
    let outside = TempDir::new("nss");
    let served = outside.path().join("srv");
    std::fs::create_dir(&served).unwrap();
    let host_marker = outside.path().join("host-marker");
    plant_nss_trap(&served, &host_marker).then_some((outside, served, host_marker))
}

#[test]
fn chroot_run_as_ignores_planted_nss_files_in_daemon_mode() {
    let Some((_outside, served, host_marker)) =
        nss_trap("chroot_run_as_ignores_planted_nss_files_in_daemon_mode")
    else {
        return;
    };
    let server = Binary::start(&["--chroot", "--run-as", "nobody", served.to_str().unwrap()]);
    let mut c = Client::connect(server.addr);
    c.login("anonymous", "x");
    c.expect("NOOP", 200);
    assert_dropped_to_host_nobody(server.pid(), &served, &host_marker);
}

#[test]
fn chroot_run_as_ignores_planted_nss_files_in_inetd_mode() {
    let Some((_outside, served, host_marker)) =
        nss_trap("chroot_run_as_ignores_planted_nss_files_in_inetd_mode")
    else {
        return;
    };
    let (client, server_side) = accepted_pair();
    let child = Running(Some(
        inetd_command(server_side)
            .args(["--inetd", "--chroot", "--run-as", "nobody"])
            .arg(&served)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    let mut c = Client::from_stream(client);
    assert_eq!(c.greeting.code, 220, "{}", c.greeting.text());
    c.login("anonymous", "x");
    c.expect("NOOP", 200);
    assert_dropped_to_host_nobody(child.pid(), &served, &host_marker);
    c.expect("QUIT", 221);
    assert!(child.wait_exit(EXIT_LIMIT).success());
}

/// In a chroot without /proc, a writable client can make directories `proc/self/fd` and files
/// named like descriptors there. The server must not mistake them for procfs when it names an
/// unnamed upload: the upload must keep its own contents. (Only kernels before 6.10 take the
/// /proc route as a non-root user; on newer ones linkat(AT_EMPTY_PATH) works and this passes
/// either way.)
#[test]
fn planted_proc_directory_in_the_chroot_does_not_redirect_uploads() {
    if skip_unless_root("planted_proc_directory_in_the_chroot_does_not_redirect_uploads") {
        return;
    }
    let outside = TempDir::new("proc-plant");
    let served = outside.path().join("srv");
    std::fs::create_dir(&served).unwrap();
    std::fs::set_permissions(&served, std::fs::Permissions::from_mode(0o777)).unwrap();
    let server = Binary::start(&[
        "-w",
        "--chroot",
        "--run-as",
        "nobody",
        served.to_str().unwrap(),
    ]);
    let mut c = Client::connect(server.addr);
    c.login("anonymous", "x");
    for dir in ["proc", "proc/self", "proc/self/fd"] {
        c.expect(format!("MKD {dir}"), 257);
    }
    for fd in 0..48 {
        c.stor(format!("proc/self/fd/{fd}"), b"planted");
    }
    c.stor("upload.txt", b"the real upload");
    assert_eq!(c.retr("upload.txt"), b"the real upload");
    assert_eq!(
        std::fs::read(served.join("upload.txt")).unwrap(),
        b"the real upload"
    );
}

fn users_line(name: &str, password: &str) -> String {
    let hash = tinyftpd::sha_crypt::hash_sha512(password.as_bytes(), "privilegestest");
    format!("{name}:{hash}:rw\n")
}

/// A root-owned 0600 users file: readable only before the drop.
fn root_only_users_file(dir: &TempDir, text: &str) -> PathBuf {
    let path = dir.write("users", text.as_bytes());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn login_works(server: &Binary, user: &str, password: &str) -> bool {
    let mut c = Client::connect(server.addr);
    c.expect(format!("USER {user}"), 331);
    c.cmd(format!("PASS {password}")).code == 230
}

fn reload(server: &Binary) {
    server.signal(libc::SIGHUP);
    server.wait_for_log("reloaded users file", Duration::from_secs(10));
}

#[test]
fn root_only_users_file_with_run_as_is_read_and_reloaded_in_place() {
    if skip_unless_root("root_only_users_file_with_run_as_is_read_and_reloaded_in_place") {
        return;
    }
    for chroot in [false, true] {
        let dir = TempDir::new("users-root-only");
        let served = TempDir::new("users-served");
        let users = root_only_users_file(&dir, &users_line("alice", "first"));
        let mut args = vec!["--run-as", "nobody", "--users", users.to_str().unwrap()];
        if chroot {
            args.push("--chroot");
        }
        args.push(served.path().to_str().unwrap());
        let server = Binary::start(&args);
        assert!(login_works(&server, "alice", "first"), "chroot {chroot}");
        // Rewritten in place (same inode), as `>` in a shell or most editors on a file they
        // may not replace do.
        std::fs::write(&users, users_line("alice", "second")).unwrap();
        reload(&server);
        assert!(login_works(&server, "alice", "second"), "chroot {chroot}");
        assert!(!login_works(&server, "alice", "first"), "chroot {chroot}");
    }
}

#[test]
fn readable_users_file_replaced_by_rename_is_followed_without_chroot() {
    if skip_unless_root("readable_users_file_replaced_by_rename_is_followed_without_chroot") {
        return;
    }
    let dir = TempDir::new("users-rename");
    let served = TempDir::new("users-rename-served");
    let users = dir.write("users", users_line("alice", "first").as_bytes());
    std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o644)).unwrap();
    let server = Binary::start(&[
        "--run-as",
        "nobody",
        "--users",
        users.to_str().unwrap(),
        served.path().to_str().unwrap(),
    ]);
    assert!(login_works(&server, "alice", "first"));
    let replacement = dir.write("users.new", users_line("alice", "second").as_bytes());
    std::fs::set_permissions(&replacement, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::rename(&replacement, &users).unwrap();
    reload(&server);
    assert!(login_works(&server, "alice", "second"));
}

/// Starts the binary with RLIMIT_NOFILE set to `soft`/`hard` and the given arguments; returns
/// the running child and its start-up line.
fn start_with_nofile(soft: u64, hard: u64, args: &[&str]) -> (Running, String) {
    let mut command = Command::new(BIN);
    command
        .args(["-p", "0", "-b", "127.0.0.1"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the hook only calls setrlimit(2), which is async-signal-safe, on a local value.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = Running(Some(command.spawn().expect("spawn tinyftpd")));
    let line = child.start_up_line();
    (child, line)
}

/// The soft RLIMIT_NOFILE of a process, from /proc/PID/limits.
fn soft_nofile(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    line["Max open files".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn stop_and_collect_stderr(mut child: Running) -> String {
    let stderr = child.stderr_reader();
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(child.pid() as libc::pid_t, libc::SIGTERM) };
    child.wait_exit(EXIT_LIMIT);
    stderr.join().unwrap()
}

#[test]
fn descriptor_limit_is_raised_to_the_hard_limit_and_a_small_one_is_warned_about() {
    let served = TempDir::new("nofile-raise");
    let (child, _) = start_with_nofile(64, 4096, &[served.path().to_str().unwrap()]);
    assert_eq!(soft_nofile(child.pid()), 4096);
    stop_and_collect_stderr(child);
    let (child, _) = start_with_nofile(64, 64, &[served.path().to_str().unwrap()]);
    let err = stop_and_collect_stderr(child);
    assert!(
        err.contains("--max-clients 200") && err.contains("descriptors"),
        "{err}"
    );
}

/// Reads the first reply line of a fresh connection within a few seconds; `None` when none came
/// (the old server left connections beyond its descriptor limit hanging in the backlog).
fn first_line(stream: &TcpStream) -> Option<String> {
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    (!line.is_empty()).then_some(line)
}

#[test]
fn connections_beyond_the_descriptor_limit_get_421_and_serving_goes_on() {
    let served = TempDir::new("nofile-421");
    let (child, line) = start_with_nofile(
        32,
        32,
        &["--max-per-ip", "1000", served.path().to_str().unwrap()],
    );
    let addr = listening_addr(&line);
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..60 {
        let stream = TcpStream::connect(addr).unwrap();
        match first_line(&stream) {
            Some(l) if l.starts_with("220") => held.push(stream),
            Some(l) => {
                assert!(l.starts_with("421"), "{l}");
                refused += 1;
                if refused == 3 {
                    break;
                }
            }
            None => panic!(
                "no reply after {} sessions: the connection hangs",
                held.len()
            ),
        }
    }
    assert_eq!(
        refused,
        3,
        "{} sessions accepted under a limit of 32",
        held.len()
    );
    drop(held);
    // Sessions notice the closed connections and give their descriptors back: bounded wait.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stream = TcpStream::connect(addr).unwrap();
        let line = first_line(&stream).expect("a reply");
        if line.starts_with("220") {
            drop(stream);
            let mut c = Client::connect(addr);
            c.login("anonymous", "x");
            c.expect("NOOP", 200);
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {line}");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(child);
}

/// Starts the binary on 127.0.0.1 with `args`, stdout piped (for the start-up line), stderr
/// piped.
fn spawn_on_loopback(args: &[&str]) -> Running {
    Running(Some(
        Command::new(BIN)
            .args(["-b", "127.0.0.1"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ))
}

/// Runs the binary, which must exit by itself within a few seconds: exit code and stderr.
fn exit_code_and_stderr(args: &[&str]) -> (Option<i32>, String) {
    let mut child = spawn_on_loopback(args);
    let stderr = child.stderr_reader();
    let status = child.wait_exit(Duration::from_secs(5));
    (status.code(), stderr.join().unwrap())
}

#[test]
fn out_of_range_durations_are_usage_errors() {
    for flag in ["--idle-timeout", "--data-timeout", "--shutdown-grace"] {
        for value in ["18446744073709551615", "31536001"] {
            let (code, err) = exit_code_and_stderr(&["-p", "0", flag, value]);
            assert_eq!(code, Some(2), "{flag} {value}: {err}");
            let first = err.lines().next().unwrap_or("");
            assert!(
                first.contains(flag) && first.contains("31536000"),
                "{flag} {value}: {err}"
            );
        }
    }
}

#[test]
fn port_20_with_run_as_accepts_control_port_1025_and_says_so() {
    if skip_unless_root("port_20_with_run_as_accepts_control_port_1025_and_says_so") {
        return;
    }
    let dir = TempDir::new("port20-1025");
    let served = dir.path().to_str().unwrap();
    let (code, err) =
        exit_code_and_stderr(&["-p", "1024", "--port-20", "--run-as", "nobody", served]);
    if err.contains("taken") {
        eprintln!("SKIPPED: port 1024 is in use here");
    } else {
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("port 1025 or above"), "{err}");
    }
    if TcpListener::bind("127.0.0.1:1025").is_err() {
        eprintln!("SKIPPED: port 1025 is in use here");
        return;
    }
    let mut child = spawn_on_loopback(&["-p", "1025", "--port-20", "--run-as", "nobody", served]);
    let line = child.start_up_line();
    assert_eq!(listening_addr(&line).port(), 1025, "{line}");
    let mut c = Client::connect(listening_addr(&line));
    c.login("anonymous", "x");
    c.expect("QUIT", 221);
}
