//! The queues from the reactors to application threads (hand-off queues,
//! WebSocket event streams): many producers, many consumers, optionally
//! bounded, and consumers that **park without spinning**.
//!
//! # Why not crossbeam-channel here
//!
//! A crossbeam receiver that finds its channel empty spins, then calls
//! `sched_yield` several times, before it parks. That is the right trade
//! when cores are plentiful. Here a pool of workers shares the cores with
//! the reactor: measured with 64 workers on one core (the load bench's
//! `workers` mode), idle workers spinning and yielding took the reactor's
//! CPU, so exchanges waited ~1 ms for a worker (p50) while 60 of 64
//! workers were idle. A worker that finds nothing to do here parks at once
//! on a condvar, and a push wakes exactly one parked worker, and only when
//! one is parked (no syscall otherwise) — the shape of tokio's blocking
//! pool and of tiny_http's queue.
//!
//! Errors are std's `mpsc` types, which every Rust user already matches on.

use std::collections::VecDeque;
use std::fmt;
use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

struct State<T> {
    items: VecDeque<T>,
    senders: usize,
    receivers: usize,
    /// Receivers parked in `recv`, and senders parked waiting for room.
    parked_receivers: usize,
    parked_senders: usize,
    /// Tasks waiting in `poll_recv` (at most [`MAX_WAKERS`]), all woken by
    /// the next item or the close: an item reaches a task that is still
    /// there, never one that gave up.
    wakers: Vec<Waker>,
}

/// Tasks a queue keeps waiting at once; past this all are woken (each
/// polls again and registers anew), so a queue never holds more.
const MAX_WAKERS: usize = 64;

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Receivers wait here for an item.
    filled: Condvar,
    /// Senders of a full bounded queue wait here for room.
    emptied: Condvar,
    bound: Option<usize>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics while holding the lock: a poison means nothing.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_full(&self, state: &State<T>) -> bool {
        self.bound.is_some_and(|bound| state.items.len() >= bound)
    }
}

/// Opens a queue holding at most `bound` items (`None`: no bound).
pub(crate) fn channel<T>(bound: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::with_capacity(bound.unwrap_or(0).min(1024)),
            senders: 1,
            receivers: 1,
            parked_receivers: 0,
            parked_senders: 0,
            wakers: Vec::new(),
        }),
        filled: Condvar::new(),
        emptied: Condvar::new(),
        bound,
    });
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver { shared },
    )
}

/// The sending end; clone it for each producer.
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Queues `item` unless the queue is full or has no receiver left.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        let state = self.shared.lock();
        if state.receivers == 0 {
            return Err(TrySendError::Disconnected(item));
        }
        if self.shared.is_full(&state) {
            return Err(TrySendError::Full(item));
        }
        self.push(state, item);
        Ok(())
    }

    /// Queues `item`, waiting for room in a full bounded queue; fails only
    /// when no receiver is left.
    pub fn send(&self, item: T) -> Result<(), SendError<T>> {
        let mut state = self.shared.lock();
        loop {
            if state.receivers == 0 {
                return Err(SendError(item));
            }
            if !self.shared.is_full(&state) {
                self.push(state, item);
                return Ok(());
            }
            state.parked_senders += 1;
            state = self
                .shared
                .emptied
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.parked_senders -= 1;
        }
    }

    fn push(&self, mut state: MutexGuard<'_, State<T>>, item: T) {
        state.items.push_back(item);
        let wake = state.parked_receivers > 0;
        let wakers = std::mem::take(&mut state.wakers);
        drop(state);
        if wake {
            self.shared.filled.notify_one();
        }
        wakers.into_iter().for_each(Waker::wake);
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Sender {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.senders -= 1;
        if state.senders == 0 {
            let wakers = std::mem::take(&mut state.wakers);
            drop(state);
            // Every parked receiver must see the queue close.
            self.shared.filled.notify_all();
            wakers.into_iter().for_each(Waker::wake);
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("bound", &self.shared.bound)
            .finish()
    }
}

/// The receiving end; clone it for each consumer.
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// Waits for the next item; fails once the queue is empty and every
    /// sender is gone.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_until(None).map_err(|_| RecvError)
    }

    /// Waits up to `timeout` for the next item.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        // A timeout too large to add is as good as none.
        self.recv_until(Instant::now().checked_add(timeout))
    }

    /// The next item for a task: `Pending` (keeping `waker` for the next
    /// item or the close) while the queue is empty and open.
    pub fn poll_recv(&self, waker: &Waker) -> Poll<Result<T, RecvError>> {
        let state = self.shared.lock();
        let mut state = match self.pop(state) {
            Ok(item) => return Poll::Ready(Ok(item)),
            Err(state) => state,
        };
        if state.senders == 0 {
            return Poll::Ready(Err(RecvError));
        }
        if !state.wakers.iter().any(|kept| kept.will_wake(waker)) {
            if state.wakers.len() >= MAX_WAKERS {
                std::mem::take(&mut state.wakers)
                    .into_iter()
                    .for_each(Waker::wake);
            }
            state.wakers.push(waker.clone());
        }
        Poll::Pending
    }

    /// The next item if one is queued.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let state = self.shared.lock();
        match self.pop(state) {
            Ok(item) => Ok(item),
            Err(state) if state.senders == 0 => Err(TryRecvError::Disconnected),
            Err(_) => Err(TryRecvError::Empty),
        }
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let mut state = self.shared.lock();
        loop {
            state = match self.pop(state) {
                Ok(item) => return Ok(item),
                Err(state) => state,
            };
            if state.senders == 0 {
                return Err(RecvTimeoutError::Disconnected);
            }
            state.parked_receivers += 1;
            state = match deadline {
                None => self
                    .shared
                    .filled
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        state.parked_receivers -= 1;
                        return Err(RecvTimeoutError::Timeout);
                    }
                    let (state, _) = self
                        .shared
                        .filled
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner);
                    state
                }
            };
            state.parked_receivers -= 1;
        }
    }

    /// Takes the front item, or hands the guard back.
    fn pop<'a>(&self, mut state: MutexGuard<'a, State<T>>) -> Result<T, MutexGuard<'a, State<T>>> {
        let Some(item) = state.items.pop_front() else {
            return Err(state);
        };
        let wake = state.parked_senders > 0;
        drop(state);
        if wake {
            self.shared.emptied.notify_one();
        }
        Ok(item)
    }

    /// Items queued now.
    pub fn len(&self) -> usize {
        self.shared.lock().items.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.lock().receivers += 1;
        Receiver {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receivers -= 1;
        if state.receivers == 0 {
            drop(state);
            self.shared.emptied.notify_all();
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("bound", &self.shared.bound)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_queue_refuses_past_its_bound_and_keeps_order() {
        let (tx, rx) = channel(Some(2));
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        assert_eq!(rx.len(), 2);
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.recv(), Ok(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert!(rx.is_empty());
    }

    #[test]
    fn parked_receivers_wake_for_items_and_for_the_close() {
        let (tx, rx) = channel::<u32>(None);
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                std::thread::spawn(move || rx.recv_timeout(Duration::from_secs(20)))
            })
            .collect();
        tx.send(7).unwrap();
        drop(tx);
        let mut results: Vec<_> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        results.sort_by_key(|r| r.is_err());
        assert_eq!(results[0], Ok(7));
        assert!(results[1..]
            .iter()
            .all(|r| *r == Err(RecvTimeoutError::Disconnected)));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn a_full_sender_waits_for_room_and_fails_without_receivers() {
        let (tx, rx) = channel(Some(1));
        tx.send(1).unwrap();
        let sender = {
            let tx = tx.clone();
            std::thread::spawn(move || tx.send(2))
        };
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(sender.join().unwrap(), Ok(()));
        assert_eq!(rx.recv(), Ok(2));
        drop(rx);
        assert!(matches!(tx.try_send(3), Err(TrySendError::Disconnected(3))));
        assert_eq!(tx.send(4), Err(SendError(4)));
    }

    #[test]
    fn recv_timeout_times_out_and_never_overflows() {
        let (tx, rx) = channel::<u32>(None);
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(5)),
            Err(RecvTimeoutError::Timeout)
        );
        tx.send(1).unwrap();
        assert_eq!(rx.recv_timeout(Duration::MAX), Ok(1));
    }
}
