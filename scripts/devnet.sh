#!/usr/bin/env bash
# The run command (README): installs what it needs, builds the canisters, and starts the local
# devnet on the embedded IC (served over HTTP, with the explorer), every node in one process.
# Arguments go to emc-devnet (e.g. --duration 60s); with --processes the replica (emc-replica)
# and every node (edge-node, router) run as their own processes, built here first.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/install-deps.sh
scripts/build-canisters.sh
# The explorer the devnet serves under /explorer/ (skipped, with a note, without node/npm).
if command -v npm >/dev/null; then
  scripts/build-explorer.sh || echo "devnet: the explorer did not build; the devnet runs without it" >&2
else
  echo "devnet: no npm: the explorer is not built (scripts/build-explorer.sh)" >&2
fi
case " $* " in
  *" --processes "*) cargo build --quiet --release -p edge-node -p emc-router -p emc-replica ;;
esac
exec cargo run --quiet --release -p emc-devnet -- "$@"
