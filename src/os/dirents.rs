//! A directory's entries read straight from its descriptor with getdents64(2) into one buffer,
//! handed out as borrowed names (no allocation per entry), and fstatat(2) on those names as they
//! lie in the buffer (already NUL-ended, so no C string is built either). For listings, where a
//! directory of 10,000 entries must cost little more than the system calls themselves.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use super::sys::{self, FileStat};

/// What getdents64 says an entry is, without a stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DirentKind {
    Dir,
    File,
    Symlink,
    /// A device, FIFO or socket.
    Special,
    /// The file system does not say (DT_UNKNOWN): stat it.
    Unknown,
}

impl DirentKind {
    /// The `st_mode` file-type bits of this kind (a FIFO's for any special kind); `None` when
    /// the file system did not say.
    pub fn type_bits(self) -> Option<u32> {
        match self {
            DirentKind::Dir => Some(libc::S_IFDIR),
            DirentKind::File => Some(libc::S_IFREG),
            DirentKind::Symlink => Some(libc::S_IFLNK),
            DirentKind::Special => Some(libc::S_IFIFO),
            DirentKind::Unknown => None,
        }
    }
}

/// One entry, borrowed from the reader's buffer until the next call.
#[derive(Debug, Clone, Copy)]
pub struct Dirent<'a> {
    /// The directory being read, for `*at` calls on the entry.
    pub dir: BorrowedFd<'a>,
    /// The name and the NUL after it, as getdents64 left them.
    name_nul: &'a [u8],
    pub kind: DirentKind,
}

impl Dirent<'_> {
    /// The entry's own metadata (AT_SYMLINK_NOFOLLOW): one fstatat, nothing allocated.
    pub fn stat(&self) -> io::Result<FileStat> {
        stat_at_nul(self.dir, self.name_nul)
    }

    pub fn name_bytes(&self) -> &[u8] {
        &self.name_nul[..self.name_nul.len() - 1]
    }
}

/// The reader: the directory opened for reading and one reused getdents64 buffer.
pub struct Dirents {
    fd: OwnedFd,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
}

impl Dirents {
    /// Reads the directory `dir` refers to (which may be an O_PATH descriptor): opens `.` of it
    /// for reading, which is that same directory whatever its name now is. `buffer` bytes are
    /// read per getdents64 call.
    pub fn open(dir: BorrowedFd<'_>, buffer: usize) -> io::Result<Dirents> {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        let fd = sys::open_at(dir, std::ffi::OsStr::new("."), flags, 0)?;
        Ok(Dirents {
            fd,
            buf: vec![0; buffer.max(MIN_BUFFER)],
            pos: 0,
            len: 0,
        })
    }

    /// The directory being read, for `*at` calls on its entries.
    pub fn dir(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The next entry other than `.` and `..`, in the order the file system gives them (the
    /// order readdir(3) gives too).
    pub fn next_entry(&mut self) -> io::Result<Option<Dirent<'_>>> {
        let (name, d_type) = loop {
            if self.pos >= self.len && !self.fill()? {
                return Ok(None);
            }
            let start = self.pos;
            let (reclen, d_type, nul) = parse_record(&self.buf[start..self.len])?;
            self.pos += reclen;
            let name = start + NAME_OFFSET..start + nul + 1;
            if !matches!(&self.buf[name.start..name.end - 1], b"" | b"." | b"..") {
                break (name, d_type);
            }
        };
        Ok(Some(Dirent {
            dir: self.fd.as_fd(),
            name_nul: &self.buf[name],
            kind: kind_of(d_type),
        }))
    }

    /// One getdents64 call; false at the end of the directory.
    fn fill(&mut self) -> io::Result<bool> {
        self.len = sys::getdents(self.fd.as_fd(), &mut self.buf)?.min(self.buf.len());
        self.pos = 0;
        Ok(self.len > 0)
    }
}

/// Smallest buffer: one record of the longest name (19 + 256 bytes, padded) must fit.
const MIN_BUFFER: usize = 1024;
/// struct linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, then the NUL-ended name.
const NAME_OFFSET: usize = 19;

/// The record at the start of `rec`: its length, d_type and where its name's NUL is.
fn parse_record(rec: &[u8]) -> io::Result<(usize, u8, usize)> {
    let bad = || io::Error::from(io::ErrorKind::InvalidData);
    if rec.len() < NAME_OFFSET {
        return Err(bad());
    }
    let reclen = usize::from(u16::from_ne_bytes([rec[16], rec[17]]));
    if reclen <= NAME_OFFSET || reclen > rec.len() {
        return Err(bad());
    }
    // The kernel pads a record to 8 bytes just past the name's NUL (filldir64), so that NUL
    // is in the last 8 bytes: no need to scan the whole name (the scan was a tenth of the
    // time of MLSD).
    let from = reclen.saturating_sub(8).max(NAME_OFFSET);
    let nul = rec[from..reclen]
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(bad)?;
    Ok((reclen, rec[18], from + nul))
}

fn kind_of(d_type: u8) -> DirentKind {
    match d_type {
        libc::DT_DIR => DirentKind::Dir,
        libc::DT_REG => DirentKind::File,
        libc::DT_LNK => DirentKind::Symlink,
        libc::DT_UNKNOWN => DirentKind::Unknown,
        _ => DirentKind::Special,
    }
}

/// fstatat(2) of `name_nul` (a name and its NUL) in `dir`, never following a symlink there
/// (AT_SYMLINK_NOFOLLOW).
fn stat_at_nul(dir: BorrowedFd<'_>, name_nul: &[u8]) -> io::Result<FileStat> {
    if name_nul.last() != Some(&0) {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name_nul` ends with a NUL (checked above), so the kernel reads no further than
    // the slice; `st` is valid for writes of one `struct stat`.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name_nul.as_ptr().cast(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstatat returned 0, so it filled in the whole struct.
    Ok(FileStat::from(&unsafe { st.assume_init() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn read_all(dir: &std::path::Path, buffer: usize) -> Vec<(Vec<u8>, DirentKind, u64)> {
        let d = fs::File::open(dir).unwrap();
        let mut entries = Dirents::open(d.as_fd(), buffer).unwrap();
        let mut out = Vec::new();
        while let Some(e) = entries.next_entry().unwrap() {
            out.push((e.name_bytes().to_vec(), e.kind, e.stat().unwrap().size));
        }
        out.sort();
        out
    }

    #[test]
    fn every_entry_once_with_its_kind_through_a_small_buffer() {
        let tmp = std::env::temp_dir().join(format!("tinyftpd-dirents-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir(&tmp).unwrap();
        let long = "n".repeat(255);
        for i in 0..300 {
            fs::write(tmp.join(format!("f{i:03}")), b"x").unwrap();
        }
        fs::write(tmp.join(&long), b"abc").unwrap();
        fs::create_dir(tmp.join("d")).unwrap();
        std::os::unix::fs::symlink("f000", tmp.join("l")).unwrap();
        // The smallest buffer forces many getdents calls and a record of the longest name.
        let small = read_all(&tmp, 0);
        let large = read_all(&tmp, 1 << 16);
        fs::remove_dir_all(&tmp).unwrap();
        assert_eq!(small, large);
        assert_eq!(small.len(), 303, "no . or ..");
        let kind = |n: &[u8]| small.iter().find(|e| e.0 == n).map(|e| (e.1, e.2));
        assert_eq!(kind(b"d").map(|k| k.0), Some(DirentKind::Dir));
        assert_eq!(kind(b"l"), Some((DirentKind::Symlink, 4)));
        assert_eq!(kind(long.as_bytes()), Some((DirentKind::File, 3)));
    }

    #[test]
    fn malformed_records_are_refused() {
        assert!(parse_record(&[0; 10]).is_err());
        let mut rec = [0u8; 32];
        rec[16] = 32;
        rec[18] = libc::DT_REG;
        rec[19..28].copy_from_slice(b"abcdefghi");
        // Padding after the NUL is whatever the buffer held before.
        rec[29..32].copy_from_slice(b"xyz");
        assert_eq!(parse_record(&rec).unwrap(), (32, libc::DT_REG, 28));
        rec[16] = 40;
        assert!(parse_record(&rec).is_err(), "longer than the buffer");
        rec[16] = 32;
        rec[28] = b'j';
        assert!(parse_record(&rec).is_err(), "no NUL");
        assert!(stat_at_nul(std::fs::File::open("/").unwrap().as_fd(), b".").is_err());
    }
}
