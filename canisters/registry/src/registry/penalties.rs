//! Penalties reported by the epochs canister, and compute nodes' PoC E.

use super::*;

/// The largest E a report may carry (1,000,000, fixed point).
pub const MAX_E_FIXED: u64 = 1_000_000 * E_SCALE;

impl<M: Memory> Registry<M> {
    /// Applies penalties decided from accepted checkpoints. Only the epochs canister may call;
    /// batches are applied once each, in increasing `batch_id` order. Unknown nodes are
    /// reported with no penalty (they do not sink the batch); a storage failure refuses the
    /// whole batch before anything changes.
    pub fn apply_penalties(
        &mut self,
        caller: Principal,
        batch_id: u64,
        reports: &[PenaltyReport],
        now: u64,
    ) -> Result<Vec<PenaltyApplied>, RegistryError> {
        if Some(caller) != self.config.epochs_canister {
            return Err(RegistryError::NotEpochsCanister);
        }
        if self.meta.last_penalty_batch.is_some_and(|b| batch_id <= b) {
            return Err(RegistryError::InvalidArgument(format!(
                "penalty batch {batch_id} is applied already"
            )));
        }
        if reports.len() > MAX_REPORTS {
            return Err(RegistryError::InvalidArgument(format!(
                "at most {MAX_REPORTS} reports per batch"
            )));
        }
        // Storage failures refuse the whole batch before anything changes.
        for r in reports {
            match self.node(&r.node_id) {
                Ok(_) | Err(RegistryError::NodeNotFound) => {}
                Err(e) => return Err(e),
            }
        }
        let mut out = Vec::with_capacity(reports.len());
        for r in reports {
            // A node the registry does not know (never registered) owes nothing: it is reported
            // with no penalty instead of sinking the penalties of the whole batch. The fresh read
            // also sees the update of a node reported twice in one batch.
            let Some(mut n) = self.get_node(&r.node_id) else {
                out.push(PenaltyApplied {
                    node_id: r.node_id,
                    penalty_e8s: 0,
                    suspended: false,
                });
                continue;
            };
            let available = n.stake_e8s.saturating_sub(n.penalty_due_e8s);
            let term_days = n.term.as_ref().map(|t| t.term_days).unwrap_or(0);
            let p = if n.term.is_some() {
                rules::penalty_e8s(
                    self.params(),
                    n.role,
                    r.missed_minutes,
                    n.stake_e8s,
                    term_days,
                )
                .min(available)
            } else {
                0
            };
            n.penalty_due_e8s = n.penalty_due_e8s.saturating_add(p);
            let min = rules::min_stake(self.params(), n.role, n.poc_e);
            if n.term.is_some() && n.stake_e8s.saturating_sub(n.penalty_due_e8s) < min {
                n.suspended = true;
            }
            self.put_node(&n);
            self.sync_member(&n, now);
            if p > 0 {
                self.s.due.insert(n.id.0, ());
            }
            out.push(PenaltyApplied {
                node_id: n.id,
                penalty_e8s: p,
                suspended: n.suspended,
            });
        }
        self.meta.last_penalty_batch = Some(batch_id);
        self.save_meta();
        Ok(out)
    }

    /// The epochs canister reports a compute node's PoC E (fixed point, 4 decimals): the node
    /// has passed PoC, and its minimum stake is 1000 x this E from now on (which may make it a
    /// voter in impeachment cases or stop it being one, see `is_voter`).
    pub fn report_compute_e(
        &mut self,
        caller: Principal,
        id: &NodeId,
        e_fixed: u64,
        now: u64,
    ) -> Result<(), RegistryError> {
        if Some(caller) != self.config.epochs_canister {
            return Err(RegistryError::NotEpochsCanister);
        }
        let n = self.node(id)?;
        if n.role != Role::Compute {
            return Err(RegistryError::InvalidArgument("not a compute node".into()));
        }
        if e_fixed == 0 || e_fixed > MAX_E_FIXED {
            return Err(RegistryError::InvalidArgument(
                "E must be positive and at most 1,000,000".into(),
            ));
        }
        self.set_poc_e(n, e_fixed, now);
        self.save_meta();
        Ok(())
    }

    /// The batch form of [`Registry::report_compute_e`], for the epochs canister's queue of
    /// the compute nodes' E after each epoch close. Only the epochs canister may call; at most
    /// [`MAX_REPORTS`] reports. A report the single call would refuse (an unknown node, a node
    /// that is not a compute node, E of 0 or over 1,000,000) is skipped instead of refusing
    /// the batch; storage failures refuse the whole batch before anything changes. Returns the
    /// number of reports applied.
    pub fn report_compute_es(
        &mut self,
        caller: Principal,
        reports: &[ComputeE],
        now: u64,
    ) -> Result<u32, RegistryError> {
        if Some(caller) != self.config.epochs_canister {
            return Err(RegistryError::NotEpochsCanister);
        }
        if reports.len() > MAX_REPORTS {
            return Err(RegistryError::InvalidArgument(format!(
                "at most {MAX_REPORTS} reports per batch"
            )));
        }
        for r in reports {
            match self.node(&r.node_id) {
                Ok(_) | Err(RegistryError::NodeNotFound) => {}
                Err(e) => return Err(e),
            }
        }
        let mut applied = 0u32;
        for r in reports {
            if r.e_fixed == 0 || r.e_fixed > MAX_E_FIXED {
                continue;
            }
            // A fresh read: a node reported twice in one batch keeps the later E.
            let Some(n) = self.get_node(&r.node_id) else {
                continue;
            };
            if n.role != Role::Compute {
                continue;
            }
            self.set_poc_e(n, r.e_fixed, now);
            applied += 1;
        }
        if applied > 0 {
            self.save_meta();
        }
        Ok(applied)
    }

    fn set_poc_e(&mut self, mut n: Node, e_fixed: u64, now: u64) {
        n.poc_e = e_fixed;
        self.put_node(&n);
        self.s.poc_passed.insert(n.id.0, ());
        self.sync_member(&n, now);
    }
}
