//! Server configuration: every limit and timeout, with its default.

use std::time::Duration;

mod settings;

/// Default for [`Config::tcp_notsent_lowat`]: 128 KiB. Private:
/// `Config::default()` carries it.
const TCP_NOTSENT_LOWAT: u32 = 128 * 1024;

/// The defaults, each named after its field.
impl Config {
    /// Default for [`Config::backlog`].
    pub const DEFAULT_BACKLOG: i32 = 1024;
    /// Default for [`Config::max_connections`].
    pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
    /// Default for [`Config::max_head_bytes`].
    pub const DEFAULT_MAX_HEAD_BYTES: usize = 16 * 1024;
    /// Default for [`Config::max_headers`].
    pub const DEFAULT_MAX_HEADERS: usize = 64;
    /// Hard upper bound on [`Config::max_headers`].
    pub const MAX_HEADERS_LIMIT: usize = 256;
    /// Default for [`Config::max_upload_bytes`]: 1 GiB.
    pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 1 << 30;
    /// Default for [`Config::max_body_bytes`].
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
    /// Default for [`Config::max_buffered_bytes`].
    pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 64 * 1024;
    /// Default for [`Config::stream_budget_bytes`].
    pub const DEFAULT_STREAM_BUDGET_BYTES: usize = 256 * 1024;
    /// Default for [`Config::ws_ping_interval`].
    pub const DEFAULT_WS_PING_INTERVAL: Duration = Duration::from_secs(30);
    /// Default for [`Config::ws_pong_timeout`].
    pub const DEFAULT_WS_PONG_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default for [`Config::ws_max_message_bytes`] and [`Config::ws_max_frame_bytes`].
    pub const DEFAULT_WS_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
    /// Default for [`Config::ws_send_budget_bytes`].
    pub const DEFAULT_WS_SEND_BUDGET_BYTES: usize = 1024 * 1024;
    /// Default for [`Config::ws_max_inbound_messages`].
    pub const DEFAULT_WS_MAX_INBOUND_MESSAGES: usize = 64;
    /// Default for [`Config::ws_max_pending_events`].
    pub const DEFAULT_WS_MAX_PENDING_EVENTS: usize = 4096;
    /// Default for [`Config::memory_budget_bytes`]: 256 MiB.
    pub const DEFAULT_MEMORY_BUDGET_BYTES: usize = 256 * 1024 * 1024;
    /// Default for [`Config::handoff_queue`].
    pub const DEFAULT_HANDOFF_QUEUE: usize = 1024;
    /// Default for [`Config::head_timeout`].
    pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default for [`Config::handshake_timeout`]: as long as `head_timeout`'s
    /// default, so by default the handshake has the head's time.
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default for [`Config::body_timeout`].
    pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default for [`Config::min_body_rate`], in bytes per second.
    pub const DEFAULT_MIN_BODY_RATE: u64 = 1024;
    /// Default for [`Config::idle_timeout`].
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    /// Default for [`Config::response_timeout`].
    pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default for [`Config::write_stall_timeout`].
    pub const DEFAULT_WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default for [`Config::linger_timeout`].
    pub const DEFAULT_LINGER_TIMEOUT: Duration = Duration::from_secs(2);
    /// Default for [`Config::shutdown_timeout`].
    pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default for [`Config::accept_backoff`].
    pub const DEFAULT_ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
    /// Default for [`Config::stall_threshold`]: well under a pause a user
    /// notices, far above a healthy turn (microseconds).
    pub const DEFAULT_STALL_THRESHOLD: Duration = Duration::from_millis(25);
}

/// What to do when a client shuts down its write side (sends FIN) while the
/// connection is still open.
///
/// A read returning zero bytes cannot tell "the client is gone" from "the
/// client has finished sending"; the policy decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HalfClosePolicy {
    /// End the connection at once with [`CloseReason::PeerClosed`](crate::CloseReason::PeerClosed),
    /// waking any worker that holds its exchange. What Go and nginx do.
    ///
    /// So the outcome for a client that half-closes right after its request
    /// (`shutdown(SHUT_WR)`, as some HTTP/1.0 tools do) depends on where the
    /// route runs: a response made on the reactor is queued before the FIN
    /// is read and is written (the read side is done, the write side is
    /// not), while a worker's response comes after the FIN has ended the
    /// connection, and the worker gets it back as `Undelivered`. Serve such
    /// clients with [`Finish`](HalfClosePolicy::Finish).
    #[default]
    Abort,
    /// Keep the write side open: answer every request already received, then
    /// close. A worker's exchange is not woken by the FIN (a reset still wakes it).
    Finish,
}

/// What happens when a socket's outgoing queue is over its byte budget
/// ([`Config::ws_send_budget_bytes`](crate::Config::ws_send_budget_bytes)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WsBackpressure {
    /// The send fails with [`SendError::Full`](crate::SendError::Full); nothing queued is lost.
    #[default]
    Fail,
    /// The oldest queued messages not yet being written are dropped to make
    /// room (counted in `ws_dropped`).
    DropOldest,
    /// The socket is closed as a slow consumer
    /// ([`CloseReason::SlowConsumer`](crate::CloseReason::SlowConsumer)).
    Close,
}

/// TCP keepalive probing, which finds peers that vanished without a FIN or RST
/// (cable pulled, host dead) even when the connection is idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe (`TCP_KEEPIDLE`).
    pub idle: Duration,
    /// Time between probes (`TCP_KEEPINTVL`).
    pub interval: Duration,
    /// Unanswered probes before the connection is dropped (`TCP_KEEPCNT`).
    pub retries: u32,
}

/// The defaults find a dead peer before any server-side timer would blame
/// someone else: a silent idle peer after about 25 s (10 s idle, then three
/// probes 5 s apart), unacknowledged data after 20 s (`TCP_USER_TIMEOUT`),
/// both ahead of the 30 s `response_timeout` and `write_stall_timeout`.
impl Default for Keepalive {
    fn default() -> Self {
        Keepalive {
            idle: Duration::from_secs(10),
            interval: Duration::from_secs(5),
            retries: 3,
        }
    }
}

/// Every limit and timeout of a [`Server`](crate::Server).
///
/// Each field documents what happens past its limit. Start from
/// `Config::default()` and change what you need:
///
/// ```
/// use std::time::Duration;
/// let config = tether::Config::default()
///     .idle_timeout(Duration::from_secs(5))
///     .max_body_bytes(64 * 1024);
/// assert_eq!(config.idle_timeout, Duration::from_secs(5));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Listen backlog passed to `listen(2)`.
    ///
    /// Default: [`DEFAULT_BACKLOG`](Config::DEFAULT_BACKLOG).
    pub backlog: i32,
    /// Most connections open at once, per reactor. At the limit a reactor stops accepting
    /// (new clients wait in the kernel's backlog) until a connection closes;
    /// accepted connections are never refused half-way.
    ///
    /// Default: [`DEFAULT_MAX_CONNECTIONS`](Config::DEFAULT_MAX_CONNECTIONS).
    pub max_connections: usize,
    /// Most bytes in a request head (request line and headers). Past it: `431`.
    ///
    /// Default: [`DEFAULT_MAX_HEAD_BYTES`](Config::DEFAULT_MAX_HEAD_BYTES).
    pub max_head_bytes: usize,
    /// Most header fields in a request (at most [`MAX_HEADERS_LIMIT`](Config::MAX_HEADERS_LIMIT)). Past it: `431`.
    ///
    /// Default: [`DEFAULT_MAX_HEADERS`](Config::DEFAULT_MAX_HEADERS).
    pub max_headers: usize,
    /// Most bytes in a request body. Past it: `413` (sent before the body is
    /// read when `Content-Length` already says so).
    ///
    /// Default: [`DEFAULT_MAX_BODY_BYTES`](Config::DEFAULT_MAX_BODY_BYTES).
    pub max_body_bytes: usize,
    /// Most bytes in a request body streamed to a worker (see
    /// [`Exchange::body_reader`](crate::Exchange::body_reader)); such a body
    /// is never held whole, so this may be far above `max_body_bytes`. Past
    /// it: `413`, and the worker's reader fails.
    ///
    /// Default: [`DEFAULT_MAX_UPLOAD_BYTES`](Config::DEFAULT_MAX_UPLOAD_BYTES).
    pub max_upload_bytes: u64,
    /// Most unparsed bytes buffered per connection (pipelined requests and
    /// partial heads). When full, reading pauses until requests are answered;
    /// hangups and resets are still noticed.
    ///
    /// Default: [`DEFAULT_MAX_BUFFERED_BYTES`](Config::DEFAULT_MAX_BUFFERED_BYTES).
    pub max_buffered_bytes: usize,
    /// Most exchanges waiting for a worker. Past it a request is answered
    /// `503` with `Connection: close`.
    ///
    /// Default: [`DEFAULT_HANDOFF_QUEUE`](Config::DEFAULT_HANDOFF_QUEUE).
    pub handoff_queue: usize,
    /// Most bytes a streaming response queues beyond what the connection is
    /// writing (at most 64 KiB, or one part). Past it
    /// [`StreamSender::send`](crate::StreamSender::send) blocks until the
    /// client reads.
    ///
    /// Default: [`DEFAULT_STREAM_BUDGET_BYTES`](Config::DEFAULT_STREAM_BUDGET_BYTES).
    pub stream_budget_bytes: usize,
    /// Time allowed for a whole request head, from its first byte (or from
    /// accept, for a connection's first request). Past it: closed with
    /// [`HeadTimeout`](crate::CloseReason::HeadTimeout).
    ///
    /// Default: [`DEFAULT_HEAD_TIMEOUT`](Config::DEFAULT_HEAD_TIMEOUT).
    pub head_timeout: Duration,
    /// With feature `tls`: time allowed for the TLS handshake, from accept.
    /// It can only shorten the first request's `head_timeout`, which also
    /// counts from accept and covers the handshake: the handshake must end
    /// within the shorter of the two. Past it: closed with
    /// [`HandshakeTimeout`](crate::CloseReason::HandshakeTimeout).
    ///
    /// Default: [`DEFAULT_HANDSHAKE_TIMEOUT`](Config::DEFAULT_HANDSHAKE_TIMEOUT).
    pub handshake_timeout: Duration,
    /// Longest a request body may go without receiving bytes. Past it: closed
    /// with [`BodyTimeout`](crate::CloseReason::BodyTimeout).
    ///
    /// Default: [`DEFAULT_BODY_TIMEOUT`](Config::DEFAULT_BODY_TIMEOUT).
    pub body_timeout: Duration,
    /// Rate, in bytes per second, a request body must keep up, judged over
    /// each window of `body_timeout` on its own (default 1 KiB/s: 30 KiB
    /// per 30 s). A window that brings less: `408` and
    /// [`BodyTooSlow`](crate::CloseReason::BodyTooSlow). So a trickle of one
    /// byte a second is cut after `body_timeout` (30 s by default), and a
    /// body that slows below the rate is cut within two windows of slowing,
    /// however fast it began (an average since the start let 1 MiB sent
    /// fast then trickle for 17 minutes, holding its memory). 0 turns the
    /// check off.
    ///
    /// Default: [`DEFAULT_MIN_BODY_RATE`](Config::DEFAULT_MIN_BODY_RATE).
    pub min_body_rate: u64,
    /// Longest a keep-alive connection may sit idle between requests. Never
    /// applies while a response is pending.
    ///
    /// Default: [`DEFAULT_IDLE_TIMEOUT`](Config::DEFAULT_IDLE_TIMEOUT).
    pub idle_timeout: Duration,
    /// Longest a worker may hold an exchange. Past it the client is answered
    /// `503`, the connection drains, and the worker's `respond` returns
    /// [`Undelivered`](crate::Undelivered).
    ///
    /// It stops once the response has started: a stream
    /// ([`Exchange::stream`](crate::Exchange::stream)) is not timed by it
    /// after its head is sent; a quiet stream is kept honest by its
    /// heartbeat and `write_stall_timeout` instead.
    ///
    /// Default: [`DEFAULT_RESPONSE_TIMEOUT`](Config::DEFAULT_RESPONSE_TIMEOUT).
    pub response_timeout: Duration,
    /// Longest queued output may make no progress (client not reading), also
    /// while draining. Past it the connection is reset (`SO_LINGER` 0) with
    /// [`WriteStall`](crate::CloseReason::WriteStall).
    ///
    /// Progress is the kernel taking bytes. With
    /// [`tcp_notsent_lowat`](Config::tcp_notsent_lowat) it takes them as
    /// soon as its unsent queue is below that mark, so a client reading
    /// steadily counts as progressing if it reads at least
    /// `tcp_notsent_lowat` per `write_stall_timeout` (128 KiB per 30 s by
    /// default, about 4.3 KiB/s). Without it, a send buffer the kernel grew
    /// to megabytes reports room only once a third of it is free, and a
    /// steady 31 KiB/s reader was reset here.
    ///
    /// Default: [`DEFAULT_WRITE_STALL_TIMEOUT`](Config::DEFAULT_WRITE_STALL_TIMEOUT).
    pub write_stall_timeout: Duration,
    /// After a final response, how long the server keeps reading and
    /// discarding what the client still sends (after shutting its own write
    /// side) so the client reads the response instead of a reset.
    ///
    /// Default: [`DEFAULT_LINGER_TIMEOUT`](Config::DEFAULT_LINGER_TIMEOUT).
    pub linger_timeout: Duration,
    /// How long [`Server::shutdown`](crate::Server::shutdown) lets owed
    /// responses finish before closing everything.
    ///
    /// Default: [`DEFAULT_SHUTDOWN_TIMEOUT`](Config::DEFAULT_SHUTDOWN_TIMEOUT).
    pub shutdown_timeout: Duration,
    /// How long accepting pauses after the process runs out of descriptors
    /// (`EMFILE`/`ENFILE`).
    ///
    /// Default: [`DEFAULT_ACCEPT_BACKOFF`](Config::DEFAULT_ACCEPT_BACKOFF).
    pub accept_backoff: Duration,
    /// The stall detector's threshold: a reactor turn longer than this
    /// (everything else on that reactor waited) is counted and recorded in
    /// [`ReactorStats::stall_duration`](crate::stats::ReactorStats::stall_duration),
    /// and logged at `warn` — naming the route and connection of the
    /// handler calls that ran in that turn (a turn with one call was held
    /// by it) — at most once a second per reactor (the line counts the
    /// stalls not logged). A turn is judged as it ends; one that does not
    /// end (a handler that never returns) shows in
    /// [`ReactorStats::turn_running`](crate::stats::ReactorStats::turn_running)
    /// and is logged while it runs by the server's watchdog thread
    /// (`tether-watchdog`), after a second (or this threshold, if longer)
    /// and then each time it has run twice as long.
    ///
    /// `Duration::MAX` (`never`) turns off the detector, the watchdog and
    /// every figure of a reactor's health they are built on (busy time and
    /// ratio, turns and their durations, timer lateness). See
    /// docs/profiling.md.
    ///
    /// Default: [`DEFAULT_STALL_THRESHOLD`](Config::DEFAULT_STALL_THRESHOLD).
    pub stall_threshold: Duration,
    /// What a client's FIN means while the connection is open.
    ///
    /// Default: [`HalfClosePolicy::default()`](HalfClosePolicy).
    pub half_close: HalfClosePolicy,
    /// A WebSocket quiet for this long is pinged.
    ///
    /// Default: [`DEFAULT_WS_PING_INTERVAL`](Config::DEFAULT_WS_PING_INTERVAL).
    pub ws_ping_interval: Duration,
    /// A WebSocket that sends nothing (no pong, no frame) this long after a
    /// ping is ended with [`PingTimeout`](crate::CloseReason::PingTimeout).
    /// So a dead client is found within `ws_ping_interval + ws_pong_timeout`.
    ///
    /// Default: [`DEFAULT_WS_PONG_TIMEOUT`](Config::DEFAULT_WS_PONG_TIMEOUT).
    pub ws_pong_timeout: Duration,
    /// Largest WebSocket frame accepted. Past it: close code 1009.
    ///
    /// Default: [`DEFAULT_WS_MAX_MESSAGE_BYTES`](Config::DEFAULT_WS_MAX_MESSAGE_BYTES).
    pub ws_max_frame_bytes: u64,
    /// Largest WebSocket message (all fragments) accepted. Past it: close
    /// code 1009.
    ///
    /// Default: [`DEFAULT_WS_MAX_MESSAGE_BYTES`](Config::DEFAULT_WS_MAX_MESSAGE_BYTES).
    pub ws_max_message_bytes: usize,
    /// Bytes a WebSocket's outgoing queue may hold; past it
    /// [`ws_backpressure`](Config::ws_backpressure) decides. A message
    /// larger than this fits no queue: its send meets the policy even when
    /// the queue is empty. Queued frames are also held against
    /// [`memory_budget_bytes`](Config::memory_budget_bytes): a socket's own
    /// frames in steps of 1 KiB (at most one step more than they hold), a
    /// broadcast's once per frame however many sockets it is queued on.
    ///
    /// Default: [`DEFAULT_WS_SEND_BUDGET_BYTES`](Config::DEFAULT_WS_SEND_BUDGET_BYTES).
    pub ws_send_budget_bytes: usize,
    /// What a send does when a WebSocket's queue is full.
    ///
    /// Default: [`WsBackpressure::Fail`].
    pub ws_backpressure: WsBackpressure,
    /// Message events of one WebSocket the application may hold (not yet
    /// dropped) before the reactor stops reading that socket, while the
    /// server holds few events. A socket's share shrinks as the server-wide
    /// total nears [`ws_max_pending_events`](Config::ws_max_pending_events)
    /// (in proportion to the room left, never below one), so a few sockets
    /// flooding messages back up through TCP instead of taking the room
    /// every newcomer's upgrade needs.
    ///
    /// Default: [`DEFAULT_WS_MAX_INBOUND_MESSAGES`](Config::DEFAULT_WS_MAX_INBOUND_MESSAGES).
    pub ws_max_inbound_messages: usize,
    /// WebSocket events (open, message, closed) of every socket the
    /// application may hold (queued on [`WsEvents`](crate::ws::WsEvents) or not
    /// yet dropped) before new upgrades are refused with `503`
    /// (`ws_refused`). With the per-socket allowance this bounds the event
    /// stream: at most this many plus, per open socket,
    /// `ws_max_inbound_messages` + 1.
    ///
    /// Default: [`DEFAULT_WS_MAX_PENDING_EVENTS`](Config::DEFAULT_WS_MAX_PENDING_EVENTS).
    pub ws_max_pending_events: usize,
    /// Server-wide limit on the bytes peers make the reactor hold: request
    /// bodies being read, WebSocket messages being assembled or waiting for
    /// the application, input read ahead past one buffer (16 KiB or
    /// `max_head_bytes`), WebSocket frames queued to send, and response
    /// bytes a connection holds unwritten past 128 KiB (twice the output's
    /// high-water mark). Past it a body is refused with `503`, a message with
    /// close `1009`, a response is answered `503` instead (a worker's comes
    /// back to it as `Undelivered`; all as [`CloseReason::MemoryBudget`]), a
    /// WebSocket send fails `Full`, and reads ahead pause; each counts in
    /// `memory_refusals`. Per-connection limits
    /// multiply by `max_connections`; this one does not. See
    /// docs/reliability.md for the whole memory figure.
    ///
    /// [`CloseReason::MemoryBudget`]: crate::CloseReason::MemoryBudget
    ///
    /// Default: [`DEFAULT_MEMORY_BUDGET_BYTES`](Config::DEFAULT_MEMORY_BUDGET_BYTES).
    pub memory_budget_bytes: usize,
    /// Whether one client may hold only its share of a busy memory budget.
    /// A client is one IP address (an IPv6 address to its /64). Up to half
    /// the budget, any client may take what it needs; past half, a client
    /// grows only to an equal share among the clients holding bytes *plus
    /// one*, so a newcomer always finds room and the largest holders are
    /// the ones refused (counted in `memory_share_refusals` as well). A
    /// client alone may so hold half the budget.
    ///
    /// Behind a reverse proxy every connection comes from the proxy's
    /// address: turn this off there (the proxy is where to limit each
    /// client), or the proxy's connections together get half the budget.
    ///
    /// Default: `true`.
    pub memory_share_per_client: bool,
    /// TCP keepalive probing on accepted sockets; `None` leaves the OS default.
    ///
    /// Default: `Some(Keepalive::default())` (see [`Keepalive`]).
    pub keepalive: Option<Keepalive>,
    /// `TCP_USER_TIMEOUT`: longest sent data may stay unacknowledged before
    /// the kernel drops the connection; `None` leaves the OS default. Linux
    /// and Android only; elsewhere not set (keepalive alone finds a peer
    /// that vanished).
    ///
    /// Linux applies it to a receive window held shut as well: a client
    /// that is there and acknowledges the kernel's window probes, but reads
    /// nothing for this long while we owe it bytes, is dropped too, and
    /// the kernel reports both the same way (`ETIMEDOUT`). Where our output
    /// was waiting on the client it is recorded as
    /// [`WriteStall`](crate::CloseReason::WriteStall), not as a vanished
    /// peer; where it had all been handed to the kernel (a response that
    /// fit in its buffers), as
    /// [`KeepaliveFailed`](crate::CloseReason::KeepaliveFailed). Keep it
    /// longer than the pauses a slow reader you want to serve may take.
    pub tcp_user_timeout: Option<Duration>,
    /// `TCP_NOTSENT_LOWAT`: most bytes a socket's kernel send queue holds
    /// that it has not yet sent. Past it writes wait (the socket reports
    /// writable again once below), so a client that reads slowly or not at
    /// all costs the kernel this plus what is in flight, not a send buffer
    /// grown to megabytes. Set on a connection once it carries bulk output
    /// (more than 64 KiB queued, or this much written over its life), so
    /// small keep-alive exchanges never pay for it. `None` leaves the OS
    /// default (no limit). Linux and Android only; elsewhere not set.
    ///
    /// Default: `Some(128 KiB)`.
    pub tcp_notsent_lowat: Option<u32>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            backlog: Config::DEFAULT_BACKLOG,
            max_connections: Config::DEFAULT_MAX_CONNECTIONS,
            max_head_bytes: Config::DEFAULT_MAX_HEAD_BYTES,
            max_headers: Config::DEFAULT_MAX_HEADERS,
            max_body_bytes: Config::DEFAULT_MAX_BODY_BYTES,
            max_upload_bytes: Config::DEFAULT_MAX_UPLOAD_BYTES,
            max_buffered_bytes: Config::DEFAULT_MAX_BUFFERED_BYTES,
            handoff_queue: Config::DEFAULT_HANDOFF_QUEUE,
            stream_budget_bytes: Config::DEFAULT_STREAM_BUDGET_BYTES,
            head_timeout: Config::DEFAULT_HEAD_TIMEOUT,
            handshake_timeout: Config::DEFAULT_HANDSHAKE_TIMEOUT,
            body_timeout: Config::DEFAULT_BODY_TIMEOUT,
            min_body_rate: Config::DEFAULT_MIN_BODY_RATE,
            idle_timeout: Config::DEFAULT_IDLE_TIMEOUT,
            response_timeout: Config::DEFAULT_RESPONSE_TIMEOUT,
            write_stall_timeout: Config::DEFAULT_WRITE_STALL_TIMEOUT,
            linger_timeout: Config::DEFAULT_LINGER_TIMEOUT,
            shutdown_timeout: Config::DEFAULT_SHUTDOWN_TIMEOUT,
            accept_backoff: Config::DEFAULT_ACCEPT_BACKOFF,
            stall_threshold: Config::DEFAULT_STALL_THRESHOLD,
            half_close: HalfClosePolicy::default(),
            ws_ping_interval: Config::DEFAULT_WS_PING_INTERVAL,
            ws_pong_timeout: Config::DEFAULT_WS_PONG_TIMEOUT,
            ws_max_frame_bytes: Config::DEFAULT_WS_MAX_MESSAGE_BYTES as u64,
            ws_max_message_bytes: Config::DEFAULT_WS_MAX_MESSAGE_BYTES,
            ws_send_budget_bytes: Config::DEFAULT_WS_SEND_BUDGET_BYTES,
            ws_backpressure: WsBackpressure::Fail,
            ws_max_inbound_messages: Config::DEFAULT_WS_MAX_INBOUND_MESSAGES,
            ws_max_pending_events: Config::DEFAULT_WS_MAX_PENDING_EVENTS,
            memory_budget_bytes: Config::DEFAULT_MEMORY_BUDGET_BYTES,
            memory_share_per_client: true,
            keepalive: Some(Keepalive::default()),
            tcp_user_timeout: Some(Duration::from_secs(20)),
            tcp_notsent_lowat: Some(TCP_NOTSENT_LOWAT),
        }
    }
}

/// One builder method per field (`Config::default().idle_timeout(d)`), and
/// the by-name access of [`Config::set`] and [`Config::settings`]: one list,
/// so a new field cannot be missing from either.
macro_rules! setters {
    ($($name:ident: $ty:ty,)*) => {
        impl Config {
            $(
                #[doc = concat!("Sets [`", stringify!($name), "`](Config::", stringify!($name), "), for chaining.")]
                #[must_use]
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$name = value;
                    self
                }
            )*

            const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];

            /// `None` if no field has this name.
            fn set_field(&mut self, name: &str, text: &str) -> Option<Result<(), crate::Error>> {
                match name {
                    $(stringify!($name) => Some(
                        settings::parse_as::<$ty>(name, text).map(|value| self.$name = value)
                    ),)*
                    _ => None,
                }
            }

            fn show_fields(&self) -> Vec<(&'static str, String)> {
                vec![$((stringify!($name), settings::Setting::show(&self.$name))),*]
            }
        }
    };
}

setters! {
    backlog: i32,
    max_connections: usize,
    max_head_bytes: usize,
    max_headers: usize,
    max_body_bytes: usize,
    max_upload_bytes: u64,
    max_buffered_bytes: usize,
    handoff_queue: usize,
    stream_budget_bytes: usize,
    head_timeout: Duration,
    handshake_timeout: Duration,
    body_timeout: Duration,
    min_body_rate: u64,
    idle_timeout: Duration,
    response_timeout: Duration,
    write_stall_timeout: Duration,
    linger_timeout: Duration,
    shutdown_timeout: Duration,
    accept_backoff: Duration,
    stall_threshold: Duration,
    half_close: HalfClosePolicy,
    ws_ping_interval: Duration,
    ws_pong_timeout: Duration,
    ws_max_frame_bytes: u64,
    ws_max_message_bytes: usize,
    ws_send_budget_bytes: usize,
    ws_backpressure: WsBackpressure,
    ws_max_inbound_messages: usize,
    ws_max_pending_events: usize,
    memory_budget_bytes: usize,
    memory_share_per_client: bool,
    keepalive: Option<Keepalive>,
    tcp_user_timeout: Option<Duration>,
    tcp_notsent_lowat: Option<u32>,
}

impl Config {
    /// The reactor's health is measured (and the watchdog runs) unless
    /// `stall_threshold` is `never`.
    pub(crate) fn measures_health(&self) -> bool {
        self.stall_threshold != Duration::MAX
    }

    /// Checks that the limits make sense together: every count at least 1,
    /// every timeout non-zero. Any timeout may be `Duration::MAX`, which
    /// means "never" (deadlines saturate; nothing overflows).
    pub fn validate(&self) -> Result<(), crate::Error> {
        let bad = |what: &'static str| Err(crate::Error::InvalidConfig(what));
        if self.max_connections == 0 {
            return bad("max_connections must be at least 1");
        }
        if self.max_headers == 0 || self.max_headers > Config::MAX_HEADERS_LIMIT {
            return bad("max_headers must be between 1 and Config::MAX_HEADERS_LIMIT");
        }
        if self.max_head_bytes < 64 {
            return bad("max_head_bytes must be at least 64");
        }
        if self.max_buffered_bytes < self.max_head_bytes {
            return bad("max_buffered_bytes must be at least max_head_bytes");
        }
        if self.handoff_queue == 0 {
            return bad("handoff_queue must be at least 1");
        }
        if self.ws_max_pending_events == 0 {
            return bad("ws_max_pending_events must be at least 1");
        }
        if self.memory_budget_bytes == 0 {
            return bad("memory_budget_bytes must be at least 1");
        }
        if self.ws_max_inbound_messages == 0 {
            // No message could ever be handed over: every socket would stall.
            return bad("ws_max_inbound_messages must be at least 1");
        }
        // `Duration::MAX` is fine anywhere ("never"); zero cannot work.
        let timeouts = [
            self.head_timeout,
            self.handshake_timeout,
            self.body_timeout,
            self.idle_timeout,
            self.response_timeout,
            self.write_stall_timeout,
            self.linger_timeout,
            self.shutdown_timeout,
            self.accept_backoff,
            self.stall_threshold,
            self.ws_ping_interval,
            self.ws_pong_timeout,
        ];
        if timeouts.iter().any(|t| t.is_zero()) {
            return bad("timeouts must be non-zero (Duration::MAX means never)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        Config::default().validate().unwrap();
    }

    /// The story docs/reliability.md tells: the kernel finds a dead peer
    /// (keepalive_failed) before the response timeout blames the worker or
    /// the write stall blames the client, and idle connections go last.
    #[test]
    fn the_default_timers_fire_in_the_documented_order() {
        let c = Config::default();
        let keepalive = c.keepalive.expect("on by default");
        let dead_idle_peer = keepalive.idle + keepalive.interval * keepalive.retries;
        let dead_busy_peer = c.tcp_user_timeout.expect("on by default");
        assert!(dead_idle_peer < c.response_timeout);
        assert!(dead_busy_peer < c.response_timeout);
        assert!(dead_busy_peer < c.write_stall_timeout);
        assert!(c.head_timeout < c.response_timeout);
        assert!(c.response_timeout <= c.write_stall_timeout);
        assert!(c.write_stall_timeout < c.idle_timeout);
    }

    #[test]
    fn builder_methods_set_their_fields() {
        let config = Config::default()
            .handoff_queue(7)
            .response_timeout(Duration::from_secs(2))
            .keepalive(None)
            .ws_backpressure(WsBackpressure::DropOldest);
        assert_eq!(config.handoff_queue, 7);
        assert_eq!(config.response_timeout, Duration::from_secs(2));
        assert!(config.keepalive.is_none());
        assert_eq!(config.ws_backpressure, WsBackpressure::DropOldest);
        assert_eq!(
            config.idle_timeout,
            Config::DEFAULT_IDLE_TIMEOUT,
            "others keep defaults"
        );
    }

    #[test]
    fn every_default_constant_is_the_default() {
        // Each `Config::DEFAULT_*` is what `Config::default()` uses, so the
        // constant a user reads cannot drift from the value they get.
        let source = include_str!("mod.rs");
        let default_impl = source
            .split("impl Default for Config")
            .nth(1)
            .and_then(|rest| rest.split("\n}\n").next())
            .unwrap();
        let defaults = source
            .split("pub const ")
            .skip(1)
            .filter_map(|rest| rest.split(':').next())
            .filter(|name| name.starts_with("DEFAULT_"));
        for name in defaults {
            assert!(
                default_impl.contains(&format!("Config::{name}")),
                "{name} is not what Config::default() uses"
            );
        }
    }

    #[test]
    fn nonsense_is_rejected() {
        let cases: [fn(&mut Config); 11] = [
            |c| c.max_connections = 0,
            |c| c.max_headers = Config::MAX_HEADERS_LIMIT + 1,
            |c| c.max_buffered_bytes = c.max_head_bytes - 1,
            |c| c.idle_timeout = Duration::ZERO,
            |c| c.handoff_queue = 0,
            |c| c.ws_max_inbound_messages = 0,
            |c| c.memory_budget_bytes = 0,
            |c| c.linger_timeout = Duration::ZERO,
            |c| c.shutdown_timeout = Duration::ZERO,
            |c| c.accept_backoff = Duration::ZERO,
            |c| c.stall_threshold = Duration::ZERO,
        ];
        for change in cases {
            let mut config = Config::default();
            change(&mut config);
            assert!(config.validate().is_err(), "{config:?}");
        }
    }
}
