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
