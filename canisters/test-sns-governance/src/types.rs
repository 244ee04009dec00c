//! The candid types of the stand-in governance canister (field names as in the SNS's
//! `sns_governance.did` where the concept is the same).

use candid::{CandidType, Principal};
use serde::Deserialize;
use serde_bytes::ByteBuf;

/// The smallest id of a generic nervous system function (lower ids are the SNS's native
/// proposal types).
pub const FIRST_GENERIC_FUNCTION_ID: u64 = 1_000;
/// Default voting period: 4 days, the SNS's default `initial_voting_period_seconds`.
pub const DEFAULT_VOTING_PERIOD_SECONDS: u64 = 4 * 86_400;
/// Most bytes of a proposal's title (the SNS's limit).
pub const MAX_TITLE_BYTES: usize = 256;
/// Most bytes of a proposal's summary plus motion text (the SNS's summary limit).
pub const MAX_SUMMARY_BYTES: usize = 30_000;
/// Minimum share of all stake that must vote yes for adoption at the deadline, basis points
/// (the SNS's 3 %).
pub const MIN_YES_BPS: u64 = 300;

/// A neuron: voting power is its stake.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Neuron {
    /// Neuron id (unique).
    pub id: u64,
    /// The principal allowed to propose and vote with it.
    pub controller: Principal,
    /// Stake, e8s of the governance token (the voting power).
    pub stake_e8s: u64,
}

/// Install argument.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct InitArgs {
    /// The neurons (fixed for the canister's life).
    pub neurons: Vec<Neuron>,
    /// Voting period; 4 days when absent.
    pub voting_period_seconds: Option<u64>,
}

/// A generic nervous system function, as registered by `AddGenericNervousSystemFunction`
/// (the SNS's `GenericNervousSystemFunction`, flattened).
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct NervousSystemFunction {
    /// Id, `>= 1000`.
    pub id: u64,
    /// Name shown to voters.
    pub name: String,
    /// Description shown to voters.
    pub description: Option<String>,
    /// The canister the payload is executed on.
    pub target_canister_id: Principal,
    /// The method the payload is executed with.
    pub target_method_name: String,
    /// The canister that validates and renders the payload.
    pub validator_canister_id: Principal,
    /// The validator method (`(payload) -> (variant { Ok : text; Err : text })`).
    pub validator_method_name: String,
}

/// The SNS's `ExecuteGenericNervousSystemFunction`.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ExecuteGenericNervousSystemFunction {
    /// A registered function id.
    pub function_id: u64,
    /// The candid-encoded argument of the target (and validator) method.
    pub payload: ByteBuf,
}

/// The SNS's `CanisterInstallMode` value for an upgrade (the only mode the stand-in, like SNS
/// root for dapp canisters, executes).
pub const INSTALL_MODE_UPGRADE: i32 = 3;

/// The SNS's `UpgradeSnsControlledCanister` (its `chunked_canister_wasm` is not modelled: the
/// wasm comes whole in the proposal). Executed as the management canister's `install_code` in
/// upgrade mode on `canister_id` (the stand-in plays SNS governance and SNS root in one, so it
/// must be a controller of the canister).
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct UpgradeSnsControlledCanister {
    /// The canister to upgrade (required).
    pub canister_id: Option<Principal>,
    /// The new module (plain or gzipped).
    pub new_canister_wasm: ByteBuf,
    /// The candid argument of `post_upgrade` (empty when absent).
    pub canister_upgrade_arg: Option<ByteBuf>,
    /// `CanisterInstallMode`: absent or 3 (upgrade).
    pub mode: Option<i32>,
}

/// What a proposal does.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A text motion (no effect).
    Motion(String),
    /// Registers a generic function.
    AddGenericNervousSystemFunction(NervousSystemFunction),
    /// Removes a generic function by id.
    RemoveGenericNervousSystemFunction(u64),
    /// Calls a generic function's target with the payload.
    ExecuteGenericNervousSystemFunction(ExecuteGenericNervousSystemFunction),
    /// Upgrades a canister the DAO controls (management canister `install_code`, upgrade mode).
    UpgradeSnsControlledCanister(UpgradeSnsControlledCanister),
}

/// A proposal as submitted.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ProposalInput {
    /// Title.
    pub title: String,
    /// Summary (markdown on the real SNS).
    pub summary: String,
    /// The action.
    pub action: Action,
}

/// Where a proposal is in its life.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum ProposalStatus {
    /// Voting.
    Open,
    /// Adopted; the target call is in flight.
    Adopted,
    /// Rejected by the vote.
    Rejected,
    /// Adopted and executed.
    Executed,
    /// Adopted; execution failed (the target trapped or rejected), with the reason.
    Failed(String),
}

/// A stored proposal.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Id (from 1).
    pub id: u64,
    /// The proposing neuron.
    pub proposer: u64,
    /// Title, summary and action as submitted.
    pub input: ProposalInput,
    /// The validator's rendering (or the canister's own for native actions).
    pub rendering: String,
    /// Stake voting yes.
    pub yes_e8s: u64,
    /// Stake voting no.
    pub no_e8s: u64,
    /// All stake (the electorate).
    pub total_e8s: u64,
    /// Ballots cast: (neuron, yes).
    pub ballots: Vec<(u64, bool)>,
    /// Submission time, ns.
    pub created_at_ns: u64,
    /// End of voting, ns.
    pub deadline_ns: u64,
    /// Status.
    pub status: ProposalStatus,
    /// When the vote was decided, ns.
    pub decided_at_ns: Option<u64>,
    /// When execution finished (executed or failed), ns.
    pub executed_at_ns: Option<u64>,
}

/// Refusals.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GovernanceError {
    /// No such neuron.
    #[error("no neuron {0}")]
    UnknownNeuron(u64),
    /// The caller does not control the neuron.
    #[error("the caller does not control neuron {0}")]
    NotController(u64),
    /// No such proposal.
    #[error("no proposal {0}")]
    UnknownProposal(u64),
    /// No such generic function.
    #[error("no generic function {0}")]
    UnknownFunction(u64),
    /// The proposal is not open for votes.
    #[error("proposal {0} is not open")]
    NotOpen(u64),
    /// The neuron voted already.
    #[error("neuron {0} has voted already")]
    AlreadyVoted(u64),
    /// The proposal is refused (the validator's reason, or a bad native action).
    #[error("proposal refused: {0}")]
    InvalidProposal(String),
}
