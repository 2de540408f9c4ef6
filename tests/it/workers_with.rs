//! Worker threads with state of their own: made on the worker's thread (it
//! need not be `Send`), lent to each exchange, made anew after a panic.

use crate::util;

use std::cell::Cell;
use std::rc::Rc;

use tether::{Action, Config, Request, Response};
use util::*;

#[test]
fn each_worker_keeps_its_own_state_and_a_panic_resets_it() {
    let server = serve(Config::default(), |_: &Request| Action::handoff());
    // An Rc: this state could not cross threads, and it does not have to.
    server.workers_with(
        1,
        |_| Rc::new(Cell::new(0u64)),
        |served, exchange| {
            served.set(served.get() + 1);
            if exchange.request().path() == "/panic" {
                panic!("worker bug");
            }
            let _ = exchange.respond(Response::text(200, served.get().to_string()));
        },
    );
    let mut client = Client::connect(server.local_addr());
    assert_eq!(client.get("/").text(), "1");
    assert_eq!(client.get("/").text(), "2");
    assert_eq!(
        Client::connect(server.local_addr()).get("/panic").status,
        500
    );
    let mut again = Client::connect(server.local_addr());
    assert_eq!(
        again.get("/").text(),
        "1",
        "state made anew after the panic"
    );
    assert_eq!(server.stats().worker_panics, 1);
}
