//! SIGTERM, SIGINT and SIGHUP, received synchronously by one thread with sigwait(2), so no
//! code runs in a signal handler. All libc use for signals lives here.

use std::io;
use std::mem::MaybeUninit;

/// What a signal asks the server to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT: stop accepting, finish transfers within the grace period, exit 0.
    Terminate,
    /// SIGHUP: re-read `--users FILE` (and reopen logs).
    Reload,
}

fn handled_set() -> io::Result<libc::sigset_t> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set before sigaddset reads it; both get a valid pointer.
    unsafe {
        if libc::sigemptyset(set.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            if libc::sigaddset(set.as_mut_ptr(), sig) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(set.assume_init())
    }
}

/// Blocks the three signals in the calling thread and in every thread it spawns afterwards, so
/// only [`wait`] receives them. Call it before any thread is spawned.
pub fn block() -> io::Result<()> {
    let set = handled_set()?;
    // SAFETY: `set` is an initialised sigset_t; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Waits for the next of the blocked signals.
pub fn wait() -> io::Result<Signal> {
    let set = handled_set()?;
    loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` is initialised and `sig` is a valid place for the result.
        let rc = unsafe { libc::sigwait(&set, &mut sig) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        match sig {
            libc::SIGHUP => return Ok(Signal::Reload),
            libc::SIGTERM | libc::SIGINT => return Ok(Signal::Terminate),
            _ => continue,
        }
    }
}
