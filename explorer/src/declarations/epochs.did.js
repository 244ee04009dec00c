// Generated from candid/epochs.did by `UPDATE_IDL=1 cargo test -p emc-devnet --test it explorer::`: do not edit.
export const idlFactory = ({ IDL }) => {
  const Params = IDL.Record({
    'equivocation_penalty_minutes' : IDL.Nat64,
    'checkpoint_interval_blocks' : IDL.Nat64,
    'validator_min_share_bps' : IDL.Nat32,
    'payout_batch' : IDL.Nat32,
    'epoch_length_blocks' : IDL.Nat64,
    'router_min_share_bps' : IDL.Nat32,
    'challenge_window_ns' : IDL.Nat64,
  });
  const InitArgs = IDL.Record({
    'ledger' : IDL.Principal,
    'governance' : IDL.Principal,
    'registry' : IDL.Principal,
    'params' : IDL.Opt(Params),
  });
  const EpochsArg = IDL.Variant({ 'Upgrade' : IDL.Null, 'Init' : InitArgs });
  const Checkpoint = IDL.Record({
    'height' : IDL.Nat64,
    'receipts_root' : IDL.Vec(IDL.Nat8),
    'timestamp_ns' : IDL.Nat64,
    'prev_checkpoint_hash' : IDL.Vec(IDL.Nat8),
    'epoch' : IDL.Nat64,
    'validator_set_id' : IDL.Vec(IDL.Nat8),
    'liveness_root' : IDL.Vec(IDL.Nat8),
    'poc_root' : IDL.Vec(IDL.Nat8),
    'state_root' : IDL.Vec(IDL.Nat8),
  });
  const StoredCheckpoint = IDL.Record({
    'signers' : IDL.Vec(IDL.Vec(IDL.Nat8)),
    'checkpoint' : Checkpoint,
    'hash' : IDL.Vec(IDL.Nat8),
    'accepted_at' : IDL.Nat64,
    'voided' : IDL.Bool,
  });
  const EpochStatus = IDL.Variant({
    'Collecting' : IDL.Null,
    'Paying' : IDL.Null,
    'Paid' : IDL.Null,
  });
  const EpochDataHeader = IDL.Record({
    'node_count' : IDL.Nat64,
    'chunks_root' : IDL.Vec(IDL.Nat8),
    'epoch' : IDL.Nat64,
    'chunk_count' : IDL.Nat32,
    'epoch_blocks' : IDL.Nat64,
  });
  const EpochSummary = IDL.Record({
    'status' : EpochStatus,
    'planned_all' : IDL.Bool,
    'planned_e8s' : IDL.Nat64,
    'closed_at' : IDL.Opt(IDL.Nat64),
    'chunks_received' : IDL.Nat32,
    'cursor' : IDL.Opt(IDL.Vec(IDL.Nat8)),
    'total_weight' : IDL.Nat,
    'paid_nodes' : IDL.Nat64,
    'epoch' : IDL.Nat64,
    'unpaid_entries' : IDL.Nat64,
    'budget_e8s' : IDL.Nat64,
    'paid_e8s' : IDL.Nat64,
    'eligible_nodes' : IDL.Nat64,
    'nodes_received' : IDL.Nat64,
    'header' : IDL.Opt(EpochDataHeader),
  });
  const DaoPool = IDL.Variant({
    'Airdrop' : IDL.Null,
    'DeveloperGrants' : IDL.Null,
  });
  const EpochsError = IDL.Variant({
    'Storage' : IDL.Text,
    'DaoPoolExhausted' : DaoPool,
    'Stale' : IDL.Record({ 'tip' : IDL.Nat64, 'height' : IDL.Nat64 }),
    'NotInSet' : IDL.Vec(IDL.Nat8),
    'DuplicateSigner' : IDL.Vec(IDL.Nat8),
    'InvalidEvidence' : IDL.Text,
    'WrongPrevHash' : IDL.Null,
    'Duplicate' : IDL.Nat64,
    'PoolExhausted' : IDL.Null,
    'NotReady' : IDL.Text,
    'NotDao' : IDL.Null,
    'NotFound' : IDL.Null,
    'EpochData' : IDL.Text,
    'InsufficientSignatures' : IDL.Record({
      'got' : IDL.Nat64,
      'quorum' : IDL.Nat64,
    }),
    'BadSignature' : IDL.Vec(IDL.Nat8),
    'Malformed' : IDL.Text,
    'TooManySignatures' : IDL.Null,
    'InvalidArgument' : IDL.Text,
    'WrongValidatorSet' : IDL.Null,
    'Ledger' : IDL.Text,
    'NoValidatorSet' : IDL.Nat64,
    'NotMarket' : IDL.Null,
    'EvidenceAlreadyReported' : IDL.Null,
    'AlreadyClosed' : IDL.Nat64,
    'NotGovernance' : IDL.Null,
  });
  const Result_2 = IDL.Variant({ 'Ok' : EpochSummary, 'Err' : EpochsError });
  const ResolvePayoutArgs = IDL.Record({
    'executed_in_block' : IDL.Opt(IDL.Nat64),
    'node' : IDL.Vec(IDL.Nat8),
    'epoch' : IDL.Nat64,
  });
  const ReceiptsRoot = IDL.Variant({
    'NotFinal' : IDL.Record({ 'final_at' : IDL.Nat64 }),
    'Final' : IDL.Vec(IDL.Nat8),
    'Unknown' : IDL.Null,
  });
  const Config = IDL.Record({
    'dao' : IDL.Opt(IDL.Principal),
    'ledger' : IDL.Principal,
    'market' : IDL.Opt(IDL.Principal),
    'governance' : IDL.Principal,
    'registry' : IDL.Principal,
    'params' : Params,
  });
  const Account = IDL.Record({
    'owner' : IDL.Principal,
    'subaccount' : IDL.Opt(IDL.Vec(IDL.Nat8)),
  });
  const DaoMint = IDL.Record({
    'to' : Account,
    'memo' : IDL.Vec(IDL.Nat8),
    'pool' : DaoPool,
    'amount_e8s' : IDL.Nat64,
    'created_at_time' : IDL.Nat64,
  });
  const Result_4 = IDL.Variant({ 'Ok' : IDL.Nat64, 'Err' : EpochsError });
  const TradingMint = IDL.Record({
    'to' : Account,
    'memo' : IDL.Vec(IDL.Nat8),
    'amount_e8s' : IDL.Nat64,
    'created_at_time' : IDL.Nat64,
  });
  const PayoutStatus = IDL.Variant({
    'Stuck' : IDL.Null,
    'Paid' : IDL.Record({ 'block' : IDL.Nat64 }),
    'Pending' : IDL.Null,
  });
  const Payout = IDL.Record({
    'status' : PayoutStatus,
    'owner' : IDL.Principal,
    'node' : IDL.Vec(IDL.Nat8),
    'attempts' : IDL.Nat32,
    'epoch' : IDL.Nat64,
    'amount_e8s' : IDL.Nat64,
    'created_at_time' : IDL.Nat64,
  });
  const Role = IDL.Variant({
    'Router' : IDL.Null,
    'Compute' : IDL.Null,
    'Validator' : IDL.Null,
  });
  const NodeRecord = IDL.Record({
    'active_blocks' : IDL.Nat64,
    'multiplier' : IDL.Nat64,
    'owner' : IDL.Principal,
    'node' : IDL.Vec(IDL.Nat8),
    'role' : Role,
    'stake_e8s' : IDL.Nat64,
    'penalty_minutes' : IDL.Nat64,
    'poc_e' : IDL.Nat64,
  });
  const NodeEpoch = IDL.Record({
    'weight' : IDL.Nat64,
    'epoch' : IDL.Nat64,
    'epoch_blocks' : IDL.Nat64,
    'payout' : IDL.Opt(Payout),
    'record' : IDL.Opt(NodeRecord),
  });
  const Stats = IDL.Record({
    'pending_penalty_batches' : IDL.Nat64,
    'total_emitted_e8s' : IDL.Nat64,
    'emission_stopped' : IDL.Bool,
    'tip_height' : IDL.Opt(IDL.Nat64),
    'airdrop_minted_e8s' : IDL.Nat64,
    'pending_payouts' : IDL.Nat64,
    'trading_minted_e8s' : IDL.Nat64,
    'grants_minted_e8s' : IDL.Nat64,
    'reserved_e8s' : IDL.Nat64,
    'pending_compute_e_batches' : IDL.Nat64,
    'last_closed_epoch' : IDL.Opt(IDL.Nat64),
  });
  const CheckpointSignature = IDL.Record({
    'signature' : IDL.Vec(IDL.Nat8),
    'signer' : IDL.Vec(IDL.Nat8),
  });
  const Result = IDL.Variant({ 'Ok' : StoredCheckpoint, 'Err' : EpochsError });
  const SignedCheckpoint = IDL.Record({
    'checkpoint' : Checkpoint,
    'signatures' : IDL.Vec(CheckpointSignature),
  });
  const EquivocationEvidence = IDL.Record({
    'first' : SignedCheckpoint,
    'second' : SignedCheckpoint,
  });
  const EquivocationOutcome = IDL.Record({
    'height' : IDL.Nat64,
    'slashed' : IDL.Vec(IDL.Vec(IDL.Nat8)),
    'voided' : IDL.Vec(IDL.Nat64),
    'penalty_batch' : IDL.Nat64,
  });
  const Result_1 = IDL.Variant({
    'Ok' : EquivocationOutcome,
    'Err' : EpochsError,
  });
  const DataChunk = IDL.Record({
    'records' : IDL.Vec(NodeRecord),
    'epoch' : IDL.Nat64,
    'index' : IDL.Nat32,
    'proof' : IDL.Vec(IDL.Vec(IDL.Nat8)),
  });
  const Result_3 = IDL.Variant({ 'Ok' : IDL.Text, 'Err' : IDL.Text });
  const ValidatorSet = IDL.Record({
    'members' : IDL.Vec(IDL.Vec(IDL.Nat8)),
    'epoch' : IDL.Nat64,
  });
  return IDL.Service({
    'checkpoint' : IDL.Func(
        [IDL.Nat64],
        [IDL.Opt(StoredCheckpoint)],
        ['query'],
      ),
    'close_epoch' : IDL.Func([IDL.Nat64], [Result_2], []),
    'declare_epoch_data' : IDL.Func([EpochDataHeader], [Result_2], []),
    'epoch_summary' : IDL.Func([IDL.Nat64], [IDL.Opt(EpochSummary)], ['query']),
    'execute_resolve_payout' : IDL.Func([ResolvePayoutArgs], [], []),
    'execute_set_dao' : IDL.Func([IDL.Opt(IDL.Principal)], [], []),
    'execute_set_governance' : IDL.Func([IDL.Principal], [], []),
    'execute_set_market' : IDL.Func([IDL.Opt(IDL.Principal)], [], []),
    'execute_set_params' : IDL.Func([Params], [], []),
    'final_receipts_root' : IDL.Func([IDL.Nat64], [ReceiptsRoot], ['query']),
    'get_config' : IDL.Func([], [Config], ['query']),
    'latest_checkpoint' : IDL.Func([], [IDL.Opt(StoredCheckpoint)], ['query']),
    'mint_dao_reward' : IDL.Func([DaoMint], [Result_4], []),
    'mint_trading_reward' : IDL.Func([TradingMint], [Result_4], []),
    'node_history' : IDL.Func(
        [IDL.Vec(IDL.Nat8), IDL.Nat64, IDL.Nat32],
        [IDL.Vec(NodeEpoch)],
        ['query'],
      ),
    'node_reward' : IDL.Func(
        [IDL.Vec(IDL.Nat8), IDL.Nat64],
        [IDL.Opt(Payout)],
        ['query'],
      ),
    'owner_rewards' : IDL.Func(
        [IDL.Principal, IDL.Nat64],
        [IDL.Vec(Payout)],
        ['query'],
      ),
    'pending_payouts' : IDL.Func([], [IDL.Vec(Payout)], ['query']),
    'run_payouts' : IDL.Func([], [IDL.Nat64], []),
    'stats' : IDL.Func([], [Stats], ['query']),
    'submit_checkpoint' : IDL.Func(
        [Checkpoint, IDL.Vec(CheckpointSignature)],
        [Result],
        [],
      ),
    'submit_evidence' : IDL.Func([EquivocationEvidence], [Result_1], []),
    'total_emitted' : IDL.Func([], [IDL.Nat64], ['query']),
    'upload_chunk' : IDL.Func([DataChunk], [Result_2], []),
    'validate_resolve_payout' : IDL.Func(
        [ResolvePayoutArgs],
        [Result_3],
        ['query'],
      ),
    'validate_set_dao' : IDL.Func(
        [IDL.Opt(IDL.Principal)],
        [Result_3],
        ['query'],
      ),
    'validate_set_governance' : IDL.Func(
        [IDL.Principal],
        [Result_3],
        ['query'],
      ),
    'validate_set_market' : IDL.Func(
        [IDL.Opt(IDL.Principal)],
        [Result_3],
        ['query'],
      ),
    'validate_set_params' : IDL.Func([Params], [Result_3], ['query']),
    'validator_set' : IDL.Func([IDL.Nat64], [IDL.Opt(ValidatorSet)], ['query']),
  });
};
export const init = ({ IDL }) => {
  const Params = IDL.Record({
    'equivocation_penalty_minutes' : IDL.Nat64,
    'checkpoint_interval_blocks' : IDL.Nat64,
    'validator_min_share_bps' : IDL.Nat32,
    'payout_batch' : IDL.Nat32,
    'epoch_length_blocks' : IDL.Nat64,
    'router_min_share_bps' : IDL.Nat32,
    'challenge_window_ns' : IDL.Nat64,
  });
  const InitArgs = IDL.Record({
    'ledger' : IDL.Principal,
    'governance' : IDL.Principal,
    'registry' : IDL.Principal,
    'params' : IDL.Opt(Params),
  });
  const EpochsArg = IDL.Variant({ 'Upgrade' : IDL.Null, 'Init' : InitArgs });
  return [EpochsArg];
};