//! Accounts and logins: this module checks a USER/PASS pair against the configured logins and
//! names the logged-in [`User`]; `users_file` parses `--users FILE`; `sha_crypt` (on `sha2`)
//! hashes and verifies crypt(3) SHA-256/SHA-512 passwords. The login policy that needs session
//! state (the failure delay, the strike count) is in `session::handlers::login`.
//!
//! Must not touch: sockets, sessions or the served directory. Pure but for reading the users
//! file; nothing here imports from `session`, `server` or `net`.

pub(crate) mod sha2;
pub mod sha_crypt;
pub mod users_file;

use crate::config::{Account, Config, Credential};

/// A crypt hash checked when no account has the name, so that an unknown user takes as long
/// to refuse as a known one with a wrong password (no user enumeration by timing).
const DUMMY_HASH: &str = "$6$tinyftpd.dummy$Xv2P6oeIT7UDhxPudauZiMgqN5h6re/pq5/0cz5IAwl6i8PMuzFogE90Qt2A39UezI8Z6tVWfNuLnehcfjCMn.";

/// The logged-in user for a name and password, or `None`. Both a wrong name and a wrong
/// password give `None` and take about as long.
pub fn authenticate(
    config: &Config,
    file_accounts: &[Account],
    name: &[u8],
    password: &[u8],
) -> Option<User> {
    if is_anonymous_name(name) {
        return config.anonymous.then(|| User {
            name: "anonymous".to_string(),
            writable: config.anonymous_writable,
        });
    }
    let accounts = || config.accounts.iter().chain(file_accounts);
    let Some(account) = accounts().find(|a| constant_time_eq(a.name.as_bytes(), name)) else {
        if accounts().any(|a| matches!(a.credential, Credential::Crypt(_))) {
            let _ = sha_crypt::verify(password, DUMMY_HASH);
        }
        return None;
    };
    let password_ok = match &account.credential {
        Credential::Plain(expected) => constant_time_eq(expected.as_bytes(), password),
        Credential::Crypt(hash) => sha_crypt::verify(password, hash),
    };
    password_ok.then(|| User {
        name: account.name.clone(),
        writable: account.writable,
    })
}

pub fn is_anonymous_name(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"anonymous") || name.eq_ignore_ascii_case(b"ftp")
}

/// Compares without an early exit on the first differing byte. The length still shows, which
/// tells an attacker nothing useful about a password.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Who is logged in, and what they may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub writable: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let mut c = Config::new("/");
        c.anonymous = false;
        c.accounts = vec![Account {
            name: "alice".into(),
            credential: Credential::Plain("secret".into()),
            writable: true,
        }];
        c
    }

    #[test]
    fn accounts() {
        let c = config();
        assert_eq!(
            authenticate(&c, &[], b"alice", b"secret").map(|u| u.writable),
            Some(true)
        );
        assert!(authenticate(&c, &[], b"alice", b"secreT").is_none());
        assert!(authenticate(&c, &[], b"bob", b"secret").is_none());
        assert!(authenticate(&c, &[], b"anonymous", b"x").is_none());
    }

    #[test]
    fn hashed_accounts() {
        let c = config();
        let hash = sha_crypt::hash_sha512(b"pw", "somesalt");
        let file = [Account {
            name: "carol".into(),
            credential: Credential::Crypt(hash),
            writable: false,
        }];
        assert_eq!(
            authenticate(&c, &file, b"carol", b"pw").map(|u| u.writable),
            Some(false)
        );
        assert!(authenticate(&c, &file, b"carol", b"pW").is_none());
        assert!(authenticate(&c, &file, b"dave", b"pw").is_none());
        assert!(sha_crypt::verify(b"tinyftpd-dummy-password", DUMMY_HASH));
    }

    #[test]
    fn anonymous() {
        let mut c = config();
        c.anonymous = true;
        assert_eq!(
            authenticate(&c, &[], b"FTP", b"").map(|u| u.writable),
            Some(false)
        );
        c.anonymous_writable = true;
        assert_eq!(
            authenticate(&c, &[], b"anonymous", b"me@x").map(|u| u.writable),
            Some(true)
        );
    }
}
