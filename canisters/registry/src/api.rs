//! The canister shell (wasm32 only): decodes calls, reads the caller and the clock, calls the
//! pure [`Registry`], carries out its ledger movements (ICRC-2 pulls, ICRC-1 transfers) and
//! runs the timer. All state is in stable structures, so there is no `pre_upgrade` hook.

use crate::registry::Registry;
use crate::rules::movement_memo;
use crate::types::*;
use candid::{Nat, Principal};
use emc_types::NodeId;
use ic_cdk::api::{canister_self, msg_caller, time};
use ic_cdk::call::Call;
use ic_cdk::{init, post_upgrade, query, update};
use ic_stable_structures::DefaultMemoryImpl;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::{Memo, TransferArg, TransferError};
use icrc_ledger_types::icrc2::transfer_from::{TransferFromArgs, TransferFromError};
use serde_bytes::ByteBuf;
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::time::Duration;

/// Longest interval of the journal / epoch / expiry timer.
const MAX_TICK_SECS: u64 = 60;
/// Most movements the timer starts per tick.
const MAX_PER_TICK: usize = 50;

thread_local! {
    static REGISTRY: RefCell<Option<Registry<DefaultMemoryImpl>>> = const { RefCell::new(None) };
    /// Movements whose ledger call is outstanding (heap only: a canister with outstanding
    /// calls cannot be upgraded, so the set is empty after an upgrade).
    static IN_FLIGHT: RefCell<BTreeSet<u64>> = const { RefCell::new(BTreeSet::new()) };
    static JOURNAL_RUNNING: Cell<bool> = const { Cell::new(false) };
}

fn with<R>(f: impl FnOnce(&Registry<DefaultMemoryImpl>) -> R) -> R {
    REGISTRY.with_borrow(|r| match r {
        Some(r) => f(r),
        None => ic_cdk::trap("the registry is not initialized"),
    })
}

fn with_mut<R>(f: impl FnOnce(&mut Registry<DefaultMemoryImpl>) -> R) -> R {
    REGISTRY.with_borrow_mut(|r| match r {
        Some(r) => f(r),
        None => ic_cdk::trap("the registry is not initialized"),
    })
}

/// The timer runs every minute, or twelve times an epoch when epochs are shorter than 12
/// minutes (a local devnet), so that an epoch's validator set is taken soon after it starts.
fn start_timer() {
    let epoch_secs = with(|r| r.config().params.epoch_length_secs);
    let tick = Duration::from_secs((epoch_secs / 12).clamp(1, MAX_TICK_SECS));
    ic_cdk_timers::set_timer_interval(tick, || async {
        run_journal(MAX_PER_TICK).await;
    });
}

#[init]
fn init(arg: RegistryArg) {
    let RegistryArg::Init(args) = arg else {
        ic_cdk::trap("install needs RegistryArg::Init");
    };
    match Registry::init(DefaultMemoryImpl::default(), &args, time(), canister_self()) {
        Ok(r) => REGISTRY.with_borrow_mut(|s| *s = Some(r)),
        Err(e) => ic_cdk::trap(e.to_string()),
    }
    start_timer();
}

#[post_upgrade]
fn post_upgrade(arg: Option<RegistryArg>) {
    if let Some(RegistryArg::Init(_)) = arg {
        ic_cdk::trap("refusing RegistryArg::Init on upgrade: it would reset the registry");
    }
    match Registry::load(DefaultMemoryImpl::default(), canister_self()) {
        Ok(r) => REGISTRY.with_borrow_mut(|s| *s = Some(r)),
        Err(e) => ic_cdk::trap(e.to_string()),
    }
    start_timer();
}

// ------------------------------------------------------------------ ledger calls

fn nat_u64(n: &Nat) -> u64 {
    u64::try_from(&n.0).unwrap_or(u64::MAX)
}

fn from_transfer_error(e: TransferError) -> LedgerOutcome {
    match e {
        TransferError::Duplicate { duplicate_of } => LedgerOutcome::Done(nat_u64(&duplicate_of)),
        TransferError::BadFee { expected_fee } => LedgerOutcome::BadFee(nat_u64(&expected_fee)),
        TransferError::TooOld
        | TransferError::CreatedInFuture { .. }
        | TransferError::TemporarilyUnavailable => LedgerOutcome::Unavailable(format!("{e:?}")),
        e => LedgerOutcome::Refused(format!("{e:?}")),
    }
}

fn from_transfer_from_error(e: TransferFromError) -> LedgerOutcome {
    match e {
        TransferFromError::Duplicate { duplicate_of } => {
            LedgerOutcome::Done(nat_u64(&duplicate_of))
        }
        TransferFromError::BadFee { expected_fee } => LedgerOutcome::BadFee(nat_u64(&expected_fee)),
        TransferFromError::TooOld
        | TransferFromError::CreatedInFuture { .. }
        | TransferFromError::TemporarilyUnavailable => LedgerOutcome::Unavailable(format!("{e:?}")),
        e => LedgerOutcome::Refused(format!("{e:?}")),
    }
}

/// One ledger call for a journal entry, with the entry's `created_at_time` and memo.
async fn call_ledger(ledger: Principal, m: &Movement) -> LedgerOutcome {
    let memo = Some(Memo(ByteBuf::from(movement_memo(m.id))));
    match m.kind {
        MovementKind::StakePull => {
            let arg = TransferFromArgs {
                spender_subaccount: None,
                from: m.from,
                to: m.to,
                amount: Nat::from(m.amount_e8s),
                fee: Some(Nat::from(m.fee_e8s)),
                memo,
                created_at_time: Some(m.created_at_time),
            };
            match Call::unbounded_wait(ledger, "icrc2_transfer_from")
                .with_arg(arg)
                .await
            {
                Err(e) => LedgerOutcome::Unavailable(e.to_string()),
                Ok(r) => match r.candid::<Result<Nat, TransferFromError>>() {
                    Err(e) => LedgerOutcome::Unavailable(e.to_string()),
                    Ok(Ok(block)) => LedgerOutcome::Done(nat_u64(&block)),
                    Ok(Err(e)) => from_transfer_from_error(e),
                },
            }
        }
        MovementKind::Release | MovementKind::Penalty | MovementKind::Confiscate => {
            let arg = TransferArg {
                from_subaccount: m.from.subaccount,
                to: m.to,
                fee: Some(Nat::from(m.fee_e8s)),
                created_at_time: Some(m.created_at_time),
                memo,
                amount: Nat::from(m.amount_e8s),
            };
            match Call::unbounded_wait(ledger, "icrc1_transfer")
                .with_arg(arg)
                .await
            {
                Err(e) => LedgerOutcome::Unavailable(e.to_string()),
                Ok(r) => match r.candid::<Result<Nat, TransferError>>() {
                    Err(e) => LedgerOutcome::Unavailable(e.to_string()),
                    Ok(Ok(block)) => LedgerOutcome::Done(nat_u64(&block)),
                    Ok(Err(e)) => from_transfer_error(e),
                },
            }
        }
    }
}

/// Removes a movement from the in-flight set when dropped (also when a callback traps and
/// the future is dropped by the cleanup).
struct InFlight(u64);

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.with_borrow_mut(|s| s.remove(&self.0));
    }
}

/// Calls the ledger for a pending movement (already counted by `prepare_attempt`) and
/// records the outcome. `None` when the movement is in flight elsewhere.
async fn execute(m: Movement) -> Option<Movement> {
    if !IN_FLIGHT.with_borrow_mut(|s| s.insert(m.id)) {
        return None;
    }
    let _guard = InFlight(m.id);
    let ledger = with(|r| r.config().ledger);
    let outcome = call_ledger(ledger, &m).await;
    with_mut(|r| r.finish(m.id, &outcome, time())).ok()
}

struct JournalGuard;

impl Drop for JournalGuard {
    fn drop(&mut self) {
        JOURNAL_RUNNING.set(false);
    }
}

/// Time-driven work, retries of pending movements, then new movements nodes owe.
async fn run_journal(max: usize) -> u64 {
    if JOURNAL_RUNNING.replace(true) {
        return 0;
    }
    let _guard = JournalGuard;
    let now = time();
    let mut todo = with_mut(|r| {
        r.process_time(now);
        let ids: Vec<u64> = r
            .pending_movements(max.saturating_mul(2))
            .into_iter()
            .map(|m| m.id)
            .filter(|id| !IN_FLIGHT.with_borrow(|s| s.contains(id)))
            .take(max)
            .collect();
        let mut todo: Vec<Movement> = ids
            .into_iter()
            .filter_map(|id| r.prepare_attempt(id, now))
            .collect();
        let room = max.saturating_sub(todo.len());
        for m in r.plan_movements(now, room) {
            if let Some(m) = r.prepare_attempt(m.id, now) {
                todo.push(m);
            }
        }
        todo
    });
    let n = todo.len() as u64;
    for m in todo.drain(..) {
        execute(m).await;
    }
    n
}

// ------------------------------------------------------------------ registration

#[update]
fn registration_nonce() -> Result<ByteBuf, RegistryError> {
    let caller = msg_caller();
    with_mut(|r| r.registration_nonce(caller, time())).map(|n| ByteBuf::from(n.to_vec()))
}

#[update]
fn register(args: RegisterArgs) -> Result<Node, RegistryError> {
    let caller = msg_caller();
    with_mut(|r| r.register(caller, &args, time()))
}

#[update]
fn update_node(args: UpdateNodeArgs) -> Result<Node, RegistryError> {
    let caller = msg_caller();
    with_mut(|r| r.update_node(caller, &args, time()))
}

#[update]
fn requeue_candidate(node_id: NodeId) -> Result<CandidateInfo, RegistryError> {
    let caller = msg_caller();
    with_mut(|r| r.requeue_candidate(caller, &node_id, time()))
}

#[update]
fn retire_node(node_id: NodeId) -> Result<Node, RegistryError> {
    let caller = msg_caller();
    with_mut(|r| r.retire(caller, &node_id, time()))
}

// ------------------------------------------------------------------ staking

#[update]
async fn stake(args: StakeArgs) -> Result<StakeInfo, RegistryError> {
    let caller = msg_caller();
    let now = time();
    let m = with_mut(|r| {
        let m = r.begin_stake(caller, &args, now)?;
        r.prepare_attempt(m.id, now)
            .ok_or(RegistryError::Storage("movement not pending".into()))
    })?;
    let id = m.id;
    let done = execute(m).await;
    let m = match done {
        Some(m) => m,
        None => with(|r| r.movement(id)).ok_or(RegistryError::NotFound)?,
    };
    match m.status {
        MovementStatus::Done { .. } => {
            with(|r| r.stake_info(&args.node_id, time())).ok_or(RegistryError::NodeNotFound)
        }
        MovementStatus::Failed { reason } => Err(RegistryError::LedgerRefused(reason)),
        MovementStatus::Pending | MovementStatus::Stuck => Err(RegistryError::LedgerUnavailable {
            movement_id: id,
            reason: "the ledger did not confirm; the journal retries".into(),
        }),
    }
}

#[update]
fn renew_stake(args: RenewArgs) -> Result<Term, RegistryError> {
    let caller = msg_caller();
    with_mut(|r| r.renew(caller, &args, time()))
}

#[update]
async fn retry_pending() -> u64 {
    run_journal(MAX_PER_TICK).await
}

// ------------------------------------------------------------------ penalties, E, impeachment

#[update]
fn apply_penalties(
    batch_id: u64,
    reports: Vec<PenaltyReport>,
) -> Result<Vec<PenaltyApplied>, RegistryError> {
    let caller = msg_caller();
    with_mut(|r| r.apply_penalties(caller, batch_id, &reports, time()))
}

#[update]
fn report_compute_e(node_id: NodeId, e_fixed: u64) -> Result<(), RegistryError> {
    let caller = msg_caller();
    with_mut(|r| r.report_compute_e(caller, &node_id, e_fixed, time()))
}

#[update]
fn report_compute_es(reports: Vec<ComputeE>) -> Result<u32, RegistryError> {
    let caller = msg_caller();
    with_mut(|r| r.report_compute_es(caller, &reports, time()))
}

#[update]
fn open_impeachment(args: OpenCaseArgs) -> Result<Case, RegistryError> {
    let caller = msg_caller();
    with_mut(|r| r.open_case(caller, &args, time()))
}

#[update]
fn report_key_leak(node_id: NodeId) -> Result<Case, RegistryError> {
    let caller = msg_caller();
    with_mut(|r| r.report_key_leak(caller, &node_id, time()))
}

#[update]
fn vote_impeachment(args: VoteArgs) -> Result<Case, RegistryError> {
    let caller = msg_caller();
    with_mut(|r| r.vote(caller, &args, time()))
}

// ------------------------------------------------------------------ governance (SNS generic functions)

fn governance_or_trap<R>(r: Result<R, RegistryError>) -> R {
    match r {
        Ok(v) => v,
        Err(e) => ic_cdk::trap(e.to_string()),
    }
}

#[query]
fn validate_set_params(p: Params) -> Result<String, String> {
    with(|r| r.validate_set_params(&p))
}

#[update]
fn execute_set_params(p: Params) {
    let caller = msg_caller();
    governance_or_trap(with_mut(|r| r.execute_set_params(caller, &p, time())));
}

#[query]
fn validate_set_governance(p: Principal) -> Result<String, String> {
    with(|r| r.validate_set_governance(&p))
}

#[update]
fn execute_set_governance(p: Principal) {
    let caller = msg_caller();
    governance_or_trap(with_mut(|r| r.execute_set_governance(caller, &p)));
}

#[query]
fn validate_set_treasury(a: Account) -> Result<String, String> {
    with(|r| r.validate_set_treasury(&a))
}

#[update]
fn execute_set_treasury(a: Account) {
    let caller = msg_caller();
    governance_or_trap(with_mut(|r| r.execute_set_treasury(caller, &a)));
}

#[query]
fn validate_set_epochs_canister(p: Option<Principal>) -> Result<String, String> {
    with(|r| r.validate_set_epochs_canister(&p))
}

#[update]
fn execute_set_epochs_canister(p: Option<Principal>) {
    let caller = msg_caller();
    governance_or_trap(with_mut(|r| r.execute_set_epochs_canister(caller, &p)));
}

#[query]
fn validate_resolve_movement(a: ResolveMovementArgs) -> Result<String, String> {
    with(|r| r.validate_resolve_movement(&a))
}

#[update]
fn execute_resolve_movement(a: ResolveMovementArgs) {
    let caller = msg_caller();
    governance_or_trap(with_mut(|r| {
        r.resolve_movement(caller, a.movement_id, a.executed_in_block, time())
    }));
}

// ------------------------------------------------------------------ queries

#[query]
fn get_node(node_id: NodeId) -> Option<Node> {
    with(|r| r.get_node(&node_id))
}

#[query]
fn nodes_by_role(role: Role, start_after: Option<NodeId>, limit: u32) -> Vec<Node> {
    with(|r| r.nodes_by_role(role, start_after, limit))
}

#[query]
fn nodes_by_owner(owner: Principal, start_after: Option<NodeId>, limit: u32) -> Vec<Node> {
    with(|r| r.nodes_by_owner(owner, start_after, limit))
}

#[query]
fn my_nodes(start_after: Option<NodeId>, limit: u32) -> Vec<Node> {
    let caller = msg_caller();
    with(|r| r.nodes_by_owner(caller, start_after, limit))
}

#[query]
fn node_stake(node_id: NodeId) -> Option<StakeInfo> {
    with(|r| r.stake_info(&node_id, time()))
}

#[query]
fn candidate(node_id: NodeId) -> Option<CandidateInfo> {
    with(|r| r.candidate(&node_id))
}

#[query]
fn e_multiplier(node_id: NodeId) -> Option<u64> {
    with(|r| r.e_multiplier(&node_id, time()))
}

#[query]
fn validator_set(epoch: u64) -> Option<ValidatorSetSnapshot> {
    with(|r| r.validator_set(epoch))
}

#[query]
fn epoch_nodes(args: EpochNodesArgs) -> Option<EpochNodesPage> {
    with(|r| r.epoch_nodes(&args))
}

#[query]
fn current_epoch() -> EpochInfo {
    with(|r| r.epoch_info())
}

#[query]
fn movement(id: u64) -> Option<Movement> {
    with(|r| r.movement(id))
}

#[query]
fn pending_movements() -> Vec<Movement> {
    with(|r| r.pending_movements(100))
}

#[query]
fn impeachment_case(id: u64) -> Option<Case> {
    with(|r| r.case(id))
}

#[query]
fn get_config() -> Config {
    with(|r| r.config().clone())
}

#[query]
fn stats() -> Stats {
    with(|r| r.stats())
}

/// Benchmark builds only: seeds `n` synthetic compute nodes owned by the caller.
#[cfg(feature = "bench")]
#[update]
fn bench_seed_nodes(n: u64) -> u64 {
    let caller = msg_caller();
    with_mut(|r| r.bench_seed_nodes(caller, n, time()))
}

ic_cdk::export_candid!();
