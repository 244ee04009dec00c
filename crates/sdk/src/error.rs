//! [`SdkError`]: every way an SDK call fails.

use crate::amount::AmountError;
use emc_ic_client::IcError;
use icrc_ledger_types::icrc1::transfer::TransferError;
use icrc_ledger_types::icrc2::approve::ApproveError;

/// Why an SDK call failed. A canister's own refusal is kept typed (`Transfer`, `Registry`, …);
/// [`SdkError::Ic`] means no usable reply (the replica is down, the call was rejected, …).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SdkError {
    /// The call produced no usable reply.
    #[error("{0}")]
    Ic(#[from] IcError),
    /// A bad setting (config file, URL, identity, canister id).
    #[error("configuration: {0}")]
    Config(String),
    /// A bad argument from the caller (an amount, a node id, an account).
    #[error("{0}")]
    Input(String),
    /// A typed amount is not valid.
    #[error(transparent)]
    Amount(#[from] AmountError),
    /// The ledger refused a transfer.
    #[error("the ledger refused the transfer: {0}")]
    Transfer(TransferError),
    /// The ledger refused an approval.
    #[error("the ledger refused the approval: {0}")]
    Approve(ApproveError),
    /// The registry refused.
    #[error("the registry refused: {0}")]
    Registry(emc_registry::RegistryError),
    /// The market refused.
    #[error("the market refused: {0}")]
    Market(emc_market::MarketError),
    /// The sockets canister refused an ICRC-7 transfer (or an ICRC-37 `transfer_from`).
    #[error("the sockets canister refused to move socket {token_id}: {}", crate::sockets::transfer_error_text(.error))]
    SocketTransfer {
        /// The socket.
        token_id: u64,
        /// The canister's ICRC-7 error.
        error: emc_sockets::TransferError,
    },
    /// The sockets canister refused an ICRC-37 approval.
    #[error("the sockets canister refused the approval of socket {token_id}: {error:?}")]
    SocketApprove {
        /// The socket.
        token_id: u64,
        /// The canister's ICRC-37 error.
        error: emc_sockets::ApproveTokenError,
    },
    /// Something asked for does not exist (an unknown node, offer, checkpoint).
    #[error("not found: {0}")]
    NotFound(String),
    /// A compute call through a router failed.
    #[error("compute: {0}")]
    Compute(String),
}

impl SdkError {
    /// Whether the replica could not be reached (retrying later may succeed).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, SdkError::Ic(IcError::Transport(_)))
    }
}
