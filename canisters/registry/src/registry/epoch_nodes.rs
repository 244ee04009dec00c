//! Per-epoch node snapshots: every active member of every role at the moment an epoch's
//! validator set is taken (same call, same `now`), with its owner, stake net of penalties
//! due and multiplier of E. Validators build the epoch's reward records from it, so two
//! honest validators read the same facts. A snapshot is written once and never changes; the
//! last [`EPOCH_NODES_KEPT`] epochs are kept, older ones pruned a bounded amount per call.

use super::Registry;
use crate::storage::{Key, NodeRow, NodeRowValue};
use crate::types::*;
use ic_stable_structures::Memory;
use std::ops::Bound;

/// Epochs whose node snapshots are kept (the latest included); older ones are pruned.
pub const EPOCH_NODES_KEPT: u64 = 64;
/// Most nodes in one `epoch_nodes` page (also the page size when the request says 0).
pub const MAX_EPOCH_NODES_PAGE: u32 = 2_000;
/// Stale snapshot rows deleted per `roll_epochs` call, on top of as many rows as the call
/// wrote (so pruning keeps pace with snapshots however short the epochs are).
pub const PRUNE_ROWS_PER_CALL: u64 = 10_000;
/// Snapshot rows after which one `roll_epochs` call leaves further due epochs to the next
/// call (at least one epoch is always rolled), so a long catch-up never exceeds the
/// instruction limit of a message.
pub const SNAPSHOT_ROWS_PER_CALL: u64 = 200_000;

/// The multiplier of E of `n` at `now`: a compute node's running, unsuspended term's
/// multiplier, x1 ([`E_SCALE`]) otherwise.
pub(super) fn multiplier_at(n: &Node, now: u64) -> u64 {
    match (&n.role, &n.term) {
        (Role::Compute, Some(t))
            if !t.expired && now < t.end && !n.suspended && n.state == NodeState::Live =>
        {
            t.multiplier
        }
        _ => E_SCALE,
    }
}

impl<M: Memory> Registry<M> {
    /// Writes the node snapshot of `epoch` (every node that `is_member` at `now`, all roles);
    /// returns the rows written. Does nothing when the snapshot exists.
    pub(super) fn take_node_snapshot(&mut self, epoch: u64, now: u64) -> u64 {
        if self.s.epoch_totals.contains_key(&epoch) {
            return 0;
        }
        let mut rows: Vec<(Key, NodeRowValue)> = Vec::new();
        for role in Role::ALL {
            let keys = self.s.members.keys_range(super::key_range(role));
            for (_, k) in keys {
                let Some(n) = self.get_node(&emc_types::NodeId(k)) else {
                    continue;
                };
                if !self.is_member(&n, now) {
                    continue;
                }
                rows.push((
                    k,
                    NodeRowValue {
                        role: n.role,
                        stake_e8s: n.stake_e8s.saturating_sub(n.penalty_due_e8s),
                        multiplier: multiplier_at(&n, now),
                        owner: n.owner,
                    },
                ));
            }
        }
        let total = rows.len() as u64;
        for (k, v) in rows {
            self.s.epoch_nodes.insert((epoch, k), NodeRow(Some(v)));
        }
        self.s.epoch_totals.insert(epoch, total);
        total
    }

    /// Drops the node snapshots older than the last [`EPOCH_NODES_KEPT`] epochs: their totals
    /// at once (they read as absent), then at most `max_rows` of their rows.
    pub(super) fn prune_epoch_nodes(&mut self, max_rows: u64) {
        let cutoff = self
            .meta
            .epoch
            .saturating_add(1)
            .saturating_sub(EPOCH_NODES_KEPT);
        if cutoff == 0 {
            return;
        }
        let old: Vec<u64> = self.s.epoch_totals.keys_range(..cutoff).collect();
        for e in old {
            self.s.epoch_totals.remove(&e);
        }
        let stale: Vec<(u64, Key)> = self
            .s
            .epoch_nodes
            .keys_range(..(cutoff, [0u8; 32]))
            .take(usize::try_from(max_rows).unwrap_or(usize::MAX))
            .collect();
        for k in stale {
            self.s.epoch_nodes.remove(&k);
        }
    }

    /// A page of the node snapshot of `a.epoch`, ordered by node id: `None` when that
    /// snapshot was never taken or has been pruned (an empty snapshot is an empty page).
    pub fn epoch_nodes(&self, a: &EpochNodesArgs) -> Option<EpochNodesPage> {
        let total = self.s.epoch_totals.get(&a.epoch)?;
        let limit = match a.limit {
            0 => MAX_EPOCH_NODES_PAGE,
            l => l.min(MAX_EPOCH_NODES_PAGE),
        } as usize;
        let lo = match a.start_after {
            Some(id) => Bound::Excluded((a.epoch, id.0)),
            None => Bound::Included((a.epoch, [0u8; 32])),
        };
        let hi = Bound::Included((a.epoch, [0xffu8; 32]));
        let mut nodes = Vec::with_capacity(limit.min(total as usize));
        let mut last: Option<Key> = None;
        let mut more = false;
        for (seen, e) in self.s.epoch_nodes.range((lo, hi)).enumerate() {
            if seen == limit {
                more = true;
                break;
            }
            let k = e.key().1;
            last = Some(k);
            // Rows are written by this canister and always decode; one that did not would be
            // left out rather than trap the query (`check_invariants` reports it).
            if let NodeRow(Some(v)) = e.value() {
                nodes.push(EpochNode {
                    id: emc_types::NodeId(k),
                    owner: v.owner,
                    role: v.role,
                    stake_e8s: v.stake_e8s,
                    multiplier: v.multiplier,
                });
            }
        }
        Some(EpochNodesPage {
            epoch: a.epoch,
            nodes,
            next: if more {
                last.map(emc_types::NodeId)
            } else {
                None
            },
            total,
        })
    }

    /// The epochs whose node snapshots are stored, oldest first.
    pub fn epoch_node_snapshots(&self) -> Vec<u64> {
        self.s.epoch_totals.keys().collect()
    }

    /// Invariants of the node snapshots: each stored total counts its rows, every row
    /// decodes, and rows outside a stored snapshot are only stale ones awaiting pruning.
    pub(super) fn check_epoch_nodes(&self) -> Result<(), String> {
        let kept_from = self
            .meta
            .epoch
            .saturating_add(1)
            .saturating_sub(EPOCH_NODES_KEPT);
        let mut counts: std::collections::BTreeMap<u64, u64> = Default::default();
        for e in self.s.epoch_nodes.iter() {
            let (epoch, k) = *e.key();
            if e.value().0.is_none() {
                return Err(format!("undecodable snapshot row ({epoch}, {k:02x?})"));
            }
            *counts.entry(epoch).or_default() += 1;
        }
        for (epoch, n) in &counts {
            if *epoch >= kept_from && self.s.epoch_totals.get(epoch) != Some(*n) {
                return Err(format!(
                    "epoch {epoch}: {n} snapshot rows, total {:?}",
                    self.s.epoch_totals.get(epoch)
                ));
            }
        }
        for e in self.s.epoch_totals.iter() {
            let (epoch, total) = (*e.key(), e.value());
            if epoch < kept_from {
                return Err(format!("epoch {epoch}'s node snapshot should be pruned"));
            }
            if counts.get(&epoch).copied().unwrap_or(0) != total {
                return Err(format!("epoch {epoch}: total {total} != rows"));
            }
            if !self.s.snapshots.contains_key(&epoch) {
                return Err(format!(
                    "epoch {epoch}: node snapshot without a validator set"
                ));
            }
        }
        Ok(())
    }
}
