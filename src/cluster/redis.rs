//! A feed shared through Redis (feature `redis`): one stream per feed
//! whose entry ids are the offsets, a meta hash holding the epoch and the
//! top offset, and a channel announcing each append. An append is one Lua
//! script (epoch, offset, `XADD … MAXLEN`, `PUBLISH`), so every process
//! sees the same order. Each process mirrors the stream into its own
//! history on a thread of its own and serves its readers from that; the
//! channel is only a hint to read the stream, which is the truth, so a
//! lost announcement delays an event by at most [`LOOK_EVERY`], never
//! loses it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use bytes::Bytes;

use super::log::{fresh_epoch, FeedError, Log};

/// How often the mirror reads the stream without an announcement.
pub(super) const LOOK_EVERY: Duration = Duration::from_secs(1);
/// How long a command may take before the connection counts as broken.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Reconnection back-off, doubling from the first to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

const APPEND: &str = r"
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 's', 0)
end
local top = redis.call('HINCRBY', KEYS[1], 's', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], top .. '-0', 'd', ARGV[2])
redis.call('PUBLISH', KEYS[3], epoch .. ':' .. top)
return {epoch, top}
";

/// Makes the feed exist (empty, under this process's candidate epoch) if
/// it does not, and returns its epoch: so a feed has an epoch from the
/// moment a process opens it, and again as soon as a process sees Redis
/// come back empty, not only once someone appends.
const ENSURE: &str = r"
if redis.call('HSETNX', KEYS[1], 'e', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 's', 0)
  redis.call('DEL', KEYS[2])
end
return redis.call('HGET', KEYS[1], 'e')
";

/// The keys of one feed (the `{name}` hash tag keeps them in one Redis
/// Cluster slot, as a script needs), and what the mirror runs on them.
#[derive(Debug, Clone)]
struct Keys {
    meta: String,
    log: String,
    channel: String,
    ensure: redis::Script,
}

impl Keys {
    fn new(name: &str) -> Keys {
        Keys {
            meta: format!("tether:feed:{{{name}}}:meta"),
            log: format!("tether:feed:{{{name}}}:log"),
            channel: format!("tether:feed:{{{name}}}"),
            ensure: redis::Script::new(ENSURE),
        }
    }
}

/// The Redis side of a feed: where appends go.
pub(crate) struct RedisFeed {
    client: redis::Client,
    keys: Keys,
    script: redis::Script,
    /// The connection appends use; `None` after it broke (the next append
    /// connects again).
    conn: Mutex<Option<redis::Connection>>,
    /// What the mirror thread tells of its connection.
    link: Arc<Link>,
}

/// The mirror's connection, as `Feed::stats` reports it.
#[derive(Debug, Default)]
struct Link {
    connected: AtomicBool,
    /// Sessions begun after the first.
    reconnects: AtomicU64,
}

impl std::fmt::Debug for RedisFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisFeed")
            .field("log", &self.keys.log)
            .finish()
    }
}

impl RedisFeed {
    pub(super) fn new(url: &str, name: &str) -> Result<RedisFeed, FeedError> {
        let client = redis::Client::open(url).map_err(|_| FeedError::InvalidUrl)?;
        Ok(RedisFeed {
            client,
            keys: Keys::new(name),
            script: redis::Script::new(APPEND),
            conn: Mutex::new(None),
            link: Arc::default(),
        })
    }

    /// Appends through the script: the event's epoch and offset. Fails at
    /// once, never waiting for Redis to come back, when it cannot be
    /// reached.
    pub(super) fn append(&self, data: &Bytes, max_events: usize) -> Result<(u64, u64), FeedError> {
        let (epoch, offset): (String, u64) = self
            .call(|conn| {
                self.script
                    .key(&self.keys.meta)
                    .key(&self.keys.log)
                    .key(&self.keys.channel)
                    .arg(candidate())
                    .arg(data.as_ref())
                    .arg(max_events)
                    .invoke(conn)
            })
            .map_err(unavailable)?;
        let epoch = u64::from_str_radix(&epoch, 16).map_err(|_| FeedError::Unavailable)?;
        Ok((epoch, offset))
    }

    /// The newest offset Redis holds, if it can be asked.
    pub(super) fn top(&self) -> Option<u64> {
        self.call(|conn| redis::cmd("HGET").arg(&self.keys.meta).arg("s").query(conn))
            .ok()
            .flatten()
    }

    /// Runs `command` on the appends' connection, connecting first if it
    /// has none; a failure drops the connection, so the next call
    /// connects again.
    fn call<T>(
        &self,
        command: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> redis::RedisResult<T> {
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

    pub(super) fn is_connected(&self) -> bool {
        self.link.connected.load(Ordering::Relaxed)
    }

    pub(super) fn reconnects(&self) -> u64 {
        self.link.reconnects.load(Ordering::Relaxed)
    }

    /// Starts the thread that mirrors the stream into `shared` for as long
    /// as the feed lives.
    pub(super) fn mirror(&self, shared: Weak<Log>) {
        let (client, keys, link) = (
            self.client.clone(),
            self.keys.clone(),
            Arc::clone(&self.link),
        );
        let spawned = std::thread::Builder::new()
            .name("tether-feed-mirror".into())
            .spawn(move || mirror(&client, &keys, &shared, &link));
        if let Err(err) = spawned {
            log::error!("feed {}: cannot start its mirror: {err}", self.keys.log);
        }
    }

    /// One look at the stream now, on the caller's thread: a feed made
    /// while Redis is up serves its history at once.
    pub(super) fn sync_once(&self, shared: &Log) {
        if let Ok(mut conn) = connect(&self.client) {
            if let Err(err) = pull(&mut conn, &self.keys, shared) {
                log::debug!("feed {}: first read failed: {err}", self.keys.log);
            }
        }
    }
}

/// The epoch offered should the feed not exist: fresh every time, so a feed
/// Redis lost and one made again never share an epoch (their offsets both
/// start at 1).
fn candidate() -> String {
    format!("{:x}", fresh_epoch())
}

fn unavailable(err: redis::RedisError) -> FeedError {
    log::debug!("feed append failed: {err}");
    FeedError::Unavailable
}

fn connect(client: &redis::Client) -> redis::RedisResult<redis::Connection> {
    let conn = client.get_connection_with_timeout(COMMAND_TIMEOUT)?;
    conn.set_read_timeout(Some(COMMAND_TIMEOUT))?;
    conn.set_write_timeout(Some(COMMAND_TIMEOUT))?;
    Ok(conn)
}

/// The mirror thread: a session until it breaks, then again after a
/// back-off; it ends when the feed is dropped.
fn mirror(client: &redis::Client, keys: &Keys, shared: &Weak<Log>, link: &Link) {
    let mut backoff = BACKOFF.0;
    let mut sessions = 0u64;
    while shared.strong_count() > 0 {
        let result = session(client, keys, shared, &mut || {
            // Connected: the next loss starts its back-off afresh.
            link.connected.store(true, Ordering::Relaxed);
            if sessions > 0 {
                link.reconnects.fetch_add(1, Ordering::Relaxed);
                log::info!("feed {}: Redis is back", keys.log);
            }
            sessions += 1;
            backoff = BACKOFF.0;
        });
        link.connected.store(false, Ordering::Relaxed);
        match result {
            Ok(()) => return,
            Err(err) => log::warn!(
                "feed {}: Redis: {err}; trying again in {backoff:?}",
                keys.log
            ),
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

/// Subscribes to the announcements, then reads the stream whenever one
/// comes, and every [`LOOK_EVERY`] regardless. Subscribing first means no
/// append between the two is missed.
fn session(
    client: &redis::Client,
    keys: &Keys,
    shared: &Weak<Log>,
    connected: &mut dyn FnMut(),
) -> redis::RedisResult<()> {
    let mut conn = connect(client)?;
    let mut hint = connect(client)?;
    let mut hints = hint.as_pubsub();
    hints.subscribe(&keys.channel)?;
    hints.set_read_timeout(Some(LOOK_EVERY))?;
    connected();
    loop {
        let Some(feed) = shared.upgrade() else {
            return Ok(());
        };
        pull(&mut conn, keys, &feed)?;
        drop(feed);
        match hints.get_message() {
            Ok(_) => {}
            Err(err) if err.is_timeout() => {}
            Err(err) => return Err(err),
        }
    }
}

/// Reads what the stream holds past the mirror's newest event (all of it
/// when the epoch changed) into the mirror.
fn pull(conn: &mut redis::Connection, keys: &Keys, shared: &Log) -> redis::RedisResult<()> {
    let epoch: String = keys
        .ensure
        .key(&keys.meta)
        .key(&keys.log)
        .arg(candidate())
        .invoke(conn)?;
    let Ok(epoch) = u64::from_str_radix(&epoch, 16) else {
        log::warn!(
            "feed {}: an epoch not written by tether: {epoch:?}",
            keys.log
        );
        return Ok(());
    };
    shared.adopt_epoch(epoch);
    let page = shared.max_events();
    loop {
        let from = format!("{}-0", shared.lock().next_offset());
        let entries: Vec<(String, std::collections::HashMap<String, Vec<u8>>)> =
            redis::cmd("XRANGE")
                .arg(&keys.log)
                .arg(&from)
                .arg("+")
                .arg("COUNT")
                .arg(page)
                .query(conn)?;
        let got = entries.len();
        for (id, mut fields) in entries {
            let offset = id.split('-').next().and_then(|o| o.parse::<u64>().ok());
            if let (Some(offset), Some(data)) = (offset, fields.remove("d")) {
                shared.record(epoch, offset, Bytes::from(data));
            }
        }
        if got < page {
            return Ok(());
        }
    }
}

/// Serves `log` from Redis: one look at the stream now, then the mirror
/// thread.
pub(super) fn start(redis: &RedisFeed, log: &Arc<Log>) {
    redis.sync_once(log);
    redis.mirror(Arc::downgrade(log));
}
