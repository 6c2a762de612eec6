//! The `--users FILE` format: one account per line, `name:hash:ro|rw`, where `hash` is a
//! crypt(3) SHA-512 (`$6$...`) or SHA-256 (`$5$...`) string, as made by `openssl passwd -6`,
//! `mkpasswd -m sha-512` or `tinyftpd --hash-password`. Blank lines and `#` comments are
//! allowed. Parsing is pure; a malformed line is an error naming its number.

use std::fmt;
use std::path::Path;

use crate::auth::sha_crypt;
use crate::config::{Account, Credential};

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
        // The hash contains no ':' (its alphabet is ./0-9A-Za-z and '$'), so split from both ends.
        let (name, rest) = line
            .split_once(':')
            .ok_or_else(|| error("expected name:hash:ro|rw"))?;
        let (hash, access) = rest
            .rsplit_once(':')
            .ok_or_else(|| error("expected name:hash:ro|rw"))?;
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
}
