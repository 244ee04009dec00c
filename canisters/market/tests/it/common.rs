//! Shared helpers: keys, signed receipts, a checkpoint period's receipts tree with proofs.
#![allow(dead_code)]

use candid::Principal;
use ed25519_dalek::{Signer, SigningKey};
use emc_market::market::{bind_message, receipt_leaf};
use emc_market::{BindKeyArgs, ReceiptProof};
use emc_types::merkle::{inclusion_proof, leaf_hash, merkle_root};
use emc_types::{ComputeReceipt, Hash, MeterUnit, NodeId, Signature};

pub const E8S: u64 = 100_000_000;

pub fn sk(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

pub fn id_of(k: &SigningKey) -> NodeId {
    NodeId(k.verifying_key().to_bytes())
}

pub fn principal(n: u64) -> Principal {
    let mut b = [0u8; 10];
    b[..8].copy_from_slice(&n.to_be_bytes());
    b[9] = 0x01;
    Principal::from_slice(&b)
}

/// The binding of `key` to `buyer`'s escrow.
pub fn bind_args(key: &SigningKey, buyer: &Principal) -> BindKeyArgs {
    BindKeyArgs {
        key: id_of(key),
        signature: Signature(key.sign(&bind_message(buyer)).to_bytes()),
    }
}

/// A receipt of `units` at `price` on the lane (user, node, epoch), signed by both.
pub fn receipt(
    user: &SigningKey,
    node: &SigningKey,
    epoch: u64,
    nonce: u64,
    cumulative: u64,
) -> ComputeReceipt {
    let mut r = ComputeReceipt {
        user: id_of(user),
        node: id_of(node),
        router: NodeId([9; 32]),
        epoch,
        nonce,
        request_hash: Hash([nonce as u8; 32]),
        response_hash: Hash([7; 32]),
        unit: MeterUnit::Tokens,
        units: 1,
        price_e8s: cumulative,
        cumulative_e8s: cumulative,
        node_signature: Signature([0; 64]),
        user_signature: Signature([0; 64]),
    };
    let body = r.body_hash();
    r.node_signature = Signature(node.sign(&body.0).to_bytes());
    r.user_signature = Signature(user.sign(&body.0).to_bytes());
    r
}

/// A period's tree: a dispatch-record leaf first (the tree mixes both kinds), then the
/// receipts. Returns the root and each receipt's proof for a checkpoint at `height`.
pub fn period(height: u64, receipts: &[ComputeReceipt]) -> (Hash, Vec<ReceiptProof>) {
    let mut leaves = vec![leaf_hash(b"\x03dispatch-record")];
    leaves.extend(receipts.iter().map(receipt_leaf));
    let root = merkle_root(&leaves);
    let proofs = receipts
        .iter()
        .enumerate()
        .map(|(i, r)| ReceiptProof {
            receipt: r.clone(),
            checkpoint_height: height,
            leaf_index: (i + 1) as u64,
            leaf_count: leaves.len() as u64,
            proof: inclusion_proof(&leaves, i + 1),
            cosignatures: None,
        })
        .collect();
    (root, proofs)
}

/// `p` with the co-signatures of `members` for pool `pool_id` (`emc_types::pool`).
pub fn cosigned(p: &ReceiptProof, pool_id: u64, members: &[&SigningKey]) -> ReceiptProof {
    let msg = emc_types::pool::cosign_message(pool_id, &p.receipt.body_hash());
    let cosignatures = members
        .iter()
        .map(|k| emc_types::Cosignature {
            node: id_of(k),
            signature: Signature(k.sign(&msg).to_bytes()),
        })
        .collect();
    ReceiptProof {
        cosignatures: Some(cosignatures),
        ..p.clone()
    }
}
