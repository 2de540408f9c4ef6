//! Disconnect notice: from a client's FIN or RST to the worker holding its
//! exchange being woken from `wait_closed`, over many tries, for a GET, a POST
//! with a body, and a GET with pipelined requests buffered behind it.
//!
//! ```text
//! cargo bench --bench disconnect_notice [-- TRIES]
//! taskset -c 1 cargo bench --bench disconnect_notice   # optional pinning
//! ```
//!
//! Prints median, p99 and max in microseconds per case.

use std::io::Write;
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tether::{Action, CloseReason, Config, Exchange, Server};

#[path = "common/mod.rs"]
mod common;
use common::percentile;

#[derive(Clone, Copy)]
enum Leave {
    Fin,
    Rst,
}

fn run_case(
    server: &Server,
    woken: &mpsc::Receiver<(Instant, CloseReason)>,
    request: &[u8],
    leave: Leave,
    tries: usize,
) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(tries);
    for _ in 0..tries {
        let mut client = TcpStream::connect(server.local_addr()).unwrap();
        client.set_nodelay(true).unwrap();
        client.write_all(request).unwrap();
        while server.stats().pending_responses == 0 {
            std::thread::yield_now();
        }
        let left_at = match leave {
            Leave::Fin => {
                let t = Instant::now();
                drop(client);
                t
            }
            Leave::Rst => common::reset(client),
        };
        let (at, _reason) = woken
            .recv_timeout(Duration::from_secs(10))
            .expect("worker woken");
        samples.push(at.saturating_duration_since(left_at));
        while server.stats().active > 0 {
            std::thread::yield_now();
        }
    }
    samples.sort();
    samples
}

fn main() {
    let tries: usize = common::args()
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    let (tx, woken) = mpsc::channel();
    let server = Server::builder()
        .config(Config::default())
        .handler(|_: &tether::Request| Action::handoff())
        .bind("127.0.0.1:0")
        .unwrap();
    server.workers(1, move |exchange: Exchange| {
        if let Some(reason) = exchange.wait_closed(Duration::from_secs(10)) {
            let _ = tx.send((Instant::now(), reason));
        }
    });

    let get = b"GET /work HTTP/1.1\r\nHost: b\r\n\r\n".to_vec();
    let post = b"POST /work HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\n\r\nhello".to_vec();
    let pipelined = get.repeat(16);
    println!("disconnect notice, {tries} tries per case (client leaves -> worker woken)");
    println!(
        "{:<28} {:>10} {:>10} {:>10}",
        "case", "median us", "p99 us", "max us"
    );
    for (name, request) in [
        ("GET", &get),
        ("POST with body", &post),
        ("GET + 15 pipelined", &pipelined),
    ] {
        for (leave_name, leave) in [("FIN", Leave::Fin), ("RST", Leave::Rst)] {
            let samples = run_case(&server, &woken, request, leave, tries);
            let us = |d: Duration| d.as_secs_f64() * 1e6;
            println!(
                "{:<28} {:>10.1} {:>10.1} {:>10.1}",
                format!("{name}, {leave_name}"),
                us(percentile(&samples, 0.5)),
                us(percentile(&samples, 0.99)),
                us(*samples.last().unwrap()),
            );
        }
    }
    server.shutdown();
}
