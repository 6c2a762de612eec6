//! tinyftpd benchmark: `cargo bench --all-features --bench ftp_bench -- [--compare all] [--quick]`.
//!
//! Starts the release tinyftpd (or `$TINYFTPD_BIN`) on 127.0.0.1, and with
//! `--compare vsftpd,pure-ftpd,proftpd,pyftpdlib` (or `all`) those peers with
//! generated configs (see peers.rs), all serving the same temp directory; measures
//! big and small transfers, logins, listings, idle sessions, concurrent downloads and
//! a download under thousands of idle sessions with a std-only client, plus the
//! machine's ceilings; prints one table. The `-tls` scenarios do the same over explicit
//! FTPS (client side rustls) with a certificate made at run time, against the servers that
//! offer it, when tinyftpd was built with the `tls` feature (`cargo bench --all-features`).
//! All traffic stays on loopback, every loop is bounded, every socket has a timeout.

#[path = "ftp_bench/ceilings.rs"]
mod ceilings;
#[path = "ftp_bench/client.rs"]
mod client;
#[path = "ftp_bench/fixtures.rs"]
mod fixtures;
#[path = "ftp_bench/peers.rs"]
mod peers;
#[path = "ftp_bench/procfs.rs"]
mod procfs;
#[path = "ftp_bench/report.rs"]
mod report;
#[path = "ftp_bench/scenarios.rs"]
mod scenarios;
#[path = "ftp_bench/servers.rs"]
mod servers;

use std::io;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fixtures::{Fixtures, Sizes, TlsFiles};
use rustls::ClientConfig;
use scenarios::{Cell, Cells, Plan};

const MIB: u64 = 1 << 20;

struct Args {
    quick: bool,
    peers: Vec<&'static str>,
    only: Vec<String>,
    window: Option<f64>,
    sessions: Option<usize>,
}

fn usage() -> &'static str {
    "usage: cargo bench --all-features --bench ftp_bench -- \
     [--compare all|vsftpd,pure-ftpd,proftpd,pyftpdlib]\n\
     \x20      [--quick] [--only TEST,...] [--window SECS] [--sessions N]\n\
     --window: how long each small-retr/small-stor run lasts (default 5, quick 1)\n\
     --sessions: idle sessions for the idle and scale tests (default 1000, quick 200)\n\
     env: TINYFTPD_BIN=path overrides the tinyftpd binary"
}

/// `all` or a comma list of peers, in `peers::PEERS` order.
fn parse_peers(list: &str) -> Result<Vec<&'static str>, String> {
    let names: Vec<&str> = list.split(',').filter(|s| !s.is_empty()).collect();
    if let Some(bad) = names
        .iter()
        .find(|n| **n != "all" && !peers::PEERS.contains(n))
    {
        return Err(format!(
            "--compare: unknown server {bad:?} (all, or some of {})",
            peers::PEERS.join(",")
        ));
    }
    Ok(peers::PEERS
        .into_iter()
        .filter(|p| names.iter().any(|n| n == p || *n == "all"))
        .collect())
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut a = Args {
        quick: false,
        peers: Vec::new(),
        only: Vec::new(),
        window: None,
        sessions: None,
    };
    let mut bench = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (arg, mut inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg, None),
        };
        let mut value = || inline.take().or_else(|| it.next()).unwrap_or_default();
        match arg.as_str() {
            // cargo bench passes --bench; cargo test (e.g. --all-targets) does not.
            "--bench" => bench = true,
            "--quick" => a.quick = true,
            "--compare" => a.peers = parse_peers(&value())?,
            "--window" => match value().parse::<f64>() {
                Ok(w) if (0.1..=600.0).contains(&w) => a.window = Some(w),
                _ => return Err("--window: seconds from 0.1 to 600".into()),
            },
            "--sessions" => match value().parse::<usize>() {
                Ok(n) if (1..=50_000).contains(&n) => a.sessions = Some(n),
                _ => return Err("--sessions: a count from 1 to 50000".into()),
            },
            "--only" => {
                let list = value();
                for name in list.split(',').filter(|s| !s.is_empty()) {
                    if !scenarios::NAMES.contains(&name) {
                        return Err(format!(
                            "--only: unknown test {name:?} (one of {})",
                            scenarios::NAMES.join(", ")
                        ));
                    }
                    a.only.push(name.to_string());
                }
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(bench.then_some(a))
}

/// Best of `n` runs: a ceiling is what the machine can do at its best.
fn best_of(n: usize, mut f: impl FnMut() -> io::Result<f64>) -> Cell {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        match f() {
            Ok(x) => v.push(x),
            Err(e) => return Cell::Error(e.to_string()),
        }
    }
    Cell::Val(v.into_iter().fold(f64::NAN, f64::max))
}

/// The run's certificate and the client configuration trusting it.
type Tls = (TlsFiles, Arc<ClientConfig>);

/// The in-memory rustls ceilings, best of `runs` each; what they ran goes to
/// `TLS_CEILING_NOTE`.
fn tls_ceilings(fx: &Fixtures, tls: &Tls, runs: usize, c: &mut Cells) {
    let pat = fixtures::pattern();
    let mut got = Vec::with_capacity(runs);
    for _ in 0..runs {
        match ceilings::tls_memory(&tls.0, &tls.1, fx.sizes.big, &pat) {
            Ok(r) => got.push(r),
            Err(e) => {
                for k in ["ceil.tls", "ceil.tls_enc", "ceil.tls_dec"] {
                    c.insert(k, Cell::Error(e.to_string()));
                }
                return;
            }
        }
    }
    let best = |f: fn(&ceilings::TlsCeiling) -> f64, lower: bool| {
        let v = got.iter().map(f);
        Cell::Val(if lower {
            v.fold(f64::INFINITY, f64::min)
        } else {
            v.fold(0.0, f64::max)
        })
    };
    c.insert("ceil.tls", best(|r| r.both, false));
    c.insert("ceil.tls_enc", best(|r| r.encrypt, true));
    c.insert("ceil.tls_dec", best(|r| r.decrypt, true));
    if let (Some(r), Ok(mut note)) = (got.first(), TLS_CEILING_NOTE.lock()) {
        *note = Some(format!(
            "rustls ceilings: {}, one thread encrypting (client) and decrypting (server) {} MiB \
             in memory, timed by the thread's CPU clock (CLOCK_THREAD_CPUTIME_ID), so waiting \
             for a CPU on a busy machine does not count; MiB/s through both ends, and each \
             end's CPU s/GiB (retr-big-tls's server CPU is shown against encrypt, \
             stor-big-tls's against decrypt)",
            r.suite,
            fx.sizes.big / MIB
        ));
    }
}

fn measure_ceilings(fx: &Fixtures, runs: usize, tls: Option<&Tls>) -> Cells {
    let pat = fixtures::pattern();
    let big = fx.sizes.big;
    let mut c = Cells::new();
    eprintln!("  ceilings ...");
    c.insert(
        "ceil.tcp",
        best_of(runs, || ceilings::loopback_tcp(big, &pat)),
    );
    let src = fx.served().join(fixtures::BIG);
    c.insert(
        "ceil.sendfile",
        best_of(runs, || ceilings::sendfile(&src, big)),
    );
    let dst = fx.scratch("ceiling-sock2file.bin");
    c.insert(
        "ceil.sock2file",
        best_of(runs, || ceilings::socket_to_file(&dst, big, &pat)),
    );
    if let Some(tls) = tls {
        tls_ceilings(fx, tls, runs, &mut c);
    }
    c
}

/// How the TLS ceilings were measured, for the notes (the same line before and after).
static TLS_CEILING_NOTE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// The run's certificate, trusted by the client; None (with the reason in `notes`) when
/// openssl cannot make one.
fn make_tls(fx: &Fixtures, notes: &mut Vec<String>) -> Option<Tls> {
    let made = fx.make_certificate().and_then(|files| {
        let config = client::trust_certificate(&files.cert).map_err(|e| e.to_string())?;
        Ok((files, config))
    });
    match made {
        Ok(t) => Some(t),
        Err(e) => {
            notes.push(format!("TLS rows skipped: no certificate ({e})"));
            None
        }
    }
}

/// Start tinyftpd with the certificate; a binary built without the feature is started
/// without it, and the TLS rows are skipped with one line saying how to get them.
fn start_tinyftpd(
    fx: &Fixtures,
    limit: usize,
    tls: Option<&Tls>,
    plan: &Plan,
    notes: &mut Vec<String>,
) -> Result<servers::Server, String> {
    let start = |t: Option<&TlsFiles>, notes: &mut Vec<String>| {
        start_server(
            "tinyftpd",
            || servers::start_tinyftpd(fx, limit, t).map_err(|e| e.to_string()),
            plan,
            notes,
        )
    };
    match start(tls.map(|t| &t.0), notes) {
        Err(e) if e.contains(servers::NO_TLS) => {
            let r = start(None, notes);
            notes.push(format!(
                "TLS rows skipped: {} was built without the `tls` feature; run \
                 `cargo bench --all-features --bench ftp_bench` (as scripts/bench.sh does)",
                servers::tinyftpd_bin().display()
            ));
            r
        }
        r => r,
    }
}

/// Merge two ceiling measurements, keeping the better figure (or the one that worked).
fn best_cells(a: Cells, mut b: Cells) -> Cells {
    let mut out = Cells::new();
    for (k, va) in a {
        let better = report::CEILINGS
            .iter()
            .find(|r| r.key == k)
            .map_or(report::Better::Higher, |r| r.better);
        let merged = match (va, b.remove(k)) {
            (Cell::Val(x), Some(Cell::Val(y))) if report::is_better(better, y, x) => Cell::Val(y),
            (Cell::Val(x), Some(Cell::Val(_))) => Cell::Val(x),
            (Cell::Val(x), _) => Cell::Val(x),
            (_, Some(Cell::Val(y))) => Cell::Val(y),
            (other, _) => other,
        };
        out.insert(k, merged);
    }
    out.extend(b);
    out
}

/// Start a server; note its open-file limit.
fn start_server(
    name: &'static str,
    start: impl FnOnce() -> Result<servers::Server, String>,
    plan: &Plan,
    notes: &mut Vec<String>,
) -> Result<servers::Server, String> {
    eprintln!("starting {name}");
    let srv = start().inspect_err(|e| eprintln!("  {name}: {e}"))?;
    let need = plan.sessions as u64 + 200;
    match procfs::max_open_files(srv.pid()) {
        Some(n) if n < need => notes.push(format!(
            "WARNING: {name} has RLIMIT_NOFILE {n} < {need} needed for the idle test \
             (raise `ulimit -n`)"
        )),
        Some(n) => notes.push(format!("{name} pid {} RLIMIT_NOFILE {n}", srv.pid())),
        None => {}
    }
    Ok(srv)
}

/// How the TLS rows were run, for the notes.
fn tls_note(t: &Tls, sizes: &Sizes) -> String {
    format!(
        "TLS rows: explicit FTPS (AUTH TLS, PBSZ 0, PROT P) with a certificate made by \
         `openssl req` for this run ({}), used by every server that offers TLS; client rustls \
         (ring, default suites); each control connection makes a full handshake, its data \
         connections resume its session where the server lets them; no server requires that \
         (tinyftpd's --tls-reuse-required is off by default, vsftpd runs with \
         require_ssl_reuse=NO); big: {} MiB as the clear-text rows; retr-big-tls and \
         stor-big-tls are shown against the rustls in-memory ceiling",
        t.0.kind,
        sizes.big / MIB
    )
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!(
                "ftp_bench: not run without --bench; use `cargo bench --all-features --bench ftp_bench`"
            );
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            if !e.is_empty() {
                eprintln!("ftp_bench: {e}");
            }
            eprintln!("{}", usage());
            return ExitCode::from(2);
        }
    };
    let t_start = Instant::now();
    let (sizes, plan) = if args.quick {
        (
            Sizes {
                big: 64 * MIB,
                mid: 10 * MIB,
                small: 4096,
                list_entries: 2_000,
            },
            Plan {
                big_runs: 3,
                small_conns: 8,
                small_window: Duration::from_secs_f64(args.window.unwrap_or(1.0)),
                login_threads: 8,
                login_total: 400,
                list_runs: 3,
                sessions: args.sessions.unwrap_or(200),
                conc_clients: 32,
                conc_reps: 2,
                tls: false,
            },
        )
    } else {
        (
            Sizes {
                big: 1024 * MIB,
                mid: 10 * MIB,
                small: 4096,
                list_entries: 10_000,
            },
            Plan {
                big_runs: 3,
                small_conns: 8,
                small_window: Duration::from_secs_f64(args.window.unwrap_or(5.0)),
                login_threads: 8,
                login_total: 2_000,
                list_runs: 5,
                sessions: args.sessions.unwrap_or(1_000),
                conc_clients: 32,
                conc_reps: 5,
                tls: false,
            },
        )
    };
    let mut notes = Vec::new();
    let load0 = procfs::load_average();
    match procfs::raise_nofile() {
        Ok(n) => notes.push(format!(
            "bench RLIMIT_NOFILE raised to {n} (servers started by the bench inherit it)"
        )),
        Err(e) => notes.push(format!("WARNING: could not raise RLIMIT_NOFILE: {e}")),
    }
    eprintln!(
        "ftp_bench: preparing files ({} MiB big file){}",
        sizes.big / MIB,
        if args.quick { ", quick mode" } else { "" }
    );
    let fx = match Fixtures::create(sizes) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ftp_bench: error: could not create test files: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tw0 = procfs::time_wait_count();
    let want_tls = args.only.is_empty() || args.only.iter().any(|n| scenarios::is_tls(n));
    let mut tls = if want_tls {
        make_tls(&fx, &mut notes)
    } else {
        None
    };
    // Room for every idle session plus the test's own connections.
    let limit = plan.sessions + 100;
    let tiny = start_tinyftpd(&fx, limit, tls.as_ref(), &plan, &mut notes);
    if !matches!(&tiny, Ok(s) if s.tls) {
        tls = None;
    }
    let ceil_before = measure_ceilings(&fx, 3, tls.as_ref());
    let mut servers = vec![("tinyftpd", tiny)];
    let mut skipped = Vec::new();
    let peer_tls = tls.as_ref().map(|t| &t.0);
    for &peer in &args.peers {
        let start = || peers::start(peer, &fx, limit, peer_tls);
        match start_server(peer, start, &plan, &mut notes) {
            Ok(s) => servers.push((peer, Ok(s))),
            Err(e) => skipped.push(e),
        }
    }
    let cells = scenarios::run_all(&mut servers, &fx, &plan, &args.only, tls.is_some());
    let servers_run: Vec<&str> = servers.iter().map(|s| s.0).collect();
    let results: Vec<(&str, Cells)> = servers_run.iter().copied().zip(cells).collect();
    drop(servers);
    // Ceilings again after the servers: background load changes over a run, and a
    // ceiling is the best the machine did at either end.
    let ceil = best_cells(ceil_before, measure_ceilings(&fx, 3, tls.as_ref()));
    let tw1 = procfs::time_wait_count();
    if let (Some(l0), Some(l1)) = (load0, procfs::load_average()) {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let busy = if l0 > 0.5 {
            " (WARNING: something else was already busy: figures will be noisy)"
        } else {
            ""
        };
        notes.push(format!(
            "load average {l0:.2} before the run{busy}, {l1:.2} after; {cpus} CPUs shared by \
             client and server"
        ));
    }

    println!();
    println!(
        "tinyftpd benchmark ({} mode), loopback 127.0.0.1, {} CPUs, took {:.0} s",
        if args.quick { "quick" } else { "full" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        t_start.elapsed().as_secs_f64()
    );
    println!();
    print!("{}", report::render(&ceil, &results));
    println!();
    println!("notes:");
    for n in [
        format!(
            "big file {} MiB (real data, page cache), median of {} runs; ceilings: best of 3 \
             runs before and 3 after the servers",
            sizes.big / MIB,
            plan.big_runs
        ),
        format!(
            "small: {} connections, each doing transfers of {} B (EPSV + RETR/STOR each) \
             for {:.1} s; login: {} threads, {} sessions; list: {} entries, median of {}",
            plan.small_conns,
            sizes.small,
            plan.small_window.as_secs_f64(),
            plan.login_threads,
            plan.login_total,
            sizes.list_entries,
            plan.list_runs
        ),
        format!(
            "idle: logged-in sessions, Pss at up to 1000 of them and at --sessions {}, from \
             /proc/PID/smaps_rollup (summed over the process tree) minus baseline, / sessions; \
             scale: RETR of the big file alone, then with {} idle sessions open (median of {} \
             each); concurrent-retr: {} clients x {} RETR of {} MiB",
            plan.sessions,
            plan.sessions,
            plan.big_runs,
            plan.conc_clients,
            plan.conc_reps,
            sizes.mid / MIB
        ),
        "CPU: utime+stime (+cutime/cstime and live children, for forking servers) from \
         /proc/PID/stat, read just before each big transfer and just after its final reply, \
         resolution 1/CLK_TCK"
            .to_string(),
        format!(
            "each small-test connection and idle session uses its own source address in \
             127.1.0.0/16, so data connections do not run out of loopback ephemeral ports; \
             TIME_WAIT sockets: {tw0} at start, {tw1} at end"
        ),
        "retr-big and concurrent-retr are shown against sendfile(2), stor-big against \
         socket->file (single-stream ceilings: many streams on 2 CPUs can exceed them); \
         all uploads go to upload/ for every server"
            .to_string(),
        "best peer: the peer with the best figure in the row; tinyftpd/best is tinyftpd's \
         figure over it (above 1 is better for `higher` rows, below 1 for `lower` rows); \
         n/a: the server does not implement it"
            .to_string(),
    ]
    .into_iter()
    .chain(tls.as_ref().map(|t| tls_note(t, &sizes)))
    .chain(TLS_CEILING_NOTE.lock().ok().and_then(|n| n.clone()))
    .chain(scenarios::tls_notes())
    .chain(notes)
    {
        println!("  {n}");
    }
    for p in servers_run.iter().filter(|p| **p != "tinyftpd") {
        println!("  {p}: {}", peers::describe(p));
    }
    for e in &skipped {
        println!("  {e}");
    }
    drop(fx);
    ExitCode::SUCCESS
}
