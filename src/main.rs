//! The `tinyftpd` binary: parse flags, set up logging, bind, print where we listen, serve.

use std::io::Write;
use std::process::ExitCode;

use tinyftpd::cli::{self, CliAction, Verbosity};
use tinyftpd::config::Config;
use tinyftpd::server::Server;

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
    init_logging(verbosity);
    match std::fs::metadata(&config.root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return fail(&format!("{} is not a directory", config.root.display())),
        Err(e) => return fail(&format!("cannot serve {}: {e}", config.root.display())),
    }
    let summary = config.access_summary();
    let server = match Server::bind(config) {
        Ok(server) => server,
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

fn fail(message: &str) -> ExitCode {
    eprintln!("tinyftpd: {message}");
    ExitCode::from(1)
}
