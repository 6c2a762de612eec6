//! tinyftpd: a small, fast, secure FTP server that serves one directory.
//!
//! Data flows one way: `cli` makes a `Config`, `server` accepts connections and runs one
//! `session` per thread; a session reads lines (`protocol::control_line`), parses them
//! (`protocol::command_table`), dispatches them (`session::handlers`) and writes replies
//! (`protocol::reply`). Paths go through `fs::jail`, file bytes through `net::transfer`, logins
//! through `auth`, errors become replies in `error`, and every `unsafe` block is in `os`.

pub mod auth;
pub mod cli;
pub mod config;
pub mod context;
pub mod error;
pub mod fs;
pub mod net;
pub mod os;
pub mod protocol;
pub mod server;
pub mod session;
pub mod xferlog;

pub use auth::{sha2, sha_crypt, users_file};
pub use fs::{civil_time, jail, listing};
pub use net::{data_channel, transfer};
pub use os::{activation, privileges, signals, sys};
pub use protocol::{command, command_table, control_line, reply};
