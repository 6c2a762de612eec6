//! LIST, NLST, MLSD, MLST and STAT with a path. Directories are streamed entry by entry (one
//! getdents pass on the directory's own descriptor, one `fstatat` per entry, one buffered
//! writer), so a directory of any size lists in constant memory.

use std::ffi::OsString;
use std::io::{BufWriter, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{FtpError, FtpResult};
use crate::fs::jail::{JailedPath, Listing, RESERVED_PREFIX};
use crate::fs::listing::{self, EntryInfo, Glob, MlsxRole, GLOB_STEP_BUDGET};
use crate::net::transfer::{Flow, TransferError};
use crate::os::sys::EntryType;
use crate::protocol::command::ListArg;
use crate::protocol::reply::{codes, Reply};
use crate::session::Session;

use super::transfers::over_data_connection;

/// Most lines a STAT reply carries: it is built in memory, unlike a LIST over a data connection.
const MAX_STAT_LINES: usize = 10_000;
const LISTING_BUFFER: usize = 64 * 1024;
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

/// One entry of a directory, ready to format; `None` when it must not be shown (an upload
/// temporary, a dot file without `-a`, a symlink leading out of the jail).
struct Shown {
    name: OsString,
    info: EntryInfo,
    link_target: Option<OsString>,
}

fn examine(listing: &Listing, name: OsString, format: Format, show_hidden: bool) -> Option<Shown> {
    if !visible(&name, show_hidden) {
        return None;
    }
    let mut info = listing.stat(&name).ok()?;
    let mut link_target = None;
    if info.is_symlink() {
        let target = listing.link_target(&name)?;
        if format == Format::Machine {
            // MLSD shows a link as what it points at (RFC 3659 has no link type).
            info = target.stat;
        }
        link_target = Some(target.shown);
    }
    Some(Shown {
        name,
        info,
        link_target,
    })
}

fn visible(name: &std::ffi::OsStr, show_hidden: bool) -> bool {
    let bytes = name.as_encoded_bytes();
    !(bytes.starts_with(RESERVED_PREFIX) || (bytes.first() == Some(&b'.') && !show_hidden))
}

/// NLST needs no `fstatat`: the entry type from getdents tells symlinks apart, and only those
/// need a look (whether they stay inside the jail). Halves NLST time on a large directory.
fn shown_name_only(
    listing: &Listing,
    name: OsString,
    kind: EntryType,
    show_hidden: bool,
) -> Option<OsString> {
    if !visible(&name, show_hidden) {
        return None;
    }
    let is_link = match kind {
        EntryType::Symlink => true,
        EntryType::Unknown => listing.stat(&name).map_or(true, |m| m.is_symlink()),
        EntryType::Dir | EntryType::Other => false,
    };
    if is_link {
        listing.link_target(&name)?;
    }
    Some(name)
}

fn format_line(s: &Session, shown: &Shown, format: Format, now: i64) -> Vec<u8> {
    let name = shown.name.as_encoded_bytes();
    match format {
        Format::Long => listing::list_line(
            name,
            &shown.info,
            shown.link_target.as_ref().map(|t| t.as_encoded_bytes()),
            now,
        ),
        Format::NamesOnly => name.to_vec(),
        Format::Machine => listing::mlsx_line(
            name,
            &shown.info,
            MlsxRole::Entry,
            s.state.facts,
            s.writable(),
        ),
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
    out: &mut impl Write,
) -> Result<u64, TransferError> {
    let now = now();
    let limit = s.ctx.config.max_list_entries;
    let mut count = 0u64;
    let mut glob_steps = 0u64;
    let mut seen = 0usize;
    while let Some((name, kind)) = listing.next_entry().map_err(TransferError::Disk)? {
        if seen.is_multiple_of(WATCH_EVERY) && s.watch_control(count) == Flow::Abort {
            return Err(TransferError::Aborted);
        }
        seen += 1;
        if count >= limit {
            return Err(TransferError::Failed(FtpError::ListingTooLong(limit)));
        }
        if let Some(glob) = glob {
            if !glob.matches(name.as_encoded_bytes(), &mut glob_steps) {
                if glob_steps > GLOB_STEP_BUDGET {
                    return Err(TransferError::Failed(FtpError::PatternTooCostly));
                }
                continue;
            }
        }
        let mut line = if format == Format::NamesOnly {
            let Some(name) = shown_name_only(listing, name, kind, show_hidden) else {
                continue;
            };
            // A pattern's matches go back with the directory as the client wrote it, ready
            // for RETR.
            let mut line = glob.map_or_else(Vec::new, |g| g.prefix.clone());
            line.extend_from_slice(name.as_encoded_bytes());
            line
        } else {
            let Some(shown) = examine(listing, name, format, show_hidden) else {
                continue;
            };
            format_line(s, &shown, format, now)
        };
        line.extend_from_slice(b"\r\n");
        out.write_all(&line).map_err(TransferError::Network)?;
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
        let mut out = BufWriter::with_capacity(LISTING_BUFFER, data);
        let count = match listing.as_mut() {
            Some(listing) => {
                write_directory(s, listing, format, show_hidden, glob.as_ref(), &mut out)?
            }
            None => {
                let line = match format {
                    Format::NamesOnly => name_as_given.clone(),
                    _ => listing::list_line(path.virtual_path().file_name(), &meta, None, now()),
                };
                out.write_all(&line)
                    .and_then(|_| out.write_all(b"\r\n"))
                    .map_err(TransferError::Network)?;
                1
            }
        };
        out.flush().map_err(TransferError::Network)?;
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
        let mut out = BufWriter::with_capacity(LISTING_BUFFER, data);
        for (name, m, role) in [
            (&b"."[..], &meta, MlsxRole::Current),
            (b"..", &parent_meta, MlsxRole::Parent),
        ] {
            let mut line = listing::mlsx_line(name, m, role, s.state.facts, s.writable());
            line.extend_from_slice(b"\r\n");
            out.write_all(&line).map_err(TransferError::Network)?;
        }
        let count = write_directory(s, &mut listing, Format::Machine, true, None, &mut out)?;
        out.flush().map_err(TransferError::Network)?;
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
        while let Some((name, _)) = listing.next_entry()? {
            if seen == MAX_STAT_LINES {
                break;
            }
            seen += 1;
            if let Some(shown) = examine(&listing, name, Format::Long, show_hidden) {
                let mut line = b" ".to_vec();
                line.extend(format_line(s, &shown, Format::Long, now));
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
