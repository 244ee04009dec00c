//! The ledger's integration tests, one test binary (one link) for all; each module was a test
//! binary of its own. `cargo test -p emc-ledger --test it <module>::` runs one module.
//!
//! * `block_props`: block encoding round-trips and hashes as its ICRC-3 value.
//! * `interface`: `candid/ledger.did` equals the interface built from the Rust types
//!   (`UPDATE_DID=1 cargo test -p emc-ledger --test it interface::` rewrites it).
//! * `icrc3`: ICRC-3 vectors, the chain, the certified tip, ICRC-21, the storage layout.
//! * `model`: the model-based property test (supply invariants after every step).
//! * `rules`: one test per rule and error of the ledger.
//! * `storage_work`: stable-memory work per call, with generous bounds.
//! * `wire`: the candid fast paths agree with the generic codec.

mod block_props;
mod common;
mod icrc3;
mod interface;
mod model;
mod rules;
mod storage_work;
mod wire;
