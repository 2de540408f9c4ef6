#!/usr/bin/env bash
# Measures the departure path (a FIN while a worker holds the exchange):
# steps through the connection's unit test in gdb and counts the calls
# that cross a file. Needs gdb. Usage: bash scripts/departure/departure.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
here=scripts/departure
binary=$(cargo test --lib --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "tether" and m["profile"]["test"]:
        print(m["executable"])')
line=$(( $(grep -n "pub fn on_event" src/conn/mod.rs | cut -d: -f1) + 1 ))
trace=$(mktemp)
ON_EVENT_LINE=$line TRACE_OUT=$trace gdb -q -batch -x $here/gdb_trace.py \
  --args "$binary" departure_a_fin_while_a_worker_holds_the_exchange --test-threads 1 >/dev/null 2>&1
python3 $here/count.py "$trace"
rm -f "$trace"
