//! Dropping root: `--chroot` and `--run-as USER`, after the port is bound and before any client
//! is served. All libc use for users and ids lives here.
//!
//! The drop is split in two on purpose. [`lookup`] asks the host's user and group databases
//! (NSS: /etc/nsswitch.conf, /etc/passwd, /etc/group, libnss_*.so) and must run before the
//! chroot. [`become_user`] only makes system calls (setgroups, setgid, setuid) and is safe
//! after it. Inside the chroot those database paths name files in the served tree, which a
//! client may have uploaded: a lookup there (initgroups, getpwnam, getgrnam) would let an
//! uploaded etc/group choose the server's groups, or an uploaded NSS module run as root.

use std::ffi::{CStr, CString};
use std::io;
use std::path::Path;

/// A user's ids, looked up before any chroot (the passwd and group databases live outside it).
#[derive(Debug, Clone)]
pub struct Identity {
    pub name: CString,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    /// Supplementary groups (the primary group included), as initgroups(3) would set them.
    pub groups: Vec<libc::gid_t>,
}

/// More supplementary groups than Linux allows (NGROUPS_MAX is 65536); a bigger answer from
/// getgrouplist is taken as an error rather than grown into.
const MAX_GROUPS: usize = 65536;

pub fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// Looks a user up in the passwd database, and the user's groups in the group database. Call
/// it before any chroot.
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
    let groups = group_list(&name, pwd.pw_gid)?;
    Ok(Identity {
        name,
        uid: pwd.pw_uid,
        gid: pwd.pw_gid,
        groups,
    })
}

/// getgrouplist(3): the groups `name` belongs to, `gid` included, growing the buffer until the
/// whole list fits.
fn group_list(name: &CString, gid: libc::gid_t) -> io::Result<Vec<libc::gid_t>> {
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut count = libc::c_int::try_from(groups.len()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `name` is a valid C string and `groups` has room for `count` entries; on
        // success getgrouplist writes `count` entries, on -1 it stores the count needed.
        let rc = unsafe {
            libc::getgrouplist(
                name.as_ptr(),
                gid as _,
                groups.as_mut_ptr() as *mut _,
                &mut count,
            )
        };
        let count = usize::try_from(count).unwrap_or(0);
        if rc >= 0 {
            groups.truncate(count);
            return Ok(groups);
        }
        // Some libcs report the size needed, others only failure: at least double.
        let wanted = count.max(groups.len() * 2);
        if wanted > MAX_GROUPS {
            return Err(io::Error::other("too many supplementary groups"));
        }
        groups.resize(wanted, 0);
    }
}

/// chroot(2) into `dir` and make it the working directory. std's `chroot` covers the first
/// half; the chdir makes sure no directory outside stays reachable through the cwd.
pub fn chroot(dir: &Path) -> io::Result<()> {
    std::os::unix::fs::chroot(dir)?;
    std::env::set_current_dir("/")
}

/// Becomes `who`: supplementary groups, then gid, then uid (the only safe order: after setuid
/// the process may no longer change its groups). Then checks that root cannot be regained.
///
/// System calls only, with the ids [`lookup`] found before the chroot: nothing here (and
/// nothing after it) may look a name up, because after the chroot the databases would be
/// read from the served tree.
pub fn become_user(who: &Identity) -> io::Result<()> {
    let check = |rc: libc::c_int| {
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    // SAFETY: `who.groups` is a live slice of exactly the length passed; the ids are plain
    // integers. setgroups(2) is the raw system call here: no database is read.
    unsafe {
        check(libc::setgroups(who.groups.len(), who.groups.as_ptr()))?;
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

    #[test]
    fn group_list_holds_the_primary_group() {
        let root = lookup("root").unwrap();
        assert!(root.groups.contains(&0), "{:?}", root.groups);
        assert!(group_list(&root.name, 4242).unwrap().contains(&4242));
    }
}
