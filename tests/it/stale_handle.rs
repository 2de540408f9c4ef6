//! A handle to an ended connection can never reach a newer connection that
//! reused its slab slot.

use crate::util;

use tether::{CloseReason, Config, Response};
use util::*;

#[test]
fn a_stale_exchange_cannot_answer_the_connection_that_reused_its_slot() {
    let server = serve(Config::default(), |_| tether::Action::handoff());
    let exchanges = server.exchanges();

    let mut old_client = Client::connect(server.local_addr());
    old_client.send(b"GET /old HTTP/1.1\r\nHost: t\r\n\r\n");
    let old = exchanges.recv().unwrap();
    old_client.reset();
    assert_eq!(old.wait_closed(PATIENCE), Some(CloseReason::PeerReset));
    assert_quiet(&server);

    let mut new_client = Client::connect(server.local_addr());
    new_client.send(b"GET /new HTTP/1.1\r\nHost: t\r\n\r\n");
    let new = exchanges.recv().unwrap();
    assert_eq!(new.id().key(), old.id().key(), "the slot was reused");
    assert_ne!(new.id(), old.id(), "but the generation differs");

    let back = old
        .respond(Response::text(200, "for the old client"))
        .unwrap_err();
    assert_eq!(back.reason, CloseReason::PeerReset);
    assert!(!new.is_closed());
    new.respond(Response::text(200, "for the new client"))
        .unwrap();
    assert_eq!(new_client.read_reply(false).text(), "for the new client");
}
