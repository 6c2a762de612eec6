//! Passive listeners as a shared resource: idle ones expire after the data timeout, one client
//! address cannot hold the whole passive range, and PASV is refused on IPv6 control connections.

use std::net::{Ipv4Addr, TcpListener};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU16, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::sockets::{connect_from, v4};
use crate::support::{Client, TestServer};

/// A passive range of `len` ports that were free a moment ago (the test binds and releases
/// them, so another process would have to grab one in between to disturb the test).
fn free_range(len: u16) -> RangeInclusive<u16> {
    // Below the kernel's ephemeral range (32768-60999 by default): there, any test's outgoing
    // connection may take a port of the range as its source port between this check and the
    // server's bind, and a PASV would then get 425 for a reason the test does not mean.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let spread = (std::process::id() % 400) as u16 * 25;
    for _ in 0..200 {
        let base = 20_000 + (spread + NEXT.fetch_add(len, Ordering::Relaxed)) % 10_000;
        let held: Vec<_> = (0..len)
            .map_while(|i| TcpListener::bind(("127.0.0.1", base + i)).ok())
            .collect();
        if held.len() == usize::from(len) {
            return base..=base + len - 1;
        }
    }
    panic!("no {len} consecutive free ports on 127.0.0.1 between 20000 and 30000");
}

/// An anonymous session from the loopback address `from` (127.0.0.x plays another host).
fn session_from(s: &TestServer, from: Ipv4Addr) -> Client {
    let stream = connect_from(from, v4(s.addr)).expect("connect from a loopback address");
    let mut c = Client::from_stream(stream);
    c.login("anonymous", "x@example.com");
    c
}

#[test]
fn idle_passive_listeners_expire_and_free_the_range() {
    let range = free_range(2);
    let s = TestServer::with(|c| {
        c.pasv_ports = Some(range.clone());
        c.data_timeout = Duration::from_secs(1);
    });
    s.root.write("f", b"data");
    // Two "hosts" take the whole range and then only keep their sessions alive.
    let mut idle: Vec<Client> = [2, 3]
        .iter()
        .map(|&n| session_from(&s, Ipv4Addr::new(127, 0, 0, n)))
        .collect();
    let opened = Instant::now();
    for c in &mut idle {
        c.expect("PASV", 227);
    }
    // From 127.0.0.1, so that its data connections come from the control connection's address.
    let mut other = s.anonymous();
    other.expect("PASV", 425);
    // Bounded: the listeners must go within the data timeout plus scheduling slack.
    let deadline = opened + Duration::from_secs(4);
    loop {
        for c in &mut idle {
            c.expect("NOOP", 200);
        }
        if other.cmd("PASV").code == 227 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "idle passive listeners still hold the range after the data timeout"
        );
        thread::sleep(Duration::from_millis(50));
    }
    assert!(
        opened.elapsed() >= Duration::from_millis(900),
        "a listener went before its data timeout: {:?}",
        opened.elapsed()
    );
    // The idle session's listener is gone: its LIST fails, and the session goes on.
    idle[0].expect("LIST", 425);
    idle[0].expect("NOOP", 200);
    assert_eq!(other.retr("f"), b"data");
}

#[test]
fn one_address_cannot_hold_the_whole_passive_range() {
    // Four ports: one address may hold half of them (see README, "Data connections").
    let range = free_range(4);
    let s = TestServer::with(|c| c.pasv_ports = Some(range.clone()));
    s.root.write("f", b"data");
    let local = Ipv4Addr::new(127, 0, 0, 1);
    let mut same: Vec<Client> = (0..3).map(|_| session_from(&s, local)).collect();
    same[0].expect("PASV", 227);
    same[1].expect("EPSV", 229);
    same[2].expect("PASV", 425);
    same[2].expect("EPSV", 425);
    // Another address still gets a port.
    let mut other = session_from(&s, Ipv4Addr::new(127, 0, 0, 2));
    other.expect("PASV", 227);
    // A session that gives its listener up (ABOR) makes room for the next one of that address.
    same[0].expect("ABOR", 226);
    assert_eq!(same[2].retr("f"), b"data");
    // Replacing one's own listener is not blocked by the cap.
    same[1].expect("PASV", 227);
    same[1].expect("EPSV", 229);
}

#[test]
fn pasv_on_ipv6_control_connection_is_refused_even_with_pasv_address() {
    let Ok(probe) = TcpListener::bind("[::1]:0") else {
        eprintln!("SKIPPED: pasv_on_ipv6_control_connection: no IPv6 loopback (::1) here");
        return;
    };
    drop(probe);
    let s = TestServer::on("[::1]:0", |c| {
        c.pasv_address = Some(Ipv4Addr::new(127, 0, 0, 1));
    });
    s.root.write("f", b"six");
    let mut c = s.anonymous();
    // Nothing listens on the announced IPv4 address: refuse as pure-ftpd does, pointing at EPSV.
    let reply = c.expect("PASV", 504);
    assert!(reply.text().contains("EPSV"), "{}", reply.text());
    assert_eq!(c.retr("f"), b"six");
}

/// The reaper closes each unused passive listener at its own deadline, though a later PASV
/// (due later) does not wake it: the first goes after the data timeout, the second after its own.
#[test]
fn the_reaper_closes_unused_listeners_without_another_pasv() {
    let s = TestServer::with(|c| c.data_timeout = Duration::from_secs(1));
    let mut first = s.anonymous();
    let mut second = s.anonymous();
    let opened = Instant::now();
    let ports = [first.epsv_port(), second.epsv_port()];
    let deadline = opened + Duration::from_secs(5);
    for port in ports {
        loop {
            let refused = std::net::TcpStream::connect_timeout(
                &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                Duration::from_secs(1),
            )
            .is_err();
            if refused {
                break;
            }
            assert!(Instant::now() < deadline, "listener on {port} never closed");
            thread::sleep(Duration::from_millis(50));
        }
    }
    assert!(opened.elapsed() >= Duration::from_millis(900));
}
