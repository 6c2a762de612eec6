//! Starting and stopping the servers under test: tinyftpd (release binary) and,
//! for `--compare`, the peers (see peers.rs) on loopback with generated configs.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::client::{err, Ftp, Target};
use crate::fixtures::{Fixtures, TlsFiles};
use crate::procfs;

/// Idle timeout given to every server: the idle and scale tests hold sessions open for
/// minutes at 10,000 sessions, longer than some defaults (pyftpdlib 300 s).
pub const IDLE_TIMEOUT_SECS: u64 = 3600;

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running server; stopped (with its whole process tree) when dropped.
pub struct Server {
    pub name: &'static str,
    pub target: Target,
    /// Started with the run's certificate: explicit FTPS offered.
    pub tls: bool,
    child: Child,
    log: PathBuf,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Is the server process still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Last lines of the server's stderr, for error messages.
    pub fn log_tail(&self) -> String {
        let s = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.child.id();
        let tree = procfs::tree(pid);
        for &p in &tree {
            // SAFETY: plain kill(2) on processes this bench started (the server and its
            // descendants), addressed by pid.
            unsafe { libc::kill(p as libc::pid_t, libc::SIGTERM) };
        }
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        for &p in &tree {
            if p != pid && fs::metadata(format!("/proc/{p}")).is_ok() {
                // SAFETY: as above; only descendants that survived SIGTERM.
                unsafe { libc::kill(p as libc::pid_t, libc::SIGKILL) };
            }
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Where the tinyftpd binary is: $TINYFTPD_BIN, else the one cargo built for this bench.
pub fn tinyftpd_bin() -> PathBuf {
    match std::env::var_os("TINYFTPD_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_tinyftpd")),
    }
}

/// Pull `ADDR` out of a line containing `listening on ADDR` (ADDR ends at ',', ' ' or EOL).
pub fn parse_listening(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let end = rest.find([',', ' ']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}

/// What tinyftpd says when started with TLS flags but built without the feature.
pub const NO_TLS: &str = "built without TLS";

/// Start tinyftpd serving the fixtures and wait for its `listening on` line.
/// `sessions`: how many connections at once it must accept; with `tls` it offers explicit
/// FTPS (AUTH TLS; clear text stays allowed, so the clear-text scenarios run on it too).
pub fn start_tinyftpd(
    fx: &Fixtures,
    sessions: usize,
    tls: Option<&TlsFiles>,
) -> io::Result<Server> {
    let bin = tinyftpd_bin();
    if !bin.exists() {
        return Err(err(format!(
            "{} not found (build with `cargo build --release` or set TINYFTPD_BIN)",
            bin.display()
        )));
    }
    let log = fx.scratch("tinyftpd.log");
    let mut cmd = Command::new(&bin);
    if let Some(t) = tls {
        cmd.arg("--tls-cert")
            .arg(&t.cert)
            .arg("--tls-key")
            .arg(&t.key);
    }
    let mut child = cmd
        .args(["-p", "0", "-b", "127.0.0.1", "-w", "-q", "--anonymous"])
        .args(["--max-clients", &sessions.to_string()])
        .args(["--max-per-ip", &sessions.to_string()])
        .args(["--idle-timeout", &IDLE_TIMEOUT_SECS.to_string()])
        // The passive range every peer gets. Without one the kernel picks the port, and
        // bind(2) to port 0 scans the ephemeral range, which a long run fills with the
        // client's TIME_WAIT sockets (7 ms per PASV at 115,000 of them).
        .args(["--pasv-ports", "20000-29999"])
        .arg(fx.served())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(File::create(&log)?))
        .spawn()?;
    let Some(out) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(err("no stdout pipe"));
    };
    // A thread reads the first line, then keeps draining so the server never blocks on stdout.
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut r = BufReader::new(out);
        let mut line = String::new();
        let first = r.read_line(&mut line).map(|_| line.clone());
        let _ = tx.send(first);
        let mut sink = Vec::new();
        loop {
            sink.clear();
            match r.read_until(b'\n', &mut sink) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    });
    let first = rx.recv_timeout(START_TIMEOUT);
    let mut srv = Server {
        name: "tinyftpd",
        target: Target::anonymous(SocketAddr::from(([127, 0, 0, 1], 0))),
        tls: tls.is_some(),
        child,
        log,
    };
    let line = match first {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return Err(err(format!("reading tinyftpd stdout: {e}"))),
        Err(_) => return Err(err("tinyftpd printed no line within 15 s")),
    };
    match parse_listening(&line) {
        Some(a) if a.ip().is_loopback() => srv.target.addr = a,
        Some(a) => return Err(err(format!("tinyftpd listens on non-loopback {a}"))),
        // The first line of its usage text; the tail shows only the end of it.
        None if fs::read_to_string(&srv.log).is_ok_and(|l| l.contains(NO_TLS)) => {
            return Err(err(NO_TLS))
        }
        None => {
            return Err(err(format!(
                "no `listening on ADDR` in tinyftpd's first line {:?}; stderr: {}",
                line.trim_end(),
                srv.log_tail()
            )))
        }
    }
    Ok(srv)
}

/// A free loopback port (bound and released; the race is harmless here).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Where vsftpd is, if installed.
pub fn vsftpd_bin() -> Option<PathBuf> {
    ["/usr/sbin/vsftpd", "/usr/local/sbin/vsftpd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// vsftpd's FTPS settings: OpenSSL with the run's certificate, anonymous sessions may use
/// TLS but need not (the clear-text scenarios run on the same server), no client
/// certificates and no session-reuse requirement on data connections (tinyftpd's defaults).
fn vsftpd_tls_config(t: &TlsFiles) -> String {
    format!(
        "ssl_enable=YES
allow_anon_ssl=YES
force_anon_logins_ssl=NO
force_anon_data_ssl=NO
require_ssl_reuse=NO
ssl_request_cert=NO
ssl_ciphers=HIGH
rsa_cert_file={}
rsa_private_key_file={}
",
        t.cert.display(),
        t.key.display()
    )
}

/// The vsftpd config used by `--compare vsftpd`.
pub fn vsftpd_config(
    fx: &Fixtures,
    port: u16,
    empty: &Path,
    sessions: usize,
    tls: Option<&TlsFiles>,
) -> String {
    let tls = tls.map(vsftpd_tls_config).unwrap_or_default();
    format!(
        "# generated by benches/ftp_bench
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port={port}
background=NO
anonymous_enable=YES
ftp_username={ftp_user}
local_enable=NO
anon_root={root}
write_enable=YES
anon_upload_enable=YES
anon_mkdir_write_enable=YES
anon_other_write_enable=YES
anon_umask=022
pasv_enable=YES
pasv_min_port=20000
pasv_max_port=29999
port_enable=YES
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
max_clients={sessions}
max_per_ip={sessions}
xferlog_enable=NO
syslog_enable=NO
dual_log_enable=NO
use_sendfile=YES
tcp_wrappers=NO
userlist_enable=NO
secure_chroot_dir={empty}
idle_session_timeout={IDLE_TIMEOUT_SECS}
data_connection_timeout=300
{tls}",
        root = fx.served().display(),
        empty = empty.display(),
        ftp_user = vsftpd_user(),
    )
}

/// The user vsftpd runs anonymous sessions as: Debian's package creates `ftp`; with an
/// unpacked vsftpd there may be none, and vsftpd also needs the user's home directory
/// to exist (it changes into it before anon_root), which rules out nobody.
fn vsftpd_user() -> String {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let home_ok = |name: &str| {
        passwd.lines().any(|l| {
            let f: Vec<&str> = l.split(':').collect();
            f.len() > 5 && f[0] == name && f[2] != "0" && Path::new(f[5]).is_dir()
        })
    };
    ["ftp", "daemon", "bin"]
        .into_iter()
        .find(|n| home_ok(n))
        .unwrap_or("ftp")
        .to_string()
}

/// Start vsftpd on loopback serving the fixtures; waits until it greets. `bin` is
/// the installed one or one unpacked from Debian's package (with `lib_path` for
/// the libraries unpacked beside it).
pub fn start_vsftpd(
    fx: &Fixtures,
    sessions: usize,
    bin: &Path,
    lib_path: Option<OsString>,
    tls: Option<&TlsFiles>,
) -> io::Result<Server> {
    let port = free_port()?;
    let empty = fx.scratch("vsftpd-empty");
    if !empty.exists() {
        fs::create_dir(&empty)?;
    }
    let conf = fx.scratch("vsftpd.conf");
    fs::write(&conf, vsftpd_config(fx, port, &empty, sessions, tls))?;
    let mut cmd = Command::new(bin);
    cmd.arg(&conf);
    if let Some(p) = lib_path {
        cmd.env("LD_LIBRARY_PATH", p);
    }
    let mut srv = spawn_and_greet(
        fx,
        "vsftpd",
        cmd,
        Target::anonymous(SocketAddr::from(([127, 0, 0, 1], port))),
    )?;
    srv.tls = tls.is_some();
    Ok(srv)
}

/// Spawn a server (stdout and stderr to a log in scratch) and wait until it answers
/// on `target` with a greeting.
pub fn spawn_and_greet(
    fx: &Fixtures,
    name: &'static str,
    mut cmd: Command,
    target: Target,
) -> io::Result<Server> {
    let log = fx.scratch(&format!("{name}.log"));
    let out = File::create(&log)?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .spawn()?;
    let mut srv = Server {
        name,
        target,
        tls: false,
        child,
        log,
    };
    let t0 = Instant::now();
    loop {
        match Ftp::connect(&srv.target) {
            Ok(f) => {
                let _ = f.quit();
                return Ok(srv);
            }
            Err(e) => {
                if !srv.alive() {
                    return Err(err(format!("{name} exited: {}", srv.log_tail())));
                }
                if t0.elapsed() > START_TIMEOUT {
                    return Err(err(format!("{name} not answering: {e}")));
                }
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
