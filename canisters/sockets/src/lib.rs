//! # emc-sockets: computing sockets as ICRC-7 / ICRC-37 NFTs
//!
//! A socket stands for a subscription to compute configured for one app (app id, model hash,
//! units per period, period, expiry, and the market offer it was bought from). The market
//! canister mints one when a buyer pays for it (`mint_socket`, idempotent on the market's
//! purchase id so that the market's journal can retry it); the holder can transfer it
//! (`icrc7_transfer`) or let a spender move it (`icrc37_*`); routers admit the current holder's
//! calls for the socket's app until it expires (`socket`).
//!
//! Every change is an ICRC-3 block of the standards' types (`7mint`, `7xfer`, `37approve`,
//! `37approve_coll`, `37revoke`, `37revoke_coll`, `37xfer`) in a hash chain whose tip is the
//! canister's certified data (`icrc3_get_tip_certificate`).
//!
//! The library is pure (no ic-cdk); the shell (`src/api.rs`, wasm32 only) passes the caller
//! and the time.
#![cfg_attr(not(target_arch = "wasm32"), forbid(unsafe_code))]
#![cfg_attr(target_arch = "wasm32", deny(unsafe_code))]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod certify;
pub mod interface;
pub mod sockets;
pub mod storage;
pub mod types;

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
pub mod api;

pub use sockets::Sockets;
pub use types::*;

/// Errors of installing and loading (shared by the canisters with `emc-stable`).
pub use emc_stable::LoadError;
