//! # edge-node: the operator's binary
//!
//! `app` is the validators' pure application (block contents, validity, per-epoch node
//! records); the shells around it run the consensus core over QUIC and talk to the canisters.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod app;
pub mod wal;
