#!/usr/bin/env python3
"""The demo page in a real browser: headless Chromium driven by Selenium
through Debian's chromedriver.

Loads `/`, checks the MJPEG image is showing new frames, the SSE ticker
advances, the dashboard counts the page's streams and socket, a WebSocket
chat message comes back, and a long-poll message arrives. Then it leaves
the page and checks through `/stats` that the server recorded every stream
and socket closed within 2 s (`streams_active` and `ws_active` back to 0).
Saves a screenshot of the page.

Usage: browser.py PATH_TO_DEMO_BINARY SCREENSHOT.png [--tls]

With --tls (a demo built with --features tls), the page is loaded over
HTTPS from the demo's --tls-addr with a certificate it made at start
(Chromium told to accept it), so its streams run over TLS and its chat
over wss://; /stats is read over plain HTTP from the same server, which
counts both.
"""

import os
import shutil
import sys
import tempfile
import time

import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from demoproc import run_checks, start_demo, wait_until

# The flags the issue asks for, plus a fresh profile (added per run) and a
# /dev/shm-free renderer for small containers.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1280,1150",
]
# Generous: the machine may be busy. The 2 s limit on noticing the page
# leave is the one figure that is the point of the test.
PATIENCE = 30
NOTICE_LIMIT = 2.0


def stats(base):
    return requests.get(base + "/stats", timeout=5).json()


class Page:
    def __init__(self, base, profile, tls=False):
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        extra = ["--ignore-certificate-errors"] if tls else []
        for flag in CHROMIUM_FLAGS + extra + [f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        # The Debian driver, matching the Debian browser: nothing downloaded.
        service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_page_load_timeout(PATIENCE)
        self.base = base

    def text(self, element_id):
        return self.driver.find_element(By.ID, element_id).text

    def number(self, element_id):
        text = self.text(element_id)
        return int(text) if text.isdigit() else None


def main():
    binary, screenshot = sys.argv[1], sys.argv[2]
    tls = sys.argv[3:] == ["--tls"]
    if tls:
        proc, base = start_demo(binary, "--tls-addr", "127.0.0.1:0", "--tls-self-signed")
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on https://"):
            proc.kill()
            raise SystemExit(f"the demo serves no HTTPS (built without --features tls?): {line!r}")
        page_base = line[len("listening on "):]
    else:
        proc, base = start_demo(binary)
        page_base = base
    profile = tempfile.mkdtemp(prefix="tether-chromium-")
    page = None

    def check_the_page_loads(base):
        nonlocal page
        page = Page(page_base, profile, tls)
        page.driver.get(page_base + "/")
        assert page.driver.title == "tether demo", page.driver.title

    def check_mjpeg_frames_arrive(base):
        frames_sent = stats(base)["frames_sent"]
        # The page counts the frames that change what the image shows.
        wait_until("3 new MJPEG frames on the page", lambda: (page.number("frames-seen") or 0) >= 3)
        # The page may have seen its 3 before the reading above: the
        # server's count is waited for too, not compared once.
        wait_until("the server to send more frames", lambda: stats(base)["frames_sent"] > frames_sent)

    def check_the_sse_ticker_advances(base):
        first = wait_until("a first tick", lambda: page.number("tick"))
        wait_until("the next tick", lambda: (page.number("tick") or 0) > first)

    def check_the_dashboard_counts_the_page(base):
        # MJPEG, the ticker and the dashboard's own feed stream; the chat
        # is a WebSocket.
        wait_until("the dashboard to count 3 streams and a socket", lambda:
                   (page.number("state-streaming") or 0) >= 3
                   and (page.number("state-websocket") or 0) >= 1)
        assert page.number("fig-active") >= 4

    def check_websocket_chat_echoes(base):
        wait_until("the chat to connect", lambda: page.text("ws-status") == "connected")
        message = f"hello from chromium {os.getpid()}"
        page.driver.find_element(By.ID, "ws-text").send_keys(message)
        page.driver.find_element(By.CSS_SELECTOR, "#ws-form button").click()
        wait_until("the chat message back", lambda: message in page.text("ws-log"))

    def check_a_long_poll_message_arrives(base):
        # The page's poller is the only one: it gets the message.
        wait_until("the page's poll to wait", lambda: stats(base)["pending_responses"] >= 1)
        page.driver.find_element(By.ID, "lp-text").send_keys("hello poller")
        page.driver.find_element(By.CSS_SELECTOR, "#lp-form button").click()
        wait_until("the polled message", lambda: "got: hello poller" in page.text("lp-log"))

    def check_leaving_the_page_is_noticed_within_2_s(base):
        # One more reading on the dashboard, for the screenshot.
        time.sleep(1.5)
        page.driver.save_screenshot(screenshot)
        before = stats(base)
        assert before["streams_active"] >= 3 and before["ws_active"] >= 1, before
        left = time.monotonic()
        page.driver.get("about:blank")
        after = wait_until("streams_active and ws_active back to 0", lambda: (
            lambda s: s if s["streams_active"] == 0 and s["ws_active"] == 0
            and s["pending_responses"] == 0 else None)(stats(base)))
        noticed = time.monotonic() - left
        print(f"       the page left: streams and sockets closed within {noticed * 1000:.0f} ms")
        assert noticed <= NOTICE_LIMIT, f"took {noticed:.2f} s"
        closed = sum(after["closed"].values()) - sum(before["closed"].values())
        assert closed >= 4, f"only {closed} closes recorded: {after['closed']}"
        for blamed_on_us in ("server_error", "write_stall", "response_timeout", "shutdown"):
            assert after["closed"][blamed_on_us] == before["closed"][blamed_on_us], blamed_on_us

    def check_closing_the_browser_leaves_nothing_open(base):
        page.driver.quit()
        wait_until("no connection left", lambda: stats(base)["active"] == 1)  # this request's
        assert all(n == 0 for n in (stats(base)["connections"][s] for s in
                                    ("awaiting_worker", "streaming", "websocket")))

    checks = (
        check_the_page_loads,
        check_mjpeg_frames_arrive,
        check_the_sse_ticker_advances,
        check_the_dashboard_counts_the_page,
        check_websocket_chat_echoes,
        check_a_long_poll_message_arrives,
        check_leaving_the_page_is_noticed_within_2_s,
        check_closing_the_browser_leaves_nothing_open,
    )
    try:
        return run_checks("browser", proc, base, checks)
    finally:
        if page is not None:
            try:
                page.driver.quit()
            except Exception:
                pass
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
