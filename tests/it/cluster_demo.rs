//! Three demo processes on one Redis behind one nginx (docs/nginx.conf)
//! act as one service: chat across processes, a message published on one
//! polled on another and given to exactly one poller, SSE resumed on any,
//! every message processed exactly once while pollers leave at random, a
//! stopped then killed process's messages delivered by the others, and
//! Redis restarted under them with no process restarted.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::demo::{append_to_feed, next_sse, polled, post, publish, read_feed, Demo};
use crate::util::nginx::Nginx;
use crate::util::redis::RedisServer;
use crate::util::ws::{RawWs, TEXT};
use crate::util::{wait_for, Client};

struct Cluster {
    demos: Vec<Demo>,
    nginx: Nginx,
    redis: RedisServer,
}

/// Redis, three demos on it with `flags`, nginx in front; `None` (after a
/// `SKIPPED` line) where Redis or nginx is not installed.
fn cluster(test: &str, flags: &[&str]) -> Option<Cluster> {
    let redis = RedisServer::start(test)?;
    let url = redis.url();
    let mut all = vec!["--redis", &url, "--set", "memory_share_per_client=off"];
    all.extend_from_slice(flags);
    let demos: Vec<Demo> = (0..3).map(|_| Demo::start_with(&all)).collect();
    let addrs: Vec<SocketAddr> = demos.iter().map(|d| d.addr).collect();
    let nginx = Nginx::start(test, &addrs)?;
    for demo in &demos {
        wait_for("the demo to reach Redis", || {
            demo.stats()["cluster"]["connected"] == true
        });
    }
    Some(Cluster {
        demos,
        nginx,
        redis,
    })
}

fn cluster_stat(demo: &Demo, name: &str) -> u64 {
    demo.stats()["cluster"][name].as_u64().unwrap_or(0)
}

fn next_text(ws: &mut RawWs) -> String {
    let (first, payload) = ws.read_frame().expect("a frame");
    assert_eq!(first & 0x0F, TEXT);
    String::from_utf8(payload).unwrap()
}

/// A poll sent on `addr`, its answer not read yet.
fn park(addr: SocketAddr, ms: u64) -> Client {
    let mut client = Client::connect(addr);
    client.send(format!("GET /poll?timeout_ms={ms} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    client
}

#[test]
fn three_demo_processes_behind_nginx_act_as_one() {
    crate::util::init();
    let Some(mut c) = cluster("three_demo_processes_behind_nginx_act_as_one", &[]) else {
        return;
    };
    // Chat: a member on each process and one through nginx.
    let mut members: Vec<RawWs> = c
        .demos
        .iter()
        .map(|d| RawWs::connect(d.addr, "/ws/chat"))
        .collect();
    members.push(RawWs::connect(c.nginx.addr, "/ws/chat"));
    for demo in &c.demos {
        wait_for("every process to listen to the chat", || {
            cluster_stat(demo, "group_listening") == 1
        });
    }
    members[0].send_text("hello from the first");
    members[3].send_text("and from nginx");
    for ws in &mut members {
        assert_eq!(next_text(ws), "hello from the first");
        assert_eq!(next_text(ws), "and from nginx", "once each, in order");
    }

    // Published through nginx, polled on two other processes: one each.
    let mut pollers = [park(c.demos[1].addr, 10_000), park(c.demos[2].addr, 10_000)];
    for demo in &c.demos[1..] {
        wait_for("a poller parked", || cluster_stat(demo, "waiting") == 1);
    }
    let mut via_nginx = Client::connect(c.nginx.addr);
    let sent: HashSet<String> = ["a", "b"]
        .iter()
        .map(|t| publish(&mut via_nginx, t))
        .collect();
    let got: HashSet<String> = pollers
        .iter_mut()
        .map(|p| polled(&p.read_reply(false)).0)
        .collect();
    assert_eq!(got, sent);

    // One message, three pollers on three processes: exactly one gets it.
    let mut pollers: Vec<Client> = c.demos.iter().map(|d| park(d.addr, 3000)).collect();
    for demo in &c.demos {
        wait_for("a poller parked", || cluster_stat(demo, "waiting") == 1);
    }
    publish(&mut via_nginx, "only one");
    let statuses: Vec<u16> = pollers
        .iter_mut()
        .map(|p| p.read_reply(false).status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 204).count(),
        2,
        "{statuses:?}"
    );

    // SSE: appended through nginx, resumed on every process.
    let ids: Vec<String> = ["x", "y", "z"]
        .iter()
        .map(|t| append_to_feed(&mut via_nginx, t))
        .collect();
    for demo in &c.demos {
        let mut reader = Client::connect(demo.addr);
        read_feed(&mut reader, &ids[0]);
        assert_eq!(
            next_sse(&mut reader),
            format!("event: feed\nid: {}\ndata: y\n\n", ids[1])
        );
        assert_eq!(
            next_sse(&mut reader),
            format!("event: feed\nid: {}\ndata: z\n\n", ids[2])
        );
    }

    // Redis killed: 503 at once while it is away; back without restarting
    // any process.
    let mut waiting = park(c.nginx.addr, 60_000);
    c.redis.stop();
    wait_for("publishes to be refused", || {
        post(&mut via_nginx, "/publish", "while down").status == 503
    });
    c.redis.restart_empty();
    wait_for("publishes to come back", || {
        post(&mut via_nginx, "/publish", "after").status == 202
    });
    assert_eq!(
        polled(&waiting.read_reply(false)).1,
        "after",
        "the poller waited it out"
    );
    let reconnects: u64 = c.demos.iter().map(|d| cluster_stat(d, "reconnects")).sum();
    assert!(reconnects >= 3, "every process reconnected: {reconnects}");
}

/// How a poller in the soak leaves, if it does.
#[derive(Clone, Copy)]
enum Leave {
    Stay,
    /// Closes (FIN) right after the message arrived, before acknowledging.
    Fin,
    /// Resets (RST) right after the message arrived.
    Rst,
    /// Leaves while its message may be on the way: sends the poll and
    /// closes without reading.
    AtDelivery,
}

fn leave_of(n: u64) -> Leave {
    match n % 20 {
        0 => Leave::Fin,
        1 => Leave::Rst,
        2 | 3 => Leave::AtDelivery,
        _ => Leave::Stay,
    }
}

/// Ids of messages published, and how often each was processed (received
/// by a poller that stayed, and acknowledged on its next poll).
#[derive(Default)]
struct Ledger {
    published: Mutex<HashSet<String>>,
    processed: Mutex<HashMap<String, u32>>,
    done: AtomicBool,
}

impl Ledger {
    fn all_processed(&self) -> bool {
        let published = self.published.lock().unwrap();
        let processed = self.processed.lock().unwrap();
        published.iter().all(|id| processed.contains_key(id))
    }

    /// Published but never processed; processed more than once.
    fn lost_and_twice(&self) -> (Vec<String>, Vec<String>) {
        let published = self.published.lock().unwrap();
        let processed = self.processed.lock().unwrap();
        let lost = published
            .iter()
            .filter(|id| !processed.contains_key(*id))
            .cloned()
            .collect();
        let twice = processed
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, _)| id.clone())
            .collect();
        (lost, twice)
    }
}

/// Publishes `messages` through `addr`, each until one is taken (`503`
/// while Redis is away, `502` while nginx finds a process gone).
fn publisher(
    addr: SocketAddr,
    messages: usize,
    ledger: Arc<Ledger>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut client = Client::connect(addr);
        for i in 0..messages {
            loop {
                let body = format!("m{i}");
                let request = format!(
                    "POST /publish HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let sent = client.stream.write_all(request.as_bytes());
                let reply = sent.ok().and_then(|()| client.try_read_reply(false).ok());
                let Some(reply) = reply else {
                    client = Client::connect(addr);
                    continue;
                };
                // nginx ends a client's connection after 1,000 requests.
                if reply.closes() {
                    client = Client::connect(addr);
                }
                match reply.status {
                    202 => {
                        let id = reply.header("message-id").unwrap().to_string();
                        ledger.published.lock().unwrap().insert(id);
                        break;
                    }
                    502 | 503 => std::thread::sleep(Duration::from_millis(20)),
                    other => panic!("publish: {other} {}", reply.text()),
                }
            }
        }
    })
}

/// A poller through `addr` until the ledger is done: it processes what it
/// gets and acknowledges it on its next poll, except when it leaves — FIN
/// or RST right after the message arrived, or at the instant of delivery
/// (the poll sent, the connection closed unread).
fn poller(
    addr: SocketAddr,
    seed: u64,
    stride: u64,
    ledger: Arc<Ledger>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let (mut n, mut owed): (u64, Option<String>) = (seed, None);
        let connect = || loop {
            if let Ok(client) = Client::try_connect(addr) {
                return client;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut client = connect();
        while !ledger.done.load(Ordering::Relaxed) {
            n += stride;
            let leave = leave_of(n.wrapping_mul(2_654_435_761) >> 7);
            if let Leave::AtDelivery = leave {
                // No acknowledgement rides on a poll abandoned unread.
                let request = "GET /poll?timeout_ms=1000 HTTP/1.1\r\nHost: t\r\n\r\n";
                let _ = client.stream.write_all(request.as_bytes());
                client = connect();
                continue;
            }
            let ack = owed
                .as_ref()
                .map(|id| format!("&ack={id}"))
                .unwrap_or_default();
            let request = format!("GET /poll?timeout_ms=1000{ack} HTTP/1.1\r\nHost: t\r\n\r\n");
            let sent = client.stream.write_all(request.as_bytes());
            let Some(reply) = sent.ok().and_then(|()| client.try_read_reply(false).ok()) else {
                // Acknowledged or not, we cannot tell: again (it is idempotent).
                client = connect();
                continue;
            };
            if reply.closes() {
                client = connect();
            }
            if reply.status == 502 || reply.status == 503 {
                std::thread::sleep(Duration::from_millis(20));
                continue; // the acknowledgement is tried again
            }
            owed = None;
            if reply.status != 200 {
                continue;
            }
            let id = reply.header("message-id").unwrap().to_string();
            match leave {
                Leave::Fin => client = connect(),
                Leave::Rst => std::mem::replace(&mut client, connect()).stream.reset(),
                _ => {
                    *ledger
                        .processed
                        .lock()
                        .unwrap()
                        .entry(id.clone())
                        .or_default() += 1;
                    owed = Some(id);
                }
            }
        }
        while let Some(id) = owed.take() {
            let request = format!(
                "POST /ack HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{id}",
                id.len()
            );
            let sent = client.stream.write_all(request.as_bytes());
            match sent.ok().and_then(|()| client.try_read_reply(false).ok()) {
                Some(reply) if reply.status == 204 => {}
                _ => {
                    client = connect();
                    owed = Some(id);
                }
            }
        }
    })
}

/// Waits until every published message was processed, or `limit`.
fn settle(ledger: &Ledger, limit: Duration) {
    let started = Instant::now();
    while !ledger.all_processed() && started.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(50));
    }
    ledger.done.store(true, Ordering::Relaxed);
}

const POLLERS: u64 = 6;

#[test]
fn every_message_is_processed_once_while_pollers_leave_at_random() {
    crate::util::init();
    let Some(c) = cluster(
        "every_message_is_processed_once_while_pollers_leave_at_random",
        &["--poll-ack-timeout", "5s"],
    ) else {
        return;
    };
    const MESSAGES: usize = 1500;
    let ledger = Arc::new(Ledger::default());
    let pollers: Vec<_> = (0..POLLERS)
        .map(|p| poller(c.nginx.addr, p, POLLERS, Arc::clone(&ledger)))
        .collect();
    publisher(c.nginx.addr, MESSAGES, Arc::clone(&ledger))
        .join()
        .unwrap();
    // Redelivery of what a leaver took waits out its 5 s timeout.
    settle(&ledger, Duration::from_secs(60));
    for poller in pollers {
        poller.join().unwrap();
    }
    let (lost, twice) = ledger.lost_and_twice();
    let totals: Vec<(u64, u64, u64)> = c
        .demos
        .iter()
        .map(|d| {
            (
                cluster_stat(d, "delivered"),
                cluster_stat(d, "acked"),
                cluster_stat(d, "requeued"),
            )
        })
        .collect();
    eprintln!(
        "soak: published {}, processed {}, twice {}, lost {}; (delivered, acked, requeued) per process {totals:?}",
        ledger.published.lock().unwrap().len(),
        ledger.processed.lock().unwrap().len(),
        twice.len(),
        lost.len()
    );
    assert_eq!(ledger.published.lock().unwrap().len(), MESSAGES);
    assert!(lost.is_empty(), "lost: {lost:?}");
    // A client that stays acknowledges within milliseconds, far inside
    // the 5 s timeout: a second processing would mean an ack not honoured.
    assert!(twice.is_empty(), "processed twice: {twice:?}");
}

/// The chaos soak across processes: pollers leave at random while one
/// process is killed and started again and Redis (persistent) is killed
/// and started again. Every message is processed; a duplicate is
/// possible only for what a killed process had delivered unacknowledged.
#[test]
fn a_chaos_soak_across_processes_accounts_for_every_message() {
    crate::util::init();
    let test = "a_chaos_soak_across_processes_accounts_for_every_message";
    let Some(mut redis) = RedisServer::start_persistent(test) else {
        return;
    };
    let url = redis.url();
    let flags = [
        "--redis",
        &url,
        "--set",
        "memory_share_per_client=off",
        "--poll-ack-timeout",
        "3s",
        "--poll-claim-after",
        "2s",
    ];
    let mut demos: Vec<Demo> = (0..3).map(|_| Demo::start_with(&flags)).collect();
    let addrs: Vec<SocketAddr> = demos.iter().map(|d| d.addr).collect();
    let Some(nginx) = Nginx::start(test, &addrs) else {
        return;
    };
    const MESSAGES: usize = 2000;
    let ledger = Arc::new(Ledger::default());
    let pollers: Vec<_> = (0..POLLERS)
        .map(|p| poller(nginx.addr, p, POLLERS, Arc::clone(&ledger)))
        .collect();
    let publishing = publisher(nginx.addr, MESSAGES, Arc::clone(&ledger));
    let published = || ledger.published.lock().unwrap().len();
    // A third of the way: a process killed, then started on its port.
    wait_for_long(|| published() >= MESSAGES / 3);
    let at = demos[1].addr.to_string();
    drop(demos.remove(1)); // SIGKILL
    let mut restart = flags.to_vec();
    restart.extend(["--addr", &at]);
    demos.insert(1, Demo::start_with(&restart));
    // Two thirds: Redis killed and started again with its data.
    wait_for_long(|| published() >= 2 * MESSAGES / 3);
    redis.restart();
    publishing.join().unwrap();
    settle(&ledger, Duration::from_secs(90));
    for poller in pollers {
        poller.join().unwrap();
    }
    let (lost, twice) = ledger.lost_and_twice();
    let stat = |name: &str| -> u64 { demos.iter().map(|d| cluster_stat(d, name)).sum() };
    eprintln!(
        "chaos soak: published {}, processed {}, processed twice {}, lost {}; \
         claimed {}, requeued {}, reconnects {} (the restarted process's own counts start at zero)",
        published(),
        ledger.processed.lock().unwrap().len(),
        twice.len(),
        lost.len(),
        stat("claimed"),
        stat("requeued"),
        stat("reconnects"),
    );
    assert_eq!(published(), MESSAGES);
    assert!(lost.is_empty(), "lost: {lost:?}");
}

/// Polls `condition` for up to two minutes (a soak's milestones).
fn wait_for_long(condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the soak stalled"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_stopped_then_killed_process_s_messages_go_to_the_others() {
    crate::util::init();
    let Some(c) = cluster(
        "a_stopped_then_killed_process_s_messages_go_to_the_others",
        &["--poll-ack-timeout", "60s", "--poll-claim-after", "2s"],
    ) else {
        return;
    };
    // The first process delivers three messages whose clients never
    // acknowledge them: they are owed, held by that process.
    let mut held: Vec<Client> = (0..3).map(|_| park(c.demos[0].addr, 10_000)).collect();
    wait_for("three pollers parked", || {
        cluster_stat(&c.demos[0], "waiting") == 3
    });
    let mut publisher = Client::connect(c.demos[1].addr);
    let sent: HashSet<String> = ["p", "q", "r"]
        .iter()
        .map(|t| publish(&mut publisher, t))
        .collect();
    let taken: HashSet<String> = held
        .iter_mut()
        .map(|p| polled(&p.read_reply(false)).0)
        .collect();
    assert_eq!(taken, sent);
    // A parked poller too: its process waits in Redis for a message for
    // it, and takes one published while it is stopped (Redis hands it
    // to the blocked read all the same).
    let _parked = park(c.demos[0].addr, 60_000);
    wait_for("the fourth poller parked", || {
        cluster_stat(&c.demos[0], "waiting") == 1
    });
    c.demos[0].signal("STOP");
    let stopped = Instant::now();
    let mut sent = sent;
    sent.insert(publish(&mut publisher, "s"));
    // The others' pollers get all four; the stopped process is killed
    // once the first comes back.
    let mut again = HashSet::new();
    let mut polls = [
        Client::connect(c.demos[1].addr),
        Client::connect(c.demos[2].addr),
    ];
    let (mut turn, mut killed) = (0, None);
    while again.len() < sent.len() {
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "got only {again:?}"
        );
        let poller = &mut polls[turn % 2];
        turn += 1;
        let reply = poller.get("/poll?timeout_ms=1000");
        if reply.status == 200 {
            again.insert(polled(&reply).0);
        }
        if killed.is_none() && again.len() == 1 {
            c.demos[0].signal("KILL");
            killed = Some(Instant::now());
        }
    }
    let delay = stopped.elapsed();
    eprintln!(
        "a stopped process's messages (3 owed, 1 published while it was stopped) \
         were all redelivered by the others {delay:?} after SIGSTOP, {:?} after SIGKILL \
         (claim_after 2 s)",
        killed.map(|at| at.elapsed())
    );
    assert_eq!(
        again, sent,
        "the same ids: a client drops duplicates by them"
    );
    let claimed: u64 = c.demos[1..]
        .iter()
        .map(|d| cluster_stat(d, "claimed"))
        .sum();
    assert!((3..=4).contains(&claimed), "{claimed} claimed");
}
