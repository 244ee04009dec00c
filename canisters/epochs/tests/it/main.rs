//! The epochs canister's integration tests, one test binary (one link) for all; each module was a
//! test binary of its own. `cargo test -p emc-epochs --test it <module>::` runs one module.
//!
//! * `interface`: `candid/epochs.did` equals the interface built from the Rust types
//!   (`UPDATE_DID=1 cargo test -p emc-epochs --test it interface::` rewrites it) and the wasm's.
//! * `canister`: the real epochs, ledger and registry wasm on the embedded IC (build them first:
//!   `scripts/build-canisters.sh epochs registry ledger`).
//! * `pure_core`: the pure epochs core over a `VectorMemory`.

mod canister;
mod common;
mod interface;
mod pure_core;
