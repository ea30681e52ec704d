#!/usr/bin/env bash
# Proxy overhead: the same load against a function's container directly, through the
# gateway, and (when nginx is available) through an nginx reverse proxy, side by side.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: tests/bench_proxy.sh [--help]

Deploys an echo-like Python function with min_instances=1, max_instances=1 and
concurrency=CONCURRENT_USERS, finds its container's published port (`docker port <id> 8080`,
on 127.0.0.1) and measures, with the same load tool and the same settings:
  direct   http://127.0.0.1:<container port>/
  gateway  $FAAS_BASE_URL/api/<path>
  nginx    an nginx reverse proxy on a free loopback port in front of the same
           container (when nginx is installed, or installable with apt-get as
           root: nginx-light, else nginx); temporary config, stopped at the end
Prints req/s, p50 and p99 for each, and each proxy's throughput as a percentage
of the direct one (the gateway's goal: >= MIN_RATIO %). Every run is preceded by a
short warm-up. Fails on any non-2xx response or socket error, or when the gateway
is below MIN_RATIO. Undeploys and deletes the function afterwards.

Load tool: oha when installed, else wrk (apt-get install -y wrk when missing and
root). oha sends TOTAL_REQUESTS requests per run; wrk runs for DURATION per run.

Environment:
  FAAS_BASE_URL (or FAAS_URL)
                 gateway URL (default http://127.0.0.1:8000); loopback only
  CONCURRENT_USERS (or USERS)
                 concurrent connections (default 32)
  TOTAL_REQUESTS (or REQUESTS)
                 requests per run, oha (default 5000)
  DURATION       run time per run, wrk (default 10s)
  WARMUP         warm-up per target: requests (oha, default 500) / duration (wrk, default 2s)
  ROUNDS         rounds of direct/gateway/nginx runs; the median round counts (default 1)
  MIN_RATIO      gateway/direct throughput goal in percent (default 90; 0 = report only)
  NGINX          auto (default), or off to skip the nginx comparison
  LOAD_TOOL      force oha or wrk
  LOAD_TIMEOUT_S hard limit for one load run in seconds (default 300)
Needs: bash, curl, python3, docker, oha or wrk; nginx optional.
USAGE
}

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
handle_args "$@"

init_faas_url
init_load_settings 32 5000
DURATION="${DURATION:-10s}"
ROUNDS="${ROUNDS:-1}"
MIN_RATIO="${MIN_RATIO:-90}"
NGINX="${NGINX:-auto}"
LOAD_TIMEOUT_S="${LOAD_TIMEOUT_S:-300}"

require_tools curl python3 docker
require_loopback "$FAAS_URL"
require_numbers USERS REQUESTS ROUNDS MIN_RATIO LOAD_TIMEOUT_S
if [ "$USERS" -lt 1 ] || [ "$USERS" -gt 1000 ]; then echo "CONCURRENT_USERS (USERS) must be 1..1000" >&2; exit 2; fi
if [ "$ROUNDS" -lt 1 ] || [ "$ROUNDS" -gt 10 ]; then echo "ROUNDS must be 1..10" >&2; exit 2; fi
case "$NGINX" in auto | off) ;; *) echo "NGINX must be auto or off" >&2; exit 2 ;; esac

TMP=$(mktemp -d)
FN_PATH=""
NGINX_PID=""
cleanup() {
    stop_nginx
    if [ -n "$FN_PATH" ]; then
        delete_callback "$FN_PATH"
    fi
    rm -rf "$TMP"
}
stop_nginx() {
    [ -n "$NGINX_PID" ] || return 0
    kill -TERM "$NGINX_PID" 2>/dev/null || true
    local _
    for _ in $(seq 1 50); do
        kill -0 "$NGINX_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
}
trap cleanup EXIT
write_wrk_report

# ------------------------------------------------------------------ nginx
install_nginx() {
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        return 0
    fi
    info "installing nginx (apt-get install -y nginx-light, else nginx)"
    local pkg
    for pkg in nginx-light nginx; do
        if DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq "$pkg" >"$TMP/apt-nginx.log" 2>&1; then
            return 0
        fi
    done
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get update -qq >>"$TMP/apt-nginx.log" 2>&1 || true
    for pkg in nginx-light nginx; do
        if DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq "$pkg" >>"$TMP/apt-nginx.log" 2>&1; then
            return 0
        fi
    done
    tail -3 "$TMP/apt-nginx.log"
}
nginx_bin() {
    command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true
}
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}
# start_nginx UPSTREAM_PORT: an nginx on a free loopback port; sets NGINX_PORT
start_nginx() {
    local bin=$1 upstream=$2 dir="$TMP/nginx"
    mkdir -p "$dir/tmp" "$dir/logs"
    chmod 0777 "$dir/tmp"
    NGINX_PORT=$(free_port)
    cat >"$dir/nginx.conf" <<CONF
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    upstream fn {
        server $upstream;
        keepalive 128;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://fn;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering on;
        }
    }
}
CONF
    local args=(-p "$dir" -c "$dir/nginx.conf" -g 'daemon off;')
    if "$bin" -h 2>&1 | grep -q -- '-e filename'; then args+=(-e "$dir/logs/error.log"); fi
    "$bin" "${args[@]}" >"$dir/logs/stdout.log" 2>&1 &
    NGINX_PID=$!
    local _
    for _ in $(seq 1 50); do
        if [ "$(curl -s --max-time 2 "http://127.0.0.1:$NGINX_PORT/" || true)" = ok ]; then
            return 0
        fi
        kill -0 "$NGINX_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "nginx did not come up: $(cat "$dir/logs/stdout.log" "$dir/logs/error.log" 2>/dev/null | tail -5)" >&2
    stop_nginx
    return 1
}

# ------------------------------------------------------------------ main
echo "faas-gateway proxy benchmark against $FAAS_URL ($USERS users)"
require_healthy
pick_load_tool
pass "load tool: $LOAD_TOOL ($("$LOAD_TOOL" --version 2>&1 | head -1))"

FN_PATH="bench-$RANDOM$RANDOM"
python3 -c 'import json, sys
print(json.dumps({"path": sys.argv[1], "runtime": "python",
                  "code": "def handle(event, context):\n    return \"ok\"\n",
                  "min_instances": 1, "max_instances": 1, "concurrency": int(sys.argv[2])}))' \
    "$FN_PATH" "$USERS" >"$TMP/deploy.json"
deploy_or_exit "$FN_PATH"
REVISION=$(json "$TMP/deploy.out" 'd["revision"]')
pass "deployed $FN_PATH (min_instances 1, max_instances 1, concurrency $USERS)"

container=$(running_container "$FN_PATH" "$REVISION")
if [ -z "$container" ]; then
    fail "no running container labelled faas.callback=$FN_PATH"
    finish || exit 1
fi
# The gateway reaches instances either on a port published on 127.0.0.1 or on the
# container's address on the functions network; "direct" uses the same way in.
mapping=$(docker port "$container" 8080 2>/dev/null | grep -E '^(127\.[0-9.]+|0\.0\.0\.0):[0-9]+$' | head -1 || true)
if [ -n "$mapping" ]; then
    UPSTREAM="127.0.0.1:${mapping##*:}"
else
    ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$container")
    UPSTREAM="$ip:8080"
fi
if [ -z "${UPSTREAM%%:*}" ]; then
    fail "container $container has neither a published port nor a network address"
    finish || exit 1
fi
DIRECT_URL="http://$UPSTREAM/"
GATEWAY_URL="$FAAS_URL/api/$FN_PATH"
pass "container $container serves on $UPSTREAM"
for u in "$DIRECT_URL" "$GATEWAY_URL"; do
    body=$(curl -sS --max-time 30 "$u" || true)
    if [ "$body" = ok ]; then pass "$u answers 'ok'"; else fail "$u answered '$body'"; fi
done

TARGETS=(direct gateway)
declare -A URLS=([direct]="$DIRECT_URL" [gateway]="$GATEWAY_URL")
if [ "$NGINX" = auto ]; then
    [ -n "$(nginx_bin)" ] || install_nginx
    nginx=$(nginx_bin)
    if [ -z "$nginx" ]; then
        info "SKIP nginx comparison: nginx is not installed and cannot be installed here"
    elif start_nginx "$nginx" "$UPSTREAM"; then
        pass "nginx ($("$nginx" -v 2>&1 | sed 's/^nginx version: //')) proxies 127.0.0.1:$NGINX_PORT -> $UPSTREAM"
        TARGETS+=(nginx)
        URLS[nginx]="http://127.0.0.1:$NGINX_PORT/"
    else
        fail "nginx did not start"
    fi
fi

load_amounts
if [ "$LOAD_TOOL" = oha ]; then
    what="$REQUESTS requests per run"
else
    what="$DURATION per run (wrk is duration-based)"
fi
info "each run: $LOAD_TOOL, $USERS users, $what, after a warm-up of $warm; $ROUNDS round(s)"

for round in $(seq 1 "$ROUNDS"); do
    for t in "${TARGETS[@]}"; do
        if ! load "warm-$t-$round" "${URLS[$t]}" "$warm"; then
            fail "warm-up $t (round $round) failed"
            continue
        fi
        if ! load "run-$t-$round" "${URLS[$t]}" "$amount"; then
            fail "run $t (round $round) failed"
            continue
        fi
        info "round $round $t: $R_REQUESTS requests, $R_RPS req/s, p50 $R_P50 ms, p99 $R_P99 ms, non-2xx $R_NON2XX, socket errors $R_ERRORS"
    done
done
stop_nginx

python3 - "$TMP" "$ROUNDS" "$MIN_RATIO" "${TARGETS[@]}" >"$TMP/table" <<'PY'
import json, os, statistics, sys
tmp, rounds, goal, targets = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
best = {}
bad = {}
for t in targets:
    runs = []
    for r in range(1, rounds + 1):
        f = os.path.join(tmp, f"run-{t}-{r}.json")
        if os.path.exists(f):
            runs.append(json.load(open(f)))
    for r in range(1, rounds + 1):
        f = os.path.join(tmp, f"warm-{t}-{r}.json")
        if os.path.exists(f):
            w = json.load(open(f))
            bad[t] = bad.get(t, 0) + w["non2xx"] + w["errors"]
    if runs:
        runs.sort(key=lambda x: x["rps"])
        best[t] = runs[(len(runs) - 1) // 2]  # the median round (lower median)
        bad[t] = bad.get(t, 0) + sum(x["non2xx"] + x["errors"] for x in runs)
print("")
print(f"  {'target':<8} {'requests':>9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'errors':>7} {'vs direct':>10}")
direct = best.get("direct")
for t in targets:
    r = best.get(t)
    if r is None:
        print(f"  {t:<8} (no result)")
        continue
    ratio = f"{100 * r['rps'] / direct['rps']:.1f}%" if direct and direct["rps"] else "-"
    print(f"  {t:<8} {r['requests']:>9} {r['rps']:>9.1f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['non2xx']:>8} {r['errors']:>7} {ratio:>10}")
print("")
for t in targets:
    r = best.get(t)
    if r is not None and t != "direct" and direct and direct["rps"]:
        print(f"RATIO {t} {100 * r['rps'] / direct['rps']:.1f} {r['p50_ms'] - direct['p50_ms']:+.2f} {r['p99_ms'] - direct['p99_ms']:+.2f}")
for t in targets:
    print(f"BAD {t} {bad.get(t, 0) if t in best else -1}")
PY
grep -v -e '^RATIO ' -e '^BAD ' "$TMP/table"
result="RESULT tool=$LOAD_TOOL users=$USERS"
while read -r _ t n; do
    if [ "$n" -eq 0 ]; then pass "$t: every response 2xx, no socket errors"
    elif [ "$n" -lt 0 ]; then fail "$t: no measurement"
    else fail "$t: $n non-2xx responses or socket errors"; fi
done < <(grep '^BAD ' "$TMP/table")
while read -r _ t ratio dp50 dp99; do
    result+=" ${t}_vs_direct=${ratio}%"
    info "$t adds ${dp50} ms at p50 and ${dp99} ms at p99 over direct"
    if [ "$t" = gateway ]; then
        if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' "$ratio" "$MIN_RATIO"; then
            pass "gateway throughput is ${ratio}% of direct (goal >= ${MIN_RATIO}%)"
        else
            fail "gateway throughput is ${ratio}% of direct (goal >= ${MIN_RATIO}%)"
        fi
    else
        info "$t throughput is ${ratio}% of direct"
    fi
done < <(grep '^RATIO ' "$TMP/table")
echo "$result"

undeploy "$FN_PATH"

finish
