//! Compute pools in the market (issue #16): several compute nodes registered together to serve
//! one large task, listed as **one offer** whose node is the pool's **entry node** (so routers
//! dispatch the pool's calls to the entry node, and its receipts name it).
//!
//! - `post_pool_offer`: 2 to [`MAX_POOL_MEMBERS`] distinct members, the entry among them, each
//!   checked against the registry like an offer's node (a live compute node; the shell reads
//!   them); the caller owns the entry node. The offer is an ordinary one (same limits).
//! - `leave_pool`: a member's owner takes it out; the entry node cannot leave (withdraw the
//!   offer instead) and a pool keeps at least 2 members. Refusals change nothing.
//! - The split of a pool's income among its members by E is the rule of
//!   `emc_edge_core::pool` (largest remainder in e8s); settlement does not split yet (see
//!   ARCHITECTURE.md).

use super::{Market, NodeFacts};
use crate::storage::Cand;
use crate::types::*;
use candid::{CandidType, Principal};
use emc_types::{MeterUnit, NodeId};
use ic_stable_structures::Memory;
use serde::{Deserialize, Serialize};

/// Most members of a pool.
pub const MAX_POOL_MEMBERS: usize = 16;

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
}

impl Pool {
    /// Members that have not left.
    pub fn active(&self) -> impl Iterator<Item = &PoolMember> {
        self.members.iter().filter(|m| m.left_at.is_none())
    }
}

impl<M: Memory> Market<M> {
    /// Checks a pool offer's shape (before the shell asks the registry about the members).
    pub fn check_pool_offer(
        &self,
        caller: Principal,
        a: &PoolOfferArgs,
    ) -> Result<(), MarketError> {
        if !(2..=MAX_POOL_MEMBERS).contains(&a.members.len()) {
            return Err(MarketError::InvalidArgument(format!(
                "a pool has 2 to {MAX_POOL_MEMBERS} members"
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        if !a.members.iter().all(|m| seen.insert(*m)) {
            return Err(MarketError::InvalidArgument(
                "a member is listed twice".into(),
            ));
        }
        if !seen.contains(&a.entry) {
            return Err(MarketError::InvalidArgument(
                "the entry node must be a member".into(),
            ));
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
        };
        self.s.pools.insert(offer.id, Cand(Some(pool.clone())));
        Ok((offer, pool))
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
        if *node == pool.entry {
            return Err(MarketError::InvalidArgument(
                "the entry node cannot leave: withdraw the offer instead".into(),
            ));
        }
        if pool.active().count() <= 2 {
            return Err(MarketError::InvalidArgument(
                "a pool keeps at least 2 members".into(),
            ));
        }
        pool.members[i].left_at = Some(now);
        self.s.pools.insert(offer_id, Cand(Some(pool.clone())));
        Ok(pool)
    }
}
