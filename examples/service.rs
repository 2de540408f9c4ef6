//! A production-shaped service on tether, written the way the docs teach:
//!
//! - `GET /jobs/{ms}`: a job worker "works" `ms` milliseconds (at most
//!   60000) and stops the moment its client leaves.
//! - `POST /topics/{topic}` publishes the body; `GET /topics/{topic}/poll`
//!   long-polls for the next message (`204` after 30 s). Each topic is a
//!   `tether::cluster::Broker`: a message whose poller left before the
//!   kernel took it goes to the next poller (add an acknowledgement
//!   timeout, `BrokerOptions::ack_timeout`, for nothing lost past the
//!   kernel). At most 64 topics of at most 1,024 messages and 1 MiB each;
//!   past either, `503` with `Retry-After`.
//! - `GET /ticks`: Server-Sent Events, one `tick` a second, resumed after
//!   `Last-Event-ID` (at-least-once: the client's cursor is the ack).
//! - `GET /chat?token=T` (WebSocket): users authenticated at the upgrade;
//!   every message goes to everyone as `name: text`.
//! - `GET /metrics`: OpenMetrics for a scraper.
//!
//! SIGINT/SIGTERM shut it down gracefully: parked polls are answered `503`
//! with `Retry-After` at once.
//!
//! ```text
//! cargo run --example service [-- --addr HOST:PORT]
//! ```

use std::collections::HashMap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether::cluster::{Broker, BrokerOptions};
use tether::sse;
use tether::stats::PROMETHEUS_CONTENT_TYPE;
use tether::ws::{Message, Upgrade, WsEventKind, WsEvents, WsGroup};
use tether::{Action, Exchange, Handoff, Request, Response, Router, Server, StreamSender};

const POLL_WAIT: Duration = Duration::from_secs(30);
const SLACK: Duration = Duration::from_secs(5);
const USERS: [(&str, &str); 2] = [("alice-token", "alice"), ("bob-token", "bob")];
/// Topics, and what each may hold: a client cannot make them without end.
const MAX_TOPICS: usize = 64;
const TOPIC_MESSAGES: usize = 1024;
const TOPIC_BYTES: usize = 1024 * 1024;

/// Who a chat socket belongs to: decided once, at the upgrade.
struct User(&'static str);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let addr = std::env::args()
        .skip_while(|arg| arg != "--addr")
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".into());

    let builder = Server::builder()
        .queue("jobs", 256)
        .queue("broker", 4096)
        .queue("streams", 256)
        .ws_events("chat");
    let stats = builder.stats_handle();
    let router = Router::new()
        .get("/jobs/{ms}", |req: &Request| -> Action {
            match req.param("ms").and_then(|ms| ms.parse().ok()) {
                Some(ms @ 0..=60_000) => {
                    let work = Duration::from_millis(ms);
                    Handoff::to("jobs")
                        .with(work)
                        .response_timeout(work + SLACK)
                        .into()
                }
                _ => Response::text(400, "ms must be 0..=60000\n").into(),
            }
        })
        .hands_off_to("jobs")
        .post("/topics/{topic}", |_: &Request| Handoff::to("broker"))
        .hands_off_to("broker")
        .get("/topics/{topic}/poll", |_: &Request| {
            Handoff::to("broker").response_timeout(POLL_WAIT + SLACK)
        })
        .hands_off_to("broker")
        .get("/ticks", |_: &Request| Handoff::to("streams"))
        .hands_off_to("streams")
        .get("/chat", |req: &Request| -> Action {
            let token = req.query_value("token");
            match USERS.iter().find(|(t, _)| Some(*t) == token.as_deref()) {
                Some((_, name)) => Upgrade::new().with(User(name)).events("chat").into(),
                None => Response::text(401, "unknown token\n").into(),
            }
        })
        .sends_events_to("chat")
        .get("/metrics", move |_: &Request| {
            Response::new(200)
                .with_header("Content-Type", PROMETHEUS_CONTENT_TYPE)
                .with_body(stats.snapshot().to_prometheus())
        });
    let server = builder.router(router).bind(addr.as_str())?;
    server.shutdown_on_signals()?;

    server.pool("jobs")?.workers(8, |mut exchange| {
        let work = exchange.take_value::<Duration>().unwrap_or_default();
        // The "work" is a wait that ends early if the client leaves.
        if exchange.wait_closed(work).is_some() {
            return exchange.abandon();
        }
        let _ = exchange.respond(Response::text(200, format!("worked {work:?}\n")));
    });

    let topics = Arc::new(Topics::default());
    let for_workers = Arc::clone(&topics);
    // Publishing in memory and parking a poll never block: one worker.
    server
        .pool("broker")?
        .workers(1, move |exchange| for_workers.serve(exchange));
    let shutdown = server.shutdown_signal();
    spawn("broker-shutdown", move || {
        while !shutdown.wait(Duration::from_secs(3600)) {}
        topics.shut_down();
    });

    let (tickers, ticker_inbox) = mpsc::channel();
    spawn("ticks", move || run_ticks(ticker_inbox));
    server.pool("streams")?.workers(1, move |exchange| {
        let after: u64 = exchange
            .request()
            .header_str("last-event-id")
            .and_then(|id| id.parse().ok())
            .unwrap_or(0);
        if let Ok(sender) = exchange.stream_with(sse::head(), sse::options(sse::DEFAULT_HEARTBEAT))
        {
            let _ = tickers.send((sender, after + 1));
        }
    });

    let chat = server.ws_events_from("chat").ok_or("chat stream")?;
    spawn("chat", move || run_chat(chat));

    println!("listening on http://{}", server.local_addr());
    Ok(server.wait()?)
}

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(work)
        .expect("spawn a service thread");
}

/// The topics, each a broker of its own.
#[derive(Default)]
struct Topics {
    brokers: Mutex<HashMap<String, Broker>>,
}

impl Topics {
    /// The topic's broker; `None` when there are too many topics already.
    fn get(&self, name: &str) -> Option<Broker> {
        let mut brokers = self.brokers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(broker) = brokers.get(name) {
            return Some(broker.clone());
        }
        if brokers.len() >= MAX_TOPICS {
            return None;
        }
        let options = BrokerOptions::default()
            .max_messages(TOPIC_MESSAGES)
            .max_bytes(TOPIC_BYTES);
        let broker = Broker::new(options);
        brokers.insert(name.to_string(), broker.clone());
        Some(broker)
    }

    fn serve(&self, mut exchange: Exchange) {
        let name = exchange.request().param("topic").unwrap_or("").to_string();
        let Some(broker) = self.get(&name) else {
            let _ = exchange.respond(retry_later("too many topics\n"));
            return;
        };
        if exchange.request().method() != "POST" {
            // Answered 200 with the next message, 204 after POLL_WAIT, 503
            // while shutting down; a poll whose client leaves is let go.
            return broker.poll(exchange, POLL_WAIT);
        }
        let body = exchange.request_mut().take_body();
        let answer = match broker.publish(body) {
            Ok(_) => Response::text(202, "queued\n"),
            Err(err) => retry_later(&format!("{err}\n")),
        };
        let _ = exchange.respond(answer);
    }

    /// Parked polls are answered `503` with `Retry-After` at once.
    fn shut_down(&self) {
        let brokers = self.brokers.lock().unwrap_or_else(|e| e.into_inner());
        brokers.values().for_each(Broker::shut_down);
    }
}

fn retry_later(why: &str) -> Response {
    Response::text(503, why.to_string()).with_header("Retry-After", "5")
}

/// Sends every subscriber a numbered tick a second; its number is the SSE
/// id, so a client that reconnects with `Last-Event-ID` misses nothing.
fn run_ticks(inbox: mpsc::Receiver<(StreamSender, u64)>) {
    let mut subscribers: Vec<(StreamSender, u64)> = Vec::new();
    loop {
        match inbox.recv_timeout(Duration::from_secs(1)) {
            Ok(subscriber) => subscribers.push(subscriber),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        subscribers.retain_mut(|(sender, next)| {
            let id = next.to_string();
            let event = sse::Event::new(&id).event("tick").id(&id).encode();
            match sender.try_send(event) {
                Ok(()) => {
                    *next += 1;
                    true
                }
                Err(tether::SendError::Full) => true,
                // Closed: the subscriber left.
                Err(_) => false,
            }
        });
    }
}

fn run_chat(events: WsEvents) {
    let room = WsGroup::new();
    while let Some(event) = events.recv() {
        let socket = &event.socket;
        let name = socket.value::<User>().map_or("?", |user| user.0);
        match &event.kind {
            WsEventKind::Open(_) => room.join(socket.clone()),
            WsEventKind::Message(Message::Text(text)) => {
                room.broadcast_text(&format!("{name}: {text}"));
            }
            WsEventKind::Closed { .. } => room.leave(socket.id()),
            _ => {}
        }
    }
}
