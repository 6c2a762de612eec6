//! Commands about the session itself: FEAT, HELP, OPTS, HOST, CLNT, TYPE, MODE, STRU, STAT.

use crate::error::{FtpError, FtpResult};
use crate::fs::listing::FactSet;
use crate::net::data_channel::DataSetup;
use crate::protocol::command::{OptsArg, TransferType};
use crate::protocol::command_table::{EXTRA_FEATURES, TLS_FEATURES, VERBS};
use crate::protocol::reply::{codes, Reply};
use crate::session::{Login, Session};

/// FEAT (RFC 2389): one line per feature, each starting with a space, from the command table.
pub fn feat(s: &Session) -> Reply {
    let mut lines: Vec<Vec<u8>> = VERBS
        .iter()
        .filter_map(|v| v.feature)
        .filter(|f| s.tls_offered() || !TLS_FEATURES.contains(f))
        .map(|f| match f {
            "MLST" => s.state.facts.feat_line(),
            other => other.to_string(),
        })
        .chain(EXTRA_FEATURES.iter().map(|f| f.to_string()))
        .map(|f| format!(" {f}").into_bytes())
        .collect();
    lines.dedup();
    Reply::multi(codes::SYSTEM_STATUS, "Features:", lines, "End")
}

/// HELP: the verbs we serve, from the command table; `HELP VERB` gives one verb's syntax.
pub fn help(verb: Option<&[u8]>) -> FtpResult {
    if let Some(verb) = verb {
        let upper = String::from_utf8_lossy(verb).to_ascii_uppercase();
        return match VERBS.iter().find(|v| v.name == upper) {
            Some(v) => Ok(Reply::new(codes::HELP, format!("Syntax: {}", v.help))),
            None => Ok(Reply::new(
                codes::NOT_IMPLEMENTED,
                format!("Unknown command {upper}."),
            )),
        };
    }
    let names: Vec<&str> = VERBS.iter().map(|v| v.name).collect();
    let body = names
        .chunks(8)
        .map(|row| {
            format!(
                " {}",
                row.iter()
                    .map(|n| format!("{n:<5}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
            .into_bytes()
        })
        .collect();
    Ok(Reply::multi(
        codes::HELP,
        "The following commands are recognized:",
        body,
        "Help OK.",
    ))
}

pub fn opts(s: &mut Session, arg: OptsArg) -> FtpResult {
    match arg {
        // Names go out as the bytes on disk either way; UTF-8 is what they almost always are.
        OptsArg::Utf8(true) => Ok(Reply::new(codes::OK, "Always in UTF8 mode.")),
        OptsArg::Utf8(false) => Ok(Reply::new(
            codes::OK,
            "Names are sent as stored; UTF8 stays on.",
        )),
        OptsArg::Mlst(facts) => {
            s.state.facts = FactSet::from_names(&facts);
            Ok(Reply::new(
                codes::OK,
                format!("MLST OPTS {}", s.state.facts.selected()),
            ))
        }
        OptsArg::Unknown(_) => Err(FtpError::Parse(
            crate::protocol::command::ParseError::BadArgument("option not understood"),
        )),
    }
}

/// HOST (RFC 7151): we serve one virtual host, so any name is accepted before login.
pub fn host(s: &mut Session, name: &[u8]) -> FtpResult {
    if !matches!(s.state.login, Login::None) {
        // After USER (pending or done) a HOST is out of order (RFC 7151 3); a pending USER is
        // forgotten like after any other command.
        if matches!(s.state.login, Login::UserGiven(_)) {
            s.state.login = Login::None;
        }
        return Err(FtpError::BadSequence("HOST must come before USER"));
    }
    log::debug!("{} HOST {}", s.peer, String::from_utf8_lossy(name));
    Ok(Reply::new(codes::READY, "Host accepted."))
}

pub fn clnt(s: &mut Session, name: &[u8]) -> FtpResult {
    log::debug!("{} client: {}", s.peer, String::from_utf8_lossy(name));
    Ok(Reply::new(codes::OK, "Noted."))
}

pub fn transfer_type(s: &mut Session, kind: Option<TransferType>) -> FtpResult {
    let Some(kind) = kind else {
        return Err(FtpError::NotForParameter(
            "only TYPE A, I and L 8 are served",
        ));
    };
    s.state.transfer_type = kind;
    if kind == TransferType::Ascii {
        // Resuming in ASCII mode corrupts files; REST is refused in TYPE A, so forget one.
        s.state.restart_offset = 0;
    }
    Ok(Reply::new(
        codes::OK,
        match kind {
            TransferType::Ascii => "Switching to ASCII mode.",
            TransferType::Image => "Switching to Binary mode.",
        },
    ))
}

pub fn mode(letter: u8) -> FtpResult {
    match letter {
        b'S' => Ok(Reply::new(codes::OK, "Mode set to S.")),
        b'B' | b'C' | b'Z' => Err(FtpError::NotForParameter("only MODE S is served")),
        _ => Err(FtpError::Parse(
            crate::protocol::command::ParseError::BadArgument("unknown mode"),
        )),
    }
}

pub fn structure(letter: u8) -> FtpResult {
    match letter {
        b'F' => Ok(Reply::new(codes::OK, "Structure set to F.")),
        b'R' | b'P' => Err(FtpError::NotForParameter("only STRU F is served")),
        _ => Err(FtpError::Parse(
            crate::protocol::command::ParseError::BadArgument("unknown structure"),
        )),
    }
}

/// STAT without an argument: the session's state (RFC 959 4.1.3), multi-line 211.
pub fn status(s: &Session) -> Reply {
    let data = match (&s.state.data, s.state.epsv_all) {
        (DataSetup::Passive(_), _) => "passive (waiting for the client)",
        (DataSetup::Active(_), _) => "active (PORT/EPRT given)",
        (DataSetup::None, true) => "none set up (EPSV ALL)",
        (DataSetup::None, false) => "none set up",
    };
    let kind = match s.state.transfer_type {
        TransferType::Ascii => "ASCII",
        TransferType::Image => "BINARY",
    };
    let body = vec![
        format!(" Connected to {}", s.peer.ip()).into_bytes(),
        format!(" Logged in as {}", s.user_name()).into_bytes(),
        format!(" TYPE: {kind}, MODE: Stream, STRU: File").into_bytes(),
        format!(" Data connection: {data}").into_bytes(),
        format!(
            " Working directory: {}",
            String::from_utf8_lossy(&s.state.cwd.to_bytes())
        )
        .into_bytes(),
    ];
    Reply::multi(
        codes::SYSTEM_STATUS,
        "tinyftpd status:",
        body,
        "End of status.",
    )
}
