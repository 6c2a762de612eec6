//! Attacks from PROTOCOL-NOTES.md against the jail, the data channel and the login: path
//! traversal, symlinks out of the root, PORT/EPRT bounce, PASV port theft, writes without
//! permission, login guessing, NUL bytes and the reserved upload prefix.

use std::fs;
use std::io::{ErrorKind, Read};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use tinyftpd::config::{Account, Credential};

use crate::support::client::{read_all, TIMEOUT};
use crate::support::sockets::{connect_from, v4};
use crate::support::{Client, TestServer};

/// A server whose served directory is `<temp>/served`, with a secret next to it (one level
/// above the root), so that an escape would find a real file rather than a missing one.
fn nested_server(change: impl FnOnce(&mut tinyftpd::config::Config)) -> TestServer {
    let s = TestServer::with(|c| {
        let served = c.root.join("served");
        fs::create_dir(&served).expect("create served dir");
        c.root = served;
        change(c);
    });
    s.root.write("secret", b"outside the jail");
    s.root.write("served/f", b"inside");
    s.root.write("served/sub/g", b"deeper");
    s
}

fn served(s: &TestServer) -> std::path::PathBuf {
    s.root.path().join("served")
}

fn account(name: &str, password: &str, writable: bool) -> Account {
    Account {
        name: name.into(),
        credential: Credential::Plain(password.into()),
        writable,
        root: None,
    }
}

/// Names and modes of everything under `dir`, sorted: a cheap "the file system is unchanged".
fn snapshot(dir: &Path) -> Vec<(String, u32, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("read_dir") {
            let entry = entry.expect("entry");
            let meta = fs::symlink_metadata(entry.path()).expect("lstat");
            let rel = entry
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push((rel, meta.permissions().mode(), meta.len()));
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    out.sort();
    out
}

fn pwd(c: &mut Client) -> String {
    c.expect("PWD", 257).text()
}

#[test]
fn dotdot_and_absolute_paths_stay_inside() {
    let s = nested_server(|_| {});
    let mut c = s.anonymous();
    for path in [
        "../secret",
        "/../secret",
        "../../secret",
        "sub/../../secret",
        "../../etc/passwd",
        "/../etc/passwd",
        "/../../../../../../etc/passwd",
    ] {
        c.expect(format!("RETR {path}"), 550);
        c.expect(format!("SIZE {path}"), 550);
        c.expect(format!("MDTM {path}"), 550);
    }
    // What `..` reaches is the root itself.
    c.expect("SIZE ../f", 213);
    assert_eq!(c.retr("../../f"), b"inside");

    c.expect("CWD ../..", 250);
    assert_eq!(pwd(&mut c), "257 \"/\" is the current directory.");
    c.expect("CWD sub", 250);
    c.expect("CWD ../../..", 250);
    assert_eq!(pwd(&mut c), "257 \"/\" is the current directory.");
    c.expect("CWD /../etc", 550);
    c.expect("CWD ../served", 550); // no `served` inside the root
    assert_eq!(pwd(&mut c), "257 \"/\" is the current directory.");
}

#[test]
fn listing_dotdot_lists_the_root_only() {
    let s = nested_server(|_| {});
    let mut c = s.anonymous();
    let root_names = {
        let mut n = c.nlst("NLST /");
        n.sort();
        n
    };
    assert_eq!(root_names, ["f", "sub"]);
    c.expect("CWD sub", 250);
    for line in ["NLST ../..", "NLST ../../..", "NLST /.."] {
        let mut names = c.nlst(line);
        names.sort();
        assert_eq!(names, root_names, "{line}");
    }
    let long = c.listing("LIST ../..");
    assert_eq!(long.len(), 2, "{long:?}");
    for line in &long {
        let text = String::from_utf8_lossy(line);
        assert!(text.ends_with(" f") || text.ends_with(" sub"), "{text}");
        assert!(
            !text.contains("secret") && !text.contains("served"),
            "{text}"
        );
    }
    c.expect("CWD /", 250);
    c.expect("TYPE I", 200);
    assert!(c.expect("STAT ../..", 212).text().contains(" sub"));
}

#[test]
fn backslashes_are_name_bytes_not_separators() {
    let s = nested_server(|_| {});
    let mut c = s.anonymous();
    for path in [
        "..\\secret",
        "..\\..\\secret",
        "..\\..\\etc\\passwd",
        "\\..\\..\\etc\\passwd",
        "sub\\..\\..\\secret",
    ] {
        c.expect(format!("RETR {path}"), 550);
        c.expect(format!("SIZE {path}"), 550);
        c.expect(format!("CWD {path}"), 550);
    }
    assert_eq!(pwd(&mut c), "257 \"/\" is the current directory.");
    // A file really named that way is served as an ordinary name.
    fs::write(served(&s).join("..\\secret"), b"just a name").unwrap();
    assert_eq!(c.retr("..\\secret"), b"just a name");
}

#[test]
fn symlink_out_of_the_root_is_invisible_and_refused() {
    let s = TestServer::start();
    s.root.write("f", b"x");
    symlink("/etc", s.root.path().join("link")).unwrap();
    symlink("/etc/passwd", s.root.path().join("pw")).unwrap();
    let mut c = s.anonymous();
    c.expect("RETR link/passwd", 550);
    c.expect("RETR pw", 550);
    c.expect("SIZE pw", 550);
    c.expect("SIZE link/passwd", 550);
    c.expect("CWD link", 550);
    c.expect("CWD link/", 550);
    assert_eq!(pwd(&mut c), "257 \"/\" is the current directory.");
    c.expect("LIST link", 550);
    c.expect("NLST link", 550);
    c.expect("MLSD link", 550);
    c.expect("MLST link", 550);

    for verb in ["LIST", "LIST -a", "NLST", "NLST -a"] {
        let lines = c.listing(verb);
        assert_eq!(lines.len(), 1, "{verb}: {lines:?}");
        assert!(lines[0].ends_with(b"f"), "{verb}");
    }
    let mlsd = c.listing("MLSD");
    let names: Vec<String> = mlsd
        .iter()
        .map(|l| {
            String::from_utf8_lossy(l)
                .rsplit_once(' ')
                .unwrap()
                .1
                .to_string()
        })
        .collect();
    assert!(names.iter().all(|n| n != "link" && n != "pw"), "{names:?}");
    assert!(names.iter().any(|n| n == "f"), "{names:?}");
}

#[test]
fn symlink_through_an_intermediate_dir_is_refused() {
    let s = TestServer::start();
    symlink("/", s.root.path().join("a")).unwrap();
    s.root.write("d/x", b"");
    symlink("../a", s.root.path().join("d/b")).unwrap(); // a link to a link
    let mut c = s.anonymous();
    for path in [
        "a/etc/passwd",
        "/a/etc/passwd",
        "d/b/etc/passwd",
        "a/../a/etc/passwd",
    ] {
        c.expect(format!("RETR {path}"), 550);
        c.expect(format!("SIZE {path}"), 550);
    }
    c.expect("CWD a/etc", 550);
    c.expect("CWD d/b", 550);
    c.expect("LIST a/etc", 550);
    assert_eq!(c.nlst("NLST d"), ["x"]);
}

#[test]
fn symlink_inside_the_root_works() {
    let s = TestServer::start();
    s.root.write("real/file", b"linked contents");
    symlink("real", s.root.path().join("rel")).unwrap();
    let mut c = s.anonymous();
    c.expect("CWD rel", 250);
    assert_eq!(pwd(&mut c), "257 \"/rel\" is the current directory.");
    assert_eq!(c.retr("file"), b"linked contents");
    c.expect("CWD /", 250);
    assert_eq!(c.retr("rel/file"), b"linked contents");
    c.expect("SIZE rel/file", 213);
    let list = c.listing("LIST");
    let line = list
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .find(|l| l.contains("rel"))
        .expect("link listed");
    assert!(line.starts_with('l'), "{line}");
    assert!(line.ends_with(" rel -> real"), "{line}");
    let mut names = c.nlst("NLST");
    names.sort();
    assert_eq!(names, ["real", "rel"]);
}

#[test]
fn absolute_symlink_inside_the_root_does_not_show_the_host_path() {
    let s = TestServer::start();
    s.root.write("real/file", b"x");
    let host_root = fs::canonicalize(s.root.path()).unwrap();
    symlink(host_root.join("real"), s.root.path().join("abs")).unwrap();
    let mut c = s.anonymous();
    assert_eq!(c.retr("abs/file"), b"x");
    let root_text = host_root.to_string_lossy().into_owned();
    let tmp_text = s.root.path().to_string_lossy().into_owned();
    for line in c.listing("LIST") {
        let text = String::from_utf8_lossy(&line);
        assert!(
            !text.contains(&root_text) && !text.contains(&tmp_text),
            "host path in LIST: {text}"
        );
    }
    let stat = c.expect("STAT /", 212).text();
    assert!(
        !stat.contains(&root_text) && !stat.contains(&tmp_text),
        "host path in STAT: {stat}"
    );
}

#[test]
fn port_and_eprt_bounce_refused() {
    let s = TestServer::start();
    s.root.write("f", b"data");
    let mut c = s.anonymous();
    // A listener on "another host" that must never see a connection.
    let victim = TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    victim.set_nonblocking(true).unwrap();
    let vp = victim.local_addr().unwrap().port();
    c.expect(format!("PORT 127,0,0,2,{},{}", vp >> 8, vp & 255), 501);
    c.expect("RETR f", 425); // the refused target was not kept
    c.expect(format!("EPRT |1|127.0.0.2|{vp}|"), 501);
    c.expect("RETR f", 425);
    c.expect("PORT 10,0,0,1,200,10", 501);
    c.expect("EPRT |2|::1|2000|", 501);
    // Privileged ports on our own address.
    c.expect("PORT 127,0,0,1,0,21", 501);
    c.expect("PORT 127,0,0,1,3,255", 501); // 1023
    c.expect("EPRT |1|127.0.0.1|22|", 501);
    // Malformed.
    for bad in [
        "PORT 127,0,0,256,200,10",
        "PORT 127,0,0,1,256,1",
        "PORT 127,0,0,1,4,300",
        "PORT 127,0,0,1,4,-1",
        "PORT 127,0,0,1,4",
        "PORT 127,0,0,1,4,1,1",
        "EPRT |1|127.0.0.1|70000|",
        "EPRT |1|127.0.0.256|2000|",
    ] {
        c.expect(bad, 501);
    }
    c.expect("RETR f", 425);
    match victim.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the bounce target got a connection: {other:?}"),
    }
    // The real thing still works.
    let listener = c.port();
    c.expect("RETR f", 150);
    assert_eq!(
        read_all(&mut crate::support::client::accept(&listener)),
        b"data"
    );
    c.expect_final(226);
}

#[test]
fn pasv_port_thief_gets_nothing() {
    let s = TestServer::start();
    let body = crate::support::random_bytes(100_000, 99);
    s.root.write("f", &body);
    let mut c = s.anonymous();
    c.expect("TYPE I", 200);
    for verb in ["PASV", "EPSV"] {
        let port = if verb == "PASV" {
            let text = c.expect("PASV", 227).text();
            let inner = &text[text.find('(').unwrap() + 1..text.find(')').unwrap()];
            let n: Vec<u16> = inner.split(',').map(|p| p.parse().unwrap()).collect();
            n[4] * 256 + n[5]
        } else {
            c.epsv_port()
        };
        let mut target = v4(s.addr);
        target.set_port(port);
        // The thief connects first, so the server sees it first.
        let mut thief = connect_from(Ipv4Addr::new(127, 0, 0, 2), target).expect("thief connects");
        thief.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut data = crate::support::client::data_stream(
            std::net::TcpStream::connect_timeout(&target.into(), TIMEOUT).expect("connect data"),
        );
        c.expect("RETR f", 150);
        assert_eq!(read_all(&mut data), body, "{verb}");
        c.expect_final(226);
        let mut stolen = Vec::new();
        match thief.read_to_end(&mut stolen) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("{verb}: thief read: {e}"),
        }
        assert!(
            stolen.is_empty(),
            "{verb}: the thief read {} bytes",
            stolen.len()
        );
    }
}

#[test]
fn writes_refused_without_write_permission() {
    let s = TestServer::start();
    s.root.write("f", b"keep");
    s.root.write("d/inner", b"");
    let before = snapshot(s.root.path());
    let mut c = s.anonymous();
    c.expect("EPSV", 229);
    for cmd in [
        "STOR new",
        "STOR f",
        "APPE f",
        "STOU",
        "MKD newdir",
        "XMKD newdir",
        "DELE f",
        "RNFR f",
        "RNTO g",
        "RMD d",
        "XRMD d",
        "SITE CHMOD 777 f",
        "MFMT 20000101000000 f",
    ] {
        c.expect(cmd, 550);
    }
    c.expect("NOOP", 200);
    assert_eq!(snapshot(s.root.path()), before);
    assert_eq!(s.root.read("f"), b"keep");
}

#[test]
fn accounts_without_anonymous_refuse_anonymous() {
    let s = TestServer::with(|c| {
        c.anonymous = false;
        c.accounts = vec![account("alice", "secret", true)];
    });
    for name in ["anonymous", "ftp", "ANONYMOUS"] {
        let mut c = s.client();
        c.expect(format!("USER {name}"), 331);
        c.expect("PASS me@example.com", 530);
        c.expect("PWD", 530);
        c.expect("RETR f", 530);
    }
    let mut c = s.client();
    c.login("alice", "secret");
    c.expect("MKD made", 257);
    assert!(s.root.path().join("made").is_dir());
}

#[test]
fn anonymous_read_only_next_to_a_writable_account() {
    let s = TestServer::with(|c| {
        c.anonymous = true;
        c.accounts = vec![account("alice", "secret", true)];
    });
    s.root.write("f", b"x");
    let mut anon = s.anonymous();
    anon.expect("MKD a", 550);
    anon.expect("DELE f", 550);
    assert_eq!(anon.retr("f"), b"x");
    let mut alice = s.client();
    alice.login("alice", "secret");
    alice.stor("up", b"from alice");
    alice.expect("MKD a", 257);
    assert_eq!(s.root.read("up"), b"from alice");
    // Anonymous sees alice's file but cannot remove it.
    assert_eq!(anon.retr("up"), b"from alice");
    anon.expect("DELE up", 550);
}

#[test]
fn read_only_account_cannot_write() {
    let s = TestServer::with(|c| {
        c.anonymous = false;
        c.accounts = vec![account("bob", "pw", false), account("carol", "pw2", true)];
    });
    s.root.write("f", b"x");
    let before = snapshot(s.root.path());
    let mut bob = s.client();
    bob.login("bob", "pw");
    assert_eq!(bob.retr("f"), b"x");
    for cmd in [
        "STOR g",
        "APPE f",
        "MKD d",
        "DELE f",
        "RNFR f",
        "SITE CHMOD 600 f",
    ] {
        bob.expect(cmd, 550);
    }
    assert_eq!(snapshot(s.root.path()), before);
    let mut carol = s.client();
    carol.login("carol", "pw2");
    carol.expect("DELE f", 250);
}

#[test]
fn wrong_password_and_unknown_user_look_the_same() {
    let s = TestServer::with(|c| {
        c.anonymous = false;
        c.accounts = vec![account("alice", "secret", true)];
    });
    let attempt = |user: &str, pass: &str| {
        let mut c = s.client();
        let u = c.expect(format!("USER {user}"), 331).text();
        let p = c.expect(format!("PASS {pass}"), 530).text();
        (u, p)
    };
    let wrong_password = attempt("alice", "wrong");
    let unknown_user = attempt("mallory", "secret");
    let empty_password = attempt("alice", "");
    let case = attempt("Alice", "secret");
    assert_eq!(wrong_password, unknown_user);
    assert_eq!(wrong_password, empty_password);
    assert_eq!(wrong_password, case);
}

#[test]
fn three_failed_logins_close_the_connection() {
    let s = TestServer::with(|c| {
        c.anonymous = false;
        c.accounts = vec![account("alice", "secret", true)];
    });
    let mut c = s.client();
    for _ in 0..2 {
        c.expect("USER alice", 331);
        c.expect("PASS nope", 530);
    }
    c.expect("USER alice", 331);
    c.expect("PASS nope", 421);
    assert!(
        c.try_reply().is_none(),
        "the connection stays open after 3 failures"
    );
    // REIN is not on the pre-login whitelist, and does not reset the count after a login.
    let mut c = s.client();
    c.expect("USER alice", 331);
    c.expect("PASS nope", 530);
    c.expect("REIN", 530);
    c.login("alice", "secret");
    c.expect("REIN", 220);
    c.expect("USER alice", 331);
    c.expect("PASS nope", 530);
    c.expect("USER alice", 331);
    c.expect("PASS nope", 421);
    assert!(c.try_reply().is_none());
    // A new connection starts afresh.
    let mut c = s.client();
    c.login("alice", "secret");
    c.expect("PWD", 257);
}

#[test]
fn nul_byte_in_a_path_is_refused_and_the_session_goes_on() {
    let s = TestServer::writable();
    s.root.write("a", b"A");
    let mut c = s.anonymous();
    for verb in [
        "RETR", "SIZE", "CWD", "MKD", "DELE", "STOR", "LIST", "NLST", "MDTM", "RNFR",
    ] {
        c.expect([verb.as_bytes(), b" a\0b"].concat(), 501);
        c.expect([verb.as_bytes(), b" \0"].concat(), 501);
    }
    c.expect("NOOP", 200);
    assert_eq!(c.retr("a"), b"A");
    assert_eq!(snapshot(s.root.path()).len(), 1);
}

#[test]
fn upload_temporary_prefix_cannot_be_named() {
    let s = TestServer::writable();
    s.root.write("f", b"x");
    s.root.write(".tinyftpd-upload.left", b"stale temporary");
    let mut c = s.anonymous();
    for cmd in [
        "STOR .tinyftpd-upload.x",
        "STOR sub/.tinyftpd-upload.x",
        "APPE .tinyftpd-upload.left",
        "RETR .tinyftpd-upload.left",
        "SIZE .tinyftpd-upload.left",
        "DELE .tinyftpd-upload.left",
        "MKD .tinyftpd-upload.d",
        "RNFR .tinyftpd-upload.left",
        "CWD .tinyftpd-upload.left",
    ] {
        c.expect(cmd, 553);
    }
    c.expect("RNFR f", 350);
    c.expect("RNTO .tinyftpd-upload.f", 553);
    // Not shown either, even with -a.
    for verb in ["NLST -a", "LIST -a", "MLSD"] {
        let lines = c.listing(verb);
        assert!(
            lines
                .iter()
                .all(|l| !String::from_utf8_lossy(l).contains(".tinyftpd-upload.")),
            "{verb}: {lines:?}"
        );
    }
    assert_eq!(s.root.read("f"), b"x");
    assert_eq!(s.root.read(".tinyftpd-upload.left"), b"stale temporary");
}

#[test]
fn writes_through_symlinks_out_of_the_root_are_refused() {
    let s = TestServer::writable();
    let outside = crate::support::TempDir::new("outside");
    outside.write("victim", b"original");
    outside.write("dir/keep", b"k");
    s.root.write("f", b"mine");
    let root = s.root.path();
    symlink(outside.path(), root.join("out")).unwrap();
    symlink(outside.path().join("victim"), root.join("pw")).unwrap();
    symlink(outside.path().join("created"), root.join("dangling")).unwrap();
    let before = snapshot(outside.path());
    let mut c = s.anonymous();
    c.expect("TYPE I", 200);
    for cmd in ["STOR out/x", "APPE out/victim", "APPE pw", "APPE dangling"] {
        // A data connection is ready, so a wrongly accepted command would answer 150.
        c.expect("EPSV", 229);
        c.expect(cmd, 550);
    }
    c.expect("REST 3", 350);
    c.expect("EPSV", 229);
    c.expect("STOR pw", 550);
    c.expect("REST 0", 350);
    for cmd in [
        "MKD out/d",
        "RMD out/dir",
        "DELE out/victim",
        "RNFR out/victim",
        "SITE CHMOD 777 pw",
        "SITE CHMOD 777 out/victim",
        "MFMT 20000101000000 pw",
    ] {
        c.expect(cmd, 550);
    }
    c.expect("RNFR f", 350);
    c.expect("RNTO out/f", 550);
    assert_eq!(snapshot(outside.path()), before);
    assert_eq!(outside.read("victim"), b"original");
    // STOR replaces the link itself (the upload is renamed over it), never the target.
    c.stor("pw", b"replaced");
    assert_eq!(outside.read("victim"), b"original");
    assert!(!fs::symlink_metadata(root.join("pw")).unwrap().is_symlink());
    assert_eq!(s.root.read("pw"), b"replaced");
    // Removing the links themselves is allowed and leaves the targets alone.
    c.expect("DELE dangling", 250);
    c.expect("DELE out", 250);
    assert_eq!(snapshot(outside.path()), before);
}
