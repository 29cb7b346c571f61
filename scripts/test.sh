#!/usr/bin/env bash
# The whole test suite: the README's test command, and what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# The console's browser test uses Debian's Chromium, over HTTPS with the
# test CA in an NSS database (certutil); install both when we can.
if { ! command -v chromium >/dev/null 2>&1 || ! command -v certutil >/dev/null 2>&1; } &&
  [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "test: installing chromium and certutil for the console's browser test" >&2
  (apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium libnss3-tools >/dev/null) ||
    echo "test: ERROR: chromium or certutil could not be installed; the console's browser test will fail" >&2
fi
# The Compose test (crates/raftflow-cli/tests/compose.rs) runs the image with
# docker-compose; install it from Debian when Docker is here but it is not.
if command -v docker >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1 &&
  [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "test: installing docker-compose for the Compose test" >&2
  (apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null) ||
    echo "test: ERROR: docker-compose could not be installed; the Compose test will fail (RAFTFLOW_SKIP_DOCKER=1 skips it)" >&2
fi
# Every check runs or fails loudly: the console's browser test needs
# Chromium, and the chaos smoke's network faults need namespaces (root).
export RAFTFLOW_REQUIRE_BROWSER=1
if [ "$(id -u)" = "0" ]; then
  export RAFTFLOW_REQUIRE_NETNS=1
  # The out-of-disk test mounts a small tmpfs per node.
  export RAFTFLOW_REQUIRE_MOUNT=1
else
  echo "test: NOTICE: not root, so the chaos smoke runs without network faults (isolation) and the out-of-disk test is skipped" >&2
fi
echo "test: building into $CARGO_TARGET_DIR" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked --no-fail-fast -- --test-threads=2 2>&1 | tee "$log" || status=$?
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
