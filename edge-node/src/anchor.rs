//! The anchor task: carries out `emc_edge_core::anchor::AnchorPlan`'s calls to the epochs
//! canister (checkpoints in height order, epoch data, epoch close) and feeds the replies back.
//! Every validator runs one; the plan decides what, in which order and when; this task only
//! talks to the canister, logs, and keeps the status counters.

use crate::status::ValidatorStatus;
use emc_edge_core::anchor::{
    AnchorEvent, AnchorPlan, Call, CloseResult, Progress, Reply, SubmitResult,
};
use emc_edge_core::app::EpochData;
use emc_epochs::{EpochSummary, EpochsError};
use emc_node_common::ic::IcHandles;
use emc_node_common::logging::MILESTONE;
use emc_node_common::status::Shared;
use emc_types::{NodeId, SignedCheckpoint};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

/// A checkpoint a quorum signed, with the epoch's data when it closes an epoch.
#[derive(Debug)]
pub struct AnchorJob {
    /// The checkpoint and its signatures.
    pub signed: SignedCheckpoint,
    /// The closed epoch's data (closing checkpoints only).
    pub epoch_data: Option<EpochData>,
    /// This validator's position in the set (the submission delay's factor).
    pub position: usize,
}

/// How often the anchor retries pending work.
const TICK: Duration = Duration::from_secs(2);

/// The anchor task's state.
pub struct Anchor {
    me: NodeId,
    ic: IcHandles,
    status: Shared<ValidatorStatus>,
    plan: AnchorPlan,
}

impl Anchor {
    /// A new anchor for validator `me`.
    pub fn new(
        me: NodeId,
        ic: IcHandles,
        status: Shared<ValidatorStatus>,
        stagger: Duration,
    ) -> Self {
        let stagger_ns = emc_node_common::config::duration_ns(stagger);
        Anchor {
            me,
            ic,
            status,
            plan: AnchorPlan::new(stagger_ns),
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
                        let now = crate::validator::now_ns();
                        if self.plan.accept(job.signed, job.epoch_data, job.position, now) {
                            self.pass().await;
                        }
                    }
                    None => break,
                },
                _ = tick.tick() => self.pass().await,
            }
        }
        debug!(node = ?self.me, "anchor stopped");
    }

    /// One pass of the plan: every call it asks for, in order.
    async fn pass(&mut self) {
        self.plan.start();
        while let Some(call) = self.plan.next(crate::validator::now_ns()) {
            let reply = self.execute(call).await;
            match self.plan.on_reply(reply) {
                Some(AnchorEvent::Accepted(h)) => self.status.update(|s| {
                    s.checkpoints_submitted += 1;
                    s.last_checkpoint_accepted = Some(h);
                }),
                Some(AnchorEvent::Uploaded(epoch)) => {
                    info!(epoch, "epoch data complete on the IC");
                    self.status.update(|s| s.epochs_uploaded += 1);
                }
                Some(AnchorEvent::Closed(epoch)) => debug!(epoch, "epoch closed on the IC"),
                None => {}
            }
        }
    }

    async fn execute(&mut self, call: Call) -> Reply {
        let epochs = &self.ic.epochs;
        match call {
            Call::LatestCheckpoint => match epochs.latest_checkpoint().await {
                Ok(latest) => Reply::Tip(latest.map(|c| c.checkpoint.height)),
                Err(e) => {
                    warn!(error = %e, "epochs canister unreachable");
                    Reply::Unreachable
                }
            },
            Call::Submit(sc) => {
                let h = sc.checkpoint.height;
                match epochs.submit_checkpoint(sc.checkpoint, sc.signatures).await {
                    Ok(Ok(stored)) => {
                        info!(
                            target: MILESTONE,
                            height = h,
                            signers = stored.signers.len(),
                            "checkpoint accepted by the IC"
                        );
                        Reply::Submit(SubmitResult::Accepted)
                    }
                    Ok(Err(EpochsError::Duplicate(_))) => Reply::Submit(SubmitResult::Duplicate),
                    Ok(Err(e @ EpochsError::Stale { .. })) => {
                        warn!(height = h, error = ?e, "checkpoint refused by the IC");
                        Reply::Submit(SubmitResult::Stale)
                    }
                    Ok(Err(e)) => {
                        warn!(height = h, error = ?e, "checkpoint refused by the IC");
                        Reply::Submit(SubmitResult::Refused)
                    }
                    Err(e) => {
                        warn!(height = h, error = %e, "checkpoint submission failed");
                        Reply::Unreachable
                    }
                }
            }
            Call::EpochSummary(epoch) => match epochs.epoch_summary(epoch).await {
                Ok(s) => Reply::Summary(s.as_ref().map(progress)),
                Err(e) => {
                    warn!(epoch, error = %e, "epochs canister unreachable");
                    Reply::Unreachable
                }
            },
            Call::Declare(header) => {
                let (epoch, nodes) = (header.epoch, header.node_count);
                match epochs.declare_epoch_data(header).await {
                    Ok(Ok(_)) => {
                        info!(epoch, nodes, "epoch data declared");
                        Reply::Declared
                    }
                    Ok(Err(e)) => {
                        debug!(epoch, error = ?e, "declare refused");
                        Reply::Declared
                    }
                    Err(e) => {
                        warn!(epoch, error = %e, "declare failed");
                        Reply::Unreachable
                    }
                }
            }
            Call::UploadChunk(chunk) => {
                let (epoch, index) = (chunk.epoch, chunk.index);
                match epochs.upload_chunk(chunk).await {
                    Ok(Ok(s)) => Reply::Chunk(Some(progress(&s))),
                    Ok(Err(e)) => {
                        debug!(epoch, index, error = ?e, "chunk refused");
                        Reply::Chunk(None)
                    }
                    Err(e) => {
                        warn!(epoch, error = %e, "chunk upload failed");
                        Reply::Unreachable
                    }
                }
            }
            Call::CloseEpoch(epoch) => match epochs.close_epoch(epoch).await {
                Ok(Ok(s)) => {
                    info!(
                        target: MILESTONE,
                        epoch,
                        budget_e8s = s.budget_e8s,
                        eligible = s.eligible_nodes,
                        "epoch closed"
                    );
                    Reply::Close(CloseResult::Closed)
                }
                Ok(Err(EpochsError::AlreadyClosed(_))) => Reply::Close(CloseResult::AlreadyClosed),
                Ok(Err(EpochsError::NotReady(why))) => {
                    debug!(epoch, %why, "epoch not closable yet");
                    Reply::Close(CloseResult::NotReady)
                }
                Ok(Err(e)) => {
                    warn!(epoch, error = ?e, "close refused");
                    Reply::Close(CloseResult::Refused)
                }
                Err(e) => {
                    warn!(epoch, error = %e, "close failed");
                    Reply::Unreachable
                }
            },
            Call::Stats => {
                if let Ok(stats) = epochs.stats().await {
                    self.status.update(|s| {
                        s.last_checkpoint_accepted = stats.tip_height;
                        s.last_closed_epoch = stats.last_closed_epoch;
                        s.total_emitted_e8s = stats.total_emitted_e8s;
                    });
                }
                Reply::Stats
            }
        }
    }
}

fn progress(s: &EpochSummary) -> Progress {
    Progress {
        declared: s.header.is_some(),
        chunks_received: s.chunks_received,
    }
}
