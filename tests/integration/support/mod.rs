//! Test support: a temporary served directory, an in-process server on 127.0.0.1 port 0, a raw
//! FTP client, and helpers to run real clients as child processes under a timeout.

// Not every topic uses every helper.
#![allow(dead_code)]

pub mod client;
pub mod external;
pub mod process;
pub mod sockets;
pub mod sys;
pub mod tree;

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use tinyftpd::config::Config;
use tinyftpd::server::{Server, ServerContext};

pub use client::Client;

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

/// A directory under the system temp dir, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("tinyftpd-test-{}-{label}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a file (creating parent directories) and returns its path.
    pub fn write(&self, rel: &str, contents: &[u8]) -> PathBuf {
        let p = self.path.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).expect("create parent");
        }
        fs::write(&p, contents).expect("write file");
        p
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        fs::read(self.path.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A server running on its own thread, serving its own temp dir, on 127.0.0.1 with a port the
/// kernel picked. The thread ends with the test process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub root: TempDir,
    pub ctx: Arc<ServerContext>,
}

impl TestServer {
    /// Anonymous, read-only: the defaults.
    pub fn start() -> TestServer {
        TestServer::with(|_| {})
    }

    /// Anonymous and writable (`-w`).
    pub fn writable() -> TestServer {
        TestServer::with(|c| c.anonymous_writable = true)
    }

    /// With the configuration changed by `change` (timeouts are short, the login delay zero).
    pub fn with(change: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::on("127.0.0.1:0", change)
    }

    pub fn on(bind: &str, change: impl FnOnce(&mut Config)) -> TestServer {
        let listener = TcpListener::bind(bind).expect("bind test listener");
        TestServer::from_listener(listener, change)
    }

    /// Serves on a listener the test made (to choose the port, as `--port-20` tests do).
    pub fn from_listener(listener: TcpListener, change: impl FnOnce(&mut Config)) -> TestServer {
        let root = TempDir::new("root");
        let mut config = Config::new(root.path());
        config.data_timeout = Duration::from_secs(5);
        config.idle_timeout = Duration::from_secs(30);
        config.login_failure_delay = Duration::ZERO;
        change(&mut config);
        let addr = listener.local_addr().expect("local addr");
        let server = Server::from_listeners(vec![listener], config).expect("server");
        let ctx = server.context();
        thread::spawn(move || server.run());
        TestServer { addr, root, ctx }
    }

    /// A raw client, connected and past the 220 greeting.
    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    /// A raw client logged in anonymously.
    pub fn anonymous(&self) -> Client {
        let mut c = self.client();
        c.login("anonymous", "test@example.com");
        c
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "ftp://127.0.0.1:{}/{}",
            self.addr.port(),
            path.trim_start_matches('/')
        )
    }
}

/// Deterministic pseudo-random bytes (xorshift), so a failing test can be re-run exactly.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}
