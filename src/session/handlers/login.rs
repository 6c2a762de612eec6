//! USER, PASS, QUIT, REIN.

use std::time::Instant;

use crate::auth;
use crate::error::{FtpError, FtpResult};
use crate::protocol::reply::{codes, Reply};
use crate::session::{Login, Session, State};

/// After this many failed logins on one connection, the server hangs up.
const MAX_FAILED_LOGINS: u32 = 3;

pub fn user(s: &mut Session, name: Vec<u8>) -> FtpResult {
    if matches!(s.state.login, Login::LoggedIn(_)) {
        return Err(FtpError::BadSequence("already logged in; use REIN first"));
    }
    // Before PASS can carry a password in clear text (--tls-required).
    if s.tls_required_for(Some(&name)) && !s.control_protected() {
        return Err(FtpError::TlsRequired);
    }
    s.state.login = Login::UserGiven(name);
    // The same reply for every name, known or not: no user enumeration.
    Ok(Reply::new(
        codes::NEED_PASSWORD,
        "User name okay, need password.",
    ))
}

pub fn pass(s: &mut Session, password: &[u8]) -> FtpResult {
    let name = match std::mem::take(&mut s.state.login) {
        Login::UserGiven(name) => name,
        other @ Login::LoggedIn(_) => {
            s.state.login = other;
            return Ok(Reply::new(codes::LOGGED_IN, "Already logged in."));
        }
        Login::None => return Err(FtpError::BadSequence("send USER first")),
    };
    let started = Instant::now();
    match auth::authenticate(&s.ctx.config, &s.ctx.file_accounts(), &name, password) {
        Some(user) => {
            // An account's folder, resolved through the server's jail now (it was checked at
            // start or reload, but may have gone since): the session's own jail from here on.
            if let Some(root) = &user.root {
                match s.ctx.jail.sub_jail(root) {
                    Ok(jail) => s.state.jail = Some(jail),
                    Err(e) => {
                        log::error!(
                            "login: {} user={}: folder {} is not usable: {e}",
                            s.peer,
                            user.name,
                            String::from_utf8_lossy(&root.to_bytes())
                        );
                        return Ok(Reply::new(
                            codes::NOT_LOGGED_IN,
                            "Login failed: the account's folder is not available.",
                        ));
                    }
                }
            }
            log::info!("login: {} user={}", s.peer, user.name);
            s.state.login = Login::LoggedIn(user);
            Ok(Reply::new(codes::LOGGED_IN, "Login successful."))
        }
        None => {
            s.state.failed_logins += 1;
            log::warn!(
                "failed login: {} user={}",
                s.peer,
                String::from_utf8_lossy(&name)
            );
            // Padded to the delay from the start of the check, not added after it: a failure
            // then takes the same time whatever the check cost (unless the hash takes longer).
            let delay = s.ctx.config.login_failure_delay;
            std::thread::sleep(delay.saturating_sub(started.elapsed()));
            if s.state.failed_logins >= MAX_FAILED_LOGINS {
                Ok(Reply::new(
                    codes::SERVICE_NOT_AVAILABLE,
                    "Login incorrect; too many failures, closing.",
                ))
            } else {
                Ok(Reply::new(codes::NOT_LOGGED_IN, "Login incorrect."))
            }
        }
    }
}

pub fn quit(s: &mut Session) -> FtpResult {
    s.request_quit();
    Ok(Reply::new(codes::SERVICE_CLOSING, "Goodbye."))
}

/// REIN (RFC 959 4.1.1): back to the state of a new connection, the connection kept. Refused
/// once the control connection is TLS: RFC 4217 11 would have it fall back to clear text,
/// which exposes the next login; reconnecting costs a client one round trip.
pub fn rein(s: &mut Session) -> FtpResult {
    if s.control_protected() {
        return Err(FtpError::NotForParameter(
            "REIN on a TLS connection; reconnect to log in again",
        ));
    }
    let failed_logins = s.state.failed_logins;
    s.state = State {
        failed_logins,
        ..State::default()
    };
    s.restart_login_clock();
    Ok(Reply::new(codes::READY, "Ready for a new user."))
}
