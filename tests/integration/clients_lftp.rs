//! lftp as a real client: `mirror` of a nested tree down and back up (passive with EPSV,
//! passive with PASV, active), compared byte for byte, `get -c` and `put -c` resuming partial
//! files, and file management (`cls`, `ls`, `mkdir -p`, `rmdir`, `mv`, `rm`, `mrm`, `chmod`,
//! `cat`) in each mode.

use crate::support::external::{self, lftp};
use crate::support::{random_bytes, tree, TempDir, TestServer};

fn have_lftp() -> bool {
    external::available("lftp", "apt-get install -y lftp")
}

/// Mirrors the sample tree down into `down`, then back up into `/copy`, with `settings` first,
/// and checks from lftp's debug log that data connections were set up with `data_verbs` only.
fn mirror_both_ways(settings: &str, data_verbs: &[&str]) {
    let s = TestServer::writable();
    tree::sample(s.root.path());
    let work = TempDir::new("lftp");
    let url = s.url("");
    let settings = format!("debug 10; {settings}");
    let out = lftp(&format!("{settings}mirror / down"), &url, work.path());
    tree::assert_same(s.root.path(), &work.path().join("down"));
    check_data_verbs(&out, data_verbs);

    let out = lftp(
        &format!("{settings}mirror -R down /copy"),
        &url,
        work.path(),
    );
    check_data_verbs(&out, data_verbs);
    tree::assert_same(&work.path().join("down"), &s.root.path().join("copy"));

    // A second mirror of an unchanged tree transfers nothing and changes nothing.
    lftp(&format!("{settings}mirror / down"), &url, work.path());
    let copy = s.root.path().join("copy");
    let down = work.path().join("down");
    tree::assert_same(&copy, &down.join("copy"));
    std::fs::remove_dir_all(down.join("copy")).unwrap();
    tree::assert_same(&copy, &down);
}

fn check_data_verbs(out: &std::process::Output, allowed: &[&str]) {
    let log = String::from_utf8_lossy(&out.stderr);
    let used: Vec<&str> = ["PASV", "EPSV", "PORT", "EPRT"]
        .into_iter()
        .filter(|verb| log.contains(&format!("---> {verb}")))
        .collect();
    assert!(
        !used.is_empty() && used.iter().all(|v| allowed.contains(v)),
        "expected only {allowed:?}, lftp used {used:?}"
    );
}

#[test]
fn lftp_mirror_passive_epsv() {
    if have_lftp() {
        // lftp 4.9 prefers PASV by default.
        mirror_both_ways("set ftp:prefer-epsv yes; ", &["EPSV"]);
    }
}

#[test]
fn lftp_mirror_passive_pasv() {
    if have_lftp() {
        mirror_both_ways("set ftp:prefer-epsv no; ", &["PASV"]);
    }
}

#[test]
fn lftp_mirror_active() {
    if have_lftp() {
        mirror_both_ways("set ftp:passive-mode off; ", &["PORT", "EPRT"]);
    }
}

#[test]
fn lftp_get_resumes_a_partial_file() {
    if !have_lftp() {
        return;
    }
    let s = TestServer::start();
    let body = random_bytes(1_500_001, 21);
    s.root.write("f.bin", &body);
    let work = TempDir::new("lftp");
    work.write("f.bin", &body[..654_321]);
    let out = lftp("debug 10; get -c f.bin", &s.url(""), work.path());
    assert!(work.read("f.bin") == body, "resumed file differs");
    assert!(String::from_utf8_lossy(&out.stderr).contains("---> REST 654321"));
    // The same in active mode, from a different offset.
    work.write("f.bin", &body[..1]);
    lftp(
        "set ftp:passive-mode off; get -c f.bin",
        &s.url(""),
        work.path(),
    );
    assert!(work.read("f.bin") == body, "resumed file differs (active)");
}

#[test]
fn lftp_put_resumes_a_partial_upload() {
    if !have_lftp() {
        return;
    }
    let s = TestServer::writable();
    let body = random_bytes(1_200_000, 22);
    s.root.write("up.bin", &body[..300_000]);
    let work = TempDir::new("lftp");
    work.write("up.bin", &body);
    let out = lftp("debug 10; put -c up.bin", &s.url(""), work.path());
    assert!(String::from_utf8_lossy(&out.stderr).contains("---> REST 300000"));
    assert!(s.root.read("up.bin") == body, "resumed upload differs");
}

/// The file-management part of the scenario set, in each data mode: `cls` (MLSD) and `ls`
/// (LIST), `mkdir -p`, `rmdir`, `mv` (RNFR/RNTO), `rm`, `rm -r`, `mrm` with a pattern (lftp
/// globs on its side), `chmod` (SITE CHMOD), `cat`, `get -c` and `put -c`.
fn file_management(settings: &str, data_verbs: &[&str]) {
    let s = TestServer::writable();
    let body = random_bytes(800_001, 23);
    s.root.write("dir/f.bin", &body);
    s.root.write("dir/old name", b"renamed");
    s.root.write("gone.txt", b"x");
    s.root.write("a.tmp", b"x");
    s.root.write("b.tmp", b"x");
    s.root.write("tree/x/y", b"x");
    s.root.write("cat.txt", b"meow\n");
    s.root.write("part.bin", &body);
    s.root.write("resumed.bin", &body[..123_456]);
    let work = TempDir::new("lftp");
    work.write("part.bin", &body[..345_678]);
    work.write("resumed.bin", &body);
    let out = lftp(
        &format!(
            "debug 10; {settings}cls -1 dir; ls; mkdir -p new/deeper; rmdir new/deeper; \
             mv 'dir/old name' 'new/new name'; rm gone.txt; mrm *.tmp; rm -r tree; \
             chmod 600 cat.txt; cat cat.txt; get -c part.bin; put -c resumed.bin"
        ),
        &s.url(""),
        work.path(),
    );
    check_data_verbs(&out, data_verbs);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("---> MLSD"), "cls uses MLSD");
    assert!(stdout.contains("dir/f.bin\ndir/old name\n"), "{stdout}");
    assert!(
        stdout.contains(" gone.txt\n") && stdout.contains("\nd"),
        "{stdout}"
    );
    assert!(stdout.ends_with("meow\n"), "{stdout}");
    assert!(s.root.path().join("new").is_dir());
    assert!(!s.root.path().join("new/deeper").exists());
    assert_eq!(s.root.read("new/new name"), b"renamed");
    assert!(!s.root.path().join("dir/old name").exists());
    for gone in ["gone.txt", "a.tmp", "b.tmp", "tree"] {
        assert!(!s.root.path().join(gone).exists(), "{gone} still there");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.root.path().join("cat.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(log.contains("---> REST 345678"), "get -c");
    assert!(work.read("part.bin") == body, "get -c differs");
    assert!(log.contains("---> REST 123456"), "put -c");
    assert!(s.root.read("resumed.bin") == body, "put -c differs");
}

#[test]
fn lftp_file_management_passive_epsv() {
    if have_lftp() {
        file_management("set ftp:prefer-epsv yes; ", &["EPSV"]);
    }
}

#[test]
fn lftp_file_management_passive_pasv() {
    if have_lftp() {
        file_management("set ftp:prefer-epsv no; ", &["PASV"]);
    }
}

#[test]
fn lftp_file_management_active() {
    if have_lftp() {
        file_management("set ftp:passive-mode off; ", &["PORT", "EPRT"]);
    }
}
