//! The validators' application: what goes into blocks, which blocks are valid, and the
//! per-node facts of each epoch that the epochs canister pays on. Pure: no IO, no clock.
//!
//! - A proposer puts its own observations into its block: one liveness bit per node it probed
//!   (latest outcome per subject) and the proof-of-computing results it measured. A block
//!   whose liveness or PoC bits claim another observer than its proposer is invalid, so a
//!   validator can only speak for itself, and at most once per subject and block.
//! - Activity is judged per *slot* (`slot_blocks`, one minute of blocks) from agreed facts
//!   only. A **validator** of the epoch's set is active in a slot when a block of the slot was
//!   proposed by it or carries its commit seal in the block's parent commit (consensus puts
//!   the seals that committed the parent first in every block and checks them, so a proposer
//!   may leave seals out but cannot invent one); a validator outside the set is neither paid
//!   nor fined. A **router** or **compute node** is active in a slot when more of the slot's
//!   proposers reported it online than offline (a compute node also when a passed PoC result
//!   of it committed): F Byzantine proposers can neither take an honest node's slot away nor
//!   give one to a dead node. `active_blocks` counts the blocks of active slots; the canister
//!   pays only above a share of the epoch's blocks (spec 11.3).
//! - Outages are counted as spec 4 defines them: continuous runs of inactive slots (minutes),
//!   fined per whole period (validators 60 minutes, routers 10, staked compute nodes 60),
//!   reported as the record's `penalty_minutes`. Counting starts at the epoch's first block,
//!   when every node of the epoch's snapshot already existed (a node registered later is not
//!   in it), and a run does not carry over into the next epoch (so a restored validator, which
//!   replays whole epochs, derives the same numbers).
//! - A compute node's E for the epoch is the median of the E values of its passed challenges,
//!   or 0 when at most half of its challenges passed: one lying validator moves neither.
//! - A PoC bit is admitted only from the challenger that a committed round drew for that node
//!   (`crate::poc::challenger` over the round's randomness, the epoch's validator set and the
//!   node of the epoch's snapshot), once per round and node, and for one of the last
//!   `poc_rounds_kept` rounds: a proposer cannot speak about nodes it did not challenge, nor
//!   fill its blocks with results. The rounds come from the committed chain
//!   (`crate::poc::RoundSchedule`), the sets from the shell (`set_members`), both agreed.
//! - The last block of epoch `e` (height `(e+1) * L`) closes the epoch: the records of every
//!   node in the registry's **snapshot of epoch `e`** (taken once, at the epoch's start, with
//!   its validator set, and never changed), sorted by node id, are cut into chunks under a
//!   Merkle root, and the header's hash becomes the closing checkpoint's `state_root`, which is
//!   what the epochs canister authenticates the uploaded chunks against. Other checkpoints use
//!   the block hash.
//!
//! Determinism: `validate` depends only on the block; `state_root` on the committed chain and
//! the epoch's snapshot, which every validator fetches by epoch id, so every honest validator
//! derives identical records whenever it fetched it. The shell feeds an epoch's validator set
//! to consensus only once it holds that epoch's snapshot (or knows the registry has none), so
//! no validator closes an epoch without it. Were it missing anyway, the epoch closes with no
//! data and the state root is the block hash: that validator's checkpoint signature then
//! differs from the quorum's, which loses it one signature, not the network its checkpoint.

use crate::poc::{challenger, Round, RoundSchedule};
use crate::receipts::{self, Lane, LaneKey, Lanes, ReceiptError};
use candid::Principal;
use emc_consensus::Application;
use emc_epochs::data::{build_chunks, header_hash};
use emc_epochs::{DataChunk, EpochDataHeader, NodeRecord, Role};
use emc_types::epoch::{epoch_of, is_epoch_end};
use emc_types::{
    Block, ComputeReceipt, Hash, LivenessObservation, NodeId, PocResult, StateBit, E_SCALE,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// Largest E a PoC bit may carry (fixed point): 1,000,000 (a task finished in 15 µs).
pub const MAX_E_FIXED: u64 = 1_000_000 * E_SCALE;
/// Largest opaque dispatch record accepted (its format is not defined yet).
pub const MAX_OPAQUE_BIT: usize = 4096;

/// Parameters of the application (must match the consensus [`emc_consensus::Config`] and the
/// epochs canister's parameters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppConfig {
    /// Blocks per epoch (43,200).
    pub epoch_length: u64,
    /// Most state bits one proposal carries.
    pub max_bits: usize,
    /// Records per uploaded chunk (the canister takes at most 2,000).
    pub chunk_records: usize,
    /// PoC results waiting for a proposal are dropped beyond this many (oldest first).
    pub max_pending_poc: usize,
    /// Closed epochs' data kept until the shell takes it (oldest dropped beyond this).
    pub max_closed: usize,
    /// Mean blocks between proof-of-computing rounds (the validators' `RoundSchedule`); 0:
    /// no rounds, so no PoC bit is admitted.
    pub poc_period_blocks: u64,
    /// A PoC result may be committed for one of this many latest rounds.
    pub poc_rounds_kept: usize,
    /// Blocks per participation slot: one minute of blocks (30 at 2 s). Activity and outages
    /// are judged per slot.
    pub slot_blocks: u64,
    /// A validator's continuous outage fined per whole period of this many minutes (spec 4:
    /// 60; the registry's `validator_penalty_minutes`).
    pub validator_outage_minutes: u64,
    /// The same for routers (10).
    pub router_outage_minutes: u64,
    /// The same for staked compute nodes (60).
    pub compute_outage_minutes: u64,
    /// Receipt lanes (user, compute node) one epoch may hold.
    pub max_lanes: usize,
    /// Receipts waiting for a proposal are dropped beyond this many (oldest first).
    pub max_pending_receipts: usize,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            epoch_length: 43_200,
            max_bits: 10_000,
            chunk_records: 2_000,
            max_pending_poc: 10_000,
            max_closed: 4,
            poc_period_blocks: 300,
            poc_rounds_kept: 2,
            slot_blocks: 30,
            validator_outage_minutes: 60,
            router_outage_minutes: 10,
            compute_outage_minutes: 60,
            max_lanes: 1_000_000,
            max_pending_receipts: 100_000,
        }
    }
}

/// Blocks in one minute at `block_interval_ns` (at least 1): the participation slot
/// ([`AppConfig::slot_blocks`]).
pub fn blocks_per_minute(block_interval_ns: u64) -> u64 {
    (60_000_000_000 / block_interval_ns.max(1)).max(1)
}

/// A node as the registry's snapshot of an epoch lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryNode {
    /// The node.
    pub id: NodeId,
    /// Who receives its rewards.
    pub owner: Principal,
    /// Its role.
    pub role: Role,
    /// Stake in e8s (net of penalties due).
    pub stake_e8s: u64,
    /// Staking multiplier of E (compute), fixed point with 4 decimals (1.0 = 10,000).
    pub multiplier: u64,
}

impl From<emc_registry::EpochNode> for RegistryNode {
    fn from(n: emc_registry::EpochNode) -> Self {
        RegistryNode {
            id: n.id,
            owner: n.owner,
            role: n.role,
            stake_e8s: n.stake_e8s,
            multiplier: n.multiplier,
        }
    }
}

/// The registry's snapshot of one epoch, as the shell learned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Snapshot {
    /// The nodes of the epoch, by id.
    Nodes(Arc<BTreeMap<NodeId, RegistryNode>>),
    /// The registry has no snapshot of this epoch (taken before snapshots existed, or pruned):
    /// the epoch closes with no data.
    Absent,
}

/// An epoch's closed data, ready to upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochData {
    /// The header (its hash is the closing checkpoint's state root).
    pub header: EpochDataHeader,
    /// The chunks with their Merkle proofs.
    pub chunks: Vec<DataChunk>,
    /// The records, in node order.
    pub records: Vec<NodeRecord>,
}

/// One node's facts in the epoch being tallied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Tally {
    /// Blocks of the slots in which the node was active.
    active_blocks: u64,
    poc_passed: Vec<u64>,
    poc_failed: u64,
    /// This slot: the node showed itself (a validator's seal or proposal, a compute node's
    /// passed PoC result).
    slot_seen: bool,
    /// This slot: blocks whose proposer reported it online / offline.
    slot_online: u32,
    slot_offline: u32,
    /// Minutes of its current outage (reset by an active slot and at each whole period).
    outage_run: u64,
    /// Minutes of whole outage periods this epoch.
    penalty_minutes: u64,
}

/// The validators' application state.
#[derive(Clone, Debug)]
pub struct EdgeApp {
    me: NodeId,
    cfg: AppConfig,
    /// Latest probe outcome per subject, for our next proposal.
    liveness: BTreeMap<NodeId, bool>,
    /// Our measured PoC results, for our next proposals.
    poc: VecDeque<PocResult>,
    /// Height of the last applied block.
    height: u64,
    /// The epoch being tallied and its facts so far.
    epoch: u64,
    tally: BTreeMap<NodeId, Tally>,
    /// The registry's snapshot per epoch (the current epoch's and the next one's; older ones
    /// are dropped when their epoch closes).
    snapshots: BTreeMap<u64, Snapshot>,
    /// Closed epochs' data not yet taken by the shell (`None`: closed without a snapshot).
    closed: BTreeMap<u64, Option<EpochData>>,
    /// The PoC rounds, drawn from committed blocks as every validator draws them.
    rounds: Option<RoundSchedule>,
    /// The members of each epoch's validator set (the current epoch's and the next one's).
    members: BTreeMap<u64, Vec<NodeId>>,
    /// Open challenges of the last rounds: (node, round height) -> its challenger (by node
    /// first: admitting a result is a range lookup, not a scan).
    assigned: BTreeMap<(NodeId, u64), NodeId>,
    /// The heights of the last `poc_rounds_kept` rounds, oldest first.
    open_rounds: VecDeque<u64>,
    /// The round the last applied block started, if it started one.
    last_round: Option<Round>,
    /// The receipt lanes of the epoch being tallied.
    lanes: Lanes,
    /// Receipts routers handed us, for our next proposals.
    receipts: VecDeque<ComputeReceipt>,
    /// [`receipts::signed_key`]s of receipts whose signatures we verified when a router handed
    /// them over, oldest first (at most `max_pending_receipts`): `validate` does not verify
    /// them again. Only ever skips work: the same bytes verified the same way.
    verified_receipts: BTreeSet<Hash>,
    verified_order: VecDeque<Hash>,
}

impl EdgeApp {
    /// A new application for validator `me`, at the genesis.
    pub fn new(me: NodeId, cfg: AppConfig) -> Self {
        EdgeApp {
            me,
            liveness: BTreeMap::new(),
            poc: VecDeque::new(),
            height: 0,
            epoch: 0,
            tally: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            closed: BTreeMap::new(),
            rounds: (cfg.poc_period_blocks > 0).then(|| RoundSchedule::new(cfg.poc_period_blocks)),
            members: BTreeMap::new(),
            assigned: BTreeMap::new(),
            open_rounds: VecDeque::new(),
            last_round: None,
            lanes: Lanes::new(cfg.max_lanes),
            receipts: VecDeque::new(),
            verified_receipts: BTreeSet::new(),
            verified_order: VecDeque::new(),
            cfg,
        }
    }

    /// Gives the members of `epoch`'s validator set (the registry's, as consensus gets it).
    pub fn set_members(&mut self, epoch: u64, members: Vec<NodeId>) {
        if epoch.saturating_add(1) >= self.epoch {
            self.members.entry(epoch).or_insert(members);
        }
    }

    /// The challenger the open round `round` drew for `node`, if its result is still
    /// awaited.
    pub fn open_challenge(&self, round: u64, node: &NodeId) -> Option<NodeId> {
        self.assigned.get(&(*node, round)).copied()
    }

    /// The round the last applied block started, if any.
    pub fn started_round(&self) -> Option<Round> {
        self.last_round
    }

    /// The nodes whose challenge in the round at `round` falls to `validator` (open ones).
    pub fn assigned_to(&self, round: u64, validator: &NodeId) -> Vec<NodeId> {
        self.assigned
            .iter()
            .filter(|((_, r), c)| *r == round && *c == validator)
            .map(|((n, _), _)| *n)
            .collect()
    }

    /// Whether a PoC result about `node` by `validator` would be admitted now.
    pub fn admits_poc(&self, node: &NodeId, validator: &NodeId) -> bool {
        open_challenge_of(&self.assigned, node, validator).is_some()
    }

    /// Opens the challenges of a round started by block `height` with `randomness`: every
    /// compute node of the epoch's snapshot, each by its challenger among the set's members.
    fn open_round(&mut self, height: u64, randomness: &[u8; 32]) {
        let epoch = self.epoch_of(height);
        let Some(members) = self.members.get(&epoch) else {
            return;
        };
        let Some(Snapshot::Nodes(nodes)) = self.snapshots.get(&epoch) else {
            return;
        };
        for n in nodes.values().filter(|n| n.role == Role::Compute) {
            if let Some(c) = challenger(randomness, &n.id, members) {
                self.assigned.insert((n.id, height), c);
            }
        }
        // Only the last `poc_rounds_kept` rounds stay open.
        self.open_rounds.push_back(height);
        while self.open_rounds.len() > self.cfg.poc_rounds_kept.max(1) {
            if let Some(closed) = self.open_rounds.pop_front() {
                self.assigned.retain(|(_, r), _| *r != closed);
            }
        }
    }

    /// Consumes the oldest open challenge of `node` by `validator` (a committed result).
    fn consume(&mut self, node: &NodeId, validator: &NodeId) {
        if let Some(k) = open_challenge_of(&self.assigned, node, validator) {
            self.assigned.remove(&k);
        }
    }

    /// The epoch of height `h >= 1` (consensus convention: `(h - 1) / L`).
    pub fn epoch_of(&self, height: u64) -> u64 {
        epoch_of(height, self.cfg.epoch_length)
    }

    /// The epoch being tallied (the epoch of the next block).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Records a probe outcome, proposed in our next block.
    pub fn observe(&mut self, subject: NodeId, online: bool) {
        if subject != self.me {
            self.liveness.insert(subject, online);
        }
    }

    /// Forgets a subject (no longer registered): it is not reported any more.
    pub fn forget(&mut self, subject: &NodeId) {
        self.liveness.remove(subject);
    }

    /// Queues a PoC result we measured, proposed in our next blocks.
    pub fn record_poc(&mut self, node: NodeId, e_fixed: u64, passed: bool) {
        if self.poc.len() >= self.cfg.max_pending_poc {
            self.poc.pop_front();
        }
        self.poc.push_back(PocResult {
            node,
            e_fixed: if passed { e_fixed.min(MAX_E_FIXED) } else { 0 },
            passed,
            validator: self.me,
        });
    }

    /// Queues a receipt a router handed us, for our next proposals, if it would be admitted
    /// now (so a forged or stale one is refused at once, with the reason).
    pub fn record_receipt(&mut self, r: ComputeReceipt) -> Result<(), ReceiptError> {
        self.record_receipts(vec![r]).pop().unwrap_or(Ok(()))
    }

    /// [`Self::record_receipt`] of each of a router's batch, in order, with the same answers;
    /// the signatures of the receipts that pass the other checks are verified together
    /// ([`receipts::signatures_valid`]).
    pub fn record_receipts(&mut self, rs: Vec<ComputeReceipt>) -> Vec<Result<(), ReceiptError>> {
        let snapshot = self.snapshots.get(&self.epoch);
        let none = BTreeMap::new();
        let mut out: Vec<Result<(), ReceiptError>> = rs
            .iter()
            .map(|r| receipts::check_unsigned(r, self.epoch, snapshot, &self.lanes, &none))
            .collect();
        let unsigned_ok: Vec<usize> = (0..rs.len()).filter(|i| out[*i].is_ok()).collect();
        let to_verify: Vec<&ComputeReceipt> = unsigned_ok.iter().map(|i| &rs[*i]).collect();
        for (i, verdict) in unsigned_ok
            .iter()
            .zip(receipts::signatures_valid(&to_verify))
        {
            out[*i] = verdict;
        }
        for (r, verdict) in rs.into_iter().zip(&out) {
            if verdict.is_ok() {
                self.queue_receipt(r);
            }
        }
        out
    }

    /// Queues an admitted receipt and remembers that its signatures were verified.
    fn queue_receipt(&mut self, r: ComputeReceipt) {
        if self.receipts.len() >= self.cfg.max_pending_receipts {
            self.receipts.pop_front();
        }
        let key = receipts::signed_key(&r);
        if self.verified_receipts.insert(key) {
            self.verified_order.push_back(key);
            while self.verified_order.len() > self.cfg.max_pending_receipts {
                if let Some(old) = self.verified_order.pop_front() {
                    self.verified_receipts.remove(&old);
                }
            }
        }
        self.receipts.push_back(r);
    }

    /// The latest admitted receipt of `user` paying `node` this epoch.
    pub fn lane(&self, user: &NodeId, node: &NodeId) -> Option<Lane> {
        self.lanes.get(user, node)
    }

    /// Where `user`'s lane paying `node` in `epoch` stands here: its latest receipt, committed
    /// or waiting for a block, as `(nonce, cumulative)`; none for a lane with no receipt, or of
    /// another epoch than the current (lanes start again each epoch). What a restarted compute
    /// node resumes its lane from.
    pub fn lane_state(&self, user: &NodeId, node: &NodeId, epoch: u64) -> Option<(u64, u64)> {
        if epoch != self.epoch {
            return None;
        }
        let committed = self
            .lanes
            .get(user, node)
            .map(|l| (l.nonce, l.cumulative_e8s));
        let pending = self
            .receipts
            .iter()
            .filter(|r| r.user == *user && r.node == *node && r.epoch == epoch)
            .map(|r| (r.nonce, r.cumulative_e8s))
            .max();
        committed.max(pending)
    }

    /// Receipts waiting for our proposals.
    pub fn pending_receipts(&self) -> usize {
        self.receipts.len()
    }

    /// Gives the registry's snapshot of `epoch` (`None`: the registry has none). Snapshots
    /// never change, so the first one given for an epoch stays; epochs already closed are
    /// ignored.
    pub fn set_snapshot(
        &mut self,
        epoch: u64,
        nodes: Option<impl IntoIterator<Item = RegistryNode>>,
    ) {
        if epoch < self.epoch || self.snapshots.contains_key(&epoch) {
            return;
        }
        let snap = match nodes {
            Some(nodes) => {
                Snapshot::Nodes(Arc::new(nodes.into_iter().map(|n| (n.id, n)).collect()))
            }
            None => Snapshot::Absent,
        };
        self.snapshots.insert(epoch, snap);
    }

    /// The nodes of the snapshot of the epoch being tallied; `None` while it is unknown or the
    /// registry has none.
    pub fn snapshot_nodes(&self) -> Option<BTreeSet<NodeId>> {
        match self.snapshots.get(&self.epoch) {
            Some(Snapshot::Nodes(nodes)) => Some(nodes.keys().copied().collect()),
            _ => None,
        }
    }

    /// Whether the snapshot of `epoch` is known (its nodes, or that there is none).
    pub fn has_snapshot(&self, epoch: u64) -> bool {
        self.snapshots.contains_key(&epoch)
    }

    /// Height of the last applied block.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The closed data of `epoch`, if kept.
    pub fn epoch_data(&self, epoch: u64) -> Option<&EpochData> {
        self.closed.get(&epoch).and_then(Option::as_ref)
    }

    /// Takes the closed data of `epoch` (for the anchor to upload); later calls get `None`.
    pub fn take_epoch_data(&mut self, epoch: u64) -> Option<EpochData> {
        self.closed.remove(&epoch).flatten()
    }

    /// Drops closed epochs before `epoch` (uploaded and closed on the IC).
    pub fn prune_before(&mut self, epoch: u64) {
        self.closed = self.closed.split_off(&epoch);
    }

    /// Closed epochs held (taken ones excluded).
    pub fn closed_epochs(&self) -> usize {
        self.closed.len()
    }

    /// Snapshots held.
    pub fn snapshots_held(&self) -> usize {
        self.snapshots.len()
    }

    /// The facts of the open epoch so far, as records (for status pages).
    pub fn current_records(&self) -> Vec<NodeRecord> {
        self.records().unwrap_or_default()
    }

    /// The records of the epoch being tallied, `None` without its snapshot.
    fn records(&self) -> Option<Vec<NodeRecord>> {
        let Some(Snapshot::Nodes(nodes)) = self.snapshots.get(&self.epoch) else {
            return None;
        };
        let empty = Tally::default();
        let records = nodes
            .values()
            .map(|n| {
                let t = self.tally.get(&n.id).unwrap_or(&empty);
                let (poc_e, multiplier) = match n.role {
                    Role::Validator | Role::Router => (0, 0),
                    Role::Compute => (epoch_e(t), n.multiplier),
                };
                NodeRecord {
                    node: n.id,
                    owner: n.owner,
                    role: n.role,
                    stake_e8s: n.stake_e8s,
                    active_blocks: t.active_blocks,
                    poc_e,
                    multiplier,
                    penalty_minutes: t.penalty_minutes,
                }
            })
            .collect();
        Some(records)
    }

    /// Ends the slot of the block at height `h` when `h` is its last block (or the epoch's):
    /// every node of the epoch's snapshot is judged active or not for the slot's blocks, and
    /// its outage run grows or resets.
    fn close_slot_if_done(&mut self, h: u64) {
        let l = self.cfg.epoch_length.max(1);
        let slot = self.cfg.slot_blocks.max(1);
        let offset = (h - 1) % l; // position of h in its epoch, from 0
        let epoch_end = offset + 1 == l;
        if (offset + 1) % slot != 0 && !epoch_end {
            return;
        }
        let len = offset % slot + 1;
        let Some(Snapshot::Nodes(nodes)) = self.snapshots.get(&self.epoch) else {
            self.tally.values_mut().for_each(Tally::end_slot);
            return;
        };
        let members = self.members.get(&self.epoch);
        for n in nodes.values() {
            let t = self.tally.entry(n.id).or_default();
            let period = match n.role {
                Role::Validator if members.is_some_and(|m| m.contains(&n.id)) => {
                    Some(self.cfg.validator_outage_minutes)
                }
                Role::Validator => None,
                Role::Router => Some(self.cfg.router_outage_minutes),
                Role::Compute if n.stake_e8s > 0 => Some(self.cfg.compute_outage_minutes),
                Role::Compute => Some(0),
            };
            let active = match n.role {
                Role::Validator => t.slot_seen,
                Role::Router => t.slot_online > t.slot_offline,
                Role::Compute => t.slot_seen || t.slot_online > t.slot_offline,
            };
            if let Some(period) = period {
                if active {
                    t.active_blocks += len;
                    t.outage_run = 0;
                } else if period > 0 {
                    t.outage_run += 1;
                    if t.outage_run == period {
                        t.penalty_minutes += period;
                        t.outage_run = 0;
                    }
                }
            }
            t.end_slot();
        }
    }

    fn close_epoch(&mut self) {
        let data = self.records().map(|records| {
            let (header, chunks) = build_chunks(
                self.epoch,
                self.cfg.epoch_length,
                &records,
                self.cfg.chunk_records,
            );
            EpochData {
                header,
                chunks,
                records,
            }
        });
        self.closed.insert(self.epoch, data);
        while self.closed.len() > self.cfg.max_closed.max(1) {
            self.closed.pop_first();
        }
        self.tally.clear();
        self.lanes.clear();
        self.epoch = self.epoch.saturating_add(1);
        let epoch = self.epoch;
        self.receipts.retain(|r| r.epoch == epoch);
        // Snapshots and sets of closed epochs are no longer needed.
        self.snapshots = self.snapshots.split_off(&self.epoch);
        self.members = self.members.split_off(&self.epoch);
    }
}

impl Tally {
    fn end_slot(&mut self) {
        self.slot_seen = false;
        self.slot_online = 0;
        self.slot_offline = 0;
    }
}

/// The key of the oldest open challenge of `node` whose challenger is `validator`.
fn open_challenge_of(
    assigned: &BTreeMap<(NodeId, u64), NodeId>,
    node: &NodeId,
    validator: &NodeId,
) -> Option<(NodeId, u64)> {
    assigned
        .range((*node, 0)..=(*node, u64::MAX))
        .find(|(_, c)| *c == validator)
        .map(|(k, _)| *k)
}

/// The epoch's E of a compute node: the median passed E, or 0 unless more than half passed.
fn epoch_e(t: &Tally) -> u64 {
    let passed = t.poc_passed.len() as u64;
    if passed == 0 || passed <= t.poc_failed {
        return 0;
    }
    let mut v = t.poc_passed.clone();
    v.sort_unstable();
    v[v.len() / 2]
}

impl Application for EdgeApp {
    fn propose(&mut self, height: u64, _now_ns: u64) -> Vec<StateBit> {
        let mut bits: Vec<StateBit> = self
            .liveness
            .iter()
            .take(self.cfg.max_bits)
            .map(|(subject, online)| {
                StateBit::Liveness(LivenessObservation {
                    observer: self.me,
                    subject: *subject,
                    online: *online,
                })
            })
            .collect();
        // PoC results stay queued until a block of ours commits them; only results for
        // challenges still open to us go in, one per node.
        let room = self.cfg.max_bits.saturating_sub(bits.len());
        let mut nodes = BTreeSet::new();
        let poc: Vec<StateBit> = self
            .poc
            .iter()
            .filter(|p| self.admits_poc(&p.node, &self.me) && nodes.insert(p.node))
            .take(room)
            .cloned()
            .map(StateBit::Poc)
            .collect();
        bits.extend(poc);
        // Receipts in queue order, each moving its lane forward (checked in full when
        // queued); they stay queued until a block commits them or they go stale.
        let epoch = self.epoch_of(height);
        let mut pending: BTreeMap<LaneKey, Lane> = BTreeMap::new();
        for r in &self.receipts {
            if bits.len() >= self.cfg.max_bits {
                break;
            }
            if r.epoch == epoch && receipts::check_lane(r, &self.lanes, &pending).is_ok() {
                receipts::advance(&mut pending, r);
                bits.push(StateBit::Receipt(r.clone()));
            }
        }
        bits
    }

    fn validate(&self, block: &Block) -> Result<(), String> {
        let proposer = block.header.proposer;
        let mut subjects = BTreeSet::new();
        let mut poc_nodes = BTreeSet::new();
        let mut lanes: BTreeMap<LaneKey, Lane> = BTreeMap::new();
        // Receipts whose signatures were not verified on intake.
        let mut unverified: Vec<&ComputeReceipt> = Vec::new();
        for bit in &block.bits {
            match bit {
                StateBit::Liveness(l) => {
                    if l.observer != proposer {
                        return Err("a liveness bit by another observer than the proposer".into());
                    }
                    if l.subject == proposer {
                        return Err("the proposer reports on itself".into());
                    }
                    if !subjects.insert(l.subject) {
                        return Err("two liveness bits about one subject".into());
                    }
                }
                StateBit::Poc(p) => {
                    if p.validator != proposer {
                        return Err("a PoC result by another validator than the proposer".into());
                    }
                    if p.e_fixed > MAX_E_FIXED || (!p.passed && p.e_fixed != 0) {
                        return Err("a PoC result with an impossible E".into());
                    }
                    if !poc_nodes.insert(p.node) {
                        return Err("two PoC results about one node".into());
                    }
                    if !self.admits_poc(&p.node, &proposer) {
                        return Err("a PoC result without an open challenge by the proposer".into());
                    }
                }
                StateBit::Dispatch(d) if d.bytes.len() > MAX_OPAQUE_BIT => {
                    return Err("dispatch record too large".into())
                }
                StateBit::Receipt(r) => {
                    let epoch = self.epoch_of(block.header.height);
                    let snapshot = self.snapshots.get(&epoch);
                    receipts::check_unsigned(r, epoch, snapshot, &self.lanes, &lanes)
                        .map_err(|e| format!("receipt: {e}"))?;
                    if !self.verified_receipts.contains(&receipts::signed_key(r)) {
                        unverified.push(r);
                    }
                    receipts::advance(&mut lanes, r);
                }
                // Checked by consensus (a quorum of valid signatures of the set).
                StateBit::ParentCommit(_) | StateBit::CheckpointCert(_) => {}
                StateBit::Dispatch(_) => {}
            }
        }
        // Signatures last, all together: the block is refused if any receipt's is bad.
        for verdict in receipts::signatures_valid(&unverified) {
            verdict.map_err(|e| format!("receipt: {e}"))?;
        }
        Ok(())
    }

    fn on_commit(&mut self, block: &Block) {
        let h = block.header.height;
        if h <= self.height {
            return; // already applied (a restored node replaying its log)
        }
        let epoch = self.epoch_of(h);
        if self.height == 0 && self.tally.is_empty() {
            // The first block this application sees (a validator restored from a compacted
            // log, or syncing from the middle of the chain): earlier epochs are not its to
            // close.
            self.epoch = self.epoch.max(epoch);
        }
        self.height = h;
        while self.epoch < epoch {
            // Blocks of a whole epoch were skipped (state sync): close what we have.
            self.close_epoch();
        }
        let proposer = block.header.proposer;
        self.tally.entry(proposer).or_default().slot_seen = true;
        for bit in &block.bits {
            match bit {
                StateBit::ParentCommit(pc) => {
                    for seal in &pc.seals {
                        self.tally.entry(seal.signer).or_default().slot_seen = true;
                    }
                }
                StateBit::Liveness(l) => {
                    let t = self.tally.entry(l.subject).or_default();
                    if l.online {
                        t.slot_online += 1;
                    } else {
                        t.slot_offline += 1;
                    }
                }
                StateBit::Poc(p) => {
                    self.consume(&p.node, &proposer);
                    let t = self.tally.entry(p.node).or_default();
                    if p.passed {
                        t.poc_passed.push(p.e_fixed);
                        t.slot_seen = true;
                    } else {
                        t.poc_failed += 1;
                    }
                }
                StateBit::Receipt(r) => self.lanes.apply(r),
                StateBit::Dispatch(_) | StateBit::CheckpointCert(_) => {}
            }
        }
        self.close_slot_if_done(h);
        let round = self
            .rounds
            .as_mut()
            .and_then(|r| r.on_commit(h, &block.hash()));
        self.last_round = round;
        if let Some(round) = round {
            self.open_round(round.height, &round.randomness);
        }
        if proposer == self.me {
            // Our PoC results in this block are on the chain now.
            let committed: BTreeSet<(NodeId, u64, bool)> = block
                .bits
                .iter()
                .filter_map(|b| match b {
                    StateBit::Poc(p) => Some((p.node, p.e_fixed, p.passed)),
                    _ => None,
                })
                .collect();
            self.poc
                .retain(|p| !committed.contains(&(p.node, p.e_fixed, p.passed)));
        }
        // Receipts committed (by anyone) or overtaken on their lane are dropped.
        let lanes = &self.lanes;
        self.receipts.retain(|r| {
            lanes
                .get(&r.user, &r.node)
                .is_none_or(|l| r.nonce > l.nonce)
        });
        // Results whose challenge closed (committed, or its round too old) are dropped.
        let (assigned, me) = (&self.assigned, self.me);
        self.poc
            .retain(|p| open_challenge_of(assigned, &p.node, &me).is_some());
        if is_epoch_end(h, self.cfg.epoch_length) {
            self.close_epoch();
        }
    }

    fn state_root(&self, block: &Block) -> Hash {
        let h = block.header.height;
        if is_epoch_end(h, self.cfg.epoch_length) {
            if let Some(Some(d)) = self.closed.get(&self.epoch_of(h)) {
                return header_hash(&d.header);
            }
        }
        block.hash()
    }
}

#[cfg(test)]
mod tests;
