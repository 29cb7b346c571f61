#!/usr/bin/env bash
# The cost of TLS: the local cluster with TLS (A) against `--insecure` (B),
# alternated, a fresh cluster per run, in one sitting. Not part of the test
# suite; run it on an idle machine after a build (docs/benchmarks.md).
set -u
cd "$(dirname "$0")/.."
source scripts/setup.sh >/dev/null
B=$CARGO_TARGET_DIR/debug/raftflow
for round in 1 2 3; do
  for mode in tls insecure; do
    flag=""; [ "$mode" = insecure ] && flag="--insecure"
    pkill -f "raftflow.*dev" >/dev/null 2>&1; sleep 1
    rm -rf data/node1 data/node2 data/node3
    $B $flag dev > /tmp/ab-dev.out 2> /tmp/ab-dev.err &
    for i in $(seq 1 100); do grep -q "cluster up" /tmp/ab-dev.err && break; sleep 0.2; done
    l1=$($B $flag -o json bench log --writers 1 --seconds 5 2>/dev/null | grep '^{')
    l64=$($B $flag -o json bench log --writers 64 --seconds 5 2>/dev/null | grep '^{')
    w5=$($B $flag -o json bench workflow --five-state --executions 1000 --concurrency 64 2>/dev/null | grep '^{')
    w3=$($B $flag -o json bench workflow --tasks 3 --executions 200 --rate 20 2>/dev/null | grep '^{')
    echo "round=$round mode=$mode"
    echo "  log1 $l1"
    echo "  log64 $l64"
    echo "  five $w5"
    echo "  three@20/s $w3"
    pkill -f "raftflow.*dev" >/dev/null 2>&1; sleep 1
  done
done
