//! The peers `--compare` runs against, got without installing anything system-wide:
//! Debian's vsftpd, pure-ftpd and proftpd are fetched with `apt-get download` and
//! unpacked with `dpkg-deb -x` under target/bench-peers/ (they conflict as installed
//! packages, and installing them would start system services), with the library
//! packages they need that this machine lacks; pyftpdlib comes from PyPI into a venv
//! there. Each is then started by the bench on 127.0.0.1 with a generated config
//! (foreground, no syslog), serving the fixtures, and stopped by PID at the end.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::client::Target;
use crate::fixtures::{Fixtures, TlsFiles};
use crate::servers::{self, free_port, spawn_and_greet, Server, IDLE_TIMEOUT_SECS};

/// Every peer `--compare all` means, in column order.
pub const PEERS: [&str; 4] = ["vsftpd", "pure-ftpd", "proftpd", "pyftpdlib"];

/// How to get each peer by hand when the bench cannot.
pub fn how_to_get(peer: &str) -> &'static str {
    match peer {
        "pyftpdlib" => "needs python3 with venv and PyPI: python3 -m venv target/bench-peers/pyftpdlib-venv && target/bench-peers/pyftpdlib-venv/bin/pip install pyftpdlib",
        _ => "needs Debian's package lists: apt-get update (the bench then runs apt-get download itself)",
    }
}

/// One line on how the bench runs a peer, for the notes under the table.
pub fn describe(peer: &str) -> &'static str {
    match peer {
        "vsftpd" => {
            "generated config (listen on 127.0.0.1, anonymous as user ftp, or daemon when \
             unpacked, write, pasv 20000-29999, seccomp_sandbox=NO, isolate=NO, logging \
             off); forks 2 processes per session; FTPS: OpenSSL, ssl_enable=YES, \
             allow_anon_ssl=YES, force_anon_data_ssl=NO (the client asks for PROT P), \
             require_ssl_reuse=NO, ssl_request_cert=NO, ssl_ciphers=HIGH"
        }
        "pure-ftpd" => {
            "Debian's binary, flags -E -A -H -f none -p 20000:29999: virtual user \
                        (puredb, MD5-crypt) mapped to nobody, chrooted to the served tree (no \
                        system `ftp` user for anonymous); forks per session (privsep); FTPS: \
                        OpenSSL, -Y 1 (TLS optional) -2 CERT,KEY"
        }
        "proftpd" => {
            "Debian's proftpd-core, compiled-in modules only, <Anonymous> as nobody, \
                      sendfile on, DelayEngine off, no syslog/wtmp; forks per session; FTPS n/a: \
                      mod_tls is a loadable module the compiled-in-only setup does not load"
        }
        "pyftpdlib" => {
            "PyPI's pyftpdlib in a venv, default async FTPServer (one process), \
                        anonymous with write permission, warnings-only logging; FTPS n/a: \
                        its TLS_FTPHandler needs pyOpenSSL, which the venv does not install"
        }
        _ => "",
    }
}

/// Start a peer by name; Err is a one-line reason it was skipped (with how to get
/// it, when getting it was what failed).
/// `tls`: the certificate for the peers that can offer explicit FTPS with it.
pub fn start(
    peer: &str,
    fx: &Fixtures,
    sessions: usize,
    tls: Option<&TlsFiles>,
) -> Result<Server, String> {
    let got = |r: Result<Unpacked, String>| {
        r.map_err(|e| format!("{peer} skipped: {e} ({})", how_to_get(peer)))
    };
    let failed = |e: String| format!("{peer} skipped: {e}");
    match peer {
        "vsftpd" => {
            let (bin, lib) = match servers::vsftpd_bin() {
                Some(bin) => (bin, None),
                None => {
                    got(debian("vsftpd", "usr/sbin/vsftpd")).map(|u| (u.bin, Some(u.lib_path)))?
                }
            };
            servers::start_vsftpd(fx, sessions, &bin, lib, tls).map_err(|e| failed(e.to_string()))
        }
        "pure-ftpd" => start_pure_ftpd(
            fx,
            sessions,
            &got(debian("pure-ftpd", "usr/sbin/pure-ftpd"))?,
            tls,
        )
        .map_err(failed),
        "proftpd" => start_proftpd(
            fx,
            sessions,
            &got(debian("proftpd-core", "usr/sbin/proftpd"))?,
        )
        .map_err(failed),
        "pyftpdlib" => {
            let py = pyftpdlib_python()
                .map_err(|e| format!("{peer} skipped: {e} ({})", how_to_get(peer)))?;
            start_pyftpdlib(fx, sessions, &py).map_err(failed)
        }
        other => Err(format!("unknown peer {other:?}")),
    }
}

/// target/bench-peers, next to cargo's build output.
pub fn cache_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench-peers")
}

/// Run a command to completion; its stdout, or an error with the end of its stderr.
fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let e = String::from_utf8_lossy(&out.stderr);
    let last = e
        .lines()
        .rfind(|l| !l.starts_with("W: "))
        .unwrap_or("")
        .to_string();
    Err(format!("{:?} failed: {last}", cmd.get_program()))
}

/// A Debian package unpacked in the cache: its binary and the LD_LIBRARY_PATH that
/// finds the libraries unpacked beside it.
pub struct Unpacked {
    pub root: PathBuf,
    pub bin: PathBuf,
    pub lib_path: OsString,
}

/// Packages installed on this machine (their libraries need not be unpacked).
fn installed() -> HashSet<String> {
    run(Command::new("dpkg-query").args(["-W", "-f=${Package} ${db:Status-Status}\\n"]))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_suffix(" installed"))
        .map(str::to_string)
        .collect()
}

/// The library packages `pkg` depends on directly (alternatives included).
fn lib_depends(pkg: &str) -> Vec<String> {
    let out = run(Command::new("apt-cache").args([
        "depends",
        "--no-recommends",
        "--no-suggests",
        "--no-conflicts",
        "--no-breaks",
        "--no-replaces",
        "--no-enhances",
        pkg,
    ]))
    .unwrap_or_default();
    out.lines()
        .filter_map(|l| {
            let l = l.trim_start().trim_start_matches('|');
            l.strip_prefix("Depends: ")
                .or_else(|| l.strip_prefix("PreDepends: "))
        })
        .map(|d| d.trim().split(':').next().unwrap_or("").to_string())
        .filter(|d| d.starts_with("lib") && !d.contains('<'))
        .collect()
}

fn lib_dirs(root: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for base in ["usr/lib", "lib"] {
        let b = root.join(base);
        if let Ok(rd) = fs::read_dir(&b) {
            v.extend(
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir() && p.to_string_lossy().ends_with("-linux-gnu")),
            );
        }
        v.push(b);
    }
    v
}

/// Fetch and unpack `pkg` (and the library packages it needs that are not installed,
/// three levels deep) unless the cache has it; check the binary's libraries resolve.
pub fn debian(pkg: &str, bin: &str) -> Result<Unpacked, String> {
    let dir = cache_dir().join(pkg);
    let root = dir.join("root");
    let done = dir.join(".complete");
    if !done.exists() {
        let debs = dir.join("debs");
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&debs).map_err(|e| format!("{}: {e}", debs.display()))?;
        eprintln!(
            "  fetching {pkg} from Debian's packages into {}",
            dir.display()
        );
        let have = installed();
        let mut seen: HashSet<String> = HashSet::from([pkg.to_string()]);
        let mut level = vec![pkg.to_string()];
        for _depth in 0..4 {
            if level.is_empty() {
                break;
            }
            run(Command::new("apt-get")
                .arg("download")
                .args(&level)
                .current_dir(&debs))
            .map_err(|e| format!("apt-get download {}: {e}", level.join(" ")))?;
            let mut next = Vec::new();
            for p in &level {
                for d in lib_depends(p) {
                    if !have.contains(&d) && seen.insert(d.clone()) {
                        next.push(d);
                    }
                }
            }
            level = next;
        }
        let rd = fs::read_dir(&debs).map_err(|e| e.to_string())?;
        for deb in rd.flatten().map(|e| e.path()) {
            run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
        }
    }
    let lib_path = std::env::join_paths(lib_dirs(&root)).map_err(|e| e.to_string())?;
    let bin = root.join(bin);
    let ldd = run(Command::new("ldd")
        .arg(&bin)
        .env("LD_LIBRARY_PATH", &lib_path))?;
    let missing: Vec<&str> = ldd
        .lines()
        .filter(|l| l.contains("not found"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    if !missing.is_empty() {
        return Err(format!("unpacked {pkg} lacks {}", missing.join(", ")));
    }
    fs::write(&done, "").map_err(|e| e.to_string())?;
    Ok(Unpacked {
        root,
        bin,
        lib_path,
    })
}

/// The pure-ftpd virtual user the bench logs in as. pure-ftpd serves anonymous FTP
/// only from the home of a system user `ftp`, which the bench does not create; a
/// virtual user mapped to nobody with the served tree as home is the same service.
/// The hash is MD5-crypt, cheap like anonymous logins elsewhere (pure-pw's default
/// argon2 would make pure-ftpd's login figure measure the hash).
const PURE_USER: &str = "bench";
const PURE_PASS: &str = "benchpw";
const PURE_HASH: &str = "$1$tinybnch$CgoI4WoAtPbPmfYWSzHGn.";

fn start_pure_ftpd(
    fx: &Fixtures,
    sessions: usize,
    u: &Unpacked,
    tls: Option<&TlsFiles>,
) -> Result<Server, String> {
    let e = |e: std::io::Error| e.to_string();
    let port = free_port().map_err(e)?;
    let pw = fx.scratch("pureftpd.passwd");
    let pdb = fx.scratch("pureftpd.pdb");
    fs::write(
        &pw,
        format!(
            "{PURE_USER}:{PURE_HASH}:65534:65534::{}/./::::::::::::\n",
            fx.served().display()
        ),
    )
    .map_err(e)?;
    run(Command::new(u.root.join("usr/bin/pure-pw"))
        .arg("mkdb")
        .arg(&pdb)
        .arg("-f")
        .arg(&pw)
        .env("LD_LIBRARY_PATH", &u.lib_path))?;
    let mut login = OsString::from("puredb:");
    login.push(&pdb);
    let n = sessions.to_string();
    let mut cmd = Command::new(&u.bin);
    cmd.args(["-S", &format!("127.0.0.1,{port}")])
        // -E no anonymous, -A chroot, -H no DNS, -f none: no syslog; foreground (no -B).
        .args(["-E", "-A", "-H", "-f", "none", "-p", "20000:29999"])
        .args(["-c", &n, "-C", &n])
        // -I is in minutes.
        .args(["-I", &(IDLE_TIMEOUT_SECS / 60).to_string()])
        .arg("-l")
        .arg(login)
        .env("LD_LIBRARY_PATH", &u.lib_path);
    if let Some(t) = tls {
        // -Y 1: TLS offered, clear text still allowed (the clear-text scenarios share it).
        let mut files = OsString::from(&t.cert);
        files.push(",");
        files.push(&t.key);
        cmd.args(["-Y", "1", "-2"]).arg(files);
    }
    let target = Target {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        user: PURE_USER,
        pass: PURE_PASS,
        tls: false,
    };
    let mut srv = spawn_and_greet(fx, "pure-ftpd", cmd, target).map_err(e)?;
    srv.tls = tls.is_some();
    Ok(srv)
}

fn proftpd_config(fx: &Fixtures, port: u16, sessions: usize) -> String {
    format!(
        "# generated by benches/ftp_bench
ServerType standalone
DefaultServer on
Port {port}
DefaultAddress 127.0.0.1
SocketBindTight on
UseIPv6 off
User nobody
Group nogroup
MaxInstances {max}
PassivePorts 20000 29999
UseReverseDNS off
WtmpLog off
ScoreboardFile {scratch}/proftpd.scoreboard
PidFile {scratch}/proftpd.pid
TransferLog none
SystemLog {scratch}/proftpd.syslog
# mod_delay pads every login to hide timing; the other servers don't.
DelayEngine off
TimeoutIdle {IDLE_TIMEOUT_SECS}
AuthOrder mod_auth_unix.c
UseSendfile on
<Anonymous {root}>
  User nobody
  Group nogroup
  UserAlias anonymous nobody
  RequireValidShell off
  MaxClients {max}
</Anonymous>
",
        max = sessions,
        scratch = fx.root.display(),
        root = fx.served().display(),
    )
}

fn start_proftpd(fx: &Fixtures, sessions: usize, u: &Unpacked) -> Result<Server, String> {
    let e = |e: std::io::Error| e.to_string();
    let port = free_port().map_err(e)?;
    let conf = fx.scratch("proftpd.conf");
    fs::write(&conf, proftpd_config(fx, port, sessions)).map_err(e)?;
    let mut cmd = Command::new(&u.bin);
    // -n foreground, -q quiet; modules are the compiled-in ones (no modules.conf).
    cmd.args(["-n", "-q", "-c"])
        .arg(&conf)
        .env("LD_LIBRARY_PATH", &u.lib_path);
    let target = Target::anonymous(SocketAddr::from(([127, 0, 0, 1], port)));
    spawn_and_greet(fx, "proftpd", cmd, target).map_err(e)
}

/// The venv's python with pyftpdlib, made on first use.
fn pyftpdlib_python() -> Result<PathBuf, String> {
    let venv = cache_dir().join("pyftpdlib-venv");
    let py = venv.join("bin/python");
    let has = |py: &Path| {
        Command::new(py)
            .args(["-c", "import pyftpdlib"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has(&py) {
        eprintln!("  installing pyftpdlib from PyPI into {}", venv.display());
        let _ = fs::remove_dir_all(&venv);
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        run(Command::new(venv.join("bin/pip")).args([
            "install",
            "-q",
            "--disable-pip-version-check",
            "pyftpdlib",
        ]))?;
        if !has(&py) {
            return Err("pyftpdlib not importable after pip install".into());
        }
    }
    Ok(py)
}

/// pyftpdlib's default (async, one process) server, anonymous with write
/// permission, logging only warnings.
const PYFTPDLIB_SCRIPT: &str = "\
import logging, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.log import config_logging
from pyftpdlib.servers import FTPServer
config_logging(level=logging.WARNING)
root, port, sessions, idle = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
auth = DummyAuthorizer()
auth.add_anonymous(root, perm='elradfmwMT')
FTPHandler.authorizer = auth
FTPHandler.passive_ports = range(20000, 30000)
FTPHandler.timeout = idle
server = FTPServer(('127.0.0.1', port), FTPHandler)
server.max_cons = sessions
server.max_cons_per_ip = 0
server.serve_forever()
";

fn start_pyftpdlib(fx: &Fixtures, sessions: usize, py: &Path) -> Result<Server, String> {
    let e = |e: std::io::Error| e.to_string();
    let port = free_port().map_err(e)?;
    let script = fx.scratch("pyftpdlib_server.py");
    fs::write(&script, PYFTPDLIB_SCRIPT).map_err(e)?;
    let mut cmd = Command::new(py);
    cmd.arg(&script)
        .arg(fx.served())
        .arg(port.to_string())
        .arg(sessions.to_string())
        .arg(IDLE_TIMEOUT_SECS.to_string());
    let target = Target::anonymous(SocketAddr::from(([127, 0, 0, 1], port)));
    spawn_and_greet(fx, "pyftpdlib", cmd, target).map_err(e)
}
