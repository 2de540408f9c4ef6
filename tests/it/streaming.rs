//! Streaming responses: chunked and close-delimited bodies, and a producer
//! that stops the moment the client leaves, wakes from a full queue, and
//! cannot pin memory with a slow or sleeping viewer.
//!
//! The tests up to the first about memory run over plain TCP and, with
//! feature `tls`, over TLS.

use crate::util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use tether::{Backlog, CloseReason, Config, Exchange, Response, SendError, StreamOptions};
use util::*;

fn head() -> Response {
    Response::new(200).with_header("Content-Type", "text/plain")
}

/// A server whose workers stream `part(i)` for i = 0.. every `pause` until a
/// send fails, and report the error and how many parts went out.
fn endless(
    over: Over,
    config: Config,
    pause: Duration,
) -> (tether::Server, mpsc::Receiver<(SendError, usize)>) {
    let (tx, rx) = mpsc::channel();
    let server = serve_workers_over(over, config, 1, move |exchange: Exchange| {
        let mut stream = exchange.stream(head()).unwrap();
        for i in 0.. {
            if let Err(closed) = stream.send(format!("part {i}\n")) {
                tx.send((closed, i)).unwrap();
                return;
            }
            std::thread::sleep(pause);
        }
    });
    (server, rx)
}

fn a_chunked_stream_arrives_in_order_and_the_connection_stays_open(over: Over) {
    let server = serve_workers_over(over, Config::default(), 1, |exchange: Exchange| {
        if exchange.request().path() == "/plain" {
            exchange.respond(Response::text(200, "after")).unwrap();
            return;
        }
        let mut stream = exchange.stream(head()).unwrap();
        for i in 0..5 {
            stream.send(format!("part {i}")).unwrap();
        }
        stream.finish().unwrap();
    });
    let mut client = Client::connect_over(over, server.local_addr());
    client.send(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    let reply = client.read_reply(true);
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    let mut parts = Vec::new();
    while let Some(chunk) = client.read_chunk().unwrap() {
        parts.push(String::from_utf8(chunk).unwrap());
    }
    assert_eq!(parts, ["part 0", "part 1", "part 2", "part 3", "part 4"]);
    assert_eq!(
        client.get("/plain").text(),
        "after",
        "keep-alive after a stream"
    );
    assert_eq!(server.stats().streams_active, 0);
    assert_eq!(server.stats().frames_sent, 5);
}

fn an_http10_client_gets_a_close_delimited_body(over: Over) {
    let server = serve_workers_over(over, Config::default(), 1, |exchange: Exchange| {
        let mut stream = exchange.stream(head()).unwrap();
        stream.send("abc").unwrap();
        stream.send("def").unwrap();
        stream.finish().unwrap();
    });
    let mut client = Client::connect_over(over, server.local_addr());
    client.send(b"GET / HTTP/1.0\r\n\r\n");
    let reply = client.read_reply(true);
    assert!(reply.header("transfer-encoding").is_none());
    assert!(reply.closes());
    assert_eq!(client.read_to_end().unwrap(), b"abcdef");
}

fn close_delimited_can_be_asked_for(over: Over) {
    let server = serve_workers_over(over, Config::default(), 1, |exchange: Exchange| {
        let options = StreamOptions::default().close_delimited();
        let mut stream = exchange.stream_with(head(), options).unwrap();
        stream.send("raw bytes").unwrap();
        stream.finish().unwrap();
    });
    let mut client = Client::connect_over(over, server.local_addr());
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(client.read_reply(true).closes());
    assert_eq!(client.read_to_end().unwrap(), b"raw bytes");
}

/// `leave` ends the reader's part; a client it hands back stays open
/// (half-closed) until the producer has been told.
fn reader_leaves_after_three_parts(
    over: Over,
    leave: impl FnOnce(Client) -> Option<Client>,
    reason: CloseReason,
) {
    let (server, rx) = endless(over, Config::default(), Duration::from_millis(5));
    let mut client = Client::connect_over(over, server.local_addr());
    client.send(b"GET /mjpeg HTTP/1.1\r\nHost: t\r\n\r\n");
    client.read_reply(true);
    for i in 0..3 {
        assert_eq!(
            client.read_chunk().unwrap().unwrap(),
            format!("part {i}\n").as_bytes()
        );
    }
    let _still_open = leave(client);
    let (closed, _) = rx
        .recv_timeout(PATIENCE)
        .expect("the producer's send failed");
    assert_eq!(closed, SendError::Closed(reason));
    wait_for("streams_active back to 0", || {
        server.stats().streams_active == 0
    });
    assert_quiet(&server);
}

fn the_producer_stops_when_the_reader_sends_fin(over: Over) {
    // A half-close: a FIN even with parts unread (closing the socket
    // then would send an RST instead, and the server would rightly say
    // peer_reset).
    let fin = |mut client: Client| {
        client.finish_sending();
        Some(client)
    };
    reader_leaves_after_three_parts(over, fin, CloseReason::PeerClosed);
}

fn the_producer_stops_when_the_reader_resets(over: Over) {
    let reset = |client: Client| {
        client.reset();
        None
    };
    reader_leaves_after_three_parts(over, reset, CloseReason::PeerReset);
}

fn a_producer_blocked_on_a_full_queue_wakes_when_the_client_leaves(over: Over) {
    let mut config = Config::default();
    config.stream_budget_bytes = 16 * 1024;
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    let (tx, rx) = mpsc::channel();
    let server = serve_workers_over(over, config, 1, move |exchange: Exchange| {
        let mut stream = exchange.stream(head()).unwrap();
        let part = vec![b'z'; 8 * 1024];
        loop {
            if let Err(closed) = stream.send(part.clone()) {
                tx.send(closed).unwrap();
                return;
            }
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let mut client = Client::connect_over(over, server.local_addr());
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    // The client never reads: socket buffers fill, then the queue, then the
    // producer blocks. Wait until it stops making progress.
    let mut last = 0;
    wait_for("the producer to block", || {
        std::thread::sleep(Duration::from_millis(100));
        let now = sent.load(Ordering::SeqCst);
        let blocked = now > 0 && now == last;
        last = now;
        blocked
    });
    client.reset();
    assert_eq!(
        rx.recv_timeout(PATIENCE).unwrap(),
        SendError::Closed(CloseReason::PeerReset)
    );
}

fn a_client_that_never_reads_is_cut_with_write_stall(over: Over) {
    let mut config = Config::default();
    config.write_stall_timeout = Duration::from_millis(300);
    config.stream_budget_bytes = 16 * 1024;
    let (server, rx) = endless(over, config, Duration::ZERO);
    let mut client = Client::connect_over(over, server.local_addr());
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let (closed, _) = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(closed, SendError::Closed(CloseReason::WriteStall));
    assert_eq!(server.stats().closed.get(CloseReason::WriteStall), 1);
    drop(client);
    assert_quiet(&server);
}

#[test]
fn keep_newest_replaces_waiting_parts_whole_and_bounds_memory() {
    const PART_BYTES: usize = 32 * 1024;
    let (tx, rx) = mpsc::channel();
    let server = serve_workers(Config::default(), 1, move |exchange: Exchange| {
        let options = StreamOptions::default().backlog(Backlog::KeepNewest);
        let mut stream = exchange.stream_with(head(), options).unwrap();
        let mut most_queued = 0;
        for i in 0u32..2000 {
            // Each part: its number, then filler that repeats it.
            let mut part = i.to_be_bytes().repeat(PART_BYTES / 4);
            part.truncate(PART_BYTES);
            if stream.send(part).is_err() {
                break;
            }
            most_queued = most_queued.max(stream.queued_bytes());
        }
        let _ = stream.finish();
        tx.send(most_queued).unwrap();
    });
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    client.read_reply(true);
    let mut numbers = Vec::new();
    while let Some(chunk) = client.read_chunk().unwrap() {
        assert_eq!(chunk.len(), PART_BYTES, "a whole part");
        let n = u32::from_be_bytes(chunk[..4].try_into().unwrap());
        assert!(
            chunk.chunks(4).all(|w| w == n.to_be_bytes()),
            "part {n} is not torn"
        );
        numbers.push(n);
        std::thread::sleep(Duration::from_millis(1)); // a slow viewer
    }
    let most_queued = rx.recv_timeout(PATIENCE).unwrap();
    assert!(
        most_queued <= PART_BYTES,
        "at most one part waits: {most_queued}"
    );
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "in order");
    assert_eq!(numbers.last(), Some(&1999), "the newest part is delivered");
    let stats = server.stats();
    assert!(
        stats.frames_replaced > 0,
        "a slow viewer had parts replaced"
    );
    assert_eq!(stats.frames_replaced + numbers.len() as u64, 2000);
}

#[test]
fn dropping_the_sender_unfinished_cuts_the_body() {
    let server = serve_workers(Config::default(), 1, |exchange: Exchange| {
        let mut stream = exchange.stream(head()).unwrap();
        stream.send("half").unwrap();
    });
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    client.read_reply(true);
    assert_eq!(client.read_chunk().unwrap().unwrap(), b"half");
    assert!(
        client.read_chunk().is_err(),
        "no last chunk: the body is incomplete"
    );
    drop(client);
    wait_closed_count(&server, CloseReason::StreamAbandoned, 1);
}

#[test]
fn a_quiet_stream_gets_heartbeats() {
    let server = serve_workers(Config::default(), 1, |exchange: Exchange| {
        let options = StreamOptions::default().heartbeat(Duration::from_millis(50), b": hb\n\n");
        let stream = exchange.stream_with(head(), options).unwrap();
        // Send nothing; just wait for the client to go.
        stream.wait_closed(PATIENCE);
    });
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    client.read_reply(true);
    for _ in 0..3 {
        assert_eq!(client.read_chunk().unwrap().unwrap(), b": hb\n\n");
    }
}

#[test]
fn shutdown_ends_streams_and_tells_producers() {
    let (server, rx) = endless(Over::Plain, Config::default(), Duration::from_millis(5));
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    client.read_reply(true);
    client.read_chunk().unwrap();
    server.shutdown();
    let (closed, _) = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(closed, SendError::Closed(CloseReason::Shutdown));
}

#[test]
fn a_stream_for_a_client_already_gone_comes_back() {
    let (tx, rx) = mpsc::channel();
    let server = serve_workers(Config::default(), 1, move |exchange: Exchange| {
        exchange.wait_closed(PATIENCE);
        tx.send(exchange.stream(head()).map(drop)).unwrap();
    });
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for("pending", || server.stats().pending_responses == 1);
    drop(client);
    let back = rx.recv_timeout(PATIENCE).unwrap().unwrap_err();
    assert_eq!(back.reason, CloseReason::PeerClosed);
}

crate::over_both!(
    a_chunked_stream_arrives_in_order_and_the_connection_stays_open,
    an_http10_client_gets_a_close_delimited_body,
    close_delimited_can_be_asked_for,
    the_producer_stops_when_the_reader_sends_fin,
    the_producer_stops_when_the_reader_resets,
    a_producer_blocked_on_a_full_queue_wakes_when_the_client_leaves,
    a_client_that_never_reads_is_cut_with_write_stall,
);
