//! Readings from /proc: CPU time, memory and task counts of a server's process tree,
//! sockets in TIME_WAIT, and the open-file limit.

use std::collections::HashMap;
use std::fs;
use std::io;

use crate::client::err;

/// Clock ticks per second for the times in /proc/PID/stat.
pub fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Fields of /proc/PID/stat after the command name: index 0 is field 3 (state).
fn stat_fields(pid: u32) -> io::Result<Vec<u64>> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let close = s
        .rfind(')')
        .ok_or_else(|| err(format!("bad /proc/{pid}/stat")))?;
    // Field 3 (state) is a letter; map it to 0 so the rest stay numeric and aligned.
    Ok(s[close + 1..]
        .split_whitespace()
        .map(|f| f.parse::<i64>().map(|v| v.max(0) as u64).unwrap_or(0))
        .collect())
}

/// The pid itself and every live descendant.
pub fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if let Ok(f) = stat_fields(pid) {
                if let Some(&ppid) = f.get(1) {
                    children.entry(ppid as u32).or_default().push(pid);
                }
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() && out.len() < 100_000 {
        if let Some(c) = children.get(&out[i]) {
            out.extend_from_slice(c);
        }
        i += 1;
    }
    out
}

/// CPU seconds (user + system, including reaped children) used by a process tree.
/// For a threaded server this is the process itself; for a forking one (vsftpd)
/// it adds the live sessions, and finished sessions show up in their parents' cutime.
pub fn tree_cpu_seconds(root: u32) -> io::Result<f64> {
    let mut ticks = 0u64;
    for (i, pid) in tree(root).into_iter().enumerate() {
        match stat_fields(pid) {
            // utime, stime, cutime, cstime are fields 14..=17: indices 11..=14 here.
            Ok(f) if f.len() > 14 => ticks += f[11] + f[12] + f[13] + f[14],
            Ok(_) => return Err(err(format!("short /proc/{pid}/stat"))),
            Err(e) if i == 0 => return Err(e),
            Err(_) => {} // a session that just exited
        }
    }
    Ok(ticks as f64 / clock_ticks())
}

/// Sum of Pss (KiB) over a process tree, from /proc/PID/smaps_rollup.
pub fn tree_pss_kib(root: u32) -> io::Result<u64> {
    let mut total = 0u64;
    for (i, pid) in tree(root).into_iter().enumerate() {
        match status_value(&format!("/proc/{pid}/smaps_rollup"), "Pss:") {
            Ok(v) => total += v,
            Err(e) if i == 0 => return Err(e),
            Err(_) => {}
        }
    }
    Ok(total)
}

/// Sum of Threads over a process tree (for a forking server: its task count).
pub fn tree_threads(root: u32) -> io::Result<u64> {
    let mut total = 0u64;
    for (i, pid) in tree(root).into_iter().enumerate() {
        match status_value(&format!("/proc/{pid}/status"), "Threads:") {
            Ok(v) => total += v,
            Err(e) if i == 0 => return Err(e),
            Err(_) => {}
        }
    }
    Ok(total)
}

/// First number after `key` in a "Key: value" file.
fn status_value(path: &str, key: &str) -> io::Result<u64> {
    let s = fs::read_to_string(path)?;
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| err(format!("no {key} in {path}")))
}

/// Number of sockets in TIME_WAIT on this machine (IPv4 and IPv6).
pub fn time_wait_count() -> u64 {
    time_wait_where(|_, _| true)
}

/// Number of sockets in TIME_WAIT between 127.0.0.1 and 127.0.0.1: the ones that
/// take ports from the connections the bench makes without a source address of its own.
pub fn time_wait_count_localhost() -> u64 {
    let lo = |a: &str| a.starts_with("0100007F:");
    time_wait_where(|local, remote| lo(local) && lo(remote))
}

fn time_wait_where(f: impl Fn(&str, &str) -> bool) -> u64 {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .map(|s| {
            s.lines()
                .skip(1)
                .filter(|l| {
                    let w: Vec<&str> = l.split_whitespace().take(4).collect();
                    w.len() == 4 && w[3] == "06" && f(w[1], w[2])
                })
                .count() as u64
        })
        .sum()
}

/// Soft "Max open files" of a process.
pub fn max_open_files(pid: u32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let l = s.lines().find(|l| l.starts_with("Max open files"))?;
    l["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Raise this process's RLIMIT_NOFILE soft limit to the hard limit (children inherit it).
/// Returns the new soft limit.
pub fn raise_nofile() -> io::Result<u64> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: r is a valid rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if r.rlim_cur < r.rlim_max {
        r.rlim_cur = r.rlim_max;
        // SAFETY: r is a valid rlimit; raising soft up to hard needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(r.rlim_cur)
}

/// The 1-minute load average.
pub fn load_average() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU seconds the calling thread has used (CLOCK_THREAD_CPUTIME_ID): a clock that stops
/// while the thread waits for a CPU, so a busy machine does not slow a CPU-bound ceiling.
pub fn thread_cpu_seconds() -> io::Result<f64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a live, writable timespec for the duration of the call.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
}
