//! Ceilings measured in the same run: what this machine's loopback, sendfile(2)
//! and socket-to-file paths can do without any FTP server in the way.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::thread;
use std::time::Instant;

use crate::client::{self, drain, err, BUF_SIZE};

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
