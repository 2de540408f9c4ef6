//! An nginx of the test's own in front of several tether processes,
//! configured with docs/nginx.conf (its upstream and port replaced), on a
//! free loopback port. Where `nginx` is not installed, `start` prints
//! `SKIPPED …` with the reason and returns `None` (`.ci/run` installs it).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::wait_for;

pub struct Nginx {
    child: Child,
    pub addr: SocketAddr,
    prefix: PathBuf,
}

const SITE: &str = include_str!("../../docs/nginx.conf");

impl Nginx {
    pub fn start(test: &str, upstreams: &[SocketAddr]) -> Option<Nginx> {
        if Command::new("nginx").arg("-v").output().is_err() {
            println!("SKIPPED {test}: nginx is not installed (apt-get install nginx)");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let servers: Vec<String> = upstreams.iter().map(|a| format!("server {a};")).collect();
        let site = SITE
            .replace("server 127.0.0.1:8080;", &servers.join("\n    "))
            .replace(
                "listen 127.0.0.1:8000;",
                &format!("listen 127.0.0.1:{port};"),
            );
        let prefix =
            std::env::temp_dir().join(format!("tether-nginx-{}-{port}", std::process::id()));
        for dir in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            std::fs::create_dir_all(prefix.join(dir)).unwrap();
        }
        let p = prefix.display();
        let user = if is_root() { "user root root;" } else { "" };
        let conf = format!(
            "{user}\nworker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n access_log off;\n client_body_temp_path {p}/client_body;\n\
             proxy_temp_path {p}/proxy;\n fastcgi_temp_path {p}/fastcgi;\n\
             uwsgi_temp_path {p}/uwsgi;\n scgi_temp_path {p}/scgi;\n include {p}/site.conf;\n}}\n"
        );
        std::fs::write(prefix.join("site.conf"), site).unwrap();
        std::fs::write(prefix.join("nginx.conf"), conf).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(prefix.join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_for("nginx to listen", || TcpStream::connect(addr).is_ok());
        Some(Nginx {
            child,
            addr,
            prefix,
        })
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // TERM, not KILL: the master stops its workers before it exits
        // (killed, it would leave them running).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.prefix);
    }
}
