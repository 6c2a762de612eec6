//! Ceilings measured in the same run: what this machine's loopback, sendfile(2)
//! and socket-to-file paths can do without any FTP server in the way, and what rustls
//! encrypts and decrypts in memory on one core.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

use crate::client::{self, drain, err, BUF_SIZE};
use crate::fixtures::TlsFiles;
use crate::procfs::thread_cpu_seconds;

/// A loopback listener and a connected pair (client, accepted server side).
fn pair() -> io::Result<(TcpStream, TcpStream)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let c = client::connect(&addr)?;
    let (s, _) = l.accept()?;
    s.set_read_timeout(Some(client::IO_TIMEOUT))?;
    s.set_write_timeout(Some(client::IO_TIMEOUT))?;
    Ok((c, s))
}

fn mib_per_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / secs.max(1e-9)
}

/// Write `total` bytes from memory to a socket, 1 MiB at a time.
fn send_mem(mut s: TcpStream, total: u64, pat: &[u8]) -> io::Result<()> {
    let mut left = total;
    while left > 0 {
        let n = left.min(pat.len() as u64) as usize;
        s.write_all(&pat[..n])?;
        left -= n as u64;
    }
    s.shutdown(Shutdown::Write)
}

fn join<T>(h: thread::JoinHandle<io::Result<T>>) -> io::Result<T> {
    h.join().map_err(|_| err("thread panicked"))?
}

/// Memory -> socket -> memory over loopback, sender and receiver in two threads.
pub fn loopback_tcp(total: u64, pat: &[u8]) -> io::Result<f64> {
    let (c, mut s) = pair()?;
    let pat = pat.to_vec();
    let t0 = Instant::now();
    let h = thread::spawn(move || send_mem(c, total, &pat));
    let mut buf = vec![0u8; BUF_SIZE];
    let got = drain(&mut s, &mut buf, total, None)?;
    let secs = t0.elapsed().as_secs_f64();
    join(h)?;
    if got != total {
        return Err(err(format!("received {got} of {total} bytes")));
    }
    Ok(mib_per_s(total, secs))
}

/// sendfile(2) of a file to a loopback socket; a thread reads and discards.
pub fn sendfile(path: &Path, total: u64) -> io::Result<f64> {
    let f = File::open(path)?;
    let (c, mut s) = pair()?;
    let t0 = Instant::now();
    let h = thread::spawn(move || {
        let mut buf = vec![0u8; BUF_SIZE];
        drain(&mut s, &mut buf, total, None)
    });
    let mut off: libc::off_t = 0;
    // Each call moves at least one byte or fails, so this is bounded by `total`.
    while (off as u64) < total {
        let want = (total - off as u64).min(1 << 30) as usize;
        // SAFETY: both fds are open for the duration of the call; off is a valid pointer.
        let n = unsafe { libc::sendfile(c.as_raw_fd(), f.as_raw_fd(), &mut off, want) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(err(format!("sendfile hit EOF at {off} of {total}")));
        }
    }
    c.shutdown(Shutdown::Write)?;
    let got = join(h)?;
    let secs = t0.elapsed().as_secs_f64();
    if got != total {
        return Err(err(format!("received {got} of {total} bytes")));
    }
    Ok(mib_per_s(total, secs))
}

/// Memory -> socket in one thread; socket -> 1 MiB buffer -> file in the other.
/// The file is removed afterwards.
pub fn socket_to_file(path: &Path, total: u64, pat: &[u8]) -> io::Result<f64> {
    let (c, mut s) = pair()?;
    let pat = pat.to_vec();
    let t0 = Instant::now();
    let h = thread::spawn(move || send_mem(c, total, &pat));
    let res = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        let mut buf = vec![0u8; BUF_SIZE];
        let mut got = 0u64;
        loop {
            let n = match io::Read::read(&mut s, &mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            f.write_all(&buf[..n])?;
            got += n as u64;
            if got > total {
                return Err(err("received too much"));
            }
        }
        drop(f);
        if got != total {
            return Err(err(format!("received {got} of {total} bytes")));
        }
        Ok(t0.elapsed().as_secs_f64())
    })();
    let _ = std::fs::remove_file(path);
    drop(s); // unblock the sender if the receiver gave up early
    let sent = join(h);
    let secs = res?;
    sent?;
    Ok(mib_per_s(total, secs))
}

/// Plaintext handed to the rustls client per write in the TLS ceiling (four full records).
const TLS_CHUNK: usize = 64 * 1024;

/// What one in-memory TLS run measured, in the thread's CPU time (see
/// `procfs::thread_cpu_seconds`), so other load on the machine does not lower it.
pub struct TlsCeiling {
    /// MiB per CPU second through both ends: MiB/s on one core of its own.
    pub both: f64,
    /// CPU seconds per GiB of the encrypting end alone, and of the decrypting end alone.
    pub encrypt: f64,
    pub decrypt: f64,
    /// "TLSv1_3 TLS13_AES_256_GCM_SHA384": what the two rustls ends negotiated with the
    /// defaults both the bench client and tinyftpd use.
    pub suite: String,
}

fn tls_err(e: impl std::fmt::Display) -> io::Error {
    err(format!("tls: {e}"))
}

/// Move every TLS byte `from` has to send into `to`, and let `to` process it.
fn pump(from: &mut Connection, to: &mut Connection, wire: &mut Vec<u8>) -> io::Result<()> {
    wire.clear();
    while from.wants_write() {
        from.write_tls(wire)?;
    }
    let mut rd = &wire[..];
    while !rd.is_empty() {
        to.read_tls(&mut rd)?;
        to.process_new_packets().map_err(tls_err)?;
    }
    Ok(())
}

/// Take all plaintext `conn` has decrypted; returns how much.
fn take_plaintext(conn: &mut Connection, buf: &mut [u8]) -> io::Result<u64> {
    let mut got = 0;
    loop {
        match conn.reader().read(buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got += n as u64,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(got),
            Err(e) => return Err(e),
        }
    }
}

/// A rustls client and server (ring, default suites, the run's certificate) in one thread,
/// connected through memory: `total` bytes encrypted by the client and decrypted by the
/// server, no socket and no copy to the kernel. The time of each end is taken apart.
pub fn tls_memory(
    tls: &TlsFiles,
    client: &Arc<ClientConfig>,
    total: u64,
    pat: &[u8],
) -> io::Result<TlsCeiling> {
    let certs = CertificateDer::pem_file_iter(&tls.cert)
        .map_err(tls_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(tls_err)?;
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(tls_err)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(tls_err)?;
    let name = ServerName::try_from(client::TLS_NAME).map_err(tls_err)?;
    let mut c: Connection = ClientConnection::new(Arc::clone(client), name)
        .map_err(tls_err)?
        .into();
    let mut s: Connection = ServerConnection::new(Arc::new(server))
        .map_err(tls_err)?
        .into();
    let mut wire = Vec::with_capacity(2 * TLS_CHUNK);
    // A TLS 1.2 or 1.3 handshake is done in at most three flights each way.
    for _ in 0..4 {
        pump(&mut c, &mut s, &mut wire)?;
        pump(&mut s, &mut c, &mut wire)?;
    }
    if c.is_handshaking() || s.is_handshaking() {
        return Err(err("in-memory TLS handshake did not finish"));
    }
    let suite = match (s.protocol_version(), s.negotiated_cipher_suite()) {
        (Some(v), Some(cs)) => format!("{v:?} {:?}", cs.suite()),
        _ => "unknown".into(),
    };
    let mut buf = vec![0u8; BUF_SIZE];
    let (mut enc, mut dec) = (0.0, 0.0);
    let (mut sent, mut got) = (0u64, 0u64);
    // Every round moves at least one byte (rustls takes a whole chunk after a pump): bounded.
    while sent < total {
        let t0 = thread_cpu_seconds()?;
        let want = (total - sent).min(TLS_CHUNK.min(pat.len()) as u64) as usize;
        let n = c.writer().write(&pat[..want])?;
        wire.clear();
        while c.wants_write() {
            c.write_tls(&mut wire)?;
        }
        let t1 = thread_cpu_seconds()?;
        let mut rd = &wire[..];
        while !rd.is_empty() {
            s.read_tls(&mut rd)?;
            s.process_new_packets().map_err(tls_err)?;
            got += take_plaintext(&mut s, &mut buf)?;
        }
        enc += t1 - t0;
        dec += thread_cpu_seconds()? - t1;
        if n == 0 {
            return Err(err("rustls took no plaintext"));
        }
        sent += n as u64;
    }
    if got != total {
        return Err(err(format!("decrypted {got} of {total} bytes")));
    }
    let gib = total as f64 / (1u64 << 30) as f64;
    Ok(TlsCeiling {
        both: mib_per_s(total, enc + dec),
        encrypt: enc / gib,
        decrypt: dec / gib,
        suite,
    })
}
