#!/usr/bin/env python3
"""Checks that the crate's source files import each other in no cycle and
that no source file is over the size limit.

An edge A -> B means a `use` (or an inline `crate::`/`super::` path) in file A
names an item defined in file B. Paths through lib.rs's or a folder's
re-exports are followed to the file that defines the item, so a re-export
does not hide a cycle. Prints the layers (a topological order) and exits 1
on a cycle or an oversized file.

    python3 scripts/module_graph.py [--max-lines 700] [--dot]
"""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
MAX_LINES = 700
MODULES = set()


def module_of(path):
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib"):
        rel = rel[:-1]
    return tuple(rel)


def strip_comments(text):
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def strip_tests(text):
    # Unit tests may reach anywhere; they are not part of the module graph.
    # Only an inline module (`mod tests {`); `mod tests;` is a declaration.
    match = re.search(r"#\[cfg\(test\)\]\s*mod \w+\s*\{", text)
    return text if match is None else text[: match.start()]


def expand_use(body):
    """Expands `a::{b, c::{d, e}}` into ['a::b', 'a::c::d', 'a::c::e']."""
    body = re.sub(r"\s+", "", body)
    out = []

    def walk(prefix, rest):
        depth, start, parts = 0, 0, []
        for i, ch in enumerate(rest):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(rest[start:i])
                start = i + 1
        parts.append(rest[start:])
        for part in parts:
            if not part:
                continue
            m = re.match(r"^(.*?)::\{(.*)\}$", part)
            if m:
                walk(prefix + m.group(1) + "::", m.group(2))
            elif part.startswith("{") and part.endswith("}"):
                walk(prefix, part[1:-1])
            else:
                out.append(prefix + re.sub(r"\bas\b.*$", "", part))

    walk("", body)
    return out


def main():
    files = {}
    for root, _, names in os.walk(SRC):
        for name in names:
            if name.endswith(".rs"):
                path = os.path.join(root, name)
                files[module_of(path)] = path
    modules = set(files)
    MODULES.update(modules)

    # Re-exports: (module, name) -> defining path segments.
    reexports = {}
    texts = {m: strip_tests(strip_comments(open(p).read())) for m, p in files.items()}
    for mod, text in texts.items():
        for m in re.finditer(r"pub(?:\([a-z]+\))?\s+use\s+([^;]+);", text):
            for path in expand_use(m.group(1)):
                segs = resolve_prefix(mod, path.split("::"))
                if segs:
                    reexports[(mod, segs[-1])] = segs

    def target(mod, segs):
        """The file defining what `segs` (absolute) names."""
        for _ in range(10):
            for cut in range(len(segs), -1, -1):
                cand = tuple(segs[:cut])
                if cand in modules:
                    break
            rest = segs[cut:]
            if rest and (cand, rest[0]) in reexports and reexports[(cand, rest[0])] != segs:
                segs = reexports[(cand, rest[0])] + rest[1:]
                continue
            return cand
        return cand

    edges = {m: set() for m in modules}
    for mod, text in texts.items():
        paths = []
        for m in re.finditer(r"\buse\s+([^;]+);", text):
            paths += expand_use(m.group(1))
        paths += re.findall(r"\b((?:crate|super|self)(?:::\w+)+)", text)
        for path in paths:
            segs = resolve_prefix(mod, path.split("::"))
            if segs is None:
                continue
            dest = target(mod, segs)
            if dest != mod and dest != () and not is_parent(dest, mod):
                edges[mod].add(dest)
            elif dest != mod and is_parent(dest, mod) and dest != ():
                # A child naming an item its parent folder defines itself.
                edges[mod].add(dest)

    # Cycle check (Tarjan's SCC).
    index, low, stack, on, sccs = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            sccs.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(modules):
        if v not in index:
            strong(v)

    name = lambda m: "/".join(m) or "lib"
    status = 0
    for comp in sccs:
        if len(comp) > 1:
            print("cycle:", " <-> ".join(sorted(name(m) for m in comp)))
            status = 1

    max_lines = MAX_LINES
    if "--max-lines" in sys.argv:
        max_lines = int(sys.argv[sys.argv.index("--max-lines") + 1])
    for mod, path in sorted(files.items()):
        lines = sum(1 for _ in open(path))
        if lines > max_lines:
            print(f"too long: {os.path.relpath(path, SRC)} has {lines} lines (limit {max_lines})")
            status = 1

    if "--dot" in sys.argv:
        print("digraph modules {")
        for a in sorted(edges):
            for b in sorted(edges[a]):
                print(f'  "{name(a)}" -> "{name(b)}";')
        print("}")
    elif status == 0:
        # Layers: each module's depth above the files it depends on.
        depth = {}

        def d(m):
            if m not in depth:
                depth[m] = 1 + max((d(x) for x in edges[m]), default=-1)
            return depth[m]

        layers = {}
        for m in modules:
            if m != ():
                layers.setdefault(d(m), []).append(name(m))
        for level in sorted(layers):
            print(f"layer {level}: {', '.join(sorted(layers[level]))}")
        print(f"no cycles among {len(modules) - 1} modules; none over {max_lines} lines")
    return status


def is_parent(parent, child):
    return len(parent) < len(child) and child[: len(parent)] == parent


def resolve_prefix(mod, segs):
    """Makes a path absolute (crate-relative segments), or None if external."""
    head = segs[0]
    if head == "crate":
        return segs[1:]
    if head == "super":
        base = list(mod)
        while segs and segs[0] == "super":
            base = base[:-1]
            segs = segs[1:]
        return base + segs
    if head == "self":
        return list(mod) + segs[1:]
    if tuple(mod) + (head,) in MODULES:
        # 2018-edition paths start at the current module's children.
        return list(mod) + segs
    return None


if __name__ == "__main__":
    sys.exit(main())
