//! Chaos soak: many clients doing random, often hostile things at once —
//! resets mid-request, FIN mid-response, half-closes, slow readers,
//! pipelining, garbage, WebSocket zombies, abandoned streams and long polls
//! — while workers reply late, drop exchanges or panic. Afterwards: no
//! connection left, nothing pending, no memory held, descriptors back at
//! their baseline, every exchange resolved exactly once, and every published
//! message delivered exactly once.
//!
//! Short in `cargo test`; longer by hand:
//! `TETHER_SOAK_SECS=300 TETHER_SOAK_CLIENTS=64 cargo test --release --test chaos_soak -- --nocapture`

mod util;

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tether::ws::{Upgrade, WsEventKind};
use tether::{Action, Config, Exchange, Request, Response};
use util::ws::{frame, RawWs, FIN, TEXT};
use util::{wait_for, Rng};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// How the workers resolved the exchanges they took.
#[derive(Default)]
struct Ledger {
    taken: AtomicU64,
    answered: AtomicU64,
    told_gone: AtomicU64,
    dropped: AtomicU64,
}

/// The long-poll broker: messages wait here until a poller's response
/// reaches the kernel; a response handed back puts its message back.
#[derive(Default)]
struct Broker {
    queue: Mutex<VecDeque<u64>>,
    ready: Condvar,
}

impl Broker {
    fn publish(&self, id: u64) {
        self.queue.lock().unwrap().push_back(id);
        self.ready.notify_one();
    }

    fn take(&self, wait: Duration) -> Option<u64> {
        let queue = self.queue.lock().unwrap();
        let (mut queue, _) = self
            .ready
            .wait_timeout_while(queue, wait, |q| q.is_empty())
            .unwrap();
        queue.pop_front()
    }

    fn put_back(&self, id: u64) {
        self.queue.lock().unwrap().push_front(id);
        self.ready.notify_one();
    }
}

const PLANNED_PANIC: &str = "a worker panics (on purpose)";

fn work(exchange: Exchange, ledger: &Ledger, broker: &Broker, rng: &mut Rng) {
    ledger.taken.fetch_add(1, Relaxed);
    let path = exchange.request().path().to_string();
    let resolved = |delivered: bool| {
        let counter = if delivered {
            &ledger.answered
        } else {
            &ledger.told_gone
        };
        counter.fetch_add(1, Relaxed);
    };
    match path.as_str() {
        "/late" => {
            std::thread::sleep(Duration::from_millis(rng.below(30)));
            resolved(exchange.respond(Response::text(200, "late")).is_ok());
        }
        "/drop" => {
            ledger.dropped.fetch_add(1, Relaxed);
            drop(exchange);
        }
        "/panic" => {
            ledger.dropped.fetch_add(1, Relaxed);
            std::panic::panic_any(PLANNED_PANIC);
        }
        "/big" => {
            let body = vec![b'b'; 512 * 1024];
            resolved(exchange.respond(Response::new(200).with_body(body)).is_ok());
        }
        "/stream" => {
            let Ok(mut stream) = exchange.stream(Response::new(200)) else {
                resolved(false);
                return;
            };
            for _ in 0..20 {
                if stream.send(vec![b's'; 1024]).is_err() {
                    resolved(false);
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            resolved(stream.finish().is_ok());
        }
        "/poll" => match broker.take(Duration::from_millis(100)) {
            None => resolved(exchange.respond(Response::new(204)).is_ok()),
            Some(id) => match exchange.respond(Response::text(200, id.to_string())) {
                Ok(()) => resolved(true),
                Err(_) => {
                    broker.put_back(id);
                    resolved(false);
                }
            },
        },
        "/publish" => {
            let body = String::from_utf8_lossy(exchange.request().body()).into_owned();
            let id: u64 = body.parse().expect("a message id");
            broker.publish(id);
            resolved(exchange.respond(Response::new(202)).is_ok());
        }
        _ => resolved(exchange.respond(Response::new(404)).is_ok()),
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

/// Reads until EOF or error; every long-poll answer in it is recorded.
fn read_all(mut stream: TcpStream, received: &Mutex<Vec<u64>>) {
    let mut all = Vec::new();
    let _ = stream.read_to_end(&mut all);
    record_polls(&all, received);
}

fn record_polls(bytes: &[u8], received: &Mutex<Vec<u64>>) {
    let text = String::from_utf8_lossy(bytes);
    for reply in text.split("HTTP/1.1 ").skip(1) {
        if reply.starts_with("200") {
            if let Some(body) = reply.split("\r\n\r\n").nth(1) {
                if let Ok(id) = body.trim().parse::<u64>() {
                    received.lock().unwrap().push(id);
                }
            }
        }
    }
}

fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: soak\r\n\r\n").into_bytes()
}

/// One client's random act.
/// What the clients share: message ids, what pollers received, and the
/// WebSocket zombies (open, silent) kept until the server has reaped them.
#[derive(Default)]
struct Shared {
    next_id: AtomicU64,
    received: Mutex<Vec<u64>>,
    zombies: Mutex<Vec<TcpStream>>,
}

fn act(addr: SocketAddr, rng: &mut Rng, shared: &Shared) {
    let (next_id, received) = (&shared.next_id, &shared.received);
    match rng.below(12) {
        0 => {
            // RST mid-request.
            let mut s = connect(addr);
            let _ = s.write_all(b"GET /late HTTP/1.1\r\nHost: so");
            reset(s);
        }
        1 => {
            // FIN while a worker is still on it.
            let mut s = connect(addr);
            let _ = s.write_all(&get("/late"));
            std::thread::sleep(Duration::from_millis(rng.below(20)));
        }
        2 => {
            // Half-close after a whole request, then read what comes.
            let mut s = connect(addr);
            let _ = s.write_all(&get("/hello"));
            let _ = s.shutdown(Shutdown::Write);
            read_all(s, received);
        }
        3 => {
            // A slow reader of a big response that gives up.
            let mut s = connect(addr);
            let _ = s.write_all(&get("/big"));
            let mut buf = [0u8; 4096];
            for _ in 0..rng.below(5) {
                let _ = s.read(&mut buf);
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        4 => {
            // Pipelining: every answer must come back, in order.
            let mut s = connect(addr);
            let paths = ["/hello", "/late", "/hello", "/drop", "/hello"];
            let all: Vec<u8> = paths.iter().flat_map(|p| get(p)).collect();
            let _ = s.write_all(&all);
            let _ = s.shutdown(Shutdown::Write);
            read_all(s, received);
        }
        5 => {
            // Garbage.
            let mut s = connect(addr);
            let junk: Vec<u8> = (0..rng.below(2000)).map(|_| rng.next() as u8).collect();
            let _ = s.write_all(&junk);
            read_all(s, received);
        }
        6 => {
            // A WebSocket that says something, then becomes a zombie (or
            // resets).
            let mut ws = RawWs::connect(addr, "/ws");
            let _ = ws.stream.write_all(&frame(FIN | TEXT, b"hi", true));
            if rng.below(2) == 0 {
                reset(ws.stream.into_tcp());
            } else {
                shared.zombies.lock().unwrap().push(ws.stream.into_tcp());
            }
        }
        7 => {
            // An abandoned stream.
            let mut s = connect(addr);
            let _ = s.write_all(&get("/stream"));
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            if rng.below(2) == 0 {
                reset(s);
            }
        }
        8 | 9 => {
            // A long poll, kept or abandoned (FIN, then read what came).
            let mut s = connect(addr);
            let _ = s.write_all(&get("/poll"));
            if rng.below(2) == 0 {
                std::thread::sleep(Duration::from_millis(rng.below(150)));
                let _ = s.shutdown(Shutdown::Write);
            }
            let got = read_response(&mut s);
            record_polls(&got, received);
        }
        10 => {
            let id = next_id.fetch_add(1, Relaxed);
            let mut s = connect(addr);
            let body = id.to_string();
            let req = format!(
                "POST /publish HTTP/1.1\r\nHost: soak\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            s.write_all(req.as_bytes()).unwrap();
            let reply = read_response(&mut s);
            assert!(
                reply.starts_with(b"HTTP/1.1 202"),
                "publish {id} was not taken: {:?}",
                String::from_utf8_lossy(&reply)
            );
        }
        _ => {
            // A worker that panics or drops the exchange.
            let mut s = connect(addr);
            let path = if rng.below(2) == 0 { "/panic" } else { "/drop" };
            let _ = s.write_all(&get(path));
            read_all(s, received);
        }
    }
}

/// One whole response, or what came before EOF.
fn read_response(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !complete_response(&got) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

fn complete_response(got: &[u8]) -> bool {
    let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    got.len() >= end + 4 + length
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn chaos_leaves_nothing_behind_and_loses_nothing() {
    // Workers panic on purpose here; the other panics still print.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&PLANNED_PANIC) {
            default_hook(info);
        }
    }));
    let secs = env_or("TETHER_SOAK_SECS", 6);
    let clients = env_or("TETHER_SOAK_CLIENTS", 24);
    let mut config = Config::default();
    config.head_timeout = Duration::from_secs(2);
    config.write_stall_timeout = Duration::from_secs(2);
    config.ws_ping_interval = Duration::from_millis(500);
    config.ws_pong_timeout = Duration::from_millis(1000);
    config.linger_timeout = Duration::from_millis(500);
    let server = util::serve(config, |req: &Request| match req.path() {
        "/hello" => Action::Respond(Response::text(200, "hello")),
        "/ws" => Action::Upgrade(Upgrade::new()),
        _ => Action::handoff(),
    });
    let ledger = Arc::new(Ledger::default());
    let broker = Arc::new(Broker::default());
    {
        let (ledger, broker) = (Arc::clone(&ledger), Arc::clone(&broker));
        let seed = AtomicU64::new(1);
        server.workers(8, move |exchange| {
            let mut rng = Rng(seed.fetch_add(0x9e37_79b9, Relaxed) | 1);
            work(exchange, &ledger, &broker, &mut rng);
        });
    }
    let events = server.ws_events();
    let echo = std::thread::spawn(move || {
        while let Some(event) = events.recv() {
            if let WsEventKind::Message(message) = &event.kind {
                let _ = match message {
                    tether::ws::Message::Text(text) => event.socket.send_text(text),
                    tether::ws::Message::Binary(data) => event.socket.send_binary(data),
                };
            }
        }
    });
    let addr = server.local_addr();
    std::thread::sleep(Duration::from_millis(100));
    let fds_before = open_fds();

    let shared = Arc::new(Shared::default());
    let stop = Instant::now() + Duration::from_secs(secs);
    let acts = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let (shared, acts) = (Arc::clone(&shared), Arc::clone(&acts));
            std::thread::spawn(move || {
                let mut rng = Rng(0x1234_5678 + i * 7919);
                while Instant::now() < stop {
                    act(addr, &mut rng, &shared);
                    acts.fetch_add(1, Relaxed);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a client thread failed");
    }

    // Everyone has left: every connection must end (zombies by heartbeat).
    wait_for("every connection closed", || server.stats().active == 0);
    shared.zombies.lock().unwrap().clear();
    // Collect what is still queued for pollers.
    let received = &shared.received;
    let published = shared.next_id.load(Relaxed);
    // One poll at a time, each answered 200 with a message or 204 after
    // the broker's wait; five 204s in a row mean the queue is empty.
    let mut empty_in_a_row = 0;
    while received.lock().unwrap().len() < published as usize && empty_in_a_row < 5 {
        let mut s = connect(addr);
        s.write_all(&get("/poll")).unwrap();
        let reply = read_response(&mut s);
        if reply.starts_with(b"HTTP/1.1 204") {
            empty_in_a_row += 1;
        } else {
            empty_in_a_row = 0;
            record_polls(&reply, received);
        }
    }
    util::assert_quiet(&server);

    // Every worker got to the end of its exchange: none is stuck in a
    // respond or a send that never returns.
    let resolved = || {
        let told = ledger.told_gone.load(Relaxed) + ledger.dropped.load(Relaxed);
        ledger.answered.load(Relaxed) + told == ledger.taken.load(Relaxed)
    };
    let deadline = Instant::now() + util::PATIENCE;
    while !resolved() {
        assert!(
            Instant::now() < deadline,
            "exchanges taken {}, answered {}, told gone {}, dropped {}",
            ledger.taken.load(Relaxed),
            ledger.answered.load(Relaxed),
            ledger.told_gone.load(Relaxed),
            ledger.dropped.load(Relaxed)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = server.stats();
    let (taken, answered, told, dropped) = (
        ledger.taken.load(Relaxed),
        ledger.answered.load(Relaxed),
        ledger.told_gone.load(Relaxed),
        ledger.dropped.load(Relaxed),
    );
    println!(
        "chaos_soak: {} acts by {clients} clients in {secs} s; {} connections; \
         exchanges {taken} (answered {answered}, told gone {told}, dropped/panicked {dropped}); \
         {published} messages published; closes {:?}",
        acts.load(Relaxed),
        stats.accepted,
        stats
            .closed
            .iter()
            .filter(|(_, n)| *n > 0)
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        taken,
        answered + told + dropped,
        "every exchange resolved once"
    );
    assert_eq!(
        stats.dropped, dropped,
        "tether saw the same drops: {stats:?}"
    );
    assert_eq!(stats.pending_responses, 0);
    assert_eq!(stats.memory_held, 0);

    let mut counts: HashMap<u64, usize> = HashMap::new();
    for id in received.lock().unwrap().iter() {
        *counts.entry(*id).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let lost: Vec<_> = (0..published)
        .filter(|id| !counts.contains_key(id))
        .collect();
    assert!(lost.is_empty(), "never delivered: {lost:?}");

    wait_for("descriptors back at their baseline", || {
        open_fds() <= fds_before
    });
    server.shutdown();
    echo.join().unwrap();
}
