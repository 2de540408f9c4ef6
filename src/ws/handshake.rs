//! The opening handshake (RFC 6455 §4.2).

use base64::Engine as _;
use sha1::{Digest, Sha1};

use crate::proto::parse::has_token;
use crate::proto::request::Request;
use crate::proto::response::Response;

/// Appended to the client's key before hashing (RFC 6455 §1.3).
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub(crate) fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

/// Which `Origin` an upgrade accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Origins {
    /// Any (the default).
    #[default]
    Any,
    /// The request's own host: the `Origin`'s `host[:port]` equals `Host`.
    Same,
    /// These, compared whole (`https://example.com`), case-insensitively.
    Listed(Vec<String>),
}

impl Origins {
    /// Whether a request with this `Origin` (and `Host`) may upgrade. A
    /// request without `Origin` is not from a browser page, which always
    /// sends one: only browsers are tricked into cross-site requests.
    pub(crate) fn allow(&self, origin: Option<&[u8]>, host: Option<&[u8]>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        match self {
            Origins::Any => true,
            Origins::Same => {
                let authority = origin
                    .windows(3)
                    .position(|w| w == b"://")
                    .map(|at| &origin[at + 3..]);
                authority
                    .zip(host)
                    .is_some_and(|(a, h)| a.eq_ignore_ascii_case(h))
            }
            Origins::Listed(list) => list
                .iter()
                .any(|o| o.as_bytes().eq_ignore_ascii_case(origin)),
        }
    }
}

/// True when a request asks to upgrade to WebSocket (whether or not it does
/// so correctly).
pub fn is_upgrade(req: &Request) -> bool {
    req.header("upgrade")
        .is_some_and(|v| has_token(v, "websocket"))
}

/// The subprotocols a client offers (`Sec-WebSocket-Protocol`), in its order
/// of preference.
pub fn offered_protocols(req: &Request) -> impl Iterator<Item = &str> {
    req.headers()
        .filter(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-protocol"))
        .filter_map(|(_, value)| std::str::from_utf8(value).ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
}

/// Checks an upgrade request and builds the `101` response, or the error
/// response to send instead.
pub(crate) fn respond(
    req: &Request,
    protocol: Option<&str>,
    origins: &Origins,
) -> Result<Response, Response> {
    let bad = |status: u16, why: &'static str| Response::text(status, why);
    if req.method() != "GET" || req.version() != crate::Version::Http11 {
        return Err(bad(400, "WebSocket upgrade needs GET over HTTP/1.1\n"));
    }
    let connection = || {
        req.headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
    };
    if !connection().any(|(_, v)| has_token(v, "upgrade")) || !is_upgrade(req) {
        return Err(bad(
            400,
            "missing Upgrade: websocket / Connection: Upgrade\n",
        ));
    }
    if connection().any(|(_, v)| has_token(v, "close")) {
        // Upgrading and closing at once: refuse rather than send a 101 that
        // also says close.
        return Err(bad(400, "Connection: close contradicts Upgrade\n"));
    }
    let count = |name: &str| {
        req.headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    };
    if count("sec-websocket-key") > 1 || count("sec-websocket-version") > 1 {
        return Err(bad(400, "duplicate Sec-WebSocket-Key or -Version\n"));
    }
    if req.header("sec-websocket-version") != Some(b"13") {
        // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to.
        return Err(bad(426, "unsupported WebSocket version\n")
            .with_header("Upgrade", "websocket")
            .with_header("Sec-WebSocket-Version", "13"));
    }
    if !origins.allow(req.header("origin"), req.header("host")) {
        return Err(bad(403, "WebSocket origin not allowed\n"));
    }
    let key = match req.header("sec-websocket-key") {
        Some(key)
            if base64::engine::general_purpose::STANDARD
                .decode(key)
                .is_ok_and(|k| k.len() == 16) =>
        {
            key
        }
        _ => return Err(bad(400, "missing or malformed Sec-WebSocket-Key\n")),
    };
    let mut response = Response::switching_protocols()
        .with_header("Upgrade", "websocket")
        .with_header("Connection", "Upgrade")
        .with_header("Sec-WebSocket-Accept", accept_key(key));
    if let Some(protocol) = protocol {
        if !offered_protocols(req).any(|p| p == protocol) {
            log::warn!(
                "{} chose subprotocol {protocol:?} the client did not offer",
                req.connection_id()
            );
        }
        response = response.with_header("Sec-WebSocket-Protocol", protocol.to_string());
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_example_key_is_accepted() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
