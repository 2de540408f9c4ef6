//! RFC 9110/9112 conformance cases, each a raw request and the answer
//! tether must give (the table in docs/reliability.md).

use crate::util;

use std::io::Read;

use tether::{Action, Config, Response};
use util::Client;

/// Answers with what the request resolved to: path, query, host.
fn mirror(req: &tether::Request) -> Action {
    let text = format!(
        "{} {} {}",
        req.path(),
        req.query().unwrap_or("-"),
        req.host().unwrap_or("-")
    );
    Action::Respond(Response::text(200, text))
}

/// Sends `raw` on a fresh connection and returns everything the server
/// wrote until it closed (or its first response, for keep-alive).
fn exchange(server: &tether::Server, raw: &[u8]) -> String {
    let mut client = Client::connect(server.local_addr());
    client.send(raw);
    client.finish_sending();
    let mut out = Vec::new();
    let _ = client.stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status(reply: &str) -> u16 {
    reply.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn each_case_gets_the_answer_the_rfcs_require() {
    let mut config = Config::default();
    config.max_head_bytes = 1024;
    config.max_buffered_bytes = 1024;
    let server = util::serve(config, mirror);
    let long_target = format!("GET /{} HTTP/1.1\r\n", "a".repeat(2000));
    let long_header = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "b".repeat(2000)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("Host with a space", b"GET / HTTP/1.1\r\nHost: exa mple\r\n\r\n".to_vec(), 400),
        ("Host with a slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n".to_vec(), 400),
        ("Host with userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n".to_vec(), 400),
        ("Host with a bad port", b"GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n".to_vec(), 400),
        ("Host IPv6 literal", b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n".to_vec(), 200),
        ("Host name and port", b"GET / HTTP/1.1\r\nHost: a.example:80\r\n\r\n".to_vec(), 200),
        ("empty Host", b"GET / HTTP/1.1\r\nHost:\r\n\r\n".to_vec(), 200),
        ("HTTP/1.0 with a bad Host", b"GET / HTTP/1.0\r\nHost: a b\r\n\r\n".to_vec(), 400),
        (
            "whitespace after a chunk size",
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\na\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "whitespace before a chunk extension",
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1 ;x=y\r\na\r\n0\r\n\r\n".to_vec(),
            200,
        ),
        (
            "a well-formed trailer",
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: v\r\n\r\n".to_vec(),
            200,
        ),
        (
            "a folded trailer line",
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: v\r\n w\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a trailer without a colon",
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nnocolon\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a trailer with a NUL",
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\x00b\r\n\r\n".to_vec(),
            400,
        ),
        // Smuggling vectors: each refused, and the request behind never runs.
        (
            "Content-Length with Transfer-Encoding",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "duplicate Content-Length",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na".to_vec(),
            400,
        ),
        (
            "signed Content-Length",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +1\r\n\r\na".to_vec(),
            400,
        ),
        (
            "obs-fold in a header",
            b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n".to_vec(),
            400,
        ),
        (
            "xchunked",
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a 17-digit chunk size",
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000001\r\na\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        ("a bare CR", b"GET / HTTP/1.1\r\nHost: t\rX: y\r\n\r\n".to_vec(), 400),
        ("space before a colon", b"GET / HTTP/1.1\r\nHost : t\r\n\r\n".to_vec(), 400),
        ("a NUL in a header", b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n".to_vec(), 400),
        ("an over-long request line", long_target.into_bytes(), 414),
        ("over-long header fields", long_header.into_bytes(), 431),
    ];
    let mut wrong = Vec::new();
    for (name, raw, want) in cases {
        // A second request behind each case: it must never run after a
        // refusal (smuggling), and must after a 200.
        let mut raw = raw;
        raw.extend_from_slice(b"GET /behind HTTP/1.1\r\nHost: t\r\n\r\n");
        let reply = exchange(&server, &raw);
        let behind_ran = reply.contains("/behind");
        if status(&reply) != want || behind_ran != (want == 200) {
            wrong.push(format!("{name}: got {reply:?}, want {want}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn an_absolute_form_target_is_honoured_and_its_authority_replaces_host() {
    let server = util::serve(Config::default(), mirror);
    let reply = exchange(
        &server,
        b"GET http://a.example:8080/p/q?x=1 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n",
    );
    assert!(reply.ends_with("/p/q x=1 a.example:8080"), "{reply}");
    let reply = exchange(
        &server,
        b"GET HTTP://a.example HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
    );
    assert!(reply.ends_with("/ - a.example"), "{reply}");
    let reply = exchange(
        &server,
        b"GET /o HTTP/1.1\r\nHost: h.example\r\nConnection: close\r\n\r\n",
    );
    assert!(reply.ends_with("/o - h.example"), "{reply}");
}

#[test]
fn no_100_continue_goes_to_an_http_1_0_client() {
    let server = util::serve(Config::default(), mirror);
    let reply = exchange(
        &server,
        b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    );
    assert!(!reply.contains("100 Continue"), "{reply}");
    assert_eq!(status(&reply), 200);
    // HTTP/1.1 still gets it.
    let reply = exchange(
        &server,
        b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    );
    assert!(
        reply.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200"),
        "{reply}"
    );
}
