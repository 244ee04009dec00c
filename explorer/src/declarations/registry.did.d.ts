// Generated from candid/registry.did by `UPDATE_IDL=1 cargo test -p emc-devnet --test it explorer::`: do not edit.
import type { Principal } from '@dfinity/principal';
import type { ActorMethod } from '@dfinity/agent';
import type { IDL } from '@dfinity/candid';

/**
 * [Account](https://github.com/dfinity/ICRC-1/blob/main/standards/ICRC-3/README.md#value)
 * representation of ledgers supporting the ICRC-1 standard.
 */
export interface Account {
  'owner' : Principal,
  'subaccount' : [] | [Uint8Array | number[]],
}
/**
 * A compute node's place in the candidate queue (`candidate` query).
 */
export interface CandidateInfo {
  /**
   * Epoch snapshots that listed it so far.
   */
  'listed_epochs' : number,
  /**
   * When it was queued (registration or re-queue), ns: the queue is ordered by it.
   */
  'queued_at' : bigint,
}
/**
 * An impeachment case.
 */
export interface Case {
  /**
   * Id.
   */
  'id' : bigint,
  /**
   * No votes.
   */
  'no' : bigint,
  /**
   * Yes votes.
   */
  'yes' : bigint,
  /**
   * Status.
   */
  'status' : CaseStatus,
  /**
   * Active members of the role at opening, the target excluded.
   */
  'electorate' : bigint,
  /**
   * Opening time.
   */
  'opened_at' : bigint,
  /**
   * The accuser (None: the target's own key-leak report).
   */
  'opened_by' : [] | [Uint8Array | number[]],
  /**
   * Its role.
   */
  'role' : Role,
  /**
   * Voting deadline.
   */
  'deadline' : bigint,
  /**
   * The accused node.
   */
  'target' : Uint8Array | number[],
  /**
   * Reason.
   */
  'reason' : string,
}
/**
 * Status of an impeachment case.
 */
export type CaseStatus = {
    /**
     * Voting.
     */
    'Open' : null
  } |
  {
    /**
     * No majority by the deadline (or a majority can no longer be reached).
     */
    'Rejected' : {
      /**
       * When.
       */
      'at' : bigint,
    }
  } |
  {
    /**
     * Majority yes: the node lost its role and its stake.
     */
    'Upheld' : {
      /**
       * When.
       */
      'at' : bigint,
    }
  };
/**
 * A compute node's PoC E as the epochs canister reports it after an epoch closes.
 */
export interface ComputeE {
  /**
   * The compute node.
   */
  'node_id' : Uint8Array | number[],
  /**
   * Its PoC E, fixed point ([`E_SCALE`] = 1.0).
   */
  'e_fixed' : bigint,
}
/**
 * One allowed compute term and its multiplier of E (fixed point, [`E_SCALE`] = x1).
 */
export interface ComputeTerm {
  /**
   * Multiplier of E, fixed point with 4 decimals (14_000 = x1.4).
   */
  'multiplier' : bigint,
  /**
   * Term length in days.
   */
  'days' : number,
}
/**
 * The stored configuration (everything governance can change, plus fixed install facts).
 */
export interface Config {
  /**
   * Trusted epochs canister.
   */
  'epochs_canister' : [] | [Principal],
  /**
   * The ledger.
   */
  'ledger' : Principal,
  /**
   * Governance.
   */
  'governance' : Principal,
  /**
   * Start of epoch 0.
   */
  'genesis_time' : bigint,
  /**
   * Parameters.
   */
  'params' : Params,
  /**
   * Treasury account.
   */
  'treasury' : Account,
}
/**
 * Epoch clock.
 */
export interface EpochInfo {
  /**
   * Start of the next epoch.
   */
  'next_start' : bigint,
  /**
   * The latest epoch whose snapshot is taken.
   */
  'epoch' : bigint,
  /**
   * Its start.
   */
  'start' : bigint,
}
/**
 * One node of an epoch's node snapshot: what the validators build that epoch's reward
 * records from, fixed when the epoch's validator set is taken.
 */
export interface EpochNode {
  /**
   * Node id (ed25519 public key).
   */
  'id' : Uint8Array | number[],
  /**
   * Multiplier of E at the snapshot (fixed point, [`E_SCALE`] = x1): a compute node's
   * `e_multiplier`; [`E_SCALE`] for validators and routers.
   */
  'multiplier' : bigint,
  /**
   * Owner at the snapshot (gets the node's rewards).
   */
  'owner' : Principal,
  /**
   * Role.
   */
  'role' : Role,
  /**
   * Stake net of the penalties due at the snapshot, e8s.
   */
  'stake_e8s' : bigint,
  /**
   * A compute candidate: live but not admitted yet (no passed PoC reported); listed so
   * that the validators challenge it. False for members.
   */
  'candidate' : boolean,
}
/**
 * A page request of an epoch's node snapshot.
 */
export interface EpochNodesArgs {
  /**
   * The page starts after this node id (None: from the first node).
   */
  'start_after' : [] | [Uint8Array | number[]],
  /**
   * The epoch.
   */
  'epoch' : bigint,
  /**
   * Most nodes in the page (0 or anything above 2,000 means 2,000).
   */
  'limit' : number,
}
/**
 * A page of an epoch's node snapshot.
 */
export interface EpochNodesPage {
  /**
   * Nodes in the whole snapshot.
   */
  'total' : bigint,
  /**
   * Pass as `start_after` for the next page; None on the last page.
   */
  'next' : [] | [Uint8Array | number[]],
  /**
   * The epoch.
   */
  'epoch' : bigint,
  /**
   * The nodes of the page, ordered by node id bytes.
   */
  'nodes' : Array<EpochNode>,
}
/**
 * Install argument.
 */
export interface InitArgs {
  /**
   * The epochs canister (the only caller of `apply_penalties`); settable later by governance.
   */
  'epochs_canister' : [] | [Principal],
  /**
   * The ledger's transfer fee in e8s (default 10,000); corrected automatically on `BadFee`.
   */
  'ledger_fee_e8s' : [] | [bigint],
  /**
   * The $EMC ledger (ICRC-1/2).
   */
  'ledger' : Principal,
  /**
   * The governance principal (SNS governance): the only caller of `execute_*`.
   */
  'governance' : Principal,
  /**
   * Start of epoch 0, ns since the Unix epoch (install time when absent). It may lie up to
   * 30 days ahead (the network's launch): epoch 0's validator set is taken when it arrives,
   * so the first validators can register and stake before it.
   */
  'genesis_time' : [] | [bigint],
  /**
   * Parameters (spec defaults when absent).
   */
  'params' : [] | [Params],
  /**
   * Where penalties and confiscated stakes go.
   */
  'treasury' : Account,
}
/**
 * A journal entry: one token movement on the ledger, recorded before the call.
 */
export interface Movement {
  /**
   * Id (also the memo: `b"emc-reg:" || id_be64`).
   */
  'id' : bigint,
  /**
   * Destination account.
   */
  'to' : Account,
  /**
   * Status.
   */
  'status' : MovementStatus,
  /**
   * Last time the entry changed.
   */
  'updated_at' : bigint,
  /**
   * The node.
   */
  'node_id' : Uint8Array | number[],
  /**
   * Term requested (stake pulls).
   */
  'term_days' : number,
  /**
   * Source account.
   */
  'from' : Account,
  /**
   * Kind.
   */
  'kind' : MovementKind,
  /**
   * Ledger calls made.
   */
  'attempts' : number,
  /**
   * Ledger fee paid by `from`, e8s.
   */
  'fee_e8s' : bigint,
  /**
   * Amount received by `to`, e8s.
   */
  'amount_e8s' : bigint,
  /**
   * `created_at_time` sent to the ledger (the deduplication key with the memo).
   */
  'created_at_time' : bigint,
}
/**
 * What a journal movement does.
 */
export type MovementKind = {
    /**
     * Node subaccount -> owner at term end.
     */
    'Release' : null
  } |
  {
    /**
     * Owner -> node subaccount (icrc2_transfer_from).
     */
    'StakePull' : null
  } |
  {
    /**
     * Node subaccount -> treasury (whole stake, impeachment).
     */
    'Confiscate' : null
  } |
  {
    /**
     * Node subaccount -> treasury (penalties).
     */
    'Penalty' : null
  };
/**
 * Journal status of a movement.
 */
export type MovementStatus = {
    /**
     * Still unconfirmed after the ledger's deduplication window: a retry could pay twice,
     * so it waits for governance (`execute_resolve_movement`) after a look at the ledger blocks.
     */
    'Stuck' : null
  } |
  {
    /**
     * The ledger refused it: nothing moved.
     */
    'Failed' : {
      /**
       * Why.
       */
      'reason' : string,
    }
  } |
  {
    /**
     * Confirmed by the ledger in this block.
     */
    'Done' : {
      /**
       * Ledger block index.
       */
      'block' : bigint,
    }
  } |
  {
    /**
     * Recorded; the ledger has not confirmed it yet (retried).
     */
    'Pending' : null
  };
/**
 * A registered node (stored record and query result).
 */
export interface Node {
  /**
   * Node id = ed25519 public key.
   */
  'id' : Uint8Array | number[],
  /**
   * Region.
   */
  'region' : string,
  /**
   * Owner (gets rewards and released stakes).
   */
  'owner' : Principal,
  /**
   * Role.
   */
  'role' : Role,
  /**
   * The stake term, while tokens are locked.
   */
  'term' : [] | [Term],
  /**
   * Hardware description.
   */
  'hardware' : string,
  /**
   * Network address.
   */
  'network_address' : string,
  /**
   * Lifecycle state.
   */
  'state' : NodeState,
  /**
   * Tokens confirmed by the ledger in the node's subaccount, e8s.
   */
  'stake_e8s' : bigint,
  /**
   * Penalties decided but not yet moved to the treasury, e8s (part of `stake_e8s`).
   */
  'penalty_due_e8s' : bigint,
  /**
   * The compute node's last PoC E (fixed point), reported by the epochs canister.
   */
  'poc_e' : bigint,
  /**
   * Registration time.
   */
  'registered_at' : bigint,
  /**
   * Suspended: stake under the role's minimum after penalties (until the stake is released).
   */
  'suspended' : boolean,
  /**
   * The journal movement in flight for this node (at most one).
   */
  'pending_movement' : [] | [bigint],
}
/**
 * Lifecycle state of a node.
 */
export type NodeState = {
    /**
     * Removed from its role by an impeachment case.
     */
    'Impeached' : {
      /**
       * When.
       */
      'at' : bigint,
      /**
       * The case.
       */
      'case_id' : bigint,
    }
  } |
  {
    /**
     * Registered and in its role.
     */
    'Live' : null
  } |
  {
    /**
     * Retired by its owner at this time.
     */
    'Retired' : {
      /**
       * When.
       */
      'at' : bigint,
    }
  };
/**
 * Opening a case.
 */
export interface OpenCaseArgs {
  /**
   * The accused.
   */
  'target' : Uint8Array | number[],
  /**
   * The caller's node that accuses (an active member of the target's role).
   */
  'accuser' : Uint8Array | number[],
  /**
   * Reason, 1 to 1024 bytes.
   */
  'reason' : string,
}
/**
 * Governance parameters (spec 3, 4; defaults from the spec).
 */
export interface Params {
  /**
   * Lifetime of a registration nonce, seconds (10 minutes).
   */
  'nonce_ttl_secs' : bigint,
  /**
   * Length of that period in minutes (10).
   */
  'router_penalty_minutes' : number,
  /**
   * Router penalty per offline period, e8s (3.86 EMC).
   */
  'router_penalty_e8s' : bigint,
  /**
   * Compute terms and multipliers (7/30/90/180 days: x1.4/x2.7/x6.2/x10).
   */
  'compute_terms' : Array<ComputeTerm>,
  /**
   * Validator terms (1,000,000 EMC, 360 days, one renewal of at least 180 days).
   */
  'validator' : RoleTerms,
  /**
   * Epoch snapshots a compute candidate is listed in without being admitted before it
   * leaves the candidate queue (None: 3); its owner may queue it again
   * (`requeue_candidate`), at the back.
   */
  'candidate_epochs' : [] | [number],
  /**
   * Stake of a staked compute node per unit of E, e8s (1000 EMC).
   */
  'compute_stake_per_e_e8s' : bigint,
  /**
   * Epoch length, seconds (24 hours).
   */
  'epoch_length_secs' : bigint,
  /**
   * Validator penalty per period of missed consensus, e8s (115.7 EMC).
   */
  'validator_penalty_e8s' : bigint,
  /**
   * Router terms (100,000 EMC, 180 days, unlimited renewals of at least 90 days).
   */
  'router' : RoleTerms,
  /**
   * Length of that period in minutes (60).
   */
  'validator_penalty_minutes' : number,
  /**
   * Voting period after a validator's key-leak report, seconds (2 hours).
   */
  'key_leak_period_secs' : bigint,
  /**
   * Shortest interval between two changes of a node's network address, seconds (None: 1
   * hour); the first change after registration is always allowed.
   */
  'address_change_interval_secs' : [] | [bigint],
  /**
   * Voting period of an impeachment, seconds (7 days).
   */
  'impeachment_period_secs' : bigint,
  /**
   * Most compute candidates (live compute nodes not yet admitted by a passed PoC) one
   * epoch's node snapshot lists, oldest queued first (None: 64). Bounds the validators'
   * per-epoch work on newcomers. `opt` so that stored configurations and proposals written
   * before it still decode.
   */
  'max_compute_candidates' : [] | [number],
  /**
   * Compute penalty period in minutes (60): stake / term_days / 24 per period.
   */
  'compute_penalty_minutes' : number,
}
/**
 * Result of one node's penalty.
 */
export interface PenaltyApplied {
  /**
   * The node.
   */
  'node_id' : Uint8Array | number[],
  /**
   * Penalty decided, e8s (capped by what the stake still holds).
   */
  'penalty_e8s' : bigint,
  /**
   * The node is suspended after it.
   */
  'suspended' : boolean,
}
/**
 * Penalty facts of one node from accepted checkpoints.
 */
export interface PenaltyReport {
  /**
   * The node.
   */
  'node_id' : Uint8Array | number[],
  /**
   * Minutes missed (validator), offline (router) or without consensus (compute).
   */
  'missed_minutes' : bigint,
}
/**
 * Registration request (the caller is the owner).
 */
export interface RegisterArgs {
  /**
   * Region, 1 to 64 bytes.
   */
  'region' : string,
  /**
   * ed25519 signature of [`crate::rules::registration_message`] by the node key (64 bytes).
   */
  'signature' : Uint8Array | number[],
  /**
   * The node's ed25519 public key (32 bytes): its node id.
   */
  'public_key' : Uint8Array | number[],
  /**
   * Role.
   */
  'role' : Role,
  /**
   * Hardware description, at most 1024 bytes.
   */
  'hardware' : string,
  /**
   * Network address (host:port or multiaddr), 1 to 256 bytes.
   */
  'network_address' : string,
}
/**
 * Upgrade argument (nothing to change yet: parameters change through governance methods).
 */
export type RegistryArg = {
    /**
     * Upgrade.
     */
    'Upgrade' : null
  } |
  {
    /**
     * Fresh install.
     */
    'Init' : InitArgs
  };
/**
 * Errors of registry calls: typed, and a failed call changes nothing.
 */
export type RegistryError = {
    /**
     * This node voted already.
     */
    'AlreadyVoted' : null
  } |
  {
    /**
     * The key is registered already (one node per key, forever).
     */
    'KeyAlreadyRegistered' : null
  } |
  {
    /**
     * Stable storage failure.
     */
    'Storage' : string
  } |
  {
    /**
     * Anonymous callers cannot own nodes.
     */
    'Anonymous' : null
  } |
  {
    /**
     * Stake under the minimum.
     */
    'StakeBelowMinimum' : {
      /**
       * Minimum.
       */
      'minimum_e8s' : bigint,
    }
  } |
  {
    /**
     * The node has no running stake.
     */
    'NotStaked' : null
  } |
  {
    /**
     * No unexpired nonce for the caller.
     */
    'NoNonce' : null
  } |
  {
    /**
     * A term that the role's rules refuse.
     */
    'BadTerm' : string
  } |
  {
    /**
     * Unknown case or movement.
     */
    'NotFound' : null
  } |
  {
    /**
     * The node's network address changed less than `address_change_interval_secs` ago.
     */
    'AddressChangeTooSoon' : {
      /**
       * The earliest time of the next change, ns.
       */
      'next_allowed_at' : bigint,
    }
  } |
  {
    /**
     * Only the epochs canister may call this.
     */
    'NotEpochsCanister' : null
  } |
  {
    /**
     * A ledger movement of the node is in flight.
     */
    'MovementPending' : bigint
  } |
  {
    /**
     * The signature does not verify.
     */
    'BadSignature' : null
  } |
  {
    /**
     * The case is closed.
     */
    'CaseClosed' : null
  } |
  {
    /**
     * The caller does not own the node.
     */
    'NotOwner' : null
  } |
  {
    /**
     * The node is retired or impeached.
     */
    'NodeNotLive' : null
  } |
  {
    /**
     * The ledger could not be reached; the movement stays in the journal and is retried.
     */
    'LedgerUnavailable' : {
      /**
       * Journal id.
       */
      'movement_id' : bigint,
      /**
       * Why.
       */
      'reason' : string,
    }
  } |
  {
    /**
     * Unknown node.
     */
    'NodeNotFound' : null
  } |
  {
    /**
     * A bad argument.
     */
    'InvalidArgument' : string
  } |
  {
    /**
     * The voter or accuser is not an active member of the role (or is the target).
     */
    'NotEligible' : null
  } |
  {
    /**
     * Not a valid ed25519 public key.
     */
    'BadPublicKey' : null
  } |
  {
    /**
     * The ledger refused the movement: nothing moved.
     */
    'LedgerRefused' : string
  } |
  {
    /**
     * The node has a stake already.
     */
    'AlreadyStaked' : null
  } |
  {
    /**
     * Only governance may call this.
     */
    'NotGovernance' : null
  } |
  {
    /**
     * An open case exists against the node.
     */
    'CaseAlreadyOpen' : bigint
  };
/**
 * Renewal request.
 */
export interface RenewArgs {
  /**
   * The node.
   */
  'node_id' : Uint8Array | number[],
  /**
   * Extension in days.
   */
  'days' : number,
}
/**
 * Governance's settlement of a `Stuck` movement.
 */
export interface ResolveMovementArgs {
  /**
   * The ledger block that executed it (its memo names the movement), or None when the
   * ledger holds no such block.
   */
  'executed_in_block' : [] | [bigint],
  /**
   * The movement.
   */
  'movement_id' : bigint,
}
export type Result = { 'Ok' : Uint8Array | number[] } |
  { 'Err' : RegistryError };
export type Result_1 = { 'Ok' : Node } |
  { 'Err' : RegistryError };
export type Result_2 = { 'Ok' : CandidateInfo } |
  { 'Err' : RegistryError };
export type Result_3 = { 'Ok' : StakeInfo } |
  { 'Err' : RegistryError };
export type Result_4 = { 'Ok' : Term } |
  { 'Err' : RegistryError };
export type Result_5 = { 'Ok' : Array<PenaltyApplied> } |
  { 'Err' : RegistryError };
export type Result_6 = { 'Ok' : null } |
  { 'Err' : RegistryError };
export type Result_7 = { 'Ok' : number } |
  { 'Err' : RegistryError };
export type Result_8 = { 'Ok' : Case } |
  { 'Err' : RegistryError };
export type Result_9 = { 'Ok' : string } |
  { 'Err' : string };
/**
 * The role a node plays (protocol section 1).
 * 
 * Two stable byte encodings exist and must never change: [`Role::code`] (0, 1, 2) in the
 * registry's index keys and registration message, and [`Role::to_wire`] (1, 2, 3) in the
 * transport's hello. Candid and serde use the variant names.
 */
export type Role = {
    /**
     * Smart router: relays consensus traffic, routes dApp calls to compute nodes.
     */
    'Router' : null
  } |
  {
    /**
     * Compute node: serves AI apps, proves its power with proof of computing.
     */
    'Compute' : null
  } |
  {
    /**
     * Runs consensus and signs checkpoints.
     */
    'Validator' : null
  };
/**
 * Staking terms of the validator and router roles.
 */
export interface RoleTerms {
  /**
   * Minimum stake in e8s.
   */
  'min_stake_e8s' : bigint,
  /**
   * Most renewals of one stake (None: unlimited).
   */
  'max_renewals' : [] | [number],
  /**
   * Minimum first term in days.
   */
  'min_term_days' : number,
  /**
   * Minimum length of one renewal in days.
   */
  'renewal_min_days' : number,
}
/**
 * Staking request (the owner approved `amount_e8s + fee` for the registry on the ledger).
 */
export interface StakeArgs {
  /**
   * The node.
   */
  'node_id' : Uint8Array | number[],
  /**
   * Term in days.
   */
  'term_days' : number,
  /**
   * Stake in e8s (arrives whole in the node's subaccount; the owner also pays the ledger fee).
   */
  'amount_e8s' : bigint,
}
/**
 * Stake view of a node.
 */
export interface StakeInfo {
  /**
   * Whether the node is an active member of its role now.
   */
  'active' : boolean,
  /**
   * The term.
   */
  'term' : [] | [Term],
  /**
   * Tokens held for the node, e8s.
   */
  'stake_e8s' : bigint,
  /**
   * The node's subaccount of the registry on the ledger.
   */
  'account' : Account,
  /**
   * Penalties not yet moved, e8s.
   */
  'penalty_due_e8s' : bigint,
  /**
   * Suspended.
   */
  'suspended' : boolean,
}
/**
 * Registry counters.
 */
export interface Stats {
  /**
   * Active members per role (validator, router, compute).
   */
  'active' : BigUint64Array | bigint[],
  /**
   * Journal entries.
   */
  'movements' : bigint,
  /**
   * Pending journal movements.
   */
  'pending_movements' : bigint,
  /**
   * The ledger fee in use.
   */
  'ledger_fee_e8s' : bigint,
  /**
   * Registered nodes (all states).
   */
  'nodes' : bigint,
  /**
   * Sum of the stakes held, e8s.
   */
  'total_stake_e8s' : bigint,
}
/**
 * The current stake term of a node.
 */
export interface Term {
  /**
   * End, ns: the stake is released automatically at or shortly after it (later under an
   * open impeachment case, and for a validator a margin of epochs after its last set).
   */
  'end' : bigint,
  /**
   * E multiplier of the term (fixed point; compute only, [`E_SCALE`] otherwise).
   */
  'multiplier' : bigint,
  /**
   * The end was reached and processed (release pending or done).
   */
  'expired' : boolean,
  /**
   * Days of the last period (the first term or the last renewal).
   */
  'term_days' : number,
  /**
   * Renewals so far.
   */
  'renewals' : number,
  /**
   * Start (ledger confirmation time), ns.
   */
  'start' : bigint,
}
/**
 * Metadata update by the owner; absent fields are unchanged.
 */
export interface UpdateNodeArgs {
  /**
   * New region.
   */
  'region' : [] | [string],
  /**
   * The node.
   */
  'node_id' : Uint8Array | number[],
  /**
   * New hardware description.
   */
  'hardware' : [] | [string],
  /**
   * New network address.
   */
  'network_address' : [] | [string],
}
/**
 * The validators of one epoch, in the registry's order (the order decides proposer rotation).
 * 
 * Members are their ed25519 public keys ([`NodeId`]). Construct with [`ValidatorSet::new`],
 * which rejects empty sets and duplicates; a set received over the wire should be re-checked
 * with [`ValidatorSet::check`].
 */
export interface ValidatorSet {
  /**
   * The members, in order.
   */
  'members' : Array<Uint8Array | number[]>,
  /**
   * The epoch this set is valid for.
   */
  'epoch' : bigint,
}
/**
 * The validator set of an epoch as the registry fixed it.
 */
export interface ValidatorSetSnapshot {
  /**
   * The set (members are node ids = ed25519 public keys, ordered by id bytes). Empty when
   * no validator was eligible.
   */
  'set' : ValidatorSet,
  /**
   * `set.id()`.
   */
  'set_id' : Uint8Array | number[],
  /**
   * Eligible validators at that time.
   */
  'eligible' : bigint,
  /**
   * When the snapshot was taken (at or after the epoch start).
   */
  'taken_at' : bigint,
}
/**
 * A vote.
 */
export interface VoteArgs {
  /**
   * Yes removes the node.
   */
  'yes' : boolean,
  /**
   * The caller's voting node.
   */
  'voter' : Uint8Array | number[],
  /**
   * Case.
   */
  'case_id' : bigint,
}
export interface _SERVICE {
  'apply_penalties' : ActorMethod<[bigint, Array<PenaltyReport>], Result_5>,
  'candidate' : ActorMethod<[Uint8Array | number[]], [] | [CandidateInfo]>,
  'current_epoch' : ActorMethod<[], EpochInfo>,
  'e_multiplier' : ActorMethod<[Uint8Array | number[]], [] | [bigint]>,
  'epoch_nodes' : ActorMethod<[EpochNodesArgs], [] | [EpochNodesPage]>,
  'execute_resolve_movement' : ActorMethod<[ResolveMovementArgs], undefined>,
  'execute_set_epochs_canister' : ActorMethod<[[] | [Principal]], undefined>,
  'execute_set_governance' : ActorMethod<[Principal], undefined>,
  'execute_set_params' : ActorMethod<[Params], undefined>,
  'execute_set_treasury' : ActorMethod<[Account], undefined>,
  'get_config' : ActorMethod<[], Config>,
  'get_node' : ActorMethod<[Uint8Array | number[]], [] | [Node]>,
  'impeachment_case' : ActorMethod<[bigint], [] | [Case]>,
  'movement' : ActorMethod<[bigint], [] | [Movement]>,
  'my_nodes' : ActorMethod<[[] | [Uint8Array | number[]], number], Array<Node>>,
  'node_stake' : ActorMethod<[Uint8Array | number[]], [] | [StakeInfo]>,
  'nodes_by_owner' : ActorMethod<
    [Principal, [] | [Uint8Array | number[]], number],
    Array<Node>
  >,
  'nodes_by_role' : ActorMethod<
    [Role, [] | [Uint8Array | number[]], number],
    Array<Node>
  >,
  'open_impeachment' : ActorMethod<[OpenCaseArgs], Result_8>,
  'pending_movements' : ActorMethod<[], Array<Movement>>,
  'register' : ActorMethod<[RegisterArgs], Result_1>,
  'registration_nonce' : ActorMethod<[], Result>,
  'renew_stake' : ActorMethod<[RenewArgs], Result_4>,
  'report_compute_e' : ActorMethod<[Uint8Array | number[], bigint], Result_6>,
  'report_compute_es' : ActorMethod<[Array<ComputeE>], Result_7>,
  'report_key_leak' : ActorMethod<[Uint8Array | number[]], Result_8>,
  'requeue_candidate' : ActorMethod<[Uint8Array | number[]], Result_2>,
  'retire_node' : ActorMethod<[Uint8Array | number[]], Result_1>,
  'retry_pending' : ActorMethod<[], bigint>,
  'stake' : ActorMethod<[StakeArgs], Result_3>,
  'stats' : ActorMethod<[], Stats>,
  'update_node' : ActorMethod<[UpdateNodeArgs], Result_1>,
  'validate_resolve_movement' : ActorMethod<[ResolveMovementArgs], Result_9>,
  'validate_set_epochs_canister' : ActorMethod<[[] | [Principal]], Result_9>,
  'validate_set_governance' : ActorMethod<[Principal], Result_9>,
  'validate_set_params' : ActorMethod<[Params], Result_9>,
  'validate_set_treasury' : ActorMethod<[Account], Result_9>,
  'validator_set' : ActorMethod<[bigint], [] | [ValidatorSetSnapshot]>,
  'vote_impeachment' : ActorMethod<[VoteArgs], Result_8>,
}
export declare const idlFactory: IDL.InterfaceFactory;
export declare const init: (args: { IDL: typeof IDL }) => IDL.Type[];