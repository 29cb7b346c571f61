#!/usr/bin/env bash
# The whole test suite: the README's test command, and what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
echo "test: building into $CARGO_TARGET_DIR" >&2
cargo test --workspace --locked -- --test-threads=2
