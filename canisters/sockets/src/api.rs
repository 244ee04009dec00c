//! The canister shell (wasm32 only): decodes calls, reads the caller and the clock, feeds the
//! pure [`Sockets`] core and keeps the certified data equal to the ICRC-3 tip tree's root. All
//! state is in stable structures, so there is no `pre_upgrade` hook.

use crate::interface::supported_standards;
use crate::sockets::{nat_u64, Sockets};
use crate::types::*;
use candid::{Nat, Principal};
use ic_cdk::api::{certified_data_set, data_certificate, msg_caller, time};
use ic_cdk::{init, inspect_message, post_upgrade, query, update};
use ic_stable_structures::DefaultMemoryImpl;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc3::archive::{GetArchivesArgs, GetArchivesResult};
use icrc_ledger_types::icrc3::blocks::{
    GetBlocksRequest, GetBlocksResult, ICRC3DataCertificate, SupportedBlockType,
};
use std::cell::RefCell;

/// Deduplication entries forgotten per update call at most.
const PRUNE_PER_CALL: usize = 50;

thread_local! {
    static SOCKETS: RefCell<Option<Sockets<DefaultMemoryImpl>>> = const { RefCell::new(None) };
}

fn with<R>(f: impl FnOnce(&Sockets<DefaultMemoryImpl>) -> R) -> R {
    SOCKETS.with_borrow(|r| match r {
        Some(r) => f(r),
        None => ic_cdk::trap("the sockets canister is not initialized"),
    })
}

/// A state change; the tip tree's root becomes the certified data.
fn with_mut<R>(f: impl FnOnce(&mut Sockets<DefaultMemoryImpl>) -> R) -> R {
    SOCKETS.with_borrow_mut(|r| match r {
        Some(r) => {
            r.prune_dedup(time(), PRUNE_PER_CALL);
            let out = f(r);
            certified_data_set(r.certified_data());
            out
        }
        None => ic_cdk::trap("the sockets canister is not initialized"),
    })
}

#[init]
fn init(arg: SocketsArg) {
    let SocketsArg::Init(args) = arg else {
        ic_cdk::trap("install needs SocketsArg::Init");
    };
    match Sockets::init(DefaultMemoryImpl::default(), &args) {
        Ok(s) => SOCKETS.with_borrow_mut(|c| *c = Some(s)),
        Err(e) => ic_cdk::trap(e.to_string()),
    }
    with_mut(|_| ());
}

#[post_upgrade]
fn post_upgrade(arg: Option<SocketsArg>) {
    if let Some(SocketsArg::Init(_)) = arg {
        ic_cdk::trap("refusing SocketsArg::Init on upgrade: it would reset the canister");
    }
    match Sockets::load(DefaultMemoryImpl::default()) {
        Ok(s) => SOCKETS.with_borrow_mut(|c| *c = Some(s)),
        Err(e) => ic_cdk::trap(e.to_string()),
    }
    with_mut(|_| ());
}

/// Ingress filter: the anonymous principal holds nothing and approves nothing (the updates
/// refuse it again).
#[inspect_message]
fn inspect_message() {
    if msg_caller() == Principal::anonymous() {
        return;
    }
    ic_cdk::api::accept_message();
}

fn opt_nat(v: u64) -> Option<Nat> {
    Some(Nat::from(v))
}

// ------------------------------------------------------------------ ICRC-7

#[query]
fn icrc7_collection_metadata() -> Vec<(String, Value)> {
    with(|s| s.collection_metadata())
}
#[query]
fn icrc7_symbol() -> String {
    with(|s| s.config().symbol.clone())
}
#[query]
fn icrc7_name() -> String {
    with(|s| s.config().name.clone())
}
#[query]
fn icrc7_description() -> Option<String> {
    with(|s| s.config().description.clone())
}
#[query]
fn icrc7_logo() -> Option<String> {
    None
}
#[query]
fn icrc7_total_supply() -> Nat {
    with(|s| Nat::from(s.meta().total_supply))
}
#[query]
fn icrc7_supply_cap() -> Option<Nat> {
    with(|s| s.config().limits.supply_cap.map(Nat::from))
}
#[query]
fn icrc7_max_query_batch_size() -> Option<Nat> {
    with(|s| opt_nat(s.config().limits.max_query_batch_size))
}
#[query]
fn icrc7_max_update_batch_size() -> Option<Nat> {
    with(|s| opt_nat(s.config().limits.max_update_batch_size))
}
#[query]
fn icrc7_default_take_value() -> Option<Nat> {
    with(|s| opt_nat(s.config().limits.default_take_value))
}
#[query]
fn icrc7_max_take_value() -> Option<Nat> {
    with(|s| opt_nat(s.config().limits.max_take_value))
}
#[query]
fn icrc7_max_memo_size() -> Option<Nat> {
    with(|s| opt_nat(s.config().limits.max_memo_size))
}
#[query]
fn icrc7_atomic_batch_transfers() -> Option<bool> {
    Some(false)
}
#[query]
fn icrc7_tx_window() -> Option<Nat> {
    with(|s| opt_nat(s.config().limits.tx_window_ns))
}
#[query]
fn icrc7_permitted_drift() -> Option<Nat> {
    with(|s| opt_nat(s.config().limits.permitted_drift_ns))
}
#[query]
fn icrc7_token_metadata(ids: Vec<Nat>) -> Vec<Option<Vec<(String, Value)>>> {
    with(|s| s.token_metadata(&ids))
}
#[query]
fn icrc7_owner_of(ids: Vec<Nat>) -> Vec<Option<Account>> {
    with(|s| s.owner_of(&ids))
}
#[query]
fn icrc7_balance_of(accounts: Vec<Account>) -> Vec<Nat> {
    with(|s| s.balance_of(&accounts))
}
#[query]
fn icrc7_tokens(prev: Option<Nat>, take: Option<Nat>) -> Vec<Nat> {
    with(|s| s.tokens(&prev, &take))
}
#[query]
fn icrc7_tokens_of(account: Account, prev: Option<Nat>, take: Option<Nat>) -> Vec<Nat> {
    with(|s| s.tokens_of(&account, &prev, &take))
}
#[update]
fn icrc7_transfer(args: Vec<TransferArg>) -> Vec<Option<TransferResult>> {
    with_mut(|s| s.transfer(msg_caller(), time(), &args))
}

// ------------------------------------------------------------------ ICRC-37

#[query]
fn icrc37_max_approvals_per_token_or_collection() -> Option<Nat> {
    with(|s| opt_nat(s.config().limits.max_approvals_per_token_or_collection))
}
#[query]
fn icrc37_max_revoke_approvals() -> Option<Nat> {
    with(|s| opt_nat(s.config().limits.max_revoke_approvals))
}
#[update]
fn icrc37_approve_tokens(args: Vec<ApproveTokenArg>) -> Vec<Option<ApproveTokenResult>> {
    with_mut(|s| s.approve_tokens(msg_caller(), time(), &args))
}
/// The standard's `.did` answers only the error of each item (`null`: approved).
#[update]
fn icrc37_approve_collection(
    args: Vec<ApproveCollectionArg>,
) -> Vec<Option<ApproveCollectionError>> {
    with_mut(|s| {
        s.approve_collection(msg_caller(), time(), &args)
            .into_iter()
            .map(|r| r.and_then(|r| r.err()))
            .collect()
    })
}
#[update]
fn icrc37_revoke_token_approvals(
    args: Vec<RevokeTokenApprovalArg>,
) -> Vec<Option<RevokeTokenApprovalResponse>> {
    with_mut(|s| s.revoke_token_approvals(msg_caller(), time(), &args))
}
#[update]
fn icrc37_revoke_collection_approvals(
    args: Vec<RevokeCollectionApprovalArg>,
) -> Vec<Option<RevokeCollectionApprovalResult>> {
    with_mut(|s| s.revoke_collection_approvals(msg_caller(), time(), &args))
}
#[query]
fn icrc37_is_approved(args: Vec<IsApprovedArg>) -> Vec<bool> {
    with(|s| s.is_approved(time(), &args))
}
#[query]
fn icrc37_get_token_approvals(
    token_id: Nat,
    prev: Option<TokenApproval>,
    take: Option<Nat>,
) -> Vec<TokenApproval> {
    with(|s| s.get_token_approvals(&token_id, &prev, &take))
}
#[query]
fn icrc37_get_collection_approvals(
    owner: Account,
    prev: Option<CollectionApproval>,
    take: Option<Nat>,
) -> Vec<CollectionApproval> {
    with(|s| s.get_collection_approvals(&owner, &prev, &take))
}
#[update]
fn icrc37_transfer_from(args: Vec<TransferFromArg>) -> Vec<Option<TransferFromResult>> {
    with_mut(|s| s.transfer_from(msg_caller(), time(), &args))
}

// ------------------------------------------------------------------ ICRC-10 and ICRC-3

#[query]
fn icrc10_supported_standards() -> Vec<SupportedStandard> {
    supported_standards()
}
#[query]
fn icrc3_get_blocks(args: Vec<GetBlocksRequest>) -> GetBlocksResult {
    with(|s| s.get_blocks(&args))
}
#[query]
fn icrc3_get_archives(args: GetArchivesArgs) -> GetArchivesResult {
    with(|s| s.archives(&args))
}
#[query]
fn icrc3_supported_block_types() -> Vec<SupportedBlockType> {
    with(|s| s.supported_block_types())
}
#[query]
fn icrc3_get_tip_certificate() -> Option<ICRC3DataCertificate> {
    with(|s| s.tip_certificate(data_certificate()))
}

// ------------------------------------------------------------------ sockets

#[update]
fn mint_socket(args: MintSocketArgs) -> Result<Nat, SocketError> {
    with_mut(|s| s.mint(msg_caller(), time(), &args).map(Nat::from))
}
#[query]
fn socket(token_id: Nat) -> Option<SocketView> {
    let id = nat_u64(&token_id)?;
    with(|s| s.socket(id, time()))
}
#[query]
fn get_config() -> Config {
    with(|s| s.config().clone())
}

ic_cdk::export_candid!();
