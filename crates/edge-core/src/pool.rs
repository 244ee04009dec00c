//! Compute pools, the compute node's side (issue #16): several compute nodes registered
//! together to serve one large task (for example a model sharded across machines), listed as
//! one market offer whose node is the pool's **entry node**: routers dispatch the pool's calls
//! to it and it signs the pool's receipts as the receipt's `node`. Pure.
//!
//! The pool's rules are [`emc_types::pool`]'s, shared with the market canister, which keeps
//! the pools: who may be a member, and that a pool receipt settles only with exactly one valid
//! co-signature ([`cosign_message`]`(pool id, receipt body hash)`) from each member active at
//! settlement other than the entry. The market splits the pool's income among the active
//! members by E. [`PoolPeers`] is what a node knows of its pool between refreshes, and decides
//! its side of co-signing.

pub use emc_types::pool::{cosign_message, CosignError, Cosignature, COSIGN_DOMAIN};
use emc_types::NodeId;

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
    use emc_types::{Hash, Signature};

    fn key(i: u8) -> SigningKey {
        SigningKey::from_bytes(&[i; 32])
    }
    fn id(i: u8) -> NodeId {
        NodeId(key(i).verifying_key().to_bytes())
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
        let c = Cosignature {
            node: id(2),
            signature: Signature(key(2).sign(&msg).to_bytes()),
        };
        let members = [(id(1), true), (id(2), true)];
        let rule = |c: &[Cosignature]| {
            emc_types::pool::verify_cosignatures(
                7,
                &id(1),
                &members,
                &r.body_hash(),
                c,
                |k, m, s| crate::compute::signature_valid(k, m, s),
            )
        };
        assert_eq!(rule(&[c]), Ok(()));
        let other_body = Cosignature {
            node: id(2),
            signature: Signature(key(2).sign(&cosign_message(7, &Hash([5; 32]))).to_bytes()),
        };
        assert_eq!(rule(&[other_body]), Err(CosignError::BadSignature(id(2))));
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
}
