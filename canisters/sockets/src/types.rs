//! The canister's candid types: ICRC-7 and ICRC-37 exactly as their `.did` files (field names,
//! variants), the socket record, and the canister's own arguments.

use candid::{CandidType, Nat, Principal};
use emc_types::Hash;
pub use icrc_ledger_types::icrc::generic_value::ICRC3Value as Value;
use icrc_ledger_types::icrc1::account::Account;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

// ------------------------------------------------------------------------------ ICRC-7

/// ICRC-7 `TransferArg`.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct TransferArg {
    /// The subaccount to transfer the token from.
    pub from_subaccount: Option<ByteBuf>,
    /// The recipient.
    pub to: Account,
    /// The token.
    pub token_id: Nat,
    /// Optional memo (at most `icrc7_max_memo_size` bytes).
    pub memo: Option<ByteBuf>,
    /// Deduplication time stamp (ns since the epoch).
    pub created_at_time: Option<u64>,
}

/// ICRC-7 `TransferError`.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum TransferError {
    NonExistingTokenId,
    InvalidRecipient,
    Unauthorized,
    TooOld,
    CreatedInFuture { ledger_time: u64 },
    Duplicate { duplicate_of: Nat },
    GenericError { error_code: Nat, message: String },
    GenericBatchError { error_code: Nat, message: String },
}

/// ICRC-7 `TransferResult`: `Ok` carries the block index.
pub type TransferResult = Result<Nat, TransferError>;

// ------------------------------------------------------------------------------ ICRC-37

/// ICRC-37 `ApprovalInfo`.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct ApprovalInfo {
    /// Approval is given to an ICRC account.
    pub spender: Account,
    /// The subaccount the token can be transferred out from with the approval.
    pub from_subaccount: Option<ByteBuf>,
    /// Expiry (ns since the epoch).
    pub expires_at: Option<u64>,
    /// Optional memo.
    pub memo: Option<ByteBuf>,
    /// Deduplication time stamp (mandatory here, as in the standard).
    pub created_at_time: u64,
}

/// ICRC-37 `ApproveTokenArg`.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct ApproveTokenArg {
    pub token_id: Nat,
    pub approval_info: ApprovalInfo,
}

/// ICRC-37 `ApproveTokenError`.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum ApproveTokenError {
    InvalidSpender,
    Unauthorized,
    NonExistingTokenId,
    TooOld,
    CreatedInFuture { ledger_time: u64 },
    GenericError { error_code: Nat, message: String },
    GenericBatchError { error_code: Nat, message: String },
}

/// ICRC-37 `ApproveTokenResult`.
pub type ApproveTokenResult = Result<Nat, ApproveTokenError>;

/// ICRC-37 `ApproveCollectionArg`.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct ApproveCollectionArg {
    pub approval_info: ApprovalInfo,
}

/// ICRC-37 `ApproveCollectionError`.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum ApproveCollectionError {
    InvalidSpender,
    TooOld,
    CreatedInFuture { ledger_time: u64 },
    GenericError { error_code: Nat, message: String },
    GenericBatchError { error_code: Nat, message: String },
}

/// ICRC-37 `ApproveCollectionResult` (the pure core's answer; the canister method returns
/// only the error, as the standard's `.did` does).
pub type ApproveCollectionResult = Result<Nat, ApproveCollectionError>;

/// ICRC-37 `RevokeTokenApprovalArg`.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct RevokeTokenApprovalArg {
    /// `None` revokes the token's approvals for every spender.
    pub spender: Option<Account>,
    pub from_subaccount: Option<ByteBuf>,
    pub token_id: Nat,
    pub memo: Option<ByteBuf>,
    pub created_at_time: Option<u64>,
}

/// ICRC-37 `RevokeTokenApprovalError`.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum RevokeTokenApprovalError {
    ApprovalDoesNotExist,
    Unauthorized,
    NonExistingTokenId,
    TooOld,
    CreatedInFuture { ledger_time: u64 },
    GenericError { error_code: Nat, message: String },
    GenericBatchError { error_code: Nat, message: String },
}

/// ICRC-37 `RevokeTokenApprovalResponse`.
pub type RevokeTokenApprovalResponse = Result<Nat, RevokeTokenApprovalError>;

/// ICRC-37 `RevokeCollectionApprovalArg`.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct RevokeCollectionApprovalArg {
    pub spender: Option<Account>,
    pub from_subaccount: Option<ByteBuf>,
    pub memo: Option<ByteBuf>,
    pub created_at_time: Option<u64>,
}

/// ICRC-37 `RevokeCollectionApprovalError`.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum RevokeCollectionApprovalError {
    ApprovalDoesNotExist,
    TooOld,
    CreatedInFuture { ledger_time: u64 },
    GenericError { error_code: Nat, message: String },
    GenericBatchError { error_code: Nat, message: String },
}

/// ICRC-37 `RevokeCollectionApprovalResult`.
pub type RevokeCollectionApprovalResult = Result<Nat, RevokeCollectionApprovalError>;

/// ICRC-37 `IsApprovedArg`.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct IsApprovedArg {
    pub spender: Account,
    pub from_subaccount: Option<ByteBuf>,
    pub token_id: Nat,
}

/// ICRC-37 `TokenApproval`.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct TokenApproval {
    pub token_id: Nat,
    pub approval_info: ApprovalInfo,
}

/// ICRC-37 `CollectionApproval`.
pub type CollectionApproval = ApprovalInfo;

/// ICRC-37 `TransferFromArg`.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct TransferFromArg {
    /// The subaccount of the caller (identifies the spender).
    pub spender_subaccount: Option<ByteBuf>,
    pub from: Account,
    pub to: Account,
    pub token_id: Nat,
    pub memo: Option<ByteBuf>,
    pub created_at_time: Option<u64>,
}

/// ICRC-37 `TransferFromError`.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum TransferFromError {
    InvalidRecipient,
    Unauthorized,
    NonExistingTokenId,
    TooOld,
    CreatedInFuture { ledger_time: u64 },
    Duplicate { duplicate_of: Nat },
    GenericError { error_code: Nat, message: String },
    GenericBatchError { error_code: Nat, message: String },
}

/// ICRC-37 `TransferFromResult`.
pub type TransferFromResult = Result<Nat, TransferFromError>;

/// ICRC-10 `SupportedStandard`.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct SupportedStandard {
    pub name: String,
    pub url: String,
}

// ------------------------------------------------------------------------------ sockets

/// What a socket stands for: a subscription to compute configured for one app, bought from one
/// offer. Fixed at mint.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct SocketTerms {
    /// The app (the offer's app id) whose calls the socket admits.
    pub app_id: String,
    /// Hash of the model the app serves.
    pub model_hash: Hash,
    /// Metered units the holder may use per period.
    pub units_per_period: u64,
    /// Period length, seconds (> 0).
    pub period_secs: u64,
    /// Expiry, ns since the epoch: no call is admitted and no transfer or approval is accepted
    /// from then on.
    pub expires_at: u64,
    /// The market offer it was bought from.
    pub offer_id: u64,
    /// The offer's provider.
    pub provider: Principal,
    /// What the buyer paid into the socket's escrow, e8s.
    pub paid_e8s: u64,
}

/// `mint_socket`'s argument (minters only: the market).
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct MintSocketArgs {
    /// The minter's id of the purchase: a mint repeated with the same id (a journal retry)
    /// returns the socket minted the first time and writes nothing.
    pub purchase_id: u64,
    /// The first holder.
    pub to: Account,
    /// The socket.
    pub terms: SocketTerms,
    /// Optional memo (at most `max_memo_size` bytes).
    pub memo: Option<ByteBuf>,
}

/// A socket as routers and wallets read it (`socket`).
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct SocketView {
    /// The token id.
    pub token_id: u64,
    /// The current holder.
    pub owner: Account,
    /// The terms.
    pub terms: SocketTerms,
    /// Mint time, ns.
    pub minted_at: u64,
    /// Holder changes since the mint (routers refresh their cache when it moves).
    pub transfers: u64,
    /// `expires_at <= now`.
    pub expired: bool,
}

/// The canister's own errors (minting, arguments).
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SocketError {
    /// The caller is not a minter.
    #[error("only a minter (the market) may mint sockets")]
    NotMinter,
    /// Bad argument.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The supply cap is reached.
    #[error("the supply cap {cap} is reached")]
    SupplyCapReached { cap: u64 },
    /// A storage failure (never expected).
    #[error("storage error: {0}")]
    Storage(String),
}

/// Install arguments.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct InitArgs {
    /// The principals allowed to mint (the market canister).
    pub minters: Vec<Principal>,
    /// The principal allowed to change the minters (governance).
    pub governance: Principal,
    /// Collection name (default "EMC Computing Sockets").
    pub name: Option<String>,
    /// Collection symbol (default "EMCS").
    pub symbol: Option<String>,
    /// Collection description.
    pub description: Option<String>,
    /// Limits (defaults: [`Limits::default`]).
    pub limits: Option<Limits>,
}

/// Install / upgrade argument.
#[allow(clippy::large_enum_variant)] // decoded once, at install
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum SocketsArg {
    Init(InitArgs),
    Upgrade,
}

/// The collection's limits (the ICRC-7 / ICRC-37 metadata values).
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub supply_cap: Option<u64>,
    pub max_query_batch_size: u64,
    pub max_update_batch_size: u64,
    pub default_take_value: u64,
    pub max_take_value: u64,
    pub max_memo_size: u64,
    /// Deduplication window, ns.
    pub tx_window_ns: u64,
    /// Permitted clock drift, ns.
    pub permitted_drift_ns: u64,
    pub max_approvals_per_token_or_collection: u64,
    pub max_revoke_approvals: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            supply_cap: None,
            max_query_batch_size: 100,
            max_update_batch_size: 20,
            default_take_value: 100,
            max_take_value: 500,
            max_memo_size: 32,
            tx_window_ns: 24 * 3_600 * 1_000_000_000,
            permitted_drift_ns: 120 * 1_000_000_000,
            max_approvals_per_token_or_collection: 10,
            max_revoke_approvals: 20,
        }
    }
}

/// The stored configuration.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub minters: Vec<Principal>,
    pub governance: Principal,
    pub name: String,
    pub symbol: String,
    pub description: Option<String>,
    pub limits: Limits,
}

/// Counters and the log tip.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Meta {
    /// The next token id (ids start at 1).
    pub next_token_id: u64,
    /// Live tokens.
    pub total_supply: u64,
    /// Blocks in the log.
    pub log_length: u64,
    /// The last block's hash.
    pub tip_hash: Option<Hash>,
}

/// A stored token.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub owner: Account,
    pub terms: SocketTerms,
    pub minted_at: u64,
    pub transfers: u64,
}
