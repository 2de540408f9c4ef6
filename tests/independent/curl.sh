#!/usr/bin/env bash
# Every demo endpoint through curl, as a person would try it: streams with
# -N, HTTP/1.0, no keep-alive, HEAD, leaving early with -m.
#
# Usage: curl.sh PATH_TO_DEMO_BINARY [--tls]. Prints "curl: N passed, M
# failed". With --tls (a demo built with --features tls), the demo also
# serves HTTPS with --tls-self-signed, and the checks run over it too, with
# -k: the certificate is made at start and trusted by no one.
set -uo pipefail

demo=$1
tls=${2:-}
flags=(--addr 127.0.0.1:0 --workers 2)
[ "$tls" = --tls ] && flags+=(--tls-addr 127.0.0.1:0 --tls-self-signed)
out=$(mktemp -d)
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$out"' EXIT
"$demo" "${flags[@]}" > "$out/stdout" &
pid=$!
lines=1
[ "$tls" = --tls ] && lines=2
for _ in $(seq 100); do
  [ "$(grep -c "listening on" "$out/stdout" 2>/dev/null)" -ge "$lines" ] && break
  sleep 0.1
done
base=$(sed -n 's/^listening on \(http:.*\)/\1/p' "$out/stdout")
[ -n "$base" ] || { echo "the demo did not start"; exit 1; }
if [ "$tls" = --tls ]; then
  secure=$(sed -n 's/^listening on \(https:.*\)/\1/p' "$out/stdout")
  [ -n "$secure" ] || { echo "the demo serves no HTTPS (built without --features tls?)"; exit 1; }
fi

passed=0
failed=0
# check NAME EXPECTED_SUBSTRING CURL_ARGS...: curl's output must hold it.
check() {
  local name=$1 expected=$2
  shift 2
  local got
  got=$(curl -sS "$@" 2>&1 | tr -d '\000')
  if [[ "$got" == *"$expected"* ]]; then
    passed=$((passed + 1))
    echo "ok     $name"
  else
    failed=$((failed + 1))
    echo "FAILED $name: expected ${expected@Q} in: ${got:0:300}"
  fi
}
stat() { curl -sS "$base/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
# check_abandoned NAME CURL_ARGS...: curl gives up on a long /work, and the
# worker counts it abandoned at once (it waits on wait_closed).
check_abandoned() {
  local name=$1 before
  shift
  before=$(stat '["abandoned"]')
  curl -sS -m 0.5 "$@" > /dev/null 2>&1
  for _ in $(seq 100); do
    [ "$(stat '["abandoned"]')" -gt "$before" ] && break
    sleep 0.1
  done
  if [ "$(stat '["abandoned"]')" -gt "$before" ]; then
    passed=$((passed + 1)); echo "ok     $name: abandoned"
  else
    failed=$((failed + 1)); echo "FAILED $name: not abandoned"
  fi
}

check "GET /hello" "Hello, World!" "$base/hello"
check "GET /hello --http1.0" "Hello, World!" --http1.0 "$base/hello"
check "GET /hello --no-keepalive" "Hello, World!" --no-keepalive "$base/hello"
check "two requests, one connection" "Re-using existing connection" -v "$base/hello" "$base/hello"
check "HEAD /hello" "Content-Length: 13" -I "$base/hello"
check "GET / (the page)" "<title>tether demo</title>" "$base/"
check "GET /work?ms=50" "worked 50 ms" "$base/work?ms=50"
check "POST /echo" "from curl" --data-binary "from curl" "$base/echo"
check "POST /echo --http1.0" "from curl" --http1.0 --data-binary "from curl" "$base/echo"
check "GET /events -N" "event: tick" -N -m 2.5 "$base/events"
check "GET /events -N --http1.0" "event: tick" -N -m 2.5 --http1.0 "$base/events"
check "GET /mjpeg -N" "Content-Type: image/jpeg" -N -m 1 "$base/mjpeg?fps=20"
check "GET /mjpeg -N --http1.0" "--tether-frame" -N -m 1 --http1.0 "$base/mjpeg?fps=20"
check "GET /stats/stream -N" "event: stats" -N -m 1.5 "$base/stats/stream"
check "GET /poll (nothing published)" "HTTP/1.1 204" -i "$base/poll?timeout_ms=200"
curl -sS -o /dev/null --data-binary "hello poller" "$base/publish"
check "GET /poll (after /publish)" "hello poller" "$base/poll?timeout_ms=5000"
check "GET /ws upgrade" "101 Switching Protocols" -i -m 1 \
  -H "Upgrade: websocket" -H "Connection: Upgrade" \
  -H "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" -H "Sec-WebSocket-Version: 13" "$base/ws"
check "GET /stats" '"connections":{"reading"' "$base/stats"
check "GET /metrics" 'tether_connections{state="streaming"}' "$base/metrics"
check "GET /config" '"idle_timeout":"60s"' "$base/config"
check "DELETE /hello" "HTTP/1.1 405" -i -X DELETE "$base/hello"

if [ "$tls" = --tls ]; then
  check "https GET /hello" "Hello, World!" -k "$secure/hello"
  check "https ALPN http/1.1" "ALPN: server accepted http/1.1" -k -v "$secure/hello"
  check "https GET /hello --http1.0" "Hello, World!" -k --http1.0 "$secure/hello"
  check "https two requests, one connection" "Re-using existing connection" -k -v "$secure/hello" "$secure/hello"
  check "https POST /echo" "over tls" -k --data-binary "over tls" "$secure/echo"
  check "https GET /events -N" "event: tick" -k -N -m 2.5 "$secure/events"
  check "https GET /mjpeg -N" "Content-Type: image/jpeg" -k -N -m 1 "$secure/mjpeg?fps=20"
  check "https GET /stats/stream -N" "event: stats" -k -N -m 1.5 "$secure/stats/stream"
  check "wss /ws upgrade" "101 Switching Protocols" -k -i -m 1 \
    -H "Upgrade: websocket" -H "Connection: Upgrade" \
    -H "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" -H "Sec-WebSocket-Version: 13" "$secure/ws"
  check "https GET /stats: the same server's counts" '"connections":{"reading"' -k "$secure/stats"
  check_abandoned "https curl -m 0.5 /work?ms=30000" -k "$secure/work?ms=30000"
fi

# Leaving early, as the README suggests: the worker stops at once.
check_abandoned "curl -m 0.5 /work?ms=30000" "$base/work?ms=30000"
# Every stream curl left is closed.
for _ in $(seq 100); do
  [ "$(stat '["streams_active"]')" = 0 ] && break
  sleep 0.1
done
if [ "$(stat '["streams_active"]')" = 0 ] && [ "$(stat '["ws_active"]')" = 0 ]; then
  passed=$((passed + 1)); echo "ok     every stream and socket curl left is closed"
else
  failed=$((failed + 1)); echo "FAILED streams or sockets left open: $(curl -sS "$base/stats")"
fi

echo "curl: $passed passed, $failed failed"
[ "$failed" = 0 ]
