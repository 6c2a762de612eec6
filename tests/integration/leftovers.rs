//! Issue 9 leftovers: uploads as root without CAP_DAC_READ_SEARCH, the start-up sweep under a
//! low descriptor limit, and the same depth limit on both resolution routes.

use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::support::process::{Binary, BIN};
use crate::support::sys::is_root;
use crate::support::TempDir;

/// CAP_DAC_READ_SEARCH, which linkat(AT_EMPTY_PATH) needs on kernels before 6.10.
const CAP_DAC_READ_SEARCH: libc::c_ulong = 2;

/// Root without CAP_DAC_READ_SEARCH (a default Docker container) and `--chroot`: linking an
/// unnamed upload can only fail there (no capability, no real procfs), so the upload must use
/// a named temporary from the start. Before, every STOR answered 550 where the kernel checks
/// the capability.
#[test]
fn stor_works_as_root_without_dac_read_search_in_a_chroot() {
    if !is_root() {
        eprintln!("SKIPPED: stor_works_as_root_without_dac_read_search_in_a_chroot needs root");
        return;
    }
    let dir = TempDir::new("nocap");
    let mut command = Command::new(BIN);
    command
        .args(["-p", "0", "-b", "127.0.0.1", "-w", "--chroot"])
        .arg(dir.path());
    // Kernels from 6.10 on may link an unnamed file without the capability; a seccomp filter
    // answers linkat(AT_EMPTY_PATH) with ENOENT as older ones do without it.
    let filter = linkat_empty_path_enoent();
    // SAFETY: prctl(2) and seccomp(2) only change the child's own bounding set and filters,
    // and the closure allocates nothing (the filter was built before fork), so it is safe
    // between fork and exec. Root's capabilities after exec are cut to the bounding set.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_CAPBSET_DROP, CAP_DAC_READ_SEARCH, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            install_filter(&filter)
        });
    }
    let server = Binary::start_command(command);
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    assert_eq!(eff & (1 << CAP_DAC_READ_SEARCH), 0, "capability still held");
    let mut client = crate::support::client::Client::connect(server.addr);
    client.login("anonymous", "x@");
    client.stor("up.txt", b"uploaded without the capability");
    client.expect("QUIT", 221);
    assert_eq!(dir.read("up.txt"), b"uploaded without the capability");
}

/// Root in a user namespace (a rootless container) holds CAP_DAC_READ_SEARCH in its own view,
/// but kernels before 6.10 check it in the initial namespace and refuse to link an unnamed
/// file: capget cannot tell, so the server must find out by trying, before an upload's data
/// is in an unnamed file it cannot name. Simulated by the seccomp filter with the capability
/// kept. Before, every STOR answered 550 after its data came.
#[test]
fn stor_works_when_linking_unnamed_files_is_refused_despite_the_capability() {
    if !is_root() {
        eprintln!("SKIPPED: stor_works_when_linking_unnamed_files_is_refused... needs root");
        return;
    }
    let dir = TempDir::new("nolink");
    let mut command = Command::new(BIN);
    command
        .args(["-p", "0", "-b", "127.0.0.1", "-w", "--chroot"])
        .arg(dir.path());
    let filter = linkat_empty_path_enoent();
    // SAFETY: seccomp(2) only changes the child's own filters, and the closure allocates
    // nothing (the filter was built before fork), so it is safe between fork and exec.
    unsafe {
        command.pre_exec(move || install_filter(&filter));
    }
    let server = Binary::start_command(command);
    let mut client = crate::support::client::Client::connect(server.addr);
    client.login("anonymous", "x@");
    for n in 0..3 {
        client.stor(format!("up{n}.txt"), b"linked or renamed");
    }
    client.expect("QUIT", 221);
    for n in 0..3 {
        assert_eq!(dir.read(&format!("up{n}.txt")), b"linked or renamed");
    }
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names.len(),
        3,
        "probe or temporaries left behind: {names:?}"
    );
}

/// Installs a seccomp program on the calling process (root needs no no_new_privs). Allocates
/// nothing, so a `pre_exec` may call it.
///
/// # Safety
/// `filter` must be a valid classic BPF program for seccomp.
unsafe fn install_filter(filter: &[libc::sock_filter]) -> std::io::Result<()> {
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `filter`, which outlives the call; the kernel copies it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A seccomp program: linkat(2) with AT_EMPTY_PATH in its flags fails with ENOENT (what a
/// kernel before 6.10 answers a caller without CAP_DAC_READ_SEARCH); everything else runs.
fn linkat_empty_path_enoent() -> [libc::sock_filter; 6] {
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    [
        stmt(load, 0),
        jump(libc::SYS_linkat as u32, 0, 3),
        // The low half of args[4] (the flags) on a little-endian machine.
        stmt(load, 16 + 4 * 8),
        jump(libc::AT_EMPTY_PATH as u32, 0, 1),
        stmt(ret, libc::SECCOMP_RET_ERRNO | libc::ENOENT as u32),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
    ]
}

/// The start-up sweep under a low descriptor limit: 3,000 sibling directories, stale upload
/// temporaries (of a pid that cannot exist) three levels below some of them. Before, the sweep
/// held a descriptor for every directory still to visit: it ran out (and skipped the rest,
/// leaving temporaries behind), and sessions starting meanwhile got 421. Now it holds one per
/// depth level.
#[test]
fn sweep_holds_few_descriptors_in_a_wide_tree() {
    const SIBLINGS: usize = 3_000;
    let dir = TempDir::new("wide-sweep");
    let stale = ".tinyftpd-upload.999999999.1";
    let mut planted = Vec::new();
    for n in 0..SIBLINGS {
        let sub = dir.path().join(format!("d{n}"));
        std::fs::create_dir(&sub).unwrap();
        if n % 100 == 7 {
            let rel = format!("d{n}/a/b/c/{stale}");
            dir.write(&rel, b"left behind");
            planted.push(rel);
        }
    }
    let mut command = Command::new(BIN);
    command
        .args(["-p", "0", "-b", "127.0.0.1", "-w"])
        .arg(dir.path())
        .env("RUST_LOG", "info");
    // SAFETY: setrlimit(2) only changes the child's own limits and allocates nothing, so it is
    // safe between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 256,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let server = Binary::start_command(command);
    // Logins while the sweep runs and after: none may be refused for want of descriptors.
    for _ in 0..20 {
        let mut client = crate::support::client::Client::connect(server.addr);
        client.login("anonymous", "x@");
        client.expect("QUIT", 221);
    }
    server.wait_for_log(
        "stale upload temporaries",
        std::time::Duration::from_secs(20),
    );
    let left: Vec<&String> = planted
        .iter()
        .filter(|rel| dir.path().join(rel).exists())
        .collect();
    assert!(left.is_empty(), "stale temporaries left: {left:?}");
    let mut client = crate::support::client::Client::connect(server.addr);
    client.login("anonymous", "x@");
    client.expect("QUIT", 221);
}

/// The depth limit is the same on both routes: the walk holds one directory per level and
/// refuses a path below more than MAX_DEPTH (255) directories (553, a name not allowed, as
/// for ENAMETOOLONG); the openat2 route served such
/// a file before (RETR worked where LIST and the walk failed). One level less works on both.
#[test]
fn depth_limit_is_the_same_on_both_routes() {
    const MAX_DEPTH: usize = 255;
    for walk in [true, false] {
        let route = if walk { "walk" } else { "openat2" };
        let s = crate::support::TestServer::with(|c| c.jail_openat2 = !walk);
        let deep = |levels: usize| "d/".repeat(levels);
        s.root
            .write(&format!("{}f", deep(MAX_DEPTH)), b"at the limit");
        s.root
            .write(&format!("{}f", deep(MAX_DEPTH + 1)), b"below the limit");
        let mut c = s.anonymous();
        assert_eq!(
            c.retr(format!("/{}f", deep(MAX_DEPTH))),
            b"at the limit",
            "{route}"
        );
        for verb in ["SIZE", "MDTM", "MLST"] {
            let code = c.cmd(format!("{verb} /{}f", deep(MAX_DEPTH))).code;
            assert!(
                (200..300).contains(&code),
                "{route}: {verb} at the limit: {code}"
            );
            let code = c.cmd(format!("{verb} /{}f", deep(MAX_DEPTH + 1))).code;
            assert_eq!(code, 553, "{route}: {verb} below the limit");
        }
        let _data = c.epsv();
        let reply = c.cmd(format!("RETR /{}f", deep(MAX_DEPTH + 1)));
        assert_eq!(
            reply.code,
            553,
            "{route}: RETR below the limit: {}",
            reply.text()
        );
        let _data = c.epsv();
        let reply = c.cmd(format!("LIST /{}f", deep(MAX_DEPTH + 1)));
        assert_eq!(
            reply.code,
            553,
            "{route}: LIST below the limit: {}",
            reply.text()
        );
    }
}

/// No unit, init script or default file in contrib/ sets RUST_BACKTRACE: with it, a panic in
/// a `--chroot` server makes std read `/proc/self/exe` and debug files by path inside DIR.
/// (A guard, not a regression: they never set it.)
#[test]
fn contrib_files_do_not_enable_backtraces() {
    let contrib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib");
    let mut stack = vec![contrib];
    let mut checked = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read contrib") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text =
                String::from_utf8_lossy(&std::fs::read(&path).expect("read")).to_ascii_uppercase();
            assert!(
                !text.contains("BACKTRACE"),
                "{} sets a backtrace variable",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "contrib/ not found ({checked} files)");
}
