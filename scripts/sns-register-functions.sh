#!/usr/bin/env bash
# Registers EMC's generic nervous system functions with an SNS: one
# AddGenericNervousSystemFunction proposal per function (docs/governance.md lists them; the
# test `operator::` of emc-test-sns-governance keeps this table, that document and the .did
# files in step). Proposals are built with quill (`quill sns make-proposal`) and sent with
# `quill send`; neurons then vote on them as on any proposal.
#
# Usage: scripts/sns-register-functions.sh --neuron <hex neuron id> --pem <file>
#          --sns-canister-ids <sns_canister_ids.json> [--network ic] [--dry-run]
# Canister ids are read with `dfx canister id <name> --network <network>`.
set -euo pipefail
cd "$(dirname "$0")/.."
# id|name|canister|method suffix (target execute_<m>, validator validate_<m>)|topic
FUNCTIONS='
1000|Registry parameters|registry|set_params|ApplicationBusinessLogic
1001|Registry treasury account|registry|set_treasury|CriticalDappOperations
1002|Registry'"'"'s epochs canister|registry|set_epochs_canister|CriticalDappOperations
1003|Settle a stuck stake movement|registry|resolve_movement|ApplicationBusinessLogic
1004|Epochs parameters|epochs|set_params|ApplicationBusinessLogic
1005|The market allowed to mint trading rewards|epochs|set_market|CriticalDappOperations
1006|Settle a stuck reward payout|epochs|resolve_payout|ApplicationBusinessLogic
1007|Market parameters|market|set_params|ApplicationBusinessLogic
1008|Settle a stuck market transfer|market|resolve_transfer|ApplicationBusinessLogic
1009|Registry governance principal|registry|set_governance|CriticalDappOperations
1010|Epochs governance principal|epochs|set_governance|CriticalDappOperations
1011|Market governance principal|market|set_governance|CriticalDappOperations
1012|The DAO canister allowed to mint grants and the airdrop|epochs|set_dao|CriticalDappOperations
1013|Developer grant|dao|grant|TreasuryAssetManagement
1014|DAO airdrop batch|dao|create_airdrop_batch|TreasuryAssetManagement
1015|DAO canister governance principal|dao|set_governance|CriticalDappOperations
1016|Settle a stuck grant or airdrop payment|dao|resolve_payment|ApplicationBusinessLogic
1017|The sockets canister the market mints computing sockets in|market|set_sockets|CriticalDappOperations
'
neuron="" pem="" ids="" network="ic" dry=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --neuron) neuron="$2"; shift 2 ;;
    --pem) pem="$2"; shift 2 ;;
    --sns-canister-ids) ids="$2"; shift 2 ;;
    --network) network="$2"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    *) echo "sns-register-functions: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$dry" ]; then
  [ -n "$neuron" ] && [ -n "$pem" ] && [ -n "$ids" ] || {
    echo "sns-register-functions: --neuron, --pem and --sns-canister-ids are required" >&2; exit 2; }
fi
echo "$FUNCTIONS" | while IFS='|' read -r id name canister method topic; do
  [ -n "$id" ] || continue
  cid="$(dfx canister id "$canister" --network "$network" 2>/dev/null || echo "<$canister id>")"
  proposal="(record {
    title = \"Register generic function $id: $name\";
    url = \"https://github.com/emc-network/emc/blob/main/docs/governance.md\";
    summary = \"Registers $canister.execute_$method (validated by $canister.validate_$method) as generic function $id.\";
    action = opt variant { AddGenericNervousSystemFunction = record {
      id = $id : nat64;
      name = \"$name\";
      description = opt \"$canister.execute_$method; see docs/governance.md\";
      function_type = opt variant { GenericNervousSystemFunction = record {
        target_canister_id = opt principal \"$cid\";
        target_method_name = opt \"execute_$method\";
        validator_canister_id = opt principal \"$cid\";
        validator_method_name = opt \"validate_$method\";
        topic = opt variant { $topic };
      } };
    } };
  })"
  if [ -n "$dry" ]; then
    echo "$proposal"
  else
    quill sns make-proposal "$neuron" --proposal "$proposal" \
      --canister-ids-file "$ids" --pem-file "$pem" > "/tmp/emc-sns-fn-$id.json"
    quill send --yes "/tmp/emc-sns-fn-$id.json"
  fi
done
