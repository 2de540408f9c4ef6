//! Long polling on one queue, with no lost messages: a waiting poller that
//! leaves is dropped from the line the moment the reactor sees it go (a close
//! notification delivered into this thread's channel), and a message taken
//! for a poller that left anyway comes back from `respond` and goes back to
//! the head of the queue.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tether::{ConnectionId, Exchange, Response};

/// Most message bytes waiting for pollers; past it publishing gets `503`.
/// A message counts what holding it costs: its allocation plus
/// [`MESSAGE_OVERHEAD_BYTES`], so a flood of empty messages is bounded too.
pub const MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;
/// Most messages waiting for pollers, whatever their size.
pub const MAX_QUEUED_MESSAGES: usize = 65_536;
/// What holding one message costs beside its bytes: its queue slot and
/// its allocation's bookkeeping.
const MESSAGE_OVERHEAD_BYTES: usize = 64;

/// What a queued message costs.
fn cost(message: &[u8]) -> usize {
    message.len() + MESSAGE_OVERHEAD_BYTES
}

pub enum Event {
    /// A poller waiting up to its deadline.
    Poll(Exchange, Instant),
    /// A publisher's message (its body).
    Publish(Exchange),
    /// A waiting poller's connection ended.
    Left(ConnectionId),
    /// The server began shutting down: answer every waiting poller now.
    ShuttingDown,
}

/// Messages waiting for pollers, and their total size.
#[derive(Default)]
struct Queue {
    messages: VecDeque<Vec<u8>>,
    bytes: usize,
}

impl Queue {
    /// Queues `message` unless that would pass [`MAX_QUEUED_BYTES`] or
    /// [`MAX_QUEUED_MESSAGES`]. (`take_body` gives a body without spare
    /// capacity, so its length is what it holds.)
    fn push_back(&mut self, message: Vec<u8>) -> Result<(), Vec<u8>> {
        if cost(&message) > MAX_QUEUED_BYTES - self.bytes
            || self.messages.len() >= MAX_QUEUED_MESSAGES
        {
            return Err(message);
        }
        self.bytes += cost(&message);
        self.messages.push_back(message);
        Ok(())
    }

    /// Puts a message that could not be delivered back at the head (it was
    /// counted before, so it always fits).
    fn push_front(&mut self, message: Vec<u8>) {
        self.bytes += cost(&message);
        self.messages.push_front(message);
    }

    fn pop_front(&mut self) -> Option<Vec<u8>> {
        let message = self.messages.pop_front()?;
        self.bytes -= cost(&message);
        Some(message)
    }

    fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

/// Runs the hub until every event sender is gone. `requeued` counts messages
/// put back because their poller had left.
pub fn run(events: Receiver<Event>, events_tx: Sender<Event>, requeued: Arc<AtomicU64>) {
    let mut messages = Queue::default();
    let mut waiters: VecDeque<(Exchange, Instant)> = VecDeque::new();
    loop {
        let now = Instant::now();
        let next_deadline = waiters.iter().map(|(_, deadline)| *deadline).min();
        let wait = next_deadline.map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(now)
        });
        match events.recv_timeout(wait) {
            Ok(Event::Poll(exchange, _)) if exchange.is_shutting_down() => {
                let _ = exchange.respond(shutting_down());
            }
            Ok(Event::Poll(exchange, deadline)) => {
                let id = exchange.id();
                let tx = events_tx.clone();
                exchange.on_close(move |_| {
                    let _ = tx.send(Event::Left(id));
                });
                waiters.push_back((exchange, deadline));
            }
            Ok(Event::Publish(mut exchange)) => {
                let body = exchange.request_mut().take_body();
                let answer = match messages.push_back(body) {
                    Ok(()) => Response::new(202),
                    // Bounded in bytes: while nobody polls, refuse; never hoard.
                    Err(_) => Response::text(503, "too many messages waiting\n")
                        .with_header("Retry-After", "1"),
                };
                let _ = exchange.respond(answer);
            }
            Ok(Event::Left(id)) => waiters.retain(|(exchange, _)| exchange.id() != id),
            Ok(Event::ShuttingDown) => {
                for (exchange, _) in waiters.drain(..) {
                    let bye =
                        Response::text(503, "shutting down\n").with_header("Retry-After", "5");
                    let _ = exchange.respond(bye);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        deliver(&mut messages, &mut waiters, &requeued);
        expire(&mut waiters, Instant::now());
    }
}

/// The answer to a poll while the server shuts down.
fn shutting_down() -> Response {
    Response::text(503, "shutting down\n").with_header("Retry-After", "5")
}

/// Hands messages to waiting pollers, oldest first.
fn deliver(
    messages: &mut Queue,
    waiters: &mut VecDeque<(Exchange, Instant)>,
    requeued: &AtomicU64,
) {
    while !messages.is_empty() {
        let Some((exchange, _)) = waiters.pop_front() else {
            return;
        };
        if exchange.is_closed() {
            exchange.abandon(); // it left while waiting: nobody to answer
            continue;
        }
        let Some(message) = messages.pop_front() else {
            return;
        };
        if let Err(undelivered) = exchange.respond(Response::new(200).with_body(message)) {
            // The poller left between our check and the write: nothing lost.
            messages.push_front(undelivered.response.body().to_vec());
            requeued.fetch_add(1, Ordering::Relaxed);
            log::debug!("message requeued: {}", undelivered.reason);
        }
    }
}

/// Answers `204` to pollers whose time is up.
fn expire(waiters: &mut VecDeque<(Exchange, Instant)>, now: Instant) {
    let mut i = 0;
    while i < waiters.len() {
        if waiters[i].1 <= now {
            if let Some((exchange, _)) = waiters.remove(i) {
                let _ = exchange.respond(Response::new(204));
            }
        } else {
            i += 1;
        }
    }
}
