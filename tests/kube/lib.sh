# shellcheck shell=bash
# Variables set here are read by the scripts that source this file.
# shellcheck disable=SC2034
# Helpers shared by the tests/kube/*.sh scripts (sourced, not run). They drive a running
# faas-gateway over HTTP and look at the cluster with kubectl.
#
# A script sets USAGE (its --help text), then calls: kube_main_args "$@"; kube_preflight TOOLS…
# It may define extra_cleanup (run first by the EXIT trap) and calls `summary` at the end.
#
# Built on tests/lib/common.sh (counters, pass, info, section, the gateway URL and the
# two-name settings); fail and summary are redefined below: here a failure names a scenario
# and a reason, and the summary lists the failed scenarios.

# shellcheck source=tests/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

init_faas_url
setting KUBE_NAMESPACE FAAS_KUBE_NAMESPACE faas-functions
NS=$FAAS_KUBE_NAMESPACE
GATEWAY_NS="${FAAS_GATEWAY_NAMESPACE:-faas-system}"
GATEWAY_SA="${FAAS_GATEWAY_SA:-faas-gateway}"
GATEWAY_ROLE="${FAAS_GATEWAY_ROLE:-faas-gateway}"
GATEWAY_USER="system:serviceaccount:$GATEWAY_NS:$GATEWAY_SA"
DEPLOY_TIMEOUT_S="${DEPLOY_TIMEOUT_S:-600}"
CALL_TIMEOUT_S="${CALL_TIMEOUT_S:-180}"

# The environment every script documents in its --help.
COMMON_ENV='Environment:
  KUBECONFIG            the cluster (or ~/.kube/config); without either the script exits 2
  FAAS_BASE_URL (or FAAS_URL)
                        the gateway (default http://127.0.0.1:8000), e.g. after
                        kubectl -n faas-system port-forward svc/faas-gateway 8000
  KUBE_NAMESPACE (or FAAS_KUBE_NAMESPACE)
                        the functions namespace the gateway uses (default faas-functions)
  FAAS_GATEWAY_NAMESPACE, FAAS_GATEWAY_SA, FAAS_GATEWAY_ROLE
                        the gateway'"'"'s ServiceAccount and Role (default faas-system,
                        faas-gateway, faas-gateway: k8s/)
  FAAS_ADMIN_TOKEN, FAAS_INVOKE_TOKEN
                        sent as Authorization: Bearer … when set
  DEPLOY_TIMEOUT_S      limit for one synchronous deploy (default 600)
  CALL_TIMEOUT_S        limit for one call (default 180)
Exit status: 0 every scenario passed, 1 one failed, 2 cannot run (usage, missing tool,
no kubeconfig).'

FAILURES=()
# fail SCENARIO WHY
fail() {
    echo "FAIL $1: $2"
    FAILED=$((FAILED + 1))
    FAILURES+=("$1")
}
# check SCENARIO WHY-IF-NOT COMMAND...: PASS when the command succeeds
check() {
    local what=$1 why=$2
    shift 2
    if "$@" >/dev/null; then pass "$what"; else fail "$what" "$why"; fi
}

summary() {
    printf '\nsummary: %d passed, %d failed\n' "$PASSED" "$FAILED"
    local f
    for f in "${FAILURES[@]}"; do echo "  failed: $f"; done
    [ "$FAILED" -eq 0 ]
}

# Stops the script early (the EXIT trap still cleans up): a scenario everything else needs failed.
abort() {
    fail "$1" "$2"
    echo "INFO stopping: the remaining scenarios need this one"
    summary || true
    exit 1
}

# The --help text of handle_args (common.sh).
usage() { printf '%s\n\n%s\n' "$USAGE" "$COMMON_ENV"; }
kube_main_args() { handle_args "$@"; }

# kube_preflight TOOL…: the tools and a kubeconfig, or exit 2 saying why.
kube_preflight() {
    local tool
    for tool in "$@"; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "cannot run: $tool is not installed (needed: $*)" >&2
            exit 2
        fi
    done
    if [ -n "${KUBECONFIG:-}" ]; then
        local f found=0 IFS=:
        for f in $KUBECONFIG; do [ -f "$f" ] && found=1; done
        if [ "$found" = 0 ]; then
            echo "cannot run: KUBECONFIG=$KUBECONFIG names no existing file" >&2
            exit 2
        fi
    elif [ ! -f "${HOME:-/nonexistent}/.kube/config" ]; then
        echo "cannot run: no cluster configured (KUBECONFIG is unset and ~/.kube/config does not exist);" >&2
        echo "these scripts need a real Kubernetes cluster and a gateway using it (see --help)" >&2
        exit 2
    fi
}

AUTH_ADMIN=()
AUTH_INVOKE=()
if [ -n "${FAAS_ADMIN_TOKEN:-}" ]; then AUTH_ADMIN=(-H "Authorization: Bearer $FAAS_ADMIN_TOKEN"); fi
if [ -n "${FAAS_INVOKE_TOKEN:-}" ]; then AUTH_INVOKE=(-H "Authorization: Bearer $FAAS_INVOKE_TOKEN"); fi

TMP=$(mktemp -d)
DEPLOYED=()
BACKGROUND=()
cleanup() {
    local status=$? p pid
    trap - EXIT INT TERM
    if declare -F extra_cleanup >/dev/null; then extra_cleanup || true; fi
    for pid in "${BACKGROUND[@]}"; do kill "$pid" 2>/dev/null || true; done
    for p in "${DEPLOYED[@]}"; do
        curl -s -o /dev/null --max-time 120 -X DELETE "${AUTH_ADMIN[@]}" "$FAAS_URL/callbacks/$p" || true
        # Whatever the gateway left behind (it should be nothing).
        kubectl -n "$NS" delete deploy,svc,job,cm,pod -l "faas.callback=$p" \
            --ignore-not-found --wait=false >/dev/null 2>&1 || true
        if command -v docker >/dev/null 2>&1; then
            docker ps -aq --filter label=faas.managed-by=faas-gateway --filter "label=faas.callback=$p" 2>/dev/null |
                xargs -r docker rm -f >/dev/null 2>&1 || true
        fi
    done
    rm -rf "$TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# req METHOD URL_PATH [BODY] [extra curl args…]: body in $TMP/body, headers in $TMP/headers,
# status in $CODE (000 when no answer), total seconds in $TIME.
CODE=000
TIME=0
req() {
    local method=$1 url=$2 body=${3:-}
    shift 3 || shift $#
    local args=(-sS -X "$method" -o "$TMP/body" -D "$TMP/headers" -w '%{http_code} %{time_total}')
    case "$url" in
        /api/*) args+=("${AUTH_INVOKE[@]}" --max-time "$CALL_TIMEOUT_S") ;;
        *) args+=("${AUTH_ADMIN[@]}" --max-time "$DEPLOY_TIMEOUT_S") ;;
    esac
    if [ -n "$body" ]; then
        printf '%s' "$body" >"$TMP/request"
        args+=(-H 'content-type: application/json' --data-binary "@$TMP/request")
    fi
    local out
    : >"$TMP/body"
    : >"$TMP/headers"
    out=$(curl "${args[@]}" "$@" "$FAAS_URL$url" 2>"$TMP/curl.err") || out="000 0"
    CODE=${out%% *}
    TIME=${out#* }
}

# hdr NAME: the last value of a response header, empty when absent
hdr() {
    awk -v n="$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')" '
        { line = $0; sub(/\r$/, "", line); i = index(line, ":") }
        i > 0 && tolower(substr(line, 1, i - 1)) == n { v = substr(line, i + 1); sub(/^[ \t]+/, "", v) }
        END { print v }' "$TMP/headers"
}

# jq_ EXPR [FILE]: a python expression over d = the JSON body; strings print raw. Fails (3/4)
# when the body is not JSON or the expression raises.
jq_() {
    python3 -c 'import json, sys
try:
    d = json.load(open(sys.argv[2]))
except Exception:
    sys.exit(3)
try:
    v = eval(sys.argv[1])
except Exception:
    sys.exit(4)
print(v if isinstance(v, str) else json.dumps(v))' "$1" "${2:-$TMP/body}" 2>/dev/null
}

body_snippet() { head -c 300 "$TMP/body" | tr '\n' ' '; }

# deploy_json PATH CODE EXTRA_JSON: a deploy body for a python callback
deploy_json() {
    python3 -c 'import json, sys
d = {"path": sys.argv[1], "runtime": "python", "code": sys.argv[2]}
d.update(json.loads(sys.argv[3]))
print(json.dumps(d))' "$1" "$2" "${3:-"{}"}"
}

# deploy PATH CODE EXTRA_JSON: a synchronous deploy; the path is deleted at exit
deploy() {
    case " ${DEPLOYED[*]} " in
        *" $1 "*) ;;
        *) DEPLOYED+=("$1") ;;
    esac
    req POST /callback/deploy "$(deploy_json "$1" "$2" "${3:-"{}"}")"
}

# done_with PATH: deletes the callback now and waits (up to 60 s) until none of its objects is
# left, so a scenario's pods never hold capacity the next one needs
done_with() {
    req DELETE "/callbacks/$1"
    if ! wait_until 60 no_kube_objects "$1"; then
        info "$1: still present 60 s after delete: $(kleft "$1")"
    fi
}

deployed_ok() { { [ "$CODE" = 201 ] || [ "$CODE" = 200 ]; } && [ "$(jq_ 'd.get("state")' || true)" = ready ]; }

# error_is STATUS CODE: the last answer was the gateway's error STATUS/CODE
error_is() { [ "$CODE" = "$1" ] && [ "$(jq_ 'd["error"]["code"]' || true)" = "$2" ]; }
error_text() { printf 'status %s, error %s' "$CODE" "$(jq_ 'd["error"]' || body_snippet)"; }

now_ms() { date +%s%3N; }
uid() { printf '%s%s' "$RANDOM" "$RANDOM" | cut -c1-8; }

# wait_until MAX_S COMMAND…: polls every second; sets WAITED (s)
WAITED=0
wait_until() {
    local max=$1 start
    shift
    start=$(date +%s)
    while :; do
        WAITED=$(($(date +%s) - start))
        if "$@"; then return 0; fi
        [ "$WAITED" -ge "$max" ] && return 1
        sleep 1
    done
}

# kget ARGS…: kubectl -n NS get ARGS -o json into $TMP/k.json
kget() { kubectl -n "$NS" get "$@" -o json >"$TMP/k.json" 2>"$TMP/k.err"; }

# kleft PATH KINDS: names of the callback's objects still present (empty when none)
kleft() {
    kubectl -n "$NS" get "${2:-deploy,svc,job,cm,pod}" -l "faas.callback=$1" -o name 2>"$TMP/k.err" | tr '\n' ' '
}
no_kube_objects() { [ -z "$(kleft "$1" "${2:-deploy,svc,job,cm,pod}")" ]; }

# state_is PATH STATE: GET /callbacks/PATH says STATE (idle also means no instances)
state_is() {
    req GET "/callbacks/$1"
    [ "$(jq_ 'd.get("state")' || true)" = "$2" ] &&
        { [ "$2" != idle ] || [ "$(jq_ 'len(d.get("instances") or [])' || true)" = 0 ]; }
}

# gateway_up: /health answers; /ready reports a working kubernetes backend
gateway_up() {
    req GET /health
    if [ "$CODE" != 200 ]; then
        abort "gateway reachable at $FAAS_URL" "GET /health answered $CODE $(head -c 200 "$TMP/curl.err")"
    fi
    pass "gateway reachable at $FAAS_URL"
    req GET /ready
    local k8s
    k8s=$(jq_ 'd["checks"].get("kubernetes")' || echo null)
    if [ "$k8s" = null ]; then
        abort "gateway has the kubernetes backend" "GET /ready lists no kubernetes check: start it with FAAS_BACKEND=kubernetes / a kubeconfig"
    elif [ "$(jq_ 'd["checks"]["kubernetes"]["ok"]' || true)" != true ]; then
        abort "gateway has the kubernetes backend" "GET /ready: kubernetes $k8s"
    fi
    pass "gateway has the kubernetes backend (GET /ready: $k8s)"
}

cluster_up() {
    local v
    if v=$(kubectl version -o json 2>"$TMP/k.err" | python3 -c 'import json, sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])' 2>/dev/null); then
        pass "cluster reachable (server $v, context $(kubectl config current-context 2>/dev/null || echo '?'))"
    else
        abort "cluster reachable" "kubectl version: $(head -c 300 "$TMP/k.err" | tr '\n' ' ')"
    fi
}

# kpy PROGRAM ARGS…: python with helpers for Kubernetes JSON: load(path), items(path),
# mem(quantity) -> bytes, cpu(quantity) -> cores, watch_objects(path) for `get -w -o json`.
KPY_PRELUDE='import json, math, sys
def load(path):
    with open(path) as f:
        return json.load(f)
def items(path):
    d = load(path)
    return d.get("items", [d]) if isinstance(d, dict) else []
def mem(q):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    for u in sorted(units, key=len, reverse=True):
        if str(q).endswith(u):
            return float(str(q)[: -len(u)]) * units[u]
    return float(q)
def cpu(q):
    q = str(q)
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)
def watch_objects(path):
    text, out, i = open(path).read(), [], 0
    dec = json.JSONDecoder()
    while True:
        while i < len(text) and text[i] not in "{[":
            i += 1
        if i >= len(text):
            return out
        try:
            obj, i = dec.raw_decode(text, i)
        except ValueError:
            return out
        out.append(obj)
'
kpy() {
    local program=$1
    shift
    python3 -c "$KPY_PRELUDE$program" "$@"
}
