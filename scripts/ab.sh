#!/bin/bash
# Runs one benchmark on several trees, interleaved, so a noisy machine
# moves them alike. Each tree is a checkout (e.g. `git worktree add
# /work/pre 81a43c6`); the benchmark's arguments follow `--`.
#
#   bash scripts/ab.sh 3 /work/pre /work/main -- --bench websocket -- echo 20000
set -euo pipefail
rounds=$1
shift
trees=()
while [ "$1" != "--" ]; do
  trees+=("$1")
  shift
done
shift
for round in $(seq "$rounds"); do
  for tree in "${trees[@]}"; do
    echo "=== $tree round $round"
    (cd "$tree" && cargo bench -q -p tether-bench "$@" 2>&1 | grep -vE "^(warning|running|test |$)")
  done
done
