//! A decided block: apply it to the chain and the application, persist it, open the
//! checkpoint it may end, and enter the next height.

use super::{Application, Effect, HeightState, Node, WalRecord};
use crate::crypto::{Signer, Verifier};
use crate::message::CommittedBlock;
use emc_types::{Checkpoint, StateBit, SummaryAccumulator, ZERO_HASH};

impl<A: Application, S: Signer, V: Verifier> Node<A, S, V> {
    pub(super) fn apply_committed(&mut self, cb: CommittedBlock) {
        let block = &cb.block;
        let h = block.header.height;
        self.app.on_commit(block);
        self.chain.height = h;
        self.chain.last_hash = block.hash();
        self.chain.last_timestamp_ns = block.header.timestamp_ns;
        let mut certified = Vec::new();
        for bit in &block.bits {
            self.chain.summary.add(bit);
            if let StateBit::CheckpointCert(sc) = bit {
                self.chain.certified = Some(sc.checkpoint.clone());
                certified.push(sc.clone());
                // Nothing at or below a certified height can be certified any more: stop
                // gathering (and re-sending) signatures for it.
                for (_, st) in self.checkpoints.range_mut(..=sc.checkpoint.height) {
                    st.done = true;
                }
            }
        }
        if self
            .gathered
            .as_ref()
            .is_some_and(|g| !self.cert_is_next(&g.checkpoint))
        {
            self.gathered = None;
        }
        let mut checkpoint = None;
        if self.cfg.is_checkpoint_height(h) {
            if let Some(set) = self.set_for_height(h) {
                let cp = Checkpoint {
                    height: h,
                    epoch: self.cfg.epoch_of(h),
                    state_root: self.app.state_root(block),
                    prev_checkpoint_hash: self
                        .chain
                        .certified
                        .as_ref()
                        .map_or(ZERO_HASH, Checkpoint::hash),
                    validator_set_id: set.id(),
                    timestamp_ns: block.header.timestamp_ns,
                    poc_root: self.chain.summary.poc,
                    liveness_root: self.chain.summary.liveness,
                    receipts_root: self.chain.summary.receipts.root(),
                };
                self.chain.last_checkpoint = Some(cp.clone());
                self.chain.summary = SummaryAccumulator::new();
                checkpoint = Some(cp);
            }
        }
        self.metrics.blocks_committed += 1;
        self.out.push(Effect::Persist(WalRecord::Committed {
            block: cb.clone(),
            chain: self.chain.clone(),
        }));
        self.out.push(Effect::CommitBlock(cb.clone()));
        for sc in certified {
            self.metrics.checkpoints_ready += 1;
            self.out.push(Effect::CheckpointReady {
                checkpoint: sc.checkpoint,
                signatures: sc.signatures,
            });
        }
        self.late_unverified.clear();
        self.push_recent(cb);
        if let Some(cp) = checkpoint {
            self.open_checkpoint(cp, true);
        }
        self.enter_height(h + 1);
    }

    pub(super) fn push_recent(&mut self, cb: CommittedBlock) {
        self.recent.push_back(cb);
        while self.recent.len() > self.cfg.recent_blocks {
            self.recent.pop_front();
        }
    }

    pub(super) fn enter_height(&mut self, h: u64) {
        let set = self.set_for_height(h);
        self.cur = HeightState::new(h, set);
        self.verified_cache.borrow_mut().prune(h);
        self.queue.clear();
        self.sync_buf = self.sync_buf.split_off(&h);
        // Re-send own signatures of unfinished checkpoints now and then (they may be lost).
        let pending: Vec<u64> = self
            .checkpoints
            .iter()
            .filter(|(ch, st)| !st.done && h.saturating_sub(**ch).is_power_of_two() && h > **ch + 1)
            .map(|(ch, _)| *ch)
            .collect();
        for ch in pending {
            self.broadcast_own_checkpoint_sig(ch);
        }
        if self.cur.set.is_some() && self.started {
            self.arm_timers();
        }
        for (_, msg) in std::mem::take(&mut self.future) {
            if msg.height() == Some(h) {
                self.queue.push_back(msg);
            }
        }
    }
}
