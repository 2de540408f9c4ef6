//! A chunk size near 2^64 must not wrap the body-size check: after a 1-byte
//! chunk, `ffffffffffffffff` is refused with `413`, in debug and release
//! builds alike, and the reactor goes on serving.

use crate::util;

use std::io::Read;

use tether::{Action, Config, Response};
use util::Client;

#[test]
fn a_chunk_size_that_would_wrap_the_limit_is_refused_with_413() {
    let mut config = Config::default();
    config.max_body_bytes = 1024 * 1024;
    let server = util::serve(config, |req: &tether::Request| {
        Action::Respond(Response::text(200, format!("{} bytes", req.body().len())))
    });
    for size in ["ffffffffffffffff", "fffffffffffffff0", "8000000000000000"] {
        let mut client = Client::connect(server.local_addr());
        client.send(
            format!(
                "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n{size}\r\n"
            )
            .as_bytes(),
        );
        // Whatever follows must not be taken as body.
        let _ = std::io::Write::write_all(&mut client.stream, &[b'x'; 64 * 1024]);
        let reply = client.read_reply(false);
        assert_eq!(reply.status, 413, "size {size}");
        assert!(reply.closes());
        let mut rest = Vec::new();
        let _ = client.stream.read_to_end(&mut rest);
    }
    // Still serving.
    let mut client = Client::connect(server.local_addr());
    client.send(
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    assert_eq!(client.read_reply(false).text(), "3 bytes");
    assert_eq!(server.stats().handler_panics, 0);
}
