//! The patterns tether exists for, each a runnable example.
//!
//! [`examples/service.rs`] puts them all together in one service.
//!
//! [`examples/service.rs`]: https://docs.rs/crate/tether/latest/source/examples/service.rs
//!
//! # What "delivered" means, and at-least-once delivery
//!
//! [`Exchange::respond`](crate::Exchange::respond) returns `Ok` once the
//! whole response was *accepted by the kernel* — written to the socket, not
//! read by the client. A client that vanishes right after (power loss, a
//! NAT dropping state) may never see it, and no server can know. When a
//! message must not be lost, make the client acknowledge it: it sends back
//! the last id it processed (SSE's `Last-Event-ID`, a `?cursor=` on the
//! next poll), and the server keeps each message until a later request
//! acknowledges it. `Err(Undelivered)` still matters: it hands the response
//! back when the connection ended *before* the kernel took it all, so the
//! message can go to the next poller at once instead of waiting for the
//! acknowledgement to time out.
//!
//! `respond` waits for that verdict, which costs the worker a wake-up per
//! response. [`Exchange::send_response`](crate::Exchange::send_response)
//! returns a [`Delivery`](crate::Delivery) instead: the same verdict,
//! exactly once, to a callback or to a later look, while the worker (or a
//! broker thread) goes on. docs/performance.md measures the three ways.
//!
//! # Framing: HEAD, 204, 304 and the application's own framing headers
//!
//! tether writes the framing itself. A `Content-Length`,
//! `Transfer-Encoding` or `Connection` header that the application adds to
//! a [`Response`](crate::Response) is *not* sent:
//! - a whole body always gets `Content-Length` with its real length;
//! - a stream gets `Transfer-Encoding: chunked` (or is delimited by the
//!   connection closing, for an HTTP/1.0 client).
//!
//! `Connection: close` in a response still works: the connection drains and
//! closes after it. The body of a `204` or a `304` is never sent, and nor
//! is its length. A `HEAD` request gets the same head as a `GET`, length
//! included, and no body. For a stream that means the head alone; the
//! producer's [`StreamSender`](crate::StreamSender) is closed at once.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::io::{Read, Write};
//! use tether::{Request, Response, Router, Server};
//!
//! let router = Router::new().get("/", |_: &Request| {
//!     // The wrong length is dropped; the real one (5) is sent.
//!     Response::text(200, "hello").with_header("Content-Length", "999")
//! });
//! let server = Server::builder().router(router).bind("127.0.0.1:0")?;
//! let mut client = std::net::TcpStream::connect(server.local_addr())?;
//! client.write_all(b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
//! let mut reply = String::new();
//! client.read_to_string(&mut reply)?;
//! assert!(reply.contains("Content-Length: 5\r\n"));
//! assert!(!reply.contains("999"));
//! assert!(reply.ends_with("\r\n\r\n"), "no body for HEAD");
//! # Ok(())
//! # }
//! ```
//!
//! # A long-poll broker that loses nothing the kernel did not take
//!
//! [`cluster::Broker`](crate::cluster::Broker) is this pattern ready-made,
//! with ids, acknowledgements (nothing lost past the kernel: a message is
//! owed until the client confirms it) and an engine shared by processes;
//! use it. What follows is how such a broker works on tether's handles.
//! Without acknowledgements, "nothing lost" stops at the kernel: a client
//! that vanished after its response was written loses that message.
//!
//! One thread owns every parked poll. The parts:
//! - **Polls:** a worker hands each poll to that thread over a channel.
//! - **Departures:** the thread learns of them through
//!   [`on_close`](crate::Exchange::on_close), sent into the same channel.
//!   A poll whose client left is dropped there, which counts as
//!   `abandoned`.
//! - **Messages:** a message is given to the oldest poll with
//!   [`send_response`](crate::Exchange::send_response), and the broker
//!   moves on: it never waits for a write. If the client left before the
//!   kernel took the reply, [`Delivery::on_outcome`](crate::Delivery::on_outcome)
//!   brings the message back through the same channel, to the front of the
//!   queue, for the next poll.
//! - **Timeouts:** give the route a deadline longer than the poll's own, so
//!   the broker answers `204` and the server's `503` never does.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::collections::VecDeque;
//! use std::io::{Read, Write};
//! use std::sync::mpsc;
//! use std::time::Duration;
//! use tether::{ConnectionId, Exchange, Handoff, Request, Response, Router, Server};
//!
//! enum Event { Poll(Box<Exchange>), Publish(Vec<u8>), Returned(Vec<u8>), Left(ConnectionId) }
//!
//! let (events, inbox) = mpsc::channel::<Event>();
//! let outbox = events.clone();
//! std::thread::spawn(move || {
//!     let (mut polls, mut messages) = (VecDeque::<Exchange>::new(), VecDeque::new());
//!     while let Ok(event) = inbox.recv() {
//!         match event {
//!             Event::Poll(poll) => {
//!                 let (tx, id) = (outbox.clone(), poll.id());
//!                 poll.on_close(move |_| drop(tx.send(Event::Left(id))));
//!                 polls.push_back(*poll);
//!             }
//!             Event::Publish(message) => messages.push_back(message),
//!             Event::Returned(message) => messages.push_front(message), // not lost
//!             Event::Left(id) => polls.retain(|poll| poll.id() != id),
//!         }
//!         while !messages.is_empty() && !polls.is_empty() {
//!             let (poll, message) = (polls.pop_front().unwrap(), messages.pop_front().unwrap());
//!             match poll.send_response(Response::new(200).with_body(message)) {
//!                 // The verdict comes later, on the reactor thread.
//!                 Ok(delivery) => {
//!                     let back = outbox.clone();
//!                     delivery.on_outcome(move |outcome| {
//!                         if let Err(undelivered) = outcome {
//!                             let message = undelivered.response.body().to_vec();
//!                             let _ = back.send(Event::Returned(message));
//!                         }
//!                     });
//!                 }
//!                 Err(undelivered) => messages.push_front(undelivered.response.body().to_vec()),
//!             }
//!         }
//!     }
//! });
//!
//! let router = Router::new()
//!     .get("/poll", |_: &Request| Handoff::to("polls").response_timeout(Duration::from_secs(35)))
//!     .post("/publish", |_: &Request| Handoff::to("polls"));
//! let server = Server::builder().queue("polls", 1024).router(router).bind("127.0.0.1:0")?;
//! server.pool("polls")?.workers(1, move |mut exchange| {
//!     let event = match exchange.request().method() {
//!         "POST" => {
//!             let body = exchange.request_mut().take_body();
//!             let _ = exchange.respond(Response::new(202));
//!             Event::Publish(body)
//!         }
//!         _ => Event::Poll(Box::new(exchange)),
//!     };
//!     let _ = events.send(event);
//! });
//!
//! let mut publisher = std::net::TcpStream::connect(server.local_addr())?;
//! publisher.write_all(b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")?;
//! let mut poller = std::net::TcpStream::connect(server.local_addr())?;
//! poller.write_all(b"GET /poll HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
//! let mut reply = String::new();
//! poller.read_to_string(&mut reply)?;
//! assert!(reply.ends_with("\r\n\r\nhi"));
//! # Ok(())
//! # }
//! ```
//!
//! # Server-Sent Events, resumable
//!
//! A worker opens the stream with [`sse::head`](crate::sse::head) and
//! [`sse::options`](crate::sse::options) (heartbeats keep proxies from
//! closing it). It then gives the [`StreamSender`](crate::StreamSender) to
//! a producer and returns: the stream needs no thread of its own. Number
//! the events, and a client that reconnects sends `Last-Event-ID`: start
//! after it.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::io::{BufRead, BufReader, Write};
//! use tether::Server;
//! use tether::sse;
//!
//! let server = Server::builder().bind("127.0.0.1:0")?;
//! server.workers(1, |exchange| {
//!     let last_seen: u64 = exchange
//!         .request()
//!         .header_str("last-event-id")
//!         .and_then(|id| id.parse().ok())
//!         .unwrap_or(0);
//!     let Ok(mut events) = exchange.stream_with(sse::head(), sse::options(sse::DEFAULT_HEARTBEAT)) else {
//!         return; // the client already left
//!     };
//!     std::thread::spawn(move || {
//!         for n in last_seen + 1.. {
//!             let id = n.to_string();
//!             let event = sse::Event::new(&format!("tick {n}")).event("tick").id(&id).encode();
//!             if events.send(event).is_err() {
//!                 return; // the client left: stop producing
//!             }
//!             std::thread::sleep(std::time::Duration::from_millis(10));
//!         }
//!     });
//! });
//!
//! let mut client = std::net::TcpStream::connect(server.local_addr())?;
//! client.write_all(b"GET /ticks HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 41\r\n\r\n")?;
//! let first_id = BufReader::new(client)
//!     .lines()
//!     .map_while(Result::ok)
//!     .find(|line| line.starts_with("id: "));
//! assert_eq!(first_id.as_deref(), Some("id: 42"));
//! # Ok(())
//! # }
//! ```
//!
//! # WebSocket authentication
//!
//! Authenticate in the route, before the handshake. Refuse with a
//! response, or accept with the user attached
//! ([`Upgrade::with`](crate::ws::Upgrade::with)). Every event's socket then
//! carries the user ([`WebSocket::value`](crate::ws::WebSocket::value)), so the
//! application keeps no map from connections to users. Give the route its
//! own event stream if other sockets are handled elsewhere.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tether::{Action, Request, Response, Router, Server};
//! use tether::ws::{Upgrade, WsEventKind};
//!
//! struct User(String);
//!
//! let router = Router::new().get("/chat", |req: &Request| -> Action {
//!     match req.query_value("token").as_deref() {
//!         Some("s3cret") => Upgrade::new()
//!             .with(User("ada".into()))
//!             .header("Set-Cookie", "seen=1")
//!             .events("chat")
//!             .into(),
//!         _ => Response::text(401, "unknown token").into(),
//!     }
//! });
//! let server = Server::builder().ws_events("chat").router(router).bind("127.0.0.1:0")?;
//! let chat = server.ws_events_from("chat").expect("declared above");
//! std::thread::spawn(move || {
//!     while let Some(event) = chat.recv() {
//!         let user = event.socket.value::<User>().map_or("?", |u| u.0.as_str());
//!         if let WsEventKind::Message(tether::ws::Message::Text(text)) = &event.kind {
//!             let _ = event.socket.send_text(&format!("{user}: {text}"));
//!         }
//!     }
//! });
//! # server.shutdown();
//! # Ok(())
//! # }
//! ```
//!
//! # Graceful shutdown
//!
//! [`Server::shutdown_on_signals`](crate::Server::shutdown_on_signals)
//! turns SIGINT/SIGTERM into a graceful shutdown, and
//! [`Server::wait`](crate::Server::wait) blocks until it is done. Threads
//! that park work, such as a broker, watch the
//! [`ShutdownSignal`](crate::ShutdownSignal) and answer what they hold at
//! once (`503` with `Retry-After`), rather than letting it run out
//! [`Config::shutdown_timeout`](crate::Config::shutdown_timeout).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//!
//! let server = tether::Server::builder().bind("127.0.0.1:0")?;
//! let signal = server.shutdown_signal();
//! let broker = std::thread::spawn(move || {
//!     while !signal.wait(Duration::from_secs(3600)) {}
//!     // Answer every parked poll now: 503 + Retry-After.
//! });
//! // In a service: `server.shutdown_on_signals()?;` here.
//! let handle = server.handle();
//! std::thread::spawn(move || handle.shutdown()); // as a signal would
//! server.wait()?;
//! broker.join().unwrap();
//! # Ok(())
//! # }
//! ```
//!
//! # Metrics
//!
//! Serve [`Stats::to_prometheus`](crate::stats::Stats::to_prometheus) (feature
//! `prometheus`, on by default) from a route. It has every counter and
//! gauge, closes labelled by reason, each queue's depth, each reactor's
//! connections, and three latency histograms. Take the
//! [`StatsHandle`](crate::stats::StatsHandle) from the builder, so that the route
//! can read the server it belongs to.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tether::{Request, Response, Router, Server};
//! use tether::stats::PROMETHEUS_CONTENT_TYPE;
//!
//! let builder = Server::builder();
//! let stats = builder.stats_handle();
//! let router = Router::new().get("/metrics", move |_: &Request| {
//!     Response::new(200)
//!         .with_header("Content-Type", PROMETHEUS_CONTENT_TYPE)
//!         .with_body(stats.snapshot().to_prometheus())
//! });
//! let server = builder.router(router).bind("127.0.0.1:0")?;
//! # server.shutdown();
//! # Ok(())
//! # }
//! ```
