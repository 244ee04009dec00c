//! Nodes: registration, metadata, retirement, membership, paged views, stake and multiplier views.

use super::*;

impl<M: Memory> Registry<M> {
    /// A node.
    pub fn get_node(&self, id: &NodeId) -> Option<Node> {
        self.s.nodes.get(&id.0).and_then(|c| c.0)
    }

    pub(super) fn node(&self, id: &NodeId) -> Result<Node, RegistryError> {
        match self.s.nodes.get(&id.0) {
            Some(Cand(Some(n))) => Ok(n),
            Some(Cand(None)) => Err(storage_err()),
            None => Err(RegistryError::NodeNotFound),
        }
    }

    pub(super) fn owned(&self, caller: Principal, id: &NodeId) -> Result<Node, RegistryError> {
        let n = self.node(id)?;
        if n.owner != caller {
            return Err(RegistryError::NotOwner);
        }
        Ok(n)
    }

    pub(super) fn put_node(&mut self, n: &Node) {
        self.s.nodes.insert(n.id.0, Cand(Some(n.clone())));
    }

    /// Whether `n` is an active member of its role at `now`: live, not suspended; validators
    /// and routers also need a running term and a stake (less penalties due) at the minimum;
    /// compute nodes need to be admitted: a passed PoC reported by the epochs canister
    /// (spec 5: "admitted after it passes PoC and the validators agree on it"; the report
    /// comes from a quorum-signed checkpoint). Members are who the epoch node snapshots list
    /// in full and who validator sets are drawn from; live compute nodes not admitted yet
    /// are candidates ([`Self::is_candidate`]), of which a snapshot lists a bounded number.
    /// Who votes in impeachment cases is the narrower [`Self::is_voter`].
    pub fn is_member(&self, n: &Node, now: u64) -> bool {
        if n.state != NodeState::Live || n.suspended {
            return false;
        }
        match n.role {
            Role::Compute => self.s.poc_passed.contains_key(&n.id.0),
            Role::Validator | Role::Router => match &n.term {
                Some(t) => {
                    !t.expired
                        && now < t.end
                        && n.stake_e8s.saturating_sub(n.penalty_due_e8s)
                            >= rules::min_stake(self.params(), n.role, n.poc_e)
                }
                None => false,
            },
        }
    }

    /// Whether `n` is a compute candidate: live, not suspended, not admitted yet (no passed
    /// PoC reported). A candidate is queued at registration (`candidate` shows its place);
    /// the epoch snapshots list the first [`Params::max_compute_candidates`] queued
    /// candidates, oldest first, so that validators challenge them, and one listed in
    /// [`Params::candidate_epochs`] snapshots without being admitted leaves the queue (its
    /// owner may queue it again at the back: [`Self::requeue_candidate`]).
    pub fn is_candidate(&self, n: &Node) -> bool {
        n.role == Role::Compute
            && n.state == NodeState::Live
            && !n.suspended
            && !self.s.poc_passed.contains_key(&n.id.0)
    }

    /// Whether `n` may open and vote in impeachment cases of its role at `now` (and counts in
    /// their electorate). Validators and routers: exactly the active members (`is_member`:
    /// their stake is required already). Compute nodes need no stake to be members (only an
    /// admission), so a compute voter is also a member with a passed PoC (an E > 0 reported
    /// by the epochs canister) and a running term whose stake, net of penalties due, is at
    /// its minimum (1000 x E, [`rules::min_stake`]): sybils neither vote nor count.
    pub fn is_voter(&self, n: &Node, now: u64) -> bool {
        if !self.is_member(n, now) {
            return false;
        }
        match n.role {
            Role::Validator | Role::Router => true,
            Role::Compute => {
                self.s.poc_passed.contains_key(&n.id.0)
                    && n.poc_e > 0
                    && n.term.as_ref().is_some_and(|t| !t.expired && now < t.end)
                    && n.stake_e8s.saturating_sub(n.penalty_due_e8s)
                        >= rules::min_stake(self.params(), n.role, n.poc_e).max(1)
            }
        }
    }

    /// The voters of `role` now (the electorate of a case, with its target if a voter):
    /// the active members for validators and routers, the compute voters index for compute.
    pub(super) fn voters(&self, role: Role) -> u64 {
        match role {
            Role::Compute => self.s.compute_voters.len(),
            _ => self.meta.active[usize::from(role.code())],
        }
    }

    /// Whether `n` is in the voter count of its role (see [`Self::voters`]).
    pub(super) fn counted_voter(&self, n: &Node) -> bool {
        match n.role {
            Role::Compute => self.s.compute_voters.contains_key(&n.id.0),
            _ => self.s.members.contains_key(&(n.role.code(), n.id.0)),
        }
    }

    /// Brings the members index, counters, the compute voters index and the candidate queue
    /// in line with `n` (call after any change). A node that stops being a candidate
    /// (admitted, retired, impeached, suspended) leaves the queue; nothing here queues one
    /// (registration and [`Self::requeue_candidate`] do).
    pub(super) fn sync_member(&mut self, n: &Node, now: u64) {
        let want = self.is_member(n, now);
        let key = (n.role.code(), n.id.0);
        let have = self.s.members.contains_key(&key);
        let i = usize::from(n.role.code());
        if want && !have {
            self.s.members.insert(key, ());
            self.meta.active[i] = self.meta.active[i].saturating_add(1);
        } else if !want && have {
            self.s.members.remove(&key);
            self.meta.active[i] = self.meta.active[i].saturating_sub(1);
        }
        if n.role == Role::Compute {
            if self.is_voter(n, now) {
                self.s.compute_voters.insert(n.id.0, ());
            } else {
                self.s.compute_voters.remove(&n.id.0);
            }
            if !self.is_candidate(n) {
                self.dequeue_candidate(&n.id);
            }
        }
    }

    /// Puts candidate `id` at the back of the queue (queued at `now`, listed in no epoch yet).
    pub(super) fn enqueue_candidate(&mut self, id: &NodeId, now: u64) {
        self.dequeue_candidate(id);
        self.s.candidates.insert((now, id.0), 0);
        self.s.candidate_keys.insert(id.0, now);
    }

    /// Takes `id` out of the candidate queue (nothing when it is not queued).
    pub(super) fn dequeue_candidate(&mut self, id: &NodeId) {
        if let Some(at) = self.s.candidate_keys.remove(&id.0) {
            self.s.candidates.remove(&(at, id.0));
        }
    }

    /// A queued compute candidate's place in the queue (None: not queued).
    pub fn candidate(&self, id: &NodeId) -> Option<CandidateInfo> {
        let at = self.s.candidate_keys.get(&id.0)?;
        let listed = self.s.candidates.get(&(at, id.0))?;
        Some(CandidateInfo {
            queued_at: at,
            listed_epochs: listed,
        })
    }

    /// The owner queues its compute candidate again, at the back of the queue, after it left
    /// the queue ([`Params::candidate_epochs`] snapshots listed it without an admission, or it
    /// was suspended meanwhile). Refused for a node that is queued already, admitted, not
    /// live or suspended. Going to the back is the whole cost: a node that keeps failing PoC
    /// takes one turn per pass through the queue, never a place ahead of newer candidates.
    pub fn requeue_candidate(
        &mut self,
        caller: Principal,
        id: &NodeId,
        now: u64,
    ) -> Result<CandidateInfo, RegistryError> {
        let n = self.owned(caller, id)?;
        if n.role != Role::Compute {
            return Err(RegistryError::InvalidArgument(
                "only compute nodes are candidates".into(),
            ));
        }
        if n.state != NodeState::Live {
            return Err(RegistryError::NodeNotLive);
        }
        if self.s.poc_passed.contains_key(&n.id.0) {
            return Err(RegistryError::InvalidArgument(
                "the node is admitted already".into(),
            ));
        }
        if n.suspended {
            return Err(RegistryError::InvalidArgument(
                "the node is suspended".into(),
            ));
        }
        if self.s.candidate_keys.contains_key(&n.id.0) {
            return Err(RegistryError::InvalidArgument(
                "the node is queued already".into(),
            ));
        }
        self.enqueue_candidate(&n.id, now);
        Ok(CandidateInfo {
            queued_at: now,
            listed_epochs: 0,
        })
    }

    /// Issues a one-time registration nonce for `caller` (replacing an older one).
    pub fn registration_nonce(
        &mut self,
        caller: Principal,
        now: u64,
    ) -> Result<[u8; 32], RegistryError> {
        if caller == Principal::anonymous() {
            return Err(RegistryError::Anonymous);
        }
        self.meta.nonce_counter = self.meta.nonce_counter.wrapping_add(1);
        let mut h = sha2::Sha256::new();
        h.update(b"emc-register-nonce");
        h.update(self.me.as_slice());
        h.update(caller.as_slice());
        h.update(now.to_be_bytes());
        h.update(self.meta.nonce_counter.to_be_bytes());
        let nonce: [u8; 32] = h.finalize().into();
        let expires = now.saturating_add(self.params().nonce_ttl_secs.saturating_mul(SEC));
        self.s.nonces.insert(caller, (nonce, expires));
        self.save_meta();
        Ok(nonce)
    }

    /// Registers a node owned by `caller` (who must hold an unexpired nonce signed by the node).
    pub fn register(
        &mut self,
        caller: Principal,
        a: &RegisterArgs,
        now: u64,
    ) -> Result<Node, RegistryError> {
        if caller == Principal::anonymous() {
            return Err(RegistryError::Anonymous);
        }
        check_text(&a.network_address, "network_address", 1, MAX_ADDRESS)?;
        check_text(&a.region, "region", 1, MAX_REGION)?;
        check_text(&a.hardware, "hardware", 0, MAX_TEXT)?;
        let (nonce, expires) = self.s.nonces.get(&caller).ok_or(RegistryError::NoNonce)?;
        if now >= expires {
            return Err(RegistryError::NoNonce);
        }
        let pk = rules::verify_registration(&a.public_key, &a.signature, &caller, &nonce, a.role)?;
        if self.s.nodes.contains_key(&pk) {
            return Err(RegistryError::KeyAlreadyRegistered);
        }
        let n = Node {
            id: NodeId(pk),
            role: a.role,
            owner: caller,
            network_address: a.network_address.clone(),
            region: a.region.clone(),
            hardware: a.hardware.clone(),
            registered_at: now,
            state: NodeState::Live,
            suspended: false,
            term: None,
            stake_e8s: 0,
            penalty_due_e8s: 0,
            pending_movement: None,
            poc_e: E_SCALE,
        };
        self.s.nonces.remove(&caller);
        self.insert_new_node(&n, now);
        Ok(n)
    }

    pub(super) fn insert_new_node(&mut self, n: &Node, now: u64) {
        self.put_node(n);
        self.s.by_role.insert((n.role.code(), n.id.0), ());
        self.s.by_owner.insert((n.owner, n.id.0), ());
        self.meta.nodes = self.meta.nodes.saturating_add(1);
        self.sync_member(n, now);
        if self.is_candidate(n) {
            self.enqueue_candidate(&n.id, now);
        }
        self.save_meta();
    }

    /// The owner changes its node's metadata. A new network address (one that differs from
    /// the current one) is allowed once per [`Params::address_change_interval_secs`], the
    /// first change after registration always ([`rules::check_address_change`]).
    ///
    /// The address is a dialing hint, not an identity: validators, routers and nodes that
    /// dial a registered node authenticate its node key in the QUIC handshake (the registry's
    /// key for that role), so an address pointing at someone else's host only costs each
    /// dialer one failed handshake per reconnect backoff, and the rate limit keeps an owner
    /// from moving the network's dials to a new victim more often than once an interval.
    pub fn update_node(
        &mut self,
        caller: Principal,
        a: &UpdateNodeArgs,
        now: u64,
    ) -> Result<Node, RegistryError> {
        let mut n = self.owned(caller, &a.node_id)?;
        let mut address_changed = false;
        if let Some(x) = &a.network_address {
            check_text(x, "network_address", 1, MAX_ADDRESS)?;
            if *x != n.network_address {
                rules::check_address_change(
                    self.s.address_changes.get(&n.id.0),
                    now,
                    self.params().address_change_interval_secs(),
                )?;
                n.network_address = x.clone();
                address_changed = true;
            }
        }
        if let Some(x) = &a.region {
            check_text(x, "region", 1, MAX_REGION)?;
            n.region = x.clone();
        }
        if let Some(x) = &a.hardware {
            check_text(x, "hardware", 0, MAX_TEXT)?;
            n.hardware = x.clone();
        }
        if address_changed {
            self.s.address_changes.insert(n.id.0, now);
        }
        self.put_node(&n);
        Ok(n)
    }

    /// The owner retires its node: it leaves its role at once; a running stake stays locked
    /// until its term ends and is then released as usual (not while an impeachment case
    /// against the node is open, and for a validator not before
    /// [`VALIDATOR_RELEASE_MARGIN_EPOCHS`] epochs after the last set that lists it). The key
    /// can never register again.
    pub fn retire(
        &mut self,
        caller: Principal,
        id: &NodeId,
        now: u64,
    ) -> Result<Node, RegistryError> {
        let mut n = self.owned(caller, id)?;
        if n.state != NodeState::Live {
            return Err(RegistryError::NodeNotLive);
        }
        n.state = NodeState::Retired { at: now };
        self.put_node(&n);
        self.sync_member(&n, now);
        self.save_meta();
        Ok(n)
    }

    /// Pages of nodes of a role, by id, after `start_after`.
    pub fn nodes_by_role(&self, role: Role, start_after: Option<NodeId>, limit: u32) -> Vec<Node> {
        let limit = (limit as usize).clamp(1, MAX_PAGE);
        let start = (role.code(), start_after.map(|n| n.0).unwrap_or([0; 32]));
        self.s
            .by_role
            .keys_range(start..=(role.code(), [0xff; 32]))
            .filter(|(_, k)| start_after.is_none_or(|s| *k != s.0))
            .take(limit)
            .filter_map(|(_, k)| self.get_node(&NodeId(k)))
            .collect()
    }

    /// Pages of nodes of an owner, by id, after `start_after`.
    pub fn nodes_by_owner(
        &self,
        owner: Principal,
        start_after: Option<NodeId>,
        limit: u32,
    ) -> Vec<Node> {
        let limit = (limit as usize).clamp(1, MAX_PAGE);
        let start = (owner, start_after.map(|n| n.0).unwrap_or([0; 32]));
        self.s
            .by_owner
            .keys_range(start..=(owner, [0xff; 32]))
            .filter(|(_, k)| start_after.is_none_or(|s| *k != s.0))
            .take(limit)
            .filter_map(|(_, k)| self.get_node(&NodeId(k)))
            .collect()
    }

    /// The registry's ledger account holding a node's stake.
    pub fn node_account(&self, id: &NodeId) -> Account {
        Account {
            owner: self.me,
            subaccount: Some(rules::node_subaccount(id)),
        }
    }

    /// Stake view.
    pub fn stake_info(&self, id: &NodeId, now: u64) -> Option<StakeInfo> {
        let n = self.get_node(id)?;
        Some(StakeInfo {
            stake_e8s: n.stake_e8s,
            penalty_due_e8s: n.penalty_due_e8s,
            term: n.term.clone(),
            account: self.node_account(id),
            active: self.is_member(&n, now),
            suspended: n.suspended,
        })
    }

    /// The node's multiplier of E (fixed point): a compute node's running, unsuspended term's
    /// multiplier, x1 (`E_SCALE`) otherwise.
    pub fn e_multiplier(&self, id: &NodeId, now: u64) -> Option<u64> {
        let n = self.get_node(id)?;
        Some(epoch_nodes::multiplier_at(&n, now))
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            nodes: self.meta.nodes,
            active: self.meta.active.clone(),
            total_stake_e8s: self.meta.total_stake_e8s,
            pending_movements: self.s.pending.len(),
            movements: self.s.journal.len(),
            ledger_fee_e8s: self.meta.ledger_fee_e8s,
        }
    }
}
