//! [`Epochs`]: checkpoints, epoch summaries and rewards per node per epoch.

use crate::SdkError;
use candid::Principal;
use emc_epochs::{EpochSummary, Payout, Stats, StoredCheckpoint};
use emc_ic_client::{EpochsApi, IcClient};
use emc_types::NodeId;
use std::sync::Arc;

/// Most epochs one [`Epochs::node_rewards`] call scans (one query each).
pub const MAX_EPOCH_SPAN: u64 = 1_000;

/// Typed calls to the epochs canister.
#[derive(Clone, Debug)]
pub struct Epochs {
    api: EpochsApi,
}

impl Epochs {
    pub(crate) fn new(client: Arc<dyn IcClient>, canister: Principal) -> Self {
        Epochs {
            api: EpochsApi::new(client, canister),
        }
    }

    /// Counters: the checkpoint tip, the last closed epoch, pending payouts, whether emission
    /// has stopped.
    pub async fn stats(&self) -> Result<Stats, SdkError> {
        Ok(self.api.stats().await?)
    }

    /// The latest accepted checkpoint.
    pub async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, SdkError> {
        Ok(self.api.latest_checkpoint().await?)
    }

    /// The accepted checkpoint at `height`.
    pub async fn checkpoint(&self, height: u64) -> Result<Option<StoredCheckpoint>, SdkError> {
        Ok(self.api.checkpoint(height).await?)
    }

    /// An epoch's summary (status, nodes, budget, payout progress).
    pub async fn epoch_summary(&self, epoch: u64) -> Result<Option<EpochSummary>, SdkError> {
        Ok(self.api.epoch_summary(epoch).await?)
    }

    /// The node's payout in `epoch`, if it earned one.
    pub async fn node_reward(&self, node: NodeId, epoch: u64) -> Result<Option<Payout>, SdkError> {
        Ok(self.api.node_reward(node, epoch).await?)
    }

    /// The node's payouts in epochs `from..=to` (one query per epoch, at most
    /// [`MAX_EPOCH_SPAN`] epochs), oldest first; epochs without a payout are left out.
    pub async fn node_rewards(
        &self,
        node: NodeId,
        from: u64,
        to: u64,
    ) -> Result<Vec<Payout>, SdkError> {
        if from > to {
            return Err(SdkError::Input(format!(
                "epoch range {from}..{to} is empty: the first epoch is after the last"
            )));
        }
        if to - from >= MAX_EPOCH_SPAN {
            return Err(SdkError::Input(format!(
                "epoch range {from}..{to} spans more than {MAX_EPOCH_SPAN} epochs"
            )));
        }
        let mut out = Vec::new();
        for e in from..=to {
            if let Some(p) = self.node_reward(node, e).await? {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// The payouts of `owner`'s nodes in `epoch`.
    pub async fn owner_rewards(&self, owner: Principal, epoch: u64) -> Result<Vec<Payout>, SdkError> {
        Ok(self.api.owner_rewards(owner, epoch).await?)
    }
}
