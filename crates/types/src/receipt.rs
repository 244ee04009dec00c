//! Metered receipts of compute calls (protocol sections 6 and 9): what a dApp owes a compute
//! node, signed by both.
//!
//! A receipt belongs to a **lane**: one user paying one compute node in one epoch. Along a
//! lane the `nonce` grows and `cumulative_e8s` (everything the user owes the node on this lane
//! so far) never decreases, so only the latest receipt of a lane matters (a cumulative payment
//! voucher, as in Filecoin payment channels or Golem's debit notes): a lost receipt loses
//! nothing that a later one does not cover, and a replayed older one is refused.
//!
//! Both parties sign the same body ([`ComputeReceipt::body_bytes`]): the compute node when it
//! served the call (request and response hashes, units of the app's meter, the price), the
//! user's client when it countersigns the new cumulative amount. Validators admit a receipt
//! into a block only with both signatures valid and the lane monotone
//! (`emc-edge-core`'s application); the market settles the latest receipt of each lane from
//! escrow.

use crate::{sha256, Hash, NodeId, Signature};
use candid::CandidType;
use serde::{Deserialize, Serialize};

/// Domain tag of a receipt's body (the bytes both parties sign, through [`ComputeReceipt::body_hash`]).
pub const RECEIPT_DOMAIN: &[u8] = b"emc-receipt-v1";

/// What a compute app meters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, CandidType, Serialize, Deserialize)]
pub enum MeterUnit {
    /// Tokens (prompt plus completion) of a language model.
    Tokens,
    /// Denoising steps of an image model.
    ImageSteps,
    /// Seconds of compute (any other app).
    Seconds,
}

impl MeterUnit {
    /// Its byte in canonical layouts.
    pub fn code(self) -> u8 {
        match self {
            MeterUnit::Tokens => 0,
            MeterUnit::ImageSteps => 1,
            MeterUnit::Seconds => 2,
        }
    }

    /// The unit of a code byte.
    pub fn from_code(code: u8) -> Option<MeterUnit> {
        match code {
            0 => Some(MeterUnit::Tokens),
            1 => Some(MeterUnit::ImageSteps),
            2 => Some(MeterUnit::Seconds),
            _ => None,
        }
    }
}

/// One served call's receipt, signed by the compute node and countersigned by the user.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct ComputeReceipt {
    /// The paying user's ed25519 public key (its account for the call).
    pub user: NodeId,
    /// The compute node that served the call.
    pub node: NodeId,
    /// The router that dispatched it.
    pub router: NodeId,
    /// The epoch of the lane (a lane's nonce and cumulative amount start again each epoch).
    pub epoch: u64,
    /// The lane's sequence number: strictly increasing along the lane.
    pub nonce: u64,
    /// SHA-256 of the request as the node received it.
    pub request_hash: Hash,
    /// SHA-256 of the response as the node sent it (rolling over a stream's chunks).
    pub response_hash: Hash,
    /// The app's meter.
    pub unit: MeterUnit,
    /// Units of this call.
    pub units: u64,
    /// Price of one unit, e8s.
    pub price_e8s: u64,
    /// Everything owed on this lane including this call, e8s (never decreases).
    pub cumulative_e8s: u64,
    /// The node's signature over [`ComputeReceipt::body_hash`].
    pub node_signature: Signature,
    /// The user's signature over [`ComputeReceipt::body_hash`].
    pub user_signature: Signature,
}

impl ComputeReceipt {
    /// Length of [`ComputeReceipt::body_bytes`].
    pub const BODY_LEN: usize = 14 + 3 * 32 + 2 * 8 + 2 * 32 + 1 + 3 * 8;
    /// Length of the canonical layout ([`crate::StateBit::encode_canonical`] without its tag).
    pub const CANONICAL_LEN: usize = Self::BODY_LEN - RECEIPT_DOMAIN.len() + 2 * 64;

    /// The body both parties sign (through its hash), a fixed layout:
    /// `b"emc-receipt-v1" || user || node || router || epoch_be64 || nonce_be64 ||
    /// request_hash || response_hash || unit(1) || units_be64 || price_e8s_be64 ||
    /// cumulative_e8s_be64` (215 bytes).
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::BODY_LEN);
        out.extend_from_slice(RECEIPT_DOMAIN);
        self.put_fields(&mut out);
        out
    }

    /// SHA-256 of [`ComputeReceipt::body_bytes`]: what the node and the user sign.
    pub fn body_hash(&self) -> Hash {
        sha256(&[&self.body_bytes()])
    }

    /// The amount of this call, `units x price_e8s`, `None` on overflow.
    pub fn amount_e8s(&self) -> Option<u64> {
        self.units.checked_mul(self.price_e8s)
    }

    /// The body's fields without the domain tag (the canonical layout's prefix).
    pub fn put_fields(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.user.0);
        out.extend_from_slice(&self.node.0);
        out.extend_from_slice(&self.router.0);
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(&self.request_hash.0);
        out.extend_from_slice(&self.response_hash.0);
        out.push(self.unit.code());
        out.extend_from_slice(&self.units.to_be_bytes());
        out.extend_from_slice(&self.price_e8s.to_be_bytes());
        out.extend_from_slice(&self.cumulative_e8s.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_its_fixed_length_and_every_field_changes_its_hash() {
        let r = ComputeReceipt {
            user: NodeId([1; 32]),
            node: NodeId([2; 32]),
            router: NodeId([3; 32]),
            epoch: 4,
            nonce: 5,
            request_hash: Hash([6; 32]),
            response_hash: Hash([7; 32]),
            unit: MeterUnit::Tokens,
            units: 8,
            price_e8s: 9,
            cumulative_e8s: 72,
            node_signature: Signature([0; 64]),
            user_signature: Signature([0; 64]),
        };
        assert_eq!(r.body_bytes().len(), ComputeReceipt::BODY_LEN);
        assert_eq!(ComputeReceipt::BODY_LEN, 215);
        let h = r.body_hash();
        let changed = [
            ComputeReceipt {
                nonce: 6,
                ..r.clone()
            },
            ComputeReceipt {
                unit: MeterUnit::Seconds,
                ..r.clone()
            },
            ComputeReceipt {
                cumulative_e8s: 73,
                ..r.clone()
            },
            ComputeReceipt {
                router: NodeId([9; 32]),
                ..r.clone()
            },
        ];
        assert!(changed.iter().all(|c| c.body_hash() != h));
        // Signatures are not part of the body.
        let signed = ComputeReceipt {
            node_signature: Signature([1; 64]),
            ..r.clone()
        };
        assert_eq!(signed.body_hash(), h);
        assert_eq!(r.amount_e8s(), Some(72));
        assert_eq!(
            ComputeReceipt {
                units: u64::MAX,
                ..r
            }
            .amount_e8s(),
            None
        );
        for u in [MeterUnit::Tokens, MeterUnit::ImageSteps, MeterUnit::Seconds] {
            assert_eq!(MeterUnit::from_code(u.code()), Some(u));
        }
        assert_eq!(MeterUnit::from_code(3), None);
    }
}
