//! The path jail: the only place where a client's path becomes a host path.
//!
//! The session keeps a [`VirtualPath`] (what the client sees: normalised, absolute, never above
//! `/`). Only [`Jail::resolve`] and [`Jail::resolve_entry`] make a [`JailedPath`] (what the disk
//! sees), and every file-system call in the crate takes one, so the compiler shows that no handler
//! touches an unresolved path.
//!
//! Symlink policy: a link whose target (after following every link on the way) stays inside the
//! served directory works like its target; a link that leads outside is refused as if it did not
//! exist, and listings leave it out. The host path never appears in a reply.
//!
//! What remains: the check (canonicalize) and the use (open) are two system calls, so a local user
//! who can swap a directory for a symlink between them could win a race. Clients cannot create
//! symlinks over FTP, so this needs a local account on the box.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Files whose name starts with this are upload temporaries: hidden from listings, and a client
/// can neither name nor create them.
pub const RESERVED_PREFIX: &[u8] = b".tinyftpd-upload.";

/// A normalised absolute path as the client sees it, kept as bytes (names need not be UTF-8).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VirtualPath {
    components: Vec<Vec<u8>>,
}

/// Why a client's path cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path holds a NUL byte, which no Unix path can contain.
    Nul,
    /// The path names an upload temporary.
    Reserved,
}

impl VirtualPath {
    pub fn root() -> VirtualPath {
        VirtualPath::default()
    }

    /// The path `arg` names when the client's working directory is `self`. `..` never climbs
    /// above `/`; `.` and empty components are dropped. A backslash is an ordinary name byte,
    /// as on every Unix file system (so `..\..` is one odd name, not a way up).
    pub fn join(&self, arg: &[u8]) -> Result<VirtualPath, PathError> {
        if arg.contains(&0) {
            return Err(PathError::Nul);
        }
        let mut components = if arg.first() == Some(&b'/') {
            Vec::new()
        } else {
            self.components.clone()
        };
        for part in arg.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    components.pop();
                }
                name if name.starts_with(RESERVED_PREFIX) => return Err(PathError::Reserved),
                name => components.push(name.to_vec()),
            }
        }
        Ok(VirtualPath { components })
    }

    pub fn parent(&self) -> VirtualPath {
        let mut components = self.components.clone();
        components.pop();
        VirtualPath { components }
    }

    pub fn is_root(&self) -> bool {
        self.components.is_empty()
    }

    /// The last component, or `/` for the root.
    pub fn file_name(&self) -> &[u8] {
        self.components.last().map_or(b"/", Vec::as_slice)
    }

    /// The path as the client sees it: `/`, `/sub`, `/sub/file`.
    pub fn to_bytes(&self) -> Vec<u8> {
        if self.components.is_empty() {
            return b"/".to_vec();
        }
        let mut out = Vec::new();
        for c in &self.components {
            out.push(b'/');
            out.extend_from_slice(c);
        }
        out
    }

    fn relative_host_path(&self) -> PathBuf {
        self.components
            .iter()
            .map(|c| OsStr::from_bytes(c))
            .collect()
    }
}

/// A host path that the jail has checked lies inside the served directory.
#[derive(Debug, Clone)]
pub struct JailedPath {
    host: PathBuf,
    virtual_path: VirtualPath,
}

impl JailedPath {
    /// The path to hand to the file system. Never put it in a reply.
    pub fn host(&self) -> &Path {
        &self.host
    }

    pub fn virtual_path(&self) -> &VirtualPath {
        &self.virtual_path
    }

    /// An entry inside this directory, resolved without following it (for listings).
    pub fn child(&self, name: &OsStr) -> JailedPath {
        let mut virtual_path = self.virtual_path.clone();
        virtual_path.components.push(name.as_bytes().to_vec());
        JailedPath {
            host: self.host.join(name),
            virtual_path,
        }
    }
}

/// The served directory.
#[derive(Debug, Clone)]
pub struct Jail {
    root: PathBuf,
}

impl Jail {
    /// `root` must exist; it is canonicalized once so that later checks compare real paths.
    pub fn new(root: &Path) -> io::Result<Jail> {
        Ok(Jail {
            root: fs::canonicalize(root)?,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves a path following every symlink, for commands that use what the path points at
    /// (RETR, CWD, LIST, SIZE). Refused (`PermissionDenied`) when the result leaves the jail.
    pub fn resolve(&self, path: &VirtualPath) -> io::Result<JailedPath> {
        let real = fs::canonicalize(self.root.join(path.relative_host_path()))?;
        self.inside(real, path)
    }

    /// Resolves a path to a directory entry without following the last component, for commands
    /// that act on the entry itself (STOR, DELE, RNFR/RNTO, MKD, RMD): deleting a symlink deletes
    /// the link, not its target. The parent directory must exist and lie inside the jail.
    pub fn resolve_entry(&self, path: &VirtualPath) -> io::Result<JailedPath> {
        if path.is_root() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the root itself",
            ));
        }
        let parent = self.resolve(&path.parent())?;
        let name = OsStr::from_bytes(path.file_name());
        Ok(JailedPath {
            host: parent.host.join(name),
            virtual_path: path.clone(),
        })
    }

    /// Resolves a path for writing into a file in place (APPE, REST+STOR), where the open
    /// follows a symlink: an existing entry is resolved like [`Jail::resolve`] (so a link out of
    /// the jail is refused), a missing one like [`Jail::resolve_entry`]. A dangling link is
    /// refused too, since opening it to create would create its target, wherever that is.
    pub fn resolve_in_place(&self, path: &VirtualPath) -> io::Result<JailedPath> {
        let entry = self.resolve_entry(path)?;
        match fs::symlink_metadata(entry.host()) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(entry),
            Err(e) => Err(e),
            Ok(_) => self.resolve(path),
        }
    }

    /// For listings: where a symlink entry points, when its target resolves inside the jail;
    /// `None` when it leads outside or nowhere. A relative target is shown as the link holds it;
    /// an absolute one names a host path, so it is shown as the virtual path it resolves to.
    pub fn link_target_inside(&self, link: &JailedPath) -> Option<OsString> {
        let real = fs::canonicalize(link.host()).ok()?;
        let inside = real.strip_prefix(&self.root).ok()?;
        let target = fs::read_link(link.host()).ok()?;
        if target.is_relative() {
            return Some(target.into_os_string());
        }
        Some(Path::new("/").join(inside).into_os_string())
    }

    /// True when the entry's target (following links) lies inside the jail.
    pub fn follows_inside(&self, entry: &JailedPath) -> bool {
        fs::canonicalize(entry.host()).is_ok_and(|real| real.starts_with(&self.root))
    }

    fn inside(&self, real: PathBuf, path: &VirtualPath) -> io::Result<JailedPath> {
        if real.starts_with(&self.root) {
            Ok(JailedPath {
                host: real,
                virtual_path: path.clone(),
            })
        } else {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "outside the served directory",
            ))
        }
    }
}

/// A name from a directory entry as bytes (for replies and listings).
pub fn name_bytes(name: &OsStr) -> &[u8] {
    name.as_bytes()
}

/// Builds an `OsString` from client bytes, without any lossy conversion.
pub fn os_string(bytes: &[u8]) -> OsString {
    OsString::from_vec(bytes.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vp(s: &str) -> VirtualPath {
        VirtualPath::root().join(s.as_bytes()).unwrap()
    }

    #[test]
    fn dotdot_never_climbs_above_root() {
        for arg in [
            "../../etc/passwd",
            "/../etc/passwd",
            "a/../../../etc/passwd",
            "/./../etc/passwd",
        ] {
            assert_eq!(vp(arg).to_bytes(), b"/etc/passwd", "{arg}");
        }
        assert_eq!(vp("../..").to_bytes(), b"/");
        assert_eq!(vp("//a///b/").to_bytes(), b"/a/b");
    }

    #[test]
    fn relative_joins_cwd() {
        let cwd = vp("/sub/dir");
        assert_eq!(cwd.join(b"..").unwrap().to_bytes(), b"/sub");
        assert_eq!(cwd.join(b"f").unwrap().to_bytes(), b"/sub/dir/f");
        assert_eq!(cwd.join(b"/f").unwrap().to_bytes(), b"/f");
    }

    #[test]
    fn backslash_is_a_name_byte() {
        assert_eq!(vp("..\\..\\etc").to_bytes(), b"/..\\..\\etc");
    }

    #[test]
    fn nul_and_reserved_refused() {
        assert_eq!(VirtualPath::root().join(b"a\0b"), Err(PathError::Nul));
        assert_eq!(
            VirtualPath::root().join(b".tinyftpd-upload.x"),
            Err(PathError::Reserved)
        );
    }

    #[test]
    fn non_utf8_names_round_trip() {
        assert_eq!(vp("/").join(b"caf\xE9").unwrap().to_bytes(), b"/caf\xE9");
    }
}
