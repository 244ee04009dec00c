//! Blocks: a header that commits to an ordered list of state bits.

use crate::{sha256, Hash, NodeId, StateBit};
use candid::CandidType;
use serde::{Deserialize, Serialize};

/// Domain tag of [`BlockHeader::canonical_bytes`] (and so of block hashes).
pub const BLOCK_DOMAIN: &[u8] = b"emc-block-v1";
/// Domain tag of [`payload_root`].
pub const PAYLOAD_DOMAIN: &[u8] = b"emc-payload-v1";

/// The header of a block. Its hash ([`BlockHeader::hash`]) is the block's identity: the value
/// consensus agrees on and the message committed seals sign.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Height, starting at 1 (height 0 is the genesis, which is not a block).
    pub height: u64,
    /// Hash of the block at `height - 1` ([`crate::ZERO_HASH`] for height 1).
    pub parent_hash: Hash,
    /// The validator that built the block.
    pub proposer: NodeId,
    /// Proposer's time when it built the block, ns since the Unix epoch.
    pub timestamp_ns: u64,
    /// [`payload_root`] of the block's state bits.
    pub payload_root: Hash,
}

impl BlockHeader {
    /// `BLOCK_DOMAIN || height_be64 || parent_hash(32) || proposer(32) || timestamp_be64 ||
    /// payload_root(32)`.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BLOCK_DOMAIN.len() + 8 + 32 + 32 + 8 + 32);
        out.extend_from_slice(BLOCK_DOMAIN);
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&self.parent_hash.0);
        out.extend_from_slice(&self.proposer.0);
        out.extend_from_slice(&self.timestamp_ns.to_be_bytes());
        out.extend_from_slice(&self.payload_root.0);
        out
    }

    /// SHA-256 of the canonical bytes: the block hash.
    pub fn hash(&self) -> Hash {
        sha256(&[&self.canonical_bytes()])
    }
}

/// `sha256(PAYLOAD_DOMAIN || count_be32 || bit_1 || ... || bit_n)` with each bit in its
/// canonical layout ([`StateBit::encode_canonical`]); the layout is self-delimiting.
pub fn payload_root(bits: &[StateBit]) -> Hash {
    let count = u32::try_from(bits.len()).unwrap_or(u32::MAX);
    let mut bytes = Vec::new();
    bytes.extend_from_slice(PAYLOAD_DOMAIN);
    bytes.extend_from_slice(&count.to_be_bytes());
    for b in bits {
        b.encode_canonical(&mut bytes);
    }
    sha256(&[&bytes])
}

/// A block: header plus payload.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The state bits, in order.
    pub bits: Vec<StateBit>,
}

impl Block {
    /// Builds a block whose header commits to `bits`.
    pub fn new(
        height: u64,
        parent_hash: Hash,
        proposer: NodeId,
        timestamp_ns: u64,
        bits: Vec<StateBit>,
    ) -> Self {
        let header = BlockHeader {
            height,
            parent_hash,
            proposer,
            timestamp_ns,
            payload_root: payload_root(&bits),
        };
        Block { header, bits }
    }

    /// The block hash (hash of the header).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// Whether the header's `payload_root` matches the bits.
    pub fn payload_matches(&self) -> bool {
        payload_root(&self.bits) == self.header.payload_root
    }
}
