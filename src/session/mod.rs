//! One control connection: read a line, parse it, dispatch it, write the reply. Owns the
//! session's state.
//!
//! `handlers` holds the commands (plain functions by concern, each returning its reply).
//! Must not touch: bytes on the control socket except through `protocol::control_line` (in) and
//! `protocol::reply` (out), file bytes except through `net::transfer`, or host paths except
//! through `fs::jail`.

mod control_loop;
mod handlers;

use std::cell::OnceCell;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auth::User;
use crate::context::ServerContext;
use crate::error::FtpError;
use crate::fs::jail::{Jail, JailedPath, VirtualPath};
use crate::fs::listing::FactSet;
use crate::net::data_channel::DataSetup;
use crate::net::stream::Stream;
use crate::net::transfer::Flow;
use crate::os::stack::ThreadStack;
use crate::os::sys;
use crate::os::sys::Interest;
use crate::protocol::command::{Command, TransferType};
use crate::protocol::command_table;
use crate::protocol::control_line::{ControlLine, ControlReader};
use crate::protocol::reply::{codes, Reply};

/// How long a session waits for its next command before it counts as idle and gives back its
/// read buffer and the stack pages deep commands touched (README, Performance: what it saves
/// and costs). Short against a human's pause, long against a client's command round trip.
pub const IDLE_RELEASE_AFTER: Duration = Duration::from_millis(200);

/// Commands held back during a transfer or listing, at most; beyond that the control
/// connection is not read until it ends (TCP flow control then holds the client back).
const MAX_PENDING: usize = 64;

/// What a running transfer has moved so far, for STAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Bytes(u64),
    /// A listing counts the entries it has written.
    Entries(u64),
}

/// How often an upload that waits for its receive low-water mark (see net/transfer.rs) checks
/// whether a slow sender left fewer bytes than that.
const LOW_WATER_CHECK: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Login {
    #[default]
    None,
    /// USER was the last command; PASS must come next.
    UserGiven(Vec<u8>),
    LoggedIn(User),
}

/// Everything a session remembers between commands. REIN resets it to the default.
#[derive(Debug, Default)]
pub struct State {
    pub login: Login,
    pub cwd: VirtualPath,
    pub transfer_type: TransferType,
    pub data: DataSetup,
    /// Set by RNFR; only the command right after it (RNTO) may use it.
    pub rename_from: Option<JailedPath>,
    /// Set by REST; used and cleared by the next RETR/STOR/APPE.
    pub restart_offset: u64,
    /// After `EPSV ALL`, only EPSV may set up data connections (RFC 2428 4).
    pub epsv_all: bool,
    pub facts: FactSet,
    pub failed_logins: u32,
    /// PBSZ came after AUTH TLS (RFC 4217 9: PROT needs it first).
    pub pbsz: bool,
    /// PROT P: data connections are TLS (always, under implicit TLS).
    pub protect_data: bool,
    /// The login's own jail when its account has a folder (see [`Session::jail`]); REIN drops
    /// it with the rest, so the next login starts from the server's.
    pub jail: Option<Jail>,
}

pub struct Session {
    control: ControlReader<Stream>,
    /// This control connection's TLS session cache and configuration, from AUTH TLS (or the
    /// first byte, under implicit TLS) on.
    #[cfg(feature = "tls")]
    tls: Option<crate::net::tls::ControlTls>,
    /// AUTH TLS was answered 234: the handshake follows the reply.
    start_tls: bool,
    pub ctx: Arc<ServerContext>,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub state: State,
    /// Lines that arrived during a transfer, run after it in order.
    pending: VecDeque<ControlLine>,
    quit: bool,
    /// The client closed the control connection while a transfer ran.
    control_closed: bool,
    login_deadline: Instant,
    /// Our entry in the server's registry (for shutdown).
    registry_id: u64,
    /// Shutdown closed the reading side of the control connection during a transfer: finish
    /// the transfer without watching it.
    control_shut: bool,
    /// This session thread's stack, looked up the first time the session goes idle (`None`
    /// where it must not be trimmed; see [`Session::release_idle_memory`]).
    stack: OnceCell<Option<ThreadStack>>,
}

impl Drop for Session {
    fn drop(&mut self) {
        // The registry's share of the control socket goes; ours closes it after this.
        self.ctx.unregister_session(self.registry_id);
    }
}

impl Session {
    pub fn new(stream: TcpStream, ctx: Arc<ServerContext>) -> io::Result<Session> {
        // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d; logs, xferlog and the
        // data-connection checks all want the plain IPv4 address.
        let canonical = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
        let peer = canonical(stream.peer_addr()?);
        let local = canonical(stream.local_addr()?);
        stream.set_nodelay(true)?;
        // Every control connection (daemon, --inetd, socket activation) starts here.
        sys::set_urgent_inline(&stream)?;
        // A client that stops reading its replies must not hold the session (and its slot)
        // forever in a blocked write.
        stream.set_write_timeout(Some(control_write_timeout(&ctx)))?;
        let login_deadline = Instant::now() + ctx.config.login_timeout;
        let stream = Arc::new(stream);
        let registry_id = ctx.register_session(Arc::clone(&stream));
        Ok(Session {
            control: ControlReader::new(Stream::shared(stream)),
            #[cfg(feature = "tls")]
            tls: None,
            start_tls: false,
            ctx,
            peer,
            local,
            state: State::default(),
            pending: VecDeque::new(),
            quit: false,
            control_closed: false,
            login_deadline,
            registry_id,
            control_shut: false,
            stack: OnceCell::new(),
        })
    }

    /// The session has waited a while for its next command: it gives back what only a running
    /// command needs, so an idle session costs little more than its thread's bare stack. The
    /// read buffer (allocated again by the next read), the queue of held-back commands, and the
    /// stack pages below this frame that earlier deep calls (a login's hashing, a listing)
    /// left resident.
    pub(crate) fn release_idle_memory(&mut self) {
        self.control.release_buffer();
        if self.pending.is_empty() {
            self.pending = VecDeque::new();
        }
        if let Some(stack) = self.stack.get_or_init(ThreadStack::current) {
            stack.release_below_caller();
        }
    }

    pub fn peer_ip(&self) -> IpAddr {
        self.peer.ip()
    }

    /// REIN: the client gets a new login timeout for its next login.
    pub fn restart_login_clock(&mut self) {
        self.login_deadline = Instant::now() + self.ctx.config.login_timeout;
    }

    /// Writes one reply in one syscall (one TLS record under TLS).
    pub fn send(&mut self, reply: &Reply) -> io::Result<()> {
        self.control.get_mut().write_all(&reply.encode())
    }

    /// True once the control connection speaks TLS.
    pub fn control_protected(&self) -> bool {
        self.control.get_ref().is_tls()
    }

    /// Whether TLS (AUTH TLS) is on offer at all.
    pub fn tls_offered(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.ctx.tls.is_some() {
            return true;
        }
        false
    }

    /// Whether a login as `name` (or the current one, with `None`) must use TLS:
    /// `--tls-required`, and for anonymous logins `--tls-required-anonymous`.
    pub fn tls_required_for(&self, name: Option<&[u8]>) -> bool {
        let Some(tls) = &self.ctx.config.tls else {
            return false;
        };
        let name = name.or_else(|| self.user().map(|u| u.name.as_bytes()));
        tls.required_for(name.is_some_and(crate::auth::is_anonymous_name))
    }

    /// AUTH TLS was accepted: the TLS handshake starts once its 234 has gone out.
    pub fn request_tls(&mut self) {
        self.start_tls = true;
    }

    /// Runs the server side of the control connection's TLS handshake (after AUTH TLS, or at
    /// once on an implicit-TLS listener), within `deadline`. Everything the client sent in
    /// clear text after AUTH TLS is dropped first: only what comes over TLS counts.
    #[cfg(feature = "tls")]
    fn secure_control(&mut self, deadline: Instant) -> io::Result<()> {
        let Some(server_tls) = &self.ctx.tls else {
            return Err(io::Error::other("TLS is not configured"));
        };
        self.control.discard_buffered();
        self.pending.clear();
        let tls = server_tls.for_control();
        let layer = tls.accept_control(self.control.get_ref().tcp(), deadline)?;
        self.control.get_mut().protect(layer);
        self.tls = Some(tls);
        Ok(())
    }

    #[cfg(not(feature = "tls"))]
    fn secure_control(&mut self, _deadline: Instant) -> io::Result<()> {
        Err(io::Error::other("built without TLS"))
    }

    /// The data connection as a transfer uses it: under PROT P, after the TLS handshake (within
    /// the data timeout), and under `--tls-reuse-required` only when it resumed this control
    /// connection's TLS session. `direction` says whether the client reads it to its end (and
    /// so reads TLS 1.3 tickets sent on it).
    pub fn data_stream(
        &self,
        tcp: TcpStream,
        direction: crate::xferlog::Direction,
    ) -> Result<Stream, FtpError> {
        let stream = Stream::new(tcp);
        if !self.state.protect_data {
            return Ok(stream);
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let mut stream = stream;
            use crate::net::tls::DataTlsError;
            let deadline = Instant::now() + self.ctx.config.data_timeout;
            let reuse = self
                .ctx
                .config
                .tls
                .as_ref()
                .is_some_and(|t| t.reuse_required);
            let client_reads = direction == crate::xferlog::Direction::Outgoing;
            return match tls.accept_data(stream.tcp(), deadline, reuse, client_reads) {
                Ok(layer) => {
                    stream.protect(layer);
                    Ok(stream)
                }
                Err(DataTlsError::Handshake(e)) => Err(FtpError::DataConnection(e)),
                Err(DataTlsError::NotResumed) => Err(FtpError::TlsSessionNotResumed),
            };
        }
        #[cfg(not(feature = "tls"))]
        let _ = direction;
        // PROT P is only accepted over TLS, so this is not reached; never fall back to clear.
        Err(FtpError::ProtRequired)
    }

    pub fn control_closed(&self) -> bool {
        self.control_closed
    }

    pub fn request_quit(&mut self) {
        self.quit = true;
    }

    pub fn user(&self) -> Option<&User> {
        match &self.state.login {
            Login::LoggedIn(user) => Some(user),
            _ => None,
        }
    }

    pub fn user_name(&self) -> &str {
        self.user().map_or("-", |u| u.name.as_str())
    }

    pub fn writable(&self) -> bool {
        self.user().is_some_and(|u| u.writable)
    }

    /// The virtual path a client argument names, relative to the working directory.
    pub fn virtual_path(&self, arg: &[u8]) -> Result<VirtualPath, FtpError> {
        Ok(self.state.cwd.join(arg)?)
    }

    /// The jail this login's paths resolve in: its account's folder, or all of DIR.
    pub fn jail(&self) -> &Jail {
        self.state.jail.as_ref().unwrap_or(&self.ctx.jail)
    }

    /// A path of this login as the server's logs name it: in DIR, with the account's folder
    /// in front (the client itself sees the path without it).
    pub fn logged_path(&self, path: &VirtualPath) -> Vec<u8> {
        match self.user().and_then(|u| u.root.as_ref()) {
            Some(root) => path.under(root).to_bytes(),
            None => path.to_bytes(),
        }
    }

    /// Resolves a client path, following symlinks (see [`crate::fs::jail::Jail::resolve`]).
    pub fn resolve(&self, arg: &[u8]) -> Result<JailedPath, FtpError> {
        Ok(self.jail().resolve(&self.virtual_path(arg)?)?)
    }

    /// Resolves a client path for an in-place write (see [`crate::fs::jail::Jail::resolve_in_place`]).
    pub fn resolve_in_place(&self, arg: &[u8]) -> Result<JailedPath, FtpError> {
        Ok(self.jail().resolve_in_place(&self.virtual_path(arg)?)?)
    }

    /// Resolves a client path to the entry itself (see [`crate::fs::jail::Jail::resolve_entry`]).
    pub fn resolve_entry(&self, arg: &[u8]) -> Result<JailedPath, FtpError> {
        Ok(self.jail().resolve_entry(&self.virtual_path(arg)?)?)
    }

    /// Called before each chunk of a file transfer: waits until the data connection is ready
    /// (`interest`) while answering the control connection. ABOR stops the transfer (its 226
    /// follows the transfer's 426); STAT answers at once with the progress; everything else
    /// (QUIT included) waits its turn until the transfer ends. The session thread polls both
    /// sockets rather than reading the control connection on a second thread, so a session
    /// stays one thread; one poll(2) per chunk costs nothing measurable. No progress
    /// for the data timeout gives [`Flow::Stalled`] (426).
    pub fn watch_transfer(&mut self, bytes_so_far: u64, data: RawFd, interest: Interest) -> Flow {
        let deadline = Instant::now() + self.ctx.config.data_timeout;
        loop {
            if self.take_buffered_commands(Progress::Bytes(bytes_so_far)) == Flow::Abort {
                return Flow::Abort;
            }
            if self.control_decrypted_waiting() {
                if !self.read_control_during_transfer() {
                    return Flow::Abort;
                }
                continue;
            }
            let control = self.control_to_watch();
            let left = deadline.saturating_duration_since(Instant::now());
            let wait = match interest {
                Interest::Readable => left.min(LOW_WATER_CHECK),
                Interest::Writable => left,
            };
            let ready = match sys::wait_data_or_control(data, interest, control, wait) {
                Ok(ready) => ready,
                Err(_) => return Flow::Abort,
            };
            if ready.control && !self.read_control_during_transfer() {
                return Flow::Abort;
            }
            if ready.data {
                return Flow::Continue;
            }
            if !ready.control {
                if interest == Interest::Readable && sys::bytes_queued(&data).unwrap_or(0) > 0 {
                    // Less than the receive low-water mark arrived and no more for a while: a
                    // slow sender. From now on every byte counts as readable.
                    let _ = sys::set_receive_low_water(&data, 1);
                    return Flow::Continue;
                }
                if Instant::now() >= deadline {
                    return Flow::Stalled;
                }
            }
        }
    }

    /// Looks at the control connection without waiting, between the entries of a listing
    /// (`entries_so_far`, for STAT).
    pub fn watch_control(&mut self, entries_so_far: u64) -> Flow {
        self.look_at_control(Progress::Entries(entries_so_far))
    }

    /// Looks at the control connection without waiting (between listing entries, and once after
    /// an upload's data connection ends), under the same bound as [`Session::watch_transfer`].
    pub fn look_at_control(&mut self, progress: Progress) -> Flow {
        if self.take_buffered_commands(progress) == Flow::Abort {
            return Flow::Abort;
        }
        if let Some(control) = self.control_to_watch() {
            let readable = self.control_decrypted_waiting()
                || sys::wait_readable(&control, Duration::ZERO).unwrap_or(false);
            if readable && !self.read_control_during_transfer() {
                return Flow::Abort;
            }
        }
        self.take_buffered_commands(progress)
    }

    /// The control connection, when a running transfer or listing may read it: not once
    /// MAX_PENDING commands wait (a client that floods commands is not read further until the
    /// transfer ends, so its lines wait in TCP buffers, not in our memory), and not after
    /// shutdown closed its reading side.
    fn control_to_watch(&self) -> Option<RawFd> {
        (self.pending.len() < MAX_PENDING && !self.control_shut && !self.control.has_buffered())
            .then(|| self.control.get_ref().as_raw_fd())
    }

    /// True when TLS already decrypted control bytes that the reader has not taken: polling the
    /// socket would not show them (they may be all the client sends, such as an ABOR).
    fn control_decrypted_waiting(&self) -> bool {
        self.control_to_watch().is_some() && self.control.get_ref().has_buffered_input()
    }

    /// Reads what the control connection has. False when the client closed it (or it broke):
    /// the transfer is not wanted any more, and an upload ending now must not replace the old
    /// file.
    fn read_control_during_transfer(&mut self) -> bool {
        match self.control.fill().or_else(clean_end) {
            Ok(true) => true,
            Ok(false) if self.ctx.is_shutting_down() => {
                self.control_shut = true;
                true
            }
            Ok(false) | Err(_) => {
                self.quit = true;
                self.control_closed = true;
                false
            }
        }
    }

    /// Moves complete lines from the reader's buffer to the queue, at most up to MAX_PENDING
    /// (the rest stays in the buffer, which is then not refilled). ABOR and STAT act at once.
    fn take_buffered_commands(&mut self, progress: Progress) -> Flow {
        let mut flow = Flow::Continue;
        while self.pending.len() < MAX_PENDING {
            let Some(line) = self.control.take_buffered_line() else {
                break;
            };
            match &line {
                ControlLine::Line(text) => match command_table::parse(text) {
                    Ok(Command::Abor) => flow = Flow::Abort,
                    Ok(Command::Stat(None)) => {
                        let text = match progress {
                            Progress::Bytes(n) => {
                                format!("Transfer in progress: {n} bytes transferred.")
                            }
                            Progress::Entries(n) => {
                                format!("Listing in progress: {n} entries listed.")
                            }
                        };
                        let status = Reply::new(codes::FILE_STATUS, text);
                        if self.send(&status).is_err() {
                            flow = Flow::Abort;
                        }
                        continue;
                    }
                    _ => {}
                },
                ControlLine::TooLong => {}
            }
            self.pending.push_back(line);
        }
        flow
    }
}

/// A TLS control connection that ends without close_notify ends like a plain one: a command
/// line cannot be truncated into another (it needs its line end), so nothing is at stake.
fn clean_end<T: Default>(e: io::Error) -> io::Result<T> {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => Ok(T::default()),
        _ => Err(e),
    }
}

/// How long one reply may take to leave: a client reads its replies at once, so the shorter of
/// the login and idle timeouts is generous.
fn control_write_timeout(ctx: &ServerContext) -> Duration {
    ctx.config.login_timeout.min(ctx.config.idle_timeout)
}
