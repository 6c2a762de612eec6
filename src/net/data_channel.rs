//! Data connections: PASV/EPSV listeners with a deadline, PORT/EPRT connects, and the peer
//! checks that stop bounce attacks and passive port theft.

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::FtpError;
use crate::os::sys;

/// How the next data connection is made, as set by the last PASV/EPSV/PORT/EPRT.
#[derive(Debug, Default)]
pub enum DataSetup {
    #[default]
    None,
    Passive(PassiveListener),
    Active(SocketAddr),
}

impl DataSetup {
    /// False when there is nothing to transfer over: no set-up, or a passive listener that
    /// expired (the client must send PASV/EPSV again).
    pub fn is_ready(&self) -> bool {
        match self {
            DataSetup::None => false,
            DataSetup::Passive(passive) => passive.is_listening(),
            DataSetup::Active(_) => true,
        }
    }
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
/// dropped and the wait goes on, so a port thief gets nothing), within `timeout` and before the
/// listener's own deadline (the data timeout counted from the PASV/EPSV).
pub fn accept_from(
    passive: &PassiveListener,
    peer_ip: IpAddr,
    timeout: Duration,
) -> Result<TcpStream, FtpError> {
    let listener = passive.take().ok_or(FtpError::NoDataConnection)?;
    let deadline = deadline_after(timeout).min(passive.inner.deadline);
    listener
        .set_nonblocking(true)
        .map_err(FtpError::DataConnection)?;
    loop {
        match listener.accept() {
            // Linux does not pass the listener's O_NONBLOCK on to the accepted socket: it is
            // blocking already, without another ioctl per transfer.
            Ok((stream, from)) if same_host(from.ip(), peer_ip) => return Ok(stream),
            Ok((_, from)) => {
                log::warn!("refused data connection from {from}: not the control peer {peer_ip}")
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero()
                    || !sys::wait_readable(&listener, left).map_err(FtpError::DataConnection)?
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

/// The address a client is counted under, for `--max-per-ip` and for passive listeners: an
/// IPv4 address as it is (IPv4-mapped IPv6 included, as a dual-stack listener reports IPv4
/// peers), an IPv6 address by its /64 prefix, since one IPv6 host or customer is normally given
/// a whole /64 and can pick a fresh address from it for every connection.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

/// Applies the data timeout to both directions: a transfer that makes no progress for that long
/// fails (426) instead of holding the session forever.
pub fn prepare(stream: &TcpStream, timeout: Duration) -> io::Result<()> {
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(())
}

/// `now + timeout`, or a day from now when that would overflow (an absurd `--data-timeout`),
/// so no arithmetic on an operator's number can panic a session.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}

/// How many passive listeners one client address (see [`client_key`]) may hold at a time: half
/// of `--pasv-ports` (at least one), and never more than `--max-per-ip` (each session holds at
/// most one). So a single address can never take the whole range; without a range the kernel
/// picks ports and `--max-per-ip` alone bounds them.
pub fn passive_cap(max_per_ip: usize, range: Option<&RangeInclusive<u16>>) -> usize {
    let range_half = range.map_or(usize::MAX, |r| {
        let size = usize::from(*r.end() - *r.start()) + 1;
        size.div_ceil(2).max(1)
    });
    max_per_ip.max(1).min(range_half)
}

/// A PASV/EPSV listener waiting for its data connection. The session owns it; the server's
/// [`PassiveListeners`] only watches it (through a weak reference), to close it when nobody has
/// used it within the data timeout.
#[derive(Debug)]
pub struct PassiveListener {
    inner: Arc<Passive>,
}

#[derive(Debug)]
struct Passive {
    key: IpAddr,
    /// The data timeout counted from the PASV/EPSV.
    deadline: Instant,
    port: u16,
    slot: Mutex<Slot>,
}

#[derive(Debug)]
enum Slot {
    Listening(TcpListener),
    /// Taken by a transfer, which accepts until the same deadline. Still counted for its
    /// address until the session drops it.
    InUse,
    /// Closed by the reaper: the port is free again.
    Expired,
}

impl PassiveListener {
    pub fn port(&self) -> u16 {
        self.inner.port
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        lock(&self.inner.slot)
    }

    fn is_listening(&self) -> bool {
        matches!(*self.slot(), Slot::Listening(_))
    }

    /// The listener for a transfer; `None` once it expired.
    fn take(&self) -> Option<TcpListener> {
        let mut slot = self.slot();
        match std::mem::replace(&mut *slot, Slot::InUse) {
            Slot::Listening(listener) => Some(listener),
            other => {
                *slot = other;
                None
            }
        }
    }
}

/// A poisoned lock here only means a thread panicked between two whole updates; the state is
/// still consistent, so carry on with it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The passive listeners of one server. Passive ports are shared by every client (a small
/// `--pasv-ports` range especially), so two rules keep any client from holding them: a listener
/// nobody started a transfer on within the data timeout of its PASV/EPSV is closed (by a reaper
/// thread, whatever the session does meanwhile, NOOPs included), and one client address holds
/// at most [`passive_cap`] of them.
pub struct PassiveListeners {
    shared: Arc<Shared>,
    timeout: Duration,
    per_client: usize,
}

struct Shared {
    state: Mutex<Watched>,
    changed: Condvar,
}

#[derive(Default)]
struct Watched {
    listeners: Vec<Weak<Passive>>,
    reaper_started: bool,
    /// When the reaper wakes by itself next (`None`: only when told). A new listener wakes it
    /// only if it is due earlier, which with one timeout for all is never once it waits for
    /// one: no wake-up and no contention for this lock per PASV/EPSV.
    reaper_due: Option<Instant>,
    stopped: bool,
}

impl Watched {
    /// Closes the listeners whose deadline has passed, forgets those gone or closed, and says
    /// when the next one is due.
    fn close_expired(&mut self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        self.listeners.retain(|weak| {
            let Some(passive) = weak.upgrade() else {
                return false;
            };
            let mut slot = lock(&passive.slot);
            match *slot {
                Slot::Listening(_) if passive.deadline <= now => {
                    *slot = Slot::Expired; // drops the listener: the port is free
                    false
                }
                Slot::Expired => false,
                Slot::Listening(_) | Slot::InUse => {
                    next = Some(next.map_or(passive.deadline, |n| n.min(passive.deadline)));
                    true
                }
            }
        });
        next
    }

    fn held_by(&self, key: IpAddr) -> usize {
        self.listeners
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|passive| passive.key == key)
            .count()
    }
}

impl PassiveListeners {
    pub fn new(timeout: Duration, per_client: usize) -> PassiveListeners {
        PassiveListeners {
            shared: Arc::new(Shared {
                state: Mutex::new(Watched::default()),
                changed: Condvar::new(),
            }),
            timeout,
            per_client,
        }
    }

    /// Opens a listener on `local` (the control connection's local address) for the client at
    /// `peer`, on a free port of `range` when given. The caller drops the session's previous
    /// listener first, so replacing one's own listener never runs into the cap.
    pub fn open(
        &self,
        local: IpAddr,
        peer: IpAddr,
        range: Option<&RangeInclusive<u16>>,
    ) -> Result<PassiveListener, FtpError> {
        let key = client_key(peer);
        // Held across the count and the bind, so that two sessions of one address cannot both
        // pass the check for the last place.
        let mut watched = lock(&self.shared.state);
        watched.close_expired(Instant::now());
        if watched.held_by(key) >= self.per_client {
            log::warn!(
                "refused passive listener for {peer}: {key} holds {} already",
                self.per_client
            );
            return Err(FtpError::DataConnection(io::Error::new(
                io::ErrorKind::AddrInUse,
                "too many passive listeners for this client address",
            )));
        }
        let listener = listen_passive(local, range).map_err(FtpError::DataConnection)?;
        let port = listener
            .local_addr()
            .map_err(FtpError::DataConnection)?
            .port();
        let passive = Arc::new(Passive {
            key,
            deadline: deadline_after(self.timeout),
            port,
            slot: Mutex::new(Slot::Listening(listener)),
        });
        watched.listeners.push(Arc::downgrade(&passive));
        if !watched.reaper_started {
            watched.reaper_started = self.start_reaper();
        }
        if watched.reaper_due.is_none_or(|due| passive.deadline < due) {
            self.shared.changed.notify_all();
        }
        Ok(PassiveListener { inner: passive })
    }

    /// One thread per server, started with the first passive listener. If it cannot start,
    /// expired listeners are still closed whenever a listener is opened, and a transfer on an
    /// expired one still fails.
    fn start_reaper(&self) -> bool {
        let shared = Arc::clone(&self.shared);
        thread::Builder::new()
            .name("pasv-reaper".into())
            .stack_size(64 * 1024)
            .spawn(move || reap(&shared))
            .inspect_err(|e| log::error!("cannot start the passive listener reaper: {e}"))
            .is_ok()
    }
}

fn reap(shared: &Shared) {
    let mut watched = lock(&shared.state);
    while !watched.stopped {
        let now = Instant::now();
        let due = watched.close_expired(now);
        watched.reaper_due = due;
        watched = match due {
            Some(next) => match shared.changed.wait_timeout(watched, next - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            },
            None => shared
                .changed
                .wait(watched)
                .unwrap_or_else(|e| e.into_inner()),
        };
    }
}

impl Drop for PassiveListeners {
    /// Ends the reaper with its server.
    fn drop(&mut self) {
        lock(&self.shared.state).stopped = true;
        self.shared.changed.notify_all();
    }
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
    fn ipv6_clients_are_counted_per_64() {
        let key = |a: &str| client_key(a.parse().unwrap());
        let net: IpAddr = "2001:db8:1:2::".parse().unwrap();
        for same in [
            "2001:db8:1:2::1",
            "2001:db8:1:2:ffff:ffff:ffff:ffff",
            "2001:db8:1:2:a:b:c:d",
        ] {
            assert_eq!(key(same), net, "{same}");
        }
        for other in ["2001:db8:1:3::1", "2001:db8:2:2::1", "::1"] {
            assert_ne!(key(other), net, "{other}");
        }
        assert_eq!(key("::ffff:192.0.2.7"), key("192.0.2.7"));
        assert_eq!(key("192.0.2.7"), "192.0.2.7".parse::<IpAddr>().unwrap());
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
    }

    #[test]
    fn passive_cap_is_half_the_range_within_max_per_ip() {
        assert_eq!(passive_cap(32, None), 32);
        assert_eq!(passive_cap(32, Some(&(5000..=5009))), 5);
        assert_eq!(passive_cap(32, Some(&(5000..=5000))), 1);
        assert_eq!(passive_cap(3, Some(&(5000..=5099))), 3);
        assert_eq!(passive_cap(0, None), 1);
    }

    #[test]
    fn expired_listeners_are_closed_and_uncounted() {
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let listeners = PassiveListeners::new(Duration::from_millis(100), 1);
        let first = listeners.open(local, local, None).unwrap();
        assert!(listeners.open(local, local, None).is_err(), "cap of one");
        let other = listeners.open(local, "127.0.0.2".parse().unwrap(), None);
        assert!(other.is_ok(), "another address has its own count");
        let deadline = Instant::now() + Duration::from_secs(3);
        while first.is_listening() {
            assert!(
                Instant::now() < deadline,
                "listener not closed by the reaper"
            );
            thread::sleep(Duration::from_millis(10));
        }
        assert!(first.take().is_none());
        assert!(listeners.open(local, local, None).is_ok());
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
