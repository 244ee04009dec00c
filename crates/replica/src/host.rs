//! The replica thread: owns the [`Replica`] (the embedded IC runs on one thread) and serves
//! commands from the HTTP tasks over a channel, each with a oneshot for its answer.
//!
//! Every wake-up drains the channel, answers queries and read_state requests at once, submits
//! every call, runs rounds until the calls completed, and hands their state tree to the
//! certifier thread, which signs it (one BLS signature per batch, see [`crate::replica`]) and
//! answers each call with its witness, while the replica thread executes the next batch:
//! execution and certification are pipelined, as on the IC. Between requests it runs a round
//! whenever timers are due (wall clock: every tick interval, with the IC's time set to the
//! UNIX time first).

use crate::envelope::{Request, RequestId};
use crate::keys::Keys;
use crate::replica::{
    CertifiedBatch, ReadStateError, ReadStateTarget, RejectInfo, ReplicaParts, ReplicaRef,
    Submitted, MAX_ROUNDS_PER_BATCH,
};
use crate::snapshot::{self, SnapshotError};
use candid::Principal;
use emc_embedded_ic::certificate::HashTree;
use emc_embedded_ic::{EmbeddedIc, IcError};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

/// Most commands handled in one batch.
const MAX_BATCH: usize = 4_096;

/// How the IC's clock moves.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Clock {
    /// The IC's time follows the UNIX time (certificates carry real time, as ic-agent and
    /// agent-js require: they refuse certificates more than a few minutes off their clock).
    Wall,
    /// Time moves only when told (`POST /_/time`, [`crate::RunningReplica::set_time`]); the clock
    /// starts at the UNIX time when the replica starts.
    Manual,
}

/// What became of a call, for the HTTP layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallReply {
    /// The certificate (CBOR) holding the call's final status.
    Certified(Vec<u8>),
    /// Still processing: poll with read_state.
    Accepted,
    /// Refused before execution.
    Rejected(RejectInfo),
}

pub(crate) type Job = Box<dyn for<'a> FnOnce(&mut ReplicaRef<'a>) + Send>;

/// A job on the thread that owns an embedded IC.
pub type IcJob = Box<dyn FnOnce(&mut EmbeddedIc) + Send>;

/// The thread that owns an embedded IC another component drives (the devnet's embedded host),
/// for a replica attached to it ([`crate::start_attached`]): the replica runs each batch of
/// HTTP requests as one job there.
pub trait IcOwner: Send + 'static {
    /// Queues `job` on the owning thread. When that thread has stopped, `job` is dropped
    /// (the replica notices and stops).
    fn run(&self, job: IcJob);
}

/// Where the IC lives.
pub(crate) enum Backend {
    /// The replica thread owns it (the standalone replica).
    Owned(Box<EmbeddedIc>),
    /// Another thread owns it.
    Attached(Box<dyn IcOwner>),
}

pub(crate) enum Command {
    Call {
        req: Request,
        effective: Principal,
        reply: oneshot::Sender<CallReply>,
    },
    Query {
        req: Request,
        effective: Principal,
        reply: oneshot::Sender<Result<Vec<u8>, String>>,
    },
    ReadState {
        req: Request,
        target: ReadStateTarget,
        reply: oneshot::Sender<Result<Vec<u8>, ReadStateError>>,
    },
    Run(Job),
    Shutdown,
}

pub(crate) fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(u128::from(u64::MAX)) as u64)
}

pub(crate) struct Host {
    pub backend: Backend,
    /// `None` only while attached to the IC for a batch.
    pub parts: Option<ReplicaParts>,
    pub clock: Clock,
    pub tick: Duration,
    /// The IC's time, published for the HTTP tasks (ingress expiry checks).
    pub time: Arc<AtomicU64>,
    pub state_dir: Option<PathBuf>,
    pub snapshot_every: Option<Duration>,
}

/// A batch for the certifier: the tree to sign, and the calls to answer from it (`false`:
/// still processing, answer 202).
type ToCertify = (HashTree, Vec<(RequestId, bool, oneshot::Sender<CallReply>)>);

/// Signs a batch's tree (if any call in it is done) and answers its calls.
fn answer((tree, calls): ToCertify, keys: &Keys) {
    let certified = calls
        .iter()
        .any(|(_, done, _)| *done)
        .then(|| CertifiedBatch::sign(tree, keys));
    for (id, done, reply) in calls {
        let answer = match &certified {
            Some(c) if done => CallReply::Certified(c.certificate_for(&id)),
            _ => CallReply::Accepted,
        };
        let _ = reply.send(answer);
    }
}

/// The certifier thread: signs each batch and answers its calls.
fn certifier(keys: Keys, rx: mpsc::Receiver<ToCertify>) {
    for batch in rx {
        answer(batch, &keys);
    }
}

/// What one batch did.
struct Outcome {
    dirty: bool,
    shutdown: bool,
    time: u64,
}

/// Serves one batch of commands on the replica.
fn step(
    replica: &mut ReplicaRef<'_>,
    batch: Vec<Command>,
    clock: Clock,
    certifier: Option<&mpsc::Sender<ToCertify>>,
    owned: bool,
) -> Outcome {
    if clock == Clock::Wall {
        replica.set_time(unix_nanos());
    }
    let mut calls = Vec::new();
    let mut shutdown = false;
    let mut dirty = false;
    for command in batch {
        match command {
            Command::Call {
                req,
                effective,
                reply,
            } => match replica.submit(&req, effective) {
                Submitted::Accepted | Submitted::Duplicate => {
                    dirty = true;
                    calls.push((req.request_id, reply));
                }
                Submitted::Rejected(r) => {
                    let _ = reply.send(CallReply::Rejected(r));
                }
            },
            Command::Query {
                req,
                effective,
                reply,
            } => {
                let _ = reply.send(replica.query(&req, effective));
            }
            Command::ReadState { req, target, reply } => {
                let _ = reply.send(replica.read_state(&req, target));
            }
            Command::Run(job) => {
                dirty = true;
                job(replica);
            }
            Command::Shutdown => shutdown = true,
        }
    }
    if calls.is_empty() {
        replica.tick_if_due();
    } else {
        replica.execute(MAX_ROUNDS_PER_BATCH);
        let calls: Vec<_> = calls
            .into_iter()
            .map(|(id, reply)| (id, replica.is_done(&id), reply))
            .collect();
        let done: Vec<_> = calls.iter().filter(|c| c.1).map(|c| c.0).collect();
        let batch = (replica.batch_tree(&done), calls);
        let unsent = match certifier {
            Some(tx) => tx.send(batch).err().map(|e| e.0),
            None => Some(batch),
        };
        if let Some(batch) = unsent {
            answer(batch, replica.keys());
        }
    }
    if shutdown && owned {
        // Finish open calls so the final snapshot can be taken.
        replica.execute(MAX_ROUNDS_PER_BATCH);
        replica.ic_mut().run_until_idle(MAX_ROUNDS_PER_BATCH);
    }
    Outcome {
        dirty,
        shutdown,
        time: replica.time(),
    }
}

impl Host {
    pub fn run(mut self, rx: mpsc::Receiver<Command>) {
        let (to_certifier, certifier_rx) = mpsc::channel::<ToCertify>();
        let Some(keys) = self.parts.as_ref().map(|p| p.keys().clone()) else {
            return;
        };
        let certifier = std::thread::Builder::new()
            .name("emc-replica-certifier".into())
            .spawn(move || certifier(keys, certifier_rx));
        let certifier = match certifier {
            Ok(handle) => Some((to_certifier, handle)),
            Err(e) => {
                warn!("no certifier thread ({e}): certifying on the replica thread");
                None
            }
        };
        let mut last_snapshot = Instant::now();
        let mut dirty = false;
        loop {
            let first = match rx.recv_timeout(self.tick) {
                Ok(c) => Some(c),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut batch: Vec<Command> = first.into_iter().collect();
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
            let to_certifier = certifier.as_ref().map(|(tx, _)| tx.clone());
            let Some(outcome) = self.step(batch, to_certifier) else {
                warn!("the thread owning the embedded IC stopped: the replica stops");
                break;
            };
            dirty |= outcome.dirty;
            self.time.store(outcome.time, Ordering::Relaxed);
            let snapshot_due = self
                .snapshot_every
                .is_some_and(|every| last_snapshot.elapsed() >= every);
            if (outcome.shutdown || snapshot_due) && dirty && self.snapshot() {
                last_snapshot = Instant::now();
                dirty = false;
            }
            if outcome.shutdown {
                break;
            }
        }
        if let Some((tx, handle)) = certifier {
            drop(tx);
            let _ = handle.join();
        }
        info!("replica thread stopped");
    }

    /// Runs one batch where the IC lives; `None` when its owning thread stopped.
    fn step(
        &mut self,
        batch: Vec<Command>,
        certifier: Option<mpsc::Sender<ToCertify>>,
    ) -> Option<Outcome> {
        let clock = self.clock;
        // Taken while attached; back after the batch (or the replica stops).
        let parts = self.parts.take()?;
        match &mut self.backend {
            Backend::Owned(ic) => {
                let mut replica = parts.attach(&mut **ic);
                let outcome = step(&mut replica, batch, clock, certifier.as_ref(), true);
                self.parts = Some(replica.into_parts().1);
                Some(outcome)
            }
            Backend::Attached(owner) => {
                let (tx, rx) = mpsc::sync_channel(1);
                owner.run(Box::new(move |ic: &mut EmbeddedIc| {
                    let mut replica = parts.attach(ic);
                    let outcome = step(&mut replica, batch, clock, certifier.as_ref(), false);
                    let _ = tx.send((replica.into_parts().1, outcome));
                }));
                let (parts, outcome) = rx.recv().ok()?;
                self.parts = Some(parts);
                Some(outcome)
            }
        }
    }

    /// Writes a snapshot; false when it must be retried (calls were open).
    fn snapshot(&self) -> bool {
        let (Some(dir), Backend::Owned(ic)) = (&self.state_dir, &self.backend) else {
            return true;
        };
        let started = Instant::now();
        match snapshot::write(dir, ic) {
            Ok(bytes) => info!(
                bytes,
                ms = started.elapsed().as_millis() as u64,
                "state snapshot written"
            ),
            Err(SnapshotError::Ic(IcError::NotQuiescent(why))) => {
                debug!("state snapshot deferred: {why}");
                return false;
            }
            Err(e) => warn!("state snapshot failed: {e}"),
        }
        true
    }
}
