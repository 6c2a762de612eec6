//! The server's configuration: what the command line decided, as plain values.

use std::net::{IpAddr, Ipv4Addr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use crate::fs::jail::VirtualPath;

pub const DEFAULT_PORT: u16 = 2121;
pub const DEFAULT_MAX_CLIENTS: usize = 200;
pub const DEFAULT_MAX_PER_IP: usize = 32;
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_MAX_LIST_ENTRIES: u64 = 1_000_000;
pub const DEFAULT_DATA_TIMEOUT: Duration = Duration::from_secs(30);
/// The 220 greeting: names the software but not its version, so scanners learn less.
pub const DEFAULT_BANNER: &str = "tinyftpd ready.";

/// A named login, from `-u NAME:PASSWORD[:ro|:rw[:/SUB]]` or a line of `--users FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub credential: Credential,
    pub writable: bool,
    /// The account's own folder, its `/`; `None` is all of DIR.
    pub root: Option<AccountRoot>,
}

/// How an account's password is checked.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// From the command line, compared in constant time.
    Plain(String),
    /// A crypt(3) `$6$`/`$5$` string from a users file.
    Crypt(String),
}

impl std::fmt::Debug for Credential {
    /// Never prints the secret, so a debug log of a config cannot leak it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Plain(_) => f.write_str("Plain(****)"),
            Credential::Crypt(_) => f.write_str("Crypt(****)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub root: PathBuf,
    pub port: u16,
    /// Addresses to listen on; empty means every interface (IPv6 and IPv4 where possible).
    pub bind: Vec<IpAddr>,
    /// Whether anonymous logins may write (`-w`). Accounts carry their own flag.
    pub anonymous_writable: bool,
    pub anonymous: bool,
    /// `--anonymous-root`: the folder anonymous logins see as `/`; `None` is all of DIR.
    pub anonymous_root: Option<AccountRoot>,
    /// Accounts from `-u`.
    pub accounts: Vec<Account>,
    /// `--users FILE`: more accounts, re-read on SIGHUP.
    pub users_file: Option<PathBuf>,
    /// Applied to uploads and new directories (`--umask`, default 022).
    pub umask: u32,
    /// How long running transfers may go on after SIGTERM/SIGINT (`--shutdown-grace`).
    pub shutdown_grace: Duration,
    /// `--chroot`: chroot into the served directory (root only).
    pub chroot: bool,
    /// `--run-as USER`: drop root privileges to this user after binding.
    pub run_as: Option<String>,
    pub pasv_ports: Option<RangeInclusive<u16>>,
    pub pasv_address: Option<Ipv4Addr>,
    pub max_clients: usize,
    pub max_per_ip: usize,
    pub idle_timeout: Duration,
    pub data_timeout: Duration,
    /// LIST and NLST show dot files without `-a` (`--show-dotfiles`).
    pub show_dotfiles: bool,
    /// A connection must log in within this (slowloris protection).
    pub login_timeout: Duration,
    /// Most entries one LIST/NLST/MLSD sends; beyond it the listing ends with 451.
    pub max_list_entries: u64,
    /// Uploads are written unnamed (O_TMPFILE) where the system allows; false forces the named
    /// hidden temporary (not a flag: tests use it to cover that route too).
    pub unnamed_uploads: bool,
    /// The jail resolves paths with openat2 where the kernel has it; false forces its own
    /// component walk (not a flag: tests use it to cover that route too).
    pub jail_openat2: bool,
    /// Binary uploads go socket -> pipe -> file by splice(2) where the kernel allows; false
    /// forces read + write (not a flag: tests use it to cover that route too).
    pub splice_uploads: bool,
    /// The pause after a failed login, which slows password guessing (not a flag; tests set 0).
    pub login_failure_delay: Duration,
    /// The text of the 220 greeting (`--banner`); one line, no control characters.
    pub banner: String,
    /// Serve one session on stdin/stdout, which inetd and friends made the accepted socket
    /// (`--inetd`).
    pub inetd: bool,
    /// Where to write the process id once listening (`--pidfile`).
    pub pidfile: Option<PathBuf>,
    /// Where to log one xferlog(5) line per transfer (`--xferlog`).
    pub xferlog: Option<PathBuf>,
    /// Most bytes per second of each file transfer (`--max-rate`); `None` is unlimited.
    pub max_rate: Option<u64>,
    /// Active-mode data connections come from the control connection's local port minus one,
    /// RFC 959's port 20 (`--port-20`).
    pub port_20: bool,
    /// Log to the local syslog socket instead of stderr (`--syslog`).
    pub syslog: bool,
    /// FTPS (`--tls-cert` and `--tls-key`, with the `tls` feature); `None` serves clear text only.
    pub tls: Option<TlsConfig>,
}

/// FTPS as the flags ask for it (RFC 4217).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM certificate chain (`--tls-cert`).
    pub cert: PathBuf,
    /// PEM private key (`--tls-key`).
    pub key: PathBuf,
    /// `--tls-required`: accounts must log in and move data over TLS.
    pub required: bool,
    /// `--tls-required-anonymous`: anonymous logins too (implies `required`).
    pub required_anonymous: bool,
    /// `--implicit-tls`: TLS from the first byte; data connections always protected.
    pub implicit: bool,
    /// `--tls-reuse-required`: a data connection must resume its control connection's session.
    pub reuse_required: bool,
}

impl TlsConfig {
    /// Whether a login under `name` must come over TLS, and its transfers be protected.
    pub fn required_for(&self, anonymous: bool) -> bool {
        self.implicit || self.required_anonymous || (self.required && !anonymous)
    }
}

impl Config {
    /// A configuration with every default, serving `root`.
    pub fn new(root: impl Into<PathBuf>) -> Config {
        Config {
            root: root.into(),
            port: DEFAULT_PORT,
            bind: Vec::new(),
            anonymous_writable: false,
            anonymous: true,
            anonymous_root: None,
            accounts: Vec::new(),
            users_file: None,
            umask: 0o022,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            chroot: false,
            run_as: None,
            pasv_ports: None,
            pasv_address: None,
            max_clients: DEFAULT_MAX_CLIENTS,
            max_per_ip: DEFAULT_MAX_PER_IP,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            data_timeout: DEFAULT_DATA_TIMEOUT,
            show_dotfiles: false,
            login_failure_delay: Duration::from_secs(1),
            unnamed_uploads: true,
            jail_openat2: true,
            splice_uploads: true,
            login_timeout: DEFAULT_LOGIN_TIMEOUT,
            max_list_entries: DEFAULT_MAX_LIST_ENTRIES,
            banner: DEFAULT_BANNER.to_string(),
            inetd: false,
            pidfile: None,
            xferlog: None,
            max_rate: None,
            port_20: false,
            syslog: false,
            tls: None,
        }
    }

    /// A short description for the start-up line: who may log in and what they may do.
    pub fn access_summary(&self) -> String {
        let mut parts = Vec::new();
        if self.anonymous {
            let mode = if self.anonymous_writable {
                "read-write"
            } else {
                "read-only"
            };
            parts.push(format!("anonymous {mode}"));
        }
        let count = self.accounts.len();
        if count > 0 {
            parts.push(format!(
                "{count} account{}",
                if count == 1 { "" } else { "s" }
            ));
        }
        if parts.is_empty() {
            "no logins accepted".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// A folder of DIR that a login sees as its `/` (`:/sub/dir` of an account, `--anonymous-root`).
/// Checked through the jail at start, on reload and at each login (see
/// [`crate::fs::jail::Jail::sub_jail`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRoot {
    /// The folder as a path in DIR (normalised, never above DIR).
    pub path: VirtualPath,
    /// Where it was configured, for errors: `line 3`, `-u alice`, `--anonymous-root`.
    pub origin: String,
}

impl AccountRoot {
    /// `spec` is a path relative to DIR (`/scanner`, `scanner/in`; a leading `/` is optional).
    /// Empty, `..`, NUL and upload-temporary names are refused: a folder is named plainly.
    pub fn parse(spec: &str, origin: &str) -> Result<AccountRoot, String> {
        let parts = spec.split('/').filter(|p| !p.is_empty() && *p != ".");
        if spec.is_empty() {
            return Err("empty folder".to_string());
        }
        if parts.clone().any(|p| p == "..") {
            return Err(format!(
                "folder {spec}: '..' is not allowed (relative to DIR)"
            ));
        }
        let path = VirtualPath::root()
            .join(spec.as_bytes())
            .map_err(|_| format!("folder {spec}: not a usable name"))?;
        Ok(AccountRoot {
            path,
            origin: origin.to_string(),
        })
    }

    /// The folder as the administrator sees it in DIR: `/scanner`.
    pub fn shown(&self) -> String {
        String::from_utf8_lossy(&self.path.to_bytes()).into_owned()
    }
}
