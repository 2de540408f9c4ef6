#!/usr/bin/env python3
"""Counts the file crossings in a trace from gdb_trace.py.

A crossing is a call from a function in one file of the crate to a
function in another (std and dependencies are looked through: a closure
called by std counts from the crate frame below it). Prints two figures:

- the whole step: every call into another file, flag tests, buffers and
  counters included;
- the departure's chain: only the calls that carry the news, from the
  readiness event down to the transport's read that returns the FIN, to
  the transition to `Closed`, and to the exchange's close that wakes the
  worker. The reactor's call
  into `on_event` is added by hand (the trace starts inside it).

    python3 count.py TRACE
"""
import sys
from collections import Counter


def main(path):
    rows = []
    for line in open(path):
        depth, file, name = line.rstrip("\n").split("\t", 2)
        rows.append((int(depth), file, name))
    stack, calls, files, chain = {}, Counter(), set(), set()
    previous = -1
    for depth, file, name in rows:
        crate = file.startswith("src/")
        if depth > previous and depth > 0 and crate:
            caller = next(
                (stack[k] for k in range(depth - 1, -1, -1) if k in stack and stack[k][0].startswith("src/")),
                None,
            )
            if caller and caller[0] != file:
                calls[(caller[0], file)] += 1
        stack[depth] = (file, name)
        for k in [k for k in stack if k > depth]:
            del stack[k]
        if crate:
            files.add(file)
        previous = depth
        # The chain ends at the transport's read and at the exchange's close.
        is_read = name.endswith("::read") and ("tests/mod.rs" in file or "socket.rs" in file)
        is_wake = file.endswith("handle/exchange_shared.rs") and name.endswith("ExchangeShared::close")
        is_closed = file.endswith("conn/state.rs") and "enter_closed" in name
        if is_read or is_wake or is_closed:
            frames = [stack[k] for k in sorted(stack) if stack[k][0].startswith("src/")]
            for a, b in zip(frames, frames[1:]):
                if a[0] != b[0]:
                    chain.add((a[0], b[0]))
    print(f"whole step: {sum(calls.values())} crossings through {len(files)} files")
    for (a, b), n in sorted(calls.items(), key=lambda kv: -kv[1]):
        print(f"  {n:3d}  {a} -> {b}")
    chain_files = {"src/reactor.rs"} | {f for edge in chain for f in edge}
    reactor_side = {f for f in chain_files if not f.startswith("src/handle/")}
    print(
        f"departure chain: {len(chain) + 1} crossings through {len(chain_files)} files, "
        f"{len(reactor_side)} of them on the reactor side (the last crossing hands the news to the worker's handle)"
    )
    print("    1  src/reactor.rs -> src/conn/mod.rs")
    for a, b in sorted(chain):
        print(f"    1  {a} -> {b}")


if __name__ == "__main__":
    main(sys.argv[1])
