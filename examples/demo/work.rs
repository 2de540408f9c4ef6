//! `/work?ms=N`: a worker busy for N ms that stops the moment its client
//! leaves — and how the demo keeps one client from holding every worker.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tether::{Exchange, Response};

/// The longest `/work` a client may ask for.
pub const MAX_WORK_MS: u64 = 60_000;
/// How long past its `ms` a `/work` may take before the reactor answers
/// `503` for it: room for a busy machine.
const SLACK: Duration = Duration::from_secs(5);

/// Workers busy for each client address. Behind a proxy every client
/// shares the proxy's address; the cap is then the proxy's.
pub struct PerClient {
    most: usize,
    busy: Mutex<HashMap<IpAddr, usize>>,
}

impl PerClient {
    /// At most `most` (at least 1) workers per client address.
    pub fn new(most: usize) -> Self {
        PerClient {
            most: most.max(1),
            busy: Mutex::default(),
        }
    }

    /// Takes a worker for `client`, or `None` when it holds its share.
    fn enter(&self, client: Option<IpAddr>) -> Option<Slot<'_>> {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        let client = client?;
        let count = busy.entry(client).or_default();
        if *count >= self.most {
            return None;
        }
        *count += 1;
        Some(Slot { of: self, client })
    }
}

/// One worker held for a client; given back when dropped.
struct Slot<'a> {
    of: &'a PerClient,
    client: IpAddr,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut busy = self.of.busy.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = busy.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                busy.remove(&self.client);
            }
        }
    }
}

/// Runs `/work` on a worker thread.
pub fn run(exchange: Exchange, ms: Option<u64>, limit: &PerClient) {
    let Some(ms) = ms.filter(|ms| *ms <= MAX_WORK_MS) else {
        let _ = exchange.respond(Response::text(400, "need ?ms=N with N <= 60000\n"));
        return;
    };
    let Some(_slot) = limit.enter(exchange.request().peer_addr().map(|a| a.ip())) else {
        let busy = Response::text(503, "this client already keeps its share of workers busy\n")
            .with_header("Retry-After", "1");
        let _ = exchange.respond(busy);
        return;
    };
    // Its own deadline: the server-wide response timeout (30 s) would
    // answer 503 for any longer job.
    exchange.set_response_timeout(Duration::from_millis(ms) + SLACK);
    // The "work" is a wait that ends early if the client leaves: a worker
    // should never keep working for nobody.
    if let Some(reason) = exchange.wait_closed(Duration::from_millis(ms)) {
        log::info!("/work?ms={ms}: the client left ({reason}); stopping");
        return exchange.abandon();
    }
    if let Err(undelivered) = exchange.respond(Response::text(200, format!("worked {ms} ms"))) {
        log::info!("/work?ms={ms}: {undelivered}");
    }
}
