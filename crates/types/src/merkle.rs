//! An append-only Merkle tree kept as its frontier, with inclusion proofs: the receipts summary
//! of a checkpoint period ([`crate::SummaryAccumulator::receipts`]).
//!
//! The tree has the RFC 6962 shape (built level by level, a last odd node moves up as is):
//! leaf = `sha256("emc-merkle-leaf-v1" || bytes)`, inner = `sha256("emc-merkle-node-v1" ||
//! left || right)`, the empty tree's root is [`ZERO_HASH`]. [`MerkleFrontier`] holds one
//! perfect subtree's root per set bit of the leaf count (at most 64 hashes), so a node keeps
//! the period's root up to date in O(log n) memory and resumes it after a restart from its log,
//! while anyone holding the period's leaves (a router, an indexer, a dApp) builds the
//! [`inclusion_proof`] of one, which [`root_from_proof`] checks against the root a quorum
//! signed (a market canister settling a receipt, for example).

use crate::{sha256, Hash, ZERO_HASH};
use candid::CandidType;
use serde::{Deserialize, Serialize};

/// Domain tag of a leaf hash.
pub const MERKLE_LEAF_DOMAIN: &[u8] = b"emc-merkle-leaf-v1";
/// Domain tag of an inner node hash.
pub const MERKLE_NODE_DOMAIN: &[u8] = b"emc-merkle-node-v1";

/// The leaf hash of `bytes`.
pub fn leaf_hash(bytes: &[u8]) -> Hash {
    sha256(&[MERKLE_LEAF_DOMAIN, bytes])
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[MERKLE_NODE_DOMAIN, &left.0, &right.0])
}

/// The frontier of an append-only Merkle tree: the roots of its perfect subtrees, smallest
/// first (`levels[i]` is the root of a subtree of 2^i leaves when bit i of `count` is set).
#[derive(Clone, Debug, Default, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct MerkleFrontier {
    /// Leaves appended.
    pub count: u64,
    /// Perfect subtree roots by level; `None` where `count` has a 0 bit.
    pub levels: Vec<Option<Hash>>,
}

impl MerkleFrontier {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf (its [`leaf_hash`]).
    pub fn push(&mut self, leaf: Hash) {
        let mut carry = leaf;
        let mut level = 0;
        while let Some(Some(left)) = self.levels.get(level) {
            carry = node_hash(left, &carry);
            self.levels[level] = None;
            level += 1;
        }
        if level == self.levels.len() {
            self.levels.push(Some(carry));
        } else {
            self.levels[level] = Some(carry);
        }
        self.count = self.count.saturating_add(1);
    }

    /// The root: the perfect subtrees combined from the smallest (rightmost) up, which is the
    /// level-by-level tree's root.
    pub fn root(&self) -> Hash {
        let mut acc: Option<Hash> = None;
        for h in self.levels.iter().flatten() {
            acc = Some(match acc {
                None => *h,
                Some(right) => node_hash(h, &right),
            });
        }
        acc.unwrap_or(ZERO_HASH)
    }
}

/// The root of `leaves` built level by level.
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return ZERO_HASH;
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| match p {
                [l, r] => node_hash(l, r),
                [single] => *single,
                _ => ZERO_HASH,
            })
            .collect();
    }
    level[0]
}

/// The inclusion proof of `leaves[index]`: the siblings from the leaf up (levels where the
/// node moved up alone have none). Empty when `index` is out of range.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Vec<Hash> {
    let mut proof = Vec::new();
    if index >= leaves.len() {
        return proof;
    }
    let (mut level, mut i) = (leaves.to_vec(), index);
    while level.len() > 1 {
        let sibling = i ^ 1;
        if let Some(s) = level.get(sibling) {
            proof.push(*s);
        }
        level = level
            .chunks(2)
            .map(|p| match p {
                [l, r] => node_hash(l, r),
                [single] => *single,
                _ => ZERO_HASH,
            })
            .collect();
        i /= 2;
    }
    proof
}

/// A whole tree kept level by level, for a holder that proves many leaves of one period (a
/// validator answering routers): built once in O(n), each proof then costs O(log n), where
/// [`inclusion_proof`] rebuilds the tree for every leaf. Same shape and hashes as
/// [`merkle_root`] and [`inclusion_proof`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MerkleTree {
    /// `levels[0]` are the leaves, the last level is the root alone (none when empty).
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// The tree over `leaves`.
    pub fn new(leaves: Vec<Hash>) -> Self {
        let mut levels = vec![leaves];
        while let Some(top) = levels.last().filter(|l| l.len() > 1) {
            let up = top
                .chunks(2)
                .map(|p| match p {
                    [l, r] => node_hash(l, r),
                    [single] => *single,
                    _ => ZERO_HASH,
                })
                .collect();
            levels.push(up);
        }
        MerkleTree { levels }
    }

    /// Leaves in the tree.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The root ([`ZERO_HASH`] when empty).
    pub fn root(&self) -> Hash {
        match self.levels.last() {
            Some(top) if top.len() == 1 => top[0],
            _ => ZERO_HASH,
        }
    }

    /// The leaf at `index`.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        let i = usize::try_from(index).ok()?;
        self.levels.first()?.get(i).copied()
    }

    /// The inclusion proof of leaf `index` (what [`inclusion_proof`] gives); `None` when out
    /// of range.
    pub fn proof(&self, index: u64) -> Option<Vec<Hash>> {
        let mut i = usize::try_from(index).ok()?;
        if i >= self.levels.first()?.len() {
            return None;
        }
        let mut proof = Vec::with_capacity(self.levels.len());
        for level in &self.levels[..self.levels.len() - 1] {
            if let Some(s) = level.get(i ^ 1) {
                proof.push(*s);
            }
            i /= 2;
        }
        Some(proof)
    }
}

/// The root that `proof` gives for `leaf` at `index` of a tree of `count` leaves; `None` when
/// the proof has the wrong length for that position.
pub fn root_from_proof(leaf: Hash, index: u64, count: u64, proof: &[Hash]) -> Option<Hash> {
    if index >= count {
        return None;
    }
    let (mut acc, mut i, mut n) = (leaf, index, count);
    let mut siblings = proof.iter();
    while n > 1 {
        if i % 2 == 1 {
            acc = node_hash(siblings.next()?, &acc);
        } else if i + 1 < n {
            acc = node_hash(&acc, siblings.next()?);
        }
        i /= 2;
        n = n.div_ceil(2);
    }
    siblings.next().is_none().then_some(acc)
}

/// Checks many inclusion proofs against one root of a tree of `count` leaves, hashing each
/// inner node at most once: a settlement batch's receipts share their upper paths, so a path
/// that reaches a node some earlier proof already led to the root stops there (about two
/// hashes a leaf for a dense batch instead of log2(count)).
///
/// It accepts every proof [`root_from_proof`] accepts against `root`, and no leaf that is not
/// in the tree: a node is remembered only once its whole path reached the root, so a path that
/// meets one is in the tree whatever its upper siblings (those are not compared again). A
/// proof must still have the exact length its position needs.
#[derive(Clone, Debug)]
pub struct ProofBatch {
    root: Hash,
    count: u64,
    /// Inner nodes (level, index) known to lie on a path to `root`, with their hashes.
    proven: std::collections::BTreeMap<(u8, u64), Hash>,
}

impl ProofBatch {
    /// A batch against `root` of a tree of `count` leaves.
    pub fn new(root: Hash, count: u64) -> Self {
        Self {
            root,
            count,
            proven: Default::default(),
        }
    }

    /// Whether `proof` proves `leaf` at `index` (remembering the path's nodes when it does).
    pub fn verify(&mut self, leaf: Hash, index: u64, proof: &[Hash]) -> bool {
        if index >= self.count || proof.len() != proof_len(index, self.count) {
            return false;
        }
        let (mut acc, mut i, mut n, mut level) = (leaf, index, self.count, 0u8);
        let mut path: Vec<((u8, u64), Hash)> = Vec::new();
        let mut siblings = proof.iter();
        while n > 1 {
            if i % 2 == 1 {
                let Some(s) = siblings.next() else {
                    return false;
                };
                acc = node_hash(s, &acc);
            } else if i + 1 < n {
                let Some(s) = siblings.next() else {
                    return false;
                };
                acc = node_hash(&acc, s);
            }
            i /= 2;
            n = n.div_ceil(2);
            level += 1;
            if self.proven.get(&(level, i)) == Some(&acc) {
                break;
            }
            path.push(((level, i), acc));
        }
        // Either a proven node was met, or the loop ended at the top.
        let met = n > 1 || self.proven.get(&(level, i)) == Some(&acc);
        if !met && acc != self.root {
            return false;
        }
        self.proven.extend(path);
        true
    }
}

/// The number of siblings a proof of leaf `index` in a tree of `count` leaves holds.
fn proof_len(mut i: u64, mut n: u64) -> usize {
    let mut len = 0;
    while n > 1 {
        if i % 2 == 1 || i + 1 < n {
            len += 1;
        }
        i /= 2;
        n = n.div_ceil(2);
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_batch_accepts_exactly_the_leaves_of_the_tree() {
        for n in 1..40u64 {
            let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            let root = merkle_root(&leaves);
            let mut batch = ProofBatch::new(root, n);
            // Every leaf in an interleaved order, each proven, and twice.
            let order: Vec<u64> = (0..n).map(|k| (k * 7) % n).chain(0..n).collect();
            for &i in &order {
                let p = inclusion_proof(&leaves, i as usize);
                assert!(batch.verify(leaves[i as usize], i, &p), "n {n} leaf {i}");
                // A leaf that is not in the tree, on the same path, is refused even now that
                // its upper nodes are proven; so are a wrong index and a wrong length.
                let forged = leaf_hash(b"forged");
                assert!(!batch.verify(forged, i, &p));
                if n > 1 {
                    assert!(!batch.verify(leaves[i as usize], (i + 1) % n, &p));
                }
                let mut longer = p.clone();
                longer.push(root);
                assert!(!batch.verify(leaves[i as usize], i, &longer));
                assert!(!batch.verify(leaves[i as usize], n, &p));
            }
            // Against another root nothing verifies.
            let mut other = ProofBatch::new(leaf_hash(b"other root"), n);
            for i in 0..n {
                let p = inclusion_proof(&leaves, i as usize);
                assert!(!other.verify(leaves[i as usize], i, &p));
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever is submitted, in whatever order: a proof batch accepts a genuine leaf with
        /// its genuine proof, and accepts nothing but genuine leaves at their own index.
        #[test]
        fn a_proof_batch_never_accepts_a_leaf_outside_the_tree(
            n in 1u64..300,
            tries in proptest::collection::vec((0u64..300, 0u8..4, 0usize..12), 1..80),
        ) {
            let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            let mut batch = ProofBatch::new(merkle_root(&leaves), n);
            for (i, how, k) in tries {
                let i = i % n;
                let mut leaf = leaves[i as usize];
                let mut proof = inclusion_proof(&leaves, i as usize);
                match how {
                    0 => {}
                    1 => leaf = leaf_hash(b"not a leaf"),
                    2 => {
                        let at = k % proof.len().max(1);
                        if let Some(s) = proof.get_mut(at) {
                            s.0[0] ^= 1;
                        }
                    }
                    _ => proof.truncate(k % (proof.len() + 1)),
                }
                let genuine = how == 0;
                let accepted = batch.verify(leaf, i, &proof);
                proptest::prop_assert!(!accepted || leaf == leaves[i as usize]);
                if genuine {
                    proptest::prop_assert!(accepted);
                }
            }
        }
    }

    #[test]
    fn a_kept_tree_proves_like_inclusion_proof() {
        for n in 0..40u64 {
            let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            let t = MerkleTree::new(leaves.clone());
            assert_eq!(t.len(), n);
            assert_eq!(t.root(), merkle_root(&leaves));
            for i in 0..n {
                let p = t.proof(i).unwrap();
                assert_eq!(p, inclusion_proof(&leaves, i as usize));
                assert_eq!(
                    root_from_proof(leaves[i as usize], i, n, &p),
                    Some(t.root())
                );
            }
            assert_eq!(t.proof(n), None);
        }
    }

    #[test]
    fn the_frontier_root_is_the_trees_and_every_proof_verifies() {
        let mut f = MerkleFrontier::new();
        assert_eq!(f.root(), ZERO_HASH);
        let mut leaves = Vec::new();
        for n in 1..=70u64 {
            let leaf = leaf_hash(&n.to_be_bytes());
            f.push(leaf);
            leaves.push(leaf);
            let root = merkle_root(&leaves);
            assert_eq!(f.root(), root, "{n} leaves");
            assert_eq!(f.count, n);
            assert!(f.levels.iter().flatten().count() == n.count_ones() as usize);
            for (i, l) in leaves.iter().enumerate() {
                let p = inclusion_proof(&leaves, i);
                assert_eq!(root_from_proof(*l, i as u64, n, &p), Some(root));
                // Another leaf, position, size or a cut proof does not give the root.
                assert_ne!(
                    root_from_proof(leaf_hash(b"x"), i as u64, n, &p),
                    Some(root)
                );
                if n > 1 {
                    let other = (i as u64 + 1) % n;
                    assert_ne!(root_from_proof(*l, other, n, &p), Some(root));
                }
                if !p.is_empty() {
                    assert_eq!(root_from_proof(*l, i as u64, n, &p[1..]), None);
                }
            }
        }
        assert_eq!(root_from_proof(leaves[0], 70, 70, &[]), None);
        assert!(inclusion_proof(&leaves, 70).is_empty());
    }
}
