//! The canister shell (wasm32 only): reads the caller and the clock, calls validators and
//! targets, runs the deadline timer. The state is on the heap and saved to stable memory
//! across upgrades.

use crate::governance::{Execution, Governance};
use crate::types::*;
use ic_cdk::api::{msg_caller, time};
use ic_cdk::call::Call;
use ic_cdk::{init, post_upgrade, pre_upgrade, query, update};
use std::cell::RefCell;
use std::time::Duration;

/// How often open proposals' deadlines are checked.
const TICK: Duration = Duration::from_secs(60);

thread_local! {
    static GOV: RefCell<Option<Governance>> = const { RefCell::new(None) };
}

fn with<R>(f: impl FnOnce(&Governance) -> R) -> R {
    GOV.with_borrow(|g| match g {
        Some(g) => f(g),
        None => ic_cdk::trap("the governance canister is not initialized"),
    })
}

fn with_mut<R>(f: impl FnOnce(&mut Governance) -> R) -> R {
    GOV.with_borrow_mut(|g| match g {
        Some(g) => f(g),
        None => ic_cdk::trap("the governance canister is not initialized"),
    })
}

fn start_timer() {
    ic_cdk_timers::set_timer_interval(TICK, || async {
        process().await;
    });
}

#[init]
fn init(args: InitArgs) {
    match Governance::new(&args) {
        Ok(g) => GOV.with_borrow_mut(|s| *s = Some(g)),
        Err(e) => ic_cdk::trap(e),
    }
    start_timer();
}

#[pre_upgrade]
fn pre_upgrade() {
    let g = with(|g| g.clone());
    if let Err(e) = ic_cdk::storage::stable_save((g,)) {
        ic_cdk::trap(format!("saving the state: {e}"));
    }
}

#[post_upgrade]
fn post_upgrade() {
    match ic_cdk::storage::stable_restore::<(Governance,)>() {
        Ok((mut g,)) => {
            g.fail_interrupted(time());
            GOV.with_borrow_mut(|s| *s = Some(g));
        }
        Err(e) => ic_cdk::trap(format!("restoring the state: {e}")),
    }
    start_timer();
}

/// Calls an adopted proposal's target and records the outcome.
async fn execute(e: Execution) {
    let Execution::Call {
        proposal,
        canister,
        method,
        payload,
    } = e;
    let result = match Call::unbounded_wait(canister, &method)
        .with_raw_args(&payload)
        .await
    {
        Ok(_) => Ok(()),
        Err(err) => Err(err.to_string()),
    };
    with_mut(|g| g.record_execution(proposal, result, time()));
}

async fn process() -> u64 {
    let due = with_mut(|g| g.close_expired(time()));
    let n = due.len() as u64;
    for e in due {
        execute(e).await;
    }
    n
}

/// Submits a proposal with `neuron` (the caller must control it). A generic function's payload
/// goes to its validator first; a refusal or a reject refuses the proposal.
#[update]
async fn make_proposal(neuron: u64, input: ProposalInput) -> Result<u64, GovernanceError> {
    let caller = msg_caller();
    let validation = match with(|g| g.check_submission(caller, neuron, &input))? {
        None => None,
        Some(v) => {
            let answer = match Call::bounded_wait(v.canister, &v.method)
                .with_raw_args(&v.payload)
                .await
            {
                Err(e) => Err(format!("the validator rejected the payload: {e}")),
                Ok(reply) => match reply.candid::<Result<String, String>>() {
                    Ok(r) => r,
                    Err(e) => Err(format!("the validator's answer does not decode: {e}")),
                },
            };
            Some(answer)
        }
    };
    let (id, exec) = with_mut(|g| g.submit(caller, neuron, input, validation, time()))?;
    if let Some(e) = exec {
        execute(e).await;
    }
    Ok(id)
}

/// A ballot of `neuron` on `proposal`; a deciding ballot executes the proposal in this call.
#[update]
async fn register_vote(
    neuron: u64,
    proposal: u64,
    yes: bool,
) -> Result<ProposalStatus, GovernanceError> {
    let caller = msg_caller();
    if let Some(e) = with_mut(|g| g.vote(caller, neuron, proposal, yes, time()))? {
        execute(e).await;
    }
    with(|g| g.proposal(proposal))
        .map(|p| p.status)
        .ok_or(GovernanceError::UnknownProposal(proposal))
}

/// Decides the proposals past their deadline now (the timer does it every minute). Returns
/// how many were decided.
#[update]
async fn process_deadlines() -> u64 {
    process().await
}

#[query]
fn get_proposal(id: u64) -> Option<Proposal> {
    with(|g| g.proposal(id))
}

#[query]
fn list_proposals(after: u64, limit: u32) -> Vec<Proposal> {
    with(|g| g.proposals(after, limit.min(100) as usize))
}

#[query]
fn list_nervous_system_functions() -> Vec<NervousSystemFunction> {
    with(|g| g.functions())
}

#[query]
fn list_neurons() -> Vec<Neuron> {
    with(|g| g.neurons())
}

ic_cdk::export_candid!();
