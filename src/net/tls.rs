//! FTPS (RFC 4217), compiled only with the `tls` feature: every use of rustls is here. The
//! certificate and key (loaded, checked and re-read on SIGHUP), the server side of a handshake
//! under one deadline, the encrypted read and write that [`crate::net::stream::Stream`]
//! dispatches to, and the check that a data connection resumed the TLS session of its own
//! control connection (`--tls-reuse-required`). The control connection and the data
//! connections the server writes (downloads, listings) use rustls' buffered connection, whose
//! records go out by writev(2) straight from rustls' buffers; uploads use its unbuffered one,
//! which decrypts in the buffer the socket was read into ([`Receiver`]).
//!
//! rustls with the ring provider, TLS 1.2 and 1.3 only, its default cipher suites, no client
//! certificates, no 0-RTT. Nothing here logs key material: `-v` gets the protocol version, the
//! cipher suite and whether the session was resumed.
//!
//! How a data connection is tied to its control connection: each control connection gets its own
//! session cache (and no stateless tickets, which any control connection's key would decrypt).
//! Its data connections look sessions up in that cache only, so a resumed data connection
//! presented a session that this control connection (or one of its own resumed data
//! connections) made. Sessions a data connection creates are kept aside and join the cache only
//! once that connection turned out to be a resumption: a full handshake by someone who stole the
//! passive port is refused and leaves nothing behind that a later theft could resume.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ServerSessionMemoryCache, StoresServerSessions, UnbufferedServerConnection};
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError};
use rustls::{CommonState, HandshakeKind, ServerConfig, ServerConnection};

/// Plaintext one write to a data connection may hand rustls at once, and ciphertext one read
/// takes off the socket: the transfer's chunk (256 KiB, `net::transfer`), so a chunk goes out
/// as 16 full 16 KiB records in one writev(2), and an upload is read in that size rather than
/// the 4 KiB rustls asks for (measurements: README, "The measurements behind constants").
const DATA_CHUNK: usize = 256 * 1024;

/// Sessions one control connection remembers for its data connections: its own (TLS 1.3 sends
/// two tickets per handshake) and those of the data connections that resumed it. Oldest go
/// first; clients resume with the newest.
const SESSIONS_PER_CONTROL: usize = 8;

/// `--tls-cert` and `--tls-key` as the running server keeps them: opened at start-up (while
/// still root, so a key only root may read keeps working after `--run-as`), and re-read on
/// SIGHUP. A reload tries the paths first unless chrooted (a renewed certificate is usually a
/// new file: certbot re-points `live/` symlinks), and falls back to the descriptors held.
#[derive(Debug)]
pub struct CertFiles {
    cert: HeldFile,
    key: HeldFile,
}

#[derive(Debug)]
struct HeldFile {
    path: PathBuf,
    held: File,
    follow_path: bool,
}

impl HeldFile {
    fn open(path: &Path, follow_path: bool) -> Result<HeldFile, String> {
        let held = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok(HeldFile {
            path: path.to_path_buf(),
            held,
            follow_path,
        })
    }

    /// The file's text: through the path when it may be followed and opens, else through the
    /// descriptor held (as `--users` does).
    fn read(&mut self) -> Result<String, String> {
        if self.follow_path {
            if let Ok(file) = File::open(&self.path) {
                self.held = file;
            }
        }
        crate::auth::users_file::read_from_start(&self.held)
            .map_err(|e| format!("cannot read {}: {e}", self.path.display()))
    }
}

impl CertFiles {
    /// Opens both files; `follow_path` says whether reloads may try the paths again.
    pub fn open(cert: &Path, key: &Path, follow_path: bool) -> Result<CertFiles, String> {
        Ok(CertFiles {
            cert: HeldFile::open(cert, follow_path)?,
            key: HeldFile::open(key, follow_path)?,
        })
    }

    /// Reads, parses and checks both files: the chain must hold at least one certificate, the
    /// key file one private key (PKCS#8, PKCS#1 RSA or SEC1 EC), and the key must be the
    /// certificate's. Errors name the files.
    pub fn load(&mut self) -> Result<Arc<ServerConfig>, String> {
        let cert_text = self.cert.read()?;
        let key_text = self.key.read()?;
        let cert_name = self.cert.path.display();
        let key_name = self.key.path.display();
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_text.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| format!("--tls-cert {cert_name}: {e}"))?;
        if chain.is_empty() {
            return Err(format!(
                "--tls-cert {cert_name}: no PEM certificate (BEGIN CERTIFICATE) in it"
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key_text.as_bytes())
            .map_err(|e| format!("--tls-key {key_name}: no usable PEM private key: {e}"))?;
        let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("TLS set-up: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| {
                format!("--tls-cert {cert_name} and --tls-key {key_name} do not go together: {e}")
            })?;
        Ok(Arc::new(config))
    }
}

/// The server-wide TLS state: the configuration new sessions start from, replaced whole on a
/// reload (sessions already running keep theirs).
pub struct ServerTls {
    config: RwLock<Arc<ServerConfig>>,
    files: Mutex<CertFiles>,
}

impl ServerTls {
    pub fn new(mut files: CertFiles) -> Result<ServerTls, String> {
        let config = files.load()?;
        Ok(ServerTls {
            config: RwLock::new(config),
            files: Mutex::new(files),
        })
    }

    /// SIGHUP: re-reads the certificate and key. On an error the old pair stays in use.
    pub fn reload(&self) -> Result<(), String> {
        let config = self
            .files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .load()?;
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = config;
        Ok(())
    }

    /// The TLS state of one new control connection, with a session cache of its own.
    pub fn for_control(&self) -> ControlTls {
        let base = Arc::clone(&self.config.read().unwrap_or_else(|e| e.into_inner()));
        let sessions = ServerSessionMemoryCache::new(SESSIONS_PER_CONTROL);
        let mut config = (*base).clone();
        config.session_storage = Arc::clone(&sessions) as Arc<dyn StoresServerSessions>;
        ControlTls {
            config: Arc::new(config),
            sessions,
        }
    }
}

/// One control connection's TLS configuration and session cache (see the module's comment).
pub struct ControlTls {
    config: Arc<ServerConfig>,
    sessions: Arc<ServerSessionMemoryCache>,
}

/// Why a protected data connection was not accepted.
#[derive(Debug)]
pub enum DataTlsError {
    /// The handshake failed, timed out or the client left (425).
    Handshake(io::Error),
    /// `--tls-reuse-required` and the client did not resume this control connection's session
    /// (522, as vsftpd answers).
    NotResumed,
}

impl ControlTls {
    /// The server side of the control connection's handshake.
    pub fn accept_control(&self, tcp: &TcpStream, deadline: Instant) -> io::Result<Layer> {
        let mut layer = Layer::accept(Arc::clone(&self.config), tcp, deadline)?;
        layer.bounded = true;
        log::debug!("{} control TLS: {}", peer_text(tcp), layer.description());
        Ok(layer)
    }

    /// The server side of a data connection's handshake; with `reuse_required`, refused unless
    /// the client resumed a session of this control connection. `client_reads`: the client
    /// reads this connection to its end (a download or listing), so it may be sent tickets.
    pub fn accept_data(
        &self,
        tcp: &TcpStream,
        deadline: Instant,
        reuse_required: bool,
        client_reads: bool,
    ) -> Result<Layer, DataTlsError> {
        let staged = Arc::new(StagedSessions {
            sessions: Arc::clone(&self.sessions),
            staged: Mutex::new(Vec::new()),
        });
        let mut config = (*self.config).clone();
        config.session_storage = Arc::clone(&staged) as Arc<dyn StoresServerSessions>;
        // TLS 1.3 tickets only where the client reads them. Clients such as curl and lftp
        // resume every data connection with the control connection's ticket (it stays valid,
        // see `StagedSessions::take`), but a rustls client uses each ticket once: without new
        // ones from its downloads and listings it could resume only two data connections. A
        // client that only writes (an upload) never reads them: closing with them unread
        // makes its kernel send RST, which can throw away the end of the upload in flight.
        if !client_reads {
            config.send_tls13_tickets = 0;
        }
        let layer = if client_reads {
            Layer::accept(Arc::new(config), tcp, deadline).map(|mut layer| {
                if let Io::Buffered(conn) = &mut layer.io {
                    conn.set_buffer_limit(Some(DATA_CHUNK));
                }
                layer
            })
        } else {
            Receiver::accept(Arc::new(config), tcp, deadline).map(|receiver| Layer {
                io: Io::Receiving(Box::new(receiver)),
                bounded: false,
            })
        }
        .map_err(DataTlsError::Handshake)?;
        log::debug!("{} data TLS: {}", peer_text(tcp), layer.description());
        let resumed = layer.resumed();
        if reuse_required && !resumed {
            return Err(DataTlsError::NotResumed);
        }
        staged.commit();
        Ok(layer)
    }
}

fn peer_text(tcp: &TcpStream) -> String {
    tcp.peer_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string())
}

/// The session store a data connection's handshake sees: look-ups go to its control
/// connection's cache, new sessions wait in `staged` until [`StagedSessions::commit`].
#[derive(Debug)]
struct StagedSessions {
    sessions: Arc<ServerSessionMemoryCache>,
    staged: Mutex<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl StagedSessions {
    fn commit(&self) {
        let staged = std::mem::take(&mut *self.staged.lock().unwrap_or_else(|e| e.into_inner()));
        for (key, value) in staged {
            self.sessions.put(key, value);
        }
    }
}

impl StoresServerSessions for StagedSessions {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let mut staged = self.staged.lock().unwrap_or_else(|e| e.into_inner());
        if staged.len() >= SESSIONS_PER_CONTROL {
            return false;
        }
        staged.push((key, value));
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.sessions.get(key)
    }

    /// TLS 1.3 asks for single-use tickets (against 0-RTT replay, which is off here). Clients
    /// such as lftp resume every data connection with the control connection's ticket, so a
    /// ticket stays usable for all of them.
    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.sessions.get(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// TLS over one TCP connection, after its handshake: what a [`crate::net::stream::Stream`]
/// holds when protected.
pub struct Layer {
    io: Io,
    /// See [`Layer::read`].
    bounded: bool,
}

// The stream boxes its layer already: boxing the large variant too would only add an
// allocation per connection.
#[allow(clippy::large_enum_variant)]
enum Io {
    /// Control connections, and data connections the server writes (downloads, listings).
    Buffered(ServerConnection),
    /// Data connections the client writes (uploads).
    Receiving(Box<Receiver>),
}

impl Layer {
    /// Runs the server side of a handshake on `tcp`, all of it before `deadline` (a client that
    /// sends a byte now and then cannot stretch it: every read gets only the time left). The
    /// socket's own timeouts are restored afterwards.
    fn accept(config: Arc<ServerConfig>, tcp: &TcpStream, deadline: Instant) -> io::Result<Layer> {
        let mut conn = ServerConnection::new(config).map_err(invalid_data)?;
        with_deadline(tcp, || handshake(&mut conn, tcp, deadline))?;
        Ok(Layer {
            io: Io::Buffered(conn),
            bounded: false,
        })
    }

    fn state(&self) -> &CommonState {
        match &self.io {
            Io::Buffered(conn) => conn,
            Io::Receiving(receiver) => &receiver.conn,
        }
    }

    /// "TLSv1_3 TLS13_AES_256_GCM_SHA384", and whether the session was resumed.
    pub fn description(&self) -> String {
        let state = self.state();
        let version = state
            .protocol_version()
            .map_or_else(|| "?".to_string(), |v| format!("{v:?}"));
        let suite = state
            .negotiated_cipher_suite()
            .map_or_else(|| "?".to_string(), |s| format!("{:?}", s.suite()));
        let kind = if self.resumed() { "resumed" } else { "full" };
        format!("{version} {suite} ({kind} handshake)")
    }

    fn resumed(&self) -> bool {
        self.state().handshake_kind() == Some(HandshakeKind::Resumed)
    }

    /// Decrypted bytes into `buf`. `Ok(0)` only after the client's close_notify; a connection
    /// that ends without one is `UnexpectedEof` (for an upload: a truncation, so an abort).
    /// On the control connection ([`Layer::bound_reads`]) the socket's read timeout bounds the
    /// whole call, not each piece of a TLS record, so a client cannot stretch the idle timeout
    /// by sending a record a byte at a time.
    pub fn read(&mut self, tcp: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        let conn = match &mut self.io {
            Io::Buffered(conn) => conn,
            Io::Receiving(receiver) => return receiver.read(tcp, buf),
        };
        let mut original_timeout = None;
        let result = read_records(conn, self.bounded, tcp, buf, &mut original_timeout);
        if let Some(original) = original_timeout {
            tcp.set_read_timeout(original)?;
        }
        result
    }

    /// Encrypts and sends `buf` (or the part of it that fits rustls' buffer).
    pub fn write(&mut self, tcp: &TcpStream, buf: &[u8]) -> io::Result<usize> {
        let Io::Buffered(conn) = &mut self.io else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "TLS: an upload's data connection is not written to",
            ));
        };
        let n = conn.writer().write(buf)?;
        flush(conn, tcp)?;
        Ok(n)
    }

    /// Sends every TLS record waiting.
    pub fn flush(&mut self, tcp: &TcpStream) -> io::Result<()> {
        match &mut self.io {
            Io::Buffered(conn) => flush(conn, tcp),
            Io::Receiving(_) => Ok(()),
        }
    }

    /// True when decrypted bytes (or the client's close_notify) wait here: the socket may then
    /// have nothing to poll for although a read would return at once.
    pub fn has_buffered_input(&self) -> bool {
        match &self.io {
            Io::Buffered(conn) => !conn.wants_read(),
            Io::Receiving(receiver) => receiver.has_buffered_input(),
        }
    }

    /// Sends close_notify, so the client can tell the end of the data from a truncation.
    pub fn close(&mut self, tcp: &TcpStream) -> io::Result<()> {
        match &mut self.io {
            Io::Buffered(conn) => {
                conn.send_close_notify();
                flush(conn, tcp)
            }
            Io::Receiving(receiver) => receiver.close(tcp),
        }
    }
}

fn read_records(
    conn: &mut ServerConnection,
    bounded: bool,
    mut tcp: &TcpStream,
    buf: &mut [u8],
    original_timeout: &mut Option<Option<Duration>>,
) -> io::Result<usize> {
    let started = Instant::now();
    let mut socket_reads = 0;
    loop {
        match conn.reader().read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            other => return other,
        }
        flush(conn, tcp)?;
        if bounded && socket_reads > 0 {
            let original = match *original_timeout {
                Some(original) => original,
                None => *original_timeout.insert(tcp.read_timeout()?),
            };
            if let Some(timeout) = original {
                let left = timeout.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                tcp.set_read_timeout(Some(left))?;
            }
        }
        conn.read_tls(&mut tcp)?;
        socket_reads += 1;
        if let Err(e) = conn.process_new_packets() {
            let _ = flush(conn, tcp);
            return Err(invalid_data(e));
        }
    }
}

fn flush(conn: &mut ServerConnection, mut tcp: &TcpStream) -> io::Result<()> {
    while conn.wants_write() {
        conn.write_tls(&mut tcp)?;
    }
    Ok(())
}

/// Runs `f` (a handshake, which sets the socket's timeouts to its deadline) and restores the
/// socket's own timeouts afterwards.
fn with_deadline(tcp: &TcpStream, f: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
    let saved = (tcp.read_timeout()?, tcp.write_timeout()?);
    let result = f();
    tcp.set_read_timeout(saved.0)?;
    tcp.set_write_timeout(saved.1)?;
    result
}

/// The largest TLS record on the wire (16 KiB of plaintext, 2 KiB of expansion, the header).
const MAX_RECORD: usize = 16 * 1024 + 2048 + 5;

/// An upload's data connection, on rustls' unbuffered API: ciphertext is read off the socket
/// into `incoming` in large pieces (up to what the caller wants, at most [`DATA_CHUNK`]) and
/// decrypted there in place; rustls hands each record's plaintext out in a `Vec` of its own,
/// copied into the caller's buffer, which the file is written from. rustls' buffered API would read the socket 4-16 KiB at a time
/// and hand out one record per read. Buffers live as long as the data connection (one
/// transfer).
struct Receiver {
    conn: UnbufferedServerConnection,
    incoming: Vec<u8>,
    /// `incoming[start..end]` is ciphertext rustls has not consumed; `start` is a record
    /// boundary once the handshake is done.
    start: usize,
    end: usize,
    /// Handshake records and alerts on their way out.
    outgoing: Vec<u8>,
    /// What did not fit the caller's buffer of the record read last.
    leftover: Vec<u8>,
    leftover_at: usize,
    peer_closed: bool,
}

/// What one look at the connection's state brought.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Records were sent or handed out: look again.
    Progress,
    /// Plaintext waits that the caller's buffer had no room for.
    Records,
    /// Nothing more until more ciphertext arrives.
    NeedData,
    /// The client's close_notify (or ours, when closing) has been seen.
    Closed,
}

impl Receiver {
    fn accept(config: Arc<ServerConfig>, tcp: &TcpStream, deadline: Instant) -> io::Result<Self> {
        let mut receiver = Receiver {
            conn: UnbufferedServerConnection::new(config).map_err(invalid_data)?,
            incoming: vec![0; DATA_CHUNK + MAX_RECORD],
            start: 0,
            end: 0,
            outgoing: Vec::new(),
            leftover: Vec::new(),
            leftover_at: 0,
            peer_closed: false,
        };
        with_deadline(tcp, || receiver.handshake(tcp, deadline))?;
        Ok(receiver)
    }

    fn handshake(&mut self, tcp: &TcpStream, deadline: Instant) -> io::Result<()> {
        loop {
            let left = handshake_time_left(tcp, deadline)?;
            let step = self.advance_or_alert(tcp, &mut [], &mut 0, false)?;
            if !self.conn.is_handshaking() && step != Step::Progress {
                return Ok(());
            }
            match step {
                Step::Progress => {}
                Step::Closed => return Err(closed_during_handshake()),
                Step::Records | Step::NeedData => {
                    tcp.set_read_timeout(Some(left))?;
                    if self.receive(tcp, DATA_CHUNK)? == 0 {
                        return Err(closed_during_handshake());
                    }
                }
            }
        }
    }

    /// See [`Layer::read`]; fills as much of `buf` as the ciphertext in hand decrypts to, and
    /// reads the socket (once) only when nothing is in hand yet.
    fn read(&mut self, tcp: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = self.take_leftover(buf);
        while filled < buf.len() {
            match self.advance_or_alert(tcp, buf, &mut filled, false)? {
                Step::Progress | Step::Records => {}
                Step::Closed => self.peer_closed = true,
                Step::NeedData => {}
            }
            if self.peer_closed || (filled > 0 && !self.has_record()) {
                break;
            }
            if !self.has_record() && self.receive(tcp, buf.len())? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "TLS: the client closed the connection without close_notify",
                ));
            }
        }
        Ok(filled)
    }

    fn take_leftover(&mut self, buf: &mut [u8]) -> usize {
        let rest = &self.leftover[self.leftover_at..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.leftover_at += n;
        n
    }

    /// True when `incoming` holds a whole record (it starts at a record boundary).
    fn has_record(&self) -> bool {
        let pending = &self.incoming[self.start..self.end];
        pending.len() >= 5
            && pending.len() >= 5 + usize::from(u16::from_be_bytes([pending[3], pending[4]]))
    }

    /// Plaintext in hand, a whole record, or the client's close_notify seen: a read returns
    /// at once.
    fn has_buffered_input(&self) -> bool {
        self.peer_closed || self.leftover_at < self.leftover.len() || self.has_record()
    }

    /// Moves what is left of `incoming` to its front and reads the socket behind it: up to
    /// `want` bytes, so that little waits here unseen by the transfer's watch of the control
    /// connection (a `--max-rate` upload reads a tenth of a second's worth at a time).
    fn receive(&mut self, mut tcp: &TcpStream, want: usize) -> io::Result<usize> {
        self.incoming.copy_within(self.start..self.end, 0);
        (self.end, self.start) = (self.end - self.start, 0);
        let room = self.incoming.len() - self.end;
        if room == 0 {
            // rustls keeps a handshake message's records until the message is whole, and a
            // client may declare one of 64 KiB and send it a byte per record: refuse what the
            // buffer cannot hold (rustls' buffered API refuses at 64 KiB the same way).
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TLS: a handshake message larger than the receive buffer",
            ));
        }
        let want = want.clamp(1, room.min(DATA_CHUNK));
        let n = tcp.read(&mut self.incoming[self.end..self.end + want])?;
        self.end += n;
        Ok(n)
    }

    /// Sends close_notify (after the client's, at the end of an upload).
    fn close(&mut self, tcp: &TcpStream) -> io::Result<()> {
        for _ in 0..8 {
            if self.advance(tcp, &mut [], &mut 0, true)? == Step::Closed {
                return Ok(());
            }
        }
        Ok(())
    }

    /// [`Receiver::advance`]; on a TLS error, first tells the client why (best effort).
    fn advance_or_alert(
        &mut self,
        tcp: &TcpStream,
        buf: &mut [u8],
        filled: &mut usize,
        closing: bool,
    ) -> io::Result<Step> {
        let result = self.advance(tcp, buf, filled, closing);
        if let Err(e) = &result {
            if e.kind() == io::ErrorKind::InvalidData {
                for _ in 0..2 {
                    if !matches!(
                        self.advance(tcp, &mut [], &mut 0, false),
                        Ok(Step::Progress)
                    ) {
                        break;
                    }
                }
            }
        }
        result
    }

    /// One look at the connection: what rustls wants done next, done. Plaintext goes to
    /// `buf[*filled..]`.
    fn advance(
        &mut self,
        mut tcp: &TcpStream,
        buf: &mut [u8],
        filled: &mut usize,
        closing: bool,
    ) -> io::Result<Step> {
        let status = self
            .conn
            .process_tls_records(&mut self.incoming[self.start..self.end]);
        let discard = status.discard;
        let step = match status.state {
            Err(e) => Err(invalid_data(e)),
            Ok(ConnectionState::ReadTraffic(mut records)) => {
                let mut step = Step::Progress;
                while let Some(record) = (*filled < buf.len())
                    .then(|| records.next_record())
                    .flatten()
                {
                    let payload = record.map_err(invalid_data)?.payload;
                    let n = payload.len().min(buf.len() - *filled);
                    buf[*filled..*filled + n].copy_from_slice(&payload[..n]);
                    *filled += n;
                    if n < payload.len() {
                        self.leftover.clear();
                        self.leftover.extend_from_slice(&payload[n..]);
                        self.leftover_at = 0;
                    }
                }
                if *filled >= buf.len() {
                    step = Step::Records;
                }
                Ok(step)
            }
            Ok(ConnectionState::EncodeTlsData(mut data)) => {
                let at = self.outgoing.len();
                self.outgoing.resize(at + MAX_RECORD, 0);
                loop {
                    match data.encode(&mut self.outgoing[at..]) {
                        Ok(n) => break self.outgoing.truncate(at + n),
                        Err(EncodeError::InsufficientSize(e)) => {
                            self.outgoing.resize(at + e.required_size, 0)
                        }
                        Err(e) => return Err(io::Error::other(format!("TLS: {e}"))),
                    }
                }
                Ok(Step::Progress)
            }
            Ok(ConnectionState::TransmitTlsData(data)) => {
                tcp.write_all(&self.outgoing)?;
                self.outgoing.clear();
                data.done();
                Ok(Step::Progress)
            }
            Ok(ConnectionState::WriteTraffic(mut traffic)) if closing => {
                let mut alert = [0u8; 64];
                let n = traffic
                    .queue_close_notify(&mut alert)
                    .map_err(|e: EncryptError| io::Error::other(format!("TLS: {e}")))?;
                tcp.write_all(&alert[..n])?;
                Ok(Step::Closed)
            }
            Ok(ConnectionState::BlockedHandshake | ConnectionState::WriteTraffic(_)) => {
                Ok(Step::NeedData)
            }
            Ok(ConnectionState::PeerClosed | ConnectionState::Closed) => Ok(Step::Closed),
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TLS: early data, which is off",
            )),
        };
        self.start += discard;
        step
    }
}

/// The time a handshake has left before `deadline`, which bounds the next write too; an error
/// once it is up.
fn handshake_time_left(tcp: &TcpStream, deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake took too long",
        ));
    }
    tcp.set_write_timeout(Some(left))?;
    Ok(left)
}

fn closed_during_handshake() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "closed during the TLS handshake",
    )
}

fn handshake(
    conn: &mut ServerConnection,
    mut tcp: &TcpStream,
    deadline: Instant,
) -> io::Result<()> {
    loop {
        let left = handshake_time_left(tcp, deadline)?;
        while conn.wants_write() {
            conn.write_tls(&mut tcp)?;
        }
        // TLS 1.3 tickets go out right after the handshake, in the loop above.
        if !conn.is_handshaking() {
            return Ok(());
        }
        tcp.set_read_timeout(Some(left))?;
        if conn.read_tls(&mut tcp)? == 0 {
            return Err(closed_during_handshake());
        }
        if let Err(e) = conn.process_new_packets() {
            // The alert rustls queued tells the client why.
            let _ = conn.write_tls(&mut tcp);
            return Err(invalid_data(e));
        }
    }
}

fn invalid_data(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}"))
}
