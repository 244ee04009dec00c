#!/usr/bin/env bash
# The run command (README): installs what it needs, builds the canisters, and starts the local
# devnet on the embedded IC. Arguments go to emc-devnet (e.g. --duration 60s).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/install-deps.sh
scripts/build-canisters.sh
exec cargo run --quiet --release -p emc-devnet -- "$@"
