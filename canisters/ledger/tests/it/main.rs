//! The ledger's integration tests, one test binary (one link) for all; each module was a test
//! binary of its own. `cargo test -p emc-ledger --test it <module>::` runs one module.
//!
//! * `block_props`: block encoding and ICRC-3 hashing properties.
//! * `interface`: `candid/ledger.did` equals the interface built from the Rust types
//!   (`UPDATE_DID=1 cargo test -p emc-ledger --test it interface::` rewrites it) and the wasm's.
//! * `icrc3`: ICRC-3 blocks, certificates, ICRC-21 consent messages, layout versions.
//! * `model`: the model-based test (supply invariants after every step).
//! * `rules`: ICRC-1/2 rules, init and upgrade arguments.
//! * `storage_work`: stable-memory work per operation.
//! * `wire`: the hand-written candid fast paths against candid.

mod common;
mod block_props;
mod interface;
mod icrc3;
mod model;
mod rules;
mod storage_work;
mod wire;
