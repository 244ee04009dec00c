//! Block sync: decided blocks served to peers that lag, requested from peers that are ahead,
//! buffered and applied in height order once their seals verify.

use super::{Application, Effect, Node};
use crate::codec::encode;
use crate::crypto::{Signer, Verifier};
use crate::message::{verify_committed, CommittedBlock, Message};
use emc_types::NodeId;
use std::collections::BTreeMap;

/// Requesters remembered for the sync rate limit; beyond it the one served longest ago is
/// forgotten.
const SERVED_MAX: usize = 256;

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

    /// Whether `id` is a member of the validator set of the current epoch, the previous or
    /// the next one (those known): the only peers served blocks or asked for them. A sync
    /// request is unsigned and its `from` may be a relay's claim, so anyone else is refused.
    pub(super) fn is_known_validator(&self, id: &NodeId) -> bool {
        let e = self.cfg.epoch_of(self.cur.height);
        self.sets
            .range(e.saturating_sub(1)..=e.saturating_add(1))
            .any(|(_, s)| s.contains(id))
    }

    /// Serves decided blocks from `from_height` to `to`: only to a known validator, at most
    /// one batch per requester per `sync_serve_interval_ns` (and the same height at most once
    /// per `round_timeout_base_ns`); the requesters remembered are capped.
    pub(super) fn serve_sync(&mut self, to: NodeId, from_height: u64) {
        if from_height == 0 || from_height > self.chain.height {
            return;
        }
        if !self.is_known_validator(&to) {
            self.metrics.sync_refused += 1;
            return;
        }
        if let Some(&(h, at)) = self.served.get(&to) {
            let too_soon = self.now < at.saturating_add(self.cfg.sync_serve_interval_ns);
            let same_again =
                h == from_height && self.now < at.saturating_add(self.cfg.round_timeout_base_ns);
            if too_soon || same_again {
                self.metrics.sync_refused += 1;
                return;
            }
        }
        insert_capped(&mut self.served, to, (from_height, self.now), SERVED_MAX);
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
        if to != self.me && self.is_known_validator(&to) && self.cur.sync_asked.insert(to) {
            self.out.push(Effect::Send {
                to,
                bytes: encode(&Message::SyncRequest {
                    from_height: self.cur.height,
                }),
            });
        }
    }
}

/// Inserts `key` → `(height, at)`; when the map is full and `key` is new, first removes the
/// entry with the oldest `at`.
fn insert_capped(map: &mut BTreeMap<NodeId, (u64, u64)>, key: NodeId, val: (u64, u64), cap: usize) {
    if !map.contains_key(&key) && map.len() >= cap {
        if let Some(oldest) = map.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| *k) {
            map.remove(&oldest);
        }
    }
    map.insert(key, val);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_map_is_capped_oldest_first() {
        let mut m = BTreeMap::new();
        let id = |i: u8| NodeId([i; 32]);
        for i in 0..10u8 {
            insert_capped(&mut m, id(i), (1, u64::from(i)), 4);
            assert!(m.len() <= 4);
        }
        // Each new requester evicted the one served longest ago.
        assert_eq!(
            m.keys().copied().collect::<Vec<_>>(),
            [id(6), id(7), id(8), id(9)]
        );
        // Refreshing a present key never evicts.
        let before: Vec<NodeId> = m.keys().copied().collect();
        insert_capped(&mut m, before[0], (2, 1_000), 4);
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), before);
        // A new key evicts exactly the entry with the oldest time.
        let oldest = *m.iter().min_by_key(|(_, (_, at))| *at).unwrap().0;
        insert_capped(&mut m, id(200), (3, 2_000), 4);
        assert!(!m.contains_key(&oldest) && m.contains_key(&id(200)) && m.len() == 4);
    }
}
