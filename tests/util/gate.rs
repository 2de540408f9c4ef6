//! Ordering without sleeping: a worker waits at a [`Gate`] the test opens
//! once it has polled for the state the worker must act in, and the
//! kernel's view of the server's sockets (from `ss`, iproute2) is a state
//! a test can poll for.

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use super::PATIENCE;

/// Permits a worker waits for. Cheap to clone; every clone is the gate.
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<usize>, Condvar)>);

impl Gate {
    /// Lets `n` more waits through.
    pub fn pass(&self, n: usize) {
        let (permits, opened) = &*self.0;
        let mut permits = permits.lock().unwrap();
        *permits = permits.saturating_add(n);
        opened.notify_all();
    }

    /// Lets every wait through, from now on.
    pub fn open(&self) {
        self.pass(usize::MAX);
    }

    /// Waits for a permit and takes it; panics after [`PATIENCE`].
    #[track_caller]
    pub fn wait(&self) {
        let (permits, opened) = &*self.0;
        let deadline = Instant::now() + PATIENCE;
        let mut permits = permits.lock().unwrap();
        while *permits == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the gate was never opened");
            permits = opened.wait_timeout(permits, left).unwrap().0;
        }
        if *permits != usize::MAX {
            *permits -= 1;
        }
    }
}

/// One line per server-side socket on `addr`'s port: (state, Recv-Q,
/// Send-Q), as the kernel reports them.
pub fn server_sockets(addr: SocketAddr) -> Vec<(String, u64, u64)> {
    let filter = format!("( sport = :{} )", addr.port());
    let out = std::process::Command::new("ss")
        .args(["-tanH", &filter])
        .output()
        .expect("ss (iproute2) runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let state = fields.next()?.to_string();
            let recv_q = fields.next()?.parse().ok()?;
            let send_q = fields.next()?.parse().ok()?;
            (state != "LISTEN").then_some((state, recv_q, send_q))
        })
        .collect()
}

/// The kernel holds a client's FIN on a server socket (`CLOSE-WAIT`).
pub fn fin_arrived(addr: SocketAddr) -> bool {
    server_sockets(addr)
        .iter()
        .any(|(state, _, _)| state == "CLOSE-WAIT")
}

/// Bytes the clients sent that the server has not read yet.
pub fn unread_bytes(addr: SocketAddr) -> u64 {
    server_sockets(addr)
        .iter()
        .map(|(_, unread, _)| unread)
        .sum()
}

/// Bytes the server wrote that its clients have not acknowledged yet.
pub fn unacked_bytes(addr: SocketAddr) -> u64 {
    server_sockets(addr)
        .iter()
        .map(|(_, _, unacked)| unacked)
        .sum()
}
