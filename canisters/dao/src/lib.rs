//! # emc-dao: developer grants and the DAO airdrop
//!
//! Two of the spec's known pools (spec 2, 10), both paid by mints that the epochs canister
//! (the ledger's minting account) makes for this canister through `mint_dao_reward`, so the
//! pools are not pre-minted and each has a hard cap held twice: here, as reservations, and in
//! the epochs canister, as minted totals.
//!
//! * **Developer grants** (252,000,000 EMC): a developer submits an application on chain
//!   (who, what, amount, milestones, recipient); an SNS proposal (`execute_grant`, validated by
//!   `validate_grant`) grants it, reserving the amount in the pool; the grant is paid once,
//!   through the payment journal.
//! * **DAO airdrop** (105,000,000 EMC): an SNS proposal (`execute_create_airdrop_batch`)
//!   creates a batch: the Merkle root of the (account, amount) list that the DAO's voted rule
//!   produced, its leaf count, its total (reserved in the pool) and the rule's text. Each
//!   account claims its amount with an inclusion proof (`claim_airdrop`), at most once per
//!   batch, and never past the batch's total.
//!
//! Payments are journaled (`Pending` -> `Paid`) with a fixed `created_at_time` and a memo naming
//! the payment, so a retried mint is deduplicated by the ledger.
//!
//! The library ([`dao`]) is pure; the shell (`src/api.rs`, wasm32 only) reads the caller and
//! the clock, calls the epochs canister and runs the payment timer.
#![cfg_attr(not(target_arch = "wasm32"), forbid(unsafe_code))]
#![cfg_attr(target_arch = "wasm32", deny(unsafe_code))]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod dao;
pub mod interface;
pub mod types;

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
pub mod api;

pub use dao::{airdrop_leaf, airdrop_tree, Dao};
pub use types::*;
