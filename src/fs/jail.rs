//! The path jail: the only place where a client's path meets the file system.
//!
//! The session keeps a [`VirtualPath`] (what the client sees: normalised, absolute, never above
//! `/`). Only the `resolve*` methods of [`Jail`] make a [`JailedPath`], and every file-system
//! call on a client's path goes through one, so the compiler shows that no handler touches an
//! unresolved path.
//!
//! No check-then-use, on any kernel. Resolution starts at a descriptor of the served directory
//! opened once at start (never at its path), and a [`JailedPath`] holds descriptors, not a
//! path: the directory the entry is in and, for an existing object that was resolved, the
//! object itself. Every final operation is an `*at` call on a held descriptor that does not
//! follow a symlink in the last component. Two routes, same semantics:
//! - openat2(2) with RESOLVE_BENEATH (Linux 5.6+) opens the parent directory in one call; a
//!   symlink it will not judge (absolute, climbing out) sends that path to the walk;
//! - the walk opens one component at a time with O_PATH | O_NOFOLLOW from the held directory
//!   above it, and resolves each symlink itself against its trail of held directories.
//!
//! Symlink policy: a relative link is followed from its own directory, and a `..` that would
//! climb above the served directory leads "outside"; an absolute link works when its target
//! lies under the served directory's real path (any target when that is `/`, as after
//! `--chroot`), and is then followed from the root descriptor. A path that leads outside is
//! refused as if it did not exist, and listings leave such links out. At most [`MAX_LINKS`]
//! links per resolution. The host path never appears in a reply.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::os::dirents::{Dirent, DirentKind, Dirents};
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
}

/// Most symlinks one resolution follows (as the kernel's ELOOP bound).
pub const MAX_LINKS: u32 = 40;

/// Most directories one walk holds open at a time (each level is a descriptor, kept so that
/// `..` can go back without a lookup): a path deeper than this is refused (ENAMETOOLONG).
pub const MAX_DEPTH: usize = 255;

/// The directories from the root down to where a walk stands, each held open (O_PATH), with
/// their names: `..` pops one, so it can never climb above the root or out of a directory that
/// was moved meanwhile.
#[derive(Debug, Clone)]
struct Trail {
    dirs: Vec<Arc<OwnedFd>>,
    /// `names[i]` is the name of `dirs[i + 1]` in `dirs[i]`.
    names: Vec<OsString>,
}

impl Trail {
    fn root(root: &Arc<OwnedFd>) -> Trail {
        Trail {
            dirs: vec![Arc::clone(root)],
            names: Vec::new(),
        }
    }

    fn top(&self) -> &Arc<OwnedFd> {
        // `dirs` always holds the root at least.
        &self.dirs[self.dirs.len() - 1]
    }

    fn push(&mut self, dir: OwnedFd, name: OsString) -> io::Result<()> {
        if self.names.len() >= MAX_DEPTH {
            return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
        }
        self.dirs.push(Arc::new(dir));
        self.names.push(name);
        Ok(())
    }

    /// `..`: refused above the root.
    fn pop(&mut self) -> io::Result<(Arc<OwnedFd>, OsString)> {
        if self.names.is_empty() {
            return Err(outside());
        }
        match (self.dirs.pop(), self.names.pop()) {
            (Some(dir), Some(name)) => Ok((dir, name)),
            _ => Err(outside()),
        }
    }

    fn back_to_root(&mut self) {
        self.dirs.truncate(1);
        self.names.clear();
    }
}

fn outside() -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        "outside the served directory",
    )
}

/// What an `io::Error` carries when an operation found something other than a regular file
/// (a directory, FIFO, device or socket) where it needs one. A type of its own rather than a
/// bare `ErrorKind`, so that error.rs can tell it (550 "Not a plain file") from any other
/// invalid input.
#[derive(Debug)]
pub struct NotARegularFile;

impl std::fmt::Display for NotARegularFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a regular file")
    }
}

impl std::error::Error for NotARegularFile {}

pub(crate) fn not_a_regular_file() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, NotARegularFile)
}

/// How a resolution treats the last component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    /// Follow it; it must exist.
    Follow,
    /// The entry itself (a symlink is not followed); it need not exist.
    Entry,
    /// Follow it when it exists; a missing name is the entry (a dangling link is refused).
    InPlace,
}

/// A path inside the jail, held by descriptors: the directory the entry is in, its name there,
/// and (when it was resolved as an existing object) the object itself. Nothing here can be
/// used as a host path.
#[derive(Debug, Clone)]
pub struct JailedPath {
    dir: Arc<OwnedFd>,
    /// The entry's name in `dir`; `.` for the served directory itself.
    name: OsString,
    /// O_PATH descriptor of the object, when the resolution opened it.
    object: Option<Arc<OwnedFd>>,
    /// The walk's held directories down to `dir` (the walk route only; listings need it to
    /// judge relative links).
    trail: Option<Trail>,
    virtual_path: VirtualPath,
}

/// How [`JailedPath::open`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read-only and non-blocking (a file under a lease answers at once instead of hanging).
    Read,
    /// Write into an existing file without truncating (REST+STOR).
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
            Access::Append => libc::O_WRONLY | libc::O_APPEND | libc::O_NONBLOCK,
            Access::CreateNew => libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
        }
    }
}

/// New files: no execute bits, ever; the umask applies on top.
const FILE_MODE: u32 = 0o666;
/// New directories; the umask applies on top.
const DIR_MODE: u32 = 0o777;
/// The entry name that stands for the served directory itself.
const SELF_NAME: &str = ".";

impl JailedPath {
    pub fn virtual_path(&self) -> &VirtualPath {
        &self.virtual_path
    }

    /// The metadata of the directory the entry is in, and the entry's name there: what tests
    /// compare with the kernel's own resolution (no host path ever comes out of a JailedPath).
    pub fn parent_stat(&self) -> io::Result<sys::FileStat> {
        sys::stat_fd(self.dir.as_fd())
    }

    pub fn entry_name(&self) -> &OsStr {
        &self.name
    }

    /// Whether this is the served directory itself (also when reached through a link).
    pub fn is_jail_root(&self) -> bool {
        self.name == SELF_NAME
    }

    /// The object's O_PATH descriptor: the one held, or the entry opened now without following.
    fn object_fd(&self) -> io::Result<Arc<OwnedFd>> {
        match &self.object {
            Some(fd) => Ok(Arc::clone(fd)),
            None => Ok(Arc::new(sys::open_at(
                self.dir.as_fd(),
                &self.name,
                libc::O_PATH | libc::O_NOFOLLOW,
                0,
            )?)),
        }
    }

    /// The object's metadata (of the target, when the resolution followed a link to it).
    pub fn stat(&self) -> io::Result<sys::FileStat> {
        match &self.object {
            Some(fd) => sys::stat_fd(fd.as_fd()),
            None => sys::stat_at(self.dir.as_fd(), &self.name),
        }
    }

    /// The entry's own metadata (a symlink is not followed).
    pub fn stat_entry(&self) -> io::Result<sys::FileStat> {
        sys::stat_at(self.dir.as_fd(), &self.name)
    }

    /// An entry inside this directory, by name (STOU's new files).
    pub fn child(&self, name: &OsStr) -> io::Result<JailedPath> {
        let mut virtual_path = self.virtual_path.clone();
        virtual_path.components.push(name.as_bytes().to_vec());
        Ok(JailedPath {
            dir: self.object_fd()?,
            name: name.to_os_string(),
            object: None,
            trail: None,
            virtual_path,
        })
    }

    /// Opens the file for I/O. Only a regular file is ever opened for reading or writing: the
    /// type is checked on an O_PATH descriptor first, so a FIFO or device is never opened (no
    /// blocking, no side effects), and the open itself does not follow a symlink and must find
    /// the very file that was checked.
    pub fn open(&self, access: Access) -> io::Result<File> {
        self.open_checked(access).map(|(file, _)| file)
    }

    /// [`JailedPath::open`], with the opened file's own metadata, read by the check that it is
    /// a regular file (so a caller that needs its size asks for no second `fstat`); `None` for
    /// [`Access::CreateNew`], whose `O_EXCL` open can only make a new regular file.
    pub fn open_checked(&self, access: Access) -> io::Result<(File, Option<sys::FileStat>)> {
        let dir = self.dir.as_fd();
        let flags = access.flags() | libc::O_NOFOLLOW | libc::O_NOCTTY;
        if access == Access::CreateNew {
            return Ok((
                File::from(sys::open_at(dir, &self.name, flags, FILE_MODE)?),
                None,
            ));
        }
        let checked = match self.object_fd() {
            Ok(fd) => sys::stat_fd(fd.as_fd())?,
            Err(e) if access == Access::Append && e.kind() == io::ErrorKind::NotFound => {
                // A new file for APPE: created without following a link that appears meanwhile.
                let file = sys::open_at(dir, &self.name, flags | libc::O_CREAT, FILE_MODE)?;
                let stat = sys::stat_fd(file.as_fd())?;
                if !stat.is_file() {
                    return Err(not_a_regular_file());
                }
                return Ok((File::from(file), Some(stat)));
            }
            Err(e) => return Err(e),
        };
        if !checked.is_file() {
            return Err(not_a_regular_file());
        }
        let file = sys::open_at(dir, &self.name, flags, 0).map_err(|e| match e.raw_os_error() {
            // A FIFO or socket swapped in after the check.
            Some(libc::ENXIO) | Some(libc::ELOOP) => not_a_regular_file(),
            _ => e,
        })?;
        let opened = sys::stat_fd(file.as_fd())?;
        if !opened.same_file(&checked) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the file changed while opening",
            ));
        }
        Ok((File::from(file), Some(opened)))
    }

    /// The directory this entry is in, held open, and the entry's name in it: an upload keeps
    /// its directory this way, so renaming that directory during the upload moves the upload
    /// with it instead of stranding its temporary file.
    pub fn open_parent(&self) -> io::Result<(OpenDir, OsString)> {
        if self.is_jail_root() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the root itself",
            ));
        }
        Ok((
            OpenDir {
                fd: Arc::clone(&self.dir),
            },
            self.name.clone(),
        ))
    }

    pub fn create_dir(&self) -> io::Result<()> {
        sys::mkdir_at(self.dir.as_fd(), &self.name, DIR_MODE)
    }

    pub fn remove_dir(&self) -> io::Result<()> {
        sys::unlink_at(self.dir.as_fd(), &self.name, true)
    }

    /// Removes the entry itself (a symlink, not its target).
    pub fn remove_file(&self) -> io::Result<()> {
        sys::unlink_at(self.dir.as_fd(), &self.name, false)
    }

    /// Renames this entry to `to` (replacing a file there, as rename(2) does), both sides by
    /// their held directories.
    pub fn rename_to(&self, to: &JailedPath) -> io::Result<()> {
        if self.is_jail_root() || to.is_jail_root() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the root itself",
            ));
        }
        sys::rename_at(self.dir.as_fd(), &self.name, to.dir.as_fd(), &to.name)
    }

    /// Sets the modification time of the entry without opening it (MFMT).
    pub fn set_mtime(&self, unix_secs: i64) -> io::Result<()> {
        sys::set_mtime_at(self.dir.as_fd(), &self.name, unix_secs)
    }

    /// Sets the permission bits of the entry without opening it (SITE CHMOD); see
    /// [`sys::chmod_at`] for kernels without fchmodat2.
    pub fn set_mode(&self, mode: u32) -> io::Result<()> {
        sys::chmod_at(self.dir.as_fd(), &self.name, mode)
    }
}

/// A directory inside the jail, held open by descriptor. Names given to its methods are single
/// components chosen by the server.
#[derive(Debug)]
pub struct OpenDir {
    fd: Arc<OwnedFd>,
}

impl OpenDir {
    /// A new file `name`; fails if the name exists.
    pub fn create_new(&self, name: &OsStr) -> io::Result<File> {
        let flags = Access::CreateNew.flags() | libc::O_NOFOLLOW;
        Ok(File::from(sys::open_at(
            self.fd.as_fd(),
            name,
            flags,
            FILE_MODE,
        )?))
    }

    /// A new file without a name (see [`sys::open_unnamed`]); `None` where that is not possible
    /// (no O_TMPFILE, or no way to link it later).
    pub fn create_unnamed(&self) -> io::Result<Option<File>> {
        if !sys::can_link_unnamed() || !self.unnamed_links_work() {
            return Ok(None);
        }
        Ok(sys::open_unnamed(self.fd.as_fd(), FILE_MODE)?.map(File::from))
    }

    /// Whether linking an unnamed file works, found out once per process by trying it here
    /// (an unnamed probe linked under a reserved name, then removed) before any upload's data
    /// goes into one: holding the capability is not enough where the kernel checks it in
    /// another user namespace (root in a rootless container before Linux 6.10), and a failure
    /// at the end of an upload could not be undone. While the probe cannot run here (no
    /// O_TMPFILE, or its name is taken) this upload takes a named temporary, which always
    /// works, and the next one tries again.
    fn unnamed_links_work(&self) -> bool {
        static WORKS: OnceLock<bool> = OnceLock::new();
        if let Some(works) = WORKS.get() {
            return *works;
        }
        let Ok(Some(probe)) = sys::open_unnamed(self.fd.as_fd(), FILE_MODE) else {
            return false;
        };
        let mut name = RESERVED_PREFIX.to_vec();
        name.extend_from_slice(format!("{}.probe", std::process::id()).as_bytes());
        let name = OsStr::from_bytes(&name);
        let works = match sys::link_unnamed(probe.as_fd(), self.fd.as_fd(), name) {
            Ok(()) => {
                let _ = sys::unlink_at(self.fd.as_fd(), name, false);
                true
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return false,
            Err(e) => {
                log::info!("uploads use named temporaries: an unnamed file cannot be linked ({e})");
                false
            }
        };
        *WORKS.get_or_init(|| works)
    }

    /// Names an unnamed file from [`OpenDir::create_unnamed`]; `AlreadyExists` if taken.
    pub fn link(&self, file: &File, name: &OsStr) -> io::Result<()> {
        sys::link_unnamed(file.as_fd(), self.fd.as_fd(), name)
    }

    /// Renames `from` to `to` in this directory (replacing a file there).
    pub fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        sys::rename_at(self.fd.as_fd(), from, self.fd.as_fd(), to)
    }

    pub fn remove_file(&self, name: &OsStr) -> io::Result<()> {
        sys::unlink_at(self.fd.as_fd(), name, false)
    }
}

/// A directory being listed: its entries straight from its descriptor, each examined with
/// `fstatat` on that descriptor, and symlink entries judged by the jail's own resolver from
/// the listed directory.
pub struct Listing {
    jail: Jail,
    entries: Dirents,
    /// The held directories down to the listed one (its top).
    trail: Trail,
}

/// A symlink entry that stays inside the jail: what to show as its target, and the metadata
/// of what it leads to.
pub struct LinkTarget {
    pub shown: OsString,
    pub stat: sys::FileStat,
}

/// One entry of a [`Listing`], its name borrowed from the getdents buffer until the next one.
pub struct ListedEntry<'a> {
    pub dirent: Dirent<'a>,
    jail: &'a Jail,
    trail: &'a Trail,
}

impl ListedEntry<'_> {
    pub fn name(&self) -> &[u8] {
        self.dirent.name_bytes()
    }

    pub fn kind(&self) -> DirentKind {
        self.dirent.kind
    }

    /// The entry's own metadata (no following).
    pub fn stat(&self) -> io::Result<sys::FileStat> {
        self.dirent.stat()
    }

    /// Where this entry leads when it is a symlink that stays inside the jail; `None` when it
    /// leads outside or nowhere. A relative target is shown as the link holds it; an absolute
    /// one names a host path, so it is shown as the virtual path it resolves to.
    pub fn link_target(&self) -> Option<LinkTarget> {
        link_target(self.jail, self.trail, OsStr::from_bytes(self.name()))
    }
}

/// Bytes of directory entries read per getdents64 call while listing.
const LISTING_DIRENTS: usize = 64 * 1024;

impl Listing {
    /// The next entry (never `.` or `..`).
    pub fn next_entry(&mut self) -> io::Result<Option<ListedEntry<'_>>> {
        let Listing {
            jail,
            entries,
            trail,
        } = self;
        Ok(entries.next_entry()?.map(|dirent| ListedEntry {
            dirent,
            jail,
            trail,
        }))
    }

    /// [`ListedEntry::link_target`] by name, for the jail's own tests (listings ask each entry).
    #[cfg(test)]
    pub fn link_target(&self, name: &OsStr) -> Option<LinkTarget> {
        link_target(&self.jail, &self.trail, name)
    }
}

fn link_target(jail: &Jail, trail: &Trail, name: &OsStr) -> Option<LinkTarget> {
    let mut trail = trail.clone();
    let link = sys::open_at(
        trail.top().as_fd(),
        name,
        libc::O_PATH | libc::O_NOFOLLOW,
        0,
    )
    .ok()?;
    let target = sys::read_link_fd(link.as_fd()).ok()?;
    let mut pending = Vec::new();
    jail.expand_link(&mut trail, &target, &mut pending).ok()?;
    let walked = jail.walk(trail, pending, Last::Follow, 1).ok()?;
    let resolved = jail.finish(walked, &VirtualPath::root(), true);
    let stat = resolved.stat().ok()?;
    let shown = if target.first() == Some(&b'/') {
        let mut shown = Vec::new();
        if !resolved.is_jail_root() {
            let above = resolved.trail.as_ref().map_or(&[][..], |t| &t.names[..]);
            for part in above.iter().chain([&resolved.name]) {
                shown.push(b'/');
                shown.extend_from_slice(part.as_bytes());
            }
        }
        if shown.is_empty() {
            shown.push(b'/');
        }
        OsString::from_vec(shown)
    } else {
        OsString::from_vec(target)
    };
    Some(LinkTarget { shown, stat })
}

/// The served directory.
#[derive(Debug, Clone)]
pub struct Jail {
    /// The real path of the served directory at start: only to judge absolute symlinks.
    root: PathBuf,
    /// The served directory, held open: every resolution starts here.
    root_fd: Arc<OwnedFd>,
    /// Whether to try openat2 first; false forces the walk (tests cover both routes).
    openat2: bool,
}

/// Where a walk ended: the held directories down to the entry's directory, the entry's name
/// (`None` when the path ended on a directory of the trail itself, as `/` or `a/..` do) and,
/// when it was opened, the entry.
struct Walked {
    trail: Trail,
    name: Option<OsString>,
    object: Option<OwnedFd>,
}

impl Jail {
    /// `root` must exist. Opened once, here: from now on the jail never looks at the path
    /// again (a directory put in its place later is not served).
    pub fn new(root: &Path) -> io::Result<Jail> {
        Jail::with_route(root, true)
    }

    /// Like [`Jail::new`]; `openat2: false` always takes the walk.
    pub fn with_route(root: &Path, openat2: bool) -> io::Result<Jail> {
        let root = fs::canonicalize(root)?;
        let dir = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(&root)?;
        let root_fd = Arc::new(OwnedFd::from(dir));
        // Decide here, before any client, whether openat2 exists: only this first call may
        // read ENOSYS/EPERM as "missing"; later an EPERM is an ordinary refusal.
        if openat2
            && matches!(
                sys::open_beneath_following(root_fd.as_fd(), b"", libc::O_PATH)?,
                sys::Beneath::Unavailable
            )
        {
            log::info!("openat2 is not available: the jail walks every path itself");
        }
        Ok(Jail {
            root,
            root_fd,
            openat2,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves a path following every symlink, for commands that use what the path points at
    /// (RETR, CWD, LIST, SIZE). Refused (`PermissionDenied`) when it leads out of the jail.
    pub fn resolve(&self, path: &VirtualPath) -> io::Result<JailedPath> {
        self.resolve_as(path, Last::Follow, false)
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
        self.resolve_as(path, Last::Entry, false)
    }

    /// Resolves a path for writing into a file in place (APPE, REST+STOR): an existing entry is
    /// followed like [`Jail::resolve`] (so a link out of the jail is refused), a missing one is
    /// the entry. A dangling link is refused too, since opening it to create would create its
    /// target.
    pub fn resolve_in_place(&self, path: &VirtualPath) -> io::Result<JailedPath> {
        self.resolve_as(path, Last::InPlace, false)
    }

    /// Opens a directory for listing: resolved by the walk (whose held directories judge the
    /// symlinks inside), read from its own descriptor.
    pub fn list(&self, path: &VirtualPath) -> io::Result<(JailedPath, Option<Listing>)> {
        let resolved = self.resolve_as(path, Last::Follow, true)?;
        if !resolved.stat()?.is_dir() {
            return Ok((resolved, None));
        }
        let mut trail = resolved
            .trail
            .clone()
            .unwrap_or_else(|| Trail::root(&self.root_fd));
        let object = resolved.object_fd()?;
        if !resolved.is_jail_root() {
            trail.dirs.push(Arc::clone(&object));
            trail.names.push(resolved.name.clone());
        }
        let entries = Dirents::open(object.as_fd(), LISTING_DIRENTS)?;
        Ok((
            resolved,
            Some(Listing {
                jail: self.clone(),
                entries,
                trail,
            }),
        ))
    }

    fn resolve_as(&self, path: &VirtualPath, last: Last, walk: bool) -> io::Result<JailedPath> {
        if !walk && self.openat2 {
            if let Some(found) = self.resolve_beneath(path, last)? {
                return Ok(found);
            }
        }
        let pending = path
            .components
            .iter()
            .rev()
            .map(|c| OsString::from_vec(c.clone()))
            .collect();
        let walked = self.walk(Trail::root(&self.root_fd), pending, last, 0)?;
        Ok(self.finish(walked, path, walk))
    }

    /// The openat2 route: the parent directory in one call below the root, the last component
    /// by hand (so the entry and its directory are both known). `None` when the walk must do
    /// it (no openat2, a symlink it will not judge, a symlink as the last component to follow).
    fn resolve_beneath(&self, path: &VirtualPath, last: Last) -> io::Result<Option<JailedPath>> {
        let Some((name, parents)) = path.components.split_last() else {
            return Ok(None);
        };
        // The walk holds one descriptor per directory and refuses more than MAX_DEPTH of them;
        // the kernel would go deeper, and both routes must serve the same tree.
        if parents.len() > MAX_DEPTH {
            return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
        }
        let dir = if parents.is_empty() {
            Arc::clone(&self.root_fd)
        } else {
            let rel = parents.join(&b'/');
            let flags = libc::O_PATH | libc::O_DIRECTORY;
            match sys::open_beneath_following(self.root_fd.as_fd(), &rel, flags)? {
                sys::Beneath::Opened(fd) => Arc::new(fd),
                sys::Beneath::Unavailable | sys::Beneath::NeedsWalk => return Ok(None),
            }
        };
        let name = OsString::from_vec(name.clone());
        let mut object = None;
        if last != Last::Entry {
            match sys::open_at(dir.as_fd(), &name, libc::O_PATH | libc::O_NOFOLLOW, 0) {
                Ok(fd) => {
                    if sys::stat_fd(fd.as_fd())?.is_symlink() {
                        return Ok(None);
                    }
                    object = Some(Arc::new(fd));
                }
                Err(e) if last == Last::InPlace && e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Some(JailedPath {
            dir,
            name,
            object,
            trail: None,
            virtual_path: path.clone(),
        }))
    }

    /// Pushes the components of a symlink's target to resolve next (`pending` is a stack: the
    /// next component last). An absolute target restarts at the root when it lies under the
    /// root's real path (anywhere when the root is `/`); otherwise it leads outside.
    fn expand_link(
        &self,
        trail: &mut Trail,
        target: &[u8],
        pending: &mut Vec<OsString>,
    ) -> io::Result<()> {
        let mut parts: Vec<&[u8]> = target
            .split(|&b| b == b'/')
            .filter(|p| !p.is_empty() && *p != b".")
            .collect();
        if target.first() == Some(&b'/') {
            let root_parts: Vec<&[u8]> = self
                .root
                .as_os_str()
                .as_bytes()
                .split(|&b| b == b'/')
                .filter(|p| !p.is_empty())
                .collect();
            if parts.len() < root_parts.len() || parts[..root_parts.len()] != root_parts[..] {
                return Err(outside());
            }
            parts.drain(..root_parts.len());
            trail.back_to_root();
        }
        pending.extend(
            parts
                .iter()
                .rev()
                .map(|p| OsStr::from_bytes(p).to_os_string()),
        );
        Ok(())
    }

    /// The walk: one component at a time from the held directory above it, O_PATH and
    /// O_NOFOLLOW, so the kernel never follows a symlink; the jail reads each link and resolves
    /// its target against the trail itself. `pending` is a stack of components (next last).
    fn walk(
        &self,
        mut trail: Trail,
        mut pending: Vec<OsString>,
        mut last_mode: Last,
        mut links: u32,
    ) -> io::Result<Walked> {
        while let Some(part) = pending.pop() {
            if part == ".." {
                trail.pop()?;
                continue;
            }
            if part.is_empty() || part == "." {
                continue;
            }
            let last = pending.is_empty();
            if last && last_mode == Last::Entry {
                return Ok(Walked {
                    trail,
                    name: Some(part),
                    object: None,
                });
            }
            let fd = match sys::open_at(
                trail.top().as_fd(),
                &part,
                libc::O_PATH | libc::O_NOFOLLOW,
                0,
            ) {
                Ok(fd) => fd,
                Err(e)
                    if last
                        && last_mode == Last::InPlace
                        && e.kind() == io::ErrorKind::NotFound =>
                {
                    return Ok(Walked {
                        trail,
                        name: Some(part),
                        object: None,
                    })
                }
                Err(e) => return Err(e),
            };
            let stat = sys::stat_fd(fd.as_fd())?;
            if stat.is_symlink() {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                if last && last_mode == Last::InPlace {
                    // A link's target must exist: opening a dangling one would create it.
                    last_mode = Last::Follow;
                }
                let target = sys::read_link_fd(fd.as_fd())?;
                self.expand_link(&mut trail, &target, &mut pending)?;
                continue;
            }
            if last {
                return Ok(Walked {
                    trail,
                    name: Some(part),
                    object: Some(fd),
                });
            }
            if !stat.is_dir() {
                return Err(io::Error::from(io::ErrorKind::NotADirectory));
            }
            trail.push(fd, part)?;
        }
        Ok(Walked {
            trail,
            name: None,
            object: None,
        })
    }

    /// `keep_trail`: only listings (and the links they judge) need the held directories above
    /// the entry; any other resolution lets them go, so that what a session keeps (RNFR's
    /// path, a running transfer's) holds two descriptors, not one per level of the path.
    fn finish(&self, mut walked: Walked, path: &VirtualPath, keep_trail: bool) -> JailedPath {
        let (name, object) = match walked.name {
            Some(name) => (name, walked.object.map(Arc::new)),
            // The path ended on a directory of the trail: that directory is the object, in
            // its parent (the root is `.` in itself).
            None => match walked.trail.pop() {
                Ok((dir, name)) => (name, Some(dir)),
                Err(_) => (OsString::from(SELF_NAME), Some(Arc::clone(&self.root_fd))),
            },
        };
        JailedPath {
            dir: Arc::clone(walked.trail.top()),
            name,
            object,
            trail: keep_trail.then_some(walked.trail),
            virtual_path: path.clone(),
        }
    }
}

/// Per-account folders: a jail whose `/` is a directory of another. The same type and code
/// serve it, so every guarantee above holds for it, measured from its own root.
impl Jail {
    /// The jail rooted at the directory `path` names in this one. The path is resolved here, so
    /// a symlink on the way is judged by this jail and cannot lead out of it; the directory is
    /// then held by descriptor, and every resolution of the new jail starts there: `..` and
    /// relative links stop at it, and an absolute link counts as inside only under its real
    /// path (this jail's real path and the directories the walk went through: the names the
    /// links on the way led to).
    pub fn sub_jail(&self, path: &VirtualPath) -> io::Result<Jail> {
        let resolved = self.resolve_as(path, Last::Follow, true)?;
        if !resolved.stat()?.is_dir() {
            return Err(io::Error::from(io::ErrorKind::NotADirectory));
        }
        let mut root = self.root.clone();
        if !resolved.is_jail_root() {
            let above = resolved.trail.as_ref().map_or(&[][..], |t| &t.names[..]);
            for name in above.iter().chain([&resolved.name]) {
                root.push(name);
            }
        }
        Ok(Jail {
            root,
            root_fd: resolved.object_fd()?,
            openat2: self.openat2,
        })
    }
}

impl VirtualPath {
    /// This path of a jail whose `/` is `base` in an outer one, as the outer one names it
    /// (logs name files in DIR, whatever folder the login sees).
    pub fn under(&self, base: &VirtualPath) -> VirtualPath {
        let mut components = base.components.clone();
        components.extend(self.components.iter().cloned());
        VirtualPath { components }
    }
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

    /// A directory swapped for a symlink to outside between the resolution and the use: the
    /// held descriptors keep every operation on the directory that was resolved (never the
    /// outside), and a new resolution is refused. Both routes.
    #[test]
    fn swap_after_check_does_not_escape() {
        for openat2 in [true, false] {
            let base = std::env::temp_dir().join(format!(
                "tinyftpd-jail-race-{}-{openat2}",
                std::process::id()
            ));
            let _ = fs::remove_dir_all(&base);
            let (root, outside) = (base.join("root"), base.join("outside"));
            fs::create_dir_all(root.join("a")).unwrap();
            fs::create_dir_all(&outside).unwrap();
            fs::write(root.join("a/f"), b"inside").unwrap();
            fs::write(outside.join("f"), b"secret").unwrap();
            let jail = Jail::with_route(&root, openat2).unwrap();
            let file = jail.resolve(&vp("/a/f")).unwrap();
            let new = jail.resolve_entry(&vp("/a/new")).unwrap();
            let new_dir = jail.resolve_entry(&vp("/a/newdir")).unwrap();
            let doomed = jail.resolve_entry(&vp("/a/f")).unwrap();
            let read = |p: &JailedPath| {
                let mut text = String::new();
                p.open(Access::Read)
                    .and_then(|mut f| std::io::Read::read_to_string(&mut f, &mut text))
                    .map(|_| text)
            };
            assert_eq!(read(&file).unwrap(), "inside");
            fs::rename(root.join("a"), root.join("a-moved")).unwrap();
            std::os::unix::fs::symlink(&outside, root.join("a")).unwrap();
            assert_eq!(
                read(&file).unwrap(),
                "inside",
                "the held file, not the link"
            );
            new.open(Access::CreateNew).unwrap();
            new_dir.create_dir().unwrap();
            doomed.remove_file().unwrap();
            assert!(root.join("a-moved/new").exists() && root.join("a-moved/newdir").is_dir());
            assert!(!root.join("a-moved/f").exists());
            assert_eq!(fs::read(outside.join("f")).unwrap(), b"secret");
            assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);
            let again = jail.resolve(&vp("/a/f")).unwrap_err();
            assert_eq!(again.kind(), io::ErrorKind::PermissionDenied, "{again}");
            assert!(jail.resolve_entry(&vp("/a/x")).is_err());
            let _ = fs::remove_dir_all(&base);
        }
    }

    /// The walk's symlink policy: links inside work, `..` above the root and absolute links
    /// elsewhere are outside, a loop ends (ELOOP), a dangling link is refused for in-place
    /// writes.
    #[test]
    fn walk_follows_only_links_that_stay_inside() {
        let base = std::env::temp_dir().join(format!("tinyftpd-jail-walk-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let root = base.join("root");
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/b/f"), b"x").unwrap();
        let link =
            |target: &str, name: &str| std::os::unix::fs::symlink(target, root.join(name)).unwrap();
        link("a/b", "ab");
        link("../b/f", "a/b/up");
        link("ab/../..", "toroot");
        link("../root/a", "climb");
        link("/etc", "etc");
        link("loop1", "loop2");
        link("loop2", "loop1");
        link("missing", "dangling");
        let real_root = fs::canonicalize(&root).unwrap();
        std::os::unix::fs::symlink(real_root.join("a/b/f"), root.join("abs")).unwrap();
        for openat2 in [true, false] {
            let jail = Jail::with_route(&root, openat2).unwrap();
            for ok in ["/ab/f", "/a/b/up", "/abs", "/ab/up", "/toroot/a/b/f"] {
                let p = jail
                    .resolve(&vp(ok))
                    .unwrap_or_else(|e| panic!("{ok}: {e}"));
                assert!(p.stat().unwrap().is_file(), "{ok}");
            }
            assert!(jail.resolve(&vp("/toroot")).unwrap().is_jail_root());
            for out in ["/climb", "/etc", "/etc/passwd", "/climb/b/f"] {
                let e = jail.resolve(&vp(out)).unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{out}");
            }
            assert_eq!(
                jail.resolve(&vp("/loop1")).unwrap_err().raw_os_error(),
                Some(libc::ELOOP)
            );
            assert!(jail.resolve_in_place(&vp("/dangling")).is_err());
            assert!(jail.resolve_in_place(&vp("/new")).is_ok());
            let (_, listing) = jail.list(&vp("/a/b")).unwrap();
            let listing = listing.unwrap();
            assert_eq!(
                listing.link_target(OsStr::new("up")).unwrap().shown,
                "../b/f"
            );
            let (_, listing) = jail.list(&vp("/")).unwrap();
            let listing = listing.unwrap();
            assert_eq!(
                listing.link_target(OsStr::new("abs")).unwrap().shown,
                "/a/b/f"
            );
            assert!(listing.link_target(OsStr::new("climb")).is_none());
            assert!(listing.link_target(OsStr::new("etc")).is_none());
            assert!(listing.link_target(OsStr::new("dangling")).is_none());
        }
        let _ = fs::remove_dir_all(&base);
    }

    #[test]
    fn non_utf8_names_round_trip() {
        assert_eq!(vp("/").join(b"caf\xE9").unwrap().to_bytes(), b"/caf\xE9");
    }

    /// A sub-jail's root is a wall like the served directory's: relative and absolute links
    /// to a sibling folder or to the parent are outside, links inside work, also when the
    /// folder itself was reached through a link.
    #[test]
    fn sub_jail_judges_links_against_its_own_root() {
        let base = std::env::temp_dir().join(format!("tinyftpd-jail-sub-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let root = base.join("root");
        fs::create_dir_all(root.join("scanner/sub")).unwrap();
        fs::create_dir_all(root.join("camera")).unwrap();
        fs::write(root.join("scanner/sub/s"), b"s").unwrap();
        fs::write(root.join("camera/c"), b"c").unwrap();
        let real = fs::canonicalize(&root).unwrap();
        let link = |target: &Path, name: &str| std::os::unix::fs::symlink(target, root.join(name));
        link(Path::new("../camera"), "scanner/rel").unwrap();
        link(&real.join("camera"), "scanner/abs").unwrap();
        link(Path::new(".."), "scanner/up").unwrap();
        link(&real, "scanner/absup").unwrap();
        link(&real.join("scanner/sub/s"), "scanner/abs-inside").unwrap();
        link(Path::new("sub"), "scanner/rel-inside").unwrap();
        link(Path::new("scanner"), "via").unwrap();
        link(Path::new("/etc"), "etc").unwrap();
        for openat2 in [true, false] {
            let jail = Jail::with_route(&root, openat2).unwrap();
            for folder in ["/scanner", "/via"] {
                let sub = jail.sub_jail(&vp(folder)).unwrap();
                assert!(sub.resolve(&vp("/")).unwrap().is_jail_root());
                for ok in ["/sub/s", "/abs-inside", "/rel-inside/s", "/../../sub/s"] {
                    let p = sub.resolve(&vp(ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
                    assert!(p.stat().unwrap().is_file(), "{folder} {ok}");
                }
                for out in ["/rel/c", "/abs/c", "/up", "/up/camera/c", "/absup/camera/c"] {
                    let e = sub.resolve(&vp(out)).unwrap_err();
                    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{folder} {out}");
                }
                assert!(sub.resolve(&vp("/camera/c")).is_err());
                assert!(sub.resolve_entry(&vp("/rel/new")).is_err());
                let (_, listing) = sub.list(&vp("/")).unwrap();
                let listing = listing.unwrap();
                assert!(listing.link_target(OsStr::new("rel")).is_none());
                assert!(listing.link_target(OsStr::new("up")).is_none());
                let shown = listing.link_target(OsStr::new("abs-inside")).unwrap().shown;
                assert_eq!(shown, "/sub/s");
            }
            assert_eq!(
                jail.sub_jail(&vp("/camera/c")).unwrap_err().kind(),
                io::ErrorKind::NotADirectory
            );
            assert_eq!(
                jail.sub_jail(&vp("/missing")).unwrap_err().kind(),
                io::ErrorKind::NotFound
            );
            assert_eq!(
                jail.sub_jail(&vp("/etc")).unwrap_err().kind(),
                io::ErrorKind::PermissionDenied
            );
        }
        assert_eq!(vp("/f").under(&vp("/scanner")).to_bytes(), b"/scanner/f");
        assert_eq!(vp("/").under(&vp("/scanner")).to_bytes(), b"/scanner");
        let _ = fs::remove_dir_all(&base);
    }
}
