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

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
handle_args "$@"

init_faas_url
RUNTIME="${RUNTIME:-python}"
USERS="${USERS:-32}"
REQUESTS="${REQUESTS:-5000}"
DURATION="${DURATION:-10s}"
MIN_INSTANCES="${MIN_INSTANCES:-1}"
MAX_INSTANCES="${MAX_INSTANCES:-4}"
LOAD_TIMEOUT_S="${LOAD_TIMEOUT_S:-300}"

require_tools curl python3
require_loopback "$FAAS_URL"
case "$RUNTIME" in python | node) ;; *) echo "RUNTIME must be python or node" >&2; exit 2 ;; esac
require_numbers USERS REQUESTS MIN_INSTANCES MAX_INSTANCES LOAD_TIMEOUT_S
[ "$USERS" -ge 1 ] || { echo "USERS must be at least 1" >&2; exit 2; }

TMP=$(mktemp -d)
FN_PATH=""
cleanup() {
    if [ -n "$FN_PATH" ]; then
        delete_callback "$FN_PATH"
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
write_wrk_report

# ------------------------------------------------------------------ main
echo "faas-gateway load test against $FAAS_URL (runtime $RUNTIME, $USERS users)"
require_healthy
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
deploy_or_exit "$FN_PATH"
pass "deployed $FN_PATH ($RUNTIME, min_instances $MIN_INSTANCES, max_instances $MAX_INSTANCES)"
URL="$FAAS_URL/api/$FN_PATH"
body=$(curl -sS --max-time 30 "$URL" || true)
if [ "$body" = ok ]; then pass "one call answers 'ok'"; else fail "one call answered '$body'"; fi

load_amounts
if [ "$LOAD_TOOL" = oha ]; then
    what="$REQUESTS requests"
else
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

undeploy "$FN_PATH"

finish
