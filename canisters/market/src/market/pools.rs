//! Compute pools in the market (issue #16): several compute nodes registered together to serve
//! one large task, listed as **one offer** whose node is the pool's **entry node** (so routers
//! dispatch the pool's calls to the entry node, and its receipts name it).
//!
//! - `post_pool_offer`: 2 to [`MAX_POOL_MEMBERS`] distinct members, the entry among them
//!   (`emc_types::pool::check_members`), each checked against the registry like an offer's
//!   node (a live compute node; the shell reads them); the caller owns the entry node. The
//!   offer is an ordinary one (same limits).
//! - `leave_pool`: a member's owner takes it out; the entry node cannot leave (withdraw the
//!   offer instead) and a pool keeps at least 2 members (`emc_types::pool::check_leave`).
//!   Refusals change nothing.
//! - A node is the entry of at most one pool, for good: every receipt it signs is the pool's,
//!   whatever offer it was sold under and whether or not the pool's offer is still listed (so
//!   withdrawing the offer cannot take the members' share of receipts not yet settled; an
//!   operator that wants to leave the arrangement serves under a new node key).
//! - **Split by E**: at settlement, the provider's 80 % and the provider's trading reward of
//!   a pool receipt are split among the members active at that moment in proportion to their
//!   E (largest remainder in e8s, ties to the member listed first), each share paid to the member's owner (shares of one owner are
//!   added up; each owner's reward share is capped on its own account). E is the registry's
//!   last PoC E of each member, read when the pool is listed and again at settlement once it
//!   is older than [`POOL_E_MAX_AGE_NS`]; members all at E = 0 split evenly.

use super::{Market, NodeFacts};
use crate::storage::Cand;
use crate::types::*;
use candid::{CandidType, Principal};
use emc_tokenomics::split::{split_by_weight, SplitRounding};
use emc_types::pool::{check_leave, check_members};
use emc_types::{MeterUnit, NodeId};
use ic_stable_structures::Memory;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most members of a pool.
pub const MAX_POOL_MEMBERS: usize = emc_types::pool::MAX_MEMBERS;
/// Age after which settlement reads a pool's E from the registry again (one hour).
pub const POOL_E_MAX_AGE_NS: u64 = 3_600 * 1_000_000_000;

/// `post_pool_offer`'s argument.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct PoolOfferArgs {
    /// The entry node (one of the members): the offer's node.
    pub entry: NodeId,
    /// Every member, the entry included.
    pub members: Vec<NodeId>,
    /// App or model.
    pub app: String,
    /// Meter.
    pub unit: MeterUnit,
    /// Price per unit, e8s.
    pub price_e8s: u64,
    /// Capacity of the whole pool (units per second).
    pub capacity: u64,
}

/// A pool member.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct PoolMember {
    /// The node.
    pub node: NodeId,
    /// Its owner (from the registry).
    pub owner: Principal,
    /// When it left, ns.
    pub left_at: Option<u64>,
    /// Its PoC E (fixed point) as the registry last reported it (none: not read yet).
    pub e_fixed: Option<u64>,
}

/// A pool, keyed by its offer.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct Pool {
    /// The offer listing it.
    pub offer_id: u64,
    /// The entry node.
    pub entry: NodeId,
    /// Members, in the order listed.
    pub members: Vec<PoolMember>,
    /// When the members' E was last read from the registry, ns.
    pub e_read_at: Option<u64>,
}

impl Pool {
    /// Members that have not left.
    pub fn active(&self) -> impl Iterator<Item = &PoolMember> {
        self.members.iter().filter(|m| m.left_at.is_none())
    }

    /// Splits `amount` among the active members by E (largest remainder; all at E = 0: even
    /// shares), added up per owner. The shares sum exactly to `amount`.
    pub fn shares(&self, amount: u64) -> BTreeMap<Principal, u64> {
        let active: Vec<&PoolMember> = self.active().collect();
        let mut weights: Vec<u64> = active.iter().map(|m| m.e_fixed.unwrap_or(0)).collect();
        if weights.iter().all(|w| *w == 0) {
            weights.iter_mut().for_each(|w| *w = 1);
        }
        let split = split_by_weight(amount, &weights, SplitRounding::LargestRemainder);
        let mut out = BTreeMap::new();
        for (m, share) in active.iter().zip(split) {
            *out.entry(m.owner).or_insert(0u64) += share;
        }
        out
    }

    /// Whether the members' E should be read again at `now`.
    pub fn e_stale(&self, now: u64) -> bool {
        self.e_read_at
            .is_none_or(|at| now.saturating_sub(at) >= POOL_E_MAX_AGE_NS)
    }
}

impl<M: Memory> Market<M> {
    /// Checks a pool offer's shape (before the shell asks the registry about the members).
    pub fn check_pool_offer(
        &self,
        caller: Principal,
        a: &PoolOfferArgs,
    ) -> Result<(), MarketError> {
        check_members(&a.entry, &a.members)
            .map_err(|e| MarketError::InvalidArgument(e.to_string()))?;
        if let Some(id) = self.s.pool_entries.get(&a.entry.0) {
            return Err(MarketError::InvalidArgument(format!(
                "the node is already the entry of pool {id}: a node enters one pool for good"
            )));
        }
        self.check_offer(caller, &self.entry_offer_args(a))
    }

    fn entry_offer_args(&self, a: &PoolOfferArgs) -> OfferArgs {
        OfferArgs {
            node: a.entry,
            app: a.app.clone(),
            unit: a.unit,
            price_e8s: a.price_e8s,
            capacity: a.capacity,
        }
    }

    /// Lists a pool: `facts` holds the registry's answer for each member, in `a.members`'
    /// order (`None`: unknown node).
    pub fn post_pool_offer(
        &mut self,
        caller: Principal,
        a: &PoolOfferArgs,
        facts: &[Option<NodeFacts>],
        now: u64,
    ) -> Result<(Offer, Pool), MarketError> {
        self.check_pool_offer(caller, a)?;
        if facts.len() != a.members.len() {
            return Err(MarketError::InvalidArgument("one answer per member".into()));
        }
        let mut members = Vec::with_capacity(a.members.len());
        let mut entry_facts = None;
        for (node, f) in a.members.iter().zip(facts) {
            let f = f.as_ref().ok_or(MarketError::UnknownNode)?;
            if !f.compute || !f.live {
                return Err(MarketError::NotProvider(format!(
                    "pool member {node:?} is not a live compute node"
                )));
            }
            if *node == a.entry {
                entry_facts = Some(f.clone());
            }
            members.push(PoolMember {
                node: *node,
                owner: f.owner,
                left_at: None,
                e_fixed: Some(f.e_fixed),
            });
        }
        let entry_facts = entry_facts.ok_or(MarketError::UnknownNode)?;
        let offer = self.post_offer(caller, &self.entry_offer_args(a), &entry_facts, now)?;
        for m in &members {
            self.s
                .owners
                .insert(m.node.0, crate::storage::principal_key(&m.owner));
        }
        let pool = Pool {
            offer_id: offer.id,
            entry: a.entry,
            members,
            e_read_at: Some(now),
        };
        self.s.pools.insert(offer.id, Cand(Some(pool.clone())));
        self.s.pool_entries.insert(a.entry.0, offer.id);
        Ok((offer, pool))
    }

    /// Rebuilds the entry index from the pools when it is missing (state written before it
    /// existed).
    pub(crate) fn index_pools(&mut self) {
        if !self.s.pool_entries.is_empty() || self.s.pools.is_empty() {
            return;
        }
        let entries: Vec<([u8; 32], u64)> = self
            .s
            .pools
            .iter()
            .filter_map(|e| e.value().0.map(|p| (p.entry.0, p.offer_id)))
            .collect();
        for (node, id) in entries {
            self.s.pool_entries.insert(node, id);
        }
    }

    /// The pool whose entry node is `node`.
    pub fn pool_of_entry(&self, node: &NodeId) -> Option<Pool> {
        self.pool(self.s.pool_entries.get(&node.0)?)
    }

    /// The active members of the pools of `entries` whose E is stale at `now` (what the shell
    /// reads from the registry before settling), at most `max` members.
    pub fn stale_pool_members(&self, entries: &[NodeId], now: u64, max: usize) -> Vec<NodeId> {
        let mut out = Vec::new();
        for node in entries {
            if let Some(p) = self.pool_of_entry(node).filter(|p| p.e_stale(now)) {
                for m in p.active() {
                    if out.len() < max && !out.contains(&m.node) {
                        out.push(m.node);
                    }
                }
            }
        }
        out
    }

    /// Records the registry's E of pool members (`None`: the registry no longer knows the
    /// node: its E is kept) in every pool of `entries` that has them; a pool all of whose
    /// active members were read is fresh as of `now`.
    pub fn refresh_pool_e(
        &mut self,
        entries: &[NodeId],
        facts: &[(NodeId, Option<u64>)],
        now: u64,
    ) {
        for node in entries {
            let Some(mut p) = self.pool_of_entry(node) else {
                continue;
            };
            let mut all = true;
            for m in p.members.iter_mut().filter(|m| m.left_at.is_none()) {
                match facts.iter().find(|(n, _)| *n == m.node) {
                    Some((_, Some(e))) => m.e_fixed = Some(*e),
                    Some((_, None)) => {}
                    None => all = false,
                }
            }
            if all {
                p.e_read_at = Some(now);
            }
            self.s.pools.insert(p.offer_id, Cand(Some(p)));
        }
    }

    /// A pool by its offer id.
    pub fn pool(&self, offer_id: u64) -> Option<Pool> {
        self.s.pools.get(&offer_id).and_then(|c| c.0)
    }

    /// `node` leaves pool `offer_id` (called by the node's owner).
    pub fn leave_pool(
        &mut self,
        caller: Principal,
        offer_id: u64,
        node: &NodeId,
        now: u64,
    ) -> Result<Pool, MarketError> {
        let mut pool = self
            .pool(offer_id)
            .ok_or(MarketError::UnknownOffer(offer_id))?;
        let Some(i) = pool
            .members
            .iter()
            .position(|m| m.node == *node && m.left_at.is_none())
        else {
            return Err(MarketError::NotPoolMember(*node));
        };
        if pool.members[i].owner != caller {
            return Err(MarketError::NotPoolMember(*node));
        }
        check_leave(&pool.entry, node, pool.active().count())
            .map_err(|e| MarketError::InvalidArgument(e.to_string()))?;
        pool.members[i].left_at = Some(now);
        self.s.pools.insert(offer_id, Cand(Some(pool.clone())));
        Ok(pool)
    }
}
