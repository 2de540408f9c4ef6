//! # tether
//!
//! A connection manager for services that must know, at once and for
//! certain, when a client has gone away.
//!
//! One reactor thread (mio) owns every connection in a slab. Requests are
//! answered on the reactor ([`Action::Respond`]) or handed to worker threads
//! as an [`Exchange`] ([`Action::Handoff`]). While a worker holds an
//! exchange, the connection is *response pending*: it stays open whatever the
//! request said, and the reactor keeps watching it, so a client that leaves
//! (FIN, RST, hangup, error) is noticed at once and the worker is told:
//! [`Exchange::wait_closed`] wakes, and [`Exchange::respond`] hands the
//! response back as [`Undelivered`]. Nothing is lost silently.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::io::{Read, Write};
//! use std::time::Duration;
//! use tether::{Handoff, Request, Response, Router, Server};
//!
//! let router = Router::new()
//!     // Answered on the reactor thread: no hop.
//!     .get("/hello", |_: &Request| Response::text(200, "Hello, World!"))
//!     // Handed to the "jobs" workers, with a deadline of the route's own.
//!     .get("/jobs/{id}", |_: &Request| {
//!         Handoff::to("jobs").response_timeout(Duration::from_secs(5))
//!     });
//! let server = Server::builder().queue("jobs", 64).router(router).bind("127.0.0.1:0")?;
//! server.pool("jobs")?.workers(2, |exchange| {
//!     let id = exchange.request().param("id").unwrap_or("?").to_string();
//!     // Err(Undelivered) hands the response back if the client left.
//!     let _ = exchange.respond(Response::text(200, format!("job {id} done")));
//! });
//!
//! let mut client = std::net::TcpStream::connect(server.local_addr())?;
//! client.write_all(b"GET /jobs/7 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
//! let mut reply = String::new();
//! client.read_to_string(&mut reply)?;
//! assert!(reply.ends_with("job 7 done"));
//! server.shutdown(); // a service calls `shutdown_on_signals()?` and `wait()?`
//! # Ok(())
//! # }
//! ```
//!
//! [`patterns`] shows, with runnable examples, what this library exists for:
//! a long-poll broker that loses nothing the kernel did not take (and, with
//! acknowledgements, nothing a client did not confirm), resumable SSE,
//! WebSocket authentication, graceful shutdown, metrics, and what
//! "delivered" means. [`cluster`] has the long-poll broker, feeds and
//! named broadcast groups as ready types, in one process or shared
//! through Redis.
//!
//! From async code (any runtime: tether assumes none), the handles are
//! futures: [`Exchanges::recv_async`], [`Exchange::closed`], an awaited
//! [`Delivery`], [`StreamSender::send_async`],
//! [`BodyReader::read_async`] and [`ws::WsEvents::recv_async`]. Calls that
//! block a thread say so under **Blocking** in their docs.
//!
//! The repository's `docs/architecture.md` follows threads, states, and the
//! path of a disconnect from epoll to the worker; `docs/reliability.md` lists
//! every limit and what happens past it.

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]

mod budget;
mod buffer;
mod channel;
pub mod cluster;
mod config;
mod conn;
mod error;
mod handle;
mod handler;
mod health;
mod id;
#[cfg(feature = "internals")]
pub mod internals;
mod listen;
pub mod patterns;
mod pool;
mod proto;
mod reactor;
mod reason;
mod router;
mod server;
#[cfg(all(feature = "signals", unix))]
mod signals;
mod socket_options;
pub mod stats;
mod stream_options;
mod time;
mod timer;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "tls")]
mod tls_api;
mod watchdog;
pub mod ws;

pub use bytes::Bytes;
pub use config::{Config, HalfClosePolicy, Keepalive};
pub use error::{Error, SendError};
pub use handle::delivery::Delivery;
pub use handle::exchange::{Exchange, Exchanges};
pub use handle::exchange_shared::Undelivered;
pub use handle::shutdown::ShutdownSignal;
pub use handle::stream::StreamSender;
pub use handle::upload::BodyReader;
pub use handler::{Action, Handoff};
pub use id::ConnectionId;
pub use pool::Pool;
#[cfg(feature = "http")]
pub use proto::http_interop::FromHttpError;
pub use proto::multipart::Multipart;
pub use proto::request::{Request, Version};
pub use proto::response::{IntoBytes, InvalidHeader, InvalidStatus, Response};
pub use reason::CloseReason;
pub use router::Router;
pub use server::{Builder, Server, ServerHandle};
pub use stream_options::{Backlog, Heartbeat, StreamOptions};

/// Server-sent events: the `text/event-stream` format, and a stream's
/// head and options for it.
pub mod sse {
    pub use crate::proto::sse::{comment, head, options, Event, DEFAULT_HEARTBEAT};
}
