//! The registry state machine over stable structures. Every method takes the caller and the
//! current time as arguments; validation happens before any write, so a call that returns an
//! error changes nothing (except `finish`, whose job is to record ledger outcomes).

use crate::rules;
use crate::storage::{Cand, Key, Stores, LAYOUT_VERSION, MAGIC};
use crate::types::*;
use crate::LoadError;
use candid::{CandidType, Deserialize, Principal};
use emc_types::{NodeId, ValidatorSet};
use ic_stable_structures::Memory;
use icrc_ledger_types::icrc1::account::Account;
use serde::Serialize;
use sha2::Digest;

mod epoch_nodes;

pub use epoch_nodes::{
    EPOCH_NODES_KEPT, MAX_EPOCH_NODES_PAGE, PRUNE_ROWS_PER_CALL, SNAPSHOT_ROWS_PER_CALL,
};

/// The ledger's deduplication window (ICRC-1 `TX_WINDOW`), ns.
pub const TX_WINDOW: u64 = DAY;
/// A pending movement is no longer retried this long before its window closes (a retry after
/// the window could pay twice): it becomes `Stuck`.
pub const STUCK_MARGIN: u64 = 10 * 60 * SEC;
/// Most nodes or reports handled by one page or batch.
pub const MAX_PAGE: usize = 100;
/// Most penalty reports per call.
pub const MAX_REPORTS: usize = 1_000;
/// Longest text fields.
pub const MAX_ADDRESS: usize = 256;
/// Longest region.
pub const MAX_REGION: usize = 64;
/// Longest hardware description or reason.
pub const MAX_TEXT: usize = 1024;
/// Default ledger fee.
pub const DEFAULT_LEDGER_FEE: u64 = 10_000;

/// Counters and clocks, stored in one cell.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Default)]
pub struct Meta {
    /// Next journal id.
    pub next_movement: u64,
    /// Next case id.
    pub next_case: u64,
    /// Nonces issued.
    pub nonce_counter: u64,
    /// Active members per role code.
    pub active: Vec<u64>,
    /// Nodes registered.
    pub nodes: u64,
    /// Sum of `stake_e8s`.
    pub total_stake_e8s: u64,
    /// Ledger fee in use.
    pub ledger_fee_e8s: u64,
    /// Latest snapshotted epoch.
    pub epoch: u64,
    /// Its start.
    pub epoch_start: u64,
    /// Next epoch start.
    pub next_epoch_start: u64,
    /// Last penalty batch applied (None: none yet).
    pub last_penalty_batch: Option<u64>,
}

/// The node registry over a stable memory `M`.
pub struct Registry<M: Memory> {
    config: Config,
    meta: Meta,
    me: Principal,
    s: Stores<M>,
}

fn encode_config(config: &Config) -> Result<Vec<u8>, LoadError> {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&LAYOUT_VERSION.to_le_bytes());
    bytes.extend_from_slice(
        &candid::encode_one(config).map_err(|e| LoadError::Storage(e.to_string()))?,
    );
    Ok(bytes)
}

fn decode_config(bytes: &[u8]) -> Result<Config, LoadError> {
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(LoadError::NotInitialized);
    }
    let mut v = [0u8; 4];
    v.copy_from_slice(&bytes[4..8]);
    let version = u32::from_le_bytes(v);
    if version > LAYOUT_VERSION {
        return Err(LoadError::Downgrade {
            stored: version,
            supported: LAYOUT_VERSION,
        });
    }
    // Version 1 is the only layout so far; later versions migrate step by step here.
    candid::decode_one(&bytes[8..]).map_err(|e| LoadError::Storage(e.to_string()))
}

fn check_text(s: &str, what: &str, min: usize, max: usize) -> Result<(), RegistryError> {
    if s.len() < min || s.len() > max {
        return Err(RegistryError::InvalidArgument(format!(
            "{what} must have {min} to {max} bytes"
        )));
    }
    Ok(())
}

fn storage_err() -> RegistryError {
    RegistryError::Storage("a stored value does not decode".into())
}

fn key_range(role: Role) -> std::ops::RangeInclusive<(u8, Key)> {
    (role.code(), [0u8; 32])..=(role.code(), [0xffu8; 32])
}

/// How far in the future the genesis (the start of epoch 0) may be set at install.
pub const MAX_GENESIS_DELAY_NS: u64 = 30 * 86_400 * 1_000_000_000;

impl<M: Memory> Registry<M> {
    /// Installs a fresh registry in an empty `memory`. `me` is the registry's own principal
    /// (the owner of the stake subaccounts).
    pub fn init(memory: M, args: &InitArgs, now: u64, me: Principal) -> Result<Self, LoadError> {
        let params = args.params.clone().unwrap_or_default();
        rules::check_params(&params).map_err(|e| LoadError::InvalidArgument(e.to_string()))?;
        let genesis_time = args.genesis_time.unwrap_or(now);
        if genesis_time > now.saturating_add(MAX_GENESIS_DELAY_NS) {
            return Err(LoadError::InvalidArgument(
                "genesis_time is more than 30 days ahead".into(),
            ));
        }
        if args.governance == Principal::anonymous() || args.ledger == Principal::anonymous() {
            return Err(LoadError::InvalidArgument(
                "ledger and governance cannot be anonymous".into(),
            ));
        }
        let mut s = Stores::open(memory);
        if !s.config.get().is_empty() {
            return Err(LoadError::AlreadyInitialized);
        }
        let config = Config {
            ledger: args.ledger,
            governance: args.governance,
            treasury: args.treasury,
            epochs_canister: args.epochs_canister,
            params,
            genesis_time,
        };
        s.config.set(encode_config(&config)?);
        let meta = Meta {
            active: vec![0; 3],
            ledger_fee_e8s: args.ledger_fee_e8s.unwrap_or(DEFAULT_LEDGER_FEE),
            epoch: 0,
            epoch_start: genesis_time,
            next_epoch_start: genesis_time
                .saturating_add(config.params.epoch_length_secs.saturating_mul(SEC)),
            ..Meta::default()
        };
        let mut r = Registry {
            config,
            meta,
            me,
            s,
        };
        r.save_meta();
        r.roll_epochs(now);
        Ok(r)
    }

    /// Opens the registry stored in `memory` (after an upgrade).
    pub fn load(memory: M, me: Principal) -> Result<Self, LoadError> {
        let s = Stores::open(memory);
        let config = decode_config(s.config.get())?;
        let meta: Meta =
            candid::decode_one(s.meta.get()).map_err(|e| LoadError::Storage(e.to_string()))?;
        Ok(Registry {
            config,
            meta,
            me,
            s,
        })
    }

    fn save_meta(&mut self) {
        let bytes = candid::encode_one(&self.meta).unwrap_or_default();
        self.s.meta.set(bytes);
    }

    fn save_config(&mut self) -> Result<(), RegistryError> {
        let bytes =
            encode_config(&self.config).map_err(|e| RegistryError::Storage(e.to_string()))?;
        self.s.config.set(bytes);
        Ok(())
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    fn params(&self) -> &Params {
        &self.config.params
    }

    // ---------------------------------------------------------------- nodes

    /// A node.
    pub fn get_node(&self, id: &NodeId) -> Option<Node> {
        self.s.nodes.get(&id.0).and_then(|c| c.0)
    }

    fn node(&self, id: &NodeId) -> Result<Node, RegistryError> {
        match self.s.nodes.get(&id.0) {
            Some(Cand(Some(n))) => Ok(n),
            Some(Cand(None)) => Err(storage_err()),
            None => Err(RegistryError::NodeNotFound),
        }
    }

    fn owned(&self, caller: Principal, id: &NodeId) -> Result<Node, RegistryError> {
        let n = self.node(id)?;
        if n.owner != caller {
            return Err(RegistryError::NotOwner);
        }
        Ok(n)
    }

    fn put_node(&mut self, n: &Node) {
        self.s.nodes.insert(n.id.0, Cand(Some(n.clone())));
    }

    /// Whether `n` is an active member of its role at `now`: live, not suspended; validators
    /// and routers also need a running term and a stake (less penalties due) at the minimum.
    pub fn is_member(&self, n: &Node, now: u64) -> bool {
        if n.state != NodeState::Live || n.suspended {
            return false;
        }
        match n.role {
            Role::Compute => true,
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

    /// Brings the members index and counters in line with `n` (call after any change).
    fn sync_member(&mut self, n: &Node, now: u64) {
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

    fn insert_new_node(&mut self, n: &Node, now: u64) {
        self.put_node(n);
        self.s.by_role.insert((n.role.code(), n.id.0), ());
        self.s.by_owner.insert((n.owner, n.id.0), ());
        self.meta.nodes = self.meta.nodes.saturating_add(1);
        self.sync_member(n, now);
        self.save_meta();
    }

    /// The owner changes its node's metadata.
    pub fn update_node(
        &mut self,
        caller: Principal,
        a: &UpdateNodeArgs,
    ) -> Result<Node, RegistryError> {
        let mut n = self.owned(caller, &a.node_id)?;
        if let Some(x) = &a.network_address {
            check_text(x, "network_address", 1, MAX_ADDRESS)?;
            n.network_address = x.clone();
        }
        if let Some(x) = &a.region {
            check_text(x, "region", 1, MAX_REGION)?;
            n.region = x.clone();
        }
        if let Some(x) = &a.hardware {
            check_text(x, "hardware", 0, MAX_TEXT)?;
            n.hardware = x.clone();
        }
        self.put_node(&n);
        Ok(n)
    }

    /// The owner retires its node: it leaves its role at once; a running stake stays locked
    /// until its term ends and is then released as usual. The key can never register again.
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

    // ---------------------------------------------------------------- staking and the journal

    fn new_movement(
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

    /// Renews a running term (rules in [`rules::renew`]).
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

    fn apply_done(&mut self, n: &mut Node, m: &Movement, now: u64) {
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
    /// Rounding: an outgoing movement of `x` e8s sends `x - fee` and the ledger takes the fee,
    /// so the stake decreases by exactly `x`. A penalty debt not above one fee is written off
    /// (moving it would send nothing), and a stake not above one fee stays as dust.
    fn plan_node(&mut self, n: &mut Node, now: u64) -> Option<Movement> {
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

    fn drop_dust(&mut self, n: &mut Node) -> Option<Movement> {
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

    // ---------------------------------------------------------------- penalties

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

    /// The epochs canister reports a compute node's PoC E (fixed point, 4 decimals).
    pub fn report_compute_e(
        &mut self,
        caller: Principal,
        id: &NodeId,
        e_fixed: u64,
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
        Ok(())
    }

    // ---------------------------------------------------------------- impeachment

    /// A case.
    pub fn case(&self, id: u64) -> Option<Case> {
        self.s.cases.get(&id).and_then(|c| c.0)
    }

    fn new_case(
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
        let target_counts = self
            .s
            .members
            .contains_key(&(target.role.code(), target.id.0));
        let electorate = self.meta.active[usize::from(target.role.code())]
            .saturating_sub(u64::from(target_counts));
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

    /// An active member (owned by `caller`) opens a case against a live node of its role.
    pub fn open_case(
        &mut self,
        caller: Principal,
        a: &OpenCaseArgs,
        now: u64,
    ) -> Result<Case, RegistryError> {
        check_text(&a.reason, "reason", 1, MAX_TEXT)?;
        let accuser = self.owned(caller, &a.accuser)?;
        let target = self.node(&a.target)?;
        if accuser.id == target.id || accuser.role != target.role || !self.is_member(&accuser, now)
        {
            return Err(RegistryError::NotEligible);
        }
        if target.state != NodeState::Live {
            return Err(RegistryError::NodeNotLive);
        }
        let period = self.params().impeachment_period_secs;
        self.new_case(&target, Some(accuser.id), a.reason.clone(), period, now)
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

    /// A vote by an active member of the case's role (registered before the case opened).
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
            || !self.is_member(&voter, now)
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
                    if t.state == NodeState::Live {
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

    fn close_case(&mut self, c: &Case) {
        self.s.cases.insert(c.id, Cand(Some(c.clone())));
        self.s.open_cases.remove(&c.target.0);
        self.s.deadlines.remove(&(c.deadline, c.id));
    }

    // ---------------------------------------------------------------- epochs and validator sets

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
        let mut rows = self.take_snapshot(0, now);
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
            rows = rows.saturating_add(self.take_snapshot(e, now));
            rolled += 1;
        }
        if rolled > 0 {
            self.save_meta();
        }
        self.prune_epoch_nodes(PRUNE_ROWS_PER_CALL.saturating_add(rows));
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
    /// the set is taken already); returns the node rows written.
    fn take_snapshot(&mut self, epoch: u64, now: u64) -> u64 {
        if self.s.snapshots.contains_key(&epoch) {
            return 0;
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

    // ---------------------------------------------------------------- governance

    fn only_governance(&self, caller: Principal) -> Result<(), RegistryError> {
        if caller != self.config.governance {
            return Err(RegistryError::NotGovernance);
        }
        Ok(())
    }

    /// Renders a parameter change (SNS `validate_set_params`).
    pub fn validate_set_params(&self, p: &Params) -> Result<String, String> {
        rules::check_params(p).map_err(|e| e.to_string())?;
        Ok(format!(
            "set registry parameters\nfrom: {:?}\nto:   {:?}",
            self.config.params, p
        ))
    }

    /// Applies a parameter change (governance only).
    pub fn execute_set_params(
        &mut self,
        caller: Principal,
        p: &Params,
        now: u64,
    ) -> Result<(), RegistryError> {
        self.only_governance(caller)?;
        rules::check_params(p)?;
        self.config.params = p.clone();
        self.save_config()?;
        let _ = now;
        Ok(())
    }

    /// Renders a treasury change.
    pub fn validate_set_treasury(&self, a: &Account) -> Result<String, String> {
        if a.owner == Principal::anonymous() {
            return Err("the treasury cannot be the anonymous principal".into());
        }
        Ok(format!(
            "set the treasury account from {} to {}",
            self.config.treasury, a
        ))
    }

    /// Changes the treasury (governance only).
    pub fn execute_set_treasury(
        &mut self,
        caller: Principal,
        a: &Account,
    ) -> Result<(), RegistryError> {
        self.only_governance(caller)?;
        self.validate_set_treasury(a)
            .map_err(RegistryError::InvalidArgument)?;
        self.config.treasury = *a;
        self.save_config()
    }

    /// Renders a change of the trusted epochs canister.
    pub fn validate_set_epochs_canister(&self, p: &Option<Principal>) -> Result<String, String> {
        if *p == Some(Principal::anonymous()) {
            return Err("the epochs canister cannot be anonymous".into());
        }
        let show = |p: &Option<Principal>| p.map(|p| p.to_text()).unwrap_or_else(|| "none".into());
        Ok(format!(
            "set the epochs canister from {} to {}",
            show(&self.config.epochs_canister),
            show(p)
        ))
    }

    /// Changes the trusted epochs canister (governance only); the penalty batch sequence
    /// restarts for the new one.
    pub fn execute_set_epochs_canister(
        &mut self,
        caller: Principal,
        p: &Option<Principal>,
    ) -> Result<(), RegistryError> {
        self.only_governance(caller)?;
        self.validate_set_epochs_canister(p)
            .map_err(RegistryError::InvalidArgument)?;
        if self.config.epochs_canister != *p {
            // A new epochs canister numbers its penalty batches from scratch.
            self.meta.last_penalty_batch = None;
            self.save_meta();
        }
        self.config.epochs_canister = *p;
        self.save_config()
    }

    // ---------------------------------------------------------------- checks and benchmarks

    /// Checks the invariants (tests): the totals and indexes agree with the node records,
    /// every pending entry is its node's one pending movement.
    pub fn check_invariants(&self, now: u64) -> Result<(), String> {
        let mut total = 0u64;
        let mut active = [0u64; 3];
        let mut count = 0u64;
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
            self.insert_new_node(&node, now);
            created += 1;
        }
        self.meta.nodes
    }
}
