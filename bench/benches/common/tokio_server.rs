//! A tokio current_thread runtime on a thread of its own, serving each
//! accepted connection in a task: how hyper users run hyper, and the shape
//! every hyper peer in the benches shares.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::Notify;

/// A running runtime: where it listens, and how to stop it.
#[derive(Debug)]
pub struct TokioServer {
    pub addr: SocketAddr,
    stop: Arc<Notify>,
    thread: JoinHandle<()>,
}

impl TokioServer {
    /// Stops accepting and waits for the runtime's thread.
    pub fn stop(self) {
        self.stop.notify_one();
        let _ = self.thread.join();
    }
}

/// Binds 127.0.0.1:0 and runs `serve` as a task for each connection (with
/// TCP_NODELAY) on a current_thread runtime on a thread named `name`.
/// `blocking` sizes and names the `spawn_blocking` pool.
pub fn start<F, Fut>(name: &str, blocking: Option<(usize, &'static str)>, serve: F) -> TokioServer
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(Notify::new());
    let stopped = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let mut builder = tokio::runtime::Builder::new_current_thread();
            builder.enable_io();
            if let Some((threads, name)) = blocking {
                builder.max_blocking_threads(threads).thread_name(name);
            }
            let rt = builder.build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let (stream, _) = tokio::select! {
                        accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
                        _ = stopped.notified() => return,
                    };
                    let _ = stream.set_nodelay(true);
                    tokio::task::spawn(serve(stream));
                }
            });
        })
        .unwrap();
    TokioServer { addr, stop, thread }
}
