//! Connecting from a chosen source address (127.0.0.2 plays "another host"). std cannot bind
//! a socket before connecting, so this uses libc directly; it is test-only code.

use std::io;
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::FromRawFd;

/// Connects to `to` from the IPv4 address `from` (port chosen by the kernel).
pub fn connect_from(from: std::net::Ipv4Addr, to: SocketAddrV4) -> io::Result<TcpStream> {
    // SAFETY: plain socket(2); the fd is checked and owned by the TcpStream below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket we own; the TcpStream closes it on drop.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let bind_to = sockaddr(SocketAddrV4::new(from, 0));
    let target = sockaddr(to);
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: both sockaddr_in values are initialised and `len` is their size.
    if unsafe { libc::bind(fd, &bind_to as *const _ as *const libc::sockaddr, len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::connect(fd, &target as *const _ as *const libc::sockaddr, len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stream)
}

fn sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

pub fn v4(addr: SocketAddr) -> SocketAddrV4 {
    match addr {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => panic!("IPv4 expected"),
    }
}
