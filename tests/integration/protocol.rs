//! RFC 959 and extension behaviour, driven by the raw client with exact reply codes.

use std::io::{Read, Write};

use crate::support::client::{accept, read_all};
use crate::support::{random_bytes, TestServer};

#[test]
fn greeting_syst_noop_quit() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(c.greeting.code, 220);
    assert_eq!(c.expect("SYST", 215).text(), "215 UNIX Type: L8");
    c.expect("NOOP", 200);
    c.expect("QUIT", 221);
    assert!(c.try_reply().is_none());
}

#[test]
fn before_login_only_the_whitelist_works() {
    let s = TestServer::start();
    let mut c = s.client();
    c.expect("OPTS UTF8 ON", 200);
    let feat = c.expect("FEAT", 211);
    for line in [
        " UTF8",
        " EPSV",
        " EPRT",
        " SIZE",
        " MDTM",
        " REST STREAM",
        " TVFS",
    ] {
        assert!(
            feat.lines.iter().any(|l| l == line.as_bytes()),
            "FEAT lacks {line:?}: {}",
            feat.text()
        );
    }
    c.expect("HELP", 214);
    for cmd in [
        "PWD", "CWD /", "LIST", "RETR a", "PASV", "EPSV", "TYPE I", "MKD x", "SIZE a",
    ] {
        c.expect(cmd, 530);
    }
    c.expect("PASS x", 503);
}

#[test]
fn login_sequence() {
    let s = TestServer::start();
    let mut c = s.client();
    c.expect("USER anonymous", 331);
    c.expect("NOOP", 200);
    c.expect("PASS x", 503); // PASS must come right after USER
    c.expect("USER anonymous", 331);
    c.expect("PASS x", 230);
    c.expect("PWD", 257);
}

#[test]
fn unknown_and_malformed_commands() {
    let s = TestServer::start();
    let mut c = s.anonymous();
    c.expect("FROB", 500);
    c.expect("RETR", 501);
    c.expect("CWD", 501);
    c.expect("PORT 1,2,3", 501);
    c.expect("TYPE X", 501);
    c.expect("RNTO x", 550); // read-only: the write gate answers first
    c.expect("NOOP", 200);
    let w = TestServer::writable();
    let mut c = w.anonymous();
    c.expect("RNTO x", 503);
    w.root.write("f", b"");
    c.expect("RNFR f", 350);
    c.expect("NOOP", 200);
    c.expect("RNTO g", 503); // RNTO must come right after RNFR
}

#[test]
fn navigation() {
    let s = TestServer::start();
    s.root.write("sub/dir/f", b"x");
    let mut c = s.anonymous();
    assert_eq!(
        c.expect("PWD", 257).text(),
        "257 \"/\" is the current directory."
    );
    c.expect("CWD sub", 250);
    assert!(c.expect("XPWD", 257).text().contains("\"/sub\""));
    c.expect("XCWD dir", 250);
    assert!(c.expect("PWD", 257).text().contains("\"/sub/dir\""));
    c.expect("CDUP", 250);
    assert!(c.expect("PWD", 257).text().contains("\"/sub\""));
    c.expect("XCUP", 250);
    c.expect("CWD nowhere", 550);
    c.expect("CWD sub/dir/f", 550);
    assert!(c.expect("PWD", 257).text().contains("\"/\""));
}

#[test]
fn type_mode_stru() {
    let s = TestServer::start();
    let mut c = s.anonymous();
    c.expect("TYPE A", 200);
    c.expect("TYPE I", 200);
    c.expect("TYPE L 8", 200);
    c.expect("TYPE E", 504);
    c.expect("MODE S", 200);
    c.expect("MODE B", 504);
    c.expect("STRU F", 200);
    c.expect("STRU R", 504);
}

#[test]
fn retr_over_pasv_epsv_port_eprt() {
    let s = TestServer::start();
    let body = random_bytes(300_000, 7);
    s.root.write("f.bin", &body);
    let mut c = s.anonymous();
    c.expect("TYPE I", 200);

    let mut data = c.pasv();
    c.expect("RETR f.bin", 150);
    assert_eq!(read_all(&mut data), body);
    c.expect_final(226);

    assert_eq!(c.retr("f.bin"), body);

    let listener = c.port();
    c.expect("RETR f.bin", 150);
    assert_eq!(read_all(&mut accept(&listener)), body);
    c.expect_final(226);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    c.expect(
        format!(
            "EPRT |1|127.0.0.1|{}|",
            listener.local_addr().unwrap().port()
        ),
        200,
    );
    c.expect("RETR f.bin", 150);
    assert_eq!(read_all(&mut accept(&listener)), body);
    c.expect_final(226);
}

#[test]
fn transfer_without_data_setup_is_425() {
    let s = TestServer::start();
    s.root.write("f", b"x");
    let mut c = s.anonymous();
    c.expect("RETR f", 425);
    c.expect("LIST", 425);
}

#[test]
fn stor_and_retr_large_random_file() {
    let s = TestServer::writable();
    let body = random_bytes(5 * 1024 * 1024 + 13, 42);
    let mut c = s.anonymous();
    c.expect("TYPE I", 200);
    c.stor("big.bin", &body);
    assert_eq!(s.root.read("big.bin"), body);
    assert_eq!(c.retr("big.bin"), body);
    assert_eq!(
        c.expect("SIZE big.bin", 213).text(),
        format!("213 {}", body.len())
    );
}

#[test]
fn ascii_mode_converts_line_ends() {
    let s = TestServer::writable();
    s.root.write("unix.txt", b"a\nb\n\nc");
    let mut c = s.anonymous();
    c.expect("TYPE A", 200);
    assert_eq!(c.retr("unix.txt"), b"a\r\nb\r\n\r\nc");
    c.stor("dos.txt", b"x\r\ny\r\n\r\nz\rw");
    assert_eq!(s.root.read("dos.txt"), b"x\ny\n\nz\rw");
    c.expect("TYPE I", 200);
    assert_eq!(c.retr("unix.txt"), b"a\nb\n\nc");
}

#[test]
fn file_operations() {
    let s = TestServer::writable();
    s.root.write("f", b"12345");
    let mut c = s.anonymous();
    assert_eq!(
        c.expect("MKD new dir", 257).text(),
        "257 \"/new dir\" created."
    );
    c.expect("MKD new dir", 550);
    assert_eq!(
        c.expect("XMKD q\"uote", 257).text(),
        "257 \"/q\"\"uote\" created."
    );
    c.expect("XRMD q\"uote", 250);
    c.expect("RNFR f", 350);
    c.expect("RNTO new dir/g", 250);
    assert_eq!(s.root.read("new dir/g"), b"12345");
    c.expect("RNFR missing", 550);
    c.expect("RMD new dir", 550); // not empty
    c.expect("DELE new dir", 550); // a directory
    c.expect("DELE new dir/g", 250);
    c.expect("DELE new dir/g", 550);
    c.expect("RMD new dir", 250);
    assert!(!s.root.path().join("new dir").exists());
}

#[test]
fn size_and_mdtm() {
    let s = TestServer::start();
    let path = s.root.write("f", b"12345");
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(t)
        .unwrap();
    s.root.write("d/x", b"");
    let mut c = s.anonymous();
    assert_eq!(c.expect("SIZE f", 213).text(), "213 5");
    assert_eq!(c.expect("MDTM f", 213).text(), "213 20231114221320");
    c.expect("SIZE d", 550);
    c.expect("SIZE nope", 550);
    c.expect("MDTM nope", 550);
}

#[test]
fn list_and_nlst() {
    let s = TestServer::start();
    s.root.write("a.txt", b"abc");
    s.root.write(".hidden", b"");
    s.root.write("sub/inner", b"");
    let mut c = s.anonymous();
    let lines = c.listing("LIST");
    assert_eq!(lines.len(), 2, "{lines:?}");
    let a = lines
        .iter()
        .find(|l| l.ends_with(b" a.txt"))
        .expect("a.txt line");
    let text = String::from_utf8_lossy(a);
    let fields: Vec<&str> = text.split_whitespace().collect();
    assert!(fields[0].starts_with("-rw"), "{text}");
    assert_eq!(fields[1], "1");
    assert_eq!(fields[4], "3");
    assert!(lines
        .iter()
        .any(|l| l.starts_with(b"d") && l.ends_with(b" sub")));
    assert_eq!(c.listing("LIST -la").len(), 3);
    assert_eq!(c.listing("LIST -l sub").len(), 1);
    let one = c.listing("LIST a.txt");
    assert_eq!(one.len(), 1);
    assert!(one[0].ends_with(b" a.txt"));
    let mut names = c.nlst("NLST");
    names.sort();
    assert_eq!(names, ["a.txt", "sub"]);
    assert_eq!(c.nlst("NLST sub"), ["inner"]);
    assert_eq!(c.nlst("NLST -a sub"), ["inner"]);
    c.expect("LIST nope", 550);
}

#[test]
fn non_utf8_names_round_trip() {
    let s = TestServer::writable();
    let mut c = s.anonymous();
    c.stor(b"caf\xE9.txt", b"latin1");
    let names = c.listing("NLST");
    assert_eq!(names, vec![b"caf\xE9.txt".to_vec()]);
    assert_eq!(c.retr(b"caf\xE9.txt"), b"latin1");
    // 0xFF travels as IAC IAC on the control connection (RFC 854).
    c.stor(b"y\xFF\xFF.bin", b"iac");
    use std::os::unix::ffi::OsStrExt;
    assert_eq!(
        std::fs::read(
            s.root
                .path()
                .join(std::ffi::OsStr::from_bytes(b"y\xFF.bin"))
        )
        .unwrap(),
        b"iac"
    );
}

#[test]
fn client_closing_data_mid_retr_gets_426_and_session_continues() {
    let s = TestServer::start();
    s.root.write("big", &vec![7u8; 64 * 1024 * 1024]);
    let mut c = s.anonymous();
    let mut data = c.epsv();
    c.expect("RETR big", 150);
    let mut buf = [0u8; 1024];
    data.read_exact(&mut buf).unwrap();
    drop(data);
    c.expect_final(426);
    c.expect("NOOP", 200);
    s.root.write("small", b"ok");
    assert_eq!(c.retr("small"), b"ok");
}

#[test]
fn over_long_line_gets_500_and_session_continues() {
    let s = TestServer::start();
    let mut c = s.client();
    let mut line = vec![b'A'; 100_000];
    line.extend_from_slice(b"\r\n");
    c.send_raw(&line);
    assert_eq!(c.reply().code, 500);
    c.expect("NOOP", 200);
}

#[test]
fn bare_lf_lowercase_and_empty_lines() {
    let s = TestServer::start();
    let mut c = s.client();
    c.send_raw(b"\r\n\nnoop\n");
    assert_eq!(c.reply().code, 200);
    c.send_raw(b"uSeR anonymous\nPASS x\n");
    assert_eq!(c.reply().code, 331);
    assert_eq!(c.reply().code, 230);
}

#[test]
fn idle_timeout_sends_421() {
    let s = TestServer::with(|c| c.idle_timeout = std::time::Duration::from_secs(1));
    let mut c = s.client();
    let reply = c.reply();
    assert_eq!(reply.code, 421, "{}", reply.text());
    assert!(c.try_reply().is_none());
}

#[test]
fn session_caps_refuse_with_421() {
    let s = TestServer::with(|c| {
        c.max_clients = 3;
        c.max_per_ip = 2;
    });
    let a = s.client();
    let b = s.client();
    let mut third = std::net::TcpStream::connect(s.addr).unwrap();
    third
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut reply = String::new();
    third.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("421 "), "{reply}");
    drop((a, b));
    // The slots come back when sessions end; a bounded wait for the server to notice.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while s.ctx.session_count() > 0 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    let mut d = s.client();
    d.expect("NOOP", 200);
    let _ = d.cmd("QUIT");
    let _ = std::io::stdout().flush();
}

#[test]
fn nlst_and_list_expand_a_pattern_in_the_last_component() {
    let s = TestServer::start();
    s.root.write("a.txt", b"");
    s.root.write("b.txt", b"");
    s.root.write(".h.txt", b"");
    s.root.write("c.dat", b"");
    s.root.write("sub/d.txt", b"");
    let mut c = s.anonymous();
    let mut names = c.nlst("NLST *.txt");
    names.sort();
    assert_eq!(names, ["a.txt", "b.txt"]);
    assert_eq!(c.nlst("NLST sub/*.txt"), ["sub/d.txt"]);
    assert_eq!(c.nlst("NLST /sub/?.txt"), ["/sub/d.txt"]);
    assert_eq!(c.listing("LIST *.dat").len(), 1);
    assert!(c.nlst("NLST *.none").is_empty());
    c.expect("NLST nodir/*.txt", 550);
    c.expect("NLST ../../etc/*", 550);
}
