//! From a served call to the market's escrow, pure (issue #15): what a validator keeps to
//! prove receipts, what a router keeps to settle them, and how a router admits calls against
//! a user's escrow.
//!
//! - **[`ReceiptArchive`]** (validators). A checkpoint commits to its period's receipts by a
//!   Merkle root (`Checkpoint::receipts_root`, leaves in block order, as
//!   `emc_types::SummaryAccumulator` adds them). The archive gathers the same leaves from each
//!   committed block, seals the period when the consensus node opens a checkpoint, and keeps
//!   the whole tree of the last `keep` certified periods, so it answers a router's proof
//!   request in O(log n) per receipt. A sealed period whose root differs from the certified
//!   checkpoint's (the validator restarted mid-period, or missed blocks) is dropped: it proves
//!   nothing, and the router asks another validator.
//! - **[`Settler`]** (routers). Every countersigned receipt is held by lane (user, node,
//!   epoch) until the market has settled it. The router asks validators for the proofs of
//!   the receipts it holds; once a receipt's checkpoint is final on the IC (past its challenge
//!   window) and the proof gives the final root, the lane's highest proven receipt goes to the
//!   market's `settle_batch` (the market pays a lane's cumulative amount less what it already
//!   paid, so one receipt per lane settles every call before it). A receipt the market
//!   refuses for good is dropped; one that is not final yet waits.
//! - **[`EscrowBook`]** (routers): the [`Funds`] the router's admission reads when the market
//!   is on. Per user it keeps the market's answer to `admission_lanes` (the escrow available
//!   and what has been paid on each lane the router knows, read at one instant) and the
//!   highest cumulative amount of every lane it has seen a receipt of. A user may spend
//!   `available - sum over lanes of (cumulative - paid)`: the market's balance less the work
//!   served but not settled yet. Both numbers come from one snapshot, so a settlement can
//!   never be counted twice; a lane served through another router that this one has not seen
//!   is the only debt it misses (bounded by that router's own admission).

use crate::compute::{Funds, FundsError};
use crate::protocol::LeafProof;
use emc_types::merkle::{leaf_hash, root_from_proof, MerkleTree};
use emc_types::{ComputeReceipt, Cosignature, Hash, NodeId, StateBit};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The leaf hash of a receipt in a checkpoint's receipts tree.
pub fn receipt_leaf(r: &ComputeReceipt) -> Hash {
    leaf_hash(&StateBit::Receipt(r.clone()).canonical_bytes())
}

/// Why a sealed period is not kept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    /// No period was sealed at that height (the validator started after it).
    #[error("no sealed period at height {0}")]
    Unknown(u64),
    /// The leaves gathered give another root than the quorum signed.
    #[error("the period at height {0} does not match its checkpoint's receipts root")]
    Mismatch(u64),
}

struct Period {
    tree: MerkleTree,
    /// Receipt leaves (dispatch records are not asked for) to their index.
    index: HashMap<Hash, u64>,
    certified: bool,
}

/// A validator's store of the receipts of recent checkpoint periods (module docs).
pub struct ReceiptArchive {
    open: Vec<Hash>,
    open_receipts: Vec<u64>,
    sealed: BTreeMap<u64, Period>,
    keep: usize,
}

impl ReceiptArchive {
    /// An archive that keeps the last `keep` periods (at least one).
    pub fn new(keep: usize) -> ReceiptArchive {
        ReceiptArchive {
            open: Vec::new(),
            open_receipts: Vec::new(),
            sealed: BTreeMap::new(),
            keep: keep.max(1),
        }
    }

    /// A committed block's state bits, in order.
    pub fn on_block(&mut self, bits: &[StateBit]) {
        for bit in bits {
            if matches!(bit, StateBit::Receipt(_) | StateBit::Dispatch(_)) {
                if matches!(bit, StateBit::Receipt(_)) {
                    self.open_receipts.push(self.open.len() as u64);
                }
                self.open.push(leaf_hash(&bit.canonical_bytes()));
            }
        }
    }

    /// The consensus node opened the checkpoint at `height`: the period's leaves are complete.
    pub fn seal(&mut self, height: u64) {
        let leaves = std::mem::take(&mut self.open);
        let index = std::mem::take(&mut self.open_receipts)
            .into_iter()
            .map(|i| (leaves[i as usize], i))
            .collect();
        self.sealed.insert(
            height,
            Period {
                tree: MerkleTree::new(leaves),
                index,
                certified: false,
            },
        );
        while self.sealed.len() > self.keep {
            self.sealed.pop_first();
        }
    }

    /// The checkpoint at `height` was certified by a quorum with `receipts_root`: its period
    /// may be proved from now on, if it matches.
    pub fn certify(&mut self, height: u64, receipts_root: Hash) -> Result<(), ArchiveError> {
        let p = self
            .sealed
            .get_mut(&height)
            .ok_or(ArchiveError::Unknown(height))?;
        if p.tree.root() != receipts_root {
            self.sealed.remove(&height);
            return Err(ArchiveError::Mismatch(height));
        }
        p.certified = true;
        Ok(())
    }

    /// The proof of the receipt whose leaf is `leaf`, if a certified period holds it.
    pub fn prove(&self, leaf: &Hash) -> Option<LeafProof> {
        self.sealed.iter().rev().find_map(|(h, p)| {
            let i = *p.index.get(leaf).filter(|_| p.certified)?;
            Some(LeafProof {
                leaf: *leaf,
                checkpoint_height: *h,
                leaf_index: i,
                leaf_count: p.tree.len(),
                proof: p.tree.proof(i)?,
            })
        })
    }

    /// Periods kept (sealed, certified or not).
    pub fn periods(&self) -> usize {
        self.sealed.len()
    }
}

/// A lane: one user paying one node in one epoch.
pub type LaneKey = (NodeId, NodeId, u64);

fn lane_of(r: &ComputeReceipt) -> LaneKey {
    (r.user, r.node, r.epoch)
}

struct Held {
    receipt: ComputeReceipt,
    /// A pool receipt's co-signatures by the pool's members (empty for any other).
    cosignatures: Vec<Cosignature>,
    leaf: Hash,
    proof: Option<LeafProof>,
    /// When its proof was last asked for (0: never).
    asked_ns: u64,
    /// When it was added.
    added_ns: u64,
}

/// What the market answered for one receipt of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettleOutcome {
    /// Settled (or already settled up to this receipt): the lane is paid up to it.
    Settled,
    /// Its checkpoint is not final yet: try again later.
    NotYet,
    /// Refused for good (unknown node, unbound key, no escrow left, bad proof): drop it.
    Refused,
}

/// A receipt ready for the market: the receipt and its proof against a final checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadyReceipt {
    /// The lane's highest proven receipt.
    pub receipt: ComputeReceipt,
    /// Its co-signatures, when it is a compute pool's receipt (the market requires them).
    pub cosignatures: Vec<Cosignature>,
    /// Its proof.
    pub proof: LeafProof,
}

/// Counters of a [`Settler`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SettlerStats {
    /// Receipts held now.
    pub held: usize,
    /// Held receipts with a proof.
    pub proven: usize,
    /// Receipts settled (each settles its lane up to it).
    pub settled: u64,
    /// Receipts refused for good by the market, or by a mismatching proof.
    pub refused: u64,
    /// Receipts dropped unproven (too old, or over the cap).
    pub expired: u64,
}

/// A router's receipts on their way to settlement (module docs).
pub struct Settler {
    lanes: BTreeMap<LaneKey, BTreeMap<u64, Held>>,
    by_leaf: HashMap<Hash, (LaneKey, u64)>,
    cap: usize,
    stats: SettlerStats,
}

impl Settler {
    /// A settler holding at most `cap` receipts (the oldest lane's oldest go first).
    pub fn new(cap: usize) -> Settler {
        Settler {
            lanes: BTreeMap::new(),
            by_leaf: HashMap::new(),
            cap: cap.max(1),
            stats: SettlerStats::default(),
        }
    }

    /// A receipt the user countersigned (on its way to the validators).
    pub fn add(&mut self, r: ComputeReceipt, now_ns: u64) {
        self.add_cosigned(r, Vec::new(), now_ns);
    }

    /// Gives the held receipt at `nonce` on `lane` whose body hash is `body` the pool
    /// members' `cosignatures` (they come from the pool's entry node after the receipt);
    /// false when no such receipt is held (not countersigned yet, or settled or dropped).
    pub fn attach_cosignatures(
        &mut self,
        lane: &LaneKey,
        nonce: u64,
        body: &Hash,
        cosignatures: &[Cosignature],
    ) -> bool {
        let held = self.lanes.get_mut(lane).and_then(|l| l.get_mut(&nonce));
        match held {
            Some(h) if h.receipt.body_hash() == *body => {
                h.cosignatures = cosignatures.to_vec();
                true
            }
            _ => false,
        }
    }

    /// A countersigned receipt with its pool members' co-signatures, kept with it and handed
    /// to the market with it (each receipt of a lane keeps its own: the one that settles is
    /// the lane's latest proven).
    pub fn add_cosigned(&mut self, r: ComputeReceipt, cosignatures: Vec<Cosignature>, now_ns: u64) {
        let leaf = receipt_leaf(&r);
        if self.by_leaf.contains_key(&leaf) {
            return;
        }
        let lane = lane_of(&r);
        self.by_leaf.insert(leaf, (lane, r.nonce));
        self.lanes.entry(lane).or_default().insert(
            r.nonce,
            Held {
                receipt: r,
                cosignatures,
                leaf,
                proof: None,
                asked_ns: 0,
                added_ns: now_ns,
            },
        );
        self.stats.held += 1;
        while self.stats.held > self.cap {
            let Some((&oldest, _)) = self
                .lanes
                .iter()
                .filter_map(|(k, l)| l.values().map(|h| h.added_ns).min().map(|t| (k, t)))
                .min_by_key(|(_, t)| *t)
            else {
                break;
            };
            let nonce = self.lanes[&oldest].keys().next().copied();
            if let Some(n) = nonce {
                self.remove(&oldest, n);
                self.stats.expired += 1;
            }
        }
    }

    fn remove(&mut self, lane: &LaneKey, nonce: u64) -> Option<Held> {
        let l = self.lanes.get_mut(lane)?;
        let h = l.remove(&nonce)?;
        if l.is_empty() {
            self.lanes.remove(lane);
        }
        self.by_leaf.remove(&h.leaf);
        self.stats.held -= 1;
        if h.proof.is_some() {
            self.stats.proven -= 1;
        }
        Some(h)
    }

    /// Up to `max` leaves whose proofs to ask for now: unproven receipts not asked within
    /// `retry_ns` (marked asked at `now_ns`). Receipts held unproven for longer than
    /// `give_up_ns` are dropped first.
    pub fn to_prove(
        &mut self,
        now_ns: u64,
        retry_ns: u64,
        give_up_ns: u64,
        max: usize,
    ) -> Vec<Hash> {
        let stale: Vec<(LaneKey, u64)> = self
            .lanes
            .iter()
            .flat_map(|(k, l)| {
                l.iter()
                    .filter(|(_, h)| {
                        h.proof.is_none() && now_ns.saturating_sub(h.added_ns) > give_up_ns
                    })
                    .map(|(n, _)| (*k, *n))
            })
            .collect();
        for (k, n) in stale {
            self.remove(&k, n);
            self.stats.expired += 1;
        }
        let mut out = Vec::new();
        for l in self.lanes.values_mut() {
            for h in l.values_mut() {
                if out.len() >= max {
                    return out;
                }
                if h.proof.is_none()
                    && (h.asked_ns == 0 || now_ns.saturating_sub(h.asked_ns) >= retry_ns)
                {
                    h.asked_ns = now_ns;
                    out.push(h.leaf);
                }
            }
        }
        out
    }

    /// Proofs from a validator. A proof is kept only for a receipt held here and only if it
    /// is a well-formed path (the root it gives is checked against the final root later).
    /// Returns how many were kept.
    pub fn on_proofs(&mut self, proofs: Vec<LeafProof>) -> usize {
        let mut kept = 0;
        for p in proofs {
            let Some((lane, nonce)) = self.by_leaf.get(&p.leaf).copied() else {
                continue;
            };
            if root_from_proof(p.leaf, p.leaf_index, p.leaf_count, &p.proof).is_none() {
                continue;
            }
            if let Some(h) = self.lanes.get_mut(&lane).and_then(|l| l.get_mut(&nonce)) {
                if h.proof.is_none() {
                    self.stats.proven += 1;
                }
                h.proof = Some(p);
                kept += 1;
            }
        }
        kept
    }

    /// Checkpoint heights that proven receipts wait on (to ask the IC whether they are final).
    pub fn waiting_heights(&self) -> BTreeSet<u64> {
        self.lanes
            .values()
            .flat_map(|l| l.values())
            .filter_map(|h| h.proof.as_ref().map(|p| p.checkpoint_height))
            .collect()
    }

    /// The checkpoint at `height` is final with `root`: proofs of it that give another root
    /// are dropped (the validator that sent them lied or erred; the receipt is asked again).
    pub fn on_final(&mut self, height: u64, root: Hash) {
        for l in self.lanes.values_mut() {
            for h in l.values_mut() {
                let bad = h.proof.as_ref().is_some_and(|p| {
                    p.checkpoint_height == height
                        && root_from_proof(p.leaf, p.leaf_index, p.leaf_count, &p.proof)
                            != Some(root)
                });
                if bad {
                    h.proof = None;
                    h.asked_ns = 0;
                    self.stats.proven -= 1;
                    self.stats.refused += 1;
                }
            }
        }
    }

    /// Up to `max` receipts to settle now: per lane, the highest-nonce receipt proven in a
    /// checkpoint of `finals`.
    pub fn ready(&self, finals: &BTreeSet<u64>, max: usize) -> Vec<ReadyReceipt> {
        self.lanes
            .values()
            .filter_map(|l| {
                l.values().rev().find_map(|h| {
                    let p = h.proof.as_ref()?;
                    finals.contains(&p.checkpoint_height).then(|| ReadyReceipt {
                        receipt: h.receipt.clone(),
                        cosignatures: h.cosignatures.clone(),
                        proof: p.clone(),
                    })
                })
            })
            .take(max)
            .collect()
    }

    /// The market's answer for `r`. Settled: the lane is paid up to `r`, so it and every
    /// receipt of the lane before it are done. Refused: `r` is dropped.
    pub fn on_settled(&mut self, r: &ComputeReceipt, outcome: SettleOutcome) {
        let lane = lane_of(r);
        match outcome {
            SettleOutcome::NotYet => {}
            SettleOutcome::Refused => {
                if self.remove(&lane, r.nonce).is_some() {
                    self.stats.refused += 1;
                }
            }
            SettleOutcome::Settled => {
                let done: Vec<u64> = self
                    .lanes
                    .get(&lane)
                    .map(|l| l.range(..=r.nonce).map(|(n, _)| *n).collect())
                    .unwrap_or_default();
                for n in done {
                    self.remove(&lane, n);
                }
                self.stats.settled += 1;
            }
        }
    }

    /// Counters.
    pub fn stats(&self) -> SettlerStats {
        self.stats
    }
}

/// The market's answer to a router's admission read for one user (`admission_lanes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EscrowSnapshot {
    /// e8s the escrow has for new calls (balance less a pending withdrawal).
    pub available_e8s: u64,
    /// e8s paid on each lane asked about, in the order of [`EscrowBook::lanes_to_ask`].
    pub paid_e8s: Vec<u64>,
}

#[derive(Default)]
struct UserBook {
    /// The last snapshot (None: the key is bound to no escrow) and when it was read.
    snapshot: Option<(Option<u64>, u64)>,
    /// Per lane (node, epoch): the highest cumulative amount seen, and what the market had
    /// paid at the last snapshot.
    lanes: BTreeMap<(NodeId, u64), (u64, u64)>,
    /// Last call admitted or charged, ns (users idle for long are forgotten).
    active_ns: u64,
}

impl UserBook {
    fn debt(&self) -> u64 {
        self.lanes
            .values()
            .map(|(cum, paid)| cum.saturating_sub(*paid))
            .fold(0u64, u64::saturating_add)
    }
}

/// A router's view of its users' escrows (module docs).
#[derive(Default)]
pub struct EscrowBook {
    users: HashMap<NodeId, UserBook>,
    now_ns: u64,
}

/// Lanes asked about per user in one read (the market answers at most 1,000).
pub const MAX_LANES_PER_READ: usize = 1_000;

impl EscrowBook {
    /// An empty book.
    pub fn new() -> EscrowBook {
        EscrowBook::default()
    }

    /// The shell's clock, for [`Funds`] calls (which take none).
    pub fn set_now(&mut self, now_ns: u64) {
        self.now_ns = now_ns;
    }

    /// Whether `user` must be read before a call is admitted: never read, or read more than
    /// `max_age_ns` ago.
    pub fn needs_read(&self, user: &NodeId, now_ns: u64, max_age_ns: u64) -> bool {
        self.users
            .get(user)
            .and_then(|u| u.snapshot)
            .is_none_or(|(_, at)| now_ns.saturating_sub(at) > max_age_ns)
    }

    /// The lanes to ask the market about for `user`, in the order the answer's `paid_e8s`
    /// follows.
    pub fn lanes_to_ask(&self, user: &NodeId) -> Vec<(NodeId, u64)> {
        self.users
            .get(user)
            .map(|u| u.lanes.keys().copied().take(MAX_LANES_PER_READ).collect())
            .unwrap_or_default()
    }

    /// Users active within `active_ns` whose snapshot is older than `ttl_ns` (to refresh in
    /// the background); users idle longer and owing nothing are forgotten.
    pub fn to_refresh(&mut self, now_ns: u64, ttl_ns: u64, active_ns: u64) -> Vec<NodeId> {
        self.users
            .retain(|_, u| now_ns.saturating_sub(u.active_ns) <= active_ns || u.debt() > 0);
        self.users
            .iter()
            .filter(|(_, u)| {
                u.snapshot
                    .is_none_or(|(_, at)| now_ns.saturating_sub(at) > ttl_ns)
            })
            .map(|(k, _)| *k)
            .collect()
    }

    /// The market's answer for `user`, read for `asked` lanes (what [`Self::lanes_to_ask`]
    /// gave when the read started). `None`: the key is bound to no escrow.
    pub fn observe(
        &mut self,
        user: NodeId,
        asked: &[(NodeId, u64)],
        snapshot: Option<EscrowSnapshot>,
        now_ns: u64,
    ) {
        let u = self.users.entry(user).or_default();
        u.active_ns = u.active_ns.max(now_ns);
        match snapshot {
            None => u.snapshot = Some((None, now_ns)),
            Some(s) => {
                u.snapshot = Some((Some(s.available_e8s), now_ns));
                for (lane, paid) in asked.iter().zip(s.paid_e8s) {
                    if let Some(l) = u.lanes.get_mut(lane) {
                        l.1 = l.1.max(paid);
                    }
                }
                // Lanes fully paid are done.
                u.lanes.retain(|_, (cum, paid)| cum > paid);
            }
        }
    }

    /// Work served to `user` and not yet settled, e8s.
    pub fn debt(&self, user: &NodeId) -> u64 {
        self.users.get(user).map_or(0, UserBook::debt)
    }
}

impl Funds for EscrowBook {
    fn available(&self, account: &NodeId) -> Result<u64, FundsError> {
        let u = self.users.get(account).ok_or(FundsError::Unknown)?;
        let Some((Some(available), _)) = u.snapshot else {
            return Err(FundsError::Unknown);
        };
        match available.saturating_sub(u.debt()) {
            0 => Err(FundsError::Exhausted),
            left => Ok(left),
        }
    }

    fn charge(&mut self, r: &ComputeReceipt, e8s: u64) -> u64 {
        let left = self.available(&r.user).unwrap_or(0);
        let now = self.now_ns;
        let u = self.users.entry(r.user).or_default();
        u.active_ns = u.active_ns.max(now);
        let lane = u.lanes.entry((r.node, r.epoch)).or_insert((0, 0));
        lane.0 = lane.0.max(r.cumulative_e8s);
        e8s.min(left)
    }
}

#[cfg(test)]
pub(crate) mod tests;
