//! A response to send.

use std::borrow::Cow;

use smallvec::SmallVec;

/// A header: name and value, borrowed when `'static`.
type Header = (Cow<'static, str>, Cow<'static, [u8]>);

/// A response: status, headers, and a body of known length.
///
/// `Content-Length`, `Date` and `Connection` are written by the encoder;
/// a `Connection: close` set here makes the connection drain after this
/// response.
///
/// ```
/// let response = tether::Response::text(200, "Hello, World!")
///     .with_header("Cache-Control", "no-store");
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.body(), b"Hello, World!");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    /// One header lives inline (usually `Content-Type`), so a typical
    /// response allocates nothing and `Response` stays small to move.
    headers: SmallVec<[Header; 1]>,
    body: Cow<'static, [u8]>,
}

impl Response {
    /// A response with `status` and an empty body.
    pub fn new(status: u16) -> Self {
        debug_assert!((100..=999).contains(&status), "bad status {status}");
        Response {
            status,
            headers: SmallVec::new(),
            body: Cow::Borrowed(&[]),
        }
    }

    /// A `text/plain` response.
    pub fn text(status: u16, body: impl IntoBytes) -> Self {
        Response::new(status)
            .with_header("Content-Type", "text/plain; charset=utf-8")
            .with_body(body)
    }

    /// Adds a header (repeat a name to send it several times).
    pub fn with_header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl IntoBytes,
    ) -> Self {
        self.headers.push((name.into(), value.into_bytes()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl IntoBytes) -> Self {
        self.body = body.into_bytes();
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers added so far.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.headers.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// True when a header asks to close the connection after this response.
    pub(crate) fn asks_to_close(&self) -> bool {
        self.headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .any(|(_, v)| super::parse::has_token(v, "close"))
    }
}

/// Bytes for a body or header value: borrowed when `'static`, owned otherwise.
pub trait IntoBytes {
    /// The bytes.
    fn into_bytes(self) -> Cow<'static, [u8]>;
}

impl IntoBytes for &'static str {
    fn into_bytes(self) -> Cow<'static, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}

impl IntoBytes for String {
    fn into_bytes(self) -> Cow<'static, [u8]> {
        Cow::Owned(self.into_bytes())
    }
}

impl IntoBytes for &'static [u8] {
    fn into_bytes(self) -> Cow<'static, [u8]> {
        Cow::Borrowed(self)
    }
}

impl<const N: usize> IntoBytes for &'static [u8; N] {
    fn into_bytes(self) -> Cow<'static, [u8]> {
        Cow::Borrowed(self)
    }
}

impl IntoBytes for Vec<u8> {
    fn into_bytes(self) -> Cow<'static, [u8]> {
        Cow::Owned(self)
    }
}

impl IntoBytes for Cow<'static, [u8]> {
    fn into_bytes(self) -> Cow<'static, [u8]> {
        self
    }
}
