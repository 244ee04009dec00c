//! # edge-node: the operator's binary (validators and compute nodes)
//!
//! Thin shells over `emc-edge-core` (the rules) and `emc-consensus` (QBFT), with
//! `emc-node-common` for what every binary shares:
//! - `validator`: the QBFT core over QUIC (`emc-net`), the write-ahead log (`wal`), probes,
//!   the registry view and epoch snapshots, proof-of-computing challenges (`challenge`: the
//!   exchange), and the `anchor` task that carries out the anchor plan's calls to the IC;
//! - `compute`: answers probes and proof-of-computing challenges with the configured prover
//!   (CPU or Vulkan), reports its load and offer to the routers; `serve`: dApp calls from
//!   routers, proxied to the local app, metered, with a signed receipt each;
//! - `cli`: the `edge-node` command line.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod anchor;
mod challenge;
pub mod cli;
pub mod compute;
pub mod serve;
mod status;
pub mod validator;
mod wal;

pub use challenge::{mono_ns, run_challenge, ChallengeError};
pub use status::{AppMemory, ValidatorStatus};
pub use wal::{Wal, WalError};
