//! A seeded generator on the stable toolchain (issue 6): the command parser and the path jail over
//! random and mutated real client lines. The fuzz/ crate does the same with coverage guidance on
//! nightly; this keeps the properties checked by every `cargo test`.
//!
//! Properties: parsing never panics; a line without CR/LF that parses prints back (`to_line`) to a
//! line that parses to the same command; `VirtualPath::join` never panics and gives an absolute
//! path with no `..` or empty component that joins back to itself.

use tinyftpd::command_table::parse;
use tinyftpd::jail::VirtualPath;

/// Lines real clients send (curl, lftp, FileZilla, ftplib, Windows Explorer), and a few that
/// attackers send.
const SEEDS: &[&[u8]] = &[
    b"USER anonymous",
    b"PASS guest@example.com",
    b"PORT 127,0,0,1,4,1",
    b"EPRT |2|::1|5000|",
    b"EPRT |1|127.0.0.1|2000|",
    b"EPSV",
    b"EPSV ALL",
    b"PASV",
    b"LIST -la",
    b"LIST -a dir/sub",
    b"NLST -a",
    b"MLSD /pub",
    b"MLST file.txt",
    b"MFMT 20200101000000 a b",
    b"OPTS MLST type;size;",
    b"OPTS UTF8 ON",
    b"REST 100",
    b"SITE CHMOD 755 f",
    b"SITE UMASK 022",
    b"SITE HELP",
    b"TYPE I",
    b"TYPE A N",
    b"TYPE L 8",
    b"MODE S",
    b"STRU F",
    b"RETR ../../etc/passwd",
    b"STOR /upload/file name with spaces.bin",
    b"CWD ..",
    b"CDUP",
    b"RNFR old",
    b"RNTO new",
    b"SIZE \xC3\xA9t\xC3\xA9.txt",
    b"MDTM report.pdf",
    b"HELP RETR",
    b"STAT -l /",
    b"FEAT",
    b"SYST",
    b"HOST ftp.example.com",
    b"CLNT FileZilla",
    b"ABOR",
    b"QUIT",
];

/// xorshift64*: small, seeded, good enough to spread mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Mostly bytes that mean something to a parser, sometimes anything.
    fn byte(&mut self) -> u8 {
        const INTERESTING: &[u8] = b" ,|/.-;0123456789aAlLiIeE\0\r\n\xFF\x80\xC3";
        if self.below(3) == 0 {
            self.next() as u8
        } else {
            INTERESTING[self.below(INTERESTING.len())]
        }
    }
}

fn mutate(rng: &mut Rng, line: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let len = line.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                line[i] ^= 1 << rng.below(8);
            }
            1 => {
                let b = rng.byte();
                line.insert(rng.below(len + 1), b);
            }
            2 if len > 0 => {
                line.remove(rng.below(len));
            }
            3 if len > 0 => {
                let start = rng.below(len);
                let end = start + rng.below(len - start + 1);
                let copy = line[start..end].to_vec();
                let at = rng.below(len + 1);
                line.splice(at..at, copy);
            }
            4 => {
                let other = SEEDS[rng.below(SEEDS.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                line.truncate(cut);
                line.extend_from_slice(&other[from..]);
            }
            _ => {
                let i = rng.below(len + 1);
                line.truncate(i);
            }
        }
    }
}

fn random_line(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(40);
    (0..len).map(|_| rng.byte()).collect()
}

fn check_parser(line: &[u8]) {
    let Ok(command) = parse(line) else {
        return;
    };
    if line.contains(&b'\r') || line.contains(&b'\n') {
        return;
    }
    let printed = command.to_line();
    assert_eq!(
        parse(&printed),
        Ok(command.clone()),
        "round trip of {:?} via {:?}",
        String::from_utf8_lossy(line),
        String::from_utf8_lossy(&printed)
    );
}

fn check_jail(cwd: &VirtualPath, arg: &[u8]) {
    let Ok(joined) = cwd.join(arg) else {
        return;
    };
    let bytes = joined.to_bytes();
    assert_eq!(
        bytes.first(),
        Some(&b'/'),
        "{:?}",
        String::from_utf8_lossy(arg)
    );
    if bytes.len() > 1 {
        for component in bytes[1..].split(|&b| b == b'/') {
            assert!(
                !component.is_empty() && component != b".." && component != b".",
                "join({:?}) gave {:?}",
                String::from_utf8_lossy(arg),
                String::from_utf8_lossy(&bytes)
            );
        }
    }
    // The printed form names the same place from anywhere.
    assert_eq!(cwd.join(&bytes).as_ref(), Ok(&joined));
    assert_eq!(VirtualPath::root().join(&bytes).as_ref(), Ok(&joined));
}

#[test]
fn parser_and_jail_survive_random_and_mutated_client_lines() {
    const CASES: usize = 120_000;
    let mut rng = Rng(0x7469_6e79_6674_7064); // "tinyftpd"
    let cwd = VirtualPath::root().join(b"/pub/sub dir/deeper").unwrap();
    let mut parsed = 0usize;
    for case in 0..CASES {
        let line = if case % 4 == 0 {
            random_line(&mut rng)
        } else {
            let mut line = SEEDS[rng.below(SEEDS.len())].to_vec();
            mutate(&mut rng, &mut line);
            line
        };
        if parse(&line).is_ok() {
            parsed += 1;
        }
        check_parser(&line);
        // The argument (or the whole line) as a path, from the root and from a subdirectory.
        let arg = match line.iter().position(|&b| b == b' ') {
            Some(space) => &line[space + 1..],
            None => &line[..],
        };
        check_jail(&VirtualPath::root(), arg);
        check_jail(&cwd, arg);
    }
    // The mutations must leave enough lines parseable for the round trip to mean something.
    assert!(parsed > CASES / 4, "only {parsed} of {CASES} lines parsed");
}

#[test]
fn jail_survives_random_dot_and_slash_soup() {
    let mut rng = Rng(0xD07D_07D0_7D07_D07D);
    let parts: &[&[u8]] = &[
        b"..", b".", b"/", b"//", b"a", b"..\\", b"...", b"\xFF", b"\0",
    ];
    for _ in 0..20_000 {
        let mut arg = Vec::new();
        for _ in 0..rng.below(12) {
            arg.extend_from_slice(parts[rng.below(parts.len())]);
            if rng.below(2) == 0 {
                arg.push(b'/');
            }
        }
        check_jail(&VirtualPath::root(), &arg);
        let deep = VirtualPath::root().join(b"x/y/z").unwrap();
        check_jail(&deep, &arg);
    }
}
