//! Code on the reactor thread (a handler, an `on_close` callback) must never
//! block on something only the reactor can release: a full stream's `send`
//! there fails at once instead of deadlocking the server.

use crate::util;

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use tether::{Action, Config, Response, SendError, StreamSender};
use util::{Client, PATIENCE};

#[test]
fn a_full_streams_send_on_the_reactor_thread_fails_instead_of_deadlocking() {
    let slot: Arc<Mutex<Option<StreamSender>>> = Arc::default();
    let handler_slot = Arc::clone(&slot);
    let mut config = Config::default();
    config.stream_budget_bytes = 1024;
    let server = util::serve(config, move |req: &tether::Request| match req.path() {
        "/poke" => {
            let mut slot = handler_slot.lock().unwrap();
            let sender = slot.as_mut().expect("the stream is ready");
            // On the reactor thread, with the stream's queue full.
            let refused = matches!(sender.send(vec![b'p'; 512]), Err(SendError::WouldDeadlock));
            Action::Respond(Response::text(200, format!("refused={refused}")))
        }
        _ => Action::handoff(),
    });
    let (ready_tx, ready_rx) = mpsc::channel();
    let worker_slot = Arc::clone(&slot);
    server.workers(1, move |exchange| {
        let mut sender = exchange.stream(Response::new(200)).unwrap();
        // The client reads nothing: fill every buffer, then the queue.
        let part = vec![b's'; 64 * 1024];
        let mut full_in_a_row = 0;
        while full_in_a_row < 50 {
            match sender.try_send(part.clone()) {
                Ok(()) => full_in_a_row = 0,
                Err(tether::SendError::Full) => {
                    full_in_a_row += 1;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(err) => panic!("{err}"),
            }
        }
        *worker_slot.lock().unwrap() = Some(sender);
        ready_tx.send(()).unwrap();
    });
    let mut viewer = Client::connect(server.local_addr());
    viewer.send(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    ready_rx.recv_timeout(PATIENCE).expect("the queue filled");
    let mut poker = Client::connect(server.local_addr());
    let reply = poker.get("/poke");
    assert_eq!(reply.text(), "refused=true");
    drop(viewer);
    slot.lock().unwrap().take();
}
