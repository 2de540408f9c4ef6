//! The servers under test, each started on the calling thread's cores (the
//! bench pins that thread first; spawned threads inherit the affinity).

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::alloc::count_this_thread;

pub const BODY: &str = "Hello, World!";

/// A running server: where it listens, the name prefix of its threads, and
/// how to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub threads: &'static str,
    stop: Box<dyn FnOnce()>,
}

impl Running {
    pub fn new(addr: SocketAddr, threads: &'static str, stop: impl FnOnce() + 'static) -> Running {
        Running {
            addr,
            threads,
            stop: Box::new(stop),
        }
    }

    pub fn stop(self) {
        (self.stop)()
    }
}

/// tether, answering on the reactor thread.
pub fn tether_inline() -> Running {
    tether_inline_with(tether::Config::default())
}

/// [`tether_inline`] with the reactor's health figures and stall detector
/// off (`stall_threshold` `never`): what measuring them costs.
pub fn tether_inline_unmeasured() -> Running {
    tether_inline_with(tether::Config::default().stall_threshold(std::time::Duration::MAX))
}

fn tether_inline_with(config: tether::Config) -> Running {
    let server = tether::Server::builder()
        // Room for the idle modes' 10,000-15,000 connections (default 10,000).
        .config(config.max_connections(20_000))
        .handler(|_: &tether::Request| {
            count_this_thread();
            tether::Action::Respond(tether::Response::text(200, BODY))
        })
        .bind("127.0.0.1:0")
        .unwrap();
    Running {
        addr: server.local_addr(),
        threads: "tether-",
        stop: Box::new(move || server.shutdown()),
    }
}

/// tether, every request handed to a worker thread and answered through the
/// handle, waiting for delivery (`respond`).
pub fn tether_worker() -> Running {
    tether_worker_with(false)
}

/// The same with `respond_detached` (no wait for delivery).
pub fn tether_worker_detached() -> Running {
    tether_worker_with(true)
}

/// tether handing every request to the default queue.
fn handoff_server() -> tether::Server {
    tether::Server::builder()
        .handler(|_: &tether::Request| {
            count_this_thread();
            tether::Action::handoff()
        })
        .bind("127.0.0.1:0")
        .unwrap()
}

fn tether_worker_with(detached: bool) -> Running {
    let server = handoff_server();
    server.workers(1, move |exchange| {
        count_this_thread();
        let response = tether::Response::text(200, BODY);
        let _ = if detached {
            exchange.respond_detached(response)
        } else {
            exchange.respond(response)
        };
    });
    Running {
        addr: server.local_addr(),
        threads: "tether-",
        stop: Box::new(move || server.shutdown()),
    }
}

/// tether, every request handed to a tokio task (a current_thread
/// runtime on one thread, as hyper's below): one task receives exchanges
/// (`Exchanges::recv_async`) and spawns one per exchange, which answers
/// and awaits the verdict (`send_response(..)?.await`, the async
/// `respond`).
pub fn tether_tokio_task() -> Running {
    let server = handoff_server();
    let exchanges = server.exchanges();
    std::thread::Builder::new()
        .name("tether-tokio".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(async move {
                while let Some(exchange) = exchanges.recv_async().await {
                    tokio::spawn(async move {
                        count_this_thread();
                        let response = tether::Response::text(200, BODY);
                        if let Ok(delivery) = exchange.send_response(response) {
                            let _ = delivery.await;
                        }
                    });
                }
            });
        })
        .unwrap();
    Running {
        addr: server.local_addr(),
        threads: "tether-",
        stop: Box::new(move || server.shutdown()),
    }
}

/// hyper 1.x on a tokio current_thread runtime, one task per connection.
pub fn hyper(pipeline_flush: bool) -> Running {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::service::service_fn;

    let server = crate::common::tokio_server::start("hyper-rt", None, move |stream| async move {
        let service = service_fn(|_req| async {
            count_this_thread();
            Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                BODY.as_bytes(),
            ))))
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .pipeline_flush(pipeline_flush)
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
            .await;
    });
    Running {
        addr: server.addr,
        threads: "hyper-rt",
        stop: Box::new(move || server.stop()),
    }
}

/// The floor: mio + httparse answering a canned response, keep-alive and
/// pipelining, nothing else (no timers, no limits, no disconnect tracking).
pub fn mio_floor() -> Running {
    use mio::net::TcpListener;
    use mio::{Events, Interest, Poll, Token, Waker};

    const LISTENER: Token = Token(usize::MAX);
    const WAKER: Token = Token(usize::MAX - 1);
    let mut poll = Poll::new().unwrap();
    let mut listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .unwrap();
    let waker = Arc::new(Waker::new(poll.registry(), WAKER).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = Arc::clone(&stop);
    let canned = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let thread: JoinHandle<()> = std::thread::Builder::new()
        .name("mio-floor".into())
        .spawn(move || {
            count_this_thread();
            let mut conns = slab::Slab::new();
            let mut events = Events::with_capacity(1024);
            let mut buf = vec![0u8; 64 * 1024];
            let mut out = Vec::with_capacity(64 * 1024);
            while !stopping.load(Ordering::Relaxed) {
                poll.poll(&mut events, None).unwrap();
                for event in events.iter() {
                    match event.token() {
                        LISTENER => {
                            while let Ok((mut stream, _)) = listener.accept() {
                                let _ = stream.set_nodelay(true);
                                let entry = conns.vacant_entry();
                                poll.registry()
                                    .register(&mut stream, Token(entry.key()), Interest::READABLE)
                                    .unwrap();
                                entry.insert((stream, Vec::<u8>::new()));
                            }
                        }
                        WAKER => {}
                        Token(key) => {
                            let mut closed = false;
                            if let Some((stream, pending)) = conns.get_mut(key) {
                                loop {
                                    match stream.read(&mut buf) {
                                        Ok(0) => {
                                            closed = true;
                                            break;
                                        }
                                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                            break
                                        }
                                        Err(_) => {
                                            closed = true;
                                            break;
                                        }
                                    }
                                }
                                let mut used = 0;
                                let mut close_after = false;
                                loop {
                                    let mut headers = [httparse::EMPTY_HEADER; 16];
                                    let mut req = httparse::Request::new(&mut headers);
                                    match req.parse(&pending[used..]) {
                                        Ok(httparse::Status::Complete(n)) => {
                                            used += n;
                                            out.extend_from_slice(canned.as_bytes());
                                            close_after |= req.headers.iter().any(|h| {
                                                h.name.eq_ignore_ascii_case("connection")
                                                    && h.value.eq_ignore_ascii_case(b"close")
                                            });
                                        }
                                        _ => break,
                                    }
                                }
                                pending.drain(..used);
                                if !out.is_empty() {
                                    let _ = stream.write_all(&out);
                                    out.clear();
                                }
                                closed |= close_after;
                            }
                            if closed {
                                conns.remove(key);
                            }
                        }
                    }
                }
            }
        })
        .unwrap();
    Running {
        addr,
        threads: "mio-floor",
        stop: Box::new(move || {
            stop.store(true, Ordering::Relaxed);
            let _ = waker.wake();
            let _ = thread.join();
        }),
    }
}
