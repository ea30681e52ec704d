#!/usr/bin/env bash
# Cold starts and resumes next to their Docker floors, from one run (see tests/bench/cold_start.py).
set -euo pipefail
exec python3 "$(dirname "$0")/bench/cold_start.py" "$@"
