//! Candid types of the epochs canister (arguments, results, stored records).

use candid::{CandidType, Principal};
use emc_types::{Checkpoint, Hash, NodeId, SignedCheckpoint, ValidatorSet};
use serde::{Deserialize, Serialize};

/// Governance parameters (defaults from the spec and the issue). Heights and epochs are numbered as emc-consensus numbers them: height `h >= 1` is in epoch
/// `(h - 1) / epoch_length_blocks` (height 0 is the genesis, never a checkpoint), so epoch `e`
/// covers heights `e * L + 1 ..= (e + 1) * L` and the checkpoint at `(e + 1) * L`, which carries
/// epoch `e`, is the epoch's closing checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct Params {
    /// Blocks per epoch, `L` (43,200 = 24 hours at 2 s a block; the local devnet uses e.g. 120).
    /// Must equal the edge network's `epoch_length`. Positive; fixed once a checkpoint has been
    /// accepted (it numbers the epochs of the accepted chain).
    pub epoch_length_blocks: u64,
    /// Blocks between two checkpoints (450 = 15 minutes); positive and divides the epoch length.
    pub checkpoint_interval_blocks: u64,
    /// Challenge window after a checkpoint's acceptance, ns (one epoch: 24 hours).
    pub challenge_window_ns: u64,
    /// Share of the epoch's blocks a validator must have taken part in to earn, basis points
    /// (6,667 = 2/3).
    pub validator_min_share_bps: u32,
    /// Share of the epoch's blocks a router must have been online for to earn, basis points.
    pub router_min_share_bps: u32,
    /// Minutes reported to the registry for each validator proven to have equivocated (the
    /// registry turns minutes into a penalty; it has no dedicated slashing endpoint yet).
    pub equivocation_penalty_minutes: u64,
    /// Most nodes whose payout one timer batch starts.
    pub payout_batch: u32,
}

impl Params {
    /// The epoch of block `height`: `(height - 1) / epoch_length_blocks`; `None` for height 0
    /// (the genesis is no block) or a zero epoch length.
    pub fn epoch_of_height(&self, height: u64) -> Option<u64> {
        emc_tokenomics::epoch_of_block(height, self.epoch_length_blocks)
    }

    /// The height of the checkpoint that closes `epoch` (the epoch's last height):
    /// `(epoch + 1) * epoch_length_blocks`; `None` when it does not fit in a `u64`.
    pub fn closing_height(&self, epoch: u64) -> Option<u64> {
        emc_tokenomics::last_height_of_epoch(epoch, self.epoch_length_blocks)
    }
}

impl Default for Params {
    fn default() -> Self {
        Params {
            epoch_length_blocks: emc_tokenomics::BLOCKS_PER_EPOCH,
            checkpoint_interval_blocks: 450,
            challenge_window_ns: 24 * 3600 * 1_000_000_000,
            validator_min_share_bps: 6_667,
            router_min_share_bps: 6_667,
            equivocation_penalty_minutes: 60 * 24 * 30,
            payout_batch: 500,
        }
    }
}

/// Install argument.
#[derive(Clone, Debug, CandidType, Serialize, Deserialize)]
pub struct InitArgs {
    /// The $EMC ledger; this canister must be its minting account.
    pub ledger: Principal,
    /// The node registry (validator sets, penalties).
    pub registry: Principal,
    /// Governance (SNS): the only caller of `execute_*`.
    pub governance: Principal,
    /// Parameters (defaults when absent).
    pub params: Option<Params>,
}

/// Install or upgrade argument.
#[derive(Clone, Debug, CandidType, Serialize, Deserialize)]
pub enum EpochsArg {
    /// Fresh install.
    Init(InitArgs),
    /// Upgrade (nothing to change: parameters change through governance methods).
    Upgrade,
}

/// The stored configuration.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct Config {
    /// The ledger.
    pub ledger: Principal,
    /// The registry.
    pub registry: Principal,
    /// Governance.
    pub governance: Principal,
    /// Parameters.
    pub params: Params,
    /// The compute market, the only caller of `mint_trading_reward` (none: no trading rewards
    /// are minted). Set by governance (`execute_set_market`); an `opt` field, so a config
    /// stored before it existed loads as `null`.
    pub market: Option<Principal>,
    /// The DAO canister, the only caller of `mint_dao_reward` (developer grants within the
    /// 252M pool, the airdrop within the 105M pool; none: nothing is minted for them). Set by
    /// governance (`execute_set_dao`); `opt`, so a stored config without it loads as `null`.
    pub dao: Option<Principal>,
}

/// The two pools the DAO canister draws on (spec 2 and 10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub enum DaoPool {
    /// Ecosystem developer rewards: 252,000,000 EMC.
    DeveloperGrants,
    /// DAO airdrop incentive: 105,000,000 EMC.
    Airdrop,
}

impl DaoPool {
    /// The pool's hard cap, e8s.
    pub fn cap_e8s(self) -> u64 {
        match self {
            DaoPool::DeveloperGrants => emc_tokenomics::DEVELOPER_REWARD_POOL_CAP,
            DaoPool::Airdrop => emc_tokenomics::AIRDROP_POOL_CAP,
        }
    }
}

/// A grant or airdrop payment the DAO canister asks this canister, the ledger's minting
/// account, to mint. Like [`TradingMint`], a retry carries the same `created_at_time` and memo,
/// so the ledger deduplicates it and only a new mint counts against the pool.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct DaoMint {
    /// The pool it is paid from.
    pub pool: DaoPool,
    /// The paid account.
    pub to: icrc_ledger_types::icrc1::account::Account,
    /// Amount, e8s (positive).
    pub amount_e8s: u64,
    /// The DAO canister's `created_at_time` for the mint.
    pub created_at_time: u64,
    /// The DAO canister's memo (at most 32 bytes).
    pub memo: serde_bytes::ByteBuf,
}

/// A trading reward the market asks this canister, the ledger's minting account, to mint
/// (spec 9: the 378M trading-reward pool). The market journals it: a retry carries the same
/// `created_at_time` and memo, so the ledger deduplicates the mint.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct TradingMint {
    /// The rewarded account.
    pub to: icrc_ledger_types::icrc1::account::Account,
    /// Amount, e8s (positive).
    pub amount_e8s: u64,
    /// The market's `created_at_time` for the mint.
    pub created_at_time: u64,
    /// The market's memo for the mint (at most 32 bytes).
    pub memo: serde_bytes::ByteBuf,
}

/// What `final_receipts_root` answers about a checkpoint height.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub enum ReceiptsRoot {
    /// The accepted checkpoint is final: its receipts root (never changes again).
    Final(Hash),
    /// Accepted, still in its challenge window until `final_at` (ns).
    NotFinal {
        /// When it becomes final.
        final_at: u64,
    },
    /// No accepted checkpoint at this height (never accepted, skipped or voided).
    Unknown,
}

/// An accepted checkpoint as stored.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct StoredCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// `checkpoint.hash()`.
    pub hash: Hash,
    /// Validators whose signatures were verified.
    pub signers: Vec<NodeId>,
    /// Acceptance time, ns.
    pub accepted_at: u64,
    /// Voided by equivocation evidence (kept for the record, off the chain).
    pub voided: bool,
}

/// A node's role: the network's one role type (candid `Role`, variants Validator, Router,
/// Compute), as in the registry.
pub use emc_types::Role;

/// One node's facts for one epoch, as agreed by the validators.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct NodeRecord {
    /// The node.
    pub node: NodeId,
    /// Its owner (receives the reward), from the registry.
    pub owner: Principal,
    /// Its role.
    pub role: Role,
    /// Stake in e8s (validators and routers: their weight).
    pub stake_e8s: u64,
    /// Blocks of the minutes in which the node was active: a validator took part in consensus
    /// (its commit seal or proposal), a router or compute node was seen online by most of the
    /// minute's proposers.
    pub active_blocks: u64,
    /// PoC E, fixed point with 4 decimals (compute only).
    pub poc_e: u64,
    /// Staking multiplier of E, fixed point with 4 decimals (compute only).
    pub multiplier: u64,
    /// Minutes of whole outage periods in the epoch (spec 4: continuous runs of minutes in
    /// which the agreed state shows no participation, fined per whole 60 minutes for
    /// validators and staked compute nodes, per 10 minutes for routers); the registry turns
    /// them into the penalty.
    pub penalty_minutes: u64,
}

/// Header of an epoch's per-node data; `header_hash` of it is the `state_root` of the epoch's
/// closing checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct EpochDataHeader {
    /// The epoch.
    pub epoch: u64,
    /// Blocks produced in the epoch (the denominator of participation): every height is one
    /// block, so this is the epoch length `L` (`declare_epoch_data` refuses anything else).
    pub epoch_blocks: u64,
    /// Records in all chunks.
    pub node_count: u64,
    /// Chunks.
    pub chunk_count: u32,
    /// Merkle root over the chunk hashes.
    pub chunks_root: Hash,
}

/// One chunk of an epoch's records with its Merkle path.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct DataChunk {
    /// The epoch.
    pub epoch: u64,
    /// Index of the chunk (0-based).
    pub index: u32,
    /// Records, strictly ascending by node id.
    pub records: Vec<NodeRecord>,
    /// Sibling hashes from the chunk's leaf to the root.
    pub proof: Vec<Hash>,
}

/// Evidence of equivocation: two different quorum-signed checkpoints of the same height.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct EquivocationEvidence {
    /// One checkpoint.
    pub first: SignedCheckpoint,
    /// The other.
    pub second: SignedCheckpoint,
}

/// What evidence did.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct EquivocationOutcome {
    /// Height.
    pub height: u64,
    /// The accepted checkpoint voided with its successors (None: the accepted one is final, or
    /// matches neither).
    pub voided: Vec<u64>,
    /// Validators that signed both.
    pub slashed: Vec<NodeId>,
    /// The registry penalty batch that carries the slashing.
    pub penalty_batch: u64,
}

/// Status of an epoch's reward.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub enum EpochStatus {
    /// Data being uploaded (or not yet declared).
    Collecting,
    /// Closed: payouts being planned and minted.
    Paying,
    /// Every payout confirmed.
    Paid,
}

/// Stored state and summary of an epoch.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct EpochSummary {
    /// The epoch.
    pub epoch: u64,
    /// Status.
    pub status: EpochStatus,
    /// The data header, once declared.
    pub header: Option<EpochDataHeader>,
    /// Chunks received.
    pub chunks_received: u32,
    /// Records received.
    pub nodes_received: u64,
    /// Sum of the eligible nodes' weights (fixed point).
    pub total_weight: u128,
    /// Nodes with a positive weight.
    pub eligible_nodes: u64,
    /// Budget r(n) reserved at close (0 once emission stopped), e8s.
    pub budget_e8s: u64,
    /// Planned payouts so far, e8s.
    pub planned_e8s: u64,
    /// Confirmed payouts, e8s.
    pub paid_e8s: u64,
    /// Confirmed payouts, count.
    pub paid_nodes: u64,
    /// Journal entries not yet confirmed.
    pub unpaid_entries: u64,
    /// Last node whose payout was planned (payout cursor).
    pub cursor: Option<NodeId>,
    /// Every record planned.
    pub planned_all: bool,
    /// Close time, ns.
    pub closed_at: Option<u64>,
}

/// Journal status of a payout.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub enum PayoutStatus {
    /// Recorded; the mint is not confirmed yet (retried with the same created_at_time + memo).
    Pending,
    /// Confirmed by the ledger in this block.
    Paid {
        /// Ledger block.
        block: u64,
    },
    /// Unconfirmed past the ledger's deduplication window: governance settles it.
    Stuck,
}

/// One node's history in one epoch (`node_history`): the agreed record the validators
/// uploaded, its reward weight, and its payout.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct NodeEpoch {
    /// The epoch.
    pub epoch: u64,
    /// Blocks in the epoch (the denominator of `record.active_blocks`), from its data header.
    pub epoch_blocks: u64,
    /// The agreed record (none: the node had none in this epoch's data).
    pub record: Option<NodeRecord>,
    /// Its weight (fixed point; 0: not eligible, e.g. too little uptime).
    pub weight: u64,
    /// Its payout (none: not planned yet, or nothing earned).
    pub payout: Option<Payout>,
}

/// Most epochs one `node_history` call scans.
pub const MAX_HISTORY_EPOCHS: u32 = 100;

/// A journal entry: the reward of one node for one epoch.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct Payout {
    /// Epoch.
    pub epoch: u64,
    /// Node.
    pub node: NodeId,
    /// Owner (minted to its default account).
    pub owner: Principal,
    /// Amount, e8s.
    pub amount_e8s: u64,
    /// `created_at_time` of the mint.
    pub created_at_time: u64,
    /// Ledger calls made.
    pub attempts: u32,
    /// Status.
    pub status: PayoutStatus,
}

/// Penalty facts sent to the registry (same candid shape as the registry's).
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct PenaltyReport {
    /// The node.
    pub node_id: NodeId,
    /// Minutes missed (validator) or offline (router); slashing uses the equivocation minutes.
    pub missed_minutes: u64,
}

/// A compute node's PoC E sent to the registry after its epoch closed (same candid shape as the
/// registry's `ComputeE`).
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct ComputeE {
    /// The compute node.
    pub node_id: NodeId,
    /// Its PoC E from the epoch's record, fixed point with 4 decimals.
    pub e_fixed: u64,
}

/// Governance's settlement of a `Stuck` payout.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct ResolvePayoutArgs {
    /// Epoch.
    pub epoch: u64,
    /// Node.
    pub node: NodeId,
    /// The ledger block that minted it (its memo names the payout), or None when no block did
    /// (the payout is re-issued with a fresh created_at_time).
    pub executed_in_block: Option<u64>,
}

/// The registry's validator-set snapshot (decoded from `validator_set(epoch)`).
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct ValidatorSetSnapshot {
    /// The set.
    pub set: ValidatorSet,
    /// Its id.
    pub set_id: Hash,
    /// Eligible validators at that time.
    pub eligible: u64,
    /// When the snapshot was taken.
    pub taken_at: u64,
}

/// Counters.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct Stats {
    /// Height of the latest accepted checkpoint.
    pub tip_height: Option<u64>,
    /// Total minted as node rewards, e8s.
    pub total_emitted_e8s: u64,
    /// Budget reserved by closed epochs and not yet released, e8s.
    pub reserved_e8s: u64,
    /// Emission stopped by the cap.
    pub emission_stopped: bool,
    /// Pending journal entries.
    pub pending_payouts: u64,
    /// Penalty batches waiting to be sent to the registry.
    pub pending_penalty_batches: u64,
    /// Batches of compute nodes' E waiting to be sent to the registry.
    pub pending_compute_e_batches: u64,
    /// Last closed epoch.
    pub last_closed_epoch: Option<u64>,
    /// Trading rewards minted for the market, e8s (at most the 378M pool).
    pub trading_minted_e8s: u64,
    /// Developer grants minted for the DAO canister, e8s (at most the 252M pool).
    pub grants_minted_e8s: u64,
    /// Airdrop payments minted for the DAO canister, e8s (at most the 105M pool).
    pub airdrop_minted_e8s: u64,
}

/// Errors: typed; a refused call changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize, thiserror::Error)]
pub enum EpochsError {
    /// Malformed checkpoint (height 0 or not on the interval, epoch not the height's epoch...).
    #[error("malformed: {0}")]
    Malformed(String),
    /// At or below the tip: already accepted (the same checkpoint).
    #[error("checkpoint at height {0} is accepted already")]
    Duplicate(u64),
    /// At or below the tip, different from the accepted one.
    #[error("stale checkpoint: height {height}, tip {tip}")]
    Stale {
        /// Height given.
        height: u64,
        /// Tip.
        tip: u64,
    },
    /// Previous hash is not the tip's hash.
    #[error("previous checkpoint hash does not match the tip")]
    WrongPrevHash,
    /// The registry has no validator set for the epoch (yet).
    #[error("no validator set for epoch {0}")]
    NoValidatorSet(u64),
    /// The set id is not the registry's set of that epoch.
    #[error("the validator set id is not the registry's set for the epoch")]
    WrongValidatorSet,
    /// Fewer signatures than the quorum.
    #[error("{got} signatures, quorum is {quorum}")]
    InsufficientSignatures {
        /// Distinct valid signatures.
        got: u64,
        /// Quorum.
        quorum: u64,
    },
    /// More signatures than members.
    #[error("more signatures than validators")]
    TooManySignatures,
    /// One signer twice.
    #[error("signer {0:?} appears twice")]
    DuplicateSigner(NodeId),
    /// A signer outside the set.
    #[error("signer {0:?} is not in the validator set")]
    NotInSet(NodeId),
    /// A signature that does not verify.
    #[error("bad signature by {0:?}")]
    BadSignature(NodeId),
    /// Evidence that proves nothing.
    #[error("invalid evidence: {0}")]
    InvalidEvidence(String),
    /// Evidence reported already.
    #[error("evidence reported already")]
    EvidenceAlreadyReported,
    /// Epoch data problem.
    #[error("epoch data: {0}")]
    EpochData(String),
    /// The epoch cannot close yet.
    #[error("epoch not ready to close: {0}")]
    NotReady(String),
    /// The epoch is closed already.
    #[error("epoch {0} is closed already")]
    AlreadyClosed(u64),
    /// Unknown payout / epoch.
    #[error("not found")]
    NotFound,
    /// Only governance.
    #[error("only governance may call this")]
    NotGovernance,
    /// Only the market canister.
    #[error("only the market canister may call this")]
    NotMarket,
    /// The trading-reward pool would be exceeded.
    #[error("the trading-reward pool is exhausted")]
    PoolExhausted,
    /// Only the DAO canister (`mint_dao_reward`).
    #[error("only the DAO canister may call this")]
    NotDao,
    /// A DAO pool (developer grants or airdrop) would be exceeded.
    #[error("the {0:?} pool is exhausted")]
    DaoPoolExhausted(DaoPool),
    /// The ledger refused or could not be reached.
    #[error("ledger: {0}")]
    Ledger(String),
    /// Bad argument.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Storage failure.
    #[error("storage: {0}")]
    Storage(String),
}
