//! Giving back the stack pages of a session thread that a deep call touched and that an idle
//! session no longer uses. A page of a thread stack stays resident once touched, so without this
//! an idle session would keep paying for the deepest command it ever ran (a login's hashing, a
//! listing). Only the part of this thread's own stack mapping below the current stack pointer
//! (minus a margin) is released: nothing live is there, and a later call that goes deep again
//! gets fresh zeroed pages, as on a new stack.

use std::ffi::c_void;
use std::mem::MaybeUninit;

/// How far below this module's own frame the release stops: more than the frames of the
/// madvise(2) call it makes (a few words), rounded down to a page boundary on top.
const MARGIN: usize = 256;

/// The stack of the calling thread, when it is a thread whose stack may be trimmed.
#[derive(Debug, Clone, Copy)]
pub struct ThreadStack {
    /// Lowest address of the usable stack (above its guard page).
    low: usize,
    /// One past the highest address.
    high: usize,
    page: usize,
}

impl ThreadStack {
    /// The calling thread's stack. `None` on the process's main thread (under `--inetd` the
    /// session runs there): its stack is the kernel's growing mapping, whose bounds libc only
    /// estimates, so nothing below it is released.
    pub fn current() -> Option<ThreadStack> {
        // SAFETY: getpid and the gettid system call have no preconditions. (The system call
        // rather than libc's gettid(3): the static musl build links that name to nothing.)
        if unsafe { libc::syscall(libc::SYS_gettid) == libc::c_long::from(libc::getpid()) } {
            return None;
        }
        let (low, size) = own_stack_bounds()?;
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
        (page.is_power_of_two() && size > 0).then_some(ThreadStack {
            low,
            high: low.checked_add(size)?,
            page,
        })
    }

    /// Releases the pages of this stack below the caller's frame. Must be called on the
    /// thread this stack belongs to; on any other thread it does nothing. Returns the bytes
    /// released (resident or not).
    #[inline(never)]
    pub fn release_below_caller(&self) -> usize {
        let here = 0u8;
        let sp = std::hint::black_box(&here) as *const u8 as usize;
        if sp < self.low || sp >= self.high {
            return 0;
        }
        let end = sp.saturating_sub(MARGIN) & !(self.page - 1);
        if end <= self.low {
            return 0;
        }
        let len = end - self.low;
        // SAFETY: [low, end) lies in this thread's own stack mapping (the check above: the
        // caller's frame is in [low, high), so this is the thread the stack belongs to) and
        // entirely below the live frames: the stack grows down, and `end` is at least MARGIN
        // below this function's own local, which is further than the madvise call's frames
        // reach. Signal handlers push their frames only after the call returns. Nothing points
        // into the range, so MADV_DONTNEED (the next touch gets a zeroed page) loses no data.
        let rc = unsafe { libc::madvise(self.low as *mut c_void, len, libc::MADV_DONTNEED) };
        if rc == 0 {
            len
        } else {
            0
        }
    }

    /// How many pages of this stack are resident.
    #[cfg(test)]
    pub fn resident_pages(&self) -> Option<usize> {
        let pages = (self.high - self.low).div_ceil(self.page);
        let mut vec = vec![0u8; pages];
        let start = self.low & !(self.page - 1);
        // SAFETY: [start, high) is this thread's stack mapping (page-aligned start) and `vec`
        // has one byte per page of it, as mincore(2) writes.
        let rc =
            unsafe { libc::mincore(start as *mut c_void, self.high - start, vec.as_mut_ptr()) };
        (rc == 0).then(|| vec.iter().filter(|&&b| b & 1 != 0).count())
    }
}

/// Lowest address and size of the calling thread's stack, from pthread_getattr_np(3).
fn own_stack_bounds() -> Option<(usize, usize)> {
    let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: pthread_self has no preconditions; pthread_getattr_np initialises `attr` when
    // it returns 0, and only then is it read and destroyed.
    if unsafe { libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) } != 0 {
        return None;
    }
    let mut addr: *mut c_void = std::ptr::null_mut();
    let mut size: libc::size_t = 0;
    // SAFETY: `attr` was initialised above; addr and size are valid out-pointers.
    let rc = unsafe { libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size) };
    // SAFETY: `attr` was initialised by pthread_getattr_np and is destroyed once.
    unsafe { libc::pthread_attr_destroy(attr.as_mut_ptr()) };
    (rc == 0 && !addr.is_null()).then_some((addr as usize, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Touches about `bytes` of stack, one byte per page, and returns a checksum so the
    /// frames are not optimised away.
    #[inline(never)]
    fn go_deep(bytes: usize) -> u64 {
        let mut block = [0u8; 4096];
        block[0] = 1;
        let block = std::hint::black_box(&mut block);
        let below = if bytes > 4096 {
            go_deep(bytes - 4096)
        } else {
            0
        };
        block[0] as u64 + below
    }

    fn on_small_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn pages_touched_by_a_deep_call_are_released_and_reusable() {
        let (before, after, again, sum) = on_small_thread(|| {
            let stack = ThreadStack::current().expect("a spawned thread's stack");
            let sum = go_deep(128 * 1024);
            let before = stack.resident_pages().unwrap();
            assert!(stack.release_below_caller() > 0);
            let after = stack.resident_pages().unwrap();
            // The same depth again works on the fresh pages.
            let again = go_deep(128 * 1024);
            (before, after, again, sum)
        });
        assert!(
            before >= 32,
            "{before} pages resident after going 128 KiB deep"
        );
        assert!(after <= 4, "{after} pages resident after the release");
        assert_eq!(sum, again);
    }

    #[test]
    fn another_threads_stack_is_left_alone() {
        let stack = on_small_thread(|| ThreadStack::current().unwrap());
        // Called from this thread, whose frame is not in `stack`: nothing happens (the other
        // thread has ended; its mapping may already be gone or reused).
        assert_eq!(stack.release_below_caller(), 0);
    }
}
