//! The `tinyftpd` binary: parse flags, set up logging and signals, bind, drop privileges,
//! print where we listen, serve until SIGTERM/SIGINT.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;

use tinyftpd::cli::{self, CliAction, Verbosity};
use tinyftpd::config::Config;
use tinyftpd::server::{Server, ServerContext};
use tinyftpd::signals::{self, Signal};
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
    builder.init();
}

fn serve(mut config: Config, verbosity: Verbosity) -> ExitCode {
    init_logging(verbosity);
    // Before any thread exists, so that every thread inherits the blocked mask.
    if let Err(e) = signals::block() {
        return fail(&format!("cannot set up signals: {e}"));
    }
    match std::fs::metadata(&config.root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return fail(&format!("{} is not a directory", config.root.display())),
        Err(e) => return fail(&format!("cannot serve {}: {e}", config.root.display())),
    }
    if let Err(e) = std::fs::read_dir(&config.root) {
        return fail(&format!("cannot read {}: {e}", config.root.display()));
    }
    sys::set_umask(config.umask);
    let summary = config.access_summary();
    let shown_root = std::fs::canonicalize(&config.root).unwrap_or_else(|_| config.root.clone());
    let listeners = match Server::bind_listeners(&config) {
        Ok(listeners) => listeners,
        Err(e) => return fail(&e.to_string()),
    };
    if let Err(e) = drop_privileges(&mut config) {
        return fail(&e);
    }
    let grace = config.shutdown_grace;
    let server = match Server::from_listeners(listeners, config) {
        Ok(server) => server,
        Err(e) => return fail(&e.to_string()),
    };
    let addrs: Vec<String> = server.local_addrs().iter().map(|a| a.to_string()).collect();
    println!(
        "tinyftpd listening on {}, serving {} ({summary})",
        addrs.join(", "),
        shown_root.display()
    );
    let _ = std::io::stdout().flush();
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
    log::info!("stopped");
    ExitCode::SUCCESS
}

/// Handles signals until SIGTERM or SIGINT: SIGHUP re-reads the users file.
fn wait_for_terminate(ctx: &Arc<ServerContext>) {
    loop {
        match signals::wait() {
            Ok(Signal::Terminate) => return,
            Ok(Signal::Reload) => match ctx.reload_users() {
                Ok(count) => log::info!("SIGHUP: reloaded users file ({count} accounts)"),
                Err(e) => log::error!("SIGHUP: kept the old accounts: {e}"),
            },
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

fn fail(message: &str) -> ExitCode {
    eprintln!("tinyftpd: {message}");
    ExitCode::from(1)
}
