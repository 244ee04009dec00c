//! # emc-ic-client: one interface for canister calls
//!
//! [`IcClient`] is what the edge node, the router and the devnet use to talk to EMC's
//! canisters: a principal, raw `query` and `update` calls, and (through [`IcClientExt`])
//! candid-typed `query_candid` / `update_candid`. Two implementations:
//!
//! - [`AgentClient`]: ic-agent over HTTP, to a local replica or the real IC. The identity is
//!   an ed25519 or secp256k1 PEM key ([`AgentIdentity::from_pem_file`], the type detected
//!   from the PEM) or anonymous. The root key is fetched from the replica only on a local
//!   network (the URL's host is `localhost` or a loopback address, or [`AgentConfig::local`]
//!   says so); on mainnet the built-in key is the trust anchor.
//! - [`EmbeddedClient`], from an [`EmbeddedHost`]: the in-process embedded IC
//!   (`emc-embedded-ic`) running the real canister wasm on a dedicated thread. Commands
//!   reach the thread over a channel and replies come back over oneshot channels, so async
//!   callers never block their runtime; updates are submitted and answered when their round
//!   has run, so many callers can be in flight at once. The clock follows wall-clock time
//!   (a round every ~20 ms) or is manual ([`HostConfig::manual`]) for tests.
//!
//! On top, typed wrappers over `Arc<dyn IcClient>` and a canister id use the canisters' own
//! Rust types: [`LedgerApi`], [`RegistryApi`], [`EpochsApi`]. They return
//! `Result<T, IcError>` for calls whose reply is the value itself, and
//! `Result<Result<T, CanisterError>, IcError>` where the canister answers with its own typed
//! error: the outer [`IcError`] means no usable reply (transport, reject, undecodable bytes).
//!
//! ```no_run
//! # async fn demo(wasm: Vec<u8>, init: Vec<u8>, admin: candid::Principal) -> Result<(), emc_ic_client::IcError> {
//! use emc_ic_client::{EmbeddedHost, IcClient, LedgerApi};
//! use std::sync::Arc;
//!
//! let host = EmbeddedHost::wall_clock()?;
//! let ledger = host.install_canister(wasm, init, admin).await?;
//! let api = LedgerApi::new(Arc::new(host.client(admin)), ledger);
//! let fee = api.icrc1_fee().await?;
//! # let _ = fee; Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod agent;
mod client;
mod embedded;
mod epochs;
mod error;
mod ledger;
mod registry;

pub use agent::{is_local_url, AgentClient, AgentConfig, AgentIdentity, KeyKind};
pub use client::{decode, encode, IcClient, IcClientExt};
pub use embedded::{Clock, EmbeddedClient, EmbeddedHost, HostCall, HostConfig};
pub use epochs::EpochsApi;
pub use error::{IcError, RejectCode};
pub use ledger::LedgerApi;
pub use registry::RegistryApi;

/// The embedded IC's configuration (its limits), re-exported for [`HostConfig::ic`].
pub use emc_embedded_ic::IcConfig;
