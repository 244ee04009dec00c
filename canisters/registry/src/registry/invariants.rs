//! Invariant checks (tests) and benchmark seeding.

use super::*;

impl<M: Memory> Registry<M> {
    /// Checks the invariants (tests): the totals and indexes (members, compute voters, PoC
    /// records, the candidate queue) agree with the node records, every pending entry is its
    /// node's one pending movement.
    pub fn check_invariants(&self, now: u64) -> Result<(), String> {
        let mut total = 0u64;
        let mut active = [0u64; 3];
        let mut count = 0u64;
        let mut voters = 0u64;
        for e in self.s.nodes.iter() {
            let Some(n) = e.value().0 else {
                return Err("undecodable node".into());
            };
            count += 1;
            total += n.stake_e8s;
            if n.penalty_due_e8s > n.stake_e8s {
                return Err(format!("penalty due above stake for {:?}", n.id));
            }
            let member = self.s.members.contains_key(&(n.role.code(), n.id.0));
            if member {
                active[usize::from(n.role.code())] += 1;
            }
            if member && !self.is_member(&n, now) && n.term.as_ref().is_none_or(|t| now < t.end) {
                return Err(format!("{:?} indexed as a member but is not", n.id));
            }
            // The compute voters index: exactly the compute voters (an entry may outlive its
            // term end until the timer processes the expiry, like a member's).
            let voter = self.s.compute_voters.contains_key(&n.id.0);
            if voter && n.role != Role::Compute {
                return Err(format!("{:?} is not compute but indexed as a voter", n.id));
            }
            if voter && !self.is_voter(&n, now) && n.term.as_ref().is_none_or(|t| now < t.end) {
                return Err(format!("{:?} indexed as a voter but is not", n.id));
            }
            if !voter && n.role == Role::Compute && self.is_voter(&n, now) {
                return Err(format!("compute voter {:?} is not indexed", n.id));
            }
            voters += u64::from(voter);
            if let Some(id) = n.pending_movement {
                let m = self.movement(id).ok_or("missing movement")?;
                if m.node_id != n.id
                    || !matches!(m.status, MovementStatus::Pending | MovementStatus::Stuck)
                {
                    return Err(format!(
                        "node {:?} points at movement {id} which is {:?}",
                        n.id, m.status
                    ));
                }
            }
        }
        if total != self.meta.total_stake_e8s {
            return Err(format!(
                "total stake {} != sum {}",
                self.meta.total_stake_e8s, total
            ));
        }
        if active.to_vec() != self.meta.active {
            return Err(format!(
                "active counters {:?} != {:?}",
                self.meta.active, active
            ));
        }
        if count != self.meta.nodes {
            return Err("node count".into());
        }
        if voters != self.s.compute_voters.len() {
            return Err("compute voters indexed for unknown nodes".into());
        }
        for id in self.s.poc_passed.keys() {
            if self
                .get_node(&NodeId(id))
                .is_none_or(|n| n.role != Role::Compute)
            {
                return Err(format!("PoC record of a non-compute node {id:02x?}"));
            }
        }
        // The candidate queue: both maps agree, and every queued node is a candidate.
        if self.s.candidates.len() != self.s.candidate_keys.len() {
            return Err("candidate queue and its keys differ in size".into());
        }
        for e in self.s.candidates.iter() {
            let (at, k) = *e.key();
            if self.s.candidate_keys.get(&k) != Some(at) {
                return Err(format!("queued candidate {k:02x?} without its key"));
            }
            let n = self.node(&NodeId(k)).map_err(|e| e.to_string())?;
            if !self.is_candidate(&n) {
                return Err(format!("{:?} is queued but not a candidate", n.id));
            }
        }
        for id in self.s.pending.keys() {
            let m = self.movement(id).ok_or("missing pending movement")?;
            let n = self.node(&m.node_id).map_err(|e| e.to_string())?;
            if n.pending_movement != Some(id) || m.status != MovementStatus::Pending {
                return Err(format!("pending movement {id} is not its node's"));
            }
        }
        self.check_epoch_nodes()
    }

    /// Benchmark seeding: `n` synthetic compute nodes (keys derived from a counter, owner
    /// `owner`), written directly. Only in builds with the `bench` feature.
    #[cfg(feature = "bench")]
    pub fn bench_seed_nodes(&mut self, owner: Principal, n: u64, now: u64) -> u64 {
        let mut seed = self.meta.nodes;
        let mut created = 0;
        while created < n {
            seed = seed.wrapping_add(1);
            let pk: [u8; 32] = sha2::Sha256::digest(seed.to_be_bytes()).into();
            if self.s.nodes.contains_key(&pk) {
                continue;
            }
            let node = Node {
                id: NodeId(pk),
                role: Role::Compute,
                owner,
                network_address: format!("10.0.{}.{}:4000", (seed >> 8) & 0xff, seed & 0xff),
                region: "bench".into(),
                hardware: "synthetic".into(),
                registered_at: now,
                state: NodeState::Live,
                suspended: false,
                term: None,
                stake_e8s: 0,
                penalty_due_e8s: 0,
                pending_movement: None,
                poc_e: E_SCALE,
            };
            // Admitted (as if their PoC had passed): every seeded node is a member, listed in
            // every snapshot, so that the benchmark measures a full-size snapshot.
            self.s.poc_passed.insert(pk, ());
            self.insert_new_node(&node, now);
            created += 1;
        }
        self.meta.nodes
    }
}
