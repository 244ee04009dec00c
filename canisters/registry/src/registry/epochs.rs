//! The epoch clock and the per-epoch validator set snapshots (the node snapshots taken with them
//! are in `epoch_nodes`).

use super::*;

impl<M: Memory> Registry<M> {
    /// The epoch clock.
    pub fn epoch_info(&self) -> EpochInfo {
        EpochInfo {
            epoch: self.meta.epoch,
            start: self.meta.epoch_start,
            next_start: self.meta.next_epoch_start,
        }
    }

    /// Takes the snapshots (validator set and nodes) of every epoch that has started: at most
    /// 64 epochs per call, and no further epoch once the call has written
    /// [`SNAPSHOT_ROWS_PER_CALL`] node rows (the rest on the next call). A snapshot is written
    /// once and never changes. Then prunes node snapshots older than the last
    /// [`EPOCH_NODES_KEPT`] epochs, a bounded number of rows per call.
    pub fn roll_epochs(&mut self, now: u64) {
        // Epoch 0's set is taken when the genesis arrives: operators register and stake
        // between the install and a genesis time set in the future (the network's launch).
        if now < self.config.genesis_time {
            return;
        }
        let (mut rows, mut chunks) = self.take_snapshot(0, now);
        let mut rolled = 0;
        while now >= self.meta.next_epoch_start
            && rolled < 64
            && (rolled == 0 || rows < SNAPSHOT_ROWS_PER_CALL)
        {
            let e = self.meta.epoch.saturating_add(1);
            self.meta.epoch = e;
            self.meta.epoch_start = self.meta.next_epoch_start;
            self.meta.next_epoch_start = self
                .meta
                .epoch_start
                .saturating_add(self.config.params.epoch_length_secs.saturating_mul(SEC));
            let (r, c) = self.take_snapshot(e, now);
            rows = rows.saturating_add(r);
            chunks = chunks.saturating_add(c);
            rolled += 1;
        }
        if rolled > 0 {
            self.save_meta();
        }
        self.prune_epoch_nodes(PRUNE_CHUNKS_PER_CALL.saturating_add(chunks));
    }

    /// The validators eligible now, in set order (by node id bytes) after selection: the
    /// largest 3F+1 of them by stake (ties by id).
    pub fn current_validators(&self, now: u64) -> (Vec<NodeId>, u64) {
        let mut eligible: Vec<(u64, NodeId)> = self
            .s
            .members
            .keys_range(key_range(Role::Validator))
            .filter_map(|(_, k)| self.get_node(&NodeId(k)))
            .filter(|n| self.is_member(n, now))
            .map(|n| (n.stake_e8s.saturating_sub(n.penalty_due_e8s), n.id))
            .collect();
        let count = eligible.len() as u64;
        let size = rules::validator_set_size(count) as usize;
        eligible.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut members: Vec<NodeId> = eligible.into_iter().take(size).map(|(_, id)| id).collect();
        members.sort();
        (members, count)
    }

    /// Takes the validator set and the node snapshot of `epoch` at `now` (once: nothing when
    /// the set is taken already); returns the nodes and chunks of the node snapshot written.
    pub(super) fn take_snapshot(&mut self, epoch: u64, now: u64) -> (u64, u64) {
        if self.s.snapshots.contains_key(&epoch) {
            return (0, 0);
        }
        let (members, eligible) = self.current_validators(now);
        let set = ValidatorSet { epoch, members };
        let snap = ValidatorSetSnapshot {
            set_id: set.id(),
            set,
            taken_at: now,
            eligible,
        };
        self.s.snapshots.insert(epoch, Cand(Some(snap)));
        self.take_node_snapshot(epoch, now)
    }

    /// The validator set of `epoch` (None before its snapshot is taken).
    pub fn validator_set(&self, epoch: u64) -> Option<ValidatorSetSnapshot> {
        self.s.snapshots.get(&epoch).and_then(|c| c.0)
    }

    /// Whether the stake of validator `id` is still locked by the sets it was in: a set of
    /// one of the last [`VALIDATOR_RELEASE_MARGIN_EPOCHS`] + 1 epochs (the current one
    /// included) lists it, i.e. epoch `last + 1 + margin` has not started yet, with `last`
    /// the last epoch whose set lists it. (A validator leaves every later set once its term
    /// ends or it retires, so the latest sets are the ones to look at.)
    pub fn locked_by_recent_sets(&self, id: &NodeId) -> bool {
        let latest = self.meta.epoch;
        let first = latest.saturating_sub(VALIDATOR_RELEASE_MARGIN_EPOCHS);
        (first..=latest).any(|e| {
            self.validator_set(e)
                .is_some_and(|v| v.set.members.binary_search(id).is_ok())
        })
    }
}
