//! `tinyftpd::jail`: `VirtualPath::join` and `Jail::resolve` / `Jail::resolve_entry` against a
//! small fixed tree with symlinks that stay inside and symlinks that lead out.
//!
//! Input layout: `[n] [cwd: n bytes] [path...]`. The cwd is joined onto `/`, the path onto the cwd
//! (as a session does with CWD and then, say, RETR), and the result is resolved both ways.
//!
//! Properties, beyond "never panics":
//! - `join` fails with `Nul` exactly when the argument holds a NUL byte, otherwise with `Reserved`
//!   only when a component names an upload temporary;
//! - `to_bytes()` starts with `/`, has no empty, `.` or `..` component (so never `/../` and no
//!   trailing `/..`) and no trailing `/` (except for `/` itself); joining it onto `/` gives the
//!   same path back; a relative join equals joining `cwd + "/" + path` onto `/`;
//! - `resolve`: an Ok result is the very object (device and inode) the kernel reaches at the
//!   host path, and that lies inside the root; a refusal (`PermissionDenied`) happens only when
//!   the real target lies outside or the path passes outside on the way (a prefix of it leads
//!   out: the jail does not let a path leave the root and come back);
//! - `resolve_entry`: the root is refused; an Ok result's held directory is the object the
//!   kernel reaches at the parent path, inside the root, and its name is the last virtual
//!   component; when the entry exists and is not a symlink its canonical path starts with the
//!   canonical root. An entry that is itself a symlink leading out is by design returned as the
//!   link (DELE deletes the link, RNFR renames it), so only its parent is checked, plus that
//!   `resolve` of the same path refuses it.
#![no_main]

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tinyftpd::jail::{Jail, PathError, VirtualPath, RESERVED_PREFIX};

struct Tree {
    jail: Jail,
    /// The canonical served directory.
    root: PathBuf,
}

/// Builds, once per process:
///
/// ```text
/// <tmp>/tinyftpd-fuzz-jail-<pid>/
///   outside/secret.txt, outside/odir/
///   root_link -> root                 (the jail is opened through this, so it must canonicalize)
///   root/
///     file.txt  .hidden  a b  caf\xE9
///     dir/sub/deep.txt
///     dir/in_link -> sub              inside, relative
///     dir/up -> ..                    inside (the root)
///     dir/upup -> ../..               outside
///     to_root -> /                    outside
///     parent -> ..                    outside
///     abs_out -> <tmp>/.../outside    outside, absolute
///     abs_out_file -> .../secret.txt  outside, absolute, a file
///     abs_in -> <tmp>/.../root/dir    inside, absolute
///     chain -> dir/in_link            inside through two links
///     chain_out -> parent/outside     outside through a link
///     dangling -> nowhere
///     self_loop -> self_loop
/// ```
fn tree() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("tinyftpd-fuzz-jail-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let root = base.join("root");
        let outside = base.join("outside");
        fs::create_dir_all(root.join("dir/sub")).unwrap();
        fs::create_dir_all(outside.join("odir")).unwrap();
        fs::write(outside.join("secret.txt"), b"secret").unwrap();
        for file in ["file.txt", ".hidden", "a b", "dir/sub/deep.txt"] {
            fs::write(root.join(file), b"x").unwrap();
        }
        fs::write(root.join(std::ffi::OsStr::from_bytes(b"caf\xE9")), b"x").unwrap();
        symlink("root", base.join("root_link")).unwrap();
        let links: [(&str, PathBuf); 12] = [
            ("dir/in_link", "sub".into()),
            ("dir/up", "..".into()),
            ("dir/upup", "../..".into()),
            ("to_root", "/".into()),
            ("parent", "..".into()),
            ("abs_out", outside.clone()),
            ("abs_out_file", outside.join("secret.txt")),
            ("abs_in", root.join("dir")),
            ("chain", "dir/in_link".into()),
            ("chain_out", "parent/outside".into()),
            ("dangling", "nowhere".into()),
            ("self_loop", "self_loop".into()),
        ];
        for (name, target) in links {
            symlink(target, root.join(name)).unwrap();
        }
        let jail = Jail::new(&base.join("root_link")).unwrap();
        let root = fs::canonicalize(&root).unwrap();
        assert_eq!(jail.root(), root);
        Tree { jail, root }
    })
}

fn check_join(cwd: &VirtualPath, arg: &[u8]) -> Option<VirtualPath> {
    let result = cwd.join(arg);
    let reserved = arg
        .split(|&b| b == b'/')
        .any(|c| c.starts_with(RESERVED_PREFIX));
    match &result {
        Err(PathError::Nul) => assert!(arg.contains(&0), "Nul without a NUL byte"),
        Err(PathError::Reserved) => {
            assert!(!arg.contains(&0), "NUL not reported first");
            assert!(reserved, "Reserved without a reserved component");
        }
        Ok(_) => assert!(!arg.contains(&0) && !reserved, "bad argument accepted"),
    }
    let vp = result.ok()?;
    check_virtual(&vp);
    if arg.first() != Some(&b'/') {
        let mut long = cwd.to_bytes();
        long.push(b'/');
        long.extend_from_slice(arg);
        assert_eq!(
            VirtualPath::root().join(&long).as_ref(),
            Ok(&vp),
            "relative join differs from the joined absolute path"
        );
    }
    Some(vp)
}

fn check_virtual(vp: &VirtualPath) {
    let bytes = vp.to_bytes();
    assert_eq!(bytes.first(), Some(&b'/'), "{bytes:?}");
    assert!(!bytes.contains(&0));
    if bytes != b"/" {
        for component in bytes[1..].split(|&b| b == b'/') {
            assert!(
                !matches!(component, b"" | b"." | b".."),
                "component {component:?} in {bytes:?}"
            );
            assert!(!component.starts_with(RESERVED_PREFIX));
        }
    }
    assert_eq!(vp.is_root(), bytes == b"/");
    assert_eq!(
        VirtualPath::root().join(&bytes).as_ref(),
        Ok(vp),
        "printed path does not join back to itself"
    );
}

fn host_of(root: &Path, vp: &VirtualPath) -> PathBuf {
    let bytes = vp.to_bytes();
    root.join(std::ffi::OsStr::from_bytes(&bytes[1..]))
}

fn same_object(stat: &tinyftpd::sys::FileStat, path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == (stat.dev, stat.ino))
}

/// Whether some prefix of `vp` (the whole path included) resolves, by the kernel, outside the
/// root.
fn passes_outside(t: &Tree, vp: &VirtualPath) -> bool {
    let bytes = vp.to_bytes();
    let mut prefix = VirtualPath::root();
    for component in bytes[1..].split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        prefix = prefix.join(component).expect("a component of a valid path");
        if fs::canonicalize(host_of(&t.root, &prefix)).is_ok_and(|real| !real.starts_with(&t.root))
        {
            return true;
        }
    }
    false
}

fn check_resolve(t: &Tree, vp: &VirtualPath) {
    match t.jail.resolve(vp) {
        Ok(j) => {
            let real =
                fs::canonicalize(host_of(&t.root, vp)).expect("resolved what the kernel cannot");
            assert!(real.starts_with(&t.root), "escaped: {real:?}");
            assert!(
                same_object(&j.stat().unwrap(), &real),
                "another object than {real:?}"
            );
            assert_eq!(j.virtual_path(), vp);
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            assert!(passes_outside(t, vp), "refused an inside path {vp:?}");
        }
        Err(_) => {}
    }
}

fn check_resolve_entry(t: &Tree, vp: &VirtualPath) {
    let result = t.jail.resolve_entry(vp);
    if vp.is_root() {
        assert!(result.is_err(), "the root itself as an entry");
        return;
    }
    let Ok(j) = result else { return };
    let real_parent = fs::canonicalize(host_of(&t.root, &vp.parent())).expect("parent resolves");
    assert!(
        real_parent.starts_with(&t.root),
        "parent escaped: {real_parent:?}"
    );
    assert!(
        same_object(&j.parent_stat().unwrap(), &real_parent),
        "another parent than {real_parent:?}"
    );
    assert_eq!(
        j.entry_name().as_bytes(),
        vp.file_name(),
        "entry name differs from the virtual name"
    );
    let host = real_parent.join(j.entry_name());
    match fs::symlink_metadata(&host) {
        Ok(meta) if meta.file_type().is_symlink() => {
            let leads_out = fs::canonicalize(&host).is_ok_and(|real| !real.starts_with(&t.root));
            if leads_out {
                assert!(t.jail.resolve(vp).is_err(), "resolve follows a link out");
            }
        }
        Ok(_) => {
            let real = fs::canonicalize(&host).unwrap();
            assert!(real.starts_with(&t.root), "entry escaped: {real:?}");
        }
        Err(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (cwd_arg, path_arg) = rest.split_at(usize::from(n).min(rest.len()));
    let t = tree();
    let Some(cwd) = check_join(&VirtualPath::root(), cwd_arg) else {
        return;
    };
    let Some(vp) = check_join(&cwd, path_arg) else {
        return;
    };
    check_resolve(t, &cwd);
    check_resolve(t, &vp);
    check_resolve_entry(t, &vp);
});
