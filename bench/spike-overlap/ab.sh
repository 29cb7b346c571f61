#!/usr/bin/env bash
# Spike for issue #21: how much of one writer's commit is the leader's own
# fsync, which openraft 0.10 overlaps with replication (PR #1169) and 0.9.25
# waits for. `overlap.patch` (never merged) lets the leader report its own
# append flushed as soon as it is written, fsyncing it afterwards with
# nobody waiting: replication starts at once, as in 0.10, while followers
# still fsync before they acknowledge. Commit then needs the leader's write
# and one follower's fsync, which is 0.10's figure whenever the leader's own
# fsync ends before a follower's round trip does (an upper bound otherwise).
#
#   base=<raftflow built from main> spike=<raftflow built with overlap.patch> bench/spike-overlap/ab.sh
# Both binaries must be named `raftflow` (pkill -x), e.g. /tmp/base/raftflow and /tmp/spike/raftflow.
# Run on an idle machine; both binaries start a fresh `dev` cluster per run.
set -u
cd "$(dirname "$0")/../.."
: "${base:?set base=/path/to/raftflow}" "${spike:?set spike=/path/to/raftflow-with-overlap.patch}"
rounds=${rounds:-2}
run() { # binary, env, label
  pkill -x raftflow >/dev/null 2>&1; sleep 2
  rm -rf data/node1 data/node2 data/node3
  env $2 "$1" dev > /tmp/ab-dev.out 2> /tmp/ab-dev.err &
  for _ in $(seq 1 150); do grep -q "cluster up" /tmp/ab-dev.err && break; sleep 0.2; done
  for load in "bench log --writers 1 --seconds 5" "bench log --writers 64 --seconds 5" \
    "bench workflow --tasks 3 --executions 600 --rate 200" "bench workflow --tasks 3 --executions 300 --rate 50"; do
    echo "$3 | $load | $("$1" -o json $load 2>/dev/null | grep '^{')"
  done
  pkill -x raftflow >/dev/null 2>&1; sleep 2
}
for round in $(seq 1 "$rounds"); do
  run "$base" "RAFTFLOW_SPIKE_OVERLAP=0" "round $round base"
  run "$spike" "RAFTFLOW_SPIKE_OVERLAP=1" "round $round overlap"
done
