#!/usr/bin/env bash
# An independent client's view: wrk (Debian package) against the tether demo
# and a hyper 1.x server, each pinned to core 0, wrk on core 1.
#   bash scripts/wrk.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release --example demo -q && cargo build --release -p tether-bench --example hyper_hello -q
pin_server="taskset -c 0"
pin_client="taskset -c 1"
[ "$(nproc)" -ge 2 ] || { pin_server=""; pin_client=""; }

run() { # name, command...
    local name=$1; shift
    local log; log=$(mktemp)
    $pin_server "$@" >"$log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
    local url; url=$(grep -o 'http://[0-9.:]*' "$log" | head -1)
    for mode in keep-alive pipelined; do
        local script=()
        [ "$mode" = pipelined ] && script=(-s scripts/pipeline.lua)
        local rps; rps=$($pin_client wrk -t1 -c50 -d"${secs}s" "${script[@]}" "$url/hello" | awk '/Requests\/sec/ {print $2}')
        printf '| %-22s | %-10s | %12s |\n' "$name" "$mode" "$rps"
    done
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    rm -f "$log"
}

echo "| server | mode | req/s (wrk -t1 -c50, ${secs}s) |"
echo "|---|---|---|"
run "tether demo" ./target/release/examples/demo --addr 127.0.0.1:0 --workers 2
run "hyper 1.x" ./target/release/examples/hyper_hello 127.0.0.1:0
