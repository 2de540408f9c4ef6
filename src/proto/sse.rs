//! Server-Sent Events encoding (the `text/event-stream` format of the HTML
//! standard).

use std::io::Write as _;
use std::time::Duration;

use super::response::Response;
use crate::stream_options::{Heartbeat, StreamOptions};

/// How often [`options`] has the reactor send a heartbeat comment on a
/// quiet stream: often enough for proxies that cut idle connections at 30 s
/// or more, and to find dead clients by writing to them.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);

/// A response head for an event stream.
pub fn head() -> Response {
    Response::new(200)
        .with_header("Content-Type", "text/event-stream")
        .with_header("Cache-Control", "no-cache")
}

/// Stream options for SSE: queue every event, and a `: heartbeat` comment
/// whenever the stream has been quiet for `heartbeat`.
pub fn options(heartbeat: Duration) -> StreamOptions {
    StreamOptions {
        heartbeat: Some(Heartbeat {
            every: heartbeat,
            bytes: b": heartbeat\n\n",
        }),
        ..StreamOptions::default()
    }
}

/// One event.
///
/// ```
/// let bytes = tether::sse::Event::new("line one\nline two")
///     .event("tick")
///     .id("7")
///     .retry(std::time::Duration::from_secs(3))
///     .encode();
/// assert_eq!(
///     bytes,
///     b"event: tick\nid: 7\nretry: 3000\ndata: line one\ndata: line two\n\n"
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event<'a> {
    event: Option<&'a str>,
    id: Option<&'a str>,
    retry: Option<Duration>,
    data: &'a str,
}

impl<'a> Event<'a> {
    /// An event carrying `data` (each line becomes a `data:` field).
    pub fn new(data: &'a str) -> Self {
        Event {
            data,
            ..Event::default()
        }
    }

    /// The event type (`event:`); line breaks are removed.
    pub fn event(mut self, event: &'a str) -> Self {
        self.event = Some(event);
        self
    }

    /// The event id (`id:`), which the client sends back as `Last-Event-ID`
    /// when it reconnects; line breaks and NUL are removed.
    pub fn id(mut self, id: &'a str) -> Self {
        self.id = Some(id);
        self
    }

    /// How long the client waits before reconnecting (`retry:`).
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    /// The event's bytes, ending with the blank line that dispatches it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 32);
        if let Some(event) = self.event {
            field(&mut out, "event", event);
        }
        if let Some(id) = self.id {
            field(&mut out, "id", &id.replace('\0', ""));
        }
        if let Some(retry) = self.retry {
            let _ = writeln!(out, "retry: {}", retry.as_millis());
        }
        for line in lines(self.data) {
            field(&mut out, "data", line);
        }
        out.push(b'\n');
        out
    }
}

/// A comment (ignored by clients): heartbeats, padding.
pub fn comment(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 4);
    for line in lines(text) {
        out.extend_from_slice(b": ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

/// Splits on every line break the format knows (CRLF, LF, CR); an empty
/// text is one empty line.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split("\r\n").flat_map(|l| l.split(['\n', '\r']))
}

/// A single-line field; line breaks in the value would end it early, so
/// they are dropped.
fn field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    for part in lines(value) {
        out.extend_from_slice(part.as_bytes());
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_break_starts_a_new_data_field() {
        let bytes = Event::new("a\r\nb\rc\nd").encode();
        assert_eq!(bytes, b"data: a\ndata: b\ndata: c\ndata: d\n\n");
        assert_eq!(Event::new("").encode(), b"data: \n\n");
    }

    #[test]
    fn fields_cannot_be_split_by_injected_newlines() {
        let bytes = Event::new("x").event("ti\nck").id("1\r\n2\0").encode();
        assert_eq!(bytes, b"event: tick\nid: 12\ndata: x\n\n");
    }

    #[test]
    fn comments_are_prefixed_per_line() {
        assert_eq!(comment("hi\nthere"), b": hi\n: there\n\n");
    }
}
