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
