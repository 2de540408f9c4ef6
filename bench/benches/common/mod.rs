//! Helpers the benchmark binaries share: percentiles, this process's memory,
//! and the CPU time of its threads by name. Each bench uses a subset.
#![allow(dead_code)]

pub mod tokio_server;

use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The bench's own arguments (what follows `--`, without cargo's `--bench`).
pub fn args() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect()
}

/// Closes `client` with a reset (`SO_LINGER` 0); returns when, taken just
/// before the close so a latency sample includes all of it.
pub fn reset(client: TcpStream) -> Instant {
    socket2::SockRef::from(&client)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER");
    let at = Instant::now();
    drop(client);
    at
}

/// The `p` quantile (0..=1) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// This process's resident memory, in KiB.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))?
                .trim()
                .trim_end_matches(" kB")
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Ids of this process's threads whose name starts with `prefix` (threads
/// name themselves when they first run: list them once they have).
pub fn threads(prefix: &str) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| {
            let path = task.ok()?.path();
            let comm = std::fs::read_to_string(path.join("comm")).ok()?;
            comm.trim()
                .starts_with(prefix)
                .then(|| path.file_name()?.to_str()?.parse().ok())?
        })
        .collect()
}

/// CPU time used so far by threads `tids` (schedstat, nanoseconds).
pub fn cpu(tids: &[u32]) -> Duration {
    tids.iter()
        .filter_map(|tid| {
            let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
            stat.split_whitespace().next()?.parse::<u64>().ok()
        })
        .map(Duration::from_nanos)
        .sum()
}

/// Context switches so far of threads `tids`, voluntary + involuntary
/// (`/proc/self/task/<tid>/status`).
pub fn context_switches(tids: &[u32]) -> u64 {
    tids.iter()
        .filter_map(|tid| std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).ok())
        .map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split(':').nth(1)?.trim().parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}
