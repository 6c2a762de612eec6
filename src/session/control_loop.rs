//! The session loop: read a line, parse it, check the login and write gates, dispatch it to a
//! handler, write the reply. Kept apart from the session state (`session/mod.rs`) so that the
//! handlers can use the state without the state importing the handlers back.

use std::io;
use std::time::Instant;

use super::handlers;
use super::{clean_end, Login, Session, IDLE_RELEASE_AFTER};
use crate::error::FtpError;
use crate::os::sys;
use crate::protocol::command::Command;
use crate::protocol::command_table;
use crate::protocol::control_line::ControlLine;
use crate::protocol::reply::{codes, Reply};

impl Session {
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
        if self.ctx.config.tls.as_ref().is_some_and(|t| t.implicit) {
            // Implicit FTPS: TLS from the first byte, within the time a first command would
            // have; data connections always protected.
            let deadline = self.line_deadline().unwrap_or_else(Instant::now);
            self.secure_control(deadline)?;
            self.state.protect_data = true;
        }
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
            if std::mem::take(&mut self.start_tls) {
                // A failed handshake leaves no clear-text fallback: the session ends. The
                // deadline is the one a next command would have.
                let deadline = self.line_deadline().unwrap_or_else(Instant::now);
                self.secure_control(deadline)?;
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

    /// The next command line: one held back during a transfer, or one from the socket that
    /// must be complete by `deadline` (checked before every read, not only once per line).
    fn next_line(&mut self, deadline: Instant) -> io::Result<Option<ControlLine>> {
        if let Some(line) = self.pending.pop_front() {
            return Ok(Some(line));
        }
        self.release_memory_if_idle(deadline);
        self.control
            .read_line_with(|stream| {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                stream.tcp().set_read_timeout(Some(left))
            })
            .or_else(clean_end)
    }

    /// Waits up to [`IDLE_RELEASE_AFTER`] for the next command; when none comes the session is
    /// idle: it gives back its memory and then waits in poll(2), not in a read, whose buffer
    /// would have to exist while it blocks. A client that keeps sending commands never pays
    /// for the release, and one that idles pays once per idle spell.
    fn release_memory_if_idle(&mut self, deadline: Instant) {
        let stream = self.control.get_ref();
        if self.control.has_buffered() || stream.has_buffered_input() {
            return;
        }
        let left = || deadline.saturating_duration_since(Instant::now());
        if !matches!(
            sys::wait_readable(stream.tcp(), left().min(IDLE_RELEASE_AFTER)),
            Ok(false)
        ) {
            return;
        }
        self.release_idle_memory();
        // Readable, or the deadline: either way the read that follows sees it.
        let _ = sys::wait_readable(self.control.get_ref().tcp(), left());
    }

    /// Parses and runs one command line, returning its final reply.
    fn execute(&mut self, line: &[u8]) -> Reply {
        let parsed = command_table::parse_with_entry(line);
        // Sequence state lives for exactly one command, whether that one parses or not: RNTO
        // must follow RNFR and PASS must follow USER (503 otherwise), and REST applies to the
        // next transfer only.
        let rename_from = self.state.rename_from.take();
        if matches!(self.state.login, Login::UserGiven(_))
            && !matches!(
                parsed,
                Ok((Command::Pass(_) | Command::User(_) | Command::Host(_), _))
            )
        {
            self.state.login = Login::None;
        }
        if !parsed.as_ref().is_ok_and(|(c, _)| keeps_restart_offset(c)) {
            self.state.restart_offset = 0;
        }
        let (command, entry) = match parsed {
            Ok(parsed) => parsed,
            Err(e) => return FtpError::Parse(e).to_reply(),
        };
        log::debug!("{} <- {}", self.peer, command.loggable());
        if let Err(e) = self.gate(entry) {
            return e.to_reply();
        }
        handlers::dispatch(self, command, rename_from).unwrap_or_else(|e| e.to_reply())
    }

    /// The login and write gates, read from the command's row in the verb table (an unknown
    /// verb has none and is answered "500 Unknown command" logged in or not).
    fn gate(&self, entry: Option<&command_table::Verb>) -> Result<(), FtpError> {
        let Some(entry) = entry else {
            return Ok(());
        };
        match &self.state.login {
            Login::LoggedIn(user) if entry.needs_write && !user.writable => Err(FtpError::ReadOnly),
            Login::LoggedIn(_) => Ok(()),
            _ if entry.needs_login => Err(FtpError::NotLoggedIn),
            _ => Ok(()),
        }
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

fn shutting_down() -> Reply {
    Reply::new(codes::SERVICE_NOT_AVAILABLE, "Server shutting down.")
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
