//! One control connection: read a line, parse it, dispatch it, write the reply. Owns the
//! session's state.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::command::{self, Command, TransferType};
use crate::command_table;
use crate::control_line::{ControlLine, ControlReader};
use crate::data_channel::DataSetup;
use crate::error::FtpError;
use crate::handlers;
use crate::jail::{JailedPath, VirtualPath};
use crate::listing::FactSet;
use crate::reply::{codes, Reply};
use crate::server::ServerContext;
use crate::sys;
use crate::sys::Interest;
use crate::transfer::Flow;

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

/// How often an upload that waits for its receive low-water mark (see transfer.rs) checks
/// whether a slow sender left fewer bytes than that.
const LOW_WATER_CHECK: Duration = Duration::from_millis(100);

/// Who is logged in, and what they may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub writable: bool,
}

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
}

impl Default for TransferType {
    /// RFC 959 says ASCII; every client we know sends TYPE before it matters, and binary is what
    /// a server for cameras and scanners should do when one does not.
    fn default() -> TransferType {
        TransferType::Image
    }
}

pub struct Session {
    control: ControlReader<TcpStream>,
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
}

impl Drop for Session {
    fn drop(&mut self) {
        // Before the control socket closes, so shutdown never acts on a reused descriptor.
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
        let registry_id = ctx.register_session(stream.as_raw_fd());
        Ok(Session {
            control: ControlReader::new(stream),
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
        })
    }

    pub fn peer_ip(&self) -> IpAddr {
        self.peer.ip()
    }

    /// Runs the session until QUIT, a timeout or the client going away.
    pub fn run(mut self) {
        log::info!("session start: {}", self.peer);
        let started = Instant::now();
        if let Err(e) = self.serve() {
            log::debug!("session {}: {e}", self.peer);
        }
        log::info!(
            "session end: {} user={} after {:.1}s",
            self.peer,
            self.user_name(),
            started.elapsed().as_secs_f64()
        );
    }

    fn serve(&mut self) -> io::Result<()> {
        let banner = Reply::new(codes::READY, self.ctx.config.banner.as_bytes());
        self.send(&banner)?;
        while !self.quit {
            if self.pending.is_empty() && !self.ctx.set_idle(self.registry_id) {
                let _ = self.send(&shutting_down());
                return Ok(());
            }
            let Some(deadline) = self.line_deadline() else {
                let _ = self.send(&Reply::new(
                    codes::SERVICE_NOT_AVAILABLE,
                    "Login timeout: closing control connection.",
                ));
                return Ok(());
            };
            let line = match self.next_line(deadline) {
                Ok(Some(line)) => line,
                Ok(None) if self.ctx.is_shutting_down() => {
                    let _ = self.send(&shutting_down());
                    return Ok(());
                }
                Ok(None) => return Ok(()),
                Err(e) if is_timeout(&e) => {
                    let _ = self.send(&Reply::new(
                        codes::SERVICE_NOT_AVAILABLE,
                        "Timeout: closing control connection.",
                    ));
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            self.ctx.set_busy(self.registry_id);
            let reply = match line {
                ControlLine::TooLong => Reply::new(codes::SYNTAX_ERROR, "Line too long."),
                ControlLine::Line(line) if line.is_empty() => continue,
                ControlLine::Line(line) => self.execute(&line),
            };
            self.send(&reply)?;
            if reply.closes_session() {
                self.quit = true;
            }
        }
        Ok(())
    }

    /// When the next command line must be complete: the idle timeout from now, and before login
    /// also the login timeout from the start (so a slow client cannot hold a connection by
    /// sending a NOOP now and then). `None` when the login time is up.
    fn line_deadline(&self) -> Option<Instant> {
        let now = Instant::now();
        let idle = now + self.ctx.config.idle_timeout;
        if self.user().is_some() {
            return Some(idle);
        }
        (self.login_deadline > now).then(|| idle.min(self.login_deadline))
    }

    /// REIN: the client gets a new login timeout for its next login.
    pub fn restart_login_clock(&mut self) {
        self.login_deadline = Instant::now() + self.ctx.config.login_timeout;
    }

    /// The next command line: one held back during a transfer, or one from the socket that
    /// must be complete by `deadline` (checked before every read, not only once per line).
    fn next_line(&mut self, deadline: Instant) -> io::Result<Option<ControlLine>> {
        if let Some(line) = self.pending.pop_front() {
            return Ok(Some(line));
        }
        self.control.read_line_with(|stream| {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            stream.set_read_timeout(Some(left))
        })
    }

    /// Parses and runs one command line, returning its final reply.
    fn execute(&mut self, line: &[u8]) -> Reply {
        let parsed = command::parse(line);
        // Sequence state lives for exactly one command, whether that one parses or not: RNTO
        // must follow RNFR and PASS must follow USER (503 otherwise), and REST applies to the
        // next transfer only.
        let rename_from = self.state.rename_from.take();
        if matches!(self.state.login, Login::UserGiven(_))
            && !matches!(
                parsed,
                Ok(Command::Pass(_) | Command::User(_) | Command::Host(_))
            )
        {
            self.state.login = Login::None;
        }
        if !parsed.as_ref().is_ok_and(keeps_restart_offset) {
            self.state.restart_offset = 0;
        }
        let command = match parsed {
            Ok(command) => command,
            Err(e) => return FtpError::Parse(e).to_reply(),
        };
        log::debug!("{} <- {}", self.peer, command.loggable());
        if let Err(e) = self.gate(&command) {
            return e.to_reply();
        }
        handlers::dispatch(self, command, rename_from).unwrap_or_else(|e| e.to_reply())
    }

    /// The login and write gates, read from the command table.
    fn gate(&self, command: &Command) -> Result<(), FtpError> {
        let Some(entry) = command_table::entry_of(command) else {
            return Ok(());
        };
        match &self.state.login {
            Login::LoggedIn(user) if entry.needs_write && !user.writable => Err(FtpError::ReadOnly),
            Login::LoggedIn(_) => Ok(()),
            _ if entry.needs_login => Err(FtpError::NotLoggedIn),
            _ => Ok(()),
        }
    }

    /// Writes one reply in one syscall.
    pub fn send(&mut self, reply: &Reply) -> io::Result<()> {
        let mut stream: &TcpStream = self.control.get_ref();
        stream.write_all(&reply.encode())
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

    /// Resolves a client path, following symlinks (see [`crate::jail::Jail::resolve`]).
    pub fn resolve(&self, arg: &[u8]) -> Result<JailedPath, FtpError> {
        Ok(self.ctx.jail.resolve(&self.virtual_path(arg)?)?)
    }

    /// Resolves a client path for an in-place write (see [`crate::jail::Jail::resolve_in_place`]).
    pub fn resolve_in_place(&self, arg: &[u8]) -> Result<JailedPath, FtpError> {
        Ok(self.ctx.jail.resolve_in_place(&self.virtual_path(arg)?)?)
    }

    /// Resolves a client path to the entry itself (see [`crate::jail::Jail::resolve_entry`]).
    pub fn resolve_entry(&self, arg: &[u8]) -> Result<JailedPath, FtpError> {
        Ok(self.ctx.jail.resolve_entry(&self.virtual_path(arg)?)?)
    }

    /// Called before each chunk of a file transfer: waits until the data connection is ready
    /// (`interest`) while answering the control connection. ABOR stops the transfer (its 226
    /// follows the transfer's 426); STAT answers at once with the progress; everything else
    /// (QUIT included) waits its turn until the transfer ends. The session thread polls both
    /// sockets rather than reading the control connection on a second thread, so a session
    /// stays one thread; one poll(2) per 256 KiB chunk costs nothing measurable. No progress
    /// for the data timeout gives [`Flow::Stalled`] (426).
    pub fn watch_transfer(&mut self, bytes_so_far: u64, data: RawFd, interest: Interest) -> Flow {
        let deadline = Instant::now() + self.ctx.config.data_timeout;
        loop {
            if self.take_buffered_commands(Progress::Bytes(bytes_so_far)) == Flow::Abort {
                return Flow::Abort;
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
            if sys::wait_readable(&control, Duration::ZERO).unwrap_or(false)
                && !self.read_control_during_transfer()
            {
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

    /// Reads what the control connection has. False when the client closed it (or it broke):
    /// the transfer is not wanted any more, and an upload ending now must not replace the old
    /// file.
    fn read_control_during_transfer(&mut self) -> bool {
        match self.control.fill() {
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
                ControlLine::Line(text) => match command::parse(text) {
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

/// REST is kept for the transfer that uses it, across the data connection set-up and TYPE that
/// clients send between the two (FileZilla sends PASV after REST); anything else forgets it.
fn keeps_restart_offset(command: &Command) -> bool {
    matches!(
        command,
        Command::Rest(_)
            | Command::Retr(_)
            | Command::Stor(_)
            | Command::Appe(_)
            | Command::Pasv
            | Command::Epsv(_)
            | Command::Port(_)
            | Command::Eprt(_)
            | Command::Type(_)
    )
}

/// How long one reply may take to leave: a client reads its replies at once, so the shorter of
/// the login and idle timeouts is generous.
fn control_write_timeout(ctx: &ServerContext) -> Duration {
    ctx.config.login_timeout.min(ctx.config.idle_timeout)
}

fn shutting_down() -> Reply {
    Reply::new(codes::SERVICE_NOT_AVAILABLE, "Server shutting down.")
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
