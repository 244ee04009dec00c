//! The DAO canister's tests, one test binary for all.
//! `cargo test -p emc-dao --test it <module>::` runs one module.
//!
//! * `interface`: `candid/dao.did` equals the interface built from the Rust types
//!   (`UPDATE_DID=1 cargo test -p emc-dao --test it interface::` rewrites it) and the wasm's.
//! * `pure_core`: grants and airdrop accounting (property tests of the pool caps, one payment
//!   per grant, one claim per account and batch).
//!
//! The canister with the real governance, epochs and ledger wasm runs in
//! `emc-test-sns-governance`'s `lifecycle` tests.

mod interface;
mod pure_core;
