#!/usr/bin/env bash
# Deploys EMC's canisters to a dfx network (default: the local replica) with the current dfx
# identity as governance, treasury, minter and holder of a test balance: the ledger, then the
# registry wired to it.
# Usage: dfx start --background --clean && scripts/dfx-deploy.sh [--network local]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dfx >/dev/null || { echo "dfx-deploy: dfx is not installed" >&2; exit 1; }
me="$(dfx identity get-principal)"
ledger_arg="(variant { Init = record {
  token_name = \"EdgeMatrix Computing\";
  token_symbol = \"EMC\";
  decimals = opt (8 : nat8);
  transfer_fee = 10_000 : nat;
  minting_account = record { owner = principal \"$me\"; subaccount = opt blob \"\\01\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\" };
  initial_balances = vec { record { record { owner = principal \"$me\"; subaccount = null }; 100_000_000_000_000 : nat } };
  fee_collector_account = null;
  max_memo_length = null;
  governance = principal \"$me\";
  supply_cap = null;
  metadata = null;
} })"
dfx deploy ledger --argument "$ledger_arg" "$@"
dfx canister call ledger icrc1_symbol '()' "$@"

ledger_id="$(dfx canister id ledger "$@")"
registry_arg="(variant { Init = record {
  ledger = principal \"$ledger_id\";
  governance = principal \"$me\";
  treasury = record { owner = principal \"$me\"; subaccount = null };
  epochs_canister = null;
  ledger_fee_e8s = opt (10_000 : nat64);
  params = null;
  genesis_time = null;
} })"
dfx deploy registry --argument "$registry_arg" "$@"
dfx canister call registry current_epoch '()' "$@"
