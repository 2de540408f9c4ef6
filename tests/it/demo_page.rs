//! The demo a person opens in a browser: the page at `/`, the dashboard's
//! `/stats/stream`, and the settings the command line changed, shown at
//! `/config`. (The page itself runs in headless Chromium in
//! tests/browser/, from .ci/run.)

use crate::util;

use util::demo::Demo;
use util::*;

#[test]
fn the_page_is_served_and_names_every_feed_it_uses() {
    let demo = Demo::start();
    let mut client = Client::connect(demo.addr);
    let page = client.get("/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    for feed in [
        "/mjpeg",
        "/events",
        "/ws/chat",
        "/poll",
        "/publish",
        "/stats/stream",
        "/config",
    ] {
        assert!(page.text().contains(feed), "the page does not use {feed}");
    }
    demo.terminate();
}

#[test]
fn the_dashboard_stream_sends_readings_that_count_itself() {
    let demo = Demo::start();
    let mut client = Client::connect(demo.addr);
    client.send(b"GET /stats/stream HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = client.read_reply(true);
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    // Readings keep coming; one soon shows this very stream as streaming.
    let mut readings = 0;
    'reading: loop {
        let chunk = client.read_chunk().expect("the stream goes on");
        let text = String::from_utf8(chunk.expect("not the last chunk")).expect("UTF-8");
        for data in text.lines().filter_map(|line| line.strip_prefix("data: ")) {
            readings += 1;
            let stats: serde_json::Value = serde_json::from_str(data).expect("a JSON reading");
            if stats["connections"]["streaming"] == 1 && stats["streams_active"] == 1 {
                break 'reading;
            }
            assert!(readings < 20, "never counted itself: {stats}");
        }
    }
    drop(client);
    wait_for("the dashboard's stream to end", || {
        demo.stats()["connections"]["streaming"] == 0
    });
    demo.terminate();
}

#[test]
fn flags_change_the_settings_and_the_page_shows_them() {
    let demo = Demo::start_with(&[
        "--keepalive",
        "7s,2s,4",
        "--user-timeout",
        "off",
        "--ws-ping",
        "3s,4s",
        "--idle-timeout",
        "15s",
        "--response-timeout",
        "9s",
        "--set",
        "max_body_bytes=64KiB",
    ]);
    let mut client = Client::connect(demo.addr);
    let config: serde_json::Value =
        serde_json::from_slice(&client.get("/config").body).expect("/config is JSON");
    for (name, value) in [
        ("keepalive", "7s,2s,4"),
        ("tcp_user_timeout", "off"),
        ("ws_ping_interval", "3s"),
        ("ws_pong_timeout", "4s"),
        ("idle_timeout", "15s"),
        ("response_timeout", "9s"),
        ("max_body_bytes", "65536"),
        ("workers", "2"),
    ] {
        assert_eq!(config[name], value, "{name} in {config}");
    }
    // And the server runs with them: a body over 64 KiB is refused.
    let body = vec![b'x'; 65 * 1024];
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    client.send(&[head.as_bytes(), &body].concat());
    assert_eq!(client.read_reply(false).status, 413);
    demo.terminate();
}

#[test]
fn a_bad_setting_stops_the_demo_with_a_message_saying_what_would_do() {
    let cases: [(&[&str], &str); 5] = [
        (&["--set", "idle_timout=5s"], "no such setting"),
        (&["--idle-timeout", "soon"], "a duration such as"),
        (&["--keepalive", "10s,5s"], "IDLE,INTERVAL,COUNT"),
        (&["--ws-ping", "1s"], "INTERVAL,TIMEOUT"),
        (
            &["--set", "max_head_bytes=10"],
            "max_head_bytes must be at least 64",
        ),
    ];
    for (flags, said) in cases {
        let (code, stderr) = Demo::refuse(flags);
        assert_eq!(code, Some(2), "{flags:?}: {stderr}");
        assert!(stderr.contains(said), "{flags:?}: {stderr}");
    }
}

/// Built without TLS, the demo says how to build it with TLS instead of
/// ignoring the flags.
#[cfg(not(feature = "tls"))]
#[test]
fn tls_flags_on_a_demo_built_without_tls_say_how_to_build_it() {
    let (code, stderr) = Demo::refuse(&["--tls-self-signed"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--features tls"), "{stderr}");
}
