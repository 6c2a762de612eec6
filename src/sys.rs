//! The few system calls std does not offer, each wrapped safely. All `unsafe` and `libc` use in
//! the crate lives here.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
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

/// `struct open_how` of openat2(2) (libc's is non-exhaustive, so it cannot be built here).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Whether the kernel offers openat2(2): 0 not yet known, 1 yes, 2 no (older than Linux 5.6,
/// or refused by a seccomp filter as some container runtimes do).
static OPENAT2: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Opens `rel` below the directory `dir` with openat2(2), refusing any symlink, magic link or
/// `..` on the way (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS). The jail
/// hands in a path it has already resolved to its real location, so any symlink met here was
/// put there after the check: the open fails instead of following it. `Ok(None)` when openat2
/// is not available, so the caller falls back to an ordinary open.
pub fn open_beneath(
    dir: BorrowedFd<'_>,
    rel: &Path,
    flags: i32,
    mode: u32,
) -> io::Result<Option<OwnedFd>> {
    use std::sync::atomic::Ordering;
    if OPENAT2.load(Ordering::Relaxed) == 2 {
        return Ok(None);
    }
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let c_path = CString::new(rel.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: if flags & libc::O_CREAT != 0 {
            u64::from(mode)
        } else {
            0
        },
        resolve: libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
    };
    loop {
        // SAFETY: `c_path` is a valid C string and `how` a valid open_how of the size passed;
        // the returned descriptor, if any, is owned by the OwnedFd below.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                c_path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if rc >= 0 {
            OPENAT2.store(1, Ordering::Relaxed);
            // SAFETY: a non-negative return of openat2 is a new descriptor that we now own.
            return Ok(Some(unsafe { OwnedFd::from_raw_fd(rc as RawFd) }));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) | Some(libc::EAGAIN) => continue,
            Some(libc::ENOSYS) | Some(libc::EPERM) if OPENAT2.load(Ordering::Relaxed) == 0 => {
                OPENAT2.store(2, Ordering::Relaxed);
                return Ok(None);
            }
            // A symlink or `..` met on the way: the tree changed after the jail's check.
            Some(libc::ELOOP) | Some(libc::EXDEV) => {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "path changed while resolving",
                ))
            }
            _ => return Err(err),
        }
    }
}

/// True once an openat2 call has succeeded here; false when it is known to be missing.
pub fn openat2_works() -> bool {
    OPENAT2.load(std::sync::atomic::Ordering::Relaxed) == 1
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains NUL"))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// mkdirat(2): a new directory `name` inside the open directory `dir`.
pub fn mkdir_at(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<()> {
    let name = c_name(name)?;
    // SAFETY: `name` is a valid C string; `dir` is an open descriptor for the call.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t) })
}

/// unlinkat(2): removes the entry `name` (a directory when `directory`) inside `dir`. The entry
/// itself is removed, never what a symlink points at.
pub fn unlink_at(dir: BorrowedFd<'_>, name: &OsStr, directory: bool) -> io::Result<()> {
    let name = c_name(name)?;
    let flags = if directory { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: as for mkdir_at.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) })
}

/// renameat(2) between two open directories.
pub fn rename_at(
    from_dir: BorrowedFd<'_>,
    from: &OsStr,
    to_dir: BorrowedFd<'_>,
    to: &OsStr,
) -> io::Result<()> {
    let (from, to) = (c_name(from)?, c_name(to)?);
    // SAFETY: both names are valid C strings; both descriptors are open for the call.
    check(unsafe {
        libc::renameat(
            from_dir.as_raw_fd(),
            from.as_ptr(),
            to_dir.as_raw_fd(),
            to.as_ptr(),
        )
    })
}
