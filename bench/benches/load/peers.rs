//! The worker path and what users would pick instead, each doing the same
//! work per request on the same number of worker threads.
//!
//! Every server is started from a thread named after it: threads it spawns
//! without a name of their own inherit that name (Linux copies `comm`), so
//! the bench finds all of a server's threads, and only them, by prefix.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::servers::{Running, BODY};

/// Worker threads for every server: 64, or `LOAD_WORKERS`.
pub fn workers() -> usize {
    std::env::var("LOAD_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(64)
}

/// What a worker does before it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Work {
    /// Answers at once: the pure cost of the hop.
    Immediate,
    /// Blocks 1 ms first, like a worker waiting on a database.
    Sleep1ms,
}

impl Work {
    pub fn run(self) {
        if self == Work::Sleep1ms {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Work::Immediate => "reply at once",
            Work::Sleep1ms => "1 ms blocking sleep",
        }
    }
}

/// Runs `start` on a new thread named `name` and returns what it returns.
fn on_named_thread<T: Send + 'static>(name: &str, start: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(start)
        .unwrap()
        .join()
        .unwrap()
}

/// How a tether worker answers.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// `respond`: blocks until the response is in the kernel.
    Respond,
    /// `send_response` + `Delivery::on_outcome`: the same guarantee, heard
    /// by a callback; the worker moves on at once.
    OnOutcome,
    /// `respond_detached`: no verdict.
    Detached,
}

/// tether, every request handed to `workers()` pool workers.
pub fn tether(answer: Answer, work: Work) -> Running {
    let server = tether::Server::builder()
        // The default, 10,000, is below the 10,000 idle + 128 active the
        // bench holds open; the peers have no such limit.
        .config(tether::Config::default().max_connections(20_000))
        .handler(|_: &tether::Request| tether::Action::handoff())
        .bind("127.0.0.1:0")
        .unwrap();
    let (undelivered, _heard) = mpsc::channel::<tether::Undelivered>();
    let undelivered = Mutex::new(undelivered);
    server.workers_with(
        workers(),
        move |_| undelivered.lock().unwrap().clone(),
        move |undelivered, exchange| {
            work.run();
            let response = tether::Response::text(200, BODY);
            match answer {
                Answer::Respond => {
                    let _ = exchange.respond(response);
                }
                Answer::Detached => {
                    let _ = exchange.respond_detached(response);
                }
                Answer::OnOutcome => match exchange.send_response(response) {
                    Ok(delivery) => {
                        let undelivered = undelivered.clone();
                        delivery.on_outcome(move |outcome| {
                            if let Err(back) = outcome {
                                let _ = undelivered.send(back);
                            }
                        })
                    }
                    Err(back) => {
                        let _ = undelivered.send(back);
                    }
                },
            }
        },
    );
    Running::new(server.local_addr(), "tether-", move || {
        if std::env::var_os("LOAD_DEBUG").is_some() {
            let stats = server.stats();
            let q = |l: &tether::stats::Latency, q| l.quantile(q).unwrap_or_default();
            eprintln!(
                "tether: response latency p50 {:?} p99 {:?}; queue wait p50 {:?} p99 {:?}",
                q(&stats.response_latency, 0.5),
                q(&stats.response_latency, 0.99),
                q(&stats.queue_wait, 0.5),
                q(&stats.queue_wait, 0.99)
            );
        }
        server.shutdown()
    })
}

/// hyper 1.x on a tokio current_thread runtime, the work in
/// `tokio::task::spawn_blocking` (a pool of at most `workers()` threads).
pub fn hyper_spawn_blocking(work: Work) -> Running {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::service::service_fn;

    let blocking = Some((workers(), "hyper-sb-blocking"));
    let server =
        crate::common::tokio_server::start("hyper-sb", blocking, move |stream| async move {
            let service = service_fn(move |_req| async move {
                let body = tokio::task::spawn_blocking(move || {
                    work.run();
                    BODY
                })
                .await
                .unwrap_or("failed");
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                    body.as_bytes(),
                ))))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    Running::new(server.addr, "hyper-sb", move || server.stop())
}

/// tiny_http, `workers()` threads each calling `recv` then `respond`.
pub fn tiny_http(work: Work) -> Running {
    let (server, threads) = on_named_thread("tiny-http", move || {
        // Its acceptor and connection threads inherit this thread's name.
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let workers: Vec<_> = (0..workers())
            .map(|_| {
                let server = Arc::clone(&server);
                std::thread::Builder::new()
                    .name("tiny-http-w".into())
                    .spawn(move || {
                        while let Ok(request) = server.recv() {
                            work.run();
                            let _ = request.respond(tiny_http::Response::from_string(BODY));
                        }
                    })
                    .unwrap()
            })
            .collect();
        (server, workers)
    });
    let addr = server.server_addr().to_ip().unwrap();
    Running::new(addr, "tiny-http", move || {
        for _ in 0..workers() {
            server.unblock();
        }
        for thread in threads {
            let _ = thread.join();
        }
    })
}

#[derive(Clone)]
struct MayService(Work);

impl may_minihttp::HttpService for MayService {
    fn call(
        &mut self,
        _req: may_minihttp::Request,
        rsp: &mut may_minihttp::Response,
    ) -> std::io::Result<()> {
        self.0.run();
        rsp.header("Content-Type: text/plain; charset=utf-8");
        rsp.body(BODY);
        Ok(())
    }
}

/// may_minihttp (stackful coroutines, one per connection) on `workers()`
/// scheduler threads; the work runs in the connection's coroutine. may's
/// runtime is process-wide and cannot be stopped, so each kind of work gets
/// one server for the whole run, and `stop` leaves it be.
pub fn may_minihttp(work: Work) -> Running {
    static STARTED: OnceLock<Mutex<Vec<(Work, SocketAddr)>>> = OnceLock::new();
    let started = STARTED.get_or_init(Default::default);
    let mut started = started.lock().unwrap();
    let addr = match started.iter().find(|(w, _)| *w == work) {
        Some((_, addr)) => *addr,
        None => {
            let addr = on_named_thread("may-srv", move || {
                may::config().set_workers(workers());
                may::config().set_worker_pin(false);
                // Its scheduler threads start now, inheriting this name.
                let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = probe.local_addr().unwrap();
                drop(probe);
                let server = may_minihttp::HttpServer(MayService(work));
                let handle = server.start(addr).unwrap();
                std::mem::forget(handle);
                addr
            });
            started.push((work, addr));
            addr
        }
    };
    // Wait until it accepts.
    for _ in 0..200 {
        if std::net::TcpStream::connect(addr).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Running::new(addr, "may-srv", || {})
}
