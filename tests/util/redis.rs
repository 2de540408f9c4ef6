//! A `redis-server` of the test's own: loopback, a free port, nothing
//! written to disk. Where `redis-server` is not installed, `start` prints
//! `SKIPPED …` with the reason and returns `None` (`.ci/run` installs it).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::wait_for;

/// A key name (a feed's, a queue's) no other test in this run uses.
#[allow(dead_code)]
pub fn fresh_name() -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("test-{}-{n}", std::process::id())
}

pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    /// With persistence: the directory its append-only file lives in.
    dir: Option<std::path::PathBuf>,
}

impl RedisServer {
    pub fn start(test: &str) -> Option<RedisServer> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            println!(
                "SKIPPED {test}: redis-server is not installed (apt-get install redis-server)"
            );
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = RedisServer {
            child: None,
            port,
            dir: None,
        };
        server.run();
        Some(server)
    }

    /// [`start`](Self::start) with every write in an append-only file
    /// synced before Redis answers (`appendfsync always`): killed and
    /// started again ([`restart`](Self::restart)), it has lost nothing.
    #[allow(dead_code)]
    pub fn start_persistent(test: &str) -> Option<RedisServer> {
        let mut server = Self::start(test)?;
        server.stop();
        let dir = std::env::temp_dir().join(format!(
            "tether-redis-{}-{}",
            std::process::id(),
            server.port
        ));
        std::fs::create_dir_all(&dir).unwrap();
        server.dir = Some(dir);
        server.run();
        Some(server)
    }

    /// Kills the server and starts it again on its port: empty, or with
    /// its data when it was started persistent.
    #[allow(dead_code)]
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server on its port, empty, and waits until it answers.
    fn run(&mut self) {
        let mut command = Command::new("redis-server");
        command.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"]);
        match &self.dir {
            None => command.args(["--save", "", "--appendonly", "no"]),
            Some(dir) => command
                .args([
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                ])
                .arg("--dir")
                .arg(dir),
        };
        let child = command
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        wait_for("redis-server to answer", || self.answers());
    }

    fn answers(&self) -> bool {
        let Ok(mut conn) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0u8; 7];
        conn.write_all(b"PING\r\n").is_ok()
            && conn.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    /// Kills the server (its data goes with it).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops it and starts it again, empty, on the same port.
    pub fn restart_empty(&mut self) {
        assert!(
            self.dir.is_none(),
            "a persistent server restarts with its data"
        );
        self.restart();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
