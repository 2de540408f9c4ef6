//! The broker's in-process engine: a message goes straight to this
//! process's line, which keeps what no poller wants yet; the engine only
//! bounds what is held (messages and bytes, from publish until the message
//! is done with) and names messages.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SendError, Sender};
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

use super::log::fresh_epoch;
use super::message::{cost, BrokerError, Counters, Engine, Event, Message, MessageId};

/// Messages held and their cost.
#[derive(Debug, Default)]
struct Held {
    messages: usize,
    bytes: usize,
}

#[derive(Debug)]
pub(super) struct Memory {
    line: Sender<Event>,
    max_messages: usize,
    max_bytes: usize,
    held: Mutex<Held>,
    /// Ids are `<epoch>-<n>`: a restarted process's ids are not taken for
    /// this one's.
    epoch: u64,
    next: AtomicU64,
    counters: std::sync::Arc<Counters>,
}

impl Memory {
    pub(super) fn new(
        line: Sender<Event>,
        max_messages: usize,
        max_bytes: usize,
        counters: std::sync::Arc<Counters>,
    ) -> Memory {
        Memory {
            line,
            max_messages,
            max_bytes,
            held: Mutex::default(),
            epoch: fresh_epoch(),
            next: AtomicU64::new(1),
            counters,
        }
    }

    fn free(&self, message: &Message) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.messages = held.messages.saturating_sub(1);
        held.bytes = held.bytes.saturating_sub(message.cost());
    }
}

impl Engine for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn publish(&self, data: Bytes) -> Result<MessageId, BrokerError> {
        let cost = cost(data.len());
        if cost > self.max_bytes {
            return Err(BrokerError::TooLarge);
        }
        {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            // Compared with what is left: no sum of peer-sized numbers.
            if held.messages >= self.max_messages || cost > self.max_bytes - held.bytes {
                return Err(BrokerError::Full);
            }
            held.messages += 1;
            held.bytes += cost;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id: MessageId = format!("{:x}-{n}", self.epoch)
            .parse()
            .map_err(|_| BrokerError::InvalidId)?;
        let message = Message {
            entry: id.as_str().into(),
            id: id.clone(),
            data,
            deliveries: 0,
        };
        if let Err(SendError(Event::Arrived(message))) = self.line.send(Event::Arrived(message)) {
            self.free(&message);
            return Err(BrokerError::Unavailable);
        }
        Ok(id)
    }

    fn ack(&self, _id: &MessageId, held: Option<&Message>) -> Result<bool, BrokerError> {
        // Only this process delivers this engine's messages.
        if let Some(message) = held {
            self.free(message);
        }
        Ok(held.is_some())
    }

    fn settle(&self, message: &Message) {
        self.free(message);
    }

    fn release(&self, message: Message, count: bool) -> Option<Message> {
        if count {
            Counters::add(&self.counters.requeued);
        }
        Some(message)
    }

    fn dead_letter(&self, message: Message) {
        Counters::add(&self.counters.dead_lettered);
        self.free(&message);
    }

    fn keeps_messages(&self) -> bool {
        true
    }
}
