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
//! - `GET /work?ms=N`: a worker blocks N ms (at most 60000), then answers
//!   `worked N ms`; if the client left meanwhile the response comes back
//!   undelivered and is counted.
//! - `POST /echo`: the request body.
//! - `GET /stats`: the server's counters as JSON.

use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use tether::{Action, Exchange, Request, Response, Server, StatsHandle};

const DEFAULT_ADDR: &str = "127.0.0.1:8080";
const MAX_WORK_MS: u64 = 60_000;

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
fn route(req: &Request, stats: &StatsHandle) -> Action {
    let respond = Action::Respond;
    match (req.method(), req.path()) {
        ("GET", "/hello") => respond(Response::text(200, "Hello, World!")),
        ("POST", "/echo") => respond(Response::new(200).with_body(req.body().to_vec())),
        ("GET", "/stats") => respond(
            Response::new(200)
                .with_header("Content-Type", "application/json")
                .with_header("Cache-Control", "no-store")
                .with_body(stats.snapshot().to_json()),
        ),
        ("GET", "/work") => Action::Handoff,
        (_, "/hello" | "/echo" | "/stats" | "/work") => {
            respond(Response::text(405, "method not allowed\n"))
        }
        _ => respond(Response::text(404, "not found\n")),
    }
}

/// Runs on a worker thread.
fn work(exchange: Exchange) {
    let ms = exchange
        .request()
        .query_param("ms")
        .and_then(|v| v.parse::<u64>().ok());
    let Some(ms) = ms.filter(|ms| *ms <= MAX_WORK_MS) else {
        let _ = exchange.respond(Response::text(400, "need ?ms=N with N <= 60000\n"));
        return;
    };
    std::thread::sleep(Duration::from_millis(ms));
    if let Err(undelivered) = exchange.respond(Response::text(200, format!("worked {ms} ms"))) {
        log::info!("/work?ms={ms}: {undelivered}");
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

    let builder = Server::builder();
    let stats = builder.stats_handle();
    let server = match builder
        .handler(move |req| route(req, &stats))
        .bind(options.addr.as_str())
    {
        Ok(server) => server,
        Err(err) => {
            eprintln!("cannot serve on {}: {err}", options.addr);
            std::process::exit(1);
        }
    };
    server.workers(options.workers, work);
    println!("listening on http://{}", server.local_addr());

    if let Some(signal) = signals.forever().next() {
        eprintln!("signal {signal}: shutting down");
    }
    server.shutdown();
}
