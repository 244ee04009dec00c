//! Compute pools' rules (issue #16): who may be a pool's member, the message members sign to
//! co-sign its receipts and the rule a set of co-signatures must meet, shared by the edge
//! network (`emc_edge_core::pool`) and the market canister, which keeps the pools and checks
//! the co-signatures at settlement.
//!
//! A pool's receipts name its **entry node** as `node` (the entry signs them as any node does);
//! every other **active** member co-signs [`cosign_message`]`(pool id, receipt body hash)` with
//! its node key. The rule ([`check_cosigners`], then one ed25519 check per returned signature):
//!
//! - exactly one co-signature from each active member other than the entry node;
//! - none from the entry node itself or from a node that was never a member;
//! - no node twice;
//! - a co-signature of a member that has **left** is neither needed nor checked: membership
//!   is judged when the receipt is settled, against the members active at that moment (the
//!   same members the income is split among). A member that leaves after signing does not
//!   make the receipt unsettleable, and a member that left cannot block or claim anything.
//!
//! The structural part is pure and cheap (no cryptography), so a verifier can check the
//! returned signatures in whatever batch it likes.
//!
//! Membership ([`check_members`], [`check_leave`]): a pool has [`MIN_MEMBERS`] to
//! [`MAX_MEMBERS`] distinct members, its entry node among them; a member may leave, the entry
//! may not, and a pool never drops below [`MIN_MEMBERS`] active members. The market keeps the
//! pools and applies these rules; compute nodes only learn their pool from it.

use crate::{Hash, NodeId, Signature};
use candid::CandidType;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Domain separator of a member's co-signature.
pub const COSIGN_DOMAIN: &[u8] = b"emc-pool-cosign-v1";

/// Most members of one pool.
pub const MAX_MEMBERS: usize = 16;
/// Fewest active members of a pool.
pub const MIN_MEMBERS: usize = 2;

/// Most co-signatures a receipt may carry (the entry signs as the receipt's node).
pub const MAX_COSIGNATURES: usize = MAX_MEMBERS - 1;

/// Why a pool's membership or a change to it is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// Fewer than [`MIN_MEMBERS`] or more than [`MAX_MEMBERS`] members.
    #[error("a pool has {MIN_MEMBERS} to {MAX_MEMBERS} members, not {0}")]
    BadSize(usize),
    /// A node listed twice.
    #[error("node {0:?} is listed twice")]
    Duplicate(NodeId),
    /// The entry node is not among the members.
    #[error("the entry node must be a member")]
    EntryNotMember,
    /// The entry node tried to leave.
    #[error("the entry node cannot leave: withdraw the pool's offer instead")]
    EntryCannotLeave,
    /// Leaving would leave fewer than [`MIN_MEMBERS`] active members.
    #[error("a pool keeps at least {MIN_MEMBERS} members")]
    TooFewMembers,
}

/// A new pool's members: [`MIN_MEMBERS`] to [`MAX_MEMBERS`] distinct nodes, `entry` among
/// them.
pub fn check_members(entry: &NodeId, members: &[NodeId]) -> Result<(), MembershipError> {
    if !(MIN_MEMBERS..=MAX_MEMBERS).contains(&members.len()) {
        return Err(MembershipError::BadSize(members.len()));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = members.iter().find(|m| !seen.insert(**m)) {
        return Err(MembershipError::Duplicate(*twice));
    }
    if !seen.contains(entry) {
        return Err(MembershipError::EntryNotMember);
    }
    Ok(())
}

/// Whether active member `leaver` may leave a pool with entry `entry` and `active` active
/// members: not the entry (it signs the pool's receipts; the pool ends with its offer), and
/// never below [`MIN_MEMBERS`].
pub fn check_leave(entry: &NodeId, leaver: &NodeId, active: usize) -> Result<(), MembershipError> {
    if leaver == entry {
        return Err(MembershipError::EntryCannotLeave);
    }
    if active <= MIN_MEMBERS {
        return Err(MembershipError::TooFewMembers);
    }
    Ok(())
}

/// One member's co-signature of a pool receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, CandidType, Serialize, Deserialize)]
pub struct Cosignature {
    /// The member's node key.
    pub node: NodeId,
    /// Its ed25519 signature over `cosign_message(pool id, receipt body hash)`.
    pub signature: Signature,
}

/// Why a set of co-signatures is refused.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize, thiserror::Error,
)]
pub enum CosignError {
    /// This active member did not co-sign.
    #[error("pool member {0:?} did not co-sign the receipt")]
    Missing(NodeId),
    /// The co-signature of this member does not verify.
    #[error("the co-signature of pool member {0:?} does not verify")]
    BadSignature(NodeId),
    /// This node co-signed twice.
    #[error("node {0:?} co-signed twice")]
    Duplicate(NodeId),
    /// This node is not a member of the receipt's pool (or is its entry node, which signs as
    /// the receipt's node), or the receipt's node is the entry of no pool.
    #[error("node {0:?} is not a co-signing member of the receipt's pool")]
    NotMember(NodeId),
}

/// What a member signs to co-sign a pool receipt: `sha256(COSIGN_DOMAIN || pool_id_be64 ||
/// body_hash)`.
pub fn cosign_message(pool_id: u64, body: &Hash) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(COSIGN_DOMAIN);
    h.update(pool_id.to_be_bytes());
    h.update(body.0);
    h.finalize().into()
}

/// The structural rule: `members` lists every member with whether it is active now, `entry`
/// is the pool's entry node. Returns the co-signatures whose signatures must verify (those of
/// the active members, in the given order); the caller verifies each over
/// [`cosign_message`]. Checks in order: each co-signer (foreign or entry: `NotMember`; listed
/// twice: `Duplicate`), then every active non-entry member present (`Missing`).
pub fn check_cosigners<'a>(
    entry: &NodeId,
    members: &[(NodeId, bool)],
    cosignatures: &'a [Cosignature],
) -> Result<Vec<&'a Cosignature>, CosignError> {
    let mut to_verify = Vec::with_capacity(cosignatures.len());
    for (i, c) in cosignatures.iter().enumerate() {
        if c.node == *entry {
            return Err(CosignError::NotMember(c.node));
        }
        let Some(&(_, active)) = members.iter().find(|(n, _)| *n == c.node) else {
            return Err(CosignError::NotMember(c.node));
        };
        if cosignatures[..i].iter().any(|p| p.node == c.node) {
            return Err(CosignError::Duplicate(c.node));
        }
        if active {
            to_verify.push(c);
        }
    }
    for (node, active) in members {
        if *active && node != entry && !cosignatures.iter().any(|c| c.node == *node) {
            return Err(CosignError::Missing(*node));
        }
    }
    Ok(to_verify)
}

/// The whole rule with a single-signature check `verify(key, message, signature)`.
pub fn verify_cosignatures(
    pool_id: u64,
    entry: &NodeId,
    members: &[(NodeId, bool)],
    body: &Hash,
    cosignatures: &[Cosignature],
    mut verify: impl FnMut(&NodeId, &[u8; 32], &Signature) -> bool,
) -> Result<(), CosignError> {
    let to_verify = check_cosigners(entry, members, cosignatures)?;
    let msg = cosign_message(pool_id, body);
    for c in to_verify {
        if !verify(&c.node, &msg, &c.signature) {
            return Err(CosignError::BadSignature(c.node));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(i: u8) -> NodeId {
        NodeId([i; 32])
    }
    fn c(i: u8) -> Cosignature {
        Cosignature {
            node: n(i),
            signature: Signature([i; 64]),
        }
    }

    #[test]
    fn the_structural_rule_names_the_offending_node() {
        // Entry 1; 2 and 3 active; 4 left.
        let members = [(n(1), true), (n(2), true), (n(3), true), (n(4), false)];
        let set = [c(3), c(2)];
        assert_eq!(
            check_cosigners(&n(1), &members, &set),
            Ok(vec![&c(3), &c(2)])
        );
        assert_eq!(
            check_cosigners(&n(1), &members, &[c(2)]),
            Err(CosignError::Missing(n(3)))
        );
        assert_eq!(
            check_cosigners(&n(1), &members, &[c(2), c(3), c(2)]),
            Err(CosignError::Duplicate(n(2)))
        );
        assert_eq!(
            check_cosigners(&n(1), &members, &[c(1), c(2), c(3)]),
            Err(CosignError::NotMember(n(1)))
        );
        assert_eq!(
            check_cosigners(&n(1), &members, &[c(2), c(3), c(9)]),
            Err(CosignError::NotMember(n(9)))
        );
        // A leaver's co-signature is neither needed nor verified; twice is still refused.
        let set = [c(2), c(4), c(3)];
        assert_eq!(
            check_cosigners(&n(1), &members, &set),
            Ok(vec![&c(2), &c(3)])
        );
        assert_eq!(
            check_cosigners(&n(1), &members, &[c(2), c(4), c(3), c(4)]),
            Err(CosignError::Duplicate(n(4)))
        );
        assert_eq!(
            check_cosigners(&n(1), &members, &[]),
            Err(CosignError::Missing(n(2)))
        );
    }

    #[test]
    fn membership_rules() {
        assert_eq!(
            check_members(&n(1), &[n(1)]),
            Err(MembershipError::BadSize(1))
        );
        let seventeen: Vec<NodeId> = (0..17).map(n).collect();
        assert_eq!(
            check_members(&n(1), &seventeen),
            Err(MembershipError::BadSize(17))
        );
        assert_eq!(check_members(&n(1), &seventeen[..16]), Ok(()));
        assert_eq!(
            check_members(&n(1), &[n(1), n(2), n(1)]),
            Err(MembershipError::Duplicate(n(1)))
        );
        assert_eq!(
            check_members(&n(3), &[n(1), n(2)]),
            Err(MembershipError::EntryNotMember)
        );
        assert_eq!(check_members(&n(2), &[n(1), n(2)]), Ok(()));
        assert_eq!(
            check_leave(&n(1), &n(1), 3),
            Err(MembershipError::EntryCannotLeave)
        );
        assert_eq!(
            check_leave(&n(1), &n(2), 2),
            Err(MembershipError::TooFewMembers)
        );
        assert_eq!(check_leave(&n(1), &n(2), 3), Ok(()));
    }

    #[test]
    fn the_message_binds_the_pool_and_the_body() {
        let m = cosign_message(4, &Hash([9; 32]));
        assert_ne!(m, cosign_message(5, &Hash([9; 32])));
        assert_ne!(m, cosign_message(4, &Hash([8; 32])));
        let members = [(n(1), true), (n(2), true)];
        let good = |_: &NodeId, msg: &[u8; 32], _: &Signature| *msg == m;
        assert_eq!(
            verify_cosignatures(4, &n(1), &members, &Hash([9; 32]), &[c(2)], good),
            Ok(())
        );
        assert_eq!(
            verify_cosignatures(5, &n(1), &members, &Hash([9; 32]), &[c(2)], good),
            Err(CosignError::BadSignature(n(2)))
        );
    }
}
