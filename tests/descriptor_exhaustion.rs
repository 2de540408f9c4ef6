//! Running out of descriptors (EMFILE) on accept neither busy-loops the
//! reactor nor stops the server. Alone in its binary: it exhausts this
//! process's descriptors on purpose.

mod util;

use std::fs::File;
use std::io::Read;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use tether::Config;
use util::*;

/// CPU time (user + system) this process has used, in clock ticks, read
/// through a descriptor opened in advance (none are left to open later).
fn cpu_ticks(proc_stat: &File) -> u64 {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 1024];
    let n = proc_stat.read_at(&mut buf, 0).unwrap();
    let stat = String::from_utf8_lossy(&buf[..n]).into_owned();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn accept_pauses_on_emfile_and_recovers() {
    let mut config = Config::default();
    config.accept_backoff = Duration::from_millis(100);
    let server = serve(config, hello);
    let addr: SocketAddr = server.local_addr();

    // Client sockets made while descriptors remain; connected later.
    let clients: Vec<Socket> = (0..5)
        .map(|_| Socket::new(Domain::IPV4, Type::STREAM, None).unwrap())
        .collect();
    let proc_stat = File::open("/proc/self/stat").unwrap();
    let mut hoard = Vec::new();
    while let Ok(file) = File::open("/dev/null") {
        hoard.push(file);
        assert!(hoard.len() < 1_000_000, "no descriptor limit?");
    }

    let before = cpu_ticks(&proc_stat);
    let started = Instant::now();
    for client in &clients {
        client.connect(&addr.into()).unwrap();
    }
    wait_for("accept to pause", || server.stats().accept_paused >= 2);
    std::thread::sleep(Duration::from_millis(500).saturating_sub(started.elapsed()));
    let spent = cpu_ticks(&proc_stat) - before;
    let elapsed_ticks = started.elapsed().as_millis() as u64 / 10;
    assert!(
        spent * 2 < elapsed_ticks.max(10),
        "the reactor spun: {spent} CPU ticks in {elapsed_ticks} ticks of wall time"
    );

    // Shed clients were closed, not left hanging.
    let mut first: std::net::TcpStream = clients.into_iter().next().unwrap().into();
    first.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut sink = Vec::new();
    let _ = first.read_to_end(&mut sink);
    assert!(sink.is_empty());

    drop(hoard);
    let mut client = Client::connect(addr);
    assert_eq!(
        client.get("/").text(),
        "Hello, World!",
        "the server recovered"
    );
}
