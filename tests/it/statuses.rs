//! Statuses the application hands over are checked: a response must carry a
//! final status, three digits from 200 to 999. `Response::try_new` says why
//! not; `Response::new` panics, and a panic in a handler or a worker is
//! contained (that request is answered `500`), in debug and release builds
//! alike — never `HTTP/1.1 42` or a 1xx the client would wait past.

use crate::util;

use tether::{Action, Config, InvalidStatus, Request, Response};
use util::*;

#[test]
fn try_new_accepts_final_statuses_only() {
    for ok in [200, 204, 304, 404, 599, 999] {
        assert_eq!(Response::try_new(ok).unwrap().status(), ok);
    }
    for bad in [0, 42, 99, 100, 101, 103, 199, 1000, u16::MAX] {
        assert_eq!(Response::try_new(bad).unwrap_err(), InvalidStatus(bad));
    }
    assert!(InvalidStatus(42).to_string().contains("42"));
}

#[test]
fn a_handler_answering_with_an_informational_status_gets_500() {
    let server = serve(Config::default(), |req: &Request| {
        let status = req.path()[1..].parse().unwrap();
        Action::Respond(Response::new(status))
    });
    for status in ["/100", "/42"] {
        let mut client = Client::connect(server.local_addr());
        assert_eq!(client.get(status).status, 500, "{status}");
    }
    let mut client = Client::connect(server.local_addr());
    assert_eq!(client.get("/204").status, 204);
    assert_eq!(server.stats().handler_panics, 2);
}
