//! The `tinyftpd` binary: parse flags, set up logging, descriptors and signals, bind (or take
//! the sockets systemd or inetd passed), resolve the privileges to drop to, read the users file,
//! open the logs, chroot, drop privileges, print where we listen, serve until SIGTERM/SIGINT.
#![deny(unsafe_code)] // Only the library's os/ modules allow it.

use std::io::{self, BufRead, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use tinyftpd::activation::{self, PidFile};
use tinyftpd::cli::{self, CliAction, Verbosity};
use tinyftpd::config::{Account, Config};
use tinyftpd::reply::{codes, Reply};
use tinyftpd::server::{self, Server, ServerContext, TlsFiles};
use tinyftpd::signals::{self, Signal};
use tinyftpd::users_file::{self, UsersFile};
use tinyftpd::xferlog::XferLog;
use tinyftpd::{privileges, sha_crypt, sys};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::parse(&args) {
        Ok(CliAction::Help(text)) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Ok(CliAction::Version) => {
            println!("tinyftpd {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(CliAction::HashPassword) => hash_password(),
        Ok(CliAction::Serve(config, verbosity)) => serve(*config, verbosity),
        Err(e) => {
            eprintln!("tinyftpd: {}\n\n{}", e.0, cli::usage());
            ExitCode::from(2)
        }
    }
}

/// `--hash-password`: one line from stdin in, a `$6$` crypt string out, for `--users FILE`.
fn hash_password() -> ExitCode {
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return fail("cannot read a password from stdin");
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return fail("empty password");
    }
    println!(
        "{}",
        sha_crypt::hash_sha512(password.as_bytes(), &sha_crypt::random_salt())
    );
    ExitCode::SUCCESS
}

/// Serving, in the order start-up must happen: descriptors and signals, the sockets (bound
/// or taken from systemd/inetd), then [`prepare`] (privileges resolved, users file read, logs
/// opened, chroot, drop), then serving.
fn serve(config: Config, verbosity: Verbosity) -> ExitCode {
    // First, while single-threaded (changing the environment is only sound then) and before
    // this process opens any descriptor of its own: systemd's variables.
    let passed = activation::take_systemd_environment();
    // Before the chroot in `prepare`: --syslog connects its socket by path now.
    tinyftpd::logging::init(verbosity.0, config.syslog, config.chroot);
    raise_descriptor_limit(&config);
    if config.inetd {
        // With Accept=yes systemd also passes the connection as descriptor 3; stdin is the one
        // we serve, and the default signal actions suit a one-session process.
        return serve_inetd(config);
    }
    // Before any thread exists, so that every thread inherits the blocked mask.
    if let Err(e) = signals::block() {
        return fail(&format!("cannot set up signals: {e}"));
    }
    match start_daemon(config, passed) {
        Ok(daemon) => run_daemon(daemon),
        Err(message) => fail(&message),
    }
}

/// A daemon ready to serve: privileges dropped, sockets listening.
struct Daemon {
    server: Server,
    users: Option<UsersFile>,
    pidfile: Option<PidFile>,
    start_line: String,
}

/// The daemon's start-up steps, in the order security needs: the sockets (bound while still
/// root, or adopted from systemd), the `--port-20` check, [`prepare`] (privileges resolved,
/// users file read, logs opened, chroot, drop), then the context sessions will share.
fn start_daemon(mut config: Config, passed: io::Result<usize>) -> Result<Daemon, String> {
    let listeners = listening_sockets(&config, passed)?;
    let local: Vec<SocketAddr> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    check_port_20(&config, &local)?;
    // For the start line, taken before prepare's chroot turns DIR into `/`.
    let summary = config.access_summary();
    let shown_root = std::fs::canonicalize(&config.root).unwrap_or_else(|_| config.root.clone());
    let mut prepared = prepare(&mut config)?;
    let addrs: Vec<String> = local.iter().map(|a| a.to_string()).collect();
    let start_line = format!(
        "tinyftpd listening on {}, serving {} ({summary})",
        addrs.join(", "),
        shown_root.display()
    );
    let pidfile = prepared.pidfile.take();
    let (ctx, users) = server_context(config, prepared)?;
    Ok(Daemon {
        server: Server::with_context(listeners, ctx),
        users,
        pidfile,
        start_line,
    })
}

/// The sockets systemd passed, or our own bound from the configuration.
fn listening_sockets(
    config: &Config,
    passed: io::Result<usize>,
) -> Result<Vec<TcpListener>, String> {
    let activated = passed
        .and_then(activation::systemd_listeners)
        .map_err(|e| format!("socket activation: {e}"))?;
    if !activated.is_empty() {
        return Ok(activated);
    }
    Server::bind_listeners(config).map_err(|e| {
        if e.kind() == io::ErrorKind::AddrInUse {
            format!("{e}; the port is taken by another program (choose another with --port)")
        } else {
            e.to_string()
        }
    })
}

/// What [`prepare`] opened while still privileged, for the server to use.
struct Prepared {
    pidfile: Option<PidFile>,
    xferlog: Option<XferLog>,
    users: Option<(UsersFile, Vec<Account>)>,
    /// `--tls-cert` and `--tls-key`, opened while still privileged (a key is often root's only).
    tls: Option<TlsFiles>,
}

/// The start-up steps both modes share, in this order: check DIR, resolve the privileges to
/// drop to (from the host's user and group databases), read `--users FILE`, open the pid file
/// and the transfer log, chroot, drop. Everything that needs root or a host path happens
/// before the chroot; see [`drop_privileges`] for why nothing after it may look anything up.
fn prepare(config: &mut Config) -> Result<Prepared, String> {
    check_root(&config.root)?;
    sys::set_umask(config.umask);
    let plan = resolve_privileges(config)?;
    let users = read_users_file(config, plan.chroot.is_some())?;
    let tls = TlsFiles::open(config, plan.chroot.is_some())?;
    let (pidfile, xferlog) = open_pidfile_and_log(config)?;
    drop_privileges(plan, config)?;
    // Again as the user we now are: root could read DIR, --run-as USER may not.
    check_root(&config.root).map_err(|e| format!("after dropping privileges: {e}"))?;
    Ok(Prepared {
        pidfile,
        xferlog,
        users,
        tls,
    })
}

/// `--pidfile` and `--xferlog`, opened while still root (their directories, /run and
/// /var/log, usually belong to root) and before the chroot (their paths are host paths). The
/// pid file is written once we listen, so that an init script that sees it can connect.
fn open_pidfile_and_log(config: &Config) -> Result<(Option<PidFile>, Option<XferLog>), String> {
    let pidfile = config
        .pidfile
        .as_deref()
        .map(PidFile::create)
        .transpose()
        .map_err(|e| e.to_string())?;
    let xferlog = config
        .xferlog
        .as_deref()
        .map(XferLog::open)
        .transpose()
        .map_err(|e| e.to_string())?;
    Ok((pidfile, xferlog))
}

/// `--users FILE`, opened and read now, while still root, in every mode: a file only root
/// may read keeps working after `--run-as`, and after `--chroot` the path would name a file
/// in the served tree (which clients could write, and download hashes from). SIGHUP re-reads
/// it (see [`UsersFile`]); the path itself is only tried again when not chrooted.
fn read_users_file(
    config: &mut Config,
    chrooted: bool,
) -> Result<Option<(UsersFile, Vec<Account>)>, String> {
    // Taken out of the configuration so that nothing later opens the path.
    let Some(path) = config.users_file.take() else {
        return Ok(None);
    };
    let error = |e: users_file::UsersFileError| format!("--users {}: {e}", path.display());
    let mut file = UsersFile::open(&path, !chrooted).map_err(error)?;
    let accounts = file.load().map_err(error)?;
    Ok(Some((file, accounts)))
}

/// The context sessions share, with the users file's accounts and the TLS certificate.
fn server_context(
    config: Config,
    prepared: Prepared,
) -> Result<(ServerContext, Option<UsersFile>), String> {
    let Prepared {
        xferlog,
        users,
        tls,
        ..
    } = prepared;
    let mut ctx = ServerContext::with_xferlog(config, xferlog).map_err(|e| e.to_string())?;
    if let Some(files) = tls {
        ctx.install_tls(files)?;
    }
    Ok(match users {
        Some((file, accounts)) => {
            ctx.replace_file_accounts(accounts)
                .map_err(|e| format!("--users {}: {e}", file.path().display()))?;
            (ctx, Some(file))
        }
        None => (ctx, None),
    })
}

fn run_daemon(daemon: Daemon) -> ExitCode {
    let Daemon {
        server,
        mut users,
        pidfile,
        start_line,
    } = daemon;
    let grace = server.context().config.shutdown_grace;
    println!("{start_line}");
    let _ = std::io::stdout().flush();
    sweep_stale_uploads(server.context().jail.root().to_path_buf());
    let ctx = server.context();
    let accepting = match thread::Builder::new()
        .name("accept".into())
        .spawn(move || server.run())
    {
        Ok(handle) => handle,
        Err(e) => return fail(&format!("cannot start: {e}")),
    };
    wait_for_terminate(&ctx, users.as_mut());
    log::info!(
        "shutting down: waiting up to {}s for transfers",
        grace.as_secs()
    );
    ctx.begin_shutdown();
    let _ = accepting.join();
    if !ctx.wait_for_sessions(grace) {
        log::warn!(
            "grace period over with {} session(s) still running",
            ctx.session_count()
        );
    }
    // Sessions may still hold the context (and so the log) after the grace period: write out
    // what the log thread has queued before the process exits.
    if let Some(log) = &ctx.xferlog {
        log.flush(Duration::from_secs(2));
    }
    drop(pidfile);
    log::info!("stopped");
    ExitCode::SUCCESS
}

/// Descriptors one session may hold at once: the control connection, a passive listener,
/// the data connection and the file (or directory) being transferred.
const DESCRIPTORS_PER_SESSION: u64 = 4;
/// Descriptors the server itself holds: listeners, logs, the jail's root, the spare the
/// accept loop keeps, the standard streams, with room to spare.
const DESCRIPTORS_RESERVED: u64 = 32;

/// Raises RLIMIT_NOFILE's soft limit to the hard limit, and warns when even that cannot hold
/// `--max-clients` sessions with a transfer each (beyond it, new connections get 421).
fn raise_descriptor_limit(config: &Config) {
    let limit = match sys::raise_descriptor_limit() {
        Ok(limit) => limit,
        Err(e) => return log::warn!("cannot raise the descriptor limit: {e}"),
    };
    if config.inetd {
        return;
    }
    let clients = u64::try_from(config.max_clients).unwrap_or(u64::MAX);
    let needed = clients
        .saturating_mul(DESCRIPTORS_PER_SESSION)
        .saturating_add(DESCRIPTORS_RESERVED);
    if limit < needed {
        log::warn!(
            "the descriptor limit ({limit}) cannot hold --max-clients {} sessions with a transfer each ({DESCRIPTORS_PER_SESSION} descriptors per session + {DESCRIPTORS_RESERVED} = {needed}); raise the hard limit (LimitNOFILE=, ulimit -Hn) or lower --max-clients; connections beyond it get 421",
            config.max_clients
        );
    }
}

/// Removes temporaries of uploads that a killed server left behind, on a thread of its own so
/// that start-up does not wait for a walk of a large tree.
fn sweep_stale_uploads(root: PathBuf) {
    let spawned = thread::Builder::new().name("sweep".into()).spawn(move || {
        let removed = tinyftpd::transfer::remove_stale_temporaries(&root);
        if removed > 0 {
            log::info!("removed {removed} stale upload temporaries");
        }
    });
    if let Err(e) = spawned {
        log::warn!("cannot start the stale-upload sweep: {e}");
    }
}

/// Handles signals until SIGTERM or SIGINT: SIGHUP re-reads the users file and reopens the
/// transfer log.
fn wait_for_terminate(ctx: &Arc<ServerContext>, mut users: Option<&mut UsersFile>) {
    loop {
        match signals::wait() {
            Ok(Signal::Terminate) => return,
            Ok(Signal::Reload) => {
                if let Some(file) = users.as_deref_mut() {
                    let loaded = file.load().map_err(|e| e.to_string());
                    match loaded.and_then(|accounts| ctx.replace_file_accounts(accounts)) {
                        Ok(count) => log::info!("SIGHUP: reloaded users file ({count} accounts)"),
                        Err(e) => log::error!(
                            "SIGHUP: kept the old accounts: --users {}: {e}",
                            file.path().display()
                        ),
                    }
                }
                match ctx.reload_tls() {
                    Some(Ok(())) => log::info!("SIGHUP: reloaded the TLS certificate and key"),
                    Some(Err(e)) => log::error!("SIGHUP: kept the old TLS certificate: {e}"),
                    None => {}
                }
                if let Some(log) = &ctx.xferlog {
                    log.reopen();
                }
            }
            Err(e) => {
                log::error!("waiting for signals: {e}");
                return;
            }
        }
    }
}

/// What `--chroot` and `--run-as` will do, resolved before either happens.
struct PrivilegePlan {
    /// The directory to chroot into, canonical.
    chroot: Option<PathBuf>,
    /// The user to become, with uid, gid and supplementary groups.
    identity: Option<privileges::Identity>,
}

/// Looks up everything the drop needs, from the host's databases: the user's ids and groups
/// (getpwnam, getgrouplist: NSS, /etc/passwd, /etc/group) and the real path of DIR.
fn resolve_privileges(config: &Config) -> Result<PrivilegePlan, String> {
    if (config.chroot || config.run_as.is_some()) && !privileges::is_root() {
        return Err("--chroot and --run-as need to be started as root".into());
    }
    let identity = match &config.run_as {
        Some(user) => Some(privileges::lookup(user).map_err(|e| format!("--run-as {user}: {e}"))?),
        None => None,
    };
    let chroot = match config.chroot {
        true => Some(std::fs::canonicalize(&config.root).map_err(|e| format!("--chroot: {e}"))?),
        false => None,
    };
    Ok(PrivilegePlan { chroot, identity })
}

/// `--chroot`, then `--run-as`, as [`resolve_privileges`] planned them. Serving as root
/// without `--run-as` works (many small boxes run everything as root) but is worth a warning.
///
/// Nothing from the chroot on may look anything up: no user or group names (getpwnam,
/// getgrnam, initgroups), no host names (getaddrinfo), no time zone (localtime), no file by an
/// absolute path. Inside the chroot those paths (/etc/group, /etc/nsswitch.conf,
/// /lib/.../libnss_*.so.2, /etc/localtime, /proc) name files in the served tree, which a client
/// may have uploaded: glibc would load an uploaded NSS module as root, and an uploaded
/// etc/group would set our groups. So the drop below is system calls only (setgroups, setgid,
/// setuid with numbers found beforehand); log lines carry no local time (UTC or none); the
/// users file, logs and pid file were opened before.
fn drop_privileges(plan: PrivilegePlan, config: &mut Config) -> Result<(), String> {
    if let Some(dir) = &plan.chroot {
        privileges::chroot(dir).map_err(|e| format!("--chroot {}: {e}", dir.display()))?;
        config.root = PathBuf::from("/");
    }
    match plan.identity {
        Some(who) => {
            privileges::become_user(&who).map_err(|e| format!("--run-as: {e}"))?;
            log::info!(
                "running as {} (uid {}, gid {}, groups {:?})",
                privileges::name_of(&who),
                who.uid,
                who.gid,
                who.groups
            );
        }
        None if privileges::is_root() => log::warn!("running as root; consider --run-as USER"),
        None => {}
    }
    Ok(())
}

/// `--port-20` binds port L-1 for every active-mode transfer. Below 1024 that needs root (or
/// CAP_NET_BIND_SERVICE), which `--run-as` gives up before the first client: refuse the
/// combination at start rather than fail every active transfer later.
fn check_port_20(config: &Config, local: &[SocketAddr]) -> Result<(), String> {
    if !config.port_20 || config.run_as.is_none() {
        return Ok(());
    }
    match local.iter().find(|a| a.port() <= 1024) {
        Some(addr) => Err(format!(
            "--port-20 on {addr} binds port {} for each active transfer, which needs root; --run-as drops it (use port 1025 or above, or leave out --run-as)",
            addr.port().saturating_sub(1)
        )),
        None => Ok(()),
    }
}

/// `--inetd`: one session on the connection passed as stdin. Nothing is printed to stdout,
/// which is the connection; a start-up failure is logged and told to the client as 421.
fn serve_inetd(mut config: Config) -> ExitCode {
    let stream = match activation::inetd_connection() {
        Ok(stream) => stream,
        Err(e) => return fail(&e.to_string()),
    };
    let ctx =
        prepare_inetd(&mut config, &stream).and_then(|prepared| server_context(config, prepared));
    let ctx = match ctx {
        // One session: a SIGHUP reload would have nothing to serve, so the file is not kept.
        Ok((ctx, _)) => Arc::new(ctx),
        Err(message) => {
            refuse(&stream);
            return fail(&message);
        }
    };
    match server::serve_connection(stream, ctx) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("session: {e}")),
    }
}

/// The start-up steps of inetd mode: the `--port-20` check on the passed connection, then the
/// steps both modes share.
fn prepare_inetd(config: &mut Config, stream: &TcpStream) -> Result<Prepared, String> {
    let local: Vec<SocketAddr> = stream.local_addr().into_iter().collect();
    check_port_20(config, &local)?;
    prepare(config)
}

fn refuse(mut stream: &TcpStream) {
    let reply = Reply::new(codes::SERVICE_NOT_AVAILABLE, "Service not available.");
    let _ = stream.write_all(&reply.encode());
}

/// DIR must be a directory this process can list and enter; say so before serving rather than
/// answer every client with errors.
fn check_root(root: &Path) -> Result<(), String> {
    let shown = root.display();
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("{shown} is not a directory")),
        Err(e) => return Err(format!("cannot serve {shown}: {e}")),
    }
    if let Err(e) = std::fs::read_dir(root) {
        return Err(format!("cannot serve {shown}: cannot list it: {e}"));
    }
    // Resolving "DIR/." needs search (x) permission on DIR itself.
    if let Err(e) = std::fs::metadata(root.join(".")) {
        return Err(format!("cannot serve {shown}: cannot enter it: {e}"));
    }
    Ok(())
}

fn fail(message: &str) -> ExitCode {
    log::logger().flush();
    eprintln!("tinyftpd: {message}");
    ExitCode::from(1)
}
