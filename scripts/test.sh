#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, builds every canister to
# wasm into target/canisters/, then runs the whole workspace's tests.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh -p emc-ledger`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

scripts/install-deps.sh
scripts/build-canisters.sh

if [ "$#" -gt 0 ]; then
  cargo test "$@"
else
  cargo test --workspace
fi
