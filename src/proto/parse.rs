//! Request heads: parsing with httparse, and deciding the message framing.
//!
//! Partial input is not an error: [`parse_head`] returns `Ok(None)` until the
//! whole head is buffered, and the caller enforces the size limit.

use super::request::{split_absolute, Request, Span, Version};

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes follow.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// What the connection needs to know about a parsed head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeadInfo {
    pub framing: Framing,
    /// The client allows the connection to stay open after this request.
    pub keep_alive: bool,
    /// The client waits for `100 Continue` before sending the body.
    pub expect_continue: bool,
    /// A `HEAD` request: the response carries no body bytes.
    pub is_head: bool,
    pub version: Version,
}

/// A request the server refuses, with the status to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reject {
    pub status: u16,
    pub why: &'static str,
}

fn reject(status: u16, why: &'static str) -> Reject {
    Reject { status, why }
}

/// Parses one request head from the front of `buf` into `req`.
///
/// Returns the head's length and framing once it is complete, `Ok(None)` while
/// it is partial, and a [`Reject`] for a malformed or over-limit head.
pub(crate) fn parse_head(
    buf: &[u8],
    max_headers: usize,
    req: &mut Request,
) -> Result<Option<(usize, HeadInfo)>, Reject> {
    // Uninitialised slots: zeroing 256 headers (8 KiB) per request would
    // cost more than parsing a typical head.
    let mut storage = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() };
        crate::config::Config::MAX_HEADERS_LIMIT];
    let slots = storage.get_mut(..max_headers).unwrap_or(&mut []);
    let mut parsed = httparse::Request::new(&mut []);
    let len = match parsed.parse_with_uninit_headers(buf, slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(reject(431, "too many header fields")),
        Err(httparse::Error::Version) => return Err(reject(505, "HTTP version not supported")),
        Err(_) => return Err(reject(400, "malformed request head")),
    };
    let version = match parsed.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(reject(505, "HTTP version not supported")),
    };
    let (Some(method), Some(target)) = (parsed.method, parsed.path) else {
        return Err(reject(400, "malformed request line"));
    };

    req.clear();
    req.head.extend_from_slice(&buf[..len]);
    req.version = version;
    let base = buf.as_ptr() as usize;
    // Offsets of httparse's slices within `buf` (they always point into it).
    let span = |s: &[u8]| -> Span {
        let start = (s.as_ptr() as usize).saturating_sub(base) as u32;
        (start, start + s.len() as u32)
    };
    if !target.is_ascii() {
        return Err(reject(400, "request target is not ASCII"));
    }
    req.method = span(method.as_bytes());
    req.target = span(target.as_bytes());
    for header in parsed.headers.iter() {
        req.headers
            .push((span(header.name.as_bytes()), span(header.value)));
    }
    let info = decide_framing(req)?;
    Ok(Some((len, info)))
}

/// Decides framing and connection semantics for a parsed head.
///
/// RFC 9112 checklist, in order:
/// 1. `Transfer-Encoding` in an HTTP/1.0 request: framing is faulty → 400.
/// 2. Both `Transfer-Encoding` and `Content-Length`: request smuggling
///    vector → 400.
/// 3. `Transfer-Encoding` whose final coding is not `chunked` → 400; a chain
///    with other codings before `chunked` is not understood here → 501.
/// 4. `Content-Length` repeated, listed, or not a plain decimal → 400.
/// 5. Otherwise no body.
///
/// Also: HTTP/1.1 without exactly one `Host` → 400 (§3.2); `Expect` other
/// than `100-continue` → 417 (RFC 9110 §10.1.1).
fn decide_framing(req: &Request) -> Result<HeadInfo, Reject> {
    let mut transfer_encoding: Option<&[u8]> = None;
    let mut content_length: Option<u64> = None;
    let mut hosts = 0;
    let mut connection_close = false;
    let mut connection_keep_alive = false;
    let mut expect_continue = false;

    for (name, value) in req.headers() {
        if name.eq_ignore_ascii_case("transfer-encoding") {
            if transfer_encoding.is_some() {
                return Err(reject(400, "repeated Transfer-Encoding"));
            }
            transfer_encoding = Some(value);
        } else if name.eq_ignore_ascii_case("content-length") {
            if content_length.is_some() {
                return Err(reject(400, "repeated Content-Length"));
            }
            content_length = Some(parse_content_length(value)?);
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
            if !is_valid_host(value) {
                return Err(reject(400, "invalid Host"));
            }
        } else if name.eq_ignore_ascii_case("connection") {
            connection_close |= has_token(value, "close");
            connection_keep_alive |= has_token(value, "keep-alive");
        } else if name.eq_ignore_ascii_case("expect") {
            if !value.eq_ignore_ascii_case(b"100-continue") {
                return Err(reject(417, "unsupported expectation"));
            }
            expect_continue = true;
        }
    }

    let version = req.version();
    if version == Version::Http11 && hosts != 1 {
        return Err(reject(400, "HTTP/1.1 request needs exactly one Host"));
    }
    if let (Some(authority), _) = split_absolute(req.target()) {
        // The target's authority replaces Host, so it must be as valid.
        if authority.is_empty() || !is_valid_host(authority.as_bytes()) {
            return Err(reject(400, "invalid authority in the request target"));
        }
    }
    let framing = match (transfer_encoding, content_length) {
        (Some(_), _) if version == Version::Http10 => {
            return Err(reject(400, "Transfer-Encoding in an HTTP/1.0 request"))
        }
        (Some(_), Some(_)) => return Err(reject(400, "both Transfer-Encoding and Content-Length")),
        (Some(codings), None) => chunked_framing(codings)?,
        (None, Some(0)) | (None, None) => Framing::Empty,
        (None, Some(n)) => Framing::Length(n),
    };
    let keep_alive = match version {
        Version::Http11 => !connection_close,
        Version::Http10 => connection_keep_alive && !connection_close,
    };
    Ok(HeadInfo {
        framing,
        keep_alive,
        // RFC 9110 §10.1.1: never a 100 (Continue) to an HTTP/1.0 client.
        expect_continue: expect_continue && framing != Framing::Empty && version == Version::Http11,
        is_head: req.method() == "HEAD",
        version,
    })
}

fn chunked_framing(codings: &[u8]) -> Result<Framing, Reject> {
    let mut tokens = codings
        .split(|&b| b == b',')
        .map(trim)
        .filter(|t| !t.is_empty());
    let Some(last) = tokens.next_back() else {
        return Err(reject(400, "empty Transfer-Encoding"));
    };
    if !last.eq_ignore_ascii_case(b"chunked") {
        return Err(reject(400, "final transfer coding is not chunked"));
    }
    if tokens.next().is_some() {
        return Err(reject(501, "transfer coding not implemented"));
    }
    Ok(Framing::Chunked)
}

fn parse_content_length(value: &[u8]) -> Result<u64, Reject> {
    let bad = reject(400, "invalid Content-Length");
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return Err(bad);
    }
    value
        .iter()
        .try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or(bad)
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace());
    match (start, end) {
        (Some(s), Some(e)) => &bytes[s..=e],
        _ => &[],
    }
}

/// True when a comma-separated header value holds `token`
/// (case-insensitive, whole tokens only: `close` does not match `closed`).
pub(crate) fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| trim(t).eq_ignore_ascii_case(token.as_bytes()))
}

/// `Host` = `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2): a
/// reg-name or IPv4 address, or an IP literal in brackets, and decimal port
/// digits. Empty is allowed (a target without an authority).
fn is_valid_host(value: &[u8]) -> bool {
    let (host, port) = if let Some(rest) = value.strip_prefix(b"[") {
        let Some(close) = rest.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &rest[..close];
        let ok = !literal.is_empty()
            && literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b":.vV".contains(&b));
        if !ok {
            return false;
        }
        (&[][..], &rest[close + 1..])
    } else {
        match value.iter().position(|&b| b == b':') {
            Some(colon) => (&value[..colon], &value[colon..]),
            None => (value, &[][..]),
        }
    };
    let reg_name = host
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b));
    let port_ok = match port {
        [] => true,
        [b':', digits @ ..] => digits.iter().all(u8::is_ascii_digit) && digits.len() <= 5,
        _ => false,
    };
    reg_name && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Option<(usize, HeadInfo)>, Reject> {
        parse_head(raw.as_bytes(), 8, &mut Request::default())
    }

    fn info(raw: &str) -> HeadInfo {
        parse(raw).unwrap().unwrap().1
    }

    fn status(raw: &str) -> u16 {
        parse(raw).unwrap_err().status
    }

    #[test]
    fn partial_heads_are_not_errors() {
        for raw in [
            "",
            "GET",
            "GET / HTTP/1.1\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n",
        ] {
            assert_eq!(parse(raw), Ok(None), "{raw:?}");
        }
    }

    #[test]
    fn fields_are_reachable_after_parse() {
        let raw = "POST /echo?x=1&y HTTP/1.1\r\nHost: h\r\nX-Thing:  v \r\nContent-Length: 5\r\n\r\nhello";
        let mut req = Request::default();
        let (len, info) = parse_head(raw.as_bytes(), 8, &mut req).unwrap().unwrap();
        assert_eq!(&raw[len..], "hello");
        assert_eq!(info.framing, Framing::Length(5));
        assert_eq!(req.method(), "POST");
        assert_eq!(req.path(), "/echo");
        assert_eq!(req.query_param("x"), Some("1"));
        assert_eq!(req.query_param("y"), Some(""));
        assert_eq!(req.header("x-THING"), Some(&b"v"[..]));
        assert_eq!(req.headers().count(), 3);
    }

    #[test]
    fn keep_alive_follows_version_and_connection_tokens() {
        let table = [
            ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", true),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                false,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n",
                false,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n",
                true,
            ),
            ("GET / HTTP/1.0\r\n\r\n", false),
            ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        ];
        for (raw, keep_alive) in table {
            assert_eq!(info(raw).keep_alive, keep_alive, "{raw:?}");
        }
    }

    #[test]
    fn framing_follows_the_rfc_checklist() {
        let ok = [
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
                Framing::Empty,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n",
                Framing::Length(12),
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n",
                Framing::Chunked,
            ),
        ];
        for (raw, framing) in ok {
            assert_eq!(info(raw).framing, framing, "{raw:?}");
        }
        let rejected = [
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", 417),
            ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
            ("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ];
        for (raw, expected) in rejected {
            assert_eq!(status(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn too_many_headers_is_431() {
        let mut raw = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..8 {
            raw.push_str(&format!("X-{i}: v\r\n"));
        }
        raw.push_str("\r\n");
        assert_eq!(status(&raw), 431);
    }

    #[test]
    fn expect_continue_only_matters_with_a_body() {
        let with_body =
            "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
        let without = "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n";
        assert!(info(with_body).expect_continue);
        assert!(!info(without).expect_continue);
    }

    #[test]
    fn head_requests_are_marked() {
        assert!(info("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n").is_head);
        assert!(!info("GET / HTTP/1.1\r\nHost: a\r\n\r\n").is_head);
    }
}
