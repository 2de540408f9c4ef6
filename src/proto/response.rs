//! A response to send.

use std::borrow::Cow;
use std::fmt;

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
    ///
    /// # Panics
    ///
    /// If `status` is not a final status (three digits, 200 to 999): use
    /// [`try_new`](Response::try_new) for a status that comes from data. (A
    /// panic in the handler or a worker is contained: that request is
    /// answered `500`.)
    #[track_caller]
    pub fn new(status: u16) -> Self {
        match Self::try_new(status) {
            Ok(response) => response,
            Err(err) => panic!("{err}"),
        }
    }

    /// A response with `status` and an empty body, if `status` is a final
    /// status: three digits (RFC 9110, 15), and not 1xx, which announces
    /// another response to come (a `101` is the WebSocket upgrade's, made by
    /// [`Action::Upgrade`](crate::Action::Upgrade)).
    ///
    /// ```
    /// use tether::{InvalidStatus, Response};
    /// assert_eq!(Response::try_new(404).unwrap().status(), 404);
    /// assert_eq!(Response::try_new(42).unwrap_err(), InvalidStatus(42));
    /// assert!(Response::try_new(100).is_err());
    /// ```
    pub fn try_new(status: u16) -> Result<Self, InvalidStatus> {
        if !(200..=999).contains(&status) {
            return Err(InvalidStatus(status));
        }
        Ok(Self::with_status(status))
    }

    /// `101 Switching Protocols`, for the WebSocket handshake only.
    pub(crate) fn switching_protocols() -> Self {
        Self::with_status(101)
    }

    fn with_status(status: u16) -> Self {
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
    ///
    /// # Panics
    ///
    /// If `name` is not an RFC 9110 token or `value` holds a control
    /// character other than tab (CR, LF and NUL above all): such a header
    /// could put a second header line on the wire. Use it with names and
    /// values you wrote; for anything that comes from a client or a user,
    /// use [`try_with_header`](Response::try_with_header). (A panic in the
    /// handler is contained: that request is answered `500`.)
    ///
    /// ```
    /// let response = tether::Response::new(204).with_header("Cache-Control", "no-store");
    /// assert_eq!(response.header("cache-control"), Some(&b"no-store"[..]));
    /// ```
    #[track_caller]
    pub fn with_header(self, name: impl Into<Cow<'static, str>>, value: impl IntoBytes) -> Self {
        match self.try_with_header(name, value) {
            Ok(response) => response,
            Err(err) => panic!("{err}"),
        }
    }

    /// Adds a header after checking it: the name must be a token and the
    /// value free of control characters other than tab (RFC 9110, 5.1 and
    /// 5.5). Nothing is stripped or rewritten: a bad header is refused.
    ///
    /// ```
    /// use tether::Response;
    /// let from_client = "a\r\nSet-Cookie: stolen=1";
    /// let refused = Response::new(200).try_with_header("X-Echo", from_client.to_string());
    /// assert!(refused.is_err());
    /// let ok = Response::new(200).try_with_header("X-Echo", "plain text").unwrap();
    /// assert_eq!(ok.header("x-echo"), Some(&b"plain text"[..]));
    /// ```
    pub fn try_with_header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl IntoBytes,
    ) -> Result<Self, InvalidHeader> {
        let name = name.into();
        let value = value.into_bytes();
        check_header(&name, &value)?;
        self.headers.push((name, value));
        Ok(self)
    }

    /// Adds a header checked already (an [`Upgrade`](crate::ws::Upgrade)'s).
    pub(crate) fn with_checked_header(
        mut self,
        name: Cow<'static, str>,
        value: Cow<'static, [u8]>,
    ) -> Self {
        debug_assert!(check_header(&name, &value).is_ok());
        self.headers.push((name, value));
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

/// A status the application tried to use that is not a final HTTP status
/// (three digits, 200 to 999).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidStatus(pub u16);

impl fmt::Display for InvalidStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid response status {}: a final status is three digits from 200 to 999",
            self.0
        )
    }
}

impl std::error::Error for InvalidStatus {}

/// A header the application tried to add that would not be valid HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidHeader {
    /// The name is empty or holds a byte that is not a token character.
    Name(String),
    /// The value of header `name` holds the control byte `byte`.
    Value {
        /// The header's name.
        name: String,
        /// The first forbidden byte (CR, LF, NUL or another control).
        byte: u8,
    },
    /// The header is one the server sets itself (the WebSocket handshake's).
    Reserved(String),
}

impl fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidHeader::Name(name) => {
                write!(f, "invalid header name {name:?}: not an RFC 9110 token")
            }
            InvalidHeader::Value { name, byte } => write!(
                f,
                "invalid value for header {name:?}: control byte 0x{byte:02x} is not allowed"
            ),
            InvalidHeader::Reserved(name) => {
                write!(
                    f,
                    "header {name:?} is set by the server and cannot be added"
                )
            }
        }
    }
}

impl std::error::Error for InvalidHeader {}

/// Refuses a header name that is not a token or a value with a control
/// byte: either could put a second header line on the wire.
pub(crate) fn check_header(name: &str, value: &[u8]) -> Result<(), InvalidHeader> {
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(InvalidHeader::Name(name.to_owned()));
    }
    if let Some(&byte) = value.iter().find(|&&b| is_forbidden_in_value(b)) {
        return Err(InvalidHeader::Value {
            name: name.to_owned(),
            byte,
        });
    }
    Ok(())
}

/// `tchar` (RFC 9110, 5.6.2).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Field values are VCHAR, obs-text, SP and HTAB (RFC 9110, 5.5): every
/// other control byte is refused, CR, LF and NUL above all.
fn is_forbidden_in_value(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// Bytes for a body or header value: borrowed when `'static`, owned otherwise.
///
/// A response outlives the code that builds it (it is written later, by the
/// reactor), so borrowed text must be `'static`; anything else is passed
/// owned: `name.to_string()`, `bytes.to_vec()`, a [`Bytes`](bytes::Bytes).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot become a response body or header value",
    label = "a response outlives this borrow",
    note = "pass it owned (`.to_string()`, `.to_vec()`, `Bytes`) or as a `&'static` literal"
)]
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

impl IntoBytes for bytes::Bytes {
    /// Without a copy when this is the only handle to its bytes.
    fn into_bytes(self) -> Cow<'static, [u8]> {
        Cow::Owned(Vec::from(self))
    }
}
