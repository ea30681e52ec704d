#!/usr/bin/env bash
# Sets everything up and runs the gateway on 127.0.0.1:8000 with ./data/faas.db:
#   1. a Docker daemon (docker/ensure-docker.sh: installs and starts one when none answers)
#   2. the function base images (docker/base-images.sh) and the gateway's release build
#      (cargo build --release --locked), at the same time: one needs the network and the
#      disk, the other the CPU
#   3. the gateway, after starting the Node base image with npm in the background when it
#      is not there yet (only functions whose package.json declares dependencies need it)
# Each step says what it is doing while it runs; on a terminal as one live status line,
# otherwise (a log file) as plain lines, with no control codes.
# Extra arguments go to the gateway (see ./target/release/faas-gateway --help).
# CARGO_TARGET_DIR is honoured; the logs of the steps go to
# ${XDG_CACHE_HOME:-~/.cache}/faas-gateway/logs/.
set -euo pipefail
cd "$(dirname "$0")"

readonly TARGET_DIR=${CARGO_TARGET_DIR:-target}
readonly LOG_DIR=${XDG_CACHE_HOME:-${HOME:?HOME is not set}/.cache}/faas-gateway/logs
# Seconds between progress lines when stdout is not a terminal.
readonly LOG_EVERY_S=30
T0=$SECONDS

# A status line redrawn in place only on a terminal that understands it.
LIVE=
if [[ -t 1 && ${TERM:-dumb} != dumb ]]; then
    LIVE=1
fi

# Time since ./start.sh began, e.g. 2m05s.
elapsed() {
    local s=$((SECONDS - T0))
    if ((s >= 60)); then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}

# say TEXT: one line of its own (clearing the live status line first).
say() {
    if [[ -n $LIVE ]]; then printf '\r\033[K'; fi
    printf '%s\n' "$*"
}

# status TEXT: the live status line (a terminal only), cut to the terminal's width.
status() {
    [[ -n $LIVE ]] || return 0
    local cols
    cols=$(tput cols 2>/dev/null || echo 80)
    printf '\r\033[K%s' "${1:0:$((cols - 1))}"
}

# Sends TERM to a process and its descendants, deepest first.
kill_tree() {
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        kill_tree "$child"
    done
    kill -TERM "$1" 2>/dev/null || true
}

# The last lines of a log, without cargo's progress-bar redraws.
show_tail() {
    tr '\r' '\n' <"$1" | grep -v -e '^ *Building \[' -e '^ *$' | tail -n "${2:-30}" | sed 's/^/    /'
}

# ------------------------------------------------------------------ 1. Docker
mkdir -p "$LOG_DIR"
say "start: [1/3] checking Docker"
docker/ensure-docker.sh
say "start: Docker $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?') answers ($(elapsed))"

# ------------------------------------- 2. base images and the gateway, in parallel
command -v cargo >/dev/null 2>&1 || {
    say "start: cargo is not installed: install Rust (https://rustup.rs) and run ./start.sh again"
    exit 1
}
BASE_LOG=$LOG_DIR/start-base-images.log
CARGO_LOG=$LOG_DIR/start-cargo-build.log
BASE_ENV=$(mktemp "${TMPDIR:-/tmp}/faas-start-base.XXXXXX")
BASE_PID=
CARGO_PID=
stop_builds() {
    local pid
    for pid in $BASE_PID $CARGO_PID; do kill_tree "$pid"; done
    for pid in $BASE_PID $CARGO_PID; do wait "$pid" 2>/dev/null || true; done
    BASE_PID=
    CARGO_PID=
}
trap 'rm -f "$BASE_ENV"' EXIT
trap 'say "start: interrupted"; stop_builds; exit 130' INT
trap 'stop_builds; exit 143' TERM

if [[ -x $TARGET_DIR/release/faas-gateway ]]; then
    expect="an incremental build: seconds to a few minutes"
else
    expect="a first build compiles about 300 crates: several minutes on 2 cores"
fi
say "start: [2/3] base images and the gateway's release build, at the same time"
say "start:   base images: docker/base-images.sh (first time: 1.5 to 3 minutes; then seconds); log $BASE_LOG"
say "start:   gateway: cargo build --release --locked ($expect); log $CARGO_LOG"

docker/base-images.sh >"$BASE_ENV" 2>"$BASE_LOG" &
BASE_PID=$!
# Cargo draws its progress bar ("Building [===>  ] 120/312: crate, ...") into the log too.
CARGO_TERM_PROGRESS_WHEN=always CARGO_TERM_PROGRESS_WIDTH=100 CARGO_TERM_COLOR=never \
    cargo build --release --locked >"$CARGO_LOG" 2>&1 &
CARGO_PID=$!

# What cargo is doing, from the end of its log.
cargo_status() {
    tail -c 4000 "$CARGO_LOG" 2>/dev/null | tr '\r' '\n' | awk '
        /Blocking waiting for file lock/ { s = "waiting for another cargo run to release the build directory" }
        /^ *(Downloading|Downloaded) / { s = "downloading crates" }
        /^ *Compiling / { sub(/^ *Compiling /, ""); s = "compiling " $1 }
        /^ *Building \[/ {
            if (match($0, /[0-9]+\/[0-9]+: .*/)) {
                s = substr($0, RSTART, RLENGTH)
                sub(/ +$/, "", s)
                s = "compiling " s
            }
        }
        /^ *Finished / { s = "finished" }
        END { print (s == "" ? "starting" : s) }'
}

base_seen=0
base_done=
cargo_done=
last_log=$SECONDS
while [[ -z $base_done || -z $cargo_done ]]; do
    sleep 1
    # Every line docker/base-images.sh logs, as it comes.
    if [[ -z $base_done || -s $BASE_LOG ]]; then
        total=$(wc -l <"$BASE_LOG")
        if ((total > base_seen)); then
            while IFS= read -r line; do say "  $line"; done < <(tail -n +"$((base_seen + 1))" "$BASE_LOG" | head -n "$((total - base_seen))")
            base_seen=$total
        fi
    fi
    if [[ -z $base_done ]] && ! kill -0 "$BASE_PID" 2>/dev/null; then
        if wait "$BASE_PID"; then
            base_done=1
            BASE_PID=
            say "start: base images ready ($(elapsed))"
        else
            BASE_PID=
            say "start: FAILED: the base images (docker/base-images.sh) could not be made; see the messages above and $BASE_LOG"
            say "start: stopping the gateway build"
            stop_builds
            exit 1
        fi
    fi
    if [[ -z $cargo_done ]] && ! kill -0 "$CARGO_PID" 2>/dev/null; then
        if wait "$CARGO_PID"; then
            cargo_done=1
            CARGO_PID=
            say "start: gateway built ($(elapsed))"
        else
            CARGO_PID=
            say "start: FAILED: cargo build --release --locked failed; the end of $CARGO_LOG:"
            show_tail "$CARGO_LOG"
            if [[ -n $BASE_PID ]]; then say "start: stopping the base images"; fi
            stop_builds
            exit 1
        fi
    fi
    now=""
    [[ -n $cargo_done ]] || now="gateway: $(cargo_status)"
    [[ -n $base_done ]] || now="${now:+$now | }base images: $(tail -n 1 "$BASE_LOG" | sed 's/^base-images: //')"
    [[ -n $now ]] || continue
    if [[ -n $LIVE ]]; then
        status "  [$(elapsed)] $now"
    elif ((SECONDS - last_log >= LOG_EVERY_S)); then
        say "  [$(elapsed)] $now"
        last_log=$SECONDS
    fi
done
trap - INT TERM

# The base image settings: FAAS_*_BASE_IMAGE=<image> lines.
while IFS='=' read -r name value; do
    case $name in
    FAAS_*_BASE_IMAGE) export "$name=$value" ;;
    esac
done <"$BASE_ENV"

# ------------------------------------------------------------------ 3. gateway
DEPS_LOG=$LOG_DIR/start-node-deps-image.log
if [[ -n ${FAAS_NODE_DEPS_BASE_IMAGE:-} ]] && ! docker image inspect "$FAAS_NODE_DEPS_BASE_IMAGE" >/dev/null 2>&1; then
    say "start: building the Node base image with npm in the background (a few minutes):"
    say "start:   $FAAS_NODE_DEPS_BASE_IMAGE, log $DEPS_LOG"
    say "start:   until it is there, deploying a Node function whose package.json declares"
    say "start:   dependencies answers 422 BUILD_FAILED, saying so"
fi
# Also when it exists: the run rebuilds it if its recipe changed, else ends at once. Niced,
# so the gateway's own work comes first; it outlives this script, which becomes the gateway.
nohup nice -n 10 docker/base-images.sh --runtime node-deps >"$DEPS_LOG" 2>&1 </dev/null &

rm -f "$BASE_ENV"
export FAAS_DB=${FAAS_DB:-./data/faas.db}
say "start: [3/3] starting the gateway ($(elapsed) after ./start.sh began): $TARGET_DIR/release/faas-gateway $*"
exec "$TARGET_DIR/release/faas-gateway" "$@"
