//! The real binary as a child process: spawned with chosen descriptors, always reaped, and
//! killed (by its own pid) if it outlives its time.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, ExitStatus};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_tinyftpd");

/// A child that is killed and reaped on drop, so a failing test leaves no server behind.
pub struct Running(pub Option<Child>);

impl Running {
    pub fn pid(&self) -> u32 {
        self.0.as_ref().expect("child").id()
    }

    /// Reads the start-up line from the child's piped stdout.
    pub fn start_up_line(&mut self) -> String {
        let stdout: ChildStdout = self
            .0
            .as_mut()
            .and_then(|c| c.stdout.take())
            .expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read start-up line");
        line
    }

    /// Waits for the child to exit by itself within `limit`; kills it and panics otherwise.
    pub fn wait_exit(mut self, limit: Duration) -> ExitStatus {
        let mut child = self.0.take().expect("child");
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        match rx.recv_timeout(limit) {
            Ok(Ok(status)) => status,
            _ => {
                // SAFETY: `pid` is our child, not yet reaped (the waiting thread still waits).
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                panic!("tinyftpd (pid {pid}) did not exit within {limit:?}");
            }
        }
    }

    /// Collects the child's piped stderr on a thread; join it after the child exited.
    pub fn stderr_reader(&mut self) -> thread::JoinHandle<String> {
        let err = self.0.as_mut().and_then(|c| c.stderr.take());
        thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut err) = err {
                let _ = err.read_to_string(&mut text);
            }
            text
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The address in a start-up line (`tinyftpd listening on ADDR, ...`).
pub fn listening_addr(line: &str) -> std::net::SocketAddr {
    line.split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split([',', ' ']).next())
        .unwrap_or_else(|| panic!("no address in start-up line {line:?}"))
        .parse()
        .expect("address")
}

/// How long a child that should exit by itself gets.
pub const EXIT_LIMIT: Duration = Duration::from_secs(20);
