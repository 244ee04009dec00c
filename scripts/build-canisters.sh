#!/usr/bin/env bash
# Builds every canister crate (canisters/*) for wasm32-unknown-unknown and copies the modules
# to target/canisters/<name>.wasm, the one folder that dfx.json, the tests and the devnet use.
# Usage: scripts/build-canisters.sh [name ...]   (default: all canisters)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  echo "build-canisters: adding the rustup target wasm32-unknown-unknown" >&2
  rustup target add wasm32-unknown-unknown
fi

if [ "$#" -gt 0 ]; then names=("$@"); else
  names=()
  for manifest in canisters/*/Cargo.toml; do names+=("$(basename "$(dirname "$manifest")")"); done
fi

packages=()
for name in "${names[@]}"; do
  [ -f "canisters/$name/Cargo.toml" ] || { echo "build-canisters: no canister '$name'" >&2; exit 2; }
  packages+=(-p "emc-$name")
done

cargo build --quiet --target wasm32-unknown-unknown --profile canister "${packages[@]}"

target_dir="${CARGO_TARGET_DIR:-$root/target}"
out="$root/target/canisters"
mkdir -p "$out"
for name in "${names[@]}"; do
  src="$target_dir/wasm32-unknown-unknown/canister/emc_${name//-/_}.wasm"
  cp "$src" "$out/$name.wasm.tmp" && mv "$out/$name.wasm.tmp" "$out/$name.wasm"
  echo "build-canisters: $out/$name.wasm ($(wc -c <"$out/$name.wasm") bytes)" >&2
done
