//! The Redis engine (feature `redis`): the redis crate's synchronous
//! client, on threads of tether's own. What every Redis-backed job shares
//! is here — connecting with timeouts, a connection for calls made from
//! the application's threads, and the link a background thread keeps up
//! with back-off; each job (`feed`, …) has its own file above this one.

pub(super) mod broker;
pub(super) mod feed;
pub(super) mod groups;
mod scripts;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::log::fresh_epoch;

/// How long a command may take before the connection counts as broken.
pub(super) const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Reconnection back-off, doubling from the first to the last.
pub(super) const BACKOFF: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(5));

/// A fresh epoch (or consumer name part) in hex: never the same twice.
pub(super) fn candidate() -> String {
    format!("{:x}", fresh_epoch())
}

/// A connection whose commands time out after [`COMMAND_TIMEOUT`].
pub(super) fn connect(client: &redis::Client) -> redis::RedisResult<redis::Connection> {
    let conn = client.get_connection_with_timeout(COMMAND_TIMEOUT)?;
    conn.set_read_timeout(Some(COMMAND_TIMEOUT))?;
    conn.set_write_timeout(Some(COMMAND_TIMEOUT))?;
    Ok(conn)
}

/// Starts a background thread of a Redis-backed job; one that cannot
/// start is logged (the job then does without it).
pub(super) fn spawn(name: &str, job: impl FnOnce() + Send + 'static) {
    if let Err(err) = std::thread::Builder::new().name(name.into()).spawn(job) {
        log::error!("cannot start {name}: {err}");
    }
}

/// One connection shared by calls from any thread (appends, publishes,
/// acknowledgements), made on first use and again after a failure.
pub(super) struct Calls {
    client: redis::Client,
    conn: Mutex<Option<redis::Connection>>,
    /// The job's background link: while it knows Redis is down, calls
    /// fail at once rather than each wait out a connection timeout.
    link: Arc<Link>,
}

impl Calls {
    pub(super) fn new(client: redis::Client, link: Arc<Link>) -> Calls {
        Calls {
            client,
            conn: Mutex::new(None),
            link,
        }
    }

    /// Runs `command`, connecting first if there is no connection; a
    /// failure drops the connection, so the next call connects again.
    /// Fails at once while the link knows Redis to be down.
    pub(super) fn call<T>(
        &self,
        command: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> redis::RedisResult<T> {
        if self.link.is_down() {
            let down = (redis::ErrorKind::Io, "Redis is down");
            return Err(redis::RedisError::from(down));
        }
        let mut slot = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let conn = match slot.as_mut() {
            Some(conn) => conn,
            None => slot.insert(connect(&self.client)?),
        };
        let reply = command(conn);
        if reply.is_err() {
            *slot = None;
        }
        reply
    }
}

/// A background thread's connection to Redis, as stats report it.
#[derive(Debug, Default)]
pub(super) struct Link {
    connected: AtomicBool,
    /// The last session failed and no new one has connected yet.
    down: AtomicBool,
    /// Sessions begun after the first.
    reconnects: AtomicU64,
}

impl Link {
    pub(super) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Known to be unreachable: calls fail at once rather than wait.
    pub(super) fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    pub(super) fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// Runs `session` until it returns `Ok` (its job is over) or `alive`
    /// says so, starting it again after a back-off each time it fails. A
    /// session calls the function it is given once connected: the link
    /// counts as up, and the next loss backs off from the start again.
    pub(super) fn run(
        &self,
        what: &str,
        alive: impl Fn() -> bool,
        mut session: impl FnMut(&mut dyn FnMut()) -> redis::RedisResult<()>,
    ) {
        let mut backoff = BACKOFF.0;
        let mut sessions = 0u64;
        while alive() {
            let result = session(&mut || {
                self.connected.store(true, Ordering::Relaxed);
                self.down.store(false, Ordering::Relaxed);
                if sessions > 0 {
                    self.reconnects.fetch_add(1, Ordering::Relaxed);
                    log::info!("{what}: Redis is back");
                }
                sessions += 1;
                backoff = BACKOFF.0;
            });
            self.connected.store(false, Ordering::Relaxed);
            match result {
                Ok(()) => return,
                Err(err) => {
                    self.down.store(true, Ordering::Relaxed);
                    log::warn!("{what}: Redis: {err}; trying again in {backoff:?}");
                }
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(BACKOFF.1);
        }
    }
}
