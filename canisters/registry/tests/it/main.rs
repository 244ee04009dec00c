//! The registry's integration tests, one test binary (one link) for all; each module was a
//! test binary of its own. `cargo test -p emc-registry --test it <module>::` runs one module.
//!
//! * `interface`: `candid/registry.did` equals the interface built from the Rust types
//!   (`UPDATE_DID=1 cargo test -p emc-registry --test it interface::` rewrites it) and the
//!   wasm's.
//! * `canister`: the real registry and ledger wasm on the embedded IC (build them first:
//!   `scripts/build-canisters.sh registry ledger test-canister`).
//! * `pure_core`: the pure registry core over a `VectorMemory`.
//! * `economic_safety`: issue #21 (frozen stakes under open cases, validator release margin,
//!   renewal stake checks, who votes in impeachment cases).
//! * `journal_model`: a model-based property test of the journal against a fake ledger.

mod canister;
mod economic_safety;
mod interface;
mod journal_model;
mod pure_core;
