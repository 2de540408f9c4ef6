//! The router: decoded captures and query, automatic HEAD, 405 with
//! `Allow`, 404; named queues with pools and bounds of their own; the
//! handler's value and the route's deadline reaching the worker.

use crate::util;

use std::sync::mpsc;
use std::time::Duration;

use tether::{Config, Handoff, Request, Response, Router, Server};
use util::*;

struct Caller(String);

fn router() -> Router {
    Router::new()
        .get("/users/{id}", |req: &Request| {
            let id = req.param("id").unwrap_or("?");
            let q = req.query_value("q").unwrap_or_default();
            Response::text(200, format!("user {id} q={q}"))
        })
        .post("/users/{id}", |req: &Request| {
            Handoff::to("jobs").with(Caller(req.param("id").unwrap_or("?").to_string()))
        })
        .get("/poll", |_: &Request| {
            Handoff::to("polls").response_timeout(Duration::from_secs(1))
        })
}

/// The routes above, with room for `polls` polls and four jobs queued.
fn serve_routes(polls: usize) -> Server {
    Server::builder()
        .queue("jobs", 4)
        .queue("polls", polls)
        .router(router())
        .bind("127.0.0.1:0")
        .expect("bind")
}

#[test]
fn captures_and_query_arrive_decoded_and_methods_are_checked() {
    init();
    let server = serve_routes(4);
    let mut client = Client::connect(server.local_addr());
    let reply = client.get("/users/%31%32?q=a%20b+c");
    assert_eq!(reply.text(), "user 12 q=a b c");

    client.send(b"HEAD /users/7 HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = client.read_reply(true);
    assert_eq!(head.status, 200, "GET routes answer HEAD");
    assert_eq!(head.header("content-length"), Some("9"), "user 7 q=");

    client.send(b"DELETE /users/7 HTTP/1.1\r\nHost: t\r\n\r\n");
    let refused = client.read_reply(false);
    assert_eq!(refused.status, 405);
    assert_eq!(refused.header("allow"), Some("GET, HEAD, POST"));

    assert_eq!(client.get("/nowhere").status, 404);
    server.shutdown();
}

#[test]
fn the_route_captures_and_the_handler_value_reach_the_worker() {
    init();
    let server = serve_routes(4);
    server
        .pool("jobs")
        .expect("declared")
        .workers(1, |mut exchange| {
            let caller = exchange.take_value::<Caller>().map(|c| c.0);
            let route = exchange.request().route().unwrap_or("").to_string();
            let id = exchange.request().param("id").unwrap_or("").to_string();
            let body = format!("{caller:?} {route} {id}");
            let _ = exchange.respond(Response::text(200, body));
        });
    let mut client = Client::connect(server.local_addr());
    client.send(b"POST /users/%41 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    let reply = client.read_reply(false);
    assert_eq!(reply.text(), "Some(\"A\") /users/{id} A");
    server.shutdown();
}

#[test]
fn parked_polls_do_not_starve_the_job_queue() {
    init();
    let server = serve_routes(4);
    // One poll worker that parks every poll it gets until its client
    // leaves or its deadline passes.
    let (parked_tx, parked) = mpsc::channel();
    server
        .pool("polls")
        .expect("declared")
        .workers(1, move |exchange| {
            let _ = parked_tx.send(());
            exchange.wait_closed(Duration::from_secs(60));
        });
    server
        .pool("jobs")
        .expect("declared")
        .workers(1, |exchange| {
            let _ = exchange.respond(Response::text(200, "job done"));
        });
    let mut poller = Client::connect(server.local_addr());
    poller.send(b"GET /poll HTTP/1.1\r\nHost: t\r\n\r\n");
    parked
        .recv_timeout(Duration::from_secs(10))
        .expect("poll parked");
    let mut client = Client::connect(server.local_addr());
    client.send(b"POST /users/1 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(client.read_reply(false).text(), "job done");
    // The poll route's own deadline (1 s), not the global 30 s, ends it.
    let timed_out = poller.read_reply(false);
    assert_eq!(timed_out.status, 503);
    server.shutdown();
}

#[test]
fn each_queue_keeps_its_own_bound() {
    init();
    let server = serve_routes(1);
    // No poll workers: the first poll waits in the queue, the second finds
    // it full — while the job queue still has room.
    let mut first = Client::connect(server.local_addr());
    first.send(b"GET /poll HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for("the first poll queued", || {
        server.exchanges_from("polls").is_some_and(|q| q.len() == 1)
    });
    let mut second = Client::connect(server.local_addr());
    assert_eq!(second.get("/poll").status, 503);
    let jobs = server.exchanges_from("jobs").expect("declared");
    let mut client = Client::connect(server.local_addr());
    client.send(b"POST /users/1 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    let job = jobs.recv_timeout(Duration::from_secs(10)).expect("a job");
    let _ = job.respond(Response::text(200, "ok"));
    assert_eq!(client.read_reply(false).status, 200);
    let polls = server.exchanges_from("polls").expect("declared");
    let poll = polls.try_recv().expect("the first poll waited");
    let _ = poll.respond(Response::text(200, "late"));
    assert_eq!(first.read_reply(false).text(), "late");
    server.shutdown();
}

#[test]
fn mistakes_in_routes_and_queue_names_are_errors_not_panics() {
    init();
    let conflicting = Router::new()
        .get("/{a}", |_: &Request| Response::new(200))
        .get("/{b}", |_: &Request| Response::new(200));
    let refused = Server::builder().router(conflicting).bind("127.0.0.1:0");
    assert!(
        matches!(refused, Err(tether::Error::InvalidRoute(_))),
        "{refused:?}"
    );

    let server = serve(Config::default(), |_: &Request| {
        Handoff::to("undeclared").into()
    });
    assert!(matches!(
        server.pool("undeclared"),
        Err(tether::Error::UnknownQueue(_))
    ));
    let mut client = Client::connect(server.local_addr());
    assert_eq!(client.get("/").status, 500);
    server.shutdown();
}

/// Routes declare where they hand off, and `bind` refuses a queue or an
/// event stream that was never declared, naming the route — instead of a
/// `500` on the first request.
#[test]
fn bind_refuses_a_route_declared_to_hand_off_to_an_unknown_queue_or_stream() {
    use tether::ws::Upgrade;
    use tether::Error;
    let bind = |router: Router| {
        Server::builder()
            .queue("jobs", 8)
            .ws_events("chat")
            .router(router)
            .bind("127.0.0.1:0")
    };
    let typo = Router::new()
        .get("/ok", |_: &Request| Handoff::to("jobs"))
        .hands_off_to("jobs")
        .post("/jobs", |_: &Request| Handoff::to("jbos"))
        .hands_off_to("jbos");
    match bind(typo) {
        Err(Error::InvalidRoute(why)) => {
            assert!(
                why.contains("POST /jobs") && why.contains("\"jbos\""),
                "{why}"
            );
        }
        other => panic!("expected InvalidRoute, got {other:?}"),
    }
    let events = Router::new()
        .get("/ws", |_: &Request| Upgrade::new().events("chta"))
        .sends_events_to("chta");
    assert!(matches!(bind(events), Err(Error::InvalidRoute(why)) if why.contains("GET /ws")));
    let before_any = Router::new().hands_off_to("jobs");
    assert!(matches!(bind(before_any), Err(Error::InvalidRoute(_))));
    // Declared and present, and the defaults: it binds.
    let fine = Router::new()
        .get("/jobs", |_: &Request| Handoff::to("jobs"))
        .hands_off_to("jobs")
        .get("/work", |_: &Request| Handoff::new())
        .hands_off_to(Handoff::DEFAULT_QUEUE)
        .get("/ws", |_: &Request| Upgrade::new().events("chat"))
        .sends_events_to("chat")
        .get("/ws/default", |_: &Request| Upgrade::new())
        .sends_events_to(tether::ws::DEFAULT_WS_EVENTS);
    bind(fine).expect("every declared outlet exists");
}
