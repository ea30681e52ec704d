#!/usr/bin/env bash
# Chaos test: kill one instance of a callback under load and watch the gateway recover.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: tests/chaos_test.sh [--help]

Deploys a Python function with min_instances=2, max_instances=2, keeps
concurrent traffic on it (a bounded python3 load generator: THREADS threads with
keep-alive connections for CHAOS_SECONDS) and, KILL_AFTER seconds in, runs
`docker kill` on one of the callback's containers (found by its labels). Then:
  - reports total and failed requests, failures grouped by status + error.code
  - asserts every failure is 502 FUNCTION_CRASHED (only the calls in flight on
    the killed container may fail, so at most THREADS of them) carrying
    error.details.exit_code
  - reports how long until the killed instance left the callback's instances
    and until the callback had 2 ready instances again (GET /callbacks/<path>);
    fails if that takes more than RECOVERY_TIMEOUT_S
  - checks last_error is FUNCTION_CRASHED and that calls succeed afterwards
Undeploys and deletes the function afterwards.

Environment:
  FAAS_BASE_URL (or FAAS_URL)
                      gateway URL (default http://127.0.0.1:8000); loopback only
  CHAOS_SECONDS       how long the traffic runs (default 10)
  KILL_AFTER          seconds of traffic before the kill (default 3)
  THREADS             load generator threads (default 8)
  HANDLER_SLEEP_MS    time the function takes per call (default 20), so that
                      calls are in flight when the container dies
  RECOVERY_TIMEOUT_S  limit for getting 2 ready instances back (default 60)
Needs: bash, curl, python3, docker.
EOF
}

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
handle_args "$@"

init_faas_url
CHAOS_SECONDS="${CHAOS_SECONDS:-10}"
KILL_AFTER="${KILL_AFTER:-3}"
THREADS="${THREADS:-8}"
HANDLER_SLEEP_MS="${HANDLER_SLEEP_MS:-20}"
RECOVERY_TIMEOUT_S="${RECOVERY_TIMEOUT_S:-60}"

require_tools curl python3 docker
require_loopback "$FAAS_URL" "gateway URL "
require_numbers CHAOS_SECONDS KILL_AFTER THREADS HANDLER_SLEEP_MS RECOVERY_TIMEOUT_S
[ "$KILL_AFTER" -lt "$CHAOS_SECONDS" ] || { echo "KILL_AFTER must be below CHAOS_SECONDS" >&2; exit 2; }
if [ "$THREADS" -lt 1 ] || [ "$THREADS" -gt 64 ]; then echo "THREADS must be 1..64" >&2; exit 2; fi
[ "$CHAOS_SECONDS" -le 600 ] || { echo "CHAOS_SECONDS must be at most 600" >&2; exit 2; }

TMP=$(mktemp -d)
FN_PATH=""
LOADGEN_PID=""
cleanup() {
    if [ -n "$LOADGEN_PID" ]; then kill "$LOADGEN_PID" 2>/dev/null || true; fi
    if [ -n "$FN_PATH" ]; then
        delete_callback "$FN_PATH"
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.2f}")' "$1" "$2"; }

# get_callback: GET /callbacks/$FN_PATH into $TMP/cb.json; prints the status
get_callback() {
    curl -sS -o "$TMP/cb.json" -w '%{http_code}' --max-time 10 "$FAAS_URL/callbacks/$FN_PATH" 2>/dev/null || echo 000
}
# ready_count [EXCLUDED_ID]: ready instances in $TMP/cb.json, not counting EXCLUDED_ID
ready_count() {
    python3 - "$TMP/cb.json" "${1:-}" <<'PY' 2>/dev/null || echo 0
import json, sys
d = json.load(open(sys.argv[1]))
x = sys.argv[2]
same = lambda a: bool(x) and (a.startswith(x) or x.startswith(a))
print(sum(1 for i in d.get("instances") or [] if i.get("state") == "ready" and not same(i.get("id", ""))))
PY
}
# listed ID: is ID among the instances in $TMP/cb.json?
listed() {
    python3 - "$TMP/cb.json" "$1" <<'PY' 2>/dev/null
import json, sys
d = json.load(open(sys.argv[1]))
x = sys.argv[2]
sys.exit(0 if any(i.get("id", "") and (i["id"].startswith(x) or x.startswith(i["id"])) for i in d.get("instances") or []) else 1)
PY
}

echo "faas-gateway chaos test against $FAAS_URL: $THREADS threads for ${CHAOS_SECONDS}s, docker kill after ${KILL_AFTER}s"
require_healthy

FN_PATH="chaos-$RANDOM$RANDOM"
python3 - "$FN_PATH" "$HANDLER_SLEEP_MS" >"$TMP/deploy.json" <<'PY'
import json, sys
code = ("import time\n\n"
        "def handle(event, context):\n"
        f"    time.sleep({int(sys.argv[2]) / 1000})\n"
        "    return 'ok'\n")
print(json.dumps({"path": sys.argv[1], "runtime": "python", "code": code,
                  "min_instances": 2, "max_instances": 2}))
PY
deploy_or_exit "$FN_PATH"
REVISION=$(json "$TMP/deploy.out" 'd["revision"]')
pass "deployed $FN_PATH (revision $REVISION, min_instances 2, max_instances 2, handler sleeps ${HANDLER_SLEEP_MS} ms)"

# both instances ready before the traffic starts (bounded)
ready=0
for _ in $(seq 1 120); do
    get_callback >/dev/null
    ready=$(ready_count)
    [ "$ready" -lt 2 ] || break
    sleep 0.5
done
if [ "$ready" -ge 2 ]; then pass "2 ready instances before the test"; else fail "only $ready ready instance(s) after 60 s"; finish || exit 1; fi

# ------------------------------------------------------------------ traffic
cat >"$TMP/loadgen.py" <<'PY'
"""Bounded load generator: THREADS keep-alive connections for SECONDS seconds."""
import http.client, json, sys, threading, time, urllib.parse

base, path, threads, seconds, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
u = urllib.parse.urlsplit(base)
host, port = u.hostname, u.port or 80
prefix = u.path.rstrip("/")
MAX_PER_THREAD = 200000
deadline = time.monotonic() + seconds
lock = threading.Lock()
total = ok = 0
failures = []  # {"t": epoch, "status": int|None, "code": str, "exit_code": ...}

def worker():
    global total, ok
    conn = None
    for _ in range(MAX_PER_THREAD):
        if time.monotonic() >= deadline:
            break
        if conn is None:
            conn = http.client.HTTPConnection(host, port, timeout=30)
        started = time.time()
        fail = None
        try:
            conn.request("GET", f"{prefix}/api/{path}")
            r = conn.getresponse()
            body = r.read()
            if not 200 <= r.status < 300:
                code, exit_code = "-", None
                try:
                    e = json.loads(body)["error"]
                    code = e.get("code", "-")
                    exit_code = (e.get("details") or {}).get("exit_code")
                except Exception:
                    pass
                fail = {"status": r.status, "code": code, "exit_code": exit_code}
            if r.will_close:
                conn.close()
                conn = None
        except Exception as exc:  # connection-level failure
            fail = {"status": None, "code": f"connection error: {type(exc).__name__}", "exit_code": None}
            conn.close()
            conn = None
            time.sleep(0.05)
        with lock:
            total += 1
            if fail is None:
                ok += 1
            else:
                fail["t"] = started
                fail["ended"] = time.time()
                failures.append(fail)
    if conn is not None:
        conn.close()

ts = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
t0 = time.time()
for t in ts:
    t.start()
for t in ts:
    t.join(seconds + 60)
json.dump({"total": total, "ok": ok, "failures": failures, "started": t0, "ended": time.time()}, open(out, "w"))
PY

python3 "$TMP/loadgen.py" "$FAAS_URL" "$FN_PATH" "$THREADS" "$CHAOS_SECONDS" "$TMP/load.json" &
LOADGEN_PID=$!
info "traffic started ($THREADS threads, ${CHAOS_SECONDS}s)"
sleep "$KILL_AFTER"

victim=$(running_container "$FN_PATH" "$REVISION")
if [ -z "$victim" ]; then
    fail "no running container labelled faas.callback=$FN_PATH"
    wait "$LOADGEN_PID" || true
    LOADGEN_PID=""
    finish || exit 1
fi
victim_name=$(docker inspect --format '{{.Name}}' "$victim" 2>/dev/null || echo '?')
KILLED_AT=$(now)
if docker kill "$victim" >/dev/null; then
    pass "docker kill $victim (${victim_name#/}) at t+${KILL_AFTER}s"
else
    fail "docker kill $victim failed"
fi

# ------------------------------------------------------------------ recovery
gone_after=""
recovered_after=""
deadline=$(($(date +%s) + RECOVERY_TIMEOUT_S))
while [ "$(date +%s)" -lt "$deadline" ]; do
    if [ "$(get_callback)" = 200 ]; then
        if [ -z "$gone_after" ] && ! listed "$victim"; then
            gone_after=$(since "$KILLED_AT" "$(now)")
        fi
        if [ "$(ready_count "$victim")" -ge 2 ]; then
            recovered_after=$(since "$KILLED_AT" "$(now)")
            break
        fi
    fi
    sleep 0.2
done
[ -n "$gone_after" ] && info "killed instance left the callback's instances after ${gone_after}s"
if [ -n "$recovered_after" ]; then
    pass "recovery: 2 ready instances again ${recovered_after}s after the kill"
else
    fail "recovery: not 2 ready instances within ${RECOVERY_TIMEOUT_S}s of the kill ($(ready_count "$victim") ready)"
fi

wait "$LOADGEN_PID" || fail "load generator exited non-zero"
LOADGEN_PID=""

# ------------------------------------------------------------------ report
python3 - "$TMP/load.json" "$KILLED_AT" "$THREADS" >"$TMP/report" <<'PY'
import collections, json, sys
d = json.load(open(sys.argv[1]))
killed = float(sys.argv[2])
threads = int(sys.argv[3])
fails = d["failures"]
dur = d["ended"] - d["started"]
print(f"INFO requests: {d['total']} total, {d['ok']} ok, {len(fails)} failed in {dur:.1f}s "
      f"({d['total'] / dur if dur else 0:.0f} req/s)")
groups = collections.Counter(f"{f['status'] if f['status'] is not None else '---'} {f['code']}" for f in fails)
for k, n in groups.most_common():
    print(f"INFO   failed: {n:>5} x {k}")
for f in sorted(fails, key=lambda f: f["t"])[:20]:
    print(f"INFO     sent t{f['t'] - killed:+.3f}s answered t{f['ended'] - killed:+.3f}s (relative to the docker kill command): "
          f"{f['status']} {f['code']} exit_code={f['exit_code']}")
other = {k: n for k, n in groups.items() if k != "502 FUNCTION_CRASHED"}
print("CHECK", "ok" if d["total"] > 0 else "bad", f"traffic flowed ({d['total']} requests)")
print("CHECK", "ok" if not other else "bad",
      "every failure is 502 FUNCTION_CRASHED" + (f" (others: {dict(other)})" if other else f" ({len(fails)} failure(s))"))
print("CHECK", "ok" if len(fails) <= threads else "bad",
      f"failures ({len(fails)}) at most the calls in flight ({threads} threads)")
crashed = [f for f in fails if f["code"] == "FUNCTION_CRASHED"]
if crashed:
    missing = [f for f in crashed if f["exit_code"] is None]
    print("CHECK", "ok" if not missing else "bad",
          f"FUNCTION_CRASHED bodies carry error.details.exit_code ({sorted({str(f['exit_code']) for f in crashed})})")
PY
while IFS= read -r line; do
    case "$line" in
        "CHECK ok "*) pass "${line#CHECK ok }" ;;
        "CHECK bad "*) fail "${line#CHECK bad }" ;;
        *) echo "$line" ;;
    esac
done <"$TMP/report"

get_callback >/dev/null
last_error=$(python3 -c 'import json, sys
e = json.load(open(sys.argv[1])).get("last_error") or {}
print(e.get("code", "none"), "-", e.get("message", ""))' "$TMP/cb.json" 2>/dev/null || echo "?")
case "$last_error" in
    FUNCTION_CRASHED*) pass "last_error: $last_error" ;;
    *) fail "last_error should be FUNCTION_CRASHED: $last_error" ;;
esac

bad=0
for _ in $(seq 1 20); do
    c=$(curl -s -o /dev/null --max-time 30 -w '%{http_code}' "$FAAS_URL/api/$FN_PATH" || echo 000)
    [ "$c" = 200 ] || bad=$((bad + 1))
done
if [ "$bad" -eq 0 ]; then pass "20 calls after recovery all 200"; else fail "$bad of 20 calls after recovery were not 200"; fi

echo "RESULT path=$FN_PATH recovered_s=${recovered_after:-never} gone_s=${gone_after:-never} $(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print("total=%d failed=%d" % (d["total"], len(d["failures"])))' "$TMP/load.json" 2>/dev/null || true)"

undeploy "$FN_PATH"

finish
