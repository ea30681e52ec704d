# shellcheck shell=bash
# Shared helpers of the tests/*.sh scripts that run against a faas-gateway
# (docker_health_check, faas_integration_test, load_test, chaos_test, bench_proxy).
# Sourcing it only defines functions and counters; nothing runs.
#
# The scripts set TMP (a temporary directory) before using the helpers that
# write files, and call init_load_settings and set LOAD_TIMEOUT_S before using
# the load tool helpers.

# ------------------------------------------------------------------ settings
# Settings with two names: the one the test scripts of the gateway this one
# replaces are documented with (first), and the one these scripts read before.
# When both are set, the first wins.
SETTING_NAMES_HELP='Settings with two names (the first wins when both are set; a note on stderr
says so when they differ):
  FAAS_BASE_URL    = FAAS_URL             the gateway
  KUBE_NAMESPACE   = FAAS_KUBE_NAMESPACE  the functions namespace (tests/kube/)
  CONCURRENT_USERS = USERS                concurrent connections of a load run
  TOTAL_REQUESTS   = REQUESTS             requests of a load run'

# setting NAME OTHER DEFAULT: sets OTHER (the name the scripts use) to $NAME,
# else to $OTHER, else to DEFAULT.
setting() {
    local name=$1 other=$2 default=$3
    local first="${!name:-}" second="${!other:-}"
    if [ -n "$first" ] && [ -n "$second" ] && [ "$first" != "$second" ]; then
        echo "note: $name=$first and $other=$second are both set; using $name" >&2
    fi
    printf -v "$other" '%s' "${first:-${second:-$default}}"
}

# ------------------------------------------------------------------ arguments
# handle_args "$@": --help / -h prints usage (the calling script's function) and
# the two-name settings, and exits 0; no argument continues; anything else exits 2.
handle_args() {
    case "${1:-}" in
        -h | --help) usage; printf '\n%s\n' "$SETTING_NAMES_HELP"; exit 0 ;;
        "") ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
}

# ------------------------------------------------------------------ results
PASSED=0
FAILED=0
WARNED=0
pass() { echo "PASS $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $*"; FAILED=$((FAILED + 1)); }
warn() { echo "WARN $*"; WARNED=$((WARNED + 1)); }
info() { echo "INFO $*"; }
section() { printf '\n== %s\n' "$*"; }
# summary: the "summary: N passed, M failed" line (after an empty line)
summary() { printf '\nsummary: %d passed, %d failed\n' "$PASSED" "$FAILED"; }
# finish: summary, then succeed only when nothing failed
finish() {
    summary
    [ "$FAILED" -eq 0 ]
}

# ------------------------------------------------------------------ checks
# init_faas_url: FAAS_URL from FAAS_BASE_URL or FAAS_URL (default
# http://127.0.0.1:8000), without a trailing /
init_faas_url() {
    setting FAAS_BASE_URL FAAS_URL http://127.0.0.1:8000
    FAAS_URL="${FAAS_URL%/}"
}

# init_load_settings USERS REQUESTS: USERS from CONCURRENT_USERS or USERS and
# REQUESTS from TOTAL_REQUESTS or REQUESTS, with these defaults
init_load_settings() {
    setting CONCURRENT_USERS USERS "$1"
    setting TOTAL_REQUESTS REQUESTS "$2"
}

# require_loopback URL [PREFIX]: exit 2 unless URL's host is a loopback address;
# the refusal reads "refusing PREFIXURL: ..."
require_loopback() {
    local host
    host=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.urlsplit(sys.argv[1]).hostname or "")' "$1")
    case "$host" in
        127.* | localhost | ::1) ;;
        *) echo "refusing ${2:-}$1: only loopback addresses (127.0.0.0/8, localhost, [::1]) are allowed" >&2; exit 2 ;;
    esac
}

# require_tools TOOL...: exit 1 with "FAIL missing tool: TOOL" for the first missing one
require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || { echo "FAIL missing tool: $tool"; exit 1; }
    done
}

is_number() { case "$1" in '' | *[!0-9]*) return 1 ;; esac; }

# require_numbers VAR...: exit 2 unless every named variable is a whole number
require_numbers() {
    local v
    for v in "$@"; do
        is_number "${!v}" || { echo "$v must be a whole number" >&2; exit 2; }
    done
}

# ------------------------------------------------------------------ JSON
# json FILE EXPR: evaluates the python expression EXPR with d = the JSON in FILE.
json() {
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
}

# ------------------------------------------------------------------ gateway
# require_healthy: GET $FAAS_URL/health must answer 200, else FAIL, summary, exit 1
require_healthy() {
    local code
    code=$(curl -s -o /dev/null --max-time 10 -w '%{http_code}' "$FAAS_URL/health" || true)
    if [ "$code" != 200 ]; then
        fail "gateway not healthy: GET /health answered ${code:-nothing}"
        finish || exit 1
    fi
}

# deploy_or_exit PATH: POST $TMP/deploy.json to /callback/deploy (answer in
# $TMP/deploy.out); on anything but 200/201: FAIL, summary, exit 1
deploy_or_exit() {
    local code
    code=$(curl -sS -o "$TMP/deploy.out" -w '%{http_code}' --max-time 300 -H 'content-type: application/json' \
        --data-binary @"$TMP/deploy.json" "$FAAS_URL/callback/deploy" || true)
    if [ "$code" != 201 ] && [ "$code" != 200 ]; then
        fail "deploy $1: status ${code:-none} $(head -c 400 "$TMP/deploy.out")"
        finish || exit 1
    fi
}

# undeploy PATH: action undeploy, PASS on 200, else FAIL
undeploy() {
    local code
    code=$(curl -sS -o "$TMP/undeploy.out" -w '%{http_code}' --max-time 120 -H 'content-type: application/json' \
        -d "{\"path\":\"$1\",\"action\":\"undeploy\"}" "$FAAS_URL/callback/deploy" || true)
    if [ "$code" = 200 ]; then pass "undeployed $1"; else fail "undeploy $1: status ${code:-none}"; fi
}

# delete_callback PATH: DELETE /callbacks/PATH, ignoring the outcome (cleanup)
delete_callback() {
    curl -s -o /dev/null --max-time 60 -X DELETE "$FAAS_URL/callbacks/$1" || true
}

# running_container PATH REVISION: id of one running container of that revision
running_container() {
    docker ps --filter label=faas.managed-by=faas-gateway --filter "label=faas.callback=$1" \
        --filter "label=faas.revision=$2" --format '{{.ID}}' | head -1
}

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

# write_wrk_report: $TMP/report.lua, wrk's Lua hooks: count non-2xx per status
# over every thread, print one JSON line
write_wrk_report() {
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
}

# run_load LABEL URL AMOUNT: one run of the load tool; AMOUNT is a request count
# (oha) or a duration (wrk). Writes $TMP/LABEL.json (normalised) and prints
# "requests rps p50 p90 p99 non2xx errors statuses".
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
# load LABEL URL AMOUNT: run_load and read its numbers into
# R_REQUESTS R_RPS R_P50 R_P90 R_P99 R_NON2XX R_ERRORS R_STATUS
load() {
    local line
    if ! line=$(run_load "$@"); then
        return 1
    fi
    # shellcheck disable=SC2034 # R_* are read by the sourcing script
    read -r R_REQUESTS R_RPS R_P50 R_P90 R_P99 R_NON2XX R_ERRORS R_STATUS <<<"$line"
}

# load_amounts: warm (warm-up amount: WARMUP, default 500 requests for oha / 2s
# for wrk) and amount (REQUESTS for oha, DURATION for wrk) for $LOAD_TOOL
# shellcheck disable=SC2034,SC2153 # warm/amount are read by the sourcing script, which sets REQUESTS
load_amounts() {
    if [ "$LOAD_TOOL" = oha ]; then
        warm="${WARMUP:-500}"
        amount=$REQUESTS
    else
        warm="${WARMUP:-2s}"
        amount=$DURATION
    fi
}
