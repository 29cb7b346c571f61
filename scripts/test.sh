#!/usr/bin/env bash
# The whole test suite: the README's test command, and what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# The console's browser test uses Debian's Chromium; install it when we can.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "test: installing chromium for the console's browser test" >&2
  (apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ||
    echo "test: notice: chromium could not be installed; the browser check is skipped" >&2
fi
if command -v chromium >/dev/null 2>&1; then
  export RAFTFLOW_REQUIRE_BROWSER=1
fi
echo "test: building into $CARGO_TARGET_DIR" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked -- --test-threads=2 2>&1 | tee "$log" || status=$?
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
