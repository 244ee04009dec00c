//! The registry's public (candid) types: arguments, records, parameters and errors.

use candid::{CandidType, Deserialize, Principal};
use emc_types::NodeId;
use icrc_ledger_types::icrc1::account::Account;
use serde::Serialize;
use serde_bytes::ByteBuf;

/// e8s per EMC.
pub const E8S: u64 = 100_000_000;
/// Nanoseconds per second.
pub const SEC: u64 = 1_000_000_000;
/// Nanoseconds per day.
pub const DAY: u64 = 86_400 * SEC;
/// Fixed-point scale of E and of the staking multipliers (`emc_types::E_SCALE`: 4 decimals).
pub const E_SCALE: u64 = emc_types::E_SCALE;

/// The role a node registers for (spec 1): the network's one role enum, with the registry's
/// stable codes (`code`/`from_code`: 0 validator, 1 router, 2 compute) in index keys and in the
/// registration message.
pub use emc_types::Role;

/// Staking terms of the validator and router roles.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct RoleTerms {
    /// Minimum stake in e8s.
    pub min_stake_e8s: u64,
    /// Minimum first term in days.
    pub min_term_days: u32,
    /// Minimum length of one renewal in days.
    pub renewal_min_days: u32,
    /// Most renewals of one stake (None: unlimited).
    pub max_renewals: Option<u32>,
}

/// One allowed compute term and its multiplier of E (fixed point, [`E_SCALE`] = x1).
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct ComputeTerm {
    /// Term length in days.
    pub days: u32,
    /// Multiplier of E, fixed point with 4 decimals (14_000 = x1.4).
    pub multiplier: u64,
}

/// Default of [`Params::max_compute_candidates`].
pub const DEFAULT_MAX_COMPUTE_CANDIDATES: u32 = 64;
/// Default of [`Params::candidate_epochs`].
pub const DEFAULT_CANDIDATE_EPOCHS: u32 = 3;
/// Default of [`Params::address_change_interval_secs`] (1 hour).
pub const DEFAULT_ADDRESS_CHANGE_INTERVAL_SECS: u64 = 3_600;

impl Params {
    /// [`Params::max_compute_candidates`] with its default.
    pub fn max_compute_candidates(&self) -> u32 {
        self.max_compute_candidates
            .unwrap_or(DEFAULT_MAX_COMPUTE_CANDIDATES)
    }

    /// [`Params::candidate_epochs`] with its default.
    pub fn candidate_epochs(&self) -> u32 {
        self.candidate_epochs.unwrap_or(DEFAULT_CANDIDATE_EPOCHS)
    }

    /// [`Params::address_change_interval_secs`] with its default.
    pub fn address_change_interval_secs(&self) -> u64 {
        self.address_change_interval_secs
            .unwrap_or(DEFAULT_ADDRESS_CHANGE_INTERVAL_SECS)
    }
}

/// Governance parameters (spec 3, 4; defaults from the spec).
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// Validator terms (1,000,000 EMC, 360 days, one renewal of at least 180 days).
    pub validator: RoleTerms,
    /// Router terms (100,000 EMC, 180 days, unlimited renewals of at least 90 days).
    pub router: RoleTerms,
    /// Compute terms and multipliers (7/30/90/180 days: x1.4/x2.7/x6.2/x10).
    pub compute_terms: Vec<ComputeTerm>,
    /// Stake of a staked compute node per unit of E, e8s (1000 EMC).
    pub compute_stake_per_e_e8s: u64,
    /// Validator penalty per period of missed consensus, e8s (115.7 EMC).
    pub validator_penalty_e8s: u64,
    /// Length of that period in minutes (60).
    pub validator_penalty_minutes: u32,
    /// Router penalty per offline period, e8s (3.86 EMC).
    pub router_penalty_e8s: u64,
    /// Length of that period in minutes (10).
    pub router_penalty_minutes: u32,
    /// Compute penalty period in minutes (60): stake / term_days / 24 per period.
    pub compute_penalty_minutes: u32,
    /// Voting period of an impeachment, seconds (7 days).
    pub impeachment_period_secs: u64,
    /// Voting period after a validator's key-leak report, seconds (2 hours).
    pub key_leak_period_secs: u64,
    /// Epoch length, seconds (24 hours).
    pub epoch_length_secs: u64,
    /// Lifetime of a registration nonce, seconds (10 minutes).
    pub nonce_ttl_secs: u64,
    /// Most compute candidates (live compute nodes not yet admitted by a passed PoC) one
    /// epoch's node snapshot lists, oldest queued first (None: 64). Bounds the validators'
    /// per-epoch work on newcomers. `opt` so that stored configurations and proposals written
    /// before it still decode.
    pub max_compute_candidates: Option<u32>,
    /// Epoch snapshots a compute candidate is listed in without being admitted before it
    /// leaves the candidate queue (None: 3); its owner may queue it again
    /// (`requeue_candidate`), at the back.
    pub candidate_epochs: Option<u32>,
    /// Shortest interval between two changes of a node's network address, seconds (None: 1
    /// hour); the first change after registration is always allowed.
    pub address_change_interval_secs: Option<u64>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            validator: RoleTerms {
                min_stake_e8s: 1_000_000 * E8S,
                min_term_days: 360,
                renewal_min_days: 180,
                max_renewals: Some(1),
            },
            router: RoleTerms {
                min_stake_e8s: 100_000 * E8S,
                min_term_days: 180,
                renewal_min_days: 90,
                max_renewals: None,
            },
            compute_terms: vec![
                ComputeTerm {
                    days: 7,
                    multiplier: 14_000,
                },
                ComputeTerm {
                    days: 30,
                    multiplier: 27_000,
                },
                ComputeTerm {
                    days: 90,
                    multiplier: 62_000,
                },
                ComputeTerm {
                    days: 180,
                    multiplier: 100_000,
                },
            ],
            compute_stake_per_e_e8s: 1_000 * E8S,
            validator_penalty_e8s: 11_570_000_000,
            validator_penalty_minutes: 60,
            router_penalty_e8s: 386_000_000,
            router_penalty_minutes: 10,
            compute_penalty_minutes: 60,
            impeachment_period_secs: 7 * 86_400,
            key_leak_period_secs: 2 * 3_600,
            epoch_length_secs: 86_400,
            nonce_ttl_secs: 600,
            max_compute_candidates: Some(DEFAULT_MAX_COMPUTE_CANDIDATES),
            candidate_epochs: Some(DEFAULT_CANDIDATE_EPOCHS),
            address_change_interval_secs: Some(DEFAULT_ADDRESS_CHANGE_INTERVAL_SECS),
        }
    }
}

/// Install argument.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct InitArgs {
    /// The $EMC ledger (ICRC-1/2).
    pub ledger: Principal,
    /// The governance principal (SNS governance): the only caller of `execute_*`.
    pub governance: Principal,
    /// Where penalties and confiscated stakes go.
    pub treasury: Account,
    /// The epochs canister (the only caller of `apply_penalties`); settable later by governance.
    pub epochs_canister: Option<Principal>,
    /// The ledger's transfer fee in e8s (default 10,000); corrected automatically on `BadFee`.
    pub ledger_fee_e8s: Option<u64>,
    /// Parameters (spec defaults when absent).
    pub params: Option<Params>,
    /// Start of epoch 0, ns since the Unix epoch (install time when absent). It may lie up to
    /// 30 days ahead (the network's launch): epoch 0's validator set is taken when it arrives,
    /// so the first validators can register and stake before it.
    pub genesis_time: Option<u64>,
}

/// Upgrade argument (nothing to change yet: parameters change through governance methods).
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // decoded once per install
pub enum RegistryArg {
    /// Fresh install.
    Init(InitArgs),
    /// Upgrade.
    Upgrade,
}

/// The stored configuration (everything governance can change, plus fixed install facts).
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct Config {
    /// The ledger.
    pub ledger: Principal,
    /// Governance.
    pub governance: Principal,
    /// Treasury account.
    pub treasury: Account,
    /// Trusted epochs canister.
    pub epochs_canister: Option<Principal>,
    /// Parameters.
    pub params: Params,
    /// Start of epoch 0.
    pub genesis_time: u64,
}

/// Registration request (the caller is the owner).
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct RegisterArgs {
    /// Role.
    pub role: Role,
    /// The node's ed25519 public key (32 bytes): its node id.
    pub public_key: ByteBuf,
    /// Network address (host:port or multiaddr), 1 to 256 bytes.
    pub network_address: String,
    /// Region, 1 to 64 bytes.
    pub region: String,
    /// Hardware description, at most 1024 bytes.
    pub hardware: String,
    /// ed25519 signature of [`crate::rules::registration_message`] by the node key (64 bytes).
    pub signature: ByteBuf,
}

/// Metadata update by the owner; absent fields are unchanged.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct UpdateNodeArgs {
    /// The node.
    pub node_id: NodeId,
    /// New network address.
    pub network_address: Option<String>,
    /// New region.
    pub region: Option<String>,
    /// New hardware description.
    pub hardware: Option<String>,
}

/// Staking request (the owner approved `amount_e8s + fee` for the registry on the ledger).
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct StakeArgs {
    /// The node.
    pub node_id: NodeId,
    /// Stake in e8s (arrives whole in the node's subaccount; the owner also pays the ledger fee).
    pub amount_e8s: u64,
    /// Term in days.
    pub term_days: u32,
}

/// Renewal request.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct RenewArgs {
    /// The node.
    pub node_id: NodeId,
    /// Extension in days.
    pub days: u32,
}

/// Lifecycle state of a node.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Registered and in its role.
    Live,
    /// Retired by its owner at this time.
    Retired {
        /// When.
        at: u64,
    },
    /// Removed from its role by an impeachment case.
    Impeached {
        /// When.
        at: u64,
        /// The case.
        case_id: u64,
    },
}

/// The current stake term of a node.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Term {
    /// Start (ledger confirmation time), ns.
    pub start: u64,
    /// End, ns: the stake is released automatically at or shortly after it (later under an
    /// open impeachment case, and for a validator a margin of epochs after its last set).
    pub end: u64,
    /// Days of the last period (the first term or the last renewal).
    pub term_days: u32,
    /// Renewals so far.
    pub renewals: u32,
    /// E multiplier of the term (fixed point; compute only, [`E_SCALE`] otherwise).
    pub multiplier: u64,
    /// The end was reached and processed (release pending or done).
    pub expired: bool,
}

/// A registered node (stored record and query result).
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct Node {
    /// Node id = ed25519 public key.
    pub id: NodeId,
    /// Role.
    pub role: Role,
    /// Owner (gets rewards and released stakes).
    pub owner: Principal,
    /// Network address.
    pub network_address: String,
    /// Region.
    pub region: String,
    /// Hardware description.
    pub hardware: String,
    /// Registration time.
    pub registered_at: u64,
    /// Lifecycle state.
    pub state: NodeState,
    /// Suspended: stake under the role's minimum after penalties (until the stake is released).
    pub suspended: bool,
    /// The stake term, while tokens are locked.
    pub term: Option<Term>,
    /// Tokens confirmed by the ledger in the node's subaccount, e8s.
    pub stake_e8s: u64,
    /// Penalties decided but not yet moved to the treasury, e8s (part of `stake_e8s`).
    pub penalty_due_e8s: u64,
    /// The journal movement in flight for this node (at most one).
    pub pending_movement: Option<u64>,
    /// The compute node's last PoC E (fixed point), reported by the epochs canister.
    pub poc_e: u64,
}

/// Stake view of a node.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct StakeInfo {
    /// Tokens held for the node, e8s.
    pub stake_e8s: u64,
    /// Penalties not yet moved, e8s.
    pub penalty_due_e8s: u64,
    /// The term.
    pub term: Option<Term>,
    /// The node's subaccount of the registry on the ledger.
    pub account: Account,
    /// Whether the node is an active member of its role now.
    pub active: bool,
    /// Suspended.
    pub suspended: bool,
}

/// What a journal movement does.
#[derive(CandidType, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MovementKind {
    /// Owner -> node subaccount (icrc2_transfer_from).
    StakePull,
    /// Node subaccount -> owner at term end.
    Release,
    /// Node subaccount -> treasury (penalties).
    Penalty,
    /// Node subaccount -> treasury (whole stake, impeachment).
    Confiscate,
}

/// Journal status of a movement.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum MovementStatus {
    /// Recorded; the ledger has not confirmed it yet (retried).
    Pending,
    /// Confirmed by the ledger in this block.
    Done {
        /// Ledger block index.
        block: u64,
    },
    /// The ledger refused it: nothing moved.
    Failed {
        /// Why.
        reason: String,
    },
    /// Still unconfirmed after the ledger's deduplication window: a retry could pay twice,
    /// so it waits for governance (`execute_resolve_movement`) after a look at the ledger blocks.
    Stuck,
}

/// A journal entry: one token movement on the ledger, recorded before the call.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct Movement {
    /// Id (also the memo: `b"emc-reg:" || id_be64`).
    pub id: u64,
    /// The node.
    pub node_id: NodeId,
    /// Kind.
    pub kind: MovementKind,
    /// Source account.
    pub from: Account,
    /// Destination account.
    pub to: Account,
    /// Amount received by `to`, e8s.
    pub amount_e8s: u64,
    /// Ledger fee paid by `from`, e8s.
    pub fee_e8s: u64,
    /// `created_at_time` sent to the ledger (the deduplication key with the memo).
    pub created_at_time: u64,
    /// Term requested (stake pulls).
    pub term_days: u32,
    /// Status.
    pub status: MovementStatus,
    /// Ledger calls made.
    pub attempts: u32,
    /// Last time the entry changed.
    pub updated_at: u64,
}

/// What a ledger call gave (the shell maps replies and rejects to this).
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum LedgerOutcome {
    /// Executed in this block (`Ok` or `Duplicate { duplicate_of }`).
    Done(u64),
    /// The ledger says the fee is this.
    BadFee(u64),
    /// Definitive refusal: nothing moved.
    Refused(String),
    /// The call failed (reject, trap, stopped ledger, undecodable reply): unknown, retry.
    Unavailable(String),
}

/// Penalty facts of one node from accepted checkpoints.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct PenaltyReport {
    /// The node.
    pub node_id: NodeId,
    /// Minutes missed (validator), offline (router) or without consensus (compute).
    pub missed_minutes: u64,
}

/// A compute node's PoC E as the epochs canister reports it after an epoch closes.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct ComputeE {
    /// The compute node.
    pub node_id: NodeId,
    /// Its PoC E, fixed point ([`E_SCALE`] = 1.0).
    pub e_fixed: u64,
}

/// Result of one node's penalty.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct PenaltyApplied {
    /// The node.
    pub node_id: NodeId,
    /// Penalty decided, e8s (capped by what the stake still holds).
    pub penalty_e8s: u64,
    /// The node is suspended after it.
    pub suspended: bool,
}

/// Status of an impeachment case.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum CaseStatus {
    /// Voting.
    Open,
    /// Majority yes: the node lost its role and its stake.
    Upheld {
        /// When.
        at: u64,
    },
    /// No majority by the deadline (or a majority can no longer be reached).
    Rejected {
        /// When.
        at: u64,
    },
}

/// An impeachment case.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// Id.
    pub id: u64,
    /// The accused node.
    pub target: NodeId,
    /// Its role.
    pub role: Role,
    /// The accuser (None: the target's own key-leak report).
    pub opened_by: Option<NodeId>,
    /// Reason.
    pub reason: String,
    /// Opening time.
    pub opened_at: u64,
    /// Voting deadline.
    pub deadline: u64,
    /// Active members of the role at opening, the target excluded.
    pub electorate: u64,
    /// Yes votes.
    pub yes: u64,
    /// No votes.
    pub no: u64,
    /// Status.
    pub status: CaseStatus,
}

/// Opening a case.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct OpenCaseArgs {
    /// The caller's node that accuses (an active member of the target's role).
    pub accuser: NodeId,
    /// The accused.
    pub target: NodeId,
    /// Reason, 1 to 1024 bytes.
    pub reason: String,
}

/// A vote.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct VoteArgs {
    /// Case.
    pub case_id: u64,
    /// The caller's voting node.
    pub voter: NodeId,
    /// Yes removes the node.
    pub yes: bool,
}

/// The validator set of an epoch as the registry fixed it.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct ValidatorSetSnapshot {
    /// The set (members are node ids = ed25519 public keys, ordered by id bytes). Empty when
    /// no validator was eligible.
    pub set: emc_types::ValidatorSet,
    /// `set.id()`.
    pub set_id: emc_types::Hash,
    /// When the snapshot was taken (at or after the epoch start).
    pub taken_at: u64,
    /// Eligible validators at that time.
    pub eligible: u64,
}

/// One node of an epoch's node snapshot: what the validators build that epoch's reward
/// records from, fixed when the epoch's validator set is taken.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct EpochNode {
    /// Node id (ed25519 public key).
    pub id: NodeId,
    /// Owner at the snapshot (gets the node's rewards).
    pub owner: Principal,
    /// Role.
    pub role: Role,
    /// Stake net of the penalties due at the snapshot, e8s.
    pub stake_e8s: u64,
    /// Multiplier of E at the snapshot (fixed point, [`E_SCALE`] = x1): a compute node's
    /// `e_multiplier`; [`E_SCALE`] for validators and routers.
    pub multiplier: u64,
    /// A compute candidate: live but not admitted yet (no passed PoC reported); listed so
    /// that the validators challenge it. False for members.
    pub candidate: bool,
}

/// A compute node's place in the candidate queue (`candidate` query).
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct CandidateInfo {
    /// When it was queued (registration or re-queue), ns: the queue is ordered by it.
    pub queued_at: u64,
    /// Epoch snapshots that listed it so far.
    pub listed_epochs: u32,
}

/// A page request of an epoch's node snapshot.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct EpochNodesArgs {
    /// The epoch.
    pub epoch: u64,
    /// The page starts after this node id (None: from the first node).
    pub start_after: Option<NodeId>,
    /// Most nodes in the page (0 or anything above 2,000 means 2,000).
    pub limit: u32,
}

/// A page of an epoch's node snapshot.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct EpochNodesPage {
    /// The epoch.
    pub epoch: u64,
    /// The nodes of the page, ordered by node id bytes.
    pub nodes: Vec<EpochNode>,
    /// Pass as `start_after` for the next page; None on the last page.
    pub next: Option<NodeId>,
    /// Nodes in the whole snapshot.
    pub total: u64,
}

/// Epoch clock.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct EpochInfo {
    /// The latest epoch whose snapshot is taken.
    pub epoch: u64,
    /// Its start.
    pub start: u64,
    /// Start of the next epoch.
    pub next_start: u64,
}

/// Registry counters.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Stats {
    /// Registered nodes (all states).
    pub nodes: u64,
    /// Active members per role (validator, router, compute).
    pub active: Vec<u64>,
    /// Sum of the stakes held, e8s.
    pub total_stake_e8s: u64,
    /// Pending journal movements.
    pub pending_movements: u64,
    /// Journal entries.
    pub movements: u64,
    /// The ledger fee in use.
    pub ledger_fee_e8s: u64,
}

/// Errors of registry calls: typed, and a failed call changes nothing.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Anonymous callers cannot own nodes.
    #[error("the anonymous principal cannot call this")]
    Anonymous,
    /// The caller does not own the node.
    #[error("the caller does not own this node")]
    NotOwner,
    /// Only governance may call this.
    #[error("only governance may call this")]
    NotGovernance,
    /// Only the epochs canister may call this.
    #[error("only the epochs canister may call this")]
    NotEpochsCanister,
    /// Unknown node.
    #[error("no such node")]
    NodeNotFound,
    /// The key is registered already (one node per key, forever).
    #[error("this public key is already registered")]
    KeyAlreadyRegistered,
    /// Not a valid ed25519 public key.
    #[error("invalid ed25519 public key")]
    BadPublicKey,
    /// The signature does not verify.
    #[error("the node signature does not verify")]
    BadSignature,
    /// No unexpired nonce for the caller.
    #[error("no valid registration nonce: call registration_nonce first")]
    NoNonce,
    /// A bad argument.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Stake under the minimum.
    #[error("stake under the minimum of {minimum_e8s} e8s")]
    StakeBelowMinimum {
        /// Minimum.
        minimum_e8s: u64,
    },
    /// A term that the role's rules refuse.
    #[error("term refused: {0}")]
    BadTerm(String),
    /// The node has a stake already.
    #[error("the node is already staked")]
    AlreadyStaked,
    /// The node has no running stake.
    #[error("the node has no running stake")]
    NotStaked,
    /// The node is retired or impeached.
    #[error("the node is not live")]
    NodeNotLive,
    /// A ledger movement of the node is in flight.
    #[error("movement {0} of this node is pending")]
    MovementPending(u64),
    /// The ledger refused the movement: nothing moved.
    #[error("the ledger refused: {0}")]
    LedgerRefused(String),
    /// The ledger could not be reached; the movement stays in the journal and is retried.
    #[error("ledger unavailable ({reason}); movement {movement_id} is retried")]
    LedgerUnavailable {
        /// Journal id.
        movement_id: u64,
        /// Why.
        reason: String,
    },
    /// Unknown case or movement.
    #[error("not found")]
    NotFound,
    /// The case is closed.
    #[error("the case is closed")]
    CaseClosed,
    /// An open case exists against the node.
    #[error("case {0} is already open against this node")]
    CaseAlreadyOpen(u64),
    /// The voter or accuser is not an active member of the role (or is the target).
    #[error("not an eligible member of the role")]
    NotEligible,
    /// This node voted already.
    #[error("this node has voted already")]
    AlreadyVoted,
    /// The node's network address changed less than `address_change_interval_secs` ago.
    #[error("the network address may change again at {next_allowed_at} (ns)")]
    AddressChangeTooSoon {
        /// The earliest time of the next change, ns.
        next_allowed_at: u64,
    },
    /// Stable storage failure.
    #[error("storage: {0}")]
    Storage(String),
}

/// Governance's settlement of a `Stuck` movement.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct ResolveMovementArgs {
    /// The movement.
    pub movement_id: u64,
    /// The ledger block that executed it (its memo names the movement), or None when the
    /// ledger holds no such block.
    pub executed_in_block: Option<u64>,
}
