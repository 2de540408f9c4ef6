//! Pipelined requests are answered strictly in order, on both paths, and a
//! connection never has more than one request in a worker's hands.
//!
//! Each runs over plain TCP and, with feature `tls`, over TLS, but the last.

use crate::util;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tether::{Action, Config, Response};
use util::*;

fn ten_pipelined() -> Vec<u8> {
    (0..10)
        .flat_map(|i| format!("GET /n/{i} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes())
        .collect()
}

fn ten_pipelined_requests_are_answered_in_order_inline(over: Over) {
    let server = serve_over(over, Config::default(), |req| {
        Action::Respond(Response::text(200, req.path().to_string()))
    });
    let mut client = Client::connect_over(over, server.local_addr());
    client.send(&ten_pipelined());
    for i in 0..10 {
        assert_eq!(client.read_reply(false).text(), format!("/n/{i}"));
    }
}

fn ten_pipelined_requests_are_answered_in_order_by_workers(over: Over) {
    let in_hand = Arc::new(AtomicUsize::new(0));
    let most_in_hand = Arc::new(AtomicUsize::new(0));
    let (now, most) = (Arc::clone(&in_hand), Arc::clone(&most_in_hand));
    // Four workers, and later requests answered faster than earlier ones:
    // order must still hold.
    let server = serve_workers_over(over, Config::default(), 4, move |exchange| {
        let held = now.fetch_add(1, Ordering::SeqCst) + 1;
        most.fetch_max(held, Ordering::SeqCst);
        let path = exchange.request().path().to_string();
        let n: u64 = path.trim_start_matches("/n/").parse().unwrap();
        std::thread::sleep(Duration::from_millis(10 - n));
        now.fetch_sub(1, Ordering::SeqCst);
        exchange.respond(Response::text(200, path)).unwrap();
    });
    let mut client = Client::connect_over(over, server.local_addr());
    client.send(&ten_pipelined());
    for i in 0..10 {
        assert_eq!(client.read_reply(false).text(), format!("/n/{i}"));
    }
    assert_eq!(
        most_in_hand.load(Ordering::SeqCst),
        1,
        "one request per connection in a worker's hands"
    );
    drop(client);
    assert_quiet(&server);
}

fn a_close_in_the_middle_of_a_pipeline_ends_it_there(over: Over) {
    let server = serve_over(over, Config::default(), |req| {
        Action::Respond(Response::text(200, req.path().to_string()))
    });
    let mut client = Client::connect_over(over, server.local_addr());
    client.send(
        b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n\
          GET /c HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(client.read_reply(false).text(), "/a");
    let last = client.read_reply(false);
    assert_eq!(last.text(), "/b");
    assert!(last.closes());
    assert!(client.expect_eof(), "nothing is answered after the close");
}

/// (Plain TCP only: a second thread writes on the client's socket.)
///
/// Responses larger than the output high-water mark hold parsing back after
/// each one. When a flush then empties the output in the same turn (the
/// kernel took it all, so no writable event will follow), parsing must go
/// on: the heads already in the buffer wait on us, not on the client.
#[test]
fn every_pipelined_request_with_a_response_past_the_high_water_mark_is_answered() {
    let server = serve(Config::default(), |_| {
        Action::Respond(Response::text(200, "z".repeat(64 * 1024)))
    });
    let mut client = Client::connect(server.local_addr());
    let request = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(500)
    );
    let requests = 400;
    let mut writer = client.stream.try_clone().unwrap();
    let all = request.repeat(requests);
    let writer = std::thread::spawn(move || writer.write_all(all.as_bytes()).unwrap());
    for _ in 0..requests {
        assert_eq!(client.read_reply(false).body.len(), 64 * 1024);
    }
    writer.join().unwrap();
    assert_eq!(server.stats().closed.total(), 0);
}

crate::over_both!(
    ten_pipelined_requests_are_answered_in_order_inline,
    ten_pipelined_requests_are_answered_in_order_by_workers,
    a_close_in_the_middle_of_a_pipeline_ends_it_there,
);
