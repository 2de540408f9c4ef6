//! Past one process, against what users would pick instead.
//!
//! ```text
//! cargo bench -p tether-bench --bench cluster                 # both
//! cargo bench -p tether-bench --bench cluster -- broadcast    # vs Socket.IO
//! cargo bench -p tether-bench --bench cluster -- polls        # in vs across processes
//! ```
//!
//! **broadcast**: a chat of 40 WebSocket members on two server processes
//! sharing one Redis; one member on the first sends 64-byte messages at a
//! fixed rate (open loop), and every member times each message from send
//! to arrival. tether (`cluster::Groups::redis`, two processes of this
//! binary) against Socket.IO 4 with `@socket.io/redis-streams-adapter`
//! (two `node bench/socketio/server.js`), same Redis, same client code
//! (Socket.IO's framing spoken over the same raw WebSocket client).
//! Reported per rate: p50/p99 for members on the other process, messages
//! delivered per second, and the servers' and Redis's CPU per message.
//!
//! **polls**: long-poll publish → delivered latency at 1,000 messages/s,
//! 32 pollers: one process (`Broker::new`) against two
//! (`Broker::redis`, published on one, polled on the other).
//!
//! Servers and Redis are pinned to the second core, the clients to the
//! first. Needs `redis-server` (and `node`/`npm` for Socket.IO; its
//! packages are installed into bench/socketio on first use); says
//! SKIPPED where they are missing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tether::cluster::{Broker, BrokerOptions, Groups};
use tether::ws::{Message, Upgrade, WsEventKind};
use tether::{Handoff, Request, Router, Server};

#[path = "common/mod.rs"]
mod common;
use common::{args, percentile};

const MEMBERS: usize = 40;
const PAYLOAD: usize = 64;
const RATES: [u64; 2] = [200, 1000];
const RUN: Duration = Duration::from_secs(8);
const POLLERS: usize = 32;
const POLL_RATE: u64 = 1000;

fn main() {
    let args = args();
    match args.first().map(String::as_str) {
        Some("serve-chat") => return serve_chat(&args[1]),
        Some("serve-polls") => return serve_polls(args.get(1).map(String::as_str)),
        _ => {}
    }
    let which = args.first().cloned().unwrap_or_default();
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("SKIPPED cluster: redis-server is not installed (apt-get install redis-server)");
        return;
    }
    if which.is_empty() || which == "broadcast" {
        broadcast();
    }
    if which.is_empty() || which == "polls" {
        polls();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child pinned to the second core (the servers' side), killed on drop.
struct Pinned(Child);

impl Pinned {
    fn spawn(program: &str, args: &[&str], dir: Option<&str>) -> (Pinned, String) {
        // The second core, or the only one on a machine with one.
        let cores = core_affinity::get_core_ids().map_or(1, |ids| ids.len());
        let core = cores.saturating_sub(1).min(1).to_string();
        let mut command = Command::new("taskset");
        command
            .args(["-c", &core, program])
            .args(args)
            .stdout(Stdio::piped());
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        let mut child = command.spawn().expect("taskset and the program");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        // The rest is read and dropped: a closed pipe would kill the child.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        (Pinned(child), line.trim().to_string())
    }

    /// CPU time (user + system) so far.
    fn cpu(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.0.id())).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // Fields 14 and 15 (utime, stime), counted after the comm field.
        Duration::from_millis((ticks(11) + ticks(12)) * 10)
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis() -> (Pinned, String) {
    let port = free_port().to_string();
    let (child, _) = Pinned::spawn(
        "redis-server",
        &[
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        None,
    );
    let url = format!("redis://127.0.0.1:{port}");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let started = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, url)
}

/// This binary again, as a server.
fn this(args: &[&str]) -> (Pinned, SocketAddr) {
    let exe = std::env::current_exe().unwrap();
    let (child, line) = Pinned::spawn(exe.to_str().unwrap(), args, None);
    let addr = line
        .strip_prefix("listening on ")
        .unwrap_or(&line)
        .parse()
        .unwrap();
    (child, addr)
}

/// `serve-chat URL`: `/ws/chat` members of the group `chat` on Redis.
fn serve_chat(url: &str) {
    let groups = Groups::redis(url).unwrap();
    let router = Router::new().get("/ws/chat", |_: &Request| Upgrade::new());
    let server = Server::builder()
        .router(router)
        .bind("127.0.0.1:0")
        .unwrap();
    let events = server.ws_events();
    println!("listening on {}", server.local_addr());
    while let Some(event) = events.recv() {
        match &event.kind {
            WsEventKind::Open(_) => drop(groups.join("chat", event.socket.clone())),
            WsEventKind::Message(Message::Text(text)) => drop(groups.broadcast_text("chat", text)),
            _ => {}
        }
    }
}

/// `serve-polls [URL]`: `/poll` and `/publish` on a broker, in memory or
/// on Redis.
fn serve_polls(url: Option<&str>) {
    let broker = match url {
        Some(url) => Broker::redis(url, "bench", BrokerOptions::default()).unwrap(),
        None => Broker::new(BrokerOptions::default()),
    };
    let router = Router::new()
        .get("/poll", |_: &Request| Handoff::to("polls"))
        .post("/publish", |_: &Request| Handoff::to("polls"));
    let server = Server::builder()
        .queue("polls", 4096)
        .router(router)
        .bind("127.0.0.1:0")
        .unwrap();
    server
        .pool("polls")
        .unwrap()
        .workers(2, move |mut exchange| {
            if exchange.request().method() == "POST" {
                let body = exchange.request_mut().take_body();
                let status = if broker.publish(body).is_ok() {
                    202
                } else {
                    503
                };
                let _ = exchange.respond(tether::Response::new(status));
            } else {
                broker.poll(exchange, Duration::from_secs(30));
            }
        });
    println!("listening on {}", server.local_addr());
    let _ = server.wait();
}

/// The socket.io side: two nodes, or `None` (SKIPPED) without node/npm.
fn socketio(url: &str) -> Option<Vec<(Pinned, SocketAddr)>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/socketio");
    if Command::new("node").arg("--version").output().is_err() {
        println!("SKIPPED broadcast vs Socket.IO: node is not installed");
        return None;
    }
    if !std::path::Path::new(dir).join("node_modules").exists() {
        let installed = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir)
            .status();
        if !installed.is_ok_and(|s| s.success()) {
            println!("SKIPPED broadcast vs Socket.IO: npm ci failed in {dir}");
            return None;
        }
    }
    let nodes = (0..2)
        .map(|_| {
            let port = free_port().to_string();
            let (child, _) = Pinned::spawn("node", &["server.js", &port, url], Some(dir));
            (child, format!("127.0.0.1:{port}").parse().unwrap())
        })
        .collect();
    Some(nodes)
}

/// A raw WebSocket client; for Socket.IO it speaks Engine.IO's framing.
struct Ws {
    tcp: TcpStream,
    buf: Vec<u8>,
    socketio: bool,
}

impl Ws {
    fn connect(addr: SocketAddr, socketio: bool) -> Ws {
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_nodelay(true).unwrap();
        let path = if socketio {
            "/socket.io/?EIO=4&transport=websocket"
        } else {
            "/ws/chat"
        };
        write!(
            tcp,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let mut ws = Ws {
            tcp,
            buf: Vec::new(),
            socketio,
        };
        while !ws.buf.windows(4).any(|w| w == b"\r\n\r\n") {
            ws.fill();
        }
        let end = ws.buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert!(
            ws.buf.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&ws.buf)
        );
        ws.buf.drain(..end);
        if socketio {
            assert!(ws.frame().starts_with("0"), "the Engine.IO open packet");
            ws.send_raw("40");
            assert!(ws.frame().starts_with("40"), "the namespace joined");
        }
        ws
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 65536];
        let n = self.tcp.read(&mut chunk).unwrap();
        assert!(n > 0, "the server closed");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// The next text frame's payload (unmasked, from the server).
    fn frame(&mut self) -> String {
        loop {
            if self.buf.len() >= 2 {
                let len = (self.buf[1] & 0x7F) as usize;
                let (len, at) = match len {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 => panic!("no frame that large here"),
                    126 => (usize::MAX, 0),
                    n => (n, 2),
                };
                if len != usize::MAX && self.buf.len() >= at + len {
                    let payload = String::from_utf8_lossy(&self.buf[at..at + len]).into_owned();
                    self.buf.drain(..at + len);
                    return payload;
                }
            }
            self.fill();
        }
    }

    fn send_raw(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut out = vec![0x81];
        match bytes.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        out.extend_from_slice(&[0; 4]); // a zero mask: the payload as is
        out.extend_from_slice(bytes);
        self.tcp.write_all(&out).unwrap();
    }

    fn send_chat(&mut self, text: &str) {
        match self.socketio {
            true => self.send_raw(&format!("42[\"chat\",\"{text}\"]")),
            false => self.send_raw(text),
        }
    }

    /// The next chat message's text (answering Engine.IO pings).
    fn next_chat(&mut self) -> String {
        loop {
            let frame = self.frame();
            if !self.socketio {
                return frame;
            }
            if frame == "2" {
                self.send_raw("3");
            } else if let Some(rest) = frame.strip_prefix("42[\"chat\",\"") {
                return rest.trim_end_matches("\"]").to_string();
            }
        }
    }
}

/// Every member of a chat on `nodes` (half on each), the sender first.
fn chat_run(name: &str, nodes: &[SocketAddr], socketio: bool, cpu: &dyn Fn() -> Duration) {
    pin(0);
    let origin = Instant::now();
    let mut members: Vec<(Ws, bool)> = (0..MEMBERS)
        .map(|i| (Ws::connect(nodes[i % 2], socketio), i % 2 == 1))
        .collect();
    // Wait until a probe reaches everyone: every node listens.
    let (mut sender, _) = members.remove(0);
    std::thread::sleep(Duration::from_millis(300));
    sender.send_chat("probe");
    for (ws, _) in &mut members {
        while ws.next_chat() != "probe" {}
    }
    while sender.next_chat() != "probe" {}
    // The sender's own copies are read and dropped on a thread of their
    // own, so its socket never backs up.
    let draining = Arc::new(AtomicBool::new(true));
    let drain = {
        let mut tcp = sender.tcp.try_clone().unwrap();
        tcp.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let draining = Arc::clone(&draining);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 65536];
            while draining.load(Ordering::Relaxed) {
                if let Ok(0) = tcp.read(&mut chunk) {
                    break;
                }
            }
        })
    };
    for rate in RATES {
        let samples = Arc::new(Mutex::new(Vec::<Duration>::new()));
        let received = Arc::new(AtomicU64::new(0));
        let readers: Vec<_> = members
            .drain(..)
            .map(|(mut ws, remote)| {
                let (samples, received) = (Arc::clone(&samples), Arc::clone(&received));
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let text = ws.next_chat();
                        if text == "end" {
                            break;
                        }
                        let Some(at) = text.split('|').next().and_then(|t| t.parse::<u64>().ok())
                        else {
                            continue;
                        };
                        received.fetch_add(1, Ordering::Relaxed);
                        if remote {
                            mine.push(origin.elapsed().saturating_sub(Duration::from_nanos(at)));
                        }
                    }
                    samples.lock().unwrap().extend(mine);
                    (ws, remote)
                })
            })
            .collect();
        let cpu_before = cpu();
        let every = Duration::from_nanos(1_000_000_000 / rate);
        let started = Instant::now();
        let mut sent = 0u64;
        while started.elapsed() < RUN {
            // Open loop: each message at its time, whatever came back.
            let due = started + every * sent as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let stamp = origin.elapsed().as_nanos();
            let mut text = format!("{stamp}|");
            text.extend(std::iter::repeat_n('x', PAYLOAD.saturating_sub(text.len())));
            sender.send_chat(&text);
            sent += 1;
        }
        let elapsed = started.elapsed();
        sender.send_chat("end");
        members = readers.into_iter().map(|r| r.join().unwrap()).collect();
        let cpu_used = cpu().saturating_sub(cpu_before);
        let mut samples = std::mem::take(&mut *samples.lock().unwrap());
        samples.sort();
        let delivered = received.load(Ordering::Relaxed);
        let expected = sent * (MEMBERS as u64 - 1);
        println!(
            "broadcast {name:<9} {rate:>5}/s  other process p50 {:>8.3} ms  p99 {:>8.3} ms  \
             delivered {:>7.0}/s ({delivered}/{expected})  CPU {:>6.1} µs/message",
            percentile(&samples, 0.5).as_secs_f64() * 1e3,
            percentile(&samples, 0.99).as_secs_f64() * 1e3,
            delivered as f64 / elapsed.as_secs_f64(),
            cpu_used.as_secs_f64() * 1e6 / sent as f64,
        );
    }
    draining.store(false, Ordering::Relaxed);
    let _ = drain.join();
}

fn pin(core: usize) {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    if let Some(id) = cores.get(core % cores.len().max(1)) {
        core_affinity::set_for_current(*id);
    }
}

fn broadcast() {
    let (redis, url) = redis();
    {
        let nodes: Vec<(Pinned, SocketAddr)> =
            (0..2).map(|_| this(&["serve-chat", &url])).collect();
        let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.1).collect();
        let cpu = || nodes.iter().map(|n| n.0.cpu()).sum::<Duration>() + redis.cpu();
        chat_run("tether", &addrs, false, &cpu);
    }
    if let Some(nodes) = socketio(&url) {
        let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.1).collect();
        let started = Instant::now();
        while addrs.iter().any(|a| TcpStream::connect(a).is_err()) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "socket.io did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let cpu = || nodes.iter().map(|n| n.0.cpu()).sum::<Duration>() + redis.cpu();
        chat_run("socket.io", &addrs, true, &cpu);
    }
}

/// One HTTP/1.1 exchange on a kept-alive connection; the status and body.
fn exchange(tcp: &mut TcpStream, buf: &mut Vec<u8>, request: &[u8]) -> (u16, Vec<u8>) {
    tcp.write_all(request).unwrap();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(head)) = response.parse(buf) {
            let len = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok())
                .unwrap_or(0);
            let status = response.code.unwrap_or(0);
            if buf.len() >= head + len {
                let body = buf[head..head + len].to_vec();
                buf.drain(..head + len);
                return (status, body);
            }
        }
        let mut chunk = [0u8; 16384];
        let n = tcp.read(&mut chunk).unwrap();
        assert!(n > 0, "the server closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Publish → delivered latency with the publisher on `publish_to` and the
/// pollers on `poll_on`.
fn poll_run(name: &str, publish_to: SocketAddr, poll_on: SocketAddr) {
    pin(0);
    let origin = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let pollers: Vec<_> = (0..POLLERS)
        .map(|_| {
            let (stop, samples) = (Arc::clone(&stop), Arc::clone(&samples));
            std::thread::spawn(move || {
                let mut tcp = TcpStream::connect(poll_on).unwrap();
                tcp.set_nodelay(true).unwrap();
                let mut buf = Vec::new();
                let mut mine = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let request = b"GET /poll HTTP/1.1\r\nHost: b\r\n\r\n";
                    let (status, body) = exchange(&mut tcp, &mut buf, request);
                    let stamp = std::str::from_utf8(&body)
                        .ok()
                        .and_then(|b| b.parse::<u64>().ok());
                    if let (200, Some(at)) = (status, stamp) {
                        mine.push(origin.elapsed().saturating_sub(Duration::from_nanos(at)));
                    }
                }
                samples.lock().unwrap().extend(mine);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut tcp = TcpStream::connect(publish_to).unwrap();
    tcp.set_nodelay(true).unwrap();
    let mut buf = Vec::new();
    let every = Duration::from_nanos(1_000_000_000 / POLL_RATE);
    let started = Instant::now();
    let mut sent = 0u32;
    while started.elapsed() < RUN {
        let due = started + every * sent;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let body = origin.elapsed().as_nanos().to_string();
        let request = format!(
            "POST /publish HTTP/1.1\r\nHost: b\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let (status, _) = exchange(&mut tcp, &mut buf, request.as_bytes());
        assert_eq!(status, 202);
        sent += 1;
    }
    // Each poller needs one more message to wake up and see the stop.
    stop.store(true, Ordering::Relaxed);
    for _ in 0..POLLERS * 2 {
        let _ = exchange(
            &mut tcp,
            &mut buf,
            b"POST /publish HTTP/1.1\r\nHost: b\r\nContent-Length: 1\r\n\r\nx",
        );
    }
    for poller in pollers {
        poller.join().unwrap();
    }
    let mut samples = std::mem::take(&mut *samples.lock().unwrap());
    samples.sort();
    println!(
        "polls {name:<22} {POLL_RATE}/s  p50 {:>7.3} ms  p99 {:>7.3} ms  delivered {}/{sent}",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.len(),
    );
}

fn polls() {
    {
        let (_one, addr) = this(&["serve-polls"]);
        poll_run("one process (memory)", addr, addr);
    }
    let (_redis, url) = redis();
    let (_a, a) = this(&["serve-polls", &url]);
    let (_b, b) = this(&["serve-polls", &url]);
    poll_run("two processes (Redis)", a, b);
}
