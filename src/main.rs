//! The `tinyftpd` binary: parse flags, set up logging, bind (or take the sockets inetd or
//! systemd passed), print where we listen, serve.

use std::io::{self, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use tinyftpd::activation::{self, PidFile};
use tinyftpd::cli::{self, CliAction, Verbosity};
use tinyftpd::config::Config;
use tinyftpd::reply::{codes, Reply};
use tinyftpd::server::{self, Server, ServerContext};

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
        Ok(CliAction::Serve(config, verbosity)) => serve(*config, verbosity),
        Err(e) => {
            eprintln!("tinyftpd: {}\n\n{}", e.0, cli::usage());
            ExitCode::from(2)
        }
    }
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

fn serve(config: Config, verbosity: Verbosity) -> ExitCode {
    // First, while single-threaded and before any file is opened: systemd's variables.
    let passed = activation::take_systemd_environment();
    init_logging(verbosity);
    if config.inetd {
        // With Accept=yes, systemd passes the connection as fd 3 too; stdin is what we serve.
        return serve_inetd(config);
    }
    let activated = match passed.and_then(activation::systemd_listeners) {
        Ok(listeners) => listeners,
        Err(e) => return fail(&format!("socket activation: {e}")),
    };
    if let Err(message) = check_root(&config.root) {
        return fail(&message);
    }
    let summary = config.access_summary();
    let pidfile_path = config.pidfile.clone();
    let server = if activated.is_empty() {
        Server::bind(config)
    } else {
        Server::from_listeners(activated, config)
    };
    let server = match server {
        Ok(server) => server,
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            return fail(&format!(
                "{e}; the port is taken by another program (choose another with --port)"
            ))
        }
        Err(e) => return fail(&e.to_string()),
    };
    // Written once we listen, so that an init script that sees the file can connect.
    let _pidfile = match pidfile_path.as_deref().map(PidFile::create).transpose() {
        Ok(pidfile) => pidfile,
        Err(e) => return fail(&e.to_string()),
    };
    let addrs: Vec<String> = server.local_addrs().iter().map(|a| a.to_string()).collect();
    let root = server.context().jail.root().display().to_string();
    println!(
        "tinyftpd listening on {}, serving {root} ({summary})",
        addrs.join(", ")
    );
    let _ = std::io::stdout().flush();
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

/// `--inetd`: one session on the connection passed as stdin. Nothing is printed to stdout,
/// which is the connection; a start-up failure is logged and told to the client as 421.
fn serve_inetd(config: Config) -> ExitCode {
    let stream = match activation::inetd_connection() {
        Ok(stream) => stream,
        Err(e) => return fail(&e.to_string()),
    };
    let ctx = match check_root(&config.root)
        .and_then(|()| ServerContext::new(config).map_err(|e| e.to_string()))
    {
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
