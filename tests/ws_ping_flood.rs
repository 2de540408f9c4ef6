//! Output a peer causes obeys the same byte limit as responses: a client
//! that floods pings and never reads gets backpressure (the server stops
//! decoding it), not a server whose memory grows with every pong.

mod util;

use std::io::Write;
use std::time::{Duration, Instant};

use tether::ws::Upgrade;
use tether::{Action, Config};
use util::ws::{frame, RawWs, FIN, PING};
use util::Client;

/// The server process's resident memory, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn a_ping_flood_that_never_reads_is_held_back_not_buffered() {
    let server = util::serve(Config::default(), |req: &tether::Request| {
        match req.path() {
            "/ws" => Action::Upgrade(Upgrade::new()),
            _ => util::hello(req),
        }
    });
    let _events = server.ws_events();
    let mut flooder = RawWs::connect(server.local_addr(), "/ws");
    flooder
        .stream
        .set_write_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    // 2,000 pings of 125 bytes per write: 254 KB.
    let burst: Vec<u8> = (0..2000)
        .flat_map(|_| frame(FIN | PING, &[b'p'; 125], true))
        .collect();
    let before = rss();
    let mut sent = 0usize;
    let started = Instant::now();
    while sent < 24 << 20 && started.elapsed() < Duration::from_secs(20) {
        match flooder.stream.write_all(&burst) {
            Ok(()) => sent += burst.len(),
            // Held back: the server stopped reading us.
            Err(_) => break,
        }
    }
    let grown = rss().saturating_sub(before);
    // Before the fix the server answered every ping into an output buffer
    // that grew with the flood (5 GB in 25 s against the demo). Now one
    // pong answers a batch, and decoding stops while output is over the
    // high-water mark (see src/conn/tests/ for that path, byte by byte).
    assert!(
        grown < 16 << 20,
        "server memory grew by {grown} bytes during a {sent}-byte ping flood"
    );
    // Everyone else is still served.
    let mut client = Client::connect(server.local_addr());
    assert_eq!(client.get("/hello").status, 200);
}
