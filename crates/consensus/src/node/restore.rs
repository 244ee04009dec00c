//! Rebuilding a node from its write-ahead log.

use super::{Application, HeightState, Node, NodeError, RcEntry, WalRecord};
use crate::config::Config;
use crate::crypto::{Signer, Verifier};
use crate::message::{Message, VoteKind};
use emc_types::NodeId;

impl<A: Application, S: Signer, V: Verifier> Node<A, S, V> {
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
}
