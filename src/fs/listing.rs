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
    let mut line = Vec::with_capacity(64 + name.len());
    push_list_line(&mut line, name, info, link_target, now);
    line
}

/// [`list_line`] appended to `out`: nothing allocated, no `fmt` machinery (a listing of 10,000
/// entries formats 10,000 of these).
pub fn push_list_line(
    out: &mut Vec<u8>,
    name: &[u8],
    info: &EntryInfo,
    link_target: Option<&[u8]>,
    now: i64,
) {
    let mut s = Scratch::new();
    s.permissions(info);
    s.byte(b' ');
    s.padded(info.nlink, 3);
    s.put(b" ftp      ftp      ");
    s.padded(info.size, 12);
    s.byte(b' ');
    s.list_date(info.mtime, now);
    s.byte(b' ');
    out.extend_from_slice(s.bytes());
    out.extend_from_slice(name);
    if let (EntryKind::Symlink, Some(target)) = (kind_of(info), link_target) {
        out.extend_from_slice(b" -> ");
        out.extend_from_slice(target);
    }
}

/// The fixed-size part of a line (everything but names), built on the stack and appended to
/// the listing buffer in one copy: each `Vec::push` checks the capacity, which cost as much as
/// the formatting itself. Its longest use, an MLSx line of every fact, is under 160 bytes.
struct Scratch {
    buf: [u8; 192],
    len: usize,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            buf: [0; 192],
            len: 0,
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    // Inlined, so that each fixed piece is copied as a constant-size move rather than through
    // a call to memcpy (measured: a third fewer instructions per MLSD line).
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    #[inline(always)]
    fn byte(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    fn permissions(&mut self, info: &EntryInfo) {
        let kind = match kind_of(info) {
            EntryKind::Dir => b'd',
            EntryKind::Symlink => b'l',
            EntryKind::File => b'-',
            EntryKind::Other => match info.mode & 0o170000 {
                0o010000 => b'p',
                0o020000 => b'c',
                0o060000 => b'b',
                0o140000 => b's',
                _ => b'?',
            },
        };
        self.byte(kind);
        for shift in [6, 3, 0] {
            let bits = (info.mode >> shift) & 7;
            self.byte(if bits & 4 != 0 { b'r' } else { b'-' });
            self.byte(if bits & 2 != 0 { b'w' } else { b'-' });
            self.byte(if bits & 1 != 0 { b'x' } else { b'-' });
        }
    }

    /// `Mon DD HH:MM` for recent files, `Mon DD  YYYY` otherwise; English month names, UTC.
    fn list_date(&mut self, mtime: i64, now: i64) {
        let t = CivilTime::from_unix(mtime);
        let recent = mtime > now - RECENT_SECS && mtime < now + FUTURE_SLACK_SECS;
        self.put(t.month_name().as_bytes());
        self.byte(b' ');
        self.padded(u64::from(t.day), 2);
        if recent {
            self.byte(b' ');
            self.two_digits(t.hour);
            self.byte(b':');
            self.two_digits(t.minute);
        } else {
            self.put(b"  ");
            if t.year < 0 {
                self.byte(b'-');
            }
            self.padded(t.year.unsigned_abs(), 0);
        }
    }

    /// `v` in decimal, right-aligned in `width` columns (as `{:>width$}`).
    fn padded(&mut self, mut v: u64, width: usize) {
        let mut digits = [b' '; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        let start = i.min(digits.len().saturating_sub(width));
        self.put(&digits[start..]);
    }

    /// `v` (below 100) as two digits (`{:02}`).
    fn two_digits(&mut self, v: u32) {
        self.put(&[b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8]);
    }

    /// `YYYYMMDDHHMMSS` (`{:04}` year) as [`mdtm`] gives it.
    fn timestamp(&mut self, mtime: i64) {
        let t = CivilTime::from_unix(mtime);
        if !(0..10_000).contains(&t.year) {
            self.put(t.to_ftp_timestamp().as_bytes());
            return;
        }
        let year = t.year as u32;
        for part in [
            year / 100,
            year % 100,
            t.month,
            t.day,
            t.hour,
            t.minute,
            t.second,
        ] {
            self.two_digits(part);
        }
    }

    fn hex(&mut self, mut v: u64) {
        let mut digits = [0u8; 16];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b"0123456789abcdef"[(v & 15) as usize];
            v >>= 4;
            if v == 0 {
                break;
            }
        }
        self.put(&digits[i..]);
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
            .is_some_and(|i| self.has(i))
    }

    /// Whether a fact needs more than the entry's kind (what getdents tells).
    pub fn needs_stat(self) -> bool {
        [SIZE, MODIFY, UNIQUE, UNIX_MODE]
            .iter()
            .any(|&i| self.has(i))
    }

    /// Whether fact number `i` of [`MLST_FACTS`] is selected (no name lookup per entry).
    fn has(self, i: usize) -> bool {
        self.0 & (1 << i) != 0
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
    let mut line = Vec::with_capacity(96 + name.len());
    push_mlsx_line(&mut line, name, info, role, facts, writable);
    line
}

// Positions in MLST_FACTS.
const TYPE: usize = 0;
const SIZE: usize = 1;
const MODIFY: usize = 2;
const PERM: usize = 3;
const UNIQUE: usize = 4;
const UNIX_MODE: usize = 5;

/// [`mlsx_line`] appended to `out`: nothing allocated, no `fmt` machinery.
pub fn push_mlsx_line(
    out: &mut Vec<u8>,
    name: &[u8],
    info: &EntryInfo,
    role: MlsxRole,
    facts: FactSet,
    writable: bool,
) {
    let is_dir = kind_of(info) == EntryKind::Dir;
    let mut s = Scratch::new();
    if facts.has(TYPE) {
        s.put(match (role, is_dir) {
            (MlsxRole::Current, _) => b"type=cdir;",
            (MlsxRole::Parent, _) => b"type=pdir;",
            (MlsxRole::Entry, true) => b"type=dir;",
            (MlsxRole::Entry, false) if kind_of(info) == EntryKind::File => b"type=file;",
            (MlsxRole::Entry, false) => b"type=OS.unix=special;",
        });
    }
    if facts.has(SIZE) && !is_dir {
        s.put(b"size=");
        s.padded(info.size, 0);
        s.byte(b';');
    }
    if facts.has(MODIFY) {
        s.put(b"modify=");
        s.timestamp(info.mtime);
        s.byte(b';');
    }
    if facts.has(PERM) {
        s.put(b"perm=");
        s.put(perm_fact(is_dir, writable, role).as_bytes());
        s.byte(b';');
    }
    if facts.has(UNIQUE) {
        s.put(b"unique=");
        s.hex(info.dev);
        s.byte(b'g');
        s.hex(info.ino);
        s.byte(b';');
    }
    if facts.has(UNIX_MODE) {
        s.put(b"UNIX.mode=");
        for shift in [9, 6, 3, 0] {
            s.byte(b'0' + ((info.mode >> shift) & 7) as u8);
        }
        s.byte(b';');
    }
    s.byte(b' ');
    out.extend_from_slice(s.bytes());
    out.extend_from_slice(name);
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
        let line = list_line(b"f", &file(0, NOW + 400 * 86_400), None, NOW);
        assert!(line.ends_with(b" Dec 18  2024 f"));
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

/// The formatters as they were before they wrote into the listing buffer (with `format!`), kept
/// to check that the allocation-free ones give the same bytes.
#[cfg(test)]
mod same_as_format {
    use super::*;

    fn old_list_line(name: &[u8], info: &EntryInfo, target: Option<&[u8]>, now: i64) -> Vec<u8> {
        let mut perms = String::new();
        perms.push(match kind_of(info) {
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
        });
        for shift in [6, 3, 0] {
            for (bit, c) in [(4, 'r'), (2, 'w'), (1, 'x')] {
                perms.push(if (info.mode >> shift) & bit != 0 {
                    c
                } else {
                    '-'
                });
            }
        }
        let t = CivilTime::from_unix(info.mtime);
        let recent = info.mtime > now - RECENT_SECS && info.mtime < now + FUTURE_SLACK_SECS;
        let date = if recent {
            format!(
                "{} {:>2} {:02}:{:02}",
                t.month_name(),
                t.day,
                t.hour,
                t.minute
            )
        } else {
            format!("{} {:>2}  {}", t.month_name(), t.day, t.year)
        };
        let mut line = format!(
            "{perms} {:>3} ftp      ftp      {:>12} {date} ",
            info.nlink, info.size
        )
        .into_bytes();
        line.extend_from_slice(name);
        if let (EntryKind::Symlink, Some(target)) = (kind_of(info), target) {
            line.extend_from_slice(b" -> ");
            line.extend_from_slice(target);
        }
        line
    }

    fn old_mlsx_line(name: &[u8], info: &EntryInfo, role: MlsxRole, facts: FactSet) -> Vec<u8> {
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
            out.push_str(&format!("perm={};", perm_fact(is_dir, true, role)));
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

    const NOW: i64 = 1_700_000_000;

    /// Files, directories, links, devices, FIFOs, sockets, odd modes; sizes, link counts and
    /// inodes from 0 to the largest; dates from before 1970 to far ahead.
    fn cases() -> Vec<EntryInfo> {
        let modes = [
            0o100644, 0o100000, 0o107777, 0o40755, 0o41777, 0o120777, 0o20620, 0o60660, 0o10644,
            0o140755, 0o170000, 0o4755,
        ];
        let numbers = [0, 1, 9, 10, 99, 100, 999, 1000, 123_456_789_012, u64::MAX];
        let times = [
            NOW,
            NOW - 1,
            NOW - RECENT_SECS,
            NOW - RECENT_SECS + 1,
            NOW + FUTURE_SLACK_SECS - 1,
            NOW + FUTURE_SLACK_SECS,
            NOW + 400 * 86_400,
            0,
            -1,
            -62_135_596_800 - 86_400,
            253_402_300_800,
            4_000_000_000_000,
        ];
        let mut all = Vec::new();
        for (i, &mode) in modes.iter().enumerate() {
            for (j, &n) in numbers.iter().enumerate() {
                for &mtime in &times {
                    all.push(EntryInfo {
                        mode,
                        nlink: numbers[(i + j) % numbers.len()],
                        size: n,
                        mtime,
                        dev: numbers[(i * 3 + j) % numbers.len()],
                        ino: n.rotate_left(i as u32),
                    });
                }
            }
        }
        all
    }

    const NAMES: [&[u8]; 5] = [b"a", b"", b"sp ace;x=y", b"caf\xE9\r", b"-> \"q\""];

    #[test]
    fn list_lines_are_byte_identical() {
        for info in cases() {
            for name in NAMES {
                for target in [None, Some(&b"../t"[..])] {
                    let new = list_line(name, &info, target, NOW);
                    assert_eq!(new, old_list_line(name, &info, target, NOW), "{info:?}");
                }
            }
        }
    }

    #[test]
    fn mlsx_lines_are_byte_identical() {
        let fact_sets: Vec<FactSet> = (0..1u8 << MLST_FACTS.len()).map(FactSet).collect();
        for info in cases() {
            for role in [MlsxRole::Entry, MlsxRole::Current, MlsxRole::Parent] {
                for &facts in &fact_sets {
                    let new = mlsx_line(b"n", &info, role, facts, true);
                    assert_eq!(new, old_mlsx_line(b"n", &info, role, facts), "{info:?}");
                }
            }
        }
    }

    #[test]
    fn appended_lines_follow_what_is_in_the_buffer() {
        let info = cases()[0];
        let mut out = b"x\r\n".to_vec();
        push_list_line(&mut out, b"a", &info, None, NOW);
        push_mlsx_line(
            &mut out,
            b"b",
            &info,
            MlsxRole::Entry,
            FactSet::default(),
            true,
        );
        let mut want = b"x\r\n".to_vec();
        want.extend(old_list_line(b"a", &info, None, NOW));
        want.extend(old_mlsx_line(
            b"b",
            &info,
            MlsxRole::Entry,
            FactSet::default(),
        ));
        assert_eq!(out, want);
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
