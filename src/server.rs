//! The public server: binding, starting the reactor, workers, shutdown.

use std::borrow::Cow;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use mio::{Poll, Waker};

use crate::budget::Clients;
use crate::channel::notifier::{Command, Notifier};
use crate::channel::outlets::{self, Outlets};
use crate::config::Config;
use crate::error::Error;
use crate::handle::context::Context;
use crate::handle::exchange::{Exchange, Exchanges};
use crate::handle::shutdown::ShutdownSignal;
use crate::handler::{Action, BodyPolicy, Handler, HandlerFactory, DEFAULT_QUEUE};
use crate::listen;
use crate::pool::Pool;
use crate::proto::request::Request;
use crate::reactor::{Reactor, ReactorParts, WAKER};
use crate::router::{check_outlets, Outlet, Router};
use crate::stats::{QueueGauge, ReactorCounters, RouteTable, Stats, StatsHandle};
use crate::watchdog::Watchdog;
use crate::ws::events::WsEvents;
use crate::ws::DEFAULT_WS_EVENTS;

/// Configures a [`Server`] before it binds.
///
/// ```
/// # fn main() -> Result<(), tether::Error> {
/// use tether::{Action, Response, Server};
///
/// let builder = Server::builder();
/// let stats = builder.stats_handle();
/// let server = builder
///     .handler(move |req: &tether::Request| match req.path() {
///         "/hello" => Action::Respond(Response::text(200, "Hello, World!")),
///         "/stats" => Action::Respond(Response::text(200, stats.snapshot().to_json())),
///         _ => Action::handoff(),
///     })
///     .bind("127.0.0.1:0")?;
/// assert_ne!(server.local_addr().port(), 0);
/// server.shutdown();
/// # Ok(())
/// # }
/// ```
pub struct Builder {
    config: Config,
    handler: Option<HandlerFactory>,
    stats: StatsHandle,
    reactors: usize,
    queues: Vec<(Cow<'static, str>, Option<usize>)>,
    ws_events: Vec<(Cow<'static, str>, Option<usize>)>,
    /// A route the router could not take, reported by `bind`.
    route_error: Option<String>,
    /// Where the router's routes said they hand off: checked by `bind`.
    route_outlets: Vec<(String, Outlet)>,
    /// The router's patterns, for the route figures.
    route_patterns: Vec<Arc<str>>,
    uploads: Option<BodyPolicy>,
    /// The router's upload routes; dropped when a handler replaces it.
    router_uploads: Option<BodyPolicy>,
    #[cfg(feature = "tls")]
    pub(crate) tls: crate::listen::TlsSetup,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .field("handler", &self.handler.is_some())
            .field("reactors", &self.reactors)
            .field("queues", &self.queues)
            .field("ws_events", &self.ws_events)
            .finish()
    }
}

impl Builder {
    /// Replaces the configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Sets the handler that runs on the reactor thread for every request.
    /// It must not block: answer with [`Action::Respond`], or pass the
    /// request to a worker with [`Action::Handoff`]. Without a handler (or
    /// [router](Builder::router)) every request is handed off. With several
    /// [reactors](Builder::reactors), all call the same handler, hence
    /// `Sync`; for a handler with mutable state of its own, see
    /// [`handler_factory`](Builder::handler_factory).
    pub fn handler<F>(mut self, handler: F) -> Self
    where
        F: Fn(&Request) -> Action + Send + Sync + 'static,
    {
        let handler = Arc::new(handler);
        self.handler = Some(Arc::new(move |_| {
            let handler = Arc::clone(&handler);
            Box::new(move |request: &mut Request| handler(request))
        }));
        self.route_error = None;
        self.route_outlets.clear();
        self.route_patterns.clear();
        self.router_uploads = None;
        self
    }

    /// Makes one handler per reactor with `make(reactor_index)`: each is
    /// called only on its reactor's thread, so it may keep mutable state
    /// (a `Cell`, a cache, a counter) with no lock — Mongoose's `fn_data`.
    ///
    /// ```
    /// # fn main() -> Result<(), tether::Error> {
    /// use tether::{Action, Request, Response, Server};
    ///
    /// let server = Server::builder()
    ///     .handler_factory(|_reactor| {
    ///         let mut served = 0u64; // this reactor's own
    ///         move |_req: &Request| {
    ///             served += 1;
    ///             Action::Respond(Response::text(200, served.to_string()))
    ///         }
    ///     })
    ///     .bind("127.0.0.1:0")?;
    /// # server.shutdown();
    /// # Ok(())
    /// # }
    /// ```
    pub fn handler_factory<M, H>(mut self, make: M) -> Self
    where
        M: Fn(usize) -> H + Send + Sync + 'static,
        H: FnMut(&Request) -> Action + Send + 'static,
    {
        self.handler = Some(Arc::new(move |index| {
            let mut handler = make(index);
            Box::new(move |request: &mut Request| handler(request))
        }));
        self.route_error = None;
        self.route_outlets.clear();
        self.route_patterns.clear();
        self.router_uploads = None;
        self
    }

    /// Routes requests with `router` (in place of a
    /// [handler](Builder::handler)): see [`Router`]. A route the router
    /// could not take makes [`bind`](Builder::bind) fail with
    /// [`Error::InvalidRoute`].
    pub fn router(mut self, router: Router) -> Self {
        self.route_error = router.error().map(str::to_owned);
        self.route_outlets = router.outlets().to_vec();
        self.route_patterns = router.patterns();
        let router = Arc::new(router);
        self.router_uploads = router.has_uploads().then(|| {
            let uploads = Arc::clone(&router);
            Arc::new(move |req: &Request| uploads.uploads(req)) as BodyPolicy
        });
        self.handler = Some(Arc::new(move |_| {
            let router = Arc::clone(&router);
            Box::new(move |request: &mut Request| router.dispatch(request))
        }));
        self
    }

    /// Streams the body of each request `streams(head)` picks to its worker
    /// ([`Exchange::body_reader`](crate::Exchange::body_reader)) instead of
    /// buffering it: the handler runs once the head is in (the request's
    /// [`body`](Request::body) is then empty), and a hand-off gives the
    /// worker the body as it arrives, up to
    /// [`Config::max_upload_bytes`]. A request the handler answers itself
    /// has its body left unread, and its connection closes after the
    /// answer. A [router](Builder::router) streams the bodies of its
    /// [`Router::upload`] routes without this; a predicate set here is used
    /// instead of the router's.
    pub fn uploads<F>(mut self, streams: F) -> Self
    where
        F: Fn(&Request) -> bool + Send + Sync + 'static,
    {
        self.uploads = Some(Arc::new(streams));
        self
    }

    /// Declares the hand-off queue `name`, holding at most `bound`
    /// exchanges no worker has taken (past it, `503`). Each queue has
    /// workers of its own ([`Server::pool`]), so slow long polls cannot
    /// starve quick jobs. The [default queue](crate::Handoff::DEFAULT_QUEUE) always exists,
    /// bounded by [`Config::handoff_queue`] unless declared here.
    pub fn queue(mut self, name: impl Into<Cow<'static, str>>, bound: usize) -> Self {
        outlets::declare(&mut self.queues, name.into(), Some(bound.max(1)));
        self
    }

    /// Declares the WebSocket event stream `name`, for sockets whose
    /// [`Upgrade::events`](crate::ws::Upgrade::events) names it; read it with
    /// [`Server::ws_events_from`]. The [default
    /// stream](crate::ws::DEFAULT_WS_EVENTS) always exists.
    pub fn ws_events(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        outlets::declare(&mut self.ws_events, name.into(), None);
        self
    }

    /// The counters this server will use, available before it starts (so a
    /// handler can serve them).
    pub fn stats_handle(&self) -> StatsHandle {
        self.stats.clone()
    }

    /// Runs `n` reactors (default 1), each a thread with its own poll and
    /// slab, sharing the port through `SO_REUSEPORT`: the kernel spreads new
    /// connections across them, so a service can use every core. Handles,
    /// exchanges, WebSocket events and stats work the same; limits such as
    /// `max_connections` apply per reactor. Unix only: elsewhere binding
    /// more than one reactor fails (`ErrorKind::Unsupported`).
    pub fn reactors(mut self, n: usize) -> Self {
        self.reactors = n.max(1);
        self
    }

    /// Every queue and event stream a route declared is one this builder
    /// has (the defaults always exist).
    fn check_outlets(&self) -> Result<(), String> {
        let has = |list: &[(Cow<'static, str>, Option<usize>)], default: &str, name: &str| {
            name == default || list.iter().any(|(n, _)| n == name)
        };
        check_outlets(
            &self.route_outlets,
            |name| has(&self.queues, DEFAULT_QUEUE, name),
            |name| has(&self.ws_events, DEFAULT_WS_EVENTS, name),
        )
    }

    /// Binds, listens, and starts the reactor threads.
    pub fn bind<A: ToSocketAddrs>(self, addr: A) -> Result<Server, Error> {
        self.config.validate()?;
        if let Some(error) = self.route_error {
            return Err(Error::InvalidRoute(error));
        }
        self.check_outlets().map_err(Error::InvalidRoute)?;
        let addr = addr
            .to_socket_addrs()?
            .next()
            .ok_or(Error::InvalidConfig("address resolved to nothing"))?;
        let count = self.reactors;
        let make_handler: HandlerFactory = self.handler.unwrap_or_else(|| {
            Arc::new(|_| Box::new(|_: &mut Request| Action::handoff()) as Handler)
        });
        let queues =
            outlets::with_default(DEFAULT_QUEUE, Some(self.config.handoff_queue), self.queues);
        let (queue_txs, queue_rxs) = Outlets::<Exchange>::open(&queues);
        let gauges = queue_rxs
            .iter()
            .zip(&queues)
            .map(|((name, rx), (_, bound))| {
                let rx = rx.clone();
                QueueGauge {
                    name: name.to_string(),
                    bound: bound.unwrap_or(usize::MAX),
                    depth: Box::new(move || rx.len()),
                    wait: Default::default(),
                }
            })
            .collect();
        let _ = self.stats.0.queues.set(gauges);
        let _ = self
            .stats
            .0
            .routes
            .set(RouteTable::new(&self.route_patterns));
        let reactor_figures = (0..count).map(|_| ReactorCounters::default()).collect();
        let _ = self.stats.0.reactors.set(reactor_figures);
        let watchdog = self
            .config
            .measures_health()
            .then(|| Watchdog::spawn(self.stats.clone(), self.config.stall_threshold))
            .transpose()?;
        // Unbounded, but each socket may have at most
        // `ws_max_inbound_messages` message events outstanding, and no new
        // socket opens past `ws_max_pending_events`.
        let streams = outlets::with_default(DEFAULT_WS_EVENTS, None, self.ws_events);
        let (stream_txs, stream_rxs) = Outlets::open(&streams);
        let uploads = self.uploads.or(self.router_uploads);
        #[cfg(feature = "tls")]
        let mut addresses = self.tls.addresses(addr);
        #[cfg(not(feature = "tls"))]
        let mut addresses = vec![listen::Address { addr }];
        let mut reactors = Vec::with_capacity(count);
        let signal = ShutdownSignal::default();
        let (exit_tx, exits) = crossbeam_channel::unbounded();
        let clients = self
            .config
            .memory_share_per_client
            .then(|| Arc::new(Clients::default()));
        for index in 0..count {
            // The first binds (port 0 picks a port); the others join it.
            let poll = Poll::new()?;
            let listeners = listen::bind(&mut addresses, &self.config, count > 1, poll.registry())?;
            let waker = Waker::new(poll.registry(), WAKER)?;
            let (command_tx, command_rx) = crate::channel::queue::channel(None);
            let context = Arc::new(Context {
                reactor: Notifier::new(command_tx, Box::new(waker)),
                stats: self.stats.clone(),
                stream_budget_bytes: self.config.stream_budget_bytes,
                shutdown: signal.clone(),
            });
            let reactor = Reactor::new(ReactorParts {
                poll,
                listeners,
                config: self.config.clone(),
                stats: self.stats.clone(),
                context: Arc::clone(&context),
                commands: command_rx,
                queues: queue_txs.clone(),
                handler: make_handler(index),
                uploads: uploads.clone(),
                ws_events: stream_txs.clone(),
                clients: clients.clone(),
                index: index as u64,
            });
            let name = if count == 1 {
                "tether-reactor".to_string()
            } else {
                format!("tether-reactor-{index}")
            };
            let exit = ExitNotice(exit_tx.clone());
            let thread = std::thread::Builder::new().name(name).spawn(move || {
                let _exit = exit;
                reactor.run()
            })?;
            reactors.push((thread, context));
        }
        let local_addr = addresses[0].addr;
        log::debug!("listening on {local_addr} with {count} reactor(s)");
        Ok(Server {
            local_addr,
            stats: self.stats,
            reactors,
            queues: queue_rxs
                .into_iter()
                .map(|(name, rx)| (name, Exchanges { rx }))
                .collect(),
            ws_events: stream_rxs
                .into_iter()
                .map(|(name, rx)| (name, WsEvents { rx }))
                .collect(),
            workers: Mutex::new(Vec::new()),
            signal,
            exits,
            _watchdog: watchdog,
            #[cfg(feature = "tls")]
            tls: self.tls.bound(&addresses),
        })
    }
}

/// Sent as a reactor thread ends, however it ends: true when it panicked.
struct ExitNotice(Sender<bool>);

impl Drop for ExitNotice {
    fn drop(&mut self) {
        let _ = self.0.send(std::thread::panicking());
    }
}

/// A running server: reactor threads (one by default) owning every connection.
///
/// Dropping it shuts it down as [`Server::shutdown`] does.
pub struct Server {
    local_addr: SocketAddr,
    stats: StatsHandle,
    /// Each reactor's thread and the way to reach it; emptied by `stop`.
    reactors: Vec<(JoinHandle<()>, Arc<Context>)>,
    /// The hand-off queues' receiving ends, the default first.
    queues: Vec<(Cow<'static, str>, Exchanges)>,
    /// The WebSocket event streams, the default first.
    ws_events: Vec<(Cow<'static, str>, WsEvents)>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    signal: ShutdownSignal,
    /// One notice per reactor thread that has ended (true: it panicked).
    exits: Receiver<bool>,
    /// Reports a turn that runs on; stopped after the reactors (drop order).
    _watchdog: Option<Watchdog>,
    #[cfg(feature = "tls")]
    pub(crate) tls: crate::listen::TlsSetup,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

impl Server {
    /// Starts configuring a server.
    pub fn builder() -> Builder {
        Builder {
            config: Config::default(),
            handler: None,
            stats: StatsHandle::default(),
            reactors: 1,
            queues: Vec::new(),
            ws_events: Vec::new(),
            route_error: None,
            route_outlets: Vec::new(),
            route_patterns: Vec::new(),
            uploads: None,
            router_uploads: None,
            #[cfg(feature = "tls")]
            tls: Default::default(),
        }
    }

    /// The address the server listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The counters now.
    pub fn stats(&self) -> Stats {
        self.stats.snapshot()
    }

    /// A cloneable handle to the counters, readable from any thread.
    pub fn stats_handle(&self) -> StatsHandle {
        self.stats.clone()
    }

    /// The [default](crate::Handoff::DEFAULT_QUEUE) queue of handed-off exchanges, for
    /// worker threads of your own.
    pub fn exchanges(&self) -> Exchanges {
        self.queues[0].1.clone()
    }

    /// The hand-off queue `name` declared with [`Builder::queue`].
    pub fn exchanges_from(&self, name: &str) -> Option<Exchanges> {
        self.queues
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, q)| q.clone())
    }

    /// The events (open, message, closed) of every WebSocket on the
    /// [default stream](crate::ws::DEFAULT_WS_EVENTS). See [`WsEvents`].
    pub fn ws_events(&self) -> WsEvents {
        self.ws_events[0].1.clone()
    }

    /// The events of the sockets whose [`Upgrade`](crate::ws::Upgrade) named
    /// the stream `name`, declared with [`Builder::ws_events`].
    pub fn ws_events_from(&self, name: &str) -> Option<WsEvents> {
        self.ws_events
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
    }

    /// The workers of the hand-off queue `name` (declared with
    /// [`Builder::queue`]): `server.pool("polls")?.workers(2, work)`.
    ///
    /// ```
    /// # fn main() -> Result<(), tether::Error> {
    /// use tether::{Handoff, Request, Response, Server};
    ///
    /// let server = Server::builder()
    ///     .queue("slow", 64)
    ///     .handler(|req: &Request| match req.path() {
    ///         "/slow" => Handoff::to("slow").into(),
    ///         _ => Handoff::new().into(),
    ///     })
    ///     .bind("127.0.0.1:0")?;
    /// server.workers(4, |exchange| drop(exchange.respond(Response::text(200, "quick"))));
    /// server.pool("slow")?.workers(1, |exchange| {
    ///     // However long this takes, the four quick workers stay free.
    ///     let _ = exchange.respond(Response::text(200, "slow"));
    /// });
    /// assert!(server.pool("typo").is_err());
    /// # server.shutdown();
    /// # Ok(())
    /// # }
    /// ```
    pub fn pool(&self, name: &str) -> Result<Pool<'_>, Error> {
        let exchanges = self
            .exchanges_from(name)
            .ok_or_else(|| Error::UnknownQueue(name.to_owned()))?;
        Ok(Pool {
            threads: &self.workers,
            stats: &self.stats,
            name: name.to_owned(),
            exchanges,
        })
    }

    /// Starts `n` worker threads that take exchanges from the [default
    /// queue](crate::Handoff::DEFAULT_QUEUE) and call `work` with each; see [`Pool::workers`].
    pub fn workers<F>(&self, n: usize, work: F)
    where
        F: Fn(Exchange) + Send + Sync + 'static,
    {
        self.default_pool().workers(n, work);
    }

    /// [`workers`](Server::workers) with state of each thread's own; see
    /// [`Pool::workers_with`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::io::{Read, Write};
    /// use tether::{Response, Server};
    ///
    /// let server = Server::builder().bind("127.0.0.1:0")?;
    /// // Each worker counts what it served, with no lock and no atomics.
    /// server.workers_with(2, |index| (index, 0u64), |(index, served), exchange| {
    ///     *served += 1;
    ///     let _ = exchange.respond(Response::text(200, format!("worker {index}: {served}")));
    /// });
    /// let mut client = std::net::TcpStream::connect(server.local_addr())?;
    /// client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?;
    /// assert!(reply.ends_with(": 1"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn workers_with<S, I, F>(&self, n: usize, init: I, work: F)
    where
        I: Fn(usize) -> S + Send + Sync + 'static,
        F: Fn(&mut S, Exchange) + Send + Sync + 'static,
    {
        self.default_pool().workers_with(n, init, work);
    }

    fn default_pool(&self) -> Pool<'_> {
        Pool {
            threads: &self.workers,
            stats: &self.stats,
            name: DEFAULT_QUEUE.to_owned(),
            exchanges: self.exchanges(),
        }
    }

    /// The signal application threads can watch to wind down as soon as
    /// shutdown begins (see [`ShutdownSignal`]).
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        self.signal.clone()
    }

    /// Shuts the server down gracefully on SIGINT or SIGTERM: the one call a
    /// service's `main` needs before [`wait`](Server::wait). A signal after
    /// the first (the operator insists, or the server has already stopped)
    /// ends the process at once with status 128 + the signal, as the
    /// default disposition would. This installs handlers for those two
    /// signals for the rest of the process's life; without this call tether
    /// leaves signal dispositions alone. Feature `signals` (on by default;
    /// Unix only).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), tether::Error> {
    /// let server = tether::Server::builder().bind("127.0.0.1:8080")?;
    /// server.shutdown_on_signals()?;
    /// server.wait() // returns once a signal's graceful shutdown is done
    /// # }
    /// ```
    #[cfg(all(feature = "signals", unix))]
    pub fn shutdown_on_signals(&self) -> Result<(), Error> {
        let handle = self.handle();
        crate::signals::shutdown_on_signals(self.shutdown_signal(), move || handle.shutdown())
    }

    /// A handle that can begin the shutdown from any thread (a signal
    /// handler's, a worker's) while another blocks in [`Server::wait`].
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            signal: self.signal.clone(),
            reactors: self.reactors.iter().map(|(_, n)| Arc::clone(n)).collect(),
        }
    }

    /// Blocks until the server has stopped: after a [`ServerHandle`] began
    /// the shutdown and it finished, or once a reactor stopped on a failure
    /// of its own (it settled every connection it held first) — then the
    /// others are shut down too, and the result is
    /// [`Error::ReactorFailed`]. Joins the worker pool as
    /// [`shutdown`](Server::shutdown) does.
    ///
    /// ```
    /// # fn main() -> Result<(), tether::Error> {
    /// let server = tether::Server::builder().bind("127.0.0.1:0")?;
    /// let handle = server.handle();
    /// // Elsewhere: a signal handler, an admin endpoint, a test.
    /// std::thread::spawn(move || handle.shutdown());
    /// server.wait()?; // returns once the shutdown is done
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread until the server has stopped: call it from
    /// `main` (or a thread of its own), never from an async task.
    pub fn wait(mut self) -> Result<(), Error> {
        let mut failed = false;
        for _ in 0..self.reactors.len() {
            let Ok(panicked) = self.exits.recv() else {
                break;
            };
            // A reactor that ends before anyone asked for shutdown failed.
            if panicked || !self.signal.is_shutting_down() {
                failed = true;
                self.handle().shutdown();
            }
        }
        self.stop();
        if failed {
            Err(Error::ReactorFailed)
        } else {
            Ok(())
        }
    }

    /// Shuts down gracefully: stops accepting (the port is free when this
    /// returns), lets owed responses finish for up to
    /// [`Config::shutdown_timeout`], closes everything else, and joins the
    /// reactor and the worker pool (except the calling thread, should a pool
    /// worker call this).
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread up to `shutdown_timeout` and until the
    /// workers return: from async code, call it on a blocking thread, or
    /// use [`ServerHandle::shutdown`], which returns at once.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.reactors.is_empty() {
            return;
        }
        self.handle().shutdown();
        for (thread, _) in self.reactors.drain(..) {
            if thread.join().is_err() {
                log::error!("a reactor thread panicked");
            }
        }
        let workers =
            std::mem::take(&mut *self.workers.lock().unwrap_or_else(PoisonError::into_inner));
        let me = std::thread::current().id();
        for worker in workers {
            if worker.thread().id() != me {
                let _ = worker.join();
            }
        }
    }
}

/// Begins a server's graceful shutdown from any thread; see
/// [`Server::handle`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    signal: ShutdownSignal,
    reactors: Vec<Arc<Context>>,
}

impl ServerHandle {
    /// Begins the graceful shutdown and returns at once: the
    /// [`ShutdownSignal`] fires, the reactors stop accepting and finish
    /// what is owed within `shutdown_timeout`. [`Server::wait`] returns when
    /// it is done. Idempotent.
    pub fn shutdown(&self) {
        self.signal.begin();
        for context in &self.reactors {
            context.reactor.send(Command::Shutdown);
        }
    }

    /// True once shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.signal.is_shutting_down()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
