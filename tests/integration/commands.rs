//! The commands beyond the core (issue "complete the protocol"): REST, APPE, STOU, ALLO, ACCT,
//! REIN, ABOR, STAT, MLST/MLSD, MFMT, HELP, SITE, HOST, CLNT, EPSV ALL, OPTS MLST.

use std::io::{Read, Write};
use std::thread;

use crate::support::client::{read_all, Client};
use crate::support::{random_bytes, TestServer};

#[test]
fn rest_retr_resumes_and_resets() {
    let s = TestServer::start();
    s.root.write("f", b"0123456789");
    let mut c = s.anonymous();
    c.expect("TYPE I", 200);
    assert_eq!(
        c.expect("REST 4", 350).text(),
        "350 Restart position accepted (4)."
    );
    assert_eq!(c.retr("f"), b"456789");
    assert_eq!(c.retr("f"), b"0123456789"); // REST applies to one transfer only
    c.expect("REST 10", 350);
    assert_eq!(c.retr("f"), b"");
    c.expect("REST 11", 350);
    let _data = c.epsv();
    c.expect("RETR f", 554);
    for bad in [
        "REST -1",
        "REST 1.5",
        "REST abc",
        "REST 99999999999999999999",
    ] {
        c.expect(bad, 501);
    }
    c.expect("REST 18446744073709551615", 350);
    c.expect("TYPE A", 200);
    c.expect("REST 3", 504); // resuming in ASCII mode would corrupt files
}

#[test]
fn rest_stor_resumes_an_upload_and_appe_appends() {
    let s = TestServer::writable();
    s.root.write("part", b"hello wXXXX");
    let mut c = s.anonymous();
    c.expect("TYPE I", 200);
    c.expect("REST 7", 350);
    c.stor("part", b"orld");
    assert_eq!(s.root.read("part"), b"hello world");
    c.store("APPE", "part", b"!\n");
    assert_eq!(s.root.read("part"), b"hello world!\n");
    c.store("APPE", "new", b"created");
    assert_eq!(s.root.read("new"), b"created");
    c.expect("REST 100", 350);
    let _data = c.epsv();
    c.expect("STOR part", 554);
}

#[test]
fn stou_stores_under_a_new_name() {
    let s = TestServer::writable();
    let mut c = s.anonymous();
    let mut names = Vec::new();
    for body in [&b"one"[..], b"two"] {
        let mut data = c.epsv();
        let reply = c.expect("STOU", 150);
        let text = reply.text();
        let name = text
            .strip_prefix("150 FILE: ")
            .expect("150 FILE: name")
            .to_string();
        data.write_all(body).unwrap();
        drop(data);
        c.expect_final(250);
        assert_eq!(s.root.read(&name), body);
        names.push(name);
    }
    assert_ne!(names[0], names[1]);
}

#[test]
fn allo_acct_clnt() {
    let s = TestServer::start();
    let mut c = s.client();
    c.expect("CLNT curl 8", 200);
    c.expect("ACCT x", 530);
    let mut c = s.anonymous();
    c.expect("ALLO 1000", 202);
    c.expect("ACCT x", 202);
}

#[test]
fn rein_logs_out_and_resets_state() {
    let s = TestServer::start();
    s.root.write("d/f", b"");
    let mut c = s.anonymous();
    c.expect("CWD d", 250);
    c.expect("TYPE A", 200);
    c.expect("REIN", 220);
    c.expect("PWD", 530);
    c.login("anonymous", "x");
    assert!(c.expect("PWD", 257).text().contains("\"/\""));
}

#[test]
fn abor_without_transfer_is_226() {
    let s = TestServer::start();
    let mut c = s.anonymous();
    c.expect("ABOR", 226);
    c.expect("PASV", 227);
    c.expect("ABOR", 226);
    c.expect("RETR x", 550);
}

/// Starts a RETR of a large file and keeps reading it on a thread, so the server is mid-transfer.
fn start_big_retr(s: &TestServer, c: &mut Client) -> thread::JoinHandle<u64> {
    s.root.write("big", &vec![b'x'; 256 * 1024 * 1024]);
    let mut data = c.epsv();
    c.expect("RETR big", 150);
    let mut first = [0u8; 4096];
    data.read_exact(&mut first).unwrap();
    thread::spawn(move || {
        let mut total = first.len() as u64;
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = data.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        total
    })
}

#[test]
fn abor_during_retr_gives_426_then_226() {
    let s = TestServer::start();
    let mut c = s.anonymous();
    let reader = start_big_retr(&s, &mut c);
    c.send("ABOR");
    c.expect_final(426);
    c.expect_final(226);
    let received = reader.join().unwrap();
    assert!(
        received < 256 * 1024 * 1024,
        "the transfer was not cut short"
    );
    c.expect("NOOP", 200);
    s.root.write("small", b"still works");
    assert_eq!(c.retr("small"), b"still works");
}

#[test]
fn telnet_interrupt_before_abor_is_understood() {
    let s = TestServer::start();
    let mut c = s.anonymous();
    let reader = start_big_retr(&s, &mut c);
    c.send_raw(b"\xFF\xF4\xFF\xF2ABOR\r\n");
    c.expect_final(426);
    c.expect_final(226);
    reader.join().unwrap();
    c.expect("NOOP", 200);
}

#[test]
fn stat_during_transfer_reports_progress_and_quit_waits_for_it() {
    let s = TestServer::start();
    let mut c = s.anonymous();
    s.root.write("mid", &vec![b'y'; 64 * 1024 * 1024]);
    let mut data = c.epsv();
    c.expect("RETR mid", 150);
    let mut first = [0u8; 1024];
    data.read_exact(&mut first).unwrap();
    c.send("STAT");
    let status = c.reply();
    assert_eq!(status.code, 213, "{}", status.text());
    assert!(status.text().contains("bytes transferred"));
    c.send("QUIT");
    let rest = read_all(&mut data);
    assert_eq!(rest.len() + first.len(), 64 * 1024 * 1024);
    c.expect_final(226);
    c.expect_final(221);
}

#[test]
fn abor_during_stor_keeps_the_old_file() {
    let s = TestServer::writable();
    s.root.write("keep", b"old contents");
    let mut c = s.anonymous();
    let mut data = c.epsv();
    c.expect("STOR keep", 150);
    data.write_all(&random_bytes(1 << 20, 3)).unwrap();
    c.send("ABOR");
    c.expect_final(426);
    c.expect_final(226);
    drop(data);
    assert_eq!(s.root.read("keep"), b"old contents");
    let leftovers: Vec<_> = std::fs::read_dir(s.root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "temporary file left behind: {leftovers:?}"
    );
}

#[test]
fn stat_without_argument_and_with_a_path() {
    let s = TestServer::start();
    s.root.write("d/one", b"1");
    s.root.write("d/two", b"22");
    s.root.write("f", b"333");
    let mut c = s.anonymous();
    let status = c.expect("STAT", 211);
    assert!(
        status.lines.len() > 2 && status.text().contains("anonymous"),
        "{}",
        status.text()
    );
    let dir = c.expect("STAT d", 212);
    assert_eq!(dir.lines.len(), 4, "{}", dir.text());
    assert!(dir.text().contains(" one") && dir.text().contains(" two"));
    let file = c.expect("STAT f", 213);
    assert!(file.lines[1].starts_with(b" -rw"), "{}", file.text());
    c.expect("STAT nope", 550);
}

fn facts_of(line: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(line).into_owned();
    let (facts, name) = text.split_once(' ').expect("facts, one space, name");
    (facts.to_string(), name.to_string())
}

#[test]
fn mlsd_and_mlst_follow_rfc_3659() {
    let s = TestServer::start();
    s.root.write("d/file.txt", b"12345");
    s.root.write("d/sub/x", b"");
    s.root.write("d/.dot", b"");
    let mut c = s.anonymous();
    let lines = c.listing("MLSD d");
    let mut entries: Vec<(String, String)> = lines.iter().map(|l| facts_of(l)).collect();
    entries.sort_by(|a, b| a.1.cmp(&b.1));
    let names: Vec<&str> = entries.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(names, [".", "..", ".dot", "file.txt", "sub"]);
    for (facts, _) in &entries {
        assert!(facts.ends_with(';'), "{facts}");
        let modify = facts
            .split(';')
            .find_map(|f| f.strip_prefix("modify="))
            .expect("modify");
        assert_eq!(modify.len(), 14);
    }
    assert!(entries[0].0.starts_with("type=cdir;"));
    assert!(entries[1].0.starts_with("type=pdir;"));
    let file = &entries[3].0;
    assert!(file.starts_with("type=file;size=5;modify="), "{file}");
    assert!(
        file.contains(";perm=r;") && file.contains(";unique=") && file.contains(";UNIX.mode=0"),
        "{file}"
    );
    assert!(entries[4].0.starts_with("type=dir;") && entries[4].0.contains("perm=el;"));
    c.expect("MLSD d/file.txt", 501);
    c.expect("MLSD nope", 550);

    let mlst = c.expect("MLST d/file.txt", 250);
    assert_eq!(mlst.lines.len(), 3);
    assert!(mlst.lines[1].starts_with(b" type=file;size=5;"));
    assert!(mlst.lines[1].ends_with(b"; /d/file.txt"));
    assert_eq!(mlst.lines[2], b"250 End");
    c.expect("MLST nope", 550);
}

#[test]
fn opts_mlst_selects_facts_and_feat_shows_them() {
    let s = TestServer::writable();
    s.root.write("f", b"abc");
    let mut c = s.anonymous();
    let feat = c.expect("FEAT", 211);
    assert!(
        feat.text()
            .contains(" MLST type*;size*;modify*;perm*;unique*;UNIX.mode*;"),
        "{}",
        feat.text()
    );
    assert_eq!(
        c.expect("OPTS MLST size;type;bogus;", 200).text(),
        "200 MLST OPTS type;size;"
    );
    let feat = c.expect("FEAT", 211);
    assert!(
        feat.text()
            .contains(" MLST type*;size*;modify;perm;unique;UNIX.mode;"),
        "{}",
        feat.text()
    );
    let mlst = c.expect("MLST f", 250);
    assert_eq!(mlst.lines[1], b" type=file;size=3; /f");
    c.expect("OPTS MLST type;perm;", 200);
    assert_eq!(
        c.expect("MLST f", 250).lines[1],
        b" type=file;perm=rawdf; /f"
    );
    c.expect("OPTS FOO", 501);
}

#[test]
fn mfmt_sets_the_modification_time() {
    let s = TestServer::writable();
    s.root.write("f", b"x");
    let mut c = s.anonymous();
    assert_eq!(
        c.expect("MFMT 20200102030405 f", 213).text(),
        "213 Modify=20200102030405; /f"
    );
    assert_eq!(c.expect("MDTM f", 213).text(), "213 20200102030405");
    c.expect("MFMT 2020 f", 501);
    c.expect("MFMT 20201302030405 f", 501);
    c.expect("MFMT 20200102030405 nope", 550);
    let ro = TestServer::start();
    ro.root.write("f", b"x");
    ro.anonymous().expect("MFMT 20200102030405 f", 550);
}

#[test]
fn help_lists_verbs_and_explains_one() {
    let s = TestServer::start();
    let mut c = s.client();
    let help = c.expect("HELP", 214);
    for verb in ["RETR", "STOR", "MLSD", "EPSV", "REST", "FEAT"] {
        assert!(help.text().contains(verb), "HELP lacks {verb}");
    }
    assert!(c.expect("HELP retr", 214).text().contains("RETR <file>"));
    c.expect("HELP FROB", 502);
}

#[test]
fn site_help_and_chmod() {
    let s = TestServer::writable();
    let path = s.root.write("f", b"x");
    let mut c = s.anonymous();
    assert!(c.expect("SITE HELP", 214).text().contains("CHMOD"));
    c.expect("SITE CHMOD 600 f", 200);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o600
    );
    c.expect("SITE CHMOD 4755 f", 200);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o755
    );
    c.expect("SITE CHMOD 999 f", 501);
    c.expect("SITE CHMOD 644 ../../etc/passwd", 550);
    c.expect("SITE UMASK 022", 502);
    c.expect("SITE FROB", 502);
    let ro = TestServer::start();
    ro.root.write("f", b"x");
    ro.anonymous().expect("SITE CHMOD 777 f", 550);
}

#[test]
fn host_before_login_only() {
    let s = TestServer::start();
    let mut c = s.client();
    c.expect("HOST ftp.example.com", 220);
    c.login("anonymous", "x");
    c.expect("HOST ftp.example.com", 503);
}

#[test]
fn epsv_all_refuses_other_data_setups() {
    let s = TestServer::start();
    s.root.write("f", b"data");
    let mut c = s.anonymous();
    c.expect("EPSV 2", 522);
    c.expect("EPSV 3", 522);
    c.expect("EPRT |3|x|5|", 522);
    c.expect("EPSV ALL", 200);
    c.expect("PASV", 503);
    c.expect("PORT 127,0,0,1,4,1", 503);
    c.expect("EPRT |1|127.0.0.1|1025|", 503);
    assert_eq!(c.retr("f"), b"data");
}

#[test]
fn ipv6_epsv_and_eprt() {
    let Ok(probe) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("SKIPPED: no IPv6 loopback on this machine");
        return;
    };
    drop(probe);
    let s = TestServer::on("[::1]:0", |_| {});
    s.root.write("f", b"six");
    let mut c = s.anonymous();
    c.expect("EPSV 1", 522);
    c.expect("PASV", 504);
    assert_eq!(c.retr("f"), b"six");
    let listener = std::net::TcpListener::bind("[::1]:0").unwrap();
    c.expect(
        format!("EPRT |2|::1|{}|", listener.local_addr().unwrap().port()),
        200,
    );
    c.expect("RETR f", 150);
    assert_eq!(
        read_all(&mut crate::support::client::accept(&listener)),
        b"six"
    );
    c.expect_final(226);
}

#[test]
fn large_sparse_file_sizes_are_64_bit() {
    let s = TestServer::start();
    let size: u64 = 5 * 1024 * 1024 * 1024 + 3;
    let file = std::fs::File::create(s.root.path().join("huge")).unwrap();
    file.set_len(size).unwrap();
    let mut c = s.anonymous();
    c.expect("TYPE I", 200);
    assert_eq!(c.expect("SIZE huge", 213).text(), format!("213 {size}"));
    let list = c.listing("LIST huge");
    assert!(String::from_utf8_lossy(&list[0]).contains(&format!(" {size} ")));
    let mlsd = c.listing("MLSD");
    assert!(String::from_utf8_lossy(&mlsd[2]).contains(&format!("size={size};")));
    c.expect(format!("REST {}", size - 3), 350);
    assert_eq!(c.retr("huge"), vec![0u8; 3]);
}

#[test]
fn every_advertised_verb_is_exercised_by_a_test() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration");
    let mut sources = String::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            sources.push_str(&std::fs::read_to_string(path).unwrap());
        }
    }
    for verb in tinyftpd::command_table::VERBS {
        let quoted = format!("\"{}", verb.name);
        let quoted_lower = format!("\"{}", verb.name.to_ascii_lowercase());
        assert!(
            sources.contains(&quoted) || sources.contains(&quoted_lower),
            "{} is advertised (HELP/FEAT) but no integration test sends it",
            verb.name
        );
    }
}

#[test]
fn listing_stops_at_its_bound_with_451() {
    let s = TestServer::with(|c| c.max_list_entries = 5);
    for i in 0..8 {
        s.root.write(&format!("f{i}"), b"");
    }
    let mut c = s.anonymous();
    for verb in ["LIST", "NLST", "MLSD"] {
        let mut data = c.epsv();
        c.expect(verb, 150);
        let body = read_all(&mut data);
        c.expect_final(451);
        assert!(
            body.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .count()
                <= 7,
            "{verb}"
        );
    }
    c.expect("NOOP", 200);
}

/// 100,000 entries stream through the real binary without its memory growing with the listing
/// (a listing built in memory first would need several MiB).
#[test]
fn huge_directory_lists_in_constant_memory() {
    let dir = crate::support::TempDir::new("huge-dir");
    for i in 0..100_000 {
        std::fs::File::create(dir.path().join(format!("entry-with-a-longish-name-{i:06}")))
            .unwrap();
    }
    let server = crate::support::process::Binary::start(&["-q", dir.path().to_str().unwrap()]);
    let rss = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .unwrap()
            .to_string();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    let mut c = Client::connect(server.addr);
    c.login("anonymous", "x");
    assert_eq!(c.listing("NLST").len(), 100_000); // warm up: first-use allocations
    let before = rss();
    for verb in ["LIST", "MLSD", "NLST"] {
        let lines = c.listing(verb);
        assert!(lines.len() >= 100_000, "{verb}: {}", lines.len());
    }
    let grown_kib = rss().saturating_sub(before);
    assert!(
        grown_kib < 2048,
        "RSS grew by {grown_kib} KiB while listing"
    );
}

/// MLSD with only `type` and `perm` selected reads the kind from getdents instead of a stat per
/// entry: it must say what the stat said (a link as what it leads to, a socket as special).
#[test]
fn mlsd_of_type_and_perm_only_says_what_the_full_facts_say() {
    let s = TestServer::writable();
    s.root.write("d/file", b"abc");
    s.root.write("d/sub/x", b"");
    std::os::unix::fs::symlink("file", s.root.path().join("d/to-file")).unwrap();
    std::os::unix::fs::symlink("sub", s.root.path().join("d/to-sub")).unwrap();
    std::os::unix::fs::symlink("/nowhere", s.root.path().join("d/out")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(s.root.path().join("d/sock")).unwrap();
    let mut c = s.anonymous();
    let shown = |c: &mut Client| {
        let mut lines: Vec<(String, String)> = c
            .listing("MLSD d")
            .iter()
            .map(|l| facts_of(l))
            .map(|(facts, name)| {
                let kept: Vec<&str> = facts
                    .split(';')
                    .filter(|f| f.starts_with("type=") || f.starts_with("perm="))
                    .collect();
                (name, kept.join(";"))
            })
            .collect();
        lines.sort();
        lines
    };
    let full = shown(&mut c);
    c.expect("OPTS MLST type;perm;", 200);
    let lean = shown(&mut c);
    assert_eq!(lean, full);
    let names: Vec<&str> = full.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [".", "..", "file", "sock", "sub", "to-file", "to-sub"]
    );
    assert_eq!(full[3].1, "type=OS.unix=special;perm=rawdf");
    assert_eq!(full[5].1, "type=file;perm=rawdf");
    assert_eq!(full[6].1, "type=dir;perm=flcdmpe");
}

/// A directory bigger than one getdents buffer and one output buffer: every entry exactly once,
/// lines whole across the 64 KiB writes.
#[test]
fn big_directory_lists_every_entry_once_in_every_format() {
    let s = TestServer::start();
    let dir = s.root.path().join("big");
    std::fs::create_dir(&dir).unwrap();
    let mut want: Vec<String> = (0..3000)
        .map(|i| format!("{i:05}-{}", "n".repeat(40)))
        .collect();
    for name in &want {
        std::fs::File::create(dir.join(name)).unwrap();
    }
    want.sort();
    let mut c = s.anonymous();
    let mut names = c.nlst("NLST big");
    names.sort();
    assert_eq!(names, want);
    let mut listed: Vec<String> = c
        .listing("LIST big")
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .inspect(|l| assert!(l.starts_with("-rw"), "{l}"))
        .map(|l| l.rsplit(' ').next().unwrap_or_default().to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, want);
    let mut machine: Vec<String> = c
        .listing("MLSD big")
        .iter()
        .map(|l| facts_of(l).1)
        .collect();
    machine.sort();
    assert_eq!(machine.len(), want.len() + 2);
    assert_eq!(&machine[2..], &want[..]);
}
