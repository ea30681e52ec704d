#!/usr/bin/env bash
# Makes sure a Docker daemon answers: when `docker info` fails, installs Debian's docker.io
# (as root, with apt) and starts dockerd in the background, then waits for it. Says on
# stderr what it is doing and how far it got; apt-get's own output goes to a log file.
set -euo pipefail

readonly DOCKERD_LOG=${TMPDIR:-/tmp}/faas-dockerd.log
readonly APT_LOG=${TMPDIR:-/tmp}/faas-docker-install.log
readonly WAIT_S=60

say() { printf 'ensure-docker: %s\n' "$*" >&2; }

# apt_get WHAT ARGS...: apt-get ARGS, its output appended to APT_LOG, its progress (from
# apt's status lines) said every 10 percent.
apt_get() {
    local what=$1
    shift
    {
        DEBIAN_FRONTEND=noninteractive apt-get -q -o APT::Status-Fd=3 "$@" 3>&1 >>"$APT_LOG" 2>&1
    } | awk -F: -v what="$what" '
        $1 == "dlstatus" || $1 == "pmstatus" {
            stage = $1 == "dlstatus" ? "downloading" : "installing"
            p = int($3)
            if (stage != last_stage || p >= last + 10) {
                printf "ensure-docker: %s: %s, %d%%\n", what, stage, p > "/dev/stderr"
                fflush("/dev/stderr")
                last = p
                last_stage = stage
            }
        }'
}

if docker info >/dev/null 2>&1; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    say "no Docker daemon answers and this is not root; start Docker and retry"
    exit 1
fi
if ! command -v dockerd >/dev/null 2>&1; then
    say "no Docker daemon: installing Debian's docker.io with apt-get (about a minute; log $APT_LOG)"
    start=$SECONDS
    apt_get "apt-get update" update || {
        say "apt-get update failed; the end of $APT_LOG:"
        tail -n 20 "$APT_LOG" >&2
        exit 1
    }
    apt_get "apt-get install docker.io" install -y docker.io || {
        say "apt-get install docker.io failed; the end of $APT_LOG:"
        tail -n 20 "$APT_LOG" >&2
        exit 1
    }
    say "docker.io installed in $((SECONDS - start))s"
fi
if ! docker info >/dev/null 2>&1; then
    say "starting dockerd (log $DOCKERD_LOG); waiting up to ${WAIT_S}s for it to answer"
    nohup dockerd >"$DOCKERD_LOG" 2>&1 &
    for i in $(seq 1 "$WAIT_S"); do
        if docker info >/dev/null 2>&1; then
            say "dockerd answers after ${i}s"
            break
        fi
        if ((i % 10 == 0)); then say "still waiting for dockerd (${i}s)"; fi
        sleep 1
    done
fi
if ! docker info >/dev/null 2>&1; then
    say "dockerd did not come up; see $DOCKERD_LOG"
    exit 1
fi
