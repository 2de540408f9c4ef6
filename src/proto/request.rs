//! A parsed request: what a handler sees and an [`Exchange`](crate::Exchange) owns.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::id::ConnectionId;

/// The HTTP version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: close after each response unless the client asks for keep-alive.
    Http10,
    /// HTTP/1.1: keep-alive unless either side says `Connection: close`.
    Http11,
}

/// Byte range of a field inside [`Request::head`].
pub(crate) type Span = (u32, u32);

/// A request: method, target, version, headers and the whole body.
///
/// The head is kept as the bytes the client sent, and accessors slice it, so
/// a request costs two buffers however many headers it has (and the reactor
/// reuses them for requests answered on its own thread).
#[derive(Clone)]
pub struct Request {
    /// INVARIANT: `method`, `target` and every header span index into `head`
    /// at UTF-8 boundaries of ASCII text (checked when parsed).
    pub(crate) head: Vec<u8>,
    pub(crate) method: Span,
    pub(crate) target: Span,
    pub(crate) version: Version,
    pub(crate) headers: Vec<(Span, Span)>,
    pub(crate) body: Vec<u8>,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) connection: ConnectionId,
    pub(crate) captures: Captures,
    pub(crate) received_at: Option<Instant>,
}

/// The path parameters a [`Router`](crate::Router) captured, decoded: names
/// and values side by side in one buffer, reused from request to request.
#[derive(Clone, Default)]
pub(crate) struct Captures {
    /// The pattern that matched, e.g. `/users/{id}`.
    pub route: Option<Arc<str>>,
    /// Its slot in the server's route figures (0: none matched).
    pub route_slot: u32,
    pub text: String,
    /// (name end, value end) in `text`; each name starts where the previous
    /// value ended.
    pub ends: Vec<(u32, u32)>,
}

impl Captures {
    pub fn clear(&mut self) {
        self.route = None;
        self.route_slot = 0;
        self.text.clear();
        self.ends.clear();
    }

    pub fn push(&mut self, name: &str, value: &str) {
        self.text.push_str(name);
        let name_end = self.text.len() as u32;
        self.text.push_str(value);
        self.ends.push((name_end, self.text.len() as u32));
    }

    /// The value captured for `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let mut start = 0usize;
        self.ends.iter().map(move |&(name_end, value_end)| {
            let (name_end, value_end) = (name_end as usize, value_end as usize);
            let name = self.text.get(start..name_end).unwrap_or("");
            let value = self.text.get(name_end..value_end).unwrap_or("");
            start = value_end;
            (name, value)
        })
    }
}

/// A taken body up to this size is right-sized by a copy (see
/// [`Request::take_body`]); a larger one is shrunk in place.
const RIGHT_SIZE_BY_COPY_BYTES: usize = 64 * 1024;

impl Default for Request {
    fn default() -> Self {
        Request {
            head: Vec::new(),
            method: (0, 0),
            target: (0, 0),
            version: Version::Http11,
            headers: Vec::new(),
            body: Vec::new(),
            peer: None,
            connection: ConnectionId::default(),
            captures: Captures::default(),
            received_at: None,
        }
    }
}

impl Request {
    fn text(&self, span: Span) -> &str {
        let bytes = self.bytes(span);
        // Parsing checked these spans are ASCII; an empty string is the safe
        // answer should that ever not hold.
        std::str::from_utf8(bytes).unwrap_or("")
    }

    fn bytes(&self, (start, end): Span) -> &[u8] {
        self.head.get(start as usize..end as usize).unwrap_or(&[])
    }

    /// The method, e.g. `"GET"`.
    pub fn method(&self) -> &str {
        self.text(self.method)
    }

    /// The request target as sent, e.g. `"/work?ms=10"`.
    pub fn target(&self) -> &str {
        self.text(self.target)
    }

    /// The target's path, before any `?`. For an absolute-form target
    /// (`http://host/path`, RFC 9112 §3.2.2) the scheme and authority are
    /// left out (`/` when there is no path).
    ///
    /// ```
    /// let req = tether::Request::default();
    /// assert_eq!(req.path(), "");
    /// ```
    pub fn path(&self) -> &str {
        let (_, origin) = split_absolute(self.target());
        let path = origin.split_once('?').map_or(origin, |(path, _)| path);
        if path.is_empty() && origin.len() != self.target().len() {
            "/"
        } else {
            path
        }
    }

    /// The target's query, after the first `?`, if any.
    pub fn query(&self) -> Option<&str> {
        let (_, origin) = split_absolute(self.target());
        origin.split_once('?').map(|(_, query)| query)
    }

    /// The host the request is for: the authority of an absolute-form
    /// target, which replaces `Host` (RFC 9112 §3.2.2), or else the `Host`
    /// header. Checked when the request was parsed.
    pub fn host(&self) -> Option<&str> {
        match split_absolute(self.target()) {
            (Some(authority), _) => Some(authority),
            (None, _) => self
                .header("host")
                .and_then(|h| std::str::from_utf8(h).ok()),
        }
    }

    /// The value of a `name=value` pair in the query, as sent (no
    /// percent-decoding; see [`query_value`](Request::query_value)).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query()?
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// The query's `name=value` pairs, decoded as a form
    /// (`application/x-www-form-urlencoded`: `%XX` and `+` for space).
    ///
    /// ```
    /// # let req = tether::Request::default();
    /// for (name, value) in req.query_pairs() {
    ///     println!("{name} = {value}");
    /// }
    /// ```
    pub fn query_pairs(&self) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> + '_ {
        form_urlencoded::parse(self.query().unwrap_or("").as_bytes())
    }

    /// The decoded value of the first query pair named `name` (itself
    /// compared decoded): `?q=a%20b+c` gives `"a b c"` for `q`.
    pub fn query_value(&self, name: &str) -> Option<Cow<'_, str>> {
        self.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    /// The path parameter `name` that the [`Router`](crate::Router)
    /// captured, percent-decoded: for the route `/users/{id}`,
    /// `GET /users/%31%32` gives `"12"`. `None` without a router or when
    /// the route has no such parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.captures.param(name)
    }

    /// Every path parameter the router captured, in pattern order, decoded.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.captures.iter()
    }

    /// The router's pattern that matched this request (`/users/{id}`), if a
    /// router matched it: a label that does not grow with the paths clients
    /// invent, for logs and metrics.
    pub fn route(&self) -> Option<&str> {
        self.captures.route.as_deref()
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// The first header named `name` (case-insensitive), if it is UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every header, in the order sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.headers
            .iter()
            .map(|&(name, value)| (self.text(name), self.bytes(value)))
    }

    /// The request body (empty when there is none).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Takes the body out of the request, leaving it empty.
    ///
    /// The `Vec` holds the body and no spare capacity: request buffers are
    /// reused, and a body read into one that once held a larger body would
    /// otherwise carry that memory with it, so a one-byte message kept by
    /// the application could cost kilobytes. Its `capacity()` is what it
    /// costs.
    ///
    /// ```
    /// # let mut request = tether::Request::default();
    /// let body = request.take_body();
    /// assert_eq!(body.capacity(), body.len());
    /// ```
    pub fn take_body(&mut self) -> Vec<u8> {
        let mut body = std::mem::take(&mut self.body);
        if body.capacity() > body.len() {
            if body.len() <= RIGHT_SIZE_BY_COPY_BYTES {
                // A fresh allocation, and the old buffer freed whole for the
                // next large body: shrinking in place would leave a hole
                // too small for it, and memory would grow all the same.
                body = body.as_slice().to_vec();
            } else {
                body.shrink_to_fit();
            }
        }
        body
    }

    /// The client's address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The connection this request arrived on.
    pub fn connection_id(&self) -> ConnectionId {
        self.connection
    }

    /// When the server had the whole request (head and body; the head, for
    /// a body streamed to a worker): the start of its
    /// [`response_latency`](crate::stats::Stats::response_latency). A worker
    /// that measures its own figures (time in a queue of its own, time to
    /// an upstream) starts from here instead of carrying a timestamp of
    /// its own. `None` for a request the application built itself.
    ///
    /// ```
    /// assert_eq!(tether::Request::default().received_at(), None);
    /// ```
    pub fn received_at(&self) -> Option<Instant> {
        self.received_at
    }

    /// Bytes its buffers hold (their capacity), to decide whether keeping
    /// it for reuse is worth its memory.
    pub(crate) fn retained_bytes(&self) -> usize {
        let span_pair = std::mem::size_of::<(Span, Span)>();
        self.head.capacity()
            + self.headers.capacity() * span_pair
            + self.body.capacity()
            + self.captures.text.capacity()
            + self.captures.ends.capacity() * std::mem::size_of::<(u32, u32)>()
    }

    /// Empties the request for reuse, keeping its buffers' capacity.
    pub(crate) fn clear(&mut self) {
        self.head.clear();
        self.headers.clear();
        self.body.clear();
        self.captures.clear();
        self.received_at = None;
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method())
            .field("target", &self.target())
            .field("version", &self.version)
            .field("headers", &self.headers.len())
            .field("body_len", &self.body.len())
            .field("connection", &self.connection)
            .finish()
    }
}

/// Splits an absolute-form target (`http://authority/path?query`, scheme
/// case-insensitive) into its authority and the rest; any other target is
/// all "rest".
pub(crate) fn split_absolute(target: &str) -> (Option<&str>, &str) {
    for scheme in ["http://", "https://"] {
        let Some(prefix) = target.get(..scheme.len()) else {
            continue;
        };
        if prefix.eq_ignore_ascii_case(scheme) {
            let rest = &target[scheme.len()..];
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            return (Some(&rest[..end]), &rest[end..]);
        }
    }
    (None, target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_body_carries_no_capacity_of_a_reused_buffer() {
        let mut request = Request::default();
        request.body.extend_from_slice(&[b'g'; 7000]);
        request.clear(); // as when recycled: the capacity stays for reuse
        request.body.push(b'm');
        let body = request.take_body();
        assert_eq!(body, b"m");
        assert_eq!(body.capacity(), 1);
    }
}
