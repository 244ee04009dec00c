#!/usr/bin/env bash
# Builds every canister crate (canisters/*) for wasm32-unknown-unknown and writes the release
# artifacts to target/canisters/, the one folder that dfx.json, icp.yaml, the tests and the
# devnet use:
#   raw/<name>.wasm   the module as cargo built it (kept to compare sizes)
#   <name>.wasm       shrunk with DFINITY's ic-wasm (custom sections other than icp:* dropped,
#                     unused functions removed; the code is not rewritten), with public metadata:
#                     candid:service (candid/<name>.did, when it exists), git_commit, version
#   <name>.wasm.gz    the same module gzipped (deterministic: no name, no time stamp); what dfx
#                     and icp install
#   SHA256SUMS        sha256sum format, over the .wasm and .wasm.gz of every canister built so
#                     far (not other modules here, e.g. the benchmark's registry-bench.wasm)
# The release step is the workspace binary emc-wasm-tools (crates/wasm-tools, ic-wasm as a
# library), built here like any workspace crate: no separate install.
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
# The dev profile and the whole workspace's feature resolution (only this binary is built), so
# that `cargo test --workspace` (scripts/test.sh, CI) reuses its dependencies instead of
# compiling them a second time with other features (`-p emc-wasm-tools` would, syn and the
# proc macros among them).
cargo build --quiet --workspace --bin emc-wasm-tools

target_dir="${CARGO_TARGET_DIR:-$root/target}"
tools="$target_dir/debug/emc-wasm-tools"

git_commit="unknown"
if rev="$(git -C "$root" rev-parse HEAD 2>/dev/null)"; then
  git_commit="$rev"
  if [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    git_commit="$rev-dirty"
  fi
fi

out="$root/target/canisters"
mkdir -p "$out/raw"
for name in "${names[@]}"; do
  src="$target_dir/wasm32-unknown-unknown/canister/emc_${name//-/_}.wasm"
  cp "$src" "$out/raw/$name.wasm.tmp" && mv "$out/raw/$name.wasm.tmp" "$out/raw/$name.wasm"
  candid=()
  [ -f "candid/$name.did" ] && candid=(--candid "candid/$name.did")
  "$tools" canister --raw "$out/raw/$name.wasm" --out "$out/$name.wasm" \
    --git-commit "$git_commit" "${candid[@]}"
done
all=()
for manifest in canisters/*/Cargo.toml; do all+=("$(basename "$(dirname "$manifest")")"); done
"$tools" sums "$out" "${all[@]}"
