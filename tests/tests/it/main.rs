//! Whole-system tests, one test binary (one link) for all; each module was a test binary of its
//! own. The canister tests read `target/canisters/*.wasm` (`scripts/build-canisters.sh`).
//!
//! * `artifacts`: the release artifacts (gzipped modules under 2 MiB, shrunk modules smaller
//!   than cargo's, SHA256SUMS, `candid:service`/`git_commit`/`version` metadata read from the
//!   embedded IC after installing each .wasm.gz), and `dfx.json`/`icp.yaml` in step with
//!   `canisters/`.
//! * `candid_interfaces`: every canister's wasm exports the service in `candid/<name>.did`.
//! * `dfx_deploy`: the install arguments `scripts/dfx-deploy.sh` writes decode into each
//!   canister's install type.
//! * `ledger_acceptance`: DFINITY's ICRC-1/ICRC-2 acceptance suite against the ledger wasm.
//! * `ledger_wasm`: the ledger wasm: an upgrade carrying 10,000 accounts, refused bad input.

mod artifacts;
mod candid_interfaces;
mod dfx_deploy;
mod ledger_acceptance;
mod ledger_wasm;
