//! The FTP protocol as values, with no I/O and no session state: `control_line` splits the
//! control connection's bytes into bounded lines (the only reader of that socket), `command` and
//! `command_table` turn a line into a typed [`command::Command`] (the verb table is the parser,
//! the login and write gates, HELP and FEAT), and `reply` is the one encoder of replies.
//!
//! Must not touch: the file system, the data connection, sessions or configuration. Nothing here
//! imports from `session`, `net`, `auth`, `os` or `error`, so the parser can be fuzzed alone.

pub mod command;
pub mod command_table;
pub mod control_line;
pub mod reply;
