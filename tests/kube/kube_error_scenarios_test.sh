#!/usr/bin/env bash
# Each Kubernetes failure of SPEC section 8 produced for real through the gateway, and the
# error code it answers checked.
set -euo pipefail

USAGE='Usage: tests/kube/kube_error_scenarios_test.sh [--help]

Runs against a REAL cluster and a running faas-gateway that uses it (it starts neither).
Every failure is caused for real and the gateway'"'"'s answer checked:
  OOMKilled         a function allocates 512 MiB with memory_mb 64, in mode service and
                    in mode job -> 502 FUNCTION_OOM_KILLED
  ImagePullBackOff  a service callback is scaled to zero, then its Deployment'"'"'s image is
                    patched with kubectl to a tag that does not exist (the gateway cannot be
                    restarted with another FAAS_REGISTRY from here) -> the next call (a cold
                    start) answers 502 IMAGE_PULL_FAILED within IMAGE_PULL_MAX_S
  Job timeout       mode job, the function sleeps 30 s with timeout_ms 3000
                    -> 504 FUNCTION_TIMEOUT, not before 3 s nor long after
  Capacity          memory requests equal limits, so asking for more memory than any node
                    can give makes pods the scheduler refuses: a service deploy and a job
                    deploy (its check pod) with memory_mb 16384, then a job call whose pod
                    fits alone but not beside a service instance holding 55% of the largest
                    node -> 503 INSUFFICIENT_CAPACITY with the scheduler'"'"'s message in
                    details.reason and Retry-After, at once, recorded in last_error; the job
                    call works again once the service is gone. Skipped when a node has
                    16 GiB allocatable.
  RBAC denial       the gateway'"'"'s Role loses "create" on jobs (kubectl patch; the original
                    rules are put back at exit, even on failure or Ctrl-C) -> a job call
                    answers 502 BACKEND_FORBIDDEN with details.verb "create" and
                    details.resource "jobs"; with the rules back the same call works again.
                    This needs the gateway to act as that ServiceAccount: deployed in the
                    cluster from k8s/, or run elsewhere with a kubeconfig holding a token of
                    it (kubectl -n faas-system create token faas-gateway).
  CrashLoopBackOff  a good deploy whose code exits at import once BROKEN_AFTER (an epoch
                    time in its env) has passed: the callback is redeployed with
                    BROKEN_AFTER = now + BOMB_S, checked to serve, left to scale to zero past
                    that time, then called until the new starts crash repeatedly
                    -> 503 FUNCTION_CRASH_LOOP with Retry-After, state crash_loop
Prints PASS <scenario> / FAIL <scenario>: <why> and a summary. Everything it deploys uses a
unique path (kerr-<random>), deleted when its scenario ends (so no scenario holds capacity
the next needs: the whole script passes on one 2-CPU node with default settings) and again at
exit, with any object left labelled with it.

Script settings:
  ONLY              run only the scenarios named (comma-separated:
                    oom,image,timeout,capacity,rbac,crash)
  IMAGE_PULL_MAX_S  how quickly IMAGE_PULL_FAILED must come (default 30)
  BOMB_S            seconds between the crash-loop redeploy and the time bomb (default 60)
  CRASH_LOOP_MAX_S  how long calls may take to reach FUNCTION_CRASH_LOOP (default 180)
Needs: kubectl, curl, python3.'

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
kube_main_args "$@"
kube_preflight kubectl curl python3

ONLY="${ONLY:-oom,image,timeout,capacity,rbac,crash}"
IMAGE_PULL_MAX_S="${IMAGE_PULL_MAX_S:-30}"
BOMB_S="${BOMB_S:-60}"
CRASH_LOOP_MAX_S="${CRASH_LOOP_MAX_S:-180}"
IDLE_S=5

seconds() { [ -n "$1" ] && [ -z "${1//[0-9]/}" ]; }
wanted() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# The Role's original rules while the RBAC scenario has them changed; put back at exit.
ROLE_SAVED=""
restore_role() {
    [ -n "$ROLE_SAVED" ] || return 0
    if kubectl -n "$NS" patch role "$GATEWAY_ROLE" --type=json \
        -p "[{\"op\":\"replace\",\"path\":\"/rules\",\"value\":$ROLE_SAVED}]" >/dev/null; then
        echo "INFO Role $NS/$GATEWAY_ROLE restored"
        ROLE_SAVED=""
    else
        echo "FAIL could not restore Role $NS/$GATEWAY_ROLE: put these rules back by hand: $ROLE_SAVED" >&2
        return 1
    fi
}
extra_cleanup() { restore_role; }

echo "faas-gateway Kubernetes error scenarios: gateway $FAAS_URL, namespace $NS"
section "Cluster and gateway"
cluster_up
gateway_up

KUBE='"backend":"kubernetes"'

# deployed SCENARIO: the deploy just made succeeded, or the scenario fails (returns 1)
deployed() {
    if deployed_ok; then
        info "$1: deployed in ${TIME}s"
        return 0
    fi
    fail "$1" "deploy: $(error_text)"
    return 1
}

# expect_error SCENARIO STATUS CODE: the last call answered that error
expect_error() {
    if error_is "$2" "$3"; then
        pass "$1: $2 $3 in ${TIME}s ($(jq_ 'd["error"]["message"]' || true))"
    else
        fail "$1" "want $2 $3, got $(error_text) after ${TIME}s"
    fi
}

# last_error_is SCENARIO PATH CODE: GET /callbacks/PATH shows last_error.code CODE
last_error_is() {
    req GET "/callbacks/$2"
    local got
    got=$(jq_ '(d.get("last_error") or {}).get("code")' || true)
    check "$1: last_error.code $3" "last_error $(jq_ 'd.get("last_error")' || true)" [ "$got" = "$3" ]
}

# pod_reasons PATH: the waiting/terminated reasons of the callback's pods, for the log
pod_reasons() {
    kubectl -n "$NS" get pods -l "faas.callback=$1" -o json 2>/dev/null | kpy '
d = json.load(sys.stdin)
out = []
for p in d["items"]:
    name = p["metadata"]["name"]
    for s in p["status"].get("containerStatuses") or []:
        for k in ("state", "lastState"):
            for st, v in (s.get(k) or {}).items():
                if v.get("reason"):
                    out.append(name + " " + k + "." + st + ".reason=" + v["reason"])
print(", ".join(out) or "none")' 2>/dev/null || echo "?"
}

HOG='def handle(event, context):
    mb = int(event["query"].get("mb", "0"))
    hog = b"x" * (mb << 20)  # bytes(...) * n writes every page, so they count
    return {"held_mb": len(hog) >> 20}
'

# ------------------------------------------------------------------ OOMKilled
if wanted oom; then
    section "OOMKilled"
    P="kerr-$(uid)"
    deploy "$P" "$HOG" "{$KUBE,\"mode\":\"service\",\"memory_mb\":64,\"min_instances\":1,\"timeout_ms\":30000}"
    if deployed "OOMKilled (service)"; then
        req GET "/api/$P?mb=1"
        check "OOMKilled (service): a small allocation works" "status $CODE body $(body_snippet)" [ "$CODE" = 200 ]
        req GET "/api/$P?mb=512"
        expect_error "OOMKilled (service): 512 MiB with memory_mb 64" 502 FUNCTION_OOM_KILLED
        info "pods: $(pod_reasons "$P")"
        last_error_is "OOMKilled (service)" "$P" FUNCTION_OOM_KILLED
    fi
    done_with "$P"

    P="kerr-$(uid)"
    deploy "$P" "$HOG" "{$KUBE,\"mode\":\"job\",\"memory_mb\":64,\"timeout_ms\":60000}"
    if deployed "OOMKilled (job)"; then
        req GET "/api/$P?mb=512"
        expect_error "OOMKilled (job): 512 MiB with memory_mb 64" 502 FUNCTION_OOM_KILLED
        req GET "/api/$P?mb=1"
        check "OOMKilled (job): the next small call works" "$(error_text)" [ "$CODE" = 200 ]
    fi
    done_with "$P"
fi

# ------------------------------------------------------------------ ImagePullBackOff
# deployment_of PATH: the name of the callback's (single) Deployment
deployment_of() { kubectl -n "$NS" get deploy -l "faas.callback=$1" -o name 2>/dev/null | head -1; }
if wanted image; then
    section "ImagePullBackOff"
    P="kerr-$(uid)"
    deploy "$P" 'def handle(event, context):
    return "ok"
' "{$KUBE,\"mode\":\"service\",\"min_instances\":0,\"idle_timeout_s\":$IDLE_S}"
    if deployed "IMAGE_PULL_FAILED"; then
        req GET "/api/$P"
        check "IMAGE_PULL_FAILED: the callback serves before the image is broken" "status $CODE" [ "$CODE" = 200 ]
        if ! wait_until $((IDLE_S + 30)) state_is "$P" idle; then
            fail "IMAGE_PULL_FAILED" "the callback did not scale to zero in $((IDLE_S + 30))s"
        else
            dep=$(deployment_of "$P")
            image=$(kubectl -n "$NS" get "$dep" -o jsonpath='{.spec.template.spec.containers[0].image}' 2>/dev/null || true)
            # Same repository, a tag that was never pushed; IfNotPresent so the kubelet pulls.
            broken=$(python3 -c 'import sys
i = sys.argv[1].split("@")[0]
slash, colon = i.rfind("/"), i.rfind(":")
print((i[:colon] if colon > slash else i) + ":faas-missing-" + sys.argv[2])' "$image" "$(uid)")
            if kubectl -n "$NS" patch "$dep" --type=json -p "[
                {\"op\":\"replace\",\"path\":\"/spec/template/spec/containers/0/image\",\"value\":\"$broken\"},
                {\"op\":\"add\",\"path\":\"/spec/template/spec/containers/0/imagePullPolicy\",\"value\":\"IfNotPresent\"}]" >/dev/null 2>"$TMP/k.err"; then
                info "IMAGE_PULL_FAILED: $dep image $image -> $broken"
                req GET "/api/$P"
                expect_error "IMAGE_PULL_FAILED: cold start on a missing image" 502 IMAGE_PULL_FAILED
                check "IMAGE_PULL_FAILED: reported at the pull failure, not after a timeout (${TIME}s <= ${IMAGE_PULL_MAX_S}s)" \
                    "took ${TIME}s" python3 -c 'import sys; sys.exit(float(sys.argv[1]) > float(sys.argv[2]))' "$TIME" "$IMAGE_PULL_MAX_S"
                info "pods: $(pod_reasons "$P")"
            else
                fail "IMAGE_PULL_FAILED" "kubectl patch $dep: $(head -c 300 "$TMP/k.err")"
            fi
        fi
    fi
    done_with "$P"
fi

# ------------------------------------------------------------------ Job timeout
if wanted timeout; then
    section "Job timeout"
    P="kerr-$(uid)"
    deploy "$P" 'import time

def handle(event, context):
    time.sleep(float(event["query"].get("s", "30")))
    return "woke up"
' "{$KUBE,\"mode\":\"job\",\"timeout_ms\":3000}"
    if deployed "FUNCTION_TIMEOUT (job)"; then
        req GET "/api/$P?s=0"
        check "FUNCTION_TIMEOUT (job): a quick call works" "status $CODE body $(body_snippet)" [ "$CODE" = 200 ]
        req GET "/api/$P?s=30"
        expect_error "FUNCTION_TIMEOUT (job): sleep 30 s with timeout_ms 3000" 504 FUNCTION_TIMEOUT
        check "FUNCTION_TIMEOUT (job): answered after the deadline and well before the sleep ends (3 s <= ${TIME}s < 30 s)" \
            "took ${TIME}s" python3 -c 'import sys; sys.exit(not 3 <= float(sys.argv[1]) < 30)' "$TIME"
        req GET "/api/$P?s=0"
        check "FUNCTION_TIMEOUT (job): the next quick call works" "$(error_text)" [ "$CODE" = 200 ]
    fi
    done_with "$P"
fi

# ------------------------------------------------------------------ Insufficient capacity
# largest_allocatable_mib: the most memory one node can give pods
largest_allocatable_mib() {
    kubectl get nodes -o json 2>/dev/null | kpy '
units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1 << 20, "K": 1e3 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
def mib(q):
    for u, f in units.items():
        if q.endswith(u):
            return float(q[: -len(u)]) * f
    return float(q) / 2**20
print(int(max(mib(n["status"]["allocatable"]["memory"]) for n in json.load(sys.stdin)["items"])))'
}
# capacity_answer SCENARIO: the last answer is 503 INSUFFICIENT_CAPACITY with its details
capacity_answer() {
    expect_error "$1" 503 INSUFFICIENT_CAPACITY
    local reason retry
    reason=$(jq_ 'd["error"]["details"].get("reason")' || true)
    retry=$(hdr retry-after)
    check "$1: details.reason holds the scheduler's message ('${reason:0:80}')" "no details.reason" [ -n "$reason" ]
    check "$1: Retry-After set ('$retry')" "missing or not a number of seconds" seconds "$retry"
}
if wanted capacity; then
    section "Insufficient capacity"
    largest=$(largest_allocatable_mib || echo 0)
    if [ "${largest:-0}" -ge 16384 ]; then
        info "capacity: a node has ${largest} MiB allocatable; memory_mb 16384 fits: skipped"
    else
        info "capacity: the largest node has ${largest:-?} MiB allocatable"
        P="kerr-$(uid)"
        deploy "$P" 'def handle(event, context):
    return "never"
' "{$KUBE,\"mode\":\"service\",\"memory_mb\":16384,\"min_instances\":1}"
        capacity_answer "INSUFFICIENT_CAPACITY (deploy)"
        check "INSUFFICIENT_CAPACITY (deploy): answered when the scheduler said so, not after a timeout (${TIME}s < 30s)" \
            "took ${TIME}s" python3 -c 'import sys; sys.exit(float(sys.argv[1]) >= 30)' "$TIME"
        last_error_is "INSUFFICIENT_CAPACITY (deploy)" "$P" INSUFFICIENT_CAPACITY
        done_with "$P"

        P="kerr-$(uid)"
        deploy "$P" 'def handle(event, context):
    return "never"
' "{$KUBE,\"mode\":\"job\",\"memory_mb\":16384,\"timeout_ms\":60000}"
        capacity_answer "INSUFFICIENT_CAPACITY (job deploy: its check pod)"
        done_with "$P"

        # A job call that finds the node full: the job fits alone, but not beside a service
        # instance of the same size.
        half=$((largest * 55 / 100))
        J="kerr-$(uid)"
        deploy "$J" 'def handle(event, context):
    return "ran"
' "{$KUBE,\"mode\":\"job\",\"memory_mb\":$half,\"timeout_ms\":60000}"
        if deployed "INSUFFICIENT_CAPACITY (job call)"; then
            H="kerr-$(uid)"
            deploy "$H" 'def handle(event, context):
    return "holding"
' "{$KUBE,\"mode\":\"service\",\"memory_mb\":$half,\"min_instances\":1}"
            if deployed "INSUFFICIENT_CAPACITY (job call): a service holds ${half} MiB"; then
                req GET "/api/$J"
                capacity_answer "INSUFFICIENT_CAPACITY (job call beside ${half} MiB held)"
                check "INSUFFICIENT_CAPACITY (job call): answered before the job's timeout (${TIME}s < 30s)" \
                    "took ${TIME}s" python3 -c 'import sys; sys.exit(float(sys.argv[1]) >= 30)' "$TIME"
                last_error_is "INSUFFICIENT_CAPACITY (job call)" "$J" INSUFFICIENT_CAPACITY
                done_with "$H"
                req GET "/api/$J"
                check "INSUFFICIENT_CAPACITY (job call): with the capacity back the call works" "$(error_text)" [ "$CODE" = 200 ]
            fi
            done_with "$H"
        fi
        done_with "$J"
    fi
fi

# ------------------------------------------------------------------ RBAC denial
can_create_jobs() {
    kubectl auth can-i create jobs.batch -n "$NS" "--as=$GATEWAY_USER" 2>/dev/null | head -1 || true
}
jobs_denied() { [ "$(can_create_jobs)" = no ]; }
jobs_allowed() { [ "$(can_create_jobs)" = yes ]; }
# forbidden_names_create_jobs: the details of the last answer name verb create, resource jobs
forbidden_names_create_jobs() {
    local verb resource
    verb=$(jq_ 'd["error"]["details"].get("verb")' || true)
    resource=$(jq_ 'd["error"]["details"].get("resource")' || true)
    [ "$verb" = create ] && { [ "$resource" = jobs ] || [ "$resource" = jobs.batch ]; }
}
if wanted rbac; then
    section "RBAC denial"
    P="kerr-$(uid)"
    deploy "$P" 'def handle(event, context):
    return "ran"
' "{$KUBE,\"mode\":\"job\",\"timeout_ms\":60000}"
    if ! kubectl -n "$NS" get role "$GATEWAY_ROLE" -o json >"$TMP/role.json" 2>"$TMP/k.err"; then
        fail "BACKEND_FORBIDDEN" "cannot read Role $NS/$GATEWAY_ROLE: $(head -c 200 "$TMP/k.err")"
    elif deployed "BACKEND_FORBIDDEN"; then
        req GET "/api/$P"
        check "BACKEND_FORBIDDEN: the job call works with the full Role" "status $CODE body $(body_snippet)" [ "$CODE" = 200 ]
        saved=$(kpy 'print(json.dumps(load(sys.argv[1]).get("rules") or []))' "$TMP/role.json")
        # The same rules, with "create" taken off jobs (a rule naming more resources is split).
        reduced=$(kpy '
rules = []
for r in json.loads(sys.argv[1]):
    if "batch" in (r.get("apiGroups") or []) and "jobs" in (r.get("resources") or []):
        others = [x for x in r["resources"] if x != "jobs"]
        if others:
            rules.append(dict(r, resources=others))
        verbs = [v for v in r["verbs"] if v not in ("create", "*")]
        if verbs:
            rules.append(dict(r, apiGroups=["batch"], resources=["jobs"], verbs=verbs))
    else:
        rules.append(r)
print(json.dumps(rules))' "$saved")
        ROLE_SAVED=$saved
        if ! kubectl -n "$NS" patch role "$GATEWAY_ROLE" --type=json \
            -p "[{\"op\":\"replace\",\"path\":\"/rules\",\"value\":$reduced}]" >/dev/null 2>"$TMP/k.err"; then
            ROLE_SAVED=""
            fail "BACKEND_FORBIDDEN" "kubectl patch role: $(head -c 300 "$TMP/k.err")"
        elif ! wait_until 30 jobs_denied; then
            fail "BACKEND_FORBIDDEN" "$GATEWAY_USER may still create jobs after the patch (another binding grants it?)"
        else
            info "Role $NS/$GATEWAY_ROLE: create on jobs removed (restored at exit)"
            req GET "/api/$P"
            if error_is 502 BACKEND_FORBIDDEN; then
                pass "BACKEND_FORBIDDEN: a job call without create on jobs answers 502 ($(jq_ 'd["error"]["message"]' || true))"
                check "BACKEND_FORBIDDEN: details name verb create and resource jobs" \
                    "details $(jq_ 'd["error"]["details"]' || true)" forbidden_names_create_jobs
            elif [ "$CODE" = 200 ]; then
                fail "BACKEND_FORBIDDEN" "the call worked: the gateway does not act as $GATEWAY_USER (run it from k8s/ or with that ServiceAccount's token; see --help)"
            else
                fail "BACKEND_FORBIDDEN" "want 502 BACKEND_FORBIDDEN, got $(error_text)"
            fi
            restore_role || true
            if wait_until 30 jobs_allowed; then
                req GET "/api/$P"
                check "BACKEND_FORBIDDEN: with the Role restored the call works again" "$(error_text)" [ "$CODE" = 200 ]
            else
                fail "BACKEND_FORBIDDEN: Role restored" "$GATEWAY_USER still may not create jobs"
            fi
        fi
    fi
    done_with "$P"
fi

# ------------------------------------------------------------------ CrashLoopBackOff
# no_detours ANSWER…: none of the answers (STATUS:CODE@Ns) is a timeout or an unreachable backend
no_detours() {
    local a
    for a in "$@"; do
        case "$a" in 504:* | *:BACKEND_UNAVAILABLE@*) return 1 ;; esac
    done
}
if wanted crash; then
    section "CrashLoopBackOff (a time bomb at import)"
    P="kerr-$(uid)"
    BOMB='import os, time

if time.time() > float(os.environ["BROKEN_AFTER"]):
    print("BROKEN_AFTER has passed: exiting at import", flush=True)
    raise SystemExit(1)

def handle(event, context):
    return "alive"
'
    settings="$KUBE,\"mode\":\"service\",\"min_instances\":0,\"idle_timeout_s\":$IDLE_S"
    # First deploy: builds the image; the bomb is a day away.
    deploy "$P" "$BOMB" "{$settings,\"env\":{\"BROKEN_AFTER\":\"$(($(date +%s) + 86400))\"}}"
    if deployed "FUNCTION_CRASH_LOOP"; then
        # A settings-only redeploy (same image, no build) that arms the bomb.
        bomb_at=$(($(date +%s) + BOMB_S))
        deploy "$P" "$BOMB" "{$settings,\"env\":{\"BROKEN_AFTER\":\"$bomb_at\"}}"
        armed_in=$(($(date +%s) - bomb_at + BOMB_S))
        if ! deployed "FUNCTION_CRASH_LOOP"; then
            :
        elif [ "$(date +%s)" -ge "$bomb_at" ]; then
            fail "FUNCTION_CRASH_LOOP" "the redeploy took ${armed_in}s, past the bomb (raise BOMB_S above $BOMB_S)"
        else
            req GET "/api/$P"
            check "FUNCTION_CRASH_LOOP: the armed revision serves before BROKEN_AFTER" "$(error_text)" [ "$CODE" = 200 ]
            # Past the bomb, with no instance left: every start from now on crashes at import.
            sleep $((bomb_at - $(date +%s) + 1))
            if ! wait_until 60 state_is "$P" idle; then
                info "not idle: deleting the pods to force new starts"
                kubectl -n "$NS" delete pod -l "faas.callback=$P" --wait=false >/dev/null 2>&1 || true
            fi
            seen=()
            start=$(date +%s)
            got=""
            while [ $(($(date +%s) - start)) -lt "$CRASH_LOOP_MAX_S" ]; do
                req GET "/api/$P"
                got="$CODE $(jq_ 'd["error"]["code"]' || echo "-")"
                seen+=("${got// /:}@$(($(date +%s) - start))s")
                [ "$got" = "503 FUNCTION_CRASH_LOOP" ] && break
                sleep 2
            done
            info "answers while crashing: ${seen[*]}"
            check "FUNCTION_CRASH_LOOP: no 504 and no BACKEND_UNAVAILABLE on the way" \
                "answers ${seen[*]}" no_detours "${seen[@]}"
            if [ "$got" = "503 FUNCTION_CRASH_LOOP" ]; then
                pass "FUNCTION_CRASH_LOOP: 503 after $(($(date +%s) - start))s of crashing starts"
                retry=$(hdr retry-after)
                check "FUNCTION_CRASH_LOOP: Retry-After set ('$retry')" "missing or not a number of seconds" \
                    seconds "$retry"
                req GET "/callbacks/$P"
                check "FUNCTION_CRASH_LOOP: state crash_loop" "state $(jq_ 'd.get("state")' || true)" \
                    [ "$(jq_ 'd.get("state")' || true)" = crash_loop ]
            else
                fail "FUNCTION_CRASH_LOOP" "no 503 FUNCTION_CRASH_LOOP within ${CRASH_LOOP_MAX_S}s (last: $got)"
            fi
            info "pods: $(pod_reasons "$P")"
        fi
    fi
    done_with "$P"
fi

summary
