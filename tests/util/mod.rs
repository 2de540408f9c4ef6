//! Helpers shared by the behaviour tests: real loopback clients, polling
//! waits, and a check that a test left nothing behind.
#![allow(dead_code)]

pub mod attack;
pub mod demo;
pub mod executor;
pub mod gate;
pub mod nginx;
pub mod redis;
#[cfg(feature = "tls")]
pub mod tls;
pub mod wire;
pub mod ws;

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Once;
use std::time::{Duration, Instant};

#[allow(unused_imports)]
pub use gate::Gate;
use tether::stats::Stats;
use tether::{Action, Config, Exchange, Request, Response, Router, Server};
pub use wire::{Over, Wire};

/// Generous bound for anything a test waits on.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Logging once per test binary (`RUST_LOG=tether=trace` to see it).
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = env_logger::builder().is_test(true).try_init();
    });
}

/// A server on 127.0.0.1:0 with `config` and `handler`.
pub fn serve<F>(config: Config, handler: F) -> Server
where
    F: Fn(&Request) -> Action + Send + Sync + 'static,
{
    serve_over(Over::Plain, config, handler)
}

/// A server on 127.0.0.1:0 with `config` and `router`.
pub fn serve_router(config: Config, router: Router) -> Server {
    Server::builder()
        .config(config)
        .router(router)
        .bind("127.0.0.1:0")
        .expect("bind")
}

/// [`serve`] over plain TCP or TLS.
pub fn serve_over<F>(over: Over, config: Config, handler: F) -> Server
where
    F: Fn(&Request) -> Action + Send + Sync + 'static,
{
    over.builder()
        .config(config)
        .handler(handler)
        .bind("127.0.0.1:0")
        .expect("bind")
}

/// A server whose every request goes to `n` pool workers running `work`.
pub fn serve_workers<F>(config: Config, n: usize, work: F) -> Server
where
    F: Fn(Exchange) + Send + Sync + 'static,
{
    serve_workers_over(Over::Plain, config, n, work)
}

/// [`serve_workers`] over plain TCP or TLS.
pub fn serve_workers_over<F>(over: Over, config: Config, n: usize, work: F) -> Server
where
    F: Fn(Exchange) + Send + Sync + 'static,
{
    let server = serve_over(over, config, |_| Action::handoff());
    server.workers(n, work);
    server
}

/// The demo's inline hello.
pub fn hello(_: &Request) -> Action {
    Action::Respond(Response::text(200, "Hello, World!"))
}

/// Polls `condition` until it holds or [`PATIENCE`] runs out.
#[track_caller]
pub fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until the server has no connections, owes no responses, and holds
/// nothing against its memory budget.
#[track_caller]
pub fn assert_quiet(server: &Server) {
    wait_for(
        "no active connections, pending responses or held memory",
        || {
            let stats = server.stats();
            stats.active == 0 && stats.pending_responses == 0 && stats.memory_held == 0
        },
    );
}

/// Waits until `closed.<reason>` reaches `count`.
#[track_caller]
pub fn wait_closed_count(server: &Server, reason: tether::CloseReason, count: u64) -> Stats {
    let mut stats = server.stats();
    wait_for(&format!("{count} closed as {reason}"), || {
        stats = server.stats();
        stats.closed.get(reason) >= count
    });
    stats
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("utf-8 body")
    }

    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// A blocking HTTP/1.1 client on one connection, reading responses framed by
/// Content-Length.
pub struct Client {
    pub stream: Wire,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Self::connect_over(Over::Plain, addr)
    }

    /// A plain client, or the error connecting (a server that may be
    /// restarting).
    pub fn try_connect(addr: SocketAddr) -> io::Result<Client> {
        let tcp = std::net::TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(PATIENCE))?;
        Ok(Client {
            stream: Wire::Plain(tcp),
            buf: Vec::new(),
        })
    }

    /// A client speaking plain TCP or TLS.
    pub fn connect_over(over: Over, addr: SocketAddr) -> Client {
        Client {
            stream: over.connect(addr),
            buf: Vec::new(),
        }
    }

    /// A client whose connection comes from `from` (another loopback
    /// address, to be another client to the server).
    #[allow(dead_code)]
    pub fn connect_from(from: std::net::IpAddr, addr: SocketAddr) -> Client {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )
        .unwrap();
        socket.bind(&SocketAddr::new(from, 0).into()).unwrap();
        socket.connect(&addr.into()).expect("connect");
        let tcp: std::net::TcpStream = socket.into();
        tcp.set_read_timeout(Some(PATIENCE)).unwrap();
        Client {
            stream: Wire::Plain(tcp),
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    pub fn get(&mut self, path: &str) -> Reply {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.read_reply(false)
    }

    /// Reads one response (`head_only` for replies to HEAD).
    pub fn read_reply(&mut self, head_only: bool) -> Reply {
        self.try_read_reply(head_only).expect("read a response")
    }

    pub fn try_read_reply(&mut self, head_only: bool) -> io::Result<Reply> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(len) = parsed
                .parse(&self.buf)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            {
                let status = parsed.code.unwrap_or(0);
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                let length = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .map(|(_, v)| v.parse::<usize>().expect("numeric length"));
                let body_len = if head_only || status == 100 {
                    0
                } else {
                    length.unwrap_or(0)
                };
                while self.buf.len() < len + body_len {
                    self.fill()?;
                }
                let body = self.buf[len..len + body_len].to_vec();
                self.buf.drain(..len + body_len);
                return Ok(Reply {
                    status,
                    headers,
                    body,
                });
            }
            self.fill()?;
        }
    }

    /// Reads one chunk of a chunked body; `None` for the last chunk (its
    /// trailer section is consumed too).
    pub fn read_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let line = self.read_line()?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidData, format!("chunk size {line:?}"))
        })?;
        if size == 0 {
            while !self.read_line()?.is_empty() {}
            return Ok(None);
        }
        let data = self.read_exact_bytes(size)?;
        if !self.read_line()?.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "chunk not followed by CRLF",
            ));
        }
        Ok(Some(data))
    }

    /// Reads one CRLF-terminated line (without the CRLF).
    pub fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                return Ok(line);
            }
            self.fill()?;
        }
    }

    /// Reads exactly `n` bytes.
    pub fn read_exact_bytes(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            self.fill()?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Reads until the server closes; what came.
    pub fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        let mut rest = std::mem::take(&mut self.buf);
        self.stream.read_to_end(&mut rest)?;
        Ok(rest)
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 8192];
        // A signal (a demo child exiting, say) may interrupt the read.
        let n = loop {
            match self.stream.read(&mut chunk) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Reads until the server closes; true for an orderly FIN (not a reset),
    /// with no stray bytes before it.
    pub fn expect_eof(&mut self) -> bool {
        let mut chunk = [0u8; 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return self.buf.is_empty(),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => return false,
            }
        }
    }

    /// Closes with RST instead of FIN.
    pub fn reset(self) {
        self.stream.reset();
    }

    /// Half-closes: no more bytes from us, but we can still read.
    pub fn finish_sending(&mut self) {
        self.stream.finish_sending();
    }
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
