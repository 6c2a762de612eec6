//! NcFTP's one-shot tools as real clients: `ncftpget` and `ncftpput` (LibNcFTP 3.2). They read
//! FEAT and `HELP SITE`, select MLST facts with `OPTS MLST`, recurse with MLSD, resume with
//! MLST + REST and preserve upload times with MFMT. Passive is PASV (`-F`, the default), active
//! is PORT (`-E`); each run writes a debug log (`-d`) whose `Cmd:` lines the tests check. HOME
//! points into the test's directory, because NcFTP keeps state in `~/.ncftp`.

use std::fs;
use std::path::Path;
use std::process::Output;
use std::time::UNIX_EPOCH;

use crate::support::external::{self, run_with};
use crate::support::{random_bytes, tree, TempDir, TestServer};

fn have_ncftp() -> bool {
    external::available("ncftpget", "apt-get install -y ncftp")
        && external::available("ncftpput", "apt-get install -y ncftp")
}

const MODES: [(&str, &str); 2] = [("-F", "PASV"), ("-E", "PORT")];

/// Runs `tool -V -d ncftp.log -P PORT <mode> <args>` in `work`; returns the output and the
/// commands sent (from the debug log, which is then removed).
fn ncftp(
    tool: &str,
    s: &TestServer,
    mode: &str,
    args: &[&str],
    work: &Path,
) -> (Output, Vec<String>) {
    let port = s.port().to_string();
    let mut full = vec!["-V", "-t", "20", "-d", "ncftp.log", "-P", &port, mode];
    full.extend_from_slice(args);
    let home = work.to_string_lossy().into_owned();
    let out = run_with(tool, &full, work, 60, None, &[("HOME", &home)]);
    let log = fs::read(work.join("ncftp.log")).unwrap_or_default();
    let _ = fs::remove_file(work.join("ncftp.log"));
    let sent = String::from_utf8_lossy(&log)
        .lines()
        .filter_map(|l| l.split_once("Cmd: ").map(|(_, c)| c.to_string()))
        .collect();
    (out, sent)
}

fn ok(tool: &str, s: &TestServer, mode: &str, args: &[&str], work: &Path) -> Vec<String> {
    let (out, sent) = ncftp(tool, s, mode, args, work);
    assert!(
        out.status.success(),
        "{tool} {mode} {args:?}: {:?}\n{}\ncommands: {sent:#?}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    sent
}

fn verb_count(sent: &[String], verb: &str) -> usize {
    sent.iter()
        .filter(|c| c.split(' ').next() == Some(verb))
        .count()
}

fn data_verbs_only(sent: &[String], verb: &str) {
    let used: Vec<&str> = ["PASV", "EPSV", "PORT", "EPRT"]
        .into_iter()
        .filter(|v| verb_count(sent, v) > 0)
        .collect();
    assert_eq!(used, [verb], "{sent:#?}");
}

fn mtime(path: &Path) -> u64 {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("mtime")
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `ncftpget -R` of the sample tree (MLSD per directory), then `ncftpput -R -m` of it back
/// into a new directory (MKD per directory, MFMT after each STOR to keep its time).
fn mirror(mode: &str, verb: &str) {
    let s = TestServer::writable();
    tree::sample(s.root.path());
    let work = TempDir::new("ncftp");
    fs::create_dir(work.path().join("down")).unwrap();
    let sent = ok(
        "ncftpget",
        &s,
        mode,
        &["-R", "127.0.0.1", "down", "/"],
        work.path(),
    );
    data_verbs_only(&sent, verb);
    assert!(verb_count(&sent, "MLSD") >= 6, "{sent:#?}");
    let down = work.path().join("down");
    tree::assert_same(s.root.path(), &down);

    let sent = ok(
        "ncftpput",
        &s,
        mode,
        &["-R", "-m", "127.0.0.1", "/copy", "down"],
        work.path(),
    );
    data_verbs_only(&sent, verb);
    assert_eq!(verb_count(&sent, "STOR"), 10, "{sent:#?}");
    assert_eq!(verb_count(&sent, "MFMT"), 10, "{sent:#?}");
    let copy = s.root.path().join("copy/down");
    tree::assert_same(&down, &copy);
    for (rel, kind) in tree::read(&down) {
        if kind.is_some() {
            assert_eq!(mtime(&copy.join(&rel)), mtime(&down.join(&rel)), "{rel}");
        }
    }
}

#[test]
fn ncftp_mirror_passive() {
    if have_ncftp() {
        mirror(MODES[0].0, MODES[0].1);
    }
}

#[test]
fn ncftp_mirror_active() {
    if have_ncftp() {
        mirror(MODES[1].0, MODES[1].1);
    }
}

/// Downloads resume by default (MLST for the size, REST with the local length); `-DD` deletes
/// the remote file afterwards; `-c` writes to stdout. Uploads into a temporary name (`-T`) are
/// renamed into place (RNFR/RNTO); `-z` resumes an upload.
fn transfers(mode: &str, verb: &str) {
    let s = TestServer::writable();
    let body = random_bytes(1_300_001, 91);
    s.root.write("dir/f.bin", &body);
    s.root.write("dir/g.bin", &body);
    let work = TempDir::new("ncftp");
    work.write("f.bin", &body[..400_000]);
    let sent = ok(
        "ncftpget",
        &s,
        mode,
        &["127.0.0.1", ".", "/dir/f.bin"],
        work.path(),
    );
    data_verbs_only(&sent, verb);
    assert!(sent.contains(&"REST 400000".to_string()), "{sent:#?}");
    assert!(work.read("f.bin") == body, "resumed download differs");

    let sent = ok(
        "ncftpget",
        &s,
        mode,
        &["-DD", "127.0.0.1", ".", "/dir/g.bin"],
        work.path(),
    );
    assert!(sent.contains(&"DELE /dir/g.bin".to_string()), "{sent:#?}");
    assert!(work.read("g.bin") == body);
    assert!(!s.root.path().join("dir/g.bin").exists());

    let (out, _) = ncftp(
        "ncftpget",
        &s,
        mode,
        &["-c", "127.0.0.1", "/dir/f.bin"],
        work.path(),
    );
    assert!(out.status.success() && out.stdout == body, "-c differs");

    let up = random_bytes(900_009, 92);
    work.write("up.bin", &up);
    let sent = ok(
        "ncftpput",
        &s,
        mode,
        &["-T", "tmp.", "127.0.0.1", "/dir", "up.bin"],
        work.path(),
    );
    data_verbs_only(&sent, verb);
    assert!(sent.contains(&"STOR tmp.up.bin".to_string()), "{sent:#?}");
    assert!(sent.contains(&"RNTO up.bin".to_string()), "{sent:#?}");
    assert!(s.root.read("dir/up.bin") == up, "upload differs");
    assert!(!s.root.path().join("dir/tmp.up.bin").exists());

    // Resume an upload. `-s`: see ncftpput_resume_needs_s.
    s.root.write("dir/up.bin", &up[..300_000]);
    let sent = ok(
        "ncftpput",
        &s,
        mode,
        &["-z", "-s", "127.0.0.1", "/dir", "up.bin"],
        work.path(),
    );
    assert!(sent.contains(&"REST 300000".to_string()), "{sent:#?}");
    assert!(s.root.read("dir/up.bin") == up, "resumed upload differs");
}

#[test]
fn ncftp_transfers_passive() {
    if have_ncftp() {
        transfers(MODES[0].0, MODES[0].1);
    }
}

#[test]
fn ncftp_transfers_active() {
    if have_ncftp() {
        transfers(MODES[1].0, MODES[1].1);
    }
}

/// A client bug, not ours: ncftpput 3.2.6 resuming (`-z`) with sendfile(2) (its default) sends
/// `REST n` and then the whole local file from byte 0, so the remote file ends up with the first
/// n bytes twice. Without sendfile (`-s`) it sends from byte n. The server does what REST + STOR
/// says in both cases: writes what it receives at offset n.
#[test]
fn ncftpput_resume_needs_s() {
    if !have_ncftp() {
        return;
    }
    let s = TestServer::writable();
    let up = random_bytes(200_000, 93);
    s.root.write("up.bin", &up[..50_000]);
    let work = TempDir::new("ncftp");
    work.write("up.bin", &up);
    let sent = ok(
        "ncftpput",
        &s,
        "-F",
        &["-z", "127.0.0.1", "/", "up.bin"],
        work.path(),
    );
    assert!(sent.contains(&"REST 50000".to_string()), "{sent:#?}");
    let got = s.root.read("up.bin");
    // The kept prefix, then whatever the client sent: all of it (the bug) or the rest (fixed).
    assert!(got[..50_000] == up[..50_000], "the prefix was not kept");
    assert!(
        got[50_000..] == up[..] || got == up,
        "neither the known ncftpput behaviour nor a correct resume ({} bytes)",
        got.len()
    );
}

/// Like tnftp's `mget`, ncftpget sends a wildcard as `NLST pattern` for the server to expand.
#[test]
fn ncftpget_wildcard_is_expanded_by_the_server() {
    if !have_ncftp() {
        return;
    }
    let s = TestServer::start();
    s.root.write("a.txt", b"a");
    s.root.write("b.txt", b"b");
    let work = TempDir::new("ncftp");
    fs::create_dir(work.path().join("got")).unwrap();
    let (out, sent) = ncftp(
        "ncftpget",
        &s,
        "-F",
        &["127.0.0.1", "got", "/*.txt"],
        work.path(),
    );
    assert!(sent.contains(&"NLST /*.txt".to_string()), "{sent:#?}");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(work.read("got/a.txt"), b"a");
    assert_eq!(work.read("got/b.txt"), b"b");
}
