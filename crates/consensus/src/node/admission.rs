//! What a peer's message must pass before the QBFT rules see it: the height (stale, current,
//! next, too far ahead), membership of every signer, a cheap duplicate check, then the
//! signatures (all of a message's signatures as one batch; signatures already verified are
//! not verified again). Next-height messages wait in a bounded buffer.
//!
//! PREPAREs and COMMITs of the current height are verified lazily: a vote is kept unverified
//! until, with the verified votes for the same (kind, round, digest), the unverified ones
//! could make a quorum; then they are verified as one batch and only the valid ones reach the
//! rules. Safety: a vote counts (is stored, can make a quorum, a certificate or a seal) only
//! once its signature verified, exactly as before; a forged vote can at most trigger a batch
//! that fails (then each vote is checked alone and the forgery dropped), i.e. cost the
//! verification it cost before, and never make a quorum. Memory: one unverified vote per
//! (kind, round, signer), signers being members; a second vote under the same name is
//! verified at once (so a forgery cannot keep a member's real vote out), and rounds are
//! bounded as for verified votes.

use super::{proposer, Application, Node};
use crate::crypto::{SigItem, Signer, Verifier};
use crate::message::{Message, Round, SignedVote, VoteKind};
use emc_types::{Hash, NodeId, ValidatorSet};

/// Future-height messages kept per signer.
const FUTURE_PER_SIGNER: usize = 16;

impl<A: Application, S: Signer, V: Verifier> Node<A, S, V> {
    pub(super) fn on_message(&mut self, from: NodeId, msg: Message) {
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
                    if let Message::Commit(c) = &msg {
                        if self.on_late_commit(c) {
                            return;
                        }
                    }
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
                if h == self.cur.height {
                    match msg {
                        Message::Prepare(v) => {
                            return self.on_unverified_vote(VoteKind::Prepare, v)
                        }
                        Message::Commit(v) => return self.on_unverified_vote(VoteKind::Commit, v),
                        _ => {}
                    }
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

    pub(super) fn buffer_future(&mut self, msg: Message) {
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
    pub(super) fn is_duplicate(&self, msg: &Message) -> bool {
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

    /// All of the message's signatures, verified as one batch.
    pub(super) fn signatures_valid(&self, msg: &Message) -> bool {
        let items: Vec<SigItem> = match msg {
            Message::Proposal {
                proposal,
                round_changes,
                prepares,
                ..
            } => std::iter::once(proposal.sig_item(VoteKind::Proposal))
                .chain(round_changes.iter().map(|rc| rc.sig_item()))
                .chain(prepares.iter().map(|p| p.sig_item(VoteKind::Prepare)))
                .collect(),
            Message::Prepare(p) => vec![p.sig_item(VoteKind::Prepare)],
            Message::Commit(c) => vec![c.sig_item(VoteKind::Commit)],
            Message::RoundChange {
                round_change,
                prepares,
                ..
            } => std::iter::once(round_change.sig_item())
                .chain(prepares.iter().map(|p| p.sig_item(VoteKind::Prepare)))
                .collect(),
            _ => return false,
        };
        self.all_valid(&items)
    }

    /// A PREPARE or COMMIT of the current height by a member, signature not verified yet (see
    /// the module docs).
    fn on_unverified_vote(&mut self, kind: VoteKind, v: SignedVote) {
        let r = v.vote.round;
        match kind {
            VoteKind::Prepare => {
                if !self.in_window(r) {
                    self.metrics.stale += 1;
                    return;
                }
                if self.cur.sent_votes.contains_key(&(VoteKind::Commit, r)) {
                    // This node has its prepare quorum for round r: prepares of r change
                    // nothing any more (they are only counted towards that quorum).
                    self.metrics.votes_not_needed += 1;
                    return;
                }
            }
            _ => {
                if r > self.cur.round.saturating_add(self.cfg.round_window) {
                    self.metrics.stale += 1;
                    return;
                }
            }
        }
        let stored = match kind {
            VoteKind::Prepare => self.cur.prepares.get(&r),
            _ => self.cur.commits.get(&r),
        }
        .and_then(|m| m.get(&v.signer));
        if let Some(old) = stored {
            if old.vote.digest == v.vote.digest {
                // The signer's vote is already counted: another copy changes nothing.
                self.metrics.duplicate += 1;
                return;
            }
            // Possibly an equivocation: verify now so that the rules can count it.
            return self.verify_now(kind, v);
        }
        let key = (kind, r, v.signer);
        match self.cur.unverified.get(&key) {
            Some(p) if *p == v => {
                self.metrics.duplicate += 1;
            }
            Some(_) => self.verify_now(kind, v),
            None => {
                let digest = v.vote.digest;
                self.cur.unverified.insert(key, v);
                self.flush_unverified(kind, r, digest);
            }
        }
    }

    fn verify_now(&mut self, kind: VoteKind, v: SignedVote) {
        if self.all_valid(&[v.sig_item(kind)]) {
            // The signer's vote of this round is now counted: another one waiting unverified
            // under its name could never count.
            self.cur.unverified.remove(&(kind, v.vote.round, v.signer));
            self.handle(vote_message(kind, v));
        } else {
            self.metrics.bad_signature += 1;
        }
    }

    /// Verifies, as one batch, the unverified votes for `(kind, round, digest)` once they and
    /// the verified ones for it reach a quorum; the valid ones go to the rules.
    pub(super) fn flush_unverified(&mut self, kind: VoteKind, r: Round, digest: Hash) {
        let verified = match kind {
            VoteKind::Prepare => self.cur.prepares.get(&r),
            _ => self.cur.commits.get(&r),
        }
        .map_or(0, |m| {
            m.values().filter(|v| v.vote.digest == digest).count()
        });
        let keys: Vec<(VoteKind, Round, NodeId)> = self
            .cur
            .unverified
            .range((kind, r, NodeId([0; 32]))..=(kind, r, NodeId([0xff; 32])))
            .filter(|(_, v)| v.vote.digest == digest)
            .map(|(k, _)| *k)
            .collect();
        if keys.is_empty() || verified + keys.len() < self.quorum() {
            return;
        }
        let votes: Vec<SignedVote> = keys
            .iter()
            .filter_map(|k| self.cur.unverified.remove(k))
            .collect();
        let items: Vec<SigItem> = votes.iter().map(|v| v.sig_item(kind)).collect();
        let ok = self.verify_votes(&items);
        for (v, ok) in votes.into_iter().zip(ok) {
            if !ok {
                self.metrics.bad_signature += 1;
                continue;
            }
            if v.vote.height != self.cur.height {
                // An earlier vote of this batch decided the height: the rest are late seals.
                if kind == VoteKind::Commit {
                    self.add_late_seal(&v);
                }
                continue;
            }
            self.handle(vote_message(kind, v));
        }
    }
}

fn vote_message(kind: VoteKind, v: SignedVote) -> Message {
    match kind {
        VoteKind::Commit => Message::Commit(v),
        _ => Message::Prepare(v),
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
