//! The stand-in SNS governance canister's tests, one test binary for all.
//! `cargo test -p emc-test-sns-governance --test it <module>::` runs one module.
//!
//! * `interface`: `candid/test-sns-governance.did` equals the interface built from the Rust types
//!   (`UPDATE_DID=1 cargo test -p emc-test-sns-governance --test it interface::` rewrites it) and
//!   the wasm's.
//! * `pure_core`: the proposal state machine (adoption rule, ballots, refusals), with
//!   property tests.
//! * `lifecycle`: the real governance, ledger, registry, epochs, market and DAO wasm on the
//!   embedded IC: every governed method through a proposal, and upgrades by
//!   `UpgradeSnsControlledCanister` proposals (build first: `scripts/build-canisters.sh
//!   test-sns-governance test-canister ledger registry epochs market dao`).
//! * `operator`: `docs/governance.md`, `sns_init.yaml` and the operator scripts agree with
//!   the function list and the `.did` files.

mod interface;
mod lifecycle;
mod operator;
mod pure_core;
