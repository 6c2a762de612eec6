//! Data connections: PASV/EPSV listeners with a deadline, PORT/EPRT connects, and the peer
//! checks that stop bounce attacks and passive port theft.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::error::FtpError;
use crate::os::sys;

/// How the next data connection is made, as set by the last PASV/EPSV/PORT/EPRT.
#[derive(Debug, Default)]
pub enum DataSetup {
    #[default]
    None,
    Passive(TcpListener),
    Active(SocketAddr),
}

/// Rotates the first port tried in a `--pasv-ports` range, so consecutive sessions do not all
/// race for the same port.
static NEXT_PASSIVE: AtomicU32 = AtomicU32::new(0);

/// Opens a passive listener on `ip` (the local side of the control connection), on a free port
/// of `range` when given. std sets SO_REUSEADDR on listeners, so ports in TIME_WAIT are reusable.
pub fn listen_passive(ip: IpAddr, range: Option<&RangeInclusive<u16>>) -> io::Result<TcpListener> {
    let Some(range) = range else {
        return TcpListener::bind(SocketAddr::new(ip, 0));
    };
    let size = u32::from(*range.end() - *range.start()) + 1;
    let start = NEXT_PASSIVE.fetch_add(1, Ordering::Relaxed) % size;
    let mut last_error = io::Error::new(io::ErrorKind::AddrInUse, "passive port range exhausted");
    for i in 0..size {
        let offset = (start + i) % size;
        let port = range.start() + offset as u16;
        match TcpListener::bind(SocketAddr::new(ip, port)) {
            Ok(listener) => return Ok(listener),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// Accepts the one data connection for a PASV/EPSV: only from `peer_ip` (anyone else is
/// dropped and the wait goes on, so a port thief gets nothing), within `timeout`.
pub fn accept_from(
    listener: &TcpListener,
    peer_ip: IpAddr,
    timeout: Duration,
) -> Result<TcpStream, FtpError> {
    let deadline = Instant::now() + timeout;
    listener
        .set_nonblocking(true)
        .map_err(FtpError::DataConnection)?;
    loop {
        match listener.accept() {
            Ok((stream, from)) if same_host(from.ip(), peer_ip) => {
                stream
                    .set_nonblocking(false)
                    .map_err(FtpError::DataConnection)?;
                return Ok(stream);
            }
            Ok((_, from)) => {
                log::warn!("refused data connection from {from}: not the control peer {peer_ip}")
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero()
                    || !sys::wait_readable(listener, left).map_err(FtpError::DataConnection)?
                {
                    return Err(FtpError::DataConnection(io::ErrorKind::TimedOut.into()));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FtpError::DataConnection(e)),
        }
    }
}

/// Checks a PORT/EPRT target: the control peer's own address and an unprivileged port.
/// Anything else would let a client use the server to reach a third host (a bounce attack).
pub fn check_active_target(target: SocketAddr, peer_ip: IpAddr) -> Result<(), FtpError> {
    if same_host(target.ip(), peer_ip) && target.port() >= 1024 {
        Ok(())
    } else {
        Err(FtpError::ForeignAddress)
    }
}

/// Connects to the client for an active-mode transfer, from `source` when given (`--port-20`),
/// else from a port the kernel picks.
pub fn connect_active(
    target: SocketAddr,
    source: Option<SocketAddr>,
    timeout: Duration,
) -> Result<TcpStream, FtpError> {
    match source {
        None => TcpStream::connect_timeout(&target, timeout),
        Some(source) => sys::connect_from(source, target, timeout).inspect_err(|e| {
            if e.kind() == io::ErrorKind::PermissionDenied {
                log::warn!("--port-20: binding {source} needs root or CAP_NET_BIND_SERVICE: {e}");
            } else {
                log::warn!("--port-20: connecting from {source} to {target}: {e}");
            }
        }),
    }
    .map_err(FtpError::DataConnection)
}

/// RFC 959's default data port, L-1, for `--port-20`: the control connection's local address
/// with the port below it, in the address family of the client's `target` (a dual-stack
/// listener sees IPv4 clients as `::ffff:a.b.c.d`). `None` when there is no port below.
pub fn port_20_source(control_local: SocketAddr, target: SocketAddr) -> Option<SocketAddr> {
    let port = control_local.port().checked_sub(1).filter(|&p| p > 0)?;
    let ip = match (control_local.ip().to_canonical(), target) {
        (IpAddr::V4(v4), SocketAddr::V4(_)) => IpAddr::V4(v4),
        (IpAddr::V4(v4), SocketAddr::V6(_)) => IpAddr::V6(v4.to_ipv6_mapped()),
        (IpAddr::V6(v6), _) => IpAddr::V6(v6),
    };
    Some(SocketAddr::new(ip, port))
}

/// Compares addresses with IPv4-mapped IPv6 (`::ffff:a.b.c.d`) taken as the IPv4 address, since
/// a dual-stack listener reports IPv4 peers in that form.
pub fn same_host(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

/// Applies the data timeout to both directions: a transfer that makes no progress for that long
/// fails (426) instead of holding the session forever.
pub fn prepare(stream: &TcpStream, timeout: Duration) -> io::Result<()> {
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounce_targets_refused() {
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(check_active_target("127.0.0.1:2000".parse().unwrap(), peer).is_ok());
        assert!(check_active_target("[::ffff:127.0.0.1]:2000".parse().unwrap(), peer).is_ok());
        assert!(check_active_target("127.0.0.2:2000".parse().unwrap(), peer).is_err());
        assert!(check_active_target("127.0.0.1:1023".parse().unwrap(), peer).is_err());
    }

    #[test]
    fn port_20_is_the_control_port_minus_one() {
        let s = |a: &str| a.parse::<SocketAddr>().unwrap();
        assert_eq!(
            port_20_source(s("10.0.0.1:21"), s("10.0.0.9:5000")),
            Some(s("10.0.0.1:20"))
        );
        assert_eq!(
            port_20_source(s("[::ffff:10.0.0.1]:2121"), s("10.0.0.9:5000")),
            Some(s("10.0.0.1:2120"))
        );
        assert_eq!(
            port_20_source(s("[2001:db8::1]:21"), s("[2001:db8::9]:5000")),
            Some(s("[2001:db8::1]:20"))
        );
        assert_eq!(port_20_source(s("10.0.0.1:1"), s("10.0.0.9:5000")), None);
    }

    #[test]
    fn range_listener_uses_the_range() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let base = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let range = base..=base.saturating_add(3);
        let l = listen_passive(ip, Some(&range)).unwrap();
        assert!(range.contains(&l.local_addr().unwrap().port()));
    }
}
