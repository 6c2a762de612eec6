//! The `--users FILE` format: one account per line, `name:hash:ro|rw[:/folder]`, where `hash`
//! is a crypt(3) SHA-512 (`$6$...`) or SHA-256 (`$5$...`) string, as made by `openssl passwd
//! -6`, `mkpasswd -m sha-512` or `tinyftpd --hash-password`, and the optional folder (relative
//! to DIR) is the account's `/`. Blank lines and `#` comments are allowed. Parsing is pure; a
//! malformed line is an error naming its number (whether the folder exists is checked by the
//! server, through its jail, with the same line number).

use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::auth::sha_crypt;
use crate::config::{Account, AccountRoot, Credential};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersFileError {
    /// 1-based; 0 when the file itself could not be read.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for UsersFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "line {}: {}", self.line, self.reason)
        }
    }
}

pub fn parse(text: &str) -> Result<Vec<Account>, UsersFileError> {
    let mut accounts: Vec<Account> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let error = |reason: &str| UsersFileError {
            line: index + 1,
            reason: reason.to_string(),
        };
        // The hash contains no ':' (its alphabet is ./0-9A-Za-z and '$'), so the fields end at
        // the first three ':' and a folder may hold ':' itself.
        let mut fields = line.splitn(4, ':');
        let (Some(name), Some(hash), Some(access)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(error("expected name:hash:ro|rw[:/folder]"));
        };
        let root = fields
            .next()
            .map(|folder| AccountRoot::parse(folder, &format!("line {}", index + 1)))
            .transpose()
            .map_err(|reason| error(&reason))?;
        let writable = match access {
            "rw" => true,
            "ro" => false,
            _ => return Err(error("access must be ro or rw")),
        };
        if name.is_empty() || name.len() > crate::protocol::command::MAX_CREDENTIAL {
            return Err(error("bad user name"));
        }
        if crate::auth::is_anonymous_name(name.as_bytes()) {
            return Err(error(
                "anonymous/ftp is the anonymous login; use --anonymous",
            ));
        }
        if !sha_crypt::is_supported(hash) {
            return Err(error(
                "hash must be a crypt(3) $6$ (SHA-512) or $5$ (SHA-256) string",
            ));
        }
        if accounts.iter().any(|a| a.name == name) {
            return Err(error("user listed twice"));
        }
        accounts.push(Account {
            name: name.to_string(),
            credential: Credential::Crypt(hash.to_string()),
            writable,
            root,
        });
    }
    Ok(accounts)
}

pub fn load(path: &Path) -> Result<Vec<Account>, UsersFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| UsersFileError {
        line: 0,
        reason: format!("cannot read {}: {e}", path.display()),
    })?;
    parse(&text)
}

/// Largest users file read: far beyond any real one (a line is about 120 bytes), and a bound
/// on what a reload reads from a file that something keeps appending to.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// `--users FILE` as the running server keeps it: opened once at start-up, while still root,
/// so that a file only root may read (0600 root) keeps working after `--run-as`, and so that
/// no path is opened after `--chroot` (inside the jail the path would name a file in the
/// served tree).
///
/// A reload ([`UsersFile::load`] again, on SIGHUP) first tries the path when `follow_path` is
/// set (not chrooted): if the process may still open it, a file replaced by rename (most
/// editors, `sed -i`, config management) is picked up, and its descriptor is kept from then on.
/// Otherwise it re-reads the descriptor held from offset 0: a file rewritten in place is seen,
/// a file replaced by rename is not (the descriptor still names the old one).
#[derive(Debug)]
pub struct UsersFile {
    path: PathBuf,
    held: File,
    follow_path: bool,
}

impl UsersFile {
    /// Opens the file at `path`; `follow_path` says whether later reloads may try the path.
    pub fn open(path: &Path, follow_path: bool) -> Result<UsersFile, UsersFileError> {
        let held = File::open(path).map_err(|e| UsersFileError {
            line: 0,
            reason: format!("cannot read {}: {e}", path.display()),
        })?;
        Ok(UsersFile {
            path: path.to_path_buf(),
            held,
            follow_path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and parses the file (see the type's description for which file that is).
    pub fn load(&mut self) -> Result<Vec<Account>, UsersFileError> {
        if self.follow_path {
            if let Ok(file) = File::open(&self.path) {
                self.held = file;
            }
        }
        let text = read_from_start(&self.held).map_err(|e| UsersFileError {
            line: 0,
            reason: format!("cannot read {}: {e}", self.path.display()),
        })?;
        parse(&text)
    }
}

/// The whole file from offset 0, whatever the descriptor's position (pread, so the held
/// descriptor's offset never matters).
pub(crate) fn read_from_start(file: &File) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = file.read_at(&mut chunk, bytes.len() as u64)?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("larger than {MAX_FILE_BYTES} bytes"),
            ));
        }
    }
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";

    #[test]
    fn parses_accounts_comments_and_blank_lines() {
        let text = format!("# users\n\nalice:{HASH}:rw\n  bob:{HASH}:ro  \n");
        let accounts = parse(&text).unwrap();
        assert_eq!(accounts.len(), 2);
        assert!(accounts[0].writable && !accounts[1].writable);
        assert_eq!(accounts[1].name, "bob");
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line) in [
            (format!("alice:{HASH}:rw\nbob:{HASH}\n"), 2),
            (format!("\n\nalice:{HASH}:xx"), 3),
            ("alice:plaintext:rw".to_string(), 1),
            ("alice:$1$abc$def:rw".to_string(), 1),
            (format!(":{HASH}:rw"), 1),
            (format!("ftp:{HASH}:rw"), 1),
            (format!("a:{HASH}:rw\na:{HASH}:ro"), 2),
        ] {
            assert_eq!(parse(&text).unwrap_err().line, line, "{text}");
        }
    }

    #[test]
    fn an_optional_fourth_field_is_the_account_folder() {
        let text = format!(
            "scanner:{HASH}:rw:/scanner\ncamera:{HASH}:ro:cam/in//\nall:{HASH}:rw\nodd:{HASH}:rw:/a:b\n"
        );
        let accounts = parse(&text).unwrap();
        let root = |i: usize| {
            accounts[i]
                .root
                .as_ref()
                .map(|r| (r.shown(), r.origin.clone()))
        };
        assert_eq!(root(0), Some(("/scanner".into(), "line 1".into())));
        assert_eq!(root(1), Some(("/cam/in".into(), "line 2".into())));
        assert_eq!(root(2), None);
        assert_eq!(root(3), Some(("/a:b".into(), "line 4".into())));
        for (bad, reason) in [
            (format!("\nscanner:{HASH}:rw:"), "empty"),
            (format!("\nscanner:{HASH}:rw:/../etc"), "'..'"),
            (format!("\nscanner:{HASH}:rw:/a/../../b"), "'..'"),
            (format!("\nscanner:{HASH}:rw:/.tinyftpd-upload.1"), "usable"),
        ] {
            let e = parse(&bad).unwrap_err();
            assert_eq!(e.line, 2, "{bad}");
            assert!(e.reason.contains(reason), "{bad}: {e}");
        }
    }

    #[test]
    fn held_file_sees_in_place_edits_and_the_path_sees_renames() {
        let dir = std::env::temp_dir().join(format!("tinyftpd-users-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users");
        let names = |accounts: Vec<Account>| -> Vec<String> {
            accounts.into_iter().map(|a| a.name).collect()
        };
        std::fs::write(&path, format!("alice:{HASH}:rw\n")).unwrap();
        let mut held = UsersFile::open(&path, false).unwrap();
        let mut following = UsersFile::open(&path, true).unwrap();
        assert_eq!(names(held.load().unwrap()), ["alice"]);
        std::fs::write(&path, format!("bob:{HASH}:rw\n")).unwrap();
        assert_eq!(names(held.load().unwrap()), ["bob"]);
        assert_eq!(names(following.load().unwrap()), ["bob"]);
        std::fs::write(dir.join("new"), format!("carol:{HASH}:rw\n")).unwrap();
        std::fs::rename(dir.join("new"), &path).unwrap();
        assert_eq!(names(held.load().unwrap()), ["bob"], "the old file, held");
        assert_eq!(names(following.load().unwrap()), ["carol"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
