//! tinyftpd: a small, fast, secure FTP server that serves one directory.
//!
//! Data flows one way: `cli` makes a `Config`, `server` accepts connections and runs one
//! `session` per thread; a session reads lines (`protocol::control_line`), parses them
//! (`protocol::command_table`), dispatches them (`session::handlers`) and writes replies
//! (`protocol::reply`). Paths go through `fs::jail`, file bytes through `net::transfer`, logins
//! through `auth`, errors become replies in `error`, and every `unsafe` block is in `os`.
#![deny(unsafe_code)] // Only the modules in os/ allow it (see os/mod.rs).

pub(crate) mod auth;
pub mod cli;
pub mod config;
pub(crate) mod context;
pub(crate) mod error;
pub(crate) mod fs;
pub mod logging;
pub(crate) mod net;
pub(crate) mod os;
pub(crate) mod protocol;
pub mod server;
pub(crate) mod session;
pub mod xferlog;

// The public face, and nothing more: what the binary (src/main.rs), tests/integration, the
// fuzz targets (fuzz/) and the benchmark use, at the paths they have always used.
pub use auth::{sha_crypt, users_file};
pub use fs::jail;
pub use net::transfer;
pub use os::{activation, privileges, signals, sys};
pub use protocol::{command, command_table, control_line, reply};
