//! The tether demo server.
//!
//! ```text
//! cargo run --release --example demo [-- --addr HOST:PORT] [--workers N]
//! ```
//!
//! Serves on 127.0.0.1:8080 (or `--addr`, or env `TETHER_ADDR`) and prints
//! `listening on http://HOST:PORT` once it accepts. SIGINT or SIGTERM shut it
//! down gracefully. `RUST_LOG=tether=debug` shows clients leaving.
//!
//! Endpoints:
//! - `GET /hello`: `Hello, World!`, answered on the reactor thread.
//! - `GET /work?ms=N`: a worker works N ms (at most 60000), then answers
//!   `worked N ms`; if the client leaves meanwhile, the worker stops at once
//!   (it waits on `wait_closed`) and counts it as `abandoned`.
//! - `POST /echo`: the request body.
//! - `GET /mjpeg?fps=N`: an MJPEG stream (`multipart/x-mixed-replace`) of
//!   changing JPEG frames at N frames per second (1 to 60, default 10); a slow
//!   viewer gets fewer frames, never a growing backlog.
//! - `GET /events`: Server-Sent Events, `event: tick` with an increasing
//!   counter every second, and heartbeat comments.
//! - `GET /poll?timeout_ms=N`: long poll: `200` with the next published
//!   message, or `204` after N ms (default 30000, at most 120000).
//! - `POST /publish`: queues the body as a message for exactly one poller;
//!   `202`, or `503` with `Retry-After` while 16 MiB of messages wait.
//! - `GET /ws` (WebSocket): echoes every text and binary message.
//! - `GET /ws/chat` (WebSocket): every text message goes to every member.
//! - `GET /stats`: the server's counters as JSON.
//!
//! `HEAD` works wherever `GET` answers at once (`/hello`, `/stats`, `/work`);
//! a method an endpoint does not take gets `405` with `Allow`.

mod frames;
mod long_poll;
mod streams;
mod websocket;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tether::{
    sse_head, sse_options, Action, Backlog, Exchange, Multipart, Request, Response, Server,
    StatsHandle, StreamOptions, Upgrade, DEFAULT_SSE_HEARTBEAT,
};

const DEFAULT_ADDR: &str = "127.0.0.1:8080";
const MAX_WORK_MS: u64 = 60_000;
const DEFAULT_POLL_MS: u64 = 30_000;
const MAX_POLL_MS: u64 = 120_000;

struct Options {
    addr: String,
    workers: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        addr: std::env::var("TETHER_ADDR").unwrap_or_else(|_| DEFAULT_ADDR.to_string()),
        workers: 4,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => options.addr = args.next().ok_or("--addr needs HOST:PORT")?,
            "--workers" => {
                let n = args.next().ok_or("--workers needs a number")?;
                options.workers = n.parse().map_err(|_| format!("bad --workers {n}"))?;
            }
            "-h" | "--help" => {
                return Err("usage: demo [--addr HOST:PORT] [--workers N]".to_string())
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

/// Runs on the reactor thread: answers what never blocks, hands off the rest.
fn route(req: &Request, stats: &StatsHandle, requeued: &AtomicU64) -> Action {
    let respond = Action::Respond;
    match (req.method(), req.path()) {
        ("GET" | "HEAD", "/hello") => respond(Response::text(200, "Hello, World!")),
        ("POST", "/echo") => respond(Response::new(200).with_body(req.body().to_vec())),
        ("GET" | "HEAD", "/stats") => {
            let extra = [("messages_requeued", requeued.load(Ordering::Relaxed))];
            respond(
                Response::new(200)
                    .with_header("Content-Type", "application/json")
                    .with_header("Cache-Control", "no-store")
                    .with_body(stats.snapshot().to_json_with(&extra)),
            )
        }
        ("GET" | "HEAD", "/work")
        | ("GET", "/mjpeg" | "/events" | "/poll")
        | ("POST", "/publish") => Action::Handoff,
        // Not a valid upgrade request? The reactor answers 400 or 426.
        ("GET", "/ws" | "/ws/chat") => Action::Upgrade(Upgrade::new()),
        (_, path) => match allowed(path) {
            Some(methods) => {
                respond(Response::text(405, "method not allowed\n").with_header("Allow", methods))
            }
            None => respond(Response::text(404, "not found\n")),
        },
    }
}

/// The methods each endpoint answers (for `405`'s `Allow`).
fn allowed(path: &str) -> Option<&'static str> {
    match path {
        "/hello" | "/stats" | "/work" => Some("GET, HEAD"),
        "/mjpeg" | "/events" | "/poll" | "/ws" | "/ws/chat" => Some("GET"),
        "/echo" | "/publish" => Some("POST"),
        _ => None,
    }
}

/// Where workers send what outlives them.
struct Hand {
    streams: Sender<streams::Job>,
    hub: Sender<long_poll::Event>,
}

/// Runs on a worker thread.
fn work(exchange: Exchange, hand: &Hand) {
    let number = |name: &str| {
        exchange
            .request()
            .query_param(name)
            .and_then(|v| v.parse::<u64>().ok())
    };
    match exchange.request().path() {
        "/work" => {
            let Some(ms) = number("ms").filter(|ms| *ms <= MAX_WORK_MS) else {
                let _ = exchange.respond(Response::text(400, "need ?ms=N with N <= 60000\n"));
                return;
            };
            // The "work" is a wait that ends early if the client leaves: a
            // worker should never keep working for nobody.
            if let Some(reason) = exchange.wait_closed(Duration::from_millis(ms)) {
                log::info!("/work?ms={ms}: the client left ({reason}); stopping");
                return exchange.abandon();
            }
            if let Err(undelivered) =
                exchange.respond(Response::text(200, format!("worked {ms} ms")))
            {
                log::info!("/work?ms={ms}: {undelivered}");
            }
        }
        "/mjpeg" => {
            let fps = number("fps").unwrap_or(10).clamp(1, 60) as u32;
            let Some(multipart) = Multipart::new(streams::MJPEG_BOUNDARY) else {
                return;
            };
            let options = StreamOptions::default().backlog(Backlog::KeepNewest);
            if let Ok(sender) = exchange.stream_with(multipart.head(200), options) {
                let _ = hand.streams.send(streams::Job::Mjpeg { sender, fps });
            }
        }
        "/events" => {
            if let Ok(sender) = exchange.stream_with(sse_head(), sse_options(DEFAULT_SSE_HEARTBEAT))
            {
                let _ = hand.streams.send(streams::Job::Events { sender });
            }
        }
        "/poll" => {
            let ms = number("timeout_ms")
                .unwrap_or(DEFAULT_POLL_MS)
                .min(MAX_POLL_MS);
            let wait = Duration::from_millis(ms);
            // Longer than the server-wide response timeout is fine for a
            // long poll: say so, with room for the hub's own 204.
            exchange.set_response_timeout(wait + Duration::from_secs(5));
            let deadline = Instant::now() + wait;
            let _ = hand.hub.send(long_poll::Event::Poll(exchange, deadline));
        }
        "/publish" => {
            let _ = hand.hub.send(long_poll::Event::Publish(exchange));
        }
        _ => {
            let _ = exchange.respond(Response::text(404, "not found\n"));
        }
    }
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    // Registered before serving, so a signal is never missed.
    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(err) => {
            eprintln!("cannot handle signals: {err}");
            std::process::exit(1);
        }
    };

    let (streams_tx, streams_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("demo-streams".into())
        .spawn(move || streams::run(streams_rx))
        .expect("spawn the stream producer");
    let requeued = Arc::new(AtomicU64::new(0));
    let (hub_tx, hub_rx) = std::sync::mpsc::channel();
    {
        let (hub_tx, requeued) = (hub_tx.clone(), Arc::clone(&requeued));
        std::thread::Builder::new()
            .name("demo-long-poll".into())
            .spawn(move || long_poll::run(hub_rx, hub_tx, requeued))
            .expect("spawn the long-poll hub");
    }

    let builder = Server::builder();
    let stats = builder.stats_handle();
    let counted = Arc::clone(&requeued);
    let server = match builder
        .handler(move |req| route(req, &stats, &counted))
        .bind(options.addr.as_str())
    {
        Ok(server) => server,
        Err(err) => {
            eprintln!("cannot serve on {}: {err}", options.addr);
            std::process::exit(1);
        }
    };
    let hub_tx_for_shutdown = hub_tx.clone();
    let hand = Hand {
        streams: streams_tx,
        hub: hub_tx,
    };
    server.workers(options.workers, move |exchange| work(exchange, &hand));
    let ws_events = server.ws_events();
    std::thread::Builder::new()
        .name("demo-websocket".into())
        .spawn(move || websocket::run(ws_events))
        .expect("spawn the WebSocket handler");
    // Parked long polls are answered the moment shutdown begins.
    let shutdown = server.shutdown_signal();
    std::thread::Builder::new()
        .name("demo-shutdown-watch".into())
        .spawn(move || {
            while !shutdown.wait(Duration::from_secs(3600)) {}
            let _ = hub_tx_for_shutdown.send(long_poll::Event::ShuttingDown);
        })
        .expect("spawn the shutdown watcher");
    let handle = server.handle();
    std::thread::Builder::new()
        .name("demo-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                eprintln!("signal {signal}: shutting down");
                handle.shutdown();
            }
        })
        .expect("spawn the signal handler");
    println!("listening on http://{}", server.local_addr());
    if let Err(err) = server.wait() {
        eprintln!("the server failed: {err}");
        std::process::exit(1);
    }
}
