//! The shell of socket sales (issue #16): `buy_socket`, the mint runner that calls the sockets
//! canister's `mint_socket` for each pending purchase (idempotent there on the purchase id, so
//! a lost answer is simply retried), `bind_socket_key` (reads the holder from the sockets
//! canister first) and governance's `execute_set_sockets`.

use super::{governance_or_trap, kick_journal, with, with_mut};
use crate::market::sockets::{
    BuySocketArgs, MintSocketArgs, SocketFacts, SocketKey, SocketPurchase, MINT_BATCH,
};
use crate::types::*;
use candid::{CandidType, Nat, Principal};
use ic_cdk::api::{canister_self, msg_caller, time};
use ic_cdk::call::Call;
use ic_cdk::{query, update};
use icrc_ledger_types::icrc1::account::Account;
use serde::Deserialize;
use std::cell::Cell;
use std::time::Duration;

thread_local! {
    static MINTS_RUNNING: Cell<bool> = const { Cell::new(false) };
}

/// The sockets canister's `SocketError` (only its presence matters here).
#[derive(CandidType, Deserialize, Debug)]
enum MintError {
    NotMinter,
    InvalidArgument(String),
    SupplyCapReached { cap: u64 },
    Storage(String),
}

/// The part of the sockets canister's `SocketView` the market reads.
#[derive(CandidType, Deserialize)]
struct SocketView {
    owner: Account,
    expired: bool,
}

fn nat_u64(n: &Nat) -> Option<u64> {
    let d = n.0.to_u64_digits();
    match d.len() {
        0 => Some(0),
        1 => Some(d[0]),
        _ => None,
    }
}

/// Calls `mint_socket` for up to [`MINT_BATCH`] pending purchases; returns how many minted.
pub(super) async fn run_mints() -> u64 {
    let Some(sockets) = with(|m| m.sockets_canister()) else {
        return 0;
    };
    if MINTS_RUNNING.replace(true) {
        return 0;
    }
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            MINTS_RUNNING.set(false);
        }
    }
    let _guard = Guard;
    let todo: Vec<MintSocketArgs> = with(|m| m.plan_mints(MINT_BATCH));
    let mut minted = 0;
    for a in todo {
        let id = a.purchase_id;
        let reply = Call::unbounded_wait(sockets, "mint_socket")
            .with_arg(a)
            .await;
        let Ok(reply) = reply else { continue };
        if let Ok(Ok(token)) = reply.candid::<Result<Nat, MintError>>() {
            if let Some(token) = nat_u64(&token) {
                if with_mut(|m| m.mint_done(id, token, time())).is_ok() {
                    minted += 1;
                }
            }
        }
    }
    minted
}

fn kick_mints() {
    ic_cdk_timers::set_timer(Duration::ZERO, async {
        run_mints().await;
    });
}

/// Buys a socket from an offer, paid from the caller's escrow.
#[update]
fn buy_socket(a: BuySocketArgs) -> Result<SocketPurchase, MarketError> {
    let caller = msg_caller();
    let p = with_mut(|m| m.buy_socket(caller, &a, canister_self(), time()))?;
    kick_journal();
    kick_mints();
    Ok(p)
}

/// The buyer takes back what is left of an expired socket's escrow (after the notice).
#[update]
fn reclaim_socket(purchase_id: u64) -> Result<Transfer, MarketError> {
    let caller = msg_caller();
    let t = with_mut(|m| m.reclaim_socket(caller, purchase_id, canister_self(), time()))?;
    kick_journal();
    Ok(t)
}

/// Runs the pending mints now (anyone; they also run from the journal timer).
#[update]
async fn run_socket_mints() -> u64 {
    run_mints().await
}

/// Binds a key of the socket's current holder to the socket's escrow.
#[update]
async fn bind_socket_key(token_id: u64, a: BindKeyArgs) -> Result<(), MarketError> {
    let caller = msg_caller();
    let sockets = with(|m| m.sockets_canister()).ok_or(MarketError::UnknownSocket(token_id))?;
    with(|m| m.purchase_of_token(token_id)).ok_or(MarketError::UnknownSocket(token_id))?;
    let reply = Call::bounded_wait(sockets, "socket")
        .with_arg(Nat::from(token_id))
        .await
        .map_err(|e| MarketError::CallFailed(e.to_string()))?;
    let view = reply
        .candid::<Option<SocketView>>()
        .map_err(|e| MarketError::CallFailed(e.to_string()))?;
    let facts = view.map(|v| SocketFacts {
        holder: v.owner,
        expired: v.expired,
    });
    with_mut(|m| m.bind_socket_key(caller, token_id, facts.as_ref(), &a, time()))
}

#[query]
fn socket_purchase(id: u64) -> Option<SocketPurchase> {
    with(|m| m.socket_purchase(id))
}

#[query]
fn socket_purchase_of_token(token_id: u64) -> Option<SocketPurchase> {
    with(|m| m.purchase_of_token(token_id))
}

#[query]
fn socket_key(key: emc_types::NodeId) -> Option<SocketKey> {
    with(|m| m.socket_key(&key))
}

#[query]
fn sockets_canister() -> Option<Principal> {
    with(|m| m.sockets_canister())
}

#[query]
fn validate_set_sockets(canister: Option<Principal>) -> Result<String, String> {
    Ok(format!("sell computing sockets through {canister:?}"))
}

#[update]
fn execute_set_sockets(canister: Option<Principal>) {
    let caller = msg_caller();
    governance_or_trap(with_mut(|m| m.set_sockets_canister(caller, canister)));
}
