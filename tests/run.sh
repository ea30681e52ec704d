#!/usr/bin/env bash
# The whole test suite: runtime conformance, unit and integration tests against real Docker.
set -euo pipefail
cd "$(dirname "$0")/.."

docker/ensure-docker.sh
# A Docker daemon runs now: tests that need one fail rather than skip without it.
export FAAS_TESTS_NEED_DOCKER=1
eval "$(docker/base-images.sh | sed 's/^/export /')"

echo "== runtime conformance (python, node)"
python3 runtimes/conformance_test.py

echo "== shell scripts"
if command -v shellcheck >/dev/null 2>&1; then
    shellcheck -x start.sh tests/*.sh tests/lib/*.sh tests/kube/*.sh docker/*.sh docker/lib/*.sh .ci/run
else
    echo "shellcheck not installed: skipped"
fi

echo "== compose stack and the gateway's own image"
# --cargo: the image must package the binary of these sources, never a stale one.
tests/compose_test.sh --cargo

echo "== Schemathesis for tests/openapi.rs (a virtualenv in target/)"
if [[ -z ${SCHEMATHESIS:-} ]]; then
    [[ -x target/schemathesis/bin/pip ]] || python3 -m venv target/schemathesis
    target/schemathesis/bin/pip install -q --disable-pip-version-check -r tests/openapi/requirements.txt
fi

echo "== cargo tests (unit + integration against Docker)"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --no-fail-fast
else
    cargo test --locked --no-fail-fast
fi
