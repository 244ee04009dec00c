//! # emc-node-common: what the edge network's binaries share
//!
//! `edge-node` (validators and compute nodes), `router` and the devnet start the same way and
//! talk to the same canisters; this crate holds that, and nothing of any one role:
//! - [`config`]: the node's TOML config file (every role's table) and its PEM key;
//! - [`bootstrap`]: the canister clients, the QUIC endpoint, the stop signal;
//! - [`logging`]: milestones and warnings on the console, full logs in files per node;
//! - [`ic`]: typed reads of the registry (live view, epoch snapshots, validator sets);
//! - [`ops`]: an operator's registration and staking;
//! - [`http`]: the `/status` + `/metrics` endpoint; [`status`]: the shared status value;
//! - [`service`]: a running service's task and stop switch.
//!
//! The rules themselves live in `emc-edge-core`, which this crate only feeds.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod bootstrap;
pub mod config;
pub mod http;
pub mod ic;
pub mod logging;
pub mod ops;
pub mod service;
pub mod status;
