//! A fixed keep-alive workload for instruction counts: one client sends
//! `N` (default 20,000) requests on one connection to an inline handler,
//! each after the last answer. Under callgrind the total is the same run
//! to run on a busy machine, so two trees compare by instructions:
//!
//! ```text
//! cargo build --release -p tether-bench --example keepalive_loop
//! valgrind --tool=callgrind target/release/examples/keepalive_loop 5000
//! valgrind --tool=callgrind target/release/examples/keepalive_loop 5000 never
//! ```
//!
//! `never` sets `stall_threshold` to never: the reactor's health figures
//! and stall detector off, to count what measuring them costs.

use std::io::{Read, Write};

use tether::{Action, Config, Request, Response, Server};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let mut config = Config::default();
    if std::env::args().nth(2).as_deref() == Some("never") {
        config = config.stall_threshold(std::time::Duration::MAX);
    }
    let server = Server::builder()
        .config(config)
        .handler(|_: &Request| Action::Respond(Response::text(200, "Hello, World!")))
        .bind("127.0.0.1:0")
        .expect("bind");
    let mut client = std::net::TcpStream::connect(server.local_addr()).expect("connect");
    client.set_nodelay(true).expect("nodelay");
    let request = b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut buf = [0u8; 4096];
    for _ in 0..n {
        client.write_all(request).expect("write");
        let mut got = 0;
        while !buf[..got].ends_with(b"Hello, World!") {
            got += client.read(&mut buf[got..]).expect("read");
        }
    }
    println!("{n} requests");
}
