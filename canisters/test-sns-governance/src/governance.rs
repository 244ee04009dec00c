//! The pure proposal state machine: neurons, generic functions, proposals, ballots, the
//! adoption rule and execution bookkeeping. No ic-cdk: the caller, the clock and the
//! validator's answer come in as arguments.

use crate::types::*;
use candid::{CandidType, Principal};
use serde::Deserialize;
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The management canister's `install_code` argument (`install_code_args` in the IC's
/// `ic.did`), as the stand-in sends it for an `UpgradeSnsControlledCanister`.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct InstallCodeArgs {
    /// Always `upgrade`.
    pub mode: InstallCodeMode,
    /// The canister.
    pub canister_id: Principal,
    /// The module.
    #[serde(with = "serde_bytes")]
    pub wasm_module: Vec<u8>,
    /// The `post_upgrade` argument.
    #[serde(with = "serde_bytes")]
    pub arg: Vec<u8>,
    /// Not sent.
    pub sender_canister_version: Option<u64>,
}

/// `canister_install_mode` (the upgrade flags are not sent).
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum InstallCodeMode {
    /// Install.
    #[serde(rename = "install")]
    Install,
    /// Reinstall.
    #[serde(rename = "reinstall")]
    Reinstall,
    /// Upgrade.
    #[serde(rename = "upgrade")]
    Upgrade(Option<UpgradeFlags>),
}

/// The upgrade mode's options.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct UpgradeFlags {
    /// Skip `pre_upgrade`.
    pub skip_pre_upgrade: Option<bool>,
}

/// What voters see for an upgrade: the canister, the module hash (sha256 of the wasm as
/// installed, what `canister_status` reports afterwards) and size, and the argument's.
pub fn render_upgrade(u: &UpgradeSnsControlledCanister) -> String {
    let hex = |b: &[u8]| -> String { b.iter().map(|x| format!("{x:02x}")).collect() };
    let arg: &[u8] = u
        .canister_upgrade_arg
        .as_ref()
        .map_or(&[], |a| a.as_slice());
    format!(
        "upgrade canister {}: new wasm module hash {} ({} bytes); upgrade arg sha256 {} ({} bytes)",
        u.canister_id.map(|c| c.to_text()).unwrap_or_default(),
        hex(&Sha256::digest(&u.new_canister_wasm)),
        u.new_canister_wasm.len(),
        hex(&Sha256::digest(arg)),
        arg.len()
    )
}

/// The whole state (heap; saved to stable memory across upgrades by the shell).
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Governance {
    neurons: BTreeMap<u64, Neuron>,
    functions: BTreeMap<u64, NervousSystemFunction>,
    proposals: BTreeMap<u64, Proposal>,
    voting_period_ns: u64,
    total_e8s: u64,
    next_id: u64,
}

/// What the shell must do with an adopted proposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Execution {
    /// Call `method` on `canister` with the raw candid `payload`, then report with
    /// [`Governance::record_execution`].
    Call {
        /// The proposal.
        proposal: u64,
        /// Target canister.
        canister: Principal,
        /// Target method.
        method: String,
        /// Candid bytes.
        payload: Vec<u8>,
    },
}

/// What a submission needs checked by a validator canister before it is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validation {
    /// Validator canister.
    pub canister: Principal,
    /// Validator method.
    pub method: String,
    /// Candid bytes.
    pub payload: Vec<u8>,
}

impl Governance {
    /// A new governance from its install argument.
    pub fn new(args: &InitArgs) -> Result<Self, String> {
        let mut neurons = BTreeMap::new();
        let mut total: u64 = 0;
        for n in &args.neurons {
            if n.stake_e8s == 0 {
                return Err(format!("neuron {} has no stake", n.id));
            }
            if neurons.insert(n.id, n.clone()).is_some() {
                return Err(format!("neuron id {} appears twice", n.id));
            }
            total = total
                .checked_add(n.stake_e8s)
                .ok_or("total stake overflows")?;
        }
        if neurons.is_empty() {
            return Err("at least one neuron is needed".into());
        }
        let secs = args
            .voting_period_seconds
            .unwrap_or(DEFAULT_VOTING_PERIOD_SECONDS);
        if secs == 0 {
            return Err("the voting period must be positive".into());
        }
        Ok(Governance {
            neurons,
            functions: BTreeMap::new(),
            proposals: BTreeMap::new(),
            voting_period_ns: secs.saturating_mul(1_000_000_000),
            total_e8s: total,
            next_id: 1,
        })
    }

    fn controlled(&self, caller: Principal, neuron: u64) -> Result<&Neuron, GovernanceError> {
        let n = self
            .neurons
            .get(&neuron)
            .ok_or(GovernanceError::UnknownNeuron(neuron))?;
        if n.controller != caller {
            return Err(GovernanceError::NotController(neuron));
        }
        Ok(n)
    }

    /// Checks a submission. `Ok(Some(v))`: the payload must go to validator `v` first;
    /// `Ok(None)`: a native action, rendered by [`Governance::submit`].
    pub fn check_submission(
        &self,
        caller: Principal,
        neuron: u64,
        input: &ProposalInput,
    ) -> Result<Option<Validation>, GovernanceError> {
        self.controlled(caller, neuron)?;
        if input.title.trim().is_empty() || input.title.len() > MAX_TITLE_BYTES {
            return Err(GovernanceError::InvalidProposal(format!(
                "the title must be 1 to {MAX_TITLE_BYTES} bytes"
            )));
        }
        let motion = match &input.action {
            Action::Motion(m) => m.len(),
            _ => 0,
        };
        if input.summary.len() + motion > MAX_SUMMARY_BYTES {
            return Err(GovernanceError::InvalidProposal(format!(
                "the summary and motion text must fit in {MAX_SUMMARY_BYTES} bytes"
            )));
        }
        match &input.action {
            Action::Motion(_) => Ok(None),
            Action::AddGenericNervousSystemFunction(f) => {
                self.check_new_function(f)
                    .map_err(GovernanceError::InvalidProposal)?;
                Ok(None)
            }
            Action::RemoveGenericNervousSystemFunction(id) => {
                if !self.functions.contains_key(id) {
                    return Err(GovernanceError::UnknownFunction(*id));
                }
                Ok(None)
            }
            Action::UpgradeSnsControlledCanister(u) => {
                self.check_upgrade(u)
                    .map_err(GovernanceError::InvalidProposal)?;
                Ok(None)
            }
            Action::ExecuteGenericNervousSystemFunction(e) => {
                let f = self
                    .functions
                    .get(&e.function_id)
                    .ok_or(GovernanceError::UnknownFunction(e.function_id))?;
                Ok(Some(Validation {
                    canister: f.validator_canister_id,
                    method: f.validator_method_name.clone(),
                    payload: e.payload.to_vec(),
                }))
            }
        }
    }

    /// The canisters the DAO governs: the targets and validators of its registered generic
    /// functions (the stand-in's list of "SNS-controlled" canisters).
    pub fn governed_canisters(&self) -> Vec<Principal> {
        let mut ids: Vec<Principal> = self
            .functions
            .values()
            .flat_map(|f| [f.target_canister_id, f.validator_canister_id])
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    fn check_upgrade(&self, u: &UpgradeSnsControlledCanister) -> Result<Principal, String> {
        let id = u
            .canister_id
            .ok_or("the canister to upgrade (canister_id) is missing")?;
        if u.new_canister_wasm.is_empty() {
            return Err("the new wasm module is empty".into());
        }
        if let Some(m) = u.mode {
            if m != INSTALL_MODE_UPGRADE {
                return Err(format!(
                    "only mode {INSTALL_MODE_UPGRADE} (upgrade) is executed, got {m}"
                ));
            }
        }
        if !self.governed_canisters().contains(&id) {
            return Err(format!(
                "canister {id} is not one the DAO governs (not a target of a registered generic function)"
            ));
        }
        Ok(id)
    }

    fn check_new_function(&self, f: &NervousSystemFunction) -> Result<(), String> {
        if f.id < FIRST_GENERIC_FUNCTION_ID {
            return Err(format!(
                "generic function ids start at {FIRST_GENERIC_FUNCTION_ID}, got {}",
                f.id
            ));
        }
        if self.functions.contains_key(&f.id) {
            return Err(format!("function id {} is taken", f.id));
        }
        if f.name.trim().is_empty()
            || f.target_method_name.trim().is_empty()
            || f.validator_method_name.trim().is_empty()
        {
            return Err("the name and both method names must be set".into());
        }
        Ok(())
    }

    /// Stores a proposal after its validation. `validation` is the validator's answer for a
    /// generic function (`None` for native actions). The proposer's neuron votes yes, which may
    /// decide the proposal at once: the returned execution is then due.
    pub fn submit(
        &mut self,
        caller: Principal,
        neuron: u64,
        input: ProposalInput,
        validation: Option<Result<String, String>>,
        now: u64,
    ) -> Result<(u64, Option<Execution>), GovernanceError> {
        // Checked again: the state may have changed while the validator answered.
        let needs_validator = self.check_submission(caller, neuron, &input)?.is_some();
        let rendering = match (&input.action, validation) {
            (Action::ExecuteGenericNervousSystemFunction(_), Some(Ok(r))) if needs_validator => r,
            (Action::ExecuteGenericNervousSystemFunction(_), Some(Err(why))) => {
                return Err(GovernanceError::InvalidProposal(why))
            }
            (Action::ExecuteGenericNervousSystemFunction(_), _) => {
                return Err(GovernanceError::InvalidProposal(
                    "the payload was not validated".into(),
                ))
            }
            (Action::Motion(text), _) => format!("motion: {text}"),
            (Action::AddGenericNervousSystemFunction(f), _) => format!(
                "register generic function {} \"{}\": target {}.{}, validator {}.{}",
                f.id,
                f.name,
                f.target_canister_id,
                f.target_method_name,
                f.validator_canister_id,
                f.validator_method_name
            ),
            (Action::RemoveGenericNervousSystemFunction(id), _) => {
                format!("remove generic function {id}")
            }
            (Action::UpgradeSnsControlledCanister(u), _) => render_upgrade(u),
        };
        let id = self.next_id;
        self.next_id += 1;
        self.proposals.insert(
            id,
            Proposal {
                id,
                proposer: neuron,
                input,
                rendering,
                yes_e8s: 0,
                no_e8s: 0,
                total_e8s: self.total_e8s,
                ballots: Vec::new(),
                created_at_ns: now,
                deadline_ns: now.saturating_add(self.voting_period_ns),
                status: ProposalStatus::Open,
                decided_at_ns: None,
                executed_at_ns: None,
            },
        );
        let exec = self.vote(caller, neuron, id, true, now)?;
        Ok((id, exec))
    }

    /// A ballot. Returns the execution that became due if the ballot decided the proposal.
    pub fn vote(
        &mut self,
        caller: Principal,
        neuron: u64,
        proposal: u64,
        yes: bool,
        now: u64,
    ) -> Result<Option<Execution>, GovernanceError> {
        let stake = self.controlled(caller, neuron)?.stake_e8s;
        let p = self
            .proposals
            .get_mut(&proposal)
            .ok_or(GovernanceError::UnknownProposal(proposal))?;
        if p.status != ProposalStatus::Open || now >= p.deadline_ns {
            return Err(GovernanceError::NotOpen(proposal));
        }
        if p.ballots.iter().any(|(n, _)| *n == neuron) {
            return Err(GovernanceError::AlreadyVoted(neuron));
        }
        p.ballots.push((neuron, yes));
        if yes {
            p.yes_e8s = p.yes_e8s.saturating_add(stake);
        } else {
            p.no_e8s = p.no_e8s.saturating_add(stake);
        }
        let decided = if u128::from(p.yes_e8s) * 2 > u128::from(p.total_e8s) {
            Some(true)
        } else if u128::from(p.no_e8s) * 2 >= u128::from(p.total_e8s) {
            Some(false)
        } else {
            None
        };
        Ok(match decided {
            Some(adopted) => self.decide(proposal, adopted, now),
            None => None,
        })
    }

    /// Decides every open proposal whose deadline has passed (adopted when yes > no and yes is
    /// at least [`MIN_YES_BPS`] of all stake). Returns the executions that became due.
    pub fn close_expired(&mut self, now: u64) -> Vec<Execution> {
        let due: Vec<(u64, bool)> = self
            .proposals
            .values()
            .filter(|p| p.status == ProposalStatus::Open && now >= p.deadline_ns)
            .map(|p| {
                let adopted = p.yes_e8s > p.no_e8s
                    && u128::from(p.yes_e8s) * 10_000
                        >= u128::from(p.total_e8s) * u128::from(MIN_YES_BPS);
                (p.id, adopted)
            })
            .collect();
        due.into_iter()
            .filter_map(|(id, adopted)| self.decide(id, adopted, now))
            .collect()
    }

    /// Records the decision; native actions are applied here, generic ones are returned for
    /// the shell to call.
    fn decide(&mut self, id: u64, adopted: bool, now: u64) -> Option<Execution> {
        let p = self.proposals.get_mut(&id)?;
        p.decided_at_ns = Some(now);
        if !adopted {
            p.status = ProposalStatus::Rejected;
            return None;
        }
        match p.input.action.clone() {
            Action::Motion(_) => {
                p.status = ProposalStatus::Executed;
                p.executed_at_ns = Some(now);
                None
            }
            Action::AddGenericNervousSystemFunction(f) => {
                let r = self.check_new_function(&f);
                let p = self.proposals.get_mut(&id)?;
                p.executed_at_ns = Some(now);
                match r {
                    Ok(()) => {
                        p.status = ProposalStatus::Executed;
                        self.functions.insert(f.id, f);
                    }
                    Err(why) => p.status = ProposalStatus::Failed(why),
                }
                None
            }
            Action::RemoveGenericNervousSystemFunction(fid) => {
                let removed = self.functions.remove(&fid).is_some();
                let p = self.proposals.get_mut(&id)?;
                p.executed_at_ns = Some(now);
                p.status = if removed {
                    ProposalStatus::Executed
                } else {
                    ProposalStatus::Failed(format!("no generic function {fid}"))
                };
                None
            }
            Action::UpgradeSnsControlledCanister(u) => {
                let call = self.check_upgrade(&u).and_then(|canister_id| {
                    let args = InstallCodeArgs {
                        mode: InstallCodeMode::Upgrade(None),
                        canister_id,
                        wasm_module: u.new_canister_wasm.into_vec(),
                        arg: u
                            .canister_upgrade_arg
                            .map(|a| a.into_vec())
                            .unwrap_or_default(),
                        sender_canister_version: None,
                    };
                    candid::encode_one(args).map_err(|e| format!("encoding install_code: {e}"))
                });
                let p = self.proposals.get_mut(&id)?;
                match call {
                    Ok(payload) => {
                        p.status = ProposalStatus::Adopted;
                        Some(Execution::Call {
                            proposal: id,
                            canister: Principal::management_canister(),
                            method: "install_code".into(),
                            payload,
                        })
                    }
                    Err(why) => {
                        p.executed_at_ns = Some(now);
                        p.status = ProposalStatus::Failed(why);
                        None
                    }
                }
            }
            Action::ExecuteGenericNervousSystemFunction(e) => {
                let Some(f) = self.functions.get(&e.function_id).cloned() else {
                    let p = self.proposals.get_mut(&id)?;
                    p.executed_at_ns = Some(now);
                    p.status =
                        ProposalStatus::Failed(format!("no generic function {}", e.function_id));
                    return None;
                };
                let p = self.proposals.get_mut(&id)?;
                p.status = ProposalStatus::Adopted;
                Some(Execution::Call {
                    proposal: id,
                    canister: f.target_canister_id,
                    method: f.target_method_name,
                    payload: e.payload.into_vec(),
                })
            }
        }
    }

    /// The target's answer for an adopted proposal: `Ok` (it replied) or the reject/trap text.
    pub fn record_execution(&mut self, proposal: u64, result: Result<(), String>, now: u64) {
        if let Some(p) = self.proposals.get_mut(&proposal) {
            if p.status == ProposalStatus::Adopted {
                p.status = match result {
                    Ok(()) => ProposalStatus::Executed,
                    Err(why) => ProposalStatus::Failed(why),
                };
                p.executed_at_ns = Some(now);
            }
        }
    }

    /// Proposals adopted whose target call was interrupted (e.g. by an upgrade): they are
    /// marked failed, never re-executed silently.
    pub fn fail_interrupted(&mut self, now: u64) {
        for p in self.proposals.values_mut() {
            if p.status == ProposalStatus::Adopted {
                p.status = ProposalStatus::Failed("interrupted by an upgrade".into());
                p.executed_at_ns = Some(now);
            }
        }
    }

    /// A proposal.
    pub fn proposal(&self, id: u64) -> Option<Proposal> {
        self.proposals.get(&id).cloned()
    }

    /// Proposals with id greater than `after`, oldest first, at most `limit`. As on the SNS,
    /// a listing leaves out an upgrade's wasm (the rendering keeps its hash and size;
    /// [`Governance::proposal`] has it whole), so a page fits in one reply.
    pub fn proposals(&self, after: u64, limit: usize) -> Vec<Proposal> {
        self.proposals
            .range(after.saturating_add(1)..)
            .take(limit)
            .map(|(_, p)| {
                let mut p = p.clone();
                if let Action::UpgradeSnsControlledCanister(u) = &mut p.input.action {
                    u.new_canister_wasm = ByteBuf::new();
                }
                p
            })
            .collect()
    }

    /// The registered generic functions.
    pub fn functions(&self) -> Vec<NervousSystemFunction> {
        self.functions.values().cloned().collect()
    }

    /// The neurons.
    pub fn neurons(&self) -> Vec<Neuron> {
        self.neurons.values().cloned().collect()
    }

    /// The earliest deadline of an open proposal.
    pub fn next_deadline(&self) -> Option<u64> {
        self.proposals
            .values()
            .filter(|p| p.status == ProposalStatus::Open)
            .map(|p| p.deadline_ns)
            .min()
    }
}
