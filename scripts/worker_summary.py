#!/usr/bin/env python3
"""Condenses the load bench's `workers` output into the tables of
docs/performance.md: per kind of work and idle setting, each server's p99
at every rate, p99.9 at 90 %, and its CPU, syscalls, allocations and
context switches per request at 50 % (syscalls are counted at capacity
only: perf's tracing slows the server, so latency is measured without it).

    cargo bench -p tether-bench --bench load -- workers > out.txt
    python3 scripts/worker_summary.py out.txt
"""
import re
import sys
from collections import OrderedDict

COLUMNS = ["req/s", "cpu", "syscalls", "allocs", "switches", "p50", "p99", "p999", "max"]


def parse(path):
    sections = OrderedDict()
    key = None
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        heading = re.match(r"## (.*?): (capacity|open loop at (\d+) %.*?, (\d+) idle connections)", line)
        if heading:
            work = heading.group(1)
            if heading.group(2) == "capacity":
                key = (work, "capacity", None)
            else:
                key = (work, int(heading.group(4)), int(heading.group(3)))
            sections.setdefault(key, OrderedDict())
            continue
        if key and line.startswith("| ") and not line.startswith("| server"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            label, values = cells[0], cells[1:]
            if values and values[0].startswith("skipped"):
                sections[key][label] = None
            elif len(values) >= len(COLUMNS):
                sections[key][label] = dict(zip(COLUMNS, values))
    return sections


def main(path):
    sections = parse(path)
    works = OrderedDict((k[0], None) for k in sections)
    for work in works:
        capacity = sections.get((work, "capacity", None), {})
        print(f"\n#### {work}: capacity (closed loop)\n")
        print("| server | req/s | CPU µs/req | syscalls/req | allocs/req | context switches/req | p99 µs |")
        print("|---|---|---|---|---|---|---|")
        for label, f in capacity.items():
            print(f"| {label} | {f['req/s']} | {f['cpu']} | {f['syscalls']} | {f['allocs']} | {f['switches']} | {f['p99']} |")
        idles = sorted({k[1] for k in sections if k[0] == work and k[1] != "capacity"})
        for idle in idles:
            loads = sorted(k[2] for k in sections if k[0] == work and k[1] == idle)
            print(f"\n#### {work}: open loop, {idle} idle connections\n")
            print("| server | " + " | ".join(f"p99 µs at {l} %" for l in loads)
                  + f" | p99.9 µs at {loads[-1]} % | at 50 %: CPU µs/req | allocs/req | context switches/req |")
            print("|---" * (len(loads) + 5) + "|")
            labels = sections[(work, idle, loads[0])].keys()
            for label in labels:
                points = [sections[(work, idle, l)].get(label) for l in loads]
                if any(p is None for p in points):
                    print(f"| {label} | skipped (descriptors) |" + " |" * (len(loads) + 3))
                    continue
                half = sections[(work, idle, 50)][label]
                p99s = " | ".join(p["p99"] for p in points)
                print(f"| {label} | {p99s} | {points[-1]['p999']} | {half['cpu']} | {half['allocs']} | {half['switches']} |")


if __name__ == "__main__":
    main(sys.argv[1])
