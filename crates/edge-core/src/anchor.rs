//! The anchor's plan: which call a validator makes next to the epochs canister, so that
//! quorum-signed checkpoints reach the IC in height order, each closed epoch's data is
//! declared and uploaded after its closing checkpoint, and the epoch is then closed.
//!
//! A step function over explicit time: [`AnchorPlan::accept`] takes a job, [`AnchorPlan::start`]
//! begins a pass, [`AnchorPlan::next`] gives the next [`Call`], and [`AnchorPlan::on_reply`]
//! feeds its [`Reply`] back. The shell (`edge-node`'s anchor task) only executes calls. A pass:
//!
//! 1. **Checkpoints.** When some are ready: read the canister's tip, forget what it holds, then
//!    submit the ready ones in height order, each once it is due (the validator at position
//!    `i` of the set waits `i x stagger`, so normally one validator pays for each call and
//!    the others step in when it is down). A refusal or an unreachable canister ends the
//!    step: a later checkpoint cannot go before an earlier one. A stale one is dropped.
//! 2. **Epoch data**, for epochs whose closing checkpoint the tip covers and whose delay
//!    passed: read the canister's summary; complete already (another validator uploaded it):
//!    done; otherwise declare the header if it is missing and upload every chunk (refused
//!    chunks are the canister's duplicates). An unreachable canister ends the step.
//! 3. **Close** each uploaded epoch; "not ready" (its challenge window) keeps it for the next
//!    pass.
//! 4. **Stats** for the status page.
//!
//! Every call is idempotent on the canister, so a retry after any failure is safe.

use crate::app::EpochData;
use emc_epochs::{DataChunk, EpochDataHeader};
use emc_types::{NodeId, SignedCheckpoint};
use std::collections::{BTreeMap, BTreeSet};

/// Checkpoints kept waiting for submission at most (the oldest are dropped).
pub const MAX_READY: usize = 256;
/// Closed epochs kept waiting for upload at most (the oldest are dropped).
pub const MAX_UPLOADS: usize = 16;

/// A call to the epochs canister.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// `latest_checkpoint`: the tip's height ([`Reply::Tip`]).
    LatestCheckpoint,
    /// `submit_checkpoint` ([`Reply::Submit`]).
    Submit(SignedCheckpoint),
    /// `epoch_summary` of an epoch ([`Reply::Summary`]).
    EpochSummary(u64),
    /// `declare_epoch_data` ([`Reply::Declared`]).
    Declare(EpochDataHeader),
    /// `upload_chunk` ([`Reply::Chunk`]).
    UploadChunk(DataChunk),
    /// `close_epoch` ([`Reply::Close`]).
    CloseEpoch(u64),
    /// `stats`, for the status page ([`Reply::Stats`]).
    Stats,
}

/// What the canister said to a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubmitResult {
    /// Accepted: the new tip.
    Accepted,
    /// It holds this checkpoint already.
    Duplicate,
    /// At or below the tip, and another checkpoint: never acceptable.
    Stale,
    /// Refused for another reason (out of order, not enough signatures yet, ...).
    Refused,
}

/// What the canister said to an epoch close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseResult {
    /// Closed now.
    Closed,
    /// Closed before.
    AlreadyClosed,
    /// Not closable yet (the challenge window): try again later.
    NotReady,
    /// Refused for good.
    Refused,
}

/// An epoch's upload progress on the canister: whether the header is declared and how many
/// chunks it received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The header is declared.
    pub declared: bool,
    /// Chunks received.
    pub chunks_received: u32,
}

/// The reply to the last [`Call`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The tip's height (`None`: no checkpoint yet).
    Tip(Option<u64>),
    /// To a submission.
    Submit(SubmitResult),
    /// The epoch's progress (`None`: the canister knows nothing of it yet).
    Summary(Option<Progress>),
    /// The declaration was answered (accepted or refused: both move on).
    Declared,
    /// The chunk was answered: the progress after it, `None` when refused.
    Chunk(Option<Progress>),
    /// To an epoch close.
    Close(CloseResult),
    /// The stats were read (or not: nothing depends on them).
    Stats,
    /// The canister could not be reached or the reply not read.
    Unreachable,
}

/// Something the shell reports (logs, status counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnchorEvent {
    /// The checkpoint at this height was accepted on our submission.
    Accepted(u64),
    /// This epoch's data is complete on the canister (by our upload or another's).
    Uploaded(u64),
    /// This epoch is closed on the canister.
    Closed(u64),
}

#[derive(Clone, Debug)]
struct Upload {
    data: EpochData,
    /// Height of the epoch's closing checkpoint.
    height: u64,
    due_ns: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Start,
    WaitTip,
    Submit,
    WaitSubmit(u64),
    UploadScan(Option<u64>),
    WaitSummary(u64),
    Declare(u64),
    WaitDeclare(u64),
    Chunk {
        epoch: u64,
        index: usize,
        complete: bool,
    },
    WaitChunk {
        epoch: u64,
        index: usize,
    },
    CloseScan(Option<u64>),
    WaitClose(u64),
    Stats,
    WaitStats,
}

impl Stage {
    fn waiting(self) -> bool {
        matches!(
            self,
            Stage::WaitTip
                | Stage::WaitSubmit(_)
                | Stage::WaitSummary(_)
                | Stage::WaitDeclare(_)
                | Stage::WaitChunk { .. }
                | Stage::WaitClose(_)
                | Stage::WaitStats
        )
    }
}

/// The plan (see the module docs).
#[derive(Clone, Debug)]
pub struct AnchorPlan {
    stagger_ns: u64,
    ready: BTreeMap<u64, (SignedCheckpoint, u64)>,
    uploads: BTreeMap<u64, Upload>,
    closing: BTreeSet<u64>,
    tip: Option<u64>,
    stage: Option<Stage>,
}

/// The position of `me` in the set's `members` (its submission delay's factor; 0 when it is
/// not a member, which then submits at once like the first).
pub fn submit_position(members: &[NodeId], me: &NodeId) -> usize {
    members.iter().position(|m| m == me).unwrap_or(0)
}

impl AnchorPlan {
    /// A plan whose submitter at position `i` waits `i x stagger_ns`.
    pub fn new(stagger_ns: u64) -> AnchorPlan {
        AnchorPlan {
            stagger_ns,
            ready: BTreeMap::new(),
            uploads: BTreeMap::new(),
            closing: BTreeSet::new(),
            tip: None,
            stage: None,
        }
    }

    /// Takes a checkpoint a quorum signed (with the closed epoch's data when it closes one)
    /// at time `now_ns`; true when it is due at once (start a pass).
    pub fn accept(
        &mut self,
        signed: SignedCheckpoint,
        epoch_data: Option<EpochData>,
        position: usize,
        now_ns: u64,
    ) -> bool {
        let delay = self
            .stagger_ns
            .saturating_mul(u64::try_from(position).unwrap_or(u64::MAX));
        let due_ns = now_ns.saturating_add(delay);
        let height = signed.checkpoint.height;
        if self.tip.is_some_and(|t| height <= t) && epoch_data.is_none() {
            return false;
        }
        if let Some(data) = epoch_data {
            self.uploads.insert(
                data.header.epoch,
                Upload {
                    data,
                    height,
                    due_ns,
                },
            );
            while self.uploads.len() > MAX_UPLOADS {
                self.uploads.pop_first();
            }
        }
        self.ready.insert(height, (signed, due_ns));
        while self.ready.len() > MAX_READY {
            self.ready.pop_first();
        }
        delay == 0
    }

    /// Starts a pass unless one is running.
    pub fn start(&mut self) {
        if self.stage.is_none() {
            self.stage = Some(Stage::Start);
        }
    }

    /// Whether a pass is running.
    pub fn busy(&self) -> bool {
        self.stage.is_some()
    }

    /// The canister's tip as last read.
    pub fn tip(&self) -> Option<u64> {
        self.tip
    }

    /// Checkpoints waiting, epochs waiting for upload, epochs waiting to close.
    pub fn pending(&self) -> (usize, usize, usize) {
        (self.ready.len(), self.uploads.len(), self.closing.len())
    }

    /// The next call of the running pass at `now_ns`; `None` when the pass is over (or none
    /// runs). Call [`AnchorPlan::on_reply`] with its reply before asking again.
    pub fn next(&mut self, now_ns: u64) -> Option<Call> {
        loop {
            let stage = self.stage?;
            if stage.waiting() {
                return None;
            }
            let (next, call) = self.advance(stage, now_ns);
            self.stage = next;
            if call.is_some() {
                return call;
            }
        }
    }

    fn advance(&mut self, stage: Stage, now_ns: u64) -> (Option<Stage>, Option<Call>) {
        match stage {
            Stage::Start if self.ready.is_empty() => (Some(Stage::UploadScan(None)), None),
            Stage::Start => (Some(Stage::WaitTip), Some(Call::LatestCheckpoint)),
            Stage::Submit => match self.ready.first_key_value() {
                Some((h, (sc, due))) if *due <= now_ns => {
                    (Some(Stage::WaitSubmit(*h)), Some(Call::Submit(sc.clone())))
                }
                // In order: a later checkpoint cannot go before this one.
                _ => (Some(Stage::UploadScan(None)), None),
            },
            Stage::UploadScan(after) => {
                let tip = self.tip.unwrap_or(0);
                let from = after.map_or(0, |e| e.saturating_add(1));
                let due = self
                    .uploads
                    .range(from..)
                    .find(|(_, u)| u.height <= tip && u.due_ns <= now_ns)
                    .map(|(e, _)| *e);
                match due {
                    Some(e) => (Some(Stage::WaitSummary(e)), Some(Call::EpochSummary(e))),
                    None => (Some(Stage::CloseScan(None)), None),
                }
            }
            Stage::Chunk {
                epoch,
                index,
                complete,
            } => match self.uploads.get(&epoch) {
                Some(u) if index < u.data.chunks.len() => {
                    let chunk = u.data.chunks.get(index).cloned();
                    (
                        Some(Stage::WaitChunk { epoch, index }),
                        chunk.map(Call::UploadChunk),
                    )
                }
                Some(_) if complete => {
                    self.uploaded(epoch);
                    (Some(Stage::UploadScan(Some(epoch))), None)
                }
                _ => (Some(Stage::UploadScan(Some(epoch))), None),
            },
            Stage::CloseScan(after) => {
                let from = after.map_or(0, |e| e.saturating_add(1));
                match self.closing.range(from..).next().copied() {
                    Some(e) => (Some(Stage::WaitClose(e)), Some(Call::CloseEpoch(e))),
                    None => (Some(Stage::Stats), None),
                }
            }
            Stage::Declare(e) => match self.uploads.get(&e) {
                Some(u) => (
                    Some(Stage::WaitDeclare(e)),
                    Some(Call::Declare(u.data.header.clone())),
                ),
                None => (Some(Stage::UploadScan(Some(e))), None),
            },
            Stage::Stats => (Some(Stage::WaitStats), Some(Call::Stats)),
            // Waiting for a reply (`next` does not get here).
            _ => (Some(stage), None),
        }
    }

    fn uploaded(&mut self, epoch: u64) {
        self.uploads.remove(&epoch);
        self.closing.insert(epoch);
    }

    fn complete(&self, epoch: u64, p: &Progress) -> bool {
        self.uploads
            .get(&epoch)
            .is_some_and(|u| p.declared && p.chunks_received == u.data.header.chunk_count)
    }

    /// Feeds the reply to the last call; returns what the shell may report.
    pub fn on_reply(&mut self, reply: Reply) -> Option<AnchorEvent> {
        let stage = self.stage?;
        let (next, event) = match (stage, reply) {
            (Stage::WaitTip, Reply::Tip(tip)) => {
                self.tip = tip;
                let keep_from = tip.map_or(0, |t| t.saturating_add(1));
                self.ready = self.ready.split_off(&keep_from);
                (Stage::Submit, None)
            }
            (Stage::WaitTip, _) => (Stage::UploadScan(None), None),
            (Stage::WaitSubmit(h), Reply::Submit(r)) => match r {
                SubmitResult::Accepted | SubmitResult::Duplicate => {
                    self.tip = Some(self.tip.map_or(h, |t| t.max(h)));
                    self.ready.remove(&h);
                    let ev = (r == SubmitResult::Accepted).then_some(AnchorEvent::Accepted(h));
                    (Stage::Submit, ev)
                }
                SubmitResult::Stale => {
                    self.ready.remove(&h);
                    (Stage::UploadScan(None), None)
                }
                SubmitResult::Refused => (Stage::UploadScan(None), None),
            },
            (Stage::WaitSubmit(_), _) => (Stage::UploadScan(None), None),
            (Stage::WaitSummary(e), Reply::Summary(p)) => match p {
                Some(p) if self.complete(e, &p) => {
                    self.uploaded(e);
                    (Stage::UploadScan(Some(e)), Some(AnchorEvent::Uploaded(e)))
                }
                Some(p) if p.declared => (
                    Stage::Chunk {
                        epoch: e,
                        index: 0,
                        complete: false,
                    },
                    None,
                ),
                _ => (Stage::Declare(e), None),
            },
            (Stage::WaitDeclare(e), Reply::Declared) => (
                Stage::Chunk {
                    epoch: e,
                    index: 0,
                    complete: false,
                },
                None,
            ),
            (Stage::WaitChunk { epoch, index }, Reply::Chunk(p)) => {
                let complete = p.is_some_and(|p| self.complete(epoch, &p));
                let last = self
                    .uploads
                    .get(&epoch)
                    .is_some_and(|u| index + 1 >= u.data.chunks.len());
                if last && complete {
                    self.uploaded(epoch);
                    (
                        Stage::UploadScan(Some(epoch)),
                        Some(AnchorEvent::Uploaded(epoch)),
                    )
                } else {
                    (
                        Stage::Chunk {
                            epoch,
                            index: index + 1,
                            complete,
                        },
                        None,
                    )
                }
            }
            // The canister unreachable (or a reply that does not fit): leave the uploads.
            (Stage::WaitSummary(_) | Stage::WaitDeclare(_) | Stage::WaitChunk { .. }, _) => {
                (Stage::CloseScan(None), None)
            }
            (Stage::WaitClose(e), Reply::Close(r)) => {
                let ev = match r {
                    CloseResult::Closed | CloseResult::AlreadyClosed => {
                        self.closing.remove(&e);
                        Some(AnchorEvent::Closed(e))
                    }
                    CloseResult::Refused => {
                        self.closing.remove(&e);
                        None
                    }
                    CloseResult::NotReady => None,
                };
                (Stage::CloseScan(Some(e)), ev)
            }
            (Stage::WaitClose(e), _) => (Stage::CloseScan(Some(e)), None),
            (Stage::WaitStats, _) => {
                self.stage = None;
                return None;
            }
            // A reply with no call outstanding: ignored.
            (s, _) => (s, None),
        };
        self.stage = Some(next);
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emc_epochs::data::build_chunks;
    use emc_epochs::NodeRecord;
    use emc_types::{Checkpoint, Hash, Role, ZERO_HASH};

    const SEC: u64 = 1_000_000_000;

    fn signed(height: u64) -> SignedCheckpoint {
        SignedCheckpoint {
            checkpoint: Checkpoint {
                height,
                epoch: 0,
                state_root: Hash([height as u8; 32]),
                prev_checkpoint_hash: ZERO_HASH,
                validator_set_id: ZERO_HASH,
                timestamp_ns: 0,
                poc_root: ZERO_HASH,
                liveness_root: ZERO_HASH,
                receipts_root: ZERO_HASH,
            },
            signatures: vec![],
        }
    }

    fn data(epoch: u64, nodes: u8) -> EpochData {
        let records: Vec<NodeRecord> = (0..nodes)
            .map(|i| NodeRecord {
                node: NodeId([i; 32]),
                owner: candid::Principal::anonymous(),
                role: Role::Validator,
                stake_e8s: 1,
                active_blocks: 1,
                poc_e: 0,
                multiplier: 0,
                penalty_minutes: 0,
            })
            .collect();
        let (header, chunks) = build_chunks(epoch, 10, &records, 2);
        EpochData {
            header,
            chunks,
            records,
        }
    }

    /// The epochs canister as the plan sees it.
    #[derive(Default)]
    struct Canister {
        up: bool,
        tip: Option<u64>,
        accepted: Vec<u64>,
        /// Per epoch: declared, chunks received (by index), closable, closed.
        epochs: BTreeMap<u64, (bool, BTreeSet<u32>, u32)>,
        closable: bool,
        closed: BTreeSet<u64>,
        calls: Vec<Call>,
    }

    impl Canister {
        fn progress(&self, e: u64) -> Option<Progress> {
            self.epochs.get(&e).map(|(d, c, _)| Progress {
                declared: *d,
                chunks_received: c.len() as u32,
            })
        }

        fn reply(&mut self, call: &Call) -> Reply {
            self.calls.push(call.clone());
            if !self.up {
                return Reply::Unreachable;
            }
            match call {
                Call::LatestCheckpoint => Reply::Tip(self.tip),
                Call::Submit(sc) => {
                    let h = sc.checkpoint.height;
                    let tip = self.tip.unwrap_or(0);
                    Reply::Submit(if h <= tip {
                        SubmitResult::Duplicate
                    } else if h != tip + 10 {
                        SubmitResult::Refused
                    } else {
                        self.tip = Some(h);
                        self.accepted.push(h);
                        SubmitResult::Accepted
                    })
                }
                Call::EpochSummary(e) => Reply::Summary(self.progress(*e)),
                Call::Declare(h) => {
                    let entry = self.epochs.entry(h.epoch).or_default();
                    entry.0 = true;
                    entry.2 = h.chunk_count;
                    Reply::Declared
                }
                Call::UploadChunk(c) => {
                    let e = c.epoch;
                    match self.epochs.get_mut(&e) {
                        Some(entry) if entry.0 => {
                            entry.1.insert(c.index);
                            Reply::Chunk(self.progress(e))
                        }
                        _ => Reply::Chunk(None),
                    }
                }
                Call::CloseEpoch(e) => Reply::Close(if self.closed.contains(e) {
                    CloseResult::AlreadyClosed
                } else if self.closable {
                    self.closed.insert(*e);
                    CloseResult::Closed
                } else {
                    CloseResult::NotReady
                }),
                Call::Stats => Reply::Stats,
            }
        }
    }

    /// Runs one pass at `now`; returns the events.
    fn pass(plan: &mut AnchorPlan, ic: &mut Canister, now: u64) -> Vec<AnchorEvent> {
        plan.start();
        let mut events = Vec::new();
        let mut steps = 0;
        while let Some(call) = plan.next(now) {
            let reply = ic.reply(&call);
            events.extend(plan.on_reply(reply));
            steps += 1;
            assert!(steps < 1_000, "a pass ends");
        }
        assert!(!plan.busy());
        events
    }

    #[test]
    fn checkpoints_go_in_height_order_once_due_and_an_epoch_is_uploaded_then_closed() {
        let mut ic = Canister {
            up: true,
            ..Canister::default()
        };
        let mut plan = AnchorPlan::new(5 * SEC);
        // Position 1: due 5 s after it is ready.
        assert!(!plan.accept(signed(20), Some(data(0, 5)), 1, 0));
        assert!(!plan.accept(signed(10), None, 1, 0));
        assert!(pass(&mut plan, &mut ic, SEC).is_empty(), "not due yet");
        assert!(ic.accepted.is_empty());
        let ev = pass(&mut plan, &mut ic, 5 * SEC);
        assert_eq!(ic.accepted, vec![10, 20]);
        assert!(ev.contains(&AnchorEvent::Accepted(10)) && ev.contains(&AnchorEvent::Uploaded(0)));
        let chunks = ic
            .calls
            .iter()
            .filter(|c| matches!(c, Call::UploadChunk(_)))
            .count();
        assert_eq!(chunks, 3, "5 records in chunks of 2");
        assert_eq!(ic.epochs[&0].1.len(), 3);
        // Closing waits for the canister's challenge window.
        assert_eq!(plan.pending(), (0, 0, 1));
        assert!(pass(&mut plan, &mut ic, 6 * SEC).is_empty());
        ic.closable = true;
        assert_eq!(
            pass(&mut plan, &mut ic, 7 * SEC),
            vec![AnchorEvent::Closed(0)]
        );
        assert_eq!(plan.pending(), (0, 0, 0));
        ic.calls.clear();
        pass(&mut plan, &mut ic, 8 * SEC);
        assert_eq!(ic.calls, vec![Call::Stats], "nothing left but the stats");
    }

    #[test]
    fn what_another_validator_anchored_is_not_sent_again() {
        let mut ic = Canister {
            up: true,
            tip: Some(20),
            ..Canister::default()
        };
        ic.epochs.insert(0, (true, (0..3).collect(), 3));
        let mut plan = AnchorPlan::new(SEC);
        plan.accept(signed(20), Some(data(0, 5)), 3, 0);
        let ev = pass(&mut plan, &mut ic, 3 * SEC);
        assert_eq!(ev, vec![AnchorEvent::Uploaded(0)]);
        assert!(!ic
            .calls
            .iter()
            .any(|c| matches!(c, Call::Submit(_) | Call::Declare(_) | Call::UploadChunk(_))));
        // A checkpoint at or below the known tip without data is not even queued.
        assert!(!plan.accept(signed(10), None, 0, 0));
        assert_eq!(plan.pending().0, 0);
    }

    #[test]
    fn an_unreachable_canister_or_a_refusal_stops_the_step_and_the_next_pass_retries() {
        let mut ic = Canister::default();
        let mut plan = AnchorPlan::new(0);
        assert!(
            plan.accept(signed(10), None, 0, 0),
            "position 0: due at once"
        );
        plan.accept(signed(30), None, 0, 0); // a gap: 20 is missing here
        assert!(pass(&mut plan, &mut ic, 0).is_empty());
        assert_eq!(ic.calls[0], Call::LatestCheckpoint);
        assert!(!ic.calls.iter().any(|c| matches!(c, Call::Submit(_))));
        ic.up = true;
        ic.calls.clear();
        pass(&mut plan, &mut ic, 1);
        assert_eq!(ic.accepted, vec![10]);
        let submits: Vec<u64> = ic
            .calls
            .iter()
            .filter_map(|c| match c {
                Call::Submit(sc) => Some(sc.checkpoint.height),
                _ => None,
            })
            .collect();
        assert_eq!(
            submits,
            vec![10, 30],
            "30 refused (out of order): the step stops"
        );
        assert_eq!(plan.pending().0, 1, "30 waits for 20");
        plan.accept(signed(20), None, 0, 2);
        pass(&mut plan, &mut ic, 2);
        assert_eq!(ic.accepted, vec![10, 20, 30]);
    }

    #[test]
    fn uploads_resume_after_an_outage_and_queues_are_bounded() {
        let mut ic = Canister {
            up: true,
            ..Canister::default()
        };
        let mut plan = AnchorPlan::new(0);
        plan.accept(signed(10), Some(data(0, 9)), 0, 0);
        // The canister goes down after the checkpoint and the declaration.
        plan.start();
        let mut n = 0;
        while let Some(call) = plan.next(0) {
            if matches!(call, Call::UploadChunk(_)) {
                ic.up = false;
            }
            let r = ic.reply(&call);
            plan.on_reply(r);
            n += 1;
            assert!(n < 100);
        }
        assert_eq!(plan.pending(), (0, 1, 0), "the upload is kept");
        ic.up = true;
        assert_eq!(pass(&mut plan, &mut ic, 1), vec![AnchorEvent::Uploaded(0)]);
        assert_eq!(ic.epochs[&0].1.len(), 5);

        let mut big = AnchorPlan::new(SEC);
        for h in 1..=(MAX_READY as u64 + 10) {
            big.accept(signed(h * 10), None, 1, 0);
        }
        for e in 0..(MAX_UPLOADS as u64 + 3) {
            big.accept(signed(1_000_000 + e), Some(data(e, 1)), 1, 0);
        }
        let (ready, uploads, _) = big.pending();
        assert!(ready <= MAX_READY && uploads <= MAX_UPLOADS);
        // A reply with no pass running is ignored.
        assert_eq!(big.on_reply(Reply::Stats), None);
        assert_eq!(
            submit_position(&[NodeId([1; 32]), NodeId([2; 32])], &NodeId([2; 32])),
            1
        );
        assert_eq!(submit_position(&[], &NodeId([2; 32])), 0);
    }
}
