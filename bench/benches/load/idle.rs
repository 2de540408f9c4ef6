//! Idle keep-alive connections held open by a child process (so they do
//! not count against this process's descriptors or memory).

use std::io::BufRead;

/// Holds `n` idle keep-alive connections to `addr` open (a child process)
/// until dropped.
pub struct IdleClients(Option<std::process::Child>);

impl IdleClients {
    pub fn open(addr: std::net::SocketAddr, n: usize) -> IdleClients {
        if n == 0 {
            return IdleClients(None);
        }
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["idle-clients", &addr.to_string(), &n.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        IdleClients(Some(child))
    }
}

impl Drop for IdleClients {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

/// Child process: `n` keep-alive connections, one request each, then idle
/// until stdin closes.
pub fn idle_clients(addr: std::net::SocketAddr, n: usize) {
    use std::io::{Read, Write};
    let mut streams = Vec::with_capacity(n);
    let mut buf = [0u8; 1024];
    let mut failed = 0;
    for _ in 0..n {
        let opened = std::net::TcpStream::connect(addr).and_then(|mut stream| {
            stream.write_all(b"GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n")?;
            // The reply fits one read; its length does not matter.
            let _ = stream.read(&mut buf)?;
            Ok(stream)
        });
        match opened {
            Ok(stream) => streams.push(stream),
            Err(_) => failed += 1,
        }
    }
    if failed > 0 {
        eprintln!("idle clients: {failed} of {n} failed to open");
    }
    println!("ready");
    let _ = std::io::stdin().lock().lines().next();
}
