//! The canister shell (wasm32 only): decodes calls, reads the caller and the clock, asks the
//! registry who owns a node and the epochs canister for final receipts roots, and carries out
//! the pure [`Market`]'s journal: ledger transfers and reward mints, retried from a timer. All
//! state is in stable structures, so there is no `pre_upgrade` hook.

use crate::market::{transfer_memo, Market, NodeFacts, TransferOutcome};
use crate::types::*;
use candid::{CandidType, Nat, Principal, Reserved};
use emc_types::{Hash, NodeId, Role};
use ic_cdk::api::{canister_self, certified_data_set, msg_caller, time};
use ic_cdk::call::Call;
use ic_cdk::{init, inspect_message, post_upgrade, query, update};
use ic_stable_structures::DefaultMemoryImpl;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::{Memo, TransferArg, TransferError};
use icrc_ledger_types::icrc2::transfer_from::{TransferFromArgs, TransferFromError};
use serde::Deserialize;
use serde_bytes::ByteBuf;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

// Socket sales and pool offers (issue #16), in their own modules (its types named here for `export_candid!`).
mod pools;
mod sockets;
use crate::market::pools::{Pool, PoolOfferArgs};
use crate::market::sockets::{BuySocketArgs, SocketKey, SocketPurchase};

/// Interval of the journal timer.
const TICK: Duration = Duration::from_secs(30);
/// Most journal entries one run calls (all in flight together).
const JOURNAL_BATCH: usize = 100;
/// Most checkpoint roots and node owners one settlement call fetches (each is a call to
/// another canister, paid by the market: a batch naming many unknown ones is refused).
const MAX_FETCHES: usize = 16;

thread_local! {
    static MARKET: RefCell<Option<Market<DefaultMemoryImpl>>> = const { RefCell::new(None) };
    /// Journal entries whose call is outstanding (heap only: empty after an upgrade).
    static IN_FLIGHT: RefCell<BTreeSet<u64>> = const { RefCell::new(BTreeSet::new()) };
    static JOURNAL_RUNNING: Cell<bool> = const { Cell::new(false) };
}

fn with<R>(f: impl FnOnce(&Market<DefaultMemoryImpl>) -> R) -> R {
    MARKET.with_borrow(|r| match r {
        Some(r) => f(r),
        None => ic_cdk::trap("the market canister is not initialized"),
    })
}

/// A state change; the event log's tip becomes the certified data.
fn with_mut<R>(f: impl FnOnce(&mut Market<DefaultMemoryImpl>) -> R) -> R {
    MARKET.with_borrow_mut(|r| match r {
        Some(r) => {
            let out = f(r);
            if let Some(tip) = r.log_tip() {
                certified_data_set(tip.0);
            }
            out
        }
        None => ic_cdk::trap("the market canister is not initialized"),
    })
}

fn start_timer() {
    ic_cdk_timers::set_timer_interval(TICK, || async {
        run_journal_batch(true).await;
        sockets::run_mints().await;
    });
}

#[init]
fn init(arg: MarketArg) {
    let MarketArg::Init(args) = arg else {
        ic_cdk::trap("install needs MarketArg::Init");
    };
    match Market::init(DefaultMemoryImpl::default(), &args) {
        Ok(m) => MARKET.with_borrow_mut(|s| *s = Some(m)),
        Err(e) => ic_cdk::trap(e.to_string()),
    }
    start_timer();
}

#[post_upgrade]
fn post_upgrade(arg: Option<MarketArg>) {
    if let Some(MarketArg::Init(_)) = arg {
        ic_cdk::trap("refusing MarketArg::Init on upgrade: it would reset the canister");
    }
    match Market::load(DefaultMemoryImpl::default()) {
        Ok(m) => MARKET.with_borrow_mut(|s| *s = Some(m)),
        Err(e) => ic_cdk::trap(e.to_string()),
    }
    with_mut(|_| ());
    start_timer();
}

/// Ingress filter: the anonymous principal cannot trade, list or deposit (the update checks it
/// again); everything else is accepted (the updates check all of it).
#[inspect_message]
fn inspect_message() {
    let method = ic_cdk::api::msg_method_name();
    let needs_identity = matches!(
        method.as_str(),
        "post_offer"
            | "bind_key"
            | "deposit"
            | "request_withdrawal"
            | "withdraw"
            | "buy_socket"
            | "bind_socket_key"
            | "reclaim_socket"
            | "post_pool_offer"
            | "leave_pool"
    );
    if needs_identity && msg_caller() == Principal::anonymous() {
        return;
    }
    ic_cdk::api::accept_message();
}

// ------------------------------------------------------------------ registry and epochs

/// The registry's node state (the candid shape of its `NodeState`).
#[derive(CandidType, Deserialize)]
enum RegistryNodeState {
    Live,
    Retired {
        #[allow(dead_code)]
        at: u64,
    },
    Impeached {
        #[allow(dead_code)]
        at: u64,
        #[allow(dead_code)]
        case_id: u64,
    },
}

/// The fields of the registry's `Node` the market reads (candid ignores the others).
#[derive(CandidType, Deserialize)]
struct RegistryNode {
    role: Role,
    owner: Principal,
    state: RegistryNodeState,
    poc_e: u64,
}

async fn node_facts(node: NodeId) -> Result<Option<NodeFacts>, MarketError> {
    let registry = with(|m| m.config().registry);
    let reply = Call::bounded_wait(registry, "get_node")
        .with_arg(node)
        .await
        .map_err(|e| MarketError::CallFailed(e.to_string()))?;
    let n = reply
        .candid::<Option<RegistryNode>>()
        .map_err(|e| MarketError::CallFailed(e.to_string()))?;
    Ok(n.map(|n| NodeFacts {
        owner: n.owner,
        compute: n.role == Role::Compute,
        live: matches!(n.state, RegistryNodeState::Live),
        e_fixed: n.poc_e,
    }))
}

/// The epochs canister's answer about a checkpoint (the candid shape of its `ReceiptsRoot`).
#[derive(CandidType, Deserialize)]
enum ReceiptsRoot {
    Final(Hash),
    NotFinal {
        #[allow(dead_code)]
        final_at: u64,
    },
    Unknown,
}

/// Fetches what settling `items` needs and the market lacks: final roots (heights still in
/// their challenge window are returned) and node owners.
async fn prefetch(items: &[ReceiptProof]) -> Result<HashSet<u64>, MarketError> {
    let (heights, nodes) = with(|m| m.missing(items));
    if heights.len() > MAX_FETCHES || nodes.len() > MAX_FETCHES {
        return Err(MarketError::InvalidArgument(format!(
            "at most {MAX_FETCHES} checkpoints and {MAX_FETCHES} nodes the market has not seen per call"
        )));
    }
    let epochs = with(|m| m.config().epochs);
    let mut not_final = HashSet::new();
    for h in heights {
        let reply = Call::bounded_wait(epochs, "final_receipts_root")
            .with_arg(h)
            .await
            .map_err(|e| MarketError::CallFailed(e.to_string()))?;
        match reply
            .candid::<ReceiptsRoot>()
            .map_err(|e| MarketError::CallFailed(e.to_string()))?
        {
            ReceiptsRoot::Final(root) => with_mut(|m| m.cache_root(h, root)),
            ReceiptsRoot::NotFinal { .. } => {
                not_final.insert(h);
            }
            ReceiptsRoot::Unknown => {}
        }
    }
    for n in nodes {
        if let Some(f) = node_facts(n).await? {
            with_mut(|m| m.cache_owner(&n, f.owner));
        }
    }
    // Pools among the nodes whose members' E is stale: read again (a failed read keeps the
    // stored E; the pool stays stale and is read at the next settlement).
    let mut entries: Vec<NodeId> = items.iter().map(|i| i.receipt.node).collect();
    entries.sort_unstable();
    entries.dedup();
    let stale = with(|m| m.stale_pool_members(&entries, time(), MAX_FETCHES));
    if !stale.is_empty() {
        let mut facts = Vec::with_capacity(stale.len());
        for n in stale {
            if let Ok(f) = node_facts(n).await {
                facts.push((n, f.map(|f| f.e_fixed)));
            }
        }
        with_mut(|m| m.refresh_pool_e(&entries, &facts, time()));
    }
    Ok(not_final)
}

// ------------------------------------------------------------------ journal

fn nat_u64(n: &Nat) -> u64 {
    u64::try_from(&n.0).unwrap_or(u64::MAX)
}

fn memo(id: u64) -> Memo {
    Memo(ByteBuf::from(transfer_memo(id)))
}

/// The ledger's deposit refusals that mean nothing moved and nothing will without the buyer.
fn deposit_refused_for_good(e: &TransferFromError) -> bool {
    matches!(
        e,
        TransferFromError::InsufficientAllowance { .. }
            | TransferFromError::InsufficientFunds { .. }
            | TransferFromError::BadFee { .. }
            | TransferFromError::BadBurn { .. }
            | TransferFromError::CreatedInFuture { .. }
    )
}

/// Makes the call of one journal entry.
async fn call(t: &Transfer) -> TransferOutcome {
    let (ledger, epochs) = with(|m| (m.config().ledger, m.config().epochs));
    match t.kind {
        TransferKind::Deposit => {
            let Some(buyer) = t.buyer else {
                return TransferOutcome::Failed("deposit without a buyer".into());
            };
            let arg = TransferFromArgs {
                spender_subaccount: None,
                from: Account {
                    owner: buyer,
                    subaccount: None,
                },
                to: t.to,
                amount: Nat::from(t.amount_e8s),
                fee: Some(Nat::from(t.fee_e8s)),
                memo: Some(memo(t.id)),
                created_at_time: Some(t.created_at_time),
            };
            match Call::unbounded_wait(ledger, "icrc2_transfer_from")
                .with_arg(arg)
                .await
            {
                Err(e) => TransferOutcome::Retry(e.to_string()),
                Ok(r) => match r.candid::<Result<Nat, TransferFromError>>() {
                    Err(e) => TransferOutcome::Retry(e.to_string()),
                    Ok(Ok(block)) => TransferOutcome::Done(nat_u64(&block)),
                    Ok(Err(TransferFromError::Duplicate { duplicate_of })) => {
                        TransferOutcome::Done(nat_u64(&duplicate_of))
                    }
                    Ok(Err(TransferFromError::TooOld)) => TransferOutcome::TooOld,
                    Ok(Err(e)) if deposit_refused_for_good(&e) => {
                        TransferOutcome::Failed(format!("{e:?}"))
                    }
                    Ok(Err(e)) => TransferOutcome::Retry(format!("{e:?}")),
                },
            }
        }
        TransferKind::ProviderPayment
        | TransferKind::TreasuryFee
        | TransferKind::Withdrawal
        | TransferKind::SocketFunding => {
            let arg = TransferArg {
                from_subaccount: t.from_subaccount,
                to: t.to,
                fee: Some(Nat::from(t.fee_e8s)),
                created_at_time: Some(t.created_at_time),
                memo: Some(memo(t.id)),
                amount: Nat::from(t.amount_e8s),
            };
            match Call::unbounded_wait(ledger, "icrc1_transfer")
                .with_arg(arg)
                .await
            {
                Err(e) => TransferOutcome::Retry(e.to_string()),
                Ok(r) => match r.candid::<Result<Nat, TransferError>>() {
                    Err(e) => TransferOutcome::Retry(e.to_string()),
                    Ok(Ok(block)) => TransferOutcome::Done(nat_u64(&block)),
                    Ok(Err(TransferError::Duplicate { duplicate_of })) => {
                        TransferOutcome::Done(nat_u64(&duplicate_of))
                    }
                    Ok(Err(TransferError::TooOld)) => TransferOutcome::TooOld,
                    Ok(Err(e)) => TransferOutcome::Retry(format!("{e:?}")),
                },
            }
        }
        TransferKind::Reward => {
            #[derive(CandidType)]
            struct TradingMint {
                to: Account,
                amount_e8s: u64,
                created_at_time: u64,
                memo: ByteBuf,
            }
            let arg = TradingMint {
                to: t.to,
                amount_e8s: t.amount_e8s,
                created_at_time: t.created_at_time,
                memo: ByteBuf::from(transfer_memo(t.id)),
            };
            match Call::unbounded_wait(epochs, "mint_trading_reward")
                .with_arg(arg)
                .await
            {
                Err(e) => TransferOutcome::Retry(e.to_string()),
                Ok(r) => match r.candid::<Result<u64, Reserved>>() {
                    Ok(Ok(block)) => TransferOutcome::Done(block),
                    // The epochs canister's refusals (not the market yet, the ledger down)
                    // leave the mint pending; past the dedup window it becomes Stuck.
                    Ok(Err(_)) | Err(_) => TransferOutcome::Retry("mint refused".into()),
                },
            }
        }
    }
}

struct InFlight(u64);

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.with_borrow_mut(|s| s.remove(&self.0));
    }
}

/// Calls one entry (unless its call is outstanding) and records the answer.
async fn run_one(t: Transfer) -> Option<Transfer> {
    if !IN_FLIGHT.with_borrow_mut(|s| s.insert(t.id)) {
        return None;
    }
    let _guard = InFlight(t.id);
    let outcome = call(&t).await;
    with_mut(|m| m.record_transfer(t.id, &outcome, time())).ok()
}

/// Calls a batch of pending entries; a timer-driven full batch schedules the next at once.
async fn run_journal_batch(chain: bool) -> u64 {
    if JOURNAL_RUNNING.replace(true) {
        return 0;
    }
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            JOURNAL_RUNNING.set(false);
        }
    }
    let _guard = Guard;
    let todo: Vec<Transfer> = with_mut(|m| m.plan_transfers(time(), JOURNAL_BATCH))
        .into_iter()
        .filter(|t| !IN_FLIGHT.with_borrow(|s| s.contains(&t.id)))
        .collect();
    let n = todo.len() as u64;
    futures::future::join_all(todo.into_iter().map(run_one)).await;
    if chain && n as usize >= JOURNAL_BATCH {
        ic_cdk_timers::set_timer(Duration::ZERO, async {
            run_journal_batch(true).await;
        });
    }
    n
}

fn kick_journal() {
    ic_cdk_timers::set_timer(Duration::ZERO, async {
        run_journal_batch(false).await;
    });
}

// ------------------------------------------------------------------ offers

#[update]
async fn post_offer(a: OfferArgs) -> Result<Offer, MarketError> {
    let caller = msg_caller();
    with(|m| m.check_offer(caller, &a))?;
    let facts = node_facts(a.node).await?.ok_or(MarketError::UnknownNode)?;
    // Checked again after the await.
    with_mut(|m| m.post_offer(caller, &a, &facts, time()))
}

#[update]
fn update_offer(a: UpdateOfferArgs) -> Result<Offer, MarketError> {
    let caller = msg_caller();
    with_mut(|m| m.update_offer(caller, &a, time()))
}

#[update]
fn withdraw_offer(id: u64) -> Result<(), MarketError> {
    let caller = msg_caller();
    with_mut(|m| m.withdraw_offer(caller, id, time()))
}

// ------------------------------------------------------------------ escrow

#[update]
fn bind_key(a: BindKeyArgs) -> Result<(), MarketError> {
    let caller = msg_caller();
    with_mut(|m| m.bind_key(caller, &a, time()))
}

/// Pulls `amount` from the caller's account (approved for `amount` plus the ledger fee) into
/// its escrow. The pull is journaled: if its answer is lost it is retried and credited once.
#[update]
async fn deposit(amount: u64) -> Result<EscrowView, MarketError> {
    let caller = msg_caller();
    let t = with_mut(|m| m.begin_deposit(caller, amount, canister_self(), time()))?;
    let id = t.id;
    let done = run_one(t).await;
    match done.map(|t| t.status) {
        Some(TransferStatus::Done { .. }) => with(|m| m.escrow_view(&caller, time()))
            .ok_or_else(|| MarketError::Storage("escrow missing after a deposit".into())),
        Some(TransferStatus::Failed { reason }) => Err(MarketError::Ledger(reason)),
        _ => Err(MarketError::Ledger(format!(
            "deposit {id} is pending: the journal retries it and credits it once"
        ))),
    }
}

#[update]
fn request_withdrawal(amount: u64) -> Result<EscrowView, MarketError> {
    let caller = msg_caller();
    with_mut(|m| m.request_withdrawal(caller, amount, time()))
}

#[update]
async fn withdraw() -> Result<Transfer, MarketError> {
    let caller = msg_caller();
    let t = with_mut(|m| m.withdraw(caller, time()))?;
    let id = t.id;
    run_one(t)
        .await
        .or_else(|| with(|m| m.transfer(id)))
        .ok_or(MarketError::NotFound)
}

// ------------------------------------------------------------------ settlement

fn not_final_error(
    r: Result<Trade, MarketError>,
    not_final: &HashSet<u64>,
) -> Result<Trade, MarketError> {
    match r {
        Err(MarketError::UnknownCheckpoint(h)) if not_final.contains(&h) => {
            Err(MarketError::CheckpointNotFinal(h))
        }
        r => r,
    }
}

#[update]
async fn settle_receipt(item: ReceiptProof) -> Result<Trade, MarketError> {
    let not_final = prefetch(std::slice::from_ref(&item)).await?;
    let r = with_mut(|m| m.settle_receipt(&item, time()));
    if r.is_ok() {
        kick_journal();
    }
    not_final_error(r, &not_final)
}

#[update]
async fn settle_batch(
    items: Vec<ReceiptProof>,
) -> Result<Vec<Result<Trade, MarketError>>, MarketError> {
    let max = with(|m| m.config().params.max_batch);
    if items.len() > max as usize {
        return Err(MarketError::BatchTooLarge(max));
    }
    let not_final = prefetch(&items).await?;
    let out = with_mut(|m| m.settle_batch(&items, time()))?;
    if out.iter().any(|r| r.is_ok()) {
        kick_journal();
    }
    Ok(out
        .into_iter()
        .map(|r| not_final_error(r, &not_final))
        .collect())
}

#[update]
async fn run_journal() -> u64 {
    run_journal_batch(false).await
}

// ------------------------------------------------------------------ governance

fn governance_or_trap<R>(r: Result<R, MarketError>) -> R {
    match r {
        Ok(v) => v,
        Err(e) => ic_cdk::trap(e.to_string()),
    }
}

#[query]
fn validate_set_params(p: Params) -> Result<String, String> {
    with(|m| m.validate_set_params(&p))
}

#[update]
fn execute_set_params(p: Params) {
    let caller = msg_caller();
    governance_or_trap(with_mut(|m| m.execute_set_params(caller, &p)));
}

#[query]
fn validate_set_governance(p: Principal) -> Result<String, String> {
    with(|m| m.validate_set_governance(&p))
}

#[update]
fn execute_set_governance(p: Principal) {
    let caller = msg_caller();
    governance_or_trap(with_mut(|m| m.execute_set_governance(caller, &p)));
}

#[query]
fn validate_resolve_transfer(a: ResolveTransferArgs) -> Result<String, String> {
    with(|m| m.validate_resolve_transfer(&a))
}

#[update]
fn execute_resolve_transfer(a: ResolveTransferArgs) {
    let caller = msg_caller();
    governance_or_trap(with_mut(|m| m.execute_resolve_transfer(caller, &a, time())));
}

// ------------------------------------------------------------------ queries

#[query]
fn offer(id: u64) -> Option<Offer> {
    with(|m| m.offer(id))
}

#[query]
fn list_offers(start_after: Option<u64>, limit: u32) -> Vec<Offer> {
    with(|m| m.list_offers(start_after, u64::from(limit.min(1_000))))
}

#[query]
fn offers_of(provider: Principal) -> Vec<Offer> {
    with(|m| m.offers_of(&provider, 1_000))
}

#[query]
fn escrow(buyer: Principal) -> Option<EscrowView> {
    with(|m| m.escrow_view(&buyer, time()))
}

#[query]
fn admission(user: NodeId) -> Option<Admission> {
    with(|m| m.admission(&user, time()))
}

#[query]
fn admissions(users: Vec<NodeId>) -> Vec<Option<Admission>> {
    let now = time();
    with(|m| {
        users
            .iter()
            .take(1_000)
            .map(|u| m.admission(u, now))
            .collect()
    })
}

/// A router's admission read: the key's escrow and the settled amount of the lanes it holds
/// unsettled receipts of, at one instant.
#[query]
fn admission_lanes(user: NodeId, lanes: Vec<LaneRef>) -> Option<AdmissionLanes> {
    with(|m| m.admission_lanes(&user, &lanes, time()))
}

#[query]
fn lane_paid(user: NodeId, node: NodeId, epoch: u64) -> u64 {
    with(|m| m.lane(&user, &node, epoch).paid_e8s)
}

#[query]
fn events(start: u64, length: u64) -> EventsPage {
    with(|m| m.events(start, length))
}

#[query]
fn transfer(id: u64) -> Option<Transfer> {
    with(|m| m.transfer(id))
}

#[query]
fn pending_transfers() -> Vec<Transfer> {
    with(|m| m.pending_transfers(100))
}

#[query]
fn get_config() -> Config {
    with(|m| m.config().clone())
}

#[query]
fn stats() -> Stats {
    with(|m| m.stats())
}

ic_cdk::export_candid!();
