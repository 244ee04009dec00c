//! [`Epochs`]: checkpoints, epoch summaries and rewards per node per epoch.

use crate::SdkError;
use candid::Principal;
pub use emc_epochs::{EpochSummary, Payout, PayoutStatus, Stats, StoredCheckpoint};
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
    pub async fn owner_rewards(
        &self,
        owner: Principal,
        epoch: u64,
    ) -> Result<Vec<Payout>, SdkError> {
        Ok(self.api.owner_rewards(owner, epoch).await?)
    }
}

/// The CSV header of [`earnings_csv`].
pub const EARNINGS_CSV_HEADER: &str = "epoch,node,owner,amount_e8s,amount_emc,status,block";

/// Payouts as CSV (header, then one line per payout; every field is plain: hex, principal
/// text, numbers, a status word), for spreadsheets.
///
/// ```
/// assert_eq!(emc_sdk::epochs::earnings_csv(&[]), format!("{}\n", emc_sdk::epochs::EARNINGS_CSV_HEADER));
/// ```
pub fn earnings_csv(payouts: &[Payout]) -> String {
    let mut out = String::from(EARNINGS_CSV_HEADER);
    out.push('\n');
    for p in payouts {
        let (status, block) = payout_status(&p.status);
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            p.epoch,
            crate::node_id_hex(&p.node),
            p.owner.to_text(),
            p.amount_e8s,
            crate::amount::format_emc(p.amount_e8s),
            status,
            block.map(|b| b.to_string()).unwrap_or_default()
        ));
    }
    out
}

/// A payout status as a word and its ledger block, if paid.
pub fn payout_status(s: &emc_epochs::PayoutStatus) -> (&'static str, Option<u64>) {
    match s {
        emc_epochs::PayoutStatus::Pending => ("pending", None),
        emc_epochs::PayoutStatus::Paid { block } => ("paid", Some(*block)),
        emc_epochs::PayoutStatus::Stuck => ("stuck", None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines() {
        let p = |epoch, amount_e8s, status| Payout {
            epoch,
            node: NodeId([0xab; 32]),
            owner: Principal::anonymous(),
            amount_e8s,
            created_at_time: 0,
            attempts: 1,
            status,
        };
        let csv = earnings_csv(&[
            p(4, 150_000_000, emc_epochs::PayoutStatus::Paid { block: 12 }),
            p(5, 1, emc_epochs::PayoutStatus::Pending),
        ]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], EARNINGS_CSV_HEADER);
        assert_eq!(
            lines[1],
            format!("4,{},2vxsx-fae,150000000,1.5,paid,12", "ab".repeat(32))
        );
        assert_eq!(
            lines[2],
            format!("5,{},2vxsx-fae,1,0.00000001,pending,", "ab".repeat(32))
        );
        assert_eq!(lines.len(), 3);
    }
}
