//! Per-node epoch data: the canonical record encoding, chunk hashes, the Merkle tree over the
//! chunks and the header hash that a quorum signs (as the closing checkpoint's `state_root`).
//!
//! ```text
//! record   = node[32] || role u8 (0 validator, 1 router, 2 compute) || owner_len u8 || owner
//!            || stake_e8s_be64 || active_blocks_be64 || poc_e_be64 || multiplier_be64
//!            || penalty_minutes_be64
//! chunk    = sha256("emc-epoch-chunk-v1" || epoch_be64 || index_be32 || count_be32 || record*)
//! inner    = sha256("emc-epoch-merkle-v1" || left || right)   (a last odd node moves up as is)
//! header   = sha256("emc-epoch-data-v1" || epoch_be64 || epoch_blocks_be64 || node_count_be64
//!                   || chunk_count_be32 || chunks_root)
//! ```

use crate::types::{EpochDataHeader, NodeRecord};
use emc_types::{sha256, Hash};

/// Domain tag of a chunk hash.
pub const CHUNK_DOMAIN: &[u8] = b"emc-epoch-chunk-v1";
/// Domain tag of an inner Merkle node.
pub const MERKLE_DOMAIN: &[u8] = b"emc-epoch-merkle-v1";
/// Domain tag of the header hash.
pub const HEADER_DOMAIN: &[u8] = b"emc-epoch-data-v1";

/// Canonical bytes of a record (appended to `out`).
pub fn encode_record(r: &NodeRecord, out: &mut Vec<u8>) {
    out.extend_from_slice(&r.node.0);
    // The registry's role code: Validator 0, Router 1, Compute 2.
    out.push(r.role.code());
    let owner = r.owner.as_slice();
    // A principal is at most 29 bytes.
    out.push(u8::try_from(owner.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(owner);
    out.extend_from_slice(&r.stake_e8s.to_be_bytes());
    out.extend_from_slice(&r.active_blocks.to_be_bytes());
    out.extend_from_slice(&r.poc_e.to_be_bytes());
    out.extend_from_slice(&r.multiplier.to_be_bytes());
    out.extend_from_slice(&r.penalty_minutes.to_be_bytes());
}

/// Hash of one chunk (a Merkle leaf).
pub fn chunk_hash(epoch: u64, index: u32, records: &[NodeRecord]) -> Hash {
    let mut b = Vec::with_capacity(64 + records.len() * 96);
    b.extend_from_slice(CHUNK_DOMAIN);
    b.extend_from_slice(&epoch.to_be_bytes());
    b.extend_from_slice(&index.to_be_bytes());
    b.extend_from_slice(
        &u32::try_from(records.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    for r in records {
        encode_record(r, &mut b);
    }
    sha256(&[&b])
}

fn inner(l: &Hash, r: &Hash) -> Hash {
    sha256(&[MERKLE_DOMAIN, &l.0, &r.0])
}

/// Merkle root of the leaves (the zero hash for no leaves).
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return emc_types::ZERO_HASH;
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| match p {
                [l, r] => inner(l, r),
                [x] => *x,
                _ => emc_types::ZERO_HASH,
            })
            .collect();
    }
    level[0]
}

/// Sibling path of leaf `index` (what the validators send with each chunk).
pub fn merkle_proof(leaves: &[Hash], index: usize) -> Vec<Hash> {
    let mut proof = Vec::new();
    let mut level = leaves.to_vec();
    let mut i = index;
    while level.len() > 1 {
        let sib = i ^ 1;
        if sib < level.len() {
            proof.push(level[sib]);
        }
        level = level
            .chunks(2)
            .map(|p| match p {
                [l, r] => inner(l, r),
                [x] => *x,
                _ => emc_types::ZERO_HASH,
            })
            .collect();
        i /= 2;
    }
    proof
}

/// The root implied by `leaf` at `index` of `count` leaves and its path; None for a path of the
/// wrong length.
pub fn root_from_proof(leaf: Hash, index: u32, count: u32, proof: &[Hash]) -> Option<Hash> {
    if index >= count {
        return None;
    }
    let (mut h, mut i, mut n) = (leaf, u64::from(index), u64::from(count));
    let mut path = proof.iter();
    while n > 1 {
        if i % 2 == 1 {
            h = inner(path.next()?, &h);
        } else if i + 1 < n {
            h = inner(&h, path.next()?);
        }
        i /= 2;
        n = n.div_ceil(2);
    }
    if path.next().is_some() {
        return None;
    }
    Some(h)
}

/// The header hash (the closing checkpoint's `state_root`).
pub fn header_hash(h: &EpochDataHeader) -> Hash {
    sha256(&[
        HEADER_DOMAIN,
        &h.epoch.to_be_bytes(),
        &h.epoch_blocks.to_be_bytes(),
        &h.node_count.to_be_bytes(),
        &h.chunk_count.to_be_bytes(),
        &h.chunks_root.0,
    ])
}

/// Builds a header and the chunks (with proofs) for `records` (sorted by node id), `per_chunk`
/// records per chunk: what the validators upload. Used by tests and benchmarks.
pub fn build_chunks(
    epoch: u64,
    epoch_blocks: u64,
    records: &[NodeRecord],
    per_chunk: usize,
) -> (EpochDataHeader, Vec<crate::types::DataChunk>) {
    let per_chunk = per_chunk.max(1);
    let groups: Vec<&[NodeRecord]> = records.chunks(per_chunk).collect();
    let leaves: Vec<Hash> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| chunk_hash(epoch, u32::try_from(i).unwrap_or(u32::MAX), g))
        .collect();
    let header = EpochDataHeader {
        epoch,
        epoch_blocks,
        node_count: records.len() as u64,
        chunk_count: u32::try_from(leaves.len()).unwrap_or(u32::MAX),
        chunks_root: merkle_root(&leaves),
    };
    let chunks = groups
        .iter()
        .enumerate()
        .map(|(i, g)| crate::types::DataChunk {
            epoch,
            index: u32::try_from(i).unwrap_or(u32::MAX),
            records: g.to_vec(),
            proof: merkle_proof(&leaves, i),
        })
        .collect();
    (header, chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_bytes_carry_the_registry_role_code() {
        use crate::types::Role;
        for (role, code) in [
            (Role::Validator, 0u8),
            (Role::Router, 1),
            (Role::Compute, 2),
        ] {
            let r = NodeRecord {
                node: emc_types::NodeId([7; 32]),
                role,
                owner: candid::Principal::from_slice(&[1, 2, 3]),
                stake_e8s: 5,
                active_blocks: 6,
                poc_e: 7,
                multiplier: 8,
                penalty_minutes: 9,
            };
            let mut out = Vec::new();
            encode_record(&r, &mut out);
            assert_eq!(out[32], code, "{role:?}");
            assert_eq!(&out[33..37], &[3, 1, 2, 3]);
            assert_eq!(out.len(), 32 + 1 + 1 + 3 + 5 * 8);
            assert_eq!(&out[out.len() - 8..], &9u64.to_be_bytes());
        }
    }

    #[test]
    fn proofs_verify_for_every_size() {
        for n in 1..20u32 {
            let leaves: Vec<Hash> = (0..n).map(|i| sha256(&[&i.to_be_bytes()])).collect();
            let root = merkle_root(&leaves);
            for i in 0..n {
                let p = merkle_proof(&leaves, i as usize);
                assert_eq!(root_from_proof(leaves[i as usize], i, n, &p), Some(root));
                // wrong index or tampered leaf fail
                let mut bad = leaves[i as usize];
                bad.0[0] ^= 1;
                assert_ne!(root_from_proof(bad, i, n, &p), Some(root));
                let mut longer = p.clone();
                longer.push(root);
                assert_eq!(root_from_proof(leaves[i as usize], i, n, &longer), None);
            }
        }
    }
}
