//! The replica thread: owns the [`Replica`] (the embedded IC runs on one thread) and serves
//! commands from the HTTP tasks over a channel, each with a oneshot for its answer.
//!
//! Every wake-up drains the channel, answers queries and read_state requests at once, submits
//! every call, runs rounds until the calls completed, and certifies them with one signature
//! (see [`crate::replica`]). Between requests it runs a round whenever timers are due (wall
//! clock: every tick interval, with the IC's time set to the UNIX time first).

use crate::envelope::Request;
use crate::replica::{
    ReadStateError, ReadStateTarget, RejectInfo, Replica, Submitted, MAX_ROUNDS_PER_BATCH,
};
use crate::snapshot;
use candid::Principal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;
use tracing::{info, warn};

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

pub(crate) type Job = Box<dyn FnOnce(&mut Replica) + Send>;

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
    pub replica: Replica,
    pub clock: Clock,
    pub tick: Duration,
    /// The IC's time, published for the HTTP tasks (ingress expiry checks).
    pub time: Arc<AtomicU64>,
    pub state_dir: Option<PathBuf>,
    pub snapshot_every: Option<Duration>,
}

impl Host {
    pub fn run(mut self, rx: mpsc::Receiver<Command>) {
        let mut last_snapshot = Instant::now();
        let mut dirty = false;
        loop {
            let first = match rx.recv_timeout(self.tick) {
                Ok(c) => Some(c),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            if self.clock == Clock::Wall {
                self.replica.set_time(unix_nanos());
            }
            let mut batch: Vec<Command> = first.into_iter().collect();
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
            let mut calls = Vec::new();
            let mut shutdown = false;
            for command in batch {
                match command {
                    Command::Call {
                        req,
                        effective,
                        reply,
                    } => match self.replica.submit(&req, effective) {
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
                        let _ = reply.send(self.replica.query(&req, effective));
                    }
                    Command::ReadState { req, target, reply } => {
                        let _ = reply.send(self.replica.read_state(&req, target));
                    }
                    Command::Run(job) => {
                        dirty = true;
                        job(&mut self.replica);
                    }
                    Command::Shutdown => shutdown = true,
                }
            }
            if calls.is_empty() {
                self.replica.tick_if_due();
            } else {
                self.replica.execute(MAX_ROUNDS_PER_BATCH);
                let done: Vec<_> = calls
                    .iter()
                    .map(|(id, _)| *id)
                    .filter(|id| self.replica.is_done(id))
                    .collect();
                let certified = (!done.is_empty()).then(|| self.replica.certify(&done));
                for (id, reply) in calls {
                    let answer = match &certified {
                        Some(c) if self.replica.is_done(&id) => {
                            CallReply::Certified(c.certificate_for(&id))
                        }
                        _ => CallReply::Accepted,
                    };
                    let _ = reply.send(answer);
                }
            }
            self.time.store(self.replica.time(), Ordering::Relaxed);
            let snapshot_due = self
                .snapshot_every
                .is_some_and(|every| last_snapshot.elapsed() >= every);
            if (shutdown || snapshot_due) && dirty {
                self.snapshot();
                last_snapshot = Instant::now();
                dirty = false;
            }
            if shutdown {
                break;
            }
        }
        info!("replica thread stopped");
    }

    fn snapshot(&self) {
        let Some(dir) = &self.state_dir else {
            return;
        };
        let started = Instant::now();
        match snapshot::write(dir, self.replica.ic()) {
            Ok(bytes) => info!(
                bytes,
                ms = started.elapsed().as_millis() as u64,
                "state snapshot written"
            ),
            Err(e) => warn!("state snapshot failed: {e}"),
        }
    }
}
