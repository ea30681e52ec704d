#!/usr/bin/env bash
# The Kubernetes backend end to end, on a real cluster, through a running gateway.
set -euo pipefail

USAGE='Usage: tests/kube/kube_integration_test.sh [--help]

Runs against a REAL cluster and a running faas-gateway that uses it (it starts neither):
  1. the cluster answers; the functions namespace, the gateway'"'"'s ServiceAccount, Role and
     RoleBinding exist, and kubectl auth can-i --as=system:serviceaccount:<ns>:<sa> allows
     each verb of k8s/role.yaml (deployments, services, pods, pods/log, jobs, configmaps)
     and denies a few it must not have (update, secrets, creating pods)
  2. mode service: deploy a backend kubernetes callback -> its Deployment, Service and pods
     exist with the faas.* labels and limits equal to memory_mb/cpu -> invoke -> after
     idle_timeout_s the Deployment has 0 replicas and the pods are gone (state idle) ->
     the next call is a cold start (X-Faas-Cold-Start: true)
  3. mode job: every call runs in a Job of its own (a fresh pod each time, backoffLimit 0,
     activeDeadlineSeconds from timeout_ms), a 512 KiB event works, and the Jobs, their
     pods and ConfigMaps are cleaned up afterwards
Prints PASS <scenario> / FAIL <scenario>: <why> and a summary. Everything it deploys uses
a unique path (kit-<random>) and is deleted at exit, with any object left labelled with it.

Script settings:
  IDLE_S          idle_timeout_s of the service callback (default 15)
  JOB_CALLS       job-mode calls (default 3)
  JOB_CLEANUP_S   how long Jobs may stay after their call (default 180)
  FAAS_KUBE_CPU_REQUEST
                  the gateway'"'"'s setting: pods request cpu x this (default 0.1)
Needs: kubectl, curl, python3 (and a kubeconfig allowed to impersonate, for auth can-i --as).'

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
kube_main_args "$@"
kube_preflight kubectl curl python3

IDLE_S="${IDLE_S:-15}"
CPU_REQUEST="${FAAS_KUBE_CPU_REQUEST:-0.1}"

# ids_are_pods IDS PODS: every instance id (space-separated) names one of the pods, and none repeats
ids_are_pods() {
    python3 -c 'import sys
ids, pods = sys.argv[1].split(), set(sys.argv[2].split())
sys.exit(not ids or len(set(ids)) != len(ids) or not set(ids) <= pods)' "$1" "$2"
}
JOB_CALLS="${JOB_CALLS:-3}"
JOB_CLEANUP_S="${JOB_CLEANUP_S:-180}"

echo "faas-gateway Kubernetes integration test: gateway $FAAS_URL, namespace $NS"

# ------------------------------------------------------------------ cluster and RBAC
section "Cluster and RBAC"
cluster_up
if kubectl get namespace "$NS" >/dev/null 2>"$TMP/k.err"; then
    pass "namespace $NS exists"
else
    abort "namespace $NS exists" "$(head -c 200 "$TMP/k.err")"
fi
check "ServiceAccount $GATEWAY_NS/$GATEWAY_SA exists" "not found (kubectl apply -k k8s/)" \
    kubectl -n "$GATEWAY_NS" get serviceaccount "$GATEWAY_SA" -o name
check "Role $NS/$GATEWAY_ROLE exists" "not found (kubectl apply -k k8s/)" \
    kubectl -n "$NS" get role "$GATEWAY_ROLE" -o name

bindings=$(kubectl -n "$NS" get rolebindings -o json 2>/dev/null | kpy '
d = json.load(sys.stdin)
print(" ".join(b["metadata"]["name"] for b in d["items"]
      if b["roleRef"]["kind"] == "Role" and b["roleRef"]["name"] == sys.argv[1]
      and any(s.get("kind") == "ServiceAccount" and s.get("name") == sys.argv[2]
              and s.get("namespace") == sys.argv[3] for s in b.get("subjects") or [])))' \
    "$GATEWAY_ROLE" "$GATEWAY_SA" "$GATEWAY_NS" || true)
check "a RoleBinding in $NS grants Role $GATEWAY_ROLE to $GATEWAY_USER (${bindings:-none})" \
    "no RoleBinding binds them" [ -n "$bindings" ]

# can_i VERB RESOURCE [SUBRESOURCE]: prints yes, no, or the error
can_i() {
    local args=("$1" "$2" -n "$NS" "--as=$GATEWAY_USER")
    if [ -n "${3:-}" ]; then args+=("--subresource=$3"); fi
    kubectl auth can-i "${args[@]}" 2>&1 | head -1 || true
}

# allowed RESOURCE SUBRESOURCE VERB…: one scenario per resource
allowed() {
    local resource=$1 sub=$2 verb answer denied=""
    shift 2
    for verb in "$@"; do
        answer=$(can_i "$verb" "$resource" "$sub")
        [ "$answer" = yes ] || denied+=" $verb($answer)"
    done
    local what="$resource${sub:+/$sub}"
    check "RBAC: $GATEWAY_SA may $(echo "$*" | tr ' ' ,) $what" "denied:$denied" [ -z "$denied" ]
}
allowed deployments.apps "" get list watch create patch delete
allowed services "" get list create patch delete
allowed pods "" get list watch patch delete
allowed pods log get
allowed jobs.batch "" get list watch create delete
allowed configmaps "" get create delete

# Nothing beyond what the code uses (another binding could grant more: that is a finding too).
extra=""
for pair in "update deployments.apps" "update jobs.batch" "create pods" "deletecollection pods" \
    "get secrets" "list secrets" "create roles.rbac.authorization.k8s.io"; do
    # shellcheck disable=SC2086 # pair is "verb resource"
    answer=$(can_i $pair)
    [ "$answer" = no ] || extra+=" $pair($answer)"
done
check "RBAC: $GATEWAY_SA may not update, create pods, read secrets or edit roles" "granted:$extra" [ -z "$extra" ]

section "Gateway"
gateway_up

# ------------------------------------------------------------------ service mode
SVC="kit-$(uid)"
section "mode: service ($SVC, backend kubernetes)"
SVC_CODE='import os, socket

def handle(event, context):
    return {"ok": True, "host": socket.gethostname(),
            "in_kubernetes": bool(os.environ.get("KUBERNETES_SERVICE_HOST")),
            "revision": context["revision"], "memory_mb": context["memory_mb"]}
'
deploy "$SVC" "$SVC_CODE" "{\"backend\":\"kubernetes\",\"mode\":\"service\",\"memory_mb\":128,\"cpu\":0.5,
    \"timeout_ms\":10000,\"min_instances\":0,\"max_instances\":2,\"idle_timeout_s\":$IDLE_S}"
if [ "$CODE" = 201 ] && deployed_ok && [ "$(jq_ 'd["backend"]' || true)" = kubernetes ]; then
    pass "deploy $SVC: 201 state ready backend kubernetes (${TIME}s)"
else
    abort "deploy $SVC" "$(error_text)"
fi

req GET "/api/$SVC"
if [ "$CODE" = 200 ] && [ "$(jq_ 'd["in_kubernetes"]' || true)" = true ]; then
    pass "invoke $SVC: 200 from a pod (host $(jq_ 'd["host"]' || true), X-Faas-Revision $(hdr x-faas-revision))"
else
    fail "invoke $SVC" "status $CODE body $(body_snippet)"
fi

# The objects of the callback, right after a call (well inside idle_timeout_s).
labels_problems='
want = {"faas.managed-by": "faas-gateway", "faas.callback": sys.argv[2]}
def label_problems(obj):
    labels = obj["metadata"].get("labels") or {}
    p = [f"{k}={labels.get(k)!r}" for k, v in want.items() if labels.get(k) != v]
    if not labels.get("faas.revision"):
        p.append("no faas.revision label")
    return p
def limit_problems(containers):
    p = []
    for c in containers:
        lim = (c.get("resources") or {}).get("limits") or {}
        name, m, c_ = c["name"], lim.get("memory"), lim.get("cpu")
        if m is None or mem(m) != 128 * 2**20:
            p.append(f"container {name} memory limit {m!r} != 128Mi")
        if c_ is None or abs(cpu(c_) - 0.5) > 1e-9:
            p.append(f"container {name} cpu limit {c_!r} != 500m")
        req = (c.get("resources") or {}).get("requests") or {}
        rm, rc = req.get("memory"), req.get("cpu")
        if rm is None or mem(rm) != 128 * 2**20:
            p.append(f"container {name} memory request {rm!r} != the limit 128Mi")
        want_cpu = 0.5 * float(sys.argv[3])
        if rc is None or abs(cpu(rc) - want_cpu) > 0.0015:
            p.append(f"container {name} cpu request {rc!r} != {want_cpu * 1000:g}m (cpu x FAAS_KUBE_CPU_REQUEST)")
    return p
'
kget deployments -l "faas.callback=$SVC" || true
problems=$(kpy "$labels_problems"'
objs = items(sys.argv[1])
if len(objs) != 1:
    print(f"{len(objs)} Deployments (want 1: the current revision)")
for o in objs:
    name = o["metadata"]["name"]
    p = label_problems(o) + limit_problems(o["spec"]["template"]["spec"]["containers"])
    p += [f"pod template: {x}" for x in label_problems(o["spec"]["template"])]
    if p:
        print(name + ": " + "; ".join(p))' "$TMP/k.json" "$SVC" "$CPU_REQUEST" 2>&1 || echo "cannot read the Deployments: $(head -c 200 "$TMP/k.err")")
check "Deployment of $SVC: faas labels, limits memory 128Mi cpu 500m, requests memory = limit, cpu x $CPU_REQUEST" "$problems" [ -z "$problems" ]

kget services -l "faas.callback=$SVC" || true
problems=$(kpy "$labels_problems"'
objs = items(sys.argv[1])
if len(objs) != 1:
    print(f"{len(objs)} Services (want 1)")
for o in objs:
    p = label_problems(o)
    if o["spec"].get("type", "ClusterIP") != "ClusterIP":
        p.append("type " + o["spec"]["type"])
    if not o["spec"].get("selector"):
        p.append("no selector")
    if p:
        print(o["metadata"]["name"] + ": " + "; ".join(p))' "$TMP/k.json" "$SVC" "$CPU_REQUEST" 2>&1 || echo "cannot read the Services: $(head -c 200 "$TMP/k.err")")
check "Service of $SVC: ClusterIP with faas labels" "$problems" [ -z "$problems" ]

kget pods -l "faas.callback=$SVC" || true
problems=$(kpy "$labels_problems"'
objs = [o for o in items(sys.argv[1]) if not o["metadata"].get("deletionTimestamp")]
running = [o for o in objs if o["status"].get("phase") == "Running"]
if not running:
    print(f"no Running pod ({len(objs)} pods)")
for o in objs:
    p = label_problems(o) + limit_problems(o["spec"]["containers"])
    if p:
        print(o["metadata"]["name"] + ": " + "; ".join(p))' "$TMP/k.json" "$SVC" "$CPU_REQUEST" 2>&1 || echo "cannot read the pods: $(head -c 200 "$TMP/k.err")")
check "pods of $SVC: running, faas labels, limits memory 128Mi cpu 500m, requests memory = limit, cpu x $CPU_REQUEST" "$problems" [ -z "$problems" ]

# Instance ids are pod names (one per pod, never the Deployment's name).
pod_names=$(kpy 'print(" ".join(sorted(o["metadata"]["name"] for o in items(sys.argv[1]))))' "$TMP/k.json" 2>/dev/null || true)
req GET "/callbacks/$SVC"
ids=$(jq_ '" ".join(sorted(i["id"] for i in d.get("instances") or []))' || true)
check "instances of $SVC: ids are pod names ($ids)" "instance ids '$ids', pods '$pod_names'" \
    ids_are_pods "$ids" "$pod_names"

# Scale to zero: state idle within idle_timeout_s + 5 s (SPEC 3); then replicas 0, pods gone.
replicas_zero() {
    kget deployments -l "faas.callback=$SVC" || return 1
    [ "$(kpy 'print(",".join(str(o["spec"].get("replicas")) for o in items(sys.argv[1])))' "$TMP/k.json")" = 0 ]
}
no_pods() { [ -z "$(kleft "$SVC" pods)" ]; }
if wait_until $((IDLE_S + 10)) state_is "$SVC" idle; then
    pass "scale to zero: state idle, instances [] ${WAITED}s after the last call (idle_timeout_s $IDLE_S)"
else
    fail "scale to zero: state idle" "state $(jq_ 'd.get("state")' || true), instances $(jq_ 'len(d.get("instances") or [])' || true) after ${WAITED}s"
fi
show_replicas() { kpy 'print([o["spec"].get("replicas") for o in items(sys.argv[1])])' "$TMP/k.json" 2>/dev/null || true; }
if wait_until 10 replicas_zero; then
    pass "scale to zero: the Deployment has replicas 0"
else
    fail "scale to zero: the Deployment has replicas 0" "replicas: $(show_replicas)"
fi
if wait_until 90 no_pods; then
    pass "scale to zero: no pods left (${WAITED}s)"
else
    fail "scale to zero: no pods left" "still there: $(kleft "$SVC" pods)"
fi
check "scale to zero: the Service stays" "gone" kubectl -n "$NS" get svc -l "faas.callback=$SVC" -o name

req GET "/api/$SVC"
if [ "$CODE" = 200 ] && [ "$(hdr x-faas-cold-start)" = true ]; then
    pass "cold start: 200 X-Faas-Cold-Start: true in ${TIME}s"
else
    fail "cold start" "status $CODE X-Faas-Cold-Start '$(hdr x-faas-cold-start)' body $(body_snippet)"
fi
kget deployments -l "faas.callback=$SVC" || true
check "cold start: the Deployment is scaled up again" "replicas $(show_replicas)" \
    kpy 'd = items(sys.argv[1]); sys.exit(0 if d and all((o["spec"].get("replicas") or 0) >= 1 for o in d) else 1)' "$TMP/k.json"
req GET "/api/$SVC"
check "the next call is warm (X-Faas-Cold-Start: false)" "status $CODE X-Faas-Cold-Start '$(hdr x-faas-cold-start)'" \
    [ "$CODE:$(hdr x-faas-cold-start)" = 200:false ]

# ------------------------------------------------------------------ job mode
JOB="kit-$(uid)"
section "mode: job ($JOB, backend kubernetes)"
JOB_CODE='import os, socket

def handle(event, context):
    return {"host": socket.gethostname(),
            "in_kubernetes": bool(os.environ.get("KUBERNETES_SERVICE_HOST")),
            "bytes": len(event["body"]), "request_id": context["request_id"]}
'
deploy "$JOB" "$JOB_CODE" '{"backend":"kubernetes","mode":"job","memory_mb":64,"cpu":0.25,"timeout_ms":60000}'
if [ "$CODE" = 201 ] && deployed_ok; then
    pass "deploy $JOB (mode job): 201 state ready (${TIME}s)"
else
    abort "deploy $JOB (mode job)" "$(error_text)"
fi
check "job mode: no instances after deploy" "instances $(jq_ 'd.get("instances")' || true)" \
    [ "$(jq_ 'len(d.get("instances") or [])' || true)" = 0 ]

# Every Job of the callback, as the API server reports them, while the calls run (those
# already there, such as a deploy-time import check, are left out).
kubectl -n "$NS" get jobs -l "faas.callback=$JOB" -o name 2>/dev/null | sed 's|.*/||' >"$TMP/jobs.before" || true
kubectl -n "$NS" get jobs -l "faas.callback=$JOB" --watch -o json >"$TMP/jobs.watch" 2>/dev/null &
BACKGROUND+=("$!")
sleep 2

HOSTS=()
for i in $(seq 1 "$JOB_CALLS"); do
    req POST "/api/$JOB" '{"call": '"$i"'}'
    if [ "$CODE" = 200 ] && [ "$(jq_ 'd["in_kubernetes"]' || true)" = true ] && [ "$(hdr x-faas-cold-start)" = true ]; then
        HOSTS+=("$(jq_ 'd["host"]')")
        pass "job call $i: 200 from pod $(jq_ 'd["host"]') in ${TIME}s (X-Faas-Cold-Start: true)"
    else
        fail "job call $i" "status $CODE X-Faas-Cold-Start '$(hdr x-faas-cold-start)' body $(body_snippet)"
    fi
done
distinct=$(printf '%s\n' "${HOSTS[@]}" | sort -u | grep -c . || true)
check "job mode: each call ran in a pod of its own ($distinct distinct of ${#HOSTS[@]})" \
    "pods reused: ${HOSTS[*]}" [ "$distinct" = "$JOB_CALLS" ]

python3 -c 'import json; print(json.dumps({"blob": "x" * (512 * 1024 - 12)}))' >"$TMP/big.json"
req POST "/api/$JOB" "$(cat "$TMP/big.json")"
big=$(wc -c <"$TMP/big.json" | tr -d ' ')
big=$((big - 1)) # the trailing newline is not sent
check "job mode: a 512 KiB event reaches the function whole" "status $CODE bytes $(jq_ 'd.get("bytes")' || body_snippet) (sent $big)" \
    [ "$CODE:$(jq_ 'd.get("bytes")' || true)" = "200:$big" ]

sleep 2
kill "${BACKGROUND[-1]}" 2>/dev/null || true
problems=$(kpy '
before = set(open(sys.argv[3]).read().split())
jobs = {}
for o in watch_objects(sys.argv[1]):
    for j in o.get("items", [o]):
        if j.get("kind", "Job") == "Job" and "metadata" in j and j["metadata"]["name"] not in before:
            jobs[j["metadata"]["name"]] = j
want = int(sys.argv[2]) + 1
p = []
if len(jobs) < want:
    p.append(f"{len(jobs)} Jobs seen for {want} calls: {sorted(jobs)}")
for name, j in sorted(jobs.items()):
    s = j["spec"]
    backoff, deadline = s.get("backoffLimit"), s.get("activeDeadlineSeconds")
    if backoff != 0:
        p.append(f"{name}: backoffLimit {backoff}")
    if not deadline or deadline < 60:
        p.append(f"{name}: activeDeadlineSeconds {deadline} (timeout_ms 60000)")
    if s.get("ttlSecondsAfterFinished") is None:
        p.append(f"{name}: no ttlSecondsAfterFinished")
    labels = j["metadata"].get("labels") or {}
    if labels.get("faas.managed-by") != "faas-gateway":
        p.append(f"{name}: no faas.managed-by label")
print("; ".join(p))
print(f"INFO {len(jobs)} Jobs seen: {sorted(jobs)}", file=sys.stderr)' "$TMP/jobs.watch" "$JOB_CALLS" "$TMP/jobs.before" 2>"$TMP/jobs.info" || echo "cannot read the watch output")
cat "$TMP/jobs.info"
check "job mode: one Job per call, backoffLimit 0, activeDeadlineSeconds from timeout_ms, ttlSecondsAfterFinished" \
    "$problems" [ -z "$problems" ]

if wait_until "$JOB_CLEANUP_S" no_kube_objects "$JOB" job,pod,cm; then
    pass "job mode: Jobs, their pods and ConfigMaps cleaned up (${WAITED}s after the last call)"
else
    fail "job mode: Jobs cleaned up" "after ${JOB_CLEANUP_S}s still: $(kleft "$JOB" job,pod,cm)"
fi

summary
