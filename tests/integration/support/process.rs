//! The real `tinyftpd` binary as a child process: [`Binary`] starts it with `--port 0`, reads
//! its address from the start-up line, collects its stderr line by line; [`Running`] wraps a
//! child spawned with chosen descriptors (inetd, socket activation). Both kill on drop.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_tinyftpd");

pub struct Binary {
    pub child: Child,
    pub addr: SocketAddr,
    pub start_line: String,
    stderr: Receiver<String>,
}

impl Binary {
    /// Starts `tinyftpd -p 0 -b 127.0.0.1 ARGS...` and waits for its start-up line.
    pub fn start(args: &[&str]) -> Binary {
        let mut command = Command::new(BIN);
        command.args(["-p", "0", "-b", "127.0.0.1"]).args(args);
        Binary::start_command(command)
    }

    /// Starts a prepared command (tinyftpd with its arguments, and what the caller set up for
    /// the child, such as a `pre_exec`) and waits for its start-up line.
    pub fn start_command(mut command: Command) -> Binary {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tinyftpd");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut start_line = String::new();
        BufReader::new(stdout)
            .read_line(&mut start_line)
            .expect("read start-up line");
        let addr = start_line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split([',', ' ']).next())
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                let errors: Vec<String> = rx.try_iter().collect();
                panic!("no address in start-up line {start_line:?}; stderr: {errors:?}")
            });
        Binary {
            child,
            addr,
            start_line,
            stderr: rx,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (bounded) for a stderr line containing `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => continue,
                Err(_) => panic!("no log line containing {needle:?} within {timeout:?}"),
            }
        }
    }

    /// Waits (bounded) until the start-up sweep of stale upload temporaries has finished (its
    /// thread, named `sweep`, is gone), so that descriptors it holds for a while do not count
    /// in a measurement.
    pub fn wait_for_sweep(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let tasks = format!("/proc/{}/task", self.pid());
        loop {
            let sweeping = std::fs::read_dir(&tasks)
                .map(|entries| {
                    entries.filter_map(Result::ok).any(|task| {
                        std::fs::read_to_string(task.path().join("comm"))
                            .is_ok_and(|comm| comm.trim() == "sweep")
                    })
                })
                .unwrap_or(false);
            if !sweeping {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "sweep still running after {timeout:?}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the pid of a child we started and have not reaped.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits (bounded) for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("tinyftpd did not exit within {timeout:?}");
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

/// A connected pair: the client's end, and the server's end as inetd would pass it.
pub fn accepted_pair() -> (TcpStream, OwnedFd) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server_side, _) = listener.accept().unwrap();
    (client, OwnedFd::from(server_side))
}

/// The binary with `server_side` as its stdin and stdout, as inetd and tcpsvd start it; the
/// caller adds the flags and says where stderr goes.
pub fn inetd_command(server_side: OwnedFd) -> Command {
    let mut command = Command::new(BIN);
    command
        .stdin(Stdio::from(server_side.try_clone().unwrap()))
        .stdout(Stdio::from(server_side));
    command
}
