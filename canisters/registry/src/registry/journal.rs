//! Stakes and the journal: stake pulls, renewals, ledger attempts and outcomes, planned movements
//! (penalties, confiscations, releases), time-driven expiries, governance settlement of stuck
//! movements.

use super::*;

impl<M: Memory> Registry<M> {
    pub(super) fn new_movement(
        &mut self,
        n: &mut Node,
        kind: MovementKind,
        to: Account,
        amount: u64,
        term_days: u32,
        now: u64,
    ) -> Movement {
        let id = self.meta.next_movement;
        self.meta.next_movement = id.saturating_add(1);
        let from = match kind {
            MovementKind::StakePull => Account {
                owner: n.owner,
                subaccount: None,
            },
            _ => self.node_account(&n.id),
        };
        let m = Movement {
            id,
            node_id: n.id,
            kind,
            from,
            to,
            amount_e8s: amount,
            fee_e8s: self.meta.ledger_fee_e8s,
            created_at_time: now,
            term_days,
            status: MovementStatus::Pending,
            attempts: 0,
            updated_at: now,
        };
        self.s.journal.insert(id, Cand(Some(m.clone())));
        self.s.pending.insert(id, ());
        n.pending_movement = Some(id);
        self.put_node(n);
        self.save_meta();
        m
    }

    /// Validates a stake request and records the pull (owner -> node subaccount) in the journal.
    /// The shell then calls `icrc2_transfer_from` and reports the outcome with [`Self::finish`].
    pub fn begin_stake(
        &mut self,
        caller: Principal,
        a: &StakeArgs,
        now: u64,
    ) -> Result<Movement, RegistryError> {
        let mut n = self.owned(caller, &a.node_id)?;
        if n.state != NodeState::Live {
            return Err(RegistryError::NodeNotLive);
        }
        if let Some(id) = n.pending_movement {
            return Err(RegistryError::MovementPending(id));
        }
        if n.term.is_some() || n.stake_e8s > 0 {
            return Err(RegistryError::AlreadyStaked);
        }
        rules::check_first_term(self.params(), n.role, a.term_days)?;
        let min = rules::min_stake(self.params(), n.role, n.poc_e).max(1);
        if a.amount_e8s < min {
            return Err(RegistryError::StakeBelowMinimum { minimum_e8s: min });
        }
        let to = self.node_account(&n.id);
        Ok(self.new_movement(
            &mut n,
            MovementKind::StakePull,
            to,
            a.amount_e8s,
            a.term_days,
            now,
        ))
    }

    /// Renews a running term (rules in [`rules::renew`]). The stake net of the penalties due
    /// must still be at the role's minimum ([`rules::min_stake`]; compute: 1000 x the last
    /// reported E), so a renewal never grants a term or multiplier the stake does not cover.
    pub fn renew(
        &mut self,
        caller: Principal,
        a: &RenewArgs,
        now: u64,
    ) -> Result<Term, RegistryError> {
        let mut n = self.owned(caller, &a.node_id)?;
        if n.state != NodeState::Live {
            return Err(RegistryError::NodeNotLive);
        }
        let t = n.term.clone().ok_or(RegistryError::NotStaked)?;
        let min = rules::min_stake(self.params(), n.role, n.poc_e).max(1);
        if n.stake_e8s.saturating_sub(n.penalty_due_e8s) < min {
            return Err(RegistryError::StakeBelowMinimum { minimum_e8s: min });
        }
        let nt = rules::renew(self.params(), n.role, &t, a.days, now)?;
        self.s.expiries.remove(&(t.end, n.id.0));
        self.s.expiries.insert((nt.end, n.id.0), ());
        n.term = Some(nt.clone());
        self.put_node(&n);
        self.sync_member(&n, now);
        self.save_meta();
        Ok(nt)
    }

    /// A journal entry.
    pub fn movement(&self, id: u64) -> Option<Movement> {
        self.s.journal.get(&id).and_then(|c| c.0)
    }

    /// Pending journal entries (oldest first), at most `limit`.
    pub fn pending_movements(&self, limit: usize) -> Vec<Movement> {
        self.s
            .pending
            .keys()
            .take(limit)
            .filter_map(|id| self.movement(id))
            .collect()
    }

    /// Marks one more ledger attempt of a pending movement and returns it, or `None` when it is
    /// not pending, or when its deduplication window is about to close (it becomes `Stuck`).
    pub fn prepare_attempt(&mut self, id: u64, now: u64) -> Option<Movement> {
        let mut m = self.movement(id)?;
        if m.status != MovementStatus::Pending {
            return None;
        }
        if now.saturating_sub(m.created_at_time) > TX_WINDOW - STUCK_MARGIN {
            m.status = MovementStatus::Stuck;
            m.updated_at = now;
            self.s.pending.remove(&id);
            self.s.journal.insert(id, Cand(Some(m)));
            return None;
        }
        m.attempts = m.attempts.saturating_add(1);
        m.updated_at = now;
        self.s.journal.insert(id, Cand(Some(m.clone())));
        Some(m)
    }

    /// Records the ledger's answer to a movement. Only a confirmation (`Done`: `Ok` or
    /// `Duplicate`) changes stakes; a refusal closes the entry (outgoing obligations are
    /// re-planned); an unknown outcome leaves it pending for a retry with the same
    /// `created_at_time` and memo (the ledger deduplicates). Idempotent on closed entries.
    pub fn finish(
        &mut self,
        id: u64,
        outcome: &LedgerOutcome,
        now: u64,
    ) -> Result<Movement, RegistryError> {
        let mut m = self.movement(id).ok_or(RegistryError::NotFound)?;
        if m.status != MovementStatus::Pending {
            return Ok(m);
        }
        let mut n = self.node(&m.node_id)?;
        m.updated_at = now;
        match outcome {
            LedgerOutcome::Unavailable(_) => {
                self.s.journal.insert(id, Cand(Some(m.clone())));
                return Ok(m);
            }
            LedgerOutcome::Done(block) => {
                m.status = MovementStatus::Done { block: *block };
                self.apply_done(&mut n, &m, now);
            }
            LedgerOutcome::BadFee(fee) => {
                self.meta.ledger_fee_e8s = *fee;
                m.status = MovementStatus::Failed {
                    reason: format!("bad fee: the ledger fee is {fee} e8s"),
                };
            }
            LedgerOutcome::Refused(r) => {
                m.status = MovementStatus::Failed { reason: r.clone() };
            }
        }
        self.s.pending.remove(&id);
        if n.pending_movement == Some(id) {
            n.pending_movement = None;
        }
        self.put_node(&n);
        self.s.due.insert(n.id.0, ());
        self.sync_member(&n, now);
        self.s.journal.insert(id, Cand(Some(m.clone())));
        self.save_meta();
        Ok(m)
    }

    pub(super) fn apply_done(&mut self, n: &mut Node, m: &Movement, now: u64) {
        let out = m.amount_e8s.saturating_add(m.fee_e8s);
        match m.kind {
            MovementKind::StakePull => {
                n.stake_e8s = n.stake_e8s.saturating_add(m.amount_e8s);
                self.meta.total_stake_e8s = self.meta.total_stake_e8s.saturating_add(m.amount_e8s);
                let multiplier =
                    rules::check_first_term(self.params(), n.role, m.term_days).unwrap_or(E_SCALE);
                let end = now.saturating_add(u64::from(m.term_days).saturating_mul(DAY));
                n.term = Some(Term {
                    start: now,
                    end,
                    term_days: m.term_days,
                    renewals: 0,
                    multiplier,
                    expired: false,
                });
                if n.state == NodeState::Live || matches!(n.state, NodeState::Retired { .. }) {
                    self.s.expiries.insert((end, n.id.0), ());
                }
            }
            MovementKind::Penalty => {
                n.stake_e8s = n.stake_e8s.saturating_sub(out);
                n.penalty_due_e8s = n.penalty_due_e8s.saturating_sub(out);
                self.meta.total_stake_e8s = self.meta.total_stake_e8s.saturating_sub(out);
            }
            MovementKind::Release | MovementKind::Confiscate => {
                n.stake_e8s = n.stake_e8s.saturating_sub(out);
                self.meta.total_stake_e8s = self.meta.total_stake_e8s.saturating_sub(out);
                n.penalty_due_e8s = 0;
                n.term = None;
                n.suspended = false;
            }
        }
    }

    /// The next movement a node owes, if any (and none is in flight): a confiscation after an
    /// impeachment; otherwise penalties due; otherwise the release of an expired term.
    ///
    /// A release is held back while an impeachment case against the node is open (retired
    /// or not): the case decides first ([`Self::close_case`] re-examines the node), so
    /// retiring under a case never takes the stake out of it. A validator's release is also
    /// held back until [`VALIDATOR_RELEASE_MARGIN_EPOCHS`] epochs after the last epoch
    /// whose validator set lists it ([`Self::locked_by_recent_sets`]), so that equivocation
    /// evidence about its last epochs still finds its stake.
    ///
    /// Rounding: an outgoing movement of `x` e8s sends `x - fee` and the ledger takes the fee,
    /// so the stake decreases by exactly `x`. A penalty debt not above one fee is written off
    /// (moving it would send nothing), and a stake not above one fee stays as dust.
    pub(super) fn plan_node(&mut self, n: &mut Node, now: u64) -> Option<Movement> {
        if n.pending_movement.is_some() {
            return None;
        }
        let fee = self.meta.ledger_fee_e8s;
        let treasury = self.config.treasury;
        if matches!(n.state, NodeState::Impeached { .. }) && n.stake_e8s > 0 {
            if n.stake_e8s > fee {
                let amount = n.stake_e8s - fee;
                return Some(self.new_movement(
                    n,
                    MovementKind::Confiscate,
                    treasury,
                    amount,
                    0,
                    now,
                ));
            }
            return self.drop_dust(n);
        }
        if n.penalty_due_e8s > 0 {
            let due = n.penalty_due_e8s.min(n.stake_e8s);
            if due > fee {
                return Some(self.new_movement(
                    n,
                    MovementKind::Penalty,
                    treasury,
                    due - fee,
                    0,
                    now,
                ));
            }
            n.penalty_due_e8s = 0;
            self.put_node(n);
        }
        if n.term.as_ref().is_some_and(|t| t.expired) {
            if self.under_open_case(&n.id) {
                return None;
            }
            if n.role == Role::Validator && self.locked_by_recent_sets(&n.id) {
                // Evidence about the epochs it validated can still arrive: looked at again
                // when the next epoch starts (an `expiries` entry that is not the term end
                // only wakes the node up).
                let wake = (self.meta.next_epoch_start, n.id.0);
                self.s.expiries.insert(wake, ());
                return None;
            }
            if n.stake_e8s > fee {
                let owner = Account {
                    owner: n.owner,
                    subaccount: None,
                };
                let amount = n.stake_e8s - fee;
                return Some(self.new_movement(n, MovementKind::Release, owner, amount, 0, now));
            }
            return self.drop_dust(n);
        }
        None
    }

    pub(super) fn drop_dust(&mut self, n: &mut Node) -> Option<Movement> {
        n.term = None;
        n.penalty_due_e8s = 0;
        n.suspended = false;
        self.put_node(n);
        None
    }

    /// Plans at most `max` new movements for nodes that owe one (after [`Self::process_time`]).
    pub fn plan_movements(&mut self, now: u64, max: usize) -> Vec<Movement> {
        let due: Vec<Key> = self
            .s
            .due
            .keys()
            .take(max.saturating_mul(4).max(1))
            .collect();
        let mut out = Vec::new();
        for k in due {
            if out.len() >= max {
                break;
            }
            let Some(mut n) = self.get_node(&NodeId(k)) else {
                self.s.due.remove(&k);
                continue;
            };
            if n.pending_movement.is_some() {
                // Re-examined when that movement finishes.
                self.s.due.remove(&k);
                continue;
            }
            match self.plan_node(&mut n, now) {
                Some(m) => out.push(m),
                None => {
                    self.s.due.remove(&k);
                    self.sync_member(&n, now);
                }
            }
        }
        self.save_meta();
        out
    }

    /// Time-driven work: epoch snapshots, expired terms, closed voting periods.
    pub fn process_time(&mut self, now: u64) {
        self.roll_epochs(now);
        let expired: Vec<(u64, Key)> = self
            .s
            .expiries
            .keys_range(..=(now, [0xff; 32]))
            .take(1000)
            .collect();
        for key in expired {
            self.s.expiries.remove(&key);
            if let Some(mut n) = self.get_node(&NodeId(key.1)) {
                if let Some(t) = n.term.as_mut() {
                    if t.end == key.0 {
                        t.expired = true;
                    }
                }
                self.put_node(&n);
                self.sync_member(&n, now);
                self.s.due.insert(key.1, ());
            }
        }
        let closed: Vec<(u64, u64)> = self
            .s
            .deadlines
            .keys_range(..=(now, u64::MAX))
            .take(1000)
            .collect();
        for (_, id) in closed {
            if let Some(mut c) = self.case(id) {
                if c.status == CaseStatus::Open {
                    c.status = CaseStatus::Rejected { at: now };
                    self.close_case(&c);
                }
            }
        }
        self.save_meta();
    }

    /// Renders a settlement of a `Stuck` movement.
    pub fn validate_resolve_movement(&self, a: &ResolveMovementArgs) -> Result<String, String> {
        let m = self.movement(a.movement_id).ok_or("no such movement")?;
        if m.status != MovementStatus::Stuck {
            return Err(format!("movement {} is {:?}, not Stuck", m.id, m.status));
        }
        Ok(match a.executed_in_block {
            Some(b) => format!("movement {} ({:?}, {} e8s from {} to {}) was executed in ledger block {b}: apply it", m.id, m.kind, m.amount_e8s, m.from, m.to),
            None => format!("movement {} ({:?}, {} e8s from {} to {}) was never executed: close it as failed", m.id, m.kind, m.amount_e8s, m.from, m.to),
        })
    }

    /// Governance settles a `Stuck` movement after reading the ledger's blocks (the memo names
    /// the movement): `executed` applies it as confirmed, otherwise it is closed as failed.
    pub fn resolve_movement(
        &mut self,
        caller: Principal,
        id: u64,
        executed: Option<u64>,
        now: u64,
    ) -> Result<Movement, RegistryError> {
        self.only_governance(caller)?;
        let mut m = self.movement(id).ok_or(RegistryError::NotFound)?;
        if m.status != MovementStatus::Stuck {
            return Err(RegistryError::InvalidArgument(
                "only a Stuck movement can be resolved".into(),
            ));
        }
        m.status = MovementStatus::Pending;
        self.s.journal.insert(id, Cand(Some(m)));
        self.s.pending.insert(id, ());
        let outcome = match executed {
            Some(block) => LedgerOutcome::Done(block),
            None => LedgerOutcome::Refused("resolved by governance: not executed".into()),
        };
        self.finish(id, &outcome, now)
    }
}
