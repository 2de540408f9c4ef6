//! A handler that never returns holds its reactor's turn open: the stall
//! detector, which judges turns as they end, cannot see it. The watchdog
//! can: the turn in progress shows in `ReactorStats::turn_running` and the
//! watchdog logs it, with the route, while it is stuck. Its own binary,
//! since it installs a logger that keeps what is logged (one per process).

mod util;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether::{Config, Request, Response, Router, Server};
use util::*;

/// Keeps every line logged at warn and above.
struct Keep(Mutex<Vec<String>>);

impl log::Log for Keep {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = record.args().to_string();
            self.0.lock().unwrap().push(line);
        }
    }

    fn flush(&self) {}
}

fn logged() -> &'static Keep {
    static KEEP: std::sync::OnceLock<&'static Keep> = std::sync::OnceLock::new();
    KEEP.get_or_init(|| {
        let keep: &'static Keep = Box::leak(Box::new(Keep(Mutex::new(Vec::new()))));
        log::set_logger(keep).expect("the only logger");
        log::set_max_level(log::LevelFilter::Warn);
        keep
    })
}

/// The tests count threads by name: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lines_with(needle: &str) -> Vec<String> {
    let lines = logged().0.lock().unwrap();
    lines
        .iter()
        .filter(|l| l.contains(needle))
        .cloned()
        .collect()
}

/// The threads of this process named `name` (Linux: /proc/self/task).
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

/// `/stuck/{n}` blocks the reactor until the test lets it go.
fn stuck_server(config: Config, release: mpsc::Receiver<()>) -> Server {
    let release = Arc::new(Mutex::new(release));
    let router = Router::new().get("/stuck/{n}", move |_: &Request| {
        let _ = release.lock().unwrap().recv();
        Response::text(200, "released")
    });
    serve_router(config, router)
}

#[test]
fn a_handler_that_never_returns_is_seen_and_logged_while_it_is_stuck() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    logged();
    let (release_tx, release) = mpsc::channel();
    let server = stuck_server(Config::default(), release);
    // Dropped before the server if an assertion fails: the handler returns.
    let release_tx = release_tx;
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET /stuck/1 HTTP/1.1\r\nHost: t\r\n\r\n");

    // Seen from outside while stuck: no turn has ended, yet it shows.
    wait_for("the stuck turn shows as running", || {
        server.stats().reactors[0].turn_running >= Duration::from_millis(200)
    });
    assert_eq!(server.stats().reactors[0].stall_duration.count(), 0);
    #[cfg(feature = "prometheus")]
    {
        let metrics = server.stats().to_prometheus();
        let gauge = metrics
            .lines()
            .find(|l| l.starts_with("tether_reactor_turn_running_seconds{reactor=\"0\"}"))
            .unwrap_or_else(|| panic!("no turn_running gauge in {metrics}"));
        let value: f64 = gauge.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(value >= 0.2, "{gauge}");
    }

    // Logged while stuck, with its route, once a second has passed.
    wait_for("the watchdog's line", || {
        !lines_with("has been in one turn for").is_empty()
    });
    let line = &lines_with("has been in one turn for")[0];
    let prefix = "reactor 0 has been in one turn for at least ";
    assert!(line.starts_with(prefix), "{line}");
    // A second at least (more if the machine kept the watchdog waiting).
    let ran = &line[prefix.len()..line.find(" (stall threshold").expect(line)];
    assert!(
        ran.ends_with('s') && !ran.ends_with("ms") && ran.trim_end_matches('s') >= "1.0",
        "{line}"
    );
    assert!(
        line.contains("its last handler call was for /stuck/{n}"),
        "{line}"
    );

    // Let go: the turn ends, the stall detector counts it, nothing runs.
    release_tx.send(()).unwrap();
    assert_eq!(client.read_reply(false).text(), "released");
    wait_for("the stall counted and no turn left running", || {
        let stats = server.stats();
        stats.reactors[0].stall_duration.count() == 1
            && stats.reactors[0].turn_running < Duration::from_millis(200)
    });
    // And the stall detector's own line as the turn ended.
    let ended = lines_with("reactor 0 stalled for");
    assert!(ended.iter().any(|l| l.contains("/stuck/{n}")), "{ended:?}");
}

#[test]
fn the_watchdog_is_a_thread_only_while_health_is_on_and_the_server_lives() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    logged();
    let (_tx, release) = mpsc::channel();
    let off = stuck_server(Config::default().stall_threshold(Duration::MAX), release);
    assert_eq!(threads_named("tether-watchdog"), 0, "never: no watchdog");
    assert_eq!(off.stats().reactors[0].turn_running, Duration::ZERO);
    drop(off);

    let (_tx, release) = mpsc::channel();
    let on = stuck_server(Config::default(), release);
    // A thread names itself once it runs.
    wait_for("the watchdog thread", || {
        threads_named("tether-watchdog") == 1
    });
    drop(on);
    wait_for("the watchdog gone with its server", || {
        threads_named("tether-watchdog") == 0
    });
}
