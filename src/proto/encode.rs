//! Response encoding: status line, headers, framing, body.

use std::io::Write as _;
use std::time::SystemTime;

use super::response::Response;

/// How the connection continues after a response, as the encoder must say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Persistence {
    /// HTTP/1.1 keep-alive: nothing to say.
    KeepAlive,
    /// HTTP/1.0 client that asked for keep-alive: say `Connection: keep-alive`.
    KeepAlive10,
    /// The connection drains after this response: say `Connection: close`.
    Close,
}

/// Length of an IMF-fixdate, e.g. `Thu, 01 Jan 1970 00:00:00 GMT`.
const HTTP_DATE_BYTES: usize = 29;

/// The `Date` header value, formatted at most once a second, in place (no
/// allocation on the request path).
#[derive(Debug)]
pub(crate) struct DateCache {
    second: u64,
    value: [u8; HTTP_DATE_BYTES],
}

impl DateCache {
    pub fn new() -> Self {
        let mut cache = DateCache {
            second: u64::MAX,
            value: [b' '; HTTP_DATE_BYTES],
        };
        cache.refresh(SystemTime::now());
        cache
    }

    /// Re-formats when the wall-clock second changed.
    pub fn refresh(&mut self, now: SystemTime) {
        let second = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if second != self.second {
            self.second = second;
            let mut out = &mut self.value[..];
            // Always exactly 29 bytes for years 1970-9999.
            let _ = write!(out, "{}", httpdate::HttpDate::from(now));
        }
    }

    pub fn get(&self) -> &str {
        std::str::from_utf8(&self.value).unwrap_or("")
    }
}

/// The standard reason phrase for a status code ("" if unknown).
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// True for statuses that never carry a body (RFC 9110 §6.4.1).
fn forbids_body(status: u16) -> bool {
    (100..200).contains(&status) || status == 204 || status == 304
}

/// Headers the encoder owns; a response's own copies are not written.
fn is_framing_header(name: &str) -> bool {
    ["content-length", "transfer-encoding", "connection"]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

/// Appends the encoded response to `out`. `is_head` suppresses the body bytes
/// (the length is still announced).
pub(crate) fn encode_response(
    out: &mut Vec<u8>,
    response: &Response,
    is_head: bool,
    persistence: Persistence,
    date: &str,
) {
    let body = response.body();
    let carries_body = !body.is_empty() && !forbids_body(response.status());
    encode_head_fields(out, response, persistence, date, carries_body);
    if forbids_body(response.status()) {
        out.extend_from_slice(b"\r\n");
        return;
    }
    out.extend_from_slice(b"Content-Length: ");
    out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    if !is_head {
        out.extend_from_slice(body);
    }
}

/// Appends the head of a streaming response: chunked, or delimited by the
/// connection closing (then `persistence` must be `Close`).
pub(crate) fn encode_stream_head(
    out: &mut Vec<u8>,
    head: &Response,
    chunked: bool,
    persistence: Persistence,
    date: &str,
) {
    encode_head_fields(out, head, persistence, date, true);
    if chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends one part of a stream, as a chunk when `chunked`.
pub(crate) fn encode_stream_part(out: &mut Vec<u8>, part: &[u8], chunked: bool) {
    if chunked {
        let _ = write!(out, "{:x}\r\n", part.len());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(part);
    }
}

/// The last chunk of a chunked body.
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// What a body without a `Content-Type` is labelled: no browser renders it
/// (so a reflected body cannot run script in the server's origin), and
/// `nosniff` keeps it from guessing otherwise.
pub(crate) const DEFAULT_CONTENT_TYPE: &[u8] =
    b"Content-Type: application/octet-stream\r\nX-Content-Type-Options: nosniff\r\n";

/// `name` is `Content-Type` in any case. On every response, so compared as
/// two words with the case bit set rather than byte by byte: a name is a
/// token, and the only byte that ORs to a letter or `-` is one that is
/// that letter in the other case (CR would OR to `-`, and is no token byte).
fn is_content_type(name: &str) -> bool {
    const LOWER: u64 = 0x2020_2020_2020_2020;
    let Some((head, tail)) = name.as_bytes().split_first_chunk::<8>() else {
        return false;
    };
    let Ok(tail) = <[u8; 4]>::try_from(tail) else {
        return false;
    };
    u64::from_le_bytes(*head) | LOWER == u64::from_le_bytes(*b"content-")
        && u32::from_le_bytes(tail) | LOWER as u32 == u32::from_le_bytes(*b"type")
}

/// Status line, the response's own headers, `Date` and `Connection`; not the
/// framing headers and not the blank line. `carries_body`: a body follows,
/// labelled [`DEFAULT_CONTENT_TYPE`] when the response names no type.
fn encode_head_fields(
    out: &mut Vec<u8>,
    response: &Response,
    persistence: Persistence,
    date: &str,
    carries_body: bool,
) {
    let status = response.status();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    let (mut has_date, mut has_type) = (false, false);
    // A 101 names its own `Connection: Upgrade`.
    let switching = status == 101;
    for (name, value) in response.headers() {
        if is_framing_header(name) && !(switching && name.eq_ignore_ascii_case("connection")) {
            continue;
        }
        has_date |= name.eq_ignore_ascii_case("date");
        has_type |= is_content_type(name);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if carries_body && !has_type {
        out.extend_from_slice(DEFAULT_CONTENT_TYPE);
    }
    if !has_date {
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(date.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match persistence {
        Persistence::KeepAlive => {}
        Persistence::KeepAlive10 => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        Persistence::Close => out.extend_from_slice(b"Connection: close\r\n"),
    }
}

/// The interim response sent for `Expect: 100-continue`.
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// An automatic response for a status the server decides itself.
pub(crate) fn error_response(status: u16, why: &str) -> Response {
    let mut text = String::with_capacity(why.len() + 1);
    text.push_str(why);
    text.push('\n');
    Response::text(status, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(response: &Response, is_head: bool, persistence: Persistence) -> String {
        let mut out = Vec::new();
        encode_response(
            &mut out,
            response,
            is_head,
            persistence,
            "Thu, 01 Jan 1970 00:00:00 GMT",
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_plain_response_is_framed_by_length() {
        let text = encode(&Response::text(200, "hi"), false, Persistence::KeepAlive);
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Date: Thu, 01 Jan 1970 00:00:00 GMT\r\nContent-Length: 2\r\n\r\nhi"
        );
    }

    #[test]
    fn persistence_is_announced() {
        let r = Response::new(200);
        assert!(encode(&r, false, Persistence::Close).contains("\r\nConnection: close\r\n"));
        assert!(
            encode(&r, false, Persistence::KeepAlive10).contains("\r\nConnection: keep-alive\r\n")
        );
        assert!(!encode(&r, false, Persistence::KeepAlive).contains("Connection"));
    }

    #[test]
    fn head_announces_the_length_but_sends_no_body() {
        let text = encode(&Response::text(200, "hello"), true, Persistence::KeepAlive);
        assert!(text.ends_with("Content-Length: 5\r\n\r\n"), "{text}");
    }

    #[test]
    fn framing_headers_from_the_user_are_replaced() {
        let r = Response::new(200)
            .with_header("Content-Length", "999")
            .with_header("Transfer-Encoding", "chunked")
            .with_body(&b"abc"[..]);
        let text = encode(&r, false, Persistence::KeepAlive);
        assert!(!text.contains("999") && !text.contains("chunked"), "{text}");
        assert!(text.ends_with("Content-Length: 3\r\n\r\nabc"));
    }

    #[test]
    fn bodiless_statuses_have_no_length() {
        let text = encode(
            &Response::new(204).with_body(&b"x"[..]),
            false,
            Persistence::KeepAlive,
        );
        assert!(text.ends_with("GMT\r\n\r\n"), "{text}");
    }

    #[test]
    fn content_type_is_recognised_in_any_case_and_nothing_else() {
        for yes in [
            "Content-Type",
            "content-type",
            "CONTENT-TYPE",
            "cOnTeNt-TyPe",
        ] {
            assert!(is_content_type(yes), "{yes}");
        }
        for no in [
            "Content-Typo",
            "Content-Types",
            "Content_Type",
            "Content-Lengt",
            "",
            "content-typ",
        ] {
            assert!(!is_content_type(no), "{no}");
        }
    }

    #[test]
    fn a_body_without_a_type_is_labelled_one_no_browser_renders() {
        let labelled =
            "Content-Type: application/octet-stream\r\nX-Content-Type-Options: nosniff\r\n";
        let untyped = Response::new(200).with_body("<script>alert(1)</script>");
        assert!(encode(&untyped, false, Persistence::KeepAlive).contains(labelled));
        let typed = Response::text(200, "hi");
        let text = encode(&typed, false, Persistence::KeepAlive);
        assert!(
            !text.contains("octet-stream") && text.contains("text/plain"),
            "{text}"
        );
        let empty = encode(&Response::new(204), false, Persistence::KeepAlive);
        assert!(!empty.contains("Content-Type"), "{empty}");
        let no_body = encode(&Response::new(200), false, Persistence::KeepAlive);
        assert!(!no_body.contains("Content-Type"), "{no_body}");
    }

    #[test]
    fn stream_heads_and_parts_are_framed() {
        let mut out = Vec::new();
        encode_stream_head(
            &mut out,
            &Response::new(200).with_header("Content-Type", "text/plain"),
            true,
            Persistence::KeepAlive,
            "D",
        );
        encode_stream_part(&mut out, b"hello world, 26 bytes long", true);
        out.extend_from_slice(LAST_CHUNK);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: D\r\n\
             Transfer-Encoding: chunked\r\n\r\n\
             1a\r\nhello world, 26 bytes long\r\n0\r\n\r\n"
        );
        let mut out = Vec::new();
        encode_stream_head(
            &mut out,
            &Response::new(200),
            false,
            Persistence::Close,
            "D",
        );
        encode_stream_part(&mut out, b"raw", false);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
             X-Content-Type-Options: nosniff\r\nDate: D\r\nConnection: close\r\n\r\nraw"
        );
    }

    #[test]
    fn date_cache_formats_rfc_7231_dates() {
        let mut cache = DateCache::new();
        cache.refresh(SystemTime::UNIX_EPOCH);
        assert_eq!(cache.get(), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
