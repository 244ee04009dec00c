//! Reward weights `E` per role (spec 3 and 5), as fixed point numbers with 4 decimals.
//!
//! * validator `E = 100 x stake / 1,000,000 EMC` (rounded down at 4 decimals),
//! * router `E = 10 x stake / 100,000 EMC` (rounded down at 4 decimals),
//! * compute `E = PoC E x staking multiplier`, with `PoC E = 15,000 ms / PoC time` rounded to
//!   the nearest 0.0001 (ties up), and the product rounded to the nearest 0.0001 (ties up).
//!
//! The spec's example `1.4451 x 6.2 = 8.96` is printed with 2 decimals: the exact product is
//! 8.95962, kept here as `8.9596` (4 decimals, nearest); rounded to 2 decimals for display
//! ([`Fixed4::round_to_decimals`]) it is the spec's 8.96.

use crate::{emc, E8s, TokenomicsError};
use candid::CandidType;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A non-negative fixed-point number with 4 decimals: `Fixed4(14451)` is 1.4451.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    CandidType,
    Serialize,
    Deserialize,
)]
pub struct Fixed4(pub u64);

impl Fixed4 {
    /// Units per 1.0.
    pub const SCALE: u64 = 10_000;
    /// 0.
    pub const ZERO: Fixed4 = Fixed4(0);
    /// 1.0.
    pub const ONE: Fixed4 = Fixed4(Self::SCALE);

    /// The whole number `n` (saturating).
    pub const fn from_int(n: u64) -> Self {
        Fixed4(n.saturating_mul(Self::SCALE))
    }

    /// The raw value in units of 0.0001.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The value rounded to the nearest multiple of `10^-decimals` (ties up), still in units of
    /// 0.0001 (e.g. `Fixed4(89596).round_to_decimals(2) == Fixed4(89600)`, that is 8.96).
    /// `decimals >= 4` returns the value unchanged.
    pub fn round_to_decimals(self, decimals: u32) -> Fixed4 {
        if decimals >= 4 {
            return self;
        }
        let step = 10u64.pow(4 - decimals);
        let q = self.0 / step;
        let r = self.0 % step;
        let q = if r * 2 >= step {
            q.saturating_add(1)
        } else {
            q
        };
        Fixed4(q.saturating_mul(step))
    }
}

impl fmt::Display for Fixed4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:04}", self.0 / Self::SCALE, self.0 % Self::SCALE)
    }
}

/// `num / den` rounded to nearest, ties up; saturates at `u64::MAX`. `den > 0`.
fn div_round_nearest(num: u128, den: u128) -> u64 {
    let q = num / den;
    let r = num % den;
    let q = if r.saturating_mul(2) >= den {
        q.saturating_add(1)
    } else {
        q
    };
    u64::try_from(q).unwrap_or(u64::MAX)
}

/// Validator weight: `E = 100 x stake / 1,000,000 EMC`, rounded down at 4 decimals.
/// 1,000,000 EMC gives E = 100.
pub fn validator_weight(stake: E8s) -> Fixed4 {
    let num = u128::from(stake) * 100 * u128::from(Fixed4::SCALE);
    Fixed4(u64::try_from(num / u128::from(emc(1_000_000))).unwrap_or(u64::MAX))
}

/// Router weight: `E = 10 x stake / 100,000 EMC`, rounded down at 4 decimals.
/// 100,000 EMC gives E = 10.
pub fn router_weight(stake: E8s) -> Fixed4 {
    let num = u128::from(stake) * 10 * u128::from(Fixed4::SCALE);
    Fixed4(u64::try_from(num / u128::from(emc(100_000))).unwrap_or(u64::MAX))
}

/// Reference time of the standard proof-of-computing task: `E = 15,000 ms / PoC time`.
pub const POC_REFERENCE_MS: u64 = 15_000;

/// Proof-of-computing E: `15,000 ms / poc_time_ms`, rounded to the nearest 0.0001 (ties up).
/// 10,380 ms gives 1.4451 and 30,218 ms gives 0.4964 (spec 5).
pub fn poc_weight(poc_time_ms: u64) -> Result<Fixed4, TokenomicsError> {
    if poc_time_ms == 0 {
        return Err(TokenomicsError::ZeroPocTime);
    }
    let num = u128::from(POC_REFERENCE_MS) * u128::from(Fixed4::SCALE);
    Ok(Fixed4(div_round_nearest(num, u128::from(poc_time_ms))))
}

/// Compute-node weight: `PoC E x staking multiplier`, rounded to the nearest 0.0001 (ties up).
pub fn compute_weight(poc_e: Fixed4, multiplier: Fixed4) -> Fixed4 {
    let num = u128::from(poc_e.0) * u128::from(multiplier.0);
    Fixed4(div_round_nearest(num, u128::from(Fixed4::SCALE)))
}
