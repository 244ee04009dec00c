//! The validator set of one epoch: ordered members and quorum arithmetic.

use crate::{sha256, Hash, NodeId};
use candid::CandidType;
use serde::{Deserialize, Serialize};

/// Domain tag of [`ValidatorSet::id`].
pub const VALIDATOR_SET_DOMAIN: &[u8] = b"emc-validator-set-v1";

/// Why a list of members is not a valid validator set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidatorSetError {
    /// A set needs at least one member.
    #[error("a validator set needs at least one member")]
    Empty,
    /// A key appears twice.
    #[error("validator {0:?} appears twice")]
    Duplicate(NodeId),
}

/// The validators of one epoch, in the registry's order (the order decides proposer rotation).
///
/// Members are their ed25519 public keys ([`NodeId`]). Construct with [`ValidatorSet::new`],
/// which rejects empty sets and duplicates; a set received over the wire should be re-checked
/// with [`ValidatorSet::check`].
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct ValidatorSet {
    /// The epoch this set is valid for.
    pub epoch: u64,
    /// The members, in order.
    pub members: Vec<NodeId>,
}

impl ValidatorSet {
    /// A checked set.
    pub fn new(epoch: u64, members: Vec<NodeId>) -> Result<Self, ValidatorSetError> {
        let set = ValidatorSet { epoch, members };
        set.check()?;
        Ok(set)
    }

    /// Checks that the set is non-empty and has no duplicate keys.
    pub fn check(&self) -> Result<(), ValidatorSetError> {
        if self.members.is_empty() {
            return Err(ValidatorSetError::Empty);
        }
        let mut sorted = self.members.clone();
        sorted.sort();
        for w in sorted.windows(2) {
            if w[0] == w[1] {
                return Err(ValidatorSetError::Duplicate(w[0]));
            }
        }
        Ok(())
    }

    /// Number of members `n`.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True for a set with no members (never true for a checked set).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The number of faulty members tolerated: `f = floor((n - 1) / 3)`.
    pub fn max_faulty(&self) -> usize {
        self.len().saturating_sub(1) / 3
    }

    /// The quorum size: the smallest `q` with `2q > n + f`, which is `ceil(2n/3)` for every
    /// `n` (and `2f + 1` when `n = 3f + 1`). Any two quorums intersect in at least `f + 1`
    /// members, hence in at least one honest member.
    pub fn quorum(&self) -> usize {
        let n = self.len();
        (2 * n).div_ceil(3)
    }

    /// Position of `node` in the set, if it is a member.
    pub fn index_of(&self, node: &NodeId) -> Option<usize> {
        self.members.iter().position(|m| m == node)
    }

    /// Whether `node` is a member.
    pub fn contains(&self, node: &NodeId) -> bool {
        self.index_of(node).is_some()
    }

    /// The identifier of the set: `sha256(VALIDATOR_SET_DOMAIN || epoch_be64 || n_be32 ||
    /// key_1 || ... || key_n)`. Order matters (it decides proposer rotation).
    pub fn id(&self) -> Hash {
        let n = u32::try_from(self.members.len()).unwrap_or(u32::MAX);
        let mut bytes = Vec::with_capacity(VALIDATOR_SET_DOMAIN.len() + 12 + 32 * self.len());
        bytes.extend_from_slice(VALIDATOR_SET_DOMAIN);
        bytes.extend_from_slice(&self.epoch.to_be_bytes());
        bytes.extend_from_slice(&n.to_be_bytes());
        for m in &self.members {
            bytes.extend_from_slice(&m.0);
        }
        sha256(&[&bytes])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(n: usize) -> ValidatorSet {
        ValidatorSet::new(0, (0..n).map(|i| NodeId([i as u8; 32])).collect()).unwrap()
    }

    #[test]
    fn quorum_table() {
        // (n, f, q): q is the smallest value with 2q > n + f.
        let table = [
            (1, 0, 1),
            (2, 0, 2),
            (3, 0, 2),
            (4, 1, 3),
            (5, 1, 4),
            (6, 1, 4),
            (7, 2, 5),
            (10, 3, 7),
            (13, 4, 9),
            (14, 4, 10),
            (16, 5, 11),
        ];
        for (n, f, q) in table {
            let s = set(n);
            assert_eq!(s.max_faulty(), f, "f for n={n}");
            assert_eq!(s.quorum(), q, "q for n={n}");
            assert!(
                2 * q > n + f && 2 * (q - 1) <= n + f,
                "minimality for n={n}"
            );
        }
    }

    #[test]
    fn rejects_empty_and_duplicates() {
        assert_eq!(ValidatorSet::new(0, vec![]), Err(ValidatorSetError::Empty));
        let d = NodeId([7; 32]);
        assert_eq!(
            ValidatorSet::new(0, vec![d, NodeId([1; 32]), d]),
            Err(ValidatorSetError::Duplicate(d))
        );
    }

    #[test]
    fn id_depends_on_epoch_and_order() {
        let a = set(4);
        let mut b = a.clone();
        b.epoch = 1;
        let mut c = a.clone();
        c.members.swap(0, 1);
        assert_ne!(a.id(), b.id());
        assert_ne!(a.id(), c.id());
        assert_eq!(a.id(), set(4).id());
    }
}
