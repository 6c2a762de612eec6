//! The served directory: test files made once in a temp dir, removed at the end.
//!
//! Layout (the root is not writable, as vsftpd demands for an anonymous root):
//! `big.bin` (real data, in the page cache), `mid.bin`, `small.bin`, `list/` with
//! many empty entries, and `upload/` (world-writable) where every STOR goes.
//! Small uploads are kept until the end: deleting thousands of files mid-run makes
//! ext4's inode allocator slow for a while (recently deleted inodes are skipped),
//! which would skew whatever runs next.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::client::BUF_SIZE;

/// Sizes of everything the run makes and moves.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub big: u64,
    pub mid: u64,
    pub small: u64,
    pub list_entries: usize,
}

/// A temp directory that removes itself when dropped.
pub struct Fixtures {
    pub root: PathBuf,
    pub sizes: Sizes,
}

pub const BIG: &str = "big.bin";
pub const MID: &str = "mid.bin";
pub const SMALL: &str = "small.bin";
pub const LIST_DIR: &str = "list";
pub const UPLOAD_DIR: &str = "upload";

/// A 1 MiB buffer of incompressible-looking bytes (xorshift), used for files and STOR.
pub fn pattern() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut v = Vec::with_capacity(BUF_SIZE);
    while v.len() < BUF_SIZE {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}

fn write_file(path: &Path, size: u64, pat: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    let mut left = size;
    while left > 0 {
        let n = left.min(pat.len() as u64) as usize;
        f.write_all(&pat[..n])?;
        left -= n as u64;
    }
    // Flush to disk now so background writeback does not disturb the measurements;
    // the pages stay in the page cache.
    f.sync_all()?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))
}

impl Fixtures {
    /// Make the directory and its files.
    pub fn create(sizes: Sizes) -> io::Result<Fixtures> {
        let root = std::env::temp_dir().join(format!("tinyftpd-bench-{}", std::process::id()));
        if root.exists() {
            fs::remove_dir_all(&root)?;
        }
        fs::create_dir(&root)?;
        // From here on Drop cleans up, even if a later step fails.
        let fx = Fixtures { root, sizes };
        let pat = pattern();
        let srv = fx.served();
        fs::create_dir(&srv)?;
        write_file(&srv.join(BIG), sizes.big, &pat)?;
        write_file(&srv.join(MID), sizes.mid, &pat)?;
        write_file(&srv.join(SMALL), sizes.small, &pat)?;
        let list = srv.join(LIST_DIR);
        fs::create_dir(&list)?;
        for i in 0..sizes.list_entries {
            File::create(list.join(format!("entry-{i:06}.dat")))?;
        }
        let up = srv.join(UPLOAD_DIR);
        fs::create_dir(&up)?;
        fs::set_permissions(&up, fs::Permissions::from_mode(0o777))?;
        for d in [&fx.root, &srv, &list] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o755))?;
        }
        Ok(fx)
    }

    /// The directory the FTP servers serve.
    pub fn served(&self) -> PathBuf {
        self.root.join("srv")
    }

    /// Scratch space outside the served tree (configs, logs, ceiling files).
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Path of an uploaded file.
    pub fn uploaded(&self, name: &str) -> PathBuf {
        self.served().join(UPLOAD_DIR).join(name)
    }
}

impl Drop for Fixtures {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.root) {
            eprintln!("warning: could not remove {}: {e}", self.root.display());
        }
    }
}
