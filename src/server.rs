//! The accept loop: one named thread with a small explicit stack per control connection, and
//! the session caps, checked before any thread is spawned.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::config::{Account, Config};
use crate::data_channel::{self, PassiveListeners};
use crate::jail::Jail;
use crate::reply::{codes, Reply};
use crate::session::Session;
use crate::sys;
use crate::users_file;
use crate::xferlog::XferLog;

/// Stack for each session thread (the default would be 2 MiB). Measured: the deepest path we
/// know (a `-v` session doing a failed and a good SHA-crypt login, LIST/NLST/MLSD/MLST/STAT,
/// STOR/RETR in both types and every file command) touched 24 KiB of stack in a release build
/// (Rss of the thread's stack mapping in /proc/PID/smaps); the whole test suite also passes
/// with 16 KiB. 64 KiB leaves room for debug builds and deeper library paths. Only touched pages
/// cost memory, so an idle session costs what it touched, not this.
pub const SESSION_STACK_SIZE: usize = 64 * 1024;

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
    sessions: Mutex<SessionCounts>,
    /// Signalled whenever a session ends (shutdown waits on it).
    session_ended: Condvar,
    shutting_down: AtomicBool,
}

/// Session counts and the registry that shutdown uses to wake idle sessions.
#[derive(Default)]
struct SessionCounts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
    /// Control sockets of running sessions, and whether each is running a command.
    registry: HashMap<u64, Registered>,
    next_id: u64,
    /// Listening sockets being accepted on.
    listeners: Vec<RawFd>,
}

struct Registered {
    control: RawFd,
    busy: bool,
}

impl ServerContext {
    pub fn new(config: Config) -> io::Result<ServerContext> {
        let xferlog = config.xferlog.as_deref().map(XferLog::open).transpose()?;
        ServerContext::with_xferlog(config, xferlog)
    }

    /// Like [`ServerContext::new`], with the transfer log opened earlier (before privileges were
    /// dropped; `config.xferlog` is then not opened again).
    pub fn with_xferlog(config: Config, xferlog: Option<XferLog>) -> io::Result<ServerContext> {
        let jail = Jail::with_route(&config.root, config.jail_openat2)?;
        let file_accounts = match &config.users_file {
            Some(path) => users_file::load(path).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("--users {}: {e}", path.display()),
                )
            })?,
            None => Vec::new(),
        };
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
        Ok(self.replace_file_accounts(accounts))
    }

    /// Replaces the users file's accounts with `accounts` (read by the caller, e.g. from a
    /// [`users_file::UsersFile`] opened before privileges were dropped); returns their number.
    pub fn replace_file_accounts(&self, accounts: Vec<Account>) -> usize {
        let count = accounts.len();
        *self
            .file_accounts
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(accounts);
        count
    }

    fn counts(&self) -> MutexGuard<'_, SessionCounts> {
        // A panic elsewhere cannot leave the counts half-updated (each update is one step), so
        // a poisoned lock is still safe to use.
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a session slot for `ip`, or `None` beyond `--max-clients` / `--max-per-ip` (an
    /// IPv6 client counts by its /64, see [`data_channel::client_key`]).
    fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<SessionSlot> {
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

    /// Records a session's control socket so that shutdown can wake it. The session must call
    /// [`ServerContext::unregister_session`] before that socket is closed.
    pub fn register_session(&self, control: RawFd) -> u64 {
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
        for &listener in &counts.listeners {
            sys::shutdown_read(listener);
        }
        for entry in counts.registry.values().filter(|e| !e.busy) {
            sys::shutdown_read(entry.control);
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

pub struct Server {
    listeners: Vec<TcpListener>,
    ctx: Arc<ServerContext>,
}

impl Server {
    /// Binds every address of the configuration. With no `--bind`, one dual-stack `[::]`
    /// socket serves IPv6 and IPv4 (so `--port 0` gives one port for both); where the host has
    /// no IPv6, `0.0.0.0`.
    pub fn bind(config: Config) -> io::Result<Server> {
        let listeners = Self::bind_listeners(&config)?;
        Self::from_listeners(listeners, config)
    }

    /// The listening sockets for `config` (see [`Server::bind`]), bound but not yet served:
    /// privileges are dropped between the two steps.
    pub fn bind_listeners(config: &Config) -> io::Result<Vec<TcpListener>> {
        let addrs: Vec<SocketAddr> = if config.bind.is_empty() {
            vec![SocketAddr::new(IpAddr::from([0u16; 8]), config.port)]
        } else {
            config
                .bind
                .iter()
                .map(|ip| SocketAddr::new(*ip, config.port))
                .collect()
        };
        let mut listeners = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let listener = match TcpListener::bind(addr) {
                Err(e) if config.bind.is_empty() && e.kind() == io::ErrorKind::AddrNotAvailable => {
                    TcpListener::bind(SocketAddr::new(IpAddr::from([0u8; 4]), config.port))
                }
                other => other,
            }
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
            listeners.push(listener);
        }
        Ok(listeners)
    }

    /// Serves on listeners made elsewhere (tests bind `127.0.0.1:0` themselves).
    pub fn from_listeners(listeners: Vec<TcpListener>, config: Config) -> io::Result<Server> {
        Ok(Server::with_context(listeners, ServerContext::new(config)?))
    }

    /// Serves on `listeners` with a context made by the caller.
    pub fn with_context(listeners: Vec<TcpListener>, ctx: ServerContext) -> Server {
        Server {
            listeners,
            ctx: Arc::new(ctx),
        }
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    pub fn context(&self) -> Arc<ServerContext> {
        Arc::clone(&self.ctx)
    }

    /// Accepts until shutdown: the first listener on this thread, any others on threads of
    /// their own.
    pub fn run(mut self) -> io::Result<()> {
        if self.listeners.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no socket to listen on",
            ));
        }
        let first = self.listeners.remove(0);
        let mut others = Vec::new();
        for listener in self.listeners {
            let ctx = Arc::clone(&self.ctx);
            others.push(
                thread::Builder::new()
                    .name("accept".into())
                    .spawn(move || accept_loop(listener, ctx))?,
            );
        }
        accept_loop(first, self.ctx);
        for handle in others {
            let _ = handle.join();
        }
        Ok(())
    }
}

fn accept_loop(listener: TcpListener, ctx: Arc<ServerContext>) {
    let fd = listener.as_raw_fd();
    {
        // Checked under the lock that begin_shutdown holds while it sets the flag: either the
        // listener is registered in time to be woken, or shutdown has begun and it never
        // blocks in accept (a SIGTERM right after start-up used to hang here).
        let mut counts = ctx.counts();
        if ctx.is_shutting_down() {
            return;
        }
        counts.listeners.push(fd);
    }
    // A descriptor held in reserve for when the process runs out: freeing it lets one more
    // connection be accepted, told 421 and closed, instead of being left hanging in the
    // backlog. A duplicate of the listener, so that taking it back needs no path (none would
    // be safe after --chroot).
    let mut spare = listener.as_fd().try_clone_to_owned().ok();
    loop {
        match listener.accept() {
            Ok((stream, _)) if ctx.is_shutting_down() => {
                refuse(stream, "Server shutting down.");
                break;
            }
            Ok((stream, peer)) => start_session(stream, peer, &ctx),
            Err(_) if ctx.is_shutting_down() => break,
            Err(e) if is_out_of_descriptors(&e) => {
                if !refuse_with_spare(&listener, &mut spare) {
                    log::error!("accept: {e}");
                    // Accepting again at once would spin; let sessions end.
                    thread::sleep(Duration::from_millis(100));
                }
            }
            Err(e) => {
                log::error!("accept: {e}");
                if e.raw_os_error() == Some(libc::ENOMEM) {
                    thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
    // Forget the descriptor under the lock before the listener closes it, so shutdown never
    // touches a reused descriptor number.
    ctx.counts().listeners.retain(|&l| l != fd);
    drop(listener);
}

fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// Out of descriptors: frees the spare, accepts the waiting connection with it, answers 421
/// and closes it, then takes the spare back. False when there was no spare to free or the
/// accept still failed (another thread took the descriptor first).
fn refuse_with_spare(listener: &TcpListener, spare: &mut Option<OwnedFd>) -> bool {
    let Some(reserve) = spare.take() else {
        *spare = listener.as_fd().try_clone_to_owned().ok();
        return false;
    };
    drop(reserve);
    let refused = match listener.accept() {
        Ok((stream, peer)) => {
            log::warn!("refused {peer}: out of file descriptors");
            refuse(stream, "Too many open files; try again later.");
            true
        }
        Err(_) => false,
    };
    *spare = listener.as_fd().try_clone_to_owned().ok();
    refused
}

fn start_session(stream: TcpStream, peer: SocketAddr, ctx: &Arc<ServerContext>) {
    let Some(slot) = ctx.try_acquire(peer.ip()) else {
        log::warn!("refused {peer}: too many sessions");
        refuse(stream, "Too many connections; try again later.");
        return;
    };
    let ctx = Arc::clone(ctx);
    let spawned = thread::Builder::new()
        .name(format!("ftp {peer}"))
        .stack_size(SESSION_STACK_SIZE)
        .spawn(move || {
            let _slot = slot;
            match Session::new(stream, ctx) {
                Ok(session) => session.run(),
                Err(e) => log::debug!("session {peer} could not start: {e}"),
            }
        });
    if let Err(e) = spawned {
        log::error!("cannot start a thread for {peer}: {e}");
    }
}

/// Tells a connection we will not serve it why, then closes it.
fn refuse(mut stream: TcpStream, why: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.write_all(&Reply::new(codes::SERVICE_NOT_AVAILABLE, why).encode());
}

/// Serves the one connection that a super-server (inetd, xinetd, tcpsvd, systemd with
/// `Accept=yes`) accepted and passed to this process, on the calling thread.
pub fn serve_connection(stream: TcpStream, ctx: Arc<ServerContext>) -> io::Result<()> {
    Session::new(stream, ctx)?.run();
    Ok(())
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
