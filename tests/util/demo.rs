//! The demo example as a black box: started as a child process on a free
//! port, stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::Client;

/// `cargo test` builds the examples next to the test binaries;
/// `TETHER_DEMO` names another build (a release one, for measurements).
fn demo_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TETHER_DEMO") {
        return path.into();
    }
    example_binary("demo")
}

fn example_binary(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("examples").join(name)
}

pub struct Demo {
    child: Child,
    pub addr: SocketAddr,
    /// Where it serves HTTPS, when started with TLS flags.
    pub tls_addr: Option<SocketAddr>,
}

impl Demo {
    pub fn start() -> Demo {
        Self::start_with(&[])
    }

    /// The demo with these flags besides `--workers 2`.
    pub fn start_with(flags: &[&str]) -> Demo {
        Self::spawn(
            Command::new(demo_binary())
                .args(["--workers", "2"])
                .args(flags),
        )
    }

    /// Runs the demo with `flags` expecting it to refuse them: its exit
    /// code and what it said.
    #[allow(dead_code)]
    pub fn refuse(flags: &[&str]) -> (Option<i32>, String) {
        let child = Command::new(demo_binary())
            .args(["--addr", "127.0.0.1:0"])
            .args(flags)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the demo binary");
        // One that serves instead of refusing must not hang the test (a
        // demo built with other features than this test: `cargo test`
        // builds the examples, `cargo test --test it` alone does not):
        // waiting is bounded, and a demo still running is killed on drop.
        let mut demo = Killed(child);
        let mut status = None;
        super::wait_for("the demo to refuse its flags", || {
            status = demo.0.try_wait().expect("the demo's status");
            status.is_some()
        });
        let mut said = String::new();
        if let Some(mut stderr) = demo.0.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut stderr, &mut said);
        }
        (status.and_then(|s| s.code()), said)
    }

    /// The `service` example, on a free port.
    #[allow(dead_code)]
    pub fn service() -> Demo {
        Self::example("service")
    }

    /// Another example that prints `listening on http://ADDR` first and
    /// takes `--addr`, on a free port.
    #[allow(dead_code)]
    pub fn example(name: &str) -> Demo {
        Self::spawn(&mut Command::new(example_binary(name)))
    }

    fn spawn(command: &mut Command) -> Demo {
        // A free port, unless the flags name one.
        if !command.get_args().any(|arg| arg == "--addr") {
            command.args(["--addr", "127.0.0.1:0"]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("the example binary: plain `cargo test` builds it; with a filter, run `cargo build --examples` first");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        let tls = command
            .get_args()
            .any(|arg| arg.to_string_lossy().starts_with("--tls"));
        let tls_addr = tls.then(|| {
            line.clear();
            stdout.read_line(&mut line).unwrap();
            line.trim()
                .strip_prefix("listening on https://")
                .unwrap_or_else(|| panic!("unexpected second line {line:?}"))
                .parse()
                .unwrap()
        });
        Demo {
            child,
            addr,
            tls_addr,
        }
    }

    /// The demo's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stats(&self) -> serde_json::Value {
        let mut client = Client::connect(self.addr);
        let reply = client.get("/stats");
        assert_eq!(reply.header("content-type"), Some("application/json"));
        serde_json::from_slice(&reply.body).expect("/stats is JSON")
    }

    /// Sends `signal` (`STOP`, `CONT`, `KILL`) to the demo.
    #[allow(dead_code)]
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "the demo exits cleanly on SIGTERM: {status}"
        );
    }
}

/// A child process killed when dropped, a panic's unwinding included.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Appends `text` to the demo's feed (`POST /feed`); the new event's id.
pub fn append_to_feed(client: &mut Client, text: &str) -> String {
    let len = text.len();
    let request = format!("POST /feed HTTP/1.1\r\nHost: t\r\nContent-Length: {len}\r\n\r\n{text}");
    client.send(request.as_bytes());
    let reply = client.read_reply(false);
    assert_eq!(reply.status, 202, "{}", reply.text());
    reply.text().trim().to_string()
}

/// Opens `GET /feed` resuming after `last_event_id`; the stream's head is read.
pub fn read_feed(client: &mut Client, last_event_id: &str) {
    let request =
        format!("GET /feed HTTP/1.1\r\nHost: t\r\nLast-Event-ID: {last_event_id}\r\n\r\n");
    client.send(request.as_bytes());
    let head = client.read_reply(true);
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
}

/// The next event of an SSE stream (one chunk).
pub fn next_sse(client: &mut Client) -> String {
    String::from_utf8(client.read_chunk().unwrap().unwrap()).unwrap()
}

/// `POST path` with `body` on `client`; the reply.
pub fn post(client: &mut Client, path: &str, body: &str) -> super::Reply {
    let len = body.len();
    let request = format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len}\r\n\r\n{body}");
    client.send(request.as_bytes());
    client.read_reply(false)
}

/// Publishes `text` for one poller (`POST /publish`); the message's id.
pub fn publish(client: &mut Client, text: &str) -> String {
    let reply = post(client, "/publish", text);
    assert_eq!(reply.status, 202, "{}", reply.text());
    let id = reply
        .header("message-id")
        .expect("a Message-Id")
        .to_string();
    assert_eq!(reply.text().trim(), id, "the body names it too");
    id
}

/// A `200` from `/poll`: its `Message-Id` and its body.
pub fn polled(reply: &super::Reply) -> (String, String) {
    assert_eq!(reply.status, 200, "{reply:?}");
    let id = reply.header("message-id").expect("a Message-Id");
    (id.to_string(), reply.text().to_string())
}
