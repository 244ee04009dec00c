//! Checkpoints: the edge network's agreed state, anchored to the IC every N blocks
//! (protocol section 7).

use crate::merkle::{leaf_hash, MerkleFrontier};
#[cfg(any(doc, test))]
use crate::ZERO_HASH;
use crate::{sha256, Hash, NodeId, Signature, StateBit};
use candid::CandidType;
use serde::{Deserialize, Serialize};

/// Domain tag of [`Checkpoint::signing_bytes`].
pub const CHECKPOINT_DOMAIN: &[u8] = b"emc-checkpoint-v1";

/// Domain tag of one step of a [`SummaryAccumulator`].
const SUMMARY_DOMAIN: &[u8] = b"emc-summary-v1";

/// A checkpoint: what 2F+1 validators of the epoch sign and submit to the IC.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Height of the last block the checkpoint covers (a multiple of the checkpoint interval).
    pub height: u64,
    /// Epoch of that block.
    pub epoch: u64,
    /// The application's state root after that block.
    pub state_root: Hash,
    /// [`Checkpoint::hash`] of the previous checkpoint ([`ZERO_HASH`] for the first).
    pub prev_checkpoint_hash: Hash,
    /// [`crate::ValidatorSet::id`] of the epoch's validator set (the signers).
    pub validator_set_id: Hash,
    /// Timestamp of the block at `height`, ns since the Unix epoch.
    pub timestamp_ns: u64,
    /// Summary of the period's proof-of-computing results ([`SummaryAccumulator`]).
    pub poc_root: Hash,
    /// Summary of the period's liveness observations.
    pub liveness_root: Hash,
    /// Merkle root of the period's dispatch records and compute receipts (with inclusion
    /// proofs, see `emc_types::merkle`).
    pub receipts_root: Hash,
}

impl Checkpoint {
    /// The bytes validators sign, a fixed layout (all integers big-endian, hashes 32 bytes):
    ///
    /// `b"emc-checkpoint-v1" || height_be64 || epoch_be64 || state_root || prev_checkpoint_hash
    /// || validator_set_id || timestamp_ns_be64 || poc_root || liveness_root || receipts_root`
    ///
    /// (17 + 8 + 8 + 32 + 32 + 32 + 8 + 32 + 32 + 32 = 233 bytes.)
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::SIGNING_BYTES_LEN);
        out.extend_from_slice(CHECKPOINT_DOMAIN);
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.state_root.0);
        out.extend_from_slice(&self.prev_checkpoint_hash.0);
        out.extend_from_slice(&self.validator_set_id.0);
        out.extend_from_slice(&self.timestamp_ns.to_be_bytes());
        out.extend_from_slice(&self.poc_root.0);
        out.extend_from_slice(&self.liveness_root.0);
        out.extend_from_slice(&self.receipts_root.0);
        out
    }

    /// Length of [`Checkpoint::signing_bytes`].
    pub const SIGNING_BYTES_LEN: usize = 233;

    /// `sha256(signing_bytes)`: the checkpoint's identity (what the next checkpoint links to).
    pub fn hash(&self) -> Hash {
        sha256(&[&self.signing_bytes()])
    }
}

/// One validator's ed25519 signature over [`Checkpoint::signing_bytes`].
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct CheckpointSignature {
    /// The validator (its public key).
    pub signer: NodeId,
    /// The signature.
    pub signature: Signature,
}

/// A checkpoint with the signatures gathered for it (at least a quorum of distinct members of
/// the epoch's validator set when produced by consensus).
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// Signatures by distinct validators.
    pub signatures: Vec<CheckpointSignature>,
}

/// The running summaries of one checkpoint period. PoC results and liveness facts go into hash
/// chains (`acc' = sha256(b"emc-summary-v1" || acc || canonical_bit)`, from [`ZERO_HASH`] after
/// each checkpoint: 32 bytes of state each, committing to the exact ordered list). Receipts
/// and dispatch records go into an append-only Merkle tree ([`MerkleFrontier`], at most 64
/// hashes of state) whose root admits inclusion proofs, so a canister can check one receipt
/// against an accepted checkpoint. Either way a node restarted from its log resumes the period.
#[derive(Clone, Debug, Default, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct SummaryAccumulator {
    /// Chain over proof-of-computing results.
    pub poc: Hash,
    /// Chain over liveness observations and parent commits (participation).
    pub liveness: Hash,
    /// Merkle tree over compute receipts and dispatch records (leaf: the bit's canonical
    /// bytes, tag included).
    pub receipts: MerkleFrontier,
}

impl SummaryAccumulator {
    /// Empty accumulator (chains at [`ZERO_HASH`], no receipts).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one state bit to its summary.
    pub fn add(&mut self, bit: &StateBit) {
        let acc = match bit {
            StateBit::Poc(_) => &mut self.poc,
            StateBit::Liveness(_) | StateBit::ParentCommit(_) => &mut self.liveness,
            StateBit::Dispatch(_) | StateBit::Receipt(_) => {
                self.receipts.push(leaf_hash(&bit.canonical_bytes()));
                return;
            }
            // Checkpoints summarize periods; a certificate of one is not a fact of a period.
            StateBit::CheckpointCert(_) => return,
        };
        let bytes = bit.canonical_bytes();
        *acc = sha256(&[SUMMARY_DOMAIN, &acc.0, &bytes]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LivenessObservation, PocResult};

    fn sample() -> Checkpoint {
        Checkpoint {
            height: 450,
            epoch: 0,
            state_root: Hash([1; 32]),
            prev_checkpoint_hash: ZERO_HASH,
            validator_set_id: Hash([2; 32]),
            timestamp_ns: 1_700_000_000_000_000_000,
            poc_root: Hash([3; 32]),
            liveness_root: Hash([4; 32]),
            receipts_root: Hash([5; 32]),
        }
    }

    #[test]
    fn signing_bytes_layout_is_fixed() {
        let c = sample();
        let b = c.signing_bytes();
        assert_eq!(b.len(), Checkpoint::SIGNING_BYTES_LEN);
        assert_eq!(&b[..17], b"emc-checkpoint-v1");
        assert_eq!(&b[17..25], &450u64.to_be_bytes());
        assert_eq!(&b[25..33], &0u64.to_be_bytes());
        assert_eq!(&b[33..65], &[1; 32]);
        assert_eq!(&b[65..97], &[0; 32]);
        assert_eq!(&b[97..129], &[2; 32]);
        assert_eq!(&b[129..137], &1_700_000_000_000_000_000u64.to_be_bytes());
        assert_eq!(&b[137..169], &[3; 32]);
        assert_eq!(&b[169..201], &[4; 32]);
        assert_eq!(&b[201..233], &[5; 32]);
        assert_eq!(c.hash(), sha256(&[&b]));
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = sample().hash();
        let mut variants = Vec::new();
        let mut c = sample();
        c.height += 1;
        variants.push(c);
        let mut c = sample();
        c.epoch += 1;
        variants.push(c);
        let mut c = sample();
        c.state_root.0[0] ^= 1;
        variants.push(c);
        let mut c = sample();
        c.prev_checkpoint_hash.0[31] ^= 1;
        variants.push(c);
        let mut c = sample();
        c.validator_set_id.0[5] ^= 1;
        variants.push(c);
        let mut c = sample();
        c.timestamp_ns += 1;
        variants.push(c);
        let mut c = sample();
        c.poc_root.0[0] ^= 1;
        variants.push(c);
        let mut c = sample();
        c.liveness_root.0[0] ^= 1;
        variants.push(c);
        let mut c = sample();
        c.receipts_root.0[0] ^= 1;
        variants.push(c);
        for v in variants {
            assert_ne!(v.hash(), base, "{v:?}");
        }
    }

    #[test]
    fn accumulator_is_ordered_and_per_kind() {
        let a = StateBit::Poc(PocResult {
            node: NodeId([1; 32]),
            e_fixed: 14_451,
            passed: true,
            validator: NodeId([2; 32]),
        });
        let b = StateBit::Liveness(LivenessObservation {
            observer: NodeId([2; 32]),
            subject: NodeId([1; 32]),
            online: true,
        });
        let mut x = SummaryAccumulator::new();
        x.add(&a);
        x.add(&b);
        let mut y = SummaryAccumulator::new();
        y.add(&b);
        y.add(&a);
        // Different kinds go to different chains: insertion order across kinds is irrelevant.
        assert_eq!(x, y);
        assert_ne!(x.poc, ZERO_HASH);
        assert_ne!(x.liveness, ZERO_HASH);
        assert_eq!(x.receipts.root(), ZERO_HASH);
        let mut z = SummaryAccumulator::new();
        z.add(&a);
        z.add(&a);
        assert_ne!(z.poc, x.poc);
    }

    /// A receipt of a period verifies against the checkpoint's receipts root with a proof any
    /// holder of the period's receipts can build.
    #[test]
    fn a_receipt_verifies_against_the_receipts_root() {
        use crate::merkle::{inclusion_proof, root_from_proof};
        use crate::{ComputeReceipt, DispatchRecord, MeterUnit};
        let receipt = |nonce: u64| {
            StateBit::Receipt(ComputeReceipt {
                user: NodeId([1; 32]),
                node: NodeId([2; 32]),
                router: NodeId([3; 32]),
                epoch: 0,
                nonce,
                request_hash: Hash([4; 32]),
                response_hash: Hash([5; 32]),
                unit: MeterUnit::Tokens,
                units: 10,
                price_e8s: 2,
                cumulative_e8s: 20 * nonce,
                node_signature: Signature([6; 64]),
                user_signature: Signature([7; 64]),
            })
        };
        let mut bits: Vec<StateBit> = (1..=9).map(receipt).collect();
        bits.insert(4, StateBit::Dispatch(DispatchRecord { bytes: vec![1] }));
        let mut acc = SummaryAccumulator::new();
        for b in &bits {
            acc.add(b);
        }
        let root = acc.receipts.root();
        let leaves: Vec<Hash> = bits
            .iter()
            .map(|b| leaf_hash(&b.canonical_bytes()))
            .collect();
        let count = leaves.len() as u64;
        for (i, leaf) in leaves.iter().enumerate() {
            let proof = inclusion_proof(&leaves, i);
            assert_eq!(root_from_proof(*leaf, i as u64, count, &proof), Some(root));
        }
        // An altered receipt does not verify.
        let forged = leaf_hash(&receipt(99).canonical_bytes());
        let proof = inclusion_proof(&leaves, 0);
        assert_ne!(root_from_proof(forged, 0, count, &proof), Some(root));
    }
}
