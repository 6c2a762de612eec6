//! The results table: one row per figure, one column per server, tinyftpd's figure
//! against the ceiling where one applies, and, when comparing, the best peer of the
//! row and tinyftpd's figure over the best peer's.

use crate::scenarios::{Cell, Cells};

/// Which way is better for a figure.
#[derive(Clone, Copy)]
pub enum Better {
    Higher,
    Lower,
    Neither,
}

/// One table row: key into `Cells`, test, metric, decimals, better, ceiling key.
pub struct Row {
    pub key: &'static str,
    pub test: &'static str,
    pub metric: &'static str,
    pub decimals: usize,
    pub better: Better,
    pub ceiling: Option<&'static str>,
}

const fn row(
    key: &'static str,
    test: &'static str,
    metric: &'static str,
    decimals: usize,
    better: Better,
    ceiling: Option<&'static str>,
) -> Row {
    Row {
        key,
        test,
        metric,
        decimals,
        better,
        ceiling,
    }
}

use Better::{Higher, Lower, Neither};

/// Machine ceilings (measured without a server).
pub const CEILINGS: [Row; 6] = [
    row("ceil.tcp", "ceiling", "loopback tcp MiB/s", 0, Higher, None),
    row(
        "ceil.sendfile",
        "ceiling",
        "sendfile->sock MiB/s",
        0,
        Higher,
        None,
    ),
    row(
        "ceil.sock2file",
        "ceiling",
        "sock->file MiB/s",
        0,
        Higher,
        None,
    ),
    row(
        "ceil.tls",
        "ceiling",
        "rustls mem 1 core MiB/s",
        0,
        Higher,
        None,
    ),
    row(
        "ceil.tls_enc",
        "ceiling",
        "rustls encrypt CPU s/GiB",
        3,
        Lower,
        None,
    ),
    row(
        "ceil.tls_dec",
        "ceiling",
        "rustls decrypt CPU s/GiB",
        3,
        Lower,
        None,
    ),
];

/// Per-server figures.
pub const ROWS: [Row; 35] = [
    row(
        "retr_big.rate",
        "retr-big",
        "MiB/s",
        0,
        Higher,
        Some("ceil.sendfile"),
    ),
    row(
        "retr_big.cpu",
        "retr-big",
        "server CPU s/GiB",
        3,
        Lower,
        None,
    ),
    row(
        "stor_big.rate",
        "stor-big",
        "MiB/s",
        0,
        Higher,
        Some("ceil.sock2file"),
    ),
    row(
        "stor_big.cpu",
        "stor-big",
        "server CPU s/GiB",
        3,
        Lower,
        None,
    ),
    row(
        "small_retr.rate",
        "small-retr",
        "transfers/s",
        0,
        Higher,
        None,
    ),
    row("small_retr.p50", "small-retr", "p50 ms", 3, Lower, None),
    row("small_retr.p99", "small-retr", "p99 ms", 3, Lower, None),
    row(
        "small_retr.cpu",
        "small-retr",
        "server CPU us/xfer",
        0,
        Lower,
        None,
    ),
    row(
        "small_stor.rate",
        "small-stor",
        "transfers/s",
        0,
        Higher,
        None,
    ),
    row("small_stor.p50", "small-stor", "p50 ms", 3, Lower, None),
    row("small_stor.p99", "small-stor", "p99 ms", 3, Lower, None),
    row(
        "small_stor.cpu",
        "small-stor",
        "server CPU us/xfer",
        0,
        Lower,
        None,
    ),
    row("login.rate", "login", "sessions/s", 0, Higher, None),
    row("list.LIST", "list", "LIST ms", 1, Lower, None),
    row("list.NLST", "list", "NLST ms", 1, Lower, None),
    row("list.MLSD", "list", "MLSD ms", 1, Lower, None),
    row("idle.kib", "idle", "Pss KiB/sess <=1000", 1, Lower, None),
    row("idle.kib_n", "idle", "Pss KiB/sess at N", 1, Lower, None),
    row("idle.threads", "idle", "threads (tasks)", 0, Neither, None),
    row(
        "conc.rate",
        "concurrent-retr",
        "aggregate MiB/s",
        0,
        Higher,
        Some("ceil.sendfile"),
    ),
    row(
        "conc.fair",
        "concurrent-retr",
        "fairness min/max",
        2,
        Higher,
        None,
    ),
    row(
        "scale.alone",
        "scale",
        "RETR alone MiB/s",
        0,
        Higher,
        Some("ceil.sendfile"),
    ),
    row(
        "scale.loaded",
        "scale",
        "RETR + N idle MiB/s",
        0,
        Higher,
        Some("ceil.sendfile"),
    ),
    row("scale.ratio", "scale", "loaded/alone", 2, Higher, None),
    row(
        "retr_big_tls.rate",
        "retr-big-tls",
        "MiB/s",
        0,
        Higher,
        Some("ceil.tls"),
    ),
    row(
        "retr_big_tls.cpu",
        "retr-big-tls",
        "server CPU s/GiB",
        3,
        Lower,
        Some("ceil.tls_enc"),
    ),
    row(
        "stor_big_tls.rate",
        "stor-big-tls",
        "MiB/s",
        0,
        Higher,
        Some("ceil.tls"),
    ),
    row(
        "stor_big_tls.cpu",
        "stor-big-tls",
        "server CPU s/GiB",
        3,
        Lower,
        Some("ceil.tls_dec"),
    ),
    row(
        "small_retr_tls.rate",
        "small-retr-tls",
        "transfers/s",
        0,
        Higher,
        None,
    ),
    row(
        "small_retr_tls.p50",
        "small-retr-tls",
        "p50 ms",
        3,
        Lower,
        None,
    ),
    row(
        "small_retr_tls.p99",
        "small-retr-tls",
        "p99 ms",
        3,
        Lower,
        None,
    ),
    row(
        "small_retr_tls.cpu",
        "small-retr-tls",
        "server CPU us/xfer",
        0,
        Lower,
        None,
    ),
    row(
        "small_retr_tls.resumed",
        "small-retr-tls",
        "data TLS resumed %",
        0,
        Neither,
        None,
    ),
    row("login_tls.rate", "login-tls", "sessions/s", 0, Higher, None),
    row(
        "idle_tls.kib",
        "idle-tls",
        "Pss KiB/sess <=1000",
        1,
        Lower,
        None,
    ),
];

/// Longest error text shown inside the table; the full text is listed below it.
const ERR_WIDTH: usize = 44;

fn val(c: Option<&Cell>) -> Option<f64> {
    match c {
        Some(Cell::Val(v)) if v.is_finite() => Some(*v),
        _ => None,
    }
}

fn show(c: Option<&Cell>, decimals: usize) -> String {
    match c {
        Some(Cell::Val(v)) if v.is_finite() => format!("{v:.decimals$}"),
        Some(Cell::Val(_)) => "nan".into(),
        Some(Cell::NotAvailable) => "n/a".into(),
        Some(Cell::NotRun) | None => "-".into(),
        Some(Cell::Error(e)) => {
            let mut s = format!("error: {e}");
            if s.chars().count() > ERR_WIDTH {
                s = s.chars().take(ERR_WIDTH - 3).collect::<String>() + "...";
            }
            s
        }
    }
}

fn better_word(b: Better) -> &'static str {
    match b {
        Higher => "higher",
        Lower => "lower",
        Neither => "",
    }
}

/// Is `a` a better figure than `b` for a row that is better `better`?
pub fn is_better(better: Better, a: f64, b: f64) -> bool {
    match better {
        Lower => a < b,
        Higher | Neither => a > b,
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => format!("{:.2}x", a / b),
        _ => String::new(),
    }
}

/// The best peer's name and figure in a row (servers[0] is tinyftpd).
fn best_peer<'a>(r: &Row, servers: &'a [(&str, Cells)]) -> Option<(&'a str, f64)> {
    let peers = servers
        .iter()
        .skip(1)
        .filter_map(|(n, c)| val(c.get(r.key)).map(|v| (*n, v)));
    match r.better {
        Higher => peers.max_by(|a, b| a.1.total_cmp(&b.1)),
        Lower => peers.min_by(|a, b| a.1.total_cmp(&b.1)),
        Neither => None,
    }
}

/// Render the table. `servers` holds (name, cells) in column order, tinyftpd first.
pub fn render(ceilings: &Cells, servers: &[(&str, Cells)]) -> String {
    let mut header = vec!["test".to_string(), "metric".into(), "better".into()];
    header.push("ceiling".into());
    for (name, _) in servers {
        header.push((*name).into());
    }
    header.push(format!("{}/ceiling", servers[0].0));
    let compare = servers.len() > 1;
    if compare {
        header.push("best peer".into());
        header.push(format!("{}/best", servers[0].0));
    }
    let extra = header.len() - 4 - servers.len();
    let mut lines: Vec<Vec<String>> = vec![header];
    let mut errors = Vec::new();
    // Rows nothing was measured for (scenarios not run, TLS without a certificate) are left out.
    for r in CEILINGS.iter().filter(|r| ceilings.contains_key(r.key)) {
        let c = ceilings.get(r.key);
        let mut l = vec![
            r.test.into(),
            r.metric.into(),
            better_word(r.better).into(),
            show(c, r.decimals),
        ];
        l.extend(std::iter::repeat_n(String::new(), servers.len() + extra));
        if let Some(Cell::Error(e)) = c {
            errors.push(("ceiling".to_string(), r.metric.to_string(), e.clone()));
        }
        lines.push(l);
    }
    let measured = |r: &&Row| servers.iter().any(|(_, c)| c.contains_key(r.key));
    for r in ROWS.iter().filter(measured) {
        let ceil = r.ceiling.and_then(|k| ceilings.get(k));
        let mut l = vec![r.test.into(), r.metric.into(), better_word(r.better).into()];
        l.push(match r.ceiling {
            Some(_) => show(ceil, r.decimals),
            None => String::new(),
        });
        for (name, cells) in servers {
            let c = cells.get(r.key);
            l.push(show(c, r.decimals));
            if let Some(Cell::Error(e)) = c {
                errors.push((name.to_string(), r.test.to_string(), e.clone()));
            }
        }
        let tiny = val(servers[0].1.get(r.key));
        l.push(ratio(tiny, val(ceil)));
        if compare {
            let best = best_peer(r, servers);
            l.push(best.map(|b| b.0.to_string()).unwrap_or_default());
            l.push(ratio(tiny, best.map(|b| b.1)));
        }
        lines.push(l);
    }
    let cols = lines[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (n, l) in lines.iter().enumerate() {
        let mut s = String::new();
        for (i, cell) in l.iter().enumerate() {
            let w = widths[i];
            if i < 3 {
                s.push_str(&format!("{cell:<w$}  "));
            } else {
                s.push_str(&format!("{cell:>w$}  "));
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
        if n == 0 {
            let total: usize = widths.iter().sum::<usize>() + 2 * (cols - 1);
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
    }
    // Full error texts below the table, one line per distinct (server, message).
    let mut grouped: Vec<(String, Vec<String>, String)> = Vec::new();
    for (who, what, msg) in errors {
        match grouped.iter_mut().find(|g| g.0 == who && g.2 == msg) {
            Some(g) if !g.1.contains(&what) => g.1.push(what),
            Some(_) => {}
            None => grouped.push((who, vec![what], msg)),
        }
    }
    if !grouped.is_empty() {
        out.push_str("\nerrors:\n");
    }
    for (who, what, msg) in grouped {
        out.push_str(&format!("  {who} {}: {msg}\n", what.join(", ")));
    }
    out
}
