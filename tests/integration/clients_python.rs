//! Python's ftplib as a real client (scripts passed with `python3 -c`, the port as argv[1]):
//! the everyday operations, binary integrity checked with hashlib both ways, active mode.

use crate::support::external::{self, python};
use crate::support::{random_bytes, TempDir, TestServer};

fn have_python() -> bool {
    external::available("python3", "apt-get install -y python3")
}

#[test]
fn python_ftplib_operations() {
    if !have_python() {
        return;
    }
    let s = TestServer::writable();
    s.root.write("hello.txt", b"hello, world\n");
    s.root.write("sub/inner", b"");
    let work = TempDir::new("python");
    let out = python(
        r#"
import ftplib, io, sys
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", int(sys.argv[1]), timeout=10)
assert ftp.getwelcome().startswith("220"), ftp.getwelcome()
ftp.login()
assert ftp.pwd() == "/"

buf = io.BytesIO()
assert ftp.retrbinary("RETR hello.txt", buf.write).startswith("226")
assert buf.getvalue() == b"hello, world\n"
assert ftp.size("hello.txt") == 13

lines = []
ftp.retrlines("RETR hello.txt", lines.append)
assert lines == ["hello, world"], lines

assert ftp.storbinary("STOR up.bin", io.BytesIO(b"\x00\xff\r\n" * 1000)).startswith("226")
assert ftp.size("up.bin") == 4000

assert sorted(ftp.nlst()) == ["hello.txt", "sub", "up.bin"], ftp.nlst()
assert ftp.nlst("sub") == ["inner"], ftp.nlst("sub")

ftp.rename("up.bin", "moved.bin")
assert "moved.bin" in ftp.nlst() and "up.bin" not in ftp.nlst()

assert ftp.mkd("newdir") == "/newdir"
ftp.cwd("newdir")
assert ftp.pwd() == "/newdir"
ftp.storbinary("STOR x", io.BytesIO(b"x"))
ftp.delete("x")
ftp.cwd("..")
ftp.rmd("newdir")
ftp.delete("moved.bin")
assert sorted(ftp.nlst()) == ["hello.txt", "sub"], ftp.nlst()

facts = dict(ftp.mlsd())
assert facts["hello.txt"]["type"] == "file" and facts["hello.txt"]["size"] == "13", facts
assert facts["sub"]["type"] == "dir", facts

for bad in (lambda: ftp.size("missing"), lambda: ftp.delete("missing"),
            lambda: ftp.cwd("hello.txt"), lambda: ftp.rmd("sub")):
    try:
        bad()
        raise SystemExit("no error")
    except ftplib.error_perm as e:
        assert str(e).startswith("550"), e

ftp.quit()
print("ok")
"#,
        s.port(),
        work.path(),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    assert_eq!(s.root.read("hello.txt"), b"hello, world\n");
    assert!(!s.root.path().join("newdir").exists());
}

/// Uploads `local.bin` as `up.bin` and downloads `server.bin` as `down.bin`, with hashes
/// checked in Python, then compares bytes here too. `passive` is "True" or "False".
const INTEGRITY: &str = r#"
import ftplib, hashlib, sys
passive = sys.argv[2] == "True"
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", int(sys.argv[1]), timeout=10)
ftp.login()
ftp.set_pasv(passive)
data = open("local.bin", "rb").read()
with open("local.bin", "rb") as f:
    ftp.storbinary("STOR up.bin", f, blocksize=65536)
back = hashlib.sha256()
ftp.retrbinary("RETR up.bin", back.update)
assert back.hexdigest() == hashlib.sha256(data).hexdigest(), "round trip differs"
assert ftp.size("up.bin") == len(data)

down = hashlib.sha256()
with open("down.bin", "wb") as f:
    def both(chunk):
        down.update(chunk)
        f.write(chunk)
    ftp.retrbinary("RETR server.bin", both)
print(down.hexdigest())
ftp.quit()
"#;

fn integrity(passive: &str) {
    let s = TestServer::writable();
    let server_body = random_bytes(5 * 1024 * 1024 + 3, 31);
    s.root.write("server.bin", &server_body);
    let work = TempDir::new("python");
    let local_body = random_bytes(4 * 1024 * 1024 + 5, 32);
    work.write("local.bin", &local_body);
    let out = external::run_ok(
        "python3",
        &["-c", INTEGRITY, &s.port().to_string(), passive],
        work.path(),
        60,
    );
    assert!(s.root.read("up.bin") == local_body, "upload differs");
    assert!(work.read("down.bin") == server_body, "download differs");
    let hex = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(hex.len(), 64, "{hex}");
}

#[test]
fn python_binary_integrity_passive() {
    if have_python() {
        integrity("True");
    }
}

#[test]
fn python_binary_integrity_active() {
    if have_python() {
        integrity("False");
    }
}

/// The scenario set with ftplib, passive (`set_pasv(True)`, PASV on IPv4, EPSV on IPv6) or
/// active (`set_pasv(False)`, PORT or EPRT): cwd/pwd, MLSD with parsed facts and a fact
/// selection, SIZE, resume both ways (`rest=`), MFMT then MDTM, rename, delete, mkd/rmd, and a
/// mirror of a nested tree down (walking MLSD) and back up (MKD + STOR). argv: port, host,
/// passive. The data verbs used are printed on the last line.
const SCENARIO: &str = r#"
import ftplib, io, os, sys
port, host, passive = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "True"
ftp = ftplib.FTP()
ftp.connect(host, port, timeout=10)
ftp.login()
ftp.set_pasv(passive)
used = set()
real_putcmd = ftp.putcmd
def putcmd(line):
    used.add(line.split(" ")[0])
    return real_putcmd(line)
ftp.putcmd = putcmd
body = open("local.bin", "rb").read()

ftp.cwd("dir")
assert ftp.pwd() == "/dir"
ftp.cwd("sub")
assert ftp.pwd() == "/dir/sub"
ftp.cwd("/")
assert ftp.pwd() == "/"

entries = dict(ftp.mlsd("dir"))
assert entries["."]["type"] == "cdir", entries
assert entries[".."]["type"] == "pdir", entries
f = entries["f.bin"]
assert f["type"] == "file" and int(f["size"]) == len(body), f
assert len(f["modify"]) == 14 and f["modify"].isdigit(), f
assert set("radfw") <= set(f["perm"]), f
assert f["unix.mode"] == "0644", f
assert "unique" in f, f
assert entries["sub"]["type"] == "dir" and set("cdelmp") <= set(entries["sub"]["perm"])
only = dict(ftp.mlsd("dir", facts=["type", "size"]))
assert set(only["f.bin"]) == {"type", "size"}, only["f.bin"]
ftp.sendcmd("OPTS MLST type;size;modify;perm;unique;UNIX.mode;")

assert ftp.size("dir/f.bin") == len(body)

got = io.BytesIO()
ftp.retrbinary("RETR dir/f.bin", got.write, rest=123_457)
assert got.getvalue() == body[123_457:], "retrbinary rest differs"
try:
    ftp.retrbinary("RETR dir/f.bin", got.write, rest=len(body) + 1)
    raise SystemExit("REST beyond the end accepted")
except ftplib.error_perm as e:
    assert str(e)[:3] in ("550", "554"), e

src = io.BytesIO(body)
src.seek(234_567)
ftp.storbinary("STOR partial.bin", src, rest=234_567)
assert ftp.size("partial.bin") == len(body)

assert ftp.sendcmd("MFMT 20200102030405 dir/f.bin").startswith("213")
assert ftp.sendcmd("MDTM dir/f.bin") == "213 20200102030405"

ftp.rename("dir/f.bin", "dir/renamed.bin")
assert "renamed.bin" in ftp.nlst("dir") and "f.bin" not in ftp.nlst("dir")
ftp.delete("gone.txt")
assert "gone.txt" not in ftp.nlst()
assert ftp.mkd("made") == "/made"
assert ftp.mkd("made/inner") == "/made/inner"
ftp.rmd("made/inner")
ftp.rmd("made")
assert "made" not in ftp.nlst()

def download(remote, local):
    os.makedirs(local, exist_ok=True)
    for name, facts in ftp.mlsd(remote):
        if facts["type"] == "dir":
            download(remote + "/" + name, os.path.join(local, name))
        elif facts["type"] == "file":
            with open(os.path.join(local, name), "wb") as out:
                ftp.retrbinary("RETR " + remote + "/" + name, out.write)
download("/tree", "down")

def upload(local, remote):
    ftp.mkd(remote)
    for name in sorted(os.listdir(local)):
        path = os.path.join(local, name)
        if os.path.isdir(path):
            upload(path, remote + "/" + name)
        else:
            with open(path, "rb") as f:
                ftp.storbinary("STOR " + remote + "/" + name, f)
upload("down", "/copy")
ftp.quit()
print(" ".join(sorted(used & {"PASV", "EPSV", "PORT", "EPRT"})))
"#;

fn scenario(bind: &str, passive: &str, verb: &str) {
    let s = TestServer::on(bind, |c| c.anonymous_writable = true);
    let body = random_bytes(1_000_001, 33);
    s.root.write("dir/f.bin", &body);
    s.root.write("dir/sub/x", b"x");
    s.root.write("gone.txt", b"bye");
    s.root.write("partial.bin", &body[..234_567]);
    crate::support::tree::sample(&s.root.path().join("tree"));
    let work = TempDir::new("python");
    work.write("local.bin", &body);
    let host = s.addr.ip().to_string();
    let out = external::run_ok(
        "python3",
        &["-c", SCENARIO, &s.port().to_string(), &host, passive],
        work.path(),
        60,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.trim(), verb, "data verbs used");
    assert!(
        s.root.read("partial.bin") == body,
        "storbinary rest differs"
    );
    assert!(s.root.read("dir/renamed.bin") == body);
    let mtime = std::fs::metadata(s.root.path().join("dir/renamed.bin"))
        .and_then(|m| m.modified())
        .unwrap();
    let mtime = mtime.duration_since(std::time::UNIX_EPOCH).unwrap();
    assert_eq!(mtime.as_secs(), 1_577_934_245, "MFMT time");
    assert!(!s.root.path().join("gone.txt").exists());
    let tree_dir = s.root.path().join("tree");
    crate::support::tree::assert_same(&tree_dir, &work.path().join("down"));
    crate::support::tree::assert_same(&tree_dir, &s.root.path().join("copy"));
}

#[test]
fn python_scenario_passive() {
    if have_python() {
        scenario("127.0.0.1:0", "True", "PASV");
    }
}

#[test]
fn python_scenario_active() {
    if have_python() {
        scenario("127.0.0.1:0", "False", "PORT");
    }
}

fn have_ipv6() -> bool {
    let ok = std::net::TcpListener::bind("[::1]:0").is_ok();
    if !ok {
        eprintln!("SKIPPED: no IPv6 loopback on this machine");
    }
    ok
}

#[test]
fn python_scenario_ipv6_passive() {
    if have_python() && have_ipv6() {
        scenario("[::1]:0", "True", "EPSV");
    }
}

#[test]
fn python_scenario_ipv6_active() {
    if have_python() && have_ipv6() {
        scenario("[::1]:0", "False", "EPRT");
    }
}
