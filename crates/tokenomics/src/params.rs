//! Governance parameters of the reward math, with the spec's defaults and validation.

use crate::{emc, E8s, Fixed4, TokenomicsError};
use candid::CandidType;
use serde::{Deserialize, Serialize};

/// The staking term of a compute node (spec 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, CandidType, Serialize, Deserialize)]
pub enum StakeTerm {
    /// No stake.
    Unstaked,
    /// 7-day stake.
    Days7,
    /// 30-day stake.
    Days30,
    /// 90-day stake.
    Days90,
    /// 180-day stake.
    Days180,
}

impl StakeTerm {
    /// The term in days (0 for unstaked).
    pub fn days(self) -> u64 {
        match self {
            StakeTerm::Unstaked => 0,
            StakeTerm::Days7 => 7,
            StakeTerm::Days30 => 30,
            StakeTerm::Days90 => 90,
            StakeTerm::Days180 => 180,
        }
    }
}

/// Staking multipliers of compute E (governance parameters; defaults x1, x1.4, x2.7, x6.2, x10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct StakingMultipliers {
    /// Unstaked (default 1).
    pub unstaked: Fixed4,
    /// 7 days (default 1.4).
    pub days7: Fixed4,
    /// 30 days (default 2.7).
    pub days30: Fixed4,
    /// 90 days (default 6.2).
    pub days90: Fixed4,
    /// 180 days (default 10).
    pub days180: Fixed4,
}

impl Default for StakingMultipliers {
    fn default() -> Self {
        StakingMultipliers {
            unstaked: Fixed4(10_000),
            days7: Fixed4(14_000),
            days30: Fixed4(27_000),
            days90: Fixed4(62_000),
            days180: Fixed4(100_000),
        }
    }
}

/// The largest allowed multiplier: x1000.
pub const MAX_MULTIPLIER: Fixed4 = Fixed4::from_int(1_000);

impl StakingMultipliers {
    /// The multiplier of a term.
    pub fn get(&self, term: StakeTerm) -> Fixed4 {
        match term {
            StakeTerm::Unstaked => self.unstaked,
            StakeTerm::Days7 => self.days7,
            StakeTerm::Days30 => self.days30,
            StakeTerm::Days90 => self.days90,
            StakeTerm::Days180 => self.days180,
        }
    }

    /// Multipliers are positive, at most x1000, and never decrease with a longer term.
    pub fn validate(&self) -> Result<(), TokenomicsError> {
        let all = [
            self.unstaked,
            self.days7,
            self.days30,
            self.days90,
            self.days180,
        ];
        if all.iter().any(|m| m.0 == 0 || *m > MAX_MULTIPLIER) {
            return Err(TokenomicsError::InvalidParam {
                name: "multipliers",
                reason: "each multiplier must be in (0, 1000]",
            });
        }
        if all.windows(2).any(|w| w[0] > w[1]) {
            return Err(TokenomicsError::InvalidParam {
                name: "multipliers",
                reason: "a longer term must not have a smaller multiplier",
            });
        }
        Ok(())
    }
}

/// Basis points: parts per 10,000.
pub const BPS_SCALE: u32 = 10_000;

/// All governance parameters of the reward math.
#[derive(Debug, Clone, Copy, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct TokenomicsParams {
    /// Compute-node staking multipliers.
    pub multipliers: StakingMultipliers,
    /// Share of a trade that goes to the treasury, in basis points (default 2000 = 20%).
    pub trading_fee_bps: u32,
    /// Cap of a trade's total reward as a fraction of its fee, in basis points; strictly below
    /// 10,000 so that self-dealing always loses money (default 9000 = 0.9; spec 11.1).
    pub trade_reward_cap_bps: u32,
    /// Most trading reward one account may receive in one epoch (default 10,000 EMC).
    pub account_epoch_reward_cap: E8s,
}

impl Default for TokenomicsParams {
    fn default() -> Self {
        TokenomicsParams {
            multipliers: StakingMultipliers::default(),
            trading_fee_bps: 2_000,
            trade_reward_cap_bps: 9_000,
            account_epoch_reward_cap: emc(10_000),
        }
    }
}

impl TokenomicsParams {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), TokenomicsError> {
        self.multipliers.validate()?;
        if self.trading_fee_bps > BPS_SCALE {
            return Err(TokenomicsError::InvalidParam {
                name: "trading_fee_bps",
                reason: "must be at most 10000",
            });
        }
        if self.trade_reward_cap_bps >= BPS_SCALE {
            return Err(TokenomicsError::InvalidParam {
                name: "trade_reward_cap_bps",
                reason: "must be strictly below 10000 (a trade's reward stays below its fee)",
            });
        }
        Ok(())
    }
}
