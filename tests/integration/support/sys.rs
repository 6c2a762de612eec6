//! Test-only system calls std does not offer: an abortive close (RST), a small receive buffer,
//! more descriptors for the test process, FIFOs. Each `unsafe` block says why it is sound.

use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// SO_LINGER with a zero timeout: dropping the socket then sends a RST instead of a FIN.
pub fn set_linger_zero(socket: &impl AsRawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `linger` is initialised and the length passed is its size; the fd is open.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", io::Error::last_os_error());
}

/// SO_RCVBUF; on a listener, the connections it accepts inherit it.
pub fn set_recv_buffer(socket: &impl AsRawFd, bytes: libc::c_int) {
    // SAFETY: `bytes` is an initialised c_int and the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &bytes as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_RCVBUF: {}", io::Error::last_os_error());
}

/// Raises this process's soft RLIMIT_NOFILE to at least `wanted` (up to the hard limit).
/// Returns the soft limit now in force.
pub fn raise_nofile_limit(wanted: libc::rlim_t) -> libc::rlim_t {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 0;
    }
    if limit.rlim_cur < wanted {
        limit.rlim_cur = wanted.min(limit.rlim_max);
        // SAFETY: `limit` is initialised; raising the soft limit up to the hard one is allowed.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
        // SAFETY: as above.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    }
    limit.rlim_cur
}

pub fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).expect("no NUL in a temp path");
    // SAFETY: `c` is a NUL-terminated path that lives across the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo: {}", io::Error::last_os_error());
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Sends `bytes` with MSG_OOB: the last byte becomes TCP urgent data, as BSD ftp, lftp and
/// Python's ftplib send (part of) ABOR.
pub fn send_urgent(socket: &impl AsRawFd, bytes: &[u8]) {
    // SAFETY: `bytes` is valid for reads of its length for the duration of the call.
    let rc = unsafe {
        libc::send(
            socket.as_raw_fd(),
            bytes.as_ptr() as *const libc::c_void,
            bytes.len(),
            libc::MSG_OOB,
        )
    };
    assert_eq!(
        rc,
        bytes.len() as isize,
        "send MSG_OOB: {}",
        io::Error::last_os_error()
    );
}

/// F_SETPIPE_SZ: shrinks (or grows) the buffer of the pipe or FIFO `fd` belongs to.
pub fn set_pipe_size(fd: &impl AsRawFd, bytes: libc::c_int) {
    // SAFETY: fcntl(F_SETPIPE_SZ) takes an int argument and touches no memory of ours.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, bytes) };
    assert!(rc >= 0, "F_SETPIPE_SZ: {}", io::Error::last_os_error());
}

/// renameat2(RENAME_EXCHANGE): swaps two names atomically (the race tests flip a directory and
/// a symlink with it). Errors are returned, not asserted: the flipping thread just goes on.
pub fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    let a = CString::new(a.as_os_str().as_bytes()).expect("no NUL in a temp path");
    let b = CString::new(b.as_os_str().as_bytes()).expect("no NUL in a temp path");
    // SAFETY: both are NUL-terminated paths that live across the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Mounts a fresh tmpfs on `target` (root only; fails with EPERM elsewhere).
pub fn mount_tmpfs(target: &Path) -> io::Result<()> {
    let target = CString::new(target.as_os_str().as_bytes()).expect("no NUL in a temp path");
    // SAFETY: every pointer is a NUL-terminated string that lives across the call; no data.
    let rc = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Detaches whatever is mounted on `target` (lazily, so an open descriptor does not stop it).
pub fn unmount(target: &Path) -> io::Result<()> {
    let target = CString::new(target.as_os_str().as_bytes()).expect("no NUL in a temp path");
    // SAFETY: `target` is a NUL-terminated path that lives across the call.
    let rc = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The calling thread's kernel id (to look at its state under /proc).
pub fn thread_id() -> i64 {
    // SAFETY: gettid has no preconditions and cannot fail.
    i64::from(unsafe { libc::gettid() })
}

/// fcntl's F_SETSIG (Linux), which the libc crate does not name.
const F_SETSIG: libc::c_int = 10;

/// Takes a write lease on `file` (fcntl F_SETLEASE F_WRLCK): any open of the file by someone
/// else now breaks the lease; a non-blocking open fails with EWOULDBLOCK meanwhile. The break
/// notice is sent as SIGURG, which is ignored by default, so the test process is not killed.
pub fn take_write_lease(file: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: fcntl on an open descriptor with integer arguments; no memory is passed.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), F_SETSIG, libc::SIGURG) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLEASE, libc::F_WRLCK) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Drops the calling THREAD (not the process) to `uid`/`gid` with no supplementary groups:
/// the raw system calls change one thread's credentials, unlike the libc wrappers, which
/// change every thread's. Threads it starts afterwards inherit them, so a test server started
/// from it runs as that user while the rest of the test process stays root.
pub fn drop_thread_credentials(uid: u32, gid: u32) {
    // SAFETY: raw credential system calls with integer arguments and a null group list of
    // length zero; they touch no memory of ours.
    let rc = unsafe { libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) };
    assert_eq!(rc, 0, "setgroups: {}", io::Error::last_os_error());
    // SAFETY: as above.
    let rc = unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) };
    assert_eq!(rc, 0, "setresgid: {}", io::Error::last_os_error());
    // SAFETY: as above.
    let rc = unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) };
    assert_eq!(rc, 0, "setresuid: {}", io::Error::last_os_error());
}
