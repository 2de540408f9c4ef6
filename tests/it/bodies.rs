//! Request bodies: Content-Length, chunked, and `Expect: 100-continue`.

use crate::util;

use tether::{Action, Config, Response};
use util::*;

fn echo() -> tether::Server {
    serve(Config::default(), |req| {
        Action::Respond(Response::new(200).with_body(req.body().to_vec()))
    })
}

#[test]
fn a_content_length_body_arrives_whole_even_in_pieces() {
    let server = echo();
    let mut client = Client::connect(server.local_addr());
    client.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhel");
    std::thread::sleep(std::time::Duration::from_millis(20));
    client.send(b"lo world");
    assert_eq!(client.read_reply(false).text(), "hello world");
}

#[test]
fn a_chunked_body_is_decoded() {
    let server = echo();
    let mut client = Client::connect(server.local_addr());
    client.send(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
    );
    assert_eq!(client.read_reply(false).text(), "hello world");
    // The connection is still in step for the next request.
    assert_eq!(client.get("/").status, 200);
}

#[test]
fn expect_continue_gets_100_before_the_body_is_sent() {
    let server = echo();
    let mut client = Client::connect(server.local_addr());
    client.send(
        b"PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    );
    assert_eq!(client.read_reply(false).status, 100);
    client.send(b"data");
    assert_eq!(client.read_reply(false).text(), "data");
}

#[test]
fn a_large_body_reaches_a_worker() {
    let server = serve_workers(Config::default(), 1, |mut exchange| {
        let body = exchange.request_mut().take_body();
        exchange
            .respond(Response::text(200, body.len().to_string()))
            .unwrap();
    });
    let mut client = Client::connect(server.local_addr());
    let body = vec![b'b'; 900_000];
    client.send(
        format!(
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    client.send(&body);
    assert_eq!(client.read_reply(false).text(), "900000");
}
