//! The anchor task: submits quorum-signed checkpoints to the epochs canister in height order,
//! uploads each closed epoch's per-node data, and asks the canister to close the epoch once
//! its challenge window has passed (the canister's timer then mints the rewards).
//!
//! Every validator runs one. The validator at position `i` of the set waits `i * stagger`
//! before submitting a checkpoint, and submits only what the canister does not have yet, so
//! normally one validator pays for each call and the others step in when it is down. Every
//! call is idempotent on the canister side (a duplicate is refused without a state change).

use crate::app::EpochData;
use crate::ic::IcHandles;
use crate::status::{Shared, ValidatorStatus};
use emc_epochs::EpochsError;
use emc_types::{NodeId, SignedCheckpoint};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Work for the anchor task.
#[derive(Debug)]
pub enum AnchorJob {
    /// A checkpoint a quorum signed, with the epoch's data when it closes an epoch.
    Checkpoint {
        /// The checkpoint and its signatures.
        signed: SignedCheckpoint,
        /// The closed epoch's data (closing checkpoints only).
        epoch_data: Option<EpochData>,
        /// This validator's position in the set (the submission delay's factor).
        position: usize,
    },
}

/// How often the anchor retries pending work.
const TICK: Duration = Duration::from_secs(2);
/// Checkpoints kept waiting for submission at most (older ones are dropped).
const MAX_READY: usize = 256;

/// The anchor task's state.
pub struct Anchor {
    me: NodeId,
    ic: IcHandles,
    status: Shared<ValidatorStatus>,
    stagger: Duration,
    ready: BTreeMap<u64, (SignedCheckpoint, Instant)>,
    uploads: BTreeMap<u64, (EpochData, u64, Instant)>,
    closing: BTreeSet<u64>,
    tip: Option<u64>,
}

impl Anchor {
    /// A new anchor for validator `me`.
    pub fn new(
        me: NodeId,
        ic: IcHandles,
        status: Shared<ValidatorStatus>,
        stagger: Duration,
    ) -> Self {
        Anchor {
            me,
            ic,
            status,
            stagger,
            ready: BTreeMap::new(),
            uploads: BTreeMap::new(),
            closing: BTreeSet::new(),
            tip: None,
        }
    }

    /// Runs until `stop` turns true or the job channel closes.
    pub async fn run(
        mut self,
        mut jobs: mpsc::Receiver<AnchorJob>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                job = jobs.recv() => match job {
                    Some(job) => {
                        let immediate = self.accept(job);
                        if immediate {
                            self.work().await;
                        }
                    }
                    None => break,
                },
                _ = tick.tick() => self.work().await,
            }
        }
        debug!(node = ?self.me, "anchor stopped");
    }

    /// Takes a job; true when it is due at once.
    fn accept(&mut self, job: AnchorJob) -> bool {
        let AnchorJob::Checkpoint {
            signed,
            epoch_data,
            position,
        } = job;
        let delay = self
            .stagger
            .saturating_mul(u32::try_from(position).unwrap_or(u32::MAX));
        let due = Instant::now() + delay;
        let h = signed.checkpoint.height;
        if let Some(data) = epoch_data {
            self.uploads.insert(data.header.epoch, (data, h, due));
        }
        self.ready.insert(h, (signed, due));
        while self.ready.len() > MAX_READY {
            self.ready.pop_first();
        }
        delay.is_zero()
    }

    async fn work(&mut self) {
        self.submit_checkpoints().await;
        self.upload_epoch_data().await;
        self.close_epochs().await;
        self.refresh_stats().await;
    }

    async fn submit_checkpoints(&mut self) {
        if self.ready.is_empty() {
            return;
        }
        match self.ic.epochs.latest_checkpoint().await {
            Ok(latest) => self.tip = latest.map(|c| c.checkpoint.height),
            Err(e) => {
                warn!(error = %e, "epochs canister unreachable");
                return;
            }
        }
        let tip = self.tip.unwrap_or(0);
        self.ready = self.ready.split_off(&(tip + 1));
        let now = Instant::now();
        let heights: Vec<u64> = self.ready.keys().copied().collect();
        for h in heights {
            let Some((sc, due)) = self.ready.get(&h).cloned() else {
                continue;
            };
            if due > now {
                break; // in order: a later one cannot go before this one
            }
            match self
                .ic
                .epochs
                .submit_checkpoint(sc.checkpoint.clone(), sc.signatures.clone())
                .await
            {
                Ok(Ok(stored)) => {
                    info!(
                        height = h,
                        signers = stored.signers.len(),
                        "checkpoint accepted by the IC"
                    );
                    self.status.update(|s| {
                        s.checkpoints_submitted += 1;
                        s.last_checkpoint_accepted = Some(h);
                    });
                    self.tip = Some(h);
                    self.ready.remove(&h);
                }
                Ok(Err(EpochsError::Duplicate(_))) => {
                    self.tip = Some(h);
                    self.ready.remove(&h);
                }
                Ok(Err(e)) => {
                    warn!(height = h, error = ?e, "checkpoint refused by the IC");
                    if matches!(e, EpochsError::Stale { .. }) {
                        self.ready.remove(&h);
                    }
                    break;
                }
                Err(e) => {
                    warn!(height = h, error = %e, "checkpoint submission failed");
                    break;
                }
            }
        }
    }

    async fn upload_epoch_data(&mut self) {
        let tip = self.tip.unwrap_or(0);
        let now = Instant::now();
        let due: Vec<u64> = self
            .uploads
            .iter()
            .filter(|(_, (_, h, at))| *h <= tip && *at <= now)
            .map(|(e, _)| *e)
            .collect();
        for epoch in due {
            let Some((data, _, _)) = self.uploads.get(&epoch).cloned() else {
                continue;
            };
            let summary = match self.ic.epochs.epoch_summary(epoch).await {
                Ok(s) => s,
                Err(e) => {
                    warn!(epoch, error = %e, "epochs canister unreachable");
                    return;
                }
            };
            let complete = |s: &emc_epochs::EpochSummary| {
                s.header.is_some() && s.chunks_received == data.header.chunk_count
            };
            if summary.as_ref().is_some_and(complete) {
                self.uploads.remove(&epoch);
                self.closing.insert(epoch);
                continue;
            }
            if summary.as_ref().is_none_or(|s| s.header.is_none()) {
                match self.ic.epochs.declare_epoch_data(data.header.clone()).await {
                    Ok(Ok(_)) => info!(epoch, nodes = data.records.len(), "epoch data declared"),
                    Ok(Err(e)) => debug!(epoch, error = ?e, "declare refused"),
                    Err(e) => {
                        warn!(epoch, error = %e, "declare failed");
                        return;
                    }
                }
            }
            let mut summary = None;
            for chunk in &data.chunks {
                match self.ic.epochs.upload_chunk(chunk.clone()).await {
                    Ok(Ok(s)) => summary = Some(s),
                    Ok(Err(e)) => debug!(epoch, index = chunk.index, error = ?e, "chunk refused"),
                    Err(e) => {
                        warn!(epoch, error = %e, "chunk upload failed");
                        return;
                    }
                }
            }
            if summary.as_ref().is_some_and(complete) {
                info!(epoch, "epoch data uploaded");
                self.status.update(|s| s.epochs_uploaded += 1);
                self.uploads.remove(&epoch);
                self.closing.insert(epoch);
            }
        }
    }

    async fn close_epochs(&mut self) {
        let epochs: Vec<u64> = self.closing.iter().copied().collect();
        for epoch in epochs {
            match self.ic.epochs.close_epoch(epoch).await {
                Ok(Ok(s)) => {
                    info!(
                        epoch,
                        budget_e8s = s.budget_e8s,
                        eligible = s.eligible_nodes,
                        "epoch closed"
                    );
                    self.closing.remove(&epoch);
                }
                Ok(Err(EpochsError::AlreadyClosed(_))) => {
                    self.closing.remove(&epoch);
                }
                Ok(Err(EpochsError::NotReady(why))) => {
                    debug!(epoch, %why, "epoch not closable yet")
                }
                Ok(Err(e)) => {
                    warn!(epoch, error = ?e, "close refused");
                    self.closing.remove(&epoch);
                }
                Err(e) => warn!(epoch, error = %e, "close failed"),
            }
        }
    }

    async fn refresh_stats(&mut self) {
        if let Ok(stats) = self.ic.epochs.stats().await {
            self.status.update(|s| {
                s.last_checkpoint_accepted = stats.tip_height;
                s.last_closed_epoch = stats.last_closed_epoch;
                s.total_emitted_e8s = stats.total_emitted_e8s;
            });
        }
    }
}
