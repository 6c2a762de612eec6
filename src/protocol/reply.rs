//! FTP replies as values, and the one place that encodes them for the wire.

/// A reply: a three-digit code and one or more lines of text.
///
/// A multi-line reply is sent as `NNN-first`, continuation lines, `NNN last` (RFC 959 4.2).
/// Text is bytes, not `String`: file names that are not UTF-8 go back to the client unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<Vec<u8>>,
}

impl Reply {
    pub fn new(code: u16, text: impl Into<Vec<u8>>) -> Reply {
        Reply {
            code,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply: `first` goes on the `NNN-` line, `body` lines are sent as they are
    /// (each should start with a space, as RFC 2389 and 3659 want), `last` on the `NNN ` line.
    pub fn multi(
        code: u16,
        first: impl Into<Vec<u8>>,
        body: Vec<Vec<u8>>,
        last: impl Into<Vec<u8>>,
    ) -> Reply {
        let mut lines = Vec::with_capacity(body.len() + 2);
        lines.push(first.into());
        lines.extend(body);
        lines.push(last.into());
        Reply { code, lines }
    }

    /// Encodes the reply into one buffer, so that it leaves in a single `write` syscall.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        let code = format!("{:03}", self.code);
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            if i == 0 || i == last {
                out.extend_from_slice(code.as_bytes());
                out.push(if i == last { b' ' } else { b'-' });
            } else if line.first().is_some_and(u8::is_ascii_digit) {
                // RFC 959: a continuation line must not look like a final `NNN ` line.
                out.push(b' ');
            }
            push_telnet_safe(&mut out, line);
            out.extend_from_slice(b"\r\n");
        }
        if self.lines.is_empty() {
            out.extend_from_slice(code.as_bytes());
            out.extend_from_slice(b" \r\n");
        }
        out
    }

    /// True for replies after which the server closes the control connection.
    pub fn closes_session(&self) -> bool {
        self.code == codes::SERVICE_CLOSING || self.code == codes::SERVICE_NOT_AVAILABLE
    }
}

/// Appends text so that it cannot break the reply framing: CR and LF inside a name are sent as
/// NUL (RFC 959 on pathnames), and 0xFF is doubled so that it is not read as a Telnet IAC.
fn push_telnet_safe(out: &mut Vec<u8>, text: &[u8]) {
    for &b in text {
        match b {
            b'\r' | b'\n' => out.push(0),
            0xFF => out.extend_from_slice(&[0xFF, 0xFF]),
            _ => out.push(b),
        }
    }
}

/// The quoted form of a path for 257 replies: `"` inside the path is doubled (RFC 959 Appendix II).
pub fn quote_path(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len() + 2);
    out.push(b'"');
    for &b in path {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
    out
}

/// Reply codes named by what they mean (RFC 959 4.2.2 and the extension RFCs).
pub mod codes {
    pub const RESTART_MARKER: u16 = 110;
    pub const DATA_ALREADY_OPEN: u16 = 125;
    pub const OPENING_DATA: u16 = 150;
    pub const OK: u16 = 200;
    pub const NOT_NEEDED: u16 = 202;
    pub const SYSTEM_STATUS: u16 = 211;
    pub const DIRECTORY_STATUS: u16 = 212;
    pub const FILE_STATUS: u16 = 213;
    pub const HELP: u16 = 214;
    pub const SYSTEM_TYPE: u16 = 215;
    pub const READY: u16 = 220;
    pub const SERVICE_CLOSING: u16 = 221;
    pub const CLOSING_DATA: u16 = 226;
    /// AUTH TLS accepted: the handshake follows (RFC 4217).
    pub const AUTH_OK: u16 = 234;
    pub const ENTERING_PASSIVE: u16 = 227;
    pub const ENTERING_EXTENDED_PASSIVE: u16 = 229;
    pub const LOGGED_IN: u16 = 230;
    pub const FILE_ACTION_OK: u16 = 250;
    pub const PATH_CREATED: u16 = 257;
    pub const NEED_PASSWORD: u16 = 331;
    pub const PENDING_FURTHER_INFO: u16 = 350;
    pub const SERVICE_NOT_AVAILABLE: u16 = 421;
    pub const CANT_OPEN_DATA: u16 = 425;
    pub const TRANSFER_ABORTED: u16 = 426;
    pub const FILE_BUSY: u16 = 450;
    pub const LOCAL_ERROR: u16 = 451;
    pub const INSUFFICIENT_STORAGE: u16 = 452;
    pub const SYNTAX_ERROR: u16 = 500;
    pub const SYNTAX_ERROR_ARGS: u16 = 501;
    pub const NOT_IMPLEMENTED: u16 = 502;
    pub const BAD_SEQUENCE: u16 = 503;
    pub const NOT_IMPLEMENTED_FOR_PARAM: u16 = 504;
    /// A data connection under a protection level the server will not use (RFC 4217 9).
    pub const PROT_REFUSED: u16 = 521;
    pub const NETWORK_PROTOCOL_NOT_SUPPORTED: u16 = 522;
    pub const NOT_LOGGED_IN: u16 = 530;
    /// Refused for policy reasons (RFC 2228), such as CCC.
    pub const POLICY_DENIED: u16 = 534;
    /// PROT level not supported by the mechanism (RFC 2228).
    pub const PROT_NOT_SUPPORTED: u16 = 536;
    pub const FILE_UNAVAILABLE: u16 = 550;
    pub const PAGE_TYPE_UNKNOWN: u16 = 551;
    pub const EXCEEDED_STORAGE: u16 = 552;
    pub const BAD_FILE_NAME: u16 = 553;
    pub const INVALID_REST: u16 = 554;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line() {
        assert_eq!(Reply::new(200, "OK").encode(), b"200 OK\r\n");
    }

    #[test]
    fn multi_line_indents_digit_lines() {
        let r = Reply::multi(
            211,
            "Features:",
            vec![b" UTF8".to_vec(), b"123 x".to_vec()],
            "End",
        );
        assert_eq!(
            r.encode(),
            b"211-Features:\r\n UTF8\r\n 123 x\r\n211 End\r\n"
        );
    }

    #[test]
    fn newline_in_name_becomes_nul_and_iac_doubles() {
        assert_eq!(
            Reply::new(257, b"a\nb\xFF".to_vec()).encode(),
            b"257 a\0b\xFF\xFF\r\n"
        );
    }

    #[test]
    fn quote_doubles_quotes() {
        assert_eq!(quote_path(b"/a\"b"), b"\"/a\"\"b\"");
    }
}
