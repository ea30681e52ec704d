#!/usr/bin/env bash
# The proxy's cost next to direct access and nginx, from one run (see tests/bench/proxy.py).
set -euo pipefail
case "${1:-}" in -h | --help) exec python3 "$(dirname "$0")/bench/proxy.py" --help ;; esac
command -v wrk >/dev/null 2>&1 || { echo "bench_proxy: wrk is needed (apt-get install -y wrk)" >&2; exit 2; }
exec python3 "$(dirname "$0")/bench/proxy.py" "$@"
