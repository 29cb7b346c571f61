#!/usr/bin/env bash
# The README's first command: builds raftflow, then runs `raftflow demo`,
# which starts the local three-node cluster of cluster-config/, runs the
# order workflow with flaky workers, kills the leader halfway and checks
# that every order still ends correctly. Extra arguments go to the demo
# (e.g. --orders 50 --seed 3 --no-chaos).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build -p raftflow-cli --locked
exec "$CARGO_TARGET_DIR/debug/raftflow" demo "$@"
