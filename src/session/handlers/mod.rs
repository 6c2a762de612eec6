//! Command handlers: small plain functions grouped by concern. Each returns its final reply
//! (or an error that `error.rs` maps to one); one `match` dispatches to them.

mod data_setup;
mod file_ops;
mod listings;
mod login;
mod navigation;
mod security;
mod session_opts;
mod transfers;

use crate::error::FtpResult;
use crate::fs::jail::JailedPath;
use crate::protocol::command::Command;
use crate::protocol::reply::{codes, Reply};
use crate::session::Session;

pub fn dispatch(s: &mut Session, command: Command, rename_from: Option<JailedPath>) -> FtpResult {
    use Command::*;
    match command {
        User(name) => login::user(s, name),
        Pass(password) => login::pass(s, &password),
        Acct => Ok(Reply::new(codes::NOT_NEEDED, "ACCT not needed.")),
        Quit => login::quit(s),
        Rein => login::rein(s),
        Syst => Ok(Reply::new(codes::SYSTEM_TYPE, "UNIX Type: L8")),
        Noop => Ok(Reply::new(codes::OK, "NOOP ok.")),
        Feat => Ok(session_opts::feat(s)),
        Help(verb) => session_opts::help(verb.as_deref()),
        Opts(arg) => session_opts::opts(s, arg),
        Host(name) => session_opts::host(s, &name),
        Clnt(name) => session_opts::clnt(s, &name),
        Stat(None) => Ok(session_opts::status(s)),
        Stat(Some(arg)) => listings::stat(s, &arg),
        Pwd => navigation::pwd(s),
        Cwd(path) => navigation::cwd(s, &path),
        Cdup => navigation::cwd(s, b".."),
        Type(kind) => session_opts::transfer_type(s, kind),
        Mode(letter) => session_opts::mode(letter),
        Stru(letter) => session_opts::structure(letter),
        Pasv => data_setup::pasv(s),
        Epsv(arg) => data_setup::epsv(s, arg),
        Port(addr) => data_setup::port(s, addr, "PORT"),
        Eprt(addr) => data_setup::port(s, addr, "EPRT"),
        Retr(path) => transfers::retr(s, &path),
        Stor(path) => transfers::stor(s, &path),
        Appe(path) => transfers::appe(s, &path),
        Stou => transfers::stou(s),
        Rest(offset) => transfers::rest(s, offset),
        Allo => Ok(Reply::new(codes::NOT_NEEDED, "ALLO not needed.")),
        Abor => Ok(transfers::abor(s)),
        List(arg) => listings::list(s, &arg),
        Nlst(arg) => listings::nlst(s, &arg),
        Mlsd(path) => listings::mlsd(s, path.as_deref()),
        Mlst(path) => listings::mlst(s, path.as_deref()),
        Mkd(path) => file_ops::mkd(s, &path),
        Rmd(path) => file_ops::rmd(s, &path),
        Dele(path) => file_ops::dele(s, &path),
        Rnfr(path) => file_ops::rnfr(s, &path),
        Rnto(path) => file_ops::rnto(s, rename_from, &path),
        Size(path) => file_ops::size(s, &path),
        Mdtm(path) => file_ops::mdtm(s, &path),
        Mfmt(time, path) => file_ops::mfmt(s, time, &path),
        Site(arg) => file_ops::site(s, arg),
        Auth(mechanism) => security::auth(s, &mechanism),
        Pbsz(size) => security::pbsz(s, size),
        Prot(level) => security::prot(s, level),
        Ccc => security::ccc(),
        Unknown(_) => Ok(Reply::new(codes::SYNTAX_ERROR, "Unknown command.")),
    }
}
