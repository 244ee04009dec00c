#!/usr/bin/env bash
# Deploys EMC's canisters to a dfx network (default: the local replica), wired as the devnet
# wires them: the epochs canister is the ledger's minting account and the registry's penalty
# reporter, and mints trading rewards for the market; the current dfx identity is governance
# and treasury and holds a test balance.
# The registry's genesis (start of epoch 0, whose validator set the edge network starts from)
# is EMC_GENESIS_DELAY_SECS ahead (default 600): register and stake the first validators before
# it. Epochs and checkpoints follow the protocol (43,200 and 450 blocks; the registry's epoch
# is 24 h); nodes use the same defaults.
# Usage: dfx start --background --clean && scripts/dfx-deploy.sh [--network local]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dfx >/dev/null || { echo "dfx-deploy: dfx is not installed" >&2; exit 1; }
delay="${EMC_GENESIS_DELAY_SECS:-600}"
me="$(dfx identity get-principal)"
dfx canister create --all "$@"
ledger_id="$(dfx canister id ledger "$@")"
registry_id="$(dfx canister id registry "$@")"
epochs_id="$(dfx canister id epochs "$@")"
market_id="$(dfx canister id market "$@")"
sockets_id="$(dfx canister id sockets "$@")"

ledger_arg="(variant { Init = record {
  token_name = \"EdgeMatrix Computing\";
  token_symbol = \"EMC\";
  decimals = opt (8 : nat8);
  transfer_fee = 10_000 : nat;
  minting_account = record { owner = principal \"$epochs_id\"; subaccount = null };
  initial_balances = vec { record { record { owner = principal \"$me\"; subaccount = null }; 100_000_000_000_000 : nat } };
  fee_collector_account = opt record { owner = principal \"$me\"; subaccount = null };
  max_memo_length = null;
  governance = principal \"$me\";
  supply_cap = null;
  metadata = null;
} })"
dfx deploy ledger --argument "$ledger_arg" "$@"

genesis_ns="$(( ($(date +%s) + delay) * 1000000000 ))"
registry_arg="(variant { Init = record {
  ledger = principal \"$ledger_id\";
  governance = principal \"$me\";
  treasury = record { owner = principal \"$me\"; subaccount = null };
  epochs_canister = opt principal \"$epochs_id\";
  ledger_fee_e8s = opt (10_000 : nat64);
  params = null;
  genesis_time = opt ($genesis_ns : nat64);
} })"
dfx deploy registry --argument "$registry_arg" "$@"

epochs_arg="(variant { Init = record {
  ledger = principal \"$ledger_id\";
  registry = principal \"$registry_id\";
  governance = principal \"$me\";
  params = null;
} })"
dfx deploy epochs --argument "$epochs_arg" "$@"

# The market opens at epoch 0 (trading period 1); governance lets it mint trading rewards.
market_arg="(variant { Init = record {
  ledger = principal \"$ledger_id\";
  epochs = principal \"$epochs_id\";
  registry = principal \"$registry_id\";
  governance = principal \"$me\";
  treasury = record { owner = principal \"$me\"; subaccount = null };
  market_open_epoch = 0 : nat64;
  params = null;
} })"
dfx deploy market --argument "$market_arg" "$@"
dfx canister call epochs execute_set_market "(opt principal \"$market_id\")" "$@"

# The DAO canister (developer grants, airdrop) mints through the epochs canister.
dao_id="$(dfx canister id dao "$@")"
dao_arg="(record {
  governance = principal \"$me\";
  epochs = principal \"$epochs_id\";
})"
dfx deploy dao --argument "$dao_arg" "$@"
dfx canister call epochs execute_set_dao "(opt principal \"$dao_id\")" "$@"

# Computing sockets (ICRC-7/37 NFTs): only the market mints them (a buyer's socket purchase).
sockets_arg="(variant { Init = record {
  minters = vec { principal \"$market_id\" };
  governance = principal \"$me\";
  name = null;
  symbol = null;
  description = null;
  limits = null;
} })"
dfx deploy sockets --argument "$sockets_arg" "$@"
dfx canister call market execute_set_sockets "(opt principal \"$sockets_id\")" "$@"
dfx canister call ledger icrc1_symbol '()' "$@"
dfx canister call registry current_epoch '()' "$@"
dfx canister call epochs stats '()' "$@"
dfx canister call market stats '()' "$@"
dfx canister call sockets icrc10_supported_standards '()' "$@"
echo "ledger $ledger_id  registry $registry_id  epochs $epochs_id  market $market_id  dao $dao_id  sockets $sockets_id  genesis in ${delay}s"

# The explorer, an asset canister (explorer/dist, built by scripts/build-explorer.sh): its
# config.json names these canisters and the network (the local replica's root key is fetched;
# on the IC it is not). Skip with EMC_DEPLOY_EXPLORER=0 (it needs node and npm).
if [ "${EMC_DEPLOY_EXPLORER:-1}" = 1 ]; then
  case " $* " in
    *" ic "* | *" --ic "*) host="${EMC_EXPLORER_HOST:-https://icp-api.io}"; fetch_root_key=false; network=ic ;;
    *) host="${EMC_EXPLORER_HOST:-http://127.0.0.1:$(dfx info webserver-port)}"; fetch_root_key=true; network=local ;;
  esac
  mkdir -p target
  cat > target/explorer-config.json <<JSON
{"network": "$network", "host": "$host", "fetchRootKey": $fetch_root_key,
 "canisters": {"ledger": "$ledger_id", "registry": "$registry_id", "epochs": "$epochs_id", "market": "$market_id"}}
JSON
  EMC_EXPLORER_CONFIG="$PWD/target/explorer-config.json" dfx deploy explorer "$@"
  echo "explorer: canister $(dfx canister id explorer "$@")"
fi
