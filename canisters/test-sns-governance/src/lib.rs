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
//! Not modelled: neuron staking and dissolving, rewards, following, and
//! `UpgradeSnsControlledCanister` (the embedded IC's management canister does not take
//! `install_code` from canisters; upgrades are controller calls, SNS root's on mainnet).
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

pub use governance::{render_upgrade, Execution, Governance, InstallCodeArgs, InstallCodeMode, UpgradeFlags};
pub use types::*;
