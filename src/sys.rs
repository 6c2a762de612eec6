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
