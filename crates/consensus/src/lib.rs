//! # emc-consensus: QBFT as a pure state machine
//!
//! The edge network's validators agree on blocks of state bits with QBFT, the corrected
//! successor of IBFT 2.0 (Moniz, "The Istanbul BFT Consensus Algorithm"; ConsenSys' QBFT
//! specification). This crate is the protocol core and nothing else: no clock, no sockets, no
//! threads, no randomness. A shell (the edge node) feeds [`Input`]s into [`Node::step`] with the
//! current time and carries out the returned [`Effect`]s in order.
//!
//! - Rounds: proposer `members[(height + round) % n]`; PROPOSAL, PREPARE, COMMIT,
//!   ROUND-CHANGE; quorum `ceil(2n/3)` ([`emc_types::ValidatorSet::quorum`]); round changes
//!   carry prepared certificates and justify later proposals, which must re-propose the highest
//!   prepared value; F+1 round changes for higher rounds pull a node up; round timeouts grow
//!   exponentially from a base to a cap ([`Config`]).
//! - Every incoming signature is verified against the height's validator set ([`Verifier`]).
//! - Each COMMIT's signature is a committed seal over `(height, round, block hash)`; a
//!   [`CommittedBlock`] carries a quorum of them and [`verify_committed`] checks it.
//! - Every `checkpoint_interval` blocks the validators sign [`emc_types::Checkpoint`]'s
//!   canonical bytes and a node emits [`Effect::CheckpointReady`] once a quorum has signed.
//! - Write-ahead log: every vote is emitted as [`Effect::Persist`] before it is sent, and
//!   [`Node::restore`] rebuilds a node from its [`WalRecord`]s, so a restarted node never
//!   signs two values for one height, round and kind.
//! - Epochs: the validator set of each epoch comes in as [`Input::ValidatorSet`]; a node
//!   waits at the first height of an epoch whose set it does not know.
//! - Wire: [`codec`] is a versioned, length-checked binary encoding with a size cap; malformed
//!   input is counted in [`Metrics`] and dropped.
//! - `sim` (cargo feature `sim`, off by default) is a deterministic, seeded simulation of
//!   whole networks with faults; it alone pulls in `rand`.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod codec;
mod config;
pub mod crypto;
mod message;
mod metrics;
mod node;
#[cfg(feature = "sim")]
pub mod sim;

pub use config::{Config, ConfigError};
pub use crypto::{Ed25519Signer, Ed25519Verifier, SigItem, Signer, Verifier};
pub use message::{
    verify_committed, CommittedBlock, Message, PreparedCertificate, Round, RoundChange, Seal,
    SealError, SignedRoundChange, SignedVote, Vote, VoteKind,
};
pub use metrics::Metrics;
pub use node::{
    proposer, Application, ChainState, Effect, Input, Node, NodeError, Timer, TimerKind, WalRecord,
};
