//! The worker path against what users would pick instead (issue 11): the
//! same work on the same number of worker threads, measured closed-loop for
//! capacity, then open-loop at 25/50/75/90 % of the slowest server's
//! capacity, without and with idle keep-alive connections held open.
//!
//! ```text
//! cargo bench -p tether-bench --bench load -- workers [rounds] [idle connections]
//! ```

use std::time::Duration;

use crate::idle::IdleClients;
use crate::peers::{self, Answer, Work};
use crate::servers::{self, Running};
use crate::{alloc, client, common, measure, median, open_loop, pin};

/// Connections the clients use: enough that the workers stay busy
/// when the work blocks (`LOAD_CONNECTIONS` to change).
fn connections() -> usize {
    std::env::var("LOAD_CONNECTIONS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(128)
}
const WARMUP: Duration = Duration::from_millis(500);
const WINDOW: Duration = Duration::from_secs(2);
const LOADS: [f64; 4] = [0.25, 0.5, 0.75, 0.9];

type Start = Box<dyn Fn() -> Running>;

fn contenders(work: Work) -> Vec<(&'static str, Start, bool)> {
    // (label, start, is a worker path: counts for the slowest capacity)
    let mut list: Vec<(&'static str, Start, bool)> = vec![
        (
            "tether `respond`",
            Box::new(move || peers::tether(Answer::Respond, work)),
            true,
        ),
        (
            "tether `send_response` + `on_outcome`",
            Box::new(move || peers::tether(Answer::OnOutcome, work)),
            true,
        ),
        (
            "tether `respond_detached`",
            Box::new(move || peers::tether(Answer::Detached, work)),
            true,
        ),
        (
            "hyper + `spawn_blocking`",
            Box::new(move || peers::hyper_spawn_blocking(work)),
            true,
        ),
        ("tiny_http", Box::new(move || peers::tiny_http(work)), true),
        (
            "may_minihttp",
            Box::new(move || peers::may_minihttp(work)),
            true,
        ),
    ];
    if work == Work::Immediate {
        list.push((
            "tether inline (no hop)",
            Box::new(servers::tether_inline),
            false,
        ));
        list.push((
            "mio floor (inline, no hop)",
            Box::new(servers::mio_floor),
            false,
        ));
    }
    // `LOAD_ONLY=tiny,hyper`: only servers whose label contains one of these.
    if let Ok(only) = std::env::var("LOAD_ONLY") {
        list.retain(|(label, _, _)| only.split(',').any(|o| label.contains(o)));
    }
    list
}

/// A server's resource use over a window.
#[derive(Clone, Copy, Default)]
struct Use {
    cpu_us: f64,
    syscalls: f64,
    allocs: f64,
    switches: f64,
}

struct Meter {
    tids: Vec<u32>,
    cpu: Duration,
    allocs: u64,
    switches: u64,
    syscalls: Option<measure::Syscalls>,
}

impl Meter {
    /// Starts measuring; `count_syscalls` attaches perf, whose tracing of
    /// every syscall slows the server, so latency is measured without it.
    fn start(server: &Running, window: Duration, count_syscalls: bool) -> Meter {
        let tids = common::threads(server.threads);
        assert!(!tids.is_empty(), "no thread named {}*", server.threads);
        Meter {
            cpu: common::cpu(&tids),
            allocs: alloc::counted(),
            switches: common::context_switches(&tids),
            syscalls: count_syscalls.then(|| measure::Syscalls::start(&tids, window)),
            tids,
        }
    }

    fn finish(self, requests: u64) -> Use {
        let n = requests.max(1) as f64;
        let cpu = common::cpu(&self.tids) - self.cpu;
        let switches = common::context_switches(&self.tids) - self.switches;
        Use {
            cpu_us: cpu.as_secs_f64() * 1e6 / n,
            syscalls: self
                .syscalls
                .and_then(measure::Syscalls::finish)
                .map_or(f64::NAN, |s| s as f64 / n),
            allocs: (alloc::counted() - self.allocs) as f64 / n,
            switches: switches as f64 / n,
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Point {
    rps: f64,
    used: Use,
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
    unanswered: u64,
}

fn median_point(points: &[Point]) -> Point {
    let pick = |f: fn(&Point) -> f64| median(points.iter().map(f).collect());
    Point {
        rps: pick(|p| p.rps),
        used: Use {
            cpu_us: pick(|p| p.used.cpu_us),
            syscalls: pick(|p| p.used.syscalls),
            allocs: pick(|p| p.used.allocs),
            switches: pick(|p| p.used.switches),
        },
        p50: pick(|p| p.p50),
        p99: pick(|p| p.p99),
        p999: pick(|p| p.p999),
        max: pick(|p| p.max),
        unanswered: points.iter().map(|p| p.unanswered).max().unwrap_or(0),
    }
}

/// Closed-loop capacity of one server.
fn capacity(start: &Start) -> Point {
    pin(0);
    let server = start();
    pin(1);
    drop(client::run(
        server.addr,
        client::Mode::KeepAlive,
        connections(),
        Duration::ZERO,
        WARMUP,
    ));
    let meter = Meter::start(&server, WINDOW, true);
    let outcome = client::run(
        server.addr,
        client::Mode::KeepAlive,
        connections(),
        Duration::ZERO,
        WINDOW,
    );
    let used = meter.finish(outcome.requests);
    server.stop();
    let l = &outcome.latency;
    Point {
        rps: outcome.requests as f64 / outcome.elapsed.as_secs_f64(),
        used,
        p50: l.value_at_quantile(0.5) as f64,
        p99: l.value_at_quantile(0.99) as f64,
        p999: l.value_at_quantile(0.999) as f64,
        max: l.max() as f64,
        unanswered: 0,
    }
}

/// Open-loop points at each rate, on one server instance with `idle`
/// idle connections held open.
fn open_loop_points(start: &Start, rates: &[f64], idle: usize) -> Vec<Point> {
    pin(0);
    let server = start();
    pin(1);
    let held = IdleClients::open(server.addr, idle);
    let points = rates
        .iter()
        .map(|&rate| {
            // Warm up at this rate, then measure (threads are listed after
            // the warm-up: some servers spawn them on demand).
            drop(open_loop::run(
                server.addr,
                rate,
                connections(),
                Duration::ZERO,
                WARMUP,
            ));
            let meter = Meter::start(&server, WINDOW, false);
            let outcome = open_loop::run(server.addr, rate, connections(), Duration::ZERO, WINDOW);
            let used = meter.finish(outcome.answered);
            let l = &outcome.latency;
            Point {
                rps: outcome.achieved,
                used,
                p50: l.value_at_quantile(0.5) as f64,
                p99: l.value_at_quantile(0.99) as f64,
                p999: l.value_at_quantile(0.999) as f64,
                max: l.max() as f64,
                unanswered: outcome.scheduled - outcome.answered,
            }
        })
        .collect();
    drop(held);
    server.stop();
    points
}

fn row(label: &str, p: &Point) -> String {
    format!(
        "| {label} | {:.0} | {:.2} | {} | {:.2} | {:.2} | {:.0} | {:.0} | {:.0} | {:.0} |{}",
        p.rps,
        p.used.cpu_us,
        match p.used.syscalls.is_nan() {
            true => "-".to_string(),
            false => format!("{:.2}", p.used.syscalls),
        },
        p.used.allocs,
        p.used.switches,
        p.p50,
        p.p99,
        p.p999,
        p.max,
        if p.unanswered > 0 {
            format!(" {} unanswered", p.unanswered)
        } else {
            String::new()
        }
    )
}

const HEADER: &str = "| server | req/s | server CPU µs/req | syscalls/req | allocs/req | context switches/req | p50 µs | p99 µs | p99.9 µs | max µs |\n|---|---|---|---|---|---|---|---|---|---|";

/// Room for 10,000 idle connections on both ends (tiny_http holds two
/// descriptors per connection): raises the hard limit too when permitted.
fn raise_descriptor_limit() {
    use rlimit::Resource;
    const WANTED: u64 = 65_536;
    if Resource::NOFILE.set(WANTED, WANTED).is_err() {
        let _ = rlimit::increase_nofile_limit(WANTED);
    }
}

/// tiny_http clones each connection's socket (a reader and a writer).
fn descriptors_per_connection(label: &str) -> u64 {
    if label.starts_with("tiny_http") {
        2
    } else {
        1
    }
}

/// Whether `held` idle connections to this server fit the descriptor
/// limit: the server's ends (and the active clients') are in this process.
fn fits(label: &str, held: usize) -> bool {
    let (limit, _) = rlimit::Resource::NOFILE
        .get()
        .unwrap_or((u64::MAX, u64::MAX));
    let needed = held as u64 * descriptors_per_connection(label) + 1_000;
    if needed > limit {
        eprintln!("{label}: skipped with {held} idle connections: needs {needed} descriptors, the limit is {limit}");
    }
    needed <= limit
}

pub fn run(rounds: usize, idle: usize) {
    raise_descriptor_limit();
    alloc::exclude_this_thread();
    alloc::count_all_but_excluded();
    let workers = peers::workers();
    println!("\n# Worker path vs peers: {workers} workers each, {} connections, {rounds} round(s), medians", connections());
    let works = match std::env::var("LOAD_WORK").as_deref() {
        Ok("immediate") => vec![Work::Immediate],
        Ok("sleep") => vec![Work::Sleep1ms],
        _ => vec![Work::Immediate, Work::Sleep1ms],
    };
    for work in works {
        let list = contenders(work);
        let mut caps: Vec<Vec<Point>> = vec![Vec::new(); list.len()];
        for _ in 0..rounds {
            for (i, (_, start, _)) in list.iter().enumerate() {
                caps[i].push(capacity(start));
            }
        }
        let caps: Vec<Point> = caps.iter().map(|c| median_point(c)).collect();
        println!("\n## {}: capacity (closed loop)\n{HEADER}", work.label());
        for ((label, _, _), p) in list.iter().zip(&caps) {
            println!("{}", row(label, p));
        }
        let slowest = list
            .iter()
            .zip(&caps)
            .filter(|((_, _, worker), _)| *worker)
            .map(|(_, p)| p.rps)
            .fold(f64::INFINITY, f64::min);
        let rates: Vec<f64> = LOADS.iter().map(|l| l * slowest).collect();
        println!("\nslowest worker-path capacity: {slowest:.0} req/s");
        for held in [0, idle] {
            let mut points: Vec<Vec<Vec<Point>>> = vec![vec![Vec::new(); rates.len()]; list.len()];
            for _ in 0..rounds {
                for (i, (label, start, _)) in list.iter().enumerate() {
                    if !fits(label, held) {
                        continue;
                    }
                    for (r, p) in open_loop_points(start, &rates, held)
                        .into_iter()
                        .enumerate()
                    {
                        points[i][r].push(p);
                    }
                }
            }
            for (r, load) in LOADS.iter().enumerate() {
                println!(
                    "\n## {}: open loop at {:.0} % of the slowest capacity ({:.0} req/s), {held} idle connections\n{HEADER}",
                    work.label(),
                    load * 100.0,
                    rates[r]
                );
                for (i, (label, _, _)) in list.iter().enumerate() {
                    match points[i][r].is_empty() {
                        true => println!("| {label} | skipped: {} descriptors per connection do not fit this machine's limit |", descriptors_per_connection(label)),
                        false => println!("{}", row(label, &median_point(&points[i][r]))),
                    }
                }
            }
        }
    }
}
