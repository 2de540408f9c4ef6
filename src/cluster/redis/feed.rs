//! A feed shared through Redis (feature `redis`): one stream per feed
//! whose entry ids are the offsets, a meta hash holding the epoch and the
//! top offset, and a channel announcing each append. An append is one Lua
//! script (epoch, offset, `XADD … MAXLEN`, `PUBLISH`), so every process
//! sees the same order. Each process mirrors the stream into its own
//! history on a thread of its own and serves its readers from that; the
//! channel is only a hint to read the stream, which is the truth, so a
//! lost announcement delays an event by at most [`LOOK_EVERY`], never
//! loses it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;

use super::{candidate, connect, spawn, Calls, Link};
use crate::cluster::log::{FeedError, Log};

/// How often the mirror reads the stream without an announcement.
pub(crate) const LOOK_EVERY: Duration = Duration::from_secs(1);

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
    /// The connection appends use.
    calls: Calls,
    /// What the mirror thread tells of its connection.
    link: Arc<Link>,
}

impl std::fmt::Debug for RedisFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisFeed")
            .field("log", &self.keys.log)
            .finish()
    }
}

impl RedisFeed {
    pub(crate) fn new(url: &str, name: &str) -> Result<RedisFeed, FeedError> {
        let client = redis::Client::open(url).map_err(|_| FeedError::InvalidUrl)?;
        let link = Arc::<Link>::default();
        Ok(RedisFeed {
            calls: Calls::new(client.clone(), Arc::clone(&link)),
            client,
            keys: Keys::new(name),
            script: redis::Script::new(APPEND),
            link,
        })
    }

    /// Appends through the script: the event's epoch and offset. Fails at
    /// once, never waiting for Redis to come back, when it cannot be
    /// reached.
    pub(crate) fn append(&self, data: &Bytes, max_events: usize) -> Result<(u64, u64), FeedError> {
        let (epoch, offset): (String, u64) = self
            .calls
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
    pub(crate) fn top(&self) -> Option<u64> {
        self.calls
            .call(|conn| redis::cmd("HGET").arg(&self.keys.meta).arg("s").query(conn))
            .ok()
            .flatten()
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.link.is_connected()
    }

    pub(crate) fn reconnects(&self) -> u64 {
        self.link.reconnects()
    }

    /// Starts the thread that mirrors the stream into `shared` for as long
    /// as the feed lives.
    pub(crate) fn mirror(&self, shared: Weak<Log>) {
        let (client, keys, link) = (
            self.client.clone(),
            self.keys.clone(),
            Arc::clone(&self.link),
        );
        spawn("tether-feed-mirror", move || {
            mirror(&client, &keys, &shared, &link)
        });
    }

    /// One look at the stream now, on the caller's thread: a feed made
    /// while Redis is up serves its history at once.
    pub(crate) fn sync_once(&self, shared: &Log) {
        if let Ok(mut conn) = connect(&self.client) {
            if let Err(err) = pull(&mut conn, &self.keys, shared) {
                log::debug!("feed {}: first read failed: {err}", self.keys.log);
            }
        }
    }
}

fn unavailable(err: redis::RedisError) -> FeedError {
    log::debug!("feed append failed: {err}");
    FeedError::Unavailable
}

/// The mirror thread: sessions with back-off until the feed is dropped.
fn mirror(client: &redis::Client, keys: &Keys, shared: &Weak<Log>, link: &Link) {
    let what = format!("feed {}", keys.log);
    link.run(
        &what,
        || shared.strong_count() > 0,
        |connected| session(client, keys, shared, connected),
    );
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
pub(crate) fn start(redis: &RedisFeed, log: &Arc<Log>) {
    redis.sync_once(log);
    redis.mirror(Arc::downgrade(log));
}
