//! The sockets canister's integration tests, one test binary for all.
//! `cargo test -p emc-sockets --test it <module>::` runs one module.
//!
//! * `interface`: `candid/sockets.did` equals the interface built from the Rust types
//!   (`UPDATE_DID=1 cargo test -p emc-sockets --test it interface::` rewrites it) and the wasm's.
//! * `pure_core`: the pure ICRC-7/37/3 core over a `VectorMemory` (rules, bad input, a model
//!   property test, the block hash chain).
//! * `canister`: the real wasm on the embedded IC (build it first:
//!   `scripts/build-canisters.sh sockets`).

mod canister;
mod common;
mod interface;
mod pure_core;
