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
use std::process::{Command, Stdio};

use crate::client::BUF_SIZE;

/// Sizes of everything the run makes and moves.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub big: u64,
    pub mid: u64,
    pub small: u64,
    pub list_entries: usize,
}

/// The run's certificate and key (PEM), shared by every server that speaks TLS.
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The key type, for the notes.
    pub kind: &'static str,
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

    /// A self-signed ECDSA P-256 certificate for localhost and 127.0.0.1 (the kind Let's
    /// Encrypt issues by default), made with `openssl req` in scratch, for every server.
    pub fn make_certificate(&self) -> Result<TlsFiles, String> {
        let files = TlsFiles {
            cert: self.scratch("bench-cert.pem"),
            key: self.scratch("bench-key.pem"),
            kind: "ECDSA P-256",
        };
        let status = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
            ])
            .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            // CA:FALSE: webpki (rustls) refuses a CA certificate as a server's own.
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(&files.key)
            .arg("-out")
            .arg(&files.cert)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("openssl: {e} (apt-get install openssl)"))?;
        if !status.success() {
            return Err(format!("openssl req failed: {status}"));
        }
        // Servers that drop privileges before reading it (none here) could still do so.
        fs::set_permissions(&files.key, fs::Permissions::from_mode(0o644))
            .map_err(|e| e.to_string())?;
        Ok(files)
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
