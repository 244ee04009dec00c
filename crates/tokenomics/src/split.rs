//! Splitting an epoch's budget among nodes by weight: `r(m) = r(n) x E(m) / sum of E` (spec 8).

use crate::E8s;
use candid::CandidType;
use serde::{Deserialize, Serialize};

/// How the split rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, CandidType, Serialize, Deserialize)]
pub enum SplitRounding {
    /// Each share is rounded down; the dust (fewer e8s than there are weighted nodes) is not
    /// paid.
    Down,
    /// Largest remainder (Hamilton): shares are rounded down, then the dust is handed out one
    /// e8 at a time to the shares with the largest remainders (ties: the earlier node). The
    /// total is exactly the budget when some weight is positive. Deterministic.
    #[default]
    LargestRemainder,
}

/// Splits `budget` by `weights`. Returns one share per weight, in the same order. The sum of the
/// shares never exceeds `budget`; a zero weight gets 0; all-zero (or no) weights pay nothing.
pub fn split_by_weight(budget: E8s, weights: &[u64], rounding: SplitRounding) -> Vec<E8s> {
    let total: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    if total == 0 {
        return vec![0; weights.len()];
    }
    let budget128 = u128::from(budget);
    let mut shares = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    let mut paid: u128 = 0;
    for (i, w) in weights.iter().enumerate() {
        // budget < 2^64 and w < 2^64, so the product fits in a u128.
        let p = budget128 * u128::from(*w);
        let share = p / total; // round down; <= budget because w <= total
        paid += share;
        shares.push(u64::try_from(share).unwrap_or(0));
        if *w > 0 {
            remainders.push((p % total, i));
        }
    }
    if rounding == SplitRounding::LargestRemainder {
        // The sum of the exact shares is `budget`, so the dust is < the number of positive
        // weights (each share lost less than one e8).
        let dust = budget128.saturating_sub(paid);
        remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, i) in remainders
            .into_iter()
            .take(usize::try_from(dust).unwrap_or(0))
        {
            if let Some(s) = shares.get_mut(i) {
                *s = s.saturating_add(1);
            }
        }
    }
    shares
}
