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
use crate::challenge::{run_challenge, ChallengeError};
use crate::status::{AppMemory, ValidatorStatus};
use crate::wal::{Wal, WalError};
use emc_consensus::{
    Config, Ed25519Signer, Ed25519Verifier, Effect, Input, Node, Timer, WalRecord,
};
use emc_edge_core::anchor::submit_position;
use emc_edge_core::app::{blocks_per_minute, AppConfig, EdgeApp, RegistryNode};
use emc_edge_core::poc::{PocPlanner, PocStatus, RoundPlan, RoundSchedule};
use emc_edge_core::protocol::{
    decode_leaves, decode_receipts, encode_proofs, LaneQuery, LaneState, PingReply, RelayEnvelope,
    KIND_CONSENSUS, KIND_LANE_STATE, KIND_PING, KIND_RECEIPTS, KIND_RECEIPT_PROOFS, KIND_RELAY,
};
use emc_edge_core::retention::{keep_records, keeps};
use emc_edge_core::settle::ReceiptArchive;
use emc_edge_core::view::ChainView;
use emc_ic_client::IcError;
use emc_net::{Event, Network, Role, Roles, StaticAuthorizer};
use emc_node_common::config::{duration_ns, ValidatorConfig};
use emc_node_common::ic::IcHandles;
use emc_node_common::logging::MILESTONE;
use emc_node_common::service::Service;
use emc_node_common::status::Shared;
use emc_poc::{Verdict, VerifierConfig};
use emc_types::epoch::is_epoch_end;
use emc_types::{
    Block, Checkpoint, NodeId, PocResult, SignedCheckpoint, StateBit, ValidatorSet, ZERO_HASH,
};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, watch};
use tracing::Instrument as _;
use tracing::{debug, info, warn};

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
    Ic(#[from] IcError),
    /// Stopped before the genesis set was known.
    #[error("stopped while waiting for the genesis validator set")]
    Stopped,
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] emc_node_common::config::ConfigError),
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
    /// Every committed block (sent only while someone subscribes).
    pub blocks: broadcast::Sender<Arc<Block>>,
    /// Every checkpoint a quorum signed.
    pub checkpoints: broadcast::Sender<Checkpoint>,
    service: Service,
}

impl ValidatorHandle {
    /// Stops the validator (its log stays on disk) and waits for its task.
    pub async fn stop(self) {
        self.service.stop().await;
    }

    /// Asks it to stop without waiting.
    pub fn signal_stop(&self) {
        self.service.signal_stop();
    }
}

/// Current UNIX time in ns.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

enum Internal {
    /// A registry refresh ended: the live view (None: it failed; the last view stays) and
    /// the epoch snapshots fetched (epoch, nodes; `None` nodes: the registry has none).
    View(Option<ChainView>, Vec<(u64, Option<Vec<RegistryNode>>)>),
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

/// The proof-of-computing side of a validator: the planner (pure) and what the shell keeps.
struct PocState {
    planner: PocPlanner,
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
    /// Sets learned but not fed yet (their epoch's snapshot is not here yet).
    sets_waiting: BTreeMap<u64, ValidatorSet>,
    dialed: BTreeMap<NodeId, std::net::SocketAddr>,
    /// The live registry view: whom to probe and dial, who may connect.
    view: ChainView,
    anchor: mpsc::Sender<AnchorJob>,
    status: Shared<ValidatorStatus>,
    commits: broadcast::Sender<CommitInfo>,
    blocks: broadcast::Sender<Arc<Block>>,
    checkpoints: broadcast::Sender<Checkpoint>,
    internal_tx: mpsc::Sender<Internal>,
    ic: IcHandles,
    pending_view: bool,
    poc: PocState,
    /// The receipts trees of recent checkpoint periods, for routers' proof requests.
    receipts: ReceiptArchive,
}

/// Checkpoint periods whose receipts trees a validator keeps for routers' proofs (routers
/// ask within seconds of a certificate; 16 periods are 4 hours at 15 minutes a checkpoint).
const PROOF_PERIODS: usize = 16;

/// Fetches the registry's snapshot of each epoch of `epochs`, retrying until each is read
/// (or `stop` turns true), and gives them to `app`.
async fn load_snapshots(
    ic: &IcHandles,
    app: &mut EdgeApp,
    epochs: impl IntoIterator<Item = u64>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), ValidatorError> {
    for epoch in epochs {
        loop {
            match ic.epoch_nodes(epoch).await {
                Ok(nodes) => {
                    if nodes.is_none() {
                        warn!(epoch, "the registry has no node snapshot of this epoch: it closes with no data here");
                    }
                    app.set_snapshot(epoch, nodes);
                    break;
                }
                Err(e) => warn!(epoch, error = %e, "registry unreachable (epoch snapshot)"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = stop.changed() => return Err(ValidatorError::Stopped),
            }
        }
    }
    Ok(())
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
    let genesis_time = ic.genesis_time().await?;
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
    let schedule = RoundSchedule::from_interval(cfg.poc_interval, cfg.block_interval);
    let mut app = EdgeApp::new(
        me,
        AppConfig {
            epoch_length: cfg.epoch_length,
            chunk_records: cfg.chunk_records,
            poc_period_blocks: schedule.as_ref().map_or(0, RoundSchedule::period_blocks),
            slot_blocks: blocks_per_minute(duration_ns(cfg.block_interval)),
            ..AppConfig::default()
        },
    );
    app.set_members(0, genesis_set.members.clone());
    let (mut wal, records) = match &cfg.wal {
        Some(path) => Wal::open(path, cfg.wal_sync)?,
        None => (Wal::in_memory(), Vec::new()),
    };
    // The registry's snapshots of the epochs the log replays (and of epoch 0 for a new
    // node), before any replay: an epoch the log closes is closed with the records of its
    // snapshot, as the other validators closed it.
    let committed = records.iter().filter_map(|r| match r {
        WalRecord::Committed { block, .. } => Some(block.block.header.height),
        _ => None,
    });
    let (first, last) = committed.fold((u64::MAX, 0), |(lo, hi), h| (lo.min(h), hi.max(h)));
    let epochs = if first > last {
        0..=0
    } else {
        let l = cfg.epoch_length;
        emc_types::epoch::epoch_of(first, l)..=emc_types::epoch::epoch_of(last.saturating_add(1), l)
    };
    load_snapshots(&ic, &mut app, epochs, &mut stop_rx).await?;
    for r in &records {
        if let WalRecord::ValidatorSet(set) = r {
            app.set_members(set.epoch, set.members.clone());
        }
    }
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
    let (blocks, _) = broadcast::channel(1024);
    let (checkpoints, _) = broadcast::channel(64);
    // A validator that commits a round's block later than this after its proposal would not
    // challenge at the same moment as the others (it is catching up): it skips the round.
    let max_lag_ns = duration_ns(cfg.block_interval)
        .saturating_mul(3)
        .saturating_add(1_000_000_000);
    let planner = PocPlanner::new(cfg.window_policy(), max_lag_ns);
    let poc_status = Shared::new(PocStatus {
        period_blocks: schedule.as_ref().map_or(0, RoundSchedule::period_blocks),
        ..PocStatus::default()
    });
    let poc = PocState {
        planner,
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
    tokio::spawn(anchor.run(anchor_rx, stop_rx.clone()).in_current_span());

    let mut runner = Runner {
        cfg,
        me,
        node,
        wal,
        net,
        authorizer,
        timers: BinaryHeap::new(),
        sets_fed: BTreeSet::new(),
        sets_waiting: BTreeMap::new(),
        dialed: BTreeMap::new(),
        view: ChainView::default(),
        anchor: anchor_tx,
        status: status.clone(),
        commits: commits.clone(),
        blocks: blocks.clone(),
        checkpoints: checkpoints.clone(),
        internal_tx,
        ic,
        pending_view: false,
        receipts: ReceiptArchive::new(PROOF_PERIODS),
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
                    Internal::View(view, snapshots) => {
                        runner.pending_view = false;
                        for (epoch, nodes) in snapshots {
                            runner.node.app_mut().set_snapshot(epoch, nodes);
                        }
                        match view {
                            Some(view) => runner.apply_view(view),
                            None => runner.feed_waiting_sets(),
                        }
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
    }.in_current_span());
    Ok(ValidatorHandle {
        id: me,
        status,
        commits,
        commands,
        poc: poc_status,
        poc_commits,
        blocks,
        checkpoints,
        service: Service::from_parts(shutdown, task),
    })
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
                (KIND_RECEIPTS, Role::Router) => match decode_receipts(&payload) {
                    Ok(receipts) => {
                        let (mut ok, mut refused) = (0u64, 0u64);
                        // One batch verification for the frame's signatures.
                        for verdict in self.node.app_mut().record_receipts(receipts) {
                            match verdict {
                                Ok(()) => ok += 1,
                                Err(e) => {
                                    refused += 1;
                                    debug!(?peer, error = %e, "receipt refused");
                                }
                            }
                        }
                        self.status.update(|s| {
                            s.receipts_recorded += ok;
                            s.receipts_refused += refused;
                        });
                    }
                    Err(e) => debug!(?peer, error = %e, "bad receipts frame"),
                },
                _ => debug!(?peer, kind, %role, "unexpected frame"),
            },
            // Validators serve no calls: dropping it resets the stream.
            Event::Call { .. } => {}
            Event::Request {
                peer,
                role,
                kind,
                payload,
                responder,
            } => {
                if kind == KIND_PING {
                    let reply = PingReply {
                        height: self.node.height().saturating_sub(1),
                        load: 0,
                        capacity: 0,
                    };
                    let _ = responder.respond(reply.encode());
                } else if kind == KIND_RECEIPT_PROOFS && role == Role::Router {
                    match decode_leaves(&payload) {
                        Ok(leaves) => {
                            let proofs: Vec<_> = leaves
                                .iter()
                                .filter_map(|l| self.receipts.prove(l))
                                .collect();
                            let _ = responder.respond(encode_proofs(&proofs));
                        }
                        Err(e) => debug!(?peer, error = %e, "bad proof request"),
                    }
                } else if kind == KIND_LANE_STATE && role == Role::Compute {
                    // The asking node's own lane only: the transport authenticated `peer`.
                    match LaneQuery::decode(&payload) {
                        Ok(q) => {
                            let last = self.node.app().lane_state(&q.user, &peer, q.epoch);
                            let _ = responder.respond(LaneState { last }.encode());
                        }
                        Err(e) => debug!(?peer, error = %e, "bad lane query"),
                    }
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
                    self.receipts.on_block(&cb.block.bits);
                    let interval = self.node.config().checkpoint_interval.max(1);
                    if info.height > 0 && info.height % interval == 0 {
                        self.receipts.seal(info.height);
                    }
                    if self.blocks.receiver_count() > 0 {
                        let _ = self.blocks.send(Arc::new(cb.block.clone()));
                    }
                    let m = self.node.metrics().clone();
                    let app = self.node.app();
                    let epoch = app.epoch_of(info.height);
                    let memory = AppMemory {
                        snapshots: app.snapshots_held(),
                        closed_epochs: app.closed_epochs(),
                    };
                    self.status.update(|s| {
                        s.height = info.height;
                        s.epoch = epoch;
                        s.last_commit_ns = now;
                        s.round = cb.round;
                        s.blocks_committed = m.blocks_committed;
                        s.state_bits = s.state_bits.saturating_add(info.bits as u64);
                        s.consensus = m.clone();
                        s.app_memory = memory;
                    });
                    if is_epoch_end(info.height, self.cfg.epoch_length) {
                        self.compact_log();
                        // The next epoch may start now: its set goes in once its snapshot is here.
                        self.feed_waiting_sets();
                    }
                    self.poc_on_commit(&cb.block, now);
                }
                Effect::CheckpointReady {
                    checkpoint,
                    signatures,
                } => {
                    // A closing checkpoint hands its epoch's data to the anchor: the
                    // application keeps no closed epoch once it is on its way to the IC.
                    if let Err(e) = self
                        .receipts
                        .certify(checkpoint.height, checkpoint.receipts_root)
                    {
                        debug!(error = %e, "receipts of this period cannot be proved here");
                    }
                    let epoch_data = if is_epoch_end(checkpoint.height, self.cfg.epoch_length) {
                        self.node.app_mut().take_epoch_data(checkpoint.epoch)
                    } else {
                        None
                    };
                    let position = self
                        .node
                        .set_for_height(checkpoint.height)
                        .map_or(0, |s| submit_position(&s.members, &self.me));
                    self.status
                        .update(|s| s.last_checkpoint_ready = Some(checkpoint.height));
                    let _ = self.checkpoints.send(checkpoint.clone());
                    let job = AnchorJob {
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

    /// Probes every node it works with (but itself) once; outcomes come back as internal
    /// messages and become liveness bits of our next proposal.
    fn probe(&self) {
        let work = self
            .view
            .work_nodes(self.node.app().snapshot_nodes().as_ref());
        for subject in work.into_iter().filter(|n| *n != self.me) {
            let net = self.net.clone();
            let tx = self.internal_tx.clone();
            let timeout = self.cfg.probe_timeout;
            tokio::spawn(
                async move {
                    let online = net
                        .request(&subject, KIND_PING, Vec::new(), timeout)
                        .await
                        .is_ok();
                    let _ = tx.send(Internal::Probe { subject, online }).await;
                }
                .in_current_span(),
            );
        }
    }

    /// A committed block: reports its PoC bits and starts the round it starts, if any: the
    /// compute nodes of the epoch's snapshot that the round assigns to this validator.
    fn poc_on_commit(&mut self, block: &Block, now: u64) {
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
        // The application drew the round (if this block starts one) and its challengers,
        // by the rules that admit the results.
        let app = self.node.app();
        let Some(round) = app.started_round().filter(|r| r.height == height) else {
            return;
        };
        let assigned = app.assigned_to(round.height, &self.me);
        // Our private randomness: nobody else can compute the seeds before they arrive.
        let mut private = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut private);
        let plan = self
            .poc
            .planner
            .plan(round, assigned, block.header.timestamp_ns, now, &private);
        self.start_round(plan);
    }

    /// Sends a round's challenges, each in its own task.
    fn start_round(&mut self, plan: RoundPlan) {
        let round_height = plan.round.height;
        self.poc.status.update(|s| {
            s.rounds += 1;
            s.last_round = Some(round_height);
            s.issued += plan.challenges.len() as u64;
            s.skipped += (plan.skipped_busy + plan.skipped_late) as u64;
        });
        if plan.skipped_late > 0 {
            info!(
                height = round_height,
                nodes = plan.skipped_late,
                "PoC round committed late here: skipped"
            );
        }
        if plan.challenges.is_empty() {
            return;
        }
        debug!(
            height = round_height,
            nodes = plan.challenges.len(),
            "PoC round"
        );
        let config = VerifierConfig {
            k: self.cfg.poc_rows,
            opening_timeout_ns: duration_ns(self.cfg.poc_opening_timeout),
        };
        for (node, challenge) in plan.challenges {
            let (net, tx) = (self.net.clone(), self.internal_tx.clone());
            let gate = self.poc.verify_gate.clone();
            tokio::spawn(
                async move {
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
                }
                .in_current_span(),
            );
        }
    }

    /// A challenge ended: its verdict goes into our next proposals.
    fn on_verdict(
        &mut self,
        node: NodeId,
        round_height: u64,
        verdict: Result<Verdict, ChallengeError>,
    ) {
        let v = match verdict {
            Ok(v) => v,
            Err(e) => {
                self.poc.planner.on_verdict(&node, None);
                warn!(?node, error = %e, "PoC challenge could not be judged");
                return;
            }
        };
        self.poc.planner.on_verdict(&node, Some(&v));
        let elapsed_ms = v.elapsed_ns.map(|ns| ns as f64 / 1e6);
        let e = v.e as f64 / emc_types::E_SCALE as f64;
        let short = hex::encode(&node.0[..6]);
        let before = self
            .poc
            .status
            .get()
            .nodes
            .get(&hex::encode(node.0))
            .map(|s| s.passed);
        if before == Some(!v.passed) {
            // The verdict about this node turned: a milestone.
            if v.passed {
                info!(target: MILESTONE, node = %short, round = round_height, e, "PoC: compute node passes");
            } else {
                info!(target: MILESTONE, node = %short, round = round_height, reason = ?v.reason, "PoC: compute node fails");
            }
        }
        if v.passed {
            info!(
                ?node,
                round = round_height,
                e,
                e_fixed = v.e,
                rounds = v.rounds.unwrap_or(0),
                elapsed_ms,
                "PoC passed"
            );
        } else {
            info!(?node, round = round_height, reason = ?v.reason, elapsed_ms, "PoC failed");
        }
        self.node.app_mut().record_poc(node, v.e, v.passed);
        self.poc
            .status
            .update(|s| s.record(&node, round_height, &v));
    }

    /// Reads the live view, and the snapshots of the current and the next epoch that the
    /// application does not hold yet, in a task of its own.
    fn refresh(&mut self) {
        if self.pending_view {
            return;
        }
        self.pending_view = true;
        let ic = self.ic.clone();
        let tx = self.internal_tx.clone();
        let height = self.node.height();
        let app = self.node.app();
        let current = app.epoch();
        let wanted: Vec<u64> = [current, current.saturating_add(1)]
            .into_iter()
            .filter(|e| !app.has_snapshot(*e))
            .collect();
        tokio::spawn(
            async move {
                let view = ic
                    .chain_view(height)
                    .await
                    .inspect_err(|e| warn!(error = %e, "registry refresh failed"))
                    .ok();
                let mut snapshots = Vec::new();
                for epoch in wanted {
                    match ic.epoch_nodes(epoch).await {
                        // Not taken yet: the registry takes it when the epoch starts.
                        Ok(None)
                            if view
                                .as_ref()
                                .is_none_or(|v| !v.sets.iter().any(|s| s.epoch == epoch)) => {}
                        Ok(nodes) => snapshots.push((epoch, nodes)),
                        Err(e) => warn!(epoch, error = %e, "epoch snapshot unreadable"),
                    }
                }
                let _ = tx.send(Internal::View(view, snapshots)).await;
            }
            .in_current_span(),
        );
    }

    fn apply_view(&mut self, view: ChainView) {
        // The nodes it works with are dialed (validators for consensus, routers for relays,
        // compute nodes of the epoch's snapshot for probes and PoC challenges): a free
        // registration alone makes no validator dial it.
        let me = self.me;
        let work = view.work_nodes(self.node.app().snapshot_nodes().as_ref());
        let wanted = view.addresses(|n| n.id != me && work.contains(&n.id));
        self.authorizer
            .replace_all(emc_node_common::ic::authorized(&view));
        emc_node_common::ic::sync_dials(&self.net, &mut self.dialed, wanted);
        let gone: Vec<NodeId> = self
            .view
            .nodes
            .keys()
            .filter(|k| !view.nodes.contains_key(k))
            .copied()
            .collect();
        for g in gone {
            self.node.app_mut().forget(&g);
        }
        for set in &view.sets {
            if !set.members.is_empty() && !self.sets_fed.contains(&set.epoch) {
                self.sets_waiting.insert(set.epoch, set.clone());
            }
        }
        let n = view.nodes.len();
        self.view = view;
        self.status.update(|s| s.registered_nodes = n);
        self.feed_waiting_sets();
    }

    /// Feeds consensus the sets whose epoch's snapshot the application holds (or that are of
    /// epochs it has closed): no epoch starts here without the records it will close with.
    fn feed_waiting_sets(&mut self) {
        let app = self.node.app();
        let ready: Vec<u64> = self
            .sets_waiting
            .keys()
            .copied()
            .filter(|e| *e < app.epoch() || app.has_snapshot(*e))
            .collect();
        for epoch in ready {
            if let Some(set) = self.sets_waiting.remove(&epoch) {
                self.feed_set(set);
            }
        }
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
        self.node
            .app_mut()
            .set_members(set.epoch, set.members.clone());
        let effects = self.node.step(Input::ValidatorSet(set), now_ns());
        self.apply(effects);
    }

    /// At an epoch boundary: keep what `emc_edge_core::retention` keeps. Once an epoch
    /// (43,200 blocks), so the rewrite's IO is inline.
    fn compact_log(&mut self) {
        let (height, l) = (self.node.height(), self.cfg.epoch_length);
        if let Err(e) = self.wal.retain(|r| keeps(r, height, l)) {
            warn!(error = %e, "write-ahead log compaction failed (the log keeps growing)");
        }
    }
}
