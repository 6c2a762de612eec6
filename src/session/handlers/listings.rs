//! LIST, NLST, MLSD, MLST and STAT with a path. Directories are streamed entry by entry (one
//! getdents pass on the directory's own descriptor, an `fstatat` per entry only where the line
//! needs one, each line formatted straight into one 64 KiB buffer), so a directory of any size
//! lists in constant memory and with no allocation per entry.

use std::ffi::OsString;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{FtpError, FtpResult};
use crate::fs::jail::{JailedPath, ListedEntry, Listing, RESERVED_PREFIX};
use crate::fs::listing::{self, EntryInfo, FactSet, Glob, MlsxRole, GLOB_STEP_BUDGET};
use crate::net::transfer::{Flow, TransferError};
use crate::os::dirents::DirentKind;
use crate::protocol::command::ListArg;
use crate::protocol::reply::{codes, Reply};
use crate::session::Session;

use super::transfers::over_data_connection;

/// Most lines a STAT reply carries: it is built in memory, unlike a LIST over a data connection.
const MAX_STAT_LINES: usize = 10_000;
const LISTING_BUFFER: usize = 64 * 1024;
/// Room past [`LISTING_BUFFER`] for the line that crosses it: a 255-byte name and a link
/// target of up to PATH_MAX, so the buffer never grows.
const LONGEST_LINE: usize = 5 * 1024;
/// Entries between two looks at the control connection (ABOR) during a listing.
const WATCH_EVERY: usize = 512;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Long,
    NamesOnly,
    Machine,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// What a LIST or MLSD line shows of an entry: its metadata (for MLSD, of what a symlink leads
/// to) and, for a symlink, the target to show. `None` for a symlink leading out of the jail or
/// nowhere, which is left out.
fn examine(entry: &ListedEntry<'_>, format: Format) -> Option<(EntryInfo, Option<OsString>)> {
    let mut info = entry.stat().ok()?;
    if !info.is_symlink() {
        return Some((info, None));
    }
    let target = entry.link_target()?;
    if format == Format::Machine {
        // MLSD shows a link as what it points at (RFC 3659 has no link type).
        info = target.stat;
    }
    Some((info, Some(target.shown)))
}

/// MLSD facts that need no more than the kind (`type`, `perm`) come from getdents alone; the
/// kind is all [`listing::push_mlsx_line`] reads then. `None` when a stat is needed.
fn kind_only(entry: &ListedEntry<'_>, facts: FactSet) -> Option<EntryInfo> {
    // A symlink is shown as what it leads to, which only its target's stat tells.
    if facts.needs_stat() || entry.kind() == DirentKind::Symlink {
        return None;
    }
    Some(EntryInfo {
        mode: entry.kind().type_bits()?,
        nlink: 0,
        size: 0,
        mtime: 0,
        dev: 0,
        ino: 0,
    })
}

fn visible(name: &[u8], show_hidden: bool) -> bool {
    !(name.starts_with(RESERVED_PREFIX) || (name.first() == Some(&b'.') && !show_hidden))
}

/// NLST needs no `fstatat`: the entry type from getdents tells symlinks apart, and only those
/// need a look (whether they stay inside the jail). Halves NLST time on a large directory.
fn name_is_shown(entry: &ListedEntry<'_>) -> bool {
    let is_link = match entry.kind() {
        DirentKind::Symlink => true,
        DirentKind::Unknown => entry.stat().map_or(true, |m| m.is_symlink()),
        DirentKind::Dir | DirentKind::File | DirentKind::Special => false,
    };
    !is_link || entry.link_target().is_some()
}

/// How the lines of one listing are made: fixed for the whole listing, looked up once.
struct LineFormat<'g> {
    format: Format,
    facts: FactSet,
    writable: bool,
    now: i64,
    /// A pattern's matches go back with the directory as the client wrote it, ready for RETR.
    prefix: &'g [u8],
}

impl LineFormat<'_> {
    /// Appends the entry's line (without CRLF) to `out`; false (and nothing appended) when the
    /// entry is not shown.
    fn push(&self, out: &mut Vec<u8>, entry: &ListedEntry<'_>) -> bool {
        let name = entry.name();
        match self.format {
            Format::NamesOnly => {
                if !name_is_shown(entry) {
                    return false;
                }
                if !self.prefix.is_empty() {
                    out.extend_from_slice(self.prefix);
                }
                out.extend_from_slice(name);
            }
            Format::Machine => {
                let info = match kind_only(entry, self.facts) {
                    Some(info) => info,
                    None => match examine(entry, self.format) {
                        Some((info, _)) => info,
                        None => return false,
                    },
                };
                let role = MlsxRole::Entry;
                listing::push_mlsx_line(out, name, &info, role, self.facts, self.writable);
            }
            Format::Long => {
                let Some((info, target)) = examine(entry, self.format) else {
                    return false;
                };
                let target = target.as_ref().map(|t| t.as_encoded_bytes());
                listing::push_list_line(out, name, &info, target, self.now);
            }
        }
        true
    }
}

/// The data connection's side of a listing: lines are formatted straight into one buffer,
/// written out 64 KiB at a time.
struct LineBuffer<W: Write> {
    out: W,
    buf: Vec<u8>,
}

impl<W: Write> LineBuffer<W> {
    fn new(out: W) -> LineBuffer<W> {
        LineBuffer {
            out,
            buf: Vec::with_capacity(LISTING_BUFFER + LONGEST_LINE),
        }
    }

    /// Ends the line just appended to `buf`, and writes a full 64 KiB when there is one.
    fn end_line(&mut self) -> std::io::Result<()> {
        self.buf.extend_from_slice(b"\r\n");
        while self.buf.len() >= LISTING_BUFFER {
            self.out.write_all(&self.buf[..LISTING_BUFFER])?;
            self.buf.drain(..LISTING_BUFFER);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), TransferError> {
        self.out
            .write_all(&self.buf)
            .and_then(|_| self.out.flush())
            .map_err(TransferError::Network)
    }
}

/// Streams the lines for the listed directory into `out`, looking at the control connection
/// now and then.
fn write_directory(
    s: &mut Session,
    listing: &mut Listing,
    format: Format,
    show_hidden: bool,
    glob: Option<&Glob>,
    out: &mut LineBuffer<impl Write>,
) -> Result<u64, TransferError> {
    let lines = LineFormat {
        format,
        facts: s.state.facts,
        writable: s.writable(),
        now: now(),
        prefix: glob.map_or(&[][..], |g| &g.prefix[..]),
    };
    let limit = s.ctx.config.max_list_entries;
    let mut count = 0u64;
    let mut glob_steps = 0u64;
    let mut seen = 0usize;
    while let Some(entry) = listing.next_entry().map_err(TransferError::Disk)? {
        if seen.is_multiple_of(WATCH_EVERY) && s.watch_control(count) == Flow::Abort {
            return Err(TransferError::Aborted);
        }
        seen += 1;
        if count >= limit {
            return Err(TransferError::Failed(FtpError::ListingTooLong(limit)));
        }
        if let Some(glob) = glob {
            if !glob.matches(entry.name(), &mut glob_steps) {
                if glob_steps > GLOB_STEP_BUDGET {
                    return Err(TransferError::Failed(FtpError::PatternTooCostly));
                }
                continue;
            }
        }
        if !visible(entry.name(), show_hidden) || !lines.push(&mut out.buf, &entry) {
            continue;
        }
        out.end_line().map_err(TransferError::Network)?;
        count += 1;
    }
    Ok(count)
}

/// What LIST/NLST name: an existing path (with its directory opened for reading when it is
/// one), or (when none exists under that name) a directory and a pattern for its last
/// component.
type Listed = (JailedPath, Option<Listing>, Option<Glob>);

fn resolve_listing(s: &Session, given: &[u8]) -> Result<Listed, FtpError> {
    match s.jail().list(&s.virtual_path(given)?) {
        Ok((path, listing)) => Ok((path, listing, None)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match Glob::parse(given) {
            Some(glob) => {
                let (path, listing) = s.jail().list(&s.virtual_path(glob.dir())?)?;
                Ok((path, listing, Some(glob)))
            }
            None => Err(FtpError::Io(e)),
        },
        Err(e) => Err(FtpError::Io(e)),
    }
}

fn list_over_data(s: &mut Session, arg: &ListArg, format: Format) -> FtpResult {
    let (path, listing, glob) = resolve_listing(s, arg.path.as_deref().unwrap_or(b"."))?;
    let meta = path.stat()?;
    let show_hidden = arg.all() || s.ctx.config.show_dotfiles;
    let name_as_given = arg.path.clone().unwrap_or_default();
    let started = std::time::Instant::now();
    let preliminary = Reply::new(codes::OPENING_DATA, "Here comes the directory listing.");
    let mut listing = listing;
    let outcome = over_data_connection(s, preliminary, |s, data| {
        let mut out = LineBuffer::new(data);
        let count = match listing.as_mut() {
            Some(listing) => {
                write_directory(s, listing, format, show_hidden, glob.as_ref(), &mut out)?
            }
            None => {
                match format {
                    Format::NamesOnly => out.buf.extend_from_slice(&name_as_given),
                    _ => {
                        let name = path.virtual_path().file_name();
                        listing::push_list_line(&mut out.buf, name, &meta, None, now());
                    }
                }
                out.end_line().map_err(TransferError::Network)?;
                1
            }
        };
        out.finish()?;
        Ok(count)
    });
    super::transfers::finish_listing(s, &path, started, outcome)
}

pub fn list(s: &mut Session, arg: &ListArg) -> FtpResult {
    list_over_data(s, arg, Format::Long)
}

/// NLST: names only, one per line; for a directory the names inside it (not paths). Dot files,
/// like LIST, only with `-a` (or `--show-dotfiles`). A `*`/`?` pattern in the last component
/// lists the matching entries of that directory (LIST too).
pub fn nlst(s: &mut Session, arg: &ListArg) -> FtpResult {
    list_over_data(s, arg, Format::NamesOnly)
}

/// MLSD (RFC 3659 7): every entry (dot files too), plus `cdir` and `pdir`. A file is an error.
pub fn mlsd(s: &mut Session, arg: Option<&[u8]>) -> FtpResult {
    let (path, listing) = s.jail().list(&s.virtual_path(arg.unwrap_or(b"."))?)?;
    let Some(mut listing) = listing else {
        return Err(FtpError::Parse(
            crate::protocol::command::ParseError::BadArgument("MLSD needs a directory"),
        ));
    };
    let meta = path.stat()?;
    let parent_meta = s.jail().resolve(&path.virtual_path().parent())?.stat()?;
    let started = std::time::Instant::now();
    let preliminary = Reply::new(codes::OPENING_DATA, "Here comes the directory listing.");
    let outcome = over_data_connection(s, preliminary, |s, data| {
        let mut out = LineBuffer::new(data);
        for (name, m, role) in [
            (&b"."[..], &meta, MlsxRole::Current),
            (b"..", &parent_meta, MlsxRole::Parent),
        ] {
            listing::push_mlsx_line(&mut out.buf, name, m, role, s.state.facts, s.writable());
            out.end_line().map_err(TransferError::Network)?;
        }
        let count = write_directory(s, &mut listing, Format::Machine, true, None, &mut out)?;
        out.finish()?;
        Ok(count)
    });
    super::transfers::finish_listing(s, &path, started, outcome)
}

/// MLST (RFC 3659 7): the facts of one path, on the control connection.
pub fn mlst(s: &mut Session, arg: Option<&[u8]>) -> FtpResult {
    let path = s.resolve(arg.unwrap_or(b"."))?;
    let info = path.stat()?;
    let shown_path = path.virtual_path().to_bytes();
    let mut line = b" ".to_vec();
    // The root can be listed but never renamed or deleted: its facts are those of a cdir.
    let role = if path.virtual_path().is_root() {
        MlsxRole::Current
    } else {
        MlsxRole::Entry
    };
    line.extend(listing::mlsx_line(
        &shown_path,
        &info,
        role,
        s.state.facts,
        s.writable(),
    ));
    let mut first = b"Listing ".to_vec();
    first.extend_from_slice(&shown_path);
    Ok(Reply::multi(
        codes::FILE_ACTION_OK,
        first,
        vec![line],
        "End",
    ))
}

/// STAT with a path: the LIST lines over the control connection (213 for a file, 212 for a
/// directory), as Cyberduck expects. Bounded, since the reply is built in memory.
pub fn stat(s: &mut Session, arg: &ListArg) -> FtpResult {
    let (path, listing) = s
        .jail()
        .list(&s.virtual_path(arg.path.as_deref().unwrap_or(b"."))?)?;
    let meta = path.stat()?;
    let now = now();
    let show_hidden = arg.all() || s.ctx.config.show_dotfiles;
    let mut lines = Vec::new();
    let code = if let Some(mut listing) = listing {
        let mut seen = 0;
        let long = LineFormat {
            format: Format::Long,
            facts: s.state.facts,
            writable: s.writable(),
            now,
            prefix: b"",
        };
        while let Some(entry) = listing.next_entry()? {
            if seen == MAX_STAT_LINES {
                break;
            }
            seen += 1;
            let mut line = b" ".to_vec();
            if visible(entry.name(), show_hidden) && long.push(&mut line, &entry) {
                lines.push(line);
            }
        }
        codes::DIRECTORY_STATUS
    } else {
        let mut line = b" ".to_vec();
        line.extend(listing::list_line(
            path.virtual_path().file_name(),
            &meta,
            None,
            now,
        ));
        lines.push(line);
        codes::FILE_STATUS
    };
    let mut first = b"Status of ".to_vec();
    first.extend_from_slice(&path.virtual_path().to_bytes());
    first.push(b':');
    Ok(Reply::multi(code, first, lines, "End of status."))
}
