//! The validator role: the QBFT core driven over QUIC, its write-ahead log on disk, probes
//! that become liveness state bits, the registry view, and the anchor task that submits
//! checkpoints and epoch data to the IC.
//!
//! One task owns the consensus [`Node`]; it `select!`s over network events, the earliest
//! consensus timer, probe and registry ticks, results of the helper tasks, and commands, and
//! carries out the core's effects in order (a `Persist` is written, and synced, before any
//! later effect of the same step). Calls to the IC run in other tasks so that a slow replica
//! never stalls consensus.
//!
//! Proof of computing: every committed block goes through the round schedule
//! ([`crate::challenge`]); a block that starts a round makes this validator challenge the
//! compute nodes the round assigns to it, each in its own task (the exchange over
//! `Network::request`, the row checks on a blocking thread). Verdicts come back as internal
//! messages and become PoC bits of its next proposals.

use crate::anchor::{Anchor, AnchorJob};
use crate::app::{AppConfig, EdgeApp, RegistryNode};
use crate::challenge::{
    assignments, run_challenge, ChallengeError, DeadlinePolicy, PocStatus, Round, RoundSchedule,
};
use crate::ic::{ChainView, IcHandles};
use crate::protocol::{PingReply, RelayEnvelope, KIND_CONSENSUS, KIND_PING, KIND_RELAY};
use crate::status::{Shared, ValidatorStatus};
use crate::wal::{Wal, WalError};
use emc_consensus::{
    Config, Ed25519Signer, Ed25519Verifier, Effect, Input, Node, Timer, WalRecord,
};
use emc_net::{Event, Network, Role, Roles, StaticAuthorizer};
use emc_poc::{
    round_seed, Challenge, Task, TaskParams, Verdict, VerifierConfig, STANDARD, STANDARD_K,
};
use emc_types::{Block, NodeId, PocResult, SignedCheckpoint, StateBit, ValidatorSet, ZERO_HASH};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{debug, info, warn};

/// Validator settings (the `[validator]` table of the config file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidatorConfig {
    /// Target time between blocks (protocol: 2 s).
    #[serde(with = "humantime_serde")]
    pub block_interval: Duration,
    /// Round-0 timeout after the block interval; round r waits base * 2^r.
    #[serde(with = "humantime_serde")]
    pub round_timeout: Duration,
    /// Cap of a round's timeout.
    #[serde(with = "humantime_serde")]
    pub round_timeout_cap: Duration,
    /// Blocks per epoch (protocol: 43,200; the epochs canister must use the same).
    pub epoch_length: u64,
    /// Blocks between checkpoints (protocol: 450; the epochs canister must use the same).
    pub checkpoint_interval: u64,
    /// How often the registry view (nodes, stakes, validator sets) is refreshed.
    #[serde(with = "humantime_serde")]
    pub registry_refresh: Duration,
    /// How often every registered node is probed.
    #[serde(with = "humantime_serde")]
    pub probe_interval: Duration,
    /// A probe unanswered for this long counts as offline.
    #[serde(with = "humantime_serde")]
    pub probe_timeout: Duration,
    /// A validator at position i of the set submits a checkpoint i times this after it is
    /// ready (the first submits at once; the others only if it is still missing).
    #[serde(with = "humantime_serde")]
    pub submit_stagger: Duration,
    /// Write-ahead log file (none: in memory only, for tests and the devnet).
    pub wal: Option<PathBuf>,
    /// fdatasync every log record (off only for tests and benchmarks).
    pub wal_sync: bool,
    /// Records per uploaded epoch-data chunk (at most 2,000).
    pub chunk_records: usize,
    /// Mean time between proof-of-computing rounds (drawn from the committed blocks, so
    /// unpredictable; every validator starts a round at the same block). Zero: no challenges.
    #[serde(with = "humantime_serde")]
    pub poc_interval: Duration,
    /// The task size of a challenge (protocol: the standard task, n = 4096, 1024 rounds;
    /// smaller on the devnet). E is normalized by the work, so sizes stay comparable.
    pub poc_task: TaskParams,
    /// Rows opened per challenge (at most n; protocol: 32).
    pub poc_rows: u32,
    /// Deadline of the commitment for a node without a passed E, and the longest of any.
    #[serde(with = "humantime_serde")]
    pub poc_deadline: Duration,
    /// The shortest commitment deadline.
    #[serde(with = "humantime_serde")]
    pub poc_deadline_min: Duration,
    /// Deadline for a node with a passed E: this percentage of the time that E predicts
    /// (0: always `poc_deadline`).
    pub poc_deadline_slack_pct: u32,
    /// Time a node has for the opening after its commitment arrived.
    #[serde(with = "humantime_serde")]
    pub poc_opening_timeout: Duration,
}

impl Default for ValidatorConfig {
    fn default() -> Self {
        ValidatorConfig {
            block_interval: Duration::from_secs(2),
            round_timeout: Duration::from_secs(1),
            round_timeout_cap: Duration::from_secs(60),
            epoch_length: 43_200,
            checkpoint_interval: 450,
            registry_refresh: Duration::from_secs(10),
            probe_interval: Duration::from_secs(2),
            probe_timeout: Duration::from_secs(2),
            submit_stagger: Duration::from_secs(5),
            wal: None,
            wal_sync: true,
            chunk_records: 2_000,
            poc_interval: Duration::from_secs(600),
            poc_task: STANDARD,
            poc_rows: STANDARD_K,
            poc_deadline: Duration::from_secs(60),
            poc_deadline_min: Duration::from_secs(2),
            poc_deadline_slack_pct: 150,
            poc_opening_timeout: Duration::from_secs(10),
        }
    }
}

impl ValidatorConfig {
    /// The deadline policy of challenges.
    pub fn deadline_policy(&self) -> DeadlinePolicy {
        DeadlinePolicy {
            max_ns: duration_ns(self.poc_deadline),
            min_ns: duration_ns(self.poc_deadline_min),
            slack_pct: self.poc_deadline_slack_pct,
        }
    }

    /// Checks the proof-of-computing settings.
    pub fn check_poc(&self) -> Result<(), ValidatorError> {
        self.poc_task
            .validate()
            .map_err(|e| ValidatorError::Poc(e.to_string()))?;
        if self.poc_rows == 0 || self.poc_rows > self.poc_task.n {
            return Err(ValidatorError::Poc(format!(
                "poc_rows = {} must be between 1 and n = {}",
                self.poc_rows, self.poc_task.n
            )));
        }
        Ok(())
    }
}

/// Why a validator cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ValidatorError {
    /// The consensus configuration is invalid.
    #[error("consensus: {0}")]
    Consensus(#[from] emc_consensus::NodeError),
    /// The write-ahead log cannot be used.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// The IC could not be reached or refused.
    #[error("IC: {0}")]
    Ic(String),
    /// Stopped before the genesis set was known.
    #[error("stopped while waiting for the genesis validator set")]
    Stopped,
    /// The proof-of-computing settings are invalid.
    #[error("proof of computing: {0}")]
    Poc(String),
}

/// A block committed by this validator, for observers (the devnet, tests, benchmarks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    /// Height.
    pub height: u64,
    /// The block's hash.
    pub hash: emc_types::Hash,
    /// The block's timestamp (its proposer's clock at proposal), ns.
    pub proposed_at_ns: u64,
    /// When this validator committed it, ns.
    pub committed_at_ns: u64,
    /// State bits in the block.
    pub bits: usize,
    /// The round it was decided in.
    pub round: u32,
}

/// A PoC result in a committed block, for observers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PocCommit {
    /// The block's height.
    pub height: u64,
    /// The block's proposer (the validator that measured it).
    pub proposer: NodeId,
    /// The result.
    pub result: PocResult,
}

/// Commands to a running validator.
#[derive(Debug)]
pub enum Command {
    /// Queue PoC results this validator measured (node, E fixed point, passed).
    RecordPoc(Vec<(NodeId, u64, bool)>),
}

/// Handle to a running validator task.
#[derive(Debug)]
pub struct ValidatorHandle {
    /// Its node id.
    pub id: NodeId,
    /// Live status.
    pub status: Shared<ValidatorStatus>,
    /// Committed blocks.
    pub commits: broadcast::Sender<CommitInfo>,
    /// Commands.
    pub commands: mpsc::Sender<Command>,
    /// Its proof-of-computing challenges: rounds, verdicts, the last verdict per node.
    pub poc: Shared<PocStatus>,
    /// PoC results of every committed block.
    pub poc_commits: broadcast::Sender<PocCommit>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ValidatorHandle {
    /// Stops the validator (its log stays on disk) and waits for its task.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    /// Asks it to stop without waiting.
    pub fn signal_stop(&self) {
        let _ = self.shutdown.send(true);
    }
}

/// Current UNIX time in ns.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

enum Internal {
    /// A registry refresh ended (None: it failed; the last view stays).
    View(Option<ChainView>),
    Probe {
        subject: NodeId,
        online: bool,
    },
    Poc {
        node: NodeId,
        round_height: u64,
        verdict: Result<Verdict, ChallengeError>,
    },
}

/// The proof-of-computing side of a validator.
struct PocState {
    schedule: Option<RoundSchedule>,
    /// Nodes with a challenge of ours running (never two at once to one node).
    inflight: BTreeSet<NodeId>,
    /// The last passed E we measured per node (sets its next deadline).
    last_e: BTreeMap<NodeId, u64>,
    status: Shared<PocStatus>,
    commits: broadcast::Sender<PocCommit>,
    /// Row checks running at once: half the cores, so consensus keeps the rest.
    verify_gate: Arc<tokio::sync::Semaphore>,
}

struct Runner {
    cfg: ValidatorConfig,
    me: NodeId,
    node: Node<EdgeApp, Ed25519Signer, Ed25519Verifier>,
    wal: Wal,
    net: Network,
    authorizer: Arc<StaticAuthorizer>,
    timers: BinaryHeap<Reverse<(u64, Timer)>>,
    sets_fed: BTreeSet<u64>,
    dialed: BTreeMap<NodeId, std::net::SocketAddr>,
    anchor: mpsc::Sender<AnchorJob>,
    status: Shared<ValidatorStatus>,
    commits: broadcast::Sender<CommitInfo>,
    internal_tx: mpsc::Sender<Internal>,
    ic: IcHandles,
    pending_view: bool,
    poc: PocState,
}

/// Starts a validator: waits for the registry's genesis set, restores the log, and runs until
/// stopped. `network` must be bound with role validator and `authorizer` as its authorizer.
#[allow(clippy::too_many_arguments)]
pub async fn start_validator(
    cfg: ValidatorConfig,
    seed: [u8; 32],
    net: Network,
    events: mpsc::Receiver<Event>,
    authorizer: Arc<StaticAuthorizer>,
    ic: IcHandles,
) -> Result<ValidatorHandle, ValidatorError> {
    cfg.check_poc()?;
    let signer = Ed25519Signer::from_seed(seed);
    let me = emc_consensus::Signer::node_id(&signer);
    let (shutdown, mut stop_rx) = watch::channel(false);

    // The genesis: the registry's epoch-0 set and genesis time.
    let genesis_time = ic.genesis_time().await.map_err(ValidatorError::Ic)?;
    let genesis_set = loop {
        match ic.validator_set(0).await {
            Ok(Some(set)) if !set.members.is_empty() => break set,
            Ok(_) => debug!("waiting for the registry's epoch-0 validator set"),
            Err(e) => warn!(error = %e, "registry unreachable"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop_rx.changed() => return Err(ValidatorError::Stopped),
        }
    };
    let mut ccfg = Config::new(genesis_set.clone());
    ccfg.genesis_hash = ZERO_HASH;
    ccfg.genesis_timestamp_ns = genesis_time;
    ccfg.epoch_length = cfg.epoch_length;
    ccfg.checkpoint_interval = cfg.checkpoint_interval;
    ccfg.block_interval_ns = duration_ns(cfg.block_interval);
    ccfg.round_timeout_base_ns = duration_ns(cfg.round_timeout);
    ccfg.round_timeout_cap_ns = duration_ns(cfg.round_timeout_cap);
    let mut app = EdgeApp::new(
        me,
        AppConfig {
            epoch_length: cfg.epoch_length,
            chunk_records: cfg.chunk_records,
            ..AppConfig::default()
        },
    );
    // The registry view before any replay: an epoch the log closes is closed with the records
    // of the registered nodes, as the other validators closed it.
    let first_view = ic.chain_view(0).await.ok();
    if let Some(view) = &first_view {
        app.set_registry(view.nodes.iter().map(|(n, _)| n.clone()));
    }

    let (mut wal, records) = match &cfg.wal {
        Some(path) => Wal::open(path, cfg.wal_sync)?,
        None => (Wal::in_memory(), Vec::new()),
    };
    let node = if records.is_empty() {
        Node::new(ccfg, app, signer, Ed25519Verifier::new())?
    } else {
        let mut node = Node::restore(ccfg, app, signer, Ed25519Verifier::new(), &records)?;
        for r in &records {
            if let WalRecord::Committed { block, .. } = r {
                emc_consensus::Application::on_commit(node.app_mut(), &block.block);
            }
        }
        info!(
            height = node.height(),
            records = records.len(),
            "restored from the log"
        );
        let keep = keep_records(&records, node.height(), cfg.epoch_length);
        if keep.len() < records.len() {
            wal.compact(&keep)?;
        }
        node
    };

    let status = Shared::new(ValidatorStatus {
        id: me,
        ..ValidatorStatus::default()
    });
    let (commits, _) = broadcast::channel(1024);
    let (poc_commits, _) = broadcast::channel(1024);
    let schedule = RoundSchedule::from_interval(cfg.poc_interval, cfg.block_interval);
    let poc_status = Shared::new(PocStatus {
        period_blocks: schedule.as_ref().map_or(0, RoundSchedule::period_blocks),
        ..PocStatus::default()
    });
    let poc = PocState {
        schedule,
        inflight: BTreeSet::new(),
        last_e: BTreeMap::new(),
        status: poc_status.clone(),
        commits: poc_commits.clone(),
        verify_gate: Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
        )),
    };
    let (commands, mut command_rx) = mpsc::channel(64);
    let (internal_tx, mut internal_rx) = mpsc::channel(1024);
    let (anchor_tx, anchor_rx) = mpsc::channel(64);
    let anchor = Anchor::new(me, ic.clone(), status.clone(), cfg.submit_stagger);
    tokio::spawn(anchor.run(anchor_rx, stop_rx.clone()));

    let mut runner = Runner {
        cfg,
        me,
        node,
        wal,
        net,
        authorizer,
        timers: BinaryHeap::new(),
        sets_fed: BTreeSet::new(),
        dialed: BTreeMap::new(),
        anchor: anchor_tx,
        status: status.clone(),
        commits: commits.clone(),
        internal_tx,
        ic,
        pending_view: false,
        poc,
    };
    runner.sets_fed.insert(0);
    // A first registry view before consensus starts (peers to dial, sets of later epochs).
    if let Ok(view) = runner.ic.chain_view(runner.node.height()).await {
        runner.apply_view(view);
    }
    let effects = runner.node.step(Input::Start, now_ns());
    runner.apply(effects);

    let task = tokio::spawn(async move {
        let mut events = events;
        let mut probe = tokio::time::interval(runner.cfg.probe_interval);
        let mut refresh = tokio::time::interval(runner.cfg.registry_refresh);
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next = runner.timers.peek().map(|Reverse((at, _))| *at);
            let sleep = next.map_or(Duration::from_secs(3600), |at| {
                Duration::from_nanos(at.saturating_sub(now_ns()))
            });
            tokio::select! {
                biased;
                _ = stop_rx.changed() => break,
                ev = events.recv() => match ev {
                    Some(ev) => runner.on_event(ev),
                    None => break,
                },
                _ = tokio::time::sleep(sleep), if next.is_some() => runner.fire_timers(),
                Some(msg) = internal_rx.recv() => match msg {
                    Internal::View(view) => {
                        runner.pending_view = false;
                        if let Some(view) = view { runner.apply_view(view) }
                    }
                    Internal::Probe { subject, online } => runner.node.app_mut().observe(subject, online),
                    Internal::Poc { node, round_height, verdict } => runner.on_verdict(node, round_height, verdict),
                },
                Some(cmd) = command_rx.recv() => match cmd {
                    Command::RecordPoc(results) => {
                        for (node, e, passed) in results {
                            runner.node.app_mut().record_poc(node, e, passed);
                        }
                    }
                },
                _ = probe.tick() => {
                    runner.probe();
                    let m = runner.node.metrics().clone();
                    let round = runner.node.round();
                    runner.status.update(|s| { s.consensus = m; s.current_round = round; });
                }
                _ = refresh.tick() => runner.refresh(),
            }
        }
        info!(node = ?runner.me, height = runner.node.height(), "validator stopped");
    });
    Ok(ValidatorHandle {
        id: me,
        status,
        commits,
        commands,
        poc: poc_status,
        poc_commits,
        shutdown,
        task,
    })
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Runner {
    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Frame {
                peer,
                role,
                kind,
                payload,
            } => match (kind, role) {
                (KIND_CONSENSUS, Role::Validator) => {
                    let effects = self.node.step(
                        Input::Message {
                            from: peer,
                            bytes: &payload,
                        },
                        now_ns(),
                    );
                    self.apply(effects);
                }
                (KIND_RELAY, Role::Router) => match RelayEnvelope::decode(&payload) {
                    Ok(env) if env.target.is_none_or(|t| t == self.me) && env.origin != self.me => {
                        let effects = self.node.step(
                            Input::Message {
                                from: env.origin,
                                bytes: &env.message,
                            },
                            now_ns(),
                        );
                        self.apply(effects);
                    }
                    Ok(_) => {}
                    Err(e) => debug!(?peer, error = %e, "bad relay envelope"),
                },
                _ => debug!(?peer, kind, %role, "unexpected frame"),
            },
            Event::Request {
                kind, responder, ..
            } => {
                if kind == KIND_PING {
                    let reply = PingReply {
                        height: self.node.height().saturating_sub(1),
                        load: 0,
                        capacity: 0,
                    };
                    let _ = responder.respond(reply.encode());
                }
            }
            Event::PeerUp { peer, role, .. } => {
                debug!(?peer, %role, "peer up");
                self.status.update(|s| s.peers = self.net.peers().len());
            }
            Event::PeerDown { peer } => {
                debug!(?peer, "peer down");
                self.status.update(|s| s.peers = self.net.peers().len());
            }
        }
    }

    fn fire_timers(&mut self) {
        let now = now_ns();
        while let Some(Reverse((at, timer))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let effects = self.node.step(Input::Timeout(timer), now);
            self.apply(effects);
        }
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Persist(rec) => {
                    if let Err(e) = self.wal.append(&rec) {
                        // Without a durable log this node could equivocate after a crash:
                        // stop voting rather than risk it.
                        tracing::error!(error = %e, "write-ahead log failed: stopping");
                        std::process::abort();
                    }
                }
                Effect::Send { to, bytes } => self.send_to(to, bytes),
                Effect::Broadcast { bytes } => self.broadcast(bytes),
                Effect::ScheduleTimeout { timer, at_ns } => {
                    self.timers.push(Reverse((at_ns, timer)))
                }
                Effect::CommitBlock(cb) => {
                    let now = now_ns();
                    let info = CommitInfo {
                        height: cb.block.header.height,
                        hash: cb.block.hash(),
                        proposed_at_ns: cb.block.header.timestamp_ns,
                        committed_at_ns: now,
                        bits: cb.block.bits.len(),
                        round: cb.round,
                    };
                    let _ = self.commits.send(info);
                    let m = self.node.metrics().clone();
                    let epoch = self.node.app().epoch_of(info.height);
                    self.status.update(|s| {
                        s.height = info.height;
                        s.epoch = epoch;
                        s.last_commit_ns = now;
                        s.round = cb.round;
                        s.blocks_committed = m.blocks_committed;
                        s.state_bits = s.state_bits.saturating_add(info.bits as u64);
                        s.consensus = m.clone();
                    });
                    if info.height % self.cfg.epoch_length.max(1) == 0 {
                        self.compact_log();
                    }
                    self.poc_on_commit(&cb.block, info.hash, now);
                }
                Effect::CheckpointReady {
                    checkpoint,
                    signatures,
                } => {
                    let epoch_data = if checkpoint.height % self.cfg.epoch_length.max(1) == 0 {
                        self.node.app().epoch_data(checkpoint.epoch).cloned()
                    } else {
                        None
                    };
                    let position = self
                        .node
                        .set_for_height(checkpoint.height)
                        .and_then(|s| s.members.iter().position(|m| *m == self.me))
                        .unwrap_or(0);
                    self.status
                        .update(|s| s.last_checkpoint_ready = Some(checkpoint.height));
                    let job = AnchorJob::Checkpoint {
                        signed: SignedCheckpoint {
                            checkpoint,
                            signatures,
                        },
                        epoch_data,
                        position,
                    };
                    if self.anchor.try_send(job).is_err() {
                        warn!("anchor queue full: checkpoint left to the other validators");
                    }
                }
            }
        }
    }

    /// Sends directly and, through the routers, a second copy: a link that is down (or
    /// silently dropping) costs nothing, and the receiver drops the later copy as a duplicate
    /// before verifying its signature.
    fn send_to(&self, to: NodeId, bytes: Vec<u8>) {
        let _ = self.net.send(&to, KIND_CONSENSUS, bytes.clone());
        self.relay(Some(to), bytes);
    }

    fn broadcast(&self, bytes: Vec<u8>) {
        let _ = self
            .net
            .broadcast(KIND_CONSENSUS, bytes.clone(), Roles::from(Role::Validator));
        self.relay(None, bytes);
    }

    fn relay(&self, target: Option<NodeId>, message: Vec<u8>) {
        let env = RelayEnvelope {
            origin: self.me,
            target,
            message,
        };
        let _ = self
            .net
            .broadcast(KIND_RELAY, env.encode(), Roles::from(Role::Router));
    }

    /// Probes every registered node (but itself) once; outcomes come back as internal
    /// messages and become liveness bits of our next proposal.
    fn probe(&self) {
        let subjects: Vec<NodeId> = self
            .node
            .app()
            .registry()
            .keys()
            .copied()
            .filter(|n| *n != self.me)
            .collect();
        for subject in subjects {
            let net = self.net.clone();
            let tx = self.internal_tx.clone();
            let timeout = self.cfg.probe_timeout;
            tokio::spawn(async move {
                let online = net
                    .request(&subject, KIND_PING, Vec::new(), timeout)
                    .await
                    .is_ok();
                let _ = tx.send(Internal::Probe { subject, online }).await;
            });
        }
    }

    /// A committed block: reports its PoC bits and starts the round it starts, if any.
    fn poc_on_commit(&mut self, block: &Block, hash: emc_types::Hash, now: u64) {
        let height = block.header.height;
        if self.poc.commits.receiver_count() > 0 {
            for bit in &block.bits {
                if let StateBit::Poc(result) = bit {
                    let _ = self.poc.commits.send(PocCommit {
                        height,
                        proposer: block.header.proposer,
                        result: result.clone(),
                    });
                }
            }
        }
        let Some(round) = self
            .poc
            .schedule
            .as_mut()
            .and_then(|s| s.on_commit(height, &hash))
        else {
            return;
        };
        let lag = now.saturating_sub(block.header.timestamp_ns);
        self.start_round(round, lag);
    }

    /// Challenges the compute nodes `round` assigns to this validator, all at once. `lag` is
    /// how long after its proposal the round's block committed here: a validator that commits
    /// it late (catching up) would not challenge at the same moment as the others, so it
    /// skips the round.
    fn start_round(&mut self, round: Round, lag: u64) {
        self.poc.status.update(|s| {
            s.rounds += 1;
            s.last_round = Some(round.height);
        });
        let Some(set) = self.node.set_for_height(round.height) else {
            return;
        };
        let compute = self
            .node
            .app()
            .registry()
            .values()
            .filter(|n| n.role == emc_epochs::Role::Compute)
            .map(|n| n.id);
        let mine = assignments(&round, &self.me, &set.members, compute);
        if mine.is_empty() {
            return;
        }
        let max_lag = duration_ns(self.cfg.block_interval)
            .saturating_mul(3)
            .saturating_add(1_000_000_000);
        if lag > max_lag {
            info!(
                height = round.height,
                lag_ms = lag / 1_000_000,
                "PoC round committed late here: skipped"
            );
            self.poc.status.update(|s| s.skipped += mine.len() as u64);
            return;
        }
        // Our private randomness: nobody else can compute the seeds before they arrive.
        let mut private = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut private);
        let params = self.cfg.poc_task;
        let policy = self.cfg.deadline_policy();
        let config = VerifierConfig {
            k: self.cfg.poc_rows,
            opening_timeout_ns: duration_ns(self.cfg.poc_opening_timeout),
        };
        debug!(height = round.height, nodes = mine.len(), "PoC round");
        for node in mine {
            if !self.poc.inflight.insert(node) {
                debug!(?node, "previous challenge still running: skipped");
                self.poc.status.update(|s| s.skipped += 1);
                continue;
            }
            let challenge = Challenge {
                task: Task {
                    seed: round_seed(&private, &node),
                    params,
                },
                deadline_ns: policy.deadline_ns(&params, self.poc.last_e.get(&node).copied()),
            };
            self.poc.status.update(|s| s.issued += 1);
            let (net, tx, round_height) =
                (self.net.clone(), self.internal_tx.clone(), round.height);
            let gate = self.poc.verify_gate.clone();
            tokio::spawn(async move {
                let request = move |kind: u8, payload: Vec<u8>, timeout: Duration| {
                    let net = net.clone();
                    async move {
                        net.request(&node, kind, payload, timeout)
                            .await
                            .map(|b| b.to_vec())
                    }
                };
                let verdict = run_challenge(request, challenge, config, &gate).await;
                let _ = tx
                    .send(Internal::Poc {
                        node,
                        round_height,
                        verdict,
                    })
                    .await;
            });
        }
    }

    /// A challenge ended: its verdict goes into our next proposals.
    fn on_verdict(
        &mut self,
        node: NodeId,
        round_height: u64,
        verdict: Result<Verdict, ChallengeError>,
    ) {
        self.poc.inflight.remove(&node);
        let v = match verdict {
            Ok(v) => v,
            Err(e) => {
                warn!(?node, error = %e, "PoC challenge could not be judged");
                return;
            }
        };
        let elapsed_ms = v.elapsed_ns.map(|ns| ns as f64 / 1e6);
        if v.passed {
            info!(
                ?node,
                round = round_height,
                e = v.e as f64 / emc_types::E_SCALE as f64,
                e_fixed = v.e,
                elapsed_ms,
                "PoC passed"
            );
            self.poc.last_e.insert(node, v.e);
        } else {
            warn!(?node, round = round_height, reason = ?v.reason, elapsed_ms, "PoC failed");
        }
        self.node.app_mut().record_poc(node, v.e, v.passed);
        self.poc
            .status
            .update(|s| s.record(&node, round_height, &v));
    }

    fn refresh(&mut self) {
        if self.pending_view {
            return;
        }
        self.pending_view = true;
        let ic = self.ic.clone();
        let tx = self.internal_tx.clone();
        let height = self.node.height();
        tokio::spawn(async move {
            let view = ic
                .chain_view(height)
                .await
                .inspect_err(|e| warn!(error = %e, "registry refresh failed"))
                .ok();
            let _ = tx.send(Internal::View(view)).await;
        });
    }

    fn apply_view(&mut self, view: ChainView) {
        // Every registered node with an address is dialed: validators for consensus,
        // routers for relays, compute nodes for probes and PoC challenges.
        let me = self.me;
        let wanted = view.addresses(|n| n.id != me);
        self.authorizer.replace_all(view.authorized());
        crate::ic::sync_dials(&self.net, &mut self.dialed, wanted);
        let known: BTreeSet<NodeId> = view.nodes.iter().map(|(n, _)| n.id).collect();
        let gone: Vec<NodeId> = self
            .node
            .app()
            .registry()
            .keys()
            .filter(|k| !known.contains(k))
            .copied()
            .collect();
        for g in gone {
            self.node.app_mut().forget(&g);
            self.poc.last_e.remove(&g);
        }
        let nodes: Vec<RegistryNode> = view.nodes.into_iter().map(|(n, _)| n).collect();
        self.node.app_mut().set_registry(nodes);
        for set in view.sets {
            self.feed_set(set);
        }
        let n = self.node.app().registry().len();
        self.status.update(|s| s.registered_nodes = n);
    }

    fn feed_set(&mut self, set: ValidatorSet) {
        if set.members.is_empty() || !self.sets_fed.insert(set.epoch) {
            return;
        }
        info!(
            epoch = set.epoch,
            members = set.members.len(),
            "validator set learned"
        );
        let effects = self.node.step(Input::ValidatorSet(set), now_ns());
        self.apply(effects);
    }

    /// At an epoch boundary: keep the validator sets, the committed blocks of the previous
    /// and the current epoch (block sync, the application's replay) and this height's votes.
    /// Once an epoch (43,200 blocks), so the rewrite's IO is inline.
    fn compact_log(&mut self) {
        let (height, l) = (self.node.height(), self.cfg.epoch_length);
        if let Err(e) = self.wal.retain(|r| keeps(r, height, l)) {
            warn!(error = %e, "write-ahead log compaction failed (the log keeps growing)");
        }
    }
}

/// The records a log keeps at an epoch boundary: validator sets, and everything at or above
/// the first height of the previous epoch.
pub fn keep_records(records: &[WalRecord], height: u64, epoch_length: u64) -> Vec<WalRecord> {
    records
        .iter()
        .filter(|r| keeps(r, height, epoch_length))
        .cloned()
        .collect()
}

fn keeps(r: &WalRecord, height: u64, epoch_length: u64) -> bool {
    let l = epoch_length.max(1);
    let from = (height.saturating_sub(1) / l).saturating_sub(1) * l;
    r.height().is_none_or(|h| h > from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_round_trips_through_toml_and_poc_settings_are_checked() {
        let cfg = ValidatorConfig::default();
        let text = toml::to_string_pretty(&cfg).unwrap();
        assert_eq!(toml::from_str::<ValidatorConfig>(&text).unwrap(), cfg);
        let c: ValidatorConfig = toml::from_str(
            "poc_interval = \"10s\"\npoc_task = { n = 256, rounds = 8 }\npoc_rows = 16",
        )
        .unwrap();
        assert_eq!(c.poc_task, TaskParams { n: 256, rounds: 8 });
        assert!(c.check_poc().is_ok());
        let bad_rows = ValidatorConfig {
            poc_rows: 257,
            ..c.clone()
        };
        assert!(matches!(bad_rows.check_poc(), Err(ValidatorError::Poc(_))));
        let bad_task = ValidatorConfig {
            poc_task: TaskParams { n: 100, rounds: 8 },
            ..c
        };
        assert!(matches!(bad_task.check_poc(), Err(ValidatorError::Poc(_))));
        // E = 1.5 at the standard size: 10 s predicted, a 15 s deadline.
        assert_eq!(
            cfg.deadline_policy().deadline_ns(&STANDARD, Some(15_000)),
            15_000_000_000
        );
    }
}
