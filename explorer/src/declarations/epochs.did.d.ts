// Generated from candid/epochs.did by `UPDATE_IDL=1 cargo test -p emc-devnet --test it explorer::`: do not edit.
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
 * A checkpoint: what 2F+1 validators of the epoch sign and submit to the IC.
 */
export interface Checkpoint {
  /**
   * Height of the last block the checkpoint covers (a multiple of the checkpoint interval).
   */
  'height' : bigint,
  /**
   * Merkle root of the period's dispatch records and compute receipts (with inclusion
   * proofs, see `emc_types::merkle`).
   */
  'receipts_root' : Uint8Array | number[],
  /**
   * Timestamp of the block at `height`, ns since the Unix epoch.
   */
  'timestamp_ns' : bigint,
  /**
   * [`Checkpoint::hash`] of the previous checkpoint ([`ZERO_HASH`] for the first).
   */
  'prev_checkpoint_hash' : Uint8Array | number[],
  /**
   * Epoch of that block.
   */
  'epoch' : bigint,
  /**
   * [`crate::ValidatorSet::id`] of the epoch's validator set (the signers).
   */
  'validator_set_id' : Uint8Array | number[],
  /**
   * Summary of the period's liveness observations.
   */
  'liveness_root' : Uint8Array | number[],
  /**
   * Summary of the period's proof-of-computing results ([`SummaryAccumulator`]).
   */
  'poc_root' : Uint8Array | number[],
  /**
   * The application's state root after that block.
   */
  'state_root' : Uint8Array | number[],
}
/**
 * One validator's ed25519 signature over [`Checkpoint::signing_bytes`].
 */
export interface CheckpointSignature {
  /**
   * The signature.
   */
  'signature' : Uint8Array | number[],
  /**
   * The validator (its public key).
   */
  'signer' : Uint8Array | number[],
}
/**
 * The stored configuration.
 */
export interface Config {
  /**
   * The DAO canister, the only caller of `mint_dao_reward` (developer grants within the
   * 252M pool, the airdrop within the 105M pool; none: nothing is minted for them). Set by
   * governance (`execute_set_dao`); `opt`, so a stored config without it loads as `null`.
   */
  'dao' : [] | [Principal],
  /**
   * The ledger.
   */
  'ledger' : Principal,
  /**
   * The compute market, the only caller of `mint_trading_reward` (none: no trading rewards
   * are minted). Set by governance (`execute_set_market`); an `opt` field, so a config
   * stored before it existed loads as `null`.
   */
  'market' : [] | [Principal],
  /**
   * Governance.
   */
  'governance' : Principal,
  /**
   * The registry.
   */
  'registry' : Principal,
  /**
   * Parameters.
   */
  'params' : Params,
}
/**
 * A grant or airdrop payment the DAO canister asks this canister, the ledger's minting
 * account, to mint. Like [`TradingMint`], a retry carries the same `created_at_time` and memo,
 * so the ledger deduplicates it and only a new mint counts against the pool.
 */
export interface DaoMint {
  /**
   * The paid account.
   */
  'to' : Account,
  /**
   * The DAO canister's memo (at most 32 bytes).
   */
  'memo' : Uint8Array | number[],
  /**
   * The pool it is paid from.
   */
  'pool' : DaoPool,
  /**
   * Amount, e8s (positive).
   */
  'amount_e8s' : bigint,
  /**
   * The DAO canister's `created_at_time` for the mint.
   */
  'created_at_time' : bigint,
}
/**
 * The two pools the DAO canister draws on (spec 2 and 10).
 */
export type DaoPool = {
    /**
     * DAO airdrop incentive: 105,000,000 EMC.
     */
    'Airdrop' : null
  } |
  {
    /**
     * Ecosystem developer rewards: 252,000,000 EMC.
     */
    'DeveloperGrants' : null
  };
/**
 * One chunk of an epoch's records with its Merkle path.
 */
export interface DataChunk {
  /**
   * Records, strictly ascending by node id.
   */
  'records' : Array<NodeRecord>,
  /**
   * The epoch.
   */
  'epoch' : bigint,
  /**
   * Index of the chunk (0-based).
   */
  'index' : number,
  /**
   * Sibling hashes from the chunk's leaf to the root.
   */
  'proof' : Array<Uint8Array | number[]>,
}
/**
 * Header of an epoch's per-node data; `header_hash` of it is the `state_root` of the epoch's
 * closing checkpoint.
 */
export interface EpochDataHeader {
  /**
   * Records in all chunks.
   */
  'node_count' : bigint,
  /**
   * Merkle root over the chunk hashes.
   */
  'chunks_root' : Uint8Array | number[],
  /**
   * The epoch.
   */
  'epoch' : bigint,
  /**
   * Chunks.
   */
  'chunk_count' : number,
  /**
   * Blocks produced in the epoch (the denominator of participation): every height is one
   * block, so this is the epoch length `L` (`declare_epoch_data` refuses anything else).
   */
  'epoch_blocks' : bigint,
}
/**
 * Status of an epoch's reward.
 */
export type EpochStatus = {
    /**
     * Data being uploaded (or not yet declared).
     */
    'Collecting' : null
  } |
  {
    /**
     * Closed: payouts being planned and minted.
     */
    'Paying' : null
  } |
  {
    /**
     * Every payout confirmed.
     */
    'Paid' : null
  };
/**
 * Stored state and summary of an epoch.
 */
export interface EpochSummary {
  /**
   * Status.
   */
  'status' : EpochStatus,
  /**
   * Every record planned.
   */
  'planned_all' : boolean,
  /**
   * Planned payouts so far, e8s.
   */
  'planned_e8s' : bigint,
  /**
   * Close time, ns.
   */
  'closed_at' : [] | [bigint],
  /**
   * Chunks received.
   */
  'chunks_received' : number,
  /**
   * Last node whose payout was planned (payout cursor).
   */
  'cursor' : [] | [Uint8Array | number[]],
  /**
   * Sum of the eligible nodes' weights (fixed point).
   */
  'total_weight' : bigint,
  /**
   * Confirmed payouts, count.
   */
  'paid_nodes' : bigint,
  /**
   * The epoch.
   */
  'epoch' : bigint,
  /**
   * Journal entries not yet confirmed.
   */
  'unpaid_entries' : bigint,
  /**
   * Budget r(n) reserved at close (0 once emission stopped), e8s.
   */
  'budget_e8s' : bigint,
  /**
   * Confirmed payouts, e8s.
   */
  'paid_e8s' : bigint,
  /**
   * Nodes with a positive weight.
   */
  'eligible_nodes' : bigint,
  /**
   * Records received.
   */
  'nodes_received' : bigint,
  /**
   * The data header, once declared.
   */
  'header' : [] | [EpochDataHeader],
}
/**
 * Install or upgrade argument.
 */
export type EpochsArg = {
    /**
     * Upgrade (nothing to change: parameters change through governance methods).
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
 * Errors: typed; a refused call changes nothing.
 */
export type EpochsError = {
    /**
     * Storage failure.
     */
    'Storage' : string
  } |
  {
    /**
     * A DAO pool (developer grants or airdrop) would be exceeded.
     */
    'DaoPoolExhausted' : DaoPool
  } |
  {
    /**
     * At or below the tip, different from the accepted one.
     */
    'Stale' : {
      /**
       * Tip.
       */
      'tip' : bigint,
      /**
       * Height given.
       */
      'height' : bigint,
    }
  } |
  {
    /**
     * A signer outside the set.
     */
    'NotInSet' : Uint8Array | number[]
  } |
  {
    /**
     * One signer twice.
     */
    'DuplicateSigner' : Uint8Array | number[]
  } |
  {
    /**
     * Evidence that proves nothing.
     */
    'InvalidEvidence' : string
  } |
  {
    /**
     * Previous hash is not the tip's hash.
     */
    'WrongPrevHash' : null
  } |
  {
    /**
     * At or below the tip: already accepted (the same checkpoint).
     */
    'Duplicate' : bigint
  } |
  {
    /**
     * The trading-reward pool would be exceeded.
     */
    'PoolExhausted' : null
  } |
  {
    /**
     * The epoch cannot close yet.
     */
    'NotReady' : string
  } |
  {
    /**
     * Only the DAO canister (`mint_dao_reward`).
     */
    'NotDao' : null
  } |
  {
    /**
     * Unknown payout / epoch.
     */
    'NotFound' : null
  } |
  {
    /**
     * Epoch data problem.
     */
    'EpochData' : string
  } |
  {
    /**
     * Fewer signatures than the quorum.
     */
    'InsufficientSignatures' : {
      /**
       * Distinct valid signatures.
       */
      'got' : bigint,
      /**
       * Quorum.
       */
      'quorum' : bigint,
    }
  } |
  {
    /**
     * A signature that does not verify.
     */
    'BadSignature' : Uint8Array | number[]
  } |
  {
    /**
     * Malformed checkpoint (height 0 or not on the interval, epoch not the height's epoch...).
     */
    'Malformed' : string
  } |
  {
    /**
     * More signatures than members.
     */
    'TooManySignatures' : null
  } |
  {
    /**
     * Bad argument.
     */
    'InvalidArgument' : string
  } |
  {
    /**
     * The set id is not the registry's set of that epoch.
     */
    'WrongValidatorSet' : null
  } |
  {
    /**
     * The ledger refused or could not be reached.
     */
    'Ledger' : string
  } |
  {
    /**
     * The registry has no validator set for the epoch (yet).
     */
    'NoValidatorSet' : bigint
  } |
  {
    /**
     * Only the market canister.
     */
    'NotMarket' : null
  } |
  {
    /**
     * Evidence reported already.
     */
    'EvidenceAlreadyReported' : null
  } |
  {
    /**
     * The epoch is closed already.
     */
    'AlreadyClosed' : bigint
  } |
  {
    /**
     * Only governance.
     */
    'NotGovernance' : null
  };
/**
 * Evidence of equivocation: two different quorum-signed checkpoints of the same height.
 */
export interface EquivocationEvidence {
  /**
   * One checkpoint.
   */
  'first' : SignedCheckpoint,
  /**
   * The other.
   */
  'second' : SignedCheckpoint,
}
/**
 * What evidence did.
 */
export interface EquivocationOutcome {
  /**
   * Height.
   */
  'height' : bigint,
  /**
   * Validators that signed both.
   */
  'slashed' : Array<Uint8Array | number[]>,
  /**
   * The accepted checkpoint voided with its successors (None: the accepted one is final, or
   * matches neither).
   */
  'voided' : BigUint64Array | bigint[],
  /**
   * The registry penalty batch that carries the slashing.
   */
  'penalty_batch' : bigint,
}
/**
 * Install argument.
 */
export interface InitArgs {
  /**
   * The $EMC ledger; this canister must be its minting account.
   */
  'ledger' : Principal,
  /**
   * Governance (SNS): the only caller of `execute_*`.
   */
  'governance' : Principal,
  /**
   * The node registry (validator sets, penalties).
   */
  'registry' : Principal,
  /**
   * Parameters (defaults when absent).
   */
  'params' : [] | [Params],
}
/**
 * One node's history in one epoch (`node_history`): the agreed record the validators
 * uploaded, its reward weight, and its payout.
 */
export interface NodeEpoch {
  /**
   * Its weight (fixed point; 0: not eligible, e.g. too little uptime).
   */
  'weight' : bigint,
  /**
   * The epoch.
   */
  'epoch' : bigint,
  /**
   * Blocks in the epoch (the denominator of `record.active_blocks`), from its data header.
   */
  'epoch_blocks' : bigint,
  /**
   * Its payout (none: not planned yet, or nothing earned).
   */
  'payout' : [] | [Payout],
  'record' : [] | [NodeRecord],
}
/**
 * One node's facts for one epoch, as agreed by the validators.
 */
export interface NodeRecord {
  /**
   * Blocks of the minutes in which the node was active: a validator took part in consensus
   * (its commit seal or proposal), a router or compute node was seen online by most of the
   * minute's proposers.
   */
  'active_blocks' : bigint,
  /**
   * Staking multiplier of E, fixed point with 4 decimals (compute only).
   */
  'multiplier' : bigint,
  /**
   * Its owner (receives the reward), from the registry.
   */
  'owner' : Principal,
  /**
   * The node.
   */
  'node' : Uint8Array | number[],
  /**
   * Its role.
   */
  'role' : Role,
  /**
   * Stake in e8s (validators and routers: their weight).
   */
  'stake_e8s' : bigint,
  /**
   * Minutes of whole outage periods in the epoch (spec 4: continuous runs of minutes in
   * which the agreed state shows no participation, fined per whole 60 minutes for
   * validators and staked compute nodes, per 10 minutes for routers); the registry turns
   * them into the penalty.
   */
  'penalty_minutes' : bigint,
  /**
   * PoC E, fixed point with 4 decimals (compute only).
   */
  'poc_e' : bigint,
}
/**
 * Governance parameters (defaults from the spec and the issue). Heights and epochs are numbered as emc-consensus numbers them: height `h >= 1` is in epoch
 * `(h - 1) / epoch_length_blocks` (height 0 is the genesis, never a checkpoint), so epoch `e`
 * covers heights `e * L + 1 ..= (e + 1) * L` and the checkpoint at `(e + 1) * L`, which carries
 * epoch `e`, is the epoch's closing checkpoint.
 */
export interface Params {
  /**
   * Minutes reported to the registry for each validator proven to have equivocated (the
   * registry turns minutes into a penalty; it has no dedicated slashing endpoint yet).
   */
  'equivocation_penalty_minutes' : bigint,
  /**
   * Blocks between two checkpoints (450 = 15 minutes); positive and divides the epoch length.
   */
  'checkpoint_interval_blocks' : bigint,
  /**
   * Share of the epoch's blocks a validator must have taken part in to earn, basis points
   * (6,667 = 2/3).
   */
  'validator_min_share_bps' : number,
  /**
   * Most nodes whose payout one timer batch starts.
   */
  'payout_batch' : number,
  /**
   * Blocks per epoch, `L` (43,200 = 24 hours at 2 s a block; the local devnet uses e.g. 120).
   * Must equal the edge network's `epoch_length`. Positive; fixed once a checkpoint has been
   * accepted (it numbers the epochs of the accepted chain).
   */
  'epoch_length_blocks' : bigint,
  /**
   * Share of the epoch's blocks a router must have been online for to earn, basis points.
   */
  'router_min_share_bps' : number,
  /**
   * Challenge window after a checkpoint's acceptance, ns (one epoch: 24 hours).
   */
  'challenge_window_ns' : bigint,
}
/**
 * A journal entry: the reward of one node for one epoch.
 */
export interface Payout {
  /**
   * Status.
   */
  'status' : PayoutStatus,
  /**
   * Owner (minted to its default account).
   */
  'owner' : Principal,
  /**
   * Node.
   */
  'node' : Uint8Array | number[],
  /**
   * Ledger calls made.
   */
  'attempts' : number,
  /**
   * Epoch.
   */
  'epoch' : bigint,
  /**
   * Amount, e8s.
   */
  'amount_e8s' : bigint,
  /**
   * `created_at_time` of the mint.
   */
  'created_at_time' : bigint,
}
/**
 * Journal status of a payout.
 */
export type PayoutStatus = {
    /**
     * Unconfirmed past the ledger's deduplication window: governance settles it.
     */
    'Stuck' : null
  } |
  {
    /**
     * Confirmed by the ledger in this block.
     */
    'Paid' : {
      /**
       * Ledger block.
       */
      'block' : bigint,
    }
  } |
  {
    /**
     * Recorded; the mint is not confirmed yet (retried with the same created_at_time + memo).
     */
    'Pending' : null
  };
/**
 * What `final_receipts_root` answers about a checkpoint height.
 */
export type ReceiptsRoot = {
    /**
     * Accepted, still in its challenge window until `final_at` (ns).
     */
    'NotFinal' : {
      /**
       * When it becomes final.
       */
      'final_at' : bigint,
    }
  } |
  {
    /**
     * The accepted checkpoint is final: its receipts root (never changes again).
     */
    'Final' : Uint8Array | number[]
  } |
  {
    /**
     * No accepted checkpoint at this height (never accepted, skipped or voided).
     */
    'Unknown' : null
  };
/**
 * Governance's settlement of a `Stuck` payout.
 */
export interface ResolvePayoutArgs {
  /**
   * The ledger block that minted it (its memo names the payout), or None when no block did
   * (the payout is re-issued with a fresh created_at_time).
   */
  'executed_in_block' : [] | [bigint],
  /**
   * Node.
   */
  'node' : Uint8Array | number[],
  /**
   * Epoch.
   */
  'epoch' : bigint,
}
export type Result = { 'Ok' : StoredCheckpoint } |
  { 'Err' : EpochsError };
export type Result_1 = { 'Ok' : EquivocationOutcome } |
  { 'Err' : EpochsError };
export type Result_2 = { 'Ok' : EpochSummary } |
  { 'Err' : EpochsError };
export type Result_3 = { 'Ok' : string } |
  { 'Err' : string };
export type Result_4 = { 'Ok' : bigint } |
  { 'Err' : EpochsError };
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
 * A checkpoint with the signatures gathered for it (at least a quorum of distinct members of
 * the epoch's validator set when produced by consensus).
 */
export interface SignedCheckpoint {
  /**
   * The checkpoint.
   */
  'checkpoint' : Checkpoint,
  /**
   * Signatures by distinct validators.
   */
  'signatures' : Array<CheckpointSignature>,
}
/**
 * Counters.
 */
export interface Stats {
  /**
   * Penalty batches waiting to be sent to the registry.
   */
  'pending_penalty_batches' : bigint,
  /**
   * Total minted as node rewards, e8s.
   */
  'total_emitted_e8s' : bigint,
  /**
   * Emission stopped by the cap.
   */
  'emission_stopped' : boolean,
  /**
   * Height of the latest accepted checkpoint.
   */
  'tip_height' : [] | [bigint],
  /**
   * Airdrop payments minted for the DAO canister, e8s (at most the 105M pool).
   */
  'airdrop_minted_e8s' : bigint,
  /**
   * Pending journal entries.
   */
  'pending_payouts' : bigint,
  /**
   * Trading rewards minted for the market, e8s (at most the 378M pool).
   */
  'trading_minted_e8s' : bigint,
  /**
   * Developer grants minted for the DAO canister, e8s (at most the 252M pool).
   */
  'grants_minted_e8s' : bigint,
  /**
   * Budget reserved by closed epochs and not yet released, e8s.
   */
  'reserved_e8s' : bigint,
  /**
   * Batches of compute nodes' E waiting to be sent to the registry.
   */
  'pending_compute_e_batches' : bigint,
  /**
   * Last closed epoch.
   */
  'last_closed_epoch' : [] | [bigint],
}
/**
 * An accepted checkpoint as stored.
 */
export interface StoredCheckpoint {
  /**
   * Validators whose signatures were verified.
   */
  'signers' : Array<Uint8Array | number[]>,
  /**
   * The checkpoint.
   */
  'checkpoint' : Checkpoint,
  /**
   * `checkpoint.hash()`.
   */
  'hash' : Uint8Array | number[],
  /**
   * Acceptance time, ns.
   */
  'accepted_at' : bigint,
  /**
   * Voided by equivocation evidence (kept for the record, off the chain).
   */
  'voided' : boolean,
}
/**
 * A trading reward the market asks this canister, the ledger's minting account, to mint
 * (spec 9: the 378M trading-reward pool). The market journals it: a retry carries the same
 * `created_at_time` and memo, so the ledger deduplicates the mint.
 */
export interface TradingMint {
  /**
   * The rewarded account.
   */
  'to' : Account,
  /**
   * The market's memo for the mint (at most 32 bytes).
   */
  'memo' : Uint8Array | number[],
  /**
   * Amount, e8s (positive).
   */
  'amount_e8s' : bigint,
  /**
   * The market's `created_at_time` for the mint.
   */
  'created_at_time' : bigint,
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
export interface _SERVICE {
  'checkpoint' : ActorMethod<[bigint], [] | [StoredCheckpoint]>,
  'close_epoch' : ActorMethod<[bigint], Result_2>,
  'declare_epoch_data' : ActorMethod<[EpochDataHeader], Result_2>,
  'epoch_summary' : ActorMethod<[bigint], [] | [EpochSummary]>,
  'execute_resolve_payout' : ActorMethod<[ResolvePayoutArgs], undefined>,
  'execute_set_dao' : ActorMethod<[[] | [Principal]], undefined>,
  'execute_set_governance' : ActorMethod<[Principal], undefined>,
  'execute_set_market' : ActorMethod<[[] | [Principal]], undefined>,
  'execute_set_params' : ActorMethod<[Params], undefined>,
  'final_receipts_root' : ActorMethod<[bigint], ReceiptsRoot>,
  'get_config' : ActorMethod<[], Config>,
  'latest_checkpoint' : ActorMethod<[], [] | [StoredCheckpoint]>,
  'mint_dao_reward' : ActorMethod<[DaoMint], Result_4>,
  'mint_trading_reward' : ActorMethod<[TradingMint], Result_4>,
  'node_history' : ActorMethod<
    [Uint8Array | number[], bigint, number],
    Array<NodeEpoch>
  >,
  'node_reward' : ActorMethod<[Uint8Array | number[], bigint], [] | [Payout]>,
  'owner_rewards' : ActorMethod<[Principal, bigint], Array<Payout>>,
  'pending_payouts' : ActorMethod<[], Array<Payout>>,
  'run_payouts' : ActorMethod<[], bigint>,
  'stats' : ActorMethod<[], Stats>,
  'submit_checkpoint' : ActorMethod<
    [Checkpoint, Array<CheckpointSignature>],
    Result
  >,
  'submit_evidence' : ActorMethod<[EquivocationEvidence], Result_1>,
  'total_emitted' : ActorMethod<[], bigint>,
  'upload_chunk' : ActorMethod<[DataChunk], Result_2>,
  'validate_resolve_payout' : ActorMethod<[ResolvePayoutArgs], Result_3>,
  'validate_set_dao' : ActorMethod<[[] | [Principal]], Result_3>,
  'validate_set_governance' : ActorMethod<[Principal], Result_3>,
  'validate_set_market' : ActorMethod<[[] | [Principal]], Result_3>,
  'validate_set_params' : ActorMethod<[Params], Result_3>,
  'validator_set' : ActorMethod<[bigint], [] | [ValidatorSet]>,
}
export declare const idlFactory: IDL.InterfaceFactory;
export declare const init: (args: { IDL: typeof IDL }) => IDL.Type[];