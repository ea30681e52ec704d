#!/usr/bin/env bash
# Checks the one-file deployment in docker/: compose file, Prometheus and Grafana config, and
# the gateway image (built offline from a host binary), which must serve /health.
# See usage() below (or --help).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    cat <<'EOF'
Usage: tests/compose_test.sh [--cargo] [--static-only] [--no-compose-up]

Checks docker/ (the gateway's image, docker-compose.yml, Prometheus, Grafana) and prints
one PASS or FAIL line per check; exits non-zero if any failed.

  1. docker/docker-compose.yml parses (`docker-compose config`, or `docker compose config`;
     Debian's docker-compose is installed with apt-get when neither exists and we are root).
  2. docker/prometheus/: `promtool check config`, `check rules` and `test rules`
     (alerts_test.yml).  promtool is taken from $PROMTOOL, PATH, or extracted once from
     Debian's prometheus package (`apt-get download`, no install) into the cache; without it
     the files get a structural check with python3's yaml module.
  3. docker/grafana/: the dashboard is valid JSON with uid faas-gateway and a datasource
     variable, every metric its queries (and alerts.yml) name is one the gateway exports
     (SPEC section 6), and its queries parse (promtool, when available); the provisioning
     files are valid YAML.
  4. The gateway image faas-gateway:local builds offline: target/release/faas-gateway (built
     with `cargo build --release --locked` when missing) is packaged by the Dockerfile's
     `prebuilt` target, from a context holding only the binary, on a local runtime base
     image; a container of it (given a token: it listens on 0.0.0.0) answers GET /health
     200, GET /ready 200 (it reaches Docker through the mounted socket as its non-root
     user) and /metrics, and its HEALTHCHECK reports healthy.
  5. `docker-compose up` of the gateway service alone (Prometheus and Grafana need a
     registry) with a network (created first: it is external), port and gateway id of its
     own: the service becomes healthy, answers /health, refuses a deploy without
     FAAS_ADMIN_TOKEN (401), and a Python function deployed with it answers a call (the
     gateway builds the image, starts the instance on FAAS_NETWORK and reaches it by its
     address); the callback is deleted, and `down` leaves the network free to remove.

Options:
  --cargo          always run `cargo build --release --locked` (by default an existing
                   binary is used as it is, with a warning when sources are newer)
  --static-only    only checks 1-3 (no image, no containers)
  --no-compose-up  skip check 5
  -h, --help       show this help

Environment:
  FAAS_GATEWAY_RUNTIME_IMAGE  runtime base of the prebuilt image [the python image that
                              `docker/base-images.sh --runtime python --no-pull` gives:
                              Debian of the host's suite, with ca-certificates and bash]
  FAAS_PYTHON_BASE_IMAGE      base of the function deployed in check 5 (resolved, like the
                              above, with docker/base-images.sh)
  PROMTOOL                    promtool to use
  FAAS_COMPOSE_TEST_TIMEOUT   seconds to wait for a container to be healthy [90]
  XDG_CACHE_HOME              cache root for promtool [~/.cache]

Containers, networks and volumes it creates carry a per-run name and are removed on exit.
EOF
}

readonly IMAGE=faas-gateway:local
readonly COMPOSE_FILE=docker/docker-compose.yml
readonly DASHBOARD=docker/grafana/dashboards/faas-gateway.json
readonly BINARY=target/release/faas-gateway
readonly TIMEOUT=${FAAS_COMPOSE_TEST_TIMEOUT:-90}
readonly RUN_ID=faas-compose-test-$$-${RANDOM}
# The metric families of SPEC section 6 (and Prometheus's own `up`).
readonly KNOWN_METRICS="up faas_invocations_total faas_invocation_errors_total
faas_invocation_duration_seconds faas_cold_starts_total faas_cold_start_duration_seconds
faas_instances faas_builds_total faas_build_duration_seconds faas_queue_depth
faas_http_requests_total faas_namespace_usage faas_namespace_quota"

PASSED=0
FAILED=0
pass() {
    printf 'PASS: %s\n' "$*"
    PASSED=$((PASSED + 1))
}
fail() {
    printf 'FAIL: %s\n' "$*"
    FAILED=$((FAILED + 1))
}
note() { printf 'compose_test: %s\n' "$*" >&2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/faas-compose-test.XXXXXX")
CONTAINER=
COMPOSE_UP=
NETWORK=
CTX=
cleanup() {
    if [[ -n $CONTAINER ]]; then
        docker rm -f -v "$CONTAINER" >/dev/null 2>&1 || true
    fi
    if [[ -n $COMPOSE_UP ]]; then
        remove_instances
        compose_env "${COMPOSE[@]}" -p "$RUN_ID" -f "$COMPOSE_FILE" down -v --remove-orphans \
            >/dev/null 2>&1 || true
    fi
    if [[ -n $NETWORK ]]; then
        docker network rm "$NETWORK" >/dev/null 2>&1 || true
    fi
    [[ -z $CTX ]] || rm -rf "$CTX"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Prints the last lines of a log file, indented, after a FAIL line.
show_log() { tail -n "${2:-20}" "$1" | sed 's/^/    /'; }

# ----------------------------------------------------------------- compose --

COMPOSE=()
find_compose() {
    if command -v docker-compose >/dev/null 2>&1; then
        COMPOSE=(docker-compose)
    elif docker compose version >/dev/null 2>&1; then
        COMPOSE=(docker compose)
    elif [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        note "installing docker-compose with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >&2 || {
            DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || true
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >&2 || true
        }
        command -v docker-compose >/dev/null 2>&1 && COMPOSE=(docker-compose)
    fi
    ((${#COMPOSE[@]}))
}

DOCKER_GID=
# The gateway in a container listens on 0.0.0.0, which it refuses without a token.
TOKEN=compose-test-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
readonly TOKEN
# Runs a command with the variables docker-compose.yml requires.
compose_env() {
    DOCKER_GID=${DOCKER_GID:-0} FAAS_ADMIN_TOKEN=$TOKEN "$@"
}

check_compose_file() {
    if ! find_compose; then
        fail "compose: neither docker-compose nor 'docker compose' is available"
        return
    fi
    local out=$WORK/compose-config.log services
    if compose_env "${COMPOSE[@]}" -f "$COMPOSE_FILE" config -q >"$out" 2>&1; then
        pass "compose: $COMPOSE_FILE parses (${COMPOSE[*]} config)"
    else
        fail "compose: ${COMPOSE[*]} config rejects $COMPOSE_FILE"
        show_log "$out"
        return
    fi
    services=$(compose_env "${COMPOSE[@]}" -f "$COMPOSE_FILE" config --services 2>/dev/null | sort | tr '\n' ' ')
    if [[ $services == "gateway grafana prometheus " ]]; then
        pass "compose: services gateway, prometheus, grafana"
    else
        fail "compose: services are '$services', want gateway grafana prometheus"
    fi
    # Required: without DOCKER_GID the gateway could not use the Docker socket; without
    # FAAS_ADMIN_TOKEN it would refuse to listen (and function code could reach its API).
    local var
    for var in DOCKER_GID FAAS_ADMIN_TOKEN; do
        if compose_env env -u "$var" "${COMPOSE[@]}" -f "$COMPOSE_FILE" config -q >"$out" 2>&1; then
            fail "compose: config accepted a missing $var"
        elif grep -q "set $var" "$out"; then
            pass "compose: a missing $var is refused with a message naming it"
        else
            fail "compose: config without $var failed for another reason"
            show_log "$out"
        fi
    done
}

# -------------------------------------------------------------- prometheus --

PROMTOOL_BIN=
find_promtool() {
    if [[ -n ${PROMTOOL:-} ]]; then
        PROMTOOL_BIN=$PROMTOOL
        return 0
    fi
    if command -v promtool >/dev/null 2>&1; then
        PROMTOOL_BIN=$(command -v promtool)
        return 0
    fi
    local cache=${XDG_CACHE_HOME:-${HOME:?}/.cache}/faas-gateway/promtool
    if [[ -x $cache/promtool ]]; then
        PROMTOOL_BIN=$cache/promtool
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
        return 1
    fi
    # Only the binary from Debian's package: no install, no service started.
    local dl=$WORK/promtool-deb deb
    mkdir -p "$dl" "$cache"
    note "fetching promtool from Debian's prometheus package (once; cached in $cache)"
    (cd "$dl" && timeout 180 apt-get download -q prometheus) >"$WORK/promtool-dl.log" 2>&1 || return 1
    deb=$(find "$dl" -maxdepth 1 -name 'prometheus_*.deb' -print -quit)
    [[ -n $deb ]] || return 1
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dl" ./usr/bin/promtool 2>/dev/null || return 1
    install -m 0755 "$dl/usr/bin/promtool" "$cache/promtool.tmp" && mv "$cache/promtool.tmp" "$cache/promtool"
    PROMTOOL_BIN=$cache/promtool
}

have_pyyaml() { python3 -c 'import yaml' >/dev/null 2>&1; }

check_prometheus() {
    local out=$WORK/promtool.log
    if find_promtool; then
        if "$PROMTOOL_BIN" check config docker/prometheus/prometheus.yml >"$out" 2>&1; then
            pass "prometheus: promtool check config prometheus.yml"
        else
            fail "prometheus: promtool check config prometheus.yml"
            show_log "$out"
        fi
        if "$PROMTOOL_BIN" check rules docker/prometheus/alerts.yml >"$out" 2>&1; then
            pass "prometheus: promtool check rules alerts.yml"
        else
            fail "prometheus: promtool check rules alerts.yml"
            show_log "$out"
        fi
        if "$PROMTOOL_BIN" test rules docker/prometheus/alerts_test.yml >"$out" 2>&1; then
            pass "prometheus: promtool test rules alerts_test.yml (each alert fires as intended)"
        else
            fail "prometheus: promtool test rules alerts_test.yml"
            show_log "$out" 40
        fi
        return
    fi
    note "promtool unavailable: structural check of the Prometheus files only"
    if ! have_pyyaml; then
        fail "prometheus: neither promtool nor python3's yaml module is available to check the files"
        return
    fi
    if python3 - docker/prometheus/prometheus.yml docker/prometheus/alerts.yml >"$out" 2>&1 <<'EOF'; then
import sys, yaml
conf = yaml.safe_load(open(sys.argv[1]))
assert conf["rule_files"] == ["alerts.yml"], conf.get("rule_files")
jobs = {j["job_name"]: j for j in conf["scrape_configs"]}
targets = [t for s in jobs["faas-gateway"]["static_configs"] for t in s["targets"]]
assert targets == ["gateway:8000"], targets
rules = [r for g in yaml.safe_load(open(sys.argv[2]))["groups"] for r in g["rules"]]
names = {r["alert"] for r in rules}
want = {"GatewayDown", "HighErrorRatio", "HighP95Latency", "CrashLooping"}
assert names == want, names
for r in rules:
    assert r["expr"].strip() and r["labels"]["severity"], r
    assert r["annotations"]["summary"] and r["annotations"]["description"], r
EOF
        pass "prometheus: prometheus.yml and alerts.yml are well-formed (no promtool)"
    else
        fail "prometheus: prometheus.yml / alerts.yml structure"
        show_log "$out"
    fi
}

# ----------------------------------------------------------------- grafana --

check_grafana() {
    local out=$WORK/grafana.log exprs=$WORK/exprs.json
    if python3 -m json.tool "$DASHBOARD" >/dev/null 2>"$out"; then
        pass "grafana: $DASHBOARD is valid JSON"
    else
        fail "grafana: $DASHBOARD is not valid JSON"
        show_log "$out"
        return
    fi
    # Every query's metric names must be the gateway's; also writes the queries, with
    # Grafana's variables replaced, as recording rules for promtool to parse.
    if python3 - "$DASHBOARD" docker/prometheus/alerts.yml "$exprs" "$KNOWN_METRICS" >"$out" 2>&1 <<'EOF'; then
import json, re, sys
dash_file, alerts_file, rules_out, known = sys.argv[1:5]
known = set(known.split())
dash = json.load(open(dash_file))
problems = []
if dash.get("uid") != "faas-gateway":
    problems.append(f"uid is {dash.get('uid')!r}")
variables = dash.get("templating", {}).get("list", [])
if not any(v.get("type") == "datasource" and v.get("query") == "prometheus" for v in variables):
    problems.append("no prometheus datasource variable")

def panels(ps):
    for p in ps:
        yield p
        yield from panels(p.get("panels", []))

exprs = []
for p in panels(dash.get("panels", [])):
    for t in p.get("targets", []):
        if t.get("expr"):
            exprs.append((p.get("title"), t["expr"]))
    ds = p.get("datasource") or {}
    if p.get("type") != "row" and ds.get("uid") != "${datasource}":
        problems.append(f"panel {p.get('title')!r} does not use the datasource variable")
for v in variables:
    q = v.get("query")
    q = q.get("query", "") if isinstance(q, dict) else (q or "")
    m = re.match(r"\s*label_values\(\s*([A-Za-z_:][\w:]*)\s*,", q)
    if m:
        exprs.append((f"variable {v['name']}", m.group(1)))

# Alerts too (with a line-based fallback when python3 has no yaml module).
try:
    import yaml
    for g in yaml.safe_load(open(alerts_file))["groups"]:
        exprs += [(f"alerts.yml {r['alert']}", r["expr"]) for r in g["rules"]]
except ImportError:
    text = open(alerts_file).read()
    for m in re.finditer(r"^\s*expr:\s*(\|\s*\n((?:\s{10,}.*\n)+)|(.+))", text, re.M):
        exprs.append(("alerts.yml", (m.group(2) or m.group(3)).strip()))

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
            "or", "unless", "offset", "inf", "nan"}
def metric_names(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)           # strings
    e = re.sub(r"\{[^}]*\}", "", e)                          # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                         # range and subquery durations
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    e = re.sub(r"\$\w+", "", e)                              # Grafana variables
    for m in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", e):
        name, call = m.group(1), m.group(2)
        if not call and name.lower() not in KEYWORDS:
            yield name

def family(name):
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and base in known:
            return base
    return name

used = set()
for where, expr in exprs:
    for name in metric_names(expr):
        used.add(family(name))
        if family(name) not in known:
            problems.append(f"{where}: unknown metric {name!r} in {expr!r}")
titles = " | ".join(p.get("title", "") for p in panels(dash.get("panels", [])))
for want in ("faas_invocations_total", "faas_invocation_duration_seconds", "faas_cold_starts_total",
             "faas_cold_start_duration_seconds", "faas_instances", "faas_invocation_errors_total",
             "faas_builds_total", "faas_queue_depth"):
    if want not in used:
        problems.append(f"no query uses {want}")
if problems:
    print("\n".join(problems))
    sys.exit(1)

rules = [{"record": f"dashboard:query_{i}",
          "expr": e.replace("$__rate_interval", "1m").replace("$path", ".*")}
         for i, (_, e) in enumerate(exprs)]
json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(rules_out, "w"))
print(f"{len(exprs)} queries, metrics: {', '.join(sorted(used))}")
EOF
        pass "grafana: uid, datasource variable, and only SPEC metrics in every query ($(tail -n1 "$out" | cut -d, -f1))"
    else
        fail "grafana: dashboard queries"
        show_log "$out"
        return
    fi
    if [[ -n $PROMTOOL_BIN ]]; then
        if "$PROMTOOL_BIN" check rules "$exprs" >"$out" 2>&1; then
            pass "grafana: every dashboard query is valid PromQL (promtool)"
        else
            fail "grafana: a dashboard query does not parse"
            show_log "$out"
        fi
    fi
    if have_pyyaml; then
        if python3 - docker/grafana/provisioning >"$out" 2>&1 <<'EOF'; then
import pathlib, sys, yaml
root = pathlib.Path(sys.argv[1])
ds = yaml.safe_load((root / "datasources/prometheus.yml").read_text())["datasources"]
assert any(d["type"] == "prometheus" and d["url"] == "http://prometheus:9090" for d in ds), ds
prov = yaml.safe_load((root / "dashboards/faas-gateway.yml").read_text())["providers"]
assert prov[0]["options"]["path"] == "/var/lib/grafana/dashboards", prov
EOF
            pass "grafana: provisioning (Prometheus datasource, dashboard provider) is valid YAML"
        else
            fail "grafana: provisioning files"
            show_log "$out"
        fi
    fi
}

# ------------------------------------------------------------------- image --

ensure_binary() {
    local log=$WORK/cargo.log newer
    if [[ -n $CARGO_BUILD || ! -x $BINARY ]]; then
        note "cargo build --release --locked (log: $log)"
        if ! cargo build --release --locked >"$log" 2>&1; then
            fail "image: cargo build --release --locked"
            show_log "$log"
            return 1
        fi
    else
        newer=$(find Cargo.toml Cargo.lock src migrations runtimes ui -newer "$BINARY" -type f -print -quit)
        [[ -z $newer ]] || note "warning: $newer is newer than $BINARY; testing the existing binary (--cargo rebuilds it)"
    fi
}

PYTHON_BASE=
# The python function base image (honours $FAAS_PYTHON_BASE_IMAGE; usually already built by
# tests/run.sh or start.sh, so this takes a second).
find_python_base() {
    local line
    [[ -z $PYTHON_BASE ]] || return 0
    line=$(docker/base-images.sh --runtime python --no-pull 2>"$WORK/base-images.log") || {
        fail "docker/base-images.sh gave no python base image"
        show_log "$WORK/base-images.log"
        return 1
    }
    PYTHON_BASE=${line#FAAS_PYTHON_BASE_IMAGE=}
}

RUNTIME_IMAGE=
find_runtime_image() {
    if [[ -n ${FAAS_GATEWAY_RUNTIME_IMAGE:-} ]]; then
        RUNTIME_IMAGE=$FAAS_GATEWAY_RUNTIME_IMAGE
        return 0
    fi
    # No registry, so no debian:bookworm-slim: the python base is Debian of the host's suite
    # (the host-built binary's glibc) with ca-certificates and bash, which is all the
    # gateway needs, and exists already wherever the test suite runs.
    find_python_base || return 1
    RUNTIME_IMAGE=$PYTHON_BASE
}

build_image() {
    local log=$WORK/docker-build.log old_id new_id
    ensure_binary || return 1
    find_runtime_image || return 1
    # A context with nothing but the binary (hard-linked when possible): the classic builder
    # has no per-Dockerfile ignore file and would send the whole repository.
    CTX=$(mktemp -d target/compose-test-ctx.XXXXXX)
    mkdir -p "$CTX/target/release"
    ln "$BINARY" "$CTX/$BINARY" 2>/dev/null || cp "$BINARY" "$CTX/$BINARY"
    old_id=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
    # The classic builder sees local images, which is all there is without a registry.
    if DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0} docker build -f docker/Dockerfile --target prebuilt \
        --build-arg "RUNTIME_IMAGE=$RUNTIME_IMAGE" -t "$IMAGE" "$CTX" >"$log" 2>&1; then
        pass "image: $IMAGE built offline (--target prebuilt on $RUNTIME_IMAGE)"
    else
        fail "image: docker build --target prebuilt on $RUNTIME_IMAGE"
        show_log "$log"
        return 1
    fi
    rm -rf "$CTX"
    CTX=
    new_id=$(docker image inspect -f '{{.Id}}' "$IMAGE")
    if [[ -n $old_id && $old_id != "$new_id" ]]; then
        docker image rm "$old_id" >/dev/null 2>&1 || true
    fi
}

check_image_config() {
    local cfg version
    cfg=$(docker image inspect -f '{{.Config.User}}|{{json .Config.ExposedPorts}}|{{json .Config.Volumes}}|{{if .Config.Healthcheck}}hc{{end}}|{{json .Config.Env}}' "$IMAGE")
    if [[ $cfg == faas\|*'"8000/tcp"'*\|*'"/data"'*\|hc\|* &&
        $cfg == *FAAS_LISTEN=0.0.0.0:8000* && $cfg == *FAAS_DB=/data/faas.db* &&
        $cfg == *FAAS_INSTANCE_ADDRESS=network* ]]; then
        pass "image: user faas, EXPOSE 8000, VOLUME /data, HEALTHCHECK, FAAS_* defaults"
    else
        fail "image: unexpected config: $cfg"
    fi
    if version=$(docker run --rm "$IMAGE" --version 2>&1); then
        pass "image: the binary runs in the image ($version)"
    else
        fail "image: faas-gateway --version fails in the image (glibc of the base older than the host's?)"
        printf '    %s\n' "$version"
    fi
}

# Waits until GET $1 answers 200 while container $2 runs; prints the body.
wait_http_200() {
    local url=$1 container=$2 deadline=$((SECONDS + TIMEOUT))
    while ((SECONDS < deadline)); do
        if curl -fsS --max-time 2 "$url" 2>/dev/null; then
            return 0
        fi
        [[ $(docker inspect -f '{{.State.Running}}' "$container" 2>/dev/null) == true ]] || return 1
        sleep 0.5
    done
    return 1
}

# Waits until container $1's HEALTHCHECK says healthy.
wait_healthy() {
    local status deadline=$((SECONDS + TIMEOUT))
    while ((SECONDS < deadline)); do
        status=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$1" 2>/dev/null || true)
        case $status in
        healthy) return 0 ;;
        unhealthy) return 1 ;;
        esac
        sleep 1
    done
    return 1
}

run_container() {
    local port body gid
    gid=$(stat -c %g /var/run/docker.sock)
    CONTAINER=$RUN_ID
    # A gateway id of its own: at start a gateway removes unknown containers with its id.
    if ! docker run -d --name "$CONTAINER" -p 127.0.0.1::8000 \
        -v /var/run/docker.sock:/var/run/docker.sock --group-add "$gid" \
        -e FAAS_GATEWAY_ID="$RUN_ID" -e FAAS_ADMIN_TOKEN="$TOKEN" \
        --health-interval 2s --health-start-period 2s \
        "$IMAGE" >"$WORK/run.log" 2>&1; then
        fail "container: docker run $IMAGE"
        show_log "$WORK/run.log"
        return 1
    fi
    port=$(docker port "$CONTAINER" 8000/tcp | head -n1)
    port=${port##*:}
    if body=$(wait_http_200 "http://127.0.0.1:$port/health" "$CONTAINER"); then
        pass "container: GET /health 200 on 127.0.0.1:$port ($body)"
    else
        fail "container: GET /health did not answer 200 (in ${TIMEOUT}s, while it ran)"
        docker logs --tail 20 "$CONTAINER" 2>&1 | sed 's/^/    /'
        return 1
    fi
    if body=$(curl -fsS --max-time 5 "http://127.0.0.1:$port/ready" 2>&1); then
        pass "container: GET /ready 200 (database and Docker socket usable as uid $(docker exec "$CONTAINER" id -u))"
    else
        fail "container: GET /ready: $body"
        curl -sS --max-time 5 "http://127.0.0.1:$port/ready" 2>&1 | sed 's/^/    /'
    fi
    check_metrics "http://127.0.0.1:$port/metrics"
    if wait_healthy "$CONTAINER"; then
        pass "container: the image's HEALTHCHECK reports healthy"
    else
        fail "container: HEALTHCHECK status $(docker inspect -f '{{json .State.Health}}' "$CONTAINER")"
    fi
    docker rm -f -v "$CONTAINER" >/dev/null 2>&1 || true
    CONTAINER=
}

# Every faas_* family the gateway exports must be one of SPEC section 6 (families appear once
# they have samples, so this checks names, not completeness).
check_metrics() {
    local text unknown
    if ! text=$(curl -fsS --max-time 5 "$1" 2>&1); then
        fail "container: GET /metrics: $text"
        return
    fi
    unknown=$(printf '%s\n' "$text" | awk -v known="$KNOWN_METRICS" '
        BEGIN { n = split(known, k, /[ \n]+/); for (i = 1; i <= n; i++) ok[k[i]] = 1 }
        $1 == "#" && $2 == "TYPE" {
            name = $3
            if ($4 == "counter" && name !~ /_total$/) name = name "_total"
            if (name ~ /^faas_/ && !(name in ok)) print name
        }')
    if [[ -z $unknown ]]; then
        pass "container: GET /metrics 200, Prometheus text, only SPEC metric names"
    else
        fail "container: /metrics exports metrics the dashboard does not know: $(echo "$unknown" | tr '\n' ' ')"
    fi
}

# Deploys a Python function through the gateway at $1 and calls it: the gateway, in its
# container, builds the image, starts the instance on FAAS_NETWORK and reaches it by address.
deploy_and_invoke() {
    local base=$1 out=$WORK/deploy.log code body
    local spec='{"path": "composetest", "runtime": "python",
      "code": "def handle(event, context):\n    return {\"hello\": event[\"query\"].get(\"name\", \"world\")}\n"}'
    code=$(curl -sS --max-time 10 -o "$out" -w '%{http_code}' "$base/callback/deploy" \
        -H 'content-type: application/json' -d "$spec" 2>&1) || true
    if [[ $code == 401 ]]; then
        pass "compose: deploy without the admin token is refused (401): FAAS_ADMIN_TOKEN reached the gateway"
    else
        fail "compose: deploy without the admin token answered $code, want 401"
    fi
    code=$(curl -sS --max-time 180 -o "$out" -w '%{http_code}' "$base/callback/deploy" \
        -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "$spec" 2>&1) || true
    if [[ $code != 20? ]]; then
        fail "compose: deploy through the containerized gateway answered $code"
        show_log "$out" 10
        return
    fi
    body=$(curl -sS --max-time 30 "$base/api/composetest?name=compose" 2>&1) || true
    if [[ $body == *'"hello"'*'"compose"'* ]]; then
        pass "compose: deploy + invoke through the gateway (instance reached on FAAS_NETWORK: $body)"
    else
        fail "compose: invoke answered: $body"
        docker logs --tail 20 "$(compose_gateway_id)" 2>&1 | sed 's/^/    /'
    fi
    code=$(curl -sS --max-time 60 -o /dev/null -w '%{http_code}' -X DELETE \
        -H "authorization: Bearer $TOKEN" "$base/callbacks/composetest" 2>&1) || true
    [[ $code == 204 ]] || fail "compose: DELETE /callbacks/composetest answered $code"
}

compose_gateway_id() { "${COMPOSE[@]}" -p "$RUN_ID" -f "$COMPOSE_FILE" ps -q gateway; }

# Removes whatever instances a gateway of this run left (they would keep its network).
remove_instances() {
    local ids
    ids=$(docker ps -aq --filter "label=faas.gateway=$RUN_ID" 2>/dev/null || true)
    [[ -z $ids ]] || xargs docker rm -f -v <<<"$ids" >/dev/null 2>&1 || true
}

compose_up() {
    local port body cid
    find_python_base || return 1
    COMPOSE_UP=1
    export DOCKER_GID FAAS_NETWORK=$RUN_ID FAAS_GATEWAY_ID=$RUN_ID FAAS_GATEWAY_PORT=0 \
        FAAS_PYTHON_BASE_IMAGE=$PYTHON_BASE FAAS_ADMIN_TOKEN=$TOKEN FAAS_GATEWAY_IMAGE=$IMAGE
    # The call below goes without a token.
    unset FAAS_INVOKE_TOKEN
    DOCKER_GID=$(stat -c %g /var/run/docker.sock)
    # The functions network is external to the project (see docker-compose.yml).
    if ! docker network create --label faas.managed-by=faas-gateway "$RUN_ID" >"$WORK/network.log" 2>&1; then
        fail "compose: docker network create $RUN_ID"
        show_log "$WORK/network.log"
        return 1
    fi
    NETWORK=$RUN_ID
    if ! "${COMPOSE[@]}" -p "$RUN_ID" -f "$COMPOSE_FILE" up -d --no-build --no-deps gateway \
        >"$WORK/compose-up.log" 2>&1; then
        fail "compose: up gateway"
        show_log "$WORK/compose-up.log"
        return 1
    fi
    cid=$(compose_gateway_id)
    port=$(docker port "$cid" 8000/tcp | head -n1)
    port=${port##*:}
    if body=$(wait_http_200 "http://127.0.0.1:$port/health" "$cid") && wait_healthy "$cid"; then
        pass "compose: gateway service healthy and GET /health 200 on 127.0.0.1:$port ($body)"
    else
        fail "compose: gateway service not healthy within ${TIMEOUT}s"
        docker logs --tail 20 "$cid" 2>&1 | sed 's/^/    /'
    fi
    if docker inspect -f '{{json .NetworkSettings.Networks}}' "$cid" | grep -q "\"$RUN_ID\""; then
        pass "compose: the gateway is on the instances' network (FAAS_NETWORK)"
    else
        fail "compose: the gateway is not on network $RUN_ID"
    fi
    deploy_and_invoke "http://127.0.0.1:$port"
    remove_instances
    if "${COMPOSE[@]}" -p "$RUN_ID" -f "$COMPOSE_FILE" down -v --remove-orphans >"$WORK/down.log" 2>&1; then
        COMPOSE_UP=
    else
        fail "compose: down"
        show_log "$WORK/down.log"
    fi
    # The instances' network is gone from the project, not from Docker.
    if docker network rm "$NETWORK" >/dev/null 2>&1; then
        NETWORK=
        [[ -n $COMPOSE_UP ]] || pass "compose: down, then the instances' network is free to remove"
    else
        fail "compose: network $NETWORK still in use after down"
    fi
}

# -------------------------------------------------------------------- main --

CARGO_BUILD=
STATIC_ONLY=
NO_COMPOSE_UP=
while (($#)); do
    case $1 in
    --cargo) CARGO_BUILD=1 ;;
    --static-only) STATIC_ONLY=1 ;;
    --no-compose-up) NO_COMPOSE_UP=1 ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        echo "compose_test: unknown argument '$1' (see --help)" >&2
        exit 2
        ;;
    esac
    shift
done

start=$SECONDS
check_compose_file
check_prometheus
check_grafana
if [[ -z $STATIC_ONLY ]]; then
    if ! docker info >/dev/null 2>&1; then
        fail "no Docker daemon answers (docker/ensure-docker.sh starts one)"
    elif build_image; then
        check_image_config
        run_container || true
        if [[ -z $NO_COMPOSE_UP ]] && ((${#COMPOSE[@]})); then
            compose_up || true
        fi
    fi
fi
printf 'compose_test: %d passed, %d failed in %ds\n' "$PASSED" "$FAILED" $((SECONDS - start))
((FAILED == 0))
