//! Integration tests, built as one binary: the server runs in-process on 127.0.0.1 port 0 and is
//! driven by a raw client and by real clients (curl, lftp, Python ftplib, BusyBox).

mod support;

mod binary;
mod commands;
mod deployment;
mod operations;
mod protocol;
