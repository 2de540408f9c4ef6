//! The one shape every handle shares with the reactor: a mutex-guarded
//! state, the close reason with its watchers, a coalesced wake-up of the
//! reactor, and counted waiters.
//!
//! The exchange's [`ExchangeShared`](super::exchange_shared::ExchangeShared), a stream's queue and a
//! WebSocket's queue are each a `Cell` around their own state, so closing,
//! waiting for the close and `on_close` behave the same everywhere.
//!
//! # Implementation notes
//!
//! - Watchers (user callbacks) never run under the lock: [`Cell::close`]
//!   collects them, releases the lock, wakes waiters, then calls them.
//! - A condvar wake costs a syscall, so it is made only when someone waits
//!   (`waiters` counts them).
//! - Futures wait the same way without a thread: [`Cell::poll_for`] keeps
//!   the task's `Waker` (at most [`MAX_WAKERS`], one per task), and every
//!   notify or close wakes them all once. No runtime is assumed: only
//!   `std::task`.
//! - [`Cell::wake_reactor`] is the one way a handle wakes its reactor;
//!   `wake_pending` coalesces: a burst of changes costs one command, and the
//!   reactor clears the mark when it takes the news.
//! - Locks are poison-tolerant: no code panics while holding one, so a
//!   poison cannot mean a broken invariant.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use super::closure::{run_watchers, Closure, Watcher};
use super::context::Context;
use crate::channel::notifier::Command;
use crate::id::ConnectionId;
use crate::reason::CloseReason;
use crate::stats::StatsHandle;
use crate::time::deadline;

/// How often a wait looks at its reactor, however long it may wait.
const REACTOR_BACKSTOP: Duration = Duration::from_secs(1);

/// Wakers a cell keeps: one per task waiting on it, so a handful. Past
/// this all are woken at once (a spurious wake-up: each polls again and
/// registers anew), so a cell never holds more.
const MAX_WAKERS: usize = 16;

/// How long a blocking call on a handle may wait for room or news.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Not at all: answer at once.
    Now,
    /// As long as it takes.
    Forever,
    /// Until this instant.
    Until(Instant),
}

impl Wait {
    /// Waits up to `timeout` from now; one too long to represent is
    /// [`Wait::Forever`].
    pub fn at_most(timeout: Duration) -> Wait {
        Instant::now()
            .checked_add(timeout)
            .map_or(Wait::Forever, Wait::Until)
    }
}

/// The state of a [`Cell`], as seen under its lock.
#[derive(Debug)]
pub(crate) struct Inner<S> {
    /// The handle's own state.
    pub state: S,
    closure: Closure,
    wake_pending: bool,
    waiters: u32,
    /// Tasks waiting (see [`Cell::poll_for`]), woken with the waiters.
    wakers: Vec<Waker>,
    /// When the connection ended, to time how soon waiters learn of it.
    closed_at: Option<Instant>,
}

impl<S> Inner<S> {
    /// Why the connection ended, once it has.
    pub fn reason(&self) -> Option<CloseReason> {
        self.closure.reason()
    }

    /// Marks a wake-up of the reactor as pending. True when the caller must
    /// send it (none was pending).
    #[must_use]
    fn request_wake(&mut self) -> bool {
        !std::mem::replace(&mut self.wake_pending, true)
    }

    /// The reactor took the news: the next change must wake it again. Called
    /// under the same lock as reading the news, so a change made after it
    /// wakes the reactor again and none is missed.
    pub fn clear_wake(&mut self) {
        self.wake_pending = false;
    }
}

/// A guard on a cell's state.
pub(crate) type Guard<'a, S> = MutexGuard<'a, Inner<S>>;

/// State shared by worker-side handles and the reactor.
#[derive(Debug)]
pub(crate) struct Cell<S> {
    inner: Mutex<Inner<S>>,
    changed: Condvar,
    /// Mirrors `closure.reason().is_some()` for a lock-free `is_closed`.
    closed: AtomicBool,
    /// The server's counters (watcher panics are counted there).
    stats: StatsHandle,
}

impl<S> Cell<S> {
    pub fn new(state: S, stats: StatsHandle) -> Self {
        Cell {
            inner: Mutex::new(Inner {
                state,
                closure: Closure::default(),
                wake_pending: false,
                waiters: 0,
                wakers: Vec::new(),
                closed_at: None,
            }),
            changed: Condvar::new(),
            closed: AtomicBool::new(false),
            stats,
        }
    }

    /// Makes the cell as new around `state`, for reuse. Only its sole
    /// owner can: no waiter, watcher or wake-up can be pending.
    pub fn reset(&mut self, state: S) {
        let inner = self.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        debug_assert_eq!(inner.waiters, 0, "a waiter outlived every handle");
        inner.state = state;
        inner.closure = Closure::default();
        inner.wake_pending = false;
        inner.waiters = 0;
        inner.wakers.clear();
        inner.closed_at = None;
        *self.closed.get_mut() = false;
    }

    pub fn stats(&self) -> &StatsHandle {
        &self.stats
    }

    pub fn lock(&self) -> Guard<'_, S> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        self.lock().reason()
    }

    /// The one way a handle wakes its reactor: releases the lock and tells
    /// the reactor that connection `id` has news, unless a wake is already
    /// pending (the reactor clears the mark when it takes the news), so a
    /// burst of changes costs one command. False when the reactor has
    /// stopped: nothing will take the news.
    pub fn wake_reactor(
        &self,
        mut guard: Guard<'_, S>,
        context: &Context,
        id: ConnectionId,
    ) -> bool {
        let due = guard.request_wake();
        drop(guard);
        !due || context.reactor.send(Command::Update(id))
    }

    /// Releases the lock and wakes whoever waits on the cell: threads and
    /// tasks.
    pub fn notify(&self, mut guard: Guard<'_, S>) {
        let anyone = guard.waiters > 0;
        let wakers = std::mem::take(&mut guard.wakers);
        drop(guard);
        if anyone {
            self.changed.notify_all();
        }
        for waker in wakers {
            waker.wake();
        }
    }

    /// The async counterpart of [`wait_for`](Self::wait_for): calls `ready`
    /// under the lock; if it gives nothing, keeps `waker` to be woken by the
    /// next change and returns `Pending`. Never blocks, so it is as right on
    /// the reactor's thread as anywhere. A reactor that stopped without
    /// settling the cell (a backstop, as in `wait_for`) is seen on the next
    /// poll: `on_stopped` closes the cell.
    pub fn poll_for<R>(
        &self,
        waker: &Waker,
        context: &Context,
        on_stopped: &dyn Fn(),
        mut ready: impl FnMut(&mut Inner<S>) -> Option<R>,
    ) -> (Guard<'_, S>, Poll<R>) {
        let mut guard = self.lock();
        if let Some(out) = ready(&mut guard) {
            return (guard, Poll::Ready(out));
        }
        if context.reactor.is_stopped() && guard.reason().is_none() {
            drop(guard);
            on_stopped();
            guard = self.lock();
            if let Some(out) = ready(&mut guard) {
                return (guard, Poll::Ready(out));
            }
        }
        if !guard.wakers.iter().any(|kept| kept.will_wake(waker)) {
            if guard.wakers.len() >= MAX_WAKERS {
                for kept in std::mem::take(&mut guard.wakers) {
                    kept.wake();
                }
            }
            guard.wakers.push(waker.clone());
        }
        (guard, Poll::Pending)
    }

    /// Waits (counted) until notified or `deadline`. Spurious wake-ups
    /// return too: [`wait_for`](Self::wait_for) loops on its condition.
    fn wait<'a>(&self, mut guard: Guard<'a, S>, deadline: Instant) -> Guard<'a, S> {
        guard.waiters += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        let mut guard = self
            .changed
            .wait_timeout(guard, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        guard.waiters -= 1;
        guard
    }

    /// The one wait loop of the handles: calls `ready` under the lock until
    /// it gives a value, sleeping on the cell between tries for as long as
    /// `wait` allows; `None` once that ran out (`Wait::Now` tries once).
    ///
    /// It never sleeps on the reactor's own thread (a handler, an
    /// `on_close` callback), where waiting would wait for the reactor
    /// itself: `None` at once. And it looks at the reactor at least every
    /// second: a reactor that stopped settled every handle on its way out,
    /// so this is only a backstop — `on_stopped`, which must close the
    /// cell, runs once, and `ready` sees the close. The lock comes back
    /// too, for the caller to finish under it (wake the reactor).
    pub fn wait_for<R>(
        &self,
        wait: Wait,
        context: &Context,
        on_stopped: &dyn Fn(),
        mut ready: impl FnMut(&mut Inner<S>) -> Option<R>,
    ) -> (Guard<'_, S>, Option<R>) {
        let mut guard = self.lock();
        let mut backstopped = false;
        loop {
            if let Some(out) = ready(&mut guard) {
                return (guard, Some(out));
            }
            let until = match wait {
                Wait::Now => return (guard, None),
                Wait::Until(at) if at <= Instant::now() => return (guard, None),
                Wait::Until(at) => Some(at),
                Wait::Forever => None,
            };
            if context.reactor.on_reactor_thread() {
                return (guard, None);
            }
            if !backstopped && context.reactor.is_stopped() && guard.reason().is_none() {
                backstopped = true;
                drop(guard);
                on_stopped();
                guard = self.lock();
                continue;
            }
            let look = deadline(Instant::now(), REACTOR_BACKSTOP);
            guard = self.wait(guard, until.map_or(look, |at| at.min(look)));
        }
    }

    /// Records that the connection ended (the first reason sticks), lets
    /// `settle` tidy the state under the lock with the final reason, wakes
    /// every waiter, and runs the watchers once the lock is released.
    /// Returns what `settle` returned, for the caller to act on outside the
    /// lock too.
    pub fn close<R>(
        &self,
        reason: CloseReason,
        settle: impl FnOnce(&mut S, CloseReason) -> R,
    ) -> R {
        let mut guard = self.lock();
        let watchers = guard.closure.close(reason);
        guard.closed_at.get_or_insert_with(Instant::now);
        let reason = guard.closure.reason().unwrap_or(reason);
        let out = settle(&mut guard.state, reason);
        let closed_at = guard.closed_at;
        self.closed.store(true, Ordering::Release);
        self.notify(guard);
        if let Some(at) = closed_at.filter(|_| !watchers.is_empty()) {
            // Each watcher hears of the end now: a way of noticing it, as
            // a woken `wait_closed` is.
            for _ in &watchers {
                self.stats.0.departure_notice.observe(at.elapsed());
            }
        }
        run_watchers(watchers, reason, &self.stats.0);
        out
    }

    /// Times how soon a waiter heard of the end through another way (an
    /// undelivered verdict), if the connection has ended.
    pub fn observe_departure(&self, guard: &Guard<'_, S>) {
        if let Some(at) = guard.closed_at {
            self.stats.0.departure_notice.observe(at.elapsed());
        }
    }

    /// Runs `watcher` when the connection ends (at once if it has).
    pub fn on_close(&self, watcher: Watcher) {
        let late = self.lock().closure.watch(watcher);
        if let Some((watcher, reason)) = late {
            run_watchers(vec![watcher], reason, &self.stats.0);
        }
    }

    /// The connection's end, polled (see [`poll_for`](Self::poll_for));
    /// `waited` is set on a `Pending`, so that the end is timed in
    /// `departure_notice` as [`wait_closed`](Self::wait_closed) times it.
    pub fn poll_closed(
        &self,
        waker: &Waker,
        waited: &mut bool,
        context: &Context,
        on_stopped: &dyn Fn(),
    ) -> Poll<CloseReason> {
        let (guard, polled) = self.poll_for(waker, context, on_stopped, |inner| {
            let at = inner.closed_at?;
            Some((inner.reason()?, at))
        });
        drop(guard);
        match polled {
            Poll::Pending => {
                *waited = true;
                Poll::Pending
            }
            Poll::Ready((reason, at)) => {
                if std::mem::take(waited) {
                    self.stats.0.departure_notice.observe(at.elapsed());
                }
                Poll::Ready(reason)
            }
        }
    }

    /// Blocks until the connection ends or `timeout` passes (see
    /// [`wait_for`](Self::wait_for); `on_stopped` closes the cell).
    pub fn wait_closed(
        &self,
        timeout: Duration,
        context: &Context,
        on_stopped: &dyn Fn(),
    ) -> Option<CloseReason> {
        if let Some(reason) = self.close_reason() {
            return Some(reason);
        }
        let (guard, reason) = self.wait_for(Wait::at_most(timeout), context, on_stopped, |inner| {
            let at = inner.closed_at?;
            let reason = inner.reason()?;
            Some((reason, at))
        });
        drop(guard);
        let (reason, at) = reason?;
        // It waited: time how soon it heard.
        let stats = &self.stats.0;
        stats.departure_notice.observe(at.elapsed());
        Some(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{mpsc, Arc};

    #[test]
    fn close_runs_watchers_after_releasing_the_lock_and_wakes_waiters() {
        let cell = Arc::new(Cell::new(0u32, StatsHandle::default()));
        let (tx, rx) = mpsc::channel();
        let inside = Arc::clone(&cell);
        cell.on_close(Box::new(move |reason| {
            // Would deadlock if the lock were still held.
            let state = inside.lock().state;
            tx.send((reason, state)).unwrap();
        }));
        let (context, _commands) = Context::detached(StatsHandle::default(), 4);
        let waiter = {
            let cell = Arc::clone(&cell);
            std::thread::spawn(move || cell.wait_closed(Duration::from_secs(10), &context, &|| ()))
        };
        let out = cell.close(CloseReason::PeerReset, |state, reason| {
            *state = 7;
            reason
        });
        assert_eq!(out, CloseReason::PeerReset);
        assert_eq!(rx.try_recv(), Ok((CloseReason::PeerReset, 7)));
        assert_eq!(waiter.join().unwrap(), Some(CloseReason::PeerReset));
        assert!(cell.is_closed());
        // The first reason sticks.
        cell.close(CloseReason::Shutdown, |_, reason| {
            assert_eq!(reason, CloseReason::PeerReset)
        });
    }

    #[test]
    fn wake_requests_coalesce_until_cleared() {
        let cell = Cell::new((), StatsHandle::default());
        let mut guard = cell.lock();
        assert!(guard.request_wake());
        assert!(!guard.request_wake());
        guard.clear_wake();
        assert!(guard.request_wake());
    }

    #[test]
    fn a_burst_of_news_sends_one_update_until_the_reactor_takes_it() {
        use crate::channel::notifier::Command;
        let (context, commands) = Context::detached(StatsHandle::default(), 4);
        let id = ConnectionId::new(3, 9);
        let cell = Cell::new((), StatsHandle::default());
        for _ in 0..5 {
            assert!(cell.wake_reactor(cell.lock(), &context, id));
        }
        assert!(matches!(commands.try_recv(), Ok(Command::Update(got)) if got == id));
        assert!(commands.try_recv().is_err(), "one command for the burst");
        cell.lock().clear_wake();
        assert!(cell.wake_reactor(cell.lock(), &context, id));
        assert!(
            commands.try_recv().is_ok(),
            "news after the reactor took the last"
        );
        cell.lock().clear_wake();
        context.reactor.mark_stopped();
        assert!(
            !cell.wake_reactor(cell.lock(), &context, id),
            "nobody to tell"
        );
    }

    #[test]
    fn a_wait_without_end_ends_when_its_reactor_has_stopped() {
        let (context, _commands) = Context::detached(StatsHandle::default(), 4);
        let cell = Cell::new((), StatsHandle::default());
        context.reactor.mark_stopped();
        let stopped = || {
            cell.close(CloseReason::Shutdown, |_, _| ());
        };
        let (guard, reason) =
            cell.wait_for(Wait::Forever, &context, &stopped, |inner| inner.reason());
        drop(guard);
        assert_eq!(reason, Some(CloseReason::Shutdown));
    }

    #[test]
    fn a_wait_on_the_reactor_thread_gives_up_at_once() {
        let (context, _commands) = Context::detached(StatsHandle::default(), 4);
        let cell = Cell::new((), StatsHandle::default());
        let _ = context
            .reactor
            .reactor_thread
            .set(std::thread::current().id());
        let (guard, reason) =
            cell.wait_for(Wait::Forever, &context, &|| (), |inner| inner.reason());
        drop(guard);
        assert_eq!(reason, None, "waiting would wait for the reactor itself");
    }

    #[test]
    fn wait_closed_times_out_and_never_overflows() {
        let cell = Cell::new((), StatsHandle::default());
        let (context, _commands) = Context::detached(StatsHandle::default(), 4);
        assert_eq!(
            cell.wait_closed(Duration::from_millis(5), &context, &|| ()),
            None
        );
        cell.close(CloseReason::Drained, |_, _| ());
        let reason = cell.wait_closed(Duration::MAX, &context, &|| ());
        assert_eq!(reason, Some(CloseReason::Drained));
    }
}
