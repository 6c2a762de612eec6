//! GNU wget as a real client. wget has no MLSD: it parses `LIST -a` as `ls -l` output for
//! recursion, globbing, time stamps (`-N`) and symlinks, so these tests check our LIST format
//! as much as the transfers. Every scenario runs passive (wget's default, PASV on IPv4) and
//! active (`--no-passive-ftp`, PORT on IPv4); on IPv6 wget uses EPSV and EPRT.

use std::fs;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::external::{self, assert_ok, run_with};
use crate::support::{random_bytes, tree, TempDir, TestServer};

fn have_wget() -> bool {
    external::available("wget", "apt-get install -y wget")
}

const ACTIVE: &str = "--no-passive-ftp";

/// Runs wget with debug output (the FTP dialogue goes to stderr as `--> VERB` lines), in UTC so
/// that the times it reads from LIST are the times we send.
fn wget(args: &[&str], dir: &Path) -> Output {
    let mut full = vec!["-d", "--tries=1", "--timeout=10"];
    full.extend_from_slice(args);
    let out = run_with("wget", &full, dir, 60, None, &[("TZ", "UTC")]);
    assert_ok("wget", &full, &out);
    out
}

fn log(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The commands wget sent, in order.
fn sent(out: &Output) -> Vec<String> {
    log(out)
        .lines()
        .filter_map(|l| l.strip_prefix("--> "))
        .map(str::to_string)
        .collect()
}

fn count(out: &Output, verb: &str) -> usize {
    sent(out)
        .iter()
        .filter(|c| c.split(' ').next() == Some(verb))
        .count()
}

/// Asserts that data connections were set up with `verb` only (PASV, PORT, EPSV or EPRT).
fn data_verbs_only(out: &Output, verb: &str) {
    let used: Vec<&str> = ["PASV", "EPSV", "PORT", "EPRT"]
        .into_iter()
        .filter(|v| count(out, v) > 0)
        .collect();
    assert_eq!(used, [verb], "{}", log(out));
}

fn mtime(path: &Path) -> u64 {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("mtime")
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `wget -r` of the sample tree, compared byte for byte; wget sets each file's time from the
/// LIST line (`Mon DD HH:MM`, minute precision), so they must match the server's, to the minute.
/// Then `-N` on the unchanged tree fetches nothing: sizes and times from LIST agree with what
/// wget wrote.
fn recursive(mode: &[&str], data_verb: &str) {
    let s = TestServer::start();
    tree::sample(s.root.path());
    let work = TempDir::new("wget");
    let url = s.url("");
    let mut args = mode.to_vec();
    args.extend(["-r", "-l", "inf", "-nH", "-N", "-P", "down", &url]);
    let out = wget(&args, work.path());
    data_verbs_only(&out, data_verb);
    let down = work.path().join("down");
    tree::assert_same(s.root.path(), &down);
    for (rel, kind) in tree::read(s.root.path()) {
        if kind.is_some() {
            let server = mtime(&s.root.path().join(&rel));
            assert_eq!(mtime(&down.join(&rel)), server - server % 60, "{rel}");
        }
    }
    assert_eq!(count(&out, "RETR"), 10, "{}", log(&out));

    let again = wget(&args, work.path());
    assert_eq!(
        count(&again, "RETR"),
        0,
        "-N fetched again:\n{}",
        log(&again)
    );
    tree::assert_same(s.root.path(), &down);
}

#[test]
fn wget_recursive_passive() {
    if have_wget() {
        recursive(&[], "PASV");
    }
}

#[test]
fn wget_recursive_active() {
    if have_wget() {
        recursive(&[ACTIVE], "PORT");
    }
}

/// `wget -c`: SIZE, then REST with the local length, then RETR of the rest; an already complete
/// file is left alone without a RETR.
fn resume(mode: &[&str], data_verb: &str) {
    let s = TestServer::start();
    let body = random_bytes(1_500_007, 71);
    s.root.write("dir/f.bin", &body);
    let work = TempDir::new("wget");
    work.write("f.bin", &body[..456_789]);
    let url = s.url("dir/f.bin");
    let mut args = mode.to_vec();
    args.extend(["-c", &url]);
    let out = wget(&args, work.path());
    assert!(work.read("f.bin") == body, "resumed file differs");
    assert!(
        sent(&out).contains(&"REST 456789".to_string()),
        "{}",
        log(&out)
    );
    data_verbs_only(&out, data_verb);

    let out = wget(&args, work.path());
    assert_eq!(count(&out, "RETR"), 0, "{}", log(&out));
    assert!(work.read("f.bin") == body);
}

#[test]
fn wget_continue_passive() {
    if have_wget() {
        resume(&[], "PASV");
    }
}

#[test]
fn wget_continue_active() {
    if have_wget() {
        resume(&[ACTIVE], "PORT");
    }
}

/// A file older than six months is listed as `Mon DD  YYYY`; wget takes midnight of that day.
#[test]
fn wget_reads_the_year_form_of_list_dates() {
    if !have_wget() {
        return;
    }
    let s = TestServer::start();
    let path = s.root.write("old.txt", b"old");
    // 2020-01-02 03:04:05 UTC.
    let when = UNIX_EPOCH + Duration::from_secs(1_577_934_245);
    fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(when))
        .expect("set mtime");
    let work = TempDir::new("wget");
    let url = s.url("");
    for mode in [&[][..], &[ACTIVE][..]] {
        let mut args = mode.to_vec();
        args.extend(["-r", "-nH", "-P", "down", &url]);
        wget(&args, work.path());
        let local = work.path().join("down/old.txt");
        assert_eq!(fs::read(&local).unwrap(), b"old");
        // 2020-01-02 00:00:00 UTC.
        assert_eq!(mtime(&local), 1_577_923_200);
        fs::remove_dir_all(work.path().join("down")).unwrap();
    }
    assert!(SystemTime::now() > when);
}

/// wget globs on the client side, from `LIST`: `*.txt` fetches the matching files only.
#[test]
fn wget_glob_uses_list() {
    if !have_wget() {
        return;
    }
    let s = TestServer::start();
    s.root.write("d/one.txt", b"1");
    s.root.write("d/two.txt", b"22");
    s.root.write("d/three.bin", b"333");
    let work = TempDir::new("wget");
    let url = s.url("d/*.txt");
    for mode in [&[][..], &[ACTIVE][..]] {
        let mut args = mode.to_vec();
        args.extend(["-P", "got", &url]);
        let out = wget(&args, work.path());
        assert_eq!(count(&out, "RETR"), 2, "{}", log(&out));
        let mut names: Vec<String> = fs::read_dir(work.path().join("got"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["one.txt", "two.txt"]);
        assert_eq!(work.read("got/two.txt"), b"22");
        fs::remove_dir_all(work.path().join("got")).unwrap();
    }
}

/// A symlink is listed as `lrwxrwxrwx ... name -> target`: by default wget fetches what a file
/// link points to; with `--retr-symlinks=no` it recreates the link locally, with our target.
#[test]
fn wget_symlinks_from_list() {
    if !have_wget() {
        return;
    }
    let s = TestServer::start();
    s.root.write("top.txt", b"pointed to");
    std::os::unix::fs::symlink("top.txt", s.root.path().join("link")).unwrap();
    let work = TempDir::new("wget");
    let url = s.url("");
    wget(&["-r", "-nH", "-P", "fetched", &url], work.path());
    assert_eq!(work.read("fetched/link"), b"pointed to");
    assert!(!fs::symlink_metadata(work.path().join("fetched/link"))
        .unwrap()
        .file_type()
        .is_symlink());
    wget(
        &[
            ACTIVE,
            "-r",
            "-nH",
            "--retr-symlinks=no",
            "-P",
            "linked",
            &url,
        ],
        work.path(),
    );
    let target = fs::read_link(work.path().join("linked/link")).expect("a symlink");
    assert_eq!(target, Path::new("top.txt"));
}

/// On IPv6 wget uses EPSV (passive) and EPRT (active).
#[test]
fn wget_ipv6_uses_epsv_and_eprt() {
    if !have_wget() {
        return;
    }
    let Ok(probe) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("SKIPPED: no IPv6 loopback on this machine");
        return;
    };
    drop(probe);
    let s = TestServer::on("[::1]:0", |_| {});
    let body = random_bytes(300_003, 72);
    s.root.write("sub/f.bin", &body);
    let work = TempDir::new("wget");
    let url = format!("ftp://[::1]:{}/", s.port());
    for (mode, verb) in [(&[][..], "EPSV"), (&[ACTIVE][..], "EPRT")] {
        let mut args = mode.to_vec();
        args.extend(["-r", "-nH", "-P", "down", &url]);
        let out = wget(&args, work.path());
        data_verbs_only(&out, verb);
        tree::assert_same(s.root.path(), &work.path().join("down"));
        fs::remove_dir_all(work.path().join("down")).unwrap();
    }
}
