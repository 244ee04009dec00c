//! The candid types of the DAO canister.

use candid::{CandidType, Principal};
use emc_types::Hash;
use icrc_ledger_types::icrc1::account::Account;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// Most bytes of an application's title.
pub const MAX_TITLE: usize = 200;
/// Most bytes of an application's description, and of an airdrop rule.
pub const MAX_TEXT: usize = 4_000;
/// Most milestones of an application.
pub const MAX_MILESTONES: usize = 20;
/// Most applications an applicant may have open (submitted, not granted or withdrawn).
pub const MAX_OPEN_APPLICATIONS: usize = 5;
/// Most proof hashes of a claim (a tree of up to 2^64 leaves).
pub const MAX_PROOF: usize = 64;

/// Install argument.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct InitArgs {
    /// The SNS governance canister: the only caller of `execute_*`.
    pub governance: Principal,
    /// The epochs canister that mints for this canister (`mint_dao_reward`).
    pub epochs: Principal,
}

/// The stored configuration.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Governance.
    pub governance: Principal,
    /// The epochs canister.
    pub epochs: Principal,
}

/// A milestone of an application.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Milestone {
    /// What is delivered.
    pub description: String,
    /// Its share of the amount, e8s.
    pub amount_e8s: u64,
}

/// `submit_application`'s argument.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct ApplicationArgs {
    /// What the developer builds.
    pub title: String,
    /// Details (links, team, plan).
    pub description: String,
    /// The requested amount, e8s: the sum of the milestones when there are any.
    pub amount_e8s: u64,
    /// The milestones.
    pub milestones: Vec<Milestone>,
    /// Where the grant is paid (the applicant's default account when absent).
    pub recipient: Option<Account>,
}

/// Where an application is.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum ApplicationStatus {
    /// Waiting for a DAO proposal.
    Submitted,
    /// Withdrawn by the applicant.
    Withdrawn,
    /// Granted by a proposal: `amount_e8s` is reserved in the pool and paid by `payment`.
    Granted {
        /// Granted amount, e8s.
        amount_e8s: u64,
        /// The payment in the journal.
        payment: u64,
    },
}

/// A stored application.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Application {
    /// Id (from 1).
    pub id: u64,
    /// The applicant (the caller of `submit_application`).
    pub applicant: Principal,
    /// The application as submitted (its recipient filled in).
    pub args: ApplicationArgs,
    /// Submission time, ns.
    pub submitted_at_ns: u64,
    /// Status.
    pub status: ApplicationStatus,
}

/// `validate_grant` / `execute_grant`'s payload.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct GrantArgs {
    /// The application.
    pub application_id: u64,
    /// The granted amount, e8s (positive, at most the requested amount).
    pub amount_e8s: u64,
}

/// `validate_create_airdrop_batch` / `execute_create_airdrop_batch`'s payload.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct AirdropBatchArgs {
    /// The rule the DAO voted, as text (who is in the batch and how much each gets).
    pub rule: String,
    /// Root of the Merkle tree (emc-types' RFC 6962 shape) of [`crate::airdrop_leaf`]s.
    pub merkle_root: Hash,
    /// Leaves in the tree.
    pub leaf_count: u64,
    /// Sum of the amounts, e8s: reserved in the 105M pool.
    pub total_e8s: u64,
}

/// A stored airdrop batch.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct AirdropBatch {
    /// Id (from 1).
    pub id: u64,
    /// As proposed.
    pub args: AirdropBatchArgs,
    /// Claimed so far, e8s.
    pub claimed_e8s: u64,
    /// Accounts that claimed.
    pub claims: u64,
    /// Creation time, ns.
    pub created_at_ns: u64,
}

/// `claim_airdrop`'s argument: the caller's account (caller + subaccount) and its leaf.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct ClaimArgs {
    /// The batch.
    pub batch_id: u64,
    /// The caller's subaccount in the leaf.
    pub subaccount: Option<ByteBuf>,
    /// The amount in the leaf, e8s.
    pub amount_e8s: u64,
    /// The leaf's index.
    pub leaf_index: u64,
    /// The inclusion proof.
    pub proof: Vec<Hash>,
}

/// Which pool a payment is from (the epochs canister's `DaoPool`).
#[derive(CandidType, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DaoPool {
    /// 252M.
    DeveloperGrants,
    /// 105M.
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

/// What a payment pays.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum PaymentSource {
    /// A granted application.
    Grant(u64),
    /// An airdrop claim: batch.
    Airdrop(u64),
}

/// A payment's state.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Not minted yet (retried by the timer).
    Pending,
    /// Minted in this ledger block.
    Paid(u64),
    /// Not minted within [`STUCK_AFTER_NS`] of its `created_at_time`: no longer retried (the
    /// ledger would refuse it as too old, and a re-issue could pay twice); governance settles
    /// it (`execute_resolve_payment`) after reading the ledger's blocks.
    Stuck,
}

/// A pending payment older than this (23 h, inside the ledger's 24 h deduplication window) is
/// `Stuck`.
pub const STUCK_AFTER_NS: u64 = 23 * 3_600 * 1_000_000_000;

/// `validate_resolve_payment` / `execute_resolve_payment`'s payload.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct ResolvePaymentArgs {
    /// The payment.
    pub id: u64,
    /// The ledger block that minted it (its memo names the payment), or none: it is re-issued
    /// with a fresh `created_at_time`.
    pub executed_in_block: Option<u64>,
}

/// A journaled payment.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    /// Id (from 1).
    pub id: u64,
    /// Pool.
    pub pool: DaoPool,
    /// What it pays.
    pub source: PaymentSource,
    /// Paid account.
    pub to: Account,
    /// Amount, e8s.
    pub amount_e8s: u64,
    /// The mint's fixed `created_at_time`.
    pub created_at_time: u64,
    /// Status.
    pub status: PaymentStatus,
}

/// The epochs canister's `DaoMint` (same candid).
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct DaoMint {
    /// Pool.
    pub pool: DaoPool,
    /// Paid account.
    pub to: Account,
    /// Amount, e8s.
    pub amount_e8s: u64,
    /// Fixed `created_at_time`.
    pub created_at_time: u64,
    /// Memo naming the payment.
    pub memo: ByteBuf,
}

/// Pool totals.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Developer grants granted (reserved), e8s.
    pub grants_reserved_e8s: u64,
    /// Developer grants paid, e8s.
    pub grants_paid_e8s: u64,
    /// Airdrop batches' totals (reserved), e8s.
    pub airdrop_reserved_e8s: u64,
    /// Airdrop claims paid, e8s.
    pub airdrop_paid_e8s: u64,
    /// Applications.
    pub applications: u64,
    /// Airdrop batches.
    pub batches: u64,
    /// Payments not minted yet.
    pub pending_payments: u64,
}

/// Refusals (a refused call changes nothing).
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DaoError {
    /// Only governance.
    #[error("only governance may call this")]
    NotGovernance,
    /// Not the applicant.
    #[error("only the applicant may do this")]
    NotApplicant,
    /// No such application / batch / payment.
    #[error("not found")]
    NotFound,
    /// The application is not waiting for a grant.
    #[error("the application is not open")]
    NotOpen,
    /// The pool's cap would be exceeded.
    #[error("the {0:?} pool would exceed its cap")]
    PoolExhausted(DaoPool),
    /// The account claimed from this batch already.
    #[error("this account claimed from this batch already")]
    AlreadyClaimed,
    /// The proof does not lead to the batch's root.
    #[error("the proof does not match the batch's Merkle root")]
    BadProof,
    /// The claims would exceed the batch's total.
    #[error("the batch's total is exhausted")]
    BatchExhausted,
    /// Bad argument.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}
