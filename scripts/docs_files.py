#!/usr/bin/env python3
"""Fails when the docs and the tree disagree about files: a file under
src/ missing from docs/architecture.md's layer table, or a source path
named in README.md or docs/ that does not exist.

A file is named in the table's "files" column as `name.rs` (under src/),
as `dir/name.rs`, or as `name` (or `name.rs`) in the parentheses after a
folder `dir/`: `stats/` (`mod`, `reading`) names src/stats/mod.rs and
src/stats/reading.rs. A folder named `dir/name/` in those parentheses
covers every file under it.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TOKEN = re.compile(r"`([^`]+)`|([()])")


def named_in(table_rows):
    """Every path (relative to src/) the table names, and folders it covers."""
    files, folders = set(), set()
    for row in table_rows:
        cells = row.split("|")
        if len(cells) < 3:
            continue
        folder, inside, depth = None, None, 0
        for match in TOKEN.finditer(cells[2]):
            word, paren = match.groups()
            if paren == "(":
                depth += 1
                if depth == 1 and folder:
                    inside = folder
                continue
            if paren == ")":
                depth = max(0, depth - 1)
                if depth == 0:
                    inside, folder = None, None
                continue
            if "/" in word and word.endswith(".rs"):
                files.add(word)  # a path, wherever it stands
            elif depth == 0:
                if word.endswith("/"):
                    folder = word
                elif word.endswith(".rs"):
                    files.add(word)
                    folder = None
            elif depth == 1 and inside:
                name = word.split(":")[0].strip()
                if name.endswith("/"):
                    folders.add(inside + name)
                else:
                    files.add(inside + (name if name.endswith(".rs") else name + ".rs"))
    return files, folders


MENTION = re.compile(r"\b((?:src|tests|examples|scripts|bench)/[\w/.-]+\.(?:rs|py|sh)|"
                     r"(?:conn|handle|ws|proto|stats|budget|config)/\w+\.rs)\b")


def dead_mentions():
    """Paths README.md and docs/*.md name that do not exist."""
    dead = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for path in sorted(set(MENTION.findall(doc.read_text()))):
            full = ROOT / path if path.split("/")[0] in ("src", "tests", "examples", "scripts", "bench") else ROOT / "src" / path
            if not full.exists():
                dead.append(f"{doc.relative_to(ROOT)} names {path}")
    return dead


def main():
    dead = dead_mentions()
    if dead:
        print("the docs name files that do not exist:")
        for line in dead:
            print("  " + line)
        sys.exit(1)
    text = (ROOT / "docs/architecture.md").read_text()
    section = text.split("## The layout", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    files, folders = named_in(rows)
    src = ROOT / "src"
    missing = []
    for path in sorted(src.rglob("*.rs")):
        rel = path.relative_to(src).as_posix()
        if rel in files or any(rel.startswith(f) for f in folders):
            continue
        missing.append(rel)
    if missing:
        print("docs/architecture.md's layer table does not name:")
        for rel in missing:
            print("  src/" + rel)
        sys.exit(1)
    print(f"the layer table names all {len(list(src.rglob('*.rs')))} files under src/")


if __name__ == "__main__":
    main()
