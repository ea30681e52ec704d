#!/usr/bin/env bash
# One callback moved between backends, docker -> kubernetes -> docker, under traffic.
set -euo pipefail

USAGE='Usage: tests/kube/kube_service_flow_test.sh [--help]

Runs against a REAL cluster and a running faas-gateway that has both backends (it starts
neither). One callback (kflow-<random>):
  1. deploy with backend docker -> calls answer 200 from a container (not a pod), revision 1;
     its containers carry the faas labels; nothing of it in the cluster
  2. redeploy with backend kubernetes while calls keep coming (none may fail) -> calls answer
     from a pod, revision 2; no Docker container of it is left
  3. redeploy with backend docker under traffic -> calls answer from a container, revision 3;
     kubectl get deploy,svc,job,cm,pod -l faas.callback=<path> finds nothing
  4. DELETE -> 204, then 404 CALLBACK_NOT_FOUND; nothing left in Docker or the cluster
  5. a namespace (kns-<random>) with a service and a job-mode callback on kubernetes: its
     objects carry faas.namespace=<it>; DELETE /namespaces/<it> -> 204, then kubectl get
     deploy,svc,job,cm,pod -l faas.namespace=<it> finds nothing, nor docker ps a container
The docker CLI must reach the daemon the gateway uses (set DOCKER_HOST as the gateway has it).
Prints PASS <scenario> / FAIL <scenario>: <why> and a summary; the callback and anything
labelled with it are removed at exit, and so is the namespace.

Script settings:
  CLEANUP_MAX_S   how long old-backend resources may take to disappear (default 90)
Needs: kubectl, curl, python3, docker.'

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
kube_main_args "$@"
kube_preflight kubectl curl python3 docker

CLEANUP_MAX_S="${CLEANUP_MAX_S:-90}"

echo "faas-gateway backend move test: gateway $FAAS_URL, namespace $NS"
section "Cluster, Docker and gateway"
cluster_up
if v=$(docker version --format '{{.Server.Version}}' 2>"$TMP/d.err"); then
    pass "Docker daemon reachable ($v)"
else
    abort "Docker daemon reachable" "$(head -c 200 "$TMP/d.err")"
fi
gateway_up
req GET /ready
if [ "$(jq_ 'd["checks"].get("docker", {}).get("ok")' || true)" != true ]; then
    abort "gateway has the docker backend" "GET /ready: $(body_snippet)"
fi
pass "gateway has the docker backend"

P="kflow-$(uid)"
CODE_PY='import os, socket

def handle(event, context):
    return {"host": socket.gethostname(),
            "in_kubernetes": bool(os.environ.get("KUBERNETES_SERVICE_HOST")),
            "revision": context["revision"]}
'
SETTINGS='"mode":"service","memory_mb":128,"min_instances":1,"max_instances":2'

containers() {
    docker ps -aq --filter label=faas.managed-by=faas-gateway --filter "label=faas.callback=$P" 2>/dev/null | tr '\n' ' '
}
no_containers() { [ -z "$(containers)" ]; }
has_containers() { [ -n "$(containers)" ]; }
has_deployment_and_service() {
    [ -n "$(kleft "$P" deploy)" ] && [ -n "$(kleft "$P" svc)" ]
}

# traffic WHERE REVISION: five calls, all 200 from WHERE (docker|kubernetes) at REVISION
traffic() {
    local where=$1 rev=$2 i bad="" inside
    inside=false
    if [ "$where" = kubernetes ]; then inside=true; fi
    for i in 1 2 3 4 5; do
        req GET "/api/$P?i=$i"
        if [ "$CODE" != 200 ]; then
            bad+=" call $i: $(error_text);"
        elif [ "$(jq_ 'd["in_kubernetes"]' || true)" != "$inside" ] || [ "$(hdr x-faas-revision)" != "$rev" ]; then
            bad+=" call $i: in_kubernetes $(jq_ 'd["in_kubernetes"]' || true), X-Faas-Revision $(hdr x-faas-revision);"
        fi
    done
    check "traffic on $where: 5 calls answer 200 from revision $rev on $where" "$bad" [ -z "$bad" ]
}

# Calls in a loop, in the background, while a redeploy runs: one status line per call.
LOAD_PID=""
start_load() {
    : >"$TMP/load"
    rm -f "$TMP/load.stop"
    (
        n=0
        while [ ! -e "$TMP/load.stop" ] && [ "$n" -lt 3000 ]; do
            curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 "${AUTH_INVOKE[@]}" "$FAAS_URL/api/$P?load=$n" >>"$TMP/load" 2>/dev/null || echo 000 >>"$TMP/load"
            n=$((n + 1))
            sleep 0.1
        done
    ) &
    LOAD_PID=$!
    BACKGROUND+=("$LOAD_PID")
}
# stop_load SCENARIO: stops the loop; every call must have answered 200
stop_load() {
    touch "$TMP/load.stop"
    wait "$LOAD_PID" 2>/dev/null || true
    local total bad
    total=$(grep -c . "$TMP/load" || true)
    bad=$(grep -vc '^200$' "$TMP/load" || true)
    if [ "$total" -gt 0 ] && [ "$bad" = 0 ]; then
        pass "$1: no call dropped during the redeploy ($total calls, all 200)"
    else
        fail "$1: no call dropped during the redeploy" \
            "$bad of $total calls did not answer 200: $(grep -v '^200$' "$TMP/load" | sort | uniq -c | tr '\n' ' ')"
    fi
}

# moved SCENARIO BACKEND REVISION STATUS: the deploy just made answered STATUS, ready at
# REVISION on BACKEND (the rest needs that, so a failure stops the script)
moved() {
    local got
    got="$CODE $(jq_ 'd.get("state")' || true) $(jq_ 'd.get("backend")' || true) $(jq_ 'd.get("revision")' || true)"
    if [ "$got" = "$4 ready $2 $3" ]; then
        pass "$1: $4 state ready backend $2 revision $3 (${TIME}s)"
    else
        abort "$1" "want '$4 ready $2 $3', got '$got' $(error_text)"
    fi
}

# ------------------------------------------------------------------ docker
section "1. backend docker ($P)"
deploy "$P" "$CODE_PY" "{\"backend\":\"docker\",$SETTINGS}"
moved "deploy on docker" docker 1 201
traffic docker 1
check "docker: the callback has containers ($(containers))" "none labelled faas.callback=$P" has_containers
check "docker: nothing of it in the cluster" "found: $(kleft "$P")" no_kube_objects "$P"

# ------------------------------------------------------------------ kubernetes
section "2. redeploy with backend kubernetes"
start_load
deploy "$P" "$CODE_PY" "{\"backend\":\"kubernetes\",$SETTINGS}"
stop_load "docker -> kubernetes"
moved "redeploy on kubernetes" kubernetes 2 200
traffic kubernetes 2
if wait_until "$CLEANUP_MAX_S" no_containers; then
    pass "kubernetes: no Docker container of it left (${WAITED}s)"
else
    fail "kubernetes: no Docker container of it left" "after ${CLEANUP_MAX_S}s: $(containers)"
fi
check "kubernetes: its Deployment and Service exist" "found: $(kleft "$P" deploy,svc)" \
    has_deployment_and_service

# ------------------------------------------------------------------ back to docker
section "3. redeploy with backend docker"
start_load
deploy "$P" "$CODE_PY" "{\"backend\":\"docker\",$SETTINGS}"
stop_load "kubernetes -> docker"
moved "redeploy back on docker" docker 3 200
traffic docker 3
if wait_until "$CLEANUP_MAX_S" no_kube_objects "$P"; then
    pass "docker again: no Deployment, Service, Job, ConfigMap or pod of it left (${WAITED}s)"
else
    fail "docker again: nothing of it left in the cluster" "after ${CLEANUP_MAX_S}s: $(kleft "$P")"
fi
check "docker again: the callback has containers ($(containers))" "none" has_containers

# ------------------------------------------------------------------ delete
section "4. delete"
req DELETE "/callbacks/$P"
check "DELETE /callbacks/$P: 204" "$(error_text)" [ "$CODE" = 204 ]
req GET "/callbacks/$P"
check "GET after delete: 404 CALLBACK_NOT_FOUND" "$(error_text)" error_is 404 CALLBACK_NOT_FOUND
req GET "/api/$P"
check "call after delete: 404 CALLBACK_NOT_FOUND" "$(error_text)" error_is 404 CALLBACK_NOT_FOUND
if wait_until 30 no_containers; then
    pass "delete: no Docker container left"
else
    fail "delete: no Docker container left" "$(containers)"
fi
if wait_until "$CLEANUP_MAX_S" no_kube_objects "$P"; then
    pass "delete: nothing left in the cluster"
else
    fail "delete: nothing left in the cluster" "$(kleft "$P")"
fi

# ------------------------------------------------------------------ namespace
KNS="kns-$(uid)"
section "5. namespace $KNS"
# nsleft: the cluster's objects labelled with the namespace (empty when none)
nsleft() {
    kubectl -n "$NS" get deploy,svc,job,cm,pod -l "faas.namespace=$KNS" -o name 2>"$TMP/k.err" | tr '\n' ' '
}
no_ns_objects() { [ -z "$(nsleft)" ]; }
ns_containers() {
    docker ps -aq --filter label=faas.managed-by=faas-gateway --filter "label=faas.namespace=$KNS" 2>/dev/null | tr '\n' ' '
}
extra_cleanup() {
    curl -s -o /dev/null --max-time 300 -X DELETE "${AUTH_ADMIN[@]}" "$FAAS_URL/namespaces/$KNS" || true
    kubectl -n "$NS" delete deploy,svc,job,cm,pod -l "faas.namespace=$KNS" \
        --ignore-not-found --wait=false >/dev/null 2>&1 || true
}
req POST /namespaces "{\"name\":\"$KNS\"}"
check "POST /namespaces: 201" "$(error_text)" [ "$CODE" = 201 ]
NSVC="kns-svc-$(uid)"
NJOB="kns-job-$(uid)"
deploy "$NSVC" "$CODE_PY" "{\"backend\":\"kubernetes\",\"namespace\":\"$KNS\",$SETTINGS}"
check "deploy a service in $KNS on kubernetes: ready" "$(error_text)" deployed_ok
deploy "$NJOB" "$CODE_PY" "{\"backend\":\"kubernetes\",\"namespace\":\"$KNS\",\"mode\":\"job\",\"memory_mb\":128}"
check "deploy a job-mode callback in $KNS on kubernetes: ready" "$(error_text)" deployed_ok
req GET "/api/$NJOB"
check "a job call: 200" "$(error_text)" [ "$CODE" = 200 ]
# ns_labelled: the service's Deployment, Service and pod carry the namespace's label
ns_labelled() {
    local found
    found=$(kubectl -n "$NS" get deploy,svc,pod -l "faas.callback=$NSVC,faas.namespace=$KNS" -o name 2>/dev/null)
    [ "$(printf '%s\n' "$found" | grep -c .)" -ge 3 ]
}
check "its Deployment, Service and pod carry faas.namespace=$KNS" "found: $(nsleft)" ns_labelled
req DELETE "/namespaces/$KNS"
check "DELETE /namespaces/$KNS: 204" "$(error_text)" [ "$CODE" = 204 ]
req GET "/api/$NSVC"
check "call after the namespace delete: 404 CALLBACK_NOT_FOUND" "$(error_text)" error_is 404 CALLBACK_NOT_FOUND
if wait_until "$CLEANUP_MAX_S" no_ns_objects; then
    pass "namespace delete: no object labelled faas.namespace=$KNS left in the cluster (${WAITED}s)"
else
    fail "namespace delete: nothing labelled with it left in the cluster" "$(nsleft)"
fi
check "namespace delete: no Docker container labelled with it" "$(ns_containers)" [ -z "$(ns_containers)" ]

summary
