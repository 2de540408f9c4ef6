//! The load generator: one thread, mio, many connections, closed loop.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One request in flight per connection.
    KeepAlive,
    /// `n` requests written at once, the next batch after all `n` answers.
    Pipelined(usize),
    /// A new connection for every request (`Connection: close`).
    ConnPerRequest,
}

pub struct Outcome {
    pub requests: u64,
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
}

const REQUEST: &[u8] = b"GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n";
const REQUEST_CLOSE: &[u8] = b"GET /hello HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    outstanding: usize,
    sent_at: Instant,
    connected: bool,
}

/// Complete responses at the front of `buf` (removed from it).
pub fn take_responses(buf: &mut Vec<u8>) -> usize {
    let mut used = 0;
    let mut count = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = response.parse(&buf[used..]) else {
            break;
        };
        let length: usize = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
            .unwrap_or(0);
        if buf.len() - used < head + length {
            break;
        }
        used += head + length;
        count += 1;
    }
    buf.drain(..used);
    count
}

fn send(conn: &mut Conn, mode: Mode) {
    let batch = match mode {
        Mode::Pipelined(n) => n,
        _ => 1,
    };
    let bytes = match mode {
        Mode::ConnPerRequest => REQUEST_CLOSE.to_vec(),
        _ => REQUEST.repeat(batch),
    };
    if conn.stream.write_all(&bytes).is_ok() {
        conn.outstanding = batch;
        conn.sent_at = Instant::now();
    }
}

fn open(poll: &Poll, addr: SocketAddr, token: Token) -> Conn {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    poll.registry()
        .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
        .unwrap();
    Conn {
        stream,
        buf: Vec::with_capacity(4096),
        outstanding: 0,
        sent_at: Instant::now(),
        connected: false,
    }
}

/// Drives `connections` connections for `warmup + duration`; counts only
/// after the warm-up.
pub fn run(
    addr: SocketAddr,
    mode: Mode,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> Outcome {
    let mut poll = Poll::new().unwrap();
    let mut conns: Vec<Conn> = (0..connections)
        .map(|i| open(&poll, addr, Token(i)))
        .collect();
    let mut events = Events::with_capacity(1024);
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let started = Instant::now();
    let measure_from = started + warmup;
    let end = measure_from + duration;
    let mut requests = 0u64;
    while Instant::now() < end {
        poll.poll(&mut events, Some(Duration::from_millis(10)))
            .unwrap();
        for event in events.iter() {
            let i = event.token().0;
            let conn = &mut conns[i];
            if !conn.connected && event.is_writable() {
                conn.connected = true;
                send(conn, mode);
            }
            if !event.is_readable() && !event.is_read_closed() {
                continue;
            }
            let mut eof = false;
            loop {
                match conn.stream.read(&mut buf) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => conn.buf.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        eof = true;
                        break;
                    }
                }
            }
            let done = take_responses(&mut conn.buf).min(conn.outstanding);
            conn.outstanding -= done;
            let now = Instant::now();
            if done > 0 && now >= measure_from {
                requests += done as u64;
                let micros = now.duration_since(conn.sent_at).as_micros() as u64;
                for _ in 0..done {
                    let _ = latency.record(micros.max(1));
                }
            }
            match mode {
                Mode::ConnPerRequest if conn.outstanding == 0 || eof => {
                    let _ = poll.registry().deregister(&mut conn.stream);
                    conns[i] = open(&poll, addr, Token(i));
                }
                _ if conn.outstanding == 0 && !eof => send(conn, mode),
                _ => {}
            }
        }
    }
    Outcome {
        requests,
        elapsed: Instant::now().duration_since(measure_from),
        latency,
    }
}
