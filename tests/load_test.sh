#!/usr/bin/env bash
# Load test of one function through a running faas-gateway, with oha or wrk: an already
# deployed callback, or a small function of its own.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: tests/load_test.sh [--help] [<endpoint_path>]

Drives a callback's /api/ endpoint with a real load tool and prints throughput
(req/s), latency percentiles (p50/p90/p99), the request count and the non-2xx
count. Fails if any response is not 2xx (or any socket error happens).

  <endpoint_path>  an already deployed callback to load: its path (hello), or the
                   path of the endpoint under /api/ with an optional rest and
                   query (/api/hello/items?id=1; the /api/ prefix may be left
                   out). The callback must exist; it is left as it is (nothing
                   deployed, undeployed or deleted).
  (none)           deploys a small function of its own (RUNTIME, MIN_INSTANCES,
                   MAX_INSTANCES below), loads it, then undeploys and deletes it.

Load tool: oha when installed, else wrk (installed with `apt-get install -y wrk`
when missing and running as root). oha sends TOTAL_REQUESTS requests; wrk is
duration-based and runs for DURATION instead (the request count is reported).
One call first (it must answer 2xx), then a short warm-up run (not measured,
but checked for non-2xx).

Environment:
  FAAS_BASE_URL (or FAAS_URL)
                 gateway URL (default http://127.0.0.1:8000); loopback only
  CONCURRENT_USERS (or USERS)
                 concurrent connections (default 32)
  TOTAL_REQUESTS (or REQUESTS)
                 total requests, oha (default 5000)
  DURATION       run time, wrk (default 10s)
  WARMUP         warm-up: requests for oha / duration for wrk (default 500 / 2s)
  RUNTIME        own function: python (default) or node
  MIN_INSTANCES  own function: min_instances (default 1)
  MAX_INSTANCES  own function: max_instances (default 4)
  LOAD_TOOL      force oha or wrk
  LOAD_TIMEOUT_S hard limit for one load run in seconds (default 300)
Needs: bash, curl, python3, docker, and oha or wrk.
EOF
}

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
ENDPOINT=""
case "${1:-}" in
    -h | --help) handle_args --help ;;
    -*) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    *) ENDPOINT="${1:-}" ;;
esac
[ "$#" -le 1 ] || { echo "one endpoint path at most (see --help)" >&2; exit 2; }

init_faas_url
init_load_settings 32 5000
RUNTIME="${RUNTIME:-python}"
DURATION="${DURATION:-10s}"
MIN_INSTANCES="${MIN_INSTANCES:-1}"
MAX_INSTANCES="${MAX_INSTANCES:-4}"
LOAD_TIMEOUT_S="${LOAD_TIMEOUT_S:-300}"

require_tools curl python3
require_loopback "$FAAS_URL"
case "$RUNTIME" in python | node) ;; *) echo "RUNTIME must be python or node" >&2; exit 2 ;; esac
require_numbers USERS REQUESTS MIN_INSTANCES MAX_INSTANCES LOAD_TIMEOUT_S
[ "$USERS" -ge 1 ] || { echo "CONCURRENT_USERS (USERS) must be at least 1" >&2; exit 2; }

# An endpoint path ("hello", "/hello", "/api/hello", "api/hello/rest?q=1") gives API_PATH,
# what follows /api/ ("hello/rest?q=1"), and FN_PATH, the callback ("hello").
API_PATH=""
FN_PATH=""
if [ -n "$ENDPOINT" ]; then
    API_PATH="${ENDPOINT#/}"
    API_PATH="${API_PATH#api/}"
    FN_PATH="${API_PATH%%[/?]*}"
    case "$FN_PATH" in
        [a-z]*) ;;
        *) echo "'$ENDPOINT' names no callback: give its path, e.g. hello or /api/hello (see --help)" >&2; exit 2 ;;
    esac
fi

TMP=$(mktemp -d)
OWN_PATH=""
cleanup() {
    if [ -n "$OWN_PATH" ]; then
        delete_callback "$OWN_PATH"
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
write_wrk_report

# deploy_own: deploys the script's own function; sets OWN_PATH, FN_PATH and API_PATH
deploy_own() {
    local code_src
    OWN_PATH="load-$RANDOM$RANDOM"
    FN_PATH=$OWN_PATH
    API_PATH=$OWN_PATH
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
    deploy_or_exit "$FN_PATH"
    pass "deployed $FN_PATH ($RUNTIME, min_instances $MIN_INSTANCES, max_instances $MAX_INSTANCES)"
}

# require_callback: GET /callbacks/FN_PATH answers 200 (kept in $TMP/cb.json),
# else FAIL, summary, exit 1
require_callback() {
    local code
    code=$(curl -sS -o "$TMP/cb.json" -w '%{http_code}' --max-time 10 "$FAAS_URL/callbacks/$FN_PATH" 2>/dev/null || true)
    if [ "$code" != 200 ]; then
        fail "no callback $FN_PATH to load: GET /callbacks/$FN_PATH answered ${code:-nothing} $(head -c 300 "$TMP/cb.json" 2>/dev/null || true) (deploy it first, or run without an argument)"
        finish || exit 1
    fi
    pass "callback $FN_PATH exists (state $(json "$TMP/cb.json" 'd.get("state")' 2>/dev/null || echo '?'))"
}

# ------------------------------------------------------------------ main
if [ -n "$ENDPOINT" ]; then
    echo "faas-gateway load test against $FAAS_URL: /api/$API_PATH ($USERS users)"
else
    echo "faas-gateway load test against $FAAS_URL (own $RUNTIME function, $USERS users)"
fi
require_healthy
pick_load_tool
pass "load tool: $LOAD_TOOL ($("$LOAD_TOOL" --version 2>&1 | head -1))"

if [ -n "$ENDPOINT" ]; then
    require_callback
else
    deploy_own
fi
URL="$FAAS_URL/api/$API_PATH"
code=$(curl -sS -o "$TMP/one.out" -w '%{http_code}' --max-time 60 "$URL" 2>"$TMP/one.err" || true)
snippet=$(head -c 200 "$TMP/one.out" | tr '\n' ' ')
case "$code" in
    2??) pass "one call answers $code${snippet:+: $snippet}" ;;
    *) fail "one call answered ${code:-nothing}: ${snippet:-$(head -c 200 "$TMP/one.err")}" ;;
esac
if [ -n "$OWN_PATH" ] && [ "$(cat "$TMP/one.out")" != ok ]; then
    fail "the function's call answered '$snippet', not 'ok'"
fi

load_amounts
if [ "$LOAD_TOOL" = oha ]; then
    what="$REQUESTS requests"
else
    what="$DURATION (wrk is duration-based; TOTAL_REQUESTS is not used)"
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
    echo "RESULT tool=$LOAD_TOOL path=$FN_PATH users=$USERS requests=$R_REQUESTS rps=$R_RPS p50_ms=$R_P50 p90_ms=$R_P90 p99_ms=$R_P99 non2xx=$R_NON2XX errors=$R_ERRORS"
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

if [ -n "$OWN_PATH" ]; then
    undeploy "$OWN_PATH"
else
    info "$FN_PATH left as it was (this script did not deploy it)"
fi

finish
