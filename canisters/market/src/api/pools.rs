//! The shell of pool offers (issue #16): reads every member from the registry, then lists the
//! pool through the pure core.

use super::{node_facts, with, with_mut};
use crate::market::pools::{Pool, PoolOfferArgs, MAX_POOL_MEMBERS};
use crate::types::*;
use emc_types::NodeId;
use ic_cdk::api::{msg_caller, time};
use ic_cdk::{query, update};

/// Lists a compute pool as one offer of its entry node.
#[update]
async fn post_pool_offer(a: PoolOfferArgs) -> Result<(Offer, Pool), MarketError> {
    let caller = msg_caller();
    with(|m| m.check_pool_offer(caller, &a))?;
    let mut facts = Vec::with_capacity(a.members.len().min(MAX_POOL_MEMBERS));
    for node in &a.members {
        facts.push(node_facts(*node).await?);
    }
    // Checked again after the awaits.
    with_mut(|m| m.post_pool_offer(caller, &a, &facts, time()))
}

/// Takes the caller's node out of pool `offer_id`.
#[update]
fn leave_pool(offer_id: u64, node: NodeId) -> Result<Pool, MarketError> {
    let caller = msg_caller();
    with_mut(|m| m.leave_pool(caller, offer_id, &node, time()))
}

/// A pool by its offer id.
#[query]
fn pool(offer_id: u64) -> Option<Pool> {
    with(|m| m.pool(offer_id))
}
