//! curl as a real client: downloads, uploads, listings, active mode, accounts, PASV, nested
//! directory creation, quote commands and resume, with exit codes and bytes checked; the
//! `--ftp-method` variants and `-C -` both ways in each of EPSV, PASV, EPRT and PORT.

use std::process::Output;

use tinyftpd::config::{Account, Credential};

use crate::support::external::{self, curl};
use crate::support::{random_bytes, TempDir, TestServer};

fn have_curl() -> bool {
    external::available("curl", "apt-get install -y curl")
}

/// Runs curl expecting it to fail with `code`, showing its output otherwise.
fn curl_fails(args: &[&str], dir: &TempDir, code: i32) -> Output {
    let mut full = vec!["--silent", "--show-error", "--max-time", "30"];
    full.extend_from_slice(args);
    let out = external::run("curl", &full, dir.path(), 40);
    assert_eq!(
        out.status.code(),
        Some(code),
        "curl {args:?}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn curl_download() {
    if !have_curl() {
        return;
    }
    let s = TestServer::start();
    let body = random_bytes(1_234_567, 1);
    s.root.write("dir/f.bin", &body);
    s.root.write("empty", b"");
    let work = TempDir::new("curl");
    let out = curl(&["-o", "out.bin", &s.url("dir/f.bin")], work.path());
    assert!(out.status.success());
    assert!(work.read("out.bin") == body, "downloaded bytes differ");
    curl(&["-o", "empty", &s.url("empty")], work.path());
    assert_eq!(work.read("empty"), b"");
    // To stdout, too.
    let out = curl(&[&s.url("dir/f.bin")], work.path());
    assert!(out.stdout == body);
    // A missing file: RETR 550 is curl's 78 (remote file not found).
    curl_fails(&["-o", "x", &s.url("missing")], &work, 78);
}

#[test]
fn curl_upload() {
    if !have_curl() {
        return;
    }
    let s = TestServer::writable();
    let body = random_bytes(777_777, 2);
    let work = TempDir::new("curl");
    work.write("up.bin", &body);
    work.write("empty", b"");
    curl(&["-T", "up.bin", &s.url("up.bin")], work.path());
    assert!(s.root.read("up.bin") == body);
    // Replacing an existing file.
    work.write("small", b"smaller now");
    curl(&["-T", "small", &s.url("up.bin")], work.path());
    assert_eq!(s.root.read("up.bin"), b"smaller now");
    curl(&["-T", "empty", &s.url("empty")], work.path());
    assert_eq!(s.root.read("empty"), b"");
    // Appending.
    work.write("more", b", and more");
    curl(&["--append", "-T", "more", &s.url("up.bin")], work.path());
    assert_eq!(s.root.read("up.bin"), b"smaller now, and more");
}

#[test]
fn curl_upload_to_read_only_server_fails() {
    if !have_curl() {
        return;
    }
    let s = TestServer::start();
    let work = TempDir::new("curl");
    work.write("up", b"x");
    // STOR 550 is curl's 25 (upload failed).
    curl_fails(&["-T", "up", &s.url("up")], &work, 25);
    assert!(!s.root.path().join("up").exists());
}

#[test]
fn curl_list_only_and_list() {
    if !have_curl() {
        return;
    }
    let s = TestServer::start();
    s.root.write("a.txt", b"a");
    s.root.write("name with spaces", b"b");
    s.root.write("sub/inner", b"c");
    let work = TempDir::new("curl");
    let out = curl(&["--list-only", &s.url("/")], work.path());
    let mut names: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    assert_eq!(names, ["a.txt", "name with spaces", "sub"]);
    // curl lists in TYPE A and turns the CRLF line ends into LF.
    let out = curl(&["--list-only", &s.url("sub/")], work.path());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "inner\n");
    let out = curl(&[&s.url("sub/")], work.path());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("-rw") && text.ends_with(" inner\n"),
        "{text:?}"
    );
}

#[test]
fn curl_active_mode_download_and_upload() {
    if !have_curl() {
        return;
    }
    let s = TestServer::writable();
    let body = random_bytes(500_000, 3);
    s.root.write("down.bin", &body);
    let work = TempDir::new("curl");
    let out = curl(
        &[
            "-v",
            "--ftp-port",
            "127.0.0.1",
            "-o",
            "down.bin",
            &s.url("down.bin"),
        ],
        work.path(),
    );
    assert!(work.read("down.bin") == body);
    let log = stderr(&out);
    assert!(log.contains("> EPRT") || log.contains("> PORT"), "{log}");
    assert!(!log.contains("> EPSV") && !log.contains("> PASV"), "{log}");

    let up = random_bytes(300_001, 4);
    work.write("up.bin", &up);
    curl(
        &["--ftp-port", "127.0.0.1", "-T", "up.bin", &s.url("up.bin")],
        work.path(),
    );
    assert!(s.root.read("up.bin") == up);
    // Without EPRT: plain PORT.
    curl(
        &[
            "--ftp-port",
            "127.0.0.1",
            "--disable-eprt",
            "-o",
            "again.bin",
            &s.url("down.bin"),
        ],
        work.path(),
    );
    assert!(work.read("again.bin") == body);
}

#[test]
fn curl_with_an_account() {
    if !have_curl() {
        return;
    }
    let s = TestServer::with(|c| {
        c.anonymous = false;
        c.accounts = vec![Account {
            name: "a".into(),
            credential: Credential::Plain("b".into()),
            writable: true,
            root: None,
        }];
    });
    let work = TempDir::new("curl");
    let body = random_bytes(65_537, 5);
    work.write("up.bin", &body);
    curl(
        &["-u", "a:b", "-T", "up.bin", &s.url("up.bin")],
        work.path(),
    );
    assert!(s.root.read("up.bin") == body);
    curl(
        &["-u", "a:b", "-o", "back.bin", &s.url("up.bin")],
        work.path(),
    );
    assert!(work.read("back.bin") == body);
    // Wrong password and anonymous: 530 is curl's 67 (login denied).
    curl_fails(&["-u", "a:c", "-o", "x", &s.url("up.bin")], &work, 67);
    curl_fails(&["-o", "x", &s.url("up.bin")], &work, 67);
}

#[test]
fn curl_disable_epsv_uses_pasv() {
    if !have_curl() {
        return;
    }
    let s = TestServer::writable();
    let body = random_bytes(200_000, 6);
    s.root.write("f.bin", &body);
    let work = TempDir::new("curl");
    let out = curl(
        &["-v", "--disable-epsv", "-o", "f.bin", &s.url("f.bin")],
        work.path(),
    );
    let log = stderr(&out);
    assert!(log.contains("> PASV"), "{log}");
    assert!(!log.contains("> EPSV"), "{log}");
    assert!(work.read("f.bin") == body);
    work.write("up", b"pasv upload");
    curl(&["--disable-epsv", "-T", "up", &s.url("up")], work.path());
    assert_eq!(s.root.read("up"), b"pasv upload");
}

#[test]
fn curl_create_dirs() {
    if !have_curl() {
        return;
    }
    let s = TestServer::writable();
    let work = TempDir::new("curl");
    work.write("f", b"nested");
    // Without --ftp-create-dirs the CWD fails: curl's 9 (remote access denied).
    curl_fails(&["-T", "f", &s.url("a/b/c/f")], &work, 9);
    assert!(!s.root.path().join("a").exists());
    curl(
        &["--ftp-create-dirs", "-T", "f", &s.url("a/b/c/f")],
        work.path(),
    );
    assert_eq!(s.root.read("a/b/c/f"), b"nested");
    // Again, with the directories now there.
    curl(
        &["--ftp-create-dirs", "-T", "f", &s.url("a/b/c/g")],
        work.path(),
    );
    assert_eq!(s.root.read("a/b/c/g"), b"nested");
    // With one CWD for the whole path, curl sends one MKD for it, which (as on every server)
    // creates one level only.
    curl(
        &[
            "--ftp-method",
            "singlecwd",
            "--ftp-create-dirs",
            "-T",
            "f",
            &s.url("single/f"),
        ],
        work.path(),
    );
    assert_eq!(s.root.read("single/f"), b"nested");
    // No CWD at all: STOR with the whole path.
    curl(
        &["--ftp-method", "nocwd", "-T", "f", &s.url("a/b/c/h")],
        work.path(),
    );
    assert_eq!(s.root.read("a/b/c/h"), b"nested");
}

#[test]
fn curl_quote_commands() {
    if !have_curl() {
        return;
    }
    let s = TestServer::writable();
    s.root.write("f", b"to delete");
    s.root.write("g", b"kept");
    s.root.write("old", b"renamed");
    let work = TempDir::new("curl");
    curl(
        &[
            "-Q",
            "DELE f",
            "-Q",
            "MKD made",
            "-Q",
            "-RNFR old",
            "-Q",
            "-RNTO new",
            "-o",
            "g",
            &s.url("g"),
        ],
        work.path(),
    );
    assert_eq!(work.read("g"), b"kept");
    assert!(!s.root.path().join("f").exists());
    assert!(s.root.path().join("made").is_dir());
    assert_eq!(s.root.read("new"), b"renamed");
    // A failing quote command fails curl (21, quote error) before the transfer.
    curl_fails(&["-Q", "DELE missing", "-o", "g2", &s.url("g")], &work, 21);
    assert!(!work.path().join("g2").exists());
    // `*` in front: the failure is ignored.
    curl(
        &["-Q", "*DELE missing", "-o", "g3", &s.url("g")],
        work.path(),
    );
    assert_eq!(work.read("g3"), b"kept");
}

#[test]
fn curl_resume_download() {
    if !have_curl() {
        return;
    }
    let s = TestServer::start();
    let body = random_bytes(2_000_003, 7);
    s.root.write("f.bin", &body);
    let work = TempDir::new("curl");
    work.write("f.bin", &body[..876_543]);
    let out = curl(
        &["-v", "-C", "-", "-o", "f.bin", &s.url("f.bin")],
        work.path(),
    );
    assert!(stderr(&out).contains("> REST 876543"), "{}", stderr(&out));
    assert!(work.read("f.bin") == body, "resumed file differs");
    // Explicit offset to stdout.
    let out = curl(&["-C", "1999999", &s.url("f.bin")], work.path());
    assert!(out.stdout == body[1_999_999..]);
    // Already complete: nothing to do, still success, still the same bytes.
    curl(&["-C", "-", "-o", "f.bin", &s.url("f.bin")], work.path());
    assert!(work.read("f.bin") == body);
}

#[test]
fn curl_resume_upload() {
    if !have_curl() {
        return;
    }
    let s = TestServer::writable();
    let body = random_bytes(1_000_000, 8);
    s.root.write("up.bin", &body[..400_000]);
    let work = TempDir::new("curl");
    work.write("up.bin", &body);
    curl(&["-C", "-", "-T", "up.bin", &s.url("up.bin")], work.path());
    assert!(s.root.read("up.bin") == body, "resumed upload differs");
}

/// curl's four data-connection modes: EPSV (default), PASV (`--disable-epsv`), EPRT and PORT
/// (`--ftp-port -`: the control connection's address, `--disable-eprt` for PORT).
const DATA_MODES: [(&[&str], &str); 4] = [
    (&[], "EPSV"),
    (&["--disable-epsv"], "PASV"),
    (&["--ftp-port", "-"], "EPRT"),
    (&["--ftp-port", "-", "--disable-eprt"], "PORT"),
];

/// The commands curl sent, from `-v`.
fn sent(out: &Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter_map(|l| l.strip_prefix("> "))
        .map(str::to_string)
        .collect()
}

fn data_verbs_only(out: &Output, verb: &str) {
    let used: Vec<String> = sent(out)
        .into_iter()
        .filter_map(|c| c.split(' ').next().map(str::to_string))
        .filter(|v| ["PASV", "EPSV", "PORT", "EPRT"].contains(&v.as_str()))
        .collect();
    assert!(
        !used.is_empty() && used.iter().all(|v| v == verb),
        "{verb} expected: {used:?}"
    );
}

/// `--ftp-method multicwd` (one CWD per level, the default), `singlecwd` (one CWD with the whole
/// directory) and `nocwd` (no CWD: SIZE/RETR/LIST with the full path), for a download and a
/// listing from a nested directory with a space in its name, in each data mode.
#[test]
fn curl_ftp_methods_nested_paths_in_every_data_mode() {
    if !have_curl() {
        return;
    }
    let s = TestServer::start();
    let body = random_bytes(654_321, 9);
    s.root.write("a/b c/d/f.bin", &body);
    s.root.write("a/b c/d/g", b"g");
    let work = TempDir::new("curl");
    let file = s.url("a/b%20c/d/f.bin");
    let dir = s.url("a/b%20c/d/");
    let methods: [(&str, &[&str], &str, &str); 3] = [
        (
            "multicwd",
            &["CWD a", "CWD b c", "CWD d"],
            "RETR f.bin",
            "NLST",
        ),
        ("singlecwd", &["CWD a/b c/d"], "RETR f.bin", "NLST"),
        ("nocwd", &[], "RETR a/b c/d/f.bin", "NLST a/b c/d"),
    ];
    for (mode, verb) in DATA_MODES {
        for (method, cwds, retr, nlst) in methods {
            let mut args = vec!["-v", "--ftp-method", method];
            args.extend_from_slice(mode);
            let mut get = args.clone();
            get.extend(["-o", "f.bin", &file]);
            let out = curl(&get, work.path());
            assert!(work.read("f.bin") == body, "{method} {verb}: bytes differ");
            data_verbs_only(&out, verb);
            let commands = sent(&out);
            let sent_cwds: Vec<&String> =
                commands.iter().filter(|c| c.starts_with("CWD")).collect();
            assert_eq!(sent_cwds, cwds.to_vec(), "{method} {verb}");
            assert!(
                commands.contains(&retr.to_string()),
                "{method}: {commands:?}"
            );

            let mut list = args.clone();
            list.extend(["--list-only", &dir]);
            let out = curl(&list, work.path());
            let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string)
                .collect();
            names.sort();
            assert_eq!(names, ["f.bin", "g"], "{method} {verb}");
            assert!(
                sent(&out).contains(&nlst.to_string()),
                "{method}: {:?}",
                sent(&out)
            );
            std::fs::remove_file(work.path().join("f.bin")).unwrap();
        }
    }
}

/// `-C -` both ways in every data mode: a download resumes from the local length (REST), an
/// upload from the remote length (SIZE, then APPE or REST + STOR; curl 7.88 uses APPE).
#[test]
fn curl_resume_both_ways_in_every_data_mode() {
    if !have_curl() {
        return;
    }
    let s = TestServer::writable();
    let body = random_bytes(1_111_111, 10);
    s.root.write("down.bin", &body);
    let work = TempDir::new("curl");
    work.write("up.bin", &body);
    for (i, (mode, verb)) in DATA_MODES.into_iter().enumerate() {
        let cut = 100_000 * (i + 1);
        work.write("down.bin", &body[..cut]);
        let mut args = vec!["-v", "-C", "-"];
        args.extend_from_slice(mode);
        let mut get = args.clone();
        let url = s.url("down.bin");
        get.extend(["-o", "down.bin", &url]);
        let out = curl(&get, work.path());
        data_verbs_only(&out, verb);
        assert!(
            sent(&out).contains(&format!("REST {cut}")),
            "{:?}",
            sent(&out)
        );
        assert!(
            work.read("down.bin") == body,
            "{verb}: resumed download differs"
        );

        s.root.write("up.bin", &body[..cut + 1]);
        let mut put = args.clone();
        let url = s.url("up.bin");
        put.extend(["-T", "up.bin", &url]);
        let out = curl(&put, work.path());
        data_verbs_only(&out, verb);
        let commands = sent(&out);
        assert!(
            commands.contains(&"SIZE up.bin".to_string()),
            "{commands:?}"
        );
        assert!(
            commands.contains(&"APPE up.bin".to_string())
                || commands.contains(&format!("REST {}", cut + 1)),
            "{commands:?}"
        );
        assert!(
            s.root.read("up.bin") == body,
            "{verb}: resumed upload differs"
        );
    }
}
