#!/usr/bin/env bash
# Proxy overhead: the same load against a function's container directly, through the
# gateway, and (when nginx is available) through an nginx reverse proxy, side by side.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: tests/bench_proxy.sh [--help]

Deploys an echo-like Python function with min_instances=1, max_instances=1 and
concurrency=USERS, finds its container's published port (`docker port <id> 8080`,
on 127.0.0.1) and measures, with the same load tool and the same settings:
  direct   http://127.0.0.1:<container port>/
  gateway  $FAAS_URL/api/<path>
  nginx    an nginx reverse proxy on a free loopback port in front of the same
           container (when nginx is installed, or installable with apt-get as
           root: nginx-light, else nginx); temporary config, stopped at the end
Prints req/s, p50 and p99 for each, and each proxy's throughput as a percentage
of the direct one (the gateway's goal: >= MIN_RATIO %). Every run is preceded by a
short warm-up. Fails on any non-2xx response or socket error, or when the gateway
is below MIN_RATIO. Undeploys and deletes the function afterwards.

Load tool: oha when installed, else wrk (apt-get install -y wrk when missing and
root). oha sends REQUESTS requests per run; wrk runs for DURATION per run.

Environment:
  FAAS_URL       gateway URL (default http://127.0.0.1:8000); loopback only
  USERS          concurrent connections (default 32)
  REQUESTS       requests per run, oha (default 5000)
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

case "${1:-}" in
    -h | --help) usage; exit 0 ;;
    "") ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac

FAAS_URL="${FAAS_URL:-http://127.0.0.1:8000}"
FAAS_URL="${FAAS_URL%/}"
USERS="${USERS:-32}"
REQUESTS="${REQUESTS:-5000}"
DURATION="${DURATION:-10s}"
ROUNDS="${ROUNDS:-1}"
MIN_RATIO="${MIN_RATIO:-90}"
NGINX="${NGINX:-auto}"
LOAD_TIMEOUT_S="${LOAD_TIMEOUT_S:-300}"

PASSED=0
FAILED=0
pass() { echo "PASS $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $*"; FAILED=$((FAILED + 1)); }
info() { echo "INFO $*"; }
finish() {
    printf '\nsummary: %d passed, %d failed\n' "$PASSED" "$FAILED"
    [ "$FAILED" -eq 0 ]
}

require_loopback() {
    local host
    host=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.urlsplit(sys.argv[1]).hostname or "")' "$1")
    case "$host" in
        127.* | localhost | ::1) ;;
        *) echo "refusing $1: only loopback addresses (127.0.0.0/8, localhost, [::1]) are allowed" >&2; exit 2 ;;
    esac
}
is_number() { case "$1" in '' | *[!0-9]*) return 1 ;; esac; }

for tool in curl python3 docker; do
    command -v "$tool" >/dev/null 2>&1 || { echo "FAIL missing tool: $tool"; exit 1; }
done
require_loopback "$FAAS_URL"
for v in USERS REQUESTS ROUNDS MIN_RATIO LOAD_TIMEOUT_S; do
    is_number "${!v}" || { echo "$v must be a whole number" >&2; exit 2; }
done
if [ "$USERS" -lt 1 ] || [ "$USERS" -gt 1000 ]; then echo "USERS must be 1..1000" >&2; exit 2; fi
if [ "$ROUNDS" -lt 1 ] || [ "$ROUNDS" -gt 10 ]; then echo "ROUNDS must be 1..10" >&2; exit 2; fi
case "$NGINX" in auto | off) ;; *) echo "NGINX must be auto or off" >&2; exit 2 ;; esac

TMP=$(mktemp -d)
FN_PATH=""
NGINX_PID=""
cleanup() {
    stop_nginx
    if [ -n "$FN_PATH" ]; then
        curl -s -o /dev/null --max-time 60 -X DELETE "$FAAS_URL/callbacks/$FN_PATH" || true
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

# ------------------------------------------------------------------ load tool
# pick_load_tool: sets LOAD_TOOL to oha or wrk, installing wrk when possible
pick_load_tool() {
    if [ -n "${LOAD_TOOL:-}" ]; then
        case "$LOAD_TOOL" in oha | wrk) ;; *) echo "LOAD_TOOL must be oha or wrk" >&2; exit 2 ;; esac
        if [ "$LOAD_TOOL" = wrk ] && ! command -v wrk >/dev/null 2>&1; then install_wrk; fi
        command -v "$LOAD_TOOL" >/dev/null 2>&1 || { fail "LOAD_TOOL=$LOAD_TOOL is not installed"; finish; exit 1; }
    elif command -v oha >/dev/null 2>&1; then
        LOAD_TOOL=oha
    else
        command -v wrk >/dev/null 2>&1 || install_wrk
        command -v wrk >/dev/null 2>&1 || { fail "no load tool: install oha or wrk (apt-get install -y wrk)"; finish; exit 1; }
        LOAD_TOOL=wrk
    fi
}
install_wrk() {
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        info "wrk is missing and this is not root with apt-get: not installing it"
        return 0
    fi
    info "installing wrk (apt-get install -y wrk)"
    if ! DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq wrk >"$TMP/apt.log" 2>&1; then
        DEBIAN_FRONTEND=noninteractive timeout 300 apt-get update -qq >>"$TMP/apt.log" 2>&1 || true
        DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq wrk >>"$TMP/apt.log" 2>&1 || tail -5 "$TMP/apt.log"
    fi
}

# wrk's Lua hooks: count non-2xx per status over every thread, print one JSON line
cat >"$TMP/report.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local merged = {}
  for _, t in ipairs(threads) do
    for s, n in pairs(t:get("statuses")) do merged[s] = (merged[s] or 0) + n end
  end
  local parts = {}
  for s, n in pairs(merged) do table.insert(parts, string.format('"%d": %d', s, n)) end
  local e = summary.errors
  io.write(string.format('WRK_RESULT {"requests": %d, "duration_us": %d, "status": {%s}, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"p50_us": %.1f, "p90_us": %.1f, "p99_us": %.1f, "max_us": %.1f, "mean_us": %.1f}\n',
    summary.requests, summary.duration, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
LUA

# run_load LABEL URL AMOUNT: one run of the load tool; AMOUNT is a request count
# (oha) or a duration (wrk). Writes $TMP/LABEL.json (normalised) and sets
# R_REQUESTS R_RPS R_P50 R_P99 R_NON2XX R_ERRORS.
run_load() {
    local label=$1 url=$2 amount=$3 raw="$TMP/$1.raw" rc=0
    case "$LOAD_TOOL" in
        oha)
            local fmt=(--json)
            if oha --help 2>/dev/null | grep -q -- '--output-format'; then fmt=(--output-format json); fi
            timeout "$LOAD_TIMEOUT_S" oha --no-tui "${fmt[@]}" -n "$amount" -c "$USERS" -t 30s "$url" >"$raw" 2>"$TMP/$label.err" || rc=$?
            ;;
        wrk)
            local threads
            threads=$(nproc 2>/dev/null || echo 2)
            [ "$threads" -le "$USERS" ] || threads=$USERS
            timeout "$LOAD_TIMEOUT_S" wrk -t "$threads" -c "$USERS" -d "$amount" --timeout 30s \
                -s "$TMP/report.lua" "$url" >"$raw" 2>"$TMP/$label.err" || rc=$?
            ;;
    esac
    if [ "$rc" -ne 0 ]; then
        echo "load tool $LOAD_TOOL exited $rc: $(head -c 500 "$TMP/$label.err")" >&2
    fi
    python3 - "$LOAD_TOOL" "$raw" "$TMP/$label.json" <<'PY' || return 1
import json, sys
tool, raw, out = sys.argv[1:4]
text = open(raw).read()
if tool == "oha":
    d = json.loads(text)
    s, p = d["summary"], d.get("latencyPercentiles", {})
    status = {str(k): v for k, v in d.get("statusCodeDistribution", {}).items()}
    errors = sum(d.get("errorDistribution", {}).values())
    requests = sum(status.values()) + errors
    r = {"requests": requests, "duration_s": s.get("total", 0), "rps": s.get("requestsPerSec", 0),
         "p50_ms": (p.get("p50") or 0) * 1000, "p90_ms": (p.get("p90") or 0) * 1000,
         "p99_ms": (p.get("p99") or 0) * 1000, "status": status, "errors": errors,
         "error_kinds": d.get("errorDistribution", {})}
else:
    line = next(l for l in text.splitlines() if l.startswith("WRK_RESULT "))
    d = json.loads(line[len("WRK_RESULT "):])
    dur = d["duration_us"] / 1e6
    errors = sum(d["errors"].values())
    r = {"requests": d["requests"], "duration_s": dur, "rps": d["requests"] / dur if dur else 0,
         "p50_ms": d["p50_us"] / 1000, "p90_ms": d["p90_us"] / 1000, "p99_ms": d["p99_us"] / 1000,
         "status": d["status"], "errors": errors, "error_kinds": {k: v for k, v in d["errors"].items() if v}}
r["non2xx"] = sum(v for k, v in r["status"].items() if not 200 <= int(k) <= 299)
json.dump(r, open(out, "w"))
print(" ".join(str(x) for x in (r["requests"], round(r["rps"], 1), round(r["p50_ms"], 2), round(r["p90_ms"], 2),
                                 round(r["p99_ms"], 2), r["non2xx"], r["errors"],
                                 ",".join(f"{k}:{v}" for k, v in sorted(r["status"].items())) or "-")))
PY
}
# load LABEL URL AMOUNT: run_load and read its numbers into R_* variables
load() {
    local line
    if ! line=$(run_load "$@"); then
        return 1
    fi
    read -r R_REQUESTS R_RPS R_P50 _ R_P99 R_NON2XX R_ERRORS _ <<<"$line"
}

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
code=$(curl -s -o /dev/null --max-time 10 -w '%{http_code}' "$FAAS_URL/health" || true)
if [ "$code" != 200 ]; then
    fail "gateway not healthy: GET /health answered ${code:-nothing}"
    finish || exit 1
fi
pick_load_tool
pass "load tool: $LOAD_TOOL ($("$LOAD_TOOL" --version 2>&1 | head -1))"

FN_PATH="bench-$RANDOM$RANDOM"
python3 -c 'import json, sys
print(json.dumps({"path": sys.argv[1], "runtime": "python",
                  "code": "def handle(event, context):\n    return \"ok\"\n",
                  "min_instances": 1, "max_instances": 1, "concurrency": int(sys.argv[2])}))' \
    "$FN_PATH" "$USERS" >"$TMP/deploy.json"
code=$(curl -sS -o "$TMP/deploy.out" -w '%{http_code}' --max-time 300 -H 'content-type: application/json' \
    --data-binary @"$TMP/deploy.json" "$FAAS_URL/callback/deploy" || true)
if [ "$code" != 201 ] && [ "$code" != 200 ]; then
    fail "deploy $FN_PATH: status ${code:-none} $(head -c 400 "$TMP/deploy.out")"
    finish || exit 1
fi
REVISION=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["revision"])' "$TMP/deploy.out")
pass "deployed $FN_PATH (min_instances 1, max_instances 1, concurrency $USERS)"

container=$(docker ps --filter label=faas.managed-by=faas-gateway --filter "label=faas.callback=$FN_PATH" \
    --filter "label=faas.revision=$REVISION" --format '{{.ID}}' | head -1)
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

if [ "$LOAD_TOOL" = oha ]; then
    warm="${WARMUP:-500}"
    amount=$REQUESTS
    what="$REQUESTS requests per run"
else
    warm="${WARMUP:-2s}"
    amount=$DURATION
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

code=$(curl -sS -o "$TMP/undeploy.out" -w '%{http_code}' --max-time 120 -H 'content-type: application/json' \
    -d "{\"path\":\"$FN_PATH\",\"action\":\"undeploy\"}" "$FAAS_URL/callback/deploy" || true)
if [ "$code" = 200 ]; then pass "undeployed $FN_PATH"; else fail "undeploy $FN_PATH: status ${code:-none}"; fi

finish
