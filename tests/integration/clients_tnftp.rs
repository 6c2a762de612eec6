//! tnftp (NetBSD ftp, Debian's `tnftp`, also installed as `ftp`) as a real client, driven
//! non-interactively: `tnftp -n -v 127.0.0.1 PORT` with a command script on stdin, `debug` on
//! so each command it sends shows as `---> VERB`. tnftp's exit status does not reflect failed
//! commands, so the tests check the replies it printed and the files on both sides.
//! Four data-connection modes: passive with EPSV (its default) or PASV (`epsv4 off`), active
//! with EPRT (`passive off`) or PORT (both).

use std::path::Path;
use std::process::Output;

use tinyftpd::config::{Account, Credential};

use crate::support::external::{self, assert_ok, run_with};
use crate::support::{random_bytes, tree, TempDir, TestServer};

fn have_tnftp() -> bool {
    external::available("tnftp", "apt-get install -y tnftp")
}

/// Runs tnftp with `script` on stdin after logging in as `user`/`pass`, in binary mode.
fn tnftp(s: &TestServer, user: &str, pass: &str, script: &str, dir: &Path) -> Output {
    let input = format!("user {user} {pass}\nbinary\ndebug\nprompt off\n{script}\nquit\n");
    let port = s.port().to_string();
    let args = ["-n", "-v", "127.0.0.1", &port];
    let out = run_with("tnftp", &args, dir, 60, Some(input.as_bytes()), &[]);
    assert_ok("tnftp", &args, &out);
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Lines of server replies with a 4xx or 5xx code.
fn errors(out: &Output) -> Vec<String> {
    text(out)
        .lines()
        .filter(|l| {
            let b = l.as_bytes();
            b.len() > 3
                && matches!(b[0], b'4' | b'5')
                && b[1..3].iter().all(u8::is_ascii_digit)
                && matches!(b[3], b' ' | b'-')
        })
        .map(str::to_string)
        .collect()
}

fn sent(out: &Output, command: &str) -> bool {
    text(out)
        .lines()
        .any(|l| l == format!("---> {command}") || l.starts_with(&format!("---> {command} ")))
}

/// Asserts that data connections were set up with `verb` only.
fn data_verbs_only(out: &Output, verb: &str) {
    let used: Vec<&str> = ["PASV", "EPSV", "PORT", "EPRT"]
        .into_iter()
        .filter(|v| sent(out, v))
        .collect();
    assert_eq!(used, [verb], "{}", text(out));
}

const MODES: [(&str, &str); 4] = [
    ("passive on", "EPSV"),
    ("passive on\nepsv4 off", "PASV"),
    ("passive off", "EPRT"),
    ("passive off\nepsv4 off", "PORT"),
];

/// The whole scenario set in one session: list, download, upload, resume both ways, rename,
/// delete, mkdir/rmdir, MDTM/SIZE, several files with `mget`/`mput`.
fn scenario(mode: &str, verb: &str) {
    let s = TestServer::writable();
    let down = random_bytes(1_000_003, 81);
    s.root.write("dir/down.bin", &down);
    let part = random_bytes(700_001, 82);
    s.root.write("part.bin", &part);
    let resumed = random_bytes(600_000, 83);
    s.root.write("resumed.bin", &resumed[..100_000]);
    s.root.write("gone.txt", b"to delete");
    s.root.write(".hidden", b"");
    s.root.write("m1.txt", b"first");
    s.root.write("m2.txt", b"second");
    let work = TempDir::new("tnftp");
    let up = random_bytes(345_678, 84);
    work.write("up.bin", &up);
    work.write("part.bin", &part[..250_000]);
    work.write("resumed.bin", &resumed);
    work.write("p1", b"put one");
    work.write("p2", b"put two");
    let script = format!(
        "{mode}
ls
ls -la
dir dir
nlist
cd dir
get down.bin
size down.bin
modtime down.bin
cd /
reget part.bin
put up.bin
restart 100000
put resumed.bin
rename up.bin moved.bin
delete gone.txt
mkdir newdir
cd newdir
mput p1 p2
delete p1
cd ..
mkdir emptydir
rmdir emptydir
mget m1.txt m2.txt
pwd"
    );
    let out = tnftp(&s, "anonymous", "x@y", &script, work.path());
    let all = text(&out);
    assert_eq!(errors(&out), Vec::<String>::new(), "{all}");
    data_verbs_only(&out, verb);
    assert!(
        all.contains(" dir\n") && all.contains(" gone.txt\n"),
        "{all}"
    );
    // `ls -la` is LIST -la: dot files too. (`ls -la dir` would write the listing to a local file
    // named `dir`: the second word of tnftp's `ls` is a local file.)
    assert!(
        sent(&out, "LIST -la") && all.contains(" .hidden\n"),
        "{all}"
    );
    assert!(
        sent(&out, "LIST dir") && all.contains(" down.bin\n"),
        "{all}"
    );
    assert!(all.contains("213 1000003"), "{all}");
    assert!(work.read("down.bin") == down, "download differs");
    assert!(sent(&out, "REST 250000"), "{all}");
    assert!(work.read("part.bin") == part, "reget differs");
    assert!(sent(&out, "REST 100000"), "{all}");
    assert!(
        s.root.read("resumed.bin") == resumed,
        "resumed upload differs"
    );
    assert!(s.root.read("moved.bin") == up, "upload differs");
    assert!(!s.root.path().join("up.bin").exists());
    assert!(!s.root.path().join("gone.txt").exists());
    assert!(!s.root.path().join("newdir/p1").exists());
    assert_eq!(s.root.read("newdir/p2"), b"put two");
    assert!(!s.root.path().join("emptydir").exists());
    assert_eq!(work.read("m1.txt"), b"first");
    assert_eq!(work.read("m2.txt"), b"second");
    assert!(all.contains("257 \"/\""), "{all}");
}

#[test]
fn tnftp_scenario_passive_epsv() {
    if have_tnftp() {
        scenario(MODES[0].0, MODES[0].1);
    }
}

#[test]
fn tnftp_scenario_passive_pasv() {
    if have_tnftp() {
        scenario(MODES[1].0, MODES[1].1);
    }
}

#[test]
fn tnftp_scenario_active_eprt() {
    if have_tnftp() {
        scenario(MODES[2].0, MODES[2].1);
    }
}

#[test]
fn tnftp_scenario_active_port() {
    if have_tnftp() {
        scenario(MODES[3].0, MODES[3].1);
    }
}

/// With an account, and a read-only anonymous login refused writes with 550 (tnftp goes on).
#[test]
fn tnftp_account_and_read_only_refusals() {
    if !have_tnftp() {
        return;
    }
    let s = TestServer::with(|c| {
        c.accounts = vec![Account {
            name: "u".into(),
            credential: Credential::Plain("pw".into()),
            writable: true,
            root: None,
        }];
        c.anonymous = true;
    });
    let work = TempDir::new("tnftp");
    work.write("f", b"by account");
    let out = tnftp(&s, "u", "pw", "put f", work.path());
    assert_eq!(errors(&out), Vec::<String>::new(), "{}", text(&out));
    assert_eq!(s.root.read("f"), b"by account");
    let out = tnftp(&s, "anonymous", "x@y", "put f g\nmkdir d", work.path());
    let errs = errors(&out);
    assert!(
        errs.len() == 2 && errs.iter().all(|e| e.starts_with("550")),
        "{}",
        text(&out)
    );
    assert!(!s.root.path().join("g").exists() && !s.root.path().join("d").exists());
}

/// `mget *.txt` sends `NLST *.txt` for the server to expand: tinyftpd matches the pattern in
/// the last path component.
#[test]
fn tnftp_mget_and_mput_with_wildcards() {
    if !have_tnftp() {
        return;
    }
    let s = TestServer::writable();
    s.root.write("one.txt", b"1");
    s.root.write("two.txt", b"2");
    s.root.write("other.dat", b"x");
    let work = TempDir::new("tnftp");
    work.write("a.bin", b"a");
    work.write("b.bin", b"b");
    let out = tnftp(
        &s,
        "anonymous",
        "x@y",
        "mput *.bin\nmget *.txt",
        work.path(),
    );
    assert!(sent(&out, "NLST *.txt"), "{}", text(&out));
    assert_eq!(work.read("one.txt"), b"1");
    assert_eq!(work.read("two.txt"), b"2");
    assert!(!work.path().join("other.dat").exists());
    assert_eq!(s.root.read("a.bin"), b"a");
    assert_eq!(s.root.read("b.bin"), b"b");
}

/// Auto-fetch: `tnftp -o FILE ftp://host:port/path` logs in anonymously, downloads and exits
/// with a status that says whether it worked (passive; `-A` for active). And `tnftp -u URL
/// file` uploads.
#[test]
fn tnftp_autofetch_urls() {
    if !have_tnftp() {
        return;
    }
    let s = TestServer::writable();
    tree::sample(s.root.path());
    let expected = s.root.read("a/b/random.bin");
    let work = TempDir::new("tnftp");
    let url = s.url("a/b/random.bin");
    for (i, flags) in [&[][..], &["-A"][..]].iter().enumerate() {
        let name = format!("got{i}");
        let mut args = flags.to_vec();
        args.extend(["-V", "-o", &name, &url]);
        let out = run_with("tnftp", &args, work.path(), 60, None, &[]);
        assert_ok("tnftp", &args, &out);
        assert!(work.read(&name) == expected, "auto-fetch {flags:?} differs");
    }
    let missing = s.url("missing");
    let out = run_with(
        "tnftp",
        &["-V", "-o", "x", &missing],
        work.path(),
        60,
        None,
        &[],
    );
    assert!(!out.status.success());

    let up = random_bytes(222_222, 85);
    work.write("up.bin", &up);
    let dir = s.url("dir with spaces/");
    for flags in [&[][..], &["-A"][..]] {
        let mut args = flags.to_vec();
        args.extend(["-V", "-u", &dir, "up.bin"]);
        let out = run_with("tnftp", &args, work.path(), 60, None, &[]);
        assert_ok("tnftp", &args, &out);
        assert!(
            s.root.read("dir with spaces/up.bin") == up,
            "auto-upload differs"
        );
        std::fs::remove_file(s.root.path().join("dir with spaces/up.bin")).unwrap();
    }
}
