//! FTPS (RFC 4217, the `tls` feature): explicit (AUTH TLS) and implicit TLS, driven by a raw
//! rustls client for the protocol edges and by curl, lftp and Python's ftplib. The certificates
//! are made at run time with openssl (a missing openssl skips loudly; under CI=true it fails).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore, StreamOwned};
use tinyftpd::config::{Account, Config, Credential, TlsConfig};

use crate::support::external::{self, curl, lftp, python};
use crate::support::process::{Binary, BIN};
use crate::support::{random_bytes, TempDir, TestServer};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Certificates made once per test run: an ECDSA P-256 pair for 127.0.0.1/localhost (the
/// one most tests use), an RSA and an Ed25519 one, and a key that belongs to none of them.
struct Certs {
    dir: TempDir,
}

impl Certs {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn cert(&self) -> PathBuf {
        self.path("ec.crt")
    }
    fn key(&self) -> PathBuf {
        self.path("ec.key")
    }
}

fn openssl(args: &[&str], dir: &Path) {
    external::run_ok("openssl", args, dir, 60);
}

/// Makes `NAME.crt` and `NAME.key` with `openssl req`, self-signed for 127.0.0.1 and localhost.
fn make_cert(dir: &Path, name: &str, key_args: &[&str]) {
    let (crt, key) = (format!("{name}.crt"), format!("{name}.key"));
    let mut args = vec![
        "req",
        "-x509",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=localhost",
    ];
    args.extend_from_slice(key_args);
    // CA:FALSE: webpki (rustls) refuses a CA certificate as a server's own.
    args.extend_from_slice(&[
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-keyout",
        &key,
        "-out",
        &crt,
    ]);
    openssl(&args, dir);
}

/// The run's certificates, or `None` (after a loud SKIPPED line) without openssl.
fn certs() -> Option<&'static Certs> {
    static CERTS: OnceLock<Option<Certs>> = OnceLock::new();
    CERTS
        .get_or_init(|| {
            if !external::available("openssl", "apt-get install -y openssl") {
                return None;
            }
            let dir = TempDir::new("tls-certs");
            make_cert(
                dir.path(),
                "ec",
                &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            );
            make_cert(dir.path(), "rsa", &["-newkey", "rsa:2048"]);
            make_cert(dir.path(), "ed25519", &["-newkey", "ed25519"]);
            openssl(
                &[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-out",
                    "other.key",
                ],
                dir.path(),
            );
            Some(Certs { dir })
        })
        .as_ref()
}

fn tls_config(certs: &Certs) -> TlsConfig {
    TlsConfig {
        cert: certs.cert(),
        key: certs.key(),
        required: false,
        required_anonymous: false,
        implicit: false,
        reuse_required: false,
    }
}

/// A writable in-process server with FTPS, the TLS settings changed by `change`, and an
/// account bob:secret besides anonymous.
fn tls_server(certs: &Certs, change: impl FnOnce(&mut TlsConfig, &mut Config)) -> TestServer {
    TestServer::with(|c| {
        let mut tls = tls_config(certs);
        c.anonymous_writable = true;
        c.anonymous = true;
        c.accounts.push(Account {
            name: "bob".into(),
            credential: Credential::Plain("secret".into()),
            writable: true,
            root: None,
        });
        change(&mut tls, c);
        c.tls = Some(tls);
    })
}

/// A client configuration trusting `cert`; each has its own session store, so connections made
/// with one configuration can resume each other's sessions and no other's.
fn client_config(cert: &Path) -> Arc<ClientConfig> {
    client_config_for(cert, rustls::DEFAULT_VERSIONS)
}

/// A client speaking only `versions`. A rustls client uses each TLS 1.3 ticket once, and the
/// server gives two per control connection; curl and lftp reuse the control connection's
/// session for every data connection, which TLS 1.2 session ids let a rustls client do too.
fn client_config_for(
    cert: &Path,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(cert).expect("read test certificate"))
        .expect("add root");
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// The client side of a handshake on `tcp`, run to its end.
fn handshake(config: &Arc<ClientConfig>, mut tcp: TcpStream) -> std::io::Result<TlsStream> {
    tcp.set_read_timeout(Some(TIMEOUT))?;
    tcp.set_write_timeout(Some(TIMEOUT))?;
    let name = ServerName::try_from("localhost").expect("name");
    let mut conn = ClientConnection::new(Arc::clone(config), name).expect("client connection");
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// A raw FTPS client: a control connection over TLS, reading replies line by line.
struct TlsClient {
    control: BufReader<TlsStream>,
    config: Arc<ClientConfig>,
    server: SocketAddr,
}

/// One clear-text reply line (byte by byte, so nothing behind it is taken off the socket).
fn plain_reply(tcp: &mut TcpStream) -> (u16, String) {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        assert_eq!(
            tcp.read(&mut byte).expect("read reply"),
            1,
            "closed: {line:?}"
        );
        line.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&line).trim_end().to_string();
    (text[..3].parse().expect("code"), text)
}

fn plain_cmd(tcp: &mut TcpStream, line: &str) -> (u16, String) {
    tcp.write_all(format!("{line}\r\n").as_bytes())
        .expect("send");
    plain_reply(tcp)
}

impl TlsClient {
    /// Connects, reads the 220 and runs AUTH TLS and the handshake.
    fn explicit(server: SocketAddr, config: &Arc<ClientConfig>) -> TlsClient {
        let mut tcp = TcpStream::connect_timeout(&server, TIMEOUT).expect("connect");
        tcp.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        assert_eq!(plain_reply(&mut tcp).0, 220);
        assert_eq!(plain_cmd(&mut tcp, "AUTH TLS").0, 234);
        TlsClient::over(tcp, server, config)
    }

    /// Implicit TLS: the handshake first, then the 220.
    fn implicit(server: SocketAddr, config: &Arc<ClientConfig>) -> TlsClient {
        let tcp = TcpStream::connect_timeout(&server, TIMEOUT).expect("connect");
        let mut c = TlsClient::over(tcp, server, config);
        assert_eq!(c.reply().0, 220);
        c
    }

    fn over(tcp: TcpStream, server: SocketAddr, config: &Arc<ClientConfig>) -> TlsClient {
        let stream = handshake(config, tcp).expect("control handshake");
        TlsClient {
            control: BufReader::new(stream),
            config: Arc::clone(config),
            server,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        let stream = self.control.get_mut();
        stream.write_all(bytes).expect("send");
        stream.flush().expect("flush");
    }

    fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            self.control.read_line(&mut line).expect("read reply");
            assert!(line.ends_with("\r\n"), "reply cut short: {text}{line:?}");
            text.push_str(&line);
            let b = line.as_bytes();
            if b.len() >= 4 && b[..3].iter().all(u8::is_ascii_digit) && b[3] == b' ' {
                return (line[..3].parse().expect("code"), text);
            }
        }
    }

    fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    fn expect(&mut self, line: &str, code: u16) -> String {
        let (got, text) = self.cmd(line);
        assert_eq!(got, code, "{line} -> {text}");
        text
    }

    fn login(&mut self, user: &str, pass: &str) {
        self.expect(&format!("USER {user}"), 331);
        self.expect(&format!("PASS {pass}"), 230);
    }

    fn protect(&mut self) {
        self.expect("PBSZ 0", 200);
        self.expect("PROT P", 200);
    }

    fn epsv(&mut self) -> TcpStream {
        let text = self.expect("EPSV", 229);
        let start = text.find("(|||").expect("(|||") + 4;
        let end = start + text[start..].find('|').expect("|");
        let mut addr = self.server;
        addr.set_port(text[start..end].parse().expect("port"));
        TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect data")
    }

    /// A protected download over EPSV, made with `config` (the control's own, to resume).
    fn retr_with(&mut self, path: &str, config: &Arc<ClientConfig>) -> (Vec<u8>, HandshakeKind) {
        self.download_with(&format!("RETR {path}"), config)
    }

    /// What `line` (RETR, LIST, NLST, MLSD) sends over a protected EPSV data connection, and
    /// how that connection's handshake went.
    fn download_with(
        &mut self,
        line: &str,
        config: &Arc<ClientConfig>,
    ) -> (Vec<u8>, HandshakeKind) {
        let data = self.epsv();
        self.expect(line, 150);
        let mut stream = handshake(config, data).expect("data handshake");
        let kind = stream.conn.handshake_kind().expect("kind");
        let mut body = Vec::new();
        // read_to_end fails with UnexpectedEof when the server leaves out close_notify.
        stream
            .read_to_end(&mut body)
            .expect("read data to close_notify");
        assert_eq!(self.reply().0, 226);
        (body, kind)
    }

    fn retr(&mut self, path: &str) -> Vec<u8> {
        let config = Arc::clone(&self.config);
        self.retr_with(path, &config).0
    }

    fn stor(&mut self, path: &str, body: &[u8]) {
        let data = self.epsv();
        self.expect(&format!("STOR {path}"), 150);
        let mut stream = handshake(&self.config.clone(), data).expect("data handshake");
        stream.write_all(body).expect("write data");
        stream.conn.send_close_notify();
        stream.flush().expect("flush");
        drop(stream);
        let (code, text) = self.reply();
        assert_eq!(code, 226, "{text}");
    }

    fn listing(&mut self, line: &str) -> String {
        String::from_utf8(self.retr_listing(line)).expect("utf-8 listing")
    }

    fn retr_listing(&mut self, line: &str) -> Vec<u8> {
        let data = self.epsv();
        self.expect(line, 150);
        let mut stream = handshake(&self.config.clone(), data).expect("data handshake");
        let mut body = Vec::new();
        stream.read_to_end(&mut body).expect("read listing");
        assert_eq!(self.reply().0, 226);
        body
    }
}

/// The number of sessions reaches `want` within `limit`.
fn wait_sessions(s: &TestServer, want: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while s.ctx.session_count() != want {
        assert!(
            Instant::now() < deadline,
            "{} sessions, want {want}",
            s.ctx.session_count()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn explicit_tls_login_transfers_and_listings() {
    let Some(certs) = certs() else { return };
    let s = tls_server(certs, |_, _| {});
    let body = random_bytes(3_000_000, 11);
    s.root.write("big.bin", &body);
    // FEAT before AUTH, in clear text, as FileZilla asks.
    let mut plain = s.client();
    let feat = plain.expect("FEAT", 211).text();
    for line in [" AUTH TLS", " PBSZ", " PROT"] {
        assert!(feat.lines().any(|l| l == line), "{line:?} not in {feat}");
    }
    let config = client_config(&certs.cert());
    let mut c = TlsClient::explicit(s.addr, &config);
    c.login("bob", "secret");
    c.protect();
    let (got, kind) = c.retr_with("big.bin", &config);
    assert!(got == body, "downloaded bytes differ");
    assert_eq!(
        kind,
        HandshakeKind::Resumed,
        "the data connection resumes the control's session"
    );
    // REST over TLS.
    c.expect("TYPE I", 200);
    let data = c.epsv();
    c.expect("REST 2999000", 350);
    c.expect("RETR big.bin", 150);
    let mut stream = handshake(&config, data).expect("handshake");
    let mut tail = Vec::new();
    stream.read_to_end(&mut tail).expect("tail");
    assert!(tail == body[2_999_000..]);
    assert_eq!(c.reply().0, 226);
    // An atomic upload, read back; then a listing, and MLSD.
    let up = random_bytes(700_000, 12);
    c.stor("up.bin", &up);
    assert!(s.root.read("up.bin") == up);
    assert!(c.retr("up.bin") == up);
    let list = c.listing("LIST");
    assert!(
        list.contains("big.bin") && list.contains("up.bin"),
        "{list}"
    );
    assert!(c.listing("MLSD").contains("type=file;"));
    // Active mode: the server is the TLS server on the connection it makes.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let p = listener.local_addr().unwrap().port();
    c.expect(&format!("PORT 127,0,0,1,{},{}", p >> 8, p & 255), 200);
    c.expect("RETR up.bin", 150);
    let (tcp, _) = listener.accept().expect("accept active");
    let mut stream = handshake(&config, tcp).expect("active handshake");
    let mut active = Vec::new();
    stream.read_to_end(&mut active).expect("active data");
    assert!(active == up);
    assert_eq!(c.reply().0, 226);
    // PROT C: back to clear-text data on the same TLS control connection.
    c.expect("PROT C", 200);
    let mut data = c.epsv();
    c.expect("RETR up.bin", 150);
    let mut clear = Vec::new();
    data.read_to_end(&mut clear).expect("clear data");
    assert!(clear == up);
    assert_eq!(c.reply().0, 226);
    c.expect("QUIT", 221);
}

/// An idle session gives back its read buffer and stack pages (see idle_memory.rs): over TLS
/// too, the control connection and protected transfers keep working across idle spells.
#[test]
fn a_tls_session_keeps_working_across_idle_releases() {
    let Some(certs) = certs() else { return };
    let s = tls_server(certs, |_, _| {});
    let config = client_config(&certs.cert());
    let mut c = TlsClient::explicit(s.addr, &config);
    std::thread::sleep(tinyftpd::server::IDLE_RELEASE_AFTER * 3);
    c.login("bob", "secret");
    c.protect();
    for round in 0..2 {
        let body = random_bytes(200_000, 40 + round);
        c.stor("idle.bin", &body);
        std::thread::sleep(tinyftpd::server::IDLE_RELEASE_AFTER * 3);
        assert!(c.retr("idle.bin") == body);
        assert!(c.listing("MLSD").contains("idle.bin"));
        std::thread::sleep(tinyftpd::server::IDLE_RELEASE_AFTER * 3);
        c.expect("NOOP", 200);
    }
    c.expect("QUIT", 221);
}

#[test]
fn protocol_edges_of_auth_pbsz_prot() {
    let Some(certs) = certs() else { return };
    let s = tls_server(certs, |_, _| {});
    let mut plain = s.client();
    // PBSZ and PROT need AUTH first; CCC is always refused; other mechanisms are not ours.
    plain.expect("PBSZ 0", 503);
    plain.expect("PROT P", 503);
    plain.expect("CCC", 534);
    plain.expect("AUTH GSSAPI", 504);
    plain.expect("AUTH", 501);
    // No AUTH after a clear-text login: the password has gone by already.
    plain.login("anonymous", "x");
    plain.expect("AUTH TLS", 503);
    plain.expect("PBSZ 0", 503);

    let config = client_config(&certs.cert());
    let mut c = TlsClient::explicit(s.addr, &config);
    c.expect("AUTH TLS", 503);
    c.expect("AUTH SSL", 503);
    c.expect("PROT P", 503);
    c.expect("PBSZ x", 501);
    c.expect("PBSZ 0", 200);
    c.expect("PROT S", 536);
    c.expect("PROT E", 536);
    c.expect("PROT Q", 504);
    c.expect("CCC", 534);
    c.expect("PROT P", 200);
    c.login("anonymous", "x");
    // REIN would drop to clear text (RFC 4217 11): refused under TLS.
    c.expect("REIN", 504);
    c.expect("PWD", 257);
    // AUTH SSL is the older name: the same handshake.
    let mut tcp = TcpStream::connect(s.addr).expect("connect");
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(plain_reply(&mut tcp).0, 220);
    assert_eq!(plain_cmd(&mut tcp, "AUTH SSL").0, 234);
    let mut old = TlsClient::over(tcp, s.addr, &config);
    old.expect("NOOP", 200);
}

#[test]
fn a_server_without_a_certificate_does_not_offer_tls() {
    let s = TestServer::start();
    let mut c = s.client();
    let feat = c.expect("FEAT", 211).text();
    assert!(
        !feat.contains("AUTH") && !feat.contains("PBSZ") && !feat.contains("PROT"),
        "{feat}"
    );
    c.expect("AUTH TLS", 502);
    c.expect("PBSZ 0", 503);
}

#[test]
fn commands_sent_in_clear_behind_auth_tls_are_dropped() {
    let Some(certs) = certs() else { return };
    let s = tls_server(certs, |_, _| {});
    let mut tcp = TcpStream::connect(s.addr).expect("connect");
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(plain_reply(&mut tcp).0, 220);
    // One segment: AUTH TLS and a USER an attacker on the path appended in clear text.
    tcp.write_all(b"AUTH TLS\r\nUSER bob\r\n").expect("send");
    assert_eq!(plain_reply(&mut tcp).0, 234);
    let mut c = TlsClient::over(tcp, s.addr, &client_config(&certs.cert()));
    // Had the USER run, PASS would log in; it was dropped, so PASS comes out of sequence.
    c.expect("PASS secret", 503);
}

#[test]
fn tls_required_refuses_clear_text_logins_and_data() {
    let Some(certs) = certs() else { return };
    let s = tls_server(certs, |t, _| t.required = true);
    let mut plain = s.client();
    plain.expect("USER bob", 530);
    plain.expect("PASS secret", 503);
    // Anonymous stays allowed in clear text, data too.
    plain.login("anonymous", "x");
    s.root.write("f.txt", b"public");
    assert_eq!(plain.retr("f.txt"), b"public");

    let config = client_config(&certs.cert());
    let mut c = TlsClient::explicit(s.addr, &config);
    c.login("bob", "secret");
    // No PROT P: every data command is refused before any data connection (521).
    let port = c.expect("EPSV", 229);
    assert!(port.contains("|||"));
    for verb in ["RETR f.txt", "LIST", "NLST", "MLSD", "STOR g.txt"] {
        c.expect(verb, 521);
    }
    c.protect();
    assert_eq!(c.retr("f.txt"), b"public");
    c.expect("PROT C", 200);
    c.expect("RETR f.txt", 521);

    // --tls-required-anonymous: anonymous too.
    let s = tls_server(certs, |t, _| {
        t.required = true;
        t.required_anonymous = true;
    });
    s.client().expect("USER anonymous", 530);
    s.client().expect("USER ftp", 530);
    let mut c = TlsClient::explicit(s.addr, &config);
    c.login("anonymous", "x");
    c.expect("LIST", 521);
}

#[test]
fn reuse_required_refuses_a_data_connection_of_another_tls_session() {
    let Some(certs) = certs() else { return };
    let s = tls_server(certs, |t, _| t.reuse_required = true);
    s.root.write("secret.txt", b"for bob only");
    let victim_config = client_config_for(&certs.cert(), &[&rustls::version::TLS12]);
    let mut victim = TlsClient::explicit(s.addr, &victim_config);
    victim.login("bob", "secret");
    victim.protect();
    // The attacker has a TLS session with the server too (its own control connection).
    let attacker_config = client_config(&certs.cert());
    let mut attacker = TlsClient::explicit(s.addr, &attacker_config);
    attacker.login("anonymous", "x");
    attacker.expect("NOOP", 200);

    let data = victim.epsv();
    victim.expect("RETR secret.txt", 150);
    // The attacker takes the passive port first, resuming its own session.
    if let Ok(mut stolen) = handshake(&attacker_config, data) {
        let mut got = Vec::new();
        let _ = stolen.read_to_end(&mut got);
        assert!(got.is_empty(), "a stolen data connection got {got:?}");
    }
    let (code, text) = victim.reply();
    assert_eq!(code, 522, "{text}");
    // The victim's own resumed data connections still work, again and again.
    for _ in 0..3 {
        let (got, kind) = victim.retr_with("secret.txt", &victim_config);
        assert_eq!(got, b"for bob only");
        assert_eq!(kind, HandshakeKind::Resumed);
    }
    // A thief over TLS 1.2: its full handshake is refused, and the session it made is not
    // kept, so resuming it on the next theft is refused as well.
    let thief = client_config_for(&certs.cert(), &[&rustls::version::TLS12]);
    let mut thief_control = TlsClient::explicit(s.addr, &thief);
    thief_control.expect("NOOP", 200);
    for attempt in 0..2 {
        let data = victim.epsv();
        victim.expect("RETR secret.txt", 150);
        if let Ok(mut stolen) = handshake(&thief, data) {
            let kind = stolen.conn.handshake_kind();
            let mut got = Vec::new();
            let _ = stolen.read_to_end(&mut got);
            assert!(got.is_empty(), "theft {attempt} ({kind:?}) got {got:?}");
        }
        assert_eq!(victim.reply().0, 522, "theft {attempt}");
    }
    // A data connection with a full handshake (a client that never resumes) is refused too.
    let fresh = client_config(&certs.cert());
    let data = victim.epsv();
    victim.expect("RETR secret.txt", 150);
    if let Ok(mut stream) = handshake(&fresh, data) {
        let mut got = Vec::new();
        let _ = stream.read_to_end(&mut got);
        assert!(got.is_empty());
    }
    assert_eq!(victim.reply().0, 522);
}

/// A rustls client uses each TLS 1.3 ticket once, and the control connection gives two. Data
/// connections the client reads to their end (downloads, listings) give it new ones, so such a
/// client can go on resuming under `--tls-reuse-required`; an upload consumes one and gets none.
/// Before, the third data connection had no ticket left, made a full handshake and was refused.
#[test]
fn reuse_required_lets_a_tls13_rustls_client_resume_every_data_connection() {
    let Some(certs) = certs() else { return };
    let s = tls_server(certs, |t, _| t.reuse_required = true);
    let body = random_bytes(300_000, 13);
    s.root.write("f.bin", &body);
    let config = client_config_for(&certs.cert(), &[&rustls::version::TLS13]);
    let mut c = TlsClient::explicit(s.addr, &config);
    c.login("anonymous", "x");
    c.protect();
    for round in 0..3 {
        for line in ["RETR f.bin", "NLST", "LIST", "MLSD"] {
            let (got, kind) = c.download_with(line, &config);
            assert_eq!(kind, HandshakeKind::Resumed, "{line} in round {round}");
            match line {
                "RETR f.bin" => assert!(got == body, "downloaded bytes differ"),
                _ => assert!(String::from_utf8_lossy(&got).contains("f.bin"), "{line}"),
            }
        }
        c.stor(&format!("up{round}.bin"), &body[..100_000]);
        assert!(s.root.read(&format!("up{round}.bin")) == body[..100_000]);
    }
}

#[test]
fn implicit_tls_from_the_first_byte() {
    let Some(certs) = certs() else { return };
    let s = tls_server(certs, |t, _| t.implicit = true);
    s.root.write("f.txt", b"implicit");
    let config = client_config(&certs.cert());
    let mut c = TlsClient::implicit(s.addr, &config);
    c.login("anonymous", "x");
    // Data is protected without PBSZ/PROT, and cannot be made clear.
    assert_eq!(c.retr("f.txt"), b"implicit");
    c.expect("AUTH TLS", 503);
    c.expect("PBSZ 0", 200);
    c.expect("PROT C", 534);
    c.expect("PROT P", 200);

    // A clear-text client on the implicit port gets no greeting, and the connection ends.
    let mut tcp = TcpStream::connect(s.addr).expect("connect");
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    tcp.write_all(b"USER anonymous\r\n").expect("send");
    let mut got = Vec::new();
    let started = Instant::now();
    let _ = tcp.read_to_end(&mut got);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!got.starts_with(b"220"), "{got:?}");
    drop(c);
    wait_sessions(&s, 0, Duration::from_secs(5));
}

#[test]
fn a_stalled_handshake_holds_no_slot_past_its_timeout() {
    let Some(certs) = certs() else { return };
    let s = tls_server(certs, |_, c| {
        c.idle_timeout = Duration::from_secs(1);
        c.data_timeout = Duration::from_secs(1);
    });
    // AUTH TLS, then silence; then one that sends a byte every 300 ms to stretch the deadline.
    let mut silent = TcpStream::connect(s.addr).expect("connect");
    silent.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(plain_reply(&mut silent).0, 220);
    assert_eq!(plain_cmd(&mut silent, "AUTH TLS").0, 234);
    let mut trickle = TcpStream::connect(s.addr).expect("connect");
    trickle.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(plain_reply(&mut trickle).0, 220);
    assert_eq!(plain_cmd(&mut trickle, "AUTH TLS").0, 234);
    let started = Instant::now();
    // The start of a TLS record header (a handshake record), one byte at a time.
    for byte in [0x16u8, 0x03, 0x01, 0x00, 0x20, 0x01, 0x00] {
        if trickle.write_all(&[byte]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    wait_sessions(&s, 0, Duration::from_secs(3));
    assert!(started.elapsed() < Duration::from_secs(4));

    // A data connection that never starts its handshake: 425 within the data timeout.
    let config = client_config(&certs.cert());
    let mut c = TlsClient::explicit(s.addr, &config);
    c.login("anonymous", "x");
    c.protect();
    s.root.write("f.txt", b"x");
    let _data = c.epsv();
    c.expect("RETR f.txt", 150);
    let started = Instant::now();
    assert_eq!(c.reply().0, 425);
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// Uploads take another way through rustls than downloads (see `net::tls`): over TLS 1.2 and
/// 1.3, with a full and a resumed data handshake, in both transfer types.
#[test]
fn uploads_over_tls_1_2_and_1_3_full_and_resumed() {
    let Some(certs) = certs() else { return };
    let s = tls_server(certs, |_, _| {});
    let body = random_bytes(1_200_000, 17);
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let config = client_config_for(&certs.cert(), &[version]);
        let mut c = TlsClient::explicit(s.addr, &config);
        c.login("anonymous", "x");
        c.protect();
        // The control's session (resumed), then a configuration of its own (full handshake).
        c.stor("resumed.bin", &body);
        assert!(s.root.read("resumed.bin") == body, "{version:?}");
        c.config = client_config_for(&certs.cert(), &[version]);
        c.stor("full.bin", &body);
        assert!(s.root.read("full.bin") == body, "{version:?}");
        c.expect("TYPE A", 200);
        c.stor("text.txt", b"one\r\ntwo\r\n");
        assert_eq!(s.root.read("text.txt"), b"one\ntwo\n", "{version:?}");
    }
}

/// `keep.bin` holding "old contents", and a protected STOR over it begun: the logged-in
/// control client and the data connection, its handshake done.
fn begin_stor_over_an_old_file(s: &TestServer, certs: &Certs) -> (TlsClient, TlsStream) {
    s.root.write("keep.bin", b"old contents");
    let config = client_config(&certs.cert());
    let mut c = TlsClient::explicit(s.addr, &config);
    c.login("anonymous", "x");
    c.protect();
    let data = c.epsv();
    c.expect("STOR keep.bin", 150);
    let stream = handshake(&config, data).expect("handshake");
    (c, stream)
}

#[test]
fn an_upload_cut_without_close_notify_is_aborted_and_the_old_file_kept() {
    let Some(certs) = certs() else { return };
    let s = tls_server(certs, |_, _| {});
    let (mut c, mut stream) = begin_stor_over_an_old_file(&s, certs);
    stream.write_all(&random_bytes(500_000, 5)).expect("write");
    stream.flush().expect("flush");
    // TCP FIN without close_notify: a truncation the server cannot tell from the end.
    stream
        .sock
        .shutdown(std::net::Shutdown::Write)
        .expect("shutdown");
    let (code, text) = c.reply();
    assert_eq!(code, 426, "{text}");
    drop(stream);
    assert_eq!(s.root.read("keep.bin"), b"old contents");
    // With close_notify the same upload replaces it.
    let body = random_bytes(500_000, 6);
    c.stor("keep.bin", &body);
    assert!(s.root.read("keep.bin") == body);
}

#[test]
fn stat_and_abor_during_a_tls_download() {
    let Some(certs) = certs() else { return };
    let s = tls_server(certs, |_, c| c.max_rate = Some(100_000));
    s.root.write("slow.bin", &random_bytes(1_000_000, 7));
    let config = client_config(&certs.cert());
    let mut c = TlsClient::explicit(s.addr, &config);
    c.login("anonymous", "x");
    c.protect();
    let data = c.epsv();
    c.expect("RETR slow.bin", 150);
    let mut stream = handshake(&config, data).expect("handshake");
    let mut first = [0u8; 1000];
    stream.read_exact(&mut first).expect("some data");
    // One TLS record holding more than the control reader takes at a time, STAT at its end:
    // the rest waits decrypted inside TLS, where polling the socket cannot see it.
    let mut record = vec![b'X'; 5000];
    record.extend_from_slice(b"\r\nSTAT\r\n");
    c.send(&record);
    let started = Instant::now();
    let (code, text) = c.reply();
    assert_eq!(code, 213, "{text}");
    assert!(text.contains("bytes transferred"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "STAT waited for the transfer"
    );
    c.send(b"ABOR\r\n");
    assert_eq!(c.reply().0, 426);
    // Then what was queued during the transfer, in order: the over-long line, then ABOR.
    assert_eq!(c.reply().0, 500);
    assert_eq!(c.reply().0, 226);
    c.expect("NOOP", 200);
}

/// An upload reads large pieces of ciphertext ahead of rustls: STAT and ABOR still act at once.
#[test]
fn stat_and_abor_during_a_tls_upload() {
    let Some(certs) = certs() else { return };
    let s = tls_server(certs, |_, c| c.max_rate = Some(200_000));
    let (mut c, mut stream) = begin_stor_over_an_old_file(&s, certs);
    // More than the socket buffers hold at the throttled rate, written from another thread.
    let writer = std::thread::spawn(move || {
        let _ = stream.write_all(&random_bytes(3_000_000, 8));
        stream
    });
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let (code, text) = c.cmd("STAT");
    assert_eq!(code, 213, "{text}");
    assert!(text.contains("bytes transferred"), "{text}");
    c.send(b"ABOR\r\n");
    assert_eq!(c.reply().0, 426);
    assert_eq!(c.reply().0, 226);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "waited for the upload"
    );
    drop(writer.join());
    assert_eq!(s.root.read("keep.bin"), b"old contents");
    c.expect("NOOP", 200);
}

/// A client that sends part of a post-handshake message in the middle of an upload (a
/// message header whose body never comes): rustls keeps such a record until the rest arrives,
/// and the upload must wait for the socket, answering ABOR, instead of spinning on the record
/// in hand. TLS 1.2: a renegotiating ClientHello's header (it spun at 100% CPU, past every
/// timeout); TLS 1.3: a KeyUpdate's header (rustls refuses a split KeyUpdate at once).
#[test]
fn a_partial_handshake_message_during_a_tls_upload_is_waited_for_not_spun_on() {
    let Some(certs) = certs() else { return };
    let s = tls_server(certs, |_, _| {});
    let cases: [(&'static rustls::SupportedProtocolVersion, [u8; 4]); 2] = [
        (&rustls::version::TLS12, [1, 0, 0, 60]),
        (&rustls::version::TLS13, [24, 0, 0, 1]),
    ];
    for (version, header) in cases {
        s.root.write("keep.bin", b"old contents");
        let mut c = TlsClient::explicit(s.addr, &client_config(&certs.cert()));
        c.login("anonymous", "x");
        c.protect();
        let data = c.epsv();
        c.expect("STOR keep.bin", 150);
        let mut extracting = (*client_config_for(&certs.cert(), &[version])).clone();
        extracting.enable_secret_extraction = true;
        let mut stream = handshake(&Arc::new(extracting), data).expect("handshake");
        stream.write_all(b"the first bytes").expect("write");
        stream.flush().expect("flush");
        let StreamOwned { conn, mut sock } = stream;
        let suite = conn.negotiated_cipher_suite().expect("suite");
        let (seq, secret) = conn.dangerous_extract_secrets().expect("secrets").tx;
        let mut sealer = record_sealer(suite, secret);
        let partial = seal(&mut *sealer, seq, rustls::ContentType::Handshake, &header);
        sock.write_all(&partial).expect("write the partial message");
        let started = Instant::now();
        c.send(b"ABOR\r\n");
        assert_eq!(c.reply().0, 426, "{version:?}");
        assert_eq!(c.reply().0, 226, "{version:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{version:?}");
        drop(sock);
        assert_eq!(s.root.read("keep.bin"), b"old contents");
        c.expect("NOOP", 200);
    }
}

/// What seals records as the client would, from its extracted traffic secret: for records
/// rustls' client API never sends on its own.
fn record_sealer(
    suite: rustls::SupportedCipherSuite,
    secret: rustls::ConnectionTrafficSecrets,
) -> Box<dyn rustls::crypto::cipher::MessageEncrypter> {
    use rustls::ConnectionTrafficSecrets as Secret;
    let (key, iv) = match secret {
        Secret::Aes128Gcm { key, iv }
        | Secret::Aes256Gcm { key, iv }
        | Secret::Chacha20Poly1305 { key, iv } => (key, iv),
        _ => panic!("a suite this test does not know"),
    };
    match suite {
        rustls::SupportedCipherSuite::Tls13(s) => s.aead_alg.encrypter(key, iv),
        rustls::SupportedCipherSuite::Tls12(s) => {
            // TLS 1.2 AEAD nonces: a fixed part from the key block, then the explicit part.
            let fixed = s.aead_alg.key_block_shape().fixed_iv_len;
            let (fixed, explicit) = iv.as_ref().split_at(fixed);
            s.aead_alg.encrypter(key, fixed, explicit)
        }
    }
}

/// One record of `typ` holding `payload`, sealed as record number `seq`.
fn seal(
    sealer: &mut dyn rustls::crypto::cipher::MessageEncrypter,
    seq: u64,
    typ: rustls::ContentType,
    payload: &[u8],
) -> Vec<u8> {
    use rustls::crypto::cipher::{OutboundChunks, OutboundPlainMessage};
    let message = OutboundPlainMessage {
        typ,
        version: rustls::ProtocolVersion::TLSv1_2,
        payload: OutboundChunks::Single(payload),
    };
    sealer.encrypt(message, seq).expect("encrypt").encode()
}

/// A data handshake whose ClientHello says it is 64 KiB long and comes one byte per record:
/// rustls keeps every record until the message is whole, so the upload's buffer fills, and a
/// full buffer must refuse the handshake with a reply (it panicked the session's thread).
#[test]
fn a_data_handshake_larger_than_the_upload_buffer_is_refused() {
    let Some(certs) = certs() else { return };
    let s = tls_server(certs, |_, _| {});
    let mut c = TlsClient::explicit(s.addr, &client_config(&certs.cert()));
    c.login("anonymous", "x");
    c.protect();
    let mut data = c.epsv();
    c.expect("STOR flood.bin", 150);
    let header = [1u8, 0, 0xff, 0xff];
    let body = std::iter::repeat_n(0u8, 65_000);
    let mut flood = Vec::new();
    for byte in header.into_iter().chain(body) {
        flood.extend_from_slice(&[22, 3, 1, 0, 1, byte]);
    }
    data.set_write_timeout(Some(TIMEOUT)).expect("timeout");
    let writer = std::thread::spawn(move || {
        let _ = data.write_all(&flood);
        let _ = data.shutdown(std::net::Shutdown::Write);
        data
    });
    let (code, text) = c.reply();
    assert!((400..600).contains(&code), "{code} {text}");
    drop(writer.join());
    c.expect("NOOP", 200);
}

#[test]
fn rsa_and_ed25519_certificates_work_too() {
    let Some(certs) = certs() else { return };
    for name in ["rsa", "ed25519"] {
        let (cert, key) = (
            certs.path(&format!("{name}.crt")),
            certs.path(&format!("{name}.key")),
        );
        let s = tls_server(certs, |t, _| {
            t.cert = cert.clone();
            t.key = key.clone();
        });
        let mut c = TlsClient::explicit(s.addr, &client_config(&cert));
        c.login("anonymous", "x");
        c.protect();
        assert!(c.listing("NLST").is_empty(), "{name}");
    }
}

#[test]
fn a_certificate_that_does_not_match_its_key_stops_the_start() {
    let Some(certs) = certs() else { return };
    let dir = TempDir::new("tls-mismatch");
    let cert = certs.cert();
    let other = certs.path("other.key");
    let run = |args: &[&str]| {
        external::run(
            BIN,
            &[&["-p", "0", "-b", "127.0.0.1"], args].concat(),
            dir.path(),
            20,
        )
    };
    let out = run(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        other.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ec.crt") && err.contains("other.key"), "{err}");
    // A key file with no key in it, and a missing file, name theirs.
    let out = run(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        cert.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--tls-key"), "{err}");
    let out = run(&[
        "--tls-cert",
        "/nonexistent.crt",
        "--tls-key",
        other.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("/nonexistent.crt"),
        "{err}"
    );
    // Flags that need the certificate.
    let out = run(&["--tls-required"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sighup_rereads_the_certificate_and_verbose_logs_the_cipher() {
    let Some(certs) = certs() else { return };
    let dir = TempDir::new("tls-reload");
    let (cert, key) = (dir.path().join("live.crt"), dir.path().join("live.key"));
    std::fs::copy(certs.cert(), &cert).unwrap();
    std::fs::copy(certs.key(), &key).unwrap();
    let served = TempDir::new("tls-reload-root");
    let mut bin = Binary::start(&[
        "-v",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        served.path().to_str().unwrap(),
    ]);
    let peer_cert = |trust: &Path| {
        let c = TlsClient::explicit(bin.addr, &client_config(trust));
        let der = c.control.get_ref().conn.peer_certificates().expect("certs")[0].clone();
        der.as_ref().to_vec()
    };
    let ec = CertificateDer::from_pem_file(certs.cert()).unwrap();
    assert_eq!(peer_cert(&certs.cert()), ec.as_ref());
    let line = bin.wait_for_log("control TLS:", TIMEOUT);
    assert!(
        line.contains("TLSv1_3") && line.contains("TLS13_"),
        "{line}"
    );
    // Renewal: new files in place (as certbot re-points its live/ links), then SIGHUP.
    std::fs::copy(certs.path("ed25519.crt"), dir.path().join("new.crt")).unwrap();
    std::fs::copy(certs.path("ed25519.key"), dir.path().join("new.key")).unwrap();
    std::fs::rename(dir.path().join("new.crt"), &cert).unwrap();
    std::fs::rename(dir.path().join("new.key"), &key).unwrap();
    bin.signal(libc::SIGHUP);
    bin.wait_for_log("reloaded the TLS certificate", TIMEOUT);
    let ed = CertificateDer::from_pem_file(certs.path("ed25519.crt")).unwrap();
    assert_eq!(peer_cert(&certs.path("ed25519.crt")), ed.as_ref());
    // A broken pair on reload keeps the one in use.
    std::fs::copy(certs.path("other.key"), &key).unwrap();
    bin.signal(libc::SIGHUP);
    bin.wait_for_log("kept the old TLS certificate", TIMEOUT);
    assert_eq!(peer_cert(&certs.path("ed25519.crt")), ed.as_ref());
    // Shutdown reaches an idle TLS session too: 421 over TLS, then a clean exit.
    let mut idle = TlsClient::explicit(bin.addr, &client_config(&certs.path("ed25519.crt")));
    idle.expect("NOOP", 200);
    bin.signal(libc::SIGTERM);
    assert_eq!(idle.reply().0, 421);
    assert_eq!(bin.wait_exit(TIMEOUT), Some(0));
}

// Real clients.

fn have(tool: &str) -> bool {
    external::available(tool, &format!("apt-get install -y {tool}"))
}

#[test]
fn curl_explicit_and_implicit() {
    let Some(certs) = certs() else { return };
    if !have("curl") {
        return;
    }
    let cacert = certs.cert();
    let cacert = cacert.to_str().unwrap();
    let work = TempDir::new("curl-tls");
    let body = random_bytes(2_000_000, 21);
    for reuse in [false, true] {
        let s = tls_server(certs, |t, _| {
            t.required = true;
            t.reuse_required = reuse;
        });
        s.root.write("f.bin", &body);
        let url = s.url("f.bin");
        let user = ["--user", "bob:secret"];
        curl(
            &[
                &["--ssl-reqd", "--cacert", cacert, "-o", "got.bin", &url][..],
                &user,
            ]
            .concat(),
            work.path(),
        );
        assert!(work.read("got.bin") == body);
        work.write("up.bin", &body[..300_000]);
        curl(
            &[
                &[
                    "--ssl-reqd",
                    "--cacert",
                    cacert,
                    "-T",
                    "up.bin",
                    &s.url("up.bin"),
                ][..],
                &user,
            ]
            .concat(),
            work.path(),
        );
        assert!(s.root.read("up.bin") == body[..300_000]);
        let out = curl(
            &[&["--ssl-reqd", "-k", &s.url("")][..], &user].concat(),
            work.path(),
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("f.bin"));
        // Without TLS the account is refused.
        let out = external::run(
            "curl",
            &[&["-sS", "--max-time", "20", &url][..], &user].concat(),
            work.path(),
            30,
        );
        assert!(!out.status.success());
    }
    let s = tls_server(certs, |t, _| t.implicit = true);
    s.root.write("f.bin", &body);
    let url = format!("ftps://127.0.0.1:{}/f.bin", s.port());
    curl(
        &["--cacert", cacert, "-o", "implicit.bin", &url],
        work.path(),
    );
    assert!(work.read("implicit.bin") == body);
    curl(
        &[
            "-k",
            "-T",
            "implicit.bin",
            &format!("ftps://127.0.0.1:{}/i.bin", s.port()),
        ],
        work.path(),
    );
    assert!(s.root.read("i.bin") == body);
}

#[test]
fn lftp_explicit_with_reuse_required_and_implicit() {
    let Some(certs) = certs() else { return };
    if !have("lftp") {
        return;
    }
    let ca = certs.cert();
    let ca = ca.to_str().unwrap();
    let work = TempDir::new("lftp-tls");
    let body = random_bytes(1_500_000, 31);
    let s = tls_server(certs, |t, _| {
        t.required = true;
        t.reuse_required = true;
    });
    s.root.write("f.bin", &body);
    work.write("up.bin", &body[..200_000]);
    let settings = format!(
        "set ssl:ca-file {ca}; set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:check-hostname no"
    );
    let url = format!("ftp://bob:secret@127.0.0.1:{}", s.port());
    let out = lftp(
        &format!("{settings}; get f.bin -o got.bin; put up.bin; ls"),
        &url,
        work.path(),
    );
    assert!(work.read("got.bin") == body);
    assert!(s.root.read("up.bin") == body[..200_000]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("f.bin"));

    let s = tls_server(certs, |t, _| t.implicit = true);
    s.root.write("f.bin", &body);
    let url = format!("ftps://127.0.0.1:{}", s.port());
    lftp(
        "set ssl:verify-certificate no; get f.bin -o implicit.bin",
        &url,
        work.path(),
    );
    assert!(work.read("implicit.bin") == body);
}

#[test]
fn python_ftplib_ftp_tls() {
    let Some(certs) = certs() else { return };
    if !have("python3") {
        return;
    }
    let s = tls_server(certs, |t, _| t.required = true);
    let body = random_bytes(1_000_000, 41);
    s.root.write("f.bin", &body);
    let script = format!(
        r#"
import ftplib, io, ssl, sys
ctx = ssl.create_default_context(cafile={cafile:?})
f = ftplib.FTP_TLS(context=ctx, timeout=20)
f.connect("127.0.0.1", int(sys.argv[1]))
f.login("bob", "secret")
f.prot_p()
got = io.BytesIO()
f.retrbinary("RETR f.bin", got.write)
assert len(got.getvalue()) == {len}, len(got.getvalue())
f.storbinary("STOR up.bin", io.BytesIO(got.getvalue()[:12345]))
names = f.nlst()
assert "f.bin" in names and "up.bin" in names, names
lines = []
f.retrlines("LIST", lines.append)
assert len(lines) == 2, lines
f.quit()
print("ok")
"#,
        cafile = certs.cert().to_str().unwrap(),
        len = body.len()
    );
    let work = TempDir::new("python-tls");
    let out = python(&script, s.port(), work.path());
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
    assert!(s.root.read("up.bin") == body[..12345]);
}

/// Over `--max-clients` on an implicit-TLS listener the connection is closed without a reply:
/// a clear-text `421` is a protocol error to a client that starts with a TLS handshake, and a
/// TLS handshake for a refused client would cost the accept loop (or a thread) exactly what
/// the cap protects. Before, the 421 went out in clear text.
#[test]
fn implicit_tls_over_max_clients_closes_without_clear_text() {
    let Some(certs) = certs() else { return };
    let s = tls_server(certs, |t, c| {
        t.implicit = true;
        c.max_clients = 1;
    });
    let config = client_config(&certs.cert());
    let mut first = TlsClient::implicit(s.addr, &config);
    first.login("anonymous", "x");

    let mut tcp = TcpStream::connect(s.addr).expect("connect");
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut got = Vec::new();
    let started = Instant::now();
    let _ = tcp.read_to_end(&mut got);
    assert!(started.elapsed() < Duration::from_secs(5), "not closed");
    assert!(got.is_empty(), "clear text on the TLS port: {got:?}");
    // A TLS client sees the connection end, not a reply it cannot parse.
    let tcp = TcpStream::connect(s.addr).expect("connect");
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert!(handshake(&config, tcp).is_err());

    first.expect("NOOP", 200);
}
