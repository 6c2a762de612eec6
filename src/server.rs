//! The accept loop: one named thread with a small explicit stack per control connection, and
//! the session caps, checked before any thread is spawned. The state sessions share is in
//! `context`.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::config::Config;
use crate::protocol::reply::{codes, Reply};
use crate::session::Session;

/// Where callers that start a server look for it (main.rs, tests); it lives in `context`.
pub use crate::context::{ServerContext, TlsFiles};

/// Stack for each session thread (the default would be 2 MiB): the deepest path we know fits
/// with room for debug builds and deeper library paths (how it was measured: README,
/// Performance). Only touched pages cost memory, so an idle session costs what it touched.
pub const SESSION_STACK_SIZE: usize = 64 * 1024;

/// Re-exported for the tests that wait for a session to go idle.
pub use crate::session::IDLE_RELEASE_AFTER;

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
    // Shared with the context, whose shutdown wakes a blocked accept through it.
    let listener = Arc::new(listener);
    {
        // Checked under the lock that begin_shutdown holds while it sets the flag: either the
        // listener is registered in time to be woken, or shutdown has begun and it never
        // blocks in accept (a SIGTERM right after start-up used to hang here).
        let mut counts = ctx.counts();
        if ctx.is_shutting_down() {
            return;
        }
        counts.listeners.push(Arc::clone(&listener));
    }
    // A descriptor held in reserve for when the process runs out: freeing it lets one more
    // connection be accepted, told 421 and closed, instead of being left hanging in the
    // backlog. A duplicate of the listener, so that taking it back needs no path (none would
    // be safe after --chroot).
    let mut spare = listener.as_fd().try_clone_to_owned().ok();
    loop {
        match listener.accept() {
            Ok((stream, _)) if ctx.is_shutting_down() => {
                refuse(stream, "Server shutting down.", &ctx);
                break;
            }
            Ok((stream, peer)) => start_session(stream, peer, &ctx),
            Err(_) if ctx.is_shutting_down() => break,
            Err(e) if is_out_of_descriptors(&e) => {
                if !refuse_with_spare(&listener, &mut spare, &ctx) {
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
    // The context's copy goes too, which closes the socket.
    ctx.counts()
        .listeners
        .retain(|l| !Arc::ptr_eq(l, &listener));
}

fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// Out of descriptors: frees the spare, accepts the waiting connection with it, answers 421
/// and closes it, then takes the spare back. False when there was no spare to free or the
/// accept still failed (another thread took the descriptor first).
fn refuse_with_spare(
    listener: &TcpListener,
    spare: &mut Option<OwnedFd>,
    ctx: &ServerContext,
) -> bool {
    let Some(reserve) = spare.take() else {
        *spare = listener.as_fd().try_clone_to_owned().ok();
        return false;
    };
    drop(reserve);
    let refused = match listener.accept() {
        Ok((stream, peer)) => {
            log::warn!("refused {peer}: out of file descriptors");
            refuse(stream, "Too many open files; try again later.", ctx);
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
        refuse(stream, "Too many connections; try again later.", ctx);
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

/// Tells a connection we will not serve it why, then closes it. On an implicit-TLS listener
/// it is only closed: the client expects a TLS handshake first, so a clear-text reply is a
/// protocol error to it, and a handshake for every refused client (vsftpd does one in its
/// forked child) would cost the accept loop, or a thread each, what the caps protect.
fn refuse(mut stream: TcpStream, why: &str, ctx: &ServerContext) {
    if ctx.config.tls.as_ref().is_some_and(|tls| tls.implicit) {
        return;
    }
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.write_all(&Reply::new(codes::SERVICE_NOT_AVAILABLE, why).encode());
}

/// Serves the one connection that a super-server (inetd, xinetd, tcpsvd, systemd with
/// `Accept=yes`) accepted and passed to this process, on the calling thread.
pub fn serve_connection(stream: TcpStream, ctx: Arc<ServerContext>) -> io::Result<()> {
    Session::new(stream, ctx)?.run();
    Ok(())
}
