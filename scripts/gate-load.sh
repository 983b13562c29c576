#!/usr/bin/env bash
# warden-gate's speed, in one run so the ratios are fair on a noisy machine.
#
# Checks per second on one core (the gate pinned to core 0, the load to
# core 1), alternating scenarios A B C ... each round, medians at the end:
#   HTTP (wrk):  /healthz on the gate (baseline), /auth allow with a cached
#                token, /auth deny (no token), /auth allow on a second gate
#                with the cache off (every check verifies RS256);
#   gRPC (gate-grpc-load): grpc.health.v1 Check (baseline), ext_authz allow
#                cached, deny, allow uncached.
# Then the latency nginx adds with auth_request: wrk -c1 --latency against
# nginx -> upstream directly and nginx -> gate -> upstream, p50 and p99.
#
# Usage: scripts/gate-load.sh [ROUNDS] [SECONDS]   (defaults: 5 rounds of 5 s)
# Installs wrk and nginx from the distribution when missing. Bounded: every
# run lasts SECONDS; all traffic stays on 127.0.0.1; everything started is
# stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${1:-5}"
SECS="${2:-5}"
CONNS="${WARDEN_LOAD_CONNECTIONS:-32}"

need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]} (Debian packages)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null 2>&1 || {
        echo "cannot install ${need[*]}; install and rerun" >&2
        exit 1
    }
    pkill -x nginx 2>/dev/null || true
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

PIN_GATE=()
PIN_LOAD=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
    PIN_GATE=(taskset -c 0)
    PIN_LOAD=(taskset -c 1)
fi

cargo build --release -q -p warden-gate -p warden-bench -p example-resource-server \
    --bin warden-gate --bin load-fixture --bin gate-grpc-load --bin resource-server

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -f "$TMP/nginx.pid" ] && kill "$(cat "$TMP/nginx.pid")" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

wait_for() { # file pattern
    for _ in $(seq 1 100); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "timed out waiting for '$2' in $1" >&2
    cat "$1" >&2
    exit 1
}

# The issuer and a valid RS256 token (scope orders:read) for api://orders.
mkfifo "$TMP/hold"
"${PIN_LOAD[@]}" target/release/load-fixture < "$TMP/hold" > "$TMP/fixture.out" &
PIDS+=($!)
exec 3>"$TMP/hold"
wait_for "$TMP/fixture.out" '^token '
ISSUER="$(sed -n 's/^issuer //p' "$TMP/fixture.out")"
TOKEN="$(sed -n 's/^token //p' "$TMP/fixture.out")"

# Two gates: with the validated-token cache, and without (size = 0).
gate() { # name cache-size
    cat > "$TMP/$1.toml" <<EOF
[[issuer]]
issuer = "$ISSUER"
audience = "api://orders"
allow_http = true

[[route]]
path = "/orders/"
scopes = ["orders:read"]

[[route]]
path = "/public"
scopes = ["orders:read"]

[cache]
size = $2
EOF
    WARDEN_GATE_HTTP_BIND=127.0.0.1:0 WARDEN_GATE_GRPC_BIND=127.0.0.1:0 RUST_LOG=warn \
        "${PIN_GATE[@]}" target/release/warden-gate --config "$TMP/$1.toml" > "$TMP/$1.out" 2>/dev/null &
    PIDS+=($!)
    wait_for "$TMP/$1.out" '^warden-gate: ext_authz on '
}
gate cached 10000
gate uncached 0
HTTP_C="$(sed -n 's|^warden-gate: forward-auth on http://\(.*\)/auth|\1|p' "$TMP/cached.out")"
GRPC_C="$(sed -n 's/^warden-gate: ext_authz on //p' "$TMP/cached.out")"
HTTP_U="$(sed -n 's|^warden-gate: forward-auth on http://\(.*\)/auth|\1|p' "$TMP/uncached.out")"
GRPC_U="$(sed -n 's/^warden-gate: ext_authz on //p' "$TMP/uncached.out")"

ORIG=(-H "X-Original-Method: GET" -H "X-Original-URI: /orders/1")
AUTH=(-H "Authorization: Bearer $TOKEN")
# Ready: the keys are loaded when a check with the token is allowed.
for _ in $(seq 1 100); do
    code="$(wrk -t1 -c1 -d1s "${ORIG[@]}" "${AUTH[@]}" "http://$HTTP_U/auth" | grep -c 'Non-2xx' || true)"
    [ "$code" = 0 ] && break
    sleep 0.2
done

wrk_rate() { # url [wrk args...] -> requests/s
    local url="$1"; shift
    "${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"${SECS}s" "$@" "$url" | awk '/Requests\/sec/ {print $2}'
}
grpc_rate() { # addr scenario
    "${PIN_LOAD[@]}" target/release/gate-grpc-load "$1" "$2" "$SECS" "$CONNS" "$TOKEN"
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

SCEN=(http_base http_allow http_deny http_uncached grpc_base grpc_allow grpc_deny grpc_uncached)
for s in "${SCEN[@]}"; do : > "$TMP/r_$s"; done
echo "warm-up"
wrk_rate "http://$HTTP_C/auth" "${ORIG[@]}" "${AUTH[@]}" >/dev/null
grpc_rate "$GRPC_C" allow >/dev/null
for i in $(seq 1 "$ROUNDS"); do
    wrk_rate "http://$HTTP_C/healthz" >> "$TMP/r_http_base"
    wrk_rate "http://$HTTP_C/auth" "${ORIG[@]}" "${AUTH[@]}" >> "$TMP/r_http_allow"
    wrk_rate "http://$HTTP_C/auth" "${ORIG[@]}" >> "$TMP/r_http_deny"
    wrk_rate "http://$HTTP_U/auth" "${ORIG[@]}" "${AUTH[@]}" >> "$TMP/r_http_uncached"
    grpc_rate "$GRPC_C" health >> "$TMP/r_grpc_base"
    grpc_rate "$GRPC_C" allow >> "$TMP/r_grpc_allow"
    grpc_rate "$GRPC_C" deny >> "$TMP/r_grpc_deny"
    grpc_rate "$GRPC_U" allow >> "$TMP/r_grpc_uncached"
    echo "round $i: $(for s in "${SCEN[@]}"; do printf '%s=%s ' "$s" "$(tail -n1 "$TMP/r_$s")"; done)"
done

echo
echo "checks per second on one core (medians of $ROUNDS rounds of ${SECS} s, $CONNS in flight):"
for proto in http grpc; do
    base="$(median < "$TMP/r_${proto}_base")"
    printf '  %-5s baseline (%s) %10.0f/s\n' "$proto" \
        "$([ "$proto" = http ] && echo '/healthz' || echo 'health Check')" "$base"
    for s in allow deny uncached; do
        v="$(median < "$TMP/r_${proto}_$s")"
        awk -v n="$proto $s" -v v="$v" -v b="$base" \
            'BEGIN { printf "  %-14s %10.0f/s  (%.2f x baseline)\n", n, v, v / b }'
    done
done

# Latency through nginx: upstream directly, and behind auth_request.
RS_PORT_FILE="$TMP/rs.out"
WARDEN_ISSUER="$ISSUER" WARDEN_AUDIENCE="api://orders" WARDEN_ALLOW_HTTP=1 \
WARDEN_BIND=127.0.0.1:0 WARDEN_WORKERS=1 RUST_LOG=warn \
    "${PIN_LOAD[@]}" target/release/resource-server > "$RS_PORT_FILE" 2>/dev/null &
PIDS+=($!)
wait_for "$RS_PORT_FILE" '^listening on '
UPSTREAM="$(sed -n 's/^listening on //p' "$RS_PORT_FILE")"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P_AUTH="$(free_port)"; P_DIRECT="$(free_port)"
mkdir -p "$TMP/ngx"
SITE="$(sed -e "s/127.0.0.1:8080/127.0.0.1:$P_AUTH/" -e "s/127.0.0.1:8181/$HTTP_C/" \
    -e "s/127.0.0.1:3000/$UPSTREAM/" examples/gate/nginx.conf)"
cat > "$TMP/nginx.conf" <<EOF
worker_processes 1;
daemon on;
pid $TMP/nginx.pid;
error_log $TMP/ngx/error.log;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $TMP/ngx/body; proxy_temp_path $TMP/ngx/proxy;
    fastcgi_temp_path $TMP/ngx/fcgi; uwsgi_temp_path $TMP/ngx/uwsgi; scgi_temp_path $TMP/ngx/scgi;
$SITE
    server {
        listen 127.0.0.1:$P_DIRECT;
        location / { proxy_pass http://$UPSTREAM; }
    }
}
EOF
"$NGINX" -p "$TMP/ngx" -c "$TMP/nginx.conf" -e "$TMP/ngx/error.log"
sleep 0.5
to_us() { awk '{ v=$0; if (v ~ /us$/) { sub(/us$/,"",v); print v } else if (v ~ /ms$/) { sub(/ms$/,"",v); print v*1000 } else if (v ~ /s$/) { sub(/s$/,"",v); print v*1000000 } }'; }
lat() { # port [wrk args] -> "p50_us p99_us"
    local port="$1"; shift
    local out
    out="$("${PIN_LOAD[@]}" wrk -t1 -c1 -d"${SECS}s" --latency "$@" "http://127.0.0.1:$port/public")"
    echo "$(echo "$out" | awk '$1=="50%" {print $2}' | to_us) $(echo "$out" | awk '$1=="99%" {print $2}' | to_us)"
}
: > "$TMP/l_direct"; : > "$TMP/l_auth"
for i in $(seq 1 "$ROUNDS"); do
    lat "$P_DIRECT" "${AUTH[@]}" >> "$TMP/l_direct"
    lat "$P_AUTH" "${AUTH[@]}" >> "$TMP/l_auth"
done
D50="$(awk '{print $1}' "$TMP/l_direct" | median)"; D99="$(awk '{print $2}' "$TMP/l_direct" | median)"
A50="$(awk '{print $1}' "$TMP/l_auth" | median)"; A99="$(awk '{print $2}' "$TMP/l_auth" | median)"
echo
echo "latency through $("$NGINX" -v 2>&1 | sed 's/.*: //') (one connection, medians of $ROUNDS runs):"
awk -v d50="$D50" -v d99="$D99" -v a50="$A50" -v a99="$A99" 'BEGIN {
    printf "  nginx -> upstream:                 p50 %7.0f us  p99 %7.0f us\n", d50, d99
    printf "  nginx -> gate -> upstream:         p50 %7.0f us  p99 %7.0f us\n", a50, a99
    printf "  added by auth_request:             p50 %7.0f us  p99 %7.0f us\n", a50 - d50, a99 - d99
}'
