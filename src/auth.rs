//! Checking a USER/PASS pair against the configured logins.

use crate::config::Config;
use crate::session::User;

/// The logged-in user for a name and password, or `None`. Both a wrong name and a wrong
/// password give `None`, and every account is compared, so the time taken does not tell which.
pub fn authenticate(config: &Config, name: &[u8], password: &[u8]) -> Option<User> {
    if is_anonymous_name(name) {
        return config.anonymous.then(|| User {
            name: "anonymous".to_string(),
            writable: config.anonymous_writable,
        });
    }
    let mut found = None;
    for account in &config.accounts {
        let name_ok = constant_time_eq(account.name.as_bytes(), name);
        let password_ok = constant_time_eq(account.password.as_bytes(), password);
        if name_ok && password_ok {
            found = Some(User {
                name: account.name.clone(),
                writable: account.writable,
            });
        }
    }
    found
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Account;

    fn config() -> Config {
        let mut c = Config::new("/");
        c.anonymous = false;
        c.accounts = vec![Account {
            name: "alice".into(),
            password: "secret".into(),
            writable: true,
        }];
        c
    }

    #[test]
    fn accounts() {
        let c = config();
        assert_eq!(
            authenticate(&c, b"alice", b"secret").map(|u| u.writable),
            Some(true)
        );
        assert!(authenticate(&c, b"alice", b"secreT").is_none());
        assert!(authenticate(&c, b"bob", b"secret").is_none());
        assert!(authenticate(&c, b"anonymous", b"x").is_none());
    }

    #[test]
    fn anonymous() {
        let mut c = config();
        c.anonymous = true;
        assert_eq!(
            authenticate(&c, b"FTP", b"").map(|u| u.writable),
            Some(false)
        );
        c.anonymous_writable = true;
        assert_eq!(
            authenticate(&c, b"anonymous", b"me@x").map(|u| u.writable),
            Some(true)
        );
    }
}
