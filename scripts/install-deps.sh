#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine: the rustup target for
# canisters. Idempotent and quiet when everything is there.
set -euo pipefail

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  echo "install-deps: rustup target add wasm32-unknown-unknown" >&2
  rustup target add wasm32-unknown-unknown
fi

# Debian packages the build needs (none yet beyond the toolchain; the proof-of-computing work
# adds Vulkan here). Listed as "binary:package".
need=()
for entry in "$@"; do
  bin="${entry%%:*}"; pkg="${entry##*:}"
  command -v "$bin" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  echo "install-deps: apt-get install ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}"
fi
