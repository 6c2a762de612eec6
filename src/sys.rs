//! The few system calls std does not offer, each wrapped safely. All `unsafe` and `libc` use in
//! the crate lives here.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// Waits until `fd` is readable (or has an error or hang-up pending), for at most `timeout`.
/// Returns false on timeout. std has no poll(2); we need it to wait for a PASV connection with a
/// deadline and to look at the control connection between chunks of a transfer without blocking.
pub fn wait_readable(fd: &impl AsRawFd, timeout: Duration) -> io::Result<bool> {
    let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    poll_one(fd.as_raw_fd(), millis)
}

fn poll_one(fd: RawFd, millis: i32) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: `pfd` is a valid, initialised pollfd and we pass a count of exactly one.
        let rc = unsafe { libc::poll(&mut pfd, 1, millis) };
        if rc >= 0 {
            return Ok(rc > 0);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Which readiness of the data connection a transfer waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    Readable,
    Writable,
}

/// What became ready in [`wait_data_or_control`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ready {
    pub data: bool,
    pub control: bool,
}

/// Waits until the data connection is ready for the next chunk or the control connection has
/// input (ABOR, STAT), whichever comes first, for at most `timeout`. One poll(2) per chunk lets
/// one thread serve both connections, so ABOR works even while the data connection is stalled.
/// `control` is `None` when the control connection is not to be watched.
pub fn wait_data_or_control(
    data: RawFd,
    interest: Interest,
    control: Option<RawFd>,
    timeout: Duration,
) -> io::Result<Ready> {
    let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    let data_events = match interest {
        Interest::Readable => libc::POLLIN,
        Interest::Writable => libc::POLLOUT,
    };
    let mut fds = [
        libc::pollfd {
            fd: data,
            events: data_events,
            revents: 0,
        },
        libc::pollfd {
            fd: control.unwrap_or(-1),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: `fds` is an initialised array of two pollfds and we pass its length; poll
        // ignores an entry whose fd is negative.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
        if rc >= 0 {
            let ready = |p: &libc::pollfd| p.revents != 0;
            return Ok(Ready {
                data: ready(&fds[0]),
                control: ready(&fds[1]),
            });
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Copies up to `count` bytes from `file` (at its current offset, which advances) to the socket
/// `out` in the kernel, with no copy through user space. std will not use sendfile(2) for
/// `io::copy` from a `File` to a `TcpStream`, so we call it ourselves. Returns 0 at end of file.
pub fn sendfile(out: &impl AsRawFd, file: &impl AsRawFd, count: usize) -> io::Result<usize> {
    loop {
        // SAFETY: both descriptors are open for the duration of the call (borrowed); a null
        // offset pointer makes the kernel use and advance the file's own offset.
        let rc = unsafe {
            libc::sendfile(
                out.as_raw_fd(),
                file.as_raw_fd(),
                std::ptr::null_mut(),
                count,
            )
        };
        if rc >= 0 {
            return Ok(rc as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Shuts down the reading side of a socket that another thread is blocked on: a blocked
/// `accept` returns an error, a blocked `read` returns end of stream. Used to wake threads at
/// shutdown; std offers `shutdown` only on `TcpStream`, not on a listener or a borrowed fd.
pub fn shutdown_read(fd: RawFd) {
    // SAFETY: shutdown(2) on a descriptor has no memory effects; callers guarantee (under the
    // registry lock) that `fd` is still the socket they registered.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RD);
    }
}

/// Sets the process umask (applies to uploads and MKD) and returns the old one.
pub fn set_umask(mask: u32) -> u32 {
    // SAFETY: umask(2) cannot fail and touches no memory.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}
