//! Fibonacci decay and the block / epoch / decay-period arithmetic (spec 6 and 8).
//!
//! Heights and epochs follow emc-consensus (`Config::epoch_of`): height 0 is the genesis (no
//! block), block heights start at 1, and height `h >= 1` is in epoch `(h - 1) / L` for epochs of
//! `L` blocks (43,200 by protocol). Epochs are 0-based: epoch `e` covers heights
//! `e * L + 1 ..= (e + 1) * L`, so the checkpoint at height `(e + 1) * L` carries epoch `e` and
//! closes it. Decay periods are 1-based: epochs `0..90` are period 1, `90..180` period 2, and so
//! on.

use crate::{E8s, TokenomicsError, BLOCKS_PER_EPOCH, EPOCHS_PER_PERIOD, FIRST_PERIOD_REWARD};
use candid::CandidType;
use serde::{Deserialize, Serialize};

/// The largest `n` with `F(n) < 2^128`.
pub const MAX_FIB_U128: u64 = 186;

/// A decay period, numbered from 1. Built only by [`Period::new`] and the height/epoch
/// conversions, so it is never 0 (no serde derive on purpose: store epochs, not periods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period(u64);

impl Period {
    /// The first decay period.
    pub const FIRST: Period = Period(1);

    /// Period `n`; `n` must be at least 1.
    pub fn new(n: u64) -> Result<Self, TokenomicsError> {
        if n == 0 {
            Err(TokenomicsError::InvalidPeriod(n))
        } else {
            Ok(Period(n))
        }
    }

    /// The period's number `n >= 1`.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The next period (saturating at `u64::MAX`).
    pub fn next(self) -> Period {
        Period(self.0.saturating_add(1))
    }

    /// The first (0-based) epoch of this period.
    pub fn first_epoch(self) -> u64 {
        self.0.saturating_sub(1).saturating_mul(EPOCHS_PER_PERIOD)
    }
}

/// The (0-based) epoch that contains block `height` with the protocol's epoch length:
/// `(height - 1) / 43,200`, as emc-consensus numbers them (height 0, the genesis, is in epoch 0).
/// [`emc_types::epoch::epoch_of`] with [`BLOCKS_PER_EPOCH`].
pub fn epoch_of_height(height: u64) -> u64 {
    emc_types::epoch::epoch_of(height, BLOCKS_PER_EPOCH)
}

/// The (0-based) epoch that contains block `height` for epochs of `epoch_length` blocks:
/// `(height - 1) / epoch_length`. `None` for height 0 (the genesis is no block) or a zero epoch
/// length; otherwise [`emc_types::epoch::epoch_of`].
pub fn epoch_of_block(height: u64, epoch_length: u64) -> Option<u64> {
    if height == 0 || epoch_length == 0 {
        return None;
    }
    Some(emc_types::epoch::epoch_of(height, epoch_length))
}

/// The last height of `epoch` for epochs of `epoch_length` blocks: `(epoch + 1) * epoch_length`,
/// the height of the checkpoint that closes the epoch. `None` for a zero epoch length or when it
/// does not fit in a `u64`; otherwise [`emc_types::epoch::last_height_of_epoch`].
pub fn last_height_of_epoch(epoch: u64, epoch_length: u64) -> Option<u64> {
    if epoch_length == 0 {
        return None;
    }
    emc_types::epoch::last_height_of_epoch(epoch, epoch_length)
}

/// The decay period of a (0-based) epoch: `epoch / 90 + 1`.
pub fn period_of_epoch(epoch: u64) -> Period {
    // epoch / 90 <= u64::MAX / 90, so the addition cannot overflow.
    Period(epoch / EPOCHS_PER_PERIOD + 1)
}

/// The decay period of block `height` (protocol epoch length; heights `1 ..= 3,888,000` are
/// period 1).
pub fn period_of_height(height: u64) -> Period {
    period_of_epoch(epoch_of_height(height))
}

/// Fibonacci number `F(n)` with `F(0) = 0, F(1) = 1`; `None` when it does not fit in a `u128`
/// (`n > 186`).
pub fn fib(n: u64) -> Option<u128> {
    if n > MAX_FIB_U128 {
        return None;
    }
    if n == 0 {
        return Some(0);
    }
    // Invariant: (a, b) = (F(k-1), F(k)); never computes F(n+1), so F(186) does not overflow.
    let (mut a, mut b) = (0u128, 1u128);
    for _ in 1..n {
        let c = a.checked_add(b)?;
        a = b;
        b = c;
    }
    Some(b)
}

/// An exact non-negative fraction `num / den` with `den > 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct Ratio {
    /// Numerator.
    pub num: u128,
    /// Denominator, positive.
    pub den: u128,
}

impl Ratio {
    /// `x * self` rounded down, `None` on overflow of the intermediate product (or a zero
    /// denominator, which the constructors here never produce).
    pub fn mul_floor(self, x: u128) -> Option<u128> {
        x.checked_mul(self.num)
            .and_then(|p| p.checked_div(self.den))
    }
}

/// Decay factor `df(n)`: `df(1) = 1` and `df(n) = F(n-1) / F(n)` for `n >= 2` (so `df(2) = 1`,
/// `df(3) = 1/2`, `df(4) = 2/3`, ...). `None` once `F(n)` no longer fits in a `u128`
/// (`n > 186`, far beyond the point where every reward is 0 e8s).
pub fn decay_factor(n: Period) -> Option<Ratio> {
    if n.0 == 1 {
        return Some(Ratio { num: 1, den: 1 });
    }
    Some(Ratio {
        num: fib(n.0 - 1)?,
        den: fib(n.0)?,
    })
}

/// The cumulative decay `P(n) = df(1) x ... x df(n) = 1 / F(n)` (the product telescopes).
pub fn cumulative_decay(n: Period) -> Option<Ratio> {
    Some(Ratio {
        num: 1,
        den: fib(n.0)?,
    })
}

/// Node reward of decay period `n`: `R(n) = 64,800,000 EMC / F(n)`, rounded down to whole e8s
/// (so `R(n) = R(n-1) x df(n)` up to that rounding). 0 once `F(n)` exceeds the first reward.
pub fn period_reward(n: Period) -> E8s {
    match fib(n.0) {
        // F(n) >= 1 for n >= 1, and the quotient is <= FIRST_PERIOD_REWARD, so it fits a u64.
        Some(f) => u128::from(FIRST_PERIOD_REWARD)
            .checked_div(f)
            .and_then(|q| u64::try_from(q).ok())
            .unwrap_or(0),
        None => 0,
    }
}

/// Node reward of one epoch in decay period `n`: `r(n) = R(n) / 90`, rounded down (equal to
/// `64.8M EMC / (90 F(n))` rounded down once). 720,000 EMC in period 1.
pub fn epoch_reward(n: Period) -> E8s {
    period_reward(n) / EPOCHS_PER_PERIOD
}
