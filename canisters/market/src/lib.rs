//! # emc-market: the EMC compute market canister
//!
//! Providers (the owners of registered compute nodes) list offers: app or model, meter unit,
//! price per unit, capacity. Buyers deposit $EMC into an escrow (ICRC-2 `approve`, then
//! `deposit`, which pulls the tokens with `icrc2_transfer_from` into the buyer's own subaccount
//! of the market) and bind the ed25519 keys that countersign their receipts to it. Routers
//! admit calls against an escrow's available balance (`admission`).
//!
//! Compute receipts are cumulative vouchers on a lane (user key, node, epoch): anyone submits
//! the latest one with its Merkle inclusion proof against the `receipts_root` of a **final**
//! checkpoint of the epochs canister, and the market pays `cumulative - paid` of the lane once,
//! 80% to the node's owner and 20% to the treasury (spec 9), within what the escrow holds. Each
//! settled receipt earns the capped trading reward of spec 9 and 11.1 (`fee x P(n)`, at most
//! 0.9 x fee and an account cap per epoch, within the 378M pool), minted by the epochs canister,
//! which is the ledger's minting account, at the market's request. Every ledger call goes
//! through a journal: written before the call with a fixed `created_at_time` and memo, retried
//! with them so the ledger deduplicates, `Stuck` past the deduplication window.
//!
//! The library is pure (no ic-cdk); the shell (`src/api.rs`, wasm32 only) calls the ledger,
//! the registry and the epochs canister and runs the journal's timer.
#![cfg_attr(not(target_arch = "wasm32"), forbid(unsafe_code))]
#![cfg_attr(target_arch = "wasm32", deny(unsafe_code))]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod interface;
pub mod market;
pub mod storage;
pub mod types;

// The ic-cdk shell: only in the canister build. The macros' generated exports need
// `unsafe` attributes, so the exemption is scoped to this module.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
pub mod api;

pub use market::{Market, NodeFacts, TransferOutcome};
pub use types::*;

/// Errors of installing and loading (shared by the canisters with `emc-stable`).
pub use emc_stable::LoadError;
