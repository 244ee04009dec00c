//! What a peer's message must pass before the QBFT rules see it: the height (stale, current,
//! next, too far ahead), membership of every signer, a cheap duplicate check, then the
//! signatures. Next-height messages wait in a bounded buffer.

use super::{proposer, Application, Node};
use crate::crypto::{Signer, Verifier};
use crate::message::{Message, VoteKind};
use emc_types::{NodeId, ValidatorSet};

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

    pub(super) fn signatures_valid(&self, msg: &Message) -> bool {
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
