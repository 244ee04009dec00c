//! An in-process Internet Computer for tests and the local devnet.
//!
//! `EmbeddedIc` runs the real canister wasm that `cargo build --target wasm32-unknown-unknown`
//! produces, with the IC's execution semantics: atomic messages (a trap rolls back heap,
//! globals and stable memory), queries that never persist, inter-canister calls whose replies
//! and rejects come back as separate messages through the callback table, self-calls,
//! `canister_inspect_message`, install / reinstall / upgrade, controllers, a controllable clock
//! with the global timer, and IC-style instruction counting with the IC's per-message limits.
//!
//! The wasm is rewritten once at install by `emc-wasm-instrument` (instruction counter and
//! dirty-page tracking) and interpreted by wasmi. As on the IC, a module may be gzipped (it is
//! decompressed, up to `IcConfig::max_decompressed_module_bytes`), and its `icp:public` /
//! `icp:private` custom sections are the canister's metadata ([`EmbeddedIc::canister_metadata`]).
//! Production runs on the real IC; this crate exists because neither a replica nor PocketIC can
//! be fetched on our build machines.
//!
//! ```ignore
//! let mut ic = EmbeddedIc::new();
//! let id = ic.install_canister(&wasm, candid::encode_one(init)?, vec![admin])?;
//! let reply = ic.update_call(id, user, "transfer", candid::encode_one(args)?)?;
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod canister;
pub mod certificate;
mod ic;
pub mod management;
pub mod module;
mod system_api;
mod types;

pub use ic::{CanisterStatus, EmbeddedIc};
pub use module::{MetadataSection, Visibility};
pub use types::{
    canister_id, user_principal, CallResult, CanisterState, GlobalValue, IcConfig, IcError,
    IcState, InstallMode, MessageId, ModuleState, Reject, RejectCode,
};
