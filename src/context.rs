//! What every session shares: the configuration, the jail, the transfer log, the passive listeners,
//! the accounts of `--users FILE`, the session counts and the registry that shutdown uses. Its own
//! module so that a session can hold it without importing the accept loop (`server`) that starts sessions.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use crate::auth::users_file;
use crate::config::{Account, AccountRoot, Config};
use crate::fs::jail::Jail;
use crate::net::data_channel::{self, PassiveListeners};
use crate::os::sys;
use crate::xferlog::XferLog;

/// What every session shares, read-only but for the session counts.
pub struct ServerContext {
    pub config: Config,
    pub jail: Jail,
    /// The transfer log, with `--xferlog`.
    pub xferlog: Option<XferLog>,
    /// PASV/EPSV listeners: closed when unused within the data timeout, capped per address.
    pub passive: PassiveListeners,
    /// Accounts from `--users FILE`, replaced whole on SIGHUP.
    file_accounts: RwLock<Arc<Vec<Account>>>,
    /// The certificate and key of `--tls-cert`/`--tls-key`, replaced on SIGHUP.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::net::tls::ServerTls>,
    sessions: Mutex<SessionCounts>,
    /// Signalled whenever a session ends (shutdown waits on it).
    session_ended: Condvar,
    shutting_down: AtomicBool,
}

/// Session counts and the registry that shutdown uses to wake idle sessions.
#[derive(Default)]
pub(crate) struct SessionCounts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
    /// Control sockets of running sessions, and whether each is running a command.
    registry: HashMap<u64, Registered>,
    next_id: u64,
    /// Listening sockets being accepted on.
    pub(crate) listeners: Vec<Arc<TcpListener>>,
}

/// The registry holds the sockets themselves, not descriptor numbers: shutdown can never act
/// on a descriptor that a session closed and the process reused for something else.
struct Registered {
    control: Arc<TcpStream>,
    busy: bool,
}

impl ServerContext {
    /// Opens what the configuration names: the transfer log, and the TLS certificate and key.
    pub fn new(config: Config) -> io::Result<ServerContext> {
        let xferlog = config.xferlog.as_deref().map(XferLog::open).transpose()?;
        let tls = TlsFiles::open(&config, false).map_err(io::Error::other)?;
        let mut ctx = ServerContext::with_xferlog(config, xferlog)?;
        if let Some(files) = tls {
            ctx.install_tls(files).map_err(io::Error::other)?;
        }
        Ok(ctx)
    }

    /// Serves FTPS with the certificate and key in `files` (opened by the caller, before
    /// privileges were dropped); fails when they do not load or do not go together.
    pub fn install_tls(&mut self, files: TlsFiles) -> Result<(), String> {
        #[cfg(feature = "tls")]
        {
            self.tls = Some(crate::net::tls::ServerTls::new(files.0)?);
            Ok(())
        }
        #[cfg(not(feature = "tls"))]
        match files.0 {}
    }

    /// SIGHUP: re-reads the TLS certificate and key; `None` when there are none. On an error
    /// the old pair stays in use.
    pub fn reload_tls(&self) -> Option<Result<(), String>> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return Some(tls.reload());
        }
        None
    }

    /// Like [`ServerContext::new`], with the transfer log opened earlier (before privileges were
    /// dropped; `config.xferlog` is then not opened again).
    pub fn with_xferlog(config: Config, xferlog: Option<XferLog>) -> io::Result<ServerContext> {
        let jail = Jail::with_route(&config.root, config.jail_openat2)?;
        let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidData, message);
        let file_accounts = match &config.users_file {
            Some(path) => {
                let accounts = users_file::load(path)
                    .map_err(|e| invalid(format!("--users {}: {e}", path.display())))?;
                check_roots(&jail, &accounts)
                    .map_err(|e| invalid(format!("--users {}: {e}", path.display())))?;
                accounts
            }
            None => Vec::new(),
        };
        check_roots(&jail, &config.accounts).map_err(invalid)?;
        if let Some(root) = &config.anonymous_root {
            check_root(&jail, root).map_err(invalid)?;
        }
        let passive = PassiveListeners::new(
            config.data_timeout,
            data_channel::passive_cap(config.max_per_ip, config.pasv_ports.as_ref()),
        );
        Ok(ServerContext {
            config,
            jail,
            xferlog,
            passive,
            file_accounts: RwLock::new(Arc::new(file_accounts)),
            #[cfg(feature = "tls")]
            tls: None,
            sessions: Mutex::new(SessionCounts::default()),
            session_ended: Condvar::new(),
            shutting_down: AtomicBool::new(false),
        })
    }

    /// The accounts of the users file as last loaded.
    pub fn file_accounts(&self) -> Arc<Vec<Account>> {
        Arc::clone(&self.file_accounts.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Re-reads `--users FILE` (SIGHUP). On an error the old accounts stay and the error is
    /// returned; sessions already logged in are not touched.
    pub fn reload_users(&self) -> Result<usize, String> {
        let Some(path) = &self.config.users_file else {
            return Ok(0);
        };
        let accounts =
            users_file::load(path).map_err(|e| format!("--users {}: {e}", path.display()))?;
        self.replace_file_accounts(accounts)
            .map_err(|e| format!("--users {}: {e}", path.display()))
    }

    /// Replaces the users file's accounts with `accounts` (read by the caller, e.g. from a
    /// [`users_file::UsersFile`] opened before privileges were dropped); returns their number.
    /// Every account folder must be a directory inside DIR (see [`check_roots`]), else the old
    /// accounts stay and the error names the line.
    pub fn replace_file_accounts(&self, accounts: Vec<Account>) -> Result<usize, String> {
        check_roots(&self.jail, &accounts)?;
        let count = accounts.len();
        *self
            .file_accounts
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(accounts);
        Ok(count)
    }

    pub(crate) fn counts(&self) -> MutexGuard<'_, SessionCounts> {
        // A panic elsewhere cannot leave the counts half-updated (each update is one step), so
        // a poisoned lock is still safe to use.
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a session slot for `ip`, or `None` beyond `--max-clients` / `--max-per-ip` (an
    /// IPv6 client counts by its /64, see [`data_channel::client_key`]).
    pub(crate) fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<SessionSlot> {
        let ip = data_channel::client_key(ip);
        let mut counts = self.counts();
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if counts.total >= self.config.max_clients || from_ip >= self.config.max_per_ip {
            return None;
        }
        counts.total += 1;
        counts.per_ip.insert(ip, from_ip + 1);
        Some(SessionSlot {
            ctx: Arc::clone(self),
            ip,
        })
    }

    /// Sessions now running (for tests and status).
    pub fn session_count(&self) -> usize {
        self.counts().total
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Records a session's control socket so that shutdown can wake it. The session calls
    /// [`ServerContext::unregister_session`] when it ends (the socket closes only then).
    pub fn register_session(&self, control: Arc<TcpStream>) -> u64 {
        let mut counts = self.counts();
        counts.next_id += 1;
        let id = counts.next_id;
        counts.registry.insert(
            id,
            Registered {
                control,
                busy: true,
            },
        );
        id
    }

    pub fn unregister_session(&self, id: u64) {
        self.counts().registry.remove(&id);
    }

    /// The session is about to wait for its next command. False when the server is shutting
    /// down: the session should say 421 and end. Checked under the registry lock, so a
    /// shutdown either sees the session idle (and wakes it) or the session sees the shutdown.
    pub fn set_idle(&self, id: u64) -> bool {
        let mut counts = self.counts();
        if self.is_shutting_down() {
            return false;
        }
        if let Some(entry) = counts.registry.get_mut(&id) {
            entry.busy = false;
        }
        true
    }

    /// The session is running a command; shutdown lets it finish.
    pub fn set_busy(&self, id: u64) {
        if let Some(entry) = self.counts().registry.get_mut(&id) {
            entry.busy = true;
        }
    }

    /// SIGTERM/SIGINT: stop accepting, wake idle sessions (they answer 421 and end), let busy
    /// ones finish their command.
    pub fn begin_shutdown(&self) {
        let counts = self.counts();
        self.shutting_down.store(true, Ordering::Release);
        for listener in &counts.listeners {
            sys::shutdown_read(&**listener);
        }
        for entry in counts.registry.values().filter(|e| !e.busy) {
            // A session blocked reading its next command sees end of stream.
            let _ = entry.control.shutdown(Shutdown::Read);
        }
    }

    /// Waits until every session has ended or `grace` has passed; true when all ended.
    pub fn wait_for_sessions(&self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        let mut counts = self.counts();
        while counts.total > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            counts = match self.session_ended.wait_timeout(counts, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }
}

/// `--tls-cert` and `--tls-key`, opened (while still privileged) and checked, for
/// [`ServerContext::install_tls`]. Without the `tls` feature there is never one.
pub struct TlsFiles(
    #[cfg(feature = "tls")] crate::net::tls::CertFiles,
    #[cfg(not(feature = "tls"))] std::convert::Infallible,
);

impl TlsFiles {
    /// The files `config` names, or `None` when it names none; `chrooted` says whether a reload
    /// may still open them by path. An error names the files.
    pub fn open(config: &Config, chrooted: bool) -> Result<Option<TlsFiles>, String> {
        let Some(tls) = &config.tls else {
            return Ok(None);
        };
        #[cfg(feature = "tls")]
        {
            let files = crate::net::tls::CertFiles::open(&tls.cert, &tls.key, !chrooted)?;
            Ok(Some(TlsFiles(files)))
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = (tls, chrooted);
            Err(crate::cli::NO_TLS.to_string())
        }
    }
}

/// A running session's place in the counts, given back on drop (also when the thread panics).
pub struct SessionSlot {
    ctx: Arc<ServerContext>,
    ip: IpAddr,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut counts = self.ctx.counts();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
        self.ctx.session_ended.notify_all();
    }
}

/// Checks that each account's folder is a directory inside DIR, resolved through the server's
/// jail as a login will resolve it (no symlink out of DIR); the error names where the folder
/// was configured (`line 3`, `-u alice`).
fn check_roots(jail: &Jail, accounts: &[Account]) -> Result<(), String> {
    accounts
        .iter()
        .filter_map(|a| a.root.as_ref())
        .try_for_each(|root| check_root(jail, root))
}

fn check_root(jail: &Jail, root: &AccountRoot) -> Result<(), String> {
    match jail.sub_jail(&root.path) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "{}: folder {} is not a directory inside DIR: {e}",
            root.origin,
            root.shown()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_per_ip_counts_ipv6_clients_per_64() {
        let mut config = Config::new(std::env::temp_dir());
        config.max_per_ip = 1;
        let ctx = Arc::new(ServerContext::new(config).unwrap());
        let ip = |a: &str| a.parse::<IpAddr>().unwrap();
        let first = ctx.try_acquire(ip("2001:db8:0:1::1"));
        assert!(first.is_some());
        assert!(ctx.try_acquire(ip("2001:db8:0:1::2")).is_none(), "same /64");
        let other_net = ctx.try_acquire(ip("2001:db8:0:2::1"));
        assert!(other_net.is_some(), "another /64");
        let v4 = ctx.try_acquire(ip("::ffff:192.0.2.1"));
        assert!(v4.is_some());
        assert!(
            ctx.try_acquire(ip("192.0.2.1")).is_none(),
            "mapped is the IPv4 address"
        );
        drop(first);
        assert!(
            ctx.try_acquire(ip("2001:db8:0:1::3")).is_some(),
            "slot given back"
        );
    }
}
