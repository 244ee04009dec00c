//! # emc-test-sns-governance: a stand-in SNS governance canister (tests and the devnet only)
//!
//! Mainnet EMC is governed by a real SNS (DFINITY's `sns-governance`, launched from
//! `sns_init.yaml`). This canister speaks the same protocol for the parts the EMC canisters
//! see, so a whole proposal lifecycle runs on the embedded IC and the devnet:
//!
//! * **Generic nervous system functions** (`AddGenericNervousSystemFunction`, ids `>= 1000`):
//!   an id names a target canister and method and a validator canister and method.
//! * **Proposals** (`make_proposal`): an `ExecuteGenericNervousSystemFunction` payload (candid
//!   bytes) first goes to the validator, which answers `Result<String, String>`. A refusal (or a
//!   reject, e.g. a payload that does not decode) refuses the proposal: nothing is stored. The
//!   rendering is stored with the proposal for voters.
//! * **Voting** by neurons with stake (set at init): the proposer's neuron votes yes. A proposal
//!   is adopted as soon as more than half of all stake votes yes, rejected as soon as half or
//!   more votes no; at the deadline it is adopted when yes > no and yes is at least 3 % of all
//!   stake (the SNS's minimum), otherwise rejected.
//! * **Execution**: the payload goes to the target method; a reply is `Executed`, a reject or
//!   trap is `Failed` with the reason (the target changes no state when it traps).
//!
//! * **Upgrades** (`UpgradeSnsControlledCanister`, native): the stand-in plays SNS governance
//!   and SNS root in one. Refused at submission without a canister id, with an empty wasm, a
//!   mode other than upgrade, or for a canister the DAO does not govern (not a target of a
//!   registered generic function); rendered with the wasm's sha256 (the module hash) and size.
//!   Adopted, the management canister's `install_code` (upgrade) is called on the target: the
//!   stand-in must be its controller, else the proposal is `Failed` with the reject.
//!
//! Not modelled: neuron staking and dissolving, rewards, following, `chunked_canister_wasm`.
//!
//! The library ([`governance`]) is pure; the shell (`src/api.rs`, wasm32 only) calls the
//! validators and targets and runs the deadline timer.
#![cfg_attr(not(target_arch = "wasm32"), forbid(unsafe_code))]
#![cfg_attr(target_arch = "wasm32", deny(unsafe_code))]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod emc;
pub mod governance;
pub mod interface;
pub mod types;

// The ic-cdk shell: only in the canister build.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
pub mod api;

pub use governance::{
    render_upgrade, Execution, Governance, InstallCodeArgs, InstallCodeMode, UpgradeFlags,
};
pub use types::*;
