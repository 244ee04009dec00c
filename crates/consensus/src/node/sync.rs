//! Block sync: decided blocks served to peers that lag, requested from peers that are ahead,
//! buffered and applied in height order once their seals verify.

use super::{Application, Effect, Node};
use crate::codec::encode;
use crate::crypto::{Signer, Verifier};
use crate::message::{verify_committed, CommittedBlock, Message};
use emc_types::NodeId;

impl<A: Application, S: Signer, V: Verifier> Node<A, S, V> {
    pub(super) fn on_decided(&mut self, cb: CommittedBlock) {
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

    pub(super) fn apply_synced(&mut self, cb: CommittedBlock) {
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

    pub(super) fn serve_sync(&mut self, to: NodeId, from_height: u64) {
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

    pub(super) fn request_sync(&mut self, to: NodeId) {
        if to != self.me && self.cur.sync_asked.insert(to) {
            self.out.push(Effect::Send {
                to,
                bytes: encode(&Message::SyncRequest {
                    from_height: self.cur.height,
                }),
            });
        }
    }
}
