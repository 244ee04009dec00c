//! # emc-tokenomics: the exact reward math of EMC
//!
//! Pure integer arithmetic over e8s (1 EMC = 10^8 e8s), no IO, no clock, no floats. Every
//! function is total: bad inputs give a [`TokenomicsError`], overflow never panics.
//!
//! Rules come from the protocol spec (sections 2, 8, 9 and 11):
//! * [`schedule`]: Fibonacci decay `df(n) = F(n-1)/F(n)`, period reward `R(n) = 64.8M EMC / F(n)`,
//!   epoch reward `r(n) = R(n) / 90`, block/epoch/period arithmetic.
//! * [`weights`]: the reward weight E of each role, fixed point with 4 decimals.
//! * [`split`]: dividing an epoch budget among nodes by weight.
//! * [`pool`]: the node-reward pool (cap 420M EMC; emission stops for good once the cap would be
//!   exceeded).
//! * [`trading`]: trading rewards with the product's anti-farming rules (spec 11.1) and the
//!   trading pool (cap 378M EMC).
//! * [`params`]: governance parameters with defaults and validation.
//!
//! ## Rounding (one rule per division, written down where it happens)
//! * **Payouts round down** (towards zero): `R(n)`, `r(n)`, each node's share, the treasury fee,
//!   each trading reward. A sum of rounded-down parts never exceeds the exact whole, so no
//!   epoch pays more than `r(n)`, no pool pays more than its cap, and no trade pays more than its
//!   capped reward. The undistributed dust stays unminted.
//! * `floor(floor(a / b) / c) = floor(a / (b c))` for non-negative integers, so `r(n)` computed as
//!   `R(n) / 90` equals `64.8M EMC / (90 F(n))` rounded down once.
//! * Weights are measurements, not payouts: PoC E and the staking-multiplied E round **to nearest**
//!   (ties up) at 4 decimals, which is how the spec prints them (1.4451, 0.4964). Stake-based
//!   weights round **down** (a fraction of 0.0001 E is not earned). Weight rounding cannot push a
//!   payout over budget because the split normalises by the sum of weights.
//! * The largest-remainder split ([`split::SplitRounding::LargestRemainder`]) hands out the dust
//!   of the round-down split one e8 at a time to the largest remainders, so the epoch pays exactly
//!   `r(n)` when at least one weight is positive; it still never exceeds `r(n)`.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod params;
pub mod pool;
pub mod schedule;
pub mod split;
pub mod trading;
pub mod weights;

pub use params::{StakeTerm, StakingMultipliers, TokenomicsParams};
pub use pool::{EpochPayout, NodeRewardPool};
pub use schedule::{
    cumulative_decay, decay_factor, epoch_of_block, epoch_of_height, epoch_reward, fib,
    last_height_of_epoch, period_of_epoch, period_of_height, period_reward, Period, Ratio,
};
pub use split::{split_by_weight, SplitRounding};
pub use trading::{settle_trade, trading_period, TradeSettlement, TradingRewardPool};
pub use weights::{compute_weight, poc_weight, router_weight, validator_weight, Fixed4};

/// An amount of EMC in e8s (10^-8 EMC). The whole supply (2.1e17 e8s) fits in a `u64`.
pub type E8s = u64;

/// e8s in one EMC.
pub const E8S_PER_EMC: E8s = 100_000_000;

/// `n` EMC in e8s (saturating; only used for constants well below the limit).
pub const fn emc(n: u64) -> E8s {
    n.saturating_mul(E8S_PER_EMC)
}

/// Total supply of EMC (spec 2).
pub const TOTAL_SUPPLY: E8s = emc(2_100_000_000);
/// Hard cap of the node-reward pool (spec 2, 8).
pub const NODE_REWARD_POOL_CAP: E8s = emc(420_000_000);
/// Hard cap of the compute-trading reward pool (spec 2, 9).
pub const TRADING_REWARD_POOL_CAP: E8s = emc(378_000_000);
/// Ecosystem developer rewards pool (spec 2, 10).
pub const DEVELOPER_REWARD_POOL_CAP: E8s = emc(252_000_000);
/// DAO airdrop incentive pool (spec 2, 10).
pub const AIRDROP_POOL_CAP: E8s = emc(105_000_000);

/// Node reward of the first decay period, `R(1)` (spec 8).
pub const FIRST_PERIOD_REWARD: E8s = emc(64_800_000);
/// Blocks in one epoch (spec 6): about 24 hours at one block every 2 seconds. Epoch `e` is
/// heights `e * 43,200 + 1 ..= (e + 1) * 43,200` (see [`schedule`]); the network's one value,
/// [`emc_types::epoch::BLOCKS_PER_EPOCH`].
pub const BLOCKS_PER_EPOCH: u64 = emc_types::epoch::BLOCKS_PER_EPOCH;
/// Epochs in one decay period (spec 6).
pub const EPOCHS_PER_PERIOD: u64 = 90;
/// Blocks in one decay period: 3,888,000.
pub const BLOCKS_PER_PERIOD: u64 = BLOCKS_PER_EPOCH * EPOCHS_PER_PERIOD;

/// Errors of the reward math.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenomicsError {
    /// Decay periods are numbered from 1.
    #[error("decay period must be at least 1, got {0}")]
    InvalidPeriod(u64),
    /// A proof-of-computing time of 0 ms has no E.
    #[error("proof-of-computing time must be positive")]
    ZeroPocTime,
    /// A grant for an epoch before the pool's current one.
    #[error("epoch {epoch} is before the current epoch {current}")]
    StaleEpoch {
        /// The epoch asked for.
        epoch: u64,
        /// The pool's current epoch.
        current: u64,
    },
    /// A governance parameter is out of range.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParam {
        /// The parameter's field name.
        name: &'static str,
        /// Why it is refused.
        reason: &'static str,
    },
}
