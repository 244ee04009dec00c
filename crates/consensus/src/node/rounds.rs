//! The QBFT rules of one height: proposals and their justification, PREPARE and COMMIT
//! quorums, round changes (F+1 jumps, re-proposal of the highest prepared value), timers, and
//! the equivocation guard on everything this node signs.

use super::{proposer, Application, Effect, Node, RcEntry, Timer, TimerKind, WalRecord};
use crate::codec::encode;
use crate::crypto::{vote_signing_bytes, SigItem, Signer, Verifier};
use crate::message::{
    check_seal_signers, CommittedBlock, Message, PreparedCertificate, Round, RoundChange, Seal,
    SignedRoundChange, SignedVote, Vote, VoteKind,
};
use crate::metrics::Metrics;
use emc_types::{Block, Hash, NodeId, ParentCommit, StateBit, ValidatorSet};
use std::collections::{BTreeMap, BTreeSet};

impl<A: Application, S: Signer, V: Verifier> Node<A, S, V> {
    pub(super) fn quorum(&self) -> usize {
        self.cur
            .set
            .as_ref()
            .map_or(usize::MAX, ValidatorSet::quorum)
    }

    pub(super) fn is_proposer(&self, round: Round) -> bool {
        self.cur
            .set
            .as_ref()
            .and_then(|s| proposer(s, self.cur.height, round))
            == Some(self.me)
    }

    pub(super) fn is_member(&self) -> bool {
        self.cur.set.as_ref().is_some_and(|s| s.contains(&self.me))
    }

    pub(super) fn in_window(&self, round: Round) -> bool {
        round >= self.cur.round && round - self.cur.round <= self.cfg.round_window
    }

    /// Checks a candidate block for the current height.
    pub(super) fn check_block(&self, block: &Block) -> bool {
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
            && self.parent_commit_valid(block)
            && self.checkpoint_cert_valid(block)
            && self.app.validate(block).is_ok()
    }

    /// The parent commit of the next proposal: the seals this node holds for the last decided
    /// block (its quorum plus the seals that arrived later), `None` before the first block
    /// (height 1 has no parent) or when that block's seals are not held.
    pub(super) fn parent_commit(&self) -> Option<ParentCommit> {
        self.recent
            .back()
            .filter(|cb| cb.block.header.height == self.chain.height)
            .map(|cb| ParentCommit {
                round: cb.round,
                seals: cb.seals.clone(),
            })
    }

    /// A block above height 1 starts with the seals that committed its parent, a quorum of
    /// valid seals by distinct members of the parent height's set, and carries no other parent
    /// commit; a block at height 1 carries none. The parent commit is the agreed record of
    /// validator participation (the application pays and fines on it), so a proposer can omit
    /// seals (never below a quorum) but cannot invent one. Seals this node already verified
    /// for its last decided block are not verified again.
    pub(super) fn parent_commit_valid(&self, block: &Block) -> bool {
        let h = block.header.height;
        let mut commits = block.bits.iter().enumerate().filter_map(|(i, b)| match b {
            StateBit::ParentCommit(pc) => Some((i, pc)),
            _ => None,
        });
        let first = commits.next();
        if commits.next().is_some() {
            return false;
        }
        if h <= 1 {
            return first.is_none();
        }
        let Some((0, pc)) = first else {
            return false;
        };
        let Some(set) = self.set_for_height(h - 1) else {
            return false;
        };
        let parent = block.header.parent_hash;
        let known = self.recent.back().filter(|cb| {
            cb.block.header.height == h - 1
                && cb.round == pc.round
                && self.chain.last_hash == parent
        });
        let msg = vote_signing_bytes(
            VoteKind::Commit,
            &Vote {
                height: h - 1,
                round: pc.round,
                digest: parent,
            },
        );
        let Ok(signers) = check_seal_signers(&pc.seals, &set) else {
            return false;
        };
        let items: Vec<SigItem> = pc
            .seals
            .iter()
            .filter(|seal| !known.is_some_and(|cb| cb.seals.contains(seal)))
            .map(|seal| SigItem {
                signer: seal.signer,
                msg: msg.clone(),
                sig: seal.signature,
            })
            .collect();
        signers >= set.quorum() && self.all_valid(&items)
    }

    /// A COMMIT for the block this node decided last, arriving after the decision: its seal
    /// joins the block's seals (so the next proposal credits its signer). It is kept
    /// unverified (one per member; another one under the same name is verified at once) until
    /// this node builds a parent commit ([`Self::verify_late_seals`]): only a proposer needs
    /// them. Returns whether the vote was about that block.
    pub(super) fn on_late_commit(&mut self, c: &SignedVote) -> bool {
        let v = &c.vote;
        if v.height != self.chain.height || v.digest != self.chain.last_hash {
            return false;
        }
        let Some(set) = self.set_for_height(v.height) else {
            return false;
        };
        let Some(cb) = self.recent.back() else {
            return false;
        };
        if cb.block.header.height != v.height
            || cb.round != v.round
            || !set.contains(&c.signer)
            || cb.seals.iter().any(|s| s.signer == c.signer)
        {
            return true;
        }
        match self.late_unverified.get(&c.signer) {
            None => {
                self.late_unverified.insert(c.signer, c.clone());
            }
            Some(p) if p == c => self.metrics.duplicate += 1,
            Some(_) => {
                if self.all_valid(&[c.sig_item(VoteKind::Commit)]) {
                    self.late_unverified.remove(&c.signer);
                    self.add_late_seal(c);
                } else {
                    self.metrics.bad_signature += 1;
                }
            }
        }
        true
    }

    /// Verifies the late COMMITs kept unverified, as one batch; the valid ones join the last
    /// decided block's seals.
    pub(super) fn verify_late_seals(&mut self) {
        let late: Vec<SignedVote> = std::mem::take(&mut self.late_unverified)
            .into_values()
            .collect();
        if late.is_empty() {
            return;
        }
        let items: Vec<_> = late.iter().map(|c| c.sig_item(VoteKind::Commit)).collect();
        let ok = self.verify_votes(&items);
        for (c, ok) in late.iter().zip(ok) {
            if ok {
                self.add_late_seal(c);
            } else {
                self.metrics.bad_signature += 1;
            }
        }
    }

    /// A verified COMMIT for the last decided block joins its seals (once per signer).
    pub(super) fn add_late_seal(&mut self, c: &SignedVote) {
        let v = &c.vote;
        if v.height != self.chain.height || v.digest != self.chain.last_hash {
            return;
        }
        if let Some(cb) = self.recent.back_mut() {
            if cb.block.header.height != v.height
                || cb.round != v.round
                || cb.seals.iter().any(|s| s.signer == c.signer)
            {
                return;
            }
            cb.seals.push(Seal {
                signer: c.signer,
                signature: c.signature,
            });
            self.metrics.late_seals += 1;
        }
    }

    /// A proposed block is not stamped later than the local clock plus the allowed drift
    /// (besides [`Self::check_block`]'s "not earlier than the parent"). Checked on proposals
    /// only: a block a quorum has prepared was accepted by at least F+1 honest nodes on their
    /// clocks, and a lagging clock only delays this node's prepare until it catches up.
    pub(super) fn timestamp_not_ahead(&self, block: &Block) -> bool {
        block.header.timestamp_ns <= self.now.saturating_add(self.cfg.max_future_drift_ns)
    }

    /// A quorum of prepares by distinct members for `(height, round, digest)`.
    pub(super) fn valid_prepare_cert(
        &self,
        round: Round,
        digest: Hash,
        prepares: &[SignedVote],
    ) -> bool {
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

    pub(super) fn on_proposal(
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
        if !self.timestamp_not_ahead(&block)
            || !self.check_block(&block)
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
    pub(super) fn justified(
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

    pub(super) fn on_prepare(&mut self, p: SignedVote) {
        let r = p.vote.round;
        if !self.in_window(r) {
            self.metrics.stale += 1;
            return;
        }
        let digest = p.vote.digest;
        if record_vote(
            self.cur.prepares.entry(r).or_default(),
            p,
            &mut self.metrics,
        ) {
            self.check_prepared(r);
            self.flush_unverified(VoteKind::Prepare, r, digest);
        }
    }

    /// PREPARE quorum for the accepted proposal of the current round: become prepared and
    /// send COMMIT.
    pub(super) fn check_prepared(&mut self, r: Round) {
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

    pub(super) fn on_commit(&mut self, c: SignedVote) {
        let r = c.vote.round;
        if r > self.cur.round.saturating_add(self.cfg.round_window) {
            self.metrics.stale += 1;
            return;
        }
        let (h, digest) = (c.vote.height, c.vote.digest);
        if record_vote(self.cur.commits.entry(r).or_default(), c, &mut self.metrics) {
            self.check_committed(r);
            if self.cur.height == h {
                self.flush_unverified(VoteKind::Commit, r, digest);
            }
        }
    }

    /// COMMIT quorum for a known block in round `r`: decide.
    pub(super) fn check_committed(&mut self, r: Round) {
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

    pub(super) fn on_round_change(
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
    pub(super) fn check_round_jump(&mut self) {
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
    pub(super) fn try_propose_after_round_change(&mut self) {
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

    pub(super) fn fresh_block(&mut self) -> Option<Block> {
        self.verify_late_seals();
        let h = self.cur.height;
        let mut bits = Vec::new();
        if h > 1 {
            bits.push(StateBit::ParentCommit(self.parent_commit()?));
        }
        if let Some(sc) = self.cert_to_propose() {
            bits.push(StateBit::CheckpointCert(sc));
        }
        let room = self.cfg.max_block_bits.saturating_sub(bits.len());
        bits.extend(self.app.propose(h, self.now).into_iter().take(room));
        let ts = self.now.max(self.chain.last_timestamp_ns);
        let block = Block::new(h, self.chain.last_hash, self.me, ts, bits);
        if self.check_block(&block) {
            Some(block)
        } else {
            self.metrics.invalid += 1;
            None
        }
    }

    pub(super) fn propose_fresh(&mut self, r: Round) {
        if self.cur.sent_votes.contains_key(&(VoteKind::Proposal, r)) {
            return;
        }
        if let Some(block) = self.fresh_block() {
            self.send_proposal(r, block, Vec::new(), Vec::new());
        }
    }

    pub(super) fn send_proposal(
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
    pub(super) fn advance_round(&mut self, r: Round, send_round_change: bool) {
        if r <= self.cur.round {
            return;
        }
        self.cur.round = r;
        self.cur.prepares = self.cur.prepares.split_off(&r);
        self.cur.round_changes = self.cur.round_changes.split_off(&r);
        self.cur
            .unverified
            .retain(|(kind, round, _), _| *kind == VoteKind::Commit || *round >= r);
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

    pub(super) fn arm_timers(&mut self) {
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
    pub(super) fn sign_vote(
        &mut self,
        kind: VoteKind,
        round: Round,
        digest: Hash,
    ) -> Option<SignedVote> {
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
    pub(super) fn send_vote(&mut self, msg: Message) {
        self.out.push(Effect::Persist(WalRecord::Sent(msg.clone())));
        self.out.push(Effect::Broadcast {
            bytes: encode(&msg),
        });
        self.queue.push_back(msg);
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
