//! Compute pools: several compute nodes registered together to serve one large task (for
//! example a model sharded across machines), listed as one offer. Pure: membership, the
//! co-signature rule of a pool's receipts, and the split of its income among members by E.
//!
//! Rules:
//! - A pool has 2 to [`MAX_MEMBERS`] distinct members, each with a positive E (fixed point,
//!   [`emc_types::E_SCALE`]); its **entry node** is a member: routers dispatch the pool's
//!   calls to it and it signs the pool's receipts as the receipt's `node`.
//! - **Receipts are co-signed**: every other active member signs
//!   [`cosign_message`]`(pool id, receipt body hash)` with its node key; a pool receipt is
//!   valid only with exactly one valid signature from each active member other than the entry
//!   node (none from a non-member or the entry, no duplicate). Membership is judged when the
//!   receipt is checked (the market: at settlement): a member that left is neither needed nor
//!   checked, so a receipt it co-signed before leaving still settles and is paid to the
//!   members active then. The rule itself is [`emc_types::pool`] (shared with the market
//!   canister); the entry node's own signature is the receipt's `node_signature`, checked as
//!   for any receipt.
//! - **Split by E**: income (trading rewards, market income) of the pool is split among the
//!   active members in proportion to their E, rounded by largest remainder in e8s
//!   ([`emc_tokenomics::split::SplitRounding::LargestRemainder`]): each share is rounded down,
//!   then the left-over e8s go one at a time to the largest remainders (ties: the member with
//!   the smaller node id). The shares sum exactly to the total; a member that left gets
//!   nothing from any split made after it left.
//! - **Leaving**: a member may leave; the entry node may not (hand the entry over first with
//!   [`Pool::set_entry`]), and a pool never drops below 2 active members (dissolve it instead).
//!   A refused change leaves the pool unchanged.

use emc_consensus::{Ed25519Verifier, Verifier};
pub use emc_types::pool::{cosign_message, CosignError, Cosignature, COSIGN_DOMAIN};
use emc_types::{Hash, NodeId};
use std::collections::BTreeMap;

/// Most members of one pool.
pub const MAX_MEMBERS: usize = 16;
/// Fewest active members of a pool.
pub const MIN_MEMBERS: usize = 2;

/// A pool change or a co-signature set refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// Fewer than [`MIN_MEMBERS`] or more than [`MAX_MEMBERS`] members.
    #[error("a pool has {MIN_MEMBERS} to {MAX_MEMBERS} members, not {0:?}")]
    BadSize(usize),
    /// A node listed twice.
    #[error("node {0:?} is listed twice")]
    DuplicateMember(NodeId),
    /// A member with E = 0.
    #[error("member {0:?} has no measured compute (E = 0)")]
    ZeroE(NodeId),
    /// The entry node is not a member.
    #[error("the entry node {0:?} is not an active member")]
    EntryNotMember(NodeId),
    /// Not an active member.
    #[error("node {0:?} is not an active member of the pool")]
    NotMember(NodeId),
    /// The entry node tried to leave.
    #[error("the entry node cannot leave: hand the entry over first")]
    EntryCannotLeave,
    /// Leaving would leave too few members.
    #[error("the pool would have fewer than {MIN_MEMBERS} members")]
    TooFewMembers,
    /// The co-signatures of a receipt break the rule.
    #[error(transparent)]
    Cosignature(#[from] CosignError),
}

/// A member's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// E in fixed point ([`emc_types::E_SCALE`]).
    pub e_fixed: u64,
    /// When it left, ns (`None`: active).
    pub left_at: Option<u64>,
}

/// A compute pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// The pool's id (its offer's id in the market).
    pub id: u64,
    /// The entry node.
    pub entry: NodeId,
    /// Every member, active or not.
    pub members: BTreeMap<NodeId, Member>,
}

impl Pool {
    /// A pool of `members` (node, E) with `entry` among them.
    pub fn new(id: u64, entry: NodeId, members: &[(NodeId, u64)]) -> Result<Pool, PoolError> {
        if !(MIN_MEMBERS..=MAX_MEMBERS).contains(&members.len()) {
            return Err(PoolError::BadSize(members.len()));
        }
        let mut m = BTreeMap::new();
        for (node, e) in members {
            if *e == 0 {
                return Err(PoolError::ZeroE(*node));
            }
            if m.insert(
                *node,
                Member {
                    e_fixed: *e,
                    left_at: None,
                },
            )
            .is_some()
            {
                return Err(PoolError::DuplicateMember(*node));
            }
        }
        if !m.contains_key(&entry) {
            return Err(PoolError::EntryNotMember(entry));
        }
        Ok(Pool {
            id,
            entry,
            members: m,
        })
    }

    /// Whether `node` is an active member.
    pub fn is_active(&self, node: &NodeId) -> bool {
        self.members.get(node).is_some_and(|m| m.left_at.is_none())
    }

    /// The active members with their E, in node-id order.
    pub fn active(&self) -> Vec<(NodeId, u64)> {
        self.members
            .iter()
            .filter(|(_, m)| m.left_at.is_none())
            .map(|(n, m)| (*n, m.e_fixed))
            .collect()
    }

    /// `node` leaves at `now`.
    pub fn leave(&mut self, node: &NodeId, now: u64) -> Result<(), PoolError> {
        if !self.is_active(node) {
            return Err(PoolError::NotMember(*node));
        }
        if *node == self.entry {
            return Err(PoolError::EntryCannotLeave);
        }
        if self.active().len() <= MIN_MEMBERS {
            return Err(PoolError::TooFewMembers);
        }
        if let Some(m) = self.members.get_mut(node) {
            m.left_at = Some(now);
        }
        Ok(())
    }

    /// Hands the entry over to another active member.
    pub fn set_entry(&mut self, node: &NodeId) -> Result<(), PoolError> {
        if !self.is_active(node) {
            return Err(PoolError::EntryNotMember(*node));
        }
        self.entry = *node;
        Ok(())
    }

    /// Updates an active member's E (from the latest PoC).
    pub fn set_e(&mut self, node: &NodeId, e_fixed: u64) -> Result<(), PoolError> {
        if e_fixed == 0 {
            return Err(PoolError::ZeroE(*node));
        }
        match self.members.get_mut(node) {
            Some(m) if m.left_at.is_none() => {
                m.e_fixed = e_fixed;
                Ok(())
            }
            _ => Err(PoolError::NotMember(*node)),
        }
    }

    /// Splits `total_e8s` among the active members by E (largest remainder). The shares sum
    /// exactly to `total_e8s`.
    pub fn split(&self, total_e8s: u64) -> Vec<(NodeId, u64)> {
        let active = self.active();
        let weights: Vec<u64> = active.iter().map(|(_, e)| *e).collect();
        let shares = emc_tokenomics::split::split_by_weight(
            total_e8s,
            &weights,
            emc_tokenomics::split::SplitRounding::LargestRemainder,
        );
        active.into_iter().map(|(n, _)| n).zip(shares).collect()
    }

    /// Every member with whether it is active, in node-id order (the input of
    /// [`emc_types::pool::check_cosigners`]).
    pub fn membership(&self) -> Vec<(NodeId, bool)> {
        self.members
            .iter()
            .map(|(n, m)| (*n, m.left_at.is_none()))
            .collect()
    }

    /// Checks the co-signatures of a pool receipt whose body hash is `body` under
    /// [`emc_types::pool`]'s rule: exactly one valid signature (`verify_strict`) from each
    /// active member other than the entry node, none from anyone else.
    pub fn verify_cosignatures(
        &self,
        body: &Hash,
        cosignatures: &[Cosignature],
    ) -> Result<(), PoolError> {
        let verifier = Ed25519Verifier::new();
        emc_types::pool::verify_cosignatures(
            self.id,
            &self.entry,
            &self.membership(),
            body,
            cosignatures,
            |node, msg, sig| verifier.verify(node, msg, sig),
        )?;
        Ok(())
    }
}

/// What a compute node knows of its pool between refreshes (from the market's `pool` query, or
/// from its config when it has no IC): the pool's id, its entry node and its active members.
/// It decides the node's side of co-signing: which members the entry asks, which requests a
/// member signs, and which compute nodes it may link with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolPeers {
    /// The pool's id (its offer id in the market).
    pub id: u64,
    /// The entry node.
    pub entry: NodeId,
    /// The active members, the entry included.
    pub active: Vec<NodeId>,
}

impl PoolPeers {
    /// Whether `node` is an active member.
    pub fn is_active(&self, node: &NodeId) -> bool {
        self.active.contains(node)
    }

    /// The members whose co-signatures the entry node `me` collects for each receipt it
    /// signs: every active member but itself (none when `me` is not the entry).
    pub fn cosigners(&self, me: &NodeId) -> Vec<NodeId> {
        if *me != self.entry {
            return Vec::new();
        }
        self.active.iter().filter(|n| *n != me).copied().collect()
    }

    /// The compute nodes `me` may hold connections with: the pool's other active members,
    /// when `me` is one (compute-to-compute links exist only inside a pool).
    pub fn links(&self, me: &NodeId) -> Vec<NodeId> {
        if !self.is_active(me) {
            return Vec::new();
        }
        self.active.iter().filter(|n| *n != me).copied().collect()
    }

    /// Member `me`'s decision on a co-sign request from the authenticated peer `peer`: the
    /// message to sign ([`cosign_message`]) when `me` is an active member of this pool, the
    /// request names this pool, `peer` is its entry node, the receipt is the entry's and its
    /// node signature verifies; otherwise why not.
    pub fn cosign(
        &self,
        me: &NodeId,
        peer: &NodeId,
        req: &crate::protocol::CosignRequest,
    ) -> Result<[u8; 32], crate::protocol::CosignRefusal> {
        use crate::protocol::CosignRefusal;
        if req.pool_id != self.id || !self.is_active(me) || *me == self.entry {
            return Err(CosignRefusal::NotMember);
        }
        if *peer != self.entry || req.receipt.node != self.entry {
            return Err(CosignRefusal::NotEntry);
        }
        if !crate::compute::node_signature_valid(&req.receipt) {
            return Err(CosignRefusal::BadReceipt);
        }
        Ok(cosign_message(self.id, &req.receipt.body_hash()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use emc_types::Signature;
    use proptest::prelude::*;

    fn key(i: u8) -> SigningKey {
        SigningKey::from_bytes(&[i; 32])
    }
    fn id(i: u8) -> NodeId {
        NodeId(key(i).verifying_key().to_bytes())
    }

    #[test]
    fn membership_rules_refuse_bad_changes_without_changing_anything() {
        assert_eq!(
            Pool::new(1, id(1), &[(id(1), 10)]),
            Err(PoolError::BadSize(1))
        );
        assert_eq!(
            Pool::new(1, id(1), &[(id(1), 10), (id(1), 20)]),
            Err(PoolError::DuplicateMember(id(1)))
        );
        assert_eq!(
            Pool::new(1, id(1), &[(id(1), 10), (id(2), 0)]),
            Err(PoolError::ZeroE(id(2)))
        );
        assert_eq!(
            Pool::new(1, id(3), &[(id(1), 10), (id(2), 5)]),
            Err(PoolError::EntryNotMember(id(3)))
        );
        let mut p = Pool::new(1, id(1), &[(id(1), 10), (id(2), 5), (id(3), 5)]).unwrap();
        let before = p.clone();
        assert_eq!(p.leave(&id(1), 9), Err(PoolError::EntryCannotLeave));
        assert_eq!(p.leave(&id(7), 9), Err(PoolError::NotMember(id(7))));
        assert_eq!(p, before);
        p.leave(&id(3), 9).unwrap();
        let before = p.clone();
        assert_eq!(p.leave(&id(3), 10), Err(PoolError::NotMember(id(3))));
        assert_eq!(p.leave(&id(2), 10), Err(PoolError::TooFewMembers));
        assert_eq!(p.set_e(&id(3), 4), Err(PoolError::NotMember(id(3))));
        assert_eq!(p.set_entry(&id(3)), Err(PoolError::EntryNotMember(id(3))));
        assert_eq!(p, before);
        // The leaver gets nothing; the rest share by E 10:5.
        let shares: BTreeMap<NodeId, u64> = p.split(3_000).into_iter().collect();
        assert_eq!(shares, BTreeMap::from([(id(1), 2_000), (id(2), 1_000)]));
    }

    #[test]
    fn cosignatures_of_every_other_active_member_are_required() {
        let mut p = Pool::new(4, id(1), &[(id(1), 10), (id(2), 5), (id(3), 5)]).unwrap();
        let body = Hash([9; 32]);
        let msg = cosign_message(4, &body);
        let sig = |i: u8| Cosignature {
            node: id(i),
            signature: Signature(key(i).sign(&msg).to_bytes()),
        };
        assert_eq!(p.verify_cosignatures(&body, &[sig(2), sig(3)]), Ok(()));
        assert_eq!(
            p.verify_cosignatures(&body, &[sig(2)]),
            Err(CosignError::Missing(id(3)).into())
        );
        assert_eq!(
            p.verify_cosignatures(&body, &[sig(2), sig(2), sig(3)]),
            Err(CosignError::Duplicate(id(2)).into())
        );
        assert_eq!(
            p.verify_cosignatures(&body, &[sig(1), sig(2), sig(3)]),
            Err(CosignError::NotMember(id(1)).into())
        );
        assert_eq!(
            p.verify_cosignatures(&body, &[sig(2), sig(3), sig(5)]),
            Err(CosignError::NotMember(id(5)).into())
        );
        // Signed for another pool or another body.
        let other = Cosignature {
            node: id(3),
            signature: Signature(key(3).sign(&cosign_message(5, &body)).to_bytes()),
        };
        assert_eq!(
            p.verify_cosignatures(&body, &[sig(2), other]),
            Err(CosignError::BadSignature(id(3)).into())
        );
        // After member 3 leaves, its signature is neither needed nor checked (a receipt it
        // co-signed before leaving still passes), but a second one is still a duplicate.
        p.leave(&id(3), 1).unwrap();
        assert_eq!(p.verify_cosignatures(&body, &[sig(2)]), Ok(()));
        assert_eq!(p.verify_cosignatures(&body, &[sig(2), sig(3)]), Ok(()));
        assert_eq!(
            p.verify_cosignatures(&body, &[sig(2), other, other]),
            Err(CosignError::Duplicate(id(3)).into())
        );
    }

    #[test]
    fn a_member_cosigns_only_its_entrys_receipts_for_its_pool() {
        use crate::protocol::{CosignRefusal, CosignRequest};
        let peers = PoolPeers {
            id: 7,
            entry: id(1),
            active: vec![id(1), id(2), id(3)],
        };
        assert_eq!(peers.cosigners(&id(1)), vec![id(2), id(3)]);
        assert!(peers.cosigners(&id(2)).is_empty());
        assert_eq!(peers.links(&id(2)), vec![id(1), id(3)]);
        assert!(peers.links(&id(9)).is_empty());
        let mut r = emc_types::ComputeReceipt {
            user: id(8),
            node: id(1),
            router: id(9),
            epoch: 1,
            nonce: 1,
            request_hash: Hash([1; 32]),
            response_hash: Hash([2; 32]),
            unit: emc_types::MeterUnit::Tokens,
            units: 3,
            price_e8s: 4,
            cumulative_e8s: 12,
            node_signature: Signature([0; 64]),
            user_signature: Signature([0; 64]),
        };
        r.node_signature = crate::compute::sign_receipt(&key(1), &r);
        let req = CosignRequest {
            pool_id: 7,
            receipt: r.clone(),
        };
        let msg = peers.cosign(&id(2), &id(1), &req).unwrap();
        assert_eq!(msg, cosign_message(7, &r.body_hash()));
        // The signature made from it passes the market's rule.
        let pool = Pool::new(7, id(1), &[(id(1), 1), (id(2), 1)]).unwrap();
        let c = Cosignature {
            node: id(2),
            signature: Signature(key(2).sign(&msg).to_bytes()),
        };
        assert_eq!(pool.verify_cosignatures(&r.body_hash(), &[c]), Ok(()));
        // Another pool, a non-member, the entry itself, another asker, another node's
        // receipt, a forged receipt.
        let other_pool = CosignRequest {
            pool_id: 8,
            ..req.clone()
        };
        assert_eq!(
            peers.cosign(&id(2), &id(1), &other_pool),
            Err(CosignRefusal::NotMember)
        );
        assert_eq!(
            peers.cosign(&id(5), &id(1), &req),
            Err(CosignRefusal::NotMember)
        );
        assert_eq!(
            peers.cosign(&id(1), &id(1), &req),
            Err(CosignRefusal::NotMember)
        );
        assert_eq!(
            peers.cosign(&id(2), &id(3), &req),
            Err(CosignRefusal::NotEntry)
        );
        let mut theirs = req.clone();
        theirs.receipt.node = id(3);
        assert_eq!(
            peers.cosign(&id(2), &id(1), &theirs),
            Err(CosignRefusal::NotEntry)
        );
        let mut forged = req.clone();
        forged.receipt.units = 300;
        assert_eq!(
            peers.cosign(&id(2), &id(1), &forged),
            Err(CosignRefusal::BadReceipt)
        );
    }

    proptest! {
        /// Shares sum exactly to the total, none exceeds its exact proportional share by a
        /// whole e8, leavers get nothing, and a larger E never gets less.
        #[test]
        fn split_is_exact_and_leavers_get_nothing(
            es in proptest::collection::vec(1u64..2_000_000, 2..MAX_MEMBERS),
            leavers in proptest::collection::vec(any::<bool>(), MAX_MEMBERS),
            total in any::<u64>(),
        ) {
            let members: Vec<(NodeId, u64)> = es.iter().enumerate().map(|(i, e)| {
                let mut b = [0u8; 32];
                b[0] = i as u8;
                (NodeId(b), *e)
            }).collect();
            let entry = members[0].0;
            let mut p = Pool::new(1, entry, &members).unwrap();
            for (i, (n, _)) in members.iter().enumerate().skip(1) {
                if leavers[i] {
                    let _ = p.leave(n, 5);
                }
            }
            let shares = p.split(total);
            prop_assert_eq!(shares.iter().map(|(_, s)| u128::from(*s)).sum::<u128>(), u128::from(total));
            let active: BTreeMap<NodeId, u64> = p.active().into_iter().collect();
            prop_assert_eq!(shares.len(), active.len());
            let sum_e: u128 = active.values().map(|e| u128::from(*e)).sum();
            for (n, s) in &shares {
                prop_assert!(p.is_active(n), "a leaver was paid");
                let exact_floor = u128::from(total) * u128::from(active[n]) / sum_e;
                prop_assert!(u128::from(*s) >= exact_floor && u128::from(*s) <= exact_floor + 1);
            }
            for (a, sa) in &shares {
                for (b, sb) in &shares {
                    if active[a] > active[b] {
                        prop_assert!(sa + 1 >= *sb);
                    }
                }
            }
        }
    }
}
