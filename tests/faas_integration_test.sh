#!/usr/bin/env bash
# End-to-end service flow and API-contract checks against a running faas-gateway.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: tests/faas_integration_test.sh [--help]

Runs against a running faas-gateway (it starts nothing itself):
  1. deploy a Python and a Node function, invoke them (body, X-Faas-Revision,
     X-Request-Id echoed and passed to the function), redeploy changed code
     (revision 2, new body), redeploy identical code (no-op: same revision, same
     instances), undeploy (404 CALLBACK_NOT_DEPLOYED, no containers left with the
     callback's label), delete (204, then 404 CALLBACK_NOT_FOUND)
  2. API contract against GET /openapi.json: every route used here is
     documented; error bodies carry error.code, error.message, error.details and
     request_id; a validation failure names its field in error.details.fields
  3. cold starts: deploy with idle_timeout_s=1 and, COLD_STARTS times, wait for
     state "idle", time one call (curl %{time_total}), check
     X-Faas-Cold-Start: true; prints min/median/p95 in ms
  4. namespaces: create one (tokens shown once, quota max_callbacks=1), deploy a
     callback in it with its admin token, call it with its invoke token (another
     namespace's callbacks are not found for it), a second callback is refused
     (403 QUOTA_EXCEEDED), delete the namespace (204): no container labelled
     faas.namespace=<it> and no image of its callback is left, its tokens stop
     working, its callback answers 404

Everything deployed uses a unique path (it-<random>) and is deleted at exit, and so
is every namespace made (it-ns-<random>).

Environment:
  FAAS_BASE_URL (or FAAS_URL)
                gateway URL (default http://127.0.0.1:8000); loopback only
  COLD_STARTS   number of cold starts to measure (default 5; 0 skips)
  IDLE_WAIT_S   how long to wait for "idle" before each cold start (default 30)
  DEPLOY_TIMEOUT_S  limit for one synchronous deploy (default 300)
  FAAS_ADMIN_TOKEN  sent to the namespace routes when the gateway has one
Needs: bash, curl, python3, docker.
EOF
}

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
handle_args "$@"

init_faas_url
COLD_STARTS="${COLD_STARTS:-5}"
IDLE_WAIT_S="${IDLE_WAIT_S:-30}"
DEPLOY_TIMEOUT_S="${DEPLOY_TIMEOUT_S:-300}"

# check DESCRIPTION COMMAND...: PASS when the command succeeds
check() {
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
# eq2 A B C D: A = B and C = D
eq2() { [ "$1" = "$2" ] && [ "$3" = "$4" ]; }

require_tools curl python3 docker
require_loopback "$FAAS_URL" "gateway URL "
case "$COLD_STARTS" in '' | *[!0-9]*) echo "COLD_STARTS must be a number" >&2; exit 2 ;; esac

TMP=$(mktemp -d)
DEPLOYED=()
NAMESPACES=()
ADMIN_AUTH=()
if [ -n "${FAAS_ADMIN_TOKEN:-}" ]; then ADMIN_AUTH=(-H "Authorization: Bearer $FAAS_ADMIN_TOKEN"); fi
cleanup() {
    local p
    for p in "${DEPLOYED[@]}"; do
        delete_callback "$p"
    done
    for p in "${NAMESPACES[@]}"; do
        curl -s -o /dev/null --max-time 120 -X DELETE "${ADMIN_AUTH[@]}" "$FAAS_URL/namespaces/$p" || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

# ------------------------------------------------------------------ helpers
# req METHOD URL_PATH [BODY] [extra curl args...]: response in $TMP/body and
# $TMP/headers, status in $CODE, total time (s) in $TIME.
CODE=000
TIME=0
USED_ROUTES=()
req() {
    local method=$1 url=$2 body=${3:-}
    shift 3 || shift $#
    local args=(-sS -X "$method" -o "$TMP/body" -D "$TMP/headers" -w '%{http_code} %{time_total}' --max-time "$DEPLOY_TIMEOUT_S")
    if [ -n "$body" ]; then
        args+=(-H 'content-type: application/json' --data-binary "$body")
    fi
    local out
    : >"$TMP/body"
    : >"$TMP/headers"
    out=$(curl "${args[@]}" "$@" "$FAAS_URL$url" 2>"$TMP/curl.err") || out="000 0"
    CODE=${out%% *}
    TIME=${out#* }
    USED_ROUTES+=("$method $url")
}

# hdr NAME: value of a response header (last one), empty when absent
hdr() {
    awk -v n="$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')" '
        { line = $0; sub(/\r$/, "", line); i = index(line, ":") }
        i > 0 && tolower(substr(line, 1, i - 1)) == n { v = substr(line, i + 1); sub(/^[ \t]+/, "", v) }
        END { print v }' "$TMP/headers"
}

# jq_ EXPR [FILE]: python expression over d = JSON body; prints strings raw
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

body_snippet() { head -c 400 "$TMP/body" | tr '\n' ' '; }

# deploy_json PATH RUNTIME CODE [EXTRA_JSON_FIELDS]: a deploy body
deploy_json() {
    python3 -c 'import json, sys
d = {"path": sys.argv[1], "runtime": sys.argv[2], "code": sys.argv[3]}
d.update(json.loads(sys.argv[4]))
print(json.dumps(d))' "$1" "$2" "$3" "${4:-"{}"}"
}

# check_envelope WHAT STATUS CODE [SENT_REQUEST_ID]: the gateway error contract
check_envelope() {
    local what=$1 status=$2 code=$3 sent=${4:-}
    local problems
    problems=$(python3 - "$TMP/body" "$status" "$code" "$CODE" "$(hdr x-request-id)" "$sent" <<'PY'
import json, sys
path, want_status, want_code, got_status, hdr_id, sent = sys.argv[1:7]
p = []
if got_status != want_status:
    p.append(f"status {got_status} (want {want_status})")
try:
    d = json.load(open(path))
except Exception:
    print(f"status {got_status}, body is not JSON: {open(path, errors='replace').read(200)!r}")
    sys.exit()
e = d.get("error") if isinstance(d, dict) else None
if not isinstance(e, dict):
    p.append("no error object")
else:
    if e.get("code") != want_code:
        p.append(f"error.code={e.get('code')!r} (want {want_code})")
    if not isinstance(e.get("message"), str) or not e.get("message"):
        p.append("error.message missing or empty")
    if not isinstance(e.get("details"), dict):
        p.append(f"error.details not an object: {e.get('details')!r}")
rid = d.get("request_id") if isinstance(d, dict) else None
if not isinstance(rid, str) or not rid:
    p.append("request_id missing")
elif rid != hdr_id:
    p.append(f"request_id {rid!r} != X-Request-Id header {hdr_id!r}")
if sent and rid != sent:
    p.append(f"request_id {rid!r} != the one sent {sent!r}")
print("; ".join(p))
PY
)
    if [ -z "$problems" ]; then
        pass "$what: $status $code with error.{code,message,details} and request_id"
    else
        fail "$what: $problems"
    fi
}

# containers_of PATH: ids of every container (any state) labelled for the callback
containers_of() {
    docker ps -aq --filter label=faas.managed-by=faas-gateway --filter "label=faas.callback=$1"
}

instance_ids() { jq_ '" ".join(sorted(i["id"] for i in d.get("instances", [])))'; }

# wait_state PATH STATE MAX_S: polls GET /callbacks/PATH (every 0.2 s) until
# state == STATE and no instances are listed (for idle); sets WAITED (s)
WAITED=0
wait_state() {
    local path=$1 want=$2 max=$3 start now state n
    start=$(date +%s%N)
    while :; do
        req GET "/callbacks/$path"
        state=$(jq_ 'd.get("state")' || echo "?")
        n=$(jq_ 'len(d.get("instances") or [])' || echo "?")
        now=$(date +%s%N)
        WAITED=$(( (now - start) / 1000000 ))
        if [ "$state" = "$want" ] && { [ "$want" != idle ] || [ "$n" = 0 ]; }; then
            return 0
        fi
        if [ "$WAITED" -ge $((max * 1000)) ]; then
            echo "INFO   still state=$state instances=$n after ${max}s"
            return 1
        fi
        sleep 0.2
    done
}

uid() { echo "$RANDOM$RANDOM"; }

echo "faas-gateway integration test against $FAAS_URL"

section "Gateway up"
req GET /health
if [ "$CODE" != 200 ]; then
    fail "GET /health answered $CODE $(head -c 200 "$TMP/curl.err")"
    summary
    exit 1
fi
pass "GET /health 200 ($(body_snippet))"
req GET /ready
check "GET /ready 200 status=ready" eq2 "$CODE" 200 "$(jq_ 'd["status"]' || true)" ready

# ------------------------------------------------------------------ service flow
# flow RUNTIME CODE_V1 CODE_V2: the whole lifecycle of one callback
flow() {
    local runtime=$1 code1=$2 code2=$3
    local path
    path="it-$(uid)"
    DEPLOYED+=("$path")
    section "Service flow: $runtime ($path)"

    # --- first deploy
    req POST /callback/deploy "$(deploy_json "$path" "$runtime" "$code1")"
    if [ "$CODE" = 201 ] && [ "$(jq_ 'd["revision"]')" = 1 ] && [ "$(jq_ 'd["state"]')" = ready ]; then
        pass "deploy: 201 revision 1 state ready (${TIME}s)"
    else
        fail "deploy: status $CODE body $(body_snippet)"
        return 0
    fi

    # --- invoke
    local rid
    rid="it-rid-$(uid)"
    req GET "/api/$path?name=dev" "" -H "X-Request-Id: $rid"
    check "invoke: 200" [ "$CODE" = 200 ]
    check "invoke: body v=1 from $runtime" [ "$(jq_ '(d["v"], d["runtime"])')" = "[1, \"$runtime\"]" ]
    check "invoke: function saw query name=dev" [ "$(jq_ 'd["name"]')" = dev ]
    check "invoke: X-Faas-Revision: 1 (got '$(hdr x-faas-revision)')" [ "$(hdr x-faas-revision)" = 1 ]
    check "invoke: X-Request-Id echoed (got '$(hdr x-request-id)')" [ "$(hdr x-request-id)" = "$rid" ]
    check "invoke: context.request_id is the sent id (got '$(jq_ 'd["rid"]')')" [ "$(jq_ 'd["rid"]')" = "$rid" ]
    check "invoke: X-Faas-Cold-Start present (got '$(hdr x-faas-cold-start)')" [ -n "$(hdr x-faas-cold-start)" ]
    req POST "/api/$path/sub/dir" '{"x":1}'
    check "invoke POST /api/$path/sub/dir: 200, function path /sub/dir, method POST (got $CODE $(jq_ '(d["path"], d["method"])'))" \
        eq2 "$CODE" 200 "$(jq_ '(d["path"], d["method"])' || true)" '["/sub/dir", "POST"]'
    req GET "/api/$path"
    check "invoke without X-Request-Id: one is generated" [ -n "$(hdr x-request-id)" ]

    # --- redeploy with changed code
    req POST /callback/deploy "$(deploy_json "$path" "$runtime" "$code2")"
    if [ "$CODE" = 200 ] && [ "$(jq_ 'd["revision"]')" = 2 ]; then
        pass "redeploy changed code: 200 revision 2 (${TIME}s)"
    else
        fail "redeploy changed code: status $CODE body $(body_snippet)"
    fi
    req GET "/api/$path"
    check "invoke after redeploy: 200 body v=2 (got $CODE $(body_snippet))" eq2 "$CODE" 200 "$(jq_ 'd["v"]' || true)" 2
    check "invoke after redeploy: X-Faas-Revision: 2 (got '$(hdr x-faas-revision)')" [ "$(hdr x-faas-revision)" = 2 ]

    # --- identical redeploy is a no-op
    req GET "/callbacks/$path"
    local before
    before=$(instance_ids || true)
    req POST /callback/deploy "$(deploy_json "$path" "$runtime" "$code2")"
    local after
    after=$(instance_ids || true)
    if [ "$CODE" = 200 ] && [ "$(jq_ 'd["revision"]')" = 2 ]; then
        pass "identical redeploy: 200 same revision 2 (${TIME}s)"
    else
        fail "identical redeploy: status $CODE revision $(jq_ 'd["revision"]' || echo '?') (want 200, 2)"
    fi
    check "identical redeploy: same instances, nothing restarted ('$before' -> '$after')" [ "$before" = "$after" ]
    req GET "/callbacks/$path/revisions"
    check "GET /callbacks/$path/revisions: 2 revisions, newest first (got $(jq_ '[r["revision"] for r in d["revisions"]]'))" \
        [ "$(jq_ '[r["revision"] for r in d["revisions"]]')" = "[2, 1]" ]

    # --- undeploy
    req POST /callback/deploy "{\"path\":\"$path\",\"action\":\"undeploy\"}"
    check "undeploy: 200 state undeployed (got $CODE $(jq_ 'd.get("state")' || true))" eq2 "$CODE" 200 "$(jq_ 'd["state"]' || true)" undeployed
    local rid2
    rid2="it-rid-$(uid)"
    req GET "/api/$path" "" -H "X-Request-Id: $rid2"
    check_envelope "call after undeploy" 404 CALLBACK_NOT_DEPLOYED "$rid2"
    local left
    left=$(containers_of "$path" | tr '\n' ' ' || true)
    check "undeploy: no containers left with label faas.callback=$path (left: '${left}')" [ -z "$left" ]

    # --- delete
    req DELETE "/callbacks/$path"
    check "DELETE /callbacks/$path: 204 (got $CODE)" [ "$CODE" = 204 ]
    req GET "/callbacks/$path"
    check_envelope "GET /callbacks/$path after delete" 404 CALLBACK_NOT_FOUND
    req GET "/api/$path"
    check_envelope "call after delete" 404 CALLBACK_NOT_FOUND
    req DELETE "/callbacks/$path"
    check_envelope "second DELETE" 404 CALLBACK_NOT_FOUND
}

PY_V1='import json

def handle(event, context):
    return {"v": 1, "runtime": "python", "rid": context["request_id"],
            "name": event["query"].get("name"), "path": event["path"], "method": event["method"]}
'
PY_V2='def handle(event, context):
    return {"v": 2, "runtime": "python", "rid": context["request_id"], "path": event["path"]}
'
NODE_V1='exports.handle = async (event, context) => ({
  v: 1, runtime: "node", rid: context.request_id,
  name: event.query.name, path: event.path, method: event.method,
});
'
NODE_V2='exports.handle = (event, context) => ({v: 2, runtime: "node", rid: context.request_id, path: event.path});
'
flow python "$PY_V1" "$PY_V2"
flow node "$NODE_V1" "$NODE_V2"

# ------------------------------------------------------------------ namespaces
# labelled_ns NS: ids of every container (any state) labelled with namespace NS
labelled_ns() { docker ps -aq --filter label=faas.managed-by=faas-gateway --filter "label=faas.namespace=$1" | tr '\n' ' '; }
# images_of PATH: the tags of a callback's images (images carry no labels: their
# repository, faas-fn/<path>, names them)
images_of() { docker images --format '{{.Repository}}:{{.Tag}}' "faas-fn/$1" | tr '\n' ' '; }

ns_flow() {
    local ns path admin invoke left
    ns="it-ns-$(uid)"
    path="it-$(uid)"
    NAMESPACES+=("$ns")
    DEPLOYED+=("$path")
    section "Namespace ($ns)"
    req POST /namespaces "{\"name\":\"$ns\",\"quota\":{\"max_callbacks\":1}}" "${ADMIN_AUTH[@]}"
    admin=$(jq_ 'd["tokens"]["admin"]' || true)
    invoke=$(jq_ 'd["tokens"]["invoke"]' || true)
    if [ "$CODE" = 201 ] && [ -n "$admin" ] && [ -n "$invoke" ]; then
        pass "POST /namespaces: 201 with an admin and an invoke token"
    else
        fail "POST /namespaces: status $CODE body $(body_snippet)"
        return 0
    fi
    req POST /callback/deploy "$(deploy_json "$path" python 'def handle(event, context):
    return "from a namespace"
')" -H "Authorization: Bearer $admin"
    check "deploy with its admin token: 201 in namespace $ns (got $CODE $(jq_ 'd.get("namespace")' || true))" \
        eq2 "$CODE" 201 "$(jq_ 'd.get("namespace")' || true)" "$ns"
    req GET "/api/$path" "" -H "Authorization: Bearer $invoke"
    check "call with its invoke token: 200 (got $CODE $(body_snippet))" eq2 "$CODE" 200 "$(cat "$TMP/body")" "from a namespace"
    req GET "/callbacks" "" -H "Authorization: Bearer $admin"
    check "GET /callbacks with its admin token lists its callback only (got $(jq_ '[c["path"] for c in d["callbacks"]]' || true))" \
        [ "$(jq_ '[c["path"] for c in d["callbacks"]]' || true)" = "[\"$path\"]" ]
    req POST /callback/deploy "$(deploy_json "it-$(uid)" python 'def handle(e, c):
    return 1
')" -H "Authorization: Bearer $admin"
    check_envelope "a second callback over max_callbacks=1" 403 QUOTA_EXCEEDED
    left=$(labelled_ns "$ns")
    check "its container carries faas.namespace=$ns ($left)" [ -n "$left" ]
    check "its callback has an image ($(images_of "$path"))" [ -n "$(images_of "$path")" ]

    req DELETE "/namespaces/$ns" "" "${ADMIN_AUTH[@]}"
    check "DELETE /namespaces/$ns: 204 (got $CODE $(body_snippet))" [ "$CODE" = 204 ]
    left=$(labelled_ns "$ns")
    check "no container labelled faas.namespace=$ns is left ('$left')" [ -z "$left" ]
    left=$(images_of "$path")
    check "no image of its callback is left ('$left')" [ -z "$left" ]
    req GET "/api/$path" "" -H "Authorization: Bearer $invoke"
    check_envelope "call with the deleted namespace's token" 401 UNAUTHORIZED
    req GET "/api/$path"
    if [ -n "${FAAS_INVOKE_TOKEN:-}" ]; then
        pass "call after the namespace delete: skipped (the gateway has an invoke token)"
    else
        check_envelope "call after the namespace delete" 404 CALLBACK_NOT_FOUND
    fi
    req GET "/namespaces/$ns" "" "${ADMIN_AUTH[@]}"
    check_envelope "GET /namespaces/$ns after delete" 404 NAMESPACE_NOT_FOUND
}
ns_flow

# ------------------------------------------------------------------ errors
section "Error contract"
rid="it-rid-$(uid)"
req GET "/api/it-missing-$(uid)" "" -H "X-Request-Id: $rid"
check_envelope "call to an unknown callback" 404 CALLBACK_NOT_FOUND "$rid"
req GET "/no-such-route-$(uid)"
check_envelope "unknown gateway route" 404 ROUTE_NOT_FOUND
req POST /callback/deploy 'this is not json'
check_envelope "deploy with a non-JSON body" 400 INVALID_REQUEST
req POST /callback/deploy '[1, 2]'
check_envelope "deploy with a JSON array" 400 INVALID_REQUEST

# validate WHAT BODY FIELD: 422 VALIDATION_FAILED naming FIELD in details.fields
validate() {
    local what=$1 body=$2 field=$3
    req POST /callback/deploy "$body"
    check_envelope "$what" 422 VALIDATION_FAILED
    local fields
    fields=$(jq_ 'sorted(d["error"]["details"]["fields"])' || echo "none")
    check "$what: error.details.fields names '$field' (fields: $fields)" \
        [ "$(jq_ "'$field' in d['error']['details']['fields']" || true)" = true ]
}
vpath="it-$(uid)"
validate "memory_mb out of range" "{\"path\":\"$vpath\",\"runtime\":\"python\",\"code\":\"x=1\",\"memory_mb\":1}" memory_mb
validate "bad path" '{"path":"Bad_Path!","runtime":"python","code":"x=1"}' path
validate "unknown runtime" "{\"path\":\"$vpath\",\"runtime\":\"cobol\",\"code\":\"x=1\"}" runtime
validate "both code and files" "{\"path\":\"$vpath\",\"runtime\":\"python\",\"code\":\"x=1\",\"files\":{\"handler.py\":\"x=1\"}}" code
validate "reserved env name" "{\"path\":\"$vpath\",\"runtime\":\"python\",\"code\":\"x=1\",\"env\":{\"FAAS_X\":\"1\"}}" env.FAAS_X
validate "min_instances > max_instances" "{\"path\":\"$vpath\",\"runtime\":\"python\",\"code\":\"x=1\",\"min_instances\":3,\"max_instances\":2}" min_instances
validate "unknown field" "{\"path\":\"$vpath\",\"runtime\":\"python\",\"code\":\"x=1\",\"colour\":\"red\"}" colour
req GET "/callbacks/$vpath"
check "a rejected deploy creates no callback (GET -> $CODE)" [ "$CODE" = 404 ]

# ------------------------------------------------------------------ cold starts
COLD_MS=()
if [ "$COLD_STARTS" -gt 0 ]; then
    section "Cold starts ($COLD_STARTS, idle_timeout_s=1)"
    cpath="it-$(uid)"
    DEPLOYED+=("$cpath")
    req POST /callback/deploy "$(deploy_json "$cpath" python 'def handle(event, context):
    return "cold"
' '{"idle_timeout_s": 1, "min_instances": 0}')"
    if [ "$CODE" = 201 ]; then
        pass "deploy $cpath with idle_timeout_s=1 (${TIME}s)"
        for i in $(seq 1 "$COLD_STARTS"); do
            if ! wait_state "$cpath" idle "$IDLE_WAIT_S"; then
                fail "cold start $i: callback not idle within ${IDLE_WAIT_S}s"
                continue
            fi
            req GET "/api/$cpath"
            ms=$(python3 -c 'import sys; print(round(float(sys.argv[1]) * 1000, 1))' "$TIME")
            cold=$(hdr x-faas-cold-start)
            if [ "$CODE" = 200 ] && [ "$cold" = true ] && [ "$(cat "$TMP/body")" = cold ]; then
                pass "cold start $i: 200 X-Faas-Cold-Start: true in ${ms} ms (idle after ${WAITED} ms)"
                COLD_MS+=("$ms")
            else
                fail "cold start $i: status $CODE X-Faas-Cold-Start '$cold' in ${ms} ms body $(body_snippet)"
            fi
        done
        req GET "/api/$cpath"
        check "warm call right after: X-Faas-Cold-Start: false (got '$(hdr x-faas-cold-start)', $(python3 -c 'import sys; print(round(float(sys.argv[1]) * 1000, 1))' "$TIME") ms)" \
            [ "$(hdr x-faas-cold-start)" = false ]
        if [ "${#COLD_MS[@]}" -gt 0 ]; then
            python3 - "${COLD_MS[@]}" <<'PY'
import math, statistics, sys
v = sorted(float(x) for x in sys.argv[1:])
p95 = v[min(len(v) - 1, math.ceil(0.95 * len(v)) - 1)]
print(f"INFO cold start latency over {len(v)} call(s): min {v[0]:.1f} ms, "
      f"median {statistics.median(v):.1f} ms, p95 {p95:.1f} ms, max {v[-1]:.1f} ms")
PY
        fi
    else
        fail "deploy $cpath: status $CODE body $(body_snippet)"
    fi
fi

# ------------------------------------------------------------------ OpenAPI
section "OpenAPI document"
req GET /openapi.json
if [ "$CODE" = 200 ] && jq_ 'd["paths"]' >/dev/null; then
    pass "GET /openapi.json: 200, OpenAPI $(jq_ 'd.get("openapi", "?")'), $(jq_ 'len(d["paths"])') paths"
    cp "$TMP/body" "$TMP/openapi.json"
    # every route this script used (besides the document itself) must be documented
    printf '%s\n' "${USED_ROUTES[@]}" >"$TMP/routes"
    while IFS= read -r line; do
        case "$line" in
            ok\ *) pass "openapi documents ${line#ok }" ;;
            *) fail "openapi does not document ${line#missing }" ;;
        esac
    done < <(python3 - "$TMP/openapi.json" "$TMP/routes" <<'PY'
import json, re, sys
doc = json.load(open(sys.argv[1]))
def norm(p):
    return re.sub(r"\{[^}]*\}", "{}", p.rstrip("/") or "/")
documented = {}
for p, ops in doc.get("paths", {}).items():
    documented.setdefault(norm(p), set()).update(m.lower() for m in ops if not m.startswith("x-"))
used = {}
for line in open(sys.argv[2]).read().splitlines():
    method, _, url = line.partition(" ")
    path = url.split("?")[0]
    if path == "/openapi.json":
        continue  # the document itself
    parts = path.strip("/").split("/")
    if parts[0] == "api":
        tmpl = "/api/{path}" if len(parts) == 2 else "/api/{path}/{rest}"
    elif parts[0] == "callbacks" and len(parts) >= 2:
        tmpl = "/callbacks/{path}" + ("/" + "/".join(parts[2:]) if len(parts) > 2 else "")
    elif parts[0] == "namespaces" and len(parts) >= 2:
        tmpl = "/namespaces/{name}" + ("/" + "/".join(parts[2:]) if len(parts) > 2 else "")
    elif parts[0].startswith("no-such-route"):
        continue  # deliberately unknown
    else:
        tmpl = path
    used.setdefault(tmpl, set()).add(method.lower())
for tmpl in sorted(used):
    methods = used[tmpl]
    have = documented.get(norm(tmpl))
    if tmpl.startswith("/api/") and have is None:
        # /api/{path}/{rest} may be documented as one wildcard route
        have = next((m for p, m in documented.items() if p.startswith("/api/")), None)
    if have is None:
        print(f"missing {tmpl} ({', '.join(sorted(m.upper() for m in methods))}): no such path")
    elif not methods <= have:
        print(f"missing {tmpl}: methods {sorted(m.upper() for m in methods - have)} (documented: {sorted(m.upper() for m in have)})")
    else:
        print(f"ok {tmpl} ({', '.join(sorted(m.upper() for m in methods))})")
PY
)
    schema=$(python3 - "$TMP/openapi.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
p = []
if not str(doc.get("openapi", "")).startswith("3."):
    p.append(f"openapi version {doc.get('openapi')!r}")
for path, ops in doc.get("paths", {}).items():
    for m, op in ops.items():
        if not isinstance(op, dict) or "responses" not in op:
            continue
        for status, r in op["responses"].items():
            if isinstance(r, dict) and "$ref" not in r and "description" not in r:
                p.append(f"{m.upper()} {path} {status}")
if p:
    print(f"{len(p)} response object(s) without the required 'description': " + ", ".join(p[:8]) + (" ..." if len(p) > 8 else ""))
PY
)
    check "openapi: response objects are valid OpenAPI 3 (${schema:-every response has a description})" [ -z "$schema" ]
    envelope=$(jq_ '" ".join(n for n, s in d.get("components", {}).get("schemas", {}).items() if {"error", "request_id"} <= set(s.get("properties", {})))' "$TMP/openapi.json" || true)
    check "openapi: an error envelope schema (error + request_id) is documented (${envelope:-none})" [ -n "$envelope" ]
else
    fail "GET /openapi.json: status $CODE body $(body_snippet)"
fi

finish
