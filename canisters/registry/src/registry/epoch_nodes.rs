//! Per-epoch node snapshots: every active member of every role at the moment an epoch's
//! validator set is taken (same call, same `now`), plus at most
//! `Params::max_compute_candidates` compute candidates (live, not admitted yet: the front of
//! the candidate queue, marked `candidate`), with its owner, stake net of penalties due and
//! multiplier of E. Validators build the epoch's reward records from it, so two honest
//! validators read the same facts; it is also the list of nodes they challenge, so the
//! candidate cap bounds their per-epoch work on free registrations: members plus the cap. A
//! snapshot is written once and never changes; the last [`EPOCH_NODES_KEPT`] epochs are
//! kept, older ones pruned a bounded amount per call.

use super::Registry;
use crate::storage::{Key, NodeChunk, CHUNK_ROWS};
use crate::types::*;
use ic_stable_structures::Memory;

/// Epochs whose node snapshots are kept (the latest included); older ones are pruned.
pub const EPOCH_NODES_KEPT: u64 = 64;
/// Most nodes in one `epoch_nodes` page (also the page size when the request says 0).
pub const MAX_EPOCH_NODES_PAGE: u32 = 2_000;
/// Stale snapshot chunks (of up to 256 nodes) deleted per `roll_epochs` call, on top of as
/// many chunks as the call wrote (so pruning keeps pace with snapshots however short the
/// epochs are).
pub const PRUNE_CHUNKS_PER_CALL: u64 = 64;
/// Snapshot nodes after which one `roll_epochs` call leaves further due epochs to the next
/// call (at least one epoch is always rolled), so a long catch-up stays within the
/// instruction limit of a message. Taking a snapshot costs about 250,000 instructions per
/// node (mostly reading the candid node records; `emc-bench registry`), so one call writes
/// fewer than 100,000 nodes (~25 B of the 40 B instructions of an update) unless one epoch
/// alone has more.
pub const SNAPSHOT_ROWS_PER_CALL: u64 = 50_000;

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
    /// Writes the node snapshot of `epoch` (every node that `is_member` at `now`, all roles,
    /// and the first `max_compute_candidates` queued candidates) in chunks of [`CHUNK_ROWS`]
    /// nodes; returns (nodes, chunks) written. Does nothing when the snapshot exists. Each
    /// listed candidate's count of listed epochs goes up by one; one listed in
    /// `candidate_epochs` snapshots leaves the queue (this snapshot still lists it).
    pub(super) fn take_node_snapshot(&mut self, epoch: u64, now: u64) -> (u64, u64) {
        if self.s.epoch_totals.contains_key(&epoch) {
            return (0, 0);
        }
        let mut rows: Vec<EpochNode> = Vec::new();
        for role in Role::ALL {
            let keys = self.s.members.keys_range(super::key_range(role));
            for (_, k) in keys {
                let Some(n) = self.get_node(&emc_types::NodeId(k)) else {
                    continue;
                };
                if !self.is_member(&n, now) {
                    continue;
                }
                rows.push(EpochNode {
                    id: n.id,
                    owner: n.owner,
                    role: n.role,
                    stake_e8s: n.stake_e8s.saturating_sub(n.penalty_due_e8s),
                    multiplier: multiplier_at(&n, now),
                    candidate: false,
                });
            }
        }
        self.list_candidates(now, &mut rows);
        rows.sort_unstable_by_key(|r| r.id);
        let total = rows.len() as u64;
        let mut chunks = 0u64;
        for chunk in rows.chunks(CHUNK_ROWS) {
            if let Some(first) = chunk.first() {
                self.s
                    .epoch_nodes
                    .insert((epoch, first.id.0), NodeChunk(Some(chunk.to_vec())));
                chunks += 1;
            }
        }
        self.s.epoch_totals.insert(epoch, total);
        (total, chunks)
    }

    /// Appends the front of the candidate queue to `rows` (at most `max_compute_candidates`,
    /// oldest queued first) and counts the listing: a candidate listed
    /// `candidate_epochs` times leaves the queue. Reads only the front of the queue (the
    /// queue holds only candidates: `sync_member` takes out every node that stops being one;
    /// an entry that is not, which the invariants rule out, is dropped unlisted).
    fn list_candidates(&mut self, now: u64, rows: &mut Vec<EpochNode>) {
        let max = usize::try_from(self.params().max_compute_candidates()).unwrap_or(usize::MAX);
        let epochs = self.params().candidate_epochs();
        let front: Vec<((u64, Key), u32)> = self
            .s
            .candidates
            .iter()
            .take(max)
            .map(|e| (*e.key(), e.value()))
            .collect();
        for ((at, k), listed) in front {
            let id = emc_types::NodeId(k);
            let node = self.get_node(&id).filter(|n| self.is_candidate(n));
            let Some(n) = node else {
                self.s.candidates.remove(&(at, k));
                self.s.candidate_keys.remove(&k);
                continue;
            };
            rows.push(EpochNode {
                id: n.id,
                owner: n.owner,
                role: n.role,
                stake_e8s: n.stake_e8s.saturating_sub(n.penalty_due_e8s),
                multiplier: multiplier_at(&n, now),
                candidate: true,
            });
            let listed = listed.saturating_add(1);
            if listed >= epochs {
                self.dequeue_candidate(&id);
            } else {
                self.s.candidates.insert((at, k), listed);
            }
        }
    }

    /// Drops the node snapshots older than the last [`EPOCH_NODES_KEPT`] epochs: their totals
    /// at once (they read as absent), then at most `max_chunks` of their chunks.
    pub(super) fn prune_epoch_nodes(&mut self, max_chunks: u64) {
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
            .take(usize::try_from(max_chunks).unwrap_or(usize::MAX))
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
        let first = (a.epoch, [0u8; 32]);
        let last = (a.epoch, [0xffu8; 32]);
        // The first chunk to read: the one holding `start_after` (the last chunk starting at
        // or before it), or the epoch's first.
        let from = match a.start_after {
            Some(after) => self
                .s
                .epoch_nodes
                .keys_range(first..=(a.epoch, after.0))
                .next_back()
                .unwrap_or(first),
            None => first,
        };
        let mut nodes: Vec<EpochNode> =
            Vec::with_capacity(limit.min(usize::try_from(total).unwrap_or(limit)));
        let mut more = false;
        'chunks: for e in self.s.epoch_nodes.range(from..=last) {
            // Chunks are written by this canister and always decode; one that did not would
            // be left out rather than trap the query (`check_invariants` reports it).
            let NodeChunk(Some(rows)) = e.value() else {
                continue;
            };
            for r in rows {
                if a.start_after.is_some_and(|after| r.id <= after) {
                    continue;
                }
                if nodes.len() == limit {
                    more = true;
                    break 'chunks;
                }
                nodes.push(r);
            }
        }
        let next = if more {
            nodes.last().map(|n| n.id)
        } else {
            None
        };
        Some(EpochNodesPage {
            epoch: a.epoch,
            nodes,
            next,
            total,
        })
    }

    /// The epochs whose node snapshots are stored, oldest first.
    pub fn epoch_node_snapshots(&self) -> Vec<u64> {
        self.s.epoch_totals.keys().collect()
    }

    /// Invariants of the node snapshots: every chunk decodes, is non-empty, at most
    /// [`CHUNK_ROWS`] long, keyed by its first node id, and the nodes of an epoch are in
    /// strictly increasing id order across its chunks; each stored total counts its nodes and
    /// has a validator set; chunks outside a stored snapshot are only stale ones awaiting
    /// pruning.
    pub(super) fn check_epoch_nodes(&self) -> Result<(), String> {
        let kept_from = self
            .meta
            .epoch
            .saturating_add(1)
            .saturating_sub(EPOCH_NODES_KEPT);
        let mut counts: std::collections::BTreeMap<u64, u64> = Default::default();
        let mut prev: Option<(u64, emc_types::NodeId)> = None;
        for e in self.s.epoch_nodes.iter() {
            let (epoch, k) = *e.key();
            let Some(rows) = e.value().0 else {
                return Err(format!("undecodable snapshot chunk ({epoch}, {k:02x?})"));
            };
            if rows.is_empty() || rows.len() > CHUNK_ROWS || rows[0].id.0 != k {
                return Err(format!("malformed snapshot chunk ({epoch}, {k:02x?})"));
            }
            for r in &rows {
                if prev.is_some_and(|(pe, pid)| pe == epoch && pid >= r.id) {
                    return Err(format!("epoch {epoch}: snapshot nodes out of order"));
                }
                prev = Some((epoch, r.id));
            }
            *counts.entry(epoch).or_default() += rows.len() as u64;
        }
        for (epoch, n) in &counts {
            if *epoch >= kept_from && self.s.epoch_totals.get(epoch) != Some(*n) {
                return Err(format!(
                    "epoch {epoch}: {n} snapshot nodes, total {:?}",
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
                return Err(format!("epoch {epoch}: total {total} != nodes stored"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use candid::Principal;
    use ic_stable_structures::VectorMemory;
    use sha2::Digest;

    const T0: u64 = 1_700_000_000 * SEC;

    fn p(n: u8) -> Principal {
        Principal::from_slice(&[n, 7, 7, 7, 1])
    }

    /// A registry with `n` live compute nodes (ids from a counter hash), written directly.
    fn registry_with(n: u32) -> Registry<VectorMemory> {
        let args = InitArgs {
            ledger: p(1),
            governance: p(2),
            treasury: p(3).into(),
            epochs_canister: None,
            ledger_fee_e8s: None,
            params: None,
            genesis_time: None,
        };
        let mut r = Registry::init(VectorMemory::default(), &args, T0, p(4)).unwrap();
        for i in 0..n {
            let node = Node {
                id: emc_types::NodeId(sha2::Sha256::digest(i.to_be_bytes()).into()),
                role: Role::Compute,
                owner: p(10 + (i % 3) as u8),
                network_address: "10.0.0.1:4000".into(),
                region: "test".into(),
                hardware: String::new(),
                registered_at: T0,
                state: NodeState::Live,
                suspended: false,
                term: None,
                stake_e8s: 0,
                penalty_due_e8s: 0,
                pending_movement: None,
                poc_e: E_SCALE,
            };
            // Admitted (a passed PoC), so a member listed in every snapshot.
            r.s.poc_passed.insert(node.id.0, ());
            r.insert_new_node(&node, T0);
        }
        r
    }

    fn page(
        r: &Registry<VectorMemory>,
        after: Option<emc_types::NodeId>,
        limit: u32,
    ) -> EpochNodesPage {
        r.epoch_nodes(&EpochNodesArgs {
            epoch: 1,
            start_after: after,
            limit,
        })
        .unwrap()
    }

    #[test]
    fn pages_across_chunk_boundaries_cover_every_node_once() {
        let mut r = registry_with(700);
        r.process_time(T0 + DAY);
        r.check_invariants(T0 + DAY).unwrap();
        assert_eq!(r.s.epoch_nodes.len(), 3, "700 nodes in chunks of 256");
        let all = page(&r, None, 0).nodes;
        assert_eq!(all.len(), 700);
        assert!(all.windows(2).all(|w| w[0].id < w[1].id));
        for limit in [1, 2, 255, 256, 257, 699, 700, 701, 2_000] {
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let pg = page(&r, after, limit);
                assert_eq!(pg.total, 700);
                seen.extend(pg.nodes.iter().cloned());
                match pg.next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
            assert_eq!(seen, all, "limit {limit}");
        }
        for i in [0usize, 254, 255, 256, 257, 511, 512, 698, 699] {
            let got = page(&r, Some(all[i].id), 3).nodes;
            assert_eq!(got, all[i + 1..(i + 4).min(700)].to_vec(), "after node {i}");
            // An id between two nodes (not in the snapshot) continues after it as well.
            let mut between = all[i].id;
            between.0[31] = between.0[31].wrapping_add(1);
            if i + 1 < 700 && between < all[i + 1].id && between > all[i].id {
                assert_eq!(page(&r, Some(between), 3).nodes, got);
            }
        }
        assert_eq!(
            page(&r, Some(emc_types::NodeId([0; 32])), 1).nodes,
            all[..1].to_vec()
        );
    }
}
