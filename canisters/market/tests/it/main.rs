//! The market canister's integration tests, one test binary for all.
//! `cargo test -p emc-market --test it <module>::` runs one module.
//!
//! * `interface`: `candid/market.did` equals the interface built from the Rust types
//!   (`UPDATE_DID=1 cargo test -p emc-market --test it interface::` rewrites it) and the wasm's.
//! * `pure_core`: the pure market core over a `VectorMemory` (property tests of the books and
//!   the reward caps, settlement rules, bad input).
//! * `pools`: pool offers in the pure core (members checked, leaving, refusals).
//! * `sockets`: socket sales in the pure core (purchase, mint journal, per-use settlement).
//! * `canister`: the real market, ledger, registry and epochs wasm on the embedded IC (build
//!   them first: `scripts/build-canisters.sh market epochs registry ledger`).

mod canister;
mod common;
mod interface;
mod pools;
mod pure_core;
mod sockets;
