//! Header names and values from the application are checked (RFC 9110
//! field syntax): a value carrying CR or LF can never put a second header
//! line, or a second response, on the wire.

use crate::util;

use std::io::Read;

use tether::{Action, Config, Response};
use util::Client;

/// Echoes the `x-echo` request header back — the classic splitting bug.
fn echo_header(req: &tether::Request) -> Action {
    let echoed = String::from_utf8_lossy(req.header("x-echo").unwrap_or(b"")).into_owned();
    let value = echoed.replace("\\r", "\r").replace("\\n", "\n");
    Action::Respond(Response::text(200, "ok").with_header("X-Echo", value))
}

#[test]
fn a_header_value_with_crlf_never_reaches_the_wire() {
    let server = util::serve(Config::default(), echo_header);
    let mut client = Client::connect(server.local_addr());
    client.send(
        b"GET / HTTP/1.1\r\nHost: t\r\nX-Echo: a\\r\\nSet-Cookie: injected=1\r\nConnection: close\r\n\r\n",
    );
    let mut raw = Vec::new();
    let _ = client.stream.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw);
    assert!(!raw.contains("Set-Cookie"), "header injected:\n{raw}");
    assert!(raw.starts_with("HTTP/1.1 500"), "{raw}");
}

#[test]
fn invalid_names_and_values_are_refused_with_an_error() {
    let cases: [(&str, &str); 7] = [
        ("X-Echo", "a\r\nSet-Cookie: x=1"),
        ("X-Echo", "a\nb"),
        ("X-Echo", "a\0b"),
        ("X Echo", "v"),
        ("X-Echo:", "v"),
        ("", "v"),
        ("X-\u{e9}", "v"),
    ];
    for (name, value) in cases {
        let err = Response::new(200)
            .try_with_header(name.to_string(), value.to_string())
            .expect_err(&format!("{name:?}: {value:?} accepted"));
        assert!(!err.to_string().is_empty());
    }
    // Tabs, inner spaces and obs-text are fine.
    let ok = Response::new(200)
        .try_with_header("X-Ok", b"a\tb c \xe9".to_vec())
        .expect("valid field value");
    assert_eq!(ok.header("x-ok"), Some(&b"a\tb c \xe9"[..]));
}
