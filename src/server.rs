//! The accept loop: one named thread with a small explicit stack per control connection, and
//! the session caps, checked before any thread is spawned.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use crate::config::Config;
use crate::jail::Jail;
use crate::reply::{codes, Reply};
use crate::session::Session;
use crate::xferlog::XferLog;

/// Stack for each session thread. Buffers live on the heap; the deepest path (a listing with
/// log formatting) was measured to need well under this (see README "Performance").
pub const SESSION_STACK_SIZE: usize = 128 * 1024;

/// What every session shares, read-only but for the session counts.
pub struct ServerContext {
    pub config: Config,
    pub jail: Jail,
    /// The transfer log, with `--xferlog`.
    pub xferlog: Option<XferLog>,
    sessions: Mutex<SessionCounts>,
}

#[derive(Default)]
struct SessionCounts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

impl ServerContext {
    pub fn new(config: Config) -> io::Result<ServerContext> {
        let jail = Jail::new(&config.root)?;
        let xferlog = config.xferlog.as_deref().map(XferLog::open).transpose()?;
        Ok(ServerContext {
            config,
            jail,
            xferlog,
            sessions: Mutex::new(SessionCounts::default()),
        })
    }

    fn counts(&self) -> MutexGuard<'_, SessionCounts> {
        // A panic elsewhere cannot leave the counts half-updated (each update is one step), so
        // a poisoned lock is still safe to use.
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a session slot for `ip`, or `None` beyond `--max-clients` / `--max-per-ip`.
    fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<SessionSlot> {
        let ip = ip.to_canonical();
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
        Self::from_listeners(listeners, config)
    }

    /// Serves on listeners made elsewhere (tests bind `127.0.0.1:0` themselves).
    pub fn from_listeners(listeners: Vec<TcpListener>, config: Config) -> io::Result<Server> {
        let ctx = Arc::new(ServerContext::new(config)?);
        Ok(Server { listeners, ctx })
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

    /// Accepts forever: the first listener on this thread, any others on threads of their own.
    pub fn run(mut self) -> io::Result<()> {
        let first = self.listeners.remove(0);
        for listener in self.listeners {
            let ctx = Arc::clone(&self.ctx);
            thread::Builder::new()
                .name("accept".into())
                .spawn(move || accept_loop(listener, ctx))?;
        }
        accept_loop(first, self.ctx);
        Ok(())
    }
}

fn accept_loop(listener: TcpListener, ctx: Arc<ServerContext>) {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => start_session(stream, peer, &ctx),
            Err(e) => {
                log::error!("accept: {e}");
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOMEM)
                ) {
                    // Out of descriptors: accepting again at once would spin; let sessions end.
                    thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
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
