#!/usr/bin/env bash
# The spike's four shapes, alternating, in one sitting: the leader's fsync
# inline or overlapped (`--append sync|async`), replication one request at a
# time or streamed (`--network unary|stream`). `sync unary` is openraft
# 0.9.25's shape on 0.10's code; `async stream` is what the port would run.
#   bench/spike-openraft010/run.sh [rounds] [seconds]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/setup.sh >/dev/null
cargo build -q --manifest-path bench/spike-openraft010/Cargo.toml
S=$CARGO_TARGET_DIR/debug/spike-openraft010
rounds=${1:-2}; seconds=${2:-5}
for round in $(seq 1 "$rounds"); do
  for writers in 1 64; do
    for shape in "sync unary" "async unary" "sync stream" "async stream"; do
      read -r append network <<< "$shape"
      echo "round $round | $($S bench --append "$append" --network "$network" --writers "$writers" --seconds "$seconds" | grep '^{')"
    done
  done
done
