//! Hostile clients, and the memory of the server process while they run.
//! Used by tests/attacks.rs: small in CI, at full scale by hand (the figures
//! in docs/reliability.md).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::ws::{frame, RawWs, BINARY, FIN, PING, TEXT};
use super::{Client, PATIENCE};

/// Resident memory of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// Samples a process's resident memory every 10 ms and keeps the peak.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: JoinHandle<()>,
}

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_kib(pid)));
        let (s, p) = (Arc::clone(&stop), Arc::clone(&peak));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Sampler { stop, peak, thread }
    }

    /// The peak, in KiB.
    pub fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        self.peak.load(Ordering::Relaxed)
    }
}

/// A well-behaved client is served while the attack holds.
#[track_caller]
pub fn assert_served(addr: SocketAddr) {
    let mut client = Client::connect(addr);
    assert_eq!(client.get("/hello").status, 200);
}

/// How many connections `/stats` counts as closed for `reason`.
pub fn closed(addr: SocketAddr, reason: &str) -> u64 {
    let reply = Client::connect(addr).get("/stats");
    let stats: serde_json::Value = serde_json::from_slice(&reply.body).expect("/stats is JSON");
    stats["closed"][reason]
        .as_u64()
        .unwrap_or_else(|| panic!("closed.{reason} in /stats"))
}

/// What the kernel holds queued to send on the server's side of every
/// connection to `addr` (`ss`'s `wmem_queued`), in KiB.
pub fn server_send_queues_kib(addr: SocketAddr) -> u64 {
    let filter = format!("( sport = :{} )", addr.port());
    let out = std::process::Command::new("ss")
        .args(["-tmnH", "state", "established", &filter])
        .output()
        .expect("ss (iproute2) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let bytes: u64 = text
        .split(['(', ')', ','])
        .filter_map(|field| field.strip_prefix('w')?.parse::<u64>().ok())
        .sum();
    bytes / 1024
}

/// A top-level counter from the server's `/stats`.
pub fn stat(addr: SocketAddr, name: &str) -> u64 {
    let reply = Client::connect(addr).get("/stats");
    let stats: serde_json::Value = serde_json::from_slice(&reply.body).expect("/stats is JSON");
    stats[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} in /stats"))
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_write_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    stream
}

/// Slowloris: `conns` connections each send a head one byte at a time,
/// one byte per connection every 200 ms, for `hold`.
pub fn slowloris(addr: SocketAddr, conns: usize, hold: Duration) {
    let mut streams: Vec<TcpStream> = (0..conns).map(|_| connect(addr)).collect();
    for s in &mut streams {
        let _ = s.write_all(b"GET /hello HTTP/1.1\r\nX-Slow: ");
    }
    let started = Instant::now();
    let mut checked = false;
    while started.elapsed() < hold {
        for s in &mut streams {
            let _ = s.write_all(b"a");
        }
        if !checked {
            assert_served(addr);
            checked = true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A pipelining flood: one client writes `GET /hello` for `hold` and never
/// reads a response.
pub fn pipelining_flood(addr: SocketAddr, hold: Duration) -> usize {
    let mut stream = connect(addr);
    let burst = b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n".repeat(1000);
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < hold {
        match stream.write_all(&burst) {
            Ok(()) => sent += burst.len(),
            // Held back: the server stopped reading us (it owes us output
            // we do not read).
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    assert_served(addr);
    sent
}

/// Viewers that open a stream and never read it.
pub fn non_reading_viewers(addr: SocketAddr, viewers: usize, path: &str, hold: Duration) {
    let streams: Vec<TcpStream> = (0..viewers)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(hold);
    assert_served(addr);
    drop(streams);
}

/// WebSocket clients that each send part of one giant frame and stop.
pub fn partial_giant_frames(addr: SocketAddr, clients: usize, frame_len: usize, sent: usize) {
    let payload = vec![0x5a; frame_len];
    let whole = frame(FIN | BINARY, &payload, true);
    let header = whole.len() - frame_len;
    let sockets: Vec<RawWs> = (0..clients)
        .map(|_| {
            let mut ws = RawWs::connect(addr, "/ws");
            // A socket the server refused (1009) stops taking bytes.
            let _ = ws.stream.write_all(&whole[..header + sent]);
            ws
        })
        .collect();
    // Until the server has taken what the kernel buffered.
    let mut last = u64::MAX;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let held = stat(addr, "memory_held");
        if held == last {
            break;
        }
        last = held;
    }
    assert_served(addr);
    drop(sockets);
}

/// A TCP connection whose receive buffer is 4 KiB: a client that never
/// reads stops the server's writes after a few KiB.
pub fn small_window(addr: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )
    .unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).expect("connect");
    socket.into()
}

/// `members` join `/ws/chat` with small windows and never read; another
/// socket sends one text message of `len` bytes, which the demo broadcasts
/// to all of them (or to none, over the send budget), then a short one. The
/// demo handles a socket's messages in order, so once the sender has its
/// own short one back, the long one has been dealt with.
pub fn chat_non_readers(addr: SocketAddr, members: usize, len: usize) {
    let sockets: Vec<RawWs> = (0..members)
        .map(|_| RawWs::over_tcp(small_window(addr), "/ws/chat"))
        .collect();
    let mut sender = RawWs::connect(addr, "/ws/chat");
    sender.send(FIN | TEXT, &vec![b'm'; len]);
    sender.send(FIN | TEXT, b"done");
    loop {
        let (_, payload) = sender.read_frame().expect("the chat's own echo");
        if payload == b"done" {
            break;
        }
    }
    assert_served(addr);
    drop((sockets, sender));
}

/// `sockets` clients with small windows each send one binary message of
/// `len` bytes, more than the demo's send budget, to the `/ws` echo and
/// never read. Waits until the demo has refused every echo and closed its
/// socket (`1009`, then `drained`; or `memory_budget` if the message itself
/// did not fit the budget).
pub fn echo_non_readers(addr: SocketAddr, sockets: usize, len: usize) {
    let before = closed(addr, "drained") + closed(addr, "memory_budget");
    let clients: Vec<RawWs> = (0..sockets)
        .map(|_| {
            let mut ws = RawWs::over_tcp(small_window(addr), "/ws");
            ws.send(FIN | BINARY, &vec![b'e'; len]);
            ws
        })
        .collect();
    super::wait_for("every echo refused and its socket closed", || {
        closed(addr, "drained") + closed(addr, "memory_budget") >= before + sockets as u64
    });
    assert_served(addr);
    drop(clients);
}

/// `messages` one-byte `/publish` messages nobody polls, each pipelined
/// behind a `GET /work` with a 7,000-byte body (a worker's request, whose
/// buffers come back for the next request to reuse). Returns how many were accepted (`202`).
pub fn tiny_publishes(addr: SocketAddr, messages: usize) -> usize {
    let mut stream = connect(addr);
    stream.set_write_timeout(Some(PATIENCE)).unwrap();
    let mut reader = stream.try_clone().unwrap();
    let counter = std::thread::spawn(move || {
        let mut replies = Vec::new();
        let _ = reader.read_to_end(&mut replies);
        let accepted = b"HTTP/1.1 202";
        replies
            .windows(accepted.len())
            .filter(|w| w == accepted)
            .count()
    });
    let pair = format!(
        "GET /work?ms=0 HTTP/1.1\r\nHost: a\r\nContent-Length: 7000\r\n\r\n{}\
         POST /publish HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nm",
        "g".repeat(7000)
    );
    for _ in 0..messages {
        stream.write_all(pair.as_bytes()).unwrap();
    }
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let accepted = counter.join().unwrap();
    assert_served(addr);
    accepted
}

/// `conns` clients each `POST /echo` a `len`-byte body and never read the
/// echo. Returns what the server's kernel send queues held and its
/// `memory_held`, in KiB, once the responses are queued.
pub fn unread_echoes(addr: SocketAddr, conns: usize, len: usize) -> (u64, u64) {
    let answered = stat(addr, "responses");
    let head = format!("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {len}\r\n\r\n");
    let body = vec![b'e'; len];
    let streams: Vec<TcpStream> = (0..conns)
        .map(|_| {
            let mut s = small_window(addr);
            s.set_write_timeout(Some(PATIENCE)).unwrap();
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(&body).unwrap();
            s
        })
        .collect();
    super::wait_for("every echo answered (or refused)", || {
        stat(addr, "responses") >= answered + conns as u64
    });
    let kernel = server_send_queues_kib(addr);
    let held = stat(addr, "memory_held") / 1024;
    assert_served(addr);
    drop(streams);
    (kernel, held)
}

/// One WebSocket client floods pings for `hold` and never reads.
pub fn ping_flood(addr: SocketAddr, hold: Duration) -> usize {
    let mut ws = RawWs::connect(addr, "/ws");
    ws.stream
        .set_write_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let burst: Vec<u8> = (0..2000)
        .flat_map(|_| frame(FIN | PING, &[b'p'; 125], true))
        .collect();
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < hold {
        match ws.stream.write_all(&burst) {
            Ok(()) => sent += burst.len(),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    assert_served(addr);
    sent
}

/// Uploads that declare `declared` bytes and trickle one byte per 200 ms.
pub fn slow_bodies(addr: SocketAddr, conns: usize, declared: usize, hold: Duration) {
    let mut streams: Vec<TcpStream> = (0..conns)
        .map(|_| {
            let mut s = connect(addr);
            let head =
                format!("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {declared}\r\n\r\n");
            s.write_all(head.as_bytes()).unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    while started.elapsed() < hold {
        for s in &mut streams {
            let _ = s.write_all(b"x");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_served(addr);
}

/// One client (127.0.0.2) sends `conns` uploads of `declared` bytes, all
/// but the last sixty-fourth, and holds them (until one is refused); then another (127.0.0.3) uploads
/// `upload` bytes to `/echo`. Returns the newcomer's status, while the
/// hog's bodies are still held.
pub fn budget_hog(addr: SocketAddr, conns: usize, declared: usize, upload: usize) -> u16 {
    let hog: std::net::IpAddr = [127, 0, 0, 2].into();
    let head = format!("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {declared}\r\n\r\n");
    let body = vec![b'x'; declared - declared / 64];
    let hogs: Vec<Client> = (0..conns)
        .map(|_| {
            let mut client = Client::connect_from(hog, addr);
            client.stream.set_write_timeout(Some(PATIENCE)).unwrap();
            // A refused upload is answered 503 and its rest discarded.
            let _ = client.stream.write_all(head.as_bytes());
            let _ = client.stream.write_all(&body);
            client
        })
        .collect();
    super::wait_for("the hog refused", || stat(addr, "memory_refusals") > 0);
    let mut newcomer = Client::connect_from([127, 0, 0, 3].into(), addr);
    newcomer.send(
        format!("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {upload}\r\n\r\n").as_bytes(),
    );
    newcomer.send(&vec![b'n'; upload]);
    let reply = newcomer.read_reply(false);
    assert_served(addr);
    drop(hogs);
    reply.status
}

/// The chunk-size wraparound: a 1-byte chunk, then a chunk of 2^64 - 1
/// bytes, then `flood` bytes. Returns the status the server answered.
pub fn chunk_wraparound(addr: SocketAddr, flood: usize) -> Option<u16> {
    let mut stream = connect(addr);
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let head = "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
                1\r\nx\r\nffffffffffffffff\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let block = vec![b'y'; 64 * 1024];
    let mut sent = 0;
    while sent < flood {
        if stream.write_all(&block).is_err() {
            break;
        }
        sent += block.len();
    }
    let mut reply = [0u8; 12];
    let status = stream
        .read_exact(&mut reply)
        .ok()
        .and_then(|_| std::str::from_utf8(&reply[9..12]).ok()?.parse().ok());
    assert_served(addr);
    status
}
