#!/usr/bin/env bash
# Load test of one small function through a running faas-gateway, with oha or wrk.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: tests/load_test.sh [--help]

Deploys a small function (Python by default), drives /api/<path> with a real
load tool and prints throughput (req/s), latency percentiles (p50/p90/p99), the
request count and the non-2xx count. Fails if any response is not 2xx (or any
socket error happens). Undeploys and deletes the function afterwards.

Load tool: oha when installed, else wrk (installed with `apt-get install -y wrk`
when missing and running as root). oha sends REQUESTS requests; wrk is
duration-based and runs for DURATION instead (the request count is reported).
A short warm-up run (not measured, but checked for non-2xx) comes first.

Environment:
  FAAS_URL       gateway URL (default http://127.0.0.1:8000); loopback only
  RUNTIME        python (default) or node
  USERS          concurrent connections (default 32)
  REQUESTS       total requests, oha (default 5000)
  DURATION       run time, wrk (default 10s)
  WARMUP         warm-up: requests for oha / duration for wrk (default 500 / 2s)
  MIN_INSTANCES  min_instances of the function (default 1)
  MAX_INSTANCES  max_instances of the function (default 4)
  LOAD_TOOL      force oha or wrk
  LOAD_TIMEOUT_S hard limit for one load run in seconds (default 300)
Needs: bash, curl, python3, docker, and oha or wrk.
EOF
}

case "${1:-}" in
    -h | --help) usage; exit 0 ;;
    "") ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac

FAAS_URL="${FAAS_URL:-http://127.0.0.1:8000}"
FAAS_URL="${FAAS_URL%/}"
RUNTIME="${RUNTIME:-python}"
USERS="${USERS:-32}"
REQUESTS="${REQUESTS:-5000}"
DURATION="${DURATION:-10s}"
MIN_INSTANCES="${MIN_INSTANCES:-1}"
MAX_INSTANCES="${MAX_INSTANCES:-4}"
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

for tool in curl python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "FAIL missing tool: $tool"; exit 1; }
done
require_loopback "$FAAS_URL"
case "$RUNTIME" in python | node) ;; *) echo "RUNTIME must be python or node" >&2; exit 2 ;; esac
for v in USERS REQUESTS MIN_INSTANCES MAX_INSTANCES LOAD_TIMEOUT_S; do
    is_number "${!v}" || { echo "$v must be a whole number" >&2; exit 2; }
done
[ "$USERS" -ge 1 ] || { echo "USERS must be at least 1" >&2; exit 2; }

TMP=$(mktemp -d)
FN_PATH=""
cleanup() {
    if [ -n "$FN_PATH" ]; then
        curl -s -o /dev/null --max-time 60 -X DELETE "$FAAS_URL/callbacks/$FN_PATH" || true
    fi
    rm -rf "$TMP"
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
# R_REQUESTS R_RPS R_P50 R_P90 R_P99 R_NON2XX R_ERRORS R_STATUS.
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
    read -r R_REQUESTS R_RPS R_P50 R_P90 R_P99 R_NON2XX R_ERRORS R_STATUS <<<"$line"
}

# ------------------------------------------------------------------ main
echo "faas-gateway load test against $FAAS_URL (runtime $RUNTIME, $USERS users)"
code=$(curl -s -o /dev/null --max-time 10 -w '%{http_code}' "$FAAS_URL/health" || true)
if [ "$code" != 200 ]; then
    fail "gateway not healthy: GET /health answered ${code:-nothing}"
    finish || exit 1
fi
pick_load_tool
pass "load tool: $LOAD_TOOL ($("$LOAD_TOOL" --version 2>&1 | head -1))"

FN_PATH="load-$RANDOM$RANDOM"
if [ "$RUNTIME" = python ]; then
    code_src='def handle(event, context):
    return "ok"
'
else
    code_src='exports.handle = async (event, context) => "ok";
'
fi
python3 -c 'import json, sys
print(json.dumps({"path": sys.argv[1], "runtime": sys.argv[2], "code": sys.argv[3],
                  "min_instances": int(sys.argv[4]), "max_instances": int(sys.argv[5])}))' \
    "$FN_PATH" "$RUNTIME" "$code_src" "$MIN_INSTANCES" "$MAX_INSTANCES" >"$TMP/deploy.json"
code=$(curl -sS -o "$TMP/deploy.out" -w '%{http_code}' --max-time 300 -H 'content-type: application/json' \
    --data-binary @"$TMP/deploy.json" "$FAAS_URL/callback/deploy" || true)
if [ "$code" != 201 ] && [ "$code" != 200 ]; then
    fail "deploy $FN_PATH: status ${code:-none} $(head -c 400 "$TMP/deploy.out")"
    finish || exit 1
fi
pass "deployed $FN_PATH ($RUNTIME, min_instances $MIN_INSTANCES, max_instances $MAX_INSTANCES)"
URL="$FAAS_URL/api/$FN_PATH"
body=$(curl -sS --max-time 30 "$URL" || true)
if [ "$body" = ok ]; then pass "one call answers 'ok'"; else fail "one call answered '$body'"; fi

if [ "$LOAD_TOOL" = oha ]; then
    warm="${WARMUP:-500}"
    amount=$REQUESTS
    what="$REQUESTS requests"
else
    warm="${WARMUP:-2s}"
    amount=$DURATION
    what="$DURATION (wrk is duration-based; REQUESTS is not used)"
fi

info "warm-up: $warm"
if load warmup "$URL" "$warm"; then
    if [ "$R_NON2XX" -eq 0 ] && [ "$R_ERRORS" -eq 0 ]; then
        pass "warm-up: $R_REQUESTS requests, all 2xx"
    else
        fail "warm-up: $R_REQUESTS requests, $R_NON2XX non-2xx, $R_ERRORS socket errors (status $R_STATUS)"
    fi
else
    fail "warm-up run failed"
fi

info "measured run: $USERS users, $what"
if load run "$URL" "$amount"; then
    echo
    echo "  tool        $LOAD_TOOL"
    echo "  requests    $R_REQUESTS"
    echo "  throughput  $R_RPS req/s"
    echo "  latency     p50 $R_P50 ms   p90 $R_P90 ms   p99 $R_P99 ms"
    echo "  statuses    $R_STATUS"
    echo "  non-2xx     $R_NON2XX"
    echo "  socket errs $R_ERRORS"
    echo
    if [ "$R_REQUESTS" -gt 0 ]; then pass "requests sent: $R_REQUESTS"; else fail "no request was sent"; fi
    if [ "$R_NON2XX" -eq 0 ]; then pass "no non-2xx responses"; else fail "$R_NON2XX non-2xx responses (status $R_STATUS)"; fi
    if [ "$R_ERRORS" -eq 0 ]; then pass "no socket errors"; else fail "$R_ERRORS socket errors: $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["error_kinds"])' "$TMP/run.json")"; fi
    echo "RESULT tool=$LOAD_TOOL runtime=$RUNTIME users=$USERS requests=$R_REQUESTS rps=$R_RPS p50_ms=$R_P50 p90_ms=$R_P90 p99_ms=$R_P99 non2xx=$R_NON2XX errors=$R_ERRORS"
else
    fail "measured run failed"
fi

if curl -sS -o "$TMP/cb.json" --max-time 10 "$FAAS_URL/callbacks/$FN_PATH" 2>/dev/null; then
    info "instances after the run: $(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
n = len(d.get("instances") or [])
state = d.get("state")
print(f"{n} (state {state})")' "$TMP/cb.json" 2>/dev/null || echo '?')"
fi

code=$(curl -sS -o "$TMP/undeploy.out" -w '%{http_code}' --max-time 120 -H 'content-type: application/json' \
    -d "{\"path\":\"$FN_PATH\",\"action\":\"undeploy\"}" "$FAAS_URL/callback/deploy" || true)
if [ "$code" = 200 ]; then pass "undeployed $FN_PATH"; else fail "undeploy $FN_PATH: status ${code:-none}"; fi

finish
