//! The jail under attack by a local user who can write inside the served directory: a directory
//! flipped with symlinks to outside while sessions run every verb below it, the served directory
//! replaced or mounted over after start, special files that must never be opened, a file under a
//! lease. Both routes of the jail run (openat2, and the component walk forced by a switch).

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{symlink, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use tinyftpd::config::{Account, AccountRoot, Credential};

use crate::support::client::{read_all, Reply};
use crate::support::{sys, Client, TempDir, TestServer};

/// How long the race runs per route.
const RACE: Duration = Duration::from_millis(2000);
/// Marks every outside file's contents and every outside-only name.
const SENTINEL: &str = "SENTINEL-8d41c2";
/// Size and time of the outside files, so that SIZE/MDTM/MLST/LIST leaks show.
const OUTSIDE_SIZE: usize = 7_777;
const OUTSIDE_MTIME: i64 = 631_152_000; // 1990-01-01
const OUTSIDE_MDTM: &str = "1990010100";

fn server(walk: bool) -> TestServer {
    TestServer::with(|c| {
        c.anonymous_writable = true;
        c.jail_openat2 = !walk;
    })
}

/// Every entry below `dir` with its kind, mode, size, mtime and contents.
fn snapshot(dir: &Path) -> Vec<(String, u32, u64, i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let rel = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let contents = if meta.is_file() {
                fs::read(&path).expect("read")
            } else {
                Vec::new()
            };
            out.push((rel, meta.mode(), meta.size(), meta.mtime(), contents));
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

fn set_mtime(path: &Path, secs: i64) {
    let time = std::time::UNIX_EPOCH + Duration::from_secs(secs as u64);
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(time))
        .expect("set mtime");
}

/// The outside directory: the same names as inside `d`, with sentinel contents, plus names that
/// exist only outside.
fn build_outside(outside: &Path) {
    let body = format!("{SENTINEL}{}", "x".repeat(OUTSIDE_SIZE - SENTINEL.len()));
    for name in ["f", "victim", "resume"] {
        let p = outside.join(name);
        fs::write(&p, &body).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        set_mtime(&p, OUTSIDE_MTIME);
    }
    fs::write(outside.join(format!("{SENTINEL}-only")), &body).unwrap();
    fs::create_dir(outside.join("emptydir")).unwrap();
    fs::create_dir(outside.join("sub")).unwrap();
    fs::write(outside.join(format!("sub/{SENTINEL}-deep")), &body).unwrap();
}

fn build_inside(root: &Path) {
    fs::create_dir(root.join("d")).unwrap();
    fs::write(root.join("d/f"), b"inside-f").unwrap();
    fs::write(root.join("d/resume"), b"inside-resume").unwrap();
    fs::create_dir(root.join("d/sub")).unwrap();
    fs::write(root.join("d/sub/g"), b"inside-g").unwrap();
}

/// Anything the server sent that shows the outside: a sentinel name or contents, its size, its
/// time.
fn leaked(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let size = OUTSIDE_SIZE.to_string();
    let mtime = OUTSIDE_MDTM;
    let listed_date = "Jan  1  1990";
    for needle in [SENTINEL, &size, mtime, listed_date] {
        if text.contains(needle) {
            return Some(format!("{needle:?} in {text:?}"));
        }
    }
    None
}

/// A command with a data connection; tolerant of any refusal, but whatever comes back (data and
/// replies) is checked for leaks.
fn with_data(c: &mut Client, cmd: &str, upload: Option<&[u8]>, seen: &mut Vec<u8>) {
    let reply = c.cmd("EPSV");
    if reply.code != 229 {
        seen.extend(reply.text().bytes());
        return;
    }
    let text = reply.text();
    let port: u16 = text
        .rsplit("|||")
        .next()
        .and_then(|t| t.split('|').next())
        .and_then(|p| p.parse().ok())
        .expect("EPSV port");
    let mut data = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect EPSV");
    data.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    data.set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let first = c.cmd(cmd);
    seen.extend(first.text().bytes());
    if first.code != 150 {
        return;
    }
    match upload {
        Some(bytes) => {
            let _ = data.write_all(bytes);
            drop(data);
        }
        None => seen.extend(read_all(&mut data)),
    }
    let last: Reply = c.reply();
    seen.extend(last.text().bytes());
}

/// One session's round of every verb on paths below `d`.
fn round(c: &mut Client, id: usize, n: usize, seen: &mut Vec<u8>) {
    let cmd = |c: &mut Client, line: String, seen: &mut Vec<u8>| {
        seen.extend(c.cmd(line).text().bytes());
    };
    with_data(c, "RETR d/f", None, seen);
    with_data(c, "RETR d/sub/g", None, seen);
    with_data(c, &format!("STOR d/new-{id}-{n}"), Some(b"up"), seen);
    with_data(c, "APPE d/f", Some(b"+"), seen);
    with_data(c, &format!("APPE d/appended-{id}-{n}"), Some(b"a"), seen);
    cmd(c, "REST 2".into(), seen);
    with_data(c, "STOR d/resume", Some(b"R"), seen);
    cmd(c, "CWD d".into(), seen);
    with_data(c, "STOU", Some(b"u"), seen);
    with_data(c, "LIST", None, seen);
    cmd(c, "CWD /".into(), seen);
    cmd(c, "DELE d/victim".into(), seen);
    cmd(c, format!("MKD d/m-{id}-{n}"), seen);
    cmd(c, format!("RMD d/m-{id}-{n}"), seen);
    cmd(c, "RMD d/emptydir".into(), seen);
    cmd(c, "RNFR d/victim".into(), seen);
    cmd(c, format!("RNTO pulled-{id}-{n}"), seen);
    cmd(c, "RNFR d/sub".into(), seen);
    cmd(c, format!("RNTO pulled-sub-{id}-{n}"), seen);
    fs_free_name(c, id, n, seen);
    cmd(c, "SITE CHMOD 777 d/f".into(), seen);
    cmd(c, "MFMT 20000101000000 d/f".into(), seen);
    cmd(c, "SIZE d/f".into(), seen);
    cmd(c, "MDTM d/f".into(), seen);
    cmd(c, "MLST d/f".into(), seen);
    cmd(c, "STAT d".into(), seen);
    cmd(c, "STAT d/f".into(), seen);
    with_data(c, "MLSD d", None, seen);
    with_data(c, "LIST d", None, seen);
    with_data(c, "LIST -a d/sub", None, seen);
    with_data(c, "NLST d", None, seen);
    with_data(c, "NLST d/*", None, seen);
}

/// RNFR/RNTO out: a file of ours renamed into `d` (which may be the link at that moment).
fn fs_free_name(c: &mut Client, id: usize, n: usize, seen: &mut Vec<u8>) {
    with_data(c, &format!("STOR mine-{id}-{n}"), Some(b"mine"), seen);
    seen.extend(c.cmd(format!("RNFR mine-{id}-{n}")).text().bytes());
    seen.extend(c.cmd(format!("RNTO d/pushed-{id}-{n}")).text().bytes());
}

/// Where a race runs: the server, the directory its sessions see as `/`, the directory next to
/// it that they must never reach, and the login.
struct Arena {
    s: TestServer,
    root: PathBuf,
    outside: PathBuf,
    /// The outside's own temporary directory, when it is not inside the server's.
    _outside_dir: Option<TempDir>,
    login: (&'static str, &'static str),
}

/// Anonymous sees all of DIR; the outside is a directory next to DIR.
fn whole_dir(walk: bool) -> Arena {
    let s = server(walk);
    let outside = TempDir::new("outside");
    Arena {
        root: s.root.path().to_path_buf(),
        outside: outside.path().to_path_buf(),
        _outside_dir: Some(outside),
        s,
        login: ("anonymous", "x@example.com"),
    }
}

fn race(walk: bool) {
    race_in(whole_dir(walk), walk);
}

fn race_in(arena: Arena, walk: bool) {
    let Arena {
        s, root, outside, ..
    } = &arena;
    build_outside(outside);
    build_inside(root);
    // Two links to the outside: an absolute one and a relative one that climbs out.
    let abs_link = root.join("abs");
    symlink(outside, &abs_link).unwrap();
    let rel_target = Path::new("..").join(outside.file_name().unwrap());
    let rel_link = root.join("rel");
    symlink(&rel_target, &rel_link).unwrap();
    assert!(
        fs::metadata(&rel_link).unwrap().is_dir(),
        "relative link works on the host"
    );
    let before = snapshot(outside);
    // Before the flipping: the login sees `root` as its `/` (else nothing below could leak).
    let mut c = s.client();
    c.login(arena.login.0, arena.login.1);
    c.expect("SIZE d/f", 213);
    drop(c);

    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let stop = Arc::clone(&stop);
        let (d, abs_link, rel_link) = (root.join("d"), abs_link.clone(), rel_link.clone());
        thread::spawn(move || {
            let mut flips = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let link = if flips % 4 < 2 { &abs_link } else { &rel_link };
                if sys::exchange(&d, link).is_ok() {
                    flips += 1;
                }
            }
            // Leave `d` a directory again.
            if flips % 2 == 1 {
                let link = if (flips - 1) % 4 < 2 {
                    &abs_link
                } else {
                    &rel_link
                };
                sys::exchange(&d, link).unwrap();
            }
            flips
        })
    };
    let deadline = Instant::now() + RACE;
    let sessions: Vec<_> = (0..3)
        .map(|id| {
            let (addr, (user, pass)) = (s.addr, arena.login);
            thread::spawn(move || {
                let mut c = Client::connect(addr);
                c.login(user, pass);
                c.expect("TYPE I", 200);
                let mut seen = Vec::new();
                let mut rounds = 0;
                while Instant::now() < deadline {
                    round(&mut c, id, rounds, &mut seen);
                    if let Some(leak) = leaked(&seen) {
                        return Err(format!("session {id} round {rounds}: {leak}"));
                    }
                    seen.clear();
                    rounds += 1;
                }
                Ok(rounds)
            })
        })
        .collect();
    let results: Vec<_> = sessions.into_iter().map(|t| t.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    let flips = flipper.join().unwrap();
    let route = if walk { "walk" } else { "openat2" };
    for r in &results {
        if let Err(e) = r {
            panic!("{route}: outside leaked: {e}");
        }
    }
    assert!(flips > 100, "{route}: the flipper barely ran ({flips})");
    let after = snapshot(outside);
    assert!(
        before == after,
        "{route}: outside changed:\nbefore {:?}\nafter  {:?}",
        before
            .iter()
            .map(|e| (&e.0, e.1, e.2, e.3))
            .collect::<Vec<_>>(),
        after
            .iter()
            .map(|e| (&e.0, e.1, e.2, e.3))
            .collect::<Vec<_>>()
    );
    // Nothing of the outside was pulled inside.
    for (name, _, _, _, contents) in snapshot(root) {
        assert!(
            !name.contains(SENTINEL) && !String::from_utf8_lossy(&contents).contains(SENTINEL),
            "{route}: outside pulled inside as {name}"
        );
    }
    eprintln!("{route}: {flips} flips, rounds per session {results:?}");
}

#[test]
fn symlink_race_walk_route() {
    race(true);
}

#[test]
fn symlink_race_openat2_route() {
    race(false);
}

/// An account confined to `/acct` of DIR; the outside is a sibling account's folder, inside
/// DIR: the account's own jail must hold as DIR's does.
fn account_folder(walk: bool) -> Arena {
    let s = TestServer::with(|c| {
        fs::create_dir(c.root.join("acct")).unwrap();
        fs::create_dir(c.root.join("other")).unwrap();
        c.anonymous = false;
        c.jail_openat2 = !walk;
        c.accounts = vec![Account {
            name: "acct".into(),
            credential: Credential::Plain("pw".into()),
            writable: true,
            root: Some(AccountRoot::parse("/acct", "-u acct").unwrap()),
        }];
    });
    Arena {
        root: s.root.path().join("acct"),
        outside: s.root.path().join("other"),
        _outside_dir: None,
        s,
        login: ("acct", "pw"),
    }
}

#[test]
fn symlink_race_in_an_account_folder_walk_route() {
    race_in(account_folder(true), true);
}

#[test]
fn symlink_race_in_an_account_folder_openat2_route() {
    race_in(account_folder(false), false);
}

fn listing_names(c: &mut Client) -> Vec<String> {
    let mut names = c.nlst("NLST -a");
    names.sort();
    names
}

/// DIR renamed away and replaced by another directory after start: every verb still sees the
/// tree the server started with (the one its root descriptor holds).
fn replaced_root(walk: bool) {
    let s = server(walk);
    s.root.write("original", b"o");
    let mut c = s.anonymous();
    c.expect("TYPE I", 200);
    let moved = s.root.path().with_extension("moved");
    fs::rename(s.root.path(), &moved).unwrap();
    fs::create_dir(s.root.path()).unwrap();
    fs::write(s.root.path().join("impostor"), b"i").unwrap();
    let names = listing_names(&mut c);
    c.stor("upload", b"u");
    let stored_in_original = moved.join("upload").exists();
    let stored_in_new = s.root.path().join("upload").exists();
    let _ = fs::remove_dir_all(&moved);
    assert_eq!(names, ["original"], "LIST sees the original tree");
    assert!(
        stored_in_original && !stored_in_new,
        "STOR writes the original tree"
    );
}

#[test]
fn replaced_root_walk_route() {
    replaced_root(true);
}

#[test]
fn replaced_root_openat2_route() {
    replaced_root(false);
}

/// A file system mounted on DIR after start: LIST and STOR still agree on the tree underneath.
#[test]
fn mount_over_root_changes_nothing() {
    if !sys::is_root() {
        eprintln!("SKIPPED: mount_over_root_changes_nothing needs root");
        return;
    }
    for walk in [true, false] {
        let s = server(walk);
        s.root.write("original", b"o");
        let mut c = s.anonymous();
        c.expect("TYPE I", 200);
        if let Err(e) = sys::mount_tmpfs(s.root.path()) {
            eprintln!("SKIPPED: mount_over_root_changes_nothing: cannot mount here ({e})");
            return;
        }
        fs::write(s.root.path().join("on-the-mount"), b"m").unwrap();
        let names = listing_names(&mut c);
        c.stor("upload", b"u");
        let on_mount = s.root.path().join("upload").exists();
        sys::unmount(s.root.path()).unwrap();
        assert_eq!(names, ["original"], "LIST sees the tree underneath");
        assert!(
            !on_mount && s.root.path().join("upload").exists(),
            "STOR writes the tree underneath"
        );
    }
}

/// Whether thread `tid` of this process sleeps in a FIFO open (waiting for the other end).
fn waits_in_fifo_open(tid: i64) -> bool {
    fs::read_to_string(format!("/proc/self/task/{tid}/wchan"))
        .is_ok_and(|w| w.contains("wait_for_partner") || w.contains("fifo"))
}

/// A thread blocked opening `fifo` (for writing when `write`); reports when its open returns,
/// which happens only once someone opens the other end. Returns once the thread is blocked.
fn fifo_watcher(fifo: PathBuf, write: bool) -> mpsc::Receiver<()> {
    let (tid_tx, tid_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        tid_tx.send(sys::thread_id()).unwrap();
        let opened = fs::File::options().read(!write).write(write).open(&fifo);
        let _ = tx.send(());
        drop(opened);
    });
    let tid = tid_rx.recv().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !waits_in_fifo_open(tid) {
        assert!(Instant::now() < deadline, "the FIFO watcher never blocked");
        thread::yield_now();
    }
    rx
}

/// RETR, APPE, REST+STOR, SITE CHMOD and MFMT on FIFOs never open them for I/O: a reader or
/// writer waiting on the other end would be released by any such open.
fn fifos_are_never_opened(walk: bool) {
    let s = server(walk);
    let (r, w) = (s.root.path().join("fifo-r"), s.root.path().join("fifo-w"));
    sys::mkfifo(&r);
    sys::mkfifo(&w);
    let read_opened = fifo_watcher(r.clone(), true);
    let write_opened = fifo_watcher(w.clone(), false);
    let mut c = s.anonymous();
    c.expect("TYPE I", 200);
    for name in ["fifo-r", "fifo-w"] {
        for verb in ["RETR", "APPE"] {
            c.expect("EPSV", 229);
            c.expect(format!("{verb} {name}"), 550);
        }
        c.expect("REST 1", 350);
        c.expect("EPSV", 229);
        c.expect(format!("STOR {name}"), 550);
        c.expect("REST 0", 350);
        c.expect(format!("SITE CHMOD 600 {name}"), 200);
        c.expect(format!("MFMT 20000101000000 {name}"), 213);
        c.expect(format!("SIZE {name}"), 550);
    }
    let read = read_opened.recv_timeout(Duration::from_millis(300)).is_ok();
    let written = write_opened.recv_timeout(Duration::from_millis(1)).is_ok();
    // Release the watchers.
    let _ = fs::File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&r);
    let _ = fs::File::options().read(true).write(true).open(&w);
    assert!(!read, "a FIFO was opened for reading");
    assert!(!written, "a FIFO was opened for writing");
    let meta = fs::metadata(&r).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600, "SITE CHMOD applied");
    assert_eq!(meta.mtime(), 946_684_800, "MFMT applied");
}

#[test]
fn fifos_are_never_opened_walk_route() {
    fifos_are_never_opened(true);
}

#[test]
fn fifos_are_never_opened_openat2_route() {
    fifos_are_never_opened(false);
}

/// SITE CHMOD 000, MFMT on the now unreadable file, SITE CHMOD 644: each must work.
fn chmod_000_mfmt_chmod_644(c: &mut Client, target: &Path) {
    c.expect("SITE CHMOD 000 target", 200);
    assert_eq!(fs::metadata(target).unwrap().mode() & 0o777, 0);
    c.expect("MFMT 20000101000000 target", 213);
    assert_eq!(fs::metadata(target).unwrap().mtime(), 946_684_800);
    c.expect("SITE CHMOD 644 target", 200);
    assert_eq!(fs::metadata(target).unwrap().mode() & 0o777, 0o644);
}

/// SITE CHMOD 000 can be undone and MFMT works on a file with no permission bits, and neither
/// touches the contents (a race with swapped-in symlinks is in `symlink_race_*`).
fn chmod_and_mfmt_by_descriptor(walk: bool) {
    let s = server(walk);
    let target = s.root.write("target", b"t");
    fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
    set_mtime(&target, OUTSIDE_MTIME);
    let mut c = s.anonymous();
    chmod_000_mfmt_chmod_644(&mut c, &target);
    let mut body = Vec::new();
    fs::File::open(&target)
        .unwrap()
        .read_to_end(&mut body)
        .unwrap();
    assert_eq!(body, b"t");
}

/// The same on a server that is not root (its threads run as nobody): with the file opened for
/// reading, `SITE CHMOD 000` could not be undone and MFMT failed on a file nobody may read.
#[test]
fn non_root_server_undoes_chmod_000_and_sets_times_of_unreadable_files() {
    if !sys::is_root() {
        eprintln!("SKIPPED: non_root_server_undoes_chmod_000... needs root (to become nobody)");
        return;
    }
    const NOBODY: u32 = 65534;
    for walk in [true, false] {
        let s = thread::spawn(move || {
            sys::drop_thread_credentials(NOBODY, NOBODY);
            server(walk)
        })
        .join()
        .unwrap();
        let target = s.root.write("target", b"t");
        std::os::unix::fs::chown(&target, Some(NOBODY), Some(NOBODY)).unwrap();
        chmod_000_mfmt_chmod_644(&mut s.anonymous(), &target);
    }
}

#[test]
fn chmod_and_mfmt_by_descriptor_walk_route() {
    chmod_and_mfmt_by_descriptor(true);
}

#[test]
fn chmod_and_mfmt_by_descriptor_openat2_route() {
    chmod_and_mfmt_by_descriptor(false);
}

/// A file under a lease held by someone else: the open fails with EWOULDBLOCK until the holder
/// lets go. The session answers 450 at once instead of spinning (which kept a core busy and
/// made ABOR useless).
#[test]
fn file_under_a_lease_answers_450() {
    let (a, b) = (server(false), server(true));
    let path = a.root.write("leased", b"l");
    fs::hard_link(&path, b.root.path().join("leased")).unwrap();
    let holder = fs::File::options()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    if let Err(e) = sys::take_write_lease(&holder) {
        eprintln!("SKIPPED: file_under_a_lease_answers_450: no lease here ({e})");
        return;
    }
    for s in [&a, &b] {
        let mut c = s.anonymous();
        c.expect("TYPE I", 200);
        c.expect("EPSV", 229);
        let started = Instant::now();
        c.expect("RETR leased", 450);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        c.expect("NOOP", 200);
    }
    drop(holder);
}
