//! The FTP measurements, each against one running server. Every scenario returns
//! its cells; a failure becomes an error cell and the bench goes on.

use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::{err, Ftp, Listing, Target, TlsStats, BUF_SIZE};
use crate::fixtures::{self, Fixtures};
use crate::procfs;
use crate::servers::Server;

/// One figure in the table.
#[derive(Clone, Debug)]
pub enum Cell {
    Val(f64),
    NotAvailable,
    /// Not measured in this run (e.g. a figure for more sessions than asked for).
    NotRun,
    Error(String),
}

/// When a client thread started and ended its measured work.
type Span = (Instant, Instant);

/// Figures by row key (see `report::ROWS`).
pub type Cells = HashMap<&'static str, Cell>;

/// How much of everything one run does.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub big_runs: usize,
    pub small_conns: usize,
    /// How long each small-transfer run lasts (long enough for a stable figure).
    pub small_window: Duration,
    pub login_threads: usize,
    pub login_total: usize,
    pub list_runs: usize,
    /// Idle logged-in sessions held by the idle and scale tests.
    pub sessions: usize,
    pub conc_clients: usize,
    pub conc_reps: usize,
    /// Run over explicit FTPS (AUTH TLS, PROT P): set by `run_all` for the `-tls` scenarios.
    pub tls: bool,
}

/// The login a scenario uses on `srv`: over TLS when the plan says so.
fn target(srv: &Server, plan: &Plan) -> Target {
    if plan.tls {
        srv.target.over_tls()
    } else {
        srv.target
    }
}

/// What the TLS scenarios saw negotiated, one line per server and scenario, for the notes.
static TLS_NOTES: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn note_tls(srv: &Server, scenario: &str, stats: &TlsStats) {
    let Some(suite) = &stats.suite else { return };
    let line = format!(
        "{}: {scenario}: data connections {suite}, {} of {} handshakes resumed",
        srv.name, stats.resumed, stats.handshakes
    );
    if let Ok(mut v) = TLS_NOTES.lock() {
        v.push(line);
    }
}

/// The lines `note_tls` collected.
pub fn tls_notes() -> Vec<String> {
    TLS_NOTES.lock().map(|v| v.clone()).unwrap_or_default()
}

const GIB: f64 = (1u64 << 30) as f64;
const MIB: f64 = (1u64 << 20) as f64;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// The `p`-th percentile (0..=100) of sorted durations, in milliseconds.
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

fn join_all<T>(hs: Vec<thread::JoinHandle<io::Result<T>>>) -> io::Result<Vec<T>> {
    let mut out = Vec::with_capacity(hs.len());
    let mut first_err = None;
    for h in hs {
        match h.join() {
            Ok(Ok(v)) => out.push(v),
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(_) => {
                first_err.get_or_insert(err("client thread panicked"));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Wall time of a parallel phase: from the earliest start to the latest end, as seen by
/// the client threads themselves (the main thread may be scheduled late on 2 CPUs).
fn span_secs(spans: &[Span]) -> f64 {
    match (
        spans.iter().map(|s| s.0).min(),
        spans.iter().map(|s| s.1).max(),
    ) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
        _ => f64::NAN,
    }
}

/// Put `r`'s values under `keys`, or its error under all of them.
fn fill(cells: &mut Cells, keys: &[&'static str], r: io::Result<Vec<Cell>>) {
    match r {
        Ok(v) => {
            for (k, c) in keys.iter().zip(v) {
                cells.insert(k, c);
            }
        }
        Err(e) => {
            for k in keys {
                cells.insert(k, Cell::Error(e.to_string()));
            }
        }
    }
}

/// If many 127.0.0.1 <-> 127.0.0.1 sockets sit in TIME_WAIT, wait (bounded) for them to
/// drain. Connections from the spread source addresses (`source_addr`) have ports to
/// spare and are not waited for.
fn settle_time_wait(limit: u64) {
    let t0 = Instant::now();
    while procfs::time_wait_count_localhost() > limit && t0.elapsed() < Duration::from_secs(65) {
        thread::sleep(Duration::from_millis(500));
    }
}

/// Names of the scenarios, in run order (for `--only`).
pub const NAMES: [&str; 14] = [
    "retr-big",
    "stor-big",
    "small-retr",
    "small-stor",
    "login",
    "list",
    "concurrent-retr",
    "idle",
    "scale",
    "retr-big-tls",
    "stor-big-tls",
    "small-retr-tls",
    "login-tls",
    "idle-tls",
];

/// Is this a scenario over FTPS?
pub fn is_tls(name: &str) -> bool {
    name.ends_with("-tls")
}

/// Run the FTP scenarios (all, or those named in `only`; the TLS ones only `with_tls`)
/// against every server.
pub fn run_all(
    servers: &mut [(&'static str, Result<Server, String>)],
    fx: &Fixtures,
    plan: &Plan,
    only: &[String],
    with_tls: bool,
) -> Vec<Cells> {
    let mut out = vec![Cells::new(); servers.len()];
    type Scenario = fn(&Server, &Fixtures, &Plan) -> io::Result<Vec<Cell>>;
    let scenarios: [(&str, &[&'static str], Scenario); 14] = [
        ("retr-big", &["retr_big.rate", "retr_big.cpu"], retr_big),
        ("stor-big", &["stor_big.rate", "stor_big.cpu"], stor_big),
        (
            "small-retr",
            &[
                "small_retr.rate",
                "small_retr.p50",
                "small_retr.p99",
                "small_retr.cpu",
            ],
            |s, f, p| small(s, f, p, false),
        ),
        (
            "small-stor",
            &[
                "small_stor.rate",
                "small_stor.p50",
                "small_stor.p99",
                "small_stor.cpu",
            ],
            |s, f, p| small(s, f, p, true),
        ),
        ("login", &["login.rate"], login),
        ("list", &["list.LIST", "list.NLST", "list.MLSD"], list),
        ("concurrent-retr", &["conc.rate", "conc.fair"], concurrent),
        ("idle", &["idle.kib", "idle.kib_n", "idle.threads"], idle),
        (
            "scale",
            &["scale.alone", "scale.loaded", "scale.ratio"],
            scale,
        ),
        (
            "retr-big-tls",
            &["retr_big_tls.rate", "retr_big_tls.cpu"],
            retr_big,
        ),
        (
            "stor-big-tls",
            &["stor_big_tls.rate", "stor_big_tls.cpu"],
            stor_big,
        ),
        (
            "small-retr-tls",
            &[
                "small_retr_tls.rate",
                "small_retr_tls.p50",
                "small_retr_tls.p99",
                "small_retr_tls.cpu",
                "small_retr_tls.resumed",
            ],
            |s, f, p| small(s, f, p, false),
        ),
        ("login-tls", &["login_tls.rate"], login),
        ("idle-tls", &["idle_tls.kib"], idle_tls),
    ];
    // Scenario by scenario, server by server: a change in background load then hits
    // both servers' figures alike instead of one server's whole column.
    for (name, keys, f) in scenarios {
        if !only.is_empty() && !only.iter().any(|o| o == name) || is_tls(name) && !with_tls {
            continue;
        }
        let plan = Plan {
            tls: is_tls(name),
            ..*plan
        };
        for ((sname, srv), cells) in servers.iter_mut().zip(out.iter_mut()) {
            let r = match srv {
                Ok(srv) if plan.tls && !srv.tls => Ok(vec![Cell::NotAvailable; keys.len()]),
                Ok(srv) => {
                    if srv.alive() {
                        settle_time_wait(15_000);
                        eprintln!("  {sname}: {name} ...");
                        f(srv, fx, &plan)
                    } else {
                        Err(err(format!("server not running; log: {}", srv.log_tail())))
                    }
                }
                Err(e) => Err(err(format!("{sname} did not start: {e}"))),
            };
            if let Err(e) = &r {
                eprintln!("  {sname}: {name}: error: {e}");
            }
            fill(cells, keys, r);
        }
    }
    out
}

/// RETR of the big file a few times: median MiB/s and server CPU s/GiB over all runs.
fn retr_big(srv: &Server, fx: &Fixtures, plan: &Plan) -> io::Result<Vec<Cell>> {
    let size = fx.sizes.big;
    let mut f = Ftp::session(&target(srv, plan))?;
    let mut buf = vec![0u8; BUF_SIZE];
    let mut cpu = 0.0;
    let mut rates = Vec::new();
    for _ in 0..plan.big_runs {
        // CPU of the transfer alone: EPSV, RETR, the data and the final reply.
        let c0 = procfs::tree_cpu_seconds(srv.pid())?;
        let t0 = Instant::now();
        let n = f.retr(fixtures::BIG, &mut buf, size)?;
        let dt = t0.elapsed().as_secs_f64();
        cpu += procfs::tree_cpu_seconds(srv.pid())? - c0;
        if n != size {
            return Err(err(format!("RETR got {n} of {size} bytes")));
        }
        rates.push(size as f64 / MIB / dt);
    }
    note_tls(srv, "retr-big-tls", &f.tls_stats);
    let _ = f.quit();
    let gib = (size as f64 * plan.big_runs as f64) / GIB;
    Ok(vec![Cell::Val(median(&mut rates)), Cell::Val(cpu / gib)])
}

/// STOR of the big size from memory a few times (until 226): median MiB/s, CPU s/GiB.
fn stor_big(srv: &Server, fx: &Fixtures, plan: &Plan) -> io::Result<Vec<Cell>> {
    let size = fx.sizes.big;
    let pat = fixtures::pattern();
    let mut f = Ftp::session(&target(srv, plan))?;
    let mut cpu = 0.0;
    let mut rates = Vec::new();
    for i in 0..plan.big_runs {
        let name = format!("{}-big-{i}.bin", srv.name);
        let path = format!("{}/{name}", fixtures::UPLOAD_DIR);
        let c0 = procfs::tree_cpu_seconds(srv.pid())?;
        let t0 = Instant::now();
        f.stor(&path, &pat, size)?;
        let dt = t0.elapsed().as_secs_f64();
        cpu += procfs::tree_cpu_seconds(srv.pid())? - c0;
        let stored = std::fs::metadata(fx.uploaded(&name)).map(|m| m.len());
        // Drop the upload at once: it would otherwise be written back during later runs.
        let _ = std::fs::remove_file(fx.uploaded(&name));
        match stored {
            Ok(n) if n == size => {}
            Ok(n) => return Err(err(format!("stored file has {n} of {size} bytes"))),
            Err(e) => return Err(err(format!("stored file missing: {e}"))),
        }
        rates.push(size as f64 / MIB / dt);
    }
    note_tls(srv, "stor-big-tls", &f.tls_stats);
    let _ = f.quit();
    let gib = (size as f64 * plan.big_runs as f64) / GIB;
    Ok(vec![Cell::Val(median(&mut rates)), Cell::Val(cpu / gib)])
}

/// A loopback source address for the `i`-th client connection of a test: spreading
/// connections over 127.x.y.z multiplies the port space and keeps per-address limits
/// out of the way (127.0.0.0/8 is all local on Linux).
pub fn source_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(
        127,
        1 + (i / 50_000) as u8,
        (i / 200 % 250) as u8,
        (i % 200 + 1) as u8,
    )
}

/// Most transfers one small-test connection makes, whatever the window (a bound).
const SMALL_MAX_PER_CONN: usize = 1_000_000;

/// N connections each doing small transfers (EPSV + RETR/STOR) for the window:
/// transfers/s, p50, p99.
fn small(srv: &Server, fx: &Fixtures, plan: &Plan, stor: bool) -> io::Result<Vec<Cell>> {
    let conns = plan.small_conns;
    let window = plan.small_window;
    let prefix = srv.name;
    let size = fx.sizes.small;
    let barrier = Arc::new(Barrier::new(conns + 1));
    let mut hs = Vec::new();
    for c in 0..conns {
        let target = target(srv, plan);
        let barrier = barrier.clone();
        hs.push(thread::spawn(
            move || -> io::Result<(Span, Vec<Duration>, TlsStats)> {
                let setup = Ftp::session_from(&target, Some(source_addr(c)));
                // Everyone reaches the barrier, even after a failed setup, so nothing hangs.
                barrier.wait();
                let start = Instant::now();
                let mut f = setup?;
                let pat = fixtures::pattern();
                let mut buf = vec![0u8; BUF_SIZE];
                let mut lat = Vec::with_capacity(4096);
                for i in 0..SMALL_MAX_PER_CONN {
                    if start.elapsed() >= window {
                        break;
                    }
                    let t0 = Instant::now();
                    if stor {
                        let path = format!("{}/{prefix}-s-{c}-{i}.bin", fixtures::UPLOAD_DIR);
                        f.stor(&path, &pat[..size as usize], size)?;
                    } else {
                        let n = f.retr(fixtures::SMALL, &mut buf, size)?;
                        if n != size {
                            return Err(err(format!("RETR got {n} of {size} bytes")));
                        }
                    }
                    lat.push(t0.elapsed());
                }
                let end = Instant::now();
                let stats = f.tls_stats.clone();
                let _ = f.quit();
                Ok(((start, end), lat, stats))
            },
        ));
    }
    // The server's CPU over the whole window (the sessions are logged in before the
    // barrier): what one transfer costs the server, apart from the client and the wire.
    let cpu0 = procfs::tree_cpu_seconds(srv.pid())?;
    barrier.wait();
    let res = join_all(hs)?;
    let cpu = procfs::tree_cpu_seconds(srv.pid())? - cpu0;
    let wall = span_secs(&res.iter().map(|r| r.0).collect::<Vec<_>>());
    let mut tls = TlsStats::default();
    for (_, _, s) in &res {
        tls.handshakes += s.handshakes;
        tls.resumed += s.resumed;
        tls.suite = tls.suite.or(s.suite.clone());
    }
    let mut lat: Vec<Duration> = res.into_iter().flat_map(|r| r.1).collect();
    lat.sort();
    if stor {
        check_small_uploads(fx, prefix, lat.len(), size)?;
    }
    let mut cells = vec![
        Cell::Val(lat.len() as f64 / wall),
        Cell::Val(percentile_ms(&lat, 50.0)),
        Cell::Val(percentile_ms(&lat, 99.0)),
        Cell::Val(1e6 * cpu / lat.len().max(1) as f64),
    ];
    if plan.tls {
        note_tls(srv, "small-retr-tls", &tls);
        let share = tls.resumed as f64 / tls.handshakes.max(1) as f64;
        cells.push(Cell::Val(100.0 * share));
    }
    Ok(cells)
}

/// Every upload a 226 acknowledged is there, whole: a server that answers 226 without
/// storing would otherwise show a figure it did not earn.
fn check_small_uploads(fx: &Fixtures, prefix: &str, want: usize, size: u64) -> io::Result<()> {
    let start = format!("{prefix}-s-");
    let mut have = 0;
    for e in std::fs::read_dir(fx.uploaded(""))? {
        let e = e?;
        if e.file_name().to_string_lossy().starts_with(&start) {
            let n = e.metadata()?.len();
            if n != size {
                return Err(err(format!("{:?} has {n} of {size} bytes", e.file_name())));
            }
            have += 1;
        }
    }
    if have != want {
        return Err(err(format!("{have} uploads stored, {want} acknowledged")));
    }
    Ok(())
}

/// Parallel loops of connect (+ AUTH TLS and its handshake, over TLS) + USER + PASS + QUIT:
/// sessions/s.
fn login(srv: &Server, _fx: &Fixtures, plan: &Plan) -> io::Result<Vec<Cell>> {
    let threads = plan.login_threads;
    let per = plan.login_total / threads;
    let barrier = Arc::new(Barrier::new(threads + 1));
    let mut hs = Vec::new();
    for _ in 0..threads {
        let target = target(srv, plan);
        let barrier = barrier.clone();
        hs.push(thread::spawn(move || -> io::Result<Span> {
            barrier.wait();
            let start = Instant::now();
            for _ in 0..per {
                let mut f = Ftp::connect(&target)?;
                f.login()?;
                f.quit()?;
            }
            Ok((start, Instant::now()))
        }));
    }
    barrier.wait();
    let spans = join_all(hs)?;
    let done = per * spans.len();
    Ok(vec![Cell::Val(done as f64 / span_secs(&spans))])
}

/// LIST, NLST and MLSD of the big directory: median milliseconds each.
fn list(srv: &Server, fx: &Fixtures, plan: &Plan) -> io::Result<Vec<Cell>> {
    let mut f = Ftp::session(&srv.target)?;
    f.expect(&format!("CWD {}", fixtures::LIST_DIR), 250)?;
    let mut buf = vec![0u8; BUF_SIZE];
    let want = fx.sizes.list_entries as u64;
    let mut out = Vec::new();
    for cmd in ["LIST", "NLST", "MLSD"] {
        let mut times = Vec::new();
        let mut cell = None;
        for _ in 0..plan.list_runs {
            let t0 = Instant::now();
            match f.listing(cmd, &mut buf, 256 << 20) {
                Ok(Listing::Unsupported) => {
                    cell = Some(Cell::NotAvailable);
                    break;
                }
                Ok(Listing::Data { lines, .. }) if lines < want => {
                    cell = Some(Cell::Error(format!("{lines} lines for {want} entries")));
                    break;
                }
                Ok(Listing::Data { .. }) => times.push(t0.elapsed().as_secs_f64() * 1e3),
                Err(e) => {
                    cell = Some(Cell::Error(e.to_string()));
                    break;
                }
            }
        }
        out.push(cell.unwrap_or_else(|| Cell::Val(median(&mut times))));
        if matches!(out.last(), Some(Cell::Error(_))) {
            // The control connection may be out of step after an error: start afresh.
            f = Ftp::session(&srv.target)?;
            f.expect(&format!("CWD {}", fixtures::LIST_DIR), 250)?;
        }
    }
    let _ = f.quit();
    Ok(out)
}

/// Clients each RETR the mid-size file several times at once: aggregate MiB/s and
/// fairness (slowest client's rate / fastest).
fn concurrent(srv: &Server, fx: &Fixtures, plan: &Plan) -> io::Result<Vec<Cell>> {
    let clients = plan.conc_clients;
    let reps = plan.conc_reps;
    let size = fx.sizes.mid;
    let barrier = Arc::new(Barrier::new(clients + 1));
    let mut hs = Vec::new();
    for _ in 0..clients {
        let target = srv.target;
        let barrier = barrier.clone();
        hs.push(thread::spawn(move || -> io::Result<(Span, f64)> {
            let setup = Ftp::session(&target);
            barrier.wait();
            let mut f = setup?;
            let mut buf = vec![0u8; BUF_SIZE];
            let t0 = Instant::now();
            for _ in 0..reps {
                let n = f.retr(fixtures::MID, &mut buf, size)?;
                if n != size {
                    return Err(err(format!("RETR got {n} of {size} bytes")));
                }
            }
            let end = Instant::now();
            let _ = f.quit();
            let secs = end.duration_since(t0).as_secs_f64();
            Ok(((t0, end), (size * reps as u64) as f64 / MIB / secs))
        }));
    }
    barrier.wait();
    let res = join_all(hs)?;
    let wall = span_secs(&res.iter().map(|r| r.0).collect::<Vec<_>>());
    let rates: Vec<f64> = res.iter().map(|r| r.1).collect();
    let total = (size * (reps * clients) as u64) as f64 / MIB;
    let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let max = rates.iter().copied().fold(0.0, f64::max);
    Ok(vec![Cell::Val(total / wall), Cell::Val(min / max)])
}

/// Longest time one batch of idle sessions may take to open: some servers slow down
/// with every session they hold (proftpd scans its scoreboard), and the run must end.
const OPEN_DEADLINE: Duration = Duration::from_secs(240);

/// Open `n` logged-in sessions (8 openers in parallel), numbered from `first` for
/// their source addresses.
fn open_sessions(target: Target, first: usize, n: usize) -> io::Result<Vec<Ftp>> {
    let openers = 8.min(n.max(1));
    let t0 = Instant::now();
    let mut hs = Vec::new();
    for t in 0..openers {
        hs.push(thread::spawn(move || -> io::Result<Vec<Ftp>> {
            let mut v = Vec::new();
            // Opener t takes sessions t, t + openers, ...: each has its own source.
            for i in (t..n).step_by(openers) {
                if t0.elapsed() > OPEN_DEADLINE {
                    return Err(err(format!(
                        "opening {n} sessions took over {} s",
                        OPEN_DEADLINE.as_secs()
                    )));
                }
                let mut f = Ftp::connect_from(&target, Some(source_addr(first + i)))?;
                f.login()?;
                v.push(f);
            }
            Ok(v)
        }));
    }
    Ok(join_all(hs)?.into_iter().flatten().collect())
}

/// Check every session still answers, then QUIT them all. Err if any did not answer.
fn close_sessions(mut sessions: Vec<Ftp>) -> io::Result<()> {
    let n = sessions.len();
    let mut alive = 0;
    for f in sessions.iter_mut() {
        if matches!(f.cmd("NOOP"), Ok(r) if r.code == 200) {
            alive += 1;
        }
    }
    for mut f in sessions {
        let _ = f.send("QUIT");
    }
    if alive < n {
        return Err(err(format!(
            "only {alive} of {n} idle sessions answered NOOP"
        )));
    }
    Ok(())
}

/// Many logged-in idle sessions: server Pss per session (delta over baseline) at 1000
/// sessions (or fewer, if --sessions is lower) and at --sessions, and the server's
/// thread (task) count with all of them open.
fn idle(srv: &Server, _fx: &Fixtures, plan: &Plan) -> io::Result<Vec<Cell>> {
    let n = plan.sessions;
    let first = n.min(1000);
    thread::sleep(Duration::from_millis(300));
    let pss0 = procfs::tree_pss_kib(srv.pid())?;
    let target = target(srv, plan);
    let mut sessions = open_sessions(target, 0, first)?;
    thread::sleep(Duration::from_secs(1));
    let per_first =
        procfs::tree_pss_kib(srv.pid()).map(|p| (p as f64 - pss0 as f64) / first as f64);
    let mut per_n = Ok(Cell::NotRun);
    if n > first {
        match open_sessions(target, first, n - first) {
            Ok(more) => {
                sessions.extend(more);
                thread::sleep(Duration::from_secs(1));
                per_n = procfs::tree_pss_kib(srv.pid())
                    .map(|p| Cell::Val((p as f64 - pss0 as f64) / n as f64));
            }
            Err(e) => per_n = Ok(Cell::Error(format!("at {n} sessions: {e}"))),
        }
    }
    let threads = procfs::tree_threads(srv.pid());
    close_sessions(sessions)?;
    Ok(vec![
        Cell::Val(per_first?),
        per_n?,
        Cell::Val(threads? as f64),
    ])
}

/// Pss per idle logged-in TLS session (AUTH TLS before USER) at up to 1000 sessions.
fn idle_tls(srv: &Server, fx: &Fixtures, plan: &Plan) -> io::Result<Vec<Cell>> {
    let plan = Plan {
        sessions: plan.sessions.min(1000),
        ..*plan
    };
    Ok(idle(srv, fx, &plan)?.into_iter().take(1).collect())
}

/// RETR of the big file with no other session, then with --sessions idle logged-in
/// sessions open: median MiB/s of each and loaded / alone.
fn scale(srv: &Server, fx: &Fixtures, plan: &Plan) -> io::Result<Vec<Cell>> {
    let size = fx.sizes.big;
    let mut buf = vec![0u8; BUF_SIZE];
    let mut runs = |f: &mut Ftp| -> io::Result<f64> {
        let mut rates = Vec::new();
        for _ in 0..plan.big_runs {
            let t0 = Instant::now();
            let n = f.retr(fixtures::BIG, &mut buf, size)?;
            if n != size {
                return Err(err(format!("RETR got {n} of {size} bytes")));
            }
            rates.push(size as f64 / MIB / t0.elapsed().as_secs_f64());
        }
        Ok(median(&mut rates))
    };
    let mut f = Ftp::session(&srv.target)?;
    let alone = runs(&mut f)?;
    let sessions = match open_sessions(srv.target, 0, plan.sessions) {
        Ok(s) => s,
        // The figure alone stands even when the server cannot hold the sessions.
        Err(e) => {
            let _ = f.quit();
            let e = Cell::Error(e.to_string());
            return Ok(vec![Cell::Val(alone), e.clone(), e]);
        }
    };
    let loaded = runs(&mut f);
    let _ = f.quit();
    close_sessions(sessions)?;
    let loaded = loaded?;
    Ok(vec![
        Cell::Val(alone),
        Cell::Val(loaded),
        Cell::Val(loaded / alone),
    ])
}
