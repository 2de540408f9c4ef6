//! Why a connection ended.

use std::fmt;
use std::io;

/// Why a connection ended. Every closed connection records exactly one.
///
/// The names are stable: they appear in [`Stats`](crate::stats::Stats) and in the
/// demo's `/stats` JSON as `closed.<name>` (see [`CloseReason::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client closed its side in order: a read returned zero bytes (FIN).
    PeerClosed,
    /// The client reset the connection (RST; `ECONNRESET`).
    PeerReset,
    /// The socket reported a hangup (EPOLLHUP) without an error.
    PeerHangup,
    /// The socket reported an error other than a reset (taken from `SO_ERROR`).
    SocketError,
    /// A write to the client failed (for example `EPIPE`).
    WriteError,
    /// TCP keepalive or `TCP_USER_TIMEOUT` gave up on the peer
    /// (`ETIMEDOUT`) while none of our output waited on it, or the network
    /// reported it unreachable (`EHOSTUNREACH`, `ENETUNREACH`: its link
    /// went down): a peer that vanished. (The kernel timeout while our
    /// output waits on the peer is [`WriteStall`](Self::WriteStall): a live
    /// reader holding its window shut ends the same way. One whose response
    /// all fit in the kernel's buffers can still end here; see
    /// [`Config::tcp_user_timeout`](crate::Config::tcp_user_timeout).)
    KeepaliveFailed,
    /// A keep-alive connection sat idle between requests for too long.
    IdleTimeout,
    /// A request head did not arrive in time (slow or silent client).
    HeadTimeout,
    /// A request body made no progress for too long.
    BodyTimeout,
    /// A request body arrived slower than
    /// [`Config::min_body_rate`](crate::Config::min_body_rate) on average
    /// after its first `body_timeout` (a trickle, R-U-Dead-Yet); the client
    /// was answered `408`.
    BodyTooSlow,
    /// A worker did not respond in time; the client was answered `503`.
    ResponseTimeout,
    /// The client did not take our output: it made no progress for
    /// [`Config::write_stall_timeout`](crate::Config::write_stall_timeout)
    /// (the connection is reset rather than held), or the kernel's
    /// `TCP_USER_TIMEOUT` ended it while our output waited on the client —
    /// a reader holding its window shut, or a client gone; the kernel does
    /// not say which.
    WriteStall,
    /// The request was malformed or over a limit; it was answered with a
    /// 4xx/5xx status and the connection closed lingeringly.
    BadRequest,
    /// An exchange was dropped unanswered (or its worker panicked); the client
    /// was answered `500`.
    Unanswered,
    /// A WebSocket client answered no ping (and sent nothing else) within
    /// the pong timeout.
    PingTimeout,
    /// A WebSocket client broke the protocol; it was sent a close frame with
    /// 1002, 1007 or 1009.
    ProtocolError,
    /// A WebSocket's outgoing queue overflowed under
    /// [`WsBackpressure::Close`](crate::ws::WsBackpressure::Close).
    SlowConsumer,
    /// A streaming response's producer dropped its sender without finishing;
    /// the body was cut short (no final chunk) so the client can tell.
    StreamAbandoned,
    /// Closed by the server after a response that ended the connection
    /// (`Connection: close`, HTTP/1.0 without keep-alive).
    Drained,
    /// Closed because the server shut down.
    Shutdown,
    /// The server failed, not the client: the handler panicked on the
    /// reactor thread (the client was answered `500`), or the reactor itself
    /// stopped on an internal error and settled every connection it held.
    ServerError,
    /// The server's memory budget
    /// ([`Config::memory_budget_bytes`](crate::Config::memory_budget_bytes))
    /// could not hold a request body (answered `503` with `Retry-After`), a
    /// response (`503`) or a WebSocket message (close `1009`): the server
    /// was full, or this client already held its share of a busy budget
    /// ([`Config::memory_share_per_client`](crate::Config::memory_share_per_client));
    /// not the client at fault.
    MemoryBudget,
    /// A TLS client closed TCP without first sending `close_notify`: its
    /// data may have been cut short (a truncation), so nothing it sent
    /// after the last complete request is trusted. Many clients close this
    /// way; it is a departure, not an attack, unless a request was cut.
    TlsTruncated,
    /// A TLS client sent a fatal alert, a record that does not decrypt or
    /// parse, or failed the handshake.
    TlsError,
    /// A TLS client did not finish its handshake in time
    /// ([`Config::head_timeout`](crate::Config::head_timeout) from accept).
    HandshakeTimeout,
}

impl CloseReason {
    /// Number of variants; the size of per-reason counter arrays.
    pub(crate) const COUNT: usize = 25;

    /// Every reason, in a fixed order (the order of the counters in [`Stats`](crate::stats::Stats)).
    pub const ALL: [CloseReason; Self::COUNT] = [
        CloseReason::PeerClosed,
        CloseReason::PeerReset,
        CloseReason::PeerHangup,
        CloseReason::SocketError,
        CloseReason::WriteError,
        CloseReason::KeepaliveFailed,
        CloseReason::IdleTimeout,
        CloseReason::HeadTimeout,
        CloseReason::BodyTimeout,
        CloseReason::BodyTooSlow,
        CloseReason::ResponseTimeout,
        CloseReason::WriteStall,
        CloseReason::BadRequest,
        CloseReason::Unanswered,
        CloseReason::PingTimeout,
        CloseReason::ProtocolError,
        CloseReason::SlowConsumer,
        CloseReason::StreamAbandoned,
        CloseReason::Drained,
        CloseReason::Shutdown,
        CloseReason::ServerError,
        CloseReason::MemoryBudget,
        CloseReason::TlsTruncated,
        CloseReason::TlsError,
        CloseReason::HandshakeTimeout,
    ];

    /// The stable snake_case name used in stats and logs.
    ///
    /// ```
    /// assert_eq!(tether::CloseReason::PeerReset.as_str(), "peer_reset");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::PeerClosed => "peer_closed",
            CloseReason::PeerReset => "peer_reset",
            CloseReason::PeerHangup => "peer_hangup",
            CloseReason::SocketError => "socket_error",
            CloseReason::WriteError => "write_error",
            CloseReason::KeepaliveFailed => "keepalive_failed",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::HeadTimeout => "head_timeout",
            CloseReason::BodyTimeout => "body_timeout",
            CloseReason::BodyTooSlow => "body_too_slow",
            CloseReason::ResponseTimeout => "response_timeout",
            CloseReason::WriteStall => "write_stall",
            CloseReason::BadRequest => "bad_request",
            CloseReason::Unanswered => "unanswered",
            CloseReason::PingTimeout => "ping_timeout",
            CloseReason::ProtocolError => "protocol_error",
            CloseReason::SlowConsumer => "slow_consumer",
            CloseReason::StreamAbandoned => "stream_abandoned",
            CloseReason::Drained => "drained",
            CloseReason::Shutdown => "shutdown",
            CloseReason::ServerError => "server_error",
            CloseReason::MemoryBudget => "memory_budget",
            CloseReason::TlsTruncated => "tls_truncated",
            CloseReason::TlsError => "tls_error",
            CloseReason::HandshakeTimeout => "handshake_timeout",
        }
    }

    /// Position in [`CloseReason::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// True when the client went away (rather than the server ending the
    /// connection on purpose).
    pub fn is_peer_gone(self) -> bool {
        matches!(
            self,
            CloseReason::PeerClosed
                | CloseReason::PeerReset
                | CloseReason::PeerHangup
                | CloseReason::SocketError
                | CloseReason::WriteError
                | CloseReason::KeepaliveFailed
                | CloseReason::PingTimeout
                | CloseReason::TlsTruncated
        )
    }

    /// Classifies an I/O error seen on a read, or taken from `SO_ERROR`.
    pub(crate) fn from_read_error(err: &io::Error) -> CloseReason {
        match err.kind() {
            // Linux records an RST that arrives after the peer's FIN
            // (CLOSE_WAIT) as EPIPE rather than ECONNRESET (`tcp_reset`).
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => CloseReason::PeerReset,
            io::ErrorKind::TimedOut
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable => CloseReason::KeepaliveFailed,
            // Only a TLS transport reports these: TCP closed without
            // close_notify, or a record that was not TLS.
            io::ErrorKind::UnexpectedEof => CloseReason::TlsTruncated,
            io::ErrorKind::InvalidData => CloseReason::TlsError,
            _ => CloseReason::SocketError,
        }
    }

    /// Classifies an I/O error seen on a write.
    pub(crate) fn from_write_error(err: &io::Error) -> CloseReason {
        match err.kind() {
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
                CloseReason::PeerReset
            }
            io::ErrorKind::TimedOut
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable => CloseReason::KeepaliveFailed,
            _ => CloseReason::WriteError,
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_order_and_names_are_unique() {
        for (i, reason) in CloseReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i);
        }
        let mut names: Vec<_> = CloseReason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CloseReason::COUNT);
    }

    #[test]
    fn errors_are_classified() {
        let table = [
            (
                io::ErrorKind::ConnectionReset,
                CloseReason::PeerReset,
                CloseReason::PeerReset,
            ),
            (
                io::ErrorKind::BrokenPipe,
                CloseReason::PeerReset,
                CloseReason::WriteError,
            ),
            (
                io::ErrorKind::TimedOut,
                CloseReason::KeepaliveFailed,
                CloseReason::KeepaliveFailed,
            ),
            (
                io::ErrorKind::HostUnreachable,
                CloseReason::KeepaliveFailed,
                CloseReason::KeepaliveFailed,
            ),
            (
                io::ErrorKind::NetworkUnreachable,
                CloseReason::KeepaliveFailed,
                CloseReason::KeepaliveFailed,
            ),
            (
                io::ErrorKind::Other,
                CloseReason::SocketError,
                CloseReason::WriteError,
            ),
        ];
        for (kind, on_read, on_write) in table {
            let err = io::Error::from(kind);
            assert_eq!(CloseReason::from_read_error(&err), on_read, "{kind:?}");
            assert_eq!(CloseReason::from_write_error(&err), on_write, "{kind:?}");
        }
    }
}
