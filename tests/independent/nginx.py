#!/usr/bin/env python3
"""The demo behind a real nginx, configured with docs/nginx.conf.

Checks: requests and keep-alive through nginx (to the client and to
tether); an HTTP/1.0 request without Host; a client that leaves nginx
during `/work?ms=...` and during `/mjpeg` is seen by tether as its
upstream connection closing (nginx closes it on client abort), and the
worker stops; a WebSocket through nginx echoes, and a zombie behind nginx
(it stops reading, so never answers a ping) is reaped by tether's
heartbeat as `ping_timeout`.

Usage: nginx.py PATH_TO_DEMO_BINARY. Needs `nginx` on PATH.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests
import websocket

from demoproc import run_checks, start_demo, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
SITE = os.path.join(HERE, "..", "..", "docs", "nginx.conf")
PATIENCE = 30
# The demo's WebSocket heartbeat for this run: a ping a second, 2 s to answer.
WS_PING = "1s,2s"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(upstream, port, prefix):
    """nginx in the foreground, everything it writes under `prefix`."""
    with open(SITE) as f:
        site = f.read()
    assert "server 127.0.0.1:8080;" in site and "listen 127.0.0.1:8000;" in site
    site = site.replace("server 127.0.0.1:8080;", f"server {upstream};")
    site = site.replace("listen 127.0.0.1:8000;", f"listen 127.0.0.1:{port};")
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(prefix, sub), exist_ok=True)
    user = "user root root;" if os.geteuid() == 0 else ""
    conf = f"""
{user}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/site.conf;
}}
"""
    with open(os.path.join(prefix, "site.conf"), "w") as f:
        f.write(site)
    with open(os.path.join(prefix, "nginx.conf"), "w") as f:
        f.write(conf)
    proc = subprocess.Popen(
        ["nginx", "-p", prefix, "-c", os.path.join(prefix, "nginx.conf"), "-g", "daemon off;"],
        stderr=subprocess.PIPE,
        text=True,
    )

    def listening():
        if proc.poll() is not None:
            raise SystemExit(f"nginx exited: {proc.stderr.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    wait_until("nginx to listen", listening)
    return proc


def main():
    binary = sys.argv[1]
    if not shutil.which("nginx"):
        raise SystemExit("nginx is not installed (apt-get install nginx)")
    # Every connection comes from nginx's address: per-client shares of the
    # memory budget belong at the proxy (docs/deployment.md).
    proc, direct = start_demo(
        binary, "--ws-ping", WS_PING, "--set", "memory_share_per_client=off"
    )
    upstream = direct.removeprefix("http://")
    port = free_port()
    prefix = tempfile.mkdtemp(prefix="tether-nginx-")
    nginx = start_nginx(upstream, port, prefix)
    proxied = f"http://127.0.0.1:{port}"

    def stats():
        return requests.get(direct + "/stats", timeout=5).json()

    def raw_client(request):
        """A client of nginx that sent `request` and reads nothing yet."""
        s = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE)
        s.sendall(request)
        return s

    def check_requests_and_keep_alive(base):
        before = stats()["accepted"]
        with requests.Session() as session:
            for n in range(20):
                r = session.get(proxied + "/hello", timeout=10)
                assert (r.status_code, r.text) == (200, "Hello, World!"), (n, r.status_code, r.text)
            r = session.post(proxied + "/echo", data=b"through nginx", timeout=10)
            assert r.content == b"through nginx", r.content
        # 21 proxied requests reached tether over nginx's kept-alive
        # upstream connections; the 2 /stats readings came directly.
        opened = stats()["accepted"] - before - 1
        assert opened <= 3, f"nginx opened {opened} upstream connections for 21 requests"

    def check_http_1_0_without_host(base):
        with raw_client(b"GET /hello HTTP/1.0\r\n\r\n") as s:
            reply = b""
            while chunk := s.recv(4096):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"Hello, World!"), reply

    def check_a_client_leaving_during_work(base):
        before = stats()
        s = raw_client(b"GET /work?ms=60000 HTTP/1.1\r\nHost: t\r\n\r\n")
        wait_until("the worker to hold the request", lambda: stats()["pending_responses"] == 1)
        left = time.monotonic()
        s.close()
        wait_until("the worker to stop (abandoned)",
                   lambda: stats()["abandoned"] == before["abandoned"] + 1)
        print(f"       /work: the worker stopped {(time.monotonic() - left) * 1000:.0f} ms"
              " after the client left nginx")
        after = stats()
        assert after["closed"]["peer_closed"] > before["closed"]["peer_closed"], after["closed"]

    def check_a_client_leaving_during_mjpeg(base):
        before = stats()
        s = raw_client(b"GET /mjpeg?fps=20 HTTP/1.1\r\nHost: t\r\n\r\n")
        head = s.recv(4096)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"multipart/x-mixed-replace" in head, head
        wait_until("the stream to count", lambda: stats()["streams_active"] == 1)
        for _ in range(3):
            assert s.recv(65536), "frames keep coming"
        left = time.monotonic()
        s.close()
        wait_until("tether to see the stream's upstream connection close",
                   lambda: stats()["streams_active"] == 0)
        print(f"       /mjpeg: the stream ended {(time.monotonic() - left) * 1000:.0f} ms"
              " after the client left nginx")
        after = stats()
        assert after["closed"]["peer_closed"] > before["closed"]["peer_closed"], after["closed"]

    def check_a_streamed_upload_through_nginx(base):
        # 8 MiB, chunked as it is produced: nginx must pass it on (no
        # client_max_body_size refusal), and tether reads it as it comes.
        size = 8 * 1024 * 1024
        def body():
            sent = 0
            while sent < size:
                step = min(256 * 1024, size - sent)
                sent += step
                yield b"u" * step
        r = requests.post(proxied + "/upload", data=body(), timeout=60)
        assert r.status_code == 200, (r.status_code, r.text[:200])
        assert r.text == f"received {size} bytes\n", r.text

    def check_websocket_through_nginx(base):
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws", timeout=10)
        try:
            for text in ("hello", "through nginx"):
                ws.send(text)
                assert ws.recv() == text
        finally:
            ws.close()

    def check_a_zombie_behind_nginx_is_reaped(base):
        before = stats()
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        s = raw_client(
            b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = s.recv(4096)
        assert head.startswith(b"HTTP/1.1 101"), head
        wait_until("the socket to count", lambda: stats()["ws_active"] >= 1)
        # From here it reads nothing and answers no ping: a zombie. nginx
        # keeps its connection to tether open; only tether's heartbeat can
        # find out.
        opened = time.monotonic()
        wait_until("the zombie reaped by ping_timeout",
                   lambda: stats()["closed"]["ping_timeout"] == before["closed"]["ping_timeout"] + 1)
        print(f"       zombie reaped {time.monotonic() - opened:.1f} s after it went quiet"
              f" (--ws-ping {WS_PING})")
        assert stats()["ws_active"] == 0
        s.close()

    checks = (
        check_requests_and_keep_alive,
        check_http_1_0_without_host,
        check_a_client_leaving_during_work,
        check_a_client_leaving_during_mjpeg,
        check_a_streamed_upload_through_nginx,
        check_websocket_through_nginx,
        check_a_zombie_behind_nginx_is_reaped,
    )
    try:
        return run_checks("nginx", proc, proxied, checks)
    finally:
        nginx.send_signal(signal.SIGTERM)
        try:
            nginx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            nginx.kill()
        shutil.rmtree(prefix, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
