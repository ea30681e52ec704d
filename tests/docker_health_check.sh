#!/usr/bin/env bash
# Health report of the Docker side of a faas-gateway installation.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: tests/docker_health_check.sh [--help]

Checks and prints, for a faas-gateway and the Docker daemon it uses:
  - the Docker daemon (client and server version)
  - the gateway's GET /health and GET /ready (each readiness check)
  - the callbacks the gateway knows (state, revision, instances)
  - gateway-managed containers (label faas.managed-by=faas-gateway) with their
    state and resource use (docker stats --no-stream)
  - function images (faas-fn/*) with their sizes, the runtime base images
  - the Docker network the instances use

Exits non-zero when Docker or the gateway is unhealthy (daemon unreachable,
/health not ok, /ready not ready). Everything else is reported as INFO/WARN.

Environment:
  FAAS_BASE_URL (or FAAS_URL)
                          gateway URL (default http://127.0.0.1:8000); must be
                          a loopback address (127.0.0.0/8, localhost, [::1])
  FAAS_GATEWAY_ID         only report containers labelled faas.gateway=<id>
                          (default: every gateway on this daemon)
  FAAS_NETWORK            Docker network of the instances (default faas-functions)
  FAAS_PYTHON_BASE_IMAGE  base images to look for (default python:3.12-slim and
  FAAS_NODE_BASE_IMAGE    node:20-slim, the Node one also for npm, plus locally
  FAAS_NODE_DEPS_BASE_IMAGE  built faas-local/* ones)
Needs: bash, curl, python3, docker.
EOF
}

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
handle_args "$@"

init_faas_url
NETWORK="${FAAS_NETWORK:-faas-functions}"
GATEWAY_ID="${FAAS_GATEWAY_ID:-}"

require_tools curl python3 docker
require_loopback "$FAAS_URL" "gateway URL "

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

echo "faas-gateway Docker health check: gateway $FAAS_URL${GATEWAY_ID:+ (gateway id $GATEWAY_ID)}"

# ---------------------------------------------------------------- Docker daemon
section "Docker daemon"
docker_ok=0
if server=$(timeout 20 docker version --format '{{.Server.Version}}' 2>"$TMP/docker.err"); then
    client=$(docker version --format '{{.Client.Version}}' 2>/dev/null || echo "?")
    pass "docker daemon reachable: server $server, client $client"
    docker_ok=1
    if dinfo=$(timeout 20 docker info --format '{{.OperatingSystem}}|{{.Driver}}|{{.NCPU}}|{{.MemTotal}}|{{.ContainersRunning}}|{{.Containers}}|{{.Images}}' 2>/dev/null); then
        IFS='|' read -r os driver ncpu mem running total images <<<"$dinfo"
        info "daemon: $os, storage driver $driver, $ncpu CPUs, $((mem / 1024 / 1024)) MiB, containers $running running / $total total, $images images"
    fi
else
    fail "docker daemon unreachable: $(head -c 300 "$TMP/docker.err" | tr '\n' ' ')"
fi

# ---------------------------------------------------------------- gateway
section "Gateway"
code=$(curl -sS --max-time 10 -o "$TMP/health" -w '%{http_code}' "$FAAS_URL/health" 2>"$TMP/curl.err" || true)
if [ "$code" = 200 ] && [ "$(json "$TMP/health" 'd.get("status")' 2>/dev/null)" = ok ]; then
    pass "GET /health: 200 status=ok version=$(json "$TMP/health" 'd.get("version", "?")')"
else
    fail "GET /health: status ${code:-none} $(head -c 300 "$TMP/health" 2>/dev/null || true)$(head -c 200 "$TMP/curl.err")"
fi

code=$(curl -sS --max-time 15 -o "$TMP/ready" -w '%{http_code}' "$FAAS_URL/ready" 2>"$TMP/curl.err" || true)
if [ -s "$TMP/ready" ] && json "$TMP/ready" 'd["checks"]' >/dev/null 2>&1; then
    # one line per readiness check
    while IFS= read -r line; do
        case "$line" in
            ok\ *) pass "ready check ${line#ok }" ;;
            *) fail "ready check ${line#bad }" ;;
        esac
    done < <(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
for name, c in sorted(d.get("checks", {}).items()):
    extra = " ".join(f"{k}={v}" for k, v in c.items() if k != "ok")
    print(("ok " if c.get("ok") else "bad ") + name + (": " + extra if extra else ""))' "$TMP/ready")
fi
status=$(json "$TMP/ready" 'd.get("status")' 2>/dev/null || echo "?")
if [ "$code" = 200 ] && [ "$status" = ready ]; then
    pass "GET /ready: 200 status=ready"
else
    fail "GET /ready: status ${code:-none} status=$status $(head -c 200 "$TMP/curl.err")"
fi

code=$(curl -sS --max-time 10 -o "$TMP/callbacks" -w '%{http_code}' "$FAAS_URL/callbacks" 2>/dev/null || true)
if [ "$code" = 200 ]; then
    info "callbacks known to the gateway:"
    python3 - "$TMP/callbacks" <<'PY'
import json, sys
cbs = json.load(open(sys.argv[1])).get("callbacks", [])
print(f"  {len(cbs)} callback(s)")
row = "  {:<32} {:<7} {:<11} {:>4} {:>4}  {}"
if cbs:
    print(row.format("PATH", "RUNTIME", "STATE", "REV", "INST", "LAST_ERROR"))
for c in cbs:
    le = c.get("last_error") or {}
    print(row.format(c.get("path", "?"), c.get("runtime", "?"), c.get("state", "?"),
                     c.get("revision", 0), len(c.get("instances") or []), le.get("code", "")))
PY
    bad=$(json "$TMP/callbacks" '" ".join(c["path"] + "=" + c["state"] for c in d.get("callbacks", []) if c.get("state") in ("failed", "crash_loop"))')
    [ -z "$bad" ] || warn "callbacks failed or crash-looping: $bad"
elif [ "$code" = 401 ]; then
    info "GET /callbacks needs the admin token (401): callback list skipped"
else
    warn "GET /callbacks answered ${code:-nothing}"
fi

# ---------------------------------------------------------------- Docker objects
if [ "$docker_ok" = 1 ]; then
    section "Gateway-managed containers"
    filters=(--filter label=faas.managed-by=faas-gateway)
    [ -z "$GATEWAY_ID" ] || filters+=(--filter "label=faas.gateway=$GATEWAY_ID")
    docker ps -a "${filters[@]}" \
        --format '{{.ID}}|{{.Label "faas.gateway"}}|{{.Label "faas.callback"}}|{{.Label "faas.revision"}}|{{.State}}|{{.Status}}|{{.Ports}}' >"$TMP/containers"
    total=$(wc -l <"$TMP/containers")
    running=$(awk -F'|' '$5 == "running"' "$TMP/containers" | wc -l)
    info "$total managed container(s), $running running"
    if [ "$total" -gt 0 ]; then
        awk -F'|' 'BEGIN { printf "  %-12s %-10s %-28s %-4s %-9s %-24s %s\n", "ID", "GATEWAY", "CALLBACK", "REV", "STATE", "STATUS", "PORTS" }
                   { printf "  %-12s %-10s %-28s %-4s %-9s %-24s %s\n", $1, $2, $3, $4, $5, $6, $7 }' "$TMP/containers"
    fi
    not_running=$(awk -F'|' '$5 != "running" { printf "%s(%s:%s) ", $1, $3, $5 }' "$TMP/containers")
    [ -z "$not_running" ] || warn "containers not running: $not_running"

    if [ "$running" -gt 0 ]; then
        mapfile -t ids < <(awk -F'|' '$5 == "running" { print $1 }' "$TMP/containers")
        info "resource use (docker stats --no-stream):"
        if timeout 60 docker stats --no-stream \
            --format 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.PIDs}}' \
            "${ids[@]}" >"$TMP/stats" 2>&1; then
            sed 's/^/  /' "$TMP/stats"
        else
            warn "docker stats failed: $(head -c 300 "$TMP/stats")"
        fi
    fi

    section "Function images (faas-fn/*)"
    docker images --filter 'reference=faas-fn/*' --format '{{.Repository}}:{{.Tag}}|{{.ID}}|{{.Size}}|{{.CreatedSince}}' >"$TMP/images"
    n=$(wc -l <"$TMP/images")
    info "$n function image(s)"
    if [ "$n" -gt 0 ]; then
        awk -F'|' 'BEGIN { printf "  %-48s %-12s %-9s %s\n", "IMAGE", "ID", "SIZE", "CREATED" }
                   { printf "  %-48s %-12s %-9s %s\n", $1, $2, $3, $4 }' "$TMP/images"
        # image sizes share their base layers: the unique total is what is on disk
        info "all images on this daemon: $(docker system df --format '{{.Size}} (reclaimable {{.Reclaimable}})' 2>/dev/null | head -1 || echo '?')"
    fi

    section "Base images"
    node_base="${FAAS_NODE_BASE_IMAGE:-node:20-slim}"
    npm_base="${FAAS_NODE_DEPS_BASE_IMAGE:-$node_base}"
    wanted=("${FAAS_PYTHON_BASE_IMAGE:-python:3.12-slim}" "$node_base")
    [ "$npm_base" = "$node_base" ] || wanted+=("$npm_base")
    for image in "${wanted[@]}"; do
        if size=$(docker image inspect --format '{{.Size}}' "$image" 2>/dev/null); then
            info "base image $image present ($((size / 1000 / 1000)) MB)"
        elif [ "$image" = "$npm_base" ] && [ "$npm_base" != "$node_base" ]; then
            warn "base image $image (npm, for Node functions with dependencies) not present: docker/base-images.sh --runtime node-deps builds it"
        else
            warn "base image $image not present (the gateway pulls or builds it on the first deploy)"
        fi
    done
    docker images --filter 'label=org.faas-gateway.base.runtime' \
        --format '{{.Repository}}:{{.Tag}}|{{.Size}}|{{.CreatedSince}}' | grep -v -e '^<none>' -e '^faas-fn/' >"$TMP/base" || true
    if [ -s "$TMP/base" ]; then
        info "locally built base images (docker/base-images.sh):"
        awk -F'|' '{ printf "  %-48s %-9s %s\n", $1, $2, $3 }' "$TMP/base"
    fi

    section "Network"
    if net=$(docker network inspect --format '{{.Name}} driver={{.Driver}} internal={{.Internal}} containers={{len .Containers}}' "$NETWORK" 2>/dev/null); then
        info "network $net"
    else
        warn "network $NETWORK does not exist (the gateway creates it when it starts an instance)"
    fi
fi

summary
[ "$WARNED" -eq 0 ] || echo "($WARNED warning(s))"
if [ "$FAILED" -gt 0 ]; then
    echo "UNHEALTHY"
    exit 1
fi
echo "HEALTHY"
