// Generated from candid/registry.did by `UPDATE_IDL=1 cargo test -p emc-devnet --test it explorer::`: do not edit.
export const idlFactory = ({ IDL }) => {
  const ComputeTerm = IDL.Record({
    'multiplier' : IDL.Nat64,
    'days' : IDL.Nat32,
  });
  const RoleTerms = IDL.Record({
    'min_stake_e8s' : IDL.Nat64,
    'max_renewals' : IDL.Opt(IDL.Nat32),
    'min_term_days' : IDL.Nat32,
    'renewal_min_days' : IDL.Nat32,
  });
  const Params = IDL.Record({
    'nonce_ttl_secs' : IDL.Nat64,
    'router_penalty_minutes' : IDL.Nat32,
    'router_penalty_e8s' : IDL.Nat64,
    'compute_terms' : IDL.Vec(ComputeTerm),
    'validator' : RoleTerms,
    'candidate_epochs' : IDL.Opt(IDL.Nat32),
    'compute_stake_per_e_e8s' : IDL.Nat64,
    'epoch_length_secs' : IDL.Nat64,
    'validator_penalty_e8s' : IDL.Nat64,
    'router' : RoleTerms,
    'validator_penalty_minutes' : IDL.Nat32,
    'key_leak_period_secs' : IDL.Nat64,
    'address_change_interval_secs' : IDL.Opt(IDL.Nat64),
    'impeachment_period_secs' : IDL.Nat64,
    'max_compute_candidates' : IDL.Opt(IDL.Nat32),
    'compute_penalty_minutes' : IDL.Nat32,
  });
  const Account = IDL.Record({
    'owner' : IDL.Principal,
    'subaccount' : IDL.Opt(IDL.Vec(IDL.Nat8)),
  });
  const InitArgs = IDL.Record({
    'epochs_canister' : IDL.Opt(IDL.Principal),
    'ledger_fee_e8s' : IDL.Opt(IDL.Nat64),
    'ledger' : IDL.Principal,
    'governance' : IDL.Principal,
    'genesis_time' : IDL.Opt(IDL.Nat64),
    'params' : IDL.Opt(Params),
    'treasury' : Account,
  });
  const RegistryArg = IDL.Variant({ 'Upgrade' : IDL.Null, 'Init' : InitArgs });
  const PenaltyReport = IDL.Record({
    'node_id' : IDL.Vec(IDL.Nat8),
    'missed_minutes' : IDL.Nat64,
  });
  const PenaltyApplied = IDL.Record({
    'node_id' : IDL.Vec(IDL.Nat8),
    'penalty_e8s' : IDL.Nat64,
    'suspended' : IDL.Bool,
  });
  const RegistryError = IDL.Variant({
    'AlreadyVoted' : IDL.Null,
    'KeyAlreadyRegistered' : IDL.Null,
    'Storage' : IDL.Text,
    'Anonymous' : IDL.Null,
    'StakeBelowMinimum' : IDL.Record({ 'minimum_e8s' : IDL.Nat64 }),
    'NotStaked' : IDL.Null,
    'NoNonce' : IDL.Null,
    'BadTerm' : IDL.Text,
    'NotFound' : IDL.Null,
    'AddressChangeTooSoon' : IDL.Record({ 'next_allowed_at' : IDL.Nat64 }),
    'NotEpochsCanister' : IDL.Null,
    'MovementPending' : IDL.Nat64,
    'BadSignature' : IDL.Null,
    'CaseClosed' : IDL.Null,
    'NotOwner' : IDL.Null,
    'NodeNotLive' : IDL.Null,
    'LedgerUnavailable' : IDL.Record({
      'movement_id' : IDL.Nat64,
      'reason' : IDL.Text,
    }),
    'NodeNotFound' : IDL.Null,
    'InvalidArgument' : IDL.Text,
    'NotEligible' : IDL.Null,
    'BadPublicKey' : IDL.Null,
    'LedgerRefused' : IDL.Text,
    'AlreadyStaked' : IDL.Null,
    'NotGovernance' : IDL.Null,
    'CaseAlreadyOpen' : IDL.Nat64,
  });
  const Result_5 = IDL.Variant({
    'Ok' : IDL.Vec(PenaltyApplied),
    'Err' : RegistryError,
  });
  const CandidateInfo = IDL.Record({
    'listed_epochs' : IDL.Nat32,
    'queued_at' : IDL.Nat64,
  });
  const EpochInfo = IDL.Record({
    'next_start' : IDL.Nat64,
    'epoch' : IDL.Nat64,
    'start' : IDL.Nat64,
  });
  const EpochNodesArgs = IDL.Record({
    'start_after' : IDL.Opt(IDL.Vec(IDL.Nat8)),
    'epoch' : IDL.Nat64,
    'limit' : IDL.Nat32,
  });
  const Role = IDL.Variant({
    'Router' : IDL.Null,
    'Compute' : IDL.Null,
    'Validator' : IDL.Null,
  });
  const EpochNode = IDL.Record({
    'id' : IDL.Vec(IDL.Nat8),
    'multiplier' : IDL.Nat64,
    'owner' : IDL.Principal,
    'role' : Role,
    'stake_e8s' : IDL.Nat64,
    'candidate' : IDL.Bool,
  });
  const EpochNodesPage = IDL.Record({
    'total' : IDL.Nat64,
    'next' : IDL.Opt(IDL.Vec(IDL.Nat8)),
    'epoch' : IDL.Nat64,
    'nodes' : IDL.Vec(EpochNode),
  });
  const ResolveMovementArgs = IDL.Record({
    'executed_in_block' : IDL.Opt(IDL.Nat64),
    'movement_id' : IDL.Nat64,
  });
  const Config = IDL.Record({
    'epochs_canister' : IDL.Opt(IDL.Principal),
    'ledger' : IDL.Principal,
    'governance' : IDL.Principal,
    'genesis_time' : IDL.Nat64,
    'params' : Params,
    'treasury' : Account,
  });
  const Term = IDL.Record({
    'end' : IDL.Nat64,
    'multiplier' : IDL.Nat64,
    'expired' : IDL.Bool,
    'term_days' : IDL.Nat32,
    'renewals' : IDL.Nat32,
    'start' : IDL.Nat64,
  });
  const NodeState = IDL.Variant({
    'Impeached' : IDL.Record({ 'at' : IDL.Nat64, 'case_id' : IDL.Nat64 }),
    'Live' : IDL.Null,
    'Retired' : IDL.Record({ 'at' : IDL.Nat64 }),
  });
  const Node = IDL.Record({
    'id' : IDL.Vec(IDL.Nat8),
    'region' : IDL.Text,
    'owner' : IDL.Principal,
    'role' : Role,
    'term' : IDL.Opt(Term),
    'hardware' : IDL.Text,
    'network_address' : IDL.Text,
    'state' : NodeState,
    'stake_e8s' : IDL.Nat64,
    'penalty_due_e8s' : IDL.Nat64,
    'poc_e' : IDL.Nat64,
    'registered_at' : IDL.Nat64,
    'suspended' : IDL.Bool,
    'pending_movement' : IDL.Opt(IDL.Nat64),
  });
  const CaseStatus = IDL.Variant({
    'Open' : IDL.Null,
    'Rejected' : IDL.Record({ 'at' : IDL.Nat64 }),
    'Upheld' : IDL.Record({ 'at' : IDL.Nat64 }),
  });
  const Case = IDL.Record({
    'id' : IDL.Nat64,
    'no' : IDL.Nat64,
    'yes' : IDL.Nat64,
    'status' : CaseStatus,
    'electorate' : IDL.Nat64,
    'opened_at' : IDL.Nat64,
    'opened_by' : IDL.Opt(IDL.Vec(IDL.Nat8)),
    'role' : Role,
    'deadline' : IDL.Nat64,
    'target' : IDL.Vec(IDL.Nat8),
    'reason' : IDL.Text,
  });
  const MovementStatus = IDL.Variant({
    'Stuck' : IDL.Null,
    'Failed' : IDL.Record({ 'reason' : IDL.Text }),
    'Done' : IDL.Record({ 'block' : IDL.Nat64 }),
    'Pending' : IDL.Null,
  });
  const MovementKind = IDL.Variant({
    'Release' : IDL.Null,
    'StakePull' : IDL.Null,
    'Confiscate' : IDL.Null,
    'Penalty' : IDL.Null,
  });
  const Movement = IDL.Record({
    'id' : IDL.Nat64,
    'to' : Account,
    'status' : MovementStatus,
    'updated_at' : IDL.Nat64,
    'node_id' : IDL.Vec(IDL.Nat8),
    'term_days' : IDL.Nat32,
    'from' : Account,
    'kind' : MovementKind,
    'attempts' : IDL.Nat32,
    'fee_e8s' : IDL.Nat64,
    'amount_e8s' : IDL.Nat64,
    'created_at_time' : IDL.Nat64,
  });
  const StakeInfo = IDL.Record({
    'active' : IDL.Bool,
    'term' : IDL.Opt(Term),
    'stake_e8s' : IDL.Nat64,
    'account' : Account,
    'penalty_due_e8s' : IDL.Nat64,
    'suspended' : IDL.Bool,
  });
  const OpenCaseArgs = IDL.Record({
    'target' : IDL.Vec(IDL.Nat8),
    'accuser' : IDL.Vec(IDL.Nat8),
    'reason' : IDL.Text,
  });
  const Result_8 = IDL.Variant({ 'Ok' : Case, 'Err' : RegistryError });
  const RegisterArgs = IDL.Record({
    'region' : IDL.Text,
    'signature' : IDL.Vec(IDL.Nat8),
    'public_key' : IDL.Vec(IDL.Nat8),
    'role' : Role,
    'hardware' : IDL.Text,
    'network_address' : IDL.Text,
  });
  const Result_1 = IDL.Variant({ 'Ok' : Node, 'Err' : RegistryError });
  const Result = IDL.Variant({
    'Ok' : IDL.Vec(IDL.Nat8),
    'Err' : RegistryError,
  });
  const RenewArgs = IDL.Record({
    'node_id' : IDL.Vec(IDL.Nat8),
    'days' : IDL.Nat32,
  });
  const Result_4 = IDL.Variant({ 'Ok' : Term, 'Err' : RegistryError });
  const Result_6 = IDL.Variant({ 'Ok' : IDL.Null, 'Err' : RegistryError });
  const ComputeE = IDL.Record({
    'node_id' : IDL.Vec(IDL.Nat8),
    'e_fixed' : IDL.Nat64,
  });
  const Result_7 = IDL.Variant({ 'Ok' : IDL.Nat32, 'Err' : RegistryError });
  const Result_2 = IDL.Variant({ 'Ok' : CandidateInfo, 'Err' : RegistryError });
  const StakeArgs = IDL.Record({
    'node_id' : IDL.Vec(IDL.Nat8),
    'term_days' : IDL.Nat32,
    'amount_e8s' : IDL.Nat64,
  });
  const Result_3 = IDL.Variant({ 'Ok' : StakeInfo, 'Err' : RegistryError });
  const Stats = IDL.Record({
    'active' : IDL.Vec(IDL.Nat64),
    'movements' : IDL.Nat64,
    'pending_movements' : IDL.Nat64,
    'ledger_fee_e8s' : IDL.Nat64,
    'nodes' : IDL.Nat64,
    'total_stake_e8s' : IDL.Nat64,
  });
  const UpdateNodeArgs = IDL.Record({
    'region' : IDL.Opt(IDL.Text),
    'node_id' : IDL.Vec(IDL.Nat8),
    'hardware' : IDL.Opt(IDL.Text),
    'network_address' : IDL.Opt(IDL.Text),
  });
  const Result_9 = IDL.Variant({ 'Ok' : IDL.Text, 'Err' : IDL.Text });
  const ValidatorSet = IDL.Record({
    'members' : IDL.Vec(IDL.Vec(IDL.Nat8)),
    'epoch' : IDL.Nat64,
  });
  const ValidatorSetSnapshot = IDL.Record({
    'set' : ValidatorSet,
    'set_id' : IDL.Vec(IDL.Nat8),
    'eligible' : IDL.Nat64,
    'taken_at' : IDL.Nat64,
  });
  const VoteArgs = IDL.Record({
    'yes' : IDL.Bool,
    'voter' : IDL.Vec(IDL.Nat8),
    'case_id' : IDL.Nat64,
  });
  return IDL.Service({
    'apply_penalties' : IDL.Func(
        [IDL.Nat64, IDL.Vec(PenaltyReport)],
        [Result_5],
        [],
      ),
    'candidate' : IDL.Func(
        [IDL.Vec(IDL.Nat8)],
        [IDL.Opt(CandidateInfo)],
        ['query'],
      ),
    'current_epoch' : IDL.Func([], [EpochInfo], ['query']),
    'e_multiplier' : IDL.Func(
        [IDL.Vec(IDL.Nat8)],
        [IDL.Opt(IDL.Nat64)],
        ['query'],
      ),
    'epoch_nodes' : IDL.Func(
        [EpochNodesArgs],
        [IDL.Opt(EpochNodesPage)],
        ['query'],
      ),
    'execute_resolve_movement' : IDL.Func([ResolveMovementArgs], [], []),
    'execute_set_epochs_canister' : IDL.Func([IDL.Opt(IDL.Principal)], [], []),
    'execute_set_governance' : IDL.Func([IDL.Principal], [], []),
    'execute_set_params' : IDL.Func([Params], [], []),
    'execute_set_treasury' : IDL.Func([Account], [], []),
    'get_config' : IDL.Func([], [Config], ['query']),
    'get_node' : IDL.Func([IDL.Vec(IDL.Nat8)], [IDL.Opt(Node)], ['query']),
    'impeachment_case' : IDL.Func([IDL.Nat64], [IDL.Opt(Case)], ['query']),
    'movement' : IDL.Func([IDL.Nat64], [IDL.Opt(Movement)], ['query']),
    'my_nodes' : IDL.Func(
        [IDL.Opt(IDL.Vec(IDL.Nat8)), IDL.Nat32],
        [IDL.Vec(Node)],
        ['query'],
      ),
    'node_stake' : IDL.Func(
        [IDL.Vec(IDL.Nat8)],
        [IDL.Opt(StakeInfo)],
        ['query'],
      ),
    'nodes_by_owner' : IDL.Func(
        [IDL.Principal, IDL.Opt(IDL.Vec(IDL.Nat8)), IDL.Nat32],
        [IDL.Vec(Node)],
        ['query'],
      ),
    'nodes_by_role' : IDL.Func(
        [Role, IDL.Opt(IDL.Vec(IDL.Nat8)), IDL.Nat32],
        [IDL.Vec(Node)],
        ['query'],
      ),
    'open_impeachment' : IDL.Func([OpenCaseArgs], [Result_8], []),
    'pending_movements' : IDL.Func([], [IDL.Vec(Movement)], ['query']),
    'register' : IDL.Func([RegisterArgs], [Result_1], []),
    'registration_nonce' : IDL.Func([], [Result], []),
    'renew_stake' : IDL.Func([RenewArgs], [Result_4], []),
    'report_compute_e' : IDL.Func(
        [IDL.Vec(IDL.Nat8), IDL.Nat64],
        [Result_6],
        [],
      ),
    'report_compute_es' : IDL.Func([IDL.Vec(ComputeE)], [Result_7], []),
    'report_key_leak' : IDL.Func([IDL.Vec(IDL.Nat8)], [Result_8], []),
    'requeue_candidate' : IDL.Func([IDL.Vec(IDL.Nat8)], [Result_2], []),
    'retire_node' : IDL.Func([IDL.Vec(IDL.Nat8)], [Result_1], []),
    'retry_pending' : IDL.Func([], [IDL.Nat64], []),
    'stake' : IDL.Func([StakeArgs], [Result_3], []),
    'stats' : IDL.Func([], [Stats], ['query']),
    'update_node' : IDL.Func([UpdateNodeArgs], [Result_1], []),
    'validate_resolve_movement' : IDL.Func(
        [ResolveMovementArgs],
        [Result_9],
        ['query'],
      ),
    'validate_set_epochs_canister' : IDL.Func(
        [IDL.Opt(IDL.Principal)],
        [Result_9],
        ['query'],
      ),
    'validate_set_governance' : IDL.Func(
        [IDL.Principal],
        [Result_9],
        ['query'],
      ),
    'validate_set_params' : IDL.Func([Params], [Result_9], ['query']),
    'validate_set_treasury' : IDL.Func([Account], [Result_9], ['query']),
    'validator_set' : IDL.Func(
        [IDL.Nat64],
        [IDL.Opt(ValidatorSetSnapshot)],
        ['query'],
      ),
    'vote_impeachment' : IDL.Func([VoteArgs], [Result_8], []),
  });
};
export const init = ({ IDL }) => {
  const ComputeTerm = IDL.Record({
    'multiplier' : IDL.Nat64,
    'days' : IDL.Nat32,
  });
  const RoleTerms = IDL.Record({
    'min_stake_e8s' : IDL.Nat64,
    'max_renewals' : IDL.Opt(IDL.Nat32),
    'min_term_days' : IDL.Nat32,
    'renewal_min_days' : IDL.Nat32,
  });
  const Params = IDL.Record({
    'nonce_ttl_secs' : IDL.Nat64,
    'router_penalty_minutes' : IDL.Nat32,
    'router_penalty_e8s' : IDL.Nat64,
    'compute_terms' : IDL.Vec(ComputeTerm),
    'validator' : RoleTerms,
    'candidate_epochs' : IDL.Opt(IDL.Nat32),
    'compute_stake_per_e_e8s' : IDL.Nat64,
    'epoch_length_secs' : IDL.Nat64,
    'validator_penalty_e8s' : IDL.Nat64,
    'router' : RoleTerms,
    'validator_penalty_minutes' : IDL.Nat32,
    'key_leak_period_secs' : IDL.Nat64,
    'address_change_interval_secs' : IDL.Opt(IDL.Nat64),
    'impeachment_period_secs' : IDL.Nat64,
    'max_compute_candidates' : IDL.Opt(IDL.Nat32),
    'compute_penalty_minutes' : IDL.Nat32,
  });
  const Account = IDL.Record({
    'owner' : IDL.Principal,
    'subaccount' : IDL.Opt(IDL.Vec(IDL.Nat8)),
  });
  const InitArgs = IDL.Record({
    'epochs_canister' : IDL.Opt(IDL.Principal),
    'ledger_fee_e8s' : IDL.Opt(IDL.Nat64),
    'ledger' : IDL.Principal,
    'governance' : IDL.Principal,
    'genesis_time' : IDL.Opt(IDL.Nat64),
    'params' : IDL.Opt(Params),
    'treasury' : Account,
  });
  const RegistryArg = IDL.Variant({ 'Upgrade' : IDL.Null, 'Init' : InitArgs });
  return [RegistryArg];
};