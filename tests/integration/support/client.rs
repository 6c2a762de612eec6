//! A raw FTP client for tests: sends any bytes, reads (multi-line) replies, opens data
//! connections. Every socket has a timeout, so a server bug fails a test instead of hanging it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

pub const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Reply {
    pub code: u16,
    /// Every line as sent, without CRLF.
    pub lines: Vec<Vec<u8>>,
}

impl Reply {
    /// All lines joined with `\n`, lossily decoded (for assertions and messages).
    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    pub greeting: Reply,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect control");
        Client::from_stream(stream)
    }

    pub fn from_stream(stream: TcpStream) -> Client {
        stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        stream.set_write_timeout(Some(TIMEOUT)).expect("timeout");
        let writer = stream.try_clone().expect("clone");
        let mut client = Client {
            reader: BufReader::new(stream),
            writer,
            greeting: Reply {
                code: 0,
                lines: vec![],
            },
        };
        client.greeting = client.reply();
        client
    }

    /// Waits longer for replies (for a reply that follows a deliberately slow transfer).
    pub fn set_reply_timeout(&self, timeout: Duration) {
        self.writer
            .set_read_timeout(Some(timeout))
            .expect("timeout");
    }

    /// Half-closes the control connection (the server sees the client go) while its replies
    /// can still be read.
    pub fn close_write(&self) {
        self.writer
            .shutdown(std::net::Shutdown::Write)
            .expect("shutdown");
    }

    /// Everything the server sends until it closes the control connection.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).expect("read to close");
        rest
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.writer.local_addr().expect("local addr")
    }

    /// Sends raw bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("send");
    }

    /// Sends one command line (CRLF added).
    pub fn send(&mut self, line: impl AsRef<[u8]>) {
        let mut bytes = line.as_ref().to_vec();
        bytes.extend_from_slice(b"\r\n");
        self.send_raw(&bytes);
    }

    /// Reads one reply, following a multi-line reply to its `NNN ` line.
    pub fn reply(&mut self) -> Reply {
        let first = self.line();
        assert!(
            first.len() >= 4 && first[..3].iter().all(u8::is_ascii_digit),
            "bad reply line {:?}",
            String::from_utf8_lossy(&first)
        );
        let code: u16 = std::str::from_utf8(&first[..3]).unwrap().parse().unwrap();
        let mut lines = vec![first.clone()];
        if first[3] == b'-' {
            let end = format!("{code} ").into_bytes();
            loop {
                let line = self.line();
                let done = line.starts_with(&end);
                lines.push(line);
                if done {
                    break;
                }
            }
        }
        Reply { code, lines }
    }

    /// Reads a reply, or `None` when the server closed the connection.
    pub fn try_reply(&mut self) -> Option<Reply> {
        let buf = self.reader.fill_buf().ok()?;
        if buf.is_empty() {
            return None;
        }
        Some(self.reply())
    }

    fn line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        self.reader
            .read_until(b'\n', &mut line)
            .expect("read reply");
        assert!(
            line.ends_with(b"\r\n"),
            "reply line without CRLF: {:?}",
            String::from_utf8_lossy(&line)
        );
        line.truncate(line.len() - 2);
        line
    }

    /// Sends a command and reads its reply.
    pub fn cmd(&mut self, line: impl AsRef<[u8]>) -> Reply {
        self.send(line);
        self.reply()
    }

    /// Sends a command and asserts the reply code.
    pub fn expect(&mut self, line: impl AsRef<[u8]>, code: u16) -> Reply {
        let shown = String::from_utf8_lossy(line.as_ref()).into_owned();
        let reply = self.cmd(line);
        assert_eq!(reply.code, code, "{shown} -> {}", reply.text());
        reply
    }

    /// Reads a reply (one that follows a data transfer) and asserts its code.
    pub fn expect_final(&mut self, code: u16) -> Reply {
        let reply = self.reply();
        assert_eq!(reply.code, code, "{}", reply.text());
        reply
    }

    pub fn login(&mut self, user: &str, pass: &str) {
        self.expect(format!("USER {user}"), 331);
        self.expect(format!("PASS {pass}"), 230);
    }

    /// PASV, then connects to the announced address.
    pub fn pasv(&mut self) -> TcpStream {
        let reply = self.expect("PASV", 227);
        let text = reply.text();
        let inner = &text[text.find('(').expect("(") + 1..text.find(')').expect(")")];
        let n: Vec<u16> = inner
            .split(',')
            .map(|p| p.trim().parse().expect("number"))
            .collect();
        let addr: SocketAddr = format!("{}.{}.{}.{}:{}", n[0], n[1], n[2], n[3], n[4] * 256 + n[5])
            .parse()
            .unwrap();
        data_stream(TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect PASV"))
    }

    /// EPSV, then connects to the announced port on the control connection's server address.
    pub fn epsv(&mut self) -> TcpStream {
        let port = self.epsv_port();
        let mut addr = self.writer.peer_addr().unwrap();
        addr.set_port(port);
        data_stream(TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect EPSV"))
    }

    pub fn epsv_port(&mut self) -> u16 {
        let reply = self.expect("EPSV", 229);
        let text = reply.text();
        let start = text.find("(|||").expect("(|||") + 4;
        let end = start + text[start..].find('|').expect("|");
        text[start..end].parse().expect("port")
    }

    /// PORT to a listener of ours on the control connection's local address.
    pub fn port(&mut self) -> TcpListener {
        let listener = TcpListener::bind((self.local_addr().ip(), 0)).expect("bind PORT listener");
        let addr = listener.local_addr().unwrap();
        let ip = match addr.ip() {
            std::net::IpAddr::V4(v4) => v4.octets(),
            _ => panic!("PORT needs IPv4"),
        };
        let p = addr.port();
        self.expect(
            format!(
                "PORT {},{},{},{},{},{}",
                ip[0],
                ip[1],
                ip[2],
                ip[3],
                p >> 8,
                p & 255
            ),
            200,
        );
        listener
    }

    /// Downloads over EPSV, asserting 150 and 226.
    pub fn retr(&mut self, path: impl AsRef<[u8]>) -> Vec<u8> {
        let mut data = self.epsv();
        self.expect([b"RETR ".as_ref(), path.as_ref()].concat(), 150);
        let body = read_all(&mut data);
        assert_eq!(self.reply().code, 226);
        body
    }

    /// Uploads over EPSV with `verb` (STOR, APPE), asserting 150 and 226.
    pub fn store(&mut self, verb: &str, path: impl AsRef<[u8]>, contents: &[u8]) {
        let mut data = self.epsv();
        self.expect([verb.as_bytes(), b" ", path.as_ref()].concat(), 150);
        data.write_all(contents).expect("write data");
        drop(data);
        let reply = self.reply();
        assert_eq!(reply.code, 226, "{}", reply.text());
    }

    pub fn stor(&mut self, path: impl AsRef<[u8]>, contents: &[u8]) {
        self.store("STOR", path, contents)
    }

    /// Runs a listing command over EPSV and returns the lines.
    pub fn listing(&mut self, line: impl AsRef<[u8]>) -> Vec<Vec<u8>> {
        let mut data = self.epsv();
        self.expect(line, 150);
        let body = read_all(&mut data);
        assert_eq!(self.reply().code, 226);
        assert!(
            body.is_empty() || body.ends_with(b"\r\n"),
            "listing not CRLF-terminated"
        );
        body.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
            .collect()
    }

    /// The control socket itself (to send urgent data with it).
    pub fn socket(&self) -> &TcpStream {
        &self.writer
    }

    /// Names from NLST, as strings.
    pub fn nlst(&mut self, line: &str) -> Vec<String> {
        self.listing(line)
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    }
}

pub fn data_stream(stream: TcpStream) -> TcpStream {
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    stream.set_write_timeout(Some(TIMEOUT)).expect("timeout");
    stream
}

pub fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    let mut body = Vec::new();
    stream.read_to_end(&mut body).expect("read data");
    body
}

/// Accepts the server's active-mode connection.
pub fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(false).unwrap();
    let (stream, _) = listener.accept().expect("accept active data connection");
    data_stream(stream)
}
