//! The row commitment: a Merkle tree over the result's rows.
//!
//! - leaf `i` = `SHA-256(0x00 || row_i as little-endian u32s)`
//! - node = `SHA-256(0x01 || left || right)`
//! - a level with an odd number of nodes promotes its last node unchanged to the next level
//!   (the shape of RFC 6962/9162 trees; no duplication, so no second-preimage trick with
//!   duplicated leaves), and the root of one leaf is that leaf's hash.
//!
//! Domain separation (0x00 / 0x01) makes a leaf never parse as an inner node.

use emc_types::Hash;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Prefix of leaf hashes.
pub const LEAF_PREFIX: u8 = 0x00;
/// Prefix of inner-node hashes.
pub const NODE_PREFIX: u8 = 0x01;

/// The leaf hash of one row.
pub fn leaf_hash(row: &[u32]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    // Hash in chunks: one `update` per u32 would be slow.
    let mut buf = [0u8; 4096];
    for chunk in row.chunks(buf.len() / 4) {
        for (dst, v) in buf.chunks_exact_mut(4).zip(chunk) {
            dst.copy_from_slice(&v.to_le_bytes());
        }
        h.update(&buf[..chunk.len() * 4]);
    }
    Hash(h.finalize().into())
}

/// An inner node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// An inclusion proof: the sibling hashes from the leaf level up (promoted levels have none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    /// Sibling hashes, leaf level first.
    pub siblings: Vec<Hash>,
}

/// A whole tree, every level kept (2 * leaves hashes), for answering openings.
#[derive(Clone, Debug)]
pub struct RowTree {
    /// `levels[0]` = leaves, last = `[root]`.
    levels: Vec<Vec<Hash>>,
}

/// A tree needs at least one leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a row commitment needs at least one row")]
pub struct EmptyTree;

impl RowTree {
    /// Builds the tree over leaf hashes.
    pub fn from_leaves(leaves: Vec<Hash>) -> Result<RowTree, EmptyTree> {
        if leaves.is_empty() {
            return Err(EmptyTree);
        }
        let mut levels = vec![leaves];
        while let Some(last) = levels.last() {
            if last.len() <= 1 {
                break;
            }
            let next: Vec<Hash> = last
                .chunks(2)
                .map(|p| match p {
                    [l, r] => node_hash(l, r),
                    // The odd node out is promoted (chunks(2) never yields an empty slice).
                    promoted => promoted.first().copied().unwrap_or_default(),
                })
                .collect();
            levels.push(next);
        }
        Ok(RowTree { levels })
    }

    /// Builds the tree over rows of `n` words stored one after the other in `data`.
    pub fn from_rows(data: &[u32], n: usize) -> Result<RowTree, EmptyTree> {
        if n == 0 {
            return Err(EmptyTree);
        }
        RowTree::from_leaves(data.chunks(n).map(leaf_hash).collect())
    }

    /// The root.
    pub fn root(&self) -> Hash {
        // Invariant: levels is non-empty and its last level has exactly one node.
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or_default()
    }

    /// Number of leaves.
    pub fn len(&self) -> usize {
        self.levels.first().map_or(0, Vec::len)
    }

    /// Always false (a tree has at least one leaf); for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The inclusion proof of leaf `index`, `None` when out of range.
    pub fn prove(&self, index: usize) -> Option<Proof> {
        if index >= self.len() {
            return None;
        }
        let mut siblings = Vec::new();
        let mut i = index;
        for level in &self.levels[..self.levels.len() - 1] {
            let sib = i ^ 1;
            if sib < level.len() {
                siblings.push(level[sib]);
            }
            i >>= 1;
        }
        Some(Proof { siblings })
    }
}

/// Checks that `leaf` is leaf `index` of a tree of `size` leaves with root `root`.
pub fn verify(root: &Hash, size: usize, index: usize, leaf: &Hash, proof: &Proof) -> bool {
    if index >= size {
        return false;
    }
    let mut h = *leaf;
    let mut i = index;
    let mut len = size;
    let mut sib = proof.siblings.iter();
    while len > 1 {
        if i ^ 1 < len {
            let Some(s) = sib.next() else { return false };
            h = if i & 1 == 0 {
                node_hash(&h, s)
            } else {
                node_hash(s, &h)
            };
        }
        i >>= 1;
        len = len.div_ceil(2);
    }
    sib.next().is_none() && h == *root
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6962's recursive definition: MTH(D[0..n]) = node(MTH(D[0..k]), MTH(D[k..n])) with
    /// k the largest power of two below n.
    fn mth(leaves: &[Hash]) -> Hash {
        if leaves.len() == 1 {
            return leaves[0];
        }
        let mut k = 1;
        while k * 2 < leaves.len() {
            k *= 2;
        }
        node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&[i as u32, 7])).collect()
    }

    #[test]
    fn root_matches_rfc6962_shape_and_every_proof_verifies() {
        for n in 1..=40 {
            let l = leaves(n);
            let t = RowTree::from_leaves(l.clone()).unwrap();
            assert_eq!(t.root(), mth(&l), "size {n}");
            for (i, leaf) in l.iter().enumerate() {
                let p = t.prove(i).unwrap();
                assert!(verify(&t.root(), n, i, leaf, &p), "size {n} index {i}");
                // Wrong index, wrong leaf, wrong size, truncated or extended proof: refused.
                if n > 1 {
                    assert!(!verify(&t.root(), n, (i + 1) % n, leaf, &p));
                    assert!(!verify(&t.root(), n, i, &l[(i + 1) % n], &p));
                    let mut short = p.clone();
                    short.siblings.pop();
                    assert!(!verify(&t.root(), n, i, leaf, &short));
                }
                let mut long = p.clone();
                long.siblings.push(Hash([0; 32]));
                assert!(!verify(&t.root(), n, i, leaf, &long));
            }
            assert!(t.prove(n).is_none());
            assert!(!verify(&t.root(), n, n, &l[0], &Proof { siblings: vec![] }));
        }
    }

    #[test]
    fn leaf_and_node_domains_differ() {
        let a = leaf_hash(&[1, 2]);
        let b = leaf_hash(&[3, 4]);
        // A leaf over the 64 bytes of two hashes is not the node over them.
        let words: Vec<u32> =
            a.0.chunks(4)
                .chain(b.0.chunks(4))
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
        assert_ne!(leaf_hash(&words), node_hash(&a, &b));
    }

    #[test]
    fn leaf_hash_is_sha256_of_prefixed_le_bytes() {
        let row: Vec<u32> = (0..3000)
            .map(|i: u32| i.wrapping_mul(2_654_435_761))
            .collect();
        let mut bytes = vec![0u8];
        for v in &row {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(leaf_hash(&row).0, <[u8; 32]>::from(Sha256::digest(&bytes)));
    }
}
