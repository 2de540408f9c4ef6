//! The tether demo server.
//!
//! ```text
//! cargo run --release --example demo [-- --addr HOST:PORT] [--workers N]
//!     [--keepalive IDLE,INTERVAL,COUNT|off] [--user-timeout DURATION|off]
//!     [--ws-ping INTERVAL,TIMEOUT] [--idle-timeout DURATION]
//!     [--response-timeout DURATION] [--set NAME=VALUE]...
//!     [--tls-addr HOST:PORT] [--tls-cert PEM --tls-key PEM | --tls-self-signed]
//! ```
//!
//! Serves on 127.0.0.1:8080 (or `--addr`, or env `TETHER_ADDR`) and prints
//! `listening on http://HOST:PORT` once it accepts. SIGINT or SIGTERM shut it
//! down gracefully. `RUST_LOG=tether=debug` shows clients leaving. `--set`
//! changes any `Config` field (`--set max_body_bytes=4MiB`); a bad name or
//! value stops it with a message saying what would do.
//!
//! Built with `--features tls`, it also serves every endpoint over HTTPS
//! and WSS on `--tls-addr` (127.0.0.1:8443 by default) with the certificate
//! in `--tls-cert` and `--tls-key`, or one `--tls-self-signed` makes at
//! start, and prints `listening on https://HOST:PORT`. Both are one server:
//! `/stats` counts both.
//!
//! Endpoints:
//! - `GET /`: the demo page: the streams, both chats and a live dashboard.
//! - `GET /hello`: `Hello, World!`, answered on the reactor thread.
//! - `GET /work?ms=N`: a worker works N ms (at most 60000), then answers
//!   `worked N ms`; if the client leaves meanwhile, the worker stops at once
//!   (it waits on `wait_closed`) and counts it as `abandoned`. One client
//!   address keeps at most `--workers` − 1 workers busy (past it: `503`
//!   with `Retry-After`), so one is always left for everyone else; streams,
//!   publishes and polls have workers of their own.
//! - `POST /echo`: the request body, as `application/octet-stream` with
//!   `nosniff` (never a page that runs in the demo's origin).
//! - `POST /upload`: a streamed upload (up to `max_upload_bytes`, 1 GiB by
//!   default): a worker reads it as it arrives, holding at most
//!   `BodyReader::PIPE_BYTES`, and answers `received N bytes`.
//! - `GET /mjpeg?fps=N`: an MJPEG stream (`multipart/x-mixed-replace`) of
//!   changing JPEG frames at N frames per second (1 to 60, default 10); a slow
//!   viewer gets fewer frames, never a growing backlog.
//! - `GET /events`: Server-Sent Events, `event: tick` with an increasing
//!   counter every second, and heartbeat comments.
//! - `GET /poll?timeout_ms=N[&ack=ID]`: long poll: `200` with the next
//!   published message (its id in `Message-Id`), or `204` after N ms
//!   (default 30000, at most 120000). `ack=ID` acknowledges a message
//!   first (`400` if ID is not a message id).
//! - `POST /publish`: queues the body as a message for exactly one poller;
//!   `202` with its id (body and `Message-Id`), `413` for one over 16 MiB,
//!   or `503` with `Retry-After` while 16 MiB (each message counting 64
//!   bytes besides its own) or 65,536 messages are queued.
//! - `POST /ack`: acknowledges the message whose id is the body: `204`
//!   (also for one not owed: acknowledging is idempotent), `400` for no
//!   message id. With `--poll-ack-timeout DURATION` a delivered message is
//!   owed an acknowledgement and goes to another poller after DURATION
//!   without one (at-least-once: nothing lost past the kernel; a client
//!   drops a duplicate by its id); with `off` (the default) the write is
//!   final. `--poll-claim-after DURATION` (default 10s): with `--redis`,
//!   how long a message held by a demo process that stopped answering
//!   waits before another claims it.
//! - `POST /feed`: appends the body (UTF-8 text) to the demo's feed as its
//!   next event; `202` with the event's id, `413` past 1 MiB.
//! - `GET /feed`: the feed as Server-Sent Events (`event: feed`, `id:`
//!   `<epoch>-<offset>`): live events, or with `Last-Event-ID` every event
//!   after that one first, in order, nothing twice. When the feed no longer
//!   holds what followed that id (it keeps the newest 1,000 events and
//!   1 MiB, and a restarted demo has a new epoch), `event: reset` comes
//!   first, then what it holds.
//!
//! With `--redis URL` (or `TETHER_REDIS`; built with `--features redis`)
//! every demo process on that Redis shares the long-poll queue (a message
//! published on one goes to exactly one poller on any), the feed and the
//! chat (a message reaches `/ws/chat` members on every process); without,
//! all three are this process's. `/stats`'s `cluster` object says
//! which (`engine`) and counts what they did.
//! - `GET /ws` (WebSocket): echoes every text and binary message.
//! - `GET /ws/chat` (WebSocket): every text message goes to every member;
//!   a browser page of another origin is refused `403`.
//! - `GET /stats`: the server's counters as JSON.
//! - `GET /stats/stream`: the same as Server-Sent Events (`event: stats`),
//!   one reading a second, for the page's dashboard.
//! - `GET /config`: the settings in use as JSON.
//! - `GET /metrics`: the same for a Prometheus scraper (OpenMetrics text,
//!   closes labelled by reason, latency histograms).
//!
//! `HEAD` works wherever `GET` does; a method an endpoint does not take gets
//! `405` with `Allow`.

mod cluster;
mod frames;
mod options;
mod streams;
#[cfg(feature = "tls")]
mod tls;
mod websocket;
mod work;

use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use cluster::Cluster;
use tether::sse;
use tether::stats::{StatsHandle, PROMETHEUS_CONTENT_TYPE};
use tether::ws::Upgrade;
use tether::{
    Action, Backlog, Exchange, Handoff, Multipart, Request, Response, Router, Server, StreamOptions,
};

/// The page at `/`: plain HTML, CSS and JavaScript, no build step.
const PAGE: &str = include_str!("page.html");
const DEFAULT_POLL_MS: u64 = 30_000;
const MAX_POLL_MS: u64 = 120_000;
/// The hand-off queue of long polls, and how many may wait for the hub.
const POLLS: &str = "polls";
const POLLS_QUEUED: usize = 1024;
/// The hand-off queue of routes whose worker only hands the exchange to a
/// demo thread (streams, publishes): never behind a busy `/work`.
const HANDOVERS: &str = "handovers";
const HANDOVERS_QUEUED: usize = 1024;

/// `/stats` as JSON: the server's counters, the demo's own, and what the
/// queue and feed did (`cluster`).
fn stats_json(stats: &StatsHandle, cluster: &Cluster) -> String {
    let extra = [("messages_requeued", cluster.broker.stats().requeued)];
    let json = stats.snapshot().to_json_with(&extra);
    match json.strip_suffix('}') {
        Some(open) => format!("{open},\"cluster\":{}}}", cluster.stats_json()),
        None => json,
    }
}

/// `/metrics`: the server's, then the queue's and the feed's.
fn metrics(stats: &StatsHandle, cluster: &Cluster) -> String {
    let text = stats.snapshot().to_prometheus();
    match text.strip_suffix("# EOF\n") {
        Some(open) => format!("{open}{}# EOF\n", cluster.metrics()),
        None => text,
    }
}

/// The route table. Routes run on the reactor thread: they answer what
/// never blocks and hand off the rest. The router answers `HEAD` for `GET`
/// routes, `405` with `Allow` and `404` by itself.
/// Each hand-off route declares its queue: `bind` refuses a typo before
/// the first request would meet a `500`.
fn routes(stats: StatsHandle, settings: String, cluster: Cluster) -> Router {
    let (for_metrics, cluster_for_metrics) = (stats.clone(), cluster.clone());
    Router::new()
        .get("/", |_: &Request| {
            Response::new(200)
                .with_header("Content-Type", "text/html; charset=utf-8")
                .with_header("Cache-Control", "no-store")
                .with_body(PAGE)
        })
        .get("/config", move |_: &Request| {
            Response::new(200)
                .with_header("Content-Type", "application/json")
                .with_body(settings.clone())
        })
        .get("/hello", |_: &Request| Response::text(200, "Hello, World!"))
        .post("/echo", |req: &Request| {
            // Whatever the client sent, labelled as nothing a browser
            // renders: a form posted here from another origin must not
            // come back as a page that runs in this one.
            Response::new(200)
                .with_header("Content-Type", "application/octet-stream")
                .with_header("X-Content-Type-Options", "nosniff")
                .with_body(req.body().to_vec())
        })
        .get("/stats", move |_: &Request| {
            Response::new(200)
                .with_header("Content-Type", "application/json")
                .with_header("Cache-Control", "no-store")
                .with_body(stats_json(&stats, &cluster))
        })
        .get("/stats/stream", |_: &Request| Handoff::to(HANDOVERS))
        .hands_off_to(HANDOVERS)
        .get("/metrics", move |_: &Request| {
            Response::new(200)
                .with_header("Content-Type", PROMETHEUS_CONTENT_TYPE)
                .with_header("Cache-Control", "no-store")
                .with_body(metrics(&for_metrics, &cluster_for_metrics))
        })
        .get("/work", |_: &Request| Action::handoff())
        .hands_off_to(Handoff::DEFAULT_QUEUE)
        // Read by a worker as it arrives, never buffered whole.
        .upload("POST", "/upload", |_: &Request| Action::handoff())
        .hands_off_to(Handoff::DEFAULT_QUEUE)
        // Streams and publishes only hand the exchange on: a pool of their
        // own, so a client holding the /work workers cannot hold them up.
        .get("/mjpeg", |_: &Request| Handoff::to(HANDOVERS))
        .hands_off_to(HANDOVERS)
        .get("/events", |_: &Request| Handoff::to(HANDOVERS))
        .hands_off_to(HANDOVERS)
        // Parked polls get a pool of their own, so they never hold up /work.
        .get("/poll", |_: &Request| Handoff::to(POLLS))
        .hands_off_to(POLLS)
        // With --redis a publish, an acknowledgement or an append is a
        // round trip to Redis: a worker's job, never the reactor's.
        .post("/publish", |_: &Request| Handoff::to(HANDOVERS))
        .hands_off_to(HANDOVERS)
        .post("/ack", |_: &Request| Handoff::to(HANDOVERS))
        .hands_off_to(HANDOVERS)
        .post("/feed", |_: &Request| Handoff::to(HANDOVERS))
        .hands_off_to(HANDOVERS)
        .get("/feed", |_: &Request| Handoff::to(HANDOVERS))
        .hands_off_to(HANDOVERS)
        // Not a valid upgrade request? The reactor answers 400 or 426.
        .get("/ws", |_: &Request| Upgrade::new())
        // The chat is the demo page's: a page of another site may not join
        // it in a visitor's name.
        .get("/ws/chat", |_: &Request| Upgrade::new().same_origin())
}

/// Where workers send what outlives them.
struct Hand {
    streams: Sender<streams::Job>,
    cluster: Cluster,
    /// `/work` workers each client may keep busy.
    per_client: work::PerClient,
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
            let ms = number("ms");
            work::run(exchange, ms, &hand.per_client);
        }
        "/upload" => {
            let mut exchange = exchange;
            let Some(mut body) = exchange.body_reader() else {
                return drop(exchange.respond(Response::text(400, "no body\n")));
            };
            let mut chunk = vec![0u8; 64 * 1024];
            let mut received = 0u64;
            loop {
                match std::io::Read::read(&mut body, &mut chunk) {
                    Ok(0) => break,
                    Ok(n) => received += n as u64,
                    // The client left mid-body (or sent too much): nobody
                    // to answer, or the server already did.
                    Err(_) => return exchange.abandon(),
                }
            }
            let _ = exchange.respond(Response::text(200, format!("received {received} bytes\n")));
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
            if let Ok(sender) =
                exchange.stream_with(sse::head(), sse::options(sse::DEFAULT_HEARTBEAT))
            {
                let _ = hand.streams.send(streams::Job::Events { sender });
            }
        }
        "/feed" if exchange.request().method() == "POST" => {
            let response = hand.cluster.append_to_feed(exchange.request());
            let _ = exchange.respond(response);
        }
        "/feed" => {
            // An id that is not text is no id of ours: a reset, not live-only.
            let last = exchange.request().header("last-event-id");
            let last = last.map(|id| std::str::from_utf8(id).unwrap_or("?"));
            let subscription = hand.cluster.feed.subscribe(last);
            if let Ok(sender) =
                exchange.stream_with(sse::head(), sse::options(sse::DEFAULT_HEARTBEAT))
            {
                let job = streams::Job::Feed {
                    sender,
                    subscription,
                };
                let _ = hand.streams.send(job);
            }
        }
        "/stats/stream" => {
            let options = sse::options(sse::DEFAULT_HEARTBEAT).backlog(Backlog::KeepNewest);
            if let Ok(sender) = exchange.stream_with(sse::head(), options) {
                let _ = hand.streams.send(streams::Job::Stats { sender });
            }
        }
        "/poll" => {
            let ms = number("timeout_ms")
                .unwrap_or(DEFAULT_POLL_MS)
                .min(MAX_POLL_MS);
            let refused = match exchange.request().query_param("ack") {
                Some(id) => hand.cluster.ack(id),
                None => None,
            };
            match refused {
                Some(refusal) => drop(exchange.respond(refusal)),
                // The broker answers 200 with a message or 204 at the end.
                None => hand
                    .cluster
                    .broker
                    .poll(exchange, Duration::from_millis(ms)),
            }
        }
        "/publish" => {
            let mut exchange = exchange;
            let response = hand.cluster.publish(&mut exchange);
            let _ = exchange.respond(response);
        }
        "/ack" => {
            let id = String::from_utf8_lossy(exchange.request().body()).into_owned();
            let response = hand.cluster.ack(&id).unwrap_or_else(|| Response::new(204));
            let _ = exchange.respond(response);
        }
        _ => {
            let _ = exchange.respond(Response::text(404, "not found\n"));
        }
    }
}

/// HTTPS beside plain HTTP, if asked for.
#[cfg(feature = "tls")]
fn with_tls(
    builder: tether::Builder,
    options: &options::Options,
) -> Result<tether::Builder, String> {
    let Some((addr, certificate)) = &options.tls else {
        return Ok(builder);
    };
    let addr = std::net::ToSocketAddrs::to_socket_addrs(addr.as_str())
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| format!("--tls-addr: {addr:?} is not HOST:PORT"))?;
    Ok(builder.tls_on(addr, tls::server_config(certificate)?))
}

#[cfg(not(feature = "tls"))]
fn with_tls(
    builder: tether::Builder,
    options: &options::Options,
) -> Result<tether::Builder, String> {
    match options.tls {
        None => Ok(builder),
        Some(_) => Err("this demo was built without TLS: \
                        cargo run --release --features tls --example demo"
            .into()),
    }
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let options = match options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let terms = cluster::broker_options(options.poll_ack_timeout, options.poll_claim_after);
    let cluster = match Cluster::open(options.redis.as_deref(), terms) {
        Ok(cluster) => cluster,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let builder = Server::builder()
        .config(options.config.clone())
        .queue(POLLS, POLLS_QUEUED)
        .queue(HANDOVERS, HANDOVERS_QUEUED);
    let stats = builder.stats_handle();
    let (streams_tx, streams_rx) = std::sync::mpsc::channel();
    {
        let (stats, cluster) = (stats.clone(), cluster.clone());
        let stats_json = Box::new(move || stats_json(&stats, &cluster));
        std::thread::Builder::new()
            .name("demo-streams".into())
            .spawn(move || streams::run(streams_rx, stats_json))
            .expect("spawn the stream producer");
    }
    let router = routes(stats, options::settings_json(&options), cluster.clone());
    // Readers on the stream thread look again whenever the feed changes:
    // an append here, or one mirrored from another process.
    let on_change = streams_tx.clone();
    cluster.feed.on_change(move || {
        let _ = on_change.send(streams::Job::FeedAppended);
    });
    let builder = match with_tls(builder.router(router), &options) {
        Ok(builder) => builder,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let server = match builder.bind(options.addr.as_str()) {
        Ok(server) => server,
        Err(err) => {
            eprintln!("cannot serve on {}: {err}", options.addr);
            std::process::exit(1);
        }
    };
    let (broker, chat) = (cluster.broker.clone(), cluster.groups.clone());
    let hand = Hand {
        streams: streams_tx,
        cluster,
        // One client never holds every worker: one is always left for the
        // others (with a single worker, that one is shared).
        per_client: work::PerClient::new(options.workers - 1),
    };
    let hand = Arc::new(hand);
    let (for_polls, for_handovers) = (Arc::clone(&hand), Arc::clone(&hand));
    server.workers(options.workers, move |exchange| work(exchange, &hand));
    // Handing a poll to the broker, or a stream or message on, takes no time:
    // one worker each is plenty.
    if let Ok(polls) = server.pool(POLLS) {
        polls.workers(1, move |exchange| work(exchange, &for_polls));
    }
    if let Ok(handovers) = server.pool(HANDOVERS) {
        handovers.workers(1, move |exchange| work(exchange, &for_handovers));
    }
    let ws_events = server.ws_events();
    std::thread::Builder::new()
        .name("demo-websocket".into())
        .spawn(move || websocket::run(ws_events, chat))
        .expect("spawn the WebSocket handler");
    // Parked long polls are answered the moment shutdown begins.
    let shutdown = server.shutdown_signal();
    std::thread::Builder::new()
        .name("demo-shutdown-watch".into())
        .spawn(move || {
            while !shutdown.wait(Duration::from_secs(3600)) {}
            broker.shut_down();
        })
        .expect("spawn the shutdown watcher");
    if let Err(err) = server.shutdown_on_signals() {
        eprintln!("cannot handle signals: {err}");
        std::process::exit(1);
    }
    println!("listening on http://{}", server.local_addr());
    #[cfg(feature = "tls")]
    if let Some(addr) = server.tls_addr() {
        println!("listening on https://{addr}");
    }
    if let Err(err) = server.wait() {
        eprintln!("the server failed: {err}");
        std::process::exit(1);
    }
}
