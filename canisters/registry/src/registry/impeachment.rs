//! Impeachment: cases, key-leak reports, votes.

use super::*;

impl<M: Memory> Registry<M> {
    /// A case.
    pub fn case(&self, id: u64) -> Option<Case> {
        self.s.cases.get(&id).and_then(|c| c.0)
    }

    pub(super) fn new_case(
        &mut self,
        target: &Node,
        opened_by: Option<NodeId>,
        reason: String,
        period_secs: u64,
        now: u64,
    ) -> Result<Case, RegistryError> {
        if let Some(id) = self.s.open_cases.get(&target.id.0) {
            return Err(RegistryError::CaseAlreadyOpen(id));
        }
        // The role's voters (`is_voter`), the target excluded.
        let electorate = self
            .voters(target.role)
            .saturating_sub(u64::from(self.counted_voter(target)));
        let id = self.meta.next_case;
        self.meta.next_case = id.saturating_add(1);
        let c = Case {
            id,
            target: target.id,
            role: target.role,
            opened_by,
            reason,
            opened_at: now,
            deadline: now.saturating_add(period_secs.saturating_mul(SEC)),
            electorate,
            yes: 0,
            no: 0,
            status: CaseStatus::Open,
        };
        self.s.cases.insert(id, Cand(Some(c.clone())));
        self.s.open_cases.insert(target.id.0, id);
        self.s.deadlines.insert((c.deadline, id), ());
        self.save_meta();
        Ok(c)
    }

    /// A voter of the role (`is_voter`, owned by `caller`) opens a case against a node of its
    /// role that is live, or retired with its stake still locked ([`Self::stake_locked`]):
    /// retiring before a case opens must not take the stake out of impeachment either. The
    /// open case freezes the stake (no release until it is decided) and a yes majority
    /// confiscates it, as for a live node.
    pub fn open_case(
        &mut self,
        caller: Principal,
        a: &OpenCaseArgs,
        now: u64,
    ) -> Result<Case, RegistryError> {
        check_text(&a.reason, "reason", 1, MAX_TEXT)?;
        let accuser = self.owned(caller, &a.accuser)?;
        let target = self.node(&a.target)?;
        if accuser.id == target.id || accuser.role != target.role || !self.is_voter(&accuser, now) {
            return Err(RegistryError::NotEligible);
        }
        let open_to_cases = match target.state {
            NodeState::Live => true,
            NodeState::Retired { .. } => self.stake_locked(&target),
            NodeState::Impeached { .. } => false,
        };
        if !open_to_cases {
            return Err(RegistryError::NodeNotLive);
        }
        let period = self.params().impeachment_period_secs;
        self.new_case(&target, Some(accuser.id), a.reason.clone(), period, now)
    }

    /// Whether the registry still holds `n`'s stake and no release of it is under way: a
    /// positive stake whose movement in flight (if any) is not a release. A case can then
    /// still freeze it (`plan_node` holds releases while a case is open).
    pub fn stake_locked(&self, n: &Node) -> bool {
        n.stake_e8s > 0
            && n.pending_movement
                .and_then(|id| self.movement(id))
                .is_none_or(|m| m.kind != MovementKind::Release)
    }

    /// A validator's owner reports that the validator's key leaked: a case against it opens,
    /// which the other validators must decide within the key-leak period (2 hours).
    pub fn report_key_leak(
        &mut self,
        caller: Principal,
        id: &NodeId,
        now: u64,
    ) -> Result<Case, RegistryError> {
        let n = self.owned(caller, id)?;
        if n.role != Role::Validator {
            return Err(RegistryError::InvalidArgument(
                "key-leak reports are for validators".into(),
            ));
        }
        if n.state != NodeState::Live {
            return Err(RegistryError::NodeNotLive);
        }
        let period = self.params().key_leak_period_secs;
        self.new_case(
            &n,
            None,
            "key leak reported by the validator's owner".into(),
            period,
            now,
        )
    }

    /// A vote by a voter of the case's role (`is_voter`; registered before the case opened).
    pub fn vote(
        &mut self,
        caller: Principal,
        a: &VoteArgs,
        now: u64,
    ) -> Result<Case, RegistryError> {
        let mut c = self.case(a.case_id).ok_or(RegistryError::NotFound)?;
        if c.status != CaseStatus::Open || now >= c.deadline {
            return Err(RegistryError::CaseClosed);
        }
        let voter = self.owned(caller, &a.voter)?;
        if voter.role != c.role
            || voter.id == c.target
            || voter.registered_at > c.opened_at
            || !self.is_voter(&voter, now)
        {
            return Err(RegistryError::NotEligible);
        }
        if self.s.votes.contains_key(&(c.id, voter.id.0)) {
            return Err(RegistryError::AlreadyVoted);
        }
        self.s.votes.insert((c.id, voter.id.0), u8::from(a.yes));
        if a.yes {
            c.yes = c.yes.saturating_add(1);
        } else {
            c.no = c.no.saturating_add(1);
        }
        match rules::tally(c.electorate, c.yes, c.no) {
            Some(true) => {
                c.status = CaseStatus::Upheld { at: now };
                self.close_case(&c);
                if let Ok(mut t) = self.node(&c.target) {
                    // A target that retired while the case was open is impeached all the
                    // same: retiring never takes a stake out of a case (its release waits
                    // for the decision, see `plan_node`).
                    if !matches!(t.state, NodeState::Impeached { .. }) {
                        t.state = NodeState::Impeached {
                            at: now,
                            case_id: c.id,
                        };
                        if let Some(term) = &t.term {
                            self.s.expiries.remove(&(term.end, t.id.0));
                        }
                        self.put_node(&t);
                        self.sync_member(&t, now);
                        self.s.due.insert(t.id.0, ());
                    }
                }
            }
            Some(false) => {
                c.status = CaseStatus::Rejected { at: now };
                self.close_case(&c);
            }
            None => {
                self.s.cases.insert(c.id, Cand(Some(c.clone())));
            }
        }
        self.save_meta();
        Ok(c)
    }

    /// Stores a decided case. Its target is re-examined for movements: a release held back
    /// while the case was open (see `plan_node`) goes out now if the case was rejected.
    pub(super) fn close_case(&mut self, c: &Case) {
        self.s.cases.insert(c.id, Cand(Some(c.clone())));
        self.s.open_cases.remove(&c.target.0);
        self.s.deadlines.remove(&(c.deadline, c.id));
        self.s.due.insert(c.target.0, ());
    }

    /// Whether an impeachment case against `id` is open: its stake is frozen (no release)
    /// until the case is decided.
    pub fn under_open_case(&self, id: &NodeId) -> bool {
        self.s.open_cases.contains_key(&id.0)
    }
}
