//! The QBFT state machine: [`Node::step`] takes one [`Input`] and the current time and returns
//! the [`Effect`]s to carry out, in order.

use crate::codec::{decode, encode};
use crate::config::{Config, ConfigError};
use crate::crypto::{
    checkpoint_signing_bytes, vote_signing_bytes, Ed25519Verifier, Signer, Verifier,
};
use crate::message::{
    verify_committed, CommittedBlock, Message, PreparedCertificate, Round, RoundChange, Seal,
    SignedRoundChange, SignedVote, Vote, VoteKind,
};
use crate::metrics::Metrics;
use emc_types::{
    Block, Checkpoint, CheckpointSignature, Hash, NodeId, Signature, StateBit, SummaryAccumulator,
    ValidatorSet, ZERO_HASH,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The application: builds block payloads and decides their validity. Consensus never looks
/// inside state bits; it only asks this trait. All methods must be deterministic functions of
/// their arguments and of the committed chain, or honest nodes would disagree.
pub trait Application {
    /// The state bits for a new block at `height` proposed at `now_ns`.
    fn propose(&mut self, height: u64, now_ns: u64) -> Vec<StateBit>;
    /// Whether `block`'s payload is acceptable (`Err` carries a reason for logs).
    fn validate(&self, block: &Block) -> Result<(), String>;
    /// `block` is decided: apply it to the application's state. Called once per height, in
    /// order, before [`Application::state_root`] is asked about the same block. (A node
    /// rebuilt with [`Node::restore`] does not replay its log through this: the shell restores
    /// the application's state itself.)
    fn on_commit(&mut self, _block: &Block) {}
    /// The application's state root after `block`, the last block of a checkpoint period.
    /// The default is the block hash, which commits to the whole chain of state bits.
    fn state_root(&self, block: &Block) -> Hash {
        block.hash()
    }
}

/// Which timer fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerKind {
    /// The round-0 proposer's block interval has passed: time to propose.
    Propose,
    /// The round's timeout: move to the next round.
    Round,
}

/// A timer: scheduled by [`Effect::ScheduleTimeout`], fed back as [`Input::Timeout`].
/// Timers are never cancelled; a stale one is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timer {
    /// Height it was set for.
    pub height: u64,
    /// Round it was set for.
    pub round: Round,
    /// Its kind.
    pub kind: TimerKind,
}

/// What the shell feeds into [`Node::step`].
#[derive(Clone, Debug)]
pub enum Input<'a> {
    /// Start (or restart, after [`Node::restore`]): arms timers and re-sends the votes of the
    /// current height found in the log. Other inputs are ignored until this one.
    Start,
    /// Bytes from a peer. `from` is the transport-authenticated peer (sync answers go to it);
    /// the message's own signatures decide whose votes it carries.
    Message {
        /// The peer the bytes came from.
        from: NodeId,
        /// The encoded message (untrusted).
        bytes: &'a [u8],
    },
    /// A timer scheduled earlier is due.
    Timeout(Timer),
    /// The registry's validator set for an epoch (normally the next one).
    ValidatorSet(ValidatorSet),
}

/// What the shell must do, in the order given. A [`Effect::Persist`] must be durable before
/// any later effect of the same step is carried out.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // short-lived values, moved once to the shell
pub enum Effect {
    /// Append the record to the write-ahead log (durably) before going on.
    Persist(WalRecord),
    /// Send the bytes to one peer.
    Send {
        /// The peer.
        to: NodeId,
        /// Encoded message.
        bytes: Vec<u8>,
    },
    /// Send the bytes to every other validator.
    Broadcast {
        /// Encoded message.
        bytes: Vec<u8>,
    },
    /// Feed [`Input::Timeout`] with `timer` at time `at_ns`.
    ScheduleTimeout {
        /// The timer.
        timer: Timer,
        /// When it is due.
        at_ns: u64,
    },
    /// A block is decided: apply it to the application (heights come strictly in order).
    CommitBlock(CommittedBlock),
    /// A quorum of the epoch's validators signed `checkpoint`: submit it to the IC.
    CheckpointReady {
        /// The checkpoint.
        checkpoint: Checkpoint,
        /// At least a quorum of signatures by distinct members, in set order.
        signatures: Vec<CheckpointSignature>,
    },
}

/// The chain as seen after the last committed block (carried in the log so that a restarted
/// node resumes its checkpoint period).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainState {
    /// Height of the last committed block (0: genesis).
    pub height: u64,
    /// Its hash (the genesis hash at height 0).
    pub last_hash: Hash,
    /// Its timestamp.
    pub last_timestamp_ns: u64,
    /// The running summaries of the current checkpoint period.
    pub summary: SummaryAccumulator,
    /// The last checkpoint made, if any.
    pub last_checkpoint: Option<Checkpoint>,
}

/// A write-ahead log record. Replaying a node's records with [`Node::restore`] rebuilds
/// everything it must remember to stay safe: the committed chain, the validator sets, and
/// every vote it signed at the current height.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // short-lived values, moved once to the shell
pub enum WalRecord {
    /// A vote (proposal, prepare, commit or round change) about to be sent.
    Sent(Message),
    /// The node became prepared at `height`.
    Prepared {
        /// The height.
        height: u64,
        /// The certificate.
        cert: PreparedCertificate,
    },
    /// A block was committed; `chain` is the state after it.
    Committed {
        /// The block with its seals.
        block: CommittedBlock,
        /// The chain after it.
        chain: ChainState,
    },
    /// A validator set was learned.
    ValidatorSet(ValidatorSet),
}

impl WalRecord {
    /// The height the record is about: records of heights below the last committed one may
    /// be pruned, except the last `Committed` ones (kept for block sync) and validator sets.
    pub fn height(&self) -> Option<u64> {
        match self {
            WalRecord::Sent(m) => m.height(),
            WalRecord::Prepared { height, .. } => Some(*height),
            WalRecord::Committed { chain, .. } => Some(chain.height),
            WalRecord::ValidatorSet(_) => None,
        }
    }
}

/// Errors from building a node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// The configuration is invalid.
    #[error("config: {0}")]
    Config(#[from] ConfigError),
}

#[derive(Clone, Debug)]
struct RcEntry {
    rc: SignedRoundChange,
    block: Option<Block>,
    prepares: Vec<SignedVote>,
}

/// State of the height being decided.
#[derive(Debug)]
struct HeightState {
    height: u64,
    round: Round,
    /// `None` while the validator set of the height's epoch is unknown.
    set: Option<ValidatorSet>,
    /// Candidate blocks by hash (accepted proposals, prepared blocks).
    blocks: BTreeMap<Hash, Block>,
    /// The proposal accepted in each round.
    accepted: BTreeMap<Round, Hash>,
    prepares: BTreeMap<Round, BTreeMap<NodeId, SignedVote>>,
    commits: BTreeMap<Round, BTreeMap<NodeId, SignedVote>>,
    round_changes: BTreeMap<Round, BTreeMap<NodeId, RcEntry>>,
    /// Highest round each member has sent a valid round change for.
    highest_rc: BTreeMap<NodeId, Round>,
    prepared: Option<PreparedCertificate>,
    /// Every vote this node signed at this height: the equivocation guard.
    sent_votes: BTreeMap<(VoteKind, Round), Hash>,
    sent_rc: BTreeSet<Round>,
    /// Votes restored from the log, re-sent on start.
    resend: Vec<Message>,
    sync_asked: BTreeSet<NodeId>,
}

impl HeightState {
    fn new(height: u64, set: Option<ValidatorSet>) -> Self {
        HeightState {
            height,
            round: 0,
            set,
            blocks: BTreeMap::new(),
            accepted: BTreeMap::new(),
            prepares: BTreeMap::new(),
            commits: BTreeMap::new(),
            round_changes: BTreeMap::new(),
            highest_rc: BTreeMap::new(),
            prepared: None,
            sent_votes: BTreeMap::new(),
            sent_rc: BTreeSet::new(),
            resend: Vec::new(),
            sync_asked: BTreeSet::new(),
        }
    }
}

#[derive(Debug)]
struct CheckpointState {
    checkpoint: Checkpoint,
    hash: Hash,
    bytes: Vec<u8>,
    set: ValidatorSet,
    sigs: BTreeMap<NodeId, Signature>,
    own: Option<Signature>,
    done: bool,
    /// When we last answered a peer's re-sent signature with ours (rate limit: two nodes
    /// answering each other must not ping-pong).
    answered: BTreeMap<NodeId, u64>,
}

/// Early checkpoint signatures kept per claimed signer (unverified until the checkpoint is
/// known, so a few per signer to stop a forger from crowding out the real one).
const EARLY_SIGS_PER_SIGNER: usize = 3;
/// Future-height messages kept per signer.
const FUTURE_PER_SIGNER: usize = 16;

/// The proposer of `(height, round)`: round-robin over the set's order.
pub fn proposer(set: &ValidatorSet, height: u64, round: Round) -> Option<NodeId> {
    let n = set.len() as u64;
    if n == 0 {
        return None;
    }
    let idx = height.wrapping_add(u64::from(round)) % n;
    set.members.get(usize::try_from(idx).ok()?).copied()
}

/// One validator's (or observer's) consensus state machine.
pub struct Node<A, S, V = Ed25519Verifier> {
    cfg: Config,
    app: A,
    signer: S,
    verifier: V,
    me: NodeId,
    sets: BTreeMap<u64, ValidatorSet>,
    chain: ChainState,
    recent: VecDeque<CommittedBlock>,
    cur: HeightState,
    started: bool,
    now: u64,
    out: Vec<Effect>,
    /// Verified messages for the current height waiting to be handled (own votes, replays).
    queue: VecDeque<Message>,
    /// Verified messages for the next height.
    future: Vec<(NodeId, Message)>,
    /// Decided blocks received ahead of the current height.
    sync_buf: BTreeMap<u64, CommittedBlock>,
    served: BTreeMap<NodeId, (u64, u64)>,
    checkpoints: BTreeMap<u64, CheckpointState>,
    early_sigs: BTreeMap<u64, BTreeMap<NodeId, Vec<(Hash, Signature)>>>,
    metrics: Metrics,
}

impl<A: Application, S: Signer, V: Verifier> Node<A, S, V> {
    /// A fresh node at genesis.
    pub fn new(cfg: Config, app: A, signer: S, verifier: V) -> Result<Self, NodeError> {
        cfg.validate()?;
        let mut sets = BTreeMap::new();
        sets.insert(0, cfg.genesis_set.clone());
        let chain = ChainState {
            height: 0,
            last_hash: cfg.genesis_hash,
            last_timestamp_ns: cfg.genesis_timestamp_ns,
            summary: SummaryAccumulator::new(),
            last_checkpoint: None,
        };
        let me = signer.node_id();
        let cur = HeightState::new(1, Some(cfg.genesis_set.clone()));
        Ok(Node {
            cfg,
            app,
            signer,
            verifier,
            me,
            sets,
            chain,
            recent: VecDeque::new(),
            cur,
            started: false,
            now: 0,
            out: Vec::new(),
            queue: VecDeque::new(),
            future: Vec::new(),
            sync_buf: BTreeMap::new(),
            served: BTreeMap::new(),
            checkpoints: BTreeMap::new(),
            early_sigs: BTreeMap::new(),
            metrics: Metrics::default(),
        })
    }

    /// Rebuilds a node from its write-ahead log (records in the order they were persisted).
    /// Feed [`Input::Start`] next.
    pub fn restore(
        cfg: Config,
        app: A,
        signer: S,
        verifier: V,
        log: &[WalRecord],
    ) -> Result<Self, NodeError> {
        let mut node = Self::new(cfg, app, signer, verifier)?;
        for rec in log {
            match rec {
                WalRecord::ValidatorSet(s) if s.check().is_ok() => {
                    node.sets.entry(s.epoch).or_insert_with(|| s.clone());
                }
                WalRecord::Committed { block, chain } if chain.height > node.chain.height => {
                    node.chain = chain.clone();
                    node.push_recent(block.clone());
                }
                _ => {}
            }
        }
        let h = node.chain.height + 1;
        node.cur = HeightState::new(h, node.set_for_height(h));
        let me = node.me;
        for rec in log {
            match rec {
                WalRecord::Sent(msg) if msg.height() == Some(h) => {
                    node.restore_sent(me, msg);
                }
                WalRecord::Prepared { height, cert } if *height == h => {
                    let better = node
                        .cur
                        .prepared
                        .as_ref()
                        .is_none_or(|p| p.round < cert.round);
                    if better {
                        node.cur
                            .blocks
                            .insert(cert.block.hash(), cert.block.clone());
                        node.cur.round = node.cur.round.max(cert.round);
                        node.cur.prepared = Some(cert.clone());
                    }
                }
                _ => {}
            }
        }
        // The last checkpoint may still lack signatures: sign it again (ed25519 signatures
        // are deterministic, so this is the same signature as before the crash).
        if let Some(cp) = node.chain.last_checkpoint.clone() {
            if node.chain.height.saturating_sub(cp.height) < node.cfg.checkpoint_interval {
                node.open_checkpoint(cp, false);
            }
        }
        Ok(node)
    }

    fn restore_sent(&mut self, me: NodeId, msg: &Message) {
        let cur = &mut self.cur;
        match msg {
            Message::Proposal {
                proposal, block, ..
            } => {
                let r = proposal.vote.round;
                cur.sent_votes
                    .insert((VoteKind::Proposal, r), proposal.vote.digest);
                cur.accepted.insert(r, proposal.vote.digest);
                cur.blocks.insert(proposal.vote.digest, block.clone());
                cur.round = cur.round.max(r);
            }
            Message::Prepare(v) => {
                cur.sent_votes
                    .insert((VoteKind::Prepare, v.vote.round), v.vote.digest);
                cur.prepares
                    .entry(v.vote.round)
                    .or_default()
                    .insert(me, v.clone());
                cur.round = cur.round.max(v.vote.round);
            }
            Message::Commit(v) => {
                cur.sent_votes
                    .insert((VoteKind::Commit, v.vote.round), v.vote.digest);
                cur.commits
                    .entry(v.vote.round)
                    .or_default()
                    .insert(me, v.clone());
                cur.round = cur.round.max(v.vote.round);
            }
            Message::RoundChange {
                round_change,
                prepared_block,
                prepares,
            } => {
                let r = round_change.body.round;
                cur.sent_rc.insert(r);
                cur.highest_rc.insert(me, r);
                cur.round_changes.entry(r).or_default().insert(
                    me,
                    RcEntry {
                        rc: round_change.clone(),
                        block: prepared_block.clone(),
                        prepares: prepares.clone(),
                    },
                );
                cur.round = cur.round.max(r);
            }
            _ => return,
        }
        cur.resend.push(msg.clone());
    }

    /// The node's id (its public key).
    pub fn id(&self) -> NodeId {
        self.me
    }

    /// Height being decided (last committed + 1).
    pub fn height(&self) -> u64 {
        self.cur.height
    }

    /// Current round.
    pub fn round(&self) -> Round {
        self.cur.round
    }

    /// The committed chain's state.
    pub fn chain(&self) -> &ChainState {
        &self.chain
    }

    /// Counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The application.
    pub fn app(&self) -> &A {
        &self.app
    }

    /// The application, for the shell to feed it (observations to propose, outside facts).
    /// Whatever it changes must keep [`Application::validate`] and
    /// [`Application::state_root`] deterministic across honest nodes.
    pub fn app_mut(&mut self) -> &mut A {
        &mut self.app
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The validator set of the epoch of `height`, if known.
    pub fn set_for_height(&self, height: u64) -> Option<ValidatorSet> {
        self.sets.get(&self.cfg.epoch_of(height)).cloned()
    }

    /// The single entry point: handles `input` at time `now_ns` and returns the effects.
    pub fn step(&mut self, input: Input<'_>, now_ns: u64) -> Vec<Effect> {
        self.now = self.now.max(now_ns);
        match input {
            Input::Start => self.on_start(),
            Input::ValidatorSet(set) => self.on_validator_set(set),
            Input::Message { from, bytes } => {
                self.metrics.received += 1;
                if self.started {
                    match decode(bytes, self.cfg.max_message_bytes) {
                        Ok(msg) => self.on_message(from, msg),
                        Err(_) => self.metrics.malformed += 1,
                    }
                } else {
                    self.metrics.stale += 1;
                }
            }
            Input::Timeout(t) => {
                if self.started {
                    self.on_timeout(t);
                }
            }
        }
        self.drain();
        std::mem::take(&mut self.out)
    }

    // ----- inputs -------------------------------------------------------------------------

    fn on_start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        if self.cur.set.is_some() {
            self.arm_timers();
        }
        for msg in std::mem::take(&mut self.cur.resend) {
            self.out.push(Effect::Broadcast {
                bytes: encode(&msg),
            });
        }
        let pending: Vec<(u64, Checkpoint)> = self
            .checkpoints
            .iter()
            .filter(|(_, st)| !st.done)
            .map(|(h, st)| (*h, st.checkpoint.clone()))
            .collect();
        for (_, cp) in pending {
            self.broadcast_own_checkpoint_sig(cp.height);
        }
    }

    fn on_validator_set(&mut self, set: ValidatorSet) {
        if set.check().is_err() {
            self.metrics.invalid += 1;
            return;
        }
        if self.sets.contains_key(&set.epoch) {
            return;
        }
        self.out
            .push(Effect::Persist(WalRecord::ValidatorSet(set.clone())));
        let epoch = set.epoch;
        self.sets.insert(epoch, set.clone());
        if self.cur.set.is_none() && self.cfg.epoch_of(self.cur.height) == epoch {
            self.cur.set = Some(set);
            if self.started {
                self.arm_timers();
            }
        }
    }

    fn on_timeout(&mut self, t: Timer) {
        if t.height != self.cur.height || t.round != self.cur.round || self.cur.set.is_none() {
            return;
        }
        match t.kind {
            TimerKind::Propose => {
                if t.round == 0 && self.is_proposer(0) {
                    self.propose_fresh(0);
                }
            }
            TimerKind::Round => {
                self.cur.sync_asked.clear();
                let pending: Vec<u64> = self
                    .checkpoints
                    .iter()
                    .filter(|(_, st)| !st.done)
                    .map(|(h, _)| *h)
                    .collect();
                for h in pending {
                    self.broadcast_own_checkpoint_sig(h);
                }
                self.advance_round(t.round.saturating_add(1), true);
            }
        }
    }

    fn on_message(&mut self, from: NodeId, msg: Message) {
        match msg {
            Message::SyncRequest { from_height } => self.serve_sync(from, from_height),
            Message::Decided(cb) => self.on_decided(cb),
            Message::Checkpoint {
                height,
                checkpoint_hash,
                signature,
            } => self.on_checkpoint_sig(from, height, checkpoint_hash, signature),
            msg => {
                let Some(h) = msg.height() else { return };
                if h < self.cur.height {
                    self.metrics.stale += 1;
                    // A peer still working on a decided height: help it catch up.
                    if matches!(msg, Message::RoundChange { .. } | Message::Proposal { .. }) {
                        self.serve_sync(from, h);
                    }
                    return;
                }
                if h > self.cur.height + 1 {
                    self.metrics.future_dropped += 1;
                    self.request_sync(from);
                    return;
                }
                let set = if h == self.cur.height {
                    self.cur.set.clone()
                } else {
                    self.set_for_height(h)
                };
                let Some(set) = set else {
                    self.metrics.future_dropped += 1;
                    return;
                };
                if h == self.cur.height && self.is_duplicate(&msg) {
                    self.metrics.duplicate += 1;
                    return;
                }
                if let Message::Proposal { proposal, .. } = &msg {
                    // Cheap checks before verifying a possibly long justification.
                    let r = proposal.vote.round;
                    if proposer(&set, h, r) != Some(proposal.signer)
                        || r > self.cur.round.saturating_add(self.cfg.round_window)
                    {
                        self.metrics.invalid += 1;
                        return;
                    }
                }
                if !signers_are_members(&msg, &set) {
                    self.metrics.not_validator += 1;
                    return;
                }
                if !self.signatures_valid(&msg) {
                    self.metrics.bad_signature += 1;
                    return;
                }
                if h == self.cur.height {
                    self.handle(msg);
                } else {
                    self.buffer_future(msg);
                }
            }
        }
    }

    fn buffer_future(&mut self, msg: Message) {
        let Some(signer) = top_signer(&msg) else {
            return;
        };
        let count = self.future.iter().filter(|(s, _)| *s == signer).count();
        if count >= FUTURE_PER_SIGNER {
            self.metrics.future_dropped += 1;
            return;
        }
        self.metrics.future_buffered += 1;
        self.future.push((signer, msg));
    }

    /// Cheap check before signature verification: the very same vote is already stored.
    fn is_duplicate(&self, msg: &Message) -> bool {
        let cur = &self.cur;
        match msg {
            Message::Prepare(v) => cur
                .prepares
                .get(&v.vote.round)
                .and_then(|m| m.get(&v.signer))
                .is_some_and(|s| s == v),
            Message::Commit(v) => cur
                .commits
                .get(&v.vote.round)
                .and_then(|m| m.get(&v.signer))
                .is_some_and(|s| s == v),
            Message::RoundChange { round_change, .. } => cur
                .round_changes
                .get(&round_change.body.round)
                .and_then(|m| m.get(&round_change.signer))
                .is_some_and(|e| e.rc == *round_change),
            Message::Proposal { proposal, .. } => {
                cur.accepted.get(&proposal.vote.round) == Some(&proposal.vote.digest)
            }
            _ => false,
        }
    }

    fn signatures_valid(&self, msg: &Message) -> bool {
        let v = &self.verifier;
        match msg {
            Message::Proposal {
                proposal,
                round_changes,
                prepares,
                ..
            } => {
                proposal.verify(VoteKind::Proposal, v)
                    && round_changes.iter().all(|rc| rc.verify(v))
                    && prepares.iter().all(|p| p.verify(VoteKind::Prepare, v))
            }
            Message::Prepare(p) => p.verify(VoteKind::Prepare, v),
            Message::Commit(c) => c.verify(VoteKind::Commit, v),
            Message::RoundChange {
                round_change,
                prepares,
                ..
            } => round_change.verify(v) && prepares.iter().all(|p| p.verify(VoteKind::Prepare, v)),
            _ => false,
        }
    }

    /// Handles a message for the current height whose signatures are valid.
    fn handle(&mut self, msg: Message) {
        if msg.height() != Some(self.cur.height) {
            return;
        }
        match msg {
            Message::Proposal {
                proposal,
                block,
                round_changes,
                prepares,
            } => self.on_proposal(proposal, block, round_changes, prepares),
            Message::Prepare(v) => self.on_prepare(v),
            Message::Commit(v) => self.on_commit(v),
            Message::RoundChange {
                round_change,
                prepared_block,
                prepares,
            } => self.on_round_change(round_change, prepared_block, prepares),
            _ => {}
        }
    }

    fn drain(&mut self) {
        loop {
            if self.cur.set.is_some() {
                if let Some(cb) = self.sync_buf.remove(&self.cur.height) {
                    self.apply_synced(cb);
                    continue;
                }
            }
            if let Some(msg) = self.queue.pop_front() {
                self.handle(msg);
                continue;
            }
            break;
        }
    }

    // ----- QBFT rules ---------------------------------------------------------------------

    fn quorum(&self) -> usize {
        self.cur
            .set
            .as_ref()
            .map_or(usize::MAX, ValidatorSet::quorum)
    }

    fn is_proposer(&self, round: Round) -> bool {
        self.cur
            .set
            .as_ref()
            .and_then(|s| proposer(s, self.cur.height, round))
            == Some(self.me)
    }

    fn is_member(&self) -> bool {
        self.cur.set.as_ref().is_some_and(|s| s.contains(&self.me))
    }

    fn in_window(&self, round: Round) -> bool {
        round >= self.cur.round && round - self.cur.round <= self.cfg.round_window
    }

    /// Checks a candidate block for the current height.
    fn check_block(&self, block: &Block) -> bool {
        let h = &block.header;
        let member = self
            .cur
            .set
            .as_ref()
            .is_some_and(|s| s.contains(&h.proposer));
        h.height == self.cur.height
            && h.parent_hash == self.chain.last_hash
            && h.timestamp_ns >= self.chain.last_timestamp_ns
            && member
            && block.bits.len() <= self.cfg.max_block_bits
            && block.payload_matches()
            && self.app.validate(block).is_ok()
    }

    /// A quorum of prepares by distinct members for `(height, round, digest)`.
    fn valid_prepare_cert(&self, round: Round, digest: Hash, prepares: &[SignedVote]) -> bool {
        let want = Vote {
            height: self.cur.height,
            round,
            digest,
        };
        let mut signers = BTreeSet::new();
        for p in prepares {
            if p.vote != want || !signers.insert(p.signer) {
                return false;
            }
        }
        signers.len() >= self.quorum()
    }

    fn on_proposal(
        &mut self,
        proposal: SignedVote,
        block: Block,
        round_changes: Vec<SignedRoundChange>,
        prepares: Vec<SignedVote>,
    ) {
        let v = proposal.vote;
        let r = v.round;
        if !self.in_window(r) {
            self.metrics.stale += 1;
            return;
        }
        let Some(set) = self.cur.set.clone() else {
            return;
        };
        if proposer(&set, v.height, r) != Some(proposal.signer) || block.hash() != v.digest {
            self.metrics.invalid += 1;
            return;
        }
        if let Some(d) = self.cur.accepted.get(&r) {
            if *d == v.digest {
                self.metrics.duplicate += 1;
            } else {
                self.metrics.equivocations_seen += 1;
            }
            return;
        }
        if !self.check_block(&block)
            || !self.justified(&proposal, &block, &round_changes, &prepares)
        {
            self.metrics.invalid += 1;
            return;
        }
        if r > self.cur.round {
            self.advance_round(r, false);
        }
        self.cur.accepted.insert(r, v.digest);
        self.cur.blocks.insert(v.digest, block);
        if let Some(p) = self.sign_vote(VoteKind::Prepare, r, v.digest) {
            self.send_vote(Message::Prepare(p));
        }
        self.check_prepared(r);
        self.check_committed(r);
    }

    /// QBFT's proposal justification.
    fn justified(
        &self,
        proposal: &SignedVote,
        block: &Block,
        round_changes: &[SignedRoundChange],
        prepares: &[SignedVote],
    ) -> bool {
        let r = proposal.vote.round;
        let fresh_ok = block.header.proposer == proposal.signer && prepares.is_empty();
        if r == 0 {
            return round_changes.is_empty() && fresh_ok;
        }
        let mut signers = BTreeSet::new();
        for rc in round_changes {
            let b = &rc.body;
            let prepared_ok = b.prepared.is_none_or(|(pr, _)| pr < r);
            if b.height != self.cur.height || b.round != r || !prepared_ok {
                return false;
            }
            if !signers.insert(rc.signer) {
                return false;
            }
        }
        if signers.len() < self.quorum() {
            return false;
        }
        let highest = round_changes
            .iter()
            .filter_map(|rc| rc.body.prepared)
            .map(|(pr, _)| pr)
            .max();
        match highest {
            None => fresh_ok,
            Some(pr) => {
                let digest = proposal.vote.digest;
                round_changes
                    .iter()
                    .any(|rc| rc.body.prepared == Some((pr, digest)))
                    && self.valid_prepare_cert(pr, digest, prepares)
            }
        }
    }

    fn on_prepare(&mut self, p: SignedVote) {
        let r = p.vote.round;
        if !self.in_window(r) {
            self.metrics.stale += 1;
            return;
        }
        if record_vote(
            self.cur.prepares.entry(r).or_default(),
            p,
            &mut self.metrics,
        ) {
            self.check_prepared(r);
        }
    }

    /// PREPARE quorum for the accepted proposal of the current round: become prepared and
    /// send COMMIT.
    fn check_prepared(&mut self, r: Round) {
        if r != self.cur.round || self.cur.sent_votes.contains_key(&(VoteKind::Commit, r)) {
            return;
        }
        let Some(&digest) = self.cur.accepted.get(&r) else {
            return;
        };
        let matching: Vec<SignedVote> = self
            .cur
            .prepares
            .get(&r)
            .map(|m| {
                m.values()
                    .filter(|p| p.vote.digest == digest)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if matching.len() < self.quorum() {
            return;
        }
        let Some(block) = self.cur.blocks.get(&digest).cloned() else {
            return;
        };
        let cert = PreparedCertificate {
            round: r,
            block,
            prepares: matching,
        };
        self.out.push(Effect::Persist(WalRecord::Prepared {
            height: self.cur.height,
            cert: cert.clone(),
        }));
        self.cur.prepared = Some(cert);
        if let Some(c) = self.sign_vote(VoteKind::Commit, r, digest) {
            self.send_vote(Message::Commit(c));
        }
    }

    fn on_commit(&mut self, c: SignedVote) {
        let r = c.vote.round;
        if r > self.cur.round.saturating_add(self.cfg.round_window) {
            self.metrics.stale += 1;
            return;
        }
        if record_vote(self.cur.commits.entry(r).or_default(), c, &mut self.metrics) {
            self.check_committed(r);
        }
    }

    /// COMMIT quorum for a known block in round `r`: decide.
    fn check_committed(&mut self, r: Round) {
        let q = self.quorum();
        let Some(commits) = self.cur.commits.get(&r) else {
            return;
        };
        let mut by_digest: BTreeMap<Hash, Vec<Seal>> = BTreeMap::new();
        for c in commits.values() {
            by_digest.entry(c.vote.digest).or_default().push(Seal {
                signer: c.signer,
                signature: c.signature,
            });
        }
        let Some((digest, seals)) = by_digest.into_iter().find(|(_, s)| s.len() >= q) else {
            return;
        };
        let Some(block) = self.cur.blocks.get(&digest).cloned() else {
            return;
        };
        if !block.payload_matches() {
            // Unreachable: only checked blocks are kept. Never commit one that fails.
            self.metrics.invalid += 1;
            return;
        }
        self.apply_committed(CommittedBlock {
            block,
            round: r,
            seals,
        });
    }

    fn on_round_change(
        &mut self,
        rc: SignedRoundChange,
        block: Option<Block>,
        prepares: Vec<SignedVote>,
    ) {
        let r = rc.body.round;
        if r < self.cur.round || r == 0 {
            self.metrics.stale += 1;
            return;
        }
        let valid = match (&rc.body.prepared, &block) {
            (None, None) => prepares.is_empty(),
            (Some((pr, pd)), Some(b)) => {
                // The block must match its header (the digest covers the header only) and
                // be valid: it may be decided from this copy.
                *pr < r
                    && b.hash() == *pd
                    && self.check_block(b)
                    && self.valid_prepare_cert(*pr, *pd, &prepares)
            }
            _ => false,
        };
        if !valid {
            self.metrics.invalid += 1;
            return;
        }
        let signer = rc.signer;
        let highest = self.cur.highest_rc.entry(signer).or_insert(r);
        *highest = (*highest).max(r);
        if self.in_window(r) {
            let slot = self.cur.round_changes.entry(r).or_default();
            if let Some(old) = slot.get(&signer) {
                if old.rc.body != rc.body {
                    self.metrics.equivocations_seen += 1;
                } else {
                    self.metrics.duplicate += 1;
                }
            } else {
                if let (Some(b), Some((_, pd))) = (&block, rc.body.prepared) {
                    self.cur.blocks.entry(pd).or_insert_with(|| b.clone());
                }
                slot.insert(
                    signer,
                    RcEntry {
                        rc,
                        block,
                        prepares,
                    },
                );
            }
        }
        self.check_round_jump();
        self.try_propose_after_round_change();
    }

    /// F+1 members are in rounds above ours: at least one honest node timed out; join the
    /// lowest round that F+1 of them reached.
    fn check_round_jump(&mut self) {
        let Some(set) = &self.cur.set else { return };
        let f = set.max_faulty();
        let mut rounds: Vec<Round> = self
            .cur
            .highest_rc
            .values()
            .copied()
            .filter(|r| *r > self.cur.round)
            .collect();
        if rounds.len() < f + 1 {
            return;
        }
        rounds.sort_unstable_by(|a, b| b.cmp(a));
        if let Some(&target) = rounds.get(f) {
            self.advance_round(target, true);
        }
    }

    /// A quorum of round changes for our round and we are its proposer: propose the highest
    /// prepared value among them, or a fresh block.
    fn try_propose_after_round_change(&mut self) {
        let r = self.cur.round;
        let q = self.quorum();
        if r == 0
            || !self.is_proposer(r)
            || self.cur.sent_votes.contains_key(&(VoteKind::Proposal, r))
        {
            return;
        }
        let Some(rcs) = self.cur.round_changes.get(&r) else {
            return;
        };
        if rcs.len() < q {
            return;
        }
        let mut entries: Vec<&RcEntry> = rcs.values().collect();
        // Highest prepared first, then the rest; keep a quorum of them.
        entries.sort_by_key(|e| std::cmp::Reverse(e.rc.body.prepared.map(|(pr, _)| pr)));
        entries.truncate(q);
        let round_changes: Vec<SignedRoundChange> = entries.iter().map(|e| e.rc.clone()).collect();
        let highest = entries
            .first()
            .filter(|e| e.rc.body.prepared.is_some())
            .map(|e| (e.block.clone(), e.prepares.clone()));
        let (block, prepares) = match highest {
            Some((Some(block), prepares)) => (block, prepares),
            Some((None, _)) => return,
            None => match self.fresh_block() {
                Some(b) => (b, Vec::new()),
                None => return,
            },
        };
        self.send_proposal(r, block, round_changes, prepares);
    }

    fn fresh_block(&mut self) -> Option<Block> {
        let h = self.cur.height;
        let bits = self.app.propose(h, self.now);
        let ts = self.now.max(self.chain.last_timestamp_ns);
        let block = Block::new(h, self.chain.last_hash, self.me, ts, bits);
        if self.check_block(&block) {
            Some(block)
        } else {
            self.metrics.invalid += 1;
            None
        }
    }

    fn propose_fresh(&mut self, r: Round) {
        if self.cur.sent_votes.contains_key(&(VoteKind::Proposal, r)) {
            return;
        }
        if let Some(block) = self.fresh_block() {
            self.send_proposal(r, block, Vec::new(), Vec::new());
        }
    }

    fn send_proposal(
        &mut self,
        r: Round,
        block: Block,
        round_changes: Vec<SignedRoundChange>,
        prepares: Vec<SignedVote>,
    ) {
        let Some(proposal) = self.sign_vote(VoteKind::Proposal, r, block.hash()) else {
            return;
        };
        self.metrics.proposals_made += 1;
        self.send_vote(Message::Proposal {
            proposal,
            block,
            round_changes,
            prepares,
        });
    }

    /// Moves to round `r` (> current): re-arms the round timer and, unless the move comes
    /// from a justified proposal, broadcasts ROUND-CHANGE.
    fn advance_round(&mut self, r: Round, send_round_change: bool) {
        if r <= self.cur.round {
            return;
        }
        self.cur.round = r;
        self.cur.prepares = self.cur.prepares.split_off(&r);
        self.cur.round_changes = self.cur.round_changes.split_off(&r);
        self.arm_timers();
        if send_round_change && self.is_member() && !self.cur.sent_rc.contains(&r) {
            self.metrics.round_changes += 1;
            let prepared = self
                .cur
                .prepared
                .as_ref()
                .map(|c| (c.round, c.block.hash()));
            let body = RoundChange {
                height: self.cur.height,
                round: r,
                prepared,
            };
            let signature = self
                .signer
                .sign(&crate::crypto::round_change_signing_bytes(&body));
            self.cur.sent_rc.insert(r);
            let (prepared_block, prepares) = match &self.cur.prepared {
                Some(c) => (Some(c.block.clone()), c.prepares.clone()),
                None => (None, Vec::new()),
            };
            self.send_vote(Message::RoundChange {
                round_change: SignedRoundChange {
                    body,
                    signer: self.me,
                    signature,
                },
                prepared_block,
                prepares,
            });
        }
        self.check_prepared(r);
        self.try_propose_after_round_change();
    }

    fn arm_timers(&mut self) {
        let (h, r) = (self.cur.height, self.cur.round);
        self.out.push(Effect::ScheduleTimeout {
            timer: Timer {
                height: h,
                round: r,
                kind: TimerKind::Round,
            },
            at_ns: self.now.saturating_add(self.cfg.round_timeout(r)),
        });
        if r == 0
            && self.is_proposer(0)
            && !self.cur.sent_votes.contains_key(&(VoteKind::Proposal, 0))
        {
            let at = self
                .chain
                .last_timestamp_ns
                .saturating_add(self.cfg.block_interval_ns)
                .max(self.now);
            self.out.push(Effect::ScheduleTimeout {
                timer: Timer {
                    height: h,
                    round: 0,
                    kind: TimerKind::Propose,
                },
                at_ns: at,
            });
        }
    }

    /// The equivocation guard: signs `(kind, height, round, digest)` unless this node already
    /// signed a vote of that kind in that round (for another digest: refused and counted).
    fn sign_vote(&mut self, kind: VoteKind, round: Round, digest: Hash) -> Option<SignedVote> {
        if !self.is_member() {
            // An observer (not in this epoch's set) follows the chain but never votes.
            return None;
        }
        match self.cur.sent_votes.get(&(kind, round)) {
            Some(d) if *d == digest => return None,
            Some(_) => {
                self.metrics.votes_refused += 1;
                return None;
            }
            None => {}
        }
        self.cur.sent_votes.insert((kind, round), digest);
        let vote = Vote {
            height: self.cur.height,
            round,
            digest,
        };
        let signature = self.signer.sign(&vote_signing_bytes(kind, &vote));
        Some(SignedVote {
            vote,
            signer: self.me,
            signature,
        })
    }

    /// Persist, then broadcast, then handle locally.
    fn send_vote(&mut self, msg: Message) {
        self.out.push(Effect::Persist(WalRecord::Sent(msg.clone())));
        self.out.push(Effect::Broadcast {
            bytes: encode(&msg),
        });
        self.queue.push_back(msg);
    }

    // ----- commit, sync, checkpoints ------------------------------------------------------

    fn apply_committed(&mut self, cb: CommittedBlock) {
        let block = &cb.block;
        let h = block.header.height;
        self.app.on_commit(block);
        self.chain.height = h;
        self.chain.last_hash = block.hash();
        self.chain.last_timestamp_ns = block.header.timestamp_ns;
        for bit in &block.bits {
            self.chain.summary.add(bit);
        }
        let mut checkpoint = None;
        if h % self.cfg.checkpoint_interval == 0 {
            if let Some(set) = self.set_for_height(h) {
                let cp = Checkpoint {
                    height: h,
                    epoch: self.cfg.epoch_of(h),
                    state_root: self.app.state_root(block),
                    prev_checkpoint_hash: self
                        .chain
                        .last_checkpoint
                        .as_ref()
                        .map_or(ZERO_HASH, Checkpoint::hash),
                    validator_set_id: set.id(),
                    timestamp_ns: block.header.timestamp_ns,
                    poc_root: self.chain.summary.poc,
                    liveness_root: self.chain.summary.liveness,
                    receipts_root: self.chain.summary.receipts,
                };
                self.chain.last_checkpoint = Some(cp.clone());
                self.chain.summary = SummaryAccumulator::new();
                checkpoint = Some(cp);
            }
        }
        self.metrics.blocks_committed += 1;
        self.out.push(Effect::Persist(WalRecord::Committed {
            block: cb.clone(),
            chain: self.chain.clone(),
        }));
        self.out.push(Effect::CommitBlock(cb.clone()));
        self.push_recent(cb);
        if let Some(cp) = checkpoint {
            self.open_checkpoint(cp, true);
        }
        self.enter_height(h + 1);
    }

    fn push_recent(&mut self, cb: CommittedBlock) {
        self.recent.push_back(cb);
        while self.recent.len() > self.cfg.recent_blocks {
            self.recent.pop_front();
        }
    }

    fn enter_height(&mut self, h: u64) {
        let set = self.set_for_height(h);
        self.cur = HeightState::new(h, set);
        self.queue.clear();
        self.sync_buf = self.sync_buf.split_off(&h);
        // Re-send own signatures of unfinished checkpoints now and then (they may be lost).
        let pending: Vec<u64> = self
            .checkpoints
            .iter()
            .filter(|(ch, st)| !st.done && h.saturating_sub(**ch).is_power_of_two() && h > **ch + 1)
            .map(|(ch, _)| *ch)
            .collect();
        for ch in pending {
            self.broadcast_own_checkpoint_sig(ch);
        }
        if self.cur.set.is_some() && self.started {
            self.arm_timers();
        }
        for (_, msg) in std::mem::take(&mut self.future) {
            if msg.height() == Some(h) {
                self.queue.push_back(msg);
            }
        }
    }

    fn on_decided(&mut self, cb: CommittedBlock) {
        let h = cb.block.header.height;
        let window = self.cfg.sync_batch as u64 * 2;
        if h < self.cur.height || h > self.cur.height.saturating_add(window) {
            self.metrics.stale += 1;
            return;
        }
        if self.sync_buf.get(&h).is_some_and(|b| b.block == cb.block) {
            self.metrics.duplicate += 1;
            return;
        }
        // Check the seals now when the set is known, so that a forged block cannot take the
        // slot of the real one; otherwise when the height comes.
        if let Some(set) = self.set_for_height(h) {
            if verify_committed(&cb, &set, &self.verifier).is_err() {
                self.metrics.bad_signature += 1;
                return;
            }
        }
        self.sync_buf.insert(h, cb);
    }

    fn apply_synced(&mut self, cb: CommittedBlock) {
        let Some(set) = self.cur.set.clone() else {
            return;
        };
        if verify_committed(&cb, &set, &self.verifier).is_err() {
            self.metrics.bad_signature += 1;
            return;
        }
        let h = &cb.block.header;
        if h.height != self.cur.height || h.parent_hash != self.chain.last_hash {
            self.metrics.invalid += 1;
            return;
        }
        self.metrics.blocks_synced += 1;
        self.apply_committed(cb);
    }

    fn serve_sync(&mut self, to: NodeId, from_height: u64) {
        if from_height == 0 || from_height > self.chain.height {
            return;
        }
        if let Some(&(h, at)) = self.served.get(&to) {
            if h == from_height && self.now < at.saturating_add(self.cfg.round_timeout_base_ns) {
                return;
            }
        }
        self.served.insert(to, (from_height, self.now));
        let Some(first) = self.recent.front().map(|b| b.block.header.height) else {
            return;
        };
        let start = from_height.max(first);
        let end = self
            .chain
            .height
            .min(start.saturating_add(self.cfg.sync_batch as u64 - 1));
        for h in start..=end {
            let Ok(idx) = usize::try_from(h - first) else {
                break;
            };
            if let Some(cb) = self.recent.get(idx) {
                self.metrics.sync_served += 1;
                self.out.push(Effect::Send {
                    to,
                    bytes: encode(&Message::Decided(cb.clone())),
                });
            }
        }
    }

    fn request_sync(&mut self, to: NodeId) {
        if to != self.me && self.cur.sync_asked.insert(to) {
            self.out.push(Effect::Send {
                to,
                bytes: encode(&Message::SyncRequest {
                    from_height: self.cur.height,
                }),
            });
        }
    }

    fn open_checkpoint(&mut self, cp: Checkpoint, broadcast: bool) {
        let Some(set) = self.set_for_height(cp.height) else {
            return;
        };
        let bytes = checkpoint_signing_bytes(&cp);
        let own = set.contains(&self.me).then(|| self.signer.sign(&bytes));
        let height = cp.height;
        let mut st = CheckpointState {
            hash: cp.hash(),
            checkpoint: cp,
            bytes,
            set,
            sigs: BTreeMap::new(),
            own,
            done: false,
            answered: BTreeMap::new(),
        };
        if let Some(sig) = own {
            st.sigs.insert(self.me, sig);
        }
        // Keep the last two checkpoints only.
        while self.checkpoints.len() >= 2 {
            self.checkpoints.pop_first();
        }
        self.checkpoints.insert(height, st);
        if let Some(early) = self.early_sigs.remove(&height) {
            for (signer, list) in early {
                for (hash, sig) in list {
                    self.add_checkpoint_sig(height, hash, signer, sig);
                }
            }
        }
        self.early_sigs = self.early_sigs.split_off(&height);
        if broadcast {
            self.broadcast_own_checkpoint_sig(height);
        }
        self.check_checkpoint_quorum(height);
    }

    fn broadcast_own_checkpoint_sig(&mut self, height: u64) {
        let Some(st) = self.checkpoints.get(&height) else {
            return;
        };
        let Some(sig) = st.own else { return };
        let msg = Message::Checkpoint {
            height,
            checkpoint_hash: st.hash,
            signature: CheckpointSignature {
                signer: self.me,
                signature: sig,
            },
        };
        self.out.push(Effect::Broadcast {
            bytes: encode(&msg),
        });
    }

    /// Adds a signature; returns `Some(was_new)` when it verified.
    fn add_checkpoint_sig(
        &mut self,
        height: u64,
        hash: Hash,
        signer: NodeId,
        sig: Signature,
    ) -> Option<bool> {
        let st = self.checkpoints.get_mut(&height)?;
        if hash != st.hash {
            self.metrics.checkpoint_mismatches += 1;
            return None;
        }
        if !st.set.contains(&signer) {
            self.metrics.not_validator += 1;
            return None;
        }
        if st.sigs.get(&signer) == Some(&sig) {
            return Some(false);
        }
        if !self.verifier.verify(&signer, &st.bytes, &sig) {
            self.metrics.bad_signature += 1;
            return None;
        }
        st.sigs.insert(signer, sig);
        Some(true)
    }

    fn on_checkpoint_sig(
        &mut self,
        from: NodeId,
        height: u64,
        hash: Hash,
        sig: CheckpointSignature,
    ) {
        if height == 0 || height % self.cfg.checkpoint_interval != 0 {
            self.metrics.invalid += 1;
            return;
        }
        if self.checkpoints.contains_key(&height) {
            match self.add_checkpoint_sig(height, hash, sig.signer, sig.signature) {
                Some(true) => self.check_checkpoint_quorum(height),
                Some(false) => {
                    // A re-sent signature: its sender may lack ours.
                    self.metrics.duplicate += 1;
                    let (now, pause) = (self.now, self.cfg.round_timeout_base_ns);
                    let own = self.checkpoints.get_mut(&height).and_then(|st| {
                        let last = st.answered.get(&from).copied();
                        if last.is_some_and(|t| now < t.saturating_add(pause)) {
                            return None;
                        }
                        st.answered.insert(from, now);
                        st.own
                    });
                    if let Some(own) = own {
                        let msg = Message::Checkpoint {
                            height,
                            checkpoint_hash: hash,
                            signature: CheckpointSignature {
                                signer: self.me,
                                signature: own,
                            },
                        };
                        self.out.push(Effect::Send {
                            to: from,
                            bytes: encode(&msg),
                        });
                    }
                }
                None => {}
            }
            return;
        }
        let ahead = height > self.chain.height
            && height
                <= self
                    .chain
                    .height
                    .saturating_add(2 * self.cfg.checkpoint_interval);
        let member = self
            .set_for_height(height)
            .is_none_or(|s| s.contains(&sig.signer));
        if !ahead || !member {
            self.metrics.stale += 1;
            return;
        }
        let list = self
            .early_sigs
            .entry(height)
            .or_default()
            .entry(sig.signer)
            .or_default();
        if list.len() < EARLY_SIGS_PER_SIGNER && !list.contains(&(hash, sig.signature)) {
            list.push((hash, sig.signature));
        }
    }

    fn check_checkpoint_quorum(&mut self, height: u64) {
        let Some(st) = self.checkpoints.get_mut(&height) else {
            return;
        };
        if st.done || st.sigs.len() < st.set.quorum() {
            return;
        }
        st.done = true;
        let mut signatures: Vec<CheckpointSignature> = st
            .sigs
            .iter()
            .map(|(signer, signature)| CheckpointSignature {
                signer: *signer,
                signature: *signature,
            })
            .collect();
        let set = &st.set;
        signatures.sort_by_key(|s| set.index_of(&s.signer));
        let checkpoint = st.checkpoint.clone();
        self.metrics.checkpoints_ready += 1;
        self.out.push(Effect::CheckpointReady {
            checkpoint,
            signatures,
        });
    }
}

fn top_signer(msg: &Message) -> Option<NodeId> {
    match msg {
        Message::Proposal { proposal, .. } => Some(proposal.signer),
        Message::Prepare(v) | Message::Commit(v) => Some(v.signer),
        Message::RoundChange { round_change, .. } => Some(round_change.signer),
        _ => None,
    }
}

/// Every signature in the message is by a member of `set`.
fn signers_are_members(msg: &Message, set: &ValidatorSet) -> bool {
    match msg {
        Message::Proposal {
            proposal,
            round_changes,
            prepares,
            ..
        } => {
            set.contains(&proposal.signer)
                && round_changes.iter().all(|rc| set.contains(&rc.signer))
                && prepares.iter().all(|p| set.contains(&p.signer))
        }
        Message::Prepare(v) | Message::Commit(v) => set.contains(&v.signer),
        Message::RoundChange {
            round_change,
            prepares,
            ..
        } => set.contains(&round_change.signer) && prepares.iter().all(|p| set.contains(&p.signer)),
        _ => false,
    }
}

/// Records a signer's first vote of a round in `slot`; a second vote from the same signer is
/// counted as a duplicate (same digest) or an equivocation (another digest) and ignored.
/// Returns whether the vote was new.
fn record_vote(
    slot: &mut BTreeMap<NodeId, SignedVote>,
    vote: SignedVote,
    metrics: &mut Metrics,
) -> bool {
    if let Some(old) = slot.get(&vote.signer) {
        if old.vote.digest != vote.vote.digest {
            metrics.equivocations_seen += 1;
        } else {
            metrics.duplicate += 1;
        }
        return false;
    }
    slot.insert(vote.signer, vote);
    true
}
