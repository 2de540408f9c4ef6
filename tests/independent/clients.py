#!/usr/bin/env python3
"""Checks the demo with clients nobody here wrote.

- HTTP: `requests`.
- SSE: `sseclient-py` parses /events.
- multipart/x-mixed-replace: the standard library's incremental MIME parser
  (`email.feedparser.BytesFeedParser`) splits /mjpeg into parts, and Pillow
  decodes every JPEG.

Usage: clients.py PATH_TO_DEMO_BINARY. Starts the demo on a free loopback
port, runs the checks, stops it with SIGTERM. Prints "N passed, M failed".
"""

import email.feedparser
import io
import sys

import requests
import sseclient
from PIL import Image

from demoproc import run_checks, start_demo


def check_hello(base):
    r = requests.get(base + "/hello", timeout=5)
    assert r.status_code == 200 and r.text == "Hello, World!", r.text


def check_events(base):
    with requests.get(base + "/events", stream=True, timeout=10) as r:
        assert r.headers["Content-Type"] == "text/event-stream"
        events = sseclient.SSEClient(r.iter_content(chunk_size=None)).events()
        for n in (1, 2):
            event = next(events)
            assert (event.event, event.id, event.data) == ("tick", str(n), str(n)), vars(event)


def check_mjpeg(base):
    with requests.get(base + "/mjpeg?fps=20", stream=True, timeout=10) as r:
        content_type = r.headers["Content-Type"]
        assert content_type.startswith("multipart/x-mixed-replace"), content_type
        parser = email.feedparser.BytesFeedParser()
        parser.feed(f"Content-Type: {content_type}\r\n\r\n".encode())
        received = 0
        for chunk in r.iter_content(chunk_size=4096):
            parser.feed(chunk)
            received += len(chunk)
            if received > 60_000:  # several 5-6 KB frames
                break
    message = parser.close()
    parts = message.get_payload()
    whole = parts[:-1]  # the last may have been cut by our leaving
    assert len(whole) >= 3, f"only {len(whole)} whole parts"
    frames = []
    for part in whole:
        assert part.get_content_type() == "image/jpeg", part.get_content_type()
        data = part.get_payload(decode=True)
        assert int(part["Content-Length"]) == len(data), "exact Content-Length"
        image = Image.open(io.BytesIO(data))
        image.load()
        assert image.format == "JPEG" and image.size == (320, 240), (image.format, image.size)
        frames.append(image.tobytes())
    assert len(set(frames)) > 1, "frames change over time"


def check_long_poll(base):
    r = requests.get(base + "/poll?timeout_ms=50", timeout=5)
    assert r.status_code == 204, r.status_code
    r = requests.post(base + "/publish", data=b"hello poller", timeout=5)
    assert r.status_code == 202, r.status_code
    r = requests.get(base + "/poll?timeout_ms=5000", timeout=10)
    assert (r.status_code, r.content) == (200, b"hello poller"), (r.status_code, r.content)


def main():
    proc, base = start_demo(sys.argv[1])
    checks = (check_hello, check_events, check_mjpeg, check_long_poll)
    return run_checks("independent", proc, base, checks)


if __name__ == "__main__":
    sys.exit(main())
