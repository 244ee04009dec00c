#!/usr/bin/env bash
# Hands the EMC canisters to an SNS (run by the deployer, who is their `governance` principal
# and controller after scripts/dfx-deploy.sh, on mainnet: --network ic).
#
#   1. Every governed canister's `governance` principal becomes SNS governance
#      (`execute_set_governance`, accepted from the current governance only).
#   2. NNS root co-controls every dapp canister, as the SNS launch requires before the NNS
#      proposal; after a successful swap SNS root is their controller (the launch makes it so;
#      `--sns-root` adds it at once for an SNS that already exists).
#
# The $EMC ledger has no governance method (its minting rules are fixed at install), nor have
# the sockets canister (its minter, the market, is fixed at install) and the explorer's asset
# canister: they are handed over as controlled canisters only.
#
# Usage: scripts/sns-handover.sh --sns-governance <principal> [--sns-root <principal>] [--dry-run] [dfx args, e.g. --network ic]
set -euo pipefail
cd "$(dirname "$0")/.."
NNS_ROOT="r7inp-6aaaa-aaaaa-aaabq-cai"
# The canisters with `execute_set_governance` (docs/governance.md, functions 1009-1011, 1015).
GOVERNED="registry epochs market dao"
# Every dapp canister the SNS controls (sns/sns_init.yaml `dapp_canisters`).
DAPP="ledger registry epochs market dao sockets explorer"
sns_gov="" sns_root="" dry=""
args=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --sns-governance) sns_gov="$2"; shift 2 ;;
    --sns-root) sns_root="$2"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
[ -n "$sns_gov" ] || { echo "sns-handover: --sns-governance <principal> is required" >&2; exit 2; }
run() { if [ -n "$dry" ]; then echo "$*"; else "$@"; fi; }
for c in $GOVERNED; do
  run dfx canister call "$c" validate_set_governance "(principal \"$sns_gov\")" "${args[@]}"
  run dfx canister call "$c" execute_set_governance "(principal \"$sns_gov\")" "${args[@]}"
done
for c in $DAPP; do
  run dfx canister update-settings "$c" --add-controller "$NNS_ROOT" "${args[@]}"
  if [ -n "$sns_root" ]; then
    run dfx canister update-settings "$c" --add-controller "$sns_root" "${args[@]}"
  fi
  echo "$c: $(dfx canister id "$c" "${args[@]}" 2>/dev/null || echo '<id>')"
done
