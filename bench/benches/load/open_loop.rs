//! The open-loop load generator: requests go out on a fixed schedule,
//! whatever the server's pace, and each is timed from its *scheduled* send
//! time — so a server that stalls is charged for every request that
//! queued behind the stall (no coordinated omission).
//!
//! One thread, mio, a fixed set of keep-alive connections with one request
//! in flight each. A request whose time has come waits for a free
//! connection, and that wait counts in its latency, as it would for a real
//! client with a connection pool.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

const REQUEST: &[u8] = b"GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n";
/// How long answers may take after the last scheduled send.
const DRAIN: Duration = Duration::from_secs(2);

pub struct Outcome {
    /// Requests scheduled in the measured window.
    pub scheduled: u64,
    /// Of those, answered (the rest are in `latency` at the time the
    /// client gave up on them: a lower bound).
    pub answered: u64,
    /// Latency from scheduled send to the whole response, µs.
    pub latency: Histogram<u64>,
    /// The rate achieved in the window (answers per second).
    pub achieved: f64,
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// The scheduled time of the request in flight.
    in_flight: Option<Instant>,
    connected: bool,
}

/// Sends `rate` requests per second over `connections` connections for
/// `warmup + window`, timing those scheduled inside the window.
pub fn run(
    addr: SocketAddr,
    rate: f64,
    connections: usize,
    warmup: Duration,
    window: Duration,
) -> Outcome {
    let mut poll = Poll::new().unwrap();
    let mut conns: Vec<Conn> = (0..connections)
        .map(|i| {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.set_nodelay(true).unwrap();
            poll.registry()
                .register(
                    &mut stream,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .unwrap();
            Conn {
                stream,
                buf: Vec::with_capacity(4096),
                in_flight: None,
                connected: false,
            }
        })
        .collect();
    let mut free: Vec<usize> = Vec::with_capacity(connections);
    let mut due: VecDeque<Instant> = VecDeque::new();
    let mut events = Events::with_capacity(1024);
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let mut read_buf = vec![0u8; 64 * 1024];
    let interval = Duration::from_secs_f64(1.0 / rate);
    // Let the connections open before the schedule starts.
    let start = Instant::now() + Duration::from_millis(50);
    let measure_from = start + warmup;
    let send_until = measure_from + window;
    let give_up = send_until + DRAIN;
    let mut next = 0u64;
    let (mut scheduled, mut answered) = (0u64, 0u64);
    let mut last_answer = measure_from;
    loop {
        let now = Instant::now();
        // Everything whose time has come joins the queue.
        loop {
            let at = start + interval.mul_f64(next as f64);
            if at > now || at >= send_until {
                break;
            }
            due.push_back(at);
            next += 1;
            if at >= measure_from {
                scheduled += 1;
            }
        }
        while let (Some(&at), Some(i)) = (due.front(), free.last().copied()) {
            let conn = &mut conns[i];
            if conn.stream.write_all(REQUEST).is_err() {
                panic!("the server closed a connection");
            }
            conn.in_flight = Some(at);
            due.pop_front();
            free.pop();
        }
        let sending_done = start + interval.mul_f64(next as f64) >= send_until;
        let in_flight = conns.iter().any(|c| c.in_flight.is_some());
        if (sending_done && due.is_empty() && !in_flight) || now >= give_up {
            break;
        }
        // Spin while the next send is near: epoll's timeout is coarse (1 ms).
        let next_at = start + interval.mul_f64(next as f64);
        let timeout = match next_at.checked_duration_since(now) {
            _ if !due.is_empty() || sending_done => Some(Duration::from_millis(1)),
            Some(wait) if wait > Duration::from_millis(2) => Some(wait - Duration::from_millis(1)),
            _ => Some(Duration::ZERO),
        };
        poll.poll(&mut events, timeout).unwrap();
        for event in events.iter() {
            let i = event.token().0;
            let conn = &mut conns[i];
            if !conn.connected && event.is_writable() {
                conn.connected = true;
                free.push(i);
            }
            if !event.is_readable() {
                continue;
            }
            loop {
                match conn.stream.read(&mut read_buf) {
                    Ok(0) => panic!("the server closed a connection"),
                    Ok(n) => conn.buf.extend_from_slice(&read_buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("read: {e}"),
                }
            }
            if crate::client::take_responses(&mut conn.buf) > 0 {
                let now = Instant::now();
                if let Some(at) = conn.in_flight.take() {
                    if at >= measure_from {
                        answered += 1;
                        last_answer = now;
                        let micros = now.duration_since(at).as_micros() as u64;
                        let _ = latency.record(micros.max(1));
                    }
                }
                free.push(i);
            }
        }
    }
    // Never answered: charged up to now, at least.
    let now = Instant::now();
    let unanswered = conns.iter().filter_map(|c| c.in_flight).chain(due);
    for at in unanswered.filter(|at| *at >= measure_from) {
        let _ = latency.record(now.duration_since(at).as_micros() as u64);
    }
    let span = last_answer.duration_since(measure_from).max(window);
    Outcome {
        scheduled,
        answered,
        latency,
        achieved: answered as f64 / span.as_secs_f64(),
    }
}
