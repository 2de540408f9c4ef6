//! What the demo keeps past one connection — the long-poll queue, the
//! feed and the chat's group — in this process, or with `--redis` shared by every demo process
//! on that Redis; and how `/stats` and `/metrics` show it.

use std::time::Duration;

use tether::cluster::{Broker, BrokerError, BrokerOptions, Feed, FeedError, Groups};
use tether::{Exchange, Request, Response};

/// The demo's one feed: at most this many events, and bytes of them.
const FEED_EVENTS: usize = 1000;
const FEED_BYTES: usize = 1024 * 1024;
/// The name of the demo's queue and feed in Redis.
const NAME: &str = "demo";

/// The queue `/publish` and `/poll` share, the feed, and the groups
/// `/ws/chat` broadcasts to.
#[derive(Clone)]
pub struct Cluster {
    pub broker: Broker,
    pub feed: Feed,
    pub groups: Groups,
}

/// The queue's terms from the command line.
pub fn broker_options(
    ack_timeout: Option<Duration>,
    claim_after: Option<Duration>,
) -> BrokerOptions {
    // 65,536 messages, 16 MiB (each message counting 64 bytes besides its
    // own): the demo's bound since the first long poll.
    let options = BrokerOptions::default().ack_timeout(ack_timeout);
    match claim_after {
        Some(after) => options.claim_after(after),
        None => options,
    }
}

impl Cluster {
    /// In this process, or on the Redis at `redis`.
    pub fn open(redis: Option<&str>, options: BrokerOptions) -> Result<Cluster, String> {
        let Some(url) = redis else {
            return Ok(Cluster {
                broker: Broker::new(options),
                feed: Feed::new(FEED_EVENTS, FEED_BYTES),
                groups: Groups::new(),
            });
        };
        #[cfg(feature = "redis")]
        {
            let feed = Feed::redis(url, NAME, FEED_EVENTS, FEED_BYTES)
                .map_err(|err| format!("--redis {url}: {err}"))?;
            let broker =
                Broker::redis(url, NAME, options).map_err(|err| format!("--redis {url}: {err}"))?;
            let groups = Groups::redis(url).map_err(|err| format!("--redis {url}: {err}"))?;
            Ok(Cluster {
                broker,
                feed,
                groups,
            })
        }
        #[cfg(not(feature = "redis"))]
        {
            let _ = (options, NAME);
            Err(format!(
                "--redis {url}: this demo was built without Redis: \
                 cargo run --release --features redis --example demo -- --redis {url}"
            ))
        }
    }

    /// `POST /publish`: the body, for exactly one poller; `202` with its id.
    pub fn publish(&self, exchange: &mut Exchange) -> Response {
        let body = exchange.request_mut().take_body();
        match self.broker.publish(body) {
            Ok(id) => {
                Response::text(202, format!("{id}\n")).with_header("Message-Id", id.to_string())
            }
            Err(BrokerError::TooLarge) => Response::text(413, "larger than the queue holds\n"),
            // Bounded in bytes: while nobody polls, refuse; never hoard.
            // Redis down: nothing was half done; try again shortly.
            Err(err) => Response::text(503, format!("{err}\n")).with_header("Retry-After", "1"),
        }
    }

    /// Acknowledges `id` (`POST /ack`, `?ack=`): `None` when done (owed or
    /// not: an acknowledgement is idempotent), else the refusal.
    pub fn ack(&self, id: &str) -> Option<Response> {
        match self.broker.ack(id) {
            Ok(_) => None,
            Err(BrokerError::InvalidId) => Some(Response::text(400, "not a message id\n")),
            Err(err) => {
                Some(Response::text(503, format!("{err}\n")).with_header("Retry-After", "1"))
            }
        }
    }

    /// `POST /feed`: the body (UTF-8 text) becomes the feed's next event.
    pub fn append_to_feed(&self, req: &Request) -> Response {
        let Ok(text) = std::str::from_utf8(req.body()) else {
            return Response::text(400, "a feed event is UTF-8 text\n");
        };
        match self.feed.append(text.to_owned()) {
            // The feed tells the stream thread (`on_change`).
            Ok(id) => Response::text(202, format!("{id}\n")),
            Err(FeedError::TooLarge) => Response::text(413, "larger than the feed holds\n"),
            Err(err) => Response::text(503, format!("{err}\n")).with_header("Retry-After", "1"),
        }
    }

    /// The `cluster` object of `/stats`.
    pub fn stats_json(&self) -> String {
        let (f, b, g) = (self.feed.stats(), self.broker.stats(), self.groups.stats());
        format!(
            "{{\"engine\":\"{}\",\"connected\":{},\"feed_appended\":{},\"feed_refused\":{},\
             \"feed_mirrored\":{},\"feed_restarts\":{},\"reconnects\":{},\"process\":{},\
             \"published\":{},\"publish_refused\":{},\"delivered\":{},\"acked\":{},\
             \"requeued\":{},\"claimed\":{},\"dead_lettered\":{},\"waiting\":{},\"owed\":{},\
             \"group_broadcasts\":{},\"group_relayed_out\":{},\"group_relayed_in\":{},\
             \"group_relay_dropped\":{},\"group_listening\":{}}}",
            f.engine,
            f.connected && b.connected && g.connected,
            f.appended,
            f.refused,
            f.mirrored,
            f.restarts,
            f.reconnects + b.reconnects + g.reconnects,
            std::process::id(),
            b.published,
            b.refused,
            b.delivered,
            b.acked,
            b.requeued,
            b.claimed,
            b.dead_lettered,
            b.waiting,
            b.owed,
            g.broadcasts,
            g.relayed_out,
            g.relayed_in,
            g.relay_dropped,
            g.listening,
        )
    }

    /// The same figures for `/metrics`, in OpenMetrics text, before the
    /// document's `# EOF`.
    pub fn metrics(&self) -> String {
        let (f, b, g) = (self.feed.stats(), self.broker.stats(), self.groups.stats());
        let connected = u64::from(f.connected && b.connected && g.connected);
        let families: [(&str, &str, &str, u64); 17] = [
            (
                "connected",
                "gauge",
                "1 while the engine can be reached.",
                connected,
            ),
            (
                "published",
                "counter",
                "Messages published here.",
                b.published,
            ),
            (
                "publish_refused",
                "counter",
                "Publishes refused here (full, too large, engine down).",
                b.refused,
            ),
            (
                "delivered",
                "counter",
                "Messages written in full to a poller here.",
                b.delivered,
            ),
            ("acked", "counter", "Messages acknowledged here.", b.acked),
            (
                "requeued",
                "counter",
                "Messages put back for another poller.",
                b.requeued,
            ),
            (
                "claimed",
                "counter",
                "Messages taken over from a process that stopped answering.",
                b.claimed,
            ),
            (
                "dead_lettered",
                "counter",
                "Messages set aside after too many deliveries.",
                b.dead_lettered,
            ),
            (
                "reconnects",
                "counter",
                "Sessions with the engine begun after the first.",
                f.reconnects + b.reconnects + g.reconnects,
            ),
            (
                "waiting",
                "gauge",
                "Pollers waiting here now.",
                b.waiting as u64,
            ),
            (
                "owed",
                "gauge",
                "Messages delivered here awaiting an acknowledgement.",
                b.owed as u64,
            ),
            (
                "feed_appended",
                "counter",
                "Feed events appended here.",
                f.appended,
            ),
            (
                "feed_mirrored",
                "counter",
                "Feed events mirrored from the engine.",
                f.mirrored,
            ),
            (
                "group_broadcasts",
                "counter",
                "Group broadcasts made here.",
                g.broadcasts,
            ),
            (
                "group_relayed_out",
                "counter",
                "Group broadcasts relayed to other processes.",
                g.relayed_out,
            ),
            (
                "group_relayed_in",
                "counter",
                "Group broadcasts from other processes delivered here.",
                g.relayed_in,
            ),
            (
                "group_relay_dropped",
                "counter",
                "Group broadcasts delivered here only: the engine was away.",
                g.relay_dropped,
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, value) in families {
            let suffix = if kind == "counter" { "_total" } else { "" };
            out.push_str(&format!(
                "# HELP tether_cluster_{name} {help}\n# TYPE tether_cluster_{name} {kind}\n\
                 tether_cluster_{name}{suffix} {value}\n"
            ));
        }
        out.push_str(&format!(
            "# HELP tether_cluster_engine The engine state is kept in.\n\
             # TYPE tether_cluster_engine info\n\
             tether_cluster_engine_info{{engine=\"{}\"}} 1\n",
            f.engine
        ));
        out
    }
}
