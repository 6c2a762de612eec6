//! Real FTP clients as child processes, each under `timeout(1)`. A missing client skips its
//! test with one loud line naming the install command, except under CI=true, where it fails.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// True when `tool` is on PATH. Otherwise prints why the test is skipped (or panics in CI).
pub fn available(tool: &str, install: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false);
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{tool} is required under CI=true; install it with: {install}");
        }
        eprintln!("SKIPPED: {tool} is not installed; install it with: {install}");
    }
    found
}

/// Runs `program args` with a hard time limit, in `dir`.
pub fn run(program: &str, args: &[&str], dir: &Path, seconds: u32) -> Output {
    run_with(program, args, dir, seconds, None, &[])
}

/// Like `run`, with `input` written to the client's stdin (then closed) and extra environment
/// variables. stdin is fed from its own thread, so a client that writes a lot before it reads
/// cannot deadlock the test.
pub fn run_with(
    program: &str,
    args: &[&str],
    dir: &Path,
    seconds: u32,
    input: Option<&[u8]>,
    envs: &[(&str, &str)],
) -> Output {
    let limit = seconds.to_string();
    let mut full = vec!["-k", "5", limit.as_str(), program];
    full.extend_from_slice(args);
    let mut child = Command::new("timeout")
        .args(&full)
        .current_dir(dir)
        .envs(envs.iter().copied())
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    let feeder = child.stdin.take().map(|mut stdin| {
        let bytes = input.unwrap_or_default().to_vec();
        std::thread::spawn(move || {
            // The client may exit without reading everything; that is its business.
            let _ = stdin.write_all(&bytes);
        })
    });
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait for {program}: {e}"));
    if let Some(feeder) = feeder {
        feeder.join().expect("stdin feeder");
    }
    out
}

/// Asserts that a client run succeeded, showing its output otherwise.
pub fn assert_ok(program: &str, args: &[&str], out: &Output) {
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({:?})\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs and asserts success, showing the client's output on failure.
pub fn run_ok(program: &str, args: &[&str], dir: &Path, seconds: u32) -> Output {
    let out = run(program, args, dir, seconds);
    assert_ok(program, args, &out);
    out
}

pub fn curl(args: &[&str], dir: &Path) -> Output {
    let mut full = vec!["--silent", "--show-error", "--max-time", "30"];
    full.extend_from_slice(args);
    run_ok("curl", &full, dir, 40)
}

/// Runs a Python script (ftplib) with the server port as argv[1].
pub fn python(script: &str, port: u16, dir: &Path) -> Output {
    run_ok("python3", &["-c", script, &port.to_string()], dir, 60)
}

pub fn lftp(commands: &str, url: &str, dir: &Path) -> Output {
    let script = format!(
        "set net:max-retries 1; set net:timeout 10; set cmd:fail-exit yes; {commands}; quit"
    );
    run_ok("lftp", &["-e", &script, url], dir, 60)
}
