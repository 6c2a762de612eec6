//! splice(2) through a pipe: an upload's bytes go from the socket into a pipe and from the pipe
//! into the file without being copied through user space (read + write copies every byte
//! twice; socket -> pipe -> file once, into the page cache).

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A pipe used only as the kernel's buffer between a socket and a file. Both ends are ours and
/// close with it.
pub struct Pipe {
    read: File,
    write: OwnedFd,
    capacity: usize,
}

impl Pipe {
    /// A new pipe (close-on-exec), grown to `size` bytes where the kernel allows it
    /// (F_SETPIPE_SZ; an unprivileged process gets at most /proc/sys/fs/pipe-max-size). A pipe
    /// that cannot grow keeps its default size, which only means more splice calls.
    pub fn new(size: usize) -> io::Result<Pipe> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2 writes two descriptors into the array we pass, which has room for two.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both descriptors are open and nobody else owns them.
        let (read, write) = unsafe { (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let wanted = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
        // SAFETY: F_SETPIPE_SZ and F_GETPIPE_SZ take an int and touch no memory of ours.
        let mut got = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, wanted) };
        if got < 0 {
            // SAFETY: as above.
            got = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ) };
        }
        let capacity = usize::try_from(got).unwrap_or(0).max(libc::PIPE_BUF);
        Ok(Pipe {
            read,
            write,
            capacity,
        })
    }

    /// How many bytes the pipe holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Moves up to `len` bytes from `socket` into the (empty) pipe; 0 at the end of the stream.
    /// Blocks like a read of the socket (its receive timeout applies).
    pub fn fill_from(&self, socket: &impl AsRawFd, len: usize) -> io::Result<usize> {
        splice(socket.as_raw_fd(), self.write.as_raw_fd(), len)
    }

    /// Moves up to `len` bytes from the pipe to `file` at its current position (advanced).
    pub fn drain_to(&self, file: &File, len: usize) -> io::Result<usize> {
        splice(self.read.as_raw_fd(), file.as_raw_fd(), len)
    }

    /// The pipe's read end, to take bytes out by read(2) where a file refuses splice.
    pub fn reader(&self) -> &File {
        &self.read
    }
}

/// splice(2) between two descriptors at their own offsets, retried on EINTR.
fn splice(from: libc::c_int, to: libc::c_int, len: usize) -> io::Result<usize> {
    loop {
        // SAFETY: both descriptors are open for the call (owned or borrowed by the caller);
        // null offsets make the kernel use and advance the descriptors' own positions.
        let rc = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_MOVE,
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
