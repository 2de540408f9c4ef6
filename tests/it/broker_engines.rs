//! One contract for the long-poll broker, kept by each engine: two
//! handles on one queue (two clones in one process; two `Broker::redis` on
//! one Redis, as two processes would hold), each behind a server of its
//! own, act as one queue.

use std::net::SocketAddr;
use std::time::Duration;

use tether::cluster::{Broker, BrokerError, BrokerOptions};
use tether::{Handoff, Request, Router, Server};

use crate::util::{wait_for, Client, Reply};

/// A server whose `GET /poll?ms=N` parks on `broker`.
fn serve(broker: &Broker) -> Server {
    let router = Router::new().get("/poll", |_: &Request| Handoff::to("polls"));
    let server = Server::builder()
        .queue("polls", 64)
        .router(router)
        .bind("127.0.0.1:0")
        .unwrap();
    let broker = broker.clone();
    server.pool("polls").unwrap().workers(1, move |exchange| {
        let ms = exchange.request().query_param("ms");
        let ms = ms.and_then(|v| v.parse().ok()).unwrap_or(10_000);
        broker.poll(exchange, Duration::from_millis(ms));
    });
    server
}

/// One side of the pair: a broker handle and its server.
struct Side {
    broker: Broker,
    server: Server,
}

impl Side {
    fn new(broker: Broker) -> Side {
        Side {
            server: serve(&broker),
            broker,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// A poll sent, its answer not read yet.
    fn park(&self, ms: u64) -> Client {
        let mut client = Client::connect(self.addr());
        client.send(format!("GET /poll?ms={ms} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        client
    }

    fn poll(&self, ms: u64) -> Reply {
        self.park(ms).read_reply(false)
    }
}

fn id_of(reply: &Reply) -> String {
    assert_eq!(reply.status, 200, "{reply:?}");
    reply
        .header("message-id")
        .expect("a Message-Id")
        .to_string()
}

/// Pollers waiting on the queue: each process's line counts its own
/// (the in-process engine's two handles are one line: count it once).
fn waiting(sides: &[&Side]) -> usize {
    match sides[0].broker.stats().engine {
        "memory" => sides[0].broker.stats().waiting,
        _ => sides.iter().map(|s| s.broker.stats().waiting).sum(),
    }
}

/// The contract. `pair(options)` gives two handles on a new queue.
fn keeps_the_contract(pair: impl Fn(BrokerOptions) -> (Broker, Broker)) {
    crate::util::init();
    let (a, b) = pair(BrokerOptions::default());
    let (a, b) = (Side::new(a), Side::new(b));

    // Published on one, polled on the other, with its id.
    let id = a.broker.publish("hello").unwrap();
    let reply = b.poll(10_000);
    assert_eq!((id_of(&reply), reply.text()), (id.to_string(), "hello"));

    // Each message to exactly one poller, wherever they wait.
    let mut pollers = [
        a.park(10_000),
        a.park(10_000),
        b.park(10_000),
        b.park(10_000),
    ];
    wait_for("four parked pollers", || waiting(&[&a, &b]) == 4);
    let sent: Vec<String> = (0..4)
        .map(|i| a.broker.publish(format!("m{i}")).unwrap().to_string())
        .collect();
    let mut got: Vec<String> = pollers
        .iter_mut()
        .map(|p| id_of(&p.read_reply(false)))
        .collect();
    got.sort();
    let mut want = sent.clone();
    want.sort();
    assert_eq!(got, want, "each once, none twice");

    // A poll with nothing for it ends with 204 when its wait is over.
    assert_eq!(b.poll(100).status, 204);

    // A poller that left is dropped from the line: the next message goes
    // to the next poller, not into the void.
    let gone = b.park(10_000);
    wait_for("the poller to park", || waiting(&[&a, &b]) == 1);
    drop(gone);
    wait_for("the poller to leave the line", || waiting(&[&a, &b]) == 0);
    a.broker.publish("kept").unwrap();
    assert_eq!(a.poll(10_000).text(), "kept");

    // Bounded: in messages, and in bytes.
    let (small, _) = pair(BrokerOptions::default().max_messages(2).max_bytes(1000));
    small.publish("1").unwrap();
    small.publish("2").unwrap();
    assert_eq!(small.publish("3"), Err(BrokerError::Full));
    assert_eq!(small.publish(vec![0u8; 1000]), Err(BrokerError::TooLarge));
    assert_eq!(small.ack("not an id!"), Err(BrokerError::InvalidId));

    // Acknowledged or delivered again, by the same id; then dead-lettered.
    let terms = BrokerOptions::default()
        .ack_timeout(Some(Duration::from_millis(300)))
        .max_deliveries(3);
    let (a, b) = pair(terms);
    let (a, b) = (Side::new(a), Side::new(b));
    let id = a.broker.publish("owed").unwrap().to_string();
    let first = a.poll(10_000);
    assert_eq!(id_of(&first), id);
    let again = b.poll(10_000);
    assert_eq!(
        (id_of(&again), again.text()),
        (id.clone(), "owed"),
        "redelivered"
    );
    assert_eq!(b.broker.ack(&id), Ok(true));
    assert_eq!(a.broker.ack(&id), Ok(false), "once");
    assert_eq!(a.poll(1000).status, 204, "acknowledged: not again");
    let stats = |f: fn(&tether::cluster::BrokerStats) -> u64| match a.broker.stats().engine {
        "memory" => f(&a.broker.stats()),
        _ => f(&a.broker.stats()) + f(&b.broker.stats()),
    };
    assert_eq!(stats(|s| s.acked), 1);
    wait_for("the redelivery to be counted", || {
        stats(|s| s.requeued) >= 1
    });

    let id = a.broker.publish("never acked").unwrap().to_string();
    for _ in 0..3 {
        assert_eq!(id_of(&b.poll(10_000)), id);
    }
    wait_for("the dead letter", || stats(|s| s.dead_lettered) == 1);
    assert_eq!(
        a.poll(1000).status,
        204,
        "set aside, not delivered a fourth time"
    );
}

#[test]
fn the_in_process_engine_keeps_the_contract() {
    keeps_the_contract(|options| {
        let broker = Broker::new(options);
        (broker.clone(), broker)
    });
}

#[test]
fn an_ack_timeout_off_makes_the_write_final() {
    let side = Side::new(Broker::new(BrokerOptions::default()));
    let id = side.broker.publish("once").unwrap();
    assert_eq!(side.poll(10_000).text(), "once");
    assert_eq!(side.broker.ack(id.as_str()), Ok(false), "nothing is owed");
    assert_eq!(side.poll(500).status, 204);
    let stats = side.broker.stats();
    assert_eq!((stats.published, stats.delivered, stats.owed), (1, 1, 0));
}

#[cfg(feature = "redis")]
mod on_redis {
    use super::*;
    use crate::util::redis::{fresh_name, RedisServer};

    #[test]
    fn the_redis_engine_keeps_the_contract() {
        let Some(redis) = RedisServer::start("the_redis_engine_keeps_the_contract") else {
            return;
        };
        let url = redis.url();
        keeps_the_contract(|options| {
            let name = fresh_name();
            let open = || Broker::redis(&url, &name, options).unwrap();
            (open(), open())
        });
    }

    #[test]
    fn redis_down_fails_publishes_at_once_and_pollers_wait_it_out() {
        crate::util::init();
        let Some(mut redis) = RedisServer::start("redis_down_fails_publishes") else {
            return;
        };
        let name = fresh_name();
        let side = Side::new(Broker::redis(&redis.url(), &name, BrokerOptions::default()).unwrap());
        side.broker.publish("before").unwrap();
        assert_eq!(side.poll(10_000).text(), "before");
        let mut poller = side.park(60_000);
        wait_for("the poller to park", || side.broker.stats().waiting == 1);
        redis.stop();
        wait_for("the broker to see Redis gone", || {
            side.broker.publish("while down") == Err(BrokerError::Unavailable)
        });
        // A publish fails on its own call at once; the puller's link
        // reports the loss when its blocking read (up to 1 s) fails.
        wait_for("the link to report Redis gone", || {
            !side.broker.stats().connected
        });
        redis.restart_empty();
        // Back without a new broker, once a reconnect lands; the poller
        // that waited through it gets the message.
        wait_for("publishes to come back", || {
            side.broker.publish("after").is_ok()
        });
        assert_eq!(poller.read_reply(false).text(), "after");
        let stats = side.broker.stats();
        assert!(stats.refused >= 1 && stats.reconnects >= 1, "{stats:?}");
    }

    /// A message held by a process that died (a consumer that took it and
    /// never answers) is claimed by a live one after `claim_after`.
    #[test]
    fn a_dead_process_s_message_is_claimed_by_a_live_one() {
        crate::util::init();
        let Some(redis) = RedisServer::start("a_dead_process_s_message_is_claimed") else {
            return;
        };
        let name = fresh_name();
        let options = BrokerOptions::default().claim_after(Duration::from_millis(500));
        let side = Side::new(Broker::redis(&redis.url(), &name, options).unwrap());
        wait_for("the group to be made", || side.broker.stats().connected);
        let id = side.broker.publish("orphan").unwrap();
        // The dead process: takes the entry for a consumer of its own.
        let client = redis::Client::open(redis.url()).unwrap();
        let mut conn = client.get_connection().unwrap();
        let queue = format!("tether:broker:{{{name}}}:q");
        let _: redis::Value = redis::cmd("XREADGROUP")
            .arg(
                &[
                    "GROUP", "tether", "dead", "COUNT", "1", "STREAMS", &queue, ">",
                ][..],
            )
            .query(&mut conn)
            .unwrap();
        let reply = side.poll(10_000);
        assert_eq!((id_of(&reply), reply.text()), (id.to_string(), "orphan"));
        assert_eq!(side.broker.stats().claimed, 1);
    }
}
