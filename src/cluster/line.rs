//! The broker's line: one thread that owns every waiting poller of a
//! queue and the messages in hand for them. It gives each message to the
//! oldest waiting poller without waiting for the write, hears the verdict
//! and the departures through the same channel, and keeps what is owed an
//! acknowledgement until it comes or its time is up.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::message::{Counters, Engine, Event, Message, MessageId};
use crate::handle::exchange::Exchange;
use crate::id::ConnectionId;
use crate::proto::response::Response;

/// The header that carries a message's id in a poller's `200`.
pub(super) const MESSAGE_ID_HEADER: &str = "Message-Id";
/// How long the line sleeps with nothing due: it wakes for any event.
const IDLE_WAIT: Duration = Duration::from_secs(3600);

/// How the line treats what it delivers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Terms {
    /// `Some`: a written message stays owed until acknowledged, and goes
    /// to another poller after this long. `None`: the write is final.
    pub(super) ack_timeout: Option<Duration>,
    /// Deliveries without an acknowledgement before a message is set aside.
    pub(super) max_deliveries: u32,
    /// How often to tell a shared engine this process still holds what it
    /// holds.
    pub(super) keep_alive_every: Duration,
}

/// Messages written that await their acknowledgement, shared with the
/// acknowledging threads.
#[derive(Debug, Default)]
pub(super) struct Owed {
    by_id: HashMap<MessageId, (Message, Instant)>,
    /// Due times in the order given (one timeout for all, so in order).
    dues: VecDeque<(Instant, MessageId)>,
}

impl Owed {
    pub(super) fn lock(owed: &Mutex<Owed>) -> MutexGuard<'_, Owed> {
        owed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The message owed under `id`, no longer owed.
    pub(super) fn take(&mut self, id: &MessageId) -> Option<Message> {
        self.by_id.remove(id).map(|(message, _)| message)
    }

    /// Owes `message` until `due` (also what puts back a message `take`
    /// took when its acknowledgement failed).
    pub(super) fn insert(&mut self, message: Message, due: Instant) {
        self.dues.push_back((due, message.id.clone()));
        self.by_id.insert(message.id.clone(), (message, due));
    }

    /// The next owed message whose time is up by `now`.
    fn due(&mut self, now: Instant) -> Option<Message> {
        while let Some((due, id)) = self.dues.front() {
            if *due > now {
                return None;
            }
            let (due, id) = (*due, id.clone());
            self.dues.pop_front();
            // Acknowledged, or owed again since (a later due time).
            if self.by_id.get(&id).is_some_and(|(_, at)| *at == due) {
                return self.take(&id);
            }
        }
        None
    }

    fn next_due(&self) -> Option<Instant> {
        self.dues.front().map(|(due, _)| *due)
    }

    fn entries(&self) -> impl Iterator<Item = &Box<str>> {
        self.by_id.values().map(|(message, _)| &message.entry)
    }

    fn len(&self) -> usize {
        self.by_id.len()
    }
}

/// A parked poller.
struct Waiter {
    exchange: Exchange,
}

/// The line's state; [`Line::run`] drives it.
pub(super) struct Line {
    engine: Arc<dyn Engine>,
    counters: Arc<Counters>,
    owed: Arc<Mutex<Owed>>,
    terms: Terms,
    /// For the callbacks that report back.
    events: Sender<Event>,
    /// Waiting pollers, oldest first, by arrival number.
    waiters: BTreeMap<u64, Waiter>,
    by_connection: HashMap<ConnectionId, u64>,
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
    arrivals: u64,
    /// Messages in hand with no poller yet, oldest first.
    ready: VecDeque<Message>,
    /// Entries whose response is being written.
    in_flight: HashSet<Box<str>>,
    shutting_down: bool,
    next_keep_alive: Instant,
}

impl Line {
    pub(super) fn new(
        engine: Arc<dyn Engine>,
        counters: Arc<Counters>,
        owed: Arc<Mutex<Owed>>,
        terms: Terms,
        events: Sender<Event>,
    ) -> Line {
        Line {
            engine,
            counters,
            owed,
            terms,
            events,
            waiters: BTreeMap::new(),
            by_connection: HashMap::new(),
            deadlines: BinaryHeap::new(),
            arrivals: 0,
            ready: VecDeque::new(),
            in_flight: HashSet::new(),
            shutting_down: false,
            next_keep_alive: crate::time::deadline(Instant::now(), terms.keep_alive_every),
        }
    }

    /// Acts on events until the broker is dropped.
    pub(super) fn run(mut self, inbox: Receiver<Event>) {
        loop {
            let wait = self
                .next_wake()
                .map_or(IDLE_WAIT, |at| at.saturating_duration_since(Instant::now()));
            match inbox.recv_timeout(wait) {
                Ok(Event::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    self.answer_all(shutting_down());
                    return;
                }
                Ok(event) => self.on(event),
                Err(RecvTimeoutError::Timeout) => {}
            }
            let now = Instant::now();
            self.expire(now);
            self.deliver();
            self.hand_back_extra();
            self.keep_alive(now);
            self.publish_gauges();
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let poll = self.deadlines.peek().map(|Reverse((at, _))| *at);
        let owed = Owed::lock(&self.owed).next_due();
        [poll, owed, Some(self.next_keep_alive)]
            .into_iter()
            .flatten()
            .min()
    }

    fn on(&mut self, event: Event) {
        match event {
            Event::Poll(exchange, _) if self.shutting_down => {
                let _ = exchange.send_response(shutting_down());
            }
            Event::Poll(exchange, deadline) => self.park(*exchange, deadline),
            Event::Left(id) => {
                if let Some(arrival) = self.by_connection.remove(&id) {
                    self.waiters.remove(&arrival);
                }
            }
            Event::Arrived(message) => {
                self.engine.arrived();
                self.ready.push_back(message);
            }
            Event::Written(message) => {
                self.in_flight.remove(&message.entry);
                Counters::add(&self.counters.delivered);
                // Owed since it was handed out; otherwise the write is final.
                if self.terms.ack_timeout.is_none() {
                    self.engine.settle(&message);
                }
            }
            Event::Returned(message) => {
                // Its poller left before the write ended: the next one —
                // unless the client acknowledged it all the same.
                self.in_flight.remove(&message.entry);
                let owed = self.terms.ack_timeout.is_some();
                if !owed || Owed::lock(&self.owed).take(&message.id).is_some() {
                    Counters::add(&self.counters.requeued);
                    self.ready.push_front(message);
                }
            }
            Event::ShutDown => {
                self.shutting_down = true;
                self.answer_all(shutting_down());
            }
            Event::Stop => {}
        }
    }

    fn park(&mut self, exchange: Exchange, deadline: Instant) {
        let (id, events) = (exchange.id(), self.events.clone());
        // Dropped from the line the moment the reactor sees it go.
        exchange.on_close(move |_| {
            let _ = events.send(Event::Left(id));
        });
        self.arrivals += 1;
        self.by_connection.insert(id, self.arrivals);
        self.deadlines.push(Reverse((deadline, self.arrivals)));
        self.waiters.insert(self.arrivals, Waiter { exchange });
    }

    /// Answers `204` to pollers whose time is up, and hands back messages
    /// whose acknowledgement did not come.
    fn expire(&mut self, now: Instant) {
        while let Some(Reverse((at, arrival))) = self.deadlines.peek().copied() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            if let Some(waiter) = self.waiters.remove(&arrival) {
                self.by_connection.remove(&waiter.exchange.id());
                let _ = waiter.exchange.send_response(Response::new(204));
            }
        }
        loop {
            let Some(message) = Owed::lock(&self.owed).due(now) else {
                break;
            };
            if message.deliveries >= self.terms.max_deliveries {
                log::warn!(
                    "message {}: {} deliveries unacknowledged; dead-lettered",
                    message.id,
                    message.deliveries
                );
                self.engine.dead_letter(message);
            } else if let Some(kept) = self.engine.release(message, true) {
                self.ready.push_front(kept);
            }
        }
    }

    /// Gives messages in hand to waiting pollers, oldest to oldest.
    fn deliver(&mut self) {
        while !self.ready.is_empty() {
            let Some((_, waiter)) = self.waiters.pop_first() else {
                return;
            };
            let exchange = waiter.exchange;
            self.by_connection.remove(&exchange.id());
            if exchange.is_closed() {
                exchange.abandon(); // it left while waiting: nobody to answer
                continue;
            }
            let Some(message) = self.ready.pop_front() else {
                return;
            };
            let response = Response::new(200)
                .with_header(MESSAGE_ID_HEADER, message.id.to_string())
                .with_body(message.data.clone());
            if let Some(timeout) = self.terms.ack_timeout {
                // Owed from now: a client may acknowledge before the
                // write's verdict reaches this thread.
                let mut owed = message.clone();
                owed.deliveries = owed.deliveries.saturating_add(1);
                let due = crate::time::deadline(Instant::now(), timeout);
                Owed::lock(&self.owed).insert(owed, due);
            }
            match exchange.send_response(response) {
                Ok(delivery) => {
                    self.in_flight.insert(message.entry.clone());
                    let events = self.events.clone();
                    delivery.on_outcome(move |outcome| {
                        let _ = events.send(match outcome {
                            Ok(()) => Event::Written(message),
                            Err(_) => Event::Returned(message),
                        });
                    });
                }
                Err(_) => {
                    Owed::lock(&self.owed).take(&message.id);
                    Counters::add(&self.counters.requeued);
                    self.ready.push_front(message);
                }
            }
        }
    }

    /// With a shared engine, messages no poller here waits for go back to
    /// it for other processes' pollers, at once.
    fn hand_back_extra(&mut self) {
        let hungry = match self.shutting_down {
            true => 0,
            false => self.waiters.len(),
        };
        if !self.engine.keeps_messages() {
            while self.ready.len() > hungry {
                let Some(message) = self.ready.pop_back() else {
                    break;
                };
                if let Some(kept) = self.engine.release(message, false) {
                    self.ready.push_back(kept);
                    break;
                }
            }
        }
        self.engine.want(hungry.saturating_sub(self.ready.len()));
    }

    fn keep_alive(&mut self, now: Instant) {
        if now < self.next_keep_alive {
            return;
        }
        self.next_keep_alive = crate::time::deadline(now, self.terms.keep_alive_every);
        let mut entries: Vec<Box<str>> = self.in_flight.iter().cloned().collect();
        entries.extend(Owed::lock(&self.owed).entries().cloned());
        if !entries.is_empty() {
            self.engine.keep_alive(entries);
        }
    }

    fn answer_all(&mut self, answer: Response) {
        self.by_connection.clear();
        self.deadlines.clear();
        for (_, waiter) in std::mem::take(&mut self.waiters) {
            let _ = waiter.exchange.send_response(answer.clone());
        }
    }

    fn publish_gauges(&self) {
        let c = &self.counters;
        c.waiting.store(self.waiters.len(), Ordering::Relaxed);
        c.queued.store(self.ready.len(), Ordering::Relaxed);
        c.owed
            .store(Owed::lock(&self.owed).len(), Ordering::Relaxed);
    }
}

/// The answer to a poll while the server shuts down or the broker ends.
pub(super) fn shutting_down() -> Response {
    Response::text(503, "shutting down\n").with_header("Retry-After", "5")
}
