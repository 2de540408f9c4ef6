#!/usr/bin/env python3
"""Checks that the files in `src/conn/` call each other only downwards.

Every file in `conn/` implements part of one `Connection`, so an import
graph cannot see who calls whom: a call is `self.name(` in one file to a
method `fn name` defined in another. ORDER lists the files bottom to top;
a call to a file higher in the list (or to the same level's neighbour) is
an upward call. Prints every cross-file call edge with its count and exits
1 on an upward one.

    python3 scripts/conn_calls.py [--edges]
"""
import os
import re
import sys

CONN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "conn")

# Transports: their methods are the socket's, not the connection's.
TRANSPORTS = {"transport", "socket", "tls"}

# Bottom to top; files on one line share a level and must not call each other.
ORDER = [
    ["transport", "flags", "rate", "cx", "socket", "tls"],
    ["state"],
    ["close"],
    ["io"],
    ["respond"],
    ["upload", "stream", "ws"],
    ["h1", "lifecycle"],
    ["mod"],
]


# Files that report what happened and never decide how a connection ends.
REPORTS_ONLY = {"io": {"close", "reset", "peer_finished"}}


def strip(text):
    text = re.sub(r"//[^\n]*", "", text)
    match = re.search(r"#\[cfg\(test\)\]\s*mod \w+\s*\{", text)
    return text if match is None else text[: match.start()]


def main():
    level = {name: i for i, names in enumerate(ORDER) for name in names}
    files = {}
    for name in sorted(os.listdir(CONN)):
        if name.endswith(".rs"):
            with open(os.path.join(CONN, name)) as f:
                files[name[:-3]] = strip(f.read())
    unknown = sorted(set(files) - set(level))
    if unknown:
        print(f"conn/ files missing from ORDER: {unknown}")
        return 1
    defined = {}
    for name, text in files.items():
        if name in TRANSPORTS:
            continue
        for fn in re.findall(r"\bfn (\w+)", text):
            defined.setdefault(fn, set()).add(name)
    edges = {}
    for name, text in files.items():
        for fn in re.findall(r"\bself\.(\w+)\(", text):
            owners = defined.get(fn, set())
            if name in owners or not owners:
                continue
            for owner in owners:
                edges[(name, owner)] = edges.get((name, owner), 0) + 1
    upward = 0
    for (caller, callee), count in sorted(edges.items()):
        bad = level[callee] >= level[caller]
        upward += count if bad else 0
        if bad or "--edges" in sys.argv:
            mark = "UPWARD " if bad else ""
            print(f"{mark}{caller}.rs -> {callee}.rs: {count}")
    for name, banned in REPORTS_ONLY.items():
        for fn in sorted(set(re.findall(r"\bself\.(\w+)\(", files[name])) & banned):
            print(f"DECIDES {name}.rs calls {fn}: it should report, and its caller decide")
            upward += 1
    total = sum(edges.values())
    print(f"{total} cross-file calls in conn/, {upward} upward or sideways")
    return 1 if upward else 0


if __name__ == "__main__":
    sys.exit(main())
