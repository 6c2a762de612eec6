//! The few system calls std does not offer, each wrapped safely, or as an `unsafe fn` where
//! the caller must vouch for a raw descriptor. `unsafe` is allowed only in os/ (see os/mod.rs).

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
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
    poll_for(fd, libc::POLLIN, millis)
}

fn poll_for(fd: RawFd, events: libc::c_short, millis: i32) -> io::Result<bool> {
    let mut fds = [libc::pollfd {
        fd,
        events,
        revents: 0,
    }];
    Ok(poll(&mut fds, millis)? > 0)
}

/// poll(2) over `fds`, retried when a signal interrupts it (with the same timeout: callers
/// keep their own deadlines). Returns how many entries have events.
fn poll(fds: &mut [libc::pollfd], millis: i32) -> io::Result<usize> {
    loop {
        // SAFETY: `fds` is an initialised slice of pollfds and we pass its length; poll
        // ignores an entry whose fd is negative.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
        if rc >= 0 {
            return Ok(rc as usize);
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
    poll(&mut fds, millis)?;
    let ready = |p: &libc::pollfd| p.revents != 0;
    Ok(Ready {
        data: ready(&fds[0]),
        control: ready(&fds[1]),
    })
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

/// Shuts down the reading side of a listening socket that another thread is blocked on in
/// `accept`, which then returns an error. Used to wake accept loops at shutdown; std offers
/// `shutdown` only on `TcpStream`. Takes the socket borrowed, not a descriptor number, so it
/// cannot act on a descriptor that was closed and reused meanwhile.
pub fn shutdown_read(socket: impl AsFd) {
    // SAFETY: shutdown(2) has no memory effects, and the borrow keeps the descriptor open.
    unsafe {
        libc::shutdown(socket.as_fd().as_raw_fd(), libc::SHUT_RD);
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

fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is valid for writes of one `struct stat`; fstat only writes through it and
    // fails cleanly (EBADF) for a descriptor that is not open.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstat returned 0, so it filled in the whole struct.
    Ok(unsafe { st.assume_init() })
}

/// True when `fd` is open and is a socket of some kind.
pub fn is_socket(fd: RawFd) -> bool {
    fstat(fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFSOCK)
}

/// True when both descriptors are open and refer to the same open file (or socket).
pub fn same_file(a: RawFd, b: RawFd) -> bool {
    match (fstat(a), fstat(b)) {
        (Ok(x), Ok(y)) => x.st_dev == y.st_dev && x.st_ino == y.st_ino,
        _ => false,
    }
}

/// A descriptor of our own (close-on-exec, numbered 3 or above) for the socket that a
/// super-server such as inetd passed as `fd` (stdin). The inherited number itself is left
/// alone, so std's `Stdin` never shares our socket; see [`redirect_to_dev_null`].
pub fn duplicate_inherited_socket(fd: RawFd) -> io::Result<OwnedFd> {
    if !is_socket(fd) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {fd} is not a socket"),
        ));
    }
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) only creates a new descriptor; `fd` was checked open above.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a descriptor fcntl just created for us; nothing else refers to it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Takes ownership of a listening socket that systemd passed as `fd` (sd_listen_fds(3): the
/// descriptors from 3 on belong to the process it started). Sets close-on-exec, as
/// sd_listen_fds does, and checks that it is a listening stream socket.
///
/// # Safety
/// `fd` must be a descriptor this process was handed to own and that nothing else in the
/// process owns or will close (the result closes it on drop).
pub unsafe fn adopt_listening_socket(fd: RawFd) -> io::Result<OwnedFd> {
    if !is_socket(fd) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {fd} is not a socket"),
        ));
    }
    // SAFETY: `fd` is open (checked above) and, by the socket-activation protocol, was handed to
    // this process to own; it is adopted once, at start-up, before this process opens any file
    // of its own, so no other owner of this number exists.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: F_SETFD with FD_CLOEXEC on an open descriptor has no memory effects.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let kind = socket_option(fd, libc::SO_TYPE)?;
    let listening = socket_option(fd, libc::SO_ACCEPTCONN)?;
    if kind != libc::SOCK_STREAM || listening == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "descriptor {fd} is not a listening stream socket (with Accept=yes, use --inetd)"
            ),
        ));
    }
    Ok(owned)
}

fn socket_option(fd: RawFd, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid for writes and `len` says how large `value` is.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            name,
            &mut value as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}

/// Points `fd` (0, 1 or 2) at /dev/null. In inetd mode stdin and stdout (and with classic
/// inetd stderr too) are the client's socket: after this, a stray print or a panic message
/// cannot end up in the FTP control stream.
///
/// # Safety
/// Whatever `fd` referred to is closed under its owner: the caller must know that its only
/// other users are std's stdio handles (which then use /dev/null) or nobody.
pub unsafe fn redirect_to_dev_null(fd: RawFd) -> io::Result<()> {
    let null = File::options().read(true).write(true).open("/dev/null")?;
    // SAFETY: both descriptors are open; dup2 atomically makes `fd` refer to /dev/null. The
    // only other users of 0, 1 and 2 are std's stdio handles, which then use /dev/null.
    if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Connects to `target` from the fixed local address `local` (for `--port-20`). std cannot bind
/// a socket before connecting. SO_REUSEADDR lets consecutive data connections use the same
/// local port while the last one is still in TIME_WAIT (their 4-tuples differ by the client's
/// port). Waits at most `timeout` for the connection.
pub fn connect_from(
    local: SocketAddr,
    target: SocketAddr,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let family = match target {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket(2) with constant arguments; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is the socket just created; the OwnedFd is its only owner and closes it on
    // every error path below.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    set_socket_option(&socket, libc::SO_REUSEADDR, 1)?;
    let (addr, len) = socket_address(local);
    // SAFETY: `addr` is an initialised sockaddr_storage holding an address of `len` bytes.
    if unsafe { libc::bind(fd, &addr as *const _ as *const libc::sockaddr, len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let (addr, len) = socket_address(target);
    // SAFETY: as for bind above.
    if unsafe { libc::connect(fd, &addr as *const _ as *const libc::sockaddr, len) } != 0 {
        let err = io::Error::last_os_error();
        // A non-blocking connect goes on in the background (also after EINTR).
        if !matches!(
            err.raw_os_error(),
            Some(libc::EINPROGRESS) | Some(libc::EINTR)
        ) {
            return Err(err);
        }
        let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        if !poll_for(fd, libc::POLLOUT, millis)? {
            return Err(io::ErrorKind::TimedOut.into());
        }
        match socket_option(fd, libc::SO_ERROR)? {
            0 => {}
            errno => return Err(io::Error::from_raw_os_error(errno)),
        }
    }
    let stream = TcpStream::from(socket);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

fn socket_address(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data for which all-zero bytes are a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for any sockaddr type.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// SO_RCVLOWAT: a socket counts as readable (for poll and read) only once `bytes` are queued, or
/// at end of stream. std has no setter. An upload then wakes the session once per large chunk
/// instead of once per segment.
pub fn set_receive_low_water(socket: &impl AsRawFd, bytes: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    set_socket_option(socket, libc::SO_RCVLOWAT, value)
}

/// SO_OOBINLINE: TCP urgent data stays in the normal stream. BSD ftp, tnftp, lftp and Python's
/// ftplib send (the end of) ABOR as urgent data; without this Linux takes that byte out of the
/// stream, and the server reads `\xF2ABOR` or `ABOR\r` glued to the next line.
pub fn set_urgent_inline(socket: &impl AsRawFd) -> io::Result<()> {
    set_socket_option(socket, libc::SO_OOBINLINE, 1)
}

/// setsockopt(2) at SOL_SOCKET level for an int-valued option (std offers only a few).
fn set_socket_option(
    socket: &impl AsRawFd,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` is a valid c_int for the duration of the call and we pass its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            &value as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    check(rc)
}

/// Bytes waiting in a socket's receive queue (FIONREAD), which std does not expose.
pub fn bytes_queued(socket: &impl AsRawFd) -> io::Result<usize> {
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int to the valid pointer we pass.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::FIONREAD, &mut queued) };
    check(rc)?;
    Ok(usize::try_from(queued).unwrap_or(0))
}

/// Whether a process with this pid exists (kill with signal 0; EPERM means it exists but is
/// not ours). Works inside a chroot, where /proc is usually missing.
pub fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) with signal 0 only checks for the process; it touches no memory.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// An unnamed new file in the directory `dir` (O_TMPFILE): it has no directory entry until
/// [`link_unnamed`] gives it one, and vanishes if the process dies first. `Ok(None)` where the
/// file system or kernel does not support O_TMPFILE.
pub fn open_unnamed(dir: BorrowedFd<'_>, mode: u32) -> io::Result<Option<OwnedFd>> {
    // SAFETY: the path is a valid C string literal; the descriptor returned is ours to own.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c".".as_ptr(),
            libc::O_TMPFILE | libc::O_WRONLY | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    };
    if fd >= 0 {
        // SAFETY: a non-negative return is a new descriptor that we now own.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }));
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EOPNOTSUPP) | Some(libc::EISDIR) | Some(libc::EINVAL) | Some(libc::ENOENT) => {
            Ok(None)
        }
        _ => Err(err),
    }
}

/// Whether [`link_unnamed`] can work here: linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH
/// before Linux 6.10, otherwise it goes through /proc/self/fd, which a chroot usually lacks.
/// The capability itself is asked for, not euid 0: root in a default Docker container lacks
/// it, and an upload that could not be linked at its end would fail after all its data came.
/// Only a real procfs counts: inside a chroot, /proc/self/fd is a path in the served tree,
/// where a client can make directories and files of those names.
pub fn can_link_unnamed() -> bool {
    has_effective_capability(CAP_DAC_READ_SEARCH) || is_procfs(Path::new("/proc/self/fd"))
}

/// The capability to read any file and search any directory (capability.h).
pub const CAP_DAC_READ_SEARCH: u32 = 2;

/// Whether this process holds capability number `cap` in its effective set (capget(2)); false
/// when that cannot be told.
pub fn has_effective_capability(cap: u32) -> bool {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    // Version 3 takes two 32-bit words per set.
    let mut data = [Data::default(); 2];
    // SAFETY: `header` and the two-element `data` are what version 3 of capget(2) reads and
    // writes; pid 0 is this thread.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    let Some(word) = data.get((cap / 32) as usize) else {
        return false;
    };
    rc == 0 && word.effective & (1 << (cap % 32)) != 0
}

/// Gives the unnamed file `file` (from [`open_unnamed`]) the name `name` in `dir`; fails with
/// `AlreadyExists` if the name is taken (linkat never replaces).
pub fn link_unnamed(file: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let name = c_name(name)?;
    // SAFETY: the empty path and `name` are valid C strings; both descriptors are open.
    let rc = unsafe {
        libc::linkat(
            file.as_raw_fd(),
            c"".as_ptr(),
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(libc::ENOENT) | Some(libc::EPERM)) {
        return Err(err);
    }
    // Without CAP_DAC_READ_SEARCH: the same through the descriptor's /proc link, on a real
    // procfs only (root need not hold that capability, as in a container, and inside a chroot
    // /proc/self/fd/N would be a file in DIR that a client made: linked instead of the upload).
    if !is_procfs(Path::new("/proc/self/fd")) {
        return Err(err);
    }
    let proc_path = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: as above.
    check(unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            proc_path.as_ptr(),
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    })
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (any process may) and returns the soft
/// limit now in force. A server of many sessions needs descriptors; the usual soft default of
/// 1024 is a compatibility value for select(2), which tinyftpd does not use.
pub fn raise_descriptor_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit.
    check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) })?;
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: `raised` is an initialised rlimit; the soft limit may go up to the hard one.
        check(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) })?;
        limit = raised;
    }
    // rlim_t is 32 bits on some 32-bit targets.
    #[allow(clippy::useless_conversion)]
    Ok(u64::from(limit.rlim_cur))
}

/// Whether `path` is on a proc file system (statfs(2) f_type PROC_SUPER_MAGIC): no client
/// upload can be one.
pub fn is_procfs(path: &Path) -> bool {
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mut st = MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `c_path` is a valid C string and `st` has room for a statfs.
    if unsafe { libc::statfs(c_path.as_ptr(), st.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: statfs returned success, so `st` is initialised.
    let st = unsafe { st.assume_init() };
    // f_type's width differs between libcs and targets.
    #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
    let kind = st.f_type as i64;
    kind == PROC_SUPER_MAGIC
}

/// One getdents64(2) call on `dir` into `buf` (retried on EINTR): the bytes of records it
/// wrote, 0 at the end of the directory.
pub fn getdents(dir: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for writes of its length; the descriptor is open.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn connect_from_a_chosen_port_twice() {
        let target = TcpListener::bind("127.0.0.1:0").unwrap();
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        let local = probe.local_addr().unwrap();
        drop(probe);
        for _ in 0..2 {
            let stream =
                connect_from(local, target.local_addr().unwrap(), Duration::from_secs(5)).unwrap();
            let (accepted, from) = target.accept().unwrap();
            assert_eq!(from, local);
            assert_eq!(stream.local_addr().unwrap(), local);
            // Our side closes first, as the server does after a download: the TIME_WAIT
            // state stays on the chosen port, and the next bind must still succeed.
            drop(stream);
            drop(accepted);
        }
    }

    /// A file under a lease answers EAGAIN to a non-blocking open for as long as the holder
    /// keeps it: the retry gives up after a bounded number of tries with `WouldBlock` (450)
    /// instead of spinning. (An empty non-blocking pipe stands in for the lease: its read
    /// answers EAGAIN every time.)
    #[test]
    fn busy_open_is_retried_a_bounded_number_of_times() {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        assert_eq!(
            unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) },
            0
        );
        // SAFETY: pipe2 just created both descriptors; these are their only owners.
        let (read_end, _write_end) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let mut calls = 0;
        let started = std::time::Instant::now();
        let err = retry_open(|| {
            calls += 1;
            let mut byte = 0u8;
            // SAFETY: one byte of valid, writable memory.
            unsafe {
                libc::read(read_end.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) as libc::c_long
            }
        })
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(calls, BUSY_RETRIES + 1);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    /// Root is not the same as holding CAP_DAC_READ_SEARCH (a default Docker container):
    /// capget must tell them apart. A thread that drops the capability from its effective set
    /// (capset, its own credentials only) must see it gone while euid stays 0.
    #[test]
    fn capability_check_asks_the_kernel_not_the_uid() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let eff = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
            .unwrap();
        assert_eq!(
            has_effective_capability(CAP_DAC_READ_SEARCH),
            eff & (1 << CAP_DAC_READ_SEARCH) != 0
        );
        // SAFETY: geteuid(2) cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: capability_check_asks_the_kernel_not_the_uid (drop) needs root");
            return;
        }
        let (held, root) = std::thread::spawn(|| {
            #[repr(C)]
            struct Header {
                version: u32,
                pid: libc::c_int,
            }
            let mut header = Header {
                version: 0x2008_0522,
                pid: 0,
            };
            let mut data = [[0u32; 3]; 2];
            // SAFETY: capget/capset with a version-3 header and two data words; they act on
            // this thread only, which ends right after.
            unsafe {
                assert_eq!(
                    libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()),
                    0
                );
                data[0][0] &= !(1 << CAP_DAC_READ_SEARCH);
                assert_eq!(
                    libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()),
                    0
                );
            }
            let held = has_effective_capability(CAP_DAC_READ_SEARCH);
            // SAFETY: as above.
            (held, unsafe { libc::geteuid() } == 0)
        })
        .join()
        .unwrap();
        assert!(root);
        assert!(!held, "capability reported held after it was dropped");
    }

    #[test]
    fn sockets_and_files_told_apart() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(is_socket(listener.as_raw_fd()));
        let file = File::open("/dev/null").unwrap();
        assert!(!is_socket(file.as_raw_fd()));
        assert!(same_file(file.as_raw_fd(), file.as_raw_fd()));
        assert!(!same_file(file.as_raw_fd(), listener.as_raw_fd()));
        assert!(duplicate_inherited_socket(file.as_raw_fd()).is_err());
        let dup = duplicate_inherited_socket(listener.as_raw_fd()).unwrap();
        assert!(dup.as_raw_fd() >= 3 && dup.as_raw_fd() != listener.as_raw_fd());
        assert!(same_file(dup.as_raw_fd(), listener.as_raw_fd()));
    }

    /// Audit finding: where the kernel makes tinyftpd take its `/proc/self/fd` routes (SITE
    /// CHMOD on kernels before 6.6 without fchmodat2; linking an unnamed upload as root without
    /// CAP_DAC_READ_SEARCH, as in a default Docker container, before 6.10), a `--chroot`
    /// server resolved `/proc/self/fd/N` inside DIR, where a client can make `proc/self/fd/N`:
    /// SITE CHMOD then changed that file instead of its target, and an upload's name was
    /// given to that file instead of the upload. Only a real procfs may be used. Forced here
    /// in one thread: its own root (unshare CLONE_FS + chroot into a tree with planted
    /// `proc/self/fd/0..63`) and a seccomp filter that answers fchmodat2 with ENOSYS and
    /// linkat(AT_EMPTY_PATH) with ENOENT, as those kernels do.
    #[test]
    fn proc_fd_routes_refuse_a_planted_proc_inside_a_chroot() {
        // SAFETY: geteuid(2) cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: proc_fd_routes_refuse_a_planted_proc_inside_a_chroot needs root");
            return;
        }
        let base = std::env::temp_dir().join(format!("tinyftpd-proc-plant-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let fd_dir = base.join("proc/self/fd");
        std::fs::create_dir_all(&fd_dir).unwrap();
        for n in 0..64 {
            std::fs::write(fd_dir.join(n.to_string()), b"planted").unwrap();
        }
        std::fs::write(base.join("victim"), b"victim").unwrap();
        let planted_modes = |dir: &Path| -> Vec<u32> {
            use std::os::unix::fs::PermissionsExt;
            (0..64)
                .map(|n| {
                    std::fs::metadata(dir.join(n.to_string()))
                        .unwrap()
                        .permissions()
                        .mode()
                })
                .collect()
        };
        let modes_before = planted_modes(&fd_dir);
        let chroot_to = CString::new(base.as_os_str().as_bytes()).unwrap();
        let (chmod, link) = std::thread::spawn(move || {
            // SAFETY: these calls affect only this thread (its own fs_struct after unshare, its
            // own seccomp filter and no_new_privs), which ends right after the test's calls.
            unsafe {
                assert_eq!(libc::unshare(libc::CLONE_FS), 0);
                assert_eq!(libc::chroot(chroot_to.as_ptr()), 0);
                assert_eq!(libc::chdir(c"/".as_ptr()), 0);
                let ret_errno = |e: i32| libc::SECCOMP_RET_ERRNO | e as u32;
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
                let filter = [
                    stmt(load, 0),
                    jump(SYS_FCHMODAT2 as u32, 0, 1),
                    stmt(ret, ret_errno(libc::ENOSYS)),
                    jump(libc::SYS_linkat as u32, 0, 3),
                    // The low half of args[4] (the flags) on a little-endian machine.
                    stmt(load, 16 + 4 * 8),
                    jump(libc::AT_EMPTY_PATH as u32, 0, 1),
                    stmt(ret, ret_errno(libc::ENOENT)),
                    stmt(ret, libc::SECCOMP_RET_ALLOW),
                ];
                let prog = libc::sock_fprog {
                    len: filter.len() as u16,
                    filter: filter.as_ptr() as *mut libc::sock_filter,
                };
                assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
                assert_eq!(
                    libc::syscall(
                        libc::SYS_seccomp,
                        libc::SECCOMP_SET_MODE_FILTER,
                        0,
                        &prog as *const libc::sock_fprog
                    ),
                    0
                );
            }
            let root = File::open("/").unwrap();
            let chmod = chmod_at(root.as_fd(), OsStr::new("victim"), 0o600);
            let upload = open_unnamed(root.as_fd(), 0o644).unwrap().unwrap();
            std::io::Write::write_all(&mut File::from(upload.try_clone().unwrap()), b"upload")
                .unwrap();
            let link = link_unnamed(upload.as_fd(), root.as_fd(), OsStr::new("target"));
            (chmod.is_ok(), link.is_ok())
        })
        .join()
        .unwrap();
        let changed = planted_modes(&fd_dir) != modes_before;
        let target = std::fs::read(base.join("target")).ok();
        let _ = std::fs::remove_dir_all(&base);
        assert!(
            !changed,
            "SITE CHMOD changed a planted proc/self/fd file (ok: {chmod})"
        );
        assert!(
            target.is_none() || target.as_deref() == Some(&b"upload"[..]),
            "the upload's name went to a planted file: {target:?} (ok: {link})"
        );
    }

    #[test]
    fn only_a_real_procfs_counts_as_proc() {
        assert!(is_procfs(Path::new("/proc/self/fd")));
        let planted = std::env::temp_dir().join(format!("tinyftpd-proc-{}", std::process::id()));
        std::fs::create_dir_all(planted.join("self/fd")).unwrap();
        assert!(!is_procfs(&planted.join("self/fd")));
        assert!(!is_procfs(Path::new("/no/such/path")));
        std::fs::remove_dir_all(&planted).unwrap();
    }
}

// ---- Descriptor-based file-system calls for the jail (src/jail.rs) ----

/// How often an open that a lease holder is blocking (EWOULDBLOCK on a non-blocking open) is
/// tried again, and how long to wait between tries; then the caller gets `WouldBlock` (450).
const BUSY_RETRIES: u32 = 5;
const BUSY_PAUSE: Duration = Duration::from_millis(20);

/// Runs an open-like call until it is not interrupted, retrying EAGAIN a bounded number of
/// times (a file under a lease answers EWOULDBLOCK to a non-blocking open until the holder lets
/// go, which may be never). Returns the new descriptor.
fn retry_open(mut call: impl FnMut() -> libc::c_long) -> io::Result<OwnedFd> {
    let mut busy = 0;
    loop {
        let rc = call();
        if rc >= 0 {
            let fd =
                RawFd::try_from(rc).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
            // SAFETY: a non-negative return of an open call is a new descriptor that we now own.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) if busy < BUSY_RETRIES => {
                busy += 1;
                std::thread::sleep(BUSY_PAUSE);
            }
            Some(libc::EAGAIN) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "file busy (lease held)",
                ))
            }
            _ => return Err(err),
        }
    }
}

/// openat(2) of one name (or `.`) inside the open directory `dir`; close-on-exec always. With
/// O_NOFOLLOW in `flags`, a symlink as `name` is refused (ELOOP), or with O_PATH opened itself.
pub fn open_at(dir: BorrowedFd<'_>, name: &OsStr, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let name = c_name(name)?;
    retry_open(|| {
        // SAFETY: `name` is a valid C string; `dir` is open for the call; the result is
        // checked and owned by retry_open.
        libc::c_long::from(unsafe {
            libc::openat(
                dir.as_raw_fd(),
                name.as_ptr(),
                flags | libc::O_CLOEXEC,
                mode as libc::c_uint,
            )
        })
    })
}

/// What openat2(2) below a directory made of a relative path.
#[derive(Debug)]
pub enum Beneath {
    Opened(OwnedFd),
    /// The kernel has no openat2 (or a seccomp filter refuses it).
    Unavailable,
    /// A symlink the kernel will not follow below the directory (an absolute one, one that
    /// climbs out, too many), or a path longer than PATH_MAX: the jail resolves it itself.
    NeedsWalk,
}

/// Opens `rel` below `dir` with openat2(2), following symlinks only while they stay below
/// `dir` (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS). No fallback to a path open here: on
/// [`Beneath::Unavailable`] or [`Beneath::NeedsWalk`] the jail walks the path itself.
pub fn open_beneath_following(dir: BorrowedFd<'_>, rel: &[u8], flags: i32) -> io::Result<Beneath> {
    use std::sync::atomic::Ordering;
    if OPENAT2.load(Ordering::Relaxed) == 2 {
        return Ok(Beneath::Unavailable);
    }
    let c_path = CString::new(if rel.is_empty() { b"." } else { rel })
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS,
    };
    let opened = retry_open(|| {
        // SAFETY: `c_path` is a valid C string and `how` a valid open_how of the size passed;
        // the returned descriptor, if any, is owned by retry_open.
        unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                c_path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        }
    });
    match opened {
        Ok(fd) => {
            OPENAT2.store(1, Ordering::Relaxed);
            Ok(Beneath::Opened(fd))
        }
        Err(e) => match e.raw_os_error() {
            Some(libc::ENOSYS) | Some(libc::EPERM) if OPENAT2.load(Ordering::Relaxed) == 0 => {
                OPENAT2.store(2, Ordering::Relaxed);
                Ok(Beneath::Unavailable)
            }
            // ENAMETOOLONG: the parents joined into one path pass PATH_MAX, a limit the walk
            // (one component at a time) does not have; both routes must serve the same tree.
            Some(libc::EXDEV) | Some(libc::ELOOP) | Some(libc::ENAMETOOLONG) => {
                Ok(Beneath::NeedsWalk)
            }
            _ => Err(e),
        },
    }
}

/// The parts of `struct stat` the server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    /// File type and permission bits, as `st_mode`.
    pub mode: u32,
    pub nlink: u64,
    pub size: u64,
    pub mtime: i64,
    pub dev: u64,
    pub ino: u64,
}

impl FileStat {
    fn kind(&self) -> u32 {
        self.mode & libc::S_IFMT
    }
    pub fn is_dir(&self) -> bool {
        self.kind() == libc::S_IFDIR
    }
    pub fn is_file(&self) -> bool {
        self.kind() == libc::S_IFREG
    }
    pub fn is_symlink(&self) -> bool {
        self.kind() == libc::S_IFLNK
    }
    /// The same file (device and inode) as `other`.
    pub fn same_file(&self, other: &FileStat) -> bool {
        (self.dev, self.ino) == (other.dev, other.ino)
    }
}

impl From<&libc::stat> for FileStat {
    // st_nlink is u64 on x86_64 but u32 on other Linux targets, and st_mtime is 32 bits on
    // 32-bit musl targets (armv7): widen both.
    #[allow(clippy::unnecessary_cast)]
    fn from(st: &libc::stat) -> FileStat {
        FileStat {
            mode: st.st_mode,
            nlink: st.st_nlink as u64,
            size: st.st_size as u64,
            mtime: st.st_mtime as i64,
            dev: st.st_dev,
            ino: st.st_ino,
        }
    }
}

/// fstat(2) of an open descriptor (an O_PATH one too).
pub fn stat_fd(fd: BorrowedFd<'_>) -> io::Result<FileStat> {
    fstat(fd.as_raw_fd()).map(|st| FileStat::from(&st))
}

/// fstatat(2) of `name` in `dir`, never following a symlink there (AT_SYMLINK_NOFOLLOW).
pub fn stat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<FileStat> {
    let name = c_name(name)?;
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is a valid C string, `st` is valid for writes of one `struct stat`.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    check(rc)?;
    // SAFETY: fstatat returned 0, so it filled in the whole struct.
    Ok(FileStat::from(&unsafe { st.assume_init() }))
}

/// The target of the symlink that `link` (opened O_PATH | O_NOFOLLOW) is: readlinkat(2) with an
/// empty path reads the link the descriptor holds, so no name is looked up again.
pub fn read_link_fd(link: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: `buf` is valid for writes of its length; the path is an empty C string.
        let rc = unsafe {
            libc::readlinkat(
                link.as_raw_fd(),
                c"".as_ptr(),
                buf.as_mut_ptr() as *mut libc::c_char,
                buf.len(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = rc as usize;
        if n < buf.len() {
            buf.truncate(n);
            return Ok(buf);
        }
        // Possibly cut short: try again with more room (a target is at most PATH_MAX).
        if buf.len() >= 1 << 16 {
            return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
        }
        buf.resize(buf.len() * 4, 0);
    }
}

/// Sets the modification time of `name` in `dir` (the access time is left alone), never
/// following a symlink there and without opening the file.
// time_t is i64 here but i32 on 32-bit musl targets: the conversion is not useless there.
#[allow(clippy::useless_conversion)]
pub fn set_mtime_at(dir: BorrowedFd<'_>, name: &OsStr, mtime: i64) -> io::Result<()> {
    let name = c_name(name)?;
    let times = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            // 32 bits on 32-bit musl targets: a time that does not fit is refused, not wrapped.
            tv_sec: mtime
                .try_into()
                .map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?,
            tv_nsec: 0,
        },
    ];
    // SAFETY: `name` is a valid C string and `times` an array of two timespecs.
    check(unsafe {
        libc::utimensat(
            dir.as_raw_fd(),
            name.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
}

/// fchmodat2(2), Linux 6.6+ (the libc crate does not name it yet).
const SYS_FCHMODAT2: libc::c_long = 452;

/// Sets the permission bits of `name` in `dir` without opening it and without following a
/// symlink there: fchmodat2(AT_SYMLINK_NOFOLLOW) where the kernel has it; else through
/// /proc/self/fd of an O_PATH descriptor of the entry (what glibc does), after checking that it
/// is no symlink; else refused (`Unsupported`) rather than chmod by a name that may be swapped.
pub fn chmod_at(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<()> {
    let c = c_name(name)?;
    // SAFETY: `c` is a valid C string; the other arguments are integers.
    let rc = unsafe {
        libc::syscall(
            SYS_FCHMODAT2,
            dir.as_raw_fd(),
            c.as_ptr(),
            mode as libc::mode_t,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) {
        return Err(err);
    }
    let entry = open_at(dir, name, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
    if stat_fd(entry.as_fd())?.is_symlink() {
        return Err(io::Error::from(io::ErrorKind::Unsupported));
    }
    let proc_path = format!("/proc/self/fd/{}", entry.as_raw_fd());
    // A real procfs only: inside a chroot /proc/self/fd is a path in DIR, where a client can
    // make directories and a file of that name, which the chmod would then change instead.
    if !is_procfs(Path::new("/proc/self/fd")) {
        return Err(io::Error::from(io::ErrorKind::Unsupported));
    }
    let proc_path =
        CString::new(proc_path).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `proc_path` is a valid C string; it names the descriptor we hold, whose type was
    // checked above, so the chmod reaches that very file.
    check(unsafe { libc::chmod(proc_path.as_ptr(), mode as libc::mode_t) })
}
