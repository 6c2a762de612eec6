//! FTPS (RFC 4217), compiled only with the `tls` feature: every use of rustls is here. The
//! certificate and key (loaded, checked and re-read on SIGHUP), the server side of a handshake
//! under one deadline, the encrypted read and write that [`crate::net::stream::Stream`]
//! dispatches to, and the check that a data connection resumed the TLS session of its own
//! control connection (`--tls-reuse-required`).
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
use rustls::server::{ServerSessionMemoryCache, StoresServerSessions};
use rustls::{HandshakeKind, ServerConfig, ServerConnection};

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
        let mut layer =
            Layer::accept(Arc::new(config), tcp, deadline).map_err(DataTlsError::Handshake)?;
        layer.conn.set_buffer_limit(Some(DATA_CHUNK));
        layer.inbox = Some(Inbox::default());
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
    conn: ServerConnection,
    /// See [`Layer::read`].
    bounded: bool,
    /// Data connections only: ciphertext read off the socket in large pieces.
    inbox: Option<Inbox>,
}

/// Ciphertext taken off a data connection's socket that rustls has not read yet. rustls' own
/// `read_tls` reads at most 4 KiB per call; fed from here, it costs a copy instead of a
/// system call. The buffer is allocated at the first read (downloads never need it) and lives
/// as long as the data connection, that is one transfer.
#[derive(Default)]
struct Inbox {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Inbox {
    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// One read(2) into the empty inbox of up to `want` bytes (at most [`DATA_CHUNK`]); 0 at
    /// the end of the stream. Asking for no more ciphertext than the caller wants plaintext
    /// keeps what waits here small: while it waits, the transfer does not look at the control
    /// connection (a `--max-rate` upload reads a tenth of a second's worth at a time).
    fn fill(&mut self, mut tcp: &TcpStream, want: usize) -> io::Result<usize> {
        if self.buf.is_empty() {
            self.buf = vec![0; DATA_CHUNK];
        }
        let want = want.clamp(1, self.buf.len());
        let n = tcp.read(&mut self.buf[..want])?;
        (self.start, self.end) = (0, n);
        Ok(n)
    }
}

impl Read for Inbox {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = out.len().min(self.end - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

impl Layer {
    /// Runs the server side of a handshake on `tcp`, all of it before `deadline` (a client that
    /// sends a byte now and then cannot stretch it: every read gets only the time left). The
    /// socket's own timeouts are restored afterwards.
    fn accept(config: Arc<ServerConfig>, tcp: &TcpStream, deadline: Instant) -> io::Result<Layer> {
        let mut conn = ServerConnection::new(config).map_err(invalid_data)?;
        let saved = (tcp.read_timeout()?, tcp.write_timeout()?);
        let result = handshake(&mut conn, tcp, deadline);
        tcp.set_read_timeout(saved.0)?;
        tcp.set_write_timeout(saved.1)?;
        result.map(|()| Layer {
            conn,
            bounded: false,
            inbox: None,
        })
    }

    /// "TLSv1_3 TLS13_AES_256_GCM_SHA384", and whether the session was resumed.
    pub fn description(&self) -> String {
        let version = self
            .conn
            .protocol_version()
            .map_or_else(|| "?".to_string(), |v| format!("{v:?}"));
        let suite = self
            .conn
            .negotiated_cipher_suite()
            .map_or_else(|| "?".to_string(), |s| format!("{:?}", s.suite()));
        let kind = if self.resumed() { "resumed" } else { "full" };
        format!("{version} {suite} ({kind} handshake)")
    }

    fn resumed(&self) -> bool {
        self.conn.handshake_kind() == Some(HandshakeKind::Resumed)
    }

    /// Decrypted bytes into `buf`. `Ok(0)` only after the client's close_notify; a connection
    /// that ends without one is `UnexpectedEof` (for an upload: a truncation, so an abort).
    /// On the control connection ([`Layer::bound_reads`]) the socket's read timeout bounds the
    /// whole call, not each piece of a TLS record, so a client cannot stretch the idle timeout
    /// by sending a record a byte at a time.
    pub fn read(&mut self, tcp: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        if self.inbox.is_some() {
            return self.read_data(tcp, buf);
        }
        let mut original_timeout = None;
        let result = self.read_records(tcp, buf, &mut original_timeout);
        if let Some(original) = original_timeout {
            tcp.set_read_timeout(original)?;
        }
        result
    }

    fn read_records(
        &mut self,
        mut tcp: &TcpStream,
        buf: &mut [u8],
        original_timeout: &mut Option<Option<Duration>>,
    ) -> io::Result<usize> {
        let started = Instant::now();
        let mut socket_reads = 0;
        loop {
            match self.conn.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return other,
            }
            self.flush(tcp)?;
            if self.bounded && socket_reads > 0 {
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
            self.conn.read_tls(&mut tcp)?;
            socket_reads += 1;
            if let Err(e) = self.conn.process_new_packets() {
                let _ = self.flush(tcp);
                return Err(invalid_data(e));
            }
        }
    }

    /// A data connection's read: fills as much of `buf` as the ciphertext in hand decrypts to,
    /// reading the socket (once, into the inbox) only when nothing decrypted is in hand yet.
    /// So an upload takes one read(2) and gives the file one write per chunk.
    fn read_data(&mut self, tcp: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.conn.reader().read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => {
                    filled += n;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The end without close_notify: first what came before it.
                Err(_) if filled > 0 => break,
                Err(e) => return Err(e),
            }
            let Some(inbox) = self.inbox.as_mut() else {
                break;
            };
            if inbox.is_empty() {
                if filled > 0 {
                    break;
                }
                inbox.fill(tcp, buf.len())?;
            }
            // From an empty inbox (the end of the stream) rustls learns that the stream
            // ended; its reader then says whether cleanly.
            self.conn.read_tls(inbox)?;
            if let Err(e) = self.conn.process_new_packets() {
                let _ = self.flush(tcp);
                return Err(invalid_data(e));
            }
            // A TLS 1.3 key update from the client is answered at once.
            self.flush(tcp)?;
        }
        Ok(filled)
    }

    /// Encrypts and sends `buf` (or the part of it that fits rustls' buffer).
    pub fn write(&mut self, tcp: &TcpStream, buf: &[u8]) -> io::Result<usize> {
        let n = self.conn.writer().write(buf)?;
        self.flush(tcp)?;
        Ok(n)
    }

    /// Sends every TLS record waiting.
    pub fn flush(&mut self, mut tcp: &TcpStream) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut tcp)?;
        }
        Ok(())
    }

    /// True when decrypted bytes (or the client's close_notify) wait here: the socket may then
    /// have nothing to poll for although a read would return at once.
    pub fn has_buffered_input(&self) -> bool {
        !self.conn.wants_read() || self.inbox.as_ref().is_some_and(|inbox| !inbox.is_empty())
    }

    /// Sends close_notify, so the client can tell the end of the data from a truncation.
    pub fn close(&mut self, tcp: &TcpStream) -> io::Result<()> {
        self.conn.send_close_notify();
        self.flush(tcp)
    }
}

fn handshake(
    conn: &mut ServerConnection,
    mut tcp: &TcpStream,
    deadline: Instant,
) -> io::Result<()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake took too long",
            ));
        }
        tcp.set_write_timeout(Some(left))?;
        while conn.wants_write() {
            conn.write_tls(&mut tcp)?;
        }
        // TLS 1.3 tickets go out right after the handshake, in the loop above.
        if !conn.is_handshaking() {
            return Ok(());
        }
        tcp.set_read_timeout(Some(left))?;
        if conn.read_tls(&mut tcp)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed during the TLS handshake",
            ));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn socket_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        (client, server)
    }

    /// The inbox takes no more off the socket than asked (what waits in it is not seen by the
    /// transfer's watch of the control connection), never more than its one buffer, and hands
    /// out exactly what it read.
    #[test]
    fn inbox_reads_at_most_what_is_wanted_into_one_buffer() {
        let (mut client, server) = socket_pair();
        let sent: Vec<u8> = (0..3 * DATA_CHUNK).map(|i| (i % 251) as u8).collect();
        let writer = std::thread::spawn(move || client.write_all(&sent).map(|()| sent));
        let mut inbox = Inbox::default();
        let mut got = Vec::new();
        let n = inbox.fill(&server, 1000).unwrap();
        assert!((1..=1000).contains(&n), "{n}");
        let buffer = inbox.buf.as_ptr();
        let mut piece = [0u8; 300];
        while !inbox.is_empty() {
            let k = inbox.read(&mut piece).unwrap();
            got.extend_from_slice(&piece[..k]);
        }
        assert_eq!(got.len(), n);
        while got.len() < 3 * DATA_CHUNK {
            let n = inbox.fill(&server, usize::MAX).unwrap();
            assert!((1..=DATA_CHUNK).contains(&n), "{n}");
            assert_eq!(inbox.buf.as_ptr(), buffer, "the buffer is reused");
            let mut rest = vec![0u8; n];
            assert_eq!(inbox.read(&mut rest).unwrap(), n);
            assert!(inbox.is_empty());
            got.extend_from_slice(&rest);
        }
        assert!(got == writer.join().unwrap().unwrap());
    }
}
