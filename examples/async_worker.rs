//! Async workers on tokio: a route whose worker awaits an upstream and
//! cancels the call the moment its client leaves.
//!
//! - `GET /quote?delay=MS`: handed to the queue `quotes`. One tokio task
//!   receives the queue's exchanges (`Exchanges::recv_async`) and spawns a
//!   task per exchange, which asks the upstream (a slow TCP service this
//!   example also runs, on tokio) for a quote that takes `MS` milliseconds
//!   (at most 60000; default 200), racing the call against
//!   `Exchange::closed()` with `tokio::select!`. If the client leaves
//!   first, the call is dropped — its connection closes, and the upstream
//!   stops working for nobody — and the exchange is abandoned. No thread
//!   waits for any of this.
//! - `GET /stats`: tether's figures, plus `upstream_calls`,
//!   `upstream_cancelled` (calls whose caller hung up, as the upstream saw
//!   it) and `answered` (answers delivered: `send_response(..)?.await`).
//!
//! SIGINT/SIGTERM shut it down gracefully.
//!
//! ```text
//! cargo run --example async_worker [-- --addr HOST:PORT]
//! ```
//!
//! tether assumes no runtime: `closed()`, a `Delivery`, `recv_async`,
//! `StreamSender::send_async` and `BodyReader::read_async` are plain
//! `std::future`s, woken by the reactor.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tether::{Exchange, Exchanges, Handoff, Request, Response, Router, Server};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const QUEUE: &str = "quotes";
const MAX_DELAY_MS: u64 = 60_000;

#[derive(Default)]
struct Counters {
    upstream_calls: AtomicU64,
    upstream_cancelled: AtomicU64,
    answered: AtomicU64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let addr = std::env::args()
        .skip_while(|arg| arg != "--addr")
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8070".into());
    let counters = Arc::new(Counters::default());

    let builder = Server::builder().queue(QUEUE, 1024);
    let stats = builder.stats_handle();
    let figures = Arc::clone(&counters);
    let router = Router::new()
        .get("/quote", |_: &Request| Handoff::to(QUEUE))
        .hands_off_to(QUEUE)
        .get("/stats", move |_: &Request| {
            let extra = [
                ("upstream_calls", figures.upstream_calls.load(Relaxed)),
                (
                    "upstream_cancelled",
                    figures.upstream_cancelled.load(Relaxed),
                ),
                ("answered", figures.answered.load(Relaxed)),
            ];
            let json = stats.snapshot().to_json_with(&extra);
            Response::new(200)
                .with_header("Content-Type", "application/json")
                .with_body(json)
        });
    let server = builder.router(router).bind(&addr)?;
    server.shutdown_on_signals()?;
    let exchanges = server.exchanges_from(QUEUE).expect("declared above");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tokio-worker")
        .enable_all()
        .build()?;
    let upstream = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let upstream_addr = upstream.local_addr()?;
    runtime.spawn(serve_upstream(upstream, Arc::clone(&counters)));
    runtime.spawn(take_exchanges(exchanges, upstream_addr, counters));

    println!("listening on http://{}", server.local_addr());
    server.wait()?;
    // The queue closed with the server: the receiving task has ended.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// One task receives; each exchange gets a task of its own.
async fn take_exchanges(exchanges: Exchanges, upstream: SocketAddr, counters: Arc<Counters>) {
    while let Some(exchange) = exchanges.recv_async().await {
        tokio::spawn(quote(exchange, upstream, Arc::clone(&counters)));
    }
}

async fn quote(exchange: Exchange, upstream: SocketAddr, counters: Arc<Counters>) {
    let delay = exchange
        .request()
        .query_param("delay")
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(200u64)
        .min(MAX_DELAY_MS);
    tokio::select! {
        asked = ask(upstream, delay) => {
            let response = match asked {
                Ok(quote) => Response::text(200, quote),
                Err(err) => Response::text(502, format!("upstream failed: {err}\n")),
            };
            // The async `respond`: the verdict, awaited.
            if let Ok(delivery) = exchange.send_response(response) {
                if delivery.await.is_ok() {
                    counters.answered.fetch_add(1, Relaxed);
                }
            }
        }
        reason = exchange.closed() => {
            // `ask` is dropped here: its connection closes at once.
            log::info!("{} left ({reason}); upstream call cancelled", exchange.id());
            exchange.abandon();
        }
    }
}

/// Asks the upstream for a quote that takes `delay_ms`.
async fn ask(upstream: SocketAddr, delay_ms: u64) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(upstream).await?;
    stream.write_all(format!("{delay_ms}\n").as_bytes()).await?;
    let mut quote = String::new();
    stream.read_to_string(&mut quote).await?;
    Ok(quote)
}

/// The slow upstream: answers `quote after N ms` N ms after it is asked,
/// unless its caller hangs up first.
async fn serve_upstream(listener: TcpListener, counters: Arc<Counters>) {
    while let Ok((stream, _)) = listener.accept().await {
        let counters = Arc::clone(&counters);
        tokio::spawn(async move {
            counters.upstream_calls.fetch_add(1, Relaxed);
            let (read, mut write) = stream.into_split();
            let mut read = BufReader::new(read);
            let mut line = String::new();
            if read.read_line(&mut line).await.is_err() {
                return;
            }
            let delay: u64 = line.trim().parse().unwrap_or(0).min(MAX_DELAY_MS);
            let mut rest = [0u8; 1];
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(delay)) => {
                    let _ = write.write_all(format!("quote after {delay} ms\n").as_bytes()).await;
                }
                // The caller hung up (or sent more, which it never does).
                _ = read.read(&mut rest) => {
                    counters.upstream_cancelled.fetch_add(1, Relaxed);
                }
            }
        });
    }
}
