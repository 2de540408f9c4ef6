//! Streaming and long-poll figures.
//!
//! ```text
//! cargo bench --bench streaming                 # every case
//! cargo bench --bench streaming -- notice 2000  # departure -> producer/poller woken
//! cargo bench --bench streaming -- throughput   # one fast client
//! cargo bench --bench streaming -- viewers 1000 # MJPEG viewers at 10 fps
//! ```

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use tether::{Action, Backlog, Bytes, Config, Exchange, Response, Server, StreamOptions};

#[path = "common/mod.rs"]
mod common;
use common::{percentile, rss_kib};

/// CPU time of this process's threads whose name starts with `prefix`.
fn thread_cpu(prefix: &str) -> Duration {
    common::cpu(&common::threads(prefix))
}

fn server(config: Config) -> Server {
    Server::builder()
        .config(config)
        .handler(|_: &tether::Request| Action::handoff())
        .bind("127.0.0.1:0")
        .unwrap()
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{name:<44} {:>9.1} {:>9.1} {:>9.1}",
        us(percentile(&samples, 0.5)),
        us(percentile(&samples, 0.99)),
        us(*samples.last().unwrap())
    );
}

#[derive(Clone, Copy)]
enum Leave {
    Fin,
    Rst,
}

/// Leaves and returns when; for FIN, also the socket, to close after the
/// sample (shutdown, not close: closing with unread bytes would send RST).
fn leave(client: TcpStream, how: Leave) -> (Instant, Option<TcpStream>) {
    match how {
        Leave::Fin => {
            let t = Instant::now();
            client.shutdown(Shutdown::Write).unwrap();
            (t, Some(client))
        }
        Leave::Rst => (common::reset(client), None),
    }
}

/// A producer blocked on a full queue (the client reads nothing) and a long
/// poller waiting on its own channel: time from the client leaving to each
/// being woken.
fn notice(tries: usize) {
    println!(
        "{:<44} {:>9} {:>9} {:>9}",
        "departure -> woken, µs", "median", "p99", "max"
    );
    let mut config = Config::default();
    config.stream_budget_bytes = 16 * 1024;
    let server = server(config);
    let (tx, woken) = mpsc::channel::<Instant>();
    server.workers(1, move |exchange: Exchange| {
        if exchange.request().path() == "/poll" {
            let (wake_tx, wake_rx) = mpsc::channel();
            exchange.on_close(move |_| {
                let _ = wake_tx.send(());
            });
            if wake_rx.recv_timeout(Duration::from_secs(10)).is_ok() {
                let _ = tx.send(Instant::now());
            }
            return;
        }
        let mut stream = exchange.stream(Response::new(200)).unwrap();
        let part = Bytes::from(vec![b'x'; 8192]);
        while stream.send(part.clone()).is_ok() {}
        let _ = tx.send(Instant::now());
    });
    for (path, what) in [
        ("/stream", "blocked producer's send fails"),
        ("/poll", "long poller woken (on_close)"),
    ] {
        for how in [Leave::Fin, Leave::Rst] {
            let mut samples = Vec::with_capacity(tries);
            for _ in 0..tries {
                let mut client = TcpStream::connect(server.local_addr()).unwrap();
                client
                    .write_all(format!("GET {path} HTTP/1.1\r\nHost: b\r\n\r\n").as_bytes())
                    .unwrap();
                let settle = Instant::now();
                while server.stats().pending_responses + server.stats().streams_active == 0 {
                    std::thread::yield_now();
                }
                if path == "/stream" {
                    // Let the socket buffers and the queue fill: the producer blocks.
                    while settle.elapsed() < Duration::from_millis(20) {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
                let (left_at, half_closed) = leave(client, how);
                let at = woken.recv_timeout(Duration::from_secs(10)).expect("woken");
                samples.push(at.saturating_duration_since(left_at));
                drop(half_closed);
                while server.stats().active > 0 {
                    std::thread::yield_now();
                }
            }
            let how = match how {
                Leave::Fin => "FIN",
                Leave::Rst => "RST",
            };
            report(&format!("{what}, {how}"), samples);
        }
    }
    server.shutdown();
}

/// One client reading as fast as it can from a producer sending 64 KiB parts.
fn throughput() {
    let server = server(Config::default());
    server.workers(1, |exchange: Exchange| {
        let mut stream = exchange.stream(Response::new(200)).unwrap();
        let part = Bytes::from(vec![b'y'; 64 * 1024]);
        while stream.send(part.clone()).is_ok() {}
    });
    let mut client = TcpStream::connect(server.local_addr()).unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: b\r\n\r\n")
        .unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        total += client.read(&mut buf).unwrap() as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "streaming throughput, one client: {:.0} MiB/s ({total} bytes in {secs:.2} s)",
        total as f64 / secs / (1 << 20) as f64
    );
    drop(client);
    server.shutdown();
}

/// `n` MJPEG viewers at 10 fps from one producer thread (as the demo does),
/// read by one mio client thread.
fn viewers(n: usize) {
    const FPS: u32 = 10;
    const SECONDS: u64 = 10;
    let server = server(Config::default());
    let (jobs_tx, jobs) = mpsc::channel::<tether::StreamSender>();
    server.workers(2, move |exchange: Exchange| {
        let options = StreamOptions::default().backlog(Backlog::KeepNewest);
        if let Ok(sender) = exchange.stream_with(Response::new(200), options) {
            let _ = jobs_tx.send(sender);
        }
    });
    std::thread::Builder::new()
        .name("producer".into())
        .spawn(move || {
            let frame = Bytes::from(vec![0xA5u8; 6 * 1024]);
            let mut senders = Vec::new();
            let every = Duration::from_secs(1) / FPS;
            let mut next = Instant::now();
            loop {
                while let Ok(sender) = jobs.try_recv() {
                    senders.push(sender);
                }
                senders.retain_mut(|s| {
                    !matches!(s.try_send(frame.clone()), Err(tether::SendError::Closed(_)))
                });
                next += every;
                match next.checked_duration_since(Instant::now()) {
                    Some(wait) => std::thread::sleep(wait),
                    None => next = Instant::now(),
                }
                if senders.is_empty()
                    && matches!(jobs.try_recv(), Err(mpsc::TryRecvError::Disconnected))
                {
                    return;
                }
            }
        })
        .unwrap();

    let baseline_rss = rss_kib();
    let mut poll = Poll::new().unwrap();
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        let mut stream = TcpStream::connect(server.local_addr()).unwrap();
        stream
            .write_all(b"GET /mjpeg HTTP/1.1\r\nHost: b\r\n\r\n")
            .unwrap();
        stream.set_nonblocking(true).unwrap();
        let mut stream = mio::net::TcpStream::from_std(stream);
        poll.registry()
            .register(&mut stream, Token(i), Interest::READABLE)
            .unwrap();
        clients.push(stream);
    }
    while server.stats().streams_active < n as u64 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats_before = server.stats();
    let reactor_before = thread_cpu("tether-reactor");
    let producer_before = thread_cpu("producer");
    let started = Instant::now();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    while started.elapsed() < Duration::from_secs(SECONDS) {
        poll.poll(&mut events, Some(Duration::from_millis(100)))
            .unwrap();
        for event in events.iter() {
            let stream = &mut clients[event.token().0];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(k) => bytes += k as u64,
                    Err(_) => break,
                }
            }
        }
    }
    let elapsed = started.elapsed();
    let reactor = thread_cpu("tether-reactor") - reactor_before;
    let producer = thread_cpu("producer") - producer_before;
    let stats = server.stats();
    let rss = rss_kib();
    let frames = stats.frames_sent - stats_before.frames_sent;
    println!(
        "{n} MJPEG viewers at {FPS} fps (6 KiB frames) for {:.1} s:",
        elapsed.as_secs_f64()
    );
    println!(
        "  frames written       {frames} ({:.0}/s; target {})",
        frames as f64 / elapsed.as_secs_f64(),
        n as u32 * FPS
    );
    println!(
        "  frames replaced      {}",
        stats.frames_replaced - stats_before.frames_replaced
    );
    println!(
        "  client read          {:.1} MiB/s",
        bytes as f64 / elapsed.as_secs_f64() / (1 << 20) as f64
    );
    println!(
        "  reactor CPU          {:.1}% of one core",
        reactor.as_secs_f64() / elapsed.as_secs_f64() * 100.0
    );
    println!(
        "  producer CPU         {:.1}% of one core",
        producer.as_secs_f64() / elapsed.as_secs_f64() * 100.0
    );
    println!(
        "  RSS growth           {} KiB ({:.1} KiB per viewer, client included)",
        rss.saturating_sub(baseline_rss),
        rss.saturating_sub(baseline_rss) as f64 / n as f64
    );
    drop(clients);
    server.shutdown();
}

fn main() {
    let args = common::args();
    let number = args.iter().find_map(|a| a.parse::<usize>().ok());
    let mode = args
        .iter()
        .find(|a| a.parse::<usize>().is_err())
        .map(String::as_str);
    match mode {
        Some("notice") => notice(number.unwrap_or(2000)),
        Some("throughput") => throughput(),
        Some("viewers") => viewers(number.unwrap_or(1000)),
        _ => {
            notice(number.unwrap_or(1000));
            throughput();
            viewers(1000);
        }
    }
}
