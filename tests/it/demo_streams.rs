//! The demo's streaming and long-poll endpoints, as a user's client sees
//! them: MJPEG frames are real JPEGs (decoded by the `jpeg-decoder` crate),
//! SSE ticks count up, and long polling never loses or duplicates a message.

use crate::util;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use util::demo::{append_to_feed, next_sse, read_feed, Demo};
use util::*;

/// Reads `multipart/x-mixed-replace` parts out of a chunked body.
struct Parts<'a> {
    client: &'a mut Client,
    buf: Vec<u8>,
}

impl Parts<'_> {
    fn need(&mut self, n: usize) -> io::Result<()> {
        while self.buf.len() < n {
            match self.client.read_chunk()? {
                Some(chunk) => self.buf.extend_from_slice(&chunk),
                None => return Err(io::ErrorKind::UnexpectedEof.into()),
            }
        }
        Ok(())
    }

    /// The next part's Content-Type and body.
    fn next(&mut self) -> io::Result<(String, Vec<u8>)> {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let more = self.buf.len() + 1;
            self.need(more)?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        assert_eq!(lines.next(), Some("--tether-frame"), "a boundary line");
        let mut content_type = String::new();
        let mut length = None;
        for line in lines {
            let (name, value) = line.split_once(": ").expect("a header line");
            match name.to_ascii_lowercase().as_str() {
                "content-type" => content_type = value.to_string(),
                "content-length" => length = value.parse::<usize>().ok(),
                _ => {}
            }
        }
        let length = length.expect("every part has a Content-Length");
        let start = head_end + 4;
        self.need(start + length + 2)?;
        let body = self.buf[start..start + length].to_vec();
        assert_eq!(&self.buf[start + length..start + length + 2], b"\r\n");
        self.buf.drain(..start + length + 2);
        Ok((content_type, body))
    }
}

fn watch_mjpeg(demo: &Demo, leave: impl FnOnce(Client)) {
    let mut client = Client::connect(demo.addr);
    client.send(b"GET /mjpeg?fps=20 HTTP/1.1\r\nHost: t\r\n\r\n");
    let reply = client.read_reply(true);
    assert_eq!(
        reply.header("content-type"),
        Some("multipart/x-mixed-replace; boundary=tether-frame")
    );
    let mut parts = Parts {
        client: &mut client,
        buf: Vec::new(),
    };
    let mut frames = Vec::new();
    for _ in 0..3 {
        let (content_type, jpeg) = parts.next().unwrap();
        assert_eq!(content_type, "image/jpeg");
        let mut decoder = jpeg_decoder::Decoder::new(jpeg.as_slice());
        let pixels = decoder.decode().expect("a decodable JPEG");
        let info = decoder.info().unwrap();
        assert_eq!((info.width, info.height), (320, 240));
        frames.push(pixels);
    }
    assert!(
        frames.windows(2).any(|w| w[0] != w[1]),
        "frames change over time"
    );
    wait_for("one active stream", || demo.stats()["streams_active"] == 1);
    leave(client);
    wait_for("streams_active back to 0", || {
        demo.stats()["streams_active"] == 0
    });
}

#[test]
fn mjpeg_viewers_get_real_changing_frames_and_are_let_go_at_once() {
    let demo = Demo::start();
    // A clean FIN. (Dropping a socket with unread frames in its receive
    // buffer makes Linux send RST instead: that would be a reset, truly.)
    watch_mjpeg(&demo, |mut client| {
        client.finish_sending();
        wait_for("the FIN noticed", || demo.stats()["streams_active"] == 0);
    });
    let after_fin = demo.stats();
    assert_eq!(after_fin["closed"]["peer_reset"], 0);
    assert!(after_fin["closed"]["peer_closed"].as_u64().unwrap() >= 1);
    watch_mjpeg(&demo, Client::reset);
    let stats = demo.stats();
    assert!(stats["frames_sent"].as_u64().unwrap() >= 6);
    // (Each /stats read is a connection too, closed by its client.)
    assert_eq!(stats["closed"]["peer_reset"], 1);
    demo.terminate();
}

#[test]
fn events_tick_every_second() {
    let demo = Demo::start();
    let mut client = Client::connect(demo.addr);
    client.send(b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        client.read_reply(true).header("content-type"),
        Some("text/event-stream")
    );
    let started = Instant::now();
    for n in 1..=2 {
        let event = String::from_utf8(client.read_chunk().unwrap().unwrap()).unwrap();
        assert_eq!(event, format!("event: tick\nid: {n}\ndata: {n}\n\n"));
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "about one a second"
    );
    demo.terminate();
}

#[test]
fn a_poll_times_out_with_204_and_gets_a_published_message() {
    let demo = Demo::start();
    let mut poller = Client::connect(demo.addr);
    assert_eq!(poller.get("/poll?timeout_ms=50").status, 204);
    let mut publisher = Client::connect(demo.addr);
    publisher.send(b"POST /publish HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nfirst");
    assert_eq!(publisher.read_reply(false).status, 202);
    let reply = poller.get("/poll?timeout_ms=5000");
    assert_eq!((reply.status, reply.text()), (200, "first"));
    demo.terminate();
}

#[test]
fn a_poller_that_leaves_is_let_go_and_its_message_goes_to_the_next() {
    let demo = Demo::start();
    for leave in [drop as fn(Client), Client::reset] {
        let mut gone = Client::connect(demo.addr);
        gone.send(b"GET /poll?timeout_ms=30000 HTTP/1.1\r\nHost: t\r\n\r\n");
        wait_for("the poller to wait", || {
            demo.stats()["pending_responses"] == 1
        });
        leave(gone);
        wait_for("the departure noticed", || {
            demo.stats()["pending_responses"] == 0
        });
        let mut publisher = Client::connect(demo.addr);
        publisher.send(b"POST /publish HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nnext");
        assert_eq!(publisher.read_reply(false).status, 202);
        let reply = Client::connect(demo.addr).get("/poll?timeout_ms=5000");
        assert_eq!(reply.text(), "next");
    }
    demo.terminate();
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Reads whatever a poller that half-closed still gets: a 200 with a
/// message, a 204, or nothing.
fn what_arrived(client: &mut Client) -> Option<String> {
    let reply = client.try_read_reply(false).ok()?;
    (reply.status == 200).then(|| reply.text().to_string())
}

#[test]
fn a_thousand_messages_each_reach_exactly_one_poller() {
    const MESSAGES: usize = 1000;
    let demo = Demo::start();
    let addr = demo.addr;
    let received = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(60);

    let publisher = std::thread::spawn(move || {
        let mut rng = Rng(7);
        let mut client = Client::connect(addr);
        for i in 0..MESSAGES {
            let body = format!("m{i}");
            client.send(
                format!(
                    "POST /publish HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
            assert_eq!(client.read_reply(false).status, 202);
            if rng.below(4) == 0 {
                std::thread::sleep(Duration::from_micros(rng.below(3000)));
            }
        }
    });
    let pollers: Vec<_> = (0..8u64)
        .map(|t| {
            let received = Arc::clone(&received);
            std::thread::spawn(move || {
                let mut rng = Rng(0xC0FFEE + t);
                let (mut left, mut timed_out) = (0, 0);
                while received.lock().unwrap().len() < MESSAGES && Instant::now() < deadline {
                    let timeout = 20 + rng.below(280);
                    let mut client = Client::connect(addr);
                    client.send(
                        format!("GET /poll?timeout_ms={timeout} HTTP/1.1\r\nHost: t\r\n\r\n")
                            .as_bytes(),
                    );
                    let got = if rng.below(3) == 0 {
                        // Leave early, politely: half-close, then count what
                        // had already been sent.
                        std::thread::sleep(Duration::from_micros(rng.below(20_000)));
                        client.finish_sending();
                        left += 1;
                        what_arrived(&mut client)
                    } else {
                        let reply = client.read_reply(false);
                        if reply.status == 204 {
                            timed_out += 1;
                        }
                        (reply.status == 200).then(|| reply.text().to_string())
                    };
                    if let Some(message) = got {
                        received.lock().unwrap().push(message);
                    }
                }
                (left, timed_out)
            })
        })
        .collect();
    publisher.join().unwrap();
    let (mut left, mut timed_out) = (0, 0);
    for poller in pollers {
        let (l, t) = poller.join().unwrap();
        left += l;
        timed_out += t;
    }

    let mut got = received.lock().unwrap().clone();
    let count = got.len();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), count, "no message was received twice");
    let mut expected: Vec<String> = (0..MESSAGES).map(|i| format!("m{i}")).collect();
    expected.sort();
    assert_eq!(got, expected, "every message was received");
    assert!(
        left > 0 && timed_out > 0,
        "pollers left ({left}) and timed out ({timed_out})"
    );
    let stats = demo.stats();
    eprintln!(
        "{left} pollers left early, {timed_out} timed out, {} messages requeued",
        stats["messages_requeued"]
    );
    demo.terminate();
}

#[test]
fn the_feed_resumes_after_last_event_id_and_says_reset_when_it_cannot() {
    let demo = Demo::start();
    let mut publisher = Client::connect(demo.addr);
    let ids: Vec<String> = ["one", "two", "three"]
        .iter()
        .map(|text| append_to_feed(&mut publisher, text))
        .collect();
    let mut reader = Client::connect(demo.addr);
    read_feed(&mut reader, &ids[0]);
    for (id, text) in [(&ids[1], "two"), (&ids[2], "three")] {
        assert_eq!(
            next_sse(&mut reader),
            format!("event: feed\nid: {id}\ndata: {text}\n\n")
        );
    }
    // Then live: the next append reaches the waiting reader.
    let four = append_to_feed(&mut publisher, "four");
    assert_eq!(
        next_sse(&mut reader),
        format!("event: feed\nid: {four}\ndata: four\n\n")
    );
    // An id of another life of the feed: a reset, then everything held.
    let mut stranger = Client::connect(demo.addr);
    read_feed(&mut stranger, "0-1");
    assert!(next_sse(&mut stranger).starts_with("event: reset\n"));
    for text in ["one", "two", "three", "four"] {
        assert!(next_sse(&mut stranger).ends_with(&format!("data: {text}\n\n")));
    }
    let cluster = &demo.stats()["cluster"];
    assert_eq!(cluster["engine"], "memory");
    assert_eq!(cluster["process"].as_u64(), Some(u64::from(demo.pid())));
    assert_eq!(
        (
            cluster["connected"].as_bool(),
            cluster["feed_appended"].as_u64()
        ),
        (Some(true), Some(4))
    );
    demo.terminate();
}

#[test]
fn the_feed_refuses_what_is_not_text() {
    let demo = Demo::start();
    let mut client = Client::connect(demo.addr);
    client.send(b"POST /feed HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n\xff\xfe");
    assert_eq!(client.read_reply(false).status, 400);
    demo.terminate();
}
