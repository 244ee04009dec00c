//! The node-reward pool: per-epoch emission under the 420,000,000 EMC hard cap (spec 8).

use crate::{
    epoch_reward, period_of_epoch, split_by_weight, E8s, SplitRounding, NODE_REWARD_POOL_CAP,
};
use candid::CandidType;
use serde::{Deserialize, Serialize};

/// The state of the node-reward pool. Emission stops for good the first time an epoch's full
/// budget `r(n)` would take the total emitted past the cap: that epoch pays nothing, and so does
/// every later epoch, even though later budgets are smaller.
#[derive(Debug, Clone, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct NodeRewardPool {
    /// The hard cap in e8s.
    pub cap: E8s,
    /// Total emitted so far (the sum of all minted node rewards).
    pub emitted: E8s,
    /// Set once the cap would have been exceeded; never cleared.
    pub stopped: bool,
}

impl Default for NodeRewardPool {
    fn default() -> Self {
        Self::new(NODE_REWARD_POOL_CAP)
    }
}

/// The rewards of one epoch.
#[derive(Debug, Clone, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct EpochPayout {
    /// The epoch (0-based).
    pub epoch: u64,
    /// The epoch's budget `r(n)`, or 0 when emission has stopped.
    pub budget: E8s,
    /// One payout per node, in the order of the weights given.
    pub payouts: Vec<E8s>,
    /// The sum of the payouts (at most `budget`).
    pub total: E8s,
}

impl NodeRewardPool {
    /// A fresh pool with the given cap.
    pub fn new(cap: E8s) -> Self {
        NodeRewardPool {
            cap,
            emitted: 0,
            stopped: false,
        }
    }

    /// What is left under the cap.
    pub fn remaining(&self) -> E8s {
        self.cap.saturating_sub(self.emitted)
    }

    /// The budget epoch `epoch` would get: `r(n)` for its decay period, or 0 if emission has
    /// stopped or would stop at this epoch.
    pub fn epoch_budget(&self, epoch: u64) -> E8s {
        let r = epoch_reward(period_of_epoch(epoch));
        if self.stopped || r > self.remaining() {
            0
        } else {
            r
        }
    }

    /// Pays epoch `epoch` to nodes of the given weights (raw [`crate::Fixed4`] values or any
    /// other common unit), records what was paid, and stops emission for good if `r(n)` would
    /// exceed the cap. The caller mints `payouts` and must call this once per epoch.
    pub fn pay_epoch(
        &mut self,
        epoch: u64,
        weights: &[u64],
        rounding: SplitRounding,
    ) -> EpochPayout {
        let r = epoch_reward(period_of_epoch(epoch));
        if !self.stopped && r > self.remaining() {
            self.stopped = true;
        }
        let budget = if self.stopped { 0 } else { r };
        let payouts = split_by_weight(budget, weights, rounding);
        let total: E8s = payouts.iter().fold(0u64, |a, p| a.saturating_add(*p));
        // total <= budget <= remaining, so this never passes the cap.
        self.emitted = self.emitted.saturating_add(total.min(budget));
        EpochPayout {
            epoch,
            budget,
            payouts,
            total,
        }
    }
}
