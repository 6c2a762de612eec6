//! Pure formatters for directory listings: `ls -l` lines for LIST, names for NLST, RFC 3659
//! facts for MLSD/MLST, and the MDTM timestamp. No I/O: they take an [`EntryInfo`].

use crate::fs::civil_time::CivilTime;

/// Files modified within this long before now (or slightly in the future) show the time of day
/// in LIST; older ones show the year, as `ls -l` does.
const RECENT_SECS: i64 = 182 * 86_400;
const FUTURE_SLACK_SECS: i64 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// What a listing needs to know about one entry: its `stat`, read through the jail.
pub use crate::os::sys::FileStat as EntryInfo;

/// What kind of entry `info` describes (from its mode).
pub fn kind_of(info: &EntryInfo) -> EntryKind {
    if info.is_symlink() {
        EntryKind::Symlink
    } else if info.is_dir() {
        EntryKind::Dir
    } else if info.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    }
}

/// One `ls -l` line without its CRLF: the layout FileZilla, WinSCP, lftp, curl and rclone parse.
/// Owner and group are shown as `ftp` so the listing reveals no host account names.
pub fn list_line(name: &[u8], info: &EntryInfo, link_target: Option<&[u8]>, now: i64) -> Vec<u8> {
    let mut line = format!(
        "{} {:>3} ftp      ftp      {:>12} {} ",
        permission_string(info),
        info.nlink,
        info.size,
        list_date(info.mtime, now)
    )
    .into_bytes();
    line.extend_from_slice(name);
    if let (EntryKind::Symlink, Some(target)) = (kind_of(info), link_target) {
        line.extend_from_slice(b" -> ");
        line.extend_from_slice(target);
    }
    line
}

fn permission_string(info: &EntryInfo) -> String {
    let kind = match kind_of(info) {
        EntryKind::Dir => 'd',
        EntryKind::Symlink => 'l',
        EntryKind::File => '-',
        EntryKind::Other => match info.mode & 0o170000 {
            0o010000 => 'p',
            0o020000 => 'c',
            0o060000 => 'b',
            0o140000 => 's',
            _ => '?',
        },
    };
    let mut s = String::with_capacity(10);
    s.push(kind);
    for shift in [6, 3, 0] {
        let bits = (info.mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// `Mon DD HH:MM` for recent files, `Mon DD  YYYY` otherwise; English month names, UTC.
pub fn list_date(mtime: i64, now: i64) -> String {
    let t = CivilTime::from_unix(mtime);
    let recent = mtime > now - RECENT_SECS && mtime < now + FUTURE_SLACK_SECS;
    if recent {
        format!(
            "{} {:>2} {:02}:{:02}",
            t.month_name(),
            t.day,
            t.hour,
            t.minute
        )
    } else {
        format!("{} {:>2}  {}", t.month_name(), t.day, t.year)
    }
}

/// The MDTM reply text: `YYYYMMDDHHMMSS` in UTC (RFC 3659 3).
pub fn mdtm(mtime: i64) -> String {
    CivilTime::from_unix(mtime).to_ftp_timestamp()
}

/// The MLSx facts a client can select with `OPTS MLST` (RFC 3659 7.9), in FEAT order.
pub const MLST_FACTS: [&str; 6] = ["type", "size", "modify", "perm", "unique", "UNIX.mode"];

/// Which facts are shown: one bit per entry of [`MLST_FACTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactSet(u8);

impl Default for FactSet {
    fn default() -> FactSet {
        FactSet((1 << MLST_FACTS.len()) - 1)
    }
}

impl FactSet {
    /// The facts named (case-insensitively); unknown names are ignored (RFC 3659 7.9).
    pub fn from_names(names: &[Vec<u8>]) -> FactSet {
        let mut bits = 0;
        for (i, fact) in MLST_FACTS.iter().enumerate() {
            if names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(fact.as_bytes()))
            {
                bits |= 1 << i;
            }
        }
        FactSet(bits)
    }

    pub fn contains(self, fact: &str) -> bool {
        MLST_FACTS
            .iter()
            .position(|f| *f == fact)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }

    /// The FEAT line: `MLST type*;size*;...` with `*` on the selected facts.
    pub fn feat_line(self) -> String {
        let mut line = String::from("MLST ");
        for fact in MLST_FACTS {
            line.push_str(fact);
            if self.contains(fact) {
                line.push('*');
            }
            line.push(';');
        }
        line
    }

    /// The `OPTS MLST` reply text: the facts now selected.
    pub fn selected(self) -> String {
        MLST_FACTS
            .iter()
            .filter(|f| self.contains(f))
            .map(|f| format!("{f};"))
            .collect()
    }
}

/// How an MLSx entry relates to the listed directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlsxRole {
    /// An entry inside the directory (or the MLST target).
    Entry,
    /// The listed directory itself (`type=cdir`).
    Current,
    /// Its parent (`type=pdir`).
    Parent,
}

/// One MLSx line without CRLF: `fact=value;...; name` (RFC 3659 7.2). `info` is of the target
/// when the entry is a symlink that stays inside the jail. `writable` is what this login may do.
pub fn mlsx_line(
    name: &[u8],
    info: &EntryInfo,
    role: MlsxRole,
    facts: FactSet,
    writable: bool,
) -> Vec<u8> {
    let mut out = String::new();
    let is_dir = kind_of(info) == EntryKind::Dir;
    if facts.contains("type") {
        let kind = match (role, is_dir) {
            (MlsxRole::Current, _) => "cdir",
            (MlsxRole::Parent, _) => "pdir",
            (MlsxRole::Entry, true) => "dir",
            (MlsxRole::Entry, false) if kind_of(info) == EntryKind::File => "file",
            (MlsxRole::Entry, false) => "OS.unix=special",
        };
        out.push_str(&format!("type={kind};"));
    }
    if facts.contains("size") && !is_dir {
        out.push_str(&format!("size={};", info.size));
    }
    if facts.contains("modify") {
        out.push_str(&format!("modify={};", mdtm(info.mtime)));
    }
    if facts.contains("perm") {
        out.push_str(&format!("perm={};", perm_fact(is_dir, writable, role)));
    }
    if facts.contains("unique") {
        out.push_str(&format!("unique={:x}g{:x};", info.dev, info.ino));
    }
    if facts.contains("UNIX.mode") {
        out.push_str(&format!("UNIX.mode={:04o};", info.mode & 0o7777));
    }
    let mut line = out.into_bytes();
    line.push(b' ');
    line.extend_from_slice(name);
    line
}

/// RFC 3659 7.5.5: what this login may really do with the entry. The listed directory and its
/// parent cannot be renamed or deleted through their `.`/`..` entries, and the root not at all.
fn perm_fact(is_dir: bool, writable: bool, role: MlsxRole) -> &'static str {
    match (is_dir, writable, role) {
        (true, true, MlsxRole::Entry) => "flcdmpe",
        (true, true, _) => "lcmpe",
        (true, false, _) => "el",
        (false, true, _) => "rawdf",
        (false, false, _) => "r",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64, mtime: i64) -> EntryInfo {
        EntryInfo {
            mode: 0o100644,
            nlink: 1,
            size,
            mtime,
            dev: 1,
            ino: 2,
        }
    }

    const NOW: i64 = 1_700_000_000; // 2023-11-14 22:13:20 UTC

    #[test]
    fn recent_file_shows_time() {
        let line = list_line(b"a.txt", &file(5, NOW - 3600), None, NOW);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "-rw-r--r--   1 ftp      ftp                 5 Nov 14 21:13 a.txt"
        );
    }

    #[test]
    fn old_file_shows_year_and_big_size() {
        let size = 5 * 1024 * 1024 * 1024 + 7;
        let line = list_line(b"big", &file(size, 0), None, NOW);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "-rw-r--r--   1 ftp      ftp        5368709127 Jan  1  1970 big"
        );
    }

    #[test]
    fn future_file_shows_year() {
        assert_eq!(list_date(NOW + 400 * 86_400, NOW), "Dec 18  2024");
    }

    #[test]
    fn directory_and_symlink() {
        let dir = EntryInfo {
            mode: 0o40755,
            nlink: 3,
            ..file(4096, NOW)
        };
        assert!(list_line(b"d", &dir, None, NOW).starts_with(b"drwxr-xr-x   3 "));
        let link = EntryInfo {
            mode: 0o120777,
            ..file(3, NOW)
        };
        assert!(list_line(b"l", &link, Some(b"sub"), NOW).ends_with(b"l -> sub"));
    }

    #[test]
    fn non_utf8_name_kept() {
        assert!(list_line(b"caf\xE9", &file(1, NOW), None, NOW).ends_with(b" caf\xE9"));
    }

    #[test]
    fn mdtm_format() {
        assert_eq!(mdtm(NOW), "20231114221320");
    }

    #[test]
    fn mlsx_lines() {
        let line = mlsx_line(
            b"a b",
            &file(5, NOW),
            MlsxRole::Entry,
            FactSet::default(),
            false,
        );
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "type=file;size=5;modify=20231114221320;perm=r;unique=1g2;UNIX.mode=0644; a b"
        );
        let dir = EntryInfo {
            mode: 0o40755,
            ..file(0, NOW)
        };
        let facts = FactSet::from_names(&[b"TYPE".to_vec(), b"perm".to_vec()]);
        assert_eq!(
            mlsx_line(b".", &dir, MlsxRole::Current, facts, true),
            b"type=cdir;perm=lcmpe; ."
        );
        assert_eq!(
            facts.feat_line(),
            "MLST type*;size;modify;perm*;unique;UNIX.mode;"
        );
        assert_eq!(facts.selected(), "type;perm;");
    }
}

/// A LIST/NLST argument whose last component holds `*` or `?` (tnftp's `mget *.txt` and
/// ncftpget send `NLST *.txt` for the server to expand). Only the last component is a pattern,
/// over one directory, so the work is bounded by that directory's size; the matcher also counts
/// its steps against a budget shared by the whole listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    /// The directory part as the client gave it (`""`, `"/"`, `"sub/"`), put before each name
    /// that NLST returns so the client can RETR it as is.
    pub prefix: Vec<u8>,
    pub pattern: Vec<u8>,
}

/// Steps of pattern matching allowed for one listing; past it the listing stops (451).
pub const GLOB_STEP_BUDGET: u64 = 50_000_000;

impl Glob {
    /// Splits `arg` into directory and pattern when its last component is a pattern.
    pub fn parse(arg: &[u8]) -> Option<Glob> {
        let split = arg.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
        let (prefix, pattern) = arg.split_at(split);
        let is_pattern = pattern.iter().any(|&b| b == b'*' || b == b'?');
        // No name is longer than 255 bytes, so neither is a pattern that can match one.
        (is_pattern && pattern.len() <= 255).then(|| Glob {
            prefix: prefix.to_vec(),
            pattern: pattern.to_vec(),
        })
    }

    /// The directory to list: the prefix, or the working directory.
    pub fn dir(&self) -> &[u8] {
        if self.prefix.is_empty() {
            b"."
        } else {
            &self.prefix
        }
    }

    /// Whether `name` matches; `steps` is charged with the work done (a leading dot must be
    /// matched literally, as in a shell).
    pub fn matches(&self, name: &[u8], steps: &mut u64) -> bool {
        if name.first() == Some(&b'.') && self.pattern.first() != Some(&b'.') {
            return false;
        }
        wildcard_match(&self.pattern, name, steps)
    }
}

/// `*` matches any run of bytes, `?` one byte; everything else itself. Greedy with a return to
/// the last `*`: linear in practice, at most pattern x name steps.
fn wildcard_match(pattern: &[u8], name: &[u8], steps: &mut u64) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        *steps += 1;
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod glob_tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        Glob::parse(pattern.as_bytes())
            .unwrap()
            .matches(name.as_bytes(), &mut 0)
    }

    #[test]
    fn patterns() {
        assert!(m("*.txt", "a.txt"));
        assert!(!m("*.txt", "a.txt.gz"));
        assert!(m("a?c", "abc") && !m("a?c", "ac"));
        assert!(m("*a*b*", "xxaxxbxx") && !m("*a*b*", "xxbxxaxx"));
        assert!(m("*", "anything") && !m("*", ".hidden") && m(".*", ".hidden"));
        assert!(m("**x", "x"));
    }

    #[test]
    fn split_and_bound() {
        let g = Glob::parse(b"/sub/*.txt").unwrap();
        assert_eq!(
            (g.prefix.as_slice(), g.pattern.as_slice(), g.dir()),
            (&b"/sub/"[..], &b"*.txt"[..], &b"/sub/"[..])
        );
        assert_eq!(Glob::parse(b"*.txt").unwrap().dir(), b".");
        assert!(
            Glob::parse(b"dir*/file").is_none(),
            "only the last component is a pattern"
        );
        assert!(Glob::parse(b"plain").is_none());
        let mut steps = 0;
        let name = vec![b'a'; 255];
        let pattern = format!("{}b", "*a".repeat(100));
        Glob::parse(pattern.as_bytes())
            .unwrap()
            .matches(&name, &mut steps);
        assert!(steps <= 255 * 255, "{steps}");
    }
}
