//! Dropping root: `--chroot` and `--run-as USER`, after the port is bound and before any client
//! is served. All libc use for users and ids lives here.

use std::ffi::{CStr, CString};
use std::io;
use std::path::Path;

/// A user's ids, looked up before any chroot (the passwd database lives outside it).
#[derive(Debug, Clone)]
pub struct Identity {
    pub name: CString,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
}

pub fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// Looks a user up in the passwd database.
pub fn lookup(user: &str) -> io::Result<Identity> {
    let name = CString::new(user)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "user name contains NUL"))?;
    let mut pwd = std::mem::MaybeUninit::<libc::passwd>::uninit();
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; getpwnam_r writes into `pwd` and `buf` only.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            pwd.as_mut_ptr(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    if result.is_null() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no such user: {user}"),
        ));
    }
    // SAFETY: getpwnam_r returned success with a non-null result, so `pwd` is initialised.
    let pwd = unsafe { pwd.assume_init() };
    Ok(Identity {
        name,
        uid: pwd.pw_uid,
        gid: pwd.pw_gid,
    })
}

/// chroot(2) into `dir` and make it the working directory. std's `chroot` covers the first
/// half; the chdir makes sure no directory outside stays reachable through the cwd.
pub fn chroot(dir: &Path) -> io::Result<()> {
    std::os::unix::fs::chroot(dir)?;
    std::env::set_current_dir("/")
}

/// Becomes `who`: supplementary groups, then gid, then uid (the only safe order: after setuid
/// the process may no longer change its groups). Then checks that root cannot be regained.
pub fn become_user(who: &Identity) -> io::Result<()> {
    let check = |rc: libc::c_int| {
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    // SAFETY: `who.name` is a valid C string; the ids are plain integers.
    unsafe {
        check(libc::initgroups(who.name.as_ptr(), who.gid as _))?;
        check(libc::setgid(who.gid))?;
        check(libc::setuid(who.uid))?;
    }
    // SAFETY: as above; this call must fail now.
    if who.uid != 0 && unsafe { libc::setuid(0) } == 0 {
        return Err(io::Error::other(
            "privileges could be regained after dropping them",
        ));
    }
    Ok(())
}

/// For log lines: the user name as text.
pub fn name_of(who: &Identity) -> String {
    CStr::to_string_lossy(&who.name).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_in_passwd_and_unknown_users_are_not() {
        assert_eq!(lookup("root").unwrap().uid, 0);
        assert!(lookup("no-such-user-tinyftpd").is_err());
    }
}
