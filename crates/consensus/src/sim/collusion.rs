//! The colluders of [`FaultMix::Colluding`](super::FaultMix::Colluding): one coalition that
//! holds every colluder's key and learns every message delivered to any of them (and every
//! message their own [`Node`](crate::Node)s try to send), and acts on a shared plan.
//!
//! Colluders never forge an honest node's signature: what they cannot sign themselves they
//! can only replay (honest votes they saw) or fake with bytes that do not verify.

use super::{Collusion, Event, Sim, SimSigner, MS, SIM_MAX_E};
use crate::codec;
use crate::crypto::{round_change_signing_bytes, vote_signing_bytes, Ed25519Signer, Signer};
use crate::message::{Message, Round, RoundChange, SignedRoundChange, SignedVote, Vote, VoteKind};
use crate::node::proposer;
use emc_types::{Block, Hash, NodeId, PocResult, Signature, StateBit};
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// The coalition: its members, their keys, and what it knows per height.
pub(super) struct Coalition {
    strategy: Collusion,
    /// Peer indices of the colluders.
    members: Vec<usize>,
    /// Their keys, in the order of `members`.
    signers: Vec<SimSigner>,
    intel: BTreeMap<u64, Intel>,
    /// Blocks crafted so far (makes each one distinct).
    crafted: u64,
}

/// What the coalition knows and did at one height.
#[derive(Default)]
struct Intel {
    /// Proposed blocks seen, by round.
    proposals: BTreeMap<Round, BTreeMap<Hash, Block>>,
    /// Honest prepares seen, by (round, digest).
    prepares: BTreeMap<(Round, Hash), BTreeMap<NodeId, SignedVote>>,
    /// Honest round changes seen, by round.
    rcs: BTreeMap<Round, BTreeMap<NodeId, SeenRc>>,
    /// The amnesia attack at this height, once started.
    plan: Option<Plan>,
    /// Moves made, by round (each at most once).
    done: BTreeSet<(Move, Round)>,
}

#[derive(Clone)]
struct SeenRc {
    rc: SignedRoundChange,
    prepares: Vec<SignedVote>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Move {
    Split,
    ForgeRoundChanges,
    ForgeProposal,
    SecondValue,
}

/// Amnesia: the value prepared in `round` for group `a`, forgotten in `round + 1`, where
/// group `b` is led to another value.
struct Plan {
    round: Round,
    value: Hash,
    a: Vec<usize>,
    b: Vec<usize>,
    /// The colluders' commits for `value`, held back until `b` has the other value's votes.
    held: Vec<(usize, Message)>,
}

impl Coalition {
    pub(super) fn new(strategy: Collusion, members: Vec<usize>, signers: Vec<SimSigner>) -> Self {
        Coalition {
            strategy,
            members,
            signers,
            intel: BTreeMap::new(),
            crafted: 0,
        }
    }

    fn is_member(&self, i: usize) -> bool {
        self.members.contains(&i)
    }

    fn slot_of(&self, i: usize) -> Option<usize> {
        self.members.iter().position(|m| *m == i)
    }

    fn vote(
        &self,
        slot: usize,
        kind: VoteKind,
        height: u64,
        round: Round,
        digest: Hash,
    ) -> SignedVote {
        let vote = Vote {
            height,
            round,
            digest,
        };
        let s = &self.signers[slot];
        SignedVote {
            vote,
            signer: s.node_id(),
            signature: s.sign(&vote_signing_bytes(kind, &vote)),
        }
    }

    fn round_change(&self, slot: usize, body: RoundChange) -> SignedRoundChange {
        let s = &self.signers[slot];
        SignedRoundChange {
            signature: s.sign(&round_change_signing_bytes(&body)),
            body,
            signer: s.node_id(),
        }
    }

    /// Every colluder's prepare for `(height, round, digest)`.
    fn prepares(&self, height: u64, round: Round, digest: Hash) -> Vec<SignedVote> {
        (0..self.members.len())
            .map(|s| self.vote(s, VoteKind::Prepare, height, round, digest))
            .collect()
    }

    /// Records what `msg` tells; returns its height.
    fn learn(&mut self, msg: &Message, honest_sender: bool) -> Option<u64> {
        let h = msg.height()?;
        let intel = self.intel.entry(h).or_default();
        match msg {
            Message::Proposal {
                proposal, block, ..
            } => {
                intel
                    .proposals
                    .entry(proposal.vote.round)
                    .or_default()
                    .insert(proposal.vote.digest, block.clone());
            }
            Message::Prepare(v) if honest_sender => {
                intel
                    .prepares
                    .entry((v.vote.round, v.vote.digest))
                    .or_default()
                    .insert(v.signer, v.clone());
            }
            Message::RoundChange {
                round_change,
                prepares,
                ..
            } if honest_sender => {
                intel
                    .rcs
                    .entry(round_change.body.round)
                    .or_default()
                    .insert(
                        round_change.signer,
                        SeenRc {
                            rc: round_change.clone(),
                            prepares: prepares.clone(),
                        },
                    );
            }
            _ => {}
        }
        Some(h)
    }

    fn done(&self, h: u64, m: Move, r: Round) -> bool {
        self.intel.get(&h).is_some_and(|i| i.done.contains(&(m, r)))
    }

    fn mark(&mut self, h: u64, m: Move, r: Round) -> bool {
        self.intel.entry(h).or_default().done.insert((m, r))
    }
}

impl Sim {
    /// A message is delivered to a colluder: the whole coalition learns it and may act.
    pub(super) fn coalition_observe(&mut self, from: usize, bytes: &[u8]) {
        if self.peers[from].colluding {
            return;
        }
        let Some(mut co) = self.coalition.take() else {
            return;
        };
        if let Ok(msg) = codec::decode(bytes, usize::MAX) {
            if let Some(h) = co.learn(&msg, true) {
                self.prune_intel(&mut co);
                self.react(&mut co, h);
            }
        }
        self.coalition = Some(co);
    }

    /// A colluder's own node sends `bytes` to `to`: the coalition learns it, acts, and sends
    /// it on, rewritten or not at all as the plan requires.
    pub(super) fn coalition_send(&mut self, i: usize, to: &[usize], bytes: Vec<u8>) {
        let Some(mut co) = self.coalition.take() else {
            return;
        };
        let out = match codec::decode(&bytes, usize::MAX) {
            Ok(msg) => {
                if let Some(h) = co.learn(&msg, false) {
                    self.react(&mut co, h);
                }
                self.filter_own(&mut co, i, to, msg)
            }
            Err(_) => Some((to.to_vec(), bytes)),
        };
        if let Some((to, bytes)) = out {
            let bytes = Rc::new(bytes);
            for j in to {
                self.transmit(i, j, bytes.clone());
            }
        }
        self.coalition = Some(co);
    }

    fn prune_intel(&mut self, co: &mut Coalition) {
        let low = self.honest_heights().into_iter().min().unwrap_or(0);
        if low > 1 {
            co.intel = co.intel.split_off(&(low - 1));
        }
    }

    fn honest_peers(&self) -> Vec<usize> {
        (0..self.peers.len()).filter(|i| self.honest(*i)).collect()
    }

    fn quorum_at(&self, h: u64) -> usize {
        self.sets
            .get(self.node_cfg.epoch_of(h) as usize)
            .map_or(usize::MAX, |s| s.quorum())
    }

    fn proposer_at(&self, h: u64, r: Round) -> Option<usize> {
        let set = self.sets.get(self.node_cfg.epoch_of(h) as usize)?;
        let id = proposer(set, h, r)?;
        self.peers.iter().position(|p| p.id == id)
    }

    /// Sends a crafted message from colluder `from`.
    fn send_crafted(&mut self, from: usize, to: &[usize], msg: &Message) {
        let bytes = Rc::new(codec::encode(msg));
        for &j in to {
            if j != from {
                self.report.colluder_messages += 1;
                self.transmit(from, j, bytes.clone());
            }
        }
    }

    /// The parent (hash, timestamp lower bound) of blocks at height `h`, as the coalition
    /// knows it: from a colluder's node at that height, or from a block proposed there.
    fn parent_at(&self, co: &Coalition, h: u64) -> Option<(Hash, u64)> {
        for &m in &co.members {
            if let Some(n) = &self.peers[m].node {
                if n.height() == h {
                    let c = n.chain();
                    return Some((c.last_hash, c.last_timestamp_ns));
                }
            }
        }
        let intel = co.intel.get(&h)?;
        intel
            .proposals
            .values()
            .flat_map(|m| m.values())
            .next()
            .map(|b| (b.header.parent_hash, b.header.timestamp_ns))
    }

    /// A valid block at `h` by colluder `slot` that nobody proposed.
    fn craft_block(&mut self, co: &mut Coalition, slot: usize, h: u64) -> Option<Block> {
        let (parent, ts) = self.parent_at(co, h)?;
        co.crafted += 1;
        let me = co.signers[slot].node_id();
        let bits = vec![StateBit::Poc(PocResult {
            node: NodeId([0xc0; 32]),
            e_fixed: 1 + (co.crafted % (SIM_MAX_E - 1)),
            passed: true,
            validator: me,
        })];
        Some(Block::new(h, parent, me, ts.max(self.now), bits))
    }

    /// Splits the honest nodes in two: `a` gets `a_len` of them (clamped), `b` the rest.
    fn split(&mut self, a_len: usize) -> (Vec<usize>, Vec<usize>) {
        let mut honest = self.honest_peers();
        super::shuffle(&mut self.rng, &mut honest);
        let k = a_len.min(honest.len());
        let b = honest.split_off(k);
        (honest, b)
    }

    /// Strategy moves triggered by what the coalition learned at height `h`.
    fn react(&mut self, co: &mut Coalition, h: u64) {
        match co.strategy {
            Collusion::TargetedEquivocation => {}
            Collusion::Amnesia => self.amnesia_react(co, h),
            Collusion::ForgedRoundChange => self.forge_react(co, h),
        }
    }

    /// What becomes of a message a colluder's own node sends: `None` withholds it.
    fn filter_own(
        &mut self,
        co: &mut Coalition,
        i: usize,
        to: &[usize],
        msg: Message,
    ) -> Option<(Vec<usize>, Vec<u8>)> {
        let pass = |msg: &Message| Some((to.to_vec(), codec::encode(msg)));
        // Checkpoint signatures and block sync go out as they are.
        let Some(h) = msg.height() else {
            return pass(&msg);
        };
        match co.strategy {
            Collusion::TargetedEquivocation => match &msg {
                Message::Proposal {
                    proposal,
                    block,
                    round_changes,
                    prepares,
                } if prepares.is_empty() => {
                    let r = proposal.vote.round;
                    if !co.mark(h, Move::Split, r) {
                        return pass(&msg);
                    }
                    self.split_proposal(co, i, proposal, block, round_changes);
                    None
                }
                Message::Prepare(v) | Message::Commit(v)
                    if co.done(h, Move::Split, v.vote.round) =>
                {
                    None
                }
                _ => pass(&msg),
            },
            Collusion::Amnesia => {
                let plan = co
                    .intel
                    .get(&h)
                    .and_then(|x| x.plan.as_ref())
                    .map(|p| (p.round, p.a.clone()));
                match (&msg, plan) {
                    (Message::Prepare(v) | Message::Commit(v), Some((r, _)))
                        if v.vote.round == r || v.vote.round == r + 1 =>
                    {
                        None
                    }
                    (Message::Proposal { proposal, .. }, Some((r, _)))
                        if proposal.vote.round == r + 1 =>
                    {
                        None
                    }
                    (Message::Proposal { proposal, .. }, Some((r, a)))
                        if proposal.vote.round == r =>
                    {
                        // The colluding proposer of round r shows its value to group a only.
                        let mut to: Vec<usize> = a;
                        to.extend(co.members.iter().copied().filter(|m| *m != i));
                        Some((to, codec::encode(&msg)))
                    }
                    (Message::RoundChange { round_change, .. }, plan) => {
                        let r = round_change.body.round;
                        if plan.is_some_and(|(pr, _)| r == pr + 1) {
                            return None;
                        }
                        // Amnesia: never report a prepared value.
                        let slot = co.slot_of(i)?;
                        let rc = co.round_change(
                            slot,
                            RoundChange {
                                height: h,
                                round: r,
                                prepared: None,
                            },
                        );
                        pass(&Message::RoundChange {
                            round_change: rc,
                            prepared_block: None,
                            prepares: Vec::new(),
                        })
                    }
                    _ => pass(&msg),
                }
            }
            Collusion::ForgedRoundChange => match &msg {
                Message::RoundChange { round_change, .. } => {
                    let r = round_change.body.round;
                    if co.mark(h, Move::ForgeRoundChanges, r) {
                        self.forge_round_changes(co, h, r);
                    }
                    None
                }
                Message::Proposal { proposal, .. } if proposal.vote.round > 0 => {
                    let r = proposal.vote.round;
                    if co.mark(h, Move::ForgeProposal, r) {
                        self.forge_proposal(co, h, r);
                    }
                    None
                }
                _ => pass(&msg),
            },
        }
    }

    // ----- targeted equivocation ----------------------------------------------------------

    /// Colluder `i` proposes `x` at `(h, r)`: `x` goes to group a, a conflicting `y` to group
    /// b, and every colluder prepares and commits each block towards its group.
    fn split_proposal(
        &mut self,
        co: &mut Coalition,
        i: usize,
        proposal: &SignedVote,
        x: &Block,
        round_changes: &[SignedRoundChange],
    ) {
        let (h, r) = (proposal.vote.height, proposal.vote.round);
        let Some(slot) = co.slot_of(i) else { return };
        let q = self.quorum_at(h);
        let honest = self.honest_peers().len();
        // Each group should reach a quorum with the colluders' votes; with F colluders only
        // one can, and the split keeps the other as big as possible.
        let a_len = q.saturating_sub(co.members.len()).max(honest.div_ceil(2));
        let (a, b) = self.split(a_len);
        co.crafted += 1;
        let mut bits = x.bits.clone();
        bits.push(StateBit::Poc(PocResult {
            node: NodeId([0xe9; 32]),
            e_fixed: 1 + (co.crafted % (SIM_MAX_E - 1)),
            passed: true,
            validator: self.peers[i].id,
        }));
        let hd = &x.header;
        let y = Block::new(h, hd.parent_hash, hd.proposer, hd.timestamp_ns + 1, bits);
        let py = co.vote(slot, VoteKind::Proposal, h, r, y.hash());
        let mut a_side = a.clone();
        a_side.extend(co.members.iter().copied().filter(|m| *m != i));
        for (block, p, group) in [(x, proposal.clone(), &a_side), (&y, py, &b)] {
            let msg = Message::Proposal {
                proposal: p,
                block: block.clone(),
                round_changes: round_changes.to_vec(),
                prepares: Vec::new(),
            };
            self.send_crafted(i, group, &msg);
        }
        for s in 0..co.members.len() {
            let from = co.members[s];
            for (d, group) in [(x.hash(), &a), (y.hash(), &b)] {
                let p = Message::Prepare(co.vote(s, VoteKind::Prepare, h, r, d));
                let c = Message::Commit(co.vote(s, VoteKind::Commit, h, r, d));
                self.send_crafted(from, group, &p);
                self.send_crafted(from, group, &c);
            }
        }
    }

    // ----- amnesia ------------------------------------------------------------------------

    fn amnesia_react(&mut self, co: &mut Coalition, h: u64) {
        let has_plan = co.intel.get(&h).is_some_and(|x| x.plan.is_some());
        if !has_plan {
            // The first proposal seen at this height is the value to prepare, then forget.
            let first = co.intel.get(&h).and_then(|x| {
                x.proposals
                    .iter()
                    .next()
                    .and_then(|(r, m)| m.keys().next().map(|d| (*r, *d)))
            });
            if let Some((r, v)) = first {
                self.amnesia_start(co, h, r, v);
            }
        }
        self.amnesia_second_value(co, h);
    }

    /// Round r: prepare `v` towards group a only (so that group b stays unprepared), hold
    /// the commits, and pull group b into round r+1 with amnesiac round changes.
    fn amnesia_start(&mut self, co: &mut Coalition, h: u64, r: Round, v: Hash) {
        let q = self.quorum_at(h);
        let k = co.members.len();
        let honest = self.honest_peers().len();
        let a_len = q
            .saturating_sub(k)
            .clamp(1, honest.saturating_sub(1).max(1));
        let (mut a, mut b) = self.split(a_len);
        // The honest proposer of round r+1, if any, must be in group b, which it leads.
        if let Some(p) = self.proposer_at(h, r + 1) {
            if let (Some(pos), false) = (a.iter().position(|x| *x == p), b.is_empty()) {
                std::mem::swap(&mut a[pos], &mut b[0]);
            }
        }
        let mut held = Vec::new();
        for s in 0..k {
            let from = co.members[s];
            let p = Message::Prepare(co.vote(s, VoteKind::Prepare, h, r, v));
            self.send_crafted(from, &a, &p);
            held.push((from, Message::Commit(co.vote(s, VoteKind::Commit, h, r, v))));
            let rc = co.round_change(
                s,
                RoundChange {
                    height: h,
                    round: r + 1,
                    prepared: None,
                },
            );
            let msg = Message::RoundChange {
                round_change: rc,
                prepared_block: None,
                prepares: Vec::new(),
            };
            self.send_crafted(from, &b, &msg);
        }
        // Worst-case timing for a restart: one node of group a crashes right after it
        // prepared `v` and comes back before round r+1 is decided.
        if self.crashes && self.now < self.cfg.heal_at_ns && !a.is_empty() && self.rng.gen_bool(0.3)
        {
            let node = a[self.rng.gen_range(0..a.len())];
            let at = self.now + self.rng.gen_range(5 * MS..60 * MS);
            let back = at + self.rng.gen_range(10 * MS..300 * MS);
            if back < self.cfg.heal_at_ns {
                self.report.fault_desc.push_str(&format!(
                    " crash[{node}]@{}-{}ms",
                    at / MS,
                    back / MS
                ));
                self.push(at, Event::Crash { node });
                self.push(back, Event::Restart { node });
            }
        }
        co.intel.entry(h).or_default().plan = Some(Plan {
            round: r,
            value: v,
            a,
            b,
            held,
        });
    }

    /// Round r+1: a value other than the prepared one for group b (proposed by a colluder
    /// from amnesiac round changes, or by b's honest proposer), with the colluders' votes;
    /// then the held commits for the first value go to group a.
    fn amnesia_second_value(&mut self, co: &mut Coalition, h: u64) {
        let Some(plan) = co.intel.get(&h).and_then(|x| x.plan.as_ref()) else {
            return;
        };
        let (r, v, mut b) = (plan.round, plan.value, plan.b.clone());
        let r1 = r + 1;
        if co.done(h, Move::SecondValue, r1) {
            return;
        }
        // Group b grows by every honest node that reports nothing prepared in round r+1
        // (one of group a that forgot its prepared value, say across a restart, joins it).
        let forgetful: Vec<NodeId> = co
            .intel
            .get(&h)
            .and_then(|x| x.rcs.get(&r1))
            .map(|m| {
                m.values()
                    .filter(|e| e.rc.body.prepared.is_none())
                    .map(|e| e.rc.signer)
                    .collect()
            })
            .unwrap_or_default();
        for id in forgetful {
            if let Some(j) = self.peers.iter().position(|p| p.id == id) {
                if !b.contains(&j) {
                    b.push(j);
                }
            }
        }
        let q = self.quorum_at(h);
        let k = co.members.len();
        let proposer = self.proposer_at(h, r1);
        let w = match proposer.and_then(|p| co.slot_of(p)) {
            Some(slot) => {
                let unprepared: Vec<SignedRoundChange> = co
                    .intel
                    .get(&h)
                    .and_then(|x| x.rcs.get(&r1))
                    .map(|m| {
                        m.values()
                            .filter(|e| e.rc.body.prepared.is_none())
                            .map(|e| e.rc.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                if unprepared.len() + k < q {
                    return;
                }
                let Some(w) = self.craft_block(co, slot, h) else {
                    return;
                };
                let mut rcs: Vec<SignedRoundChange> = (0..k)
                    .map(|s| {
                        co.round_change(
                            s,
                            RoundChange {
                                height: h,
                                round: r1,
                                prepared: None,
                            },
                        )
                    })
                    .collect();
                rcs.extend(unprepared);
                rcs.truncate(q);
                let msg = Message::Proposal {
                    proposal: co.vote(slot, VoteKind::Proposal, h, r1, w.hash()),
                    block: w.clone(),
                    round_changes: rcs,
                    prepares: Vec::new(),
                };
                self.send_crafted(co.members[slot], &b, &msg);
                w.hash()
            }
            None => {
                let seen = co
                    .intel
                    .get(&h)
                    .and_then(|x| x.proposals.get(&r1))
                    .and_then(|m| m.keys().find(|d| **d != v).copied());
                match seen {
                    Some(w) => w,
                    None => return,
                }
            }
        };
        co.mark(h, Move::SecondValue, r1);
        for s in 0..k {
            let from = co.members[s];
            let p = Message::Prepare(co.vote(s, VoteKind::Prepare, h, r1, w));
            let c = Message::Commit(co.vote(s, VoteKind::Commit, h, r1, w));
            self.send_crafted(from, &b, &p);
            self.send_crafted(from, &b, &c);
        }
        let (held, a) = match co.intel.get_mut(&h).and_then(|x| x.plan.as_mut()) {
            Some(p) => (
                std::mem::take(&mut p.held),
                p.a.iter()
                    .copied()
                    .filter(|j| !b.contains(j))
                    .collect::<Vec<_>>(),
            ),
            None => return,
        };
        for (from, msg) in held {
            self.send_crafted(from, &a, &msg);
        }
    }

    // ----- forged round-change certificates ------------------------------------------------

    fn forge_react(&mut self, co: &mut Coalition, h: u64) {
        let rounds: Vec<Round> = co
            .intel
            .get(&h)
            .map(|x| x.rcs.keys().copied().collect())
            .unwrap_or_default();
        let q = self.quorum_at(h);
        for r in rounds {
            if r == 0 {
                continue;
            }
            if co.mark(h, Move::ForgeRoundChanges, r) {
                self.forge_round_changes(co, h, r);
            }
            let seen = co
                .intel
                .get(&h)
                .and_then(|x| x.rcs.get(&r))
                .map_or(0, |m| m.len());
            let colluding_proposer = self.proposer_at(h, r).is_some_and(|p| co.is_member(p));
            if colluding_proposer
                && seen + co.members.len() >= q
                && co.mark(h, Move::ForgeProposal, r)
            {
                self.forge_proposal(co, h, r);
            }
        }
    }

    /// A forged prepared certificate for round `pr` < `r` at `h`: the claim it backs, the
    /// block sent with it, and the prepares. Never a valid one: the honest rules must refuse
    /// each of them.
    fn forge_certificate(
        &mut self,
        co: &mut Coalition,
        slot: usize,
        h: u64,
        r: Round,
    ) -> Option<((Round, Hash), Block, Vec<SignedVote>)> {
        let q = self.quorum_at(h);
        let w = self.craft_block(co, slot, h)?;
        let wd = w.hash();
        let pr = self.rng.gen_range(0..r);
        let members: Vec<NodeId> = self
            .sets
            .get(self.node_cfg.epoch_of(h) as usize)
            .map(|s| s.members.clone())
            .unwrap_or_default();
        // A real quorum of honest prepares seen at this height, if any: (round, digest).
        let real = co.intel.get(&h).and_then(|x| {
            x.prepares
                .iter()
                .filter(|(_, m)| m.len() + co.members.len() >= q)
                .max_by_key(|((r0, _), m)| (*r0, m.len()))
                .map(|((r0, d), m)| (*r0, *d, m.values().cloned().collect::<Vec<_>>()))
        });
        let cert = match self.rng.gen_range(0..8) {
            // Too few: only the colluders' prepares, for a value never proposed.
            0 => {
                let mut p = co.prepares(h, pr, wd);
                p.truncate(q - 1);
                ((pr, wd), w, p)
            }
            // Fabricated: every member "prepared", the honest signatures are made up.
            1 => {
                let mut p = co.prepares(h, pr, wd);
                for id in &members {
                    if p.iter().any(|x| x.signer == *id) {
                        continue;
                    }
                    let mut sig = [0u8; 64];
                    self.rng.fill(&mut sig[..]);
                    p.push(SignedVote {
                        vote: Vote {
                            height: h,
                            round: pr,
                            digest: wd,
                        },
                        signer: *id,
                        signature: Signature(sig),
                    });
                }
                ((pr, wd), w, p)
            }
            // Duplicates: the colluders' prepares repeated up to a quorum.
            2 => {
                let own = co.prepares(h, pr, wd);
                let p = own.iter().cycle().take(q.max(own.len())).cloned().collect();
                ((pr, wd), w, p)
            }
            // Prepares of another round: honest prepares seen (valid signatures), claimed
            // for a round they were not cast in.
            3 => match real {
                Some((r0, d, mut p)) => {
                    p.extend(co.prepares(h, r0, d));
                    let block = co
                        .intel
                        .get(&h)
                        .and_then(|x| x.proposals.get(&r0))
                        .and_then(|m| m.get(&d).cloned())
                        .unwrap_or(w);
                    let claim = if r0 + 1 < r {
                        r0 + 1
                    } else if r0 > 0 {
                        r0 - 1
                    } else {
                        // No other round below r: prepares of round 1 for round 0.
                        p.extend(co.prepares(h, 1, d));
                        p.retain(|x| x.vote.round == 1);
                        0
                    };
                    ((claim, d), block, p)
                }
                None => {
                    let mut p = co.prepares(h, pr + 1, wd);
                    p.extend(co.prepares(h, pr, wd));
                    ((pr, wd), w, p)
                }
            },
            // Prepares of another height: a quorum seen at h-1 (or the colluders' own).
            4 => {
                let old = co.intel.get(&(h - 1)).and_then(|x| {
                    x.prepares
                        .values()
                        .max_by_key(|m| m.len())
                        .map(|m| m.values().cloned().collect::<Vec<_>>())
                });
                let mut p = old.unwrap_or_default();
                p.extend(co.prepares(h.saturating_sub(1), pr, wd));
                ((pr, wd), w, p)
            }
            // Mismatched: a real certificate (honest and colluding prepares of one value),
            // sent with another block, or claimed for another value.
            5 => match real {
                Some((r0, d, mut p)) if r0 < r => {
                    p.extend(co.prepares(h, r0, d));
                    if self.rng.gen_bool(0.5) {
                        ((r0, d), w, p)
                    } else {
                        ((r0, wd), w, p)
                    }
                }
                _ => {
                    let other = self.craft_block(co, slot, h)?;
                    ((pr, other.hash()), w, co.prepares(h, pr, other.hash()))
                }
            },
            // Outsiders: a quorum of prepares signed by keys outside the validator set.
            6 => {
                let p = (0..q)
                    .map(|x| {
                        let mut seed = [0x0du8; 32];
                        seed[..8].copy_from_slice(&(x as u64).to_be_bytes());
                        let s = match self.cfg.crypto {
                            super::SimCrypto::Ed25519 => {
                                SimSigner::Ed25519(Ed25519Signer::from_seed(seed))
                            }
                            super::SimCrypto::FastInsecure => SimSigner::Fast(NodeId(seed)),
                        };
                        let vote = Vote {
                            height: h,
                            round: pr,
                            digest: wd,
                        };
                        SignedVote {
                            vote,
                            signer: s.node_id(),
                            signature: s.sign(&vote_signing_bytes(VoteKind::Prepare, &vote)),
                        }
                    })
                    .collect();
                ((pr, wd), w, p)
            }
            // Not a past round: "prepared" in the round being changed to.
            _ => {
                let mut p = co.prepares(h, r, wd);
                if let Some(x) = co.intel.get(&h) {
                    for ((r0, _), m) in &x.prepares {
                        if *r0 == r {
                            p.extend(m.values().cloned());
                        }
                    }
                }
                ((r, wd), w, p)
            }
        };
        Some(cert)
    }

    /// Every colluder sends a ROUND-CHANGE for `(h, r)` with a forged certificate to every
    /// honest node (instead of its real one).
    fn forge_round_changes(&mut self, co: &mut Coalition, h: u64, r: Round) {
        if r == 0 {
            return;
        }
        let honest = self.honest_peers();
        for s in 0..co.members.len() {
            let Some((claim, block, prepares)) = self.forge_certificate(co, s, h, r) else {
                continue;
            };
            let rc = co.round_change(
                s,
                RoundChange {
                    height: h,
                    round: r,
                    prepared: Some(claim),
                },
            );
            let msg = Message::RoundChange {
                round_change: rc,
                prepared_block: Some(block),
                prepares,
            };
            self.send_crafted(co.members[s], &honest, &msg);
        }
    }

    /// The colluding proposer of `(h, r)` proposes a value nobody prepared, with a forged
    /// justification, and every colluder votes for it.
    fn forge_proposal(&mut self, co: &mut Coalition, h: u64, r: Round) {
        let Some(slot) = self.proposer_at(h, r).and_then(|p| co.slot_of(p)) else {
            return;
        };
        let q = self.quorum_at(h);
        let k = co.members.len();
        let seen: Vec<SeenRc> = co
            .intel
            .get(&h)
            .and_then(|x| x.rcs.get(&r))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        let amnesiac = |co: &Coalition, s: usize, round: Round| {
            co.round_change(
                s,
                RoundChange {
                    height: h,
                    round,
                    prepared: None,
                },
            )
        };
        let variant = self.rng.gen_range(0..5);
        let (block, rcs, prepares) = match variant {
            // Claim higher: the honest round changes plus colluders claiming a higher
            // prepared round for the new value, with a forged certificate.
            0 => {
                let Some((claim, w, p)) = self.forge_certificate(co, slot, h, r) else {
                    return;
                };
                let mut rcs: Vec<SignedRoundChange> = (0..k)
                    .map(|s| {
                        co.round_change(
                            s,
                            RoundChange {
                                height: h,
                                round: r,
                                prepared: Some(claim),
                            },
                        )
                    })
                    .collect();
                rcs.extend(seen.iter().map(|e| e.rc.clone()));
                rcs.truncate(q.max(k));
                (w, rcs, p)
            }
            // Hide the prepared: the unprepared round changes, padded to a quorum with round
            // changes of the previous round, duplicates or colluders' ones of another height.
            1 => {
                let Some(w) = self.craft_block(co, slot, h) else {
                    return;
                };
                let mut rcs: Vec<SignedRoundChange> = (0..k).map(|s| amnesiac(co, s, r)).collect();
                rcs.extend(
                    seen.iter()
                        .filter(|e| e.rc.body.prepared.is_none())
                        .map(|e| e.rc.clone()),
                );
                if rcs.len() < q {
                    let prev: Vec<SignedRoundChange> = co
                        .intel
                        .get(&h)
                        .and_then(|x| x.rcs.get(&(r - 1)))
                        .map(|m| m.values().map(|e| e.rc.clone()).collect())
                        .unwrap_or_default();
                    rcs.extend(prev);
                }
                if rcs.len() < q {
                    let mut extra: Vec<SignedRoundChange> =
                        (0..k).map(|s| amnesiac(co, s, r)).collect();
                    extra.extend((0..k).map(|s| {
                        co.round_change(
                            s,
                            RoundChange {
                                height: h + 1,
                                round: r,
                                prepared: None,
                            },
                        )
                    }));
                    rcs.extend(extra);
                }
                (w, rcs, Vec::new())
            }
            // Mismatched: the highest honest prepared round change, its certificate, and a
            // different block.
            2 => {
                let best = seen
                    .iter()
                    .filter(|e| e.rc.body.prepared.is_some())
                    .max_by_key(|e| e.rc.body.prepared.map(|(pr, _)| pr))
                    .cloned();
                let Some(w) = self.craft_block(co, slot, h) else {
                    return;
                };
                let mut rcs: Vec<SignedRoundChange> = seen.iter().map(|e| e.rc.clone()).collect();
                rcs.extend((0..k).map(|s| amnesiac(co, s, r)));
                rcs.truncate(q.max(1));
                match best {
                    Some(e) => {
                        if !rcs.contains(&e.rc) {
                            rcs.insert(0, e.rc.clone());
                        }
                        (w, rcs, e.prepares)
                    }
                    None => {
                        let p = co.prepares(h, r - 1, w.hash());
                        (w, rcs, p)
                    }
                }
            }
            // Too few round changes: the colluders' own only.
            3 => {
                let Some(w) = self.craft_block(co, slot, h) else {
                    return;
                };
                let rcs = (0..k).map(|s| amnesiac(co, s, r)).collect();
                (w, rcs, Vec::new())
            }
            // Round changes of another height (the previous one, same round, if seen).
            _ => {
                let Some(w) = self.craft_block(co, slot, h) else {
                    return;
                };
                let mut rcs: Vec<SignedRoundChange> = co
                    .intel
                    .get(&(h - 1))
                    .and_then(|x| x.rcs.get(&r))
                    .map(|m| m.values().map(|e| e.rc.clone()).collect())
                    .unwrap_or_default();
                rcs.extend((0..k).map(|s| {
                    co.round_change(
                        s,
                        RoundChange {
                            height: h - 1,
                            round: r,
                            prepared: None,
                        },
                    )
                }));
                (w, rcs, Vec::new())
            }
        };
        let d = block.hash();
        let msg = Message::Proposal {
            proposal: co.vote(slot, VoteKind::Proposal, h, r, d),
            block,
            round_changes: rcs,
            prepares,
        };
        let honest = self.honest_peers();
        self.send_crafted(co.members[slot], &honest, &msg);
        for s in 0..k {
            let from = co.members[s];
            let p = Message::Prepare(co.vote(s, VoteKind::Prepare, h, r, d));
            let c = Message::Commit(co.vote(s, VoteKind::Commit, h, r, d));
            self.send_crafted(from, &honest, &p);
            self.send_crafted(from, &honest, &c);
        }
    }
}
