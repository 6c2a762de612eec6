//! tinyftpd: a small, fast, secure FTP server that serves one directory.
//!
//! Data flows one way: `cli` makes a `Config`, `server` accepts connections and runs one
//! `session` per thread; a session reads lines (`control_line`), parses them (`command`),
//! dispatches them (`handlers`) and writes replies (`reply`). Paths go through `jail`, file bytes
//! through `transfer`, errors become replies in `error`.

pub mod activation;
pub mod auth;
pub mod civil_time;
pub mod cli;
pub mod command;
pub mod command_table;
pub mod config;
pub mod control_line;
pub mod data_channel;
pub mod error;
mod handlers;
pub mod jail;
pub mod listing;
pub mod logging;
pub mod privileges;
pub mod reply;
pub mod server;
pub mod session;
pub mod sha2;
pub mod sha_crypt;
pub mod signals;
pub mod sys;
pub mod transfer;
pub mod users_file;
pub mod xferlog;
