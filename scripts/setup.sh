#!/usr/bin/env bash
# Installs what building raftflow needs and is missing: libclang for
# RocksDB's bindings (Debian/Ubuntu, as root). Safe to run again.
set -euo pipefail

# libclang itself (libclang.so*, libclang-14.so*), not libclang-cpp, which
# some images ship alone and bindgen cannot use.
have_libclang() {
  ldconfig -p 2>/dev/null | grep -Eq 'libclang(-[0-9][0-9.]*)?\.so' ||
    ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1
}

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo is not installed; install Rust from https://rustup.rs first" >&2
  exit 1
fi
if ! have_libclang; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing libclang-dev (RocksDB's bindings need it)" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-dev >/dev/null
  else
    echo "error: libclang is missing; install libclang-dev (Debian/Ubuntu) or clang (elsewhere)" >&2
    exit 1
  fi
fi

# Reuse a build directory outside the checkout when there is one, so that a
# fresh clone does not rebuild RocksDB from C++ every time.
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  export CARGO_TARGET_DIR="${RAFTFLOW_TARGET_DIR:-$HOME/.cache/raftflow/target}"
fi
mkdir -p "$CARGO_TARGET_DIR"
