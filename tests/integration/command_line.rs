//! The command line as an operator meets it: a flag given twice (last wins) on the real binary,
//! and the man page generated from the same flag table as `--help`.

use crate::binary;
use crate::support::{external, Client, TempDir};

#[test]
fn a_port_given_twice_the_last_one_wins() {
    // The systemd override pattern `ExecStart=tinyftpd $TINYFTPD_OPTS --port 2121`: the later
    // --port replaces the earlier one (port 1 would need root and is taken by nothing we own).
    let dir = TempDir::new("twice");
    dir.write("f.txt", b"twice\n");
    let (_child, addr, _line) = binary::start(&[
        "--port",
        "1",
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        dir.path().to_str().unwrap(),
    ]);
    assert!(addr.port() != 0 && addr.port() != 1, "{addr}");
    let mut c = Client::connect(addr);
    c.login("anonymous", "x");
    assert_eq!(c.retr("f.txt"), b"twice\n");
}

/// The committed man page, which the Debian package installs.
const MAN_PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/tinyftpd.8");

#[test]
fn man_page_is_what_the_flag_table_generates() {
    // A flag added to (or dropped from) src/cli.rs changes --help and the generated page at once;
    // this fails until the committed page follows.
    let generated = tinyftpd::cli::man::man_page();
    if std::env::var("TINYFTPD_UPDATE_MAN").as_deref() == Ok("1") {
        std::fs::write(MAN_PAGE, &generated).expect("write contrib/tinyftpd.8");
        eprintln!("wrote contrib/tinyftpd.8");
        return;
    }
    let committed = std::fs::read_to_string(MAN_PAGE).unwrap_or_default();
    assert!(
        committed == generated,
        "contrib/tinyftpd.8 is not what the flag table in src/cli.rs generates; run\n    \
         TINYFTPD_UPDATE_MAN=1 cargo test --test integration man_page\nand commit the result"
    );
}

#[test]
fn man_page_renders_without_warnings() {
    let page = tinyftpd::cli::man::man_page();
    let dir = TempDir::new("man");
    let file = dir.write("tinyftpd.8", page.as_bytes());
    let file = file.to_str().unwrap();
    let mut checked = 0;
    if external::available("groff", "apt-get install -y groff-base") {
        let out = external::run(
            "groff",
            &["-ww", "-man", "-Tutf8", "-z", file],
            dir.path(),
            30,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && err.is_empty(), "groff -ww: {err}");
        checked += 1;
    }
    if external::available("mandoc", "apt-get install -y mandoc") {
        let out = external::run("mandoc", &["-Tlint", "-W", "warning", file], dir.path(), 30);
        let said = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && said.is_empty(),
            "mandoc -Tlint: {said}"
        );
        checked += 1;
    }
    if checked == 0 {
        eprintln!("SKIPPED: man page lint: neither groff nor mandoc is installed");
    }
}

#[test]
fn readme_documents_every_flag() {
    // --help and the man page come from the flag table; the README's Flags table is written by
    // hand, so this is what catches a flag added without a word there.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("read README.md");
    let flags = readme
        .split("\n## Flags\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a Flags section");
    for f in tinyftpd::cli::FLAGS {
        let long = format!("--{}", f.long);
        // The whole name: `--user` must not pass on the strength of `--users`.
        let named = flags.match_indices(&long).any(|(i, _)| {
            let before = flags[..i].chars().next_back();
            let after = flags[i + long.len()..].chars().next();
            matches!(before, Some('`' | ' '))
                && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
        });
        assert!(named, "README's Flags section does not document {long}");
    }
}
