//! A small std-only FTP client built for measuring servers, not for being measured.
//!
//! Every socket has read/write timeouts, every loop is bounded, data moves through
//! 1 MiB buffers, and only loopback addresses are ever contacted. The same client speaks
//! clear text or explicit FTPS (AUTH TLS, PBSZ 0, PROT P) with rustls, as its `Target` says.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore, StreamOwned};

/// Size of the buffers used to move file data.
pub const BUF_SIZE: usize = 1 << 20;
/// Socket timeout for control and data connections: nothing waits longer than this.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The most lines one (multi-line) reply may have.
const MAX_REPLY_LINES: usize = 1000;
/// The longest reply line accepted.
const MAX_LINE: usize = 64 * 1024;

/// One FTP reply: its code and the text of its last line.
#[derive(Debug, Clone)]
pub struct Reply {
    pub code: u16,
    pub text: String,
}

impl Reply {
    fn is(&self, class: u16) -> bool {
        self.code / 100 == class
    }
}

/// Build an `io::Error` with a message.
pub fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// Refuse anything but loopback: this client only ever talks to servers on this machine.
fn check_loopback(addr: &SocketAddr) -> io::Result<()> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(err(format!("refusing non-loopback address {addr}")))
    }
}

/// Connect to a loopback address with the bench's timeouts set.
pub fn connect(addr: &SocketAddr) -> io::Result<TcpStream> {
    connect_from(addr, None)
}

/// Connect from a chosen loopback source address (any of 127.0.0.0/8 is local), so
/// that tens of thousands of connections do not all share one address's port space.
pub fn connect_from(addr: &SocketAddr, src: Option<Ipv4Addr>) -> io::Result<TcpStream> {
    check_loopback(addr)?;
    let s = match (src, addr) {
        (Some(src), SocketAddr::V4(dst)) if src != Ipv4Addr::LOCALHOST => {
            check_loopback(&SocketAddr::from((src, 0)))?;
            bound_connect(src, *dst)?
        }
        _ => TcpStream::connect_timeout(addr, CONNECT_TIMEOUT)?,
    };
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(s)
}

fn sockaddr_in(a: std::net::SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// socket + bind(src:0) + connect, which std cannot do. Linux applies SO_SNDTIMEO to
/// connect(2), which bounds it like `connect_timeout`.
fn bound_connect(src: Ipv4Addr, dst: std::net::SocketAddrV4) -> io::Result<TcpStream> {
    let ret = |r: libc::c_int| {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    };
    // SAFETY: plain socket(2); the fd is owned by the TcpStream below from here on.
    let fd =
        ret(unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: fd is a fresh socket nobody else owns; TcpStream closes it on every path.
    let s = unsafe { TcpStream::from_raw_fd(fd) };
    let tv = libc::timeval {
        tv_sec: CONNECT_TIMEOUT.as_secs() as libc::time_t,
        tv_usec: 0,
    };
    let one: libc::c_int = 1;
    let len = |n: usize| n as libc::socklen_t;
    let from = sockaddr_in(std::net::SocketAddrV4::new(src, 0));
    let to = sockaddr_in(dst);
    // SAFETY: fd is open; each pointer/length pair describes a live local value.
    unsafe {
        ret(libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&tv as *const libc::timeval).cast(),
            len(std::mem::size_of::<libc::timeval>()),
        ))?;
        // Several sources may use the same local port toward the same server.
        ret(libc::setsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            len(std::mem::size_of::<libc::c_int>()),
        ))?;
        ret(libc::bind(
            fd,
            (&from as *const libc::sockaddr_in).cast(),
            len(std::mem::size_of::<libc::sockaddr_in>()),
        ))?;
        ret(libc::connect(
            fd,
            (&to as *const libc::sockaddr_in).cast(),
            len(std::mem::size_of::<libc::sockaddr_in>()),
        ))?;
    }
    Ok(s)
}

/// The name the bench's certificate is made for, and the one the client asks for.
pub const TLS_NAME: &str = "localhost";

/// The client configuration trusting the run's certificate, once it is made.
static TLS_BASE: OnceLock<Arc<ClientConfig>> = OnceLock::new();

/// Trust `cert` (the run's self-signed certificate) for every TLS session from now on.
pub fn trust_certificate(cert: &Path) -> io::Result<Arc<ClientConfig>> {
    let der = CertificateDer::from_pem_file(cert).map_err(|e| err(format!("{cert:?}: {e}")))?;
    let mut roots = RootCertStore::empty();
    roots.add(der).map_err(|e| err(format!("{cert:?}: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::clone(TLS_BASE.get_or_init(|| Arc::new(config))))
}

/// A configuration with a session store of its own: a control connection's data connections
/// resume its session (as curl and lftp do), never another connection's, and a new control
/// connection always makes a full handshake (as a new client process would).
fn session_config() -> io::Result<Arc<ClientConfig>> {
    let base = TLS_BASE
        .get()
        .ok_or_else(|| err("TLS requested but no certificate was made"))?;
    let mut c = ClientConfig::clone(base);
    c.resumption = Resumption::in_memory_sessions(8);
    Ok(Arc::new(c))
}

/// How much TLS input one read(2) may take: rustls itself asks for at most one record
/// (about 16 KiB) per read, so the client would make 16 times the syscalls of a clear-text
/// RETR and spend on them the CPU the server needs on the same 2 cores.
const TLS_READ_BUF: usize = 256 * 1024;
/// The same for a control connection, which carries only replies: ten thousand idle
/// sessions must not cost the client gigabytes.
const TLS_CONTROL_READ_BUF: usize = 8 * 1024;

/// A socket read through a large buffer (every byte on it is TLS once the handshake starts,
/// so reading ahead takes nothing that belongs to anyone else); writes go straight through.
pub struct BufferedSocket {
    sock: TcpStream,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
}

impl Read for BufferedSocket {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.len {
            self.len = self.sock.read(&mut self.buf)?;
            self.pos = 0;
        }
        let n = out.len().min(self.len - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for BufferedSocket {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.sock.write(b)
    }

    fn write_vectored(&mut self, b: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.sock.write_vectored(b)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A client-side TLS stream over TCP.
type TlsStream = StreamOwned<ClientConnection, BufferedSocket>;

/// Run the client side of a handshake on `tcp` to its end; `read_buf`: see `BufferedSocket`.
fn handshake(config: &Arc<ClientConfig>, tcp: TcpStream, read_buf: usize) -> io::Result<TlsStream> {
    let name = ServerName::try_from(TLS_NAME).map_err(|e| err(e.to_string()))?;
    let mut conn =
        ClientConnection::new(Arc::clone(config), name).map_err(|e| err(e.to_string()))?;
    // Up to 1 MiB of records per write(2) for uploads (rustls' default is 64 KiB).
    conn.set_buffer_limit(Some(BUF_SIZE));
    let mut sock = BufferedSocket {
        sock: tcp,
        buf: vec![0u8; read_buf].into_boxed_slice(),
        pos: 0,
        len: 0,
    };
    // Each round trip moves at least one record or fails (sockets have timeouts): bounded.
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    Ok(StreamOwned::new(conn, sock))
}

/// A control or data connection: clear text, or TLS over it.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Stream {
    /// End our side: a TLS close_notify first (servers treat an upload without one as
    /// truncated), then a TCP half-close.
    fn finish(&mut self) -> io::Result<()> {
        if let Stream::Tls(s) = self {
            s.conn.send_close_notify();
            // Each call writes at least one record or fails: bounded.
            while s.conn.wants_write() {
                s.conn.write_tls(&mut s.sock)?;
            }
        }
        self.tcp().shutdown(Shutdown::Write)
    }

    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock.sock,
        }
    }

    /// "TLSv1_3 TLS13_AES_256_GCM_SHA384" and whether the handshake resumed a session.
    fn tls_summary(&self) -> Option<(String, bool)> {
        let Stream::Tls(s) = self else { return None };
        let version = s.conn.protocol_version()?;
        let suite = s.conn.negotiated_cipher_suite()?.suite();
        let resumed = s.conn.handshake_kind() == Some(HandshakeKind::Resumed);
        Some((format!("{version:?} {suite:?}"), resumed))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            // A peer that closes without close_notify ends the stream all the same; byte
            // counts tell a short transfer apart.
            Stream::Tls(s) => match s.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                r => r,
            },
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Who to log in as on a server (most serve anonymous; pure-ftpd a virtual user), and
/// whether to do it over explicit FTPS with protected data connections.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    pub user: &'static str,
    pub pass: &'static str,
    pub tls: bool,
}

impl Target {
    pub fn anonymous(addr: SocketAddr) -> Target {
        Target {
            addr,
            user: "anonymous",
            pass: "bench@example.invalid",
            tls: false,
        }
    }

    /// The same login over FTPS.
    pub fn over_tls(self) -> Target {
        Target { tls: true, ..self }
    }
}

/// What the data connections of one session negotiated over TLS.
#[derive(Clone, Debug, Default)]
pub struct TlsStats {
    /// Protocol and cipher suite of the last data connection.
    pub suite: Option<String>,
    pub handshakes: u64,
    pub resumed: u64,
}

/// Outcome of a listing command.
pub enum Listing {
    /// The server does not implement the command (500/502).
    Unsupported,
    /// Lines received.
    Data { lines: u64 },
}

/// A logged-in or not-yet-logged-in FTP control connection.
pub struct Ftp {
    ctrl: BufReader<Stream>,
    target: Target,
    /// This session's TLS configuration (and session store) once AUTH TLS succeeded.
    tls: Option<Arc<ClientConfig>>,
    pub tls_stats: TlsStats,
    /// Our control connection's address: data connections come from the same one,
    /// as servers check.
    local: Option<Ipv4Addr>,
    line: String,
}

impl Ftp {
    /// Connect and read the 220 greeting.
    pub fn connect(t: &Target) -> io::Result<Ftp> {
        Ftp::connect_from(t, None)
    }

    /// Connect from a chosen loopback source address and read the 220 greeting.
    pub fn connect_from(t: &Target, src: Option<Ipv4Addr>) -> io::Result<Ftp> {
        let s = connect_from(&t.addr, src)?;
        s.set_nodelay(true)?;
        let local = match s.local_addr()?.ip() {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        };
        let mut f = Ftp {
            ctrl: BufReader::with_capacity(8 * 1024, Stream::Plain(s)),
            target: *t,
            tls: None,
            tls_stats: TlsStats::default(),
            local,
            line: String::new(),
        };
        let r = f.reply()?;
        if r.code != 220 {
            return Err(err(format!("greeting: {} {}", r.code, r.text)));
        }
        if t.tls {
            f.auth_tls()?;
        }
        Ok(f)
    }

    /// AUTH TLS and the handshake on the control connection.
    fn auth_tls(&mut self) -> io::Result<()> {
        self.expect("AUTH TLS", 234)?;
        if !self.ctrl.buffer().is_empty() {
            return Err(err("bytes after 234 in clear text"));
        }
        let config = session_config()?;
        let tcp = match self.ctrl.get_ref() {
            Stream::Plain(s) => s.try_clone()?,
            Stream::Tls(_) => return Err(err("AUTH TLS twice")),
        };
        let tls = handshake(&config, tcp, TLS_CONTROL_READ_BUF)?;
        self.ctrl = BufReader::with_capacity(8 * 1024, Stream::Tls(Box::new(tls)));
        self.tls = Some(config);
        Ok(())
    }

    /// Connect, log in anonymously and switch to binary mode.
    pub fn session(t: &Target) -> io::Result<Ftp> {
        Ftp::session_from(t, None)
    }

    /// As `session`, from a chosen loopback source address.
    pub fn session_from(t: &Target, src: Option<Ipv4Addr>) -> io::Result<Ftp> {
        let mut f = Ftp::connect_from(t, src)?;
        f.login()?;
        f.expect("TYPE I", 200)?;
        if t.tls {
            f.expect("PBSZ 0", 200)?;
            f.expect("PROT P", 200)?;
        }
        Ok(f)
    }

    /// USER / PASS as the target says (anonymous for most servers).
    pub fn login(&mut self) -> io::Result<()> {
        let r = self.cmd(&format!("USER {}", self.target.user))?;
        match r.code {
            230 => return Ok(()),
            331 => {}
            _ => return Err(err(format!("USER: {} {}", r.code, r.text))),
        }
        self.expect(&format!("PASS {}", self.target.pass), 230)
            .map(|_| ())
    }

    /// QUIT and wait for 221; errors are returned but harmless to ignore.
    pub fn quit(mut self) -> io::Result<()> {
        self.expect("QUIT", 221).map(|_| ())
    }

    /// Send a command line without reading the reply.
    pub fn send(&mut self, line: &str) -> io::Result<()> {
        let s = self.ctrl.get_mut();
        let mut buf = Vec::with_capacity(line.len() + 2);
        buf.extend_from_slice(line.as_bytes());
        buf.extend_from_slice(b"\r\n");
        s.write_all(&buf)
    }

    /// Read one (possibly multi-line) reply.
    pub fn reply(&mut self) -> io::Result<Reply> {
        let mut code: Option<u16> = None;
        for _ in 0..MAX_REPLY_LINES {
            self.line.clear();
            let n = (&mut self.ctrl)
                .take(MAX_LINE as u64)
                .read_line(&mut self.line)?;
            if n == 0 {
                return Err(err("control connection closed by server"));
            }
            let l = self.line.trim_end_matches(['\r', '\n']);
            let b = l.as_bytes();
            let parsed = if b.len() >= 3 && b[..3].iter().all(u8::is_ascii_digit) {
                l[..3].parse::<u16>().ok()
            } else {
                None
            };
            match (code, parsed) {
                (None, None) => return Err(err(format!("malformed reply line: {l:?}"))),
                (None, Some(c)) => {
                    if b.get(3) != Some(&b'-') {
                        return Ok(Reply {
                            code: c,
                            text: l.get(4..).unwrap_or("").to_string(),
                        });
                    }
                    code = Some(c);
                }
                (Some(c), Some(p)) if p == c && b.get(3) == Some(&b' ') => {
                    return Ok(Reply {
                        code: c,
                        text: l.get(4..).unwrap_or("").to_string(),
                    });
                }
                _ => {}
            }
        }
        Err(err("reply has too many lines"))
    }

    /// Send a command and read its reply.
    pub fn cmd(&mut self, line: &str) -> io::Result<Reply> {
        self.send(line)?;
        self.reply()
    }

    /// Send a command and require a given reply code.
    pub fn expect(&mut self, line: &str, code: u16) -> io::Result<Reply> {
        let r = self.cmd(line)?;
        if r.code == code {
            Ok(r)
        } else {
            let verb = line.split(' ').next().unwrap_or(line);
            Err(err(format!("{verb}: {} {}", r.code, r.text)))
        }
    }

    /// Ask for a passive data connection (EPSV, falling back to PASV) and connect to it.
    pub fn open_data(&mut self) -> io::Result<TcpStream> {
        let r = self.cmd("EPSV")?;
        let port = if r.code == 229 {
            parse_epsv(&r.text)?
        } else if r.code == 500 || r.code == 502 || r.code == 501 {
            let r = self.expect("PASV", 227)?;
            parse_pasv(&r.text)?
        } else {
            return Err(err(format!("EPSV: {} {}", r.code, r.text)));
        };
        connect_from(&SocketAddr::new(self.target.addr.ip(), port), self.local)
    }

    /// After the 1xx reply: the data connection as the session protects it (RFC 4217: the
    /// server starts TLS on it once the command is accepted, so the handshake comes now).
    fn protect(&mut self, tcp: TcpStream) -> io::Result<Stream> {
        let Some(config) = &self.tls else {
            return Ok(Stream::Plain(tcp));
        };
        let s = Stream::Tls(Box::new(handshake(config, tcp, TLS_READ_BUF)?));
        if let Some((suite, resumed)) = s.tls_summary() {
            self.tls_stats.handshakes += 1;
            self.tls_stats.resumed += u64::from(resumed);
            self.tls_stats.suite = Some(suite);
        }
        Ok(s)
    }

    /// Read the preliminary (1xx) reply of a transfer command.
    fn start_transfer(&mut self, line: &str) -> io::Result<Result<(), Reply>> {
        let r = self.cmd(line)?;
        if r.is(1) {
            Ok(Ok(()))
        } else {
            Ok(Err(r))
        }
    }

    /// Read the final (226/250) reply of a transfer.
    fn finish_transfer(&mut self, verb: &str) -> io::Result<()> {
        let r = self.reply()?;
        if r.code == 226 || r.code == 250 {
            Ok(())
        } else {
            Err(err(format!("{verb} end: {} {}", r.code, r.text)))
        }
    }

    /// RETR a file, discarding its bytes; returns how many arrived.
    /// `max` bounds the transfer (an error past it), so a runaway server cannot loop us.
    pub fn retr(&mut self, path: &str, buf: &mut [u8], max: u64) -> io::Result<u64> {
        let tcp = self.open_data()?;
        if let Err(r) = self.start_transfer(&format!("RETR {path}"))? {
            return Err(err(format!("RETR: {} {}", r.code, r.text)));
        }
        let mut data = self.protect(tcp)?;
        let n = drain(&mut data, buf, max, None)?;
        if self.tls.is_some() {
            // Answer the server's close_notify, as real clients do; a server that already
            // went away makes this fail harmlessly.
            let _ = data.finish();
        }
        drop(data);
        self.finish_transfer("RETR")?;
        Ok(n)
    }

    /// STOR `total` bytes taken cyclically from `src`, then wait for the final reply.
    pub fn stor(&mut self, path: &str, src: &[u8], total: u64) -> io::Result<()> {
        if src.is_empty() {
            return Err(err("empty source buffer"));
        }
        let tcp = self.open_data()?;
        if let Err(r) = self.start_transfer(&format!("STOR {path}"))? {
            return Err(err(format!("STOR: {} {}", r.code, r.text)));
        }
        let mut data = self.protect(tcp)?;
        let mut left = total;
        while left > 0 {
            let n = left.min(src.len() as u64) as usize;
            data.write_all(&src[..n])?;
            left -= n as u64;
        }
        data.finish()?;
        if self.tls.is_some() {
            // Take the server's close_notify (or its close) before the socket goes: closing
            // with it unread would reset the connection under the server's last write.
            let mut sink = [0u8; 256];
            let _ = drain(&mut data, &mut sink, 1 << 20, None);
        }
        drop(data);
        self.finish_transfer("STOR")
    }

    /// Run a listing command (LIST, NLST, MLSD) and count what comes back.
    pub fn listing(&mut self, line: &str, buf: &mut [u8], max: u64) -> io::Result<Listing> {
        let tcp = self.open_data()?;
        match self.start_transfer(line)? {
            Ok(()) => {}
            Err(r) if r.code == 500 || r.code == 502 => return Ok(Listing::Unsupported),
            Err(r) => return Err(err(format!("{line}: {} {}", r.code, r.text))),
        }
        let mut data = self.protect(tcp)?;
        let mut lines = 0u64;
        drain(&mut data, buf, max, Some(&mut lines))?;
        drop(data);
        self.finish_transfer(line)?;
        Ok(Listing::Data { lines })
    }
}

/// Read a stream to EOF into `buf`, counting bytes (and optionally newlines), at most `max`.
pub fn drain(
    s: &mut impl Read,
    buf: &mut [u8],
    max: u64,
    mut lines: Option<&mut u64>,
) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let n = match s.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        if let Some(l) = lines.as_deref_mut() {
            *l += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        }
        if total > max {
            return Err(err(format!("more than {max} bytes received")));
        }
    }
}

/// Port from `229 Entering Extended Passive Mode (|||port|)`.
fn parse_epsv(text: &str) -> io::Result<u16> {
    let bad = || err(format!("bad EPSV reply: {text:?}"));
    let open = text.find('(').ok_or_else(bad)?;
    let inner = &text[open + 1..];
    let close = inner.find(')').ok_or_else(bad)?;
    let inner = &inner[..close];
    let d = inner.chars().next().ok_or_else(bad)?;
    let parts: Vec<&str> = inner.split(d).collect();
    // "|||port|" splits into ["", "", "", "port", ""].
    if parts.len() != 5 {
        return Err(bad());
    }
    parts[3].parse().map_err(|_| bad())
}

/// Port from `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)`; the host is ignored
/// (the control connection's peer is used, which is always loopback here).
fn parse_pasv(text: &str) -> io::Result<u16> {
    let bad = || err(format!("bad PASV reply: {text:?}"));
    let start = text.find(|c: char| c.is_ascii_digit()).ok_or_else(bad)?;
    let nums: Vec<u16> = text[start..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(6)
        .map(|s| s.parse::<u16>().map_err(|_| bad()))
        .collect::<io::Result<_>>()?;
    if nums.len() != 6 || nums[4] > 255 || nums[5] > 255 {
        return Err(bad());
    }
    Ok(nums[4] * 256 + nums[5])
}
