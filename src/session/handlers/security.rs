//! AUTH, PBSZ, PROT, CCC: FTP over TLS (RFC 4217). The handshake itself is `net::tls`'s; these
//! commands only check the order the RFC asks for and record what the client chose.

use crate::error::{FtpError, FtpResult};
use crate::protocol::reply::{codes, Reply};
use crate::session::Session;

/// AUTH TLS (and the older names for it): 234, then the handshake, which the session loop runs
/// once the reply has gone out. Only before login: a login sent in clear text has already
/// given its password away, and vsftpd and pure-ftpd refuse it too.
pub fn auth(s: &mut Session, mechanism: &[u8]) -> FtpResult {
    if !matches!(mechanism, b"TLS" | b"TLS-C" | b"SSL") {
        return Err(FtpError::NotForParameter("use AUTH TLS"));
    }
    if !s.tls_offered() {
        return Err(FtpError::TlsUnavailable);
    }
    if s.control_protected() {
        return Err(FtpError::BadSequence("TLS is already on"));
    }
    if s.user().is_some() {
        return Err(FtpError::BadSequence("AUTH TLS comes before login"));
    }
    s.request_tls();
    Ok(Reply::new(
        codes::AUTH_OK,
        "AUTH TLS successful; starting the TLS handshake.",
    ))
}

/// PBSZ (RFC 4217 8): TLS has no buffer size of its own, so 0 is the only answer.
pub fn pbsz(s: &mut Session, _size: u64) -> FtpResult {
    if !s.control_protected() {
        return Err(FtpError::BadSequence("AUTH TLS first"));
    }
    s.state.pbsz = true;
    Ok(Reply::new(codes::OK, "PBSZ=0"))
}

/// PROT (RFC 4217 9): P protects the data connections, C leaves them clear; S and E are not
/// TLS levels. Under implicit TLS data connections are always protected.
pub fn prot(s: &mut Session, level: u8) -> FtpResult {
    if !s.control_protected() {
        return Err(FtpError::BadSequence("AUTH TLS first"));
    }
    if !s.state.pbsz {
        return Err(FtpError::BadSequence("PBSZ 0 first"));
    }
    let implicit = s.ctx.config.tls.as_ref().is_some_and(|t| t.implicit);
    match level {
        b'P' => {
            s.state.protect_data = true;
            Ok(Reply::new(codes::OK, "Protection level set to Private."))
        }
        b'C' if implicit => Err(FtpError::PolicyDenied(
            "implicit FTPS protects every data connection",
        )),
        b'C' => {
            s.state.protect_data = false;
            Ok(Reply::new(codes::OK, "Protection level set to Clear."))
        }
        b'S' | b'E' => Err(FtpError::ProtNotSupported),
        _ => Err(FtpError::NotForParameter("PROT P or PROT C")),
    }
}

/// CCC (RFC 4217 6): clearing the control connection would expose every later command (and
/// lets a middlebox rewrite them); refused, as vsftpd does.
pub fn ccc() -> FtpResult {
    Err(FtpError::PolicyDenied(
        "the control connection stays encrypted",
    ))
}
