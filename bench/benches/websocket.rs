//! WebSocket figures.
//!
//! ```text
//! cargo bench --bench websocket                     # everything
//! cargo bench --bench websocket -- echo 20000       # round trips and throughput
//! cargo bench --bench websocket -- broadcast 10000  # one message to N sockets
//! ```
//!
//! For broadcast, the clients run in a child process (this binary again),
//! so the server's descriptors and memory are its own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tether::ws::{Message, Upgrade, WsEventKind, WsGroup};
use tether::{Action, Config, Server};

#[path = "common/mod.rs"]
mod common;
use common::rss_kib;

/// Counts heap allocations, to report what a broadcast costs.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is an atomic with no effect on the memory handed out. No safe API
// can observe allocations.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const HANDSHAKE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn masked_text(text: &[u8]) -> Vec<u8> {
    assert!(text.len() < 126);
    let mut out = vec![0x81, 0x80 | text.len() as u8, 1, 2, 3, 4];
    out.extend(
        text.iter()
            .enumerate()
            .map(|(i, b)| b ^ [1, 2, 3, 4][i % 4]),
    );
    out
}

fn connect(addr: SocketAddr, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: b\r\n{HANDSHAKE}").as_bytes())
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    stream
}

fn server() -> Server {
    let mut config = Config::default();
    config.max_connections = 19_000;
    Server::builder()
        .config(config)
        .handler(|_: &tether::Request| Action::Upgrade(Upgrade::new()))
        .bind("127.0.0.1:0")
        .unwrap()
}

fn echo(n: usize) {
    let server = server();
    let events = server.ws_events();
    std::thread::spawn(move || {
        while let Some(event) = events.recv() {
            if let WsEventKind::Message(Message::Text(text)) = &event.kind {
                let _ = event.socket.send_text(text);
            }
        }
    });
    let mut client = connect(server.local_addr(), "/ws");
    let frame = masked_text(b"0123456789abcdef");
    let mut reply = [0u8; 18];
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        client.write_all(&frame).unwrap();
        client.read_exact(&mut reply).unwrap();
        samples.push(t.elapsed());
    }
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "echo round trip (16-byte text, {n} tries): median {:.1} µs, p99 {:.1} µs",
        us(samples[n / 2]),
        us(samples[n * 99 / 100])
    );

    // Throughput: a writer thread streams messages, this thread reads echoes.
    let mut writer = client.try_clone().unwrap();
    let total = n * 10;
    let started = Instant::now();
    let sender = std::thread::spawn(move || {
        let batch: Vec<u8> = frame.repeat(64);
        for _ in 0..total / 64 {
            writer.write_all(&batch).unwrap();
        }
    });
    let mut remaining = (total / 64 * 64) * 18;
    let mut buf = vec![0u8; 64 * 1024];
    while remaining > 0 {
        remaining -= client.read(&mut buf).unwrap();
    }
    sender.join().unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "echo throughput: {:.0} messages/s ({} messages in {secs:.2} s, one socket)",
        (total / 64 * 64) as f64 / secs,
        total / 64 * 64
    );
    server.shutdown();
}

/// Child process: `n` clients that read until each has `messages` text
/// frames, then say "done".
fn clients(addr: SocketAddr, n: usize, messages: usize) {
    let mut poll = mio::Poll::new().unwrap();
    let mut streams: Vec<mio::net::TcpStream> = (0..n)
        .map(|i| {
            let stream = connect(addr, "/ws/bench");
            stream.set_nonblocking(true).unwrap();
            let mut stream = mio::net::TcpStream::from_std(stream);
            poll.registry()
                .register(&mut stream, mio::Token(i), mio::Interest::READABLE)
                .unwrap();
            stream
        })
        .collect();
    println!("connected");
    let expected = messages * 18; // 16-byte payload + 2-byte header each
    let mut got = vec![0usize; n];
    let mut complete = 0;
    let mut events = mio::Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    while complete < n {
        poll.poll(&mut events, Some(Duration::from_secs(30)))
            .unwrap();
        for event in events.iter() {
            let i = event.token().0;
            while let Ok(k) = streams[i].read(&mut buf) {
                if k == 0 {
                    break;
                }
                let before = got[i];
                got[i] += k;
                if before < expected && got[i] >= expected {
                    complete += 1;
                }
            }
        }
    }
    println!("done");
    std::io::stdout().flush().unwrap();
    drop(streams);
}

fn broadcast(n: usize) {
    const MESSAGES: usize = 10;
    let server = server();
    let group = WsGroup::new();
    {
        let (events, group) = (server.ws_events(), group.clone());
        std::thread::spawn(move || {
            while let Some(event) = events.recv() {
                if let WsEventKind::Open(_) = event.kind {
                    group.join(event.socket);
                }
            }
        });
    }
    let baseline = rss_kib();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "clients",
            &server.local_addr().to_string(),
            &n.to_string(),
            &MESSAGES.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "connected");
    while group.len() < n {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    let idle = rss_kib().saturating_sub(baseline);
    println!(
        "{n} idle WebSockets: server RSS +{idle} KiB ({:.2} KiB per socket)",
        idle as f64 / n as f64
    );

    let started = Instant::now();
    let mut queue_time = Duration::ZERO;
    let mut allocations = 0;
    for _ in 0..MESSAGES {
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let t = Instant::now();
        let delivered = group.broadcast_text("0123456789abcdef");
        queue_time += t.elapsed();
        allocations += ALLOCATIONS.load(Ordering::Relaxed) - before;
        assert_eq!(delivered, n);
    }
    assert_eq!(lines.next().unwrap().unwrap(), "done");
    let all_delivered = started.elapsed();
    println!(
        "broadcast to {n}: {:.2} ms to queue each message (mean of {MESSAGES}), {} allocations per broadcast; \
         all {MESSAGES} delivered to every client in {:.1} ms",
        queue_time.as_secs_f64() * 1e3 / MESSAGES as f64,
        allocations / MESSAGES as u64,
        all_delivered.as_secs_f64() * 1e3
    );
    child.wait().unwrap();
    server.shutdown();
}

fn main() {
    let args = common::args();
    match args.first().map(String::as_str) {
        Some("clients") => clients(
            args[1].parse().unwrap(),
            args[2].parse().unwrap(),
            args[3].parse().unwrap(),
        ),
        Some("echo") => echo(args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20_000)),
        Some("broadcast") => broadcast(args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000)),
        _ => {
            echo(20_000);
            broadcast(10_000);
        }
    }
}
