//! The load harness: tether against hyper 1.x (tokio current_thread) and a
//! raw mio + httparse canned-reply floor, in the same run.
//!
//! ```text
//! cargo bench -p tether-bench --bench load                    # every closed-loop mode, 3 rounds
//! cargo bench -p tether-bench --bench load -- keep-alive 5    # one mode, 5 rounds
//! cargo bench -p tether-bench --bench load -- health 9        # health figures on vs off
//! cargo bench -p tether-bench --bench load -- async 9         # a tokio task vs a worker thread
//! cargo bench -p tether-bench --bench load -- idle 15000      # idle connections' cost
//! cargo bench -p tether-bench --bench load -- workers [rounds] [idle]
//! ```
//!
//! `workers` (workers.rs) compares the worker path with hyper +
//! `spawn_blocking`, tiny_http and may_minihttp: capacity, then an open
//! loop at 25/50/75/90 % of the slowest one's capacity, without and with
//! idle keep-alive connections (10,000 by default). `LOAD_ONLY=tether,hyper`,
//! `LOAD_WORK=immediate|sleep`, `LOAD_WORKERS`, `LOAD_CONNECTIONS` and
//! `LOAD_NO_PERF` narrow a run.
//!
//! Servers run pinned to core 0, the mio client to core 1 (when there are
//! two). Figures are medians over rounds; each round runs every server once,
//! interleaved, so drift on a shared machine hits them alike. Server CPU is
//! the sum of its threads' CPU time (schedstat); syscalls come from perf's
//! raw_syscalls tracepoint on the server threads; allocations are counted on
//! the server threads only.

mod alloc;
mod client;
#[path = "../common/mod.rs"]
mod common;
mod idle;
mod measure;
mod open_loop;
mod peers;
mod servers;
mod workers;

use std::time::Duration;

use client::Mode;
use servers::Running;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

const CONNECTIONS: usize = 50;
/// Connections for the hop-latency figure: one, so nothing queues.
const ONE: usize = 1;
const WARMUP: Duration = Duration::from_millis(500);
const WINDOW: Duration = Duration::from_secs(3);

#[derive(Clone, Copy, Default)]
struct Figures {
    rps: f64,
    cpu_us: f64,
    syscalls: Option<f64>,
    allocs: f64,
    p50_us: f64,
    p99_us: f64,
}

fn pin(core: usize) {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    if let Some(id) = cores.get(core % cores.len().max(1)) {
        core_affinity::set_for_current(*id);
    }
}

fn measure(start: fn() -> Running, mode: Mode, connections: usize) -> Figures {
    pin(0);
    let server = start();
    pin(1);
    // Warm up, then measure a window. (Threads name themselves when they
    // first run, so list them after the warm-up.)
    let warm = client::run(server.addr, mode, connections, Duration::ZERO, WARMUP);
    drop(warm);
    let tids = common::threads(server.threads);
    assert!(!tids.is_empty(), "no thread named {}*", server.threads);
    let cpu_before = common::cpu(&tids);
    let allocs_before = alloc::counted();
    let syscalls = measure::Syscalls::start(&tids, WINDOW);
    let outcome = client::run(server.addr, mode, connections, Duration::ZERO, WINDOW);
    let cpu = common::cpu(&tids) - cpu_before;
    let allocs = alloc::counted() - allocs_before;
    let syscalls = syscalls.finish();
    server.stop();
    let n = outcome.requests.max(1) as f64;
    Figures {
        rps: n / outcome.elapsed.as_secs_f64(),
        cpu_us: cpu.as_secs_f64() * 1e6 / n,
        syscalls: syscalls.map(|s| s as f64 / n),
        allocs: allocs as f64 / n,
        p50_us: outcome.latency.value_at_quantile(0.5) as f64,
        p99_us: outcome.latency.value_at_quantile(0.99) as f64,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn median_figures(rounds: &[Figures]) -> Figures {
    let pick = |f: fn(&Figures) -> f64| median(rounds.iter().map(f).collect());
    Figures {
        rps: pick(|f| f.rps),
        cpu_us: pick(|f| f.cpu_us),
        syscalls: rounds[0]
            .syscalls
            .map(|_| pick(|f| f.syscalls.unwrap_or(f64::NAN))),
        allocs: pick(|f| f.allocs),
        p50_us: pick(|f| f.p50_us),
        p99_us: pick(|f| f.p99_us),
    }
}

/// A server to measure: its label and how to start it.
type Contender<'a> = (&'a str, fn() -> Running);

fn run_mode(name: &str, mode: Mode, contenders: &[Contender<'_>], rounds: usize) {
    run_mode_with(name, mode, contenders, rounds, CONNECTIONS)
}

fn run_mode_with(
    name: &str,
    mode: Mode,
    contenders: &[Contender<'_>],
    rounds: usize,
    connections: usize,
) {
    let mut results: Vec<Vec<Figures>> = vec![Vec::new(); contenders.len()];
    for _ in 0..rounds {
        for (i, (_, start)) in contenders.iter().enumerate() {
            results[i].push(measure(*start, mode, connections));
        }
    }
    let medians: Vec<Figures> = results.iter().map(|r| median_figures(r)).collect();
    let hyper = contenders
        .iter()
        .position(|(n, _)| n.starts_with("hyper"))
        .map(|i| medians[i]);
    let floor = contenders
        .iter()
        .position(|(n, _)| n.starts_with("mio"))
        .map(|i| medians[i]);
    println!("\n## {name} ({connections} connections, {rounds} rounds, medians)");
    println!(
        "| server | req/s | server CPU µs/req | syscalls/req | allocs/req | p50 µs | p99 µs | req/s vs hyper | CPU vs hyper | req/s vs floor |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for ((label, _), f) in contenders.iter().zip(&medians) {
        let ratio = |a: f64, b: Option<f64>| b.map_or("-".to_string(), |b| format!("{:.2}", a / b));
        println!(
            "| {label} | {:.0} | {:.2} | {} | {:.2} | {:.0} | {:.0} | {} | {} | {} |",
            f.rps,
            f.cpu_us,
            f.syscalls.map_or("-".to_string(), |s| format!("{s:.2}")),
            f.allocs,
            f.p50_us,
            f.p99_us,
            ratio(f.rps, hyper.map(|h| h.rps)),
            ratio(f.cpu_us, hyper.map(|h| h.cpu_us)),
            ratio(f.rps, floor.map(|h| h.rps)),
        );
    }
}

/// Memory per idle keep-alive connection, and active clients' latency with
/// and without `n` idle connections on the same reactor.
fn idle(n: usize) {
    pin(0);
    let server = servers::tether_inline();
    pin(1);
    let active = |label: &str| {
        let outcome = client::run(server.addr, Mode::KeepAlive, CONNECTIONS, WARMUP, WINDOW);
        println!(
            "| {label} | {:.0} | {} | {} |",
            outcome.requests as f64 / outcome.elapsed.as_secs_f64(),
            outcome.latency.value_at_quantile(0.5),
            outcome.latency.value_at_quantile(0.99)
        );
    };
    println!("\n## {n} idle keep-alive connections on one reactor");
    println!("| active clients ({CONNECTIONS}) | req/s | p50 µs | p99 µs |");
    println!("|---|---|---|---|");
    active("without idle connections");
    let before = common::rss_kib();
    let held = idle::IdleClients::open(server.addr, n);
    std::thread::sleep(Duration::from_millis(300));
    let with_idle = common::rss_kib();
    active(&format!("with {n} idle connections"));
    drop(held);
    std::thread::sleep(Duration::from_millis(500));
    let after = common::rss_kib();
    server.stop();
    println!(
        "\nserver RSS: {before} KiB before, {with_idle} KiB with {n} idle connections ({:.2} KiB each), {after} KiB after they closed",
        with_idle.saturating_sub(before) as f64 / n as f64
    );
}

fn main() {
    let args = common::args();
    match args.first().map(String::as_str) {
        Some("idle-clients") => {
            return idle::idle_clients(args[1].parse().unwrap(), args[2].parse().unwrap())
        }
        Some("idle") => return idle(args.get(1).and_then(|a| a.parse().ok()).unwrap_or(15_000)),
        Some("workers") => {
            let number =
                |i: usize, default| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
            return workers::run(number(1, 1), number(2, 10_000));
        }
        _ => {}
    }
    let rounds = args.iter().find_map(|a| a.parse().ok()).unwrap_or(3);
    let only = args.iter().find(|a| a.parse::<usize>().is_err()).cloned();
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let base: Vec<Contender<'_>> = vec![
        ("tether", servers::tether_inline),
        ("hyper", || servers::hyper(false)),
        ("mio floor", servers::mio_floor),
    ];
    if wanted("keep-alive") {
        run_mode("keep-alive", Mode::KeepAlive, &base, rounds);
    }
    if wanted("health") {
        // What the reactor's health figures and stall detector cost: the
        // same server with them on (the default) and off.
        let contenders: Vec<Contender<'_>> = vec![
            ("tether (health measured)", servers::tether_inline),
            (
                "tether (stall_threshold never)",
                servers::tether_inline_unmeasured,
            ),
            ("hyper", || servers::hyper(false)),
        ];
        run_mode(
            "health on/off, keep-alive",
            Mode::KeepAlive,
            &contenders,
            rounds,
        );
    }
    if wanted("async") {
        // An exchange answered from a tokio task against one answered by a
        // worker thread, each awaiting or waiting for the verdict.
        let contenders: Vec<Contender<'_>> = vec![
            ("tether worker thread (respond)", servers::tether_worker),
            (
                "tether tokio task (send_response().await)",
                servers::tether_tokio_task,
            ),
            ("hyper", || servers::hyper(false)),
        ];
        run_mode("async vs thread", Mode::KeepAlive, &contenders, rounds);
        run_mode_with(
            "async vs thread, one connection",
            Mode::KeepAlive,
            &contenders,
            rounds,
            ONE,
        );
    }
    if wanted("pipelined") {
        let contenders: Vec<Contender<'_>> = vec![
            ("tether", servers::tether_inline),
            ("hyper (pipeline_flush)", || servers::hyper(true)),
            ("mio floor", servers::mio_floor),
        ];
        run_mode("pipelined x16", Mode::Pipelined(16), &contenders, rounds);
    }
    if wanted("conn-per-request") {
        run_mode(
            "connection per request",
            Mode::ConnPerRequest,
            &base,
            rounds,
        );
    }
    if wanted("worker") {
        let contenders: Vec<Contender<'_>> = vec![
            ("tether worker path (respond)", servers::tether_worker),
            (
                "tether worker path (respond_detached)",
                servers::tether_worker_detached,
            ),
            ("tether inline", servers::tether_inline),
            ("hyper", || servers::hyper(false)),
        ];
        run_mode("worker path", Mode::KeepAlive, &contenders, rounds);
        run_mode_with(
            "worker hop latency",
            Mode::KeepAlive,
            &contenders,
            rounds,
            ONE,
        );
    }
}
