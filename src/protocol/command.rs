//! Commands as typed values, and the argument parsers that the verb table points at (the table
//! and [`parse`](crate::protocol::command_table::parse) are in `command_table`): one line of
//! bytes in, one typed [`Command`] out. Pure: no I/O, no session state. Path arguments stay
//! bytes, because a lossy UTF-8 conversion renames files.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::fs::civil_time::CivilTime;

/// One command as the client sent it, with its argument checked for form (not for meaning: a
/// path may still not exist, a PORT may still name another host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    User(Vec<u8>),
    Pass(Vec<u8>),
    Acct,
    Quit,
    Rein,
    Syst,
    Noop,
    Feat,
    Help(Option<Vec<u8>>),
    Opts(OptsArg),
    Host(Vec<u8>),
    Clnt(Vec<u8>),
    Stat(Option<ListArg>),
    Pwd,
    Cwd(Vec<u8>),
    Cdup,
    Type(Option<TransferType>),
    Mode(u8),
    Stru(u8),
    Pasv,
    Epsv(EpsvArg),
    Port(SocketAddr),
    Eprt(SocketAddr),
    Retr(Vec<u8>),
    Stor(Vec<u8>),
    Appe(Vec<u8>),
    Stou,
    Rest(u64),
    Allo,
    Abor,
    List(ListArg),
    Nlst(ListArg),
    Mlsd(Option<Vec<u8>>),
    Mlst(Option<Vec<u8>>),
    Mkd(Vec<u8>),
    Rmd(Vec<u8>),
    Dele(Vec<u8>),
    Rnfr(Vec<u8>),
    Rnto(Vec<u8>),
    Size(Vec<u8>),
    Mdtm(Vec<u8>),
    Mfmt(i64, Vec<u8>),
    Site(SiteArg),
    /// `AUTH <mechanism>` (RFC 2228, 4217), the mechanism upper-cased.
    Auth(Vec<u8>),
    /// `PBSZ <size>`: TLS needs 0.
    Pbsz(u64),
    /// `PROT C|S|E|P`, upper-cased.
    Prot(u8),
    /// `CCC`: clear the control channel (always refused).
    Ccc,
    /// A verb we do not know, upper-cased; its argument is dropped.
    Unknown(Vec<u8>),
}

/// TYPE: binary (`Image`) until the client says otherwise. RFC 959 says ASCII; every client we
/// know sends TYPE before it matters, and binary is what a server for cameras and scanners
/// should do when one does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransferType {
    Ascii,
    #[default]
    Image,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpsvArg {
    Any,
    Ipv4,
    Ipv6,
    All,
}

/// LIST/NLST/STAT arguments: leading `-words` are `ls` options (clients send `-la`), the rest is
/// the path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListArg {
    pub options: Vec<u8>,
    pub path: Option<Vec<u8>>,
}

impl ListArg {
    pub fn all(&self) -> bool {
        self.options.contains(&b'a') || self.options.contains(&b'A')
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptsArg {
    Utf8(bool),
    /// `OPTS MLST fact;fact;` (RFC 3659 7.9): the facts, lower-cased.
    Mlst(Vec<Vec<u8>>),
    /// An option we do not know (upper-cased name).
    Unknown(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteArg {
    Help,
    Chmod(u32, Vec<u8>),
    Umask(Option<u32>),
    Unknown(Vec<u8>),
}

/// A known verb whose argument is missing or malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The verb needs an argument and got none.
    MissingArgument,
    /// The argument is not in the form the verb takes.
    BadArgument(&'static str),
    /// EPRT/EPSV named a network protocol other than 1 (IPv4) or 2 (IPv6): RFC 2428 wants 522.
    UnsupportedProtocol,
}

/// The longest user name or password accepted, in bytes.
pub const MAX_CREDENTIAL: usize = 128;

/// The argument parsers the command table points at, one per argument shape.
pub mod args {
    use super::*;

    pub fn required(arg: Option<&[u8]>) -> Result<Vec<u8>, ParseError> {
        arg.map(<[u8]>::to_vec).ok_or(ParseError::MissingArgument)
    }

    /// USER and PASS: bounded, so a client cannot make the server hash or compare megabytes.
    /// A missing password is an empty one (anonymous clients send `PASS` alone).
    pub fn credential(arg: Option<&[u8]>, required: bool) -> Result<Vec<u8>, ParseError> {
        match arg {
            Some(a) if a.len() > MAX_CREDENTIAL => Err(ParseError::BadArgument("too long")),
            Some(a) => Ok(a.to_vec()),
            None if required => Err(ParseError::MissingArgument),
            None => Ok(Vec::new()),
        }
    }

    pub fn optional(arg: Option<&[u8]>) -> Option<Vec<u8>> {
        arg.map(<[u8]>::to_vec)
    }

    pub fn list(arg: Option<&[u8]>) -> ListArg {
        let mut rest = arg.unwrap_or_default();
        let mut options = Vec::new();
        while rest.first() == Some(&b'-') {
            let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
            options.extend_from_slice(&rest[1..end]);
            rest = rest.get(end + 1..).unwrap_or_default();
        }
        let path = (!rest.is_empty()).then(|| rest.to_vec());
        ListArg { options, path }
    }

    pub fn transfer_type(arg: Option<&[u8]>) -> Result<Option<TransferType>, ParseError> {
        let arg = arg.ok_or(ParseError::MissingArgument)?.to_ascii_uppercase();
        Ok(match arg.as_slice() {
            b"A" | b"A N" => Some(TransferType::Ascii),
            b"I" | b"L 8" | b"L8" => Some(TransferType::Image),
            [b'A' | b'E' | b'I' | b'L', ..] => None,
            _ => return Err(ParseError::BadArgument("unknown type")),
        })
    }

    /// MODE and STRU take one letter; which letters we serve is the handler's business (504).
    pub fn letter(arg: Option<&[u8]>) -> Result<u8, ParseError> {
        match arg.ok_or(ParseError::MissingArgument)? {
            [c] if c.is_ascii_alphabetic() => Ok(c.to_ascii_uppercase()),
            _ => Err(ParseError::BadArgument("expected one letter")),
        }
    }

    pub fn decimal_u64(text: &[u8]) -> Option<u64> {
        if text.is_empty() || text.len() > 20 || !text.iter().all(u8::is_ascii_digit) {
            return None;
        }
        text.iter().try_fold(0u64, |acc, &d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
    }

    /// PBSZ: a decimal buffer size (RFC 2228); TLS uses 0.
    pub fn pbsz(arg: Option<&[u8]>) -> Result<u64, ParseError> {
        decimal_u64(arg.ok_or(ParseError::MissingArgument)?).ok_or(ParseError::BadArgument(
            "expected a decimal size, 0 for TLS",
        ))
    }

    pub fn rest(arg: Option<&[u8]>) -> Result<u64, ParseError> {
        decimal_u64(arg.ok_or(ParseError::MissingArgument)?).ok_or(ParseError::BadArgument(
            "offset must be a whole number of bytes",
        ))
    }

    /// `h1,h2,h3,h4,p1,p2` (RFC 959 4.1.2); every number 0-255.
    pub fn port(arg: Option<&[u8]>) -> Result<SocketAddr, ParseError> {
        let arg = arg.ok_or(ParseError::MissingArgument)?;
        let bad = ParseError::BadArgument("expected h1,h2,h3,h4,p1,p2");
        let mut numbers = [0u8; 6];
        let mut parts = arg.trim_ascii().split(|&b| b == b',');
        for n in &mut numbers {
            let part = parts.next().ok_or(bad)?;
            let value = decimal_u64(part.trim_ascii()).ok_or(bad)?;
            *n = u8::try_from(value).map_err(|_| bad)?;
        }
        if parts.next().is_some() {
            return Err(bad);
        }
        let ip = Ipv4Addr::new(numbers[0], numbers[1], numbers[2], numbers[3]);
        let port = u16::from(numbers[4]) << 8 | u16::from(numbers[5]);
        Ok(SocketAddr::new(IpAddr::V4(ip), port))
    }

    /// `<d><proto><d><address><d><port><d>` (RFC 2428 2), any delimiter in 33-126.
    pub fn eprt(arg: Option<&[u8]>) -> Result<SocketAddr, ParseError> {
        let arg = arg.ok_or(ParseError::MissingArgument)?;
        let bad = ParseError::BadArgument("expected |proto|address|port|");
        let delimiter = *arg.first().ok_or(bad)?;
        if !(33..=126).contains(&delimiter) || arg.len() < 2 || arg.last() != Some(&delimiter) {
            return Err(bad);
        }
        let fields: Vec<&[u8]> = arg[1..arg.len() - 1].split(|&b| b == delimiter).collect();
        let [proto, address, port] = fields.as_slice() else {
            return Err(bad);
        };
        let address = std::str::from_utf8(address).map_err(|_| bad)?;
        let ip: IpAddr = match *proto {
            b"1" => IpAddr::V4(address.parse().map_err(|_| bad)?),
            b"2" => IpAddr::V6(address.parse().map_err(|_| bad)?),
            _ => return Err(ParseError::UnsupportedProtocol),
        };
        let port = decimal_u64(port)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|&p| p != 0)
            .ok_or(bad)?;
        Ok(SocketAddr::new(ip, port))
    }

    pub fn epsv(arg: Option<&[u8]>) -> Result<EpsvArg, ParseError> {
        match arg.map(<[u8]>::to_ascii_uppercase).as_deref() {
            None => Ok(EpsvArg::Any),
            Some(b"1") => Ok(EpsvArg::Ipv4),
            Some(b"2") => Ok(EpsvArg::Ipv6),
            Some(b"ALL") => Ok(EpsvArg::All),
            Some(other) if other.iter().all(u8::is_ascii_digit) => {
                Err(ParseError::UnsupportedProtocol)
            }
            Some(_) => Err(ParseError::BadArgument("expected 1, 2 or ALL")),
        }
    }

    /// `MFMT YYYYMMDDHHMMSS path` (draft-somers-ftp-mfxx), the time in UTC.
    pub fn mfmt(arg: Option<&[u8]>) -> Result<(i64, Vec<u8>), ParseError> {
        let arg = arg.ok_or(ParseError::MissingArgument)?;
        let space = arg
            .iter()
            .position(|&b| b == b' ')
            .ok_or(ParseError::MissingArgument)?;
        let bad_time = ParseError::BadArgument("expected YYYYMMDDHHMMSS");
        let time = CivilTime::parse_ftp_timestamp(&arg[..space]).ok_or(bad_time)?;
        let path = &arg[space + 1..];
        if path.is_empty() {
            return Err(ParseError::MissingArgument);
        }
        let unix = time.to_unix();
        // A leap second on 9999-12-31 23:59:60 is the year 10000, which has no YYYY form.
        if CivilTime::from_unix(unix).year > 9999 {
            return Err(bad_time);
        }
        Ok((unix, path.to_vec()))
    }

    pub fn opts(arg: Option<&[u8]>) -> Result<OptsArg, ParseError> {
        let arg = arg.ok_or(ParseError::MissingArgument)?;
        let (name, value) = match arg.iter().position(|&b| b == b' ') {
            Some(space) => (&arg[..space], &arg[space + 1..]),
            None => (arg, &b""[..]),
        };
        if name.is_empty() {
            // `OPTS  x`: no name to keep, and `OptsArg::Unknown(b"")` could not be printed back.
            return Err(ParseError::BadArgument("expected an option name"));
        }
        let name = name.to_ascii_uppercase();
        match name.as_slice() {
            b"UTF8" | b"UTF-8" => match value.to_ascii_uppercase().as_slice() {
                b"ON" | b"" => Ok(OptsArg::Utf8(true)),
                b"OFF" => Ok(OptsArg::Utf8(false)),
                _ => Err(ParseError::BadArgument("expected ON or OFF")),
            },
            b"MLST" => Ok(OptsArg::Mlst(
                value
                    .split(|&b| b == b';')
                    .filter(|f| !f.is_empty())
                    .map(<[u8]>::to_ascii_lowercase)
                    .collect(),
            )),
            _ => Ok(OptsArg::Unknown(name)),
        }
    }

    fn octal(text: &[u8]) -> Option<u32> {
        if text.is_empty() || text.len() > 4 || !text.iter().all(|b| (b'0'..=b'7').contains(b)) {
            return None;
        }
        Some(text.iter().fold(0, |acc, &d| acc * 8 + u32::from(d - b'0')))
    }

    pub fn site(arg: Option<&[u8]>) -> Result<SiteArg, ParseError> {
        let arg = arg.ok_or(ParseError::MissingArgument)?;
        let mut words = arg.splitn(3, |&b| b == b' ');
        let name = words.next().unwrap_or_default().to_ascii_uppercase();
        if name.is_empty() {
            // `SITE  x`: as for OPTS, an empty name is no command.
            return Err(ParseError::BadArgument("expected a SITE command"));
        }
        let bad_mode = ParseError::BadArgument("expected an octal mode");
        match name.as_slice() {
            b"HELP" => Ok(SiteArg::Help),
            b"CHMOD" => {
                let mode =
                    octal(words.next().ok_or(ParseError::MissingArgument)?).ok_or(bad_mode)?;
                let path = words.next().filter(|p| !p.is_empty());
                Ok(SiteArg::Chmod(
                    mode,
                    path.ok_or(ParseError::MissingArgument)?.to_vec(),
                ))
            }
            b"UMASK" => match words.next() {
                None => Ok(SiteArg::Umask(None)),
                Some(m) => Ok(SiteArg::Umask(Some(octal(m).ok_or(bad_mode)?))),
            },
            _ => Ok(SiteArg::Unknown(name)),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::MissingArgument => f.write_str("Missing argument."),
            ParseError::BadArgument(why) => write!(f, "Syntax error in argument: {why}."),
            ParseError::UnsupportedProtocol => {
                f.write_str("Network protocol not supported, use (1,2).")
            }
        }
    }
}

impl Command {
    /// The canonical verb (aliases such as XPWD map to PWD), for the command table and logs.
    pub fn verb(&self) -> &str {
        use Command::*;
        match self {
            User(_) => "USER",
            Pass(_) => "PASS",
            Acct => "ACCT",
            Quit => "QUIT",
            Rein => "REIN",
            Syst => "SYST",
            Noop => "NOOP",
            Feat => "FEAT",
            Help(_) => "HELP",
            Opts(_) => "OPTS",
            Host(_) => "HOST",
            Clnt(_) => "CLNT",
            Stat(_) => "STAT",
            Pwd => "PWD",
            Cwd(_) => "CWD",
            Cdup => "CDUP",
            Type(_) => "TYPE",
            Mode(_) => "MODE",
            Stru(_) => "STRU",
            Pasv => "PASV",
            Epsv(_) => "EPSV",
            Port(_) => "PORT",
            Eprt(_) => "EPRT",
            Retr(_) => "RETR",
            Stor(_) => "STOR",
            Appe(_) => "APPE",
            Stou => "STOU",
            Rest(_) => "REST",
            Allo => "ALLO",
            Abor => "ABOR",
            List(_) => "LIST",
            Nlst(_) => "NLST",
            Mlsd(_) => "MLSD",
            Mlst(_) => "MLST",
            Mkd(_) => "MKD",
            Rmd(_) => "RMD",
            Dele(_) => "DELE",
            Rnfr(_) => "RNFR",
            Rnto(_) => "RNTO",
            Size(_) => "SIZE",
            Mdtm(_) => "MDTM",
            Mfmt(..) => "MFMT",
            Site(_) => "SITE",
            Auth(_) => "AUTH",
            Pbsz(_) => "PBSZ",
            Prot(_) => "PROT",
            Ccc => "CCC",
            Unknown(verb) => std::str::from_utf8(verb).unwrap_or("?"),
        }
    }

    /// The command as a control line (without CRLF) that parses back to the same command.
    /// Logs use [`Command::loggable`] instead, which hides the password.
    pub fn to_line(&self) -> Vec<u8> {
        use Command::*;
        // An unknown verb goes out as the client's bytes: `verb()` has no name for one that is
        // not UTF-8.
        let verb = match self {
            Unknown(verb) => verb.as_slice(),
            _ => self.verb().as_bytes(),
        };
        let arg: Option<Vec<u8>> = match self {
            User(a) | Pass(a) | Host(a) | Clnt(a) | Cwd(a) | Retr(a) | Stor(a) | Appe(a)
            | Mkd(a) | Rmd(a) | Dele(a) | Rnfr(a) | Rnto(a) | Size(a) | Mdtm(a) | Auth(a) => {
                Some(a.clone())
            }
            Help(a) | Mlsd(a) | Mlst(a) => a.clone(),
            // `STAT -` (an option word with no letters) lists the working directory, unlike a
            // bare STAT (the server status), so an empty listing argument is printed as `-`.
            Stat(a) => a.as_ref().map(|a| {
                Some(list_arg_line(a))
                    .filter(|l| !l.is_empty())
                    .unwrap_or_else(|| b"-".to_vec())
            }),
            List(a) | Nlst(a) => Some(list_arg_line(a)).filter(|l| !l.is_empty()),
            Type(t) => Some(match t {
                Some(TransferType::Ascii) => b"A".to_vec(),
                Some(TransferType::Image) => b"I".to_vec(),
                None => b"E".to_vec(),
            }),
            Mode(c) | Stru(c) | Prot(c) => Some(vec![*c]),
            Pbsz(n) => Some(n.to_string().into_bytes()),
            Epsv(a) => match a {
                EpsvArg::Any => None,
                EpsvArg::Ipv4 => Some(b"1".to_vec()),
                EpsvArg::Ipv6 => Some(b"2".to_vec()),
                EpsvArg::All => Some(b"ALL".to_vec()),
            },
            Port(addr) => Some(port_arg(addr).into_bytes()),
            Eprt(addr) => Some(eprt_arg(addr).into_bytes()),
            Rest(n) => Some(n.to_string().into_bytes()),
            Mfmt(t, p) => {
                let mut a = crate::fs::civil_time::CivilTime::from_unix(*t)
                    .to_ftp_timestamp()
                    .into_bytes();
                a.push(b' ');
                a.extend_from_slice(p);
                Some(a)
            }
            Opts(o) => Some(match o {
                OptsArg::Utf8(on) => {
                    if *on {
                        b"UTF8 ON".to_vec()
                    } else {
                        b"UTF8 OFF".to_vec()
                    }
                }
                OptsArg::Mlst(facts) => {
                    let mut a = b"MLST ".to_vec();
                    for fact in facts {
                        a.extend_from_slice(fact);
                        a.push(b';');
                    }
                    a
                }
                OptsArg::Unknown(name) => name.clone(),
            }),
            Site(s) => Some(match s {
                SiteArg::Help => b"HELP".to_vec(),
                SiteArg::Chmod(mode, path) => {
                    let mut a = format!("CHMOD {mode:o} ").into_bytes();
                    a.extend_from_slice(path);
                    a
                }
                SiteArg::Umask(None) => b"UMASK".to_vec(),
                SiteArg::Umask(Some(m)) => format!("UMASK {m:o}").into_bytes(),
                SiteArg::Unknown(name) => name.clone(),
            }),
            Acct | Quit | Rein | Syst | Noop | Feat | Pwd | Cdup | Pasv | Stou | Allo | Abor
            | Ccc | Unknown(_) => None,
        };
        let mut line = verb.to_vec();
        if let Some(arg) = arg {
            line.push(b' ');
            line.extend_from_slice(&arg);
        }
        line
    }

    /// The line for logs: PASS arguments never reach a log.
    pub fn loggable(&self) -> String {
        match self {
            Command::Pass(_) => "PASS ****".to_string(),
            other => String::from_utf8_lossy(&other.to_line()).into_owned(),
        }
    }
}

fn list_arg_line(arg: &ListArg) -> Vec<u8> {
    let mut line = Vec::new();
    if !arg.options.is_empty() {
        line.push(b'-');
        line.extend_from_slice(&arg.options);
    }
    if let Some(path) = &arg.path {
        if !line.is_empty() {
            line.push(b' ');
        }
        line.extend_from_slice(path);
    }
    line
}

/// The PORT/PASV form of an IPv4 address and port: `h1,h2,h3,h4,p1,p2`.
pub fn port_arg(addr: &SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
    };
    let [a, b, c, d] = ip.octets();
    format!(
        "{a},{b},{c},{d},{},{}",
        addr.port() >> 8,
        addr.port() & 0xFF
    )
}

fn eprt_arg(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(v4) => format!("|1|{}|{}|", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => format!("|2|{}|{}|", v6.ip(), v6.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::command_table::parse;

    fn ok(line: &str) -> Command {
        parse(line.as_bytes()).unwrap()
    }

    fn ok_bytes(line: &[u8]) -> Command {
        parse(line).unwrap()
    }

    #[test]
    fn verbs_are_case_insensitive_and_aliases_map() {
        assert_eq!(ok("user bob"), Command::User(b"bob".to_vec()));
        assert_eq!(ok("XPWD"), Command::Pwd);
        assert_eq!(ok("xcwd /a"), Command::Cwd(b"/a".to_vec()));
        assert_eq!(ok("XCUP"), Command::Cdup);
        assert_eq!(ok("xmkd d"), Command::Mkd(b"d".to_vec()));
        assert_eq!(ok("XRMD d"), Command::Rmd(b"d".to_vec()));
    }

    #[test]
    fn ftps_commands() {
        assert_eq!(ok("auth tls"), Command::Auth(b"TLS".to_vec()));
        assert_eq!(ok("PBSZ 0"), Command::Pbsz(0));
        assert_eq!(ok("prot p"), Command::Prot(b'P'));
        assert_eq!(ok("CCC"), Command::Ccc);
        assert_eq!(
            parse(b"PBSZ x"),
            Err(ParseError::BadArgument(
                "expected a decimal size, 0 for TLS"
            ))
        );
        assert_eq!(parse(b"PROT"), Err(ParseError::MissingArgument));
        assert_eq!(
            parse(b"PROT PP"),
            Err(ParseError::BadArgument("expected one letter"))
        );
        assert_eq!(parse(b"AUTH"), Err(ParseError::MissingArgument));
    }

    #[test]
    fn unknown_verb_is_a_value() {
        assert_eq!(ok("frob x"), Command::Unknown(b"FROB".to_vec()));
        assert_eq!(ok("USERX"), Command::Unknown(b"USERX".to_vec()));
    }

    #[test]
    fn arguments_are_kept_as_is() {
        assert_eq!(ok("RETR a b  c "), Command::Retr(b"a b  c ".to_vec()));
        assert_eq!(
            ok("STOR caf\u{e9}"),
            Command::Stor("caf\u{e9}".as_bytes().to_vec())
        );
        assert_eq!(
            parse(b"RETR \xFF\xFE"),
            Ok(Command::Retr(b"\xFF\xFE".to_vec()))
        );
    }

    #[test]
    fn missing_arguments() {
        for line in [
            "RETR", "RETR ", "CWD", "USER", "PORT", "TYPE", "MKD", "RNFR", "REST", "SIZE",
        ] {
            assert_eq!(
                parse(line.as_bytes()),
                Err(ParseError::MissingArgument),
                "{line}"
            );
        }
        assert_eq!(ok("PASS"), Command::Pass(Vec::new()));
    }

    #[test]
    fn credentials_are_bounded() {
        let long = format!("USER {}", "a".repeat(MAX_CREDENTIAL + 1));
        assert!(matches!(
            parse(long.as_bytes()),
            Err(ParseError::BadArgument(_))
        ));
        let long = format!("PASS {}", "a".repeat(MAX_CREDENTIAL + 1));
        assert!(matches!(
            parse(long.as_bytes()),
            Err(ParseError::BadArgument(_))
        ));
        let max = format!("PASS {}", "a".repeat(MAX_CREDENTIAL));
        assert!(parse(max.as_bytes()).is_ok());
    }

    #[test]
    fn port_forms() {
        assert_eq!(
            ok("PORT 127,0,0,1,4,1"),
            Command::Port("127.0.0.1:1025".parse().unwrap())
        );
        for bad in [
            "PORT 127,0,0,1,4",
            "PORT 256,0,0,1,4,1",
            "PORT 1,2,3,4,5,256",
            "PORT a,b,c,d,e,f",
            "PORT 1,2,3,4,5,6,7",
            "PORT -1,2,3,4,5,6",
        ] {
            assert!(
                matches!(parse(bad.as_bytes()), Err(ParseError::BadArgument(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn eprt_forms() {
        assert_eq!(
            ok("EPRT |1|127.0.0.1|6275|"),
            Command::Eprt("127.0.0.1:6275".parse().unwrap())
        );
        assert_eq!(
            ok("EPRT |2|::1|6275|"),
            Command::Eprt("[::1]:6275".parse().unwrap())
        );
        assert_eq!(
            ok("EPRT !1!10.0.0.1!80!"),
            Command::Eprt("10.0.0.1:80".parse().unwrap())
        );
        assert_eq!(parse(b"EPRT |3|x|1|"), Err(ParseError::UnsupportedProtocol));
        for bad in [
            "EPRT |1|::1|5|",
            "EPRT |1|1.2.3.4|70000|",
            "EPRT |1|1.2.3.4|",
            "EPRT 1|1.2.3.4|5|",
            "EPRT |1|1.2.3.4|0|",
        ] {
            assert!(
                matches!(parse(bad.as_bytes()), Err(ParseError::BadArgument(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn epsv_forms() {
        assert_eq!(ok("EPSV"), Command::Epsv(EpsvArg::Any));
        assert_eq!(ok("EPSV 1"), Command::Epsv(EpsvArg::Ipv4));
        assert_eq!(ok("epsv all"), Command::Epsv(EpsvArg::All));
        assert_eq!(parse(b"EPSV 3"), Err(ParseError::UnsupportedProtocol));
    }

    #[test]
    fn types_modes_structures() {
        assert_eq!(ok("TYPE I"), Command::Type(Some(TransferType::Image)));
        assert_eq!(ok("type a"), Command::Type(Some(TransferType::Ascii)));
        assert_eq!(ok("TYPE A N"), Command::Type(Some(TransferType::Ascii)));
        assert_eq!(ok("TYPE L 8"), Command::Type(Some(TransferType::Image)));
        assert_eq!(ok("TYPE E"), Command::Type(None));
        assert_eq!(ok("TYPE L 16"), Command::Type(None));
        assert!(parse(b"TYPE X").is_err());
        assert_eq!(ok("MODE s"), Command::Mode(b'S'));
        assert_eq!(ok("STRU R"), Command::Stru(b'R'));
        assert!(parse(b"MODE SS").is_err());
    }

    #[test]
    fn rest_is_unsigned_64_bit() {
        assert_eq!(ok("REST 0"), Command::Rest(0));
        assert_eq!(ok("REST 18446744073709551615"), Command::Rest(u64::MAX));
        for bad in [
            "REST -1",
            "REST 1.5",
            "REST 18446744073709551616",
            "REST 12a",
            "REST +3",
        ] {
            assert!(
                matches!(parse(bad.as_bytes()), Err(ParseError::BadArgument(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn list_options_are_not_paths() {
        assert_eq!(ok("LIST"), Command::List(ListArg::default()));
        assert_eq!(
            ok("LIST -la"),
            Command::List(ListArg {
                options: b"la".to_vec(),
                path: None
            })
        );
        assert_eq!(
            ok("LIST -a -l sub dir"),
            Command::List(ListArg {
                options: b"al".to_vec(),
                path: Some(b"sub dir".to_vec())
            })
        );
        assert_eq!(
            ok("NLST dir"),
            Command::Nlst(ListArg {
                options: vec![],
                path: Some(b"dir".to_vec())
            })
        );
    }

    #[test]
    fn opts_and_site_and_mfmt() {
        assert_eq!(ok("OPTS UTF8 ON"), Command::Opts(OptsArg::Utf8(true)));
        assert_eq!(ok("opts utf8 off"), Command::Opts(OptsArg::Utf8(false)));
        assert_eq!(
            ok("OPTS MLST type;Size;"),
            Command::Opts(OptsArg::Mlst(vec![b"type".to_vec(), b"size".to_vec()]))
        );
        assert_eq!(
            ok("SITE CHMOD 644 a b"),
            Command::Site(SiteArg::Chmod(0o644, b"a b".to_vec()))
        );
        assert!(parse(b"SITE CHMOD 999 a").is_err());
        assert_eq!(
            ok("MFMT 20231114221320 a b"),
            Command::Mfmt(1_700_000_000, b"a b".to_vec())
        );
        assert!(parse(b"MFMT 2023 a").is_err());
    }

    #[test]
    fn printed_form_parses_back() {
        let lines = [
            "USER bob",
            "PASS",
            "PASS x y",
            "CWD /a b",
            "TYPE A",
            "TYPE I",
            "TYPE E",
            "MODE S",
            "PORT 127,0,0,1,4,1",
            "EPRT |2|::1|5|",
            "EPSV ALL",
            "REST 5",
            "LIST -la dir",
            "NLST",
            "MLSD",
            "MLST x",
            "STAT",
            "STAT -l d",
            "OPTS UTF8 ON",
            "OPTS MLST type;",
            "OPTS FOO",
            "SITE CHMOD 755 x",
            "SITE UMASK 22",
            "SITE HELP",
            "SITE WHO",
            "MFMT 20231114221320 f",
            "HELP RETR",
            "FOO",
            "ABOR",
            "STOU",
            "HOST example.com",
            "auth tls",
            "AUTH SSL",
            "PBSZ 007",
            "prot p",
            "CCC",
        ];
        for line in lines {
            let cmd = ok(line);
            assert_eq!(parse(&cmd.to_line()), Ok(cmd.clone()), "{line}");
        }
    }

    #[test]
    fn unknown_non_utf8_verb_prints_back_as_itself() {
        // Found by fuzz/command_parser: printed as "?", which parses to Unknown("?").
        let cmd = ok_bytes(b"SITE\xFF WHO");
        assert_eq!(cmd, Command::Unknown(b"SITE\xFF".to_vec()));
        assert_eq!(parse(&cmd.to_line()), Ok(cmd));
    }

    #[test]
    fn opts_and_site_need_a_name() {
        // Found by fuzz/command_parser: `OPTS  x` gave Opts(Unknown("")), printed as "OPTS ",
        // which is a missing argument. The same held for SITE.
        for line in [
            "OPTS  x",
            "OPTS  ",
            "SITE  x",
            "SITE  CHMOD 644 f",
            "SITE  ",
        ] {
            assert!(
                matches!(parse(line.as_bytes()), Err(ParseError::BadArgument(_))),
                "{line}"
            );
        }
        assert_eq!(ok("OPTS x"), Command::Opts(OptsArg::Unknown(b"X".to_vec())));
        assert_eq!(
            ok("SITE x y"),
            Command::Site(SiteArg::Unknown(b"X".to_vec()))
        );
    }

    #[test]
    fn stat_with_an_empty_listing_argument_stays_a_listing() {
        // Found by fuzz/command_parser: `STAT -` printed as "STAT ", which is the status.
        for line in ["STAT -", "STAT - -"] {
            let cmd = ok(line);
            assert_eq!(cmd, Command::Stat(Some(ListArg::default())), "{line}");
            assert_eq!(parse(&cmd.to_line()), Ok(cmd), "{line}");
        }
        assert_eq!(ok("STAT"), Command::Stat(None));
        assert_eq!(parse(&ok("STAT").to_line()), Ok(Command::Stat(None)));
    }

    #[test]
    fn mfmt_leap_second_at_the_end_of_9999_is_refused() {
        // Found by review while writing fuzz/command_parser: 99991231235960 is 10000-01-01
        // 00:00:00, printed as the 15-digit "100000101000000", which does not parse.
        assert!(matches!(
            parse(b"MFMT 99991231235960 f"),
            Err(ParseError::BadArgument(_))
        ));
        for line in ["MFMT 99991231235959 f", "MFMT 20161231235960 f"] {
            let cmd = ok(line);
            assert_eq!(parse(&cmd.to_line()), Ok(cmd), "{line}");
        }
    }

    #[test]
    fn password_never_in_log_form() {
        assert_eq!(ok("PASS hunter2").loggable(), "PASS ****");
    }
}
