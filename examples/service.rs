//! A production-shaped service on tether, written the way the docs teach:
//!
//! - `GET /jobs/{ms}`: a job worker "works" `ms` milliseconds (at most
//!   60000) and stops the moment its client leaves.
//! - `POST /topics/{topic}` publishes the body; `GET /topics/{topic}/poll`
//!   long-polls for the next message (`204` after 30 s). A message whose
//!   poller left before it was delivered goes back to the front of the
//!   topic: nothing is lost.
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

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use tether::sse;
use tether::stats::PROMETHEUS_CONTENT_TYPE;
use tether::ws::{Message, Upgrade, WsEventKind, WsEvents, WsGroup};
use tether::{
    Action, ConnectionId, Exchange, Handoff, Request, Response, Router, Server, StreamSender,
};

const POLL_WAIT: Duration = Duration::from_secs(30);
const SLACK: Duration = Duration::from_secs(5);
const USERS: [(&str, &str); 2] = [("alice-token", "alice"), ("bob-token", "bob")];

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
        .post("/topics/{topic}", |_: &Request| Handoff::to("broker"))
        .get("/topics/{topic}/poll", |_: &Request| {
            Handoff::to("broker").response_timeout(POLL_WAIT + SLACK)
        })
        .get("/ticks", |_: &Request| Handoff::to("streams"))
        .get("/chat", |req: &Request| -> Action {
            let token = req.query_value("token");
            match USERS.iter().find(|(t, _)| Some(*t) == token.as_deref()) {
                Some((_, name)) => Upgrade::new().with(User(name)).events("chat").into(),
                None => Response::text(401, "unknown token\n").into(),
            }
        })
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

    let (broker, inbox) = mpsc::channel();
    let outbox = broker.clone();
    spawn("broker", move || run_broker(inbox, outbox));
    let to_broker = broker.clone();
    server.pool("broker")?.workers(1, move |exchange| {
        let _ = to_broker.send(BrokerEvent::Request(Box::new(exchange)));
    });
    let shutdown = server.shutdown_signal();
    spawn("broker-shutdown", move || {
        while !shutdown.wait(Duration::from_secs(3600)) {}
        let _ = broker.send(BrokerEvent::ShuttingDown);
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

enum BrokerEvent {
    Request(Box<Exchange>),
    Left(ConnectionId),
    ShuttingDown,
}

#[derive(Default)]
struct Topic {
    messages: VecDeque<Vec<u8>>,
    polls: VecDeque<(Exchange, Instant)>,
}

/// One thread owns every topic and every parked poll: no locks.
fn run_broker(inbox: mpsc::Receiver<BrokerEvent>, outbox: Sender<BrokerEvent>) {
    let mut topics: HashMap<String, Topic> = HashMap::new();
    let mut shutting_down = false;
    loop {
        let next = topics
            .values()
            .flat_map(|t| t.polls.iter().map(|p| p.1))
            .min();
        let wait = next.map_or(Duration::from_secs(3600), |at| {
            at.saturating_duration_since(Instant::now())
        });
        match inbox.recv_timeout(wait) {
            Ok(BrokerEvent::Request(exchange)) => {
                let exchange = *exchange;
                let name = exchange.request().param("topic").unwrap_or("").to_string();
                let topic = topics.entry(name).or_default();
                if exchange.request().method() == "POST" {
                    topic.messages.push_back(exchange.request().body().to_vec());
                    let _ = exchange.respond(Response::text(202, "queued\n"));
                } else if shutting_down {
                    let _ = exchange.respond(retry_later());
                } else {
                    // The moment its client leaves, the poll is let go.
                    let (tx, id) = (outbox.clone(), exchange.id());
                    exchange.on_close(move |_| drop(tx.send(BrokerEvent::Left(id))));
                    topic
                        .polls
                        .push_back((exchange, Instant::now() + POLL_WAIT));
                }
                deliver(topic);
            }
            Ok(BrokerEvent::Left(id)) => {
                for topic in topics.values_mut() {
                    // Dropped after its client left: counted as abandoned.
                    topic.polls.retain(|(poll, _)| poll.id() != id);
                }
            }
            Ok(BrokerEvent::ShuttingDown) => {
                shutting_down = true;
                for topic in topics.values_mut() {
                    for (poll, _) in topic.polls.drain(..) {
                        let _ = poll.respond(retry_later());
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                for topic in topics.values_mut() {
                    while topic.polls.front().is_some_and(|(_, at)| *at <= now) {
                        if let Some((poll, _)) = topic.polls.pop_front() {
                            let _ = poll.respond(Response::new(204));
                        }
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Hands messages to parked polls, oldest first. A message whose poller
/// left before the kernel took it comes back as `Undelivered`: it goes back
/// to the front, for the next poll.
fn deliver(topic: &mut Topic) {
    while !topic.messages.is_empty() {
        let Some((poll, _)) = topic.polls.pop_front() else {
            return;
        };
        let Some(message) = topic.messages.pop_front() else {
            return;
        };
        if let Err(undelivered) = poll.respond(Response::new(200).with_body(message)) {
            topic
                .messages
                .push_front(undelivered.response.body().to_vec());
        }
    }
}

fn retry_later() -> Response {
    Response::text(503, "shutting down\n").with_header("Retry-After", "5")
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
