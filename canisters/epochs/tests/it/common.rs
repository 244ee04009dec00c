//! Shared helpers: validator keys, signed checkpoints, node records.
#![allow(dead_code)]

use candid::Principal;
use ed25519_dalek::{Signer, SigningKey};
use emc_epochs::{NodeRecord, Role};
use emc_types::{
    Checkpoint, CheckpointSignature, Hash, NodeId, Signature, SignedCheckpoint, ValidatorSet,
    ZERO_HASH,
};

pub const INTERVAL: u64 = 450;
/// The protocol's epoch length (the default `epoch_length_blocks`).
pub const L: u64 = 43_200;

pub fn keys(n: usize, seed: u8) -> Vec<SigningKey> {
    (0..n)
        .map(|i| {
            let mut b = [seed; 32];
            b[0] = i as u8;
            SigningKey::from_bytes(&b)
        })
        .collect()
}

pub fn node_of(k: &SigningKey) -> NodeId {
    NodeId(k.verifying_key().to_bytes())
}

/// The set as the registry orders it (by node id).
pub fn set_of(epoch: u64, keys: &[SigningKey]) -> ValidatorSet {
    let mut m: Vec<NodeId> = keys.iter().map(node_of).collect();
    m.sort();
    ValidatorSet::new(epoch, m).unwrap()
}

/// A checkpoint with the protocol's epoch length.
pub fn checkpoint(height: u64, prev: Hash, set: &ValidatorSet, state_root: Hash) -> Checkpoint {
    checkpoint_in(L, height, prev, set, state_root)
}

/// A checkpoint for epochs of `epoch_length` blocks, numbered as emc-consensus numbers them:
/// height `h >= 1` is in epoch `(h - 1) / epoch_length`.
pub fn checkpoint_in(
    epoch_length: u64,
    height: u64,
    prev: Hash,
    set: &ValidatorSet,
    state_root: Hash,
) -> Checkpoint {
    Checkpoint {
        height,
        epoch: height.saturating_sub(1) / epoch_length,
        state_root,
        prev_checkpoint_hash: prev,
        validator_set_id: set.id(),
        timestamp_ns: 1_700_000_000_000_000_000 + height * 2_000_000_000,
        poc_root: Hash([3; 32]),
        liveness_root: Hash([4; 32]),
        receipts_root: Hash([5; 32]),
    }
}

pub fn sign(c: &Checkpoint, signers: &[SigningKey]) -> SignedCheckpoint {
    let msg = c.signing_bytes();
    SignedCheckpoint {
        checkpoint: c.clone(),
        signatures: signers
            .iter()
            .map(|k| CheckpointSignature {
                signer: node_of(k),
                signature: Signature(k.sign(&msg).to_bytes()),
            })
            .collect(),
    }
}

pub fn first_prev() -> Hash {
    ZERO_HASH
}

pub fn owner(i: u64) -> Principal {
    let mut b = [0u8; 10];
    b[..8].copy_from_slice(&i.to_be_bytes());
    b[9] = 1;
    Principal::from_slice(&b)
}

/// `n` node records of mixed roles (sorted by node id), owners shared by 7 nodes each.
pub fn records(n: u64, epoch_blocks: u64) -> Vec<NodeRecord> {
    let mut v: Vec<NodeRecord> = (0..n)
        .map(|i| {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_be_bytes());
            id[31] = 7;
            let role = match i % 3 {
                0 => Role::Validator,
                1 => Role::Router,
                _ => Role::Compute,
            };
            NodeRecord {
                node: NodeId(id),
                owner: owner(i / 7),
                role,
                stake_e8s: 100_000_000 * (100_000 + i * 1_000),
                // some validators and routers below 2/3 participation
                active_blocks: if i % 10 == 0 {
                    epoch_blocks / 2
                } else {
                    epoch_blocks - i % 50
                },
                poc_e: 5_000 + (i % 37) * 731,
                multiplier: [14_000, 27_000, 62_000, 100_000][(i % 4) as usize],
                // the half-idle ones were out for one continuous run of whole hours
                penalty_minutes: if i % 10 == 0 { 60 } else { 0 },
            }
        })
        .collect();
    v.sort_by_key(|r| r.node);
    v
}
