//! Candid types of the market canister (arguments, results, stored records).

use candid::{CandidType, Principal};
use emc_types::{ComputeReceipt, CosignError, Cosignature, Hash, MeterUnit, NodeId, Signature};
use icrc_ledger_types::icrc1::account::Account;
use serde::{Deserialize, Serialize};

/// Governance parameters (spec 9 and 11.1; changed by `execute_set_params`).
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct Params {
    /// The treasury's share of a trade, basis points (2,000 = 20%; the provider gets the rest).
    pub trading_fee_bps: u32,
    /// Cap of a trade's total trading reward as a fraction of its fee, basis points; strictly
    /// below 10,000 so that a self-dealing trader always loses (default 9,000 = 0.9).
    pub trade_reward_cap_bps: u32,
    /// Most trading reward one account receives in one epoch, e8s (default 10,000 EMC).
    pub account_epoch_reward_cap_e8s: u64,
    /// Time between a buyer's withdrawal request and the withdrawal, ns (default 48 hours:
    /// longer than a checkpoint period plus the challenge window, so receipts of calls the
    /// routers admitted before the request can still settle).
    pub withdrawal_notice_ns: u64,
    /// The ledger's transfer fee, e8s: paid by the buyer's escrow for each transfer out of it.
    pub ledger_fee_e8s: u64,
    /// Most receipts in one `settle_batch` call.
    pub max_batch: u32,
    /// Most live offers of one provider.
    pub max_offers_per_provider: u32,
    /// Whether the market checks each receipt's user signature itself (default true): then a
    /// buyer's escrow moves only on its own key's signature, even if a validator quorum
    /// colluded. Off, the market relies on the quorum-signed receipts root alone (validators
    /// admit a receipt only with both signatures valid), about half the instructions of a batch.
    pub verify_user_signatures: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            trading_fee_bps: 2_000,
            trade_reward_cap_bps: 9_000,
            account_epoch_reward_cap_e8s: 10_000 * 100_000_000,
            withdrawal_notice_ns: 48 * 3600 * 1_000_000_000,
            ledger_fee_e8s: 10_000,
            max_batch: 1_000,
            max_offers_per_provider: 1_000,
            verify_user_signatures: true,
        }
    }
}

/// Install argument.
#[derive(Clone, Debug, CandidType, Serialize, Deserialize)]
pub struct InitArgs {
    /// The $EMC ledger (ICRC-1/2).
    pub ledger: Principal,
    /// The epochs canister: final checkpoints' receipts roots, and the minter of trading
    /// rewards (it is the ledger's minting account).
    pub epochs: Principal,
    /// The node registry: who owns a compute node.
    pub registry: Principal,
    /// Governance (SNS): the only caller of `execute_*`.
    pub governance: Principal,
    /// Where the 20% fee goes.
    pub treasury: Account,
    /// The epoch the market opens: trading period 1 starts here (spec 9).
    pub market_open_epoch: u64,
    /// Parameters (defaults when absent).
    pub params: Option<Params>,
}

/// Install or upgrade argument (decoded once per install: its size does not matter).
#[derive(Clone, Debug, CandidType, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum MarketArg {
    /// Fresh install.
    Init(InitArgs),
    /// Upgrade (parameters change through governance methods).
    Upgrade,
}

/// The stored configuration.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct Config {
    /// The ledger.
    pub ledger: Principal,
    /// The epochs canister.
    pub epochs: Principal,
    /// The registry.
    pub registry: Principal,
    /// Governance.
    pub governance: Principal,
    /// The treasury account.
    pub treasury: Account,
    /// First epoch of trading period 1.
    pub market_open_epoch: u64,
    /// Parameters.
    pub params: Params,
}

/// A provider's new offer.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct OfferArgs {
    /// The compute node that serves it (its owner must be the caller).
    pub node: NodeId,
    /// App or model, 1 to 128 bytes (e.g. "llama-3-8b-instruct").
    pub app: String,
    /// The app's meter.
    pub unit: MeterUnit,
    /// Price of one unit, e8s (positive).
    pub price_e8s: u64,
    /// Units the node serves per second (positive).
    pub capacity: u64,
}

/// A change of an offer; absent fields are unchanged.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct UpdateOfferArgs {
    /// The offer.
    pub id: u64,
    /// New price, e8s (positive).
    pub price_e8s: Option<u64>,
    /// New capacity (positive).
    pub capacity: Option<u64>,
}

/// A listed offer.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct Offer {
    /// Id.
    pub id: u64,
    /// The provider: the node's owner, paid for the node's receipts.
    pub provider: Principal,
    /// The node.
    pub node: NodeId,
    /// App or model.
    pub app: String,
    /// Meter.
    pub unit: MeterUnit,
    /// Price per unit, e8s.
    pub price_e8s: u64,
    /// Capacity (units per second).
    pub capacity: u64,
    /// Listing time, ns.
    pub created_at: u64,
    /// Last change, ns.
    pub updated_at: u64,
}

/// A buyer's pending withdrawal.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct WithdrawalRequest {
    /// Amount asked for, e8s (what is left of it at `unlock_at` is paid out).
    pub amount_e8s: u64,
    /// When the notice period ends, ns.
    pub unlock_at: u64,
}

/// A buyer's escrow as stored. Books: `deposited = spent + fees + withdrawn + balance`.
#[derive(Clone, Debug, Default, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct Escrow {
    /// Confirmed deposits, e8s.
    pub deposited_e8s: u64,
    /// Settled trade amounts, e8s (to providers and the treasury).
    pub spent_e8s: u64,
    /// Ledger fees of the transfers that paid its trades, e8s.
    pub fees_e8s: u64,
    /// Withdrawn (ledger fee included), e8s.
    pub withdrawn_e8s: u64,
    /// Held, e8s.
    pub balance_e8s: u64,
    /// The pending withdrawal.
    pub withdrawal: Option<WithdrawalRequest>,
}

/// A buyer's escrow as shown.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct EscrowView {
    /// The buyer.
    pub buyer: Principal,
    /// The market's subaccount holding it on the ledger.
    pub subaccount: serde_bytes::ByteBuf,
    /// Held, e8s.
    pub balance_e8s: u64,
    /// Settled trade amounts so far, e8s.
    pub spent_e8s: u64,
    /// Ledger fees paid by the escrow, e8s.
    pub fees_e8s: u64,
    /// Confirmed deposits, e8s.
    pub deposited_e8s: u64,
    /// Withdrawn, e8s.
    pub withdrawn_e8s: u64,
    /// What receipts may still claim and the buyer cannot take out now: `balance - withdrawable`.
    pub reserved_e8s: u64,
    /// What `withdraw` pays out now (the request's amount, once its notice has passed).
    pub withdrawable_e8s: u64,
    /// What routers may admit new calls against: `balance` less a pending withdrawal.
    pub available_e8s: u64,
    /// The pending withdrawal.
    pub withdrawal: Option<WithdrawalRequest>,
}

/// What a router reads to admit a call: the escrow behind a user key.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct Admission {
    /// The user key.
    pub user: NodeId,
    /// The buyer it is bound to.
    pub buyer: Principal,
    /// Credit available to new calls, e8s.
    pub available_e8s: u64,
}

/// A lane a router asks about: the compute node and the epoch (the user is the query's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct LaneRef {
    /// The compute node.
    pub node: NodeId,
    /// The lane's epoch.
    pub epoch: u64,
}

/// A user's admission and what the market has paid on some of its lanes, read at one
/// instant: a router subtracts the receipts it has seen but the market has not yet settled.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct AdmissionLanes {
    /// The escrow behind the key.
    pub admission: Admission,
    /// e8s settled so far on each lane asked, in the order asked (at most
    /// [`crate::market::MAX_LANES_ASKED`]).
    pub paid_e8s: Vec<u64>,
}

/// Binds a user key (the ed25519 key that countersigns receipts) to the caller's escrow.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct BindKeyArgs {
    /// The key.
    pub key: NodeId,
    /// Its signature of [`crate::market::bind_message`] for the caller (proof of possession).
    pub signature: Signature,
}

/// One receipt with its inclusion proof in a final checkpoint's `receipts_root`.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct ReceiptProof {
    /// The receipt (the latest of its lane the submitter knows).
    pub receipt: ComputeReceipt,
    /// Height of the accepted checkpoint whose period holds it.
    pub checkpoint_height: u64,
    /// Its leaf's index in the period's tree.
    pub leaf_index: u64,
    /// Leaves in the period's tree.
    pub leaf_count: u64,
    /// Sibling hashes from the leaf up (`emc_types::merkle::inclusion_proof`).
    pub proof: Vec<Hash>,
    /// A compute pool's receipt (its node is a pool's entry): one co-signature by each other
    /// active member (`emc_types::pool`). None or empty for any other receipt. Optional so
    /// that callers that predate pools still encode a valid argument.
    pub cosignatures: Option<Vec<Cosignature>>,
}

/// A trade: what one receipt settled.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct Trade {
    /// The user key (the lane's payer).
    pub user: NodeId,
    /// The compute node (the lane's payee).
    pub node: NodeId,
    /// The lane's epoch.
    pub epoch: u64,
    /// The receipt's nonce.
    pub nonce: u64,
    /// The receipt's cumulative amount.
    pub cumulative_e8s: u64,
    /// The lane's cumulative amount paid after this trade (below `cumulative_e8s` when the
    /// escrow fell short).
    pub paid_cumulative_e8s: u64,
    /// Settled now, e8s (M of spec 9).
    pub amount_e8s: u64,
    /// To the treasury (20%).
    pub treasury_fee_e8s: u64,
    /// To the provider (80%).
    pub provider_payment_e8s: u64,
    /// Trading reward minted to the buyer.
    pub user_reward_e8s: u64,
    /// Trading reward minted to the provider.
    pub provider_reward_e8s: u64,
    /// The trading period (0: before the market opened, no reward).
    pub period: u64,
    /// The buyer (escrow owner).
    pub buyer: Principal,
    /// The provider (the node's owner).
    pub provider: Principal,
    /// The checkpoint that proved the receipt.
    pub checkpoint_height: u64,
    /// Empty unless the node is a compute pool's entry: then the provider's payment and reward
    /// (the totals above) went to these owners of the pool's members, split by E.
    pub pool_shares: Vec<ProviderShare>,
}

/// A pool member's owner's part of a pool trade.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct ProviderShare {
    /// The owner.
    pub owner: Principal,
    /// Its part of the provider's 80 %, e8s.
    pub payment_e8s: u64,
    /// Its part of the provider's trading reward, e8s.
    pub reward_e8s: u64,
}

/// One entry of the market's event log.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub enum Event {
    /// An offer was listed.
    OfferPosted(Offer),
    /// An offer was changed.
    OfferUpdated(Offer),
    /// An offer was withdrawn.
    OfferWithdrawn {
        /// Its id.
        id: u64,
        /// Its provider.
        provider: Principal,
    },
    /// A user key was bound to an escrow.
    KeyBound {
        /// The buyer.
        buyer: Principal,
        /// The key.
        key: NodeId,
    },
    /// A deposit was confirmed by the ledger.
    Deposit {
        /// The buyer.
        buyer: Principal,
        /// Amount, e8s.
        amount_e8s: u64,
        /// Ledger block.
        block: u64,
    },
    /// A withdrawal was requested.
    WithdrawalRequested {
        /// The buyer.
        buyer: Principal,
        /// Amount, e8s.
        amount_e8s: u64,
        /// End of the notice.
        unlock_at: u64,
    },
    /// A withdrawal left the escrow (its transfer is journal entry `transfer`).
    Withdrawal {
        /// The buyer.
        buyer: Principal,
        /// Debited from the escrow (ledger fee included), e8s.
        amount_e8s: u64,
        /// Journal entry.
        transfer: u64,
    },
    /// A receipt settled.
    Trade(Trade),
    /// A socket was bought (its funding is journal entry `transfer`).
    SocketBought {
        /// Purchase id.
        purchase: u64,
        /// The buyer.
        buyer: Principal,
        /// The offer.
        offer_id: u64,
        /// Paid into the socket escrow, e8s.
        price_e8s: u64,
        /// Journal entry of the funding transfer.
        transfer: u64,
    },
    /// The sockets canister minted a purchase's socket.
    SocketMinted {
        /// Purchase id.
        purchase: u64,
        /// Token id.
        token_id: u64,
    },
}

/// A logged event, hash-chained (ICRC-3 style: `hash = sha256(parent_hash || body ||
/// timestamp_be64 || id_be64)`, the body being a trade's fixed layout (`storage::trade_body`)
/// or any other event's candid bytes; the tip's hash is the canister's certified data).
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct LoggedEvent {
    /// Index in the log.
    pub id: u64,
    /// Time, ns.
    pub timestamp: u64,
    /// The previous entry's hash (none for the first).
    pub parent_hash: Option<Hash>,
    /// This entry's hash.
    pub hash: Hash,
    /// The event.
    pub event: Event,
}

/// A page of the event log.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct EventsPage {
    /// Entries in the log.
    pub log_length: u64,
    /// The requested entries (at most 1,000).
    pub events: Vec<LoggedEvent>,
}

/// What a journal transfer does.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub enum TransferKind {
    /// `icrc2_transfer_from` of a buyer's deposit into its escrow subaccount.
    Deposit,
    /// A provider's 80% of settled trades, from a buyer's subaccount.
    ProviderPayment,
    /// The treasury's 20% of settled trades, from a buyer's subaccount.
    TreasuryFee,
    /// A buyer's withdrawal from its subaccount.
    Withdrawal,
    /// A trading reward, minted through the epochs canister.
    Reward,
    /// A socket purchase: the price from the buyer's subaccount to the socket escrow's.
    SocketFunding,
}

/// Journal status.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub enum TransferStatus {
    /// Not confirmed yet: retried with the same `created_at_time` and memo.
    Pending,
    /// Confirmed in this ledger block.
    Done {
        /// Block.
        block: u64,
    },
    /// Refused for good with nothing moved (a deposit without allowance or funds).
    Failed {
        /// The ledger's answer.
        reason: String,
    },
    /// Unconfirmed past the ledger's deduplication window: governance settles it.
    Stuck,
}

/// A journaled ledger call: written before the call, retried with the same `created_at_time`
/// and memo so the ledger deduplicates, marked when the ledger answers.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct Transfer {
    /// Id (its memo is `b"emc-mkt:" || id_be64`).
    pub id: u64,
    /// Kind.
    pub kind: TransferKind,
    /// The buyer whose escrow it concerns (none for rewards).
    pub buyer: Option<Principal>,
    /// The market's subaccount it is paid from (the buyer's escrow); none for a deposit (drawn
    /// from the buyer's default account by `icrc2_transfer_from`) and for a mint.
    pub from_subaccount: Option<[u8; 32]>,
    /// Destination.
    pub to: Account,
    /// Amount delivered, e8s.
    pub amount_e8s: u64,
    /// Ledger fee paid on top (0 for mints), e8s.
    pub fee_e8s: u64,
    /// `created_at_time` of the call.
    pub created_at_time: u64,
    /// Calls made.
    pub attempts: u32,
    /// Status.
    pub status: TransferStatus,
}

/// Governance's settlement of a `Stuck` transfer.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct ResolveTransferArgs {
    /// The transfer.
    pub id: u64,
    /// The ledger block that executed it (its memo names the transfer), or none: re-issued with
    /// a fresh `created_at_time`.
    pub executed_in_block: Option<u64>,
}

/// Counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct Stats {
    /// Offers listed now.
    pub offers: u64,
    /// Escrows opened.
    pub escrows: u64,
    /// Sum of escrow balances, e8s.
    pub escrow_held_e8s: u64,
    /// Receipts that settled a positive amount.
    pub trades: u64,
    /// Trade volume, e8s.
    pub volume_e8s: u64,
    /// Treasury fees, e8s.
    pub treasury_fees_e8s: u64,
    /// Trading rewards granted (minted or being minted), e8s; never above the 378M pool.
    pub rewards_e8s: u64,
    /// Pending journal entries.
    pub pending_transfers: u64,
    /// Events logged.
    pub events: u64,
}

/// Errors: typed; a refused call changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize, thiserror::Error)]
pub enum MarketError {
    /// Bad argument.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A zero amount.
    #[error("the amount must be positive")]
    ZeroAmount,
    /// An amount that overflows the books.
    #[error("amount overflows")]
    Overflow,
    /// The anonymous principal.
    #[error("the anonymous principal cannot trade")]
    Anonymous,
    /// Only governance.
    #[error("only governance may call this")]
    NotGovernance,
    /// The registry does not list the node.
    #[error("unknown node")]
    UnknownNode,
    /// The node is not a live compute node owned by the caller.
    #[error("not a provider: {0}")]
    NotProvider(String),
    /// No such offer.
    #[error("unknown offer {0}")]
    UnknownOffer(u64),
    /// The offer is someone else's.
    #[error("offer {0} belongs to another provider")]
    NotOfferOwner(u64),
    /// The provider has too many offers.
    #[error("at most {0} offers per provider")]
    TooManyOffers(u32),
    /// The key is bound already.
    #[error("the key is bound to an escrow already")]
    KeyAlreadyBound,
    /// The proof of possession does not verify.
    #[error("the key's signature does not verify")]
    BadKeySignature,
    /// The caller has no escrow.
    #[error("no escrow")]
    NoEscrow,
    /// Not enough in the escrow.
    #[error("insufficient escrow: {available_e8s} e8s available")]
    InsufficientEscrow {
        /// What is available.
        available_e8s: u64,
    },
    /// No pending withdrawal.
    #[error("no withdrawal requested")]
    NoWithdrawal,
    /// The notice period has not passed.
    #[error("the withdrawal unlocks at {unlock_at}")]
    NoticePending {
        /// When it unlocks.
        unlock_at: u64,
    },
    /// The epochs canister has no accepted checkpoint at this height.
    #[error("unknown checkpoint at height {0}")]
    UnknownCheckpoint(u64),
    /// The checkpoint is still in its challenge window.
    #[error("checkpoint {0} is not final yet")]
    CheckpointNotFinal(u64),
    /// The proof does not lead to the checkpoint's receipts root.
    #[error("the inclusion proof does not match the checkpoint's receipts root")]
    BadProof,
    /// The receipt's user key is bound to no escrow.
    #[error("the receipt's user key is bound to no escrow")]
    UnboundUser,
    /// The user's signature does not cover the receipt.
    #[error("the user's signature does not cover the receipt")]
    BadUserSignature,
    /// Everything up to this cumulative amount is settled already.
    #[error("lane settled up to {paid_e8s} e8s already")]
    Replayed {
        /// The lane's paid cumulative amount.
        paid_e8s: u64,
    },
    /// Too many receipts in one batch.
    #[error("at most {0} receipts per batch")]
    BatchTooLarge(u32),
    /// The ledger refused or could not be reached.
    #[error("ledger: {0}")]
    Ledger(String),
    /// Another canister could not be reached.
    #[error("call failed: {0}")]
    CallFailed(String),
    /// Unknown journal entry.
    #[error("not found")]
    NotFound,
    /// Storage failure.
    #[error("storage: {0}")]
    Storage(String),
    /// No socket with this token id was bought in this market.
    #[error("unknown socket {0}")]
    UnknownSocket(u64),
    /// The caller does not hold the socket.
    #[error("the caller does not hold socket {0}")]
    NotSocketHolder(u64),
    /// The socket has expired.
    #[error("socket {0} has expired")]
    SocketExpired(u64),
    /// The node is not an active member of the pool (or the caller does not own it).
    #[error("node {0:?} is not an active member of the pool owned by the caller")]
    NotPoolMember(NodeId),
    /// A pool receipt's co-signatures break the rule (`emc_types::pool`): which member is
    /// missing, which signature is bad, duplicated or foreign.
    #[error("co-signatures: {0}")]
    Cosignature(CosignError),
}
