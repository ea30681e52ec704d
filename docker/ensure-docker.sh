#!/usr/bin/env bash
# Makes sure a Docker daemon answers: when `docker info` fails, installs Debian's docker.io
# (as root, with apt) and starts dockerd in the background, then waits for it.
set -euo pipefail

if docker info >/dev/null 2>&1; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "ensure-docker: no Docker daemon answers and this is not root; start Docker and retry" >&2
    exit 1
fi
if ! command -v dockerd >/dev/null 2>&1; then
    echo "ensure-docker: installing docker.io" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq docker.io >&2
fi
if ! docker info >/dev/null 2>&1; then
    echo "ensure-docker: starting dockerd" >&2
    log=${TMPDIR:-/tmp}/faas-dockerd.log
    nohup dockerd >"$log" 2>&1 &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
fi
if ! docker info >/dev/null 2>&1; then
    echo "ensure-docker: dockerd did not come up; see ${TMPDIR:-/tmp}/faas-dockerd.log" >&2
    exit 1
fi
