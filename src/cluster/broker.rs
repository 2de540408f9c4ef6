//! The broker: a work queue for long polls, each message to exactly one
//! waiting poller, over an engine in this process or shared through Redis.

use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::line::{shutting_down, Line, Owed, Terms};
use super::memory::Memory;
use super::message::{BrokerError, BrokerStats, Counters, Engine, Event, MessageId};
use crate::handle::exchange::Exchange;

/// How long past its poll's own wait a parked exchange may go before the
/// server answers `503` for it: the broker's `204` comes first.
const RESPONSE_SLACK: Duration = Duration::from_secs(5);

/// A broker's bounds and terms; [`BrokerOptions::default`] then the
/// methods to change one.
///
/// ```
/// use std::time::Duration;
/// use tether::cluster::{Broker, BrokerError, BrokerOptions};
///
/// let options = BrokerOptions::default()
///     .max_messages(1)
///     .ack_timeout(Some(Duration::from_secs(30)));
/// let broker = Broker::new(options);
/// broker.publish("one").unwrap();
/// assert_eq!(broker.publish("two"), Err(BrokerError::Full));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BrokerOptions {
    max_messages: usize,
    max_bytes: usize,
    ack_timeout: Option<Duration>,
    max_deliveries: u32,
    claim_after: Duration,
}

impl Default for BrokerOptions {
    /// 65,536 messages, 16 MiB, no acknowledgement (the write is final),
    /// 5 deliveries, a dead process's messages claimed after 10 s.
    fn default() -> Self {
        BrokerOptions {
            max_messages: 65_536,
            max_bytes: 16 * 1024 * 1024,
            ack_timeout: None,
            max_deliveries: 5,
            claim_after: Duration::from_secs(10),
        }
    }
}

impl BrokerOptions {
    /// Most messages queued (waiting for a poller, in flight, or awaiting
    /// an acknowledgement); past it `publish` fails with
    /// [`BrokerError::Full`].
    pub fn max_messages(mut self, most: usize) -> Self {
        self.max_messages = most;
        self
    }

    /// Most bytes queued, each message counting its bytes plus 64; past it
    /// `publish` fails with [`BrokerError::Full`], and a message over it
    /// alone with [`BrokerError::TooLarge`].
    pub fn max_bytes(mut self, most: usize) -> Self {
        self.max_bytes = most;
        self
    }

    /// `Some(timeout)`: a message written to a poller stays owed until the
    /// client acknowledges it ([`Broker::ack`]), and goes to another poller
    /// if that takes longer than `timeout` — the only setting under which
    /// nothing is lost past the kernel (a client that vanished after the
    /// write is not taken for one that received it). `None` (the default):
    /// the write's verdict is final — a message is redelivered only when
    /// its poller left before the kernel took the whole response.
    pub fn ack_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.ack_timeout = timeout;
        self
    }

    /// Deliveries without an acknowledgement after which a message is set
    /// aside (dead-lettered) rather than delivered again; at least 1.
    pub fn max_deliveries(mut self, most: u32) -> Self {
        self.max_deliveries = most.max(1);
        self
    }

    /// Shared engine only: how long a message held by a process that
    /// stopped answering (killed, stopped, cut off) waits before another
    /// process claims it. Live processes renew what they hold three times
    /// in this period, so it need not exceed the acknowledgement timeout.
    pub fn claim_after(mut self, after: Duration) -> Self {
        self.claim_after = after.max(Duration::from_millis(300));
        self
    }
}

/// What every clone of a broker shares.
#[derive(Debug)]
struct Shared {
    engine: Arc<dyn Engine>,
    counters: Arc<Counters>,
    owed: Arc<Mutex<Owed>>,
    line: Sender<Event>,
    ack_timeout: Option<Duration>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let _ = self.line.send(Event::Stop);
    }
}

/// A work queue for long polls: [`publish`](Broker::publish) gives each
/// message to exactly one waiting poller, oldest first;
/// [`poll`](Broker::poll) parks a poller until a message comes (`200`, its
/// id in a `Message-Id` header, the message as the body) or its wait ends
/// (`204`). Cheap to clone; every clone is the same queue.
///
/// - A poller whose client leaves is dropped from the line the moment the
///   reactor sees it go, and a message whose poller left before the kernel
///   took the whole response goes to the next poller (`requeued`).
/// - Bounded in messages and bytes ([`BrokerOptions`]); past the bound
///   `publish` fails with [`BrokerError::Full`].
/// - **Written is not received.** Without an acknowledgement timeout the
///   write's verdict is final: a client that vanished after the kernel
///   took the response loses that message. With
///   [`BrokerOptions::ack_timeout`] a written message stays owed until the
///   client acknowledges it ([`ack`](Broker::ack), the demo's
///   `POST /ack` or `?ack=ID` on its next poll) and is delivered again
///   after the timeout otherwise: at-least-once, nothing lost past the
///   kernel; a client drops a duplicate by its id.
///
/// A broker's line is a thread of its own; `poll` and (in memory)
/// `publish` never block.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::io::{Read, Write};
/// use std::time::Duration;
/// use tether::cluster::{Broker, BrokerOptions};
/// use tether::{Handoff, Request, Router, Server};
///
/// let broker = Broker::new(BrokerOptions::default());
/// let router = Router::new().get("/poll", |_: &Request| Handoff::to("polls"));
/// let server = Server::builder().queue("polls", 64).router(router).bind("127.0.0.1:0")?;
/// let line = broker.clone();
/// server.pool("polls")?.workers(1, move |exchange| line.poll(exchange, Duration::from_secs(30)));
///
/// let id = broker.publish("hello")?;
/// let mut client = std::net::TcpStream::connect(server.local_addr())?;
/// client.write_all(b"GET /poll HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
/// let mut reply = String::new();
/// client.read_to_string(&mut reply)?;
/// assert!(reply.contains(&format!("Message-Id: {id}\r\n")));
/// assert!(reply.ends_with("\r\n\r\nhello"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Broker {
    shared: Arc<Shared>,
}

impl Broker {
    /// A broker in this process, its line on a thread of its own.
    pub fn new(options: BrokerOptions) -> Broker {
        let (line, inbox) = std::sync::mpsc::channel();
        let counters = Arc::new(Counters::default());
        let engine = Memory::new(
            line.clone(),
            options.max_messages,
            options.max_bytes,
            Arc::clone(&counters),
        );
        Broker::start(Arc::new(engine), counters, options, line, inbox)
    }

    /// A broker shared by every process that opens `name` on the Redis
    /// (or Valkey 7+) at `url`: a message published on any of them goes to
    /// exactly one poller on any of them. Each process's line pulls only
    /// as many messages as it has waiting pollers, and a message it cannot
    /// deliver goes back to Redis at once for the others.
    ///
    /// It never fails for Redis being down: `publish` and `ack` fail at
    /// once with [`BrokerError::Unavailable`] until it is back, pollers
    /// keep waiting, and a thread of the broker's own reconnects with
    /// back-off. Messages a process held when it died (or stopped) are
    /// claimed by another after [`BrokerOptions::claim_after`]: they may
    /// then be delivered twice (at-least-once, by id). Should Redis lose
    /// the queue (restarted empty), what it held is lost with it.
    ///
    /// Processes sharing a queue should give it the same options.
    ///
    /// # Blocking
    ///
    /// Connects to Redis before it returns: blocks for at most the connect
    /// timeout.
    #[cfg(feature = "redis")]
    pub fn redis(url: &str, name: &str, options: BrokerOptions) -> Result<Broker, BrokerError> {
        let (line, inbox) = std::sync::mpsc::channel();
        let counters = Arc::new(Counters::default());
        let engine = super::redis::broker::RedisBroker::start(
            url,
            name,
            (options.max_messages, options.max_bytes),
            options.claim_after,
            Arc::clone(&counters),
            line.clone(),
        )?;
        Ok(Broker::start(
            Arc::new(engine),
            counters,
            options,
            line,
            inbox,
        ))
    }

    fn start(
        engine: Arc<dyn Engine>,
        counters: Arc<Counters>,
        options: BrokerOptions,
        line: Sender<Event>,
        inbox: std::sync::mpsc::Receiver<Event>,
    ) -> Broker {
        let owed = Arc::new(Mutex::new(Owed::default()));
        let terms = Terms {
            ack_timeout: options.ack_timeout,
            max_deliveries: options.max_deliveries,
            keep_alive_every: options.claim_after / 3,
        };
        let runner = Line::new(
            Arc::clone(&engine),
            Arc::clone(&counters),
            Arc::clone(&owed),
            terms,
            line.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name("tether-broker".into())
            .spawn(move || runner.run(inbox));
        if let Err(err) = spawned {
            // Polls then wait until their server's response timeout.
            log::error!("cannot start a broker's line: {err}");
        }
        Broker {
            shared: Arc::new(Shared {
                engine,
                counters,
                owed,
                line,
                ack_timeout: options.ack_timeout,
            }),
        }
    }

    fn send(&self, event: Event) {
        let _ = self.shared.line.send(event);
    }

    /// Queues a message for exactly one poller; its id, or why not.
    ///
    /// # Blocking
    ///
    /// On a shared engine this is a round trip to it (at most 2 s): call it
    /// from a worker, not on the reactor thread.
    ///
    /// # Blocking
    ///
    /// In memory it takes a lock only. On Redis it blocks the calling
    /// thread for one round trip (bounded by the connection's timeouts; at
    /// once with `Unavailable` while Redis is known down): from async code,
    /// call it on a blocking thread (`spawn_blocking`) or accept that
    /// pause.
    pub fn publish(&self, data: impl Into<Bytes>) -> Result<MessageId, BrokerError> {
        let published = self.shared.engine.publish(data.into());
        let counter = match published {
            Ok(_) => &self.shared.counters.published,
            Err(_) => &self.shared.counters.refused,
        };
        Counters::add(counter);
        published
    }

    /// Parks `exchange` until a message comes or `wait` is over (`204`).
    /// Sets the exchange's response timeout past `wait`, so the broker
    /// answers before the server would. While the server or the broker
    /// shuts down, polls are answered `503` with `Retry-After`.
    pub fn poll(&self, exchange: Exchange, wait: Duration) {
        exchange.set_response_timeout(wait.saturating_add(RESPONSE_SLACK));
        let deadline = crate::time::deadline(Instant::now(), wait);
        if exchange.is_shutting_down() {
            let _ = exchange.send_response(shutting_down());
            return;
        }
        self.send(Event::Poll(Box::new(exchange), deadline));
    }

    /// Acknowledges the message with this id (as the client gave it back):
    /// `Ok(true)` if it was owed, `Ok(false)` if not (already
    /// acknowledged, given up on, unknown, or no acknowledgement timeout
    /// set). Any process sharing the engine may take the acknowledgement.
    ///
    /// # Blocking
    ///
    /// On a shared engine, a round trip to it (at most 2 s).
    ///
    /// # Blocking
    ///
    /// As [`publish`](Broker::publish): a lock in memory, one round trip on
    /// Redis.
    pub fn ack(&self, id: &str) -> Result<bool, BrokerError> {
        let id: MessageId = id.parse()?;
        if self.shared.ack_timeout.is_none() {
            return Ok(false);
        }
        let held = Owed::lock(&self.shared.owed).take(&id);
        let acked = self.shared.engine.ack(&id, held.as_ref());
        match (&acked, held) {
            (Ok(true), _) => Counters::add(&self.shared.counters.acked),
            // Not confirmed: still owed, redelivered when its time is up.
            (Err(_), Some(message)) => {
                let due = crate::time::deadline(
                    Instant::now(),
                    self.shared.ack_timeout.unwrap_or_default(),
                );
                Owed::lock(&self.shared.owed).insert(message, due);
            }
            _ => {}
        }
        acked
    }

    /// Answers every waiting poller `503` with `Retry-After`, and every
    /// later one: for a server that is shutting down.
    pub fn shut_down(&self) {
        self.send(Event::ShutDown);
    }

    /// What this broker did in this process, and whether its engine can
    /// be reached.
    pub fn stats(&self) -> BrokerStats {
        BrokerStats::read(&self.shared.counters, &*self.shared.engine)
    }
}
