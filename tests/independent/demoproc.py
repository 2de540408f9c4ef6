"""The demo binary as a child process, and a runner that reports every
check; shared by the scripts in this folder."""

import signal
import subprocess
import time


def wait_until(what, condition, patience=30):
    """Polls `condition` until it returns something true (which it
    returns), or fails after `patience` seconds."""
    deadline = time.monotonic() + patience
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def start_demo(binary, *flags):
    """Starts the demo on a free loopback port; returns (process, base URL)."""
    proc = subprocess.Popen(
        [binary, "--addr", "127.0.0.1:0", "--workers", "2", *flags],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    prefix = "listening on "
    if not line.startswith(prefix):
        proc.kill()
        raise SystemExit(f"unexpected first line from the demo: {line!r}")
    return proc, line[len(prefix):]


def run_checks(name, proc, base, checks):
    """Runs each check(base), reports each, stops the demo with SIGTERM
    (which must exit 0); returns the exit code for the script."""
    passed = failed = 0
    try:
        for check in checks:
            started = time.monotonic()
            try:
                check(base)
                passed += 1
                print(f"ok     {check.__name__} ({time.monotonic() - started:.2f}s)")
            except Exception as err:  # report every check, then fail
                failed += 1
                print(f"FAILED {check.__name__}: {err!r}")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
        if code != 0:
            failed += 1
            print(f"FAILED demo exited with {code} on SIGTERM")
    print(f"{name}: {passed} passed, {failed} failed")
    return 1 if failed else 0
