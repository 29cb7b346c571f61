#!/usr/bin/env bash
# The same-sitting comparison: etcd (Debian's etcd-server, three members on
# this host, fsync on, as shipped) and raftflow's dev cluster (three nodes,
# TLS and tokens on) under the same load from the same client stack (tonic
# 0.14): N writers, each its own key, an 8-byte value, one channel to the
# leader (`raftflow bench log`; bench/etcd-bench for etcd). The two run in
# turn, a fresh cluster per run, alternating, so both see the same machine.
# Not part of the test suite; run it on an idle machine after a build and
# write its table into docs/benchmarks.md with the date and commit.
#
#   scripts/bench-etcd.sh [--writers "1 64"] [--seconds 5] [--rounds 2]
set -euo pipefail
cd "$(dirname "$0")/.."
writers="1 64"; seconds=5; rounds=2
while [ $# -gt 0 ]; do
  case "$1" in
    --writers) writers="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    *) echo "usage: $0 [--writers \"1 64\"] [--seconds S] [--rounds R]" >&2; exit 2 ;;
  esac
done
source scripts/setup.sh >/dev/null
# etcd itself, etcdctl for its health check, and protoc for the etcd-client
# crate's build.
if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1 \
  || ! command -v protoc >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "bench-etcd: installing etcd-server, etcd-client and protobuf-compiler" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client protobuf-compiler >/dev/null
  else
    echo "error: install etcd-server, etcd-client and protobuf-compiler (Debian/Ubuntu)" >&2
    exit 1
  fi
fi
cargo build --workspace --locked -q --bin raftflow
cargo build -q --manifest-path bench/etcd-bench/Cargo.toml
B=$CARGO_TARGET_DIR/debug/raftflow
E=$CARGO_TARGET_DIR/debug/etcd-bench
work=$(mktemp -d)
trap 'pkill -x etcd || true; pkill -x raftflow || true; rm -rf "$work"' EXIT

endpoints="http://127.0.0.1:23791,http://127.0.0.1:23792,http://127.0.0.1:23793"
start_etcd() {
  local peers="e1=http://127.0.0.1:23801,e2=http://127.0.0.1:23802,e3=http://127.0.0.1:23803"
  rm -rf "$work"/etcd-*
  for n in 1 2 3; do
    etcd --name "e$n" --data-dir "$work/etcd-$n" \
      --listen-client-urls "http://127.0.0.1:2379$n" --advertise-client-urls "http://127.0.0.1:2379$n" \
      --listen-peer-urls "http://127.0.0.1:2380$n" --initial-advertise-peer-urls "http://127.0.0.1:2380$n" \
      --initial-cluster "$peers" --initial-cluster-state new --initial-cluster-token bench \
      > "$work/etcd-$n.log" 2>&1 &
  done
  for _ in $(seq 1 100); do
    ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint health >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "error: etcd did not become healthy; see $work/etcd-*.log" >&2
  exit 1
}

start_raftflow() {
  rm -rf data/node1 data/node2 data/node3
  $B dev > "$work/dev.out" 2> "$work/dev.err" &
  for _ in $(seq 1 150); do
    grep -q "cluster up" "$work/dev.err" && return 0
    sleep 0.2
  done
  echo "error: the dev cluster did not come up; see $work/dev.err" >&2
  exit 1
}

field() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p"; }

printf "%-5s %-8s %-8s %12s %8s %8s\n" round writers system commands/s "p50 ms" "p99 ms"
for round in $(seq 1 "$rounds"); do
  for w in $writers; do
    start_etcd
    e=$($E --endpoints "$endpoints" --writers "$w" --seconds "$seconds" | grep '^{')
    pkill -x etcd || true; sleep 1
    start_raftflow
    r=$($B -o json bench log --writers "$w" --seconds "$seconds" 2>/dev/null | grep '^{')
    pkill -x raftflow || true; sleep 2
    for pair in "etcd:$e" "raftflow:$r"; do
      name=${pair%%:*}; rec=${pair#*:}
      printf "%-5s %-8s %-8s %12.0f %8.2f %8.2f\n" "$round" "$w" "$name" \
        "$(echo "$rec" | field commands_per_s)" "$(echo "$rec" | field p50_ms)" "$(echo "$rec" | field p99_ms)"
    done
    awk -v a="$(echo "$r" | field p50_ms)" -v b="$(echo "$e" | field p50_ms)" \
        -v c="$(echo "$r" | field commands_per_s)" -v d="$(echo "$e" | field commands_per_s)" \
      'BEGIN { printf "      ratio raftflow/etcd: p50 %.2fx, commands/s %.2fx\n", a / b, c / d }'
  done
done
