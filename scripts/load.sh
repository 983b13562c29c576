#!/usr/bin/env bash
# HTTP load on the resource-server example: /public (no auth) against
# /protected (the same valid token every time, so the validated-token cache
# answers), alternating A B A B ... so that machine noise hits both alike.
# Prints each run, the medians and the ratio protected/public.
#
# Usage: scripts/load.sh [ROUNDS] [SECONDS]   (defaults: 7 rounds of 5 s)
#
# Each round also runs /public carrying the same Authorization header: the
# token's ~800 bytes cost the kernel and the HTTP parser something on every
# request, whoever validates it; that run shows how much.
#
# Pinning on a 2-core machine: the server gets core 0 (WARDEN_WORKERS=1, a
# one-thread tokio runtime), wrk gets core 1 with one thread. The issuer only
# serves the JWKS once at start and shares core 1. Without taskset the
# script runs unpinned.
#
# Bounded: every wrk run lasts SECONDS, the fixture exits when this script
# does, and all traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${1:-7}"
SECONDS_PER_RUN="${2:-5}"
CONNS="${WARDEN_LOAD_CONNECTIONS:-32}"

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk (Debian package)" >&2
    (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null 2>&1 || {
        echo "cannot install wrk; install it and rerun" >&2
        exit 1
    }
fi

PIN_SERVER=()
PIN_LOAD=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
    PIN_SERVER=(taskset -c 0)
    PIN_LOAD=(taskset -c 1)
fi

cargo build --release -q -p example-resource-server -p warden-bench --bin resource-server --bin load-fixture

TMP="$(mktemp -d)"
cleanup() {
    [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null || true
    [ -n "${FIXTURE_PID:-}" ] && kill "$FIXTURE_PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# The fixture keeps serving while its stdin (a fifo we hold open) is open.
mkfifo "$TMP/hold"
"${PIN_LOAD[@]}" target/release/load-fixture < "$TMP/hold" > "$TMP/fixture.out" &
FIXTURE_PID=$!
exec 3>"$TMP/hold"
for _ in $(seq 1 100); do
    grep -q '^token ' "$TMP/fixture.out" 2>/dev/null && break
    sleep 0.1
done
ISSUER="$(sed -n 's/^issuer //p' "$TMP/fixture.out")"
TOKEN="$(sed -n 's/^token //p' "$TMP/fixture.out")"
[ -n "$TOKEN" ] || { echo "fixture did not start" >&2; exit 1; }

WARDEN_ISSUER="$ISSUER" WARDEN_AUDIENCE="api://orders" WARDEN_ALLOW_HTTP=1 \
WARDEN_BIND=127.0.0.1:0 WARDEN_WORKERS=1 RUST_LOG=warn \
    "${PIN_SERVER[@]}" target/release/resource-server > "$TMP/server.out" 2>/dev/null &
SERVER_PID=$!
for _ in $(seq 1 100); do
    grep -q '^listening on ' "$TMP/server.out" 2>/dev/null && break
    sleep 0.1
done
ADDR="$(sed -n 's/^listening on //p' "$TMP/server.out")"
[ -n "$ADDR" ] || { echo "server did not start" >&2; exit 1; }
# The status of one GET, over bash's /dev/tcp (no curl needed).
status() { # path [token]
    local host="${ADDR%:*}" port="${ADDR##*:}" auth=""
    [ $# -ge 2 ] && auth="Authorization: Bearer $2"$'\r\n'
    exec 5<>"/dev/tcp/$host/$port" || return 0
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n%s\r\n' "$1" "$ADDR" "$auth" >&5
    head -n1 <&5 | awk '{print $2}'
    exec 5<&- 5>&-
}
for _ in $(seq 1 100); do
    [ "$(status /healthz)" = 200 ] && break
    sleep 0.1
done
STATUS="$(status /protected "$TOKEN")"
[ "$STATUS" = 200 ] || { echo "/protected answered $STATUS, expected 200" >&2; exit 1; }

run() { # path [token] -> requests/s
    local path="$1" args=()
    [ $# -ge 2 ] && args=(-H "Authorization: Bearer $2")
    "${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"${SECONDS_PER_RUN}s" "${args[@]}" "http://$ADDR$path" \
        | awk '/Requests\/sec/ {print $2}'
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

: > "$TMP/public"; : > "$TMP/protected"; : > "$TMP/same_bytes"; : > "$TMP/ratio"
echo "warm-up"; run /public >/dev/null; run /protected "$TOKEN" >/dev/null
for i in $(seq 1 "$ROUNDS"); do
    a="$(run /public)"; b="$(run /protected "$TOKEN")"; c="$(run /public "$TOKEN")"
    r="$(awk -v a="$b" -v b="$a" 'BEGIN { printf "%.3f", a / b }')"
    echo "round $i: /public $a req/s, /protected $b req/s (ratio $r); /public with the same header $c req/s"
    echo "$a" >> "$TMP/public"; echo "$b" >> "$TMP/protected"; echo "$c" >> "$TMP/same_bytes"; echo "$r" >> "$TMP/ratio"
done
PUB="$(median < "$TMP/public")"
PROT="$(median < "$TMP/protected")"
SAME="$(median < "$TMP/same_bytes")"
echo "median /public:    $PUB req/s"
echo "median /protected: $PROT req/s"
echo "median /public carrying the same Authorization header (wire and parsing cost only): $SAME req/s"
awk -v a="$PROT" -v b="$PUB" 'BEGIN { printf "ratio protected/public (medians): %.3f\n", a / b }'
echo "ratio protected/public (median of per-round ratios): $(median < "$TMP/ratio")"
awk -v a="$PROT" -v b="$SAME" 'BEGIN { printf "ratio protected/public-with-header: %.3f\n", a / b }'
