//! # emc-registry: the EMC node registry canister
//!
//! Nodes register with a role (validator, router, compute), an owner principal and an ed25519
//! node key whose possession they prove by signing the owner and a registry-issued nonce
//! ([`rules::registration_message`]). Owners stake through ICRC-2 (approve, then the registry
//! pulls the stake into the node's own subaccount of the registry); stakes are locked for a
//! term and released automatically when it ends (not while an impeachment case against the
//! node is open, and for a validator not before `VALIDATOR_RELEASE_MARGIN_EPOCHS` epochs after
//! the last validator set that lists it). The registry fixes one validator set per
//! epoch (largest 3F+1 of the eligible validators, ordered by node id) and, in the same step,
//! an immutable snapshot of every active member of every role (owner, stake net of penalties
//! due, multiplier of E; the `epoch_nodes` query, kept for the last 64 epochs) from which the
//! validators build that epoch's reward records. A compute node is a member once admitted (a
//! passed PoC reported by the epochs canister); before, it is a candidate, and a snapshot
//! lists at most `max_compute_candidates` of them (oldest queued first, each for at most
//! `candidate_epochs` snapshots), so free registrations add a bounded amount of validator work
//! per epoch. It applies penalties the epochs canister
//! reports, and runs impeachment votes among each role's voters (`is_voter`: for compute
//! nodes also a passed PoC and a stake at 1000 x E). Governance changes the parameters.
//!
//! The library is pure: no ic-cdk calls; the caller and the time come in as arguments, so the
//! same code runs natively in tests (over `VectorMemory`) and in the canister. The shell
//! (`src/api.rs`, wasm32 only) calls the ledger and runs the timers.
//!
//! ## Token movements: the journal
//! Every ledger movement (stake pull, release, penalty, confiscation) is written to the
//! journal in stable memory *before* the ledger call, with the `created_at_time` and memo
//! (`b"emc-reg:" || id`) the call uses. Stakes change only when the ledger confirms (`Ok`, or
//! `Duplicate` on a retry: the ledger deduplicates within 24 hours, so a retry never pays twice).
//! A reject, a trap or an undecodable reply leaves the entry `Pending`, retried by the timer
//! and by `retry_pending`; an entry still unconfirmed near the end of the ledger's
//! deduplication window becomes `Stuck` (never retried automatically) and governance settles it.
//! Each node has at most one movement in flight.
#![cfg_attr(not(target_arch = "wasm32"), forbid(unsafe_code))]
#![cfg_attr(target_arch = "wasm32", deny(unsafe_code))]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod interface;
pub mod registry;
pub mod rules;
pub mod storage;
pub mod types;

// The ic-cdk shell: only in the canister build. The macros' generated exports need
// `unsafe` attributes, so the exemption is scoped to this module.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
pub mod api;

pub use registry::{Registry, MAX_GENESIS_DELAY_NS};
pub use types::*;

/// Errors of installing and loading (shared by the canisters with `emc-stable`).
pub use emc_stable::LoadError;
