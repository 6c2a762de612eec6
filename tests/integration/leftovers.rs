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
            let prog = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr() as *mut libc::sock_filter,
            };
            let installed = libc::prctl(libc::PR_CAPBSET_DROP, CAP_DAC_READ_SEARCH, 0, 0, 0) == 0
                && libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &prog as *const libc::sock_fprog,
                ) == 0;
            if !installed {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
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
