#!/usr/bin/env bash
# Deploys EMC's canisters to a running emc-replica without dfx, with the project's own tools
# (`emc deploy`, crates/sdk): the same canisters, ids and wiring as scripts/dfx-deploy.sh and
# the devnet (ledger rwlgt-iiaaa-aaaaa-aaaaa-cai, registry rrkah-..., epochs ryjl3-..., market
# r7inp-..., sockets rkp4c-..., dao renrk-...: each created with its `specified_id`). The
# epochs canister is the ledger's minting account and the registry's penalty reporter, mints
# trading rewards for the market and grants for the DAO; the market mints sockets; your
# identity is controller, governance and treasury and holds 1,000,000 EMC (or what --fund
# says). The registry's genesis is EMC_GENESIS_DELAY_SECS ahead (default 600): register and
# stake the first validators before it.
#
# Usage: cargo run --release -p emc-replica -- --port 4943 --state-dir .emc-replica &
#        scripts/replica-deploy.sh [--url http://127.0.0.1:4943] [--identity <pem>]
#                                  [--fund <account>=<EMC> ...] [--json]
# EMC_BIN=<path to emc> skips the cargo build. Identity: --identity, else $EMC_IDENTITY, else dfx's default identity if there is one,
# else a new ed25519 key in .emc-replica/deployer.pem (openssl).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f target/canisters/ledger.wasm.gz ] || scripts/build-canisters.sh
args=("$@")
case " $* " in
  *" --identity "*) ;;
  *)
    if [ -z "${EMC_IDENTITY:-}" ]; then
      dfx_pem="$HOME/.config/dfx/identity/default/identity.pem"
      if [ -f "$dfx_pem" ]; then
        export EMC_IDENTITY="$dfx_pem"
      else
        mkdir -p .emc-replica
        if [ ! -f .emc-replica/deployer.pem ]; then
          command -v openssl >/dev/null || { echo "replica-deploy: pass --identity <pem> (no openssl to make one)" >&2; exit 1; }
          (umask 077 && openssl genpkey -algorithm ed25519 -out .emc-replica/deployer.pem)
        fi
        export EMC_IDENTITY="$PWD/.emc-replica/deployer.pem"
      fi
      echo "replica-deploy: deploying as $EMC_IDENTITY" >&2
    fi
    ;;
esac
deploy=(deploy --wasm-dir target/canisters --genesis-in-secs "${EMC_GENESIS_DELAY_SECS:-600}" "${args[@]}")
# EMC_BIN: an `emc` binary already built (else cargo builds and runs the release one).
if [ -n "${EMC_BIN:-}" ]; then
  exec "$EMC_BIN" "${deploy[@]}"
fi
exec cargo run --quiet --release -p emc-sdk --bin emc -- "${deploy[@]}"
