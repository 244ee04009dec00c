//! # edge-node: the operator's binary
//!
//! - `app`: the validators' pure application (block contents, validity, per-epoch node
//!   records and the closing checkpoint's state root).
//! - `validator`: the validator role's shell: the QBFT core over QUIC (`emc-net`), the
//!   write-ahead log (`wal`), probes, the registry view; `anchor` submits checkpoints and
//!   epoch data to the IC (`ic`, over `emc-ic-client`).
//! - `challenge`: proof-of-computing rounds and challenges, the validator's side (rounds drawn
//!   from committed blocks, one challenger per compute node and round, the exchange).
//! - `compute`: the compute role: answers probes and proof-of-computing challenges with the
//!   configured prover (CPU or Vulkan), reports its load to the routers.
//! - `protocol`: frame kinds and payloads shared with the router.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod anchor;
pub mod app;
pub mod challenge;
pub mod cli;
pub mod compute;
pub mod config;
pub mod http;
pub mod ic;
pub mod protocol;
pub mod status;
pub mod validator;
pub mod wal;
