#!/usr/bin/env bash
# Sets everything up and runs the gateway on 127.0.0.1:8000 with ./data/faas.db.
# Extra arguments go to the gateway (see ./target/release/faas-gateway --help).
set -euo pipefail
cd "$(dirname "$0")"

docker/ensure-docker.sh
# Official base images when they can be had, else local ones built offline.
eval "$(docker/base-images.sh | sed 's/^/export /')"
cargo build --release --locked
export FAAS_DB=${FAAS_DB:-./data/faas.db}
exec "${CARGO_TARGET_DIR:-target}/release/faas-gateway" "$@"
