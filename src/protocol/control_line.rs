//! The only reader of the control connection: splits the byte stream into command lines.
//!
//! Bounded: a line longer than the limit is discarded up to its end and reported as
//! [`ControlLine::TooLong`], so a client can never grow the session's memory. Lines end in CRLF
//! or a bare LF. Telnet commands (RFC 854) are removed: `IAC IAC` is a literal 0xFF, `IAC
//! WILL/WONT/DO/DONT x`, a subnegotiation `IAC SB ... IAC SE` and two-byte commands such as
//! `IAC IP` and `IAC DM` (which clients send before ABOR, part of them as TCP urgent data that
//! the session keeps in the stream with SO_OOBINLINE) are dropped. The state carries over from
//! one read to the next, so a sequence split across segments is removed all the same. Timeouts
//! come from the socket's read timeout and surface as I/O errors of kind `WouldBlock` or
//! `TimedOut`.

use std::io::{self, Read};

/// The longest command line accepted, in bytes, without its line end.
pub const MAX_LINE: usize = 4096;

const IAC: u8 = 255;
/// Subnegotiation begin and end (RFC 855).
const SB: u8 = 250;
const SE: u8 = 240;
const READ_CHUNK: usize = 2048;

/// What the reader got.
#[derive(Debug, PartialEq, Eq)]
pub enum ControlLine {
    Line(Vec<u8>),
    TooLong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Telnet {
    Data,
    /// After IAC.
    Command,
    /// After IAC WILL/WONT/DO/DONT: the next byte is the option.
    Option,
    /// Inside `IAC SB ...`: dropped up to `IAC SE`.
    Subnegotiation,
    /// After an IAC inside a subnegotiation.
    SubnegotiationIac,
}

pub struct ControlReader<R> {
    inner: R,
    /// Empty until the first read and again after [`ControlReader::release_buffer`]: an idle
    /// session holds no read buffer.
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    line: Vec<u8>,
    overflow: bool,
    telnet: Telnet,
}

impl<R: Read> ControlReader<R> {
    pub fn new(inner: R) -> ControlReader<R> {
        ControlReader {
            inner,
            buf: Box::default(),
            start: 0,
            end: 0,
            line: Vec::new(),
            overflow: false,
            telnet: Telnet::Data,
        }
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The stream, to write replies to and to add TLS to after `AUTH TLS`.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Forgets every byte read but not yet returned as a line, and any partial line: after
    /// `AUTH TLS`, what came in clear text behind it must not run as if it came over TLS
    /// (the STARTTLS command-injection attack, CVE-2011-0411 and its kin).
    pub fn discard_buffered(&mut self) {
        self.start = 0;
        self.end = 0;
        self.line.clear();
        self.overflow = false;
        self.telnet = Telnet::Data;
    }

    /// Reads the next line. `Ok(None)` at end of stream (a partial last line is dropped).
    pub fn read_line(&mut self) -> io::Result<Option<ControlLine>> {
        self.read_line_with(|_| Ok(()))
    }

    /// Like [`ControlReader::read_line`], calling `before_read` before each read from the
    /// socket: the session sets the time left for the whole line there (or fails with
    /// `TimedOut`), so a client that trickles a byte at a time cannot stretch a timeout.
    pub fn read_line_with(
        &mut self,
        mut before_read: impl FnMut(&R) -> io::Result<()>,
    ) -> io::Result<Option<ControlLine>> {
        loop {
            if let Some(line) = self.take_buffered_line() {
                return Ok(Some(line));
            }
            before_read(&self.inner)?;
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Parses buffered bytes only; never reads the socket.
    pub fn take_buffered_line(&mut self) -> Option<ControlLine> {
        while self.start < self.end {
            let byte = self.buf[self.start];
            self.start += 1;
            if let Some(line) = self.push_byte(byte) {
                return Some(line);
            }
        }
        None
    }

    /// Frees the read buffer when it holds no unread bytes (the next read allocates it again).
    pub fn release_buffer(&mut self) {
        if !self.has_buffered() {
            self.buf = Box::default();
        }
    }

    /// True while bytes read from the socket wait in the buffer.
    pub fn has_buffered(&self) -> bool {
        self.start < self.end
    }

    /// Reads once from the socket into the buffer. `Ok(false)` at end of stream. With bytes
    /// still buffered it does not read (they would be lost) and returns `Ok(true)`.
    pub fn fill(&mut self) -> io::Result<bool> {
        if self.has_buffered() {
            return Ok(true);
        }
        self.start = 0;
        self.end = 0;
        if self.buf.is_empty() {
            self.buf = vec![0; READ_CHUNK].into_boxed_slice();
        }
        let n = loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.end = n;
        Ok(n > 0)
    }

    fn push_byte(&mut self, byte: u8) -> Option<ControlLine> {
        match (self.telnet, byte) {
            (Telnet::Data, IAC) => {
                self.telnet = Telnet::Command;
                None
            }
            (Telnet::Data, b'\n') => Some(self.finish_line()),
            (Telnet::Data, b) | (Telnet::Command, b @ IAC) => {
                self.telnet = Telnet::Data;
                self.push_data(b);
                None
            }
            (Telnet::Command, 251..=254) => {
                self.telnet = Telnet::Option;
                None
            }
            (Telnet::Command, SB) => {
                self.telnet = Telnet::Subnegotiation;
                None
            }
            (Telnet::Subnegotiation, IAC) => {
                self.telnet = Telnet::SubnegotiationIac;
                None
            }
            (Telnet::SubnegotiationIac, SE) => {
                self.telnet = Telnet::Data;
                None
            }
            (Telnet::Subnegotiation, _) | (Telnet::SubnegotiationIac, _) => {
                self.telnet = Telnet::Subnegotiation;
                None
            }
            (Telnet::Command, _) | (Telnet::Option, _) => {
                self.telnet = Telnet::Data;
                None
            }
        }
    }

    fn push_data(&mut self, byte: u8) {
        if self.line.len() < MAX_LINE + 1 {
            self.line.push(byte);
        } else {
            self.overflow = true;
        }
    }

    fn finish_line(&mut self) -> ControlLine {
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        let too_long = self.overflow || self.line.len() > MAX_LINE;
        self.overflow = false;
        if too_long {
            self.line.clear();
            self.line.shrink_to(READ_CHUNK);
            ControlLine::TooLong
        } else {
            ControlLine::Line(std::mem::take(&mut self.line))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<ControlLine> {
        let mut reader = ControlReader::new(input);
        let mut out = Vec::new();
        while let Some(line) = reader.read_line().unwrap() {
            out.push(line);
        }
        out
    }

    fn line(s: &[u8]) -> ControlLine {
        ControlLine::Line(s.to_vec())
    }

    #[test]
    fn crlf_and_bare_lf() {
        assert_eq!(
            lines(b"USER a\r\nPASS b\nQUIT\r\n"),
            vec![line(b"USER a"), line(b"PASS b"), line(b"QUIT")]
        );
    }

    #[test]
    fn released_buffer_keeps_unread_bytes_and_partial_lines() {
        let mut reader = ControlReader::new(&b"NOOP\r\nPWD\r\nQU"[..]);
        assert_eq!(reader.buf.len(), 0, "no buffer before the first read");
        assert_eq!(reader.read_line().unwrap(), Some(line(b"NOOP")));
        // Bytes wait in the buffer: it stays.
        reader.release_buffer();
        assert_eq!(reader.read_line().unwrap(), Some(line(b"PWD")));
        // Only the partial "QU" is left, in the line being built: the buffer goes.
        assert_eq!(reader.take_buffered_line(), None);
        reader.release_buffer();
        assert_eq!(reader.buf.len(), 0);
        assert_eq!(reader.line, b"QU");
    }

    #[test]
    fn partial_last_line_is_dropped() {
        assert_eq!(lines(b"NOOP\r\nQUI"), vec![line(b"NOOP")]);
    }

    #[test]
    fn telnet_sequences_are_removed() {
        assert_eq!(lines(b"\xFF\xF4\xFF\xF2ABOR\r\n"), vec![line(b"ABOR")]);
        assert_eq!(lines(b"\xFF\xFB\x01NOOP\r\n"), vec![line(b"NOOP")]);
        assert_eq!(lines(b"RETR a\xFF\xFFb\r\n"), vec![line(b"RETR a\xFFb")]);
    }

    /// A reader that hands out one byte per read, as the worst segmentation would.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((&first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            buf[0] = first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn abor_as_real_clients_send_it() {
        // BSD ftp, tnftp, lftp: IAC IP, IAC DM (urgent, kept inline), ABOR; after a command.
        let tnftp = b"NOOP\r\n\xFF\xF4\xFF\xF2ABOR\r\nNOOP\r\n";
        // Python's ftplib: plain ABOR (its \n urgent); a Telnet-aware client: IAC IP alone.
        let ftplib = b"ABOR\r\n\xFF\xF4ABOR\r\n";
        let expected_tnftp = vec![line(b"NOOP"), line(b"ABOR"), line(b"NOOP")];
        let expected_ftplib = vec![line(b"ABOR"), line(b"ABOR")];
        assert_eq!(lines(tnftp), expected_tnftp);
        assert_eq!(lines(ftplib), expected_ftplib);
        for (input, expected) in [(&tnftp[..], expected_tnftp), (&ftplib[..], expected_ftplib)] {
            let mut reader = ControlReader::new(Trickle(input));
            let mut got = Vec::new();
            while let Some(l) = reader.read_line().unwrap() {
                got.push(l);
            }
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn subnegotiation_is_removed() {
        assert_eq!(
            lines(b"\xFF\xFA\x18\x00xterm\xFF\xFF\r\n\xFF\xF0NOOP\r\n"),
            vec![line(b"NOOP")]
        );
    }

    #[test]
    fn over_long_line_is_reported_and_the_next_line_works() {
        let mut input = vec![b'A'; 1 << 20];
        input.extend_from_slice(b"\r\nNOOP\r\n");
        assert_eq!(lines(&input), vec![ControlLine::TooLong, line(b"NOOP")]);
    }

    #[test]
    fn line_of_exactly_the_limit_is_accepted() {
        let mut input = vec![b'A'; MAX_LINE];
        input.extend_from_slice(b"\r\n");
        assert_eq!(lines(&input), vec![ControlLine::Line(vec![b'A'; MAX_LINE])]);
    }
}
