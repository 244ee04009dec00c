//! The QBFT state machine: [`Node::step`] takes one [`Input`] and the current time and returns
//! the [`Effect`]s to carry out, in order.
//!
//! This module holds the node's types, its public API and the dispatch of inputs; the rules
//! live in submodules by concern:
//! - `admission`: checks on a peer's message (height, membership, signatures) before the rules
//!   see it, and the buffer of next-height messages;
//! - `rounds`: PROPOSAL, PREPARE, COMMIT, ROUND-CHANGE, timers and the equivocation guard;
//! - `commit`: applying a decided block and entering the next height;
//! - `sync`: serving, requesting and applying decided blocks (block sync);
//! - `checkpoints`: signing checkpoints and gathering a quorum of signatures;
//! - `restore`: rebuilding a node from its write-ahead log.

mod admission;
mod checkpoints;
mod commit;
mod restore;
mod rounds;
mod sync;

use self::checkpoints::CheckpointState;
use crate::codec::{decode, encode};
use crate::config::{Config, ConfigError};
use crate::crypto::{Ed25519Verifier, SigItem, Signer, Verifier};
use crate::message::{
    CommittedBlock, Message, PreparedCertificate, Round, SignedRoundChange, SignedVote, VoteKind,
};
use crate::metrics::Metrics;
use emc_types::{
    Block, Checkpoint, CheckpointSignature, Hash, NodeId, Signature, SignedCheckpoint, StateBit,
    SummaryAccumulator, ValidatorSet,
};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

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
    /// The certificate of `checkpoint` (a quorum of the epoch's validators' signatures) is in
    /// a decided block: submit it to the IC. Every validator emits the same certificates in
    /// the same order.
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
    /// The last checkpoint made, if any (signed again after a restart while it may still
    /// lack signatures).
    pub last_checkpoint: Option<Checkpoint>,
    /// The last checkpoint whose certificate (a quorum of signatures) is in the chain: the
    /// next checkpoint links to it, so checkpoints chain only to certified ones and one
    /// that never gathers a quorum is skipped rather than halting the chain.
    pub certified: Option<Checkpoint>,
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
    /// PREPARE and COMMIT votes of members whose signatures are not verified yet: at most one
    /// per (kind, round, signer) (another vote under the same name is verified at once), so at
    /// most `2 * members * rounds` entries, with rounds bounded as for verified votes. They
    /// are verified as one batch when, with the verified votes for their digest, they could
    /// make a quorum; until then they count for nothing.
    unverified: BTreeMap<(VoteKind, Round, NodeId), SignedVote>,
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
            unverified: BTreeMap::new(),
            sync_asked: BTreeSet::new(),
        }
    }
}
/// Most entries of the cache of verified vote signatures (about 160 bytes each: under 2 MB
/// with the sets' overhead). When full, nothing more is remembered until the next height drops
/// the oldest entries: signatures are then simply verified again.
pub const VERIFIED_CACHE_CAP: usize = 8192;

/// Vote signatures this node has verified, by the height at which they were verified: a copy
/// of a message (direct, relayed, re-sent, or inside a justification or parent commit) is not
/// verified twice. Keys are the exact bytes `signer || signature || signed bytes` (no hash to
/// trust); entries older than the previous height are dropped when a height is entered.
#[derive(Debug, Default)]
struct VerifiedCache {
    by_height: BTreeMap<u64, HashSet<Vec<u8>>>,
    len: usize,
    verified: u64,
    hits: u64,
}

fn cache_key(item: &SigItem) -> Vec<u8> {
    let mut k = Vec::with_capacity(32 + 64 + item.msg.len());
    k.extend_from_slice(&item.signer.0);
    k.extend_from_slice(&item.sig.0);
    k.extend_from_slice(&item.msg);
    k
}

impl VerifiedCache {
    fn contains(&self, key: &[u8]) -> bool {
        self.by_height.values().any(|s| s.contains(key))
    }
    fn insert(&mut self, height: u64, key: Vec<u8>) {
        if self.len < VERIFIED_CACHE_CAP && self.by_height.entry(height).or_default().insert(key) {
            self.len += 1;
        }
    }
    /// Keeps the entries of `height - 1` and later.
    fn prune(&mut self, height: u64) {
        self.by_height = self.by_height.split_off(&height.saturating_sub(1));
        self.len = self.by_height.values().map(HashSet::len).sum();
    }
}

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
    /// The latest checkpoint this node gathered a quorum for, until its certificate is in
    /// the chain (proposed in this node's blocks).
    gathered: Option<SignedCheckpoint>,
    /// COMMITs for the last decided block that arrived after the decision, not verified yet
    /// (one per member): verified as a batch when this node builds a parent commit.
    late_unverified: BTreeMap<NodeId, SignedVote>,
    verified_cache: RefCell<VerifiedCache>,
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
            certified: None,
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
            gathered: None,
            late_unverified: BTreeMap::new(),
            verified_cache: RefCell::new(VerifiedCache::default()),
            metrics: Metrics::default(),
        })
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
        let cache = self.verified_cache.borrow();
        self.metrics.signatures_verified = cache.verified;
        self.metrics.verify_cache_hits = cache.hits;
        drop(cache);
        std::mem::take(&mut self.out)
    }

    /// For each vote signature, whether it is valid ([`Verifier::verify_votes`]): those in the
    /// cache of verified signatures are not verified again; the others are verified as one
    /// batch and the valid ones remembered.
    pub(super) fn verify_votes(&self, items: &[SigItem]) -> Vec<bool> {
        let mut cache = self.verified_cache.borrow_mut();
        let mut keys: Vec<Vec<u8>> = items.iter().map(cache_key).collect();
        let mut out = vec![false; items.len()];
        let mut todo = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            if cache.contains(k) {
                out[i] = true;
                cache.hits += 1;
            } else {
                todo.push(i);
            }
        }
        if todo.is_empty() {
            return out;
        }
        let results = if todo.len() == items.len() {
            self.verifier.verify_votes(items)
        } else {
            let sub: Vec<SigItem> = todo.iter().map(|&i| items[i].clone()).collect();
            self.verifier.verify_votes(&sub)
        };
        cache.verified += todo.len() as u64;
        for (&i, ok) in todo.iter().zip(results) {
            if ok {
                out[i] = true;
                cache.insert(self.cur.height, std::mem::take(&mut keys[i]));
            }
        }
        out
    }

    /// Whether every signature is valid (see [`Self::verify_votes`]).
    pub(super) fn all_valid(&self, items: &[SigItem]) -> bool {
        self.verify_votes(items).into_iter().all(|ok| ok)
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
}
