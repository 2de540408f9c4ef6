//! Worker pools: threads that take exchanges from one hand-off queue.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crate::handle::exchange::{Exchange, Exchanges};
use crate::handler::DEFAULT_QUEUE;
use crate::stats::{Counters, StatsHandle};

/// The workers of one hand-off queue; see [`Server::pool`](crate::Server::pool).
#[derive(Debug)]
pub struct Pool<'a> {
    /// The server's worker threads, joined when it shuts down.
    pub(crate) threads: &'a Mutex<Vec<JoinHandle<()>>>,
    pub(crate) stats: &'a StatsHandle,
    pub(crate) name: String,
    pub(crate) exchanges: Exchanges,
}

impl Pool<'_> {
    /// Starts `n` worker threads that take exchanges from this queue and
    /// call `work` with each. A panic in `work` is caught and counted
    /// (`worker_panics`); the exchange it held is answered `500`; the thread
    /// goes on. The threads end, and are joined, when the server shuts down.
    pub fn workers<F>(&self, n: usize, work: F)
    where
        F: Fn(Exchange) + Send + Sync + 'static,
    {
        self.workers_with(n, |_| (), move |_: &mut (), exchange| work(exchange));
    }

    /// [`workers`](Pool::workers) with state of each thread's own — a
    /// database connection, a buffer, a client — made by `init(index)` on
    /// the worker's thread (so it need not be `Send`) and lent to `work`
    /// with each exchange. After a panic in `work` the state is made anew.
    pub fn workers_with<S, I, F>(&self, n: usize, init: I, work: F)
    where
        I: Fn(usize) -> S + Send + Sync + 'static,
        F: Fn(&mut S, Exchange) + Send + Sync + 'static,
    {
        let init = Arc::new(init);
        let work = Arc::new(work);
        let mut workers = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
        for index in 0..n {
            let exchanges = self.exchanges.clone();
            let (init, work) = (Arc::clone(&init), Arc::clone(&work));
            let stats = self.stats.clone();
            let name = if self.name == DEFAULT_QUEUE {
                format!("tether-worker-{}", workers.len())
            } else {
                format!("{}-{index}", self.name)
            };
            let spawned = std::thread::Builder::new().name(name).spawn(move || {
                let mut state = init(index);
                while let Some(exchange) = exchanges.recv() {
                    let id = exchange.id();
                    let worked = catch_unwind(AssertUnwindSafe(|| work(&mut state, exchange)));
                    if worked.is_err() {
                        Counters::incr(&stats.0.worker_panics);
                        log::warn!("{id} worker panicked; its exchange was answered 500");
                        // What the panic left half-done is not trusted.
                        state = init(index);
                    }
                }
            });
            match spawned {
                Ok(handle) => workers.push(handle),
                Err(err) => log::error!("could not start a worker thread: {err}"),
            }
        }
    }
}
