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
//! - `GET /mjpeg?fps=N`: an MJPEG stream (`multipart/x-mixed-replace`) of
//!   changing JPEG frames at N frames per second (1 to 60, default 10); a slow
//!   viewer gets fewer frames, never a growing backlog.
//! - `GET /events`: Server-Sent Events, `event: tick` with an increasing
//!   counter every second, and heartbeat comments.
//! - `GET /poll?timeout_ms=N`: long poll: `200` with the next published
//!   message, or `204` after N ms (default 30000, at most 120000).
//! - `POST /publish`: queues the body as a message for exactly one poller;
//!   `202`, or `503` with `Retry-After` while 16 MiB (each message counting
//!   64 bytes besides its own) or 65,536 messages wait.
//! - `POST /feed`: appends the body (UTF-8 text) to the demo's feed as its
//!   next event; `202` with the event's id, `413` past 1 MiB.
//! - `GET /feed`: the feed as Server-Sent Events (`event: feed`, `id:`
//!   `<epoch>-<offset>`): live events, or with `Last-Event-ID` every event
//!   after that one first, in order, nothing twice. When the feed no longer
//!   holds what followed that id (it keeps the newest 1,000 events and
//!   1 MiB, and a restarted demo has a new epoch), `event: reset` comes
//!   first, then what it holds. With `--redis URL` (built with `--features
//!   redis`) every demo process on that Redis serves one feed; without, it
//!   is this process's.
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

mod frames;
mod long_poll;
mod options;
mod streams;
#[cfg(feature = "tls")]
mod tls;
mod websocket;
mod work;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tether::cluster::{Feed, FeedError};
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

/// `/stats` as JSON, with the demo's own counter.
fn stats_json(stats: &StatsHandle, requeued: &AtomicU64, feed: &Feed) -> String {
    let extra = [("messages_requeued", requeued.load(Ordering::Relaxed))];
    let json = stats.snapshot().to_json_with(&extra);
    // The feed's engine and what it did, as one more object.
    let f = feed.stats();
    let cluster = format!(
        "\"cluster\":{{\"engine\":\"{}\",\"connected\":{},\"feed_appended\":{},\
         \"feed_refused\":{},\"feed_mirrored\":{},\"feed_restarts\":{},\"reconnects\":{},\
         \"process\":{}}}",
        f.engine,
        f.connected,
        f.appended,
        f.refused,
        f.mirrored,
        f.restarts,
        f.reconnects,
        std::process::id()
    );
    match json.strip_suffix('}') {
        Some(open) => format!("{open},{cluster}}}"),
        None => json,
    }
}

/// The route table. Routes run on the reactor thread: they answer what
/// never blocks and hand off the rest. The router answers `HEAD` for `GET`
/// routes, `405` with `Allow` and `404` by itself.
fn routes(stats: StatsHandle, requeued: Arc<AtomicU64>, settings: String, feed: Feed) -> Router {
    let metrics = stats.clone();
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
        .get("/stats", {
            let feed = feed.clone();
            move |_: &Request| {
                Response::new(200)
                    .with_header("Content-Type", "application/json")
                    .with_header("Cache-Control", "no-store")
                    .with_body(stats_json(&stats, &requeued, &feed))
            }
        })
        .get("/stats/stream", |_: &Request| Handoff::to(HANDOVERS))
        .get("/metrics", move |_: &Request| {
            Response::new(200)
                .with_header("Content-Type", PROMETHEUS_CONTENT_TYPE)
                .with_header("Cache-Control", "no-store")
                .with_body(metrics.snapshot().to_prometheus())
        })
        .get("/work", |_: &Request| Action::handoff())
        // Streams and publishes only hand the exchange on: a pool of their
        // own, so a client holding the /work workers cannot hold them up.
        .get("/mjpeg", |_: &Request| Handoff::to(HANDOVERS))
        .get("/events", |_: &Request| Handoff::to(HANDOVERS))
        // Parked polls get a pool of their own, so they never hold up /work.
        .get("/poll", |_: &Request| Handoff::to(POLLS))
        .post("/publish", |_: &Request| Handoff::to(HANDOVERS))
        // With --redis an append is a round trip to Redis: a worker's job,
        // never the reactor's.
        .post("/feed", |_: &Request| Handoff::to(HANDOVERS))
        .get("/feed", |_: &Request| Handoff::to(HANDOVERS))
        // Not a valid upgrade request? The reactor answers 400 or 426.
        .get("/ws", |_: &Request| Upgrade::new())
        // The chat is the demo page's: a page of another site may not join
        // it in a visitor's name.
        .get("/ws/chat", |_: &Request| Upgrade::new().same_origin())
}

/// The demo's one feed: at most this many events, and bytes of them.
const FEED_EVENTS: usize = 1000;
const FEED_BYTES: usize = 1024 * 1024;

/// `POST /feed`: the body (UTF-8 text) becomes the feed's next event.
fn append_to_feed(feed: &Feed, req: &Request) -> Response {
    let Ok(text) = std::str::from_utf8(req.body()) else {
        return Response::text(400, "a feed event is UTF-8 text\n");
    };
    match feed.append(text.to_owned()) {
        // The feed tells the stream thread (`on_change`).
        Ok(id) => Response::text(202, format!("{id}\n")),
        Err(FeedError::TooLarge) => Response::text(413, "larger than the feed holds\n"),
        // Redis is down: try again shortly; nothing was half done.
        Err(err) => Response::text(503, format!("{err}\n")).with_header("Retry-After", "1"),
    }
}

/// The demo's feed: in this process, or shared through `--redis`.
fn open_feed(options: &options::Options) -> Result<Feed, String> {
    let Some(url) = &options.redis else {
        return Ok(Feed::new(FEED_EVENTS, FEED_BYTES));
    };
    #[cfg(feature = "redis")]
    {
        Feed::redis(url, "demo", FEED_EVENTS, FEED_BYTES)
            .map_err(|err| format!("--redis {url}: {err}"))
    }
    #[cfg(not(feature = "redis"))]
    {
        Err(format!(
            "--redis {url}: this demo was built without Redis: \
             cargo run --release --features redis --example demo -- --redis {url}"
        ))
    }
}

/// Where workers send what outlives them.
struct Hand {
    streams: Sender<streams::Job>,
    feed: Feed,
    hub: Sender<long_poll::Event>,
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
            let response = append_to_feed(&hand.feed, exchange.request());
            let _ = exchange.respond(response);
        }
        "/feed" => {
            // An id that is not text is no id of ours: a reset, not live-only.
            let last = exchange.request().header("last-event-id");
            let last = last.map(|id| std::str::from_utf8(id).unwrap_or("?"));
            let subscription = hand.feed.subscribe(last);
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
    let feed = match open_feed(&options) {
        Ok(feed) => feed,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let requeued = Arc::new(AtomicU64::new(0));
    let builder = Server::builder()
        .config(options.config.clone())
        .queue(POLLS, POLLS_QUEUED)
        .queue(HANDOVERS, HANDOVERS_QUEUED);
    let stats = builder.stats_handle();
    let (streams_tx, streams_rx) = std::sync::mpsc::channel();
    {
        let (stats, requeued, feed) = (stats.clone(), Arc::clone(&requeued), feed.clone());
        let stats_json = Box::new(move || stats_json(&stats, &requeued, &feed));
        std::thread::Builder::new()
            .name("demo-streams".into())
            .spawn(move || streams::run(streams_rx, stats_json))
            .expect("spawn the stream producer");
    }
    let (hub_tx, hub_rx) = std::sync::mpsc::channel();
    {
        let (hub_tx, requeued) = (hub_tx.clone(), Arc::clone(&requeued));
        std::thread::Builder::new()
            .name("demo-long-poll".into())
            .spawn(move || long_poll::run(hub_rx, hub_tx, requeued))
            .expect("spawn the long-poll hub");
    }

    let router = routes(
        stats,
        Arc::clone(&requeued),
        options::settings_json(&options),
        feed.clone(),
    );
    // Readers on the stream thread look again whenever the feed changes:
    // an append here, or one mirrored from another process.
    let on_change = streams_tx.clone();
    feed.on_change(move || {
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
    let hub_tx_for_shutdown = hub_tx.clone();
    let hand = Hand {
        streams: streams_tx,
        feed,
        hub: hub_tx,
        // One client never holds every worker: one is always left for the
        // others (with a single worker, that one is shared).
        per_client: work::PerClient::new(options.workers - 1),
    };
    let hand = Arc::new(hand);
    let (for_polls, for_handovers) = (Arc::clone(&hand), Arc::clone(&hand));
    server.workers(options.workers, move |exchange| work(exchange, &hand));
    // Handing a poll to the hub, or a stream or message on, takes no time:
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
