//! Per-account folders (issue 12): an account, or anonymous, confined to a directory of DIR
//! sees it as `/`, and two accounts cannot reach each other's trees, neither by path tricks
//! (`..`, absolute paths, `//`, backslashes) nor by symlinks a local user plants; a folder
//! that is not a directory inside DIR is a start-up error, and on reload keeps the old accounts.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tinyftpd::config::{Account, AccountRoot, Config, Credential};

use crate::support::client::{read_all, TIMEOUT};
use crate::support::external::{self, curl};
use crate::support::process::{Binary, BIN};
use crate::support::{Client, TempDir, TestServer};

/// What camera's file holds: it must never show in scanner's session.
const CAMERA_SECRET: &str = "CAMERA-SECRET-5f1e";
const TOP_SECRET: &str = "TOP-OF-DIR-SECRET-77a0";

fn account(name: &str, folder: Option<&str>) -> Account {
    Account {
        name: name.into(),
        credential: Credential::Plain("pw".into()),
        writable: true,
        root: folder.map(|f| AccountRoot::parse(f, &format!("-u {name}")).unwrap()),
    }
}

/// DIR with `/scanner` and `/camera` (each one account's folder), a file at the top of DIR,
/// and links a local user planted in `/scanner`: into `/camera`, to DIR and to `/scanner`'s
/// parent, relative and absolute, plus two that stay inside.
fn build_two_folders(root: &Path) {
    let real = fs::canonicalize(root).unwrap();
    for (rel, contents) in [
        ("scanner/scan.txt", "scan"),
        ("scanner/sub/deep.txt", "deep"),
        ("camera/photo.jpg", CAMERA_SECRET),
        ("camera/dir/inner", CAMERA_SECRET),
        ("top.txt", TOP_SECRET),
    ] {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }
    fs::create_dir(root.join("camera/empty")).unwrap();
    let scanner = root.join("scanner");
    for (target, name) in [
        (PathBuf::from("../camera"), "rel"),
        (real.join("camera"), "abs"),
        (PathBuf::from("../camera/photo.jpg"), "relfile"),
        (real.join("camera/photo.jpg"), "absfile"),
        (PathBuf::from(".."), "up"),
        (real.clone(), "absup"),
        (PathBuf::from("sub/../../camera"), "deep"),
        (PathBuf::from("sub"), "inside"),
        (real.join("scanner/sub/deep.txt"), "absinside"),
    ] {
        symlink(target, scanner.join(name)).unwrap();
    }
}

fn two_folders(walk: bool, change: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::with(|c| {
        build_two_folders(&c.root);
        c.anonymous = false;
        c.jail_openat2 = !walk;
        c.accounts = vec![
            account("scanner", Some("/scanner")),
            account("camera", Some("camera")),
        ];
        change(c);
    })
}

/// Every name below `dir` with its contents (links as their targets).
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let meta = fs::symlink_metadata(&path).unwrap();
            let contents = if meta.is_symlink() {
                fs::read_link(&path)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else if meta.is_dir() {
                stack.push(path);
                Vec::new()
            } else {
                fs::read(&path).unwrap()
            };
            out.push((rel, contents));
        }
    }
    out.sort();
    out
}

fn assert_pwd(c: &mut Client, expected: &str) {
    let reply = c.expect("PWD", 257).text();
    assert_eq!(
        reply,
        format!("257 \"{expected}\" is the current directory.")
    );
}

fn names_in(dir: &Path) -> Vec<std::ffi::OsString> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    names
}

/// A data command that must be refused before any data moves.
fn refused_with_data(c: &mut Client, line: &str) {
    let _data = c.epsv();
    let reply = c.cmd(line);
    assert_eq!(reply.code, 550, "{line} -> {}", reply.text());
}

/// Paths that, from scanner's folder, name camera's file or the top of DIR.
const INTO_CAMERA: &[&str] = &[
    "../camera/photo.jpg",
    "/../camera/photo.jpg",
    "//camera/photo.jpg",
    "/camera/photo.jpg",
    "..\\camera\\photo.jpg",
    "/..\\..\\camera\\photo.jpg",
    "sub/../../camera/photo.jpg",
    "rel/photo.jpg",
    "abs/photo.jpg",
    "relfile",
    "absfile",
    "up/camera/photo.jpg",
    "absup/camera/photo.jpg",
    "deep/photo.jpg",
    "up/top.txt",
    "absup/top.txt",
    "../top.txt",
    "/top.txt",
];

/// Directories of camera (or DIR) that scanner must not write into.
const INTO_CAMERA_DIRS: &[&str] = &[
    "rel",
    "abs",
    "up/camera",
    "absup/camera",
    "deep",
    "up",
    "absup",
    "../camera",
    "//camera",
];

fn scanner_cannot_reach_camera(walk: bool) {
    let s = two_folders(walk, |_| {});
    let root = s.root.path().to_path_buf();
    let camera_before = snapshot(&root.join("camera"));
    let top_before = names_in(&root);
    let mut c = s.client();
    c.login("scanner", "pw");
    c.expect("TYPE I", 200);
    assert_pwd(&mut c, "/");
    for path in INTO_CAMERA {
        for verb in ["SIZE", "MDTM", "MLST", "STAT"] {
            let reply = c.cmd(format!("{verb} {path}"));
            assert_eq!(reply.code, 550, "{verb} {path} -> {}", reply.text());
        }
        refused_with_data(&mut c, &format!("RETR {path}"));
        // A backslash name, or `top.txt` in scanner's own `/`, is a new file of scanner's.
        let creatable = path.contains('\\') || path.trim_start_matches(['/', '.']) == "top.txt";
        if !creatable {
            refused_with_data(&mut c, &format!("APPE {path}"));
        }
        c.expect(format!("SITE CHMOD 666 {path}"), 550);
        c.expect(format!("MFMT 20000101000000 {path}"), 550);
        c.expect(format!("CWD {path}"), 550);
    }
    for dir in INTO_CAMERA_DIRS {
        if !dir.contains("..") && !dir.starts_with("//") {
            // The link itself is scanner's (DELE would remove the link, harmlessly); what it
            // leads to is not listable.
            c.expect(format!("CWD {dir}"), 550);
            c.expect(format!("STAT {dir}"), 550);
            refused_with_data(&mut c, &format!("LIST {dir}"));
            refused_with_data(&mut c, &format!("MLSD {dir}"));
        }
        refused_with_data(&mut c, &format!("STOR {dir}/planted"));
        refused_with_data(&mut c, &format!("APPE {dir}/planted"));
        c.expect(format!("MKD {dir}/made"), 550);
        c.expect(format!("RMD {dir}/empty"), 550);
        c.expect(format!("DELE {dir}/photo.jpg"), 550);
        c.expect(format!("RNFR {dir}/photo.jpg"), 550);
        c.expect("RNFR scan.txt", 350);
        c.expect(format!("RNTO {dir}/stolen"), 550);
    }
    // `..` stops at the folder.
    c.expect("CWD ..", 250);
    c.expect("CDUP", 250);
    assert_pwd(&mut c, "/");
    // The listing shows scanner's own entries; links that lead out are left out.
    let mut names = c.nlst("NLST -a /");
    names.sort();
    assert_eq!(names, ["absinside", "inside", "scan.txt", "sub"]);
    let long = c.listing("LIST -a ..").concat();
    let long = String::from_utf8_lossy(&long);
    assert!(
        !long.contains("camera") && !long.contains("top.txt"),
        "{long}"
    );
    // What stays inside works, and an absolute link inside shows as the client's path.
    assert_eq!(c.retr("inside/deep.txt"), b"deep");
    assert_eq!(c.retr("absinside"), b"deep");
    assert!(long.contains("absinside -> /sub/deep.txt"), "{long}");
    c.stor("new.txt", b"scanned");
    assert_eq!(fs::read(root.join("scanner/new.txt")).unwrap(), b"scanned");
    // A backslash is a name byte: this is one odd name in scanner's folder, not a way up.
    c.stor("..\\camera\\photo.jpg", b"odd");
    assert_eq!(
        fs::read(root.join("scanner/..\\camera\\photo.jpg")).unwrap(),
        b"odd"
    );
    c.expect("QUIT", 221);
    // Camera, the other way round.
    let mut c = s.client();
    c.login("camera", "pw");
    for path in [
        "../scanner/scan.txt",
        "/scanner/scan.txt",
        "//scanner/scan.txt",
    ] {
        c.expect(format!("SIZE {path}"), 550);
        c.expect(format!("DELE {path}"), 550);
    }
    let mut names = c.nlst("NLST -a");
    names.sort();
    assert_eq!(names, ["dir", "empty", "photo.jpg"]);
    assert_eq!(c.retr("photo.jpg"), CAMERA_SECRET.as_bytes());
    // Nothing of camera's or of DIR's top changed, and the secrets never showed.
    assert_eq!(snapshot(&root.join("camera")), camera_before);
    let top_after = names_in(&root);
    assert_eq!(top_after, top_before);
    assert_eq!(
        fs::read_to_string(root.join("top.txt")).unwrap(),
        TOP_SECRET
    );
}

#[test]
fn accounts_cannot_reach_each_other_walk_route() {
    scanner_cannot_reach_camera(true);
}

#[test]
fn accounts_cannot_reach_each_other_openat2_route() {
    scanner_cannot_reach_camera(false);
}

#[test]
fn the_folder_is_slash_in_replies_and_dir_relative_in_xferlog() {
    let logs = TempDir::new("accounts-xferlog");
    let log_path = logs.path().join("xferlog");
    let s = two_folders(false, |c| c.xferlog = Some(log_path.clone()));
    let mut c = s.client();
    c.login("scanner", "pw");
    c.expect("CWD sub", 250);
    assert_pwd(&mut c, "/sub");
    let mlst = c.expect("MLST deep.txt", 250).text();
    assert!(mlst.contains(" /sub/deep.txt"), "{mlst}");
    assert!(!mlst.contains("scanner"), "{mlst}");
    c.expect("TYPE I", 200);
    assert_eq!(c.retr("deep.txt"), b"deep");
    c.stor("/up.txt", b"x");
    let log = s.ctx.xferlog.as_ref().unwrap();
    assert!(log.flush(TIMEOUT), "xferlog writer did not catch up");
    let text = fs::read_to_string(&log_path).unwrap();
    // The transfer log names the file in DIR, as wu-ftpd's and ProFTPD's logs do: which
    // account's `/up.txt` it was shows without knowing the account's folder.
    assert!(text.contains(" /scanner/sub/deep.txt "), "{text}");
    assert!(text.contains(" /scanner/up.txt "), "{text}");
}

#[test]
fn rein_goes_back_to_the_servers_jail() {
    let s = two_folders(false, |c| c.accounts.push(account("admin", None)));
    let mut c = s.client();
    c.login("scanner", "pw");
    c.expect("SIZE scan.txt", 213);
    c.expect("REIN", 220);
    c.login("camera", "pw");
    c.expect("SIZE scan.txt", 550);
    c.expect("SIZE photo.jpg", 213);
    c.expect("REIN", 220);
    c.login("admin", "pw");
    c.expect("SIZE /camera/photo.jpg", 213);
    c.expect("SIZE /scanner/scan.txt", 213);
    c.expect("SIZE top.txt", 213);
}

#[test]
fn a_folder_gone_after_start_refuses_the_login() {
    let s = two_folders(false, |_| {});
    fs::rename(
        s.root.path().join("camera"),
        s.root.path().join("camera-old"),
    )
    .unwrap();
    let mut c = s.client();
    c.expect("USER camera", 331);
    let reply = c.expect("PASS pw", 530);
    assert!(reply.text().contains("folder"), "{}", reply.text());
    c.login("scanner", "pw");
}

#[test]
fn anonymous_root_confines_anonymous() {
    let s = TestServer::with(|c| {
        fs::create_dir(c.root.join("pub")).unwrap();
        fs::write(c.root.join("pub/readme"), "public").unwrap();
        fs::write(c.root.join("private"), TOP_SECRET).unwrap();
        symlink("../private", c.root.join("pub/leak")).unwrap();
        c.anonymous_root = Some(AccountRoot::parse("/pub", "--anonymous-root").unwrap());
    });
    let mut c = s.anonymous();
    assert_pwd(&mut c, "/");
    assert_eq!(c.retr("readme"), b"public");
    for path in ["../private", "/private", "leak", "/pub/readme"] {
        c.expect(format!("SIZE {path}"), 550);
    }
    assert_eq!(c.nlst("NLST -a"), ["readme"]);
}

/// A real client (curl) against the binary: `-u NAME:PASS:rw:/SUB` uploads land in SUB and
/// a `..` sent as is cannot leave it; `--anonymous-root` serves its folder as `/`.
#[test]
fn curl_with_account_folders_from_the_command_line() {
    if !external::available("curl", "apt-get install -y curl") {
        return;
    }
    let served = TempDir::new("accounts-curl");
    build_two_folders(served.path());
    fs::create_dir(served.path().join("pub")).unwrap();
    fs::write(served.path().join("pub/readme"), "public").unwrap();
    let server = Binary::start(&[
        "-u",
        "cam:pw:rw:/camera",
        "--anonymous",
        "--anonymous-root",
        "/pub",
        served.path().to_str().unwrap(),
    ]);
    let url = |path: &str| format!("ftp://127.0.0.1:{}/{path}", server.addr.port());
    let work = TempDir::new("accounts-curl-work");
    work.write("up.jpg", b"new photo");
    curl(
        &["-u", "cam:pw", "-T", "up.jpg", &url("up.jpg")],
        work.path(),
    );
    assert_eq!(served.read("camera/up.jpg"), b"new photo");
    let out = curl(&["-u", "cam:pw", &url("photo.jpg")], work.path());
    assert_eq!(out.stdout, CAMERA_SECRET.as_bytes());
    let out = curl(&["-u", "cam:pw", "-l", &url("")], work.path());
    let names = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        names.contains("photo.jpg") && !names.contains("scan"),
        "{names}"
    );
    let out = curl(&[&url("readme")], work.path());
    assert_eq!(out.stdout, b"public");
    for path in ["../top.txt", "../camera/photo.jpg", "%2F..%2Ftop.txt"] {
        let args = ["--path-as-is", "--silent", "--max-time", "30", "-o", "x"];
        let out = external::run(
            "curl",
            &[&args[..], &[&url(path)]].concat(),
            work.path(),
            40,
        );
        assert!(!out.status.success(), "curl {path} got through");
        assert!(
            !work.path().join("x").exists() || work.read("x").is_empty(),
            "{path}"
        );
    }
}

/// The real binary's start-up refusals, each naming where the folder was configured.
#[test]
fn a_folder_that_is_not_a_directory_inside_dir_is_a_start_up_error() {
    let served = TempDir::new("accounts-start");
    build_two_folders(served.path());
    symlink("..", served.path().join("out")).unwrap();
    let dir = TempDir::new("accounts-start-users");
    let hash = tinyftpd::sha_crypt::hash_sha512(b"pw", "accountsalt");
    let start = |args: &[&str]| {
        let mut full = vec!["-p", "0", "-b", "127.0.0.1"];
        full.extend_from_slice(args);
        full.push(served.path().to_str().unwrap());
        // Under timeout(1): a server that starts after all must fail the test, not hang it.
        let out = external::run(BIN, &full, dir.path(), 20);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for (folder, why) in [
        ("/missing", "No such file"),
        ("/top.txt", "ot a directory"),
        ("/out", "outside"),
        ("/out/x", "outside"),
    ] {
        let users = dir.write(
            "users",
            format!("# two\nscanner:{hash}:rw:/scanner\ncamera:{hash}:rw:{folder}\n").as_bytes(),
        );
        let err = start(&["--users", users.to_str().unwrap()]);
        assert!(
            err.contains("line 3") && err.contains(folder),
            "{folder}: {err}"
        );
        assert!(err.contains(why), "{folder}: {err}");
        let err = start(&["-u", &format!("cam:pw:rw:{folder}")]);
        assert!(
            err.contains("-u cam") && err.contains(why),
            "{folder}: {err}"
        );
        let err = start(&["--anonymous-root", folder]);
        assert!(
            err.contains("--anonymous-root") && err.contains(why),
            "{folder}: {err}"
        );
    }
}

#[test]
fn reload_with_a_bad_folder_keeps_the_old_accounts() {
    let served = TempDir::new("accounts-reload");
    build_two_folders(served.path());
    let dir = TempDir::new("accounts-reload-users");
    let hash = tinyftpd::sha_crypt::hash_sha512(b"pw", "accountsalt");
    let users = dir.write("users", format!("scanner:{hash}:rw:/scanner\n").as_bytes());
    let server = Binary::start(&[
        "--users",
        users.to_str().unwrap(),
        served.path().to_str().unwrap(),
    ]);
    let mut c = Client::connect(server.addr);
    c.login("scanner", "pw");
    c.expect("SIZE scan.txt", 213);
    let reload = |text: String| {
        fs::write(&users, text).unwrap();
        server.signal(libc::SIGHUP);
    };
    reload(format!(
        "scanner:{hash}:rw:/camera\ncamera:{hash}:rw:/nowhere\n"
    ));
    let line = server.wait_for_log("kept the old accounts", Duration::from_secs(10));
    assert!(
        line.contains("line 2") && line.contains("/nowhere"),
        "{line}"
    );
    let mut c = Client::connect(server.addr);
    c.login("scanner", "pw");
    c.expect("SIZE scan.txt", 213);
    let mut c = Client::connect(server.addr);
    c.expect("USER camera", 331);
    c.expect("PASS pw", 530);
    reload(format!(
        "scanner:{hash}:rw:/scanner\ncamera:{hash}:rw:/camera\n"
    ));
    server.wait_for_log("reloaded users file (2 accounts)", Duration::from_secs(10));
    let mut c = Client::connect(server.addr);
    c.login("camera", "pw");
    c.expect("SIZE photo.jpg", 213);
    let mut data = c.epsv();
    c.expect("NLST", 150);
    let names = String::from_utf8_lossy(&read_all(&mut data)).into_owned();
    c.expect_final(226);
    assert!(
        names.contains("photo.jpg") && !names.contains("scan"),
        "{names}"
    );
}
