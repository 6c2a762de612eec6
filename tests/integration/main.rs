//! Integration tests, built as one binary: the server runs in-process on 127.0.0.1 port 0 and is
//! driven by a raw client and by real clients (curl, lftp, wget, Python ftplib, BusyBox, tnftp,
//! NcFTP).

mod support;

mod accounts;
mod audit;
mod binary;
mod clients_busybox;
mod clients_curl;
mod clients_lftp;
mod clients_ncftp;
mod clients_python;
mod clients_tnftp;
mod clients_wget;
mod command_line;
mod commands;
mod control_attacks;
mod data_limits;
mod data_safety;
mod deployment;
mod generated_input;
mod hostile;
mod idle_memory;
mod integrity;
mod jail_race;
mod leftovers;
mod lifecycle;
mod login_timing;
mod logs;
mod operations;
mod privileges;
mod protocol;
mod regressions;
mod security;
#[cfg(feature = "tls")]
mod tls;
