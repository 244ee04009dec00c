//! The canister shell (wasm32 only): decodes calls, reads the caller and the clock, calls the
//! pure [`Epochs`], fetches validator sets from the registry, mints payouts on the ledger and
//! sends penalties and compute nodes' E to the registry from a timer. All state is in stable structures, so there is
//! no `pre_upgrade` hook.

use crate::epochs::{payout_memo, Epochs, MintOutcome, ReportOutcome};
use crate::storage::{epoch_node, EpochNode};
use crate::types::*;
use candid::{CandidType, Nat, Principal, Reserved};
use emc_types::{Checkpoint, CheckpointSignature, NodeId, SignedCheckpoint, ValidatorSet};
use ic_cdk::api::{msg_caller, time};
use ic_cdk::call::Call;
use ic_cdk::{init, inspect_message, post_upgrade, query, update};
use ic_stable_structures::DefaultMemoryImpl;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::{Memo, TransferArg, TransferError};
use serde::Deserialize;
use serde_bytes::ByteBuf;
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::time::Duration;

/// Interval of the payout / penalty timer.
const TICK: Duration = Duration::from_secs(30);
/// Most penalty batches sent per run.
const PENALTY_BATCHES_PER_RUN: usize = 5;
/// Most compute E batches sent per run.
const COMPUTE_E_BATCHES_PER_RUN: usize = 5;

thread_local! {
    static EPOCHS: RefCell<Option<Epochs<DefaultMemoryImpl>>> = const { RefCell::new(None) };
    /// Payouts whose mint is outstanding (heap only: empty after an upgrade).
    static IN_FLIGHT: RefCell<BTreeSet<EpochNode>> = const { RefCell::new(BTreeSet::new()) };
    static PAYOUTS_RUNNING: Cell<bool> = const { Cell::new(false) };
    static PENALTIES_RUNNING: Cell<bool> = const { Cell::new(false) };
    static COMPUTE_ES_RUNNING: Cell<bool> = const { Cell::new(false) };
    /// Trading-reward mints awaiting the ledger, e8s (heap only: counted against the pool).
    static TRADING_IN_FLIGHT: Cell<u64> = const { Cell::new(0) };
    /// DAO-pool mints awaiting the ledger, e8s: developer grants, airdrop.
    static DAO_IN_FLIGHT: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

fn with<R>(f: impl FnOnce(&Epochs<DefaultMemoryImpl>) -> R) -> R {
    EPOCHS.with_borrow(|r| match r {
        Some(r) => f(r),
        None => ic_cdk::trap("the epochs canister is not initialized"),
    })
}

fn with_mut<R>(f: impl FnOnce(&mut Epochs<DefaultMemoryImpl>) -> R) -> R {
    EPOCHS.with_borrow_mut(|r| match r {
        Some(r) => f(r),
        None => ic_cdk::trap("the epochs canister is not initialized"),
    })
}

fn start_timer() {
    ic_cdk_timers::set_timer_interval(TICK, || async {
        run_payouts_batch(true).await;
        send_penalties().await;
        send_compute_es().await;
    });
}

#[init]
fn init(arg: EpochsArg) {
    let EpochsArg::Init(args) = arg else {
        ic_cdk::trap("install needs EpochsArg::Init");
    };
    match Epochs::init(DefaultMemoryImpl::default(), &args) {
        Ok(r) => EPOCHS.with_borrow_mut(|s| *s = Some(r)),
        Err(e) => ic_cdk::trap(e.to_string()),
    }
    start_timer();
}

#[post_upgrade]
fn post_upgrade(arg: Option<EpochsArg>) {
    if let Some(EpochsArg::Init(_)) = arg {
        ic_cdk::trap("refusing EpochsArg::Init on upgrade: it would reset the canister");
    }
    match Epochs::load(DefaultMemoryImpl::default()) {
        Ok(r) => EPOCHS.with_borrow_mut(|s| *s = Some(r)),
        Err(e) => ic_cdk::trap(e.to_string()),
    }
    start_timer();
}

/// Ingress filter: a checkpoint that fails the cheap checks (height, previous hash, epoch,
/// set id, counts, signers) is dropped before it costs an update call. Everything else is
/// accepted (the update re-checks all of it).
#[inspect_message]
fn inspect_message() {
    if ic_cdk::api::msg_method_name() == "submit_checkpoint" {
        let arg = ic_cdk::api::msg_arg_data();
        let Ok((checkpoint, signatures)) =
            candid::decode_args::<(Checkpoint, Vec<CheckpointSignature>)>(&arg)
        else {
            return;
        };
        let sc = SignedCheckpoint {
            checkpoint,
            signatures,
        };
        match with(|e| e.precheck(&sc)) {
            Ok(_) | Err(EpochsError::NoValidatorSet(_)) => {}
            Err(_) => return,
        }
    }
    ic_cdk::api::accept_message();
}

// ------------------------------------------------------------------ registry

/// Fetches and caches the registry's validator set of `epoch`.
async fn fetch_set(epoch: u64) -> Result<(), EpochsError> {
    let registry = with(|e| e.config().registry);
    let snap = match Call::bounded_wait(registry, "validator_set")
        .with_arg(epoch)
        .await
    {
        Ok(r) => r
            .candid::<Option<ValidatorSetSnapshot>>()
            .map_err(|_| EpochsError::NoValidatorSet(epoch))?,
        Err(_) => return Err(EpochsError::NoValidatorSet(epoch)),
    };
    match snap {
        Some(s) if !s.set.members.is_empty() => with_mut(|e| e.cache_validator_set(epoch, s.set)),
        _ => Err(EpochsError::NoValidatorSet(epoch)),
    }
}

async fn ensure_set(epoch: u64) -> Result<(), EpochsError> {
    if with(|e| e.validator_set(epoch)).is_some() {
        return Ok(());
    }
    fetch_set(epoch).await
}

/// The registry's refusals of `apply_penalties` and `report_compute_es` this canister acts on
/// (others do not decode and are retried).
#[derive(CandidType, Deserialize)]
enum RegistryRefusal {
    NotEpochsCanister,
    NodeNotFound,
    InvalidArgument(String),
}

/// Sends queued penalty batches to the registry, oldest first.
async fn send_penalties() {
    if PENALTIES_RUNNING.replace(true) {
        return;
    }
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            PENALTIES_RUNNING.set(false);
        }
    }
    let _guard = Guard;
    let registry = with(|e| e.config().registry);
    for _ in 0..PENALTY_BATCHES_PER_RUN {
        let Some((batch, reports)) = with(|e| e.next_penalty_batch()) else {
            return;
        };
        let reply = Call::unbounded_wait(registry, "apply_penalties")
            .with_args(&(batch, reports))
            .await;
        let Ok(reply) = reply else {
            return; // retried on the next tick
        };
        match reply.candid::<Result<Reserved, RegistryRefusal>>() {
            Ok(Ok(_)) => with_mut(|e| e.penalty_batch_sent(batch)),
            // The registry does not know this canister yet: keep the batch.
            Ok(Err(RegistryRefusal::NotEpochsCanister)) => return,
            // A refusal that will not change (the batch is applied already).
            Ok(Err(_)) => with_mut(|e| e.penalty_batch_sent(batch)),
            // Another error (storage): retried on the next tick.
            Err(_) => return,
        }
    }
}

/// Sends queued batches of compute nodes' E to the registry's `report_compute_es`, oldest
/// first (the registry skips nodes it does not know or that are not compute nodes).
async fn send_compute_es() {
    if COMPUTE_ES_RUNNING.replace(true) {
        return;
    }
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            COMPUTE_ES_RUNNING.set(false);
        }
    }
    let _guard = Guard;
    let registry = with(|e| e.config().registry);
    for _ in 0..COMPUTE_E_BATCHES_PER_RUN {
        let Some((key, batch)) = with(|e| e.next_compute_e_batch()) else {
            return;
        };
        let reply = Call::unbounded_wait(registry, "report_compute_es")
            .with_arg(batch)
            .await;
        let outcome = match reply {
            // A transport failure (or a registry without the endpoint yet): retried.
            Err(_) => ReportOutcome::Retry,
            Ok(reply) => match reply.candid::<Result<Reserved, RegistryRefusal>>() {
                Ok(Ok(_)) => ReportOutcome::Applied,
                // The registry does not know this canister yet: keep the batch.
                Ok(Err(RegistryRefusal::NotEpochsCanister)) => ReportOutcome::Retry,
                // A refusal that will not change (a malformed batch).
                Ok(Err(_)) => ReportOutcome::Refused,
                // Another error (storage): retried.
                Err(_) => ReportOutcome::Retry,
            },
        };
        with_mut(|e| e.compute_e_batch_answered(&key, &outcome));
        if outcome == ReportOutcome::Retry {
            return; // on the next tick
        }
    }
}

// ------------------------------------------------------------------ ledger

fn nat_u64(n: &Nat) -> u64 {
    u64::try_from(&n.0).unwrap_or(u64::MAX)
}

async fn mint(ledger: Principal, p: &Payout) -> MintOutcome {
    let arg = TransferArg {
        from_subaccount: None,
        to: Account {
            owner: p.owner,
            subaccount: None,
        },
        fee: None,
        created_at_time: Some(p.created_at_time),
        memo: Some(Memo(ByteBuf::from(payout_memo(p.epoch, &p.node).to_vec()))),
        amount: Nat::from(p.amount_e8s),
    };
    match Call::unbounded_wait(ledger, "icrc1_transfer")
        .with_arg(arg)
        .await
    {
        Err(e) => MintOutcome::Retry(e.to_string()),
        Ok(r) => match r.candid::<Result<Nat, TransferError>>() {
            Err(e) => MintOutcome::Retry(e.to_string()),
            Ok(Ok(block)) => MintOutcome::Minted(nat_u64(&block)),
            Ok(Err(TransferError::Duplicate { duplicate_of })) => {
                MintOutcome::Minted(nat_u64(&duplicate_of))
            }
            Ok(Err(TransferError::TooOld)) => MintOutcome::TooOld,
            Ok(Err(e)) => MintOutcome::Retry(format!("{e:?}")),
        },
    }
}

struct InFlight(EpochNode);

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.with_borrow_mut(|s| s.remove(&self.0));
    }
}

async fn pay_one(ledger: Principal, p: Payout) {
    let key = epoch_node(p.epoch, &p.node.0);
    if !IN_FLIGHT.with_borrow_mut(|s| s.insert(key)) {
        return;
    }
    let _guard = InFlight(key);
    let outcome = mint(ledger, &p).await;
    let _ = with_mut(|e| e.record_mint(p.epoch, &p.node, &outcome));
}

/// Plans one batch of payouts and mints them (all calls in flight together). Returns the
/// number of payouts attempted; when a timer-driven batch was full (`chain`) another one is
/// scheduled at once.
async fn run_payouts_batch(chain: bool) -> u64 {
    if PAYOUTS_RUNNING.replace(true) {
        return 0;
    }
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            PAYOUTS_RUNNING.set(false);
        }
    }
    let _guard = Guard;
    let (ledger, max) = with(|e| (e.config().ledger, e.config().params.payout_batch as usize));
    let todo: Vec<Payout> = with_mut(|e| e.plan_payouts(time(), max))
        .into_iter()
        .filter(|p| !IN_FLIGHT.with_borrow(|s| s.contains(&epoch_node(p.epoch, &p.node.0))))
        .collect();
    let n = todo.len() as u64;
    futures::future::join_all(todo.into_iter().map(|p| pay_one(ledger, p))).await;
    if chain && n as usize >= max {
        ic_cdk_timers::set_timer(Duration::ZERO, async {
            run_payouts_batch(true).await;
        });
    }
    n
}

// ------------------------------------------------------------------ updates

#[update]
async fn submit_checkpoint(
    checkpoint: Checkpoint,
    signatures: Vec<CheckpointSignature>,
) -> Result<StoredCheckpoint, EpochsError> {
    let sc = SignedCheckpoint {
        checkpoint,
        signatures,
    };
    match with(|e| e.precheck(&sc)) {
        Err(EpochsError::NoValidatorSet(epoch)) => fetch_set(epoch).await?,
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    // Everything is checked again after the await.
    with_mut(|e| e.submit_checkpoint(&sc, time()))
}

#[update]
async fn submit_evidence(ev: EquivocationEvidence) -> Result<EquivocationOutcome, EpochsError> {
    ensure_set(ev.first.checkpoint.epoch).await?;
    let out = with_mut(|e| e.submit_evidence(&ev, time()))?;
    ic_cdk_timers::set_timer(Duration::ZERO, async {
        send_penalties().await;
    });
    Ok(out)
}

#[update]
fn declare_epoch_data(h: EpochDataHeader) -> Result<EpochSummary, EpochsError> {
    with_mut(|e| e.declare_epoch_data(&h))
}

#[update]
fn upload_chunk(c: DataChunk) -> Result<EpochSummary, EpochsError> {
    with_mut(|e| e.upload_chunk(&c))
}

#[update]
fn close_epoch(epoch: u64) -> Result<EpochSummary, EpochsError> {
    // Payouts start at the next timer tick (or with `run_payouts`).
    with_mut(|e| e.close_epoch(epoch, time()))
}

#[update]
async fn run_payouts() -> u64 {
    let n = run_payouts_batch(false).await;
    send_penalties().await;
    send_compute_es().await;
    n
}

/// Mints a trading reward for the market (the only caller), within the 378M pool. The
/// market's `created_at_time` and memo go to the ledger as given, so the market's retries of a
/// mint are deduplicated by the ledger; only a new mint counts against the pool.
#[update]
async fn mint_trading_reward(m: TradingMint) -> Result<u64, EpochsError> {
    let in_flight = TRADING_IN_FLIGHT.get();
    with(|e| e.check_trading_mint(msg_caller(), &m, in_flight))?;
    let ledger = with(|e| e.config().ledger);
    let arg = TransferArg {
        from_subaccount: None,
        to: m.to,
        fee: None,
        created_at_time: Some(m.created_at_time),
        memo: Some(Memo(m.memo.clone())),
        amount: Nat::from(m.amount_e8s),
    };
    TRADING_IN_FLIGHT.set(in_flight.saturating_add(m.amount_e8s));
    struct Release(u64);
    impl Drop for Release {
        fn drop(&mut self) {
            TRADING_IN_FLIGHT.set(TRADING_IN_FLIGHT.get().saturating_sub(self.0));
        }
    }
    let _release = Release(m.amount_e8s);
    let reply = Call::unbounded_wait(ledger, "icrc1_transfer")
        .with_arg(arg)
        .await
        .map_err(|e| EpochsError::Ledger(e.to_string()))?;
    match reply
        .candid::<Result<Nat, TransferError>>()
        .map_err(|e| EpochsError::Ledger(e.to_string()))?
    {
        Ok(block) => {
            with_mut(|e| e.record_trading_mint(m.amount_e8s));
            Ok(nat_u64(&block))
        }
        Err(TransferError::Duplicate { duplicate_of }) => Ok(nat_u64(&duplicate_of)),
        Err(e) => Err(EpochsError::Ledger(format!("{e:?}"))),
    }
}

fn dao_in_flight(pool: DaoPool) -> u64 {
    let (g, a) = DAO_IN_FLIGHT.get();
    match pool {
        DaoPool::DeveloperGrants => g,
        DaoPool::Airdrop => a,
    }
}

fn add_dao_in_flight(pool: DaoPool, amount: u64, add: bool) {
    let (g, a) = DAO_IN_FLIGHT.get();
    let f = |v: u64| {
        if add {
            v.saturating_add(amount)
        } else {
            v.saturating_sub(amount)
        }
    };
    DAO_IN_FLIGHT.set(match pool {
        DaoPool::DeveloperGrants => (f(g), a),
        DaoPool::Airdrop => (g, f(a)),
    });
}

/// Mints a developer grant or an airdrop payment for the DAO canister (the only caller),
/// within the pool's cap (252M, 105M). The DAO's `created_at_time` and memo go to the ledger as
/// given, so its retries are deduplicated; only a new mint counts against the pool.
#[update]
async fn mint_dao_reward(m: DaoMint) -> Result<u64, EpochsError> {
    with(|e| e.check_dao_mint(msg_caller(), &m, dao_in_flight(m.pool)))?;
    let ledger = with(|e| e.config().ledger);
    let arg = TransferArg {
        from_subaccount: None,
        to: m.to,
        fee: None,
        created_at_time: Some(m.created_at_time),
        memo: Some(Memo(m.memo.clone())),
        amount: Nat::from(m.amount_e8s),
    };
    add_dao_in_flight(m.pool, m.amount_e8s, true);
    struct Release(DaoPool, u64);
    impl Drop for Release {
        fn drop(&mut self) {
            add_dao_in_flight(self.0, self.1, false);
        }
    }
    let _release = Release(m.pool, m.amount_e8s);
    let reply = Call::unbounded_wait(ledger, "icrc1_transfer")
        .with_arg(arg)
        .await
        .map_err(|e| EpochsError::Ledger(e.to_string()))?;
    match reply
        .candid::<Result<Nat, TransferError>>()
        .map_err(|e| EpochsError::Ledger(e.to_string()))?
    {
        Ok(block) => {
            with_mut(|e| e.record_dao_mint(m.pool, m.amount_e8s));
            Ok(nat_u64(&block))
        }
        Err(TransferError::Duplicate { duplicate_of }) => Ok(nat_u64(&duplicate_of)),
        Err(e) => Err(EpochsError::Ledger(format!("{e:?}"))),
    }
}

// ------------------------------------------------------------------ governance

fn governance_or_trap<R>(r: Result<R, EpochsError>) -> R {
    match r {
        Ok(v) => v,
        Err(e) => ic_cdk::trap(e.to_string()),
    }
}

#[query]
fn validate_set_params(p: Params) -> Result<String, String> {
    with(|e| e.validate_set_params(&p))
}

#[update]
fn execute_set_params(p: Params) {
    let caller = msg_caller();
    governance_or_trap(with_mut(|e| e.execute_set_params(caller, &p)));
}

#[query]
fn validate_set_governance(p: Principal) -> Result<String, String> {
    with(|e| e.validate_set_governance(&p))
}

#[update]
fn execute_set_governance(p: Principal) {
    let caller = msg_caller();
    governance_or_trap(with_mut(|e| e.execute_set_governance(caller, &p)));
}

#[query]
fn validate_set_market(m: Option<Principal>) -> Result<String, String> {
    with(|e| e.validate_set_market(&m))
}

#[update]
fn execute_set_market(m: Option<Principal>) {
    let caller = msg_caller();
    governance_or_trap(with_mut(|e| e.execute_set_market(caller, m)));
}

#[query]
fn validate_set_dao(d: Option<Principal>) -> Result<String, String> {
    with(|e| e.validate_set_dao(&d))
}

#[update]
fn execute_set_dao(d: Option<Principal>) {
    let caller = msg_caller();
    governance_or_trap(with_mut(|e| e.execute_set_dao(caller, d)));
}

#[query]
fn validate_resolve_payout(a: ResolvePayoutArgs) -> Result<String, String> {
    with(|e| e.validate_resolve_payout(&a))
}

#[update]
fn execute_resolve_payout(a: ResolvePayoutArgs) {
    let caller = msg_caller();
    governance_or_trap(with_mut(|e| e.execute_resolve_payout(caller, &a, time())));
}

// ------------------------------------------------------------------ queries

#[query]
fn checkpoint(height: u64) -> Option<StoredCheckpoint> {
    with(|e| e.checkpoint(height))
}

#[query]
fn final_receipts_root(height: u64) -> ReceiptsRoot {
    with(|e| e.final_receipts_root(height, time()))
}

#[query]
fn latest_checkpoint() -> Option<StoredCheckpoint> {
    with(|e| e.latest())
}

#[query]
fn epoch_summary(epoch: u64) -> Option<EpochSummary> {
    with(|e| e.epoch_summary(epoch))
}

#[query]
fn node_reward(node: NodeId, epoch: u64) -> Option<Payout> {
    with(|e| e.payout(epoch, &node))
}

#[query]
fn node_history(node: NodeId, from_epoch: u64, limit: u32) -> Vec<NodeEpoch> {
    with(|e| e.node_history(&node, from_epoch, limit))
}

#[query]
fn owner_rewards(owner: Principal, epoch: u64) -> Vec<Payout> {
    with(|e| e.owner_rewards(&owner, epoch, 1_000))
}

#[query]
fn total_emitted() -> u64 {
    with(|e| e.total_emitted())
}

#[query]
fn pending_payouts() -> Vec<Payout> {
    with(|e| e.pending_payouts(100))
}

#[query]
fn validator_set(epoch: u64) -> Option<ValidatorSet> {
    with(|e| e.validator_set(epoch))
}

#[query]
fn get_config() -> Config {
    with(|e| e.config().clone())
}

#[query]
fn stats() -> Stats {
    with(|e| e.stats())
}

ic_cdk::export_candid!();
