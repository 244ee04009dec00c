//! Receipts in the agreed state: which [`ComputeReceipt`]s a validator admits into a block.
//!
//! A receipt is admitted when it is of the block's epoch, names a compute node and a router of
//! the epoch's snapshot, its amount (`units x price`) does not overflow, both the node's and
//! the user's signatures over its body verify, and it moves its lane forward: a higher nonce
//! and a cumulative amount at least the lane's last plus this call's amount. So a forged,
//! altered, replayed or non-monotone receipt never enters a block, and only the latest
//! receipt of a lane matters to the market. Lanes are per epoch (a lane's nonce and amount
//! start again with each epoch), which keeps the state bounded and lets a validator restored
//! from a compacted log, which replays whole epochs, derive the same lanes.
//!
//! Signatures are checked under the consensus votes' rule (`emc_consensus::crypto`:
//! `verify_strict`'s encoding checks with the cofactored equation), because that is the rule
//! that batches exactly: a router's batch of receipts, or a block's, is verified with one
//! multi-scalar multiplication ([`signatures_valid`]), and every validator gives every
//! receipt the same answer alone or in any batch. It differs from `verify_strict` only on
//! signatures whose `R` has a small-order component, which only the key's owner can make.

use crate::app::{RegistryNode, Snapshot};
use emc_consensus::{Ed25519Verifier, SigItem, Verifier};
use emc_epochs::Role;
use emc_types::{ComputeReceipt, Hash, NodeId};
use std::collections::BTreeMap;

/// Why a receipt is not admitted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Of another epoch than the block's.
    #[error("receipt of epoch {got}, block of epoch {want}")]
    WrongEpoch {
        /// The receipt's epoch.
        got: u64,
        /// The block's.
        want: u64,
    },
    /// The node is not a compute node of the epoch's snapshot.
    #[error("not a compute node of the epoch")]
    UnknownNode,
    /// The router is not a router of the epoch's snapshot.
    #[error("not a router of the epoch")]
    UnknownRouter,
    /// `units x price` overflows, or no units.
    #[error("no units, or the amount overflows")]
    BadAmount,
    /// The nonce does not grow or the cumulative amount does not cover the lane's last plus
    /// this call (a replay, or an older receipt).
    #[error(
        "not after the lane's last receipt (nonce {last_nonce}, cumulative {last_cumulative_e8s})"
    )]
    NotMonotone {
        /// The lane's last nonce.
        last_nonce: u64,
        /// The lane's last cumulative amount.
        last_cumulative_e8s: u64,
    },
    /// The epoch has as many lanes as it may hold.
    #[error("too many lanes this epoch")]
    TooManyLanes,
    /// The node's signature does not verify.
    #[error("bad node signature")]
    BadNodeSignature,
    /// The user's signature does not verify.
    #[error("bad user signature")]
    BadUserSignature,
}

/// A lane: one user paying one node in one epoch.
pub type LaneKey = (NodeId, NodeId);

/// The latest admitted receipt of a lane.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lane {
    /// Its nonce.
    pub nonce: u64,
    /// Its cumulative amount, e8s.
    pub cumulative_e8s: u64,
}

/// The lanes of one epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lanes {
    lanes: BTreeMap<LaneKey, Lane>,
    max: usize,
}

impl Lanes {
    /// No lanes; at most `max` of them per epoch.
    pub fn new(max: usize) -> Self {
        Lanes {
            lanes: BTreeMap::new(),
            max,
        }
    }

    /// The lane of `user` paying `node`.
    pub fn get(&self, user: &NodeId, node: &NodeId) -> Option<Lane> {
        self.lanes.get(&(*user, *node)).copied()
    }

    /// Lanes held.
    pub fn len(&self) -> usize {
        self.lanes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.lanes.is_empty()
    }

    /// Forgets every lane (a new epoch).
    pub fn clear(&mut self) {
        self.lanes.clear();
    }

    /// Moves `r`'s lane to it (after [`check`] admitted it).
    pub fn apply(&mut self, r: &ComputeReceipt) {
        advance(&mut self.lanes, r);
    }
}

/// Moves `r`'s lane in `lanes` to `r` (the epoch's lanes, or a block's pending overlay).
pub fn advance(lanes: &mut BTreeMap<LaneKey, Lane>, r: &ComputeReceipt) {
    lanes.insert(
        (r.user, r.node),
        Lane {
            nonce: r.nonce,
            cumulative_e8s: r.cumulative_e8s,
        },
    );
}

/// Whether `r` may enter a block of `epoch` whose snapshot is `snapshot`, given the lanes so
/// far (`lanes`, plus the block's earlier receipts in `pending`). Cheap checks come before the
/// two signature verifications.
pub fn check(
    r: &ComputeReceipt,
    epoch: u64,
    snapshot: Option<&Snapshot>,
    lanes: &Lanes,
    pending: &BTreeMap<LaneKey, Lane>,
) -> Result<(), ReceiptError> {
    check_unsigned(r, epoch, snapshot, lanes, pending)?;
    check_signatures(r)
}

/// Every check of [`check`] but the two signatures (for a receipt whose exact bytes, both
/// signatures included, were already verified: [`signed_key`]).
pub fn check_unsigned(
    r: &ComputeReceipt,
    epoch: u64,
    snapshot: Option<&Snapshot>,
    lanes: &Lanes,
    pending: &BTreeMap<LaneKey, Lane>,
) -> Result<(), ReceiptError> {
    if r.epoch != epoch {
        return Err(ReceiptError::WrongEpoch {
            got: r.epoch,
            want: epoch,
        });
    }
    let role = |id: &NodeId| -> Option<Role> {
        match snapshot {
            Some(Snapshot::Nodes(nodes)) => nodes.get(id).map(|n: &RegistryNode| n.role),
            _ => None,
        }
    };
    if role(&r.node) != Some(Role::Compute) {
        return Err(ReceiptError::UnknownNode);
    }
    if role(&r.router) != Some(Role::Router) {
        return Err(ReceiptError::UnknownRouter);
    }
    if r.units == 0 || r.amount_e8s().is_none() {
        return Err(ReceiptError::BadAmount);
    }
    check_lane(r, lanes, pending)
}

/// The node's and the user's signatures over the receipt's body (the rule of the module
/// docs).
pub fn check_signatures(r: &ComputeReceipt) -> Result<(), ReceiptError> {
    let body = r.body_hash();
    let verifier = Ed25519Verifier::new();
    if !verifier.verify_vote(&r.node, &body.0, &r.node_signature) {
        return Err(ReceiptError::BadNodeSignature);
    }
    if !verifier.verify_vote(&r.user, &body.0, &r.user_signature) {
        return Err(ReceiptError::BadUserSignature);
    }
    Ok(())
}

/// [`check_signatures`] of each receipt, all verified together: one batch equation for
/// every signature (each signer's key decompressed once), and the bad ones found by halving
/// when it fails (`Ed25519Verifier::verify_votes`). Exactly the answers of
/// [`check_signatures`] one by one, several times faster for a router's batch.
pub fn signatures_valid(rs: &[&ComputeReceipt]) -> Vec<Result<(), ReceiptError>> {
    let items: Vec<SigItem> = rs
        .iter()
        .flat_map(|r| {
            let body = r.body_hash().0.to_vec();
            [
                SigItem {
                    signer: r.node,
                    msg: body.clone(),
                    sig: r.node_signature,
                },
                SigItem {
                    signer: r.user,
                    msg: body,
                    sig: r.user_signature,
                },
            ]
        })
        .collect();
    let ok = Ed25519Verifier::new().verify_votes(&items);
    ok.chunks_exact(2)
        .map(|pair| match pair {
            [false, _] => Err(ReceiptError::BadNodeSignature),
            [true, false] => Err(ReceiptError::BadUserSignature),
            _ => Ok(()),
        })
        .collect()
}

/// The identity of a receipt's exact bytes: its body hash and both signatures. A validator
/// that verified a receipt's signatures once (a router handed it over) keeps this key, so the
/// same receipt in a block is not verified again; any other signature gives another key.
pub fn signed_key(r: &ComputeReceipt) -> Hash {
    emc_types::sha256(&[&r.body_hash().0, &r.node_signature.0, &r.user_signature.0])
}

/// The lane part of [`check`]: `r` moves its lane forward (given `lanes` and the block's
/// earlier receipts in `pending`) and a new lane fits the epoch's bound.
pub fn check_lane(
    r: &ComputeReceipt,
    lanes: &Lanes,
    pending: &BTreeMap<LaneKey, Lane>,
) -> Result<(), ReceiptError> {
    let amount = r.amount_e8s().ok_or(ReceiptError::BadAmount)?;
    let key = (r.user, r.node);
    let last = pending
        .get(&key)
        .copied()
        .or_else(|| lanes.get(&r.user, &r.node));
    let new_lanes = || {
        pending
            .keys()
            .filter(|k| !lanes.lanes.contains_key(k))
            .count()
    };
    if last.is_none() && lanes.len() + new_lanes() >= lanes.max {
        return Err(ReceiptError::TooManyLanes);
    }
    let last = last.unwrap_or_default();
    let floor = last.cumulative_e8s.checked_add(amount);
    if r.nonce <= last.nonce || floor.is_none_or(|f| r.cumulative_e8s < f) {
        return Err(ReceiptError::NotMonotone {
            last_nonce: last.nonce,
            last_cumulative_e8s: last.cumulative_e8s,
        });
    }
    Ok(())
}
