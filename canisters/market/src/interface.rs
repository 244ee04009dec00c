//! The canister's Candid interface, built from the same Rust types the shell uses (methods
//! sorted by name, `MarketArg` as the class argument). `candid/market.did` is this text;
//! `tests/it/interface.rs` keeps them equal (`UPDATE_DID=1 cargo test -p emc-market --test it
//! interface::` rewrites the file) and checks that the wasm exports it.

use crate::market::pools::{Pool, PoolOfferArgs};
use crate::market::sockets::{BuySocketArgs, SocketKey, SocketPurchase};
use crate::types::*;
use candid::Principal;
use emc_candid_service::ServiceBuilder;
use emc_types::NodeId;

type R<T> = Result<T, MarketError>;

/// The `.did` text of the market canister.
pub fn service_did() -> String {
    let mut s = ServiceBuilder::new();
    macro_rules! m {
        ($($t:tt)*) => { emc_candid_service::method!(s, $($t)*) };
    }
    m!("post_offer", false, (OfferArgs) -> (R<Offer>));
    m!("update_offer", false, (UpdateOfferArgs) -> (R<Offer>));
    m!("withdraw_offer", false, (u64) -> (R<()>));
    m!("bind_key", false, (BindKeyArgs) -> (R<()>));
    m!("deposit", false, (u64) -> (R<EscrowView>));
    m!("request_withdrawal", false, (u64) -> (R<EscrowView>));
    m!("withdraw", false, () -> (R<Transfer>));
    m!("settle_receipt", false, (ReceiptProof) -> (R<Trade>));
    m!("settle_batch", false, (Vec<ReceiptProof>) -> (R<Vec<R<Trade>>>));
    m!("run_journal", false, () -> (u64));
    m!("validate_set_params", true, (Params) -> (Result<String, String>));
    m!("execute_set_params", false, (Params) -> ());
    m!("validate_set_governance", true, (Principal) -> (Result<String, String>));
    m!("execute_set_governance", false, (Principal) -> ());
    m!("validate_resolve_transfer", true, (ResolveTransferArgs) -> (Result<String, String>));
    m!("execute_resolve_transfer", false, (ResolveTransferArgs) -> ());
    m!("offer", true, (u64) -> (Option<Offer>));
    m!("list_offers", true, (Option<u64>, u32) -> (Vec<Offer>));
    m!("offers_of", true, (Principal) -> (Vec<Offer>));
    m!("escrow", true, (Principal) -> (Option<EscrowView>));
    m!("admission", true, (NodeId) -> (Option<Admission>));
    m!("admissions", true, (Vec<NodeId>) -> (Vec<Option<Admission>>));
    m!("admission_lanes", true, (NodeId, Vec<LaneRef>) -> (Option<AdmissionLanes>));
    m!("lane_paid", true, (NodeId, NodeId, u64) -> (u64));
    m!("events", true, (u64, u64) -> (EventsPage));
    m!("transfer", true, (u64) -> (Option<Transfer>));
    m!("pending_transfers", true, () -> (Vec<Transfer>));
    m!("get_config", true, () -> (Config));
    m!("stats", true, () -> (Stats));
    // Socket sales (issue #16).
    m!("buy_socket", false, (BuySocketArgs) -> (R<SocketPurchase>));
    m!("run_socket_mints", false, () -> (u64));
    m!("reclaim_socket", false, (u64) -> (R<Transfer>));
    m!("bind_socket_key", false, (u64, BindKeyArgs) -> (R<()>));
    m!("socket_purchase", true, (u64) -> (Option<SocketPurchase>));
    m!("socket_purchase_of_token", true, (u64) -> (Option<SocketPurchase>));
    m!("socket_key", true, (NodeId) -> (Option<SocketKey>));
    m!("sockets_canister", true, () -> (Option<Principal>));
    m!("validate_set_sockets", true, (Option<Principal>) -> (Result<String, String>));
    m!("execute_set_sockets", false, (Option<Principal>) -> ());
    // Pool offers (issue #16).
    m!("post_pool_offer", false, (PoolOfferArgs) -> (R<(Offer, Pool)>));
    m!("leave_pool", false, (u64, NodeId) -> (R<Pool>));
    m!("pool", true, (u64) -> (Option<Pool>));
    s.did::<MarketArg>()
}
