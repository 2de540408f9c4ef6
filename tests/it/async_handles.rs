//! The handles' futures — `Exchanges::recv_async`, `Exchange::closed`, an
//! awaited `Delivery`, `StreamSender::send_async`, `BodyReader::read_async`,
//! `WsEvents::recv_async`, a feed's `Subscription::next_async` — woken by
//! the reactor or the feed, each scenario run on a
//! minimal executor (a thread that parks) and on tokio: no runtime assumed.

use crate::util;

use std::future::Future;
use std::pin::pin;
use std::sync::mpsc;
use std::task::Poll;
use std::time::Duration;

use tether::cluster::{Feed, FeedItem};
use tether::ws::{Message, Upgrade, WsEventKind};
use tether::{Action, CloseReason, Config, Request, Response, SendError, Server};
use util::executor::block_on;
use util::*;

/// How long a scenario may take before a lost wake-up is assumed.
const WITHIN: Duration = Duration::from_secs(30);

/// Runs the scenario `make` builds on the minimal executor, then on a
/// multi-threaded tokio runtime (as a spawned task, so it moves between
/// threads).
fn on_both<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    block_on(WITHIN, make());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        tokio::time::timeout(WITHIN, tokio::spawn(make()))
            .await
            .expect("the scenario did not finish in time")
            .expect("the scenario panicked");
    });
}

fn handoff_server(config: Config) -> Server {
    init();
    Server::builder()
        .config(config)
        .handler(|_: &Request| Action::handoff())
        .bind("127.0.0.1:0")
        .expect("bind")
}

#[test]
fn closed_resolves_the_moment_the_client_leaves() {
    on_both(|| {
        let server = handoff_server(Config::default());
        let exchanges = server.exchanges();
        let (taken_tx, taken) = mpsc::channel();
        let addr = server.local_addr();
        let client = std::thread::spawn(move || {
            let mut client = Client::connect(addr);
            client.send(b"GET /wait HTTP/1.1\r\nHost: t\r\n\r\n");
            taken.recv().expect("the exchange was taken");
            drop(client);
        });
        async move {
            let exchange = exchanges.recv_async().await.expect("an exchange");
            let closed = exchange.closed();
            taken_tx.send(()).unwrap();
            assert_eq!(closed.await, CloseReason::PeerClosed);
            assert!(exchange.is_closed());
            // Heard by awaiting: timed as `wait_closed` is.
            assert!(server.stats().departure_notice.count() >= 1);
            exchange.abandon();
            client.join().unwrap();
        }
    });
}

#[test]
fn an_awaited_delivery_is_the_verdict_and_a_departed_client_gives_the_response_back() {
    on_both(|| {
        let server = handoff_server(Config::default());
        let exchanges = server.exchanges();
        let addr = server.local_addr();
        let (left_tx, left) = mpsc::channel();
        let client = std::thread::spawn(move || {
            let mut client = Client::connect(addr);
            assert_eq!(client.get("/answer").text(), "answered");
            let mut leaver = Client::connect(addr);
            leaver.send(b"GET /leave HTTP/1.1\r\nHost: t\r\n\r\n");
            drop(leaver);
            left_tx.send(()).unwrap();
        });
        async move {
            let _serving = server;
            let exchange = exchanges.recv_async().await.expect("an exchange");
            let delivery = exchange.send_response(Response::text(200, "answered"));
            let verdict = delivery.expect("the client waits").await;
            assert!(verdict.is_ok(), "{verdict:?}");

            let exchange = exchanges.recv_async().await.expect("the leaver");
            let _ = exchange.closed().await;
            let back = exchange
                .send_response(Response::text(200, "nobody"))
                .expect_err("the client left: the response comes back");
            assert_eq!(back.response.body(), b"nobody");
            client.join().unwrap();
            left.recv().unwrap();
        }
    });
}

#[test]
fn send_async_waits_for_room_without_a_thread_and_fails_once_the_client_leaves() {
    const PART: usize = 16 * 1024;
    const PARTS: usize = 256; // 4 MiB through a 64 KiB budget
    on_both(|| {
        let server = handoff_server(Config::default().stream_budget_bytes(64 * 1024));
        let exchanges = server.exchanges();
        let addr = server.local_addr();
        let (done_tx, done) = mpsc::channel();
        let client = std::thread::spawn(move || {
            let mut client = Client::connect(addr);
            client.send(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
            let reply = client.read_reply(true);
            assert_eq!(reply.status, 200);
            let mut body = 0;
            while body < PART * PARTS {
                match client.read_chunk() {
                    Ok(Some(chunk)) => body += chunk.len(),
                    other => panic!("stream ended early at {body} bytes: {other:?}"),
                }
            }
            done_tx.send(body).unwrap();
            // Leave mid-stream: the next sends must fail.
            client.reset();
        });
        async move {
            let _serving = server;
            let exchange = exchanges.recv_async().await.expect("an exchange");
            let mut sender = exchange.stream(Response::new(200)).expect("open");
            let mut most_queued = 0;
            for _ in 0..PARTS {
                sender
                    .send_async(vec![b'x'; PART])
                    .await
                    .expect("room comes");
                most_queued = most_queued.max(sender.queued_bytes());
            }
            assert!(most_queued <= 64 * 1024, "queued {most_queued} bytes");
            let failed = loop {
                if let Err(err) = sender.send_async(vec![b'y'; PART]).await {
                    break err;
                }
            };
            assert!(
                matches!(failed, SendError::Closed(_)),
                "{failed:?} after the client left"
            );
            assert_eq!(done.recv().unwrap(), PART * PARTS);
            client.join().unwrap();
        }
    });
}

#[test]
fn read_async_reads_a_streamed_upload_as_it_arrives() {
    on_both(|| {
        init();
        let server = Server::builder()
            .uploads(|_| true)
            .handler(|_: &Request| Action::handoff())
            .bind("127.0.0.1:0")
            .expect("bind");
        let exchanges = server.exchanges();
        let addr = server.local_addr();
        let client = std::thread::spawn(move || {
            let mut client = Client::connect(addr);
            client.send(b"POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
            for _ in 0..64 {
                let chunk = [b'z'; 8192];
                client.send(format!("{:x}\r\n", chunk.len()).as_bytes());
                client.send(&chunk);
                client.send(b"\r\n");
            }
            client.send(b"0\r\n\r\n");
            client.read_reply(false).text().to_string()
        });
        async move {
            let _serving = server;
            let mut exchange = exchanges.recv_async().await.expect("an exchange");
            let mut body = exchange.body_reader().expect("streamed");
            let (mut total, mut buf) = (0, vec![0u8; 4096]);
            loop {
                match body.read_async(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => total += n,
                    Err(err) => panic!("read failed after {total} bytes: {err}"),
                }
            }
            assert_eq!(total, 64 * 8192);
            let delivery = exchange.send_response(Response::text(200, total.to_string()));
            delivery.expect("waits").await.expect("delivered");
            assert_eq!(client.join().unwrap(), (64 * 8192).to_string());
        }
    });
}

#[test]
fn ws_events_arrive_by_recv_async() {
    on_both(|| {
        init();
        let server = Server::builder()
            .handler(|_: &Request| Upgrade::new().into())
            .bind("127.0.0.1:0")
            .expect("bind");
        let events = server.ws_events();
        let addr = server.local_addr();
        let client = std::thread::spawn(move || {
            let url = format!("ws://{addr}/ws");
            let (mut socket, _) = tungstenite::connect(url).expect("upgrade");
            socket
                .send(tungstenite::Message::text("hello"))
                .expect("send");
            let _ = socket.close(None);
            while socket.read().is_ok() {}
        });
        async move {
            let _serving = server;
            let opened = events.recv_async().await.expect("an event");
            assert!(matches!(opened.kind, WsEventKind::Open(_)), "{opened:?}");
            let message = events.recv_async().await.expect("an event");
            match &message.kind {
                WsEventKind::Message(Message::Text(text)) => assert_eq!(text, "hello"),
                other => panic!("{other:?}"),
            }
            let closed = events.recv_async().await.expect("an event");
            assert!(
                matches!(closed.kind, WsEventKind::Closed { .. }),
                "{closed:?}"
            );
            client.join().unwrap();
        }
    });
}

#[test]
fn a_pending_future_leaves_no_thread_waiting() {
    init();
    let server = handoff_server(Config::default());
    let exchanges = server.exchanges();
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let exchange = block_on(WITHIN, exchanges.recv_async()).expect("an exchange");
    // Polled once and set aside: pending, and nothing blocks.
    let mut closed = Box::pin(exchange.closed());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(closed.as_mut().poll(&mut cx).is_pending());
    drop(closed);
    let _ = exchange.respond(Response::text(200, "still here"));
    assert_eq!(client.read_reply(false).text(), "still here");
}

#[test]
fn a_task_streams_a_feed_to_an_sse_client_and_ends_when_the_client_leaves() {
    const EVENTS: usize = 3;
    on_both(|| {
        let server = handoff_server(Config::default());
        let exchanges = server.exchanges();
        let addr = server.local_addr();
        let feed = Feed::new(16, 4096);
        let (subscribed_tx, subscribed) = mpsc::channel();
        let appender = {
            let feed = feed.clone();
            std::thread::spawn(move || {
                subscribed.recv().expect("the task subscribed");
                for n in 0..EVENTS {
                    feed.append(format!("event {n}")).unwrap();
                }
            })
        };
        let client = std::thread::spawn(move || {
            let mut client = Client::connect(addr);
            client.send(b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n");
            assert_eq!(client.read_reply(true).status, 200);
            let mut text = String::new();
            while text.matches("\n\n").count() < EVENTS {
                match client.read_chunk() {
                    Ok(Some(chunk)) => text.push_str(&String::from_utf8(chunk).unwrap()),
                    other => panic!("stream ended after {text:?}: {other:?}"),
                }
            }
            client.reset();
            text
        });
        async move {
            let _serving = server;
            let exchange = exchanges.recv_async().await.expect("an exchange");
            let head = Response::new(200).with_header("Content-Type", "text/event-stream");
            let mut sender = exchange.stream(head).expect("open");
            let mut sub = feed.subscribe(None);
            subscribed_tx.send(()).unwrap();
            let left = pin!(sender.closed());
            let mut left = left;
            loop {
                // The next event, or the client leaving, whichever is first.
                let next = {
                    let mut next = pin!(sub.next_async());
                    std::future::poll_fn(|task| {
                        if let Poll::Ready(reason) = left.as_mut().poll(task) {
                            return Poll::Ready(Err(reason));
                        }
                        next.as_mut().poll(task).map(Ok)
                    })
                    .await
                };
                match next {
                    Ok(FeedItem::Event { id, data }) => {
                        let data = String::from_utf8(data.to_vec()).unwrap();
                        // A failed send means the client left: `left` says so next.
                        let _ = sender
                            .send_async(format!("id: {id}\ndata: {data}\n\n"))
                            .await;
                    }
                    Ok(other) => panic!("{other:?}"),
                    Err(reason) => {
                        assert_eq!(reason, CloseReason::PeerReset);
                        break;
                    }
                }
            }
            let text = client.join().unwrap();
            for n in 0..EVENTS {
                assert!(text.contains(&format!("data: event {n}\n\n")), "{text:?}");
            }
            appender.join().unwrap();
        }
    });
}
