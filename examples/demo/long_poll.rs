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

pub enum Event {
    /// A poller waiting up to its deadline.
    Poll(Exchange, Instant),
    /// A publisher's message (its body).
    Publish(Exchange),
    /// A waiting poller's connection ended.
    Left(ConnectionId),
}

/// Runs the hub until every event sender is gone. `requeued` counts messages
/// put back because their poller had left.
pub fn run(events: Receiver<Event>, events_tx: Sender<Event>, requeued: Arc<AtomicU64>) {
    let mut messages: VecDeque<Vec<u8>> = VecDeque::new();
    let mut waiters: VecDeque<(Exchange, Instant)> = VecDeque::new();
    loop {
        let now = Instant::now();
        let next_deadline = waiters.iter().map(|(_, deadline)| *deadline).min();
        let wait = next_deadline.map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(now)
        });
        match events.recv_timeout(wait) {
            Ok(Event::Poll(exchange, deadline)) => {
                let id = exchange.id();
                let tx = events_tx.clone();
                exchange.on_close(move |_| {
                    let _ = tx.send(Event::Left(id));
                });
                waiters.push_back((exchange, deadline));
            }
            Ok(Event::Publish(mut exchange)) => {
                messages.push_back(exchange.request_mut().take_body());
                let _ = exchange.respond(Response::new(202));
            }
            Ok(Event::Left(id)) => waiters.retain(|(exchange, _)| exchange.id() != id),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        deliver(&mut messages, &mut waiters, &requeued);
        expire(&mut waiters, Instant::now());
    }
}

/// Hands messages to waiting pollers, oldest first.
fn deliver(
    messages: &mut VecDeque<Vec<u8>>,
    waiters: &mut VecDeque<(Exchange, Instant)>,
    requeued: &AtomicU64,
) {
    while !messages.is_empty() {
        let Some((exchange, _)) = waiters.pop_front() else {
            return;
        };
        if exchange.is_closed() {
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
