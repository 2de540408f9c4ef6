//! One contract for a feed, kept by each engine: two handles on one feed
//! (two clones in one process; two `Feed::redis` on one Redis, as two
//! processes would hold) append and read it as one log.

use std::time::Duration;

use tether::cluster::{Feed, FeedItem, Subscription};

use crate::util::PATIENCE;

fn next_event(sub: &mut Subscription) -> (String, String) {
    match sub.next(PATIENCE) {
        Some(FeedItem::Event { id, data }) => {
            (id.to_string(), String::from_utf8(data.to_vec()).unwrap())
        }
        other => panic!("expected an event, got {other:?}"),
    }
}

fn texts(sub: &mut Subscription, n: usize) -> Vec<String> {
    (0..n).map(|_| next_event(sub).1).collect()
}

/// The contract. `pair(max_events)` gives two handles on a new feed.
fn keeps_the_contract(pair: impl Fn(usize) -> (Feed, Feed)) {
    // A resume on the other handle: every later event, in order, once.
    let (a, b) = pair(100);
    let ids: Vec<String> = ["one", "two", "three"]
        .iter()
        .map(|text| a.append(*text).unwrap().to_string())
        .collect();
    let mut sub = b.subscribe(Some(&ids[0]));
    assert_eq!(texts(&mut sub, 2), ["two", "three"]);
    assert_eq!(
        next_event(&mut b.subscribe(Some(&ids[1]))).0,
        ids[2],
        "ids agree"
    );
    // Live, across handles, in the order appended whoever appends.
    a.append("four").unwrap();
    b.append("five").unwrap();
    a.append("six").unwrap();
    assert_eq!(texts(&mut sub, 3), ["four", "five", "six"]);
    assert_eq!(sub.next(Duration::from_millis(50)), None, "nothing twice");
    // An id of no life of this feed: a reset, then what is held.
    let mut stranger = b.subscribe(Some("0-1"));
    assert_eq!(stranger.next(PATIENCE), Some(FeedItem::Reset));
    assert_eq!(next_event(&mut stranger).1, "one");

    // Trimmed past the id: a reset, then the newest held.
    let (a, b) = pair(3);
    let first = a.append("1").unwrap().to_string();
    for n in 2..=6 {
        a.append(n.to_string()).unwrap();
    }
    // The other handle has seen the newest before the resume.
    let last = a.last_id().unwrap().to_string();
    let mut caught_up = b.subscribe(Some(&last));
    assert_eq!(caught_up.next(Duration::from_millis(50)), None);
    let mut stale = b.subscribe(Some(&first));
    assert_eq!(stale.next(PATIENCE), Some(FeedItem::Reset));
    assert_eq!(texts(&mut stale, 3), ["4", "5", "6"]);
}

#[test]
fn the_in_process_engine_keeps_the_contract() {
    keeps_the_contract(|max_events| {
        let feed = Feed::new(max_events, 1 << 20);
        (feed.clone(), feed)
    });
}

#[cfg(feature = "redis")]
mod on_redis {
    use super::*;
    use crate::util::redis::{fresh_name, RedisServer};
    use crate::util::wait_for;
    use tether::cluster::FeedError;

    #[test]
    fn the_redis_engine_keeps_the_contract() {
        let Some(redis) = RedisServer::start("the_redis_engine_keeps_the_contract") else {
            return;
        };
        let url = redis.url();
        keeps_the_contract(|max_events| {
            let name = fresh_name();
            let open = || Feed::redis(&url, &name, max_events, 1 << 20).unwrap();
            (open(), open())
        });
    }

    #[test]
    fn redis_down_fails_appends_at_once_and_a_restart_empty_is_a_reset() {
        crate::util::init();
        let Some(mut redis) = RedisServer::start("redis_down_fails_appends") else {
            return;
        };
        let name = fresh_name();
        let a = Feed::redis(&redis.url(), &name, 100, 1 << 20).unwrap();
        let b = Feed::redis(&redis.url(), &name, 100, 1 << 20).unwrap();
        a.append("before").unwrap();
        // b's mirror has it before b's reader starts "live only", or the
        // reader would get it as a live event.
        wait_for("b to mirror the first event", || b.last_id().is_some());
        let mut sub = b.subscribe(None);
        redis.stop();
        assert_eq!(a.append("while down"), Err(FeedError::Unavailable));
        assert_eq!(sub.next(Duration::from_millis(100)), None, "readers wait");
        redis.restart_empty();
        // Appends work again without a new Feed, once a reconnect lands.
        wait_for("appends to come back", || a.append("after").is_ok());
        // The feed started over under a new epoch: the reader is told.
        assert_eq!(sub.next(PATIENCE), Some(FeedItem::Reset));
        assert_eq!(next_event(&mut sub).1, "after");
        let stats = a.stats();
        assert_eq!(stats.engine, "redis");
        assert_eq!(stats.appended, 2, "{stats:?}");
        assert!(stats.refused >= 1, "the append while down: {stats:?}");
        assert!(stats.restarts >= 1, "{stats:?}");
        // The other process's mirror is connected again.
        wait_for("the other mirror to connect again", || b.stats().connected);
    }

    #[test]
    fn a_feed_opened_while_redis_is_down_serves_once_it_is_up() {
        crate::util::init();
        let Some(mut redis) = RedisServer::start("a_feed_opened_while_redis_is_down") else {
            return;
        };
        redis.stop();
        let name = fresh_name();
        let a = Feed::redis(&redis.url(), &name, 100, 1 << 20).unwrap();
        assert_eq!(a.append("nobody"), Err(FeedError::Unavailable));
        // A reader while the feed's epoch is not known yet.
        let mut sub = a.subscribe(None);
        redis.restart_empty();
        let b = Feed::redis(&redis.url(), &name, 100, 1 << 20).unwrap();
        let id = b.append("first").unwrap().to_string();
        // a learns the epoch from its mirror: its reader is told it may
        // have missed something, then reads the feed from its start.
        let mut seen = Vec::new();
        while seen.len() < 2 {
            seen.push(sub.next(PATIENCE).expect("the mirror catches up"));
        }
        assert_eq!(seen[0], FeedItem::Reset);
        assert!(matches!(&seen[1], FeedItem::Event { id: got, .. } if got.to_string() == id));
    }

    /// Two demo processes on one Redis serve one feed: appended on one,
    /// resumed with `Last-Event-ID` and read live on the other.
    #[test]
    fn two_demo_processes_on_one_redis_share_the_feed() {
        use crate::util::demo::{append_to_feed, next_sse, read_feed, Demo};
        use crate::util::Client;
        let Some(redis) = RedisServer::start("two_demo_processes_on_one_redis_share_the_feed")
        else {
            return;
        };
        let url = redis.url();
        let (a, b) = (
            Demo::start_with(&["--redis", &url]),
            Demo::start_with(&["--redis", &url]),
        );
        let mut on_a = Client::connect(a.addr);
        let ids: Vec<String> = ["one", "two", "three"]
            .iter()
            .map(|t| append_to_feed(&mut on_a, t))
            .collect();
        let mut reader = Client::connect(b.addr);
        read_feed(&mut reader, &ids[0]);
        let mut next = || next_sse(&mut reader);
        for (id, text) in [(&ids[1], "two"), (&ids[2], "three")] {
            assert_eq!(next(), format!("event: feed\nid: {id}\ndata: {text}\n\n"));
        }
        let four = append_to_feed(&mut on_a, "four");
        assert_eq!(
            next(),
            format!("event: feed\nid: {four}\ndata: four\n\n"),
            "live, across processes"
        );
        let stats = b.stats();
        let cluster = &stats["cluster"];
        assert_eq!(cluster["engine"].as_str(), Some("redis"));
        assert_eq!(cluster["connected"].as_bool(), Some(true));
        assert!(cluster["feed_mirrored"].as_u64() >= Some(4), "{cluster}");
        a.terminate();
        b.terminate();
    }
}
