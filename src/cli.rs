//! Command-line flags: a pure function from arguments to a [`Config`] (or a usage error).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use getopts::{Matches, Options};
use log::LevelFilter;

use crate::config::{Account, AccountRoot, Config, Credential, TlsConfig};

pub mod man;

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum CliAction {
    Serve(Box<Config>, Verbosity),
    HashPassword,
    Help(String),
    Version,
}

/// Log level chosen by `-v`/`-q`; `None` leaves it to `RUST_LOG` (default info).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verbosity(pub Option<LevelFilter>);

/// A bad flag or value: a one-line reason; the caller prints it with the usage and exits 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

/// How a flag takes its argument, and what giving it again does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No argument; giving it twice is the same as once.
    Flag,
    /// One argument; when given more than once the last one wins, as with most daemons, so
    /// `ExecStart=tinyftpd $TINYFTPD_OPTS --port 21` overrides the port in the options.
    Value,
    /// One argument each time, and every one counts (`-b`, `-u`).
    Repeatable,
}

/// One command-line flag. [`FLAGS`] is the only list of them: the parser, `--help` and the man
/// page (`man::man_page`) are all built from it, so none can name a flag the others lack.
#[derive(Debug)]
pub struct Opt {
    /// One letter, or empty.
    pub short: &'static str,
    pub long: &'static str,
    /// What the argument looks like (`PORT`); empty for a [`Kind::Flag`].
    pub hint: &'static str,
    pub kind: Kind,
    /// The default as `--help` and the man page show it; empty when there is none to state.
    /// A unit test checks the numeric ones against `config`.
    pub default: &'static str,
    /// One line for `--help`.
    pub help: &'static str,
    /// More for the man page, after the help line; may be empty.
    pub more: &'static str,
}

const fn opt(
    short: &'static str,
    long: &'static str,
    hint: &'static str,
    kind: Kind,
    default: &'static str,
    help: &'static str,
    more: &'static str,
) -> Opt {
    Opt {
        short,
        long,
        hint,
        kind,
        default,
        help,
        more,
    }
}

use Kind::{Flag, Repeatable, Value};

/// Every flag, in `--help` order. One row per flag, so kept out of rustfmt's way.
#[rustfmt::skip]
pub static FLAGS: &[Opt] = &[
    opt("p", "port", "PORT", Value, "2121",
        "port to listen on; 0 picks a free one",
        "The start-up line on standard output names the address. Ignored when systemd passes \
         listening sockets (socket activation): the port is then the .socket unit's."),
    opt("b", "bind", "ADDR", Repeatable, "all interfaces, IPv6 and IPv4",
        "address to listen on, repeatable",
        "Without it, one dual-stack [::] socket serves IPv6 and IPv4 (0.0.0.0 where IPv6 is off)."),
    opt("w", "writable", "", Flag, "read-only",
        "allow uploads, mkdir, delete and rename to every login",
        "Anonymous included; an account's :ro or :rw wins over it."),
    opt("u", "user", "NAME:PASSWORD[:ro|:rw[:/SUB]]", Repeatable, "",
        "an account, repeatable; :ro/:rw wins over -w; turns anonymous off unless --anonymous",
        "With :/SUB the account sees only that directory of DIR, as its /. \
         The password is visible to other local users in ps(1); use --users outside quick tests."),
    opt("", "users", "FILE", Value, "",
        "accounts file, one name:crypt-hash:ro|rw[:/SUB] per line ($6$/$5$ hashes); re-read on SIGHUP",
        "See FILES. Like -u it turns anonymous off unless --anonymous is given."),
    opt("", "hash-password", "", Flag, "",
        "read a password from stdin, print its $6$ hash for --users, and exit", ""),
    opt("", "umask", "MASK", Value, "022",
        "umask for uploads and new directories; uploads never get execute bits", ""),
    opt("", "chroot", "", Flag, "",
        "chroot into DIR after binding (needs root)", ""),
    opt("", "run-as", "USER", Value, "",
        "drop root privileges to USER after binding (groups, gid, uid)",
        "The server then checks that root cannot be regained, and refuses to serve if it can."),
    opt("", "shutdown-grace", "SECS", Value, "30",
        "on SIGTERM/SIGINT, let transfers finish for up to SECS", "From 0 to 31536000 (a year)."),
    opt("", "anonymous", "", Flag, "on when no -u or --users is given",
        "accept anonymous/ftp with any password", ""),
    opt("", "anonymous-root", "SUB", Value, "all of DIR",
        "anonymous logins see only the directory SUB of DIR, as their /",
        "SUB is relative to DIR and must be a directory inside it at start; it does not turn \
         anonymous on."),
    opt("", "pasv-ports", "MIN-MAX", Value, "any free port",
        "passive data port range",
        "Open the range in the firewall, and forward it behind NAT."),
    opt("", "pasv-address", "IP", Value, "the control connection's",
        "IPv4 address to announce in PASV replies, for NAT", ""),
    opt("", "max-clients", "N", Value, "200",
        "most sessions at once", "Beyond it a new connection is answered 421 and closed."),
    opt("", "max-per-ip", "N", Value, "32",
        "most sessions from one IP", ""),
    opt("", "idle-timeout", "SECS", Value, "300",
        "close an idle control connection after SECS",
        "Never during a transfer. From 1 to 31536000 (a year)."),
    opt("", "data-timeout", "SECS", Value, "30",
        "wait for a data connection or data progress at most SECS",
        "From 1 to 31536000 (a year)."),
    opt("", "show-dotfiles", "", Flag, "",
        "LIST and NLST show dot files even without -a", ""),
    opt("", "banner", "TEXT", Value, "\"tinyftpd ready.\"",
        "text of the 220 greeting", "One line without control characters."),
    opt("", "max-rate", "RATE", Value, "unlimited",
        "most bytes per second for each transfer, with K or M for KiB/MiB", ""),
    opt("", "port-20", "", Flag, "off",
        "active-mode data connections come from the control port minus one, 20 when serving on 21",
        "Below 1024 that needs root, so with --run-as the control port must be above 1024."),
    opt("", "xferlog", "FILE", Value, "none",
        "append one xferlog-format line per transfer to FILE",
        "Reopened on SIGHUP and when the file is renamed or deleted (not under --chroot)."),
    opt("", "syslog", "", Flag, "off",
        "log to the local syslog socket (/dev/log, facility daemon) instead of stderr",
        "Connected before --chroot; a line syslogd cannot take at once is dropped and counted, \
         never waited for."),
    opt("", "tls-cert", "FILE", Value, "",
        "PEM certificate chain for FTPS; with --tls-key, AUTH TLS is offered; re-read on SIGHUP",
        "Needs a build with the tls feature. RSA, ECDSA or Ed25519; a certificate that does not \
         match the key stops the start."),
    opt("", "tls-key", "FILE", Value, "",
        "PEM private key of --tls-cert", "Read before privileges are dropped."),
    opt("", "tls-required", "", Flag, "off",
        "accounts must use AUTH TLS before USER and PROT P for data",
        "USER before AUTH TLS gets 530, a transfer without PROT P 521. Anonymous logins stay \
         allowed in clear text."),
    opt("", "tls-required-anonymous", "", Flag, "off",
        "anonymous logins too must use TLS (implies --tls-required)", ""),
    opt("", "implicit-tls", "", Flag, "off",
        "implicit FTPS: every listener speaks TLS from the first byte (port 990 by convention)",
        "Data connections are then always protected."),
    opt("", "tls-reuse-required", "", Flag, "off",
        "a protected data connection must resume its control connection's TLS session",
        "Otherwise it is refused with 522. Defeats data-connection theft; curl and lftp resume, \
         Python's ftplib does not."),
    opt("i", "inetd", "", Flag, "off",
        "serve one session on stdin/stdout, for inetd, xinetd, tcpsvd and systemd Accept=yes", ""),
    opt("", "pidfile", "FILE", Value, "none",
        "write the process id to FILE once listening, remove it on exit", ""),
    opt("v", "verbose", "", Flag, "",
        "log every command (debug level)", "Passwords are never logged. The later of -v and -q wins."),
    opt("q", "quiet", "", Flag, "",
        "log warnings and errors only", ""),
    opt("h", "help", "", Flag, "", "print this help", ""),
    opt("V", "version", "", Flag, "", "print the version", ""),
];

impl Opt {
    /// The help line, with the default when there is one.
    pub fn help_line(&self) -> String {
        if self.default.is_empty() {
            self.help.to_string()
        } else {
            format!("{} (default: {})", self.help, self.default)
        }
    }
}

/// The getopts parser for [`FLAGS`]. Every flag that takes a value is registered as repeatable:
/// getopts refuses a second `--port`, and the caller picks the last value (or all of them).
fn options() -> Options {
    let mut o = Options::new();
    for f in FLAGS {
        let help = f.help_line();
        match f.kind {
            Flag => o.optflagmulti(f.short, f.long, &help),
            Value | Repeatable => o.optmulti(f.short, f.long, &help, f.hint),
        };
    }
    o
}

/// What `--help` says before the flags; the man page's DESCRIPTION says the same at length.
const USAGE_BRIEF: &str = "Usage: tinyftpd [OPTIONS] [DIR]\n\nServes DIR (default: the current directory) over FTP, anonymous and read-only unless flags say otherwise.\nStarted by systemd with LISTEN_FDS, it serves on the sockets passed instead of binding.\nRuns in the foreground. Logging goes to stderr (or syslog with --syslog) and follows RUST_LOG.\nA flag given twice: the last one wins; -b and -u add up.";

/// The usage text that `--help` and usage errors print.
pub fn usage() -> String {
    options().usage(USAGE_BRIEF)
}

/// The value of a [`Kind::Value`] flag: the last one given.
fn value(m: &Matches, name: &str) -> Option<String> {
    m.opt_strs(name).pop()
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<CliAction, UsageError> {
    let m = options()
        .parse(args)
        .map_err(|e| UsageError(e.to_string()))?;
    if m.opt_present("help") {
        return Ok(CliAction::Help(usage()));
    }
    if m.opt_present("version") {
        return Ok(CliAction::Version);
    }
    if m.opt_present("hash-password") {
        return Ok(CliAction::HashPassword);
    }
    if m.free.len() > 1 {
        return Err(UsageError(format!(
            "expected at most one DIR, got {}",
            m.free.len()
        )));
    }
    // -v and -q set one thing, the log level: like any other flag, the later one wins.
    let verbosity = match (
        m.opt_positions("verbose").last(),
        m.opt_positions("quiet").last(),
    ) {
        (Some(v), Some(q)) if v > q => Verbosity(Some(LevelFilter::Debug)),
        (_, Some(_)) => Verbosity(Some(LevelFilter::Warn)),
        (Some(_), None) => Verbosity(Some(LevelFilter::Debug)),
        (None, None) => Verbosity(None),
    };
    Ok(CliAction::Serve(Box::new(config_from(&m)?), verbosity))
}

fn config_from(m: &Matches) -> Result<Config, UsageError> {
    let mut c = Config::new(m.free.first().map_or(".", String::as_str));
    if let Some(port) = number::<u16>(m, "port")? {
        c.port = port;
    }
    c.bind = m
        .opt_strs("bind")
        .iter()
        .map(|a| {
            parse_ip(a).ok_or_else(|| UsageError(format!("--bind: '{a}' is not an IP address")))
        })
        .collect::<Result<_, _>>()?;
    c.anonymous_writable = m.opt_present("writable");
    c.accounts = m
        .opt_strs("user")
        .iter()
        .map(|spec| parse_account(spec, c.anonymous_writable))
        .collect::<Result<_, _>>()?;
    c.users_file = value(m, "users").map(Into::into);
    c.anonymous = (c.accounts.is_empty() && c.users_file.is_none()) || m.opt_present("anonymous");
    c.anonymous_root = value(m, "anonymous-root")
        .map(|sub| AccountRoot::parse(&sub, "--anonymous-root"))
        .transpose()
        .map_err(|e| UsageError(format!("--anonymous-root: {e}")))?;
    if let Some(mask) = value(m, "umask") {
        c.umask = u32::from_str_radix(&mask, 8)
            .ok()
            .filter(|&u| u <= 0o777)
            .ok_or_else(|| {
                UsageError(format!("--umask: '{mask}' is not an octal mask like 022"))
            })?;
    }
    c.chroot = m.opt_present("chroot");
    c.run_as = value(m, "run-as");
    if let Some(grace) = seconds(m, "shutdown-grace", 0)? {
        c.shutdown_grace = grace;
    }
    if let Some(range) = value(m, "pasv-ports") {
        c.pasv_ports = Some(parse_port_range(&range)?);
    }
    if let Some(ip) = value(m, "pasv-address") {
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| UsageError(format!("--pasv-address: '{ip}' is not an IPv4 address")))?;
        c.pasv_address = Some(ip);
    }
    c.show_dotfiles = m.opt_present("show-dotfiles");
    if let Some(n) = positive::<usize>(m, "max-clients")? {
        c.max_clients = n;
    }
    if let Some(n) = positive::<usize>(m, "max-per-ip")? {
        c.max_per_ip = n;
    }
    if let Some(timeout) = seconds(m, "idle-timeout", 1)? {
        c.idle_timeout = timeout;
    }
    if let Some(timeout) = seconds(m, "data-timeout", 1)? {
        c.data_timeout = timeout;
    }
    if let Some(text) = value(m, "banner") {
        c.banner = parse_banner(&text)?;
    }
    if let Some(rate) = value(m, "max-rate") {
        c.max_rate = Some(parse_rate(&rate)?);
    }
    c.port_20 = m.opt_present("port-20");
    c.xferlog = value(m, "xferlog").map(PathBuf::from);
    c.syslog = m.opt_present("syslog");
    c.inetd = m.opt_present("inetd");
    c.pidfile = value(m, "pidfile").map(PathBuf::from);
    c.tls = tls_from(m)?;
    if c.inetd && c.pidfile.is_some() {
        return Err(UsageError(
            "--pidfile does not apply to --inetd, where each session is its own process".into(),
        ));
    }
    Ok(c)
}

/// What a TLS flag in a build without the `tls` feature says (exit status 2, as any usage error).
pub const NO_TLS: &str = "built without TLS; rebuild with --features tls";

/// The FTPS flags: both files or neither, and the other TLS flags only with them.
fn tls_from(m: &Matches) -> Result<Option<TlsConfig>, UsageError> {
    let switches = [
        "tls-required",
        "tls-required-anonymous",
        "implicit-tls",
        "tls-reuse-required",
    ];
    let cert = value(m, "tls-cert").map(PathBuf::from);
    let key = value(m, "tls-key").map(PathBuf::from);
    let switch_given = switches.iter().find(|s| m.opt_present(s));
    if cert.is_none() && key.is_none() && switch_given.is_none() {
        return Ok(None);
    }
    if cfg!(not(feature = "tls")) {
        return Err(UsageError(NO_TLS.into()));
    }
    let (cert, key) = match (cert, key) {
        (Some(cert), Some(key)) => (cert, key),
        (Some(_), None) => return Err(UsageError("--tls-cert needs --tls-key".into())),
        (None, Some(_)) => return Err(UsageError("--tls-key needs --tls-cert".into())),
        (None, None) => {
            return Err(UsageError(format!(
                "--{} needs --tls-cert and --tls-key",
                switch_given.map_or("tls-required", |s| *s)
            )))
        }
    };
    let required_anonymous = m.opt_present("tls-required-anonymous");
    Ok(Some(TlsConfig {
        cert,
        key,
        required: m.opt_present("tls-required") || required_anonymous,
        required_anonymous,
        implicit: m.opt_present("implicit-tls"),
        reuse_required: m.opt_present("tls-reuse-required"),
    }))
}

/// `--banner`: one line of printable text (a CR or LF would end the reply early).
fn parse_banner(text: &str) -> Result<String, UsageError> {
    if text.chars().any(char::is_control) {
        return Err(UsageError(
            "--banner: the text must be one line without control characters".into(),
        ));
    }
    Ok(text.to_string())
}

/// `--max-rate`: bytes per second, with an optional `K` (KiB) or `M` (MiB) suffix.
pub fn parse_rate(text: &str) -> Result<u64, UsageError> {
    let bad = || {
        UsageError(format!(
            "--max-rate: expected bytes per second such as 500000, 200K or 2M, got '{text}'"
        ))
    };
    let (digits, unit) = match text.char_indices().last() {
        Some((i, 'k' | 'K')) => (&text[..i], 1024),
        Some((i, 'm' | 'M')) => (&text[..i], 1024 * 1024),
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let rate = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(bad)?;
    if rate == 0 {
        return Err(UsageError(
            "--max-rate must be at least 1 (leave it out for no limit)".into(),
        ));
    }
    Ok(rate)
}

fn number<T: std::str::FromStr>(m: &Matches, name: &str) -> Result<Option<T>, UsageError> {
    value(m, name)
        .map(|v| {
            v.parse()
                .map_err(|_| UsageError(format!("--{name}: '{v}' is not a valid number")))
        })
        .transpose()
}

/// The longest duration any flag takes, in seconds: a year. Sessions add these to the clock
/// (deadlines), and a sum beyond what `Instant` holds panics; a year is far below that on every
/// platform and far above any timeout anyone means.
pub const MAX_SECONDS: u64 = 365 * 24 * 60 * 60;

/// A duration flag in whole seconds, `min..=MAX_SECONDS`.
fn seconds(m: &Matches, name: &str, min: u64) -> Result<Option<Duration>, UsageError> {
    let out_of_range = || {
        UsageError(format!(
            "--{name}: expected whole seconds from {min} to {MAX_SECONDS} (a year)"
        ))
    };
    let Some(text) = value(m, name) else {
        return Ok(None);
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UsageError(format!(
            "--{name}: '{text}' is not a valid number"
        )));
    }
    match text.parse::<u64>() {
        Ok(secs) if (min..=MAX_SECONDS).contains(&secs) => Ok(Some(Duration::from_secs(secs))),
        _ => Err(out_of_range()),
    }
}

fn positive<T: std::str::FromStr + Default + PartialEq>(
    m: &Matches,
    name: &str,
) -> Result<Option<T>, UsageError> {
    match number::<T>(m, name)? {
        Some(v) if v == T::default() => Err(UsageError(format!("--{name} must be at least 1"))),
        other => Ok(other),
    }
}

fn parse_ip(text: &str) -> Option<IpAddr> {
    text.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// `NAME:PASSWORD[:ro|:rw[:/SUB]]`. The password may itself contain `:`; only a final
/// `:ro`/`:rw` is taken as the access suffix, or one followed by a last field that starts with
/// `/` (the account's folder, which therefore holds no `:` here).
pub fn parse_account(spec: &str, default_writable: bool) -> Result<Account, UsageError> {
    let bad = || {
        UsageError(format!(
            "--user: expected NAME:PASSWORD[:ro|:rw[:/SUB]], got '{}'",
            spec.split(':').next().unwrap_or("")
        ))
    };
    let (name, rest) = spec.split_once(':').ok_or_else(bad)?;
    let (rest, folder) = match rest.rsplit_once(':') {
        Some((before, folder))
            if folder.starts_with('/') && (before.ends_with(":ro") || before.ends_with(":rw")) =>
        {
            (before, Some(folder))
        }
        _ => (rest, None),
    };
    let (password, writable) = if let Some(p) = rest.strip_suffix(":rw") {
        (p, true)
    } else if let Some(p) = rest.strip_suffix(":ro") {
        (p, false)
    } else {
        (rest, default_writable)
    };
    if name.is_empty() || password.is_empty() {
        return Err(bad());
    }
    if name.eq_ignore_ascii_case("anonymous") || name.eq_ignore_ascii_case("ftp") {
        return Err(UsageError(format!(
            "--user: '{name}' is the anonymous login; use --anonymous"
        )));
    }
    let root = folder
        .map(|folder| AccountRoot::parse(folder, &format!("-u {name}")))
        .transpose()
        .map_err(|e| UsageError(format!("--user {name}: {e}")))?;
    Ok(Account {
        name: name.to_string(),
        credential: Credential::Plain(password.to_string()),
        writable,
        root,
    })
}

pub fn parse_port_range(text: &str) -> Result<std::ops::RangeInclusive<u16>, UsageError> {
    let bad = || {
        UsageError(format!(
            "--pasv-ports: expected MIN-MAX with 1 <= MIN <= MAX <= 65535, got '{text}'"
        ))
    };
    let (min, max) = text.split_once('-').ok_or_else(bad)?;
    let min: u16 = min.trim().parse().map_err(|_| bad())?;
    let max: u16 = max.trim().parse().map_err(|_| bad())?;
    if min == 0 || min > max {
        return Err(bad());
    }
    Ok(min..=max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn serve(args: &[&str]) -> Config {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&args) {
            Ok(CliAction::Serve(c, _)) => *c,
            other => panic!("{other:?}"),
        }
    }

    fn usage_error(args: &[&str]) -> String {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&args) {
            Err(UsageError(e)) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = serve(&[]);
        assert_eq!(c, Config::new("."));
        assert!(c.anonymous && !c.anonymous_writable);
        assert_eq!(c.port, 2121);
    }

    #[test]
    fn all_flags() {
        let c = serve(&[
            "-p",
            "0",
            "-b",
            "127.0.0.1",
            "-b",
            "::1",
            "-w",
            "--pasv-ports",
            "50000-50010",
            "--pasv-address",
            "192.0.2.1",
            "--max-clients",
            "5",
            "--max-per-ip",
            "2",
            "--idle-timeout",
            "9",
            "--data-timeout",
            "3",
            "/srv",
        ]);
        assert_eq!(c.port, 0);
        assert_eq!(
            c.bind,
            vec![
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert!(c.anonymous_writable && c.anonymous);
        assert_eq!(c.pasv_ports, Some(50000..=50010));
        assert_eq!(c.pasv_address, Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!((c.max_clients, c.max_per_ip), (5, 2));
        assert_eq!(c.idle_timeout, Duration::from_secs(9));
        assert_eq!(c.data_timeout, Duration::from_secs(3));
        assert_eq!(c.root, std::path::PathBuf::from("/srv"));
    }

    #[test]
    fn accounts_and_anonymous_rules() {
        let c = serve(&["-u", "alice:se:cret"]);
        assert!(!c.anonymous);
        assert_eq!(
            c.accounts,
            vec![Account {
                name: "alice".into(),
                credential: Credential::Plain("se:cret".into()),
                writable: false,
                root: None,
            }]
        );
        let c = serve(&["-w", "-u", "a:b", "-u", "c:d:ro", "--anonymous"]);
        assert!(c.anonymous && c.anonymous_writable);
        assert!(c.accounts[0].writable && !c.accounts[1].writable);
        let c = serve(&["--anonymous", "-u", "alice:secret:rw"]);
        assert!(c.anonymous && !c.anonymous_writable && c.accounts[0].writable);
    }

    #[test]
    fn security_flags() {
        let c = serve(&[
            "--users",
            "/etc/ftpusers",
            "--umask",
            "077",
            "--chroot",
            "--run-as",
            "nobody",
            "--shutdown-grace",
            "5",
        ]);
        assert!(!c.anonymous, "a users file turns anonymous off");
        assert_eq!(c.users_file, Some("/etc/ftpusers".into()));
        assert_eq!(c.umask, 0o077);
        assert!(c.chroot);
        assert_eq!(c.run_as.as_deref(), Some("nobody"));
        assert_eq!(c.shutdown_grace, Duration::from_secs(5));
        assert!(serve(&["--users", "f", "--anonymous"]).anonymous);
        assert!(usage_error(&["--umask", "999"]).contains("--umask"));
        assert!(usage_error(&["--umask", "1777"]).contains("--umask"));
        assert_eq!(
            parse(&["--hash-password".to_string()]),
            Ok(CliAction::HashPassword)
        );
    }

    #[test]
    fn bad_values_are_usage_errors() {
        assert!(usage_error(&["-p", "70000"]).contains("--port"));
        assert!(usage_error(&["-p", "x"]).contains("--port"));
        assert!(usage_error(&["-b", "nowhere"]).contains("--bind"));
        assert!(usage_error(&["-u", "nopassword"]).contains("--user"));
        assert!(usage_error(&["-u", "anonymous:x"]).contains("--user"));
        assert!(usage_error(&["--pasv-ports", "5000-4000"]).contains("--pasv-ports"));
        assert!(usage_error(&["--pasv-ports", "0-10"]).contains("--pasv-ports"));
        assert!(usage_error(&["--pasv-address", "::1"]).contains("--pasv-address"));
        assert!(usage_error(&["--max-clients", "0"]).contains("--max-clients"));
        assert!(usage_error(&["--frobnicate"]).contains("frobnicate"));
        assert!(usage_error(&["a", "b"]).contains("DIR"));
    }

    #[test]
    fn operations_flags() {
        let c = serve(&[
            "--banner",
            "Scanner drop box",
            "--max-rate",
            "200K",
            "--port-20",
            "--xferlog",
            "/var/log/xferlog",
            "--pidfile",
            "/run/tinyftpd.pid",
        ]);
        assert_eq!(c.banner, "Scanner drop box");
        assert_eq!(c.max_rate, Some(200 * 1024));
        assert!(c.port_20 && !c.inetd);
        assert_eq!(c.xferlog, Some(PathBuf::from("/var/log/xferlog")));
        assert_eq!(c.pidfile, Some(PathBuf::from("/run/tinyftpd.pid")));
        let c = serve(&["-i"]);
        assert!(c.inetd && c.pidfile.is_none() && c.xferlog.is_none());
        assert_eq!(c.banner, config::DEFAULT_BANNER);
        assert!(!c.banner.contains(env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("1"), Ok(1));
        assert_eq!(parse_rate("500000"), Ok(500_000));
        assert_eq!(parse_rate("200k"), Ok(204_800));
        assert_eq!(parse_rate("2M"), Ok(2 * 1024 * 1024));
        for bad in [
            "",
            "K",
            "0",
            "0K",
            "-5",
            "1.5M",
            "10G",
            "1 K",
            "99999999999999999999",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_rate("18446744073709551615M").is_err());
    }

    #[test]
    fn bad_operations_values() {
        assert!(usage_error(&["--banner", "two\r\nlines"]).contains("--banner"));
        assert!(usage_error(&["--max-rate", "fast"]).contains("--max-rate"));
        assert!(usage_error(&["--inetd", "--pidfile", "/x"]).contains("--pidfile"));
        assert!(usage_error(&["--pasv-ports", ""]).contains("--pasv-ports"));
        assert!(usage_error(&["--pasv-ports", "5000"]).contains("--pasv-ports"));
        assert!(usage_error(&["--pasv-ports", "5000-"]).contains("--pasv-ports"));
        assert!(usage_error(&["--pasv-address", "ftp.example.com"]).contains("--pasv-address"));
    }

    #[test]
    fn help_and_version() {
        assert!(
            matches!(parse(&["--help".to_string()]), Ok(CliAction::Help(h)) if h.contains("--pasv-ports"))
        );
        assert_eq!(parse(&["-V".to_string()]), Ok(CliAction::Version));
    }

    #[test]
    fn an_account_folder_follows_the_access() {
        let c = serve(&[
            "-u",
            "scanner:pw:rw:/scanner/in",
            "-u",
            "odd:p:ro:/x:rw",
            "-u",
            "plain:a:rw:b",
            "--anonymous-root",
            "pub",
        ]);
        let shown = |a: &Account| a.root.as_ref().map(|r| (r.shown(), r.origin.clone()));
        assert_eq!(
            shown(&c.accounts[0]),
            Some(("/scanner/in".into(), "-u scanner".into()))
        );
        assert!(c.accounts[0].writable);
        // The last field is the access, so ':/x' belongs to the password.
        assert_eq!(
            c.accounts[1].credential,
            Credential::Plain("p:ro:/x".into())
        );
        assert!(c.accounts[1].writable && c.accounts[1].root.is_none());
        // Without a leading '/' the last field is not a folder.
        assert_eq!(c.accounts[2].credential, Credential::Plain("a:rw:b".into()));
        assert_eq!(c.anonymous_root.map(|r| r.shown()), Some("/pub".into()));
        let error = usage_error(&["-u", "cam:s3cret:rw:/../etc"]);
        assert!(
            error.contains("--user cam") && error.contains("'..'"),
            "{error}"
        );
        assert!(!error.contains("s3cret"), "{error}");
        assert!(usage_error(&["--anonymous-root", "a/../.."]).contains("--anonymous-root"));
    }

    #[test]
    fn usage_error_never_echoes_a_password() {
        // Each spec is a usage error that carries a password: the message may name the user
        // but never the password.
        for spec in [":s3cret", ":s3cret:rw", "anonymous:s3cret", "ftp:s3cret:ro"] {
            let error = usage_error(&["-u", spec]);
            assert!(error.contains("--user"), "{spec}: {error}");
            assert!(!error.contains("s3cret"), "{spec}: {error}");
        }
    }

    #[test]
    fn durations_are_bounded() {
        for flag in ["--idle-timeout", "--data-timeout", "--shutdown-grace"] {
            let max = MAX_SECONDS.to_string();
            let c = serve(&[flag, &max]);
            let longest = Duration::from_secs(MAX_SECONDS);
            assert!(
                [c.idle_timeout, c.data_timeout, c.shutdown_grace].contains(&longest),
                "{flag}"
            );
            for bad in [
                (MAX_SECONDS + 1).to_string(),
                u64::MAX.to_string(),
                "99999999999999999999999".to_string(),
            ] {
                let error = usage_error(&[flag, &bad]);
                assert!(error.contains(flag) && error.contains(&max), "{error}");
            }
            assert!(usage_error(&[flag, "-1"]).contains(flag));
            assert!(usage_error(&[flag, "x"]).contains(flag));
        }
        assert!(usage_error(&["--idle-timeout", "0"]).contains("from 1"));
        assert!(usage_error(&["--data-timeout", "0"]).contains("from 1"));
        assert_eq!(
            serve(&["--shutdown-grace", "0"]).shutdown_grace,
            Duration::ZERO
        );
    }

    #[test]
    fn a_flag_given_twice_last_one_wins() {
        // The `ExecStart=tinyftpd $TINYFTPD_OPTS --port 21` override pattern: a later value
        // replaces an earlier one instead of being refused.
        let c = serve(&[
            "--port",
            "21",
            "-p",
            "0",
            "--banner",
            "first",
            "--banner",
            "second",
            "--max-clients",
            "5",
            "--max-clients",
            "7",
            "--idle-timeout",
            "9",
            "--idle-timeout",
            "10",
            "--users",
            "/etc/a",
            "--users",
            "/etc/b",
            "--run-as",
            "nobody",
            "--run-as",
            "ftp",
            "--umask",
            "077",
            "--umask",
            "027",
        ]);
        assert_eq!(c.port, 0);
        assert_eq!(c.banner, "second");
        assert_eq!(c.max_clients, 7);
        assert_eq!(c.idle_timeout, Duration::from_secs(10));
        assert_eq!(c.users_file, Some("/etc/b".into()));
        assert_eq!(c.run_as.as_deref(), Some("ftp"));
        assert_eq!(c.umask, 0o027);
        // Only the value that wins is checked: an earlier bad value is overridden, not fatal.
        assert_eq!(serve(&["-p", "x", "-p", "21"]).port, 21);
        assert!(usage_error(&["-p", "21", "-p", "x"]).contains("--port"));
    }

    #[test]
    fn repeatable_flags_accumulate_and_booleans_repeat() {
        let c = serve(&["-b", "127.0.0.1", "-b", "::1", "-u", "a:b", "-u", "c:d"]);
        assert_eq!(c.bind.len(), 2);
        assert_eq!(c.accounts.len(), 2);
        let c = serve(&["-w", "--writable", "--chroot", "--chroot", "-i", "-i"]);
        assert!(c.anonymous_writable && c.chroot && c.inetd);
        // -v and -q set one thing, the log level: the later one wins.
        let level = |args: &[&str]| {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            match parse(&args) {
                Ok(CliAction::Serve(_, v)) => v,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(level(&["-v", "-q"]), Verbosity(Some(LevelFilter::Warn)));
        assert_eq!(level(&["-q", "-v"]), Verbosity(Some(LevelFilter::Debug)));
        assert_eq!(level(&["-v", "-v"]), Verbosity(Some(LevelFilter::Debug)));
    }

    #[test]
    fn flag_table_is_consistent() {
        let mut names: Vec<&str> = FLAGS.iter().map(|f| f.long).collect();
        names.extend(FLAGS.iter().map(|f| f.short).filter(|s| !s.is_empty()));
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a flag name is used twice");
        for f in FLAGS {
            assert_eq!(f.hint.is_empty(), f.kind == Kind::Flag, "--{}", f.long);
            assert!(
                f.short.chars().count() <= 1 && f.long.len() > 1,
                "--{}",
                f.long
            );
        }
    }

    #[test]
    fn tls_flags() {
        let both = ["--tls-cert", "c.pem", "--tls-key", "k.pem"];
        if cfg!(feature = "tls") {
            let c = serve(&both);
            let tls = c.tls.expect("tls");
            assert_eq!((tls.cert, tls.key), ("c.pem".into(), "k.pem".into()));
            assert!(!tls.required && !tls.implicit && !tls.reuse_required);
            let mut args = both.to_vec();
            args.extend([
                "--tls-required-anonymous",
                "--implicit-tls",
                "--tls-reuse-required",
            ]);
            let tls = serve(&args).tls.expect("tls");
            assert!(tls.required && tls.required_anonymous && tls.implicit && tls.reuse_required);
            assert!(usage_error(&["--tls-cert", "c.pem"]).contains("--tls-key"));
            assert!(usage_error(&["--tls-key", "k.pem"]).contains("--tls-cert"));
            assert!(usage_error(&["--implicit-tls"]).contains("--implicit-tls needs --tls-cert"));
        } else {
            for args in [&both[..], &["--tls-required"], &["--implicit-tls"]] {
                assert_eq!(usage_error(args), NO_TLS);
            }
        }
        assert!(serve(&[]).tls.is_none());
    }

    #[test]
    fn table_defaults_match_config() {
        let c = Config::new(".");
        let default = |long: &str| {
            FLAGS
                .iter()
                .find(|f| f.long == long)
                .map(|f| f.default)
                .unwrap_or_else(|| panic!("no --{long}"))
        };
        assert_eq!(default("port"), c.port.to_string());
        assert_eq!(default("umask"), format!("{:03o}", c.umask));
        assert_eq!(default("max-clients"), c.max_clients.to_string());
        assert_eq!(default("max-per-ip"), c.max_per_ip.to_string());
        for (long, d) in [
            ("shutdown-grace", c.shutdown_grace),
            ("idle-timeout", c.idle_timeout),
            ("data-timeout", c.data_timeout),
        ] {
            assert_eq!(default(long), d.as_secs().to_string(), "--{long}");
        }
        assert_eq!(default("banner"), format!("\"{}\"", c.banner));
        assert!(usage().contains("port to listen on; 0 picks a free one (default: 2121)"));
    }
}
