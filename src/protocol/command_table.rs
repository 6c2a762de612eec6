//! The one table of verbs, and [`parse`], which reads it. The parser, the login gate, the write
//! gate, HELP and FEAT all read the table, so what we advertise is exactly what we parse and
//! serve.

use crate::protocol::command::{args, Command, ParseError};

pub type ArgParser = fn(Option<&[u8]>) -> Result<Command, ParseError>;

/// One verb the server knows.
pub struct Verb {
    pub name: &'static str,
    pub parse: ArgParser,
    /// Answered with 530 before login when true. The table is the one list of what a client
    /// may send before logging in (the session's login gate reads this flag).
    pub needs_login: bool,
    /// Answered with 550 for a read-only login when true.
    pub needs_write: bool,
    /// The syntax shown by `HELP VERB`.
    pub help: &'static str,
    /// The line this verb adds to FEAT (RFC 2389), if any.
    pub feature: Option<&'static str>,
}

macro_rules! verb {
    ($name:literal, $parse:expr, login: $login:literal, write: $write:literal, $help:literal $(, feat: $feat:literal)?) => {
        Verb {
            name: $name,
            parse: $parse,
            needs_login: $login,
            needs_write: $write,
            help: $help,
            feature: verb!(@feat $($feat)?),
        }
    };
    (@feat $feat:literal) => { Some($feat) };
    (@feat) => { None };
}

fn path(f: fn(Vec<u8>) -> Command) -> impl Fn(Option<&[u8]>) -> Result<Command, ParseError> {
    move |arg| args::required(arg).map(f)
}

pub static VERBS: &[Verb] = &[
    verb!("USER", |a| args::credential(a, true).map(Command::User), login: false, write: false, "USER <name>"),
    verb!("PASS", |a| args::credential(a, false).map(Command::Pass), login: false, write: false, "PASS <password>"),
    verb!("ACCT", |_| Ok(Command::Acct), login: true, write: false, "ACCT <account> (not needed)"),
    verb!("QUIT", |_| Ok(Command::Quit), login: false, write: false, "QUIT"),
    verb!("REIN", |_| Ok(Command::Rein), login: true, write: false, "REIN (log out, keep the connection)"),
    verb!("SYST", |_| Ok(Command::Syst), login: false, write: false, "SYST"),
    verb!("NOOP", |_| Ok(Command::Noop), login: false, write: false, "NOOP"),
    verb!("FEAT", |_| Ok(Command::Feat), login: false, write: false, "FEAT"),
    verb!("HELP", |a| Ok(Command::Help(args::optional(a))), login: false, write: false, "HELP [<verb>]"),
    verb!("OPTS", |a| args::opts(a).map(Command::Opts), login: false, write: false, "OPTS UTF8 ON | OPTS MLST <facts>", feat: "UTF8"),
    verb!("HOST", |a| args::required(a).map(Command::Host), login: false, write: false, "HOST <hostname>", feat: "HOST"),
    verb!("CLNT", |a| Ok(Command::Clnt(args::optional(a).unwrap_or_default())), login: false, write: false, "CLNT <client name>"),
    verb!("STAT", |a| Ok(Command::Stat(a.map(|a| args::list(Some(a))))), login: true, write: false, "STAT [<path>]"),
    verb!("PWD", |_| Ok(Command::Pwd), login: true, write: false, "PWD"),
    verb!("XPWD", |_| Ok(Command::Pwd), login: true, write: false, "XPWD"),
    verb!("CWD", |a| path(Command::Cwd)(a), login: true, write: false, "CWD <path>"),
    verb!("XCWD", |a| path(Command::Cwd)(a), login: true, write: false, "XCWD <path>"),
    verb!("CDUP", |_| Ok(Command::Cdup), login: true, write: false, "CDUP"),
    verb!("XCUP", |_| Ok(Command::Cdup), login: true, write: false, "XCUP"),
    verb!("TYPE", |a| args::transfer_type(a).map(Command::Type), login: true, write: false, "TYPE A | I | L 8"),
    verb!("MODE", |a| args::letter(a).map(Command::Mode), login: true, write: false, "MODE S"),
    verb!("STRU", |a| args::letter(a).map(Command::Stru), login: true, write: false, "STRU F"),
    verb!("PASV", |_| Ok(Command::Pasv), login: true, write: false, "PASV"),
    verb!("EPSV", |a| args::epsv(a).map(Command::Epsv), login: true, write: false, "EPSV [1 | 2 | ALL]", feat: "EPSV"),
    verb!("PORT", |a| args::port(a).map(Command::Port), login: true, write: false, "PORT h1,h2,h3,h4,p1,p2"),
    verb!("EPRT", |a| args::eprt(a).map(Command::Eprt), login: true, write: false, "EPRT |proto|address|port|", feat: "EPRT"),
    verb!("RETR", |a| path(Command::Retr)(a), login: true, write: false, "RETR <file>"),
    verb!("STOR", |a| path(Command::Stor)(a), login: true, write: true, "STOR <file>"),
    verb!("APPE", |a| path(Command::Appe)(a), login: true, write: true, "APPE <file>"),
    verb!("STOU", |_| Ok(Command::Stou), login: true, write: true, "STOU"),
    verb!("REST", |a| args::rest(a).map(Command::Rest), login: true, write: false, "REST <offset>", feat: "REST STREAM"),
    verb!("ALLO", |_| Ok(Command::Allo), login: true, write: false, "ALLO <size>"),
    verb!("ABOR", |_| Ok(Command::Abor), login: true, write: false, "ABOR"),
    verb!("LIST", |a| Ok(Command::List(args::list(a))), login: true, write: false, "LIST [-a] [<path>]"),
    verb!("NLST", |a| Ok(Command::Nlst(args::list(a))), login: true, write: false, "NLST [-a] [<path>]"),
    verb!("MLSD", |a| Ok(Command::Mlsd(args::optional(a))), login: true, write: false, "MLSD [<dir>]"),
    verb!("MLST", |a| Ok(Command::Mlst(args::optional(a))), login: true, write: false, "MLST [<path>]", feat: "MLST"),
    verb!("MKD", |a| path(Command::Mkd)(a), login: true, write: true, "MKD <dir>"),
    verb!("XMKD", |a| path(Command::Mkd)(a), login: true, write: true, "XMKD <dir>"),
    verb!("RMD", |a| path(Command::Rmd)(a), login: true, write: true, "RMD <dir>"),
    verb!("XRMD", |a| path(Command::Rmd)(a), login: true, write: true, "XRMD <dir>"),
    verb!("DELE", |a| path(Command::Dele)(a), login: true, write: true, "DELE <file>"),
    verb!("RNFR", |a| path(Command::Rnfr)(a), login: true, write: true, "RNFR <path>"),
    verb!("RNTO", |a| path(Command::Rnto)(a), login: true, write: true, "RNTO <path>"),
    verb!("SIZE", |a| path(Command::Size)(a), login: true, write: false, "SIZE <file>", feat: "SIZE"),
    verb!("MDTM", |a| path(Command::Mdtm)(a), login: true, write: false, "MDTM <file>", feat: "MDTM"),
    verb!("MFMT", |a| args::mfmt(a).map(|(t, p)| Command::Mfmt(t, p)), login: true, write: true, "MFMT YYYYMMDDHHMMSS <file>", feat: "MFMT"),
    verb!("SITE", |a| args::site(a).map(Command::Site), login: true, write: false, "SITE HELP | SITE CHMOD <mode> <path>"),
    verb!("AUTH", |a| args::required(a).map(|m| Command::Auth(m.to_ascii_uppercase())), login: false, write: false, "AUTH TLS", feat: "AUTH TLS"),
    verb!("PBSZ", |a| args::pbsz(a).map(Command::Pbsz), login: false, write: false, "PBSZ 0", feat: "PBSZ"),
    verb!("PROT", |a| args::letter(a).map(Command::Prot), login: false, write: false, "PROT P | C", feat: "PROT"),
    verb!("CCC", |_| Ok(Command::Ccc), login: false, write: false, "CCC (refused: the control connection stays encrypted)"),
];

/// The FEAT lines that only a server with a certificate offers (RFC 4217 6).
pub const TLS_FEATURES: &[&str] = &["AUTH TLS", "PBSZ", "PROT"];

/// Features with no verb of their own.
pub const EXTRA_FEATURES: &[&str] = &["TVFS"];

/// Parses one control line (without its CRLF). Verbs match case-insensitively; the argument is
/// everything after the first space, kept as it is.
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    parse_with_entry(line).map(|(command, _)| command)
}

/// [`parse`], also giving the table row the verb matched (`None` for an unknown verb), so
/// that the session's login and write gates read the same row the parser used.
pub fn parse_with_entry(line: &[u8]) -> Result<(Command, Option<&'static Verb>), ParseError> {
    // The reader strips the line's own CR; one left inside would end up in a file name and
    // break every listing that shows it, so an argument with a CR is refused.
    if line.contains(&b'\r') {
        return Err(ParseError::BadArgument("CR inside the command"));
    }
    let (verb, arg) = match line.iter().position(|&b| b == b' ') {
        Some(space) => (&line[..space], Some(&line[space + 1..])),
        None => (line, None),
    };
    let arg = arg.filter(|a| !a.is_empty());
    let upper = verb.to_ascii_uppercase();
    match std::str::from_utf8(&upper).ok().and_then(lookup) {
        Some(entry) => Ok(((entry.parse)(arg)?, Some(entry))),
        None => Ok((Command::Unknown(upper), None)),
    }
}

/// Finds a verb by its upper-case name.
pub fn lookup(name: &str) -> Option<&'static Verb> {
    VERBS.iter().find(|v| v.name == name)
}

/// The table row of a parsed command (by its canonical verb: XPWD's is PWD's, with the same
/// gates, which a unit test checks).
pub fn entry_of(command: &Command) -> Option<&'static Verb> {
    lookup(command.verb())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_upper_case() {
        for (i, v) in VERBS.iter().enumerate() {
            assert_eq!(v.name, v.name.to_ascii_uppercase());
            assert!(
                VERBS[i + 1..].iter().all(|w| w.name != v.name),
                "{}",
                v.name
            );
        }
    }

    #[test]
    fn pre_login_whitelist_matches_the_table() {
        // The verbs answered before login (the README's Security section lists the same):
        // pinned here so that a row's flag cannot open the gate unnoticed.
        const PRE_LOGIN: &[&str] = &[
            "USER", "PASS", "QUIT", "FEAT", "OPTS", "SYST", "HELP", "NOOP", "HOST", "CLNT", "AUTH",
            "PBSZ", "PROT", "CCC",
        ];
        for v in VERBS {
            assert_eq!(!v.needs_login, PRE_LOGIN.contains(&v.name), "{}", v.name);
        }
    }

    #[test]
    fn every_parsed_command_has_a_row_with_its_flags() {
        for v in VERBS {
            if let Ok(cmd) = parse(format!("{} x", v.name).as_bytes()) {
                let row = entry_of(&cmd).expect("row for canonical verb");
                assert_eq!(row.needs_login, v.needs_login, "{}", v.name);
                assert_eq!(row.needs_write, v.needs_write, "{}", v.name);
            }
        }
    }
}
