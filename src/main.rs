//! The `tinyftpd` binary: parse flags, set up logging and signals, bind (or take the sockets
//! systemd or inetd passed), drop privileges, print where we listen, serve until SIGTERM/SIGINT.

use std::io::{self, BufRead, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use tinyftpd::activation::{self, PidFile};
use tinyftpd::cli::{self, CliAction, Verbosity};
use tinyftpd::config::Config;
use tinyftpd::reply::{codes, Reply};
use tinyftpd::server::{self, Server, ServerContext};
use tinyftpd::signals::{self, Signal};
use tinyftpd::xferlog::XferLog;
use tinyftpd::{privileges, sha_crypt, sys, users_file};

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

fn init_logging(verbosity: Verbosity) {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(log::LevelFilter::Info);
    builder.parse_env("RUST_LOG");
    if let Verbosity(Some(level)) = verbosity {
        builder.filter_level(level);
    }
    // env_logger's layout (`[LEVEL target] message`), with the message made printable in this
    // one place: user names, paths and command lines come from clients, even before login, and
    // must not reach a terminal or the journal as escape sequences or extra lines.
    builder.format(|buf, record| {
        let message = record.args().to_string();
        let mut line = format!("[{:<5} {}] ", record.level(), record.target()).into_bytes();
        tinyftpd::xferlog::push_printable(&mut line, message.as_bytes());
        line.push(b'\n');
        buf.write_all(&line)
    });
    builder.init();
}

fn serve(mut config: Config, verbosity: Verbosity) -> ExitCode {
    // First, while single-threaded (changing the environment is only sound then) and before
    // this process opens any descriptor of its own: systemd's variables.
    let passed = activation::take_systemd_environment();
    init_logging(verbosity);
    if config.inetd {
        // With Accept=yes systemd also passes the connection as descriptor 3; stdin is the one
        // we serve, and the default signal actions suit a one-session process.
        return serve_inetd(config);
    }
    // Before any thread exists, so that every thread inherits the blocked mask.
    if let Err(e) = signals::block() {
        return fail(&format!("cannot set up signals: {e}"));
    }
    let activated = match passed.and_then(activation::systemd_listeners) {
        Ok(listeners) => listeners,
        Err(e) => return fail(&format!("socket activation: {e}")),
    };
    if let Err(message) = check_root(&config.root) {
        return fail(&message);
    }
    sys::set_umask(config.umask);
    let summary = config.access_summary();
    let shown_root = std::fs::canonicalize(&config.root).unwrap_or_else(|_| config.root.clone());
    let listeners = if activated.is_empty() {
        match Server::bind_listeners(&config) {
            Ok(listeners) => listeners,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                return fail(&format!(
                    "{e}; the port is taken by another program (choose another with --port)"
                ))
            }
            Err(e) => return fail(&e.to_string()),
        }
    } else {
        activated
    };
    let local: Vec<SocketAddr> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    if let Err(e) = check_port_20(&config, &local) {
        return fail(&e);
    }
    // Written once we listen, so that an init script that sees the file can connect, and while
    // still root: the pid file's directory (/run) and the log's usually belong to root.
    let pidfile = match config.pidfile.as_deref().map(PidFile::create).transpose() {
        Ok(pidfile) => pidfile,
        Err(e) => return fail(&e.to_string()),
    };
    let xferlog = match config.xferlog.as_deref().map(XferLog::open).transpose() {
        Ok(log) => log,
        Err(e) => return fail(&e.to_string()),
    };
    if let Err(e) = drop_privileges(&mut config) {
        return fail(&e);
    }
    // Again as the user we now are: root could read DIR, --run-as USER may not.
    if let Err(message) = check_root(&config.root) {
        return fail(&format!("after dropping privileges: {message}"));
    }
    let grace = config.shutdown_grace;
    let server = match ServerContext::with_xferlog(config, xferlog) {
        Ok(ctx) => Server::with_context(listeners, ctx),
        Err(e) => return fail(&e.to_string()),
    };
    let addrs: Vec<String> = local.iter().map(|a| a.to_string()).collect();
    println!(
        "tinyftpd listening on {}, serving {} ({summary})",
        addrs.join(", "),
        shown_root.display()
    );
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
    wait_for_terminate(&ctx);
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
fn wait_for_terminate(ctx: &Arc<ServerContext>) {
    loop {
        match signals::wait() {
            Ok(Signal::Terminate) => return,
            Ok(Signal::Reload) => {
                match ctx.reload_users() {
                    Ok(count) => log::info!("SIGHUP: reloaded users file ({count} accounts)"),
                    Err(e) => log::error!("SIGHUP: kept the old accounts: {e}"),
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

/// `--chroot` and `--run-as`, after binding and before serving. Serving as root without
/// `--run-as` works (many small boxes run everything as root) but is worth a warning.
fn drop_privileges(config: &mut Config) -> Result<(), String> {
    let root = privileges::is_root();
    if (config.chroot || config.run_as.is_some()) && !root {
        return Err("--chroot and --run-as need to be started as root".into());
    }
    let identity = match &config.run_as {
        Some(user) => Some(privileges::lookup(user).map_err(|e| format!("--run-as {user}: {e}"))?),
        None => None,
    };
    if config.chroot {
        let dir = std::fs::canonicalize(&config.root).map_err(|e| format!("--chroot: {e}"))?;
        if let Some(users) = config.users_file.take() {
            // The file stays outside the jail (inside, clients could download the hashes), so
            // it is read now, once; SIGHUP cannot reach it after the chroot.
            let accounts = users_file::load(&users)
                .map_err(|e| format!("--users {}: {e}", users.display()))?;
            config.accounts.extend(accounts);
            log::warn!(
                "--chroot: {} read once; SIGHUP will not re-read it",
                users.display()
            );
        }
        privileges::chroot(&dir).map_err(|e| format!("--chroot {}: {e}", dir.display()))?;
        config.root = PathBuf::from("/");
    }
    match identity {
        Some(who) => {
            privileges::become_user(&who).map_err(|e| format!("--run-as: {e}"))?;
            log::info!(
                "running as {} (uid {}, gid {})",
                privileges::name_of(&who),
                who.uid,
                who.gid
            );
        }
        None if root => log::warn!("running as root; consider --run-as USER"),
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
            "--port-20 on {addr} binds port {} for each active transfer, which needs root; --run-as drops it (use a port above 1025, or leave out --run-as)",
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
    let ctx = match prepare_inetd(&mut config, &stream) {
        Ok(xferlog) => ServerContext::with_xferlog(config, xferlog).map_err(|e| e.to_string()),
        Err(message) => Err(message),
    };
    let ctx = match ctx {
        Ok(ctx) => Arc::new(ctx),
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

/// The start-up steps of inetd mode: checks, umask, the transfer log, then privileges.
fn prepare_inetd(config: &mut Config, stream: &TcpStream) -> Result<Option<XferLog>, String> {
    check_root(&config.root)?;
    let local: Vec<SocketAddr> = stream.local_addr().into_iter().collect();
    check_port_20(config, &local)?;
    sys::set_umask(config.umask);
    let xferlog = config
        .xferlog
        .as_deref()
        .map(XferLog::open)
        .transpose()
        .map_err(|e| e.to_string())?;
    drop_privileges(config)?;
    check_root(&config.root).map_err(|e| format!("after dropping privileges: {e}"))?;
    Ok(xferlog)
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
