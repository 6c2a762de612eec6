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
//! Check, then use, without a window: the check canonicalizes the path and compares it with the
//! root; every operation that opens or changes something (open for RETR/STOR/APPE, the upload
//! temporary and its rename, MKD, RMD, DELE, RNFR/RNTO, MFMT, SITE CHMOD) then goes through
//! openat2(2) below a descriptor of the root with RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS, on
//! the path the check found (which has no symlinks left). A symlink swapped in after the check
//! makes the operation fail instead of escaping. What remains: on kernels without openat2
//! (before Linux 5.6, or where seccomp refuses it) those are ordinary path operations, and
//! read-only metadata (SIZE, MDTM, LIST entries) is read by path; either needs a local user who
//! can write inside the served directory (clients cannot create symlinks over FTP) to race.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::os::sys;

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
    /// `host` relative to the root, for openat2 below the root's descriptor.
    rel: PathBuf,
    root_fd: Arc<OwnedFd>,
    virtual_path: VirtualPath,
}

/// How [`JailedPath::open`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read-only and non-blocking, so that a FIFO cannot hang the session before we see what
    /// it is.
    Read,
    /// Write into an existing file without truncating (REST+STOR). Non-blocking, like the
    /// two below, so that a FIFO without a reader fails (ENXIO) instead of hanging the session.
    WriteExisting,
    /// Append, creating the file if needed (APPE).
    Append,
    /// A new file; fails if the name exists (upload temporaries, STOU).
    CreateNew,
}

impl Access {
    fn flags(self) -> i32 {
        match self {
            Access::Read => libc::O_RDONLY | libc::O_NONBLOCK,
            Access::WriteExisting => libc::O_WRONLY | libc::O_NONBLOCK,
            Access::Append => libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_NONBLOCK,
            Access::CreateNew => libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
        }
    }
}

/// New files: no execute bits, ever; the umask applies on top.
const FILE_MODE: u32 = 0o666;
/// New directories; the umask applies on top.
const DIR_MODE: u32 = 0o777;

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
            rel: self.rel.join(name),
            root_fd: Arc::clone(&self.root_fd),
            virtual_path,
        }
    }

    /// Opens the file. With openat2 (Linux 5.6+), the open happens below the root's descriptor
    /// and refuses any symlink on the way, so nothing swapped in after the jail's check can
    /// lead it out; elsewhere it is an ordinary open of the checked path.
    pub fn open(&self, access: Access) -> io::Result<File> {
        if let Some(fd) =
            sys::open_beneath(self.root_fd.as_fd(), &self.rel, access.flags(), FILE_MODE)?
        {
            return Ok(File::from(fd));
        }
        let mut options = OpenOptions::new();
        match access {
            Access::Read => options.read(true).custom_flags(libc::O_NONBLOCK),
            Access::WriteExisting => options.write(true).custom_flags(libc::O_NONBLOCK),
            Access::Append => options
                .append(true)
                .create(true)
                .custom_flags(libc::O_NONBLOCK),
            Access::CreateNew => options.write(true).create_new(true),
        };
        options.mode(FILE_MODE).open(&self.host)
    }

    /// The parent directory, opened through the jail like [`JailedPath::open`] (`None` without
    /// openat2), and this entry's name in it.
    fn parent_dir(&self) -> io::Result<(Option<OwnedFd>, &OsStr)> {
        let name = self
            .rel
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::PermissionDenied, "the root itself"))?;
        let parent = self.rel.parent().unwrap_or(Path::new(""));
        let fd = sys::open_beneath(
            self.root_fd.as_fd(),
            parent,
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )?;
        Ok((fd, name))
    }

    /// The directory this entry is in, held open, and the entry's name in it: an upload keeps
    /// its directory this way, so renaming that directory during the upload moves the upload
    /// with it instead of stranding its temporary file.
    pub fn open_parent(&self) -> io::Result<(OpenDir, OsString)> {
        let (fd, name) = self.parent_dir()?;
        let host = self.host.parent().unwrap_or(Path::new("/")).to_path_buf();
        Ok((OpenDir { fd, host }, name.to_os_string()))
    }

    pub fn create_dir(&self) -> io::Result<()> {
        match self.parent_dir()? {
            (Some(dir), name) => sys::mkdir_at(dir.as_fd(), name, DIR_MODE),
            (None, _) => fs::create_dir(&self.host),
        }
    }

    pub fn remove_dir(&self) -> io::Result<()> {
        match self.parent_dir()? {
            (Some(dir), name) => sys::unlink_at(dir.as_fd(), name, true),
            (None, _) => fs::remove_dir(&self.host),
        }
    }

    /// Removes the entry itself (a symlink, not its target).
    pub fn remove_file(&self) -> io::Result<()> {
        match self.parent_dir()? {
            (Some(dir), name) => sys::unlink_at(dir.as_fd(), name, false),
            (None, _) => fs::remove_file(&self.host),
        }
    }

    /// Renames this entry to `to` (replacing a file there, as rename(2) does). One directory
    /// descriptor serves both sides when they share a directory (every upload's final rename).
    pub fn rename_to(&self, to: &JailedPath) -> io::Result<()> {
        let (from_dir, from) = self.parent_dir()?;
        let Some(from_dir) = from_dir else {
            return fs::rename(&self.host, &to.host);
        };
        if self.rel.parent() == to.rel.parent() {
            let to_name = to
                .rel
                .file_name()
                .ok_or_else(|| io::Error::from(io::ErrorKind::PermissionDenied))?;
            return sys::rename_at(from_dir.as_fd(), from, from_dir.as_fd(), to_name);
        }
        match to.parent_dir()? {
            (Some(to_dir), to_name) => {
                sys::rename_at(from_dir.as_fd(), from, to_dir.as_fd(), to_name)
            }
            (None, _) => fs::rename(&self.host, &to.host),
        }
    }
}

/// A directory inside the jail, held open by descriptor (or, without openat2, by its checked
/// path). Names given to its methods are single components chosen by the server.
#[derive(Debug)]
pub struct OpenDir {
    fd: Option<OwnedFd>,
    host: PathBuf,
}

impl OpenDir {
    /// A new file `name`; fails if the name exists.
    pub fn create_new(&self, name: &OsStr) -> io::Result<File> {
        let flags = Access::CreateNew.flags();
        match &self.fd {
            Some(dir) => match sys::open_beneath(dir.as_fd(), Path::new(name), flags, FILE_MODE)? {
                Some(fd) => Ok(File::from(fd)),
                None => Err(io::Error::from(io::ErrorKind::Unsupported)),
            },
            None => OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .open(self.host.join(name)),
        }
    }

    /// A new file without a name (see [`sys::open_unnamed`]); `None` where that is not possible
    /// (no directory descriptor, no O_TMPFILE, or no way to link it later).
    pub fn create_unnamed(&self) -> io::Result<Option<File>> {
        let Some(dir) = &self.fd else {
            return Ok(None);
        };
        if !sys::can_link_unnamed() {
            return Ok(None);
        }
        Ok(sys::open_unnamed(dir.as_fd(), FILE_MODE)?.map(File::from))
    }

    /// Names an unnamed file from [`OpenDir::create_unnamed`]; `AlreadyExists` if taken.
    pub fn link(&self, file: &File, name: &OsStr) -> io::Result<()> {
        match &self.fd {
            Some(dir) => sys::link_unnamed(file.as_fd(), dir.as_fd(), name),
            None => Err(io::Error::from(io::ErrorKind::Unsupported)),
        }
    }

    /// Renames `from` to `to` in this directory (replacing a file there).
    pub fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        match &self.fd {
            Some(dir) => sys::rename_at(dir.as_fd(), from, dir.as_fd(), to),
            None => fs::rename(self.host.join(from), self.host.join(to)),
        }
    }

    pub fn remove_file(&self, name: &OsStr) -> io::Result<()> {
        match &self.fd {
            Some(dir) => sys::unlink_at(dir.as_fd(), name, false),
            None => fs::remove_file(self.host.join(name)),
        }
    }
}

/// The served directory.
#[derive(Debug, Clone)]
pub struct Jail {
    root: PathBuf,
    /// The root, held open: openat2 resolves below it.
    root_fd: Arc<OwnedFd>,
}

impl Jail {
    /// `root` must exist; it is canonicalized once so that later checks compare real paths.
    pub fn new(root: &Path) -> io::Result<Jail> {
        let root = fs::canonicalize(root)?;
        let dir = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(&root)?;
        let root_fd = Arc::new(OwnedFd::from(dir));
        // Decide here, before any client, whether openat2 exists: only this first call may
        // read ENOSYS/EPERM as "missing"; later an EPERM is an ordinary refusal, so no client
        // can switch the race protection off for everyone.
        if sys::open_beneath(
            root_fd.as_fd(),
            Path::new(""),
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )?
        .is_none()
        {
            log::warn!("openat2 is not available: the jail checks paths, then uses them (see README, Security)");
        }
        Ok(Jail { root, root_fd })
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
            rel: parent.rel.join(name),
            root_fd: parent.root_fd,
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
        if target.is_relative() && !climbs_above(&link.rel, &target) {
            return Some(target.into_os_string());
        }
        Some(Path::new("/").join(inside).into_os_string())
    }

    fn inside(&self, real: PathBuf, path: &VirtualPath) -> io::Result<JailedPath> {
        if let Ok(rel) = real.strip_prefix(&self.root) {
            Ok(JailedPath {
                rel: rel.to_path_buf(),
                host: real,
                root_fd: Arc::clone(&self.root_fd),
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

/// Whether a relative link target, read from the link's directory, passes above the root on
/// its way (`../../../srv/ftp/x` names the host's directories even when it ends inside).
fn climbs_above(link_rel: &Path, target: &Path) -> bool {
    let mut depth = link_rel.components().count().saturating_sub(1) as isize;
    for part in target.components() {
        match part {
            std::path::Component::ParentDir => depth -= 1,
            std::path::Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return true;
        }
    }
    false
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

    /// A directory swapped for a symlink to outside between the check and the use: the use
    /// fails instead of following it (where the kernel has openat2).
    #[test]
    fn swap_after_check_does_not_escape() {
        let base = std::env::temp_dir().join(format!("tinyftpd-jail-race-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let (root, outside) = (base.join("root"), base.join("outside"));
        fs::create_dir_all(root.join("a")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(root.join("a/f"), b"inside").unwrap();
        fs::write(outside.join("f"), b"secret").unwrap();
        let jail = Jail::new(&root).unwrap();
        let file = jail.resolve(&vp("/a/f")).unwrap();
        let new = jail.resolve_entry(&vp("/a/new")).unwrap();
        let doomed = jail.resolve_entry(&vp("/a/f")).unwrap();
        let mut first = String::new();
        std::io::Read::read_to_string(&mut file.open(Access::Read).unwrap(), &mut first).unwrap();
        assert_eq!(first, "inside");
        if !sys::openat2_works() {
            eprintln!("SKIPPED: openat2 is not available on this kernel");
            let _ = fs::remove_dir_all(&base);
            return;
        }
        fs::rename(root.join("a"), base.join("a-moved")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("a")).unwrap();
        assert!(
            file.open(Access::Read).is_err(),
            "read through the swapped link"
        );
        assert!(
            new.open(Access::CreateNew).is_err(),
            "create through the swapped link"
        );
        assert!(new.create_dir().is_err(), "mkdir through the swapped link");
        assert!(
            doomed.remove_file().is_err(),
            "unlink through the swapped link"
        );
        assert!(outside.join("f").exists() && !outside.join("new").exists());
        let _ = fs::remove_dir_all(&base);
    }

    #[test]
    fn relative_link_targets_that_leave_the_root_are_detected() {
        assert!(!climbs_above(Path::new("a/link"), Path::new("../b")));
        assert!(climbs_above(
            Path::new("a/link"),
            Path::new("../../srv/ftp/b")
        ));
        assert!(climbs_above(Path::new("link"), Path::new("../ftp/b")));
        assert!(!climbs_above(Path::new("link"), Path::new("sub/../b")));
    }

    #[test]
    fn non_utf8_names_round_trip() {
        assert_eq!(vp("/").join(b"caf\xE9").unwrap().to_bytes(), b"/caf\xE9");
    }
}
