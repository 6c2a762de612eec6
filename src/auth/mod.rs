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
use crate::fs::jail::VirtualPath;
use sha2::{Digest, Sha256};

/// The logged-in user for a name and password, or `None`. Every failed attempt costs the same
/// work whether the name is unknown, a `-u` account or a `--users` hash of whatever scheme and
/// rounds: one check against the costliest configured hash (see [`spend_like_costliest`]), so
/// that timing does not tell which names exist. The caller pads failures to the failure delay.
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
            root: config.anonymous_root.as_ref().map(|r| r.path.clone()),
        });
    }
    let accounts = || config.accounts.iter().chain(file_accounts);
    // Every name is compared, with no stop at the match: where in the list a name sits does not
    // show either.
    let account = accounts().fold(None, |found, a| {
        let matches = constant_time_eq(a.name.as_bytes(), name);
        found.or(matches.then_some(a))
    });
    let costliest = costliest_hash(accounts());
    let Some(account) = account else {
        spend_like_costliest(password, costliest, 0);
        return None;
    };
    let (password_ok, cost) = match &account.credential {
        Credential::Plain(expected) => (plain_password_eq(expected.as_bytes(), password), 0),
        Credential::Crypt(hash) => (
            sha_crypt::verify(password, hash),
            sha_crypt::verify_cost(hash).unwrap_or(0),
        ),
    };
    spend_like_costliest(password, costliest, cost);
    password_ok.then(|| User {
        name: account.name.clone(),
        writable: account.writable,
        root: account.root.as_ref().map(|r| r.path.clone()),
    })
}

/// The configured hash that costs most to verify, with that cost.
fn costliest_hash<'a>(accounts: impl Iterator<Item = &'a Account>) -> Option<(&'a str, u64)> {
    accounts
        .filter_map(|a| match &a.credential {
            Credential::Crypt(hash) => Some((hash.as_str(), sha_crypt::verify_cost(hash)?)),
            Credential::Plain(_) => None,
        })
        .max_by_key(|&(_, cost)| cost)
}

/// After a check that cost `spent` (0 for an unknown name or a `-u` password), checks the
/// password once more against a dummy of the costliest hash, so that the attempt costs at least
/// what the costliest account's does. An account as costly as that one needs nothing more.
/// (One cheaper than it pays its own check on top; the failure delay hides that difference.)
fn spend_like_costliest(password: &[u8], costliest: Option<(&str, u64)>, spent: u64) {
    let Some((hash, cost)) = costliest else {
        return; // only -u accounts: every check is a cheap comparison
    };
    if spent < cost {
        if let Some(dummy) = sha_crypt::dummy_like(hash) {
            std::hint::black_box(sha_crypt::verify(password, &dummy));
        }
    }
}

/// Compares a `-u` password through SHA-256 digests: equal-length inputs for
/// [`constant_time_eq`], so neither the contents nor the length of the password show in the
/// time taken.
fn plain_password_eq(expected: &[u8], given: &[u8]) -> bool {
    let digest = |bytes: &[u8]| {
        let mut sha = Sha256::new();
        sha.update(bytes);
        sha.finalize()
    };
    constant_time_eq(&digest(expected), &digest(given))
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
    /// The folder of DIR this login sees as `/` (`None`: all of DIR).
    pub root: Option<VirtualPath>,
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
            root: None,
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
            root: None,
        }];
        assert_eq!(
            authenticate(&c, &file, b"carol", b"pw").map(|u| u.writable),
            Some(false)
        );
        assert!(authenticate(&c, &file, b"carol", b"pW").is_none());
        assert!(authenticate(&c, &file, b"dave", b"pw").is_none());
    }

    #[test]
    fn the_costliest_hash_is_the_dummy() {
        let account = |name: &str, hash: &str| Account {
            name: name.into(),
            credential: Credential::Crypt(hash.into()),
            writable: false,
            root: None,
        };
        let cheap = sha_crypt::hash_sha512(b"pw", "salt");
        let costly = "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA";
        let file = [
            account("a", &cheap),
            account("b", costly),
            account("c", &cheap),
        ];
        let c = config();
        let all = || c.accounts.iter().chain(&file);
        assert_eq!(costliest_hash(all()).map(|(h, _)| h), Some(costly));
        assert_eq!(costliest_hash(c.accounts.iter()), None);
        // Duplicate names cannot come from one file, but -u and --users may share one: the
        // first wins, as before.
        assert!(authenticate(&c, &[account("alice", &cheap)], b"alice", b"secret").is_some());
    }

    #[test]
    fn plain_passwords_of_any_length_compare() {
        assert!(plain_password_eq(b"secret", b"secret"));
        assert!(!plain_password_eq(b"secret", b"secre"));
        assert!(!plain_password_eq(b"secret", b"secret\0"));
        assert!(plain_password_eq(b"", b""));
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
