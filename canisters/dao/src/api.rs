//! The canister shell (wasm32 only): reads the caller and the clock, asks the epochs canister
//! to mint journaled payments (timer and `run_payments`). The state is on the heap and saved
//! to stable memory across upgrades.

use crate::dao::Dao;
use crate::types::*;
use candid::Reserved;
use ic_cdk::api::{msg_caller, time};
use ic_cdk::call::Call;
use ic_cdk::{init, post_upgrade, pre_upgrade, query, update};
use std::cell::{Cell, RefCell};
use std::time::Duration;

/// Interval of the payment timer.
const TICK: Duration = Duration::from_secs(30);
/// Most payments minted per run.
const PAYMENTS_PER_RUN: usize = 50;

thread_local! {
    static DAO: RefCell<Option<Dao>> = const { RefCell::new(None) };
    static RUNNING: Cell<bool> = const { Cell::new(false) };
}

fn with<R>(f: impl FnOnce(&Dao) -> R) -> R {
    DAO.with_borrow(|d| match d {
        Some(d) => f(d),
        None => ic_cdk::trap("the DAO canister is not initialized"),
    })
}

fn with_mut<R>(f: impl FnOnce(&mut Dao) -> R) -> R {
    DAO.with_borrow_mut(|d| match d {
        Some(d) => f(d),
        None => ic_cdk::trap("the DAO canister is not initialized"),
    })
}

fn start_timer() {
    ic_cdk_timers::set_timer_interval(TICK, || async {
        pay().await;
    });
}

#[init]
fn init(args: InitArgs) {
    match Dao::new(&args) {
        Ok(d) => DAO.with_borrow_mut(|s| *s = Some(d)),
        Err(e) => ic_cdk::trap(e.to_string()),
    }
    start_timer();
}

#[pre_upgrade]
fn pre_upgrade() {
    let d = with(|d| d.clone());
    if let Err(e) = ic_cdk::storage::stable_save((d,)) {
        ic_cdk::trap(format!("saving the state: {e}"));
    }
}

#[post_upgrade]
fn post_upgrade() {
    match ic_cdk::storage::stable_restore::<(Dao,)>() {
        Ok((d,)) => DAO.with_borrow_mut(|s| *s = Some(d)),
        Err(e) => ic_cdk::trap(format!("restoring the state: {e}")),
    }
    start_timer();
}

/// Mints pending payments through the epochs canister, one at a time (a payment is marked
/// paid only on the epochs canister's `Ok`; anything else is retried with the same
/// `created_at_time` and memo, which the ledger deduplicates).
async fn pay() -> u64 {
    if RUNNING.replace(true) {
        return 0;
    }
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            RUNNING.set(false);
        }
    }
    let _guard = Guard;
    let epochs = with(|d| d.config().epochs);
    with_mut(|d| d.mark_stuck(time()));
    let todo = with(|d| d.pending_mints(PAYMENTS_PER_RUN));
    let mut paid = 0;
    for (id, mint) in todo {
        let block = match Call::unbounded_wait(epochs, "mint_dao_reward")
            .with_arg(mint)
            .await
        {
            Ok(r) => match r.candid::<Result<u64, Reserved>>() {
                Ok(Ok(b)) => Some(b),
                _ => None,
            },
            Err(_) => None,
        };
        paid += u64::from(block.is_some());
        with_mut(|d| d.record_payment(id, block));
    }
    paid
}

fn or_trap<R>(r: Result<R, DaoError>) -> R {
    match r {
        Ok(v) => v,
        Err(e) => ic_cdk::trap(e.to_string()),
    }
}

// ------------------------------------------------------------------ developers and claims

#[update]
fn submit_application(a: ApplicationArgs) -> Result<u64, DaoError> {
    let caller = msg_caller();
    with_mut(|d| d.submit_application(caller, a, time()))
}

#[update]
fn withdraw_application(id: u64) -> Result<(), DaoError> {
    let caller = msg_caller();
    with_mut(|d| d.withdraw_application(caller, id))
}

#[update]
fn claim_airdrop(c: ClaimArgs) -> Result<u64, DaoError> {
    let caller = msg_caller();
    let id = with_mut(|d| d.claim_airdrop(caller, &c, time()))?;
    ic_cdk_timers::set_timer(Duration::ZERO, async {
        pay().await;
    });
    Ok(id)
}

/// Mints pending payments now (the timer does it every 30 s). Returns how many were paid.
#[update]
async fn run_payments() -> u64 {
    pay().await
}

// ------------------------------------------------------------------ governance

#[query]
fn validate_grant(g: GrantArgs) -> Result<String, String> {
    with(|d| d.validate_grant(&g))
}

#[update]
fn execute_grant(g: GrantArgs) {
    let caller = msg_caller();
    or_trap(with_mut(|d| d.execute_grant(caller, &g, time())));
    ic_cdk_timers::set_timer(Duration::ZERO, async {
        pay().await;
    });
}

#[query]
fn validate_create_airdrop_batch(b: AirdropBatchArgs) -> Result<String, String> {
    with(|d| d.validate_create_airdrop_batch(&b))
}

#[update]
fn execute_create_airdrop_batch(b: AirdropBatchArgs) {
    let caller = msg_caller();
    or_trap(with_mut(|d| {
        d.execute_create_airdrop_batch(caller, &b, time())
    }));
}

#[query]
fn validate_resolve_payment(a: ResolvePaymentArgs) -> Result<String, String> {
    with(|d| d.validate_resolve_payment(&a))
}

#[update]
fn execute_resolve_payment(a: ResolvePaymentArgs) {
    let caller = msg_caller();
    or_trap(with_mut(|d| d.execute_resolve_payment(caller, &a, time())));
    ic_cdk_timers::set_timer(Duration::ZERO, async {
        pay().await;
    });
}

#[query]
fn validate_set_governance(p: candid::Principal) -> Result<String, String> {
    with(|d| d.validate_set_governance(&p))
}

#[update]
fn execute_set_governance(p: candid::Principal) {
    let caller = msg_caller();
    or_trap(with_mut(|d| d.execute_set_governance(caller, &p)));
}

// ------------------------------------------------------------------ queries

#[query]
fn application(id: u64) -> Option<Application> {
    with(|d| d.application(id))
}

#[query]
fn list_applications(after: u64, limit: u32) -> Vec<Application> {
    with(|d| d.applications(after, limit.min(100) as usize))
}

#[query]
fn airdrop_batch(id: u64) -> Option<AirdropBatch> {
    with(|d| d.batch(id))
}

#[query]
fn payment(id: u64) -> Option<Payment> {
    with(|d| d.payment(id))
}

#[query]
fn get_config() -> Config {
    with(|d| d.config().clone())
}

#[query]
fn stats() -> Stats {
    with(|d| d.stats())
}

ic_cdk::export_candid!();
