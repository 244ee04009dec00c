//! # emc-epochs: the EMC epochs canister
//!
//! Checkpoints of the edge network are anchored here (spec 7): a checkpoint is accepted only
//! if it extends the last accepted one (height + interval, previous hash), its validator set id
//! is the registry's set for its epoch and at least 2F+1 distinct members signed its canonical
//! bytes (strict ed25519). Cheap checks run before any signature is verified. During a
//! challenge window anyone may submit equivocation evidence: the conflicting accepted
//! checkpoint is voided with its successors and the double signers are penalized through the
//! registry.
//!
//! Per-node epoch data (validator participation, router uptime, compute PoC E x multiplier) is
//! uploaded in chunks; the chunks form a Merkle tree ([`data`]) whose header hash is the
//! `state_root` of the epoch's closing checkpoint, so each chunk is authenticated against a root
//! a quorum signed. Heights and epochs are numbered as in emc-consensus: with an epoch length of
//! `L` blocks (`Params::epoch_length_blocks`, 43,200 by protocol) height `h >= 1` is in epoch
//! `(h - 1) / L`, so epoch `e` is heights `e * L + 1 ..= (e + 1) * L` and its closing checkpoint
//! is the one at height `(e + 1) * L` (carrying epoch `e`). Once that checkpoint is final the
//! epoch closes: `r(n)` is reserved under the 420M cap and split by weight (round down), and
//! payouts are minted in timer-driven batches through a journal keyed by (epoch, node):
//! Pending -> Paid, each mint with a fixed `created_at_time` and a memo derived from
//! (epoch, node), so a retried mint deduplicates on the ledger.
//!
//! The library is pure (no ic-cdk); the shell (`src/api.rs`, wasm32 only) calls the ledger and
//! the registry and runs the timer.
#![cfg_attr(not(target_arch = "wasm32"), forbid(unsafe_code))]
#![cfg_attr(target_arch = "wasm32", deny(unsafe_code))]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod data;
pub mod epochs;
pub mod interface;
pub mod storage;
pub mod types;

// The ic-cdk shell: only in the canister build. The macros' generated exports need
// `unsafe` attributes, so the exemption is scoped to this module.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
pub mod api;

pub use epochs::{Epochs, MintOutcome, ReportOutcome};
pub use types::*;

/// Errors of installing and loading (shared by the canisters with `emc-stable`).
pub use emc_stable::LoadError;
