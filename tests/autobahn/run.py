#!/usr/bin/env python3
"""Runs Autobahn|Testsuite's fuzzing client (cases 1-10: everything but
compression) against the demo's /ws echo endpoint.

Usage: run.py (--wstest WSTEST | --kosoku KOSOKU) DEMO_BINARY REPORT_DIR [--wss]

With --wss, the same cases run over TLS against wss:// on a demo built with
`--features tls`, serving a certificate it makes at start
(`--tls-self-signed`); the fuzzing client does not check certificates.

`wstest` is Autobahn|Testsuite itself (Python 2.7); `kosoku` runs the same
case files on Python 3, for machines without Python 2.7.

Fails when any case's behaviour is not OK, NON-STRICT or INFORMATIONAL, or
its close behaviour is not OK or INFORMATIONAL. Prints a summary line
"autobahn: N passed, M failed".
"""

import collections
import json
import os
import signal
import subprocess
import sys

ACCEPTED = {"OK", "NON-STRICT", "INFORMATIONAL"}
# Cases 1-10 (Autobahn has no group 8; 12 and 13 are compression).
GROUPS = [1, 2, 3, 4, 5, 6, 7, 9, 10]
ACCEPTED_CLOSE = {"OK", "INFORMATIONAL"}


def main():
    runner, tool, demo, report_dir = sys.argv[1:5]
    wss = sys.argv[5:] == ["--wss"]
    tool, demo, report_dir = (os.path.abspath(p) for p in (tool, demo, report_dir))
    os.makedirs(report_dir, exist_ok=True)
    # Cases 9.1-9.2 echo messages of up to 16 MiB: the demo's send budget
    # (1 MiB by default, the library's) must hold one.
    flags = ["--addr", "127.0.0.1:0", "--workers", "2",
             "--set", "ws_send_budget_bytes=17MiB"]
    if wss:
        flags += ["--tls-addr", "127.0.0.1:0", "--tls-self-signed"]
    proc = subprocess.Popen([demo] + flags, stdout=subprocess.PIPE, text=True)
    addr = proc.stdout.readline().strip().split("http://", 1)[1]
    url = f"ws://{addr}/ws"
    if wss:
        line = proc.stdout.readline().strip()
        if "https://" not in line:
            proc.kill()
            sys.exit(f"the demo does not serve TLS (built without --features tls?): {line!r}")
        url = f"wss://{line.split('https://', 1)[1]}/ws"
    outdir = os.path.join(report_dir, "reports-wss" if wss else "reports")
    config = {
        "outdir": outdir,
        "servers": [{"agent": "tether", "url": url}],
        "cases": [f"{n}.*" for n in GROUPS],
        "exclude-cases": [],
        "exclude-agent-cases": {},
    }
    spec = os.path.join(report_dir, "fuzzingclient.json")
    with open(spec, "w") as f:
        json.dump(config, f, indent=2)
    try:
        if runner == "--wstest":
            command = [tool, "-m", "fuzzingclient", "-s", spec]
        else:
            command = [tool, "-m", "fuzzingclient", "-o", outdir, url]
            command += [arg for n in GROUPS for arg in ("-i", f"{n}.*")]
        subprocess.run(command, cwd=report_dir, check=True, stdout=subprocess.DEVNULL)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

    with open(os.path.join(outdir, "index.json")) as f:
        index = json.load(f)
    # One server under test: keyed by agent (wstest) or address (kosoku).
    (results,) = index.values()
    counts = collections.Counter()
    failed = []
    for case, result in sorted(results.items(), key=lambda kv: [int(p) for p in kv[0].split(".")]):
        behavior, close = result["behavior"], result["behaviorClose"]
        counts[behavior] += 1
        if behavior not in ACCEPTED or close not in ACCEPTED_CLOSE:
            failed.append(f"{case}: {behavior} / close {close}")
    print(f"Autobahn|Testsuite fuzzingclient, cases 1-10 against the demo's {url}:")
    for behavior, n in sorted(counts.items()):
        print(f"  {behavior:<14} {n}")
    for line in failed:
        print(f"  FAILED {line}")
    print(f"autobahn{' (wss)' if wss else ''}: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
