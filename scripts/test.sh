#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, checks formatting and
# clippy (warnings are errors; fast, before anything is built for the tests), builds every
# canister to wasm into target/canisters/, then runs the whole workspace's tests.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh -p emc-ledger`) and skip the
# lint gates; EMC_SKIP_LINT=1 skips them too.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

scripts/install-deps.sh

if [ "$#" -eq 0 ] && [ -z "${EMC_SKIP_LINT:-}" ]; then
  echo "test.sh: cargo fmt --check" >&2
  cargo fmt --all -- --check
  echo "test.sh: cargo clippy --workspace --all-targets -D warnings" >&2
  cargo clippy --quiet --workspace --all-targets -- -D warnings
fi

scripts/build-canisters.sh

if [ "$#" -gt 0 ]; then
  cargo test "$@"
else
  cargo test --workspace
fi
