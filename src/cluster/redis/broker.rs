//! The broker's Redis engine: one stream and consumer group per queue,
//! one consumer per process. A process pulls only as many entries as it
//! has hungry pollers (`XREADGROUP … COUNT n BLOCK`), settles an entry
//! (`XACK`, `XDEL`) only after the write's verdict or the client's
//! acknowledgement, hands back at once what no poller here can take, and
//! sweeps (`XAUTOCLAIM`) entries a dead process held. Writes the line
//! asks for run on a writer thread, so the line never waits for Redis.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{candidate, connect, scripts, spawn, Calls, Link, BACKOFF, COMMAND_TIMEOUT};
use crate::cluster::message::{
    cost, BrokerError, Counters, Engine, Event, Message, MessageId, MESSAGE_OVERHEAD_BYTES,
};

/// The consumer group every process reads the queue in.
const GROUP: &str = "tether";
/// How long a pull waits in Redis for an entry before looking again.
const BLOCK: Duration = Duration::from_secs(1);
/// How often a process with hungry pollers sweeps for a dead process's
/// entries.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Most dead letters kept (`MAXLEN ~`).
const DEAD_LETTERS_KEPT: usize = 10_000;
/// Most writes held while Redis cannot be reached; past it the oldest go
/// (their entries come back through a sweep: a duplicate, never a loss).
const MAX_PENDING_WRITES: usize = 65_536;
/// Entries renewed per script call.
const KEEP_ALIVE_BATCH: usize = 500;

/// Stream entries as `XRANGE` and `XREADGROUP` give them.
type Entries = Vec<(String, HashMap<String, Vec<u8>>)>;

/// The keys of one queue.
#[derive(Debug, Clone)]
struct Keys {
    queue: String,
    meta: String,
    idx: String,
    dead: String,
}

impl Keys {
    fn new(name: &str) -> Keys {
        let key = |part: &str| format!("tether:broker:{{{name}}}:{part}");
        Keys {
            queue: key("q"),
            meta: key("meta"),
            idx: key("idx"),
            dead: key("dead"),
        }
    }
}

/// Pollers here with no message yet, as the line last said, and what the
/// puller has sent that the line has not taken.
#[derive(Debug, Default)]
struct Demand {
    hungry: Mutex<usize>,
    changed: Condvar,
    in_hand: AtomicUsize,
}

impl Demand {
    /// How many entries to pull, waiting up to `timeout` for a reason to.
    fn wanted(&self, timeout: Duration) -> usize {
        let guard = self.hungry.lock().unwrap_or_else(PoisonError::into_inner);
        let in_hand = || self.in_hand.load(Ordering::Relaxed);
        let (hungry, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |hungry| *hungry <= in_hand())
            .unwrap_or_else(PoisonError::into_inner);
        hungry.saturating_sub(in_hand())
    }
}

/// A write the line asked for.
enum Write {
    Settle(Message),
    Release(Message, bool),
    DeadLetter(Message),
    KeepAlive(Vec<Box<str>>),
}

/// What the puller and the writer share with the engine.
#[derive(Debug)]
struct Common {
    client: redis::Client,
    keys: Keys,
    /// This process's consumer in the group.
    me: String,
    claim_after: Duration,
    counters: Arc<Counters>,
    link: Arc<Link>,
    demand: Demand,
}

pub(crate) struct RedisBroker {
    common: Arc<Common>,
    calls: Calls,
    publish: redis::Script,
    settle: redis::Script,
    max_messages: usize,
    max_bytes: usize,
    writes: Sender<Write>,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker")
            .field("queue", &self.common.keys.queue)
            .field("me", &self.common.me)
            .finish()
    }
}

impl RedisBroker {
    /// The engine, its puller sending to `line` and its writer running.
    pub(crate) fn start(
        url: &str,
        name: &str,
        limits: (usize, usize),
        claim_after: Duration,
        counters: Arc<Counters>,
        line: Sender<Event>,
    ) -> Result<RedisBroker, BrokerError> {
        let client = redis::Client::open(url).map_err(|_| BrokerError::InvalidUrl)?;
        let link = Arc::<Link>::default();
        let calls = Calls::new(client.clone(), Arc::clone(&link));
        let common = Arc::new(Common {
            client,
            keys: Keys::new(name),
            me: format!("{}-{}", std::process::id(), candidate()),
            claim_after,
            counters,
            link,
            demand: Demand::default(),
        });
        let (writes, inbox) = std::sync::mpsc::channel();
        spawn("tether-broker-pull", {
            let common = Arc::downgrade(&common);
            move || pull(&common, &line)
        });
        spawn("tether-broker-write", {
            let common = Arc::downgrade(&common);
            move || write(&common, &inbox)
        });
        Ok(RedisBroker {
            common,
            calls,
            publish: redis::Script::new(scripts::PUBLISH),
            settle: redis::Script::new(&scripts::settle()),
            max_messages: limits.0,
            max_bytes: limits.1,
            writes,
        })
    }

    fn queue_write(&self, write: Write) {
        let _ = self.writes.send(write);
    }

    /// Runs a call from the application's thread (failing at once while
    /// Redis is known to be down).
    fn call<T>(
        &self,
        command: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, BrokerError> {
        self.calls.call(command).map_err(|err| {
            log::debug!("broker {}: {err}", self.common.keys.queue);
            BrokerError::Unavailable
        })
    }
}

/// A Redis stream entry id, `<ms>-<seq>`: what a message id from this
/// engine looks like.
fn is_entry_id(id: &str) -> bool {
    id.split_once('-').is_some_and(|(ms, seq)| {
        !ms.is_empty()
            && !seq.is_empty()
            && (ms.bytes().chain(seq.bytes())).all(|b| b.is_ascii_digit())
    })
}

impl Engine for RedisBroker {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn is_connected(&self) -> bool {
        self.common.link.is_connected()
    }

    fn reconnects(&self) -> u64 {
        self.common.link.reconnects()
    }

    fn publish(&self, data: Bytes) -> Result<MessageId, BrokerError> {
        let cost = cost(data.len());
        if cost > self.max_bytes {
            return Err(BrokerError::TooLarge);
        }
        let keys = &self.common.keys;
        let entry: Option<String> = self.call(|conn| {
            self.publish
                .key(&keys.meta)
                .key(&keys.queue)
                .arg(data.as_ref())
                .arg(cost)
                .arg(self.max_bytes)
                .arg(self.max_messages)
                .invoke(conn)
        })?;
        entry.ok_or(BrokerError::Full)?.parse()
    }

    fn ack(&self, id: &MessageId, _held: Option<&Message>) -> Result<bool, BrokerError> {
        if !is_entry_id(id.as_str()) {
            return Ok(false); // no id of this engine's
        }
        let keys = &self.common.keys;
        let acked: i64 = self.call(|conn| {
            self.settle
                .key(&keys.queue)
                .key(&keys.meta)
                .key(&keys.idx)
                .arg(GROUP)
                .arg(id.as_str())
                .arg(MESSAGE_OVERHEAD_BYTES)
                .invoke(conn)
        })?;
        Ok(acked == 1)
    }

    fn settle(&self, message: &Message) {
        self.queue_write(Write::Settle(message.clone()));
    }

    fn release(&self, message: Message, count: bool) -> Option<Message> {
        self.queue_write(Write::Release(message, count));
        None
    }

    fn dead_letter(&self, message: Message) {
        self.queue_write(Write::DeadLetter(message));
    }

    fn keeps_messages(&self) -> bool {
        false
    }

    fn want(&self, hungry: usize) {
        let demand = &self.common.demand;
        let mut now = demand.hungry.lock().unwrap_or_else(PoisonError::into_inner);
        if *now != hungry {
            *now = hungry;
            demand.changed.notify_all();
        }
    }

    fn arrived(&self) {
        let in_hand = &self.common.demand.in_hand;
        let _ = in_hand.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            Some(n.saturating_sub(1))
        });
    }

    fn keep_alive(&self, entries: Vec<Box<str>>) {
        self.queue_write(Write::KeepAlive(entries));
    }
}

/// The puller: sessions with back-off until the engine is dropped.
fn pull(common: &Weak<Common>, line: &Sender<Event>) {
    // Only the link is held for the thread's life: the engine's end is
    // seen as the last strong reference going.
    let Some((link, what)) = common
        .upgrade()
        .map(|c| (Arc::clone(&c.link), format!("broker {}", c.keys.queue)))
    else {
        return;
    };
    link.run(
        &what,
        || common.strong_count() > 0,
        |connected| pull_session(common, line, connected),
    );
}

/// Makes the group (reading the stream from its start: nothing published
/// before it is skipped), then pulls what hungry pollers want.
fn pull_session(
    common: &Weak<Common>,
    line: &Sender<Event>,
    connected: &mut dyn FnMut(),
) -> redis::RedisResult<()> {
    let Some(c) = common.upgrade() else {
        return Ok(());
    };
    let mut conn = connect(&c.client)?;
    conn.set_read_timeout(Some(BLOCK + COMMAND_TIMEOUT))?;
    let made: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&c.keys.queue)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query(&mut conn);
    if let Err(err) = made {
        if err.code() != Some("BUSYGROUP") {
            return Err(err);
        }
    }
    connected();
    drop(c);
    let mut cursor = String::from("0-0");
    let mut last_sweep: Option<Instant> = None;
    loop {
        let Some(c) = common.upgrade() else {
            return Ok(());
        };
        let mut wanted = c.demand.wanted(BLOCK);
        if wanted == 0 {
            continue;
        }
        if last_sweep.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) {
            last_sweep = Some(Instant::now());
            let claimed = sweep(&mut conn, &c, &mut cursor, wanted)?;
            wanted = wanted.saturating_sub(claimed.len());
            for message in claimed {
                Counters::add(&c.counters.claimed);
                hand(&c, line, message);
            }
            if wanted == 0 {
                // As many as asked for: more may wait; sweep again as soon
                // as pollers want more, not a second later.
                last_sweep = None;
                continue;
            }
        }
        let reply: Option<Vec<(String, Entries)>> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(&c.me)
            .arg("COUNT")
            .arg(wanted)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&c.keys.queue)
            .arg(">")
            .query(&mut conn)?;
        for (_, entries) in reply.unwrap_or_default() {
            for (entry, fields) in entries {
                if let Some(message) = message(entry, fields, 0) {
                    hand(&c, line, message);
                }
            }
        }
    }
}

fn hand(common: &Common, line: &Sender<Event>, message: Message) {
    common.demand.in_hand.fetch_add(1, Ordering::Relaxed);
    if line.send(Event::Arrived(message)).is_err() {
        common.demand.in_hand.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A message from a stream entry; `claimed` deliveries added to those it
/// records (1 for an entry taken from a dead process, which may have
/// written it).
fn message(entry: String, mut fields: HashMap<String, Vec<u8>>, claimed: u32) -> Option<Message> {
    let data = fields.remove("d")?;
    let id = match fields.remove("i") {
        Some(id) => String::from_utf8(id).ok()?,
        None => entry.clone(),
    };
    let deliveries = fields
        .remove("c")
        .and_then(|c| String::from_utf8(c).ok()?.parse::<u32>().ok())
        .unwrap_or(0);
    Some(Message {
        id: id.parse().ok()?,
        entry: entry.into(),
        data: Bytes::from(data),
        deliveries: deliveries.saturating_add(claimed),
    })
}

/// Claims up to `wanted` entries idle past `claim_after` (held by a
/// process that stopped answering), resuming the scan at `cursor`.
fn sweep(
    conn: &mut redis::Connection,
    c: &Common,
    cursor: &mut String,
    wanted: usize,
) -> redis::RedisResult<Vec<Message>> {
    let reply: Vec<redis::Value> = redis::cmd("XAUTOCLAIM")
        .arg(&c.keys.queue)
        .arg(GROUP)
        .arg(&c.me)
        .arg(c.claim_after.as_millis() as u64)
        .arg(cursor.as_str())
        .arg("COUNT")
        .arg(wanted)
        .query(conn)?;
    let mut reply = reply.into_iter();
    if let Some(next) = reply.next() {
        *cursor = redis::from_redis_value(next).unwrap_or_else(|_| "0-0".into());
    }
    // Entries deleted meanwhile come back without fields (Redis 6.2): skip.
    let entries: Vec<redis::Value> = reply
        .next()
        .and_then(|v| redis::from_redis_value(v).ok())
        .unwrap_or_default();
    Ok(entries
        .into_iter()
        .filter_map(|v| redis::from_redis_value::<(String, HashMap<String, Vec<u8>>)>(v).ok())
        .filter_map(|(entry, fields)| message(entry, fields, 1))
        .collect())
}

/// The writer: runs the line's writes in order, holding them while Redis
/// cannot be reached and trying again with back-off.
fn write(common: &Weak<Common>, inbox: &Receiver<Write>) {
    let scripts = Scripts::new();
    let mut held: VecDeque<Write> = VecDeque::new();
    let mut conn: Option<redis::Connection> = None;
    let mut backoff = BACKOFF.0;
    loop {
        if held.is_empty() {
            match inbox.recv() {
                Ok(write) => held.push_back(write),
                Err(_) => return,
            }
        }
        held.extend(inbox.try_iter());
        while held.len() > MAX_PENDING_WRITES {
            held.pop_front();
            log::warn!("broker writes dropped while Redis is away: a sweep brings them back");
        }
        let Some(c) = common.upgrade() else {
            return;
        };
        while let Some(next) = held.front() {
            if conn.is_none() {
                match connect(&c.client) {
                    Ok(made) => conn = Some(made),
                    Err(err) => {
                        backoff = back_off(&c, &err, backoff);
                        break;
                    }
                }
            }
            let Some(live) = conn.as_mut() else {
                break;
            };
            match scripts.run(live, &c, next) {
                Ok(()) => {
                    held.pop_front();
                    backoff = BACKOFF.0;
                }
                Err(err) if broken(&err) => {
                    conn = None;
                    backoff = back_off(&c, &err, backoff);
                    break;
                }
                Err(err) => {
                    // Redis refused it (the queue was lost with a restart):
                    // nothing to retry.
                    log::debug!("broker {}: write refused: {err}", c.keys.queue);
                    held.pop_front();
                }
            }
        }
    }
}

/// The connection is broken (not a refusal by Redis of one command).
fn broken(err: &redis::RedisError) -> bool {
    err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_unrecoverable_error()
}

/// Waits out `backoff` after a failed write; the next one.
fn back_off(c: &Common, err: &redis::RedisError, backoff: Duration) -> Duration {
    log::debug!(
        "broker {}: write failed: {err}; again in {backoff:?}",
        c.keys.queue
    );
    std::thread::sleep(backoff);
    (backoff * 2).min(BACKOFF.1)
}

/// The scripts the writer runs.
struct Scripts {
    settle: redis::Script,
    release: redis::Script,
    dead_letter: redis::Script,
    keep_alive: redis::Script,
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            settle: redis::Script::new(&scripts::settle()),
            release: redis::Script::new(&scripts::release()),
            dead_letter: redis::Script::new(&scripts::dead_letter()),
            keep_alive: redis::Script::new(&scripts::keep_alive()),
        }
    }

    fn run(
        &self,
        conn: &mut redis::Connection,
        c: &Common,
        write: &Write,
    ) -> redis::RedisResult<()> {
        let k = &c.keys;
        match write {
            Write::Settle(m) => {
                let _: i64 = self
                    .settle
                    .key(&k.queue)
                    .key(&k.meta)
                    .key(&k.idx)
                    .arg(GROUP)
                    .arg(m.id.as_str())
                    .arg(MESSAGE_OVERHEAD_BYTES)
                    .invoke(conn)?;
            }
            Write::Release(m, count) => {
                let released: i64 = self
                    .release
                    .key(&k.queue)
                    .key(&k.idx)
                    .arg(GROUP)
                    .arg(&c.me)
                    .arg(&*m.entry)
                    .arg(m.id.as_str())
                    .arg(m.deliveries)
                    .invoke(conn)?;
                if released == 1 && *count {
                    Counters::add(&c.counters.requeued);
                }
            }
            Write::DeadLetter(m) => {
                let set_aside: i64 = self
                    .dead_letter
                    .key(&k.queue)
                    .key(&k.meta)
                    .key(&k.idx)
                    .key(&k.dead)
                    .arg(GROUP)
                    .arg(&c.me)
                    .arg(&*m.entry)
                    .arg(m.id.as_str())
                    .arg(m.deliveries)
                    .arg(MESSAGE_OVERHEAD_BYTES)
                    .arg(DEAD_LETTERS_KEPT)
                    .invoke(conn)?;
                if set_aside == 1 {
                    Counters::add(&c.counters.dead_lettered);
                }
            }
            Write::KeepAlive(entries) => {
                for batch in entries.chunks(KEEP_ALIVE_BATCH) {
                    let mut call = self.keep_alive.key(&k.queue);
                    call.arg(GROUP).arg(&c.me);
                    for entry in batch {
                        call.arg(&**entry);
                    }
                    let _: i64 = call.invoke(conn)?;
                }
            }
        }
        Ok(())
    }
}
