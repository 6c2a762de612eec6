//! PASV, EPSV, PORT, EPRT: how the next data connection will be made.

use std::net::{IpAddr, SocketAddr};

use crate::error::{FtpError, FtpResult};
use crate::net::data_channel::{self, DataSetup};
use crate::protocol::command::{port_arg, EpsvArg};
use crate::protocol::reply::{codes, Reply};
use crate::session::Session;

fn refuse_after_epsv_all(s: &Session) -> Result<(), FtpError> {
    if s.state.epsv_all {
        Err(FtpError::BadSequence("EPSV ALL is in effect; use EPSV"))
    } else {
        Ok(())
    }
}

/// Opens the listener on the local address of the control connection, where the client
/// already reaches us. It closes by itself if no transfer uses it within the data timeout.
fn open_listener(s: &mut Session) -> Result<u16, FtpError> {
    // Close any earlier listener first: its port is free again and it no longer counts
    // against this client address's share of the passive listeners.
    s.state.data = DataSetup::None;
    let listener =
        s.ctx
            .passive
            .open(s.local.ip(), s.peer_ip(), s.ctx.config.pasv_ports.as_ref())?;
    let port = listener.port();
    s.state.data = DataSetup::Passive(listener);
    Ok(port)
}

pub fn pasv(s: &mut Session) -> FtpResult {
    refuse_after_epsv_all(s)?;
    // On an IPv6 control connection the listener would be on an IPv6 address that a PASV reply
    // cannot carry; announcing `--pasv-address` there would name an address nothing listens on.
    // Refused as pure-ftpd does (vsftpd announces 0,0,0,0): every IPv6 client uses EPSV.
    let announced = match (s.local.ip().to_canonical(), s.ctx.config.pasv_address) {
        (IpAddr::V6(_), _) => {
            return Err(FtpError::NotForParameter("PASV is IPv4 only; use EPSV"));
        }
        (IpAddr::V4(_), Some(ip)) => ip,
        (IpAddr::V4(ip), None) => ip,
    };
    let port = open_listener(s)?;
    let addr = SocketAddr::new(IpAddr::V4(announced), port);
    Ok(Reply::new(
        codes::ENTERING_PASSIVE,
        format!("Entering Passive Mode ({}).", port_arg(&addr)),
    ))
}

pub fn epsv(s: &mut Session, arg: EpsvArg) -> FtpResult {
    let local_is_v4 = s.local.ip().to_canonical().is_ipv4();
    match arg {
        EpsvArg::All => {
            s.state.epsv_all = true;
            return Ok(Reply::new(codes::OK, "EPSV ALL ok."));
        }
        EpsvArg::Ipv4 if !local_is_v4 => {
            return Err(crate::protocol::command::ParseError::UnsupportedProtocol.into())
        }
        EpsvArg::Ipv6 if local_is_v4 => {
            return Err(crate::protocol::command::ParseError::UnsupportedProtocol.into())
        }
        _ => {}
    }
    let port = open_listener(s)?;
    Ok(Reply::new(
        codes::ENTERING_EXTENDED_PASSIVE,
        format!("Entering Extended Passive Mode (|||{port}|)."),
    ))
}

/// PORT and EPRT: only to the client's own address and a port of 1024 or above.
pub fn port(s: &mut Session, target: SocketAddr, verb: &str) -> FtpResult {
    refuse_after_epsv_all(s)?;
    if let Err(e) = data_channel::check_active_target(target, s.peer_ip()) {
        log::warn!("{} refused {verb} to {target}", s.peer);
        return Err(e);
    }
    s.state.data = DataSetup::Active(target);
    Ok(Reply::new(
        codes::OK,
        format!("{verb} command successful. Consider using EPSV."),
    ))
}
