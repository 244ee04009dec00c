//! # edge-node: the operator's binary
//!
//! - `app`: the validators' pure application (block contents, validity, per-epoch node
//!   records and the closing checkpoint's state root).
//! - `validator`: the validator role's shell: the QBFT core over QUIC (`emc-net`), the
//!   write-ahead log (`wal`), probes, the registry view; `anchor` submits checkpoints and
//!   epoch data to the IC (`ic`, over `emc-ic-client`).
//! - `protocol`: frame kinds and payloads shared with the router.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod anchor;
pub mod app;
pub mod cli;
pub mod compute;
pub mod config;
pub mod http;
pub mod ic;
pub mod protocol;
pub mod status;
pub mod validator;
pub mod wal;
