//! Silent peers: a client that vanishes without a FIN or a reset (its
//! packets dropped, as when a cable is pulled or a phone leaves coverage).
//!
//! The client runs in a network namespace this test creates, joined to the
//! test's by a veth pair; once its connections are set up, iptables drops
//! everything it sends and receives. Each kind of connection must then end
//! with the reason that says what happened, within the configured bound:
//! an idle keep-alive connection, a pending exchange and a stream as
//! `keepalive_failed` (keepalive probes or `TCP_USER_TIMEOUT`), a WebSocket
//! as `ping_timeout` (its heartbeat fires first). The worker holding the
//! exchange and the one streaming are told.
//!
//! Needs root, iproute2, iptables and python3; without them the test says
//! which is missing and passes without running (.ci/run installs them).

mod util;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tether::ws::{Upgrade, WsEventKind};
use tether::{Action, CloseReason, Config, Keepalive, Request, Response};
use util::wait_for;

/// The client: four connections of four kinds, then it stays silent.
const CLIENT: &str = r#"
import socket, sys, threading, time
host, port = sys.argv[1], int(sys.argv[2])

def connect(request):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(request)
    return s

def until(s, marker):
    got = b""
    while marker not in got:
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("server closed early")
        got += chunk

idle = connect(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
until(idle, b"Hello")
pending = connect(b"GET /hold HTTP/1.1\r\nHost: t\r\n\r\n")
stream = connect(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
until(stream, b"tick")
ws = connect(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
until(ws, b"\r\n\r\n")

def drain(s):
    s.settimeout(None)
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass

# Keep reading the stream (and the pings) until the packets stop.
for s in (stream, ws):
    threading.Thread(target=drain, args=(s,), daemon=True).start()
print("ready", flush=True)
time.sleep(600)
"#;

/// A network namespace with one end of a veth pair; removed when dropped.
struct Netns {
    name: String,
    host_if: String,
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|err| format!("{}: {err}", args[0]))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Netns {
    /// `10.213.<n>.1` here, `10.213.<n>.2` in the namespace.
    fn create(n: u32) -> Result<Netns, String> {
        let name = format!("tether-silent-{n}");
        let host_if = format!("tsh{n}");
        let peer_if = format!("tsp{n}");
        run(&["ip", "netns", "add", &name])?;
        let ns = Netns {
            name: name.clone(),
            host_if: host_if.clone(),
        };
        let host_addr = format!("10.213.{n}.1/24");
        let peer_addr = format!("10.213.{n}.2/24");
        run(&[
            "ip", "link", "add", &host_if, "type", "veth", "peer", "name", &peer_if,
        ])?;
        run(&["ip", "link", "set", &peer_if, "netns", &name])?;
        run(&["ip", "addr", "add", &host_addr, "dev", &host_if])?;
        run(&["ip", "link", "set", &host_if, "up"])?;
        ns.exec(&["ip", "addr", "add", &peer_addr, "dev", &peer_if])?;
        ns.exec(&["ip", "link", "set", &peer_if, "up"])?;
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    fn exec(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["ip", "netns", "exec", &self.name];
        all.extend_from_slice(args);
        run(&all)
    }

    /// Drops every packet the namespace sends or receives.
    fn go_silent(&self) -> Result<(), String> {
        self.exec(&["iptables", "-A", "INPUT", "-j", "DROP"])?;
        self.exec(&["iptables", "-A", "OUTPUT", "-j", "DROP"])
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run(&["ip", "link", "del", &self.host_if]);
        let _ = run(&["ip", "netns", "del", &self.name]);
    }
}

/// Why the test cannot run here, if it cannot.
fn missing() -> Option<String> {
    for tool in [
        ["ip", "-V"],
        ["iptables", "--version"],
        ["python3", "--version"],
    ] {
        if Command::new(tool[0]).arg(tool[1]).output().is_err() {
            return Some(format!("{} is not installed", tool[0]));
        }
    }
    None
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn vanished_clients_end_with_reasons_that_say_so() {
    if let Some(why) = missing() {
        println!("SKIPPED silent_peers: {why}");
        return;
    }
    let n = std::process::id() % 250;
    let ns = match Netns::create(n) {
        Ok(ns) => ns,
        Err(why) => {
            println!("SKIPPED silent_peers: network namespaces not allowed here: {why}");
            return;
        }
    };

    let mut config = Config::default();
    config.keepalive = Some(Keepalive {
        idle: Duration::from_secs(1),
        interval: Duration::from_secs(1),
        retries: 2,
    });
    config.tcp_user_timeout = Some(Duration::from_secs(6));
    config.ws_ping_interval = Duration::from_secs(1);
    config.ws_pong_timeout = Duration::from_secs(2);
    // Server-side timers that would blame someone else stay far off.
    config.idle_timeout = Duration::from_secs(120);
    config.response_timeout = Duration::from_secs(120);
    config.write_stall_timeout = Duration::from_secs(120);
    let bound = Duration::from_secs(40);

    util::init();
    let server = tether::Server::builder()
        .config(config)
        .handler(|req: &Request| match req.path() {
            "/hello" => Action::Respond(Response::text(200, "Hello")),
            "/ws" => Action::Upgrade(Upgrade::new()),
            _ => Action::handoff(),
        })
        .bind(format!("10.213.{n}.1:0"))
        .expect("bind on the veth address");
    let (told, worker_reasons) = mpsc::channel();
    server.workers(2, move |exchange| {
        let path = exchange.request().path().to_string();
        let reason = if path == "/hold" {
            exchange.wait_closed(bound * 2)
        } else {
            let mut stream = exchange
                .stream(Response::new(200).with_header("Content-Type", "text/plain"))
                .expect("the stream starts");
            while stream.send("tick\n").is_ok() {
                std::thread::sleep(Duration::from_millis(100));
            }
            stream.close_reason()
        };
        let _ = told.send((path, reason));
    });
    let events = server.ws_events();

    let addr = server.local_addr();
    let mut client = Command::new("ip")
        .args(["netns", "exec", &ns.name, "python3", "-c", CLIENT])
        .args([addr.ip().to_string(), addr.port().to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the client in its namespace");
    let stdout = client.stdout.take().unwrap();
    let _client = Killed(client);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "the client set up its connections");
    wait_for("the exchange in a worker's hands", || {
        server.stats().pending_responses == 1
    });

    ns.go_silent().expect("iptables in the namespace");
    let silent = Instant::now();
    let deadline = silent + bound;
    let mut stats = server.stats();
    while stats.active > 0 {
        assert!(
            Instant::now() < deadline,
            "still open after {bound:?}: {stats:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
        stats = server.stats();
    }
    let took = silent.elapsed();
    println!("silent_peers: all four ended {took:?} after the packets stopped");

    assert_eq!(
        stats.closed.get(CloseReason::KeepaliveFailed),
        3,
        "{stats:?}"
    );
    assert_eq!(stats.closed.get(CloseReason::PingTimeout), 1, "{stats:?}");
    assert_eq!(stats.closed.total(), 4, "{stats:?}");
    let mut told: Vec<_> = (0..2)
        .map(|_| worker_reasons.recv_timeout(bound).expect("a worker told"))
        .collect();
    told.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        told,
        [
            ("/hold".to_string(), Some(CloseReason::KeepaliveFailed)),
            ("/stream".to_string(), Some(CloseReason::KeepaliveFailed)),
        ]
    );
    let ws_reason =
        std::iter::from_fn(|| events.try_recv().ok()).find_map(|event| match event.kind {
            WsEventKind::Closed { reason, .. } => Some(reason),
            _ => None,
        });
    assert_eq!(ws_reason, Some(CloseReason::PingTimeout));
}
