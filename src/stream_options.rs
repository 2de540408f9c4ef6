//! How a streaming response is framed and buffered: plain data, shared by the
//! stream handle, the connection that writes it, and the SSE helpers.

use std::time::Duration;

/// What happens to parts the client is too slow to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Backlog {
    /// Keep every part, up to the byte budget; past it `send` blocks (and
    /// `try_send` reports `Full`). For data that must arrive whole: logs,
    /// events, downloads.
    #[default]
    Queue,
    /// Keep only the newest part not yet started: each `send` replaces the
    /// waiting part (counted in `frames_replaced`) and never blocks. For
    /// video frames: a slow viewer gets a lower frame rate, not growing
    /// latency.
    KeepNewest,
}

/// Bytes the reactor writes on its own when a stream has been quiet, to keep
/// proxies from cutting it and to find clients that are gone (a write to a
/// dead peer fails; a read never would).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// Quiet time after which a heartbeat is written.
    pub every: Duration,
    /// What to write (for SSE, a comment such as `b": heartbeat\n\n"`).
    pub bytes: &'static [u8],
}

/// How a stream is framed and buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StreamOptions {
    /// What to do with parts a slow client cannot take yet.
    pub backlog: Backlog,
    /// End the body by closing the connection instead of chunked coding
    /// (always so for HTTP/1.0 clients).
    pub close_delimited: bool,
    /// Written by the reactor when no part was written for a while.
    pub heartbeat: Option<Heartbeat>,
}

impl StreamOptions {
    /// Options with `backlog`.
    pub fn backlog(mut self, backlog: Backlog) -> Self {
        self.backlog = backlog;
        self
    }

    /// Options with a close-delimited body.
    pub fn close_delimited(mut self) -> Self {
        self.close_delimited = true;
        self
    }

    /// Options with a heartbeat.
    pub fn heartbeat(mut self, every: Duration, bytes: &'static [u8]) -> Self {
        self.heartbeat = Some(Heartbeat { every, bytes });
        self
    }
}
