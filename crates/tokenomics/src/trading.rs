//! Trading rewards (spec 9) with the product's anti-farming rules (spec 11.1).
//!
//! For a trade of amount `M` in decay period `n` (counted from the epoch the market opened):
//! * treasury fee `fee = M x 20%` (rounded down; the provider receives `M - fee`, so the three
//!   parts always add up to `M`);
//! * reward `fee x P(n)` with `P(n) = 1 / F(n)`, shared user `df(n)` and provider `1 - df(n)`:
//!   `user = fee x F(n-1) / F(n)^2` and `provider = fee x F(n-2) / F(n)^2` (`n >= 2`; period 1
//!   pays the user everything), each computed exactly and rounded down once;
//! * the trade's total reward is capped at `fee x cap` with `cap < 1` (default 0.9, rounded
//!   down); when the cap binds, both parts are scaled down proportionally (rounded down);
//! * each account receives at most a governance amount per epoch, and the pool never pays more
//!   than its 378,000,000 EMC cap ([`TradingRewardPool`]).
//!
//! **Interplay with the 0.9 cap.** `P(n) = 1 / F(n)` is 1 in periods 1 and 2 and at most 1/2
//! from period 3 on, so with any cap of at least 0.5 the cap binds only in periods 1 and 2,
//! where the literal rule would pay back 100% of the fee (and all of it to the user, since
//! `df(1) = df(2) = 1`). There it pays 90% of the fee, so a self-dealing trader loses at least
//! `fee x 0.1 = 2%` of every trade. In the spec's period-4 example the reward is `200 / 3 = 66.67`
//! EMC, far below the `180` EMC cap, so the exact figures are unchanged: user 44.44444444,
//! provider 22.22222222, user pays 955.55555556 net, provider gets 822.22222222, treasury 200.

use crate::params::BPS_SCALE;
use crate::{
    fib, period_of_epoch, E8s, Period, TokenomicsError, TokenomicsParams, TRADING_REWARD_POOL_CAP,
};
use candid::CandidType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The money flows of one trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct TradeSettlement {
    /// The trade amount `M` the user pays.
    pub amount: E8s,
    /// The treasury's fee (20% of `M` by default).
    pub treasury_fee: E8s,
    /// What the provider is paid for the work: `M - fee`.
    pub provider_payment: E8s,
    /// The user's trading reward.
    pub user_reward: E8s,
    /// The provider's trading reward.
    pub provider_reward: E8s,
}

impl TradeSettlement {
    /// What the trade costs the user after its reward: `M - user_reward`.
    pub fn user_net_cost(&self) -> E8s {
        self.amount.saturating_sub(self.user_reward)
    }

    /// What the provider receives in all: payment plus reward.
    pub fn provider_total(&self) -> E8s {
        self.provider_payment.saturating_add(self.provider_reward)
    }

    /// The trade's total reward.
    pub fn total_reward(&self) -> E8s {
        self.user_reward.saturating_add(self.provider_reward)
    }
}

/// The trading decay period of `epoch` for a market that opened at `market_open_epoch`;
/// `None` before the market opens.
pub fn trading_period(epoch: u64, market_open_epoch: u64) -> Option<Period> {
    epoch.checked_sub(market_open_epoch).map(period_of_epoch)
}

/// `fee x num / den` rounded down; 0 when the product overflows a u128 (only possible when
/// `den > 2^64 > fee`, where the exact result is 0 anyway) or `den == 0`.
fn mul_div_floor(fee: E8s, num: u128, den: u128) -> E8s {
    u128::from(fee)
        .checked_mul(num)
        .and_then(|p| p.checked_div(den))
        .and_then(|q| u64::try_from(q).ok())
        .unwrap_or(0)
}

/// The rewards of a trade of `amount` in trading period `period` before per-account and pool
/// caps (see the module docs for every rounding). Call only for trades recorded as executed.
pub fn settle_trade(amount: E8s, period: Period, params: &TokenomicsParams) -> TradeSettlement {
    let fee_bps = u128::from(params.trading_fee_bps.min(BPS_SCALE));
    let treasury_fee = mul_div_floor(amount, fee_bps, u128::from(BPS_SCALE));
    let n = period.get();
    let (user, provider) = if n == 1 {
        // P(1) = 1, df(1) = 1: the whole fee to the user.
        (treasury_fee, 0)
    } else {
        match (fib(n), fib(n - 1), fib(n.saturating_sub(2))) {
            (Some(f), Some(f1), Some(f2)) => match f.checked_mul(f) {
                Some(f_sq) => (
                    mul_div_floor(treasury_fee, f1, f_sq),
                    mul_div_floor(treasury_fee, f2, f_sq),
                ),
                // F(n)^2 > 2^128 means F(n) > 2^64 > fee: the reward is 0.
                None => (0, 0),
            },
            _ => (0, 0),
        }
    };
    let cap_bps = u128::from(params.trade_reward_cap_bps.min(BPS_SCALE - 1));
    let cap = mul_div_floor(treasury_fee, cap_bps, u128::from(BPS_SCALE));
    let total = u128::from(user) + u128::from(provider);
    let (user_reward, provider_reward) = if total > u128::from(cap) {
        (
            mul_div_floor(user, u128::from(cap), total),
            mul_div_floor(provider, u128::from(cap), total),
        )
    } else {
        (user, provider)
    };
    TradeSettlement {
        amount,
        treasury_fee,
        provider_payment: amount.saturating_sub(treasury_fee),
        user_reward,
        provider_reward,
    }
}

/// The trading-reward pool: the 378M EMC hard cap and the per-account-per-epoch cap. Grants are
/// partial at the edges: an account near its epoch cap, or the pool near its cap, gets what is
/// left and then nothing.
#[derive(Debug, Clone, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct TradingRewardPool<K: Ord> {
    /// The hard cap.
    pub cap: E8s,
    /// Total granted so far.
    pub emitted: E8s,
    /// The epoch `granted` refers to.
    pub epoch: u64,
    /// Reward granted per account in `epoch`.
    pub granted: BTreeMap<K, E8s>,
}

impl<K: Ord> Default for TradingRewardPool<K> {
    fn default() -> Self {
        Self::new(TRADING_REWARD_POOL_CAP)
    }
}

impl<K: Ord> TradingRewardPool<K> {
    /// A fresh pool with the given cap.
    pub fn new(cap: E8s) -> Self {
        TradingRewardPool {
            cap,
            emitted: 0,
            epoch: 0,
            granted: BTreeMap::new(),
        }
    }

    /// What is left under the pool cap.
    pub fn remaining(&self) -> E8s {
        self.cap.saturating_sub(self.emitted)
    }

    /// Grants up to `reward` to `account` in `epoch`, limited by the account's epoch cap and
    /// the pool's cap; returns the amount granted (to be minted). A past epoch is refused.
    pub fn grant(
        &mut self,
        epoch: u64,
        account: K,
        reward: E8s,
        account_epoch_cap: E8s,
    ) -> Result<E8s, TokenomicsError> {
        if epoch < self.epoch {
            return Err(TokenomicsError::StaleEpoch {
                epoch,
                current: self.epoch,
            });
        }
        if epoch > self.epoch {
            self.epoch = epoch;
            self.granted.clear();
        }
        let used = self.granted.get(&account).copied().unwrap_or(0);
        let amount = reward
            .min(account_epoch_cap.saturating_sub(used))
            .min(self.remaining());
        if amount > 0 {
            self.granted.insert(account, used.saturating_add(amount));
            self.emitted = self.emitted.saturating_add(amount);
        }
        Ok(amount)
    }

    /// Settles a trade and grants its rewards to `user` and `provider` (user first); the
    /// returned settlement holds the rewards actually granted.
    pub fn settle_and_grant(
        &mut self,
        epoch: u64,
        amount: E8s,
        period: Period,
        user: K,
        provider: K,
        params: &TokenomicsParams,
    ) -> Result<TradeSettlement, TokenomicsError> {
        let mut s = settle_trade(amount, period, params);
        s.user_reward = self.grant(epoch, user, s.user_reward, params.account_epoch_reward_cap)?;
        s.provider_reward = self.grant(
            epoch,
            provider,
            s.provider_reward,
            params.account_epoch_reward_cap,
        )?;
        Ok(s)
    }
}
