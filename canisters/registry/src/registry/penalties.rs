//! Penalties reported by the epochs canister, and compute nodes' PoC E.

use super::*;

impl<M: Memory> Registry<M> {
    /// Applies penalties decided from accepted checkpoints. Only the epochs canister may call;
    /// batches are applied once each, in increasing `batch_id` order. Unknown nodes refuse the
    /// whole batch (nothing applied).
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
        let mut n = self.node(id)?;
        if n.role != Role::Compute {
            return Err(RegistryError::InvalidArgument("not a compute node".into()));
        }
        if e_fixed == 0 || e_fixed > 1_000_000 * E_SCALE {
            return Err(RegistryError::InvalidArgument(
                "E must be positive and at most 1,000,000".into(),
            ));
        }
        n.poc_e = e_fixed;
        self.put_node(&n);
        self.s.poc_passed.insert(n.id.0, ());
        self.sync_member(&n, now);
        self.save_meta();
        Ok(())
    }
}
