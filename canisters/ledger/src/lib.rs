//! # emc-ledger: the $EMC token ledger
//!
//! An ICRC-1 / ICRC-2 / ICRC-3 / ICRC-10 / ICRC-21 ledger whose whole state lives in
//! `ic-stable-structures` (see [`storage`] for the layout). The library is pure: no ic-cdk
//! calls; the caller and the time come in as arguments, so the same code runs natively in tests
//! (over `VectorMemory`) and in the canister (over the IC's stable memory).
//!
//! The canister shell (`src/api.rs`, compiled only for `wasm32`) decodes calls, reads the caller and
//! the clock, calls [`Ledger`] and sets the certified data after every update.
//!
//! Rules (beyond the standards):
//! * every amount is a u64 of e8s; the total supply never exceeds the supply cap (default
//!   2,100,000,000 EMC), and a mint past it is refused;
//! * fees go to the fee collector when one is set, otherwise they are burned; mints and burns
//!   pay no fee and the smallest burn is the fee;
//! * the anonymous principal cannot transact; a principal cannot approve a spender it owns
//!   (ICRC-2's SHOULD); `icrc2_transfer_from` by a spender whose account is `from` itself needs
//!   no allowance; the minting account cannot approve nor be the source of
//!   `icrc2_transfer_from` (no delegated mints);
//! * memos longer than `max_memo_length` (default 32) are refused with `GenericError`
//!   [`error_codes::MEMO_TOO_LONG`];
//! * an `icrc2_approve` amount above u64::MAX is recorded as u64::MAX (more than the supply);
//! * calls that fail change nothing (validation precedes every write).
#![cfg_attr(not(target_arch = "wasm32"), forbid(unsafe_code))]
#![cfg_attr(target_arch = "wasm32", deny(unsafe_code))]
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod account;
pub mod block;
pub mod config;
pub mod hashing;
pub mod icrc21;
pub mod interface;
pub mod ledger;
pub mod storage;
pub mod wire;

// The ic-cdk shell: only in the canister build. The macros' generated exports need
// `unsafe` attributes, so the exemption is scoped to this module.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
pub mod api;

pub use config::{ChangeFeeCollector, Config, InitArgs, LedgerArg, UpgradeArgs};
pub use ledger::{Ledger, StandardRecord};

/// `error_code`s of the `GenericError` variants this ledger returns.
pub mod error_codes {
    /// The anonymous principal tried to transact.
    pub const ANONYMOUS_CALLER: u64 = 1;
    /// The memo is longer than `max_memo_length`.
    pub const MEMO_TOO_LONG: u64 = 2;
    /// A mint would take the total supply past the cap.
    pub const SUPPLY_CAP: u64 = 3;
    /// A forbidden use of the minting account.
    pub const MINTING_ACCOUNT: u64 = 4;
    /// A principal tried to approve a spender account it owns.
    pub const SELF_APPROVAL: u64 = 5;
    /// Stable memory could not grow.
    pub const STORAGE: u64 = 6;
    /// An internal inconsistency (never expected).
    pub const INTERNAL: u64 = 99;
}

/// Errors of installing, loading and upgrading the ledger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// Bad init or upgrade argument.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// `init` on a memory that already holds a ledger.
    #[error("the stable memory already holds a ledger")]
    AlreadyInitialized,
    /// `load` on a memory without a ledger.
    #[error("the stable memory holds no ledger")]
    NotInitialized,
    /// The stored layout is newer than this build: refusing to downgrade.
    #[error("stored layout version {stored} is newer than this build's {supported}: refusing to downgrade")]
    Downgrade {
        /// Version found in stable memory.
        stored: u32,
        /// Version this build supports.
        supported: u32,
    },
    /// Stable memory could not be written or decoded.
    #[error("storage error: {0}")]
    Storage(String),
}

impl From<emc_stable::HeaderError> for LedgerError {
    /// A config cell without a ledger's header (empty, short or another magic) holds no
    /// ledger; a newer layout is a refused downgrade.
    fn from(e: emc_stable::HeaderError) -> Self {
        match e {
            emc_stable::HeaderError::Newer { found, supported } => LedgerError::Downgrade {
                stored: found,
                supported,
            },
            emc_stable::HeaderError::Empty
            | emc_stable::HeaderError::Truncated { .. }
            | emc_stable::HeaderError::BadMagic { .. } => LedgerError::NotInitialized,
        }
    }
}
