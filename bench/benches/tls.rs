//! TLS: tether (feature `tls`) against hyper 1.x + tokio-rustls, both with
//! the same `rustls::ServerConfig` (same certificate, an ECDSA P-256 key
//! from rcgen, same cipher suites, ring as the provider).
//!
//! ```text
//! cargo bench -p tether-bench --bench tls                      # all three, 5 rounds
//! cargo bench -p tether-bench --bench tls -- keep-alive 5      # one mode, N rounds
//! cargo bench -p tether-bench --bench tls -- handshakes 5
//! cargo bench -p tether-bench --bench tls -- idle 2000         # N idle connections
//! ```
//!
//! - **keep-alive:** 16 client connections, each sending `GET /hello` and
//!   reading the reply in a loop; server CPU per request.
//! - **handshakes:** 8 clients each opening a connection per request (full
//!   handshake, no resumption, `Connection: close`); handshakes per second
//!   and server CPU per handshake. The clients skip certificate checks to
//!   cost less than the server, but one client core still cannot saturate
//!   the server's: handshakes per second says how fast each server turns
//!   a handshake round, CPU per handshake what its capacity would be.
//! - **idle:** N connections, one request each, left open; the server's
//!   resident memory per connection. Each server runs alone in a child
//!   process for this, so nothing else's memory is counted.
//!
//! Servers run pinned to core 0, the clients to core 1. Each round runs
//! both servers, interleaved; figures are medians. Server CPU is the sum of
//! its threads' CPU time (schedstat).

#[path = "common/mod.rs"]
mod common;

use std::convert::Infallible;
use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, StreamOwned};

const BODY: &str = "Hello, World!";
const KEEP_ALIVE_CLIENTS: usize = 16;
const HANDSHAKE_CLIENTS: usize = 8;
const WARMUP: Duration = Duration::from_millis(500);
const WINDOW: Duration = Duration::from_secs(3);

/// The certificate both servers serve, and a client that trusts it.
struct Pki {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    /// The certificate, for a client in another process.
    der: Vec<u8>,
}

fn pki() -> Pki {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let der = CertificateDer::from(made.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));
    let mut server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .unwrap();
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Pki {
        server: Arc::new(server),
        client: client_trusting(der.to_vec()),
        der: der.to_vec(),
    }
}

/// The handshake client's verifier: it checks nothing, so that the client
/// core spends less per handshake than the server's and the server's
/// capacity is what is measured. (A load generator only; never in a real
/// client.)
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client for the handshake mode: no verification, no resumption.
fn unverified_client() -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut client = ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
        .with_no_client_auth();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    client.resumption = rustls::client::Resumption::disabled();
    Arc::new(client)
}

fn client_trusting(der: Vec<u8>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(der)).unwrap();
    let mut client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Every connection a full handshake.
    client.resumption = rustls::client::Resumption::disabled();
    Arc::new(client)
}

/// A running server: its address, its threads' name prefix, how to stop it.
struct Running {
    addr: SocketAddr,
    threads: &'static str,
    stop: Box<dyn FnOnce()>,
}

fn tether(config: Arc<ServerConfig>) -> Running {
    let server = tether::Server::builder()
        .config(tether::Config::default().max_connections(20_000))
        .tls(config)
        .handler(|_: &tether::Request| tether::Action::Respond(tether::Response::text(200, BODY)))
        .bind("127.0.0.1:0")
        .unwrap();
    Running {
        addr: server.local_addr(),
        threads: "tether-",
        stop: Box::new(move || server.shutdown()),
    }
}

/// hyper 1.x on a tokio current_thread runtime, each connection a task
/// accepting with tokio-rustls: the pattern a hyper user would pick.
fn hyper(config: Arc<ServerConfig>) -> Running {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::service::service_fn;

    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let server = common::tokio_server::start("hyper-rt", None, move |stream| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let service = service_fn(|_req| async {
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                    BODY.as_bytes(),
                ))))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
        }
    });
    Running {
        addr: server.addr,
        threads: "hyper-rt",
        stop: Box::new(move || server.stop()),
    }
}

type Start = fn(Arc<ServerConfig>) -> Running;
const SERVERS: [(&str, Start); 2] = [("tether", tether), ("hyper + tokio-rustls", hyper)];

fn pin(core: usize) {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    if let Some(id) = cores.get(core % cores.len().max(1)) {
        core_affinity::set_for_current(*id);
    }
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

fn connect(addr: SocketAddr, client: &Arc<ClientConfig>) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let name = ServerName::try_from("localhost").unwrap();
    let session = ClientConnection::new(Arc::clone(client), name).map_err(std::io::Error::other)?;
    Ok(StreamOwned::new(session, tcp))
}

/// Sends `request` and reads one response (its head, then as many body
/// bytes as Content-Length says); `buf` keeps any bytes read past it.
fn exchange(tls: &mut Tls, request: &[u8], buf: &mut Vec<u8>) -> std::io::Result<()> {
    tls.write_all(request)?;
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                buf.drain(..end + 4 + length);
                return Ok(());
            }
        }
        let n = tls.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

const KEEP_ALIVE: &[u8] = b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
const CLOSE: &[u8] = b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/// `clients` threads on core 1 running `each` until `stop`.
fn load(clients: usize, stop: &AtomicBool, each: impl Fn() + Sync) {
    std::thread::scope(|scope| {
        for _ in 0..clients {
            scope.spawn(|| {
                pin(1);
                while !stop.load(Ordering::Relaxed) {
                    each();
                }
            });
        }
    });
}

#[derive(Clone, Copy)]
struct Figures {
    per_second: f64,
    cpu_us: f64,
}

/// Runs `each` from `clients` threads for the warm-up and then the window,
/// measuring the server's CPU over the window.
fn measure(server: &Running, clients: usize, each: impl Fn(&AtomicU64) + Sync) -> Figures {
    let count = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let mut figures = Figures {
        per_second: 0.0,
        cpu_us: 0.0,
    };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(WARMUP);
            let threads = common::threads(server.threads);
            let cpu_before = common::cpu(&threads);
            let before = count.load(Ordering::Relaxed);
            let started = Instant::now();
            std::thread::sleep(WINDOW);
            let done = count.load(Ordering::Relaxed) - before;
            let cpu = common::cpu(&threads) - cpu_before;
            let elapsed = started.elapsed();
            stop.store(true, Ordering::Relaxed);
            let n = done.max(1) as f64;
            figures = Figures {
                per_second: n / elapsed.as_secs_f64(),
                cpu_us: cpu.as_secs_f64() * 1e6 / n,
            };
        });
        load(clients, &stop, || each(&count));
    });
    figures
}

fn keep_alive_round(pki: &Pki, start: Start) -> Figures {
    pin(0);
    let server = start(Arc::clone(&pki.server));
    let figures = measure(&server, KEEP_ALIVE_CLIENTS, |count| {
        // One connection per client thread, kept for the whole run.
        thread_local! {
            static CONN: std::cell::RefCell<Option<(Tls, Vec<u8>)>> = const { std::cell::RefCell::new(None) };
        }
        CONN.with(|conn| {
            let mut conn = conn.borrow_mut();
            if conn.is_none() {
                *conn = Some((connect(server.addr, &pki.client).unwrap(), Vec::new()));
            }
            let (tls, buf) = conn.as_mut().unwrap();
            exchange(tls, KEEP_ALIVE, buf).expect("a keep-alive reply");
            count.fetch_add(1, Ordering::Relaxed);
        });
    });
    (server.stop)();
    figures
}

fn handshake_round(pki: &Pki, start: Start) -> Figures {
    pin(0);
    let server = start(Arc::clone(&pki.server));
    let client = unverified_client();
    let figures = measure(&server, HANDSHAKE_CLIENTS, |count| {
        let mut tls = connect(server.addr, &client).unwrap();
        let mut buf = Vec::new();
        exchange(&mut tls, CLOSE, &mut buf).expect("a reply");
        tls.conn.send_close_notify();
        let _ = tls.flush();
        count.fetch_add(1, Ordering::Relaxed);
    });
    (server.stop)();
    figures
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn compare(name: &str, rounds: usize, unit: &str, round: fn(&Pki, Start) -> Figures) {
    let pki = pki();
    let mut results = vec![Vec::new(); SERVERS.len()];
    for _ in 0..rounds {
        for (i, (_, start)) in SERVERS.iter().enumerate() {
            results[i].push(round(&pki, *start));
        }
    }
    let medians: Vec<Figures> = results
        .iter()
        .map(|r| Figures {
            per_second: median(r.iter().map(|f| f.per_second).collect()),
            cpu_us: median(r.iter().map(|f| f.cpu_us).collect()),
        })
        .collect();
    let peer = medians[1];
    println!("\n## {name} ({rounds} rounds, medians)");
    println!("| server | {unit}/s | server CPU µs/{unit} | {unit}/s vs hyper + tokio-rustls | CPU vs hyper + tokio-rustls |");
    println!("|---|---|---|---|---|");
    for ((label, _), f) in SERVERS.iter().zip(&medians) {
        println!(
            "| {label} | {:.0} | {:.1} | {:.2} | {:.2} |",
            f.per_second,
            f.cpu_us,
            f.per_second / peer.per_second,
            f.cpu_us / peer.cpu_us
        );
    }
}

/// Child process: serves with `which` alone, prints its address, then its
/// resident memory each time a line arrives on stdin.
fn serve_alone(which: &str) {
    let pki = pki();
    let start = SERVERS
        .iter()
        .find(|(label, _)| label.starts_with(which))
        .unwrap()
        .1;
    let server = start(Arc::clone(&pki.server));
    println!("{}", server.addr);
    let hex: String = pki.der.iter().map(|b| format!("{b:02x}")).collect();
    println!("{hex}");
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
        println!("{}", common::rss_kib());
    }
    (server.stop)();
}

/// Resident memory per idle TLS connection, each server in a process of
/// its own.
fn idle(n: usize) {
    println!("\n## {n} idle TLS keep-alive connections (one request each), server RSS");
    let mut rows = Vec::new();
    for (label, _) in SERVERS {
        let which = label.split(' ').next().unwrap();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["serve-alone", which])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let addr: SocketAddr = lines.next().unwrap().unwrap().parse().unwrap();
        let hex = lines.next().unwrap().unwrap();
        let der = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let client = client_trusting(der);
        let mut rss = || {
            writeln!(stdin).unwrap();
            lines.next().unwrap().unwrap().parse::<u64>().unwrap()
        };
        // A few connections first, so one-time set-up is not counted.
        for _ in 0..16 {
            let mut tls = connect(addr, &client).unwrap();
            exchange(&mut tls, CLOSE, &mut Vec::new()).unwrap();
        }
        std::thread::sleep(Duration::from_millis(200));
        let before = rss();
        let mut held = Vec::with_capacity(n);
        for _ in 0..n {
            let mut tls = connect(addr, &client).unwrap();
            exchange(&mut tls, KEEP_ALIVE, &mut Vec::new()).unwrap();
            held.push(tls);
        }
        std::thread::sleep(Duration::from_millis(500));
        let with = rss();
        let each = with.saturating_sub(before) as f64 / n as f64;
        rows.push((label, before, with, each));
        drop(held);
        drop(stdin);
        let _ = child.wait();
    }
    let peer = rows[1].3;
    println!(
        "| server | KiB before | KiB with them | KiB per connection | vs hyper + tokio-rustls |"
    );
    println!("|---|---|---|---|---|");
    for (label, before, with, each) in rows {
        println!(
            "| {label} | {before} | {with} | {each:.1} | {:.2} |",
            each / peer
        );
    }
}

fn main() {
    let args = common::args();
    let number = |default: usize| args.get(1).and_then(|a| a.parse().ok()).unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("serve-alone") => serve_alone(&args[1]),
        Some("keep-alive") => compare(
            "keep-alive requests over TLS",
            number(5),
            "req",
            keep_alive_round,
        ),
        Some("handshakes") => compare(
            "full handshakes, a connection per request",
            number(5),
            "handshake",
            handshake_round,
        ),
        Some("idle") => idle(number(2000)),
        _ => {
            compare("keep-alive requests over TLS", 5, "req", keep_alive_round);
            compare(
                "full handshakes, a connection per request",
                5,
                "handshake",
                handshake_round,
            );
            idle(2000);
        }
    }
}
