//! The registry's stable storage: one `MemoryManager` over the canister's stable memory (or a
//! `VectorMemory` in tests), with fixed memory ids that never change.
//!
//! ```text
//! MemoryId  structure                     key -> value
//!  0        StableCell<Vec<u8>> config    "EMCR" magic | u32 LE layout version | candid Config
//!  1        StableCell<Vec<u8>> meta      candid Meta (ids, counters, epoch clock, ledger fee)
//!  2        StableBTreeMap nodes          node id [32] -> candid Node
//!  3        StableBTreeMap by role        (role u8, node id) -> ()
//!  4        StableBTreeMap by owner       (owner principal, node id) -> ()
//!  5        StableBTreeMap members        (role u8, node id) -> ()   active members (see `is_member`)
//!  6        StableBTreeMap nonces         caller principal -> (nonce [32], expires_at u64)
//!  7        StableBTreeMap journal        movement id -> candid Movement
//!  8        StableBTreeMap pending        movement id -> ()          journal entries still Pending
//!  9        StableBTreeMap due            node id -> ()              nodes that may owe a movement
//! 10        StableBTreeMap expiries       (time, node id) -> ()      term ends; wake-ups of held releases
//! 11        StableBTreeMap snapshots      epoch -> candid ValidatorSetSnapshot (never rewritten)
//! 12        StableBTreeMap cases          case id -> candid Case
//! 13        StableBTreeMap votes          (case id, voter node id) -> yes u8
//! 14        StableBTreeMap open cases     target node id -> case id
//! 15        StableBTreeMap case deadlines (deadline, case id) -> ()    open cases
//! 16        StableBTreeMap epoch nodes    (epoch u64, first node id) -> NodeChunk (never rewritten)
//! 17        StableBTreeMap epoch totals   epoch -> nodes in its snapshot (present = taken, kept)
//! 18        StableBTreeMap PoC passed     compute node id -> ()   an E > 0 was reported for it
//! 19        StableBTreeMap compute voters compute node id -> ()   may vote (see `is_voter`)
//! 20        StableBTreeMap candidate queue (queued_at u64, node id) -> listed epochs u32
//! 21        StableBTreeMap candidate keys compute node id -> queued_at u64 (its key in 20)
//! 22        StableBTreeMap address changes node id -> time of its last network address change
//! ```
//!
//! A `NodeChunk` holds up to 256 consecutive nodes (by id) of one epoch's snapshot, 50 to 79
//! bytes each: `node id [32] | flags u8 | stake net of penalties due u64 BE | multiplier
//! u64 BE | owner length u8 | owner principal bytes`, where the flags byte is the role code
//! (low bits) plus [`CANDIDATE_FLAG`] for a compute candidate (layout 2; a layout-1 row is a
//! role code alone, so it reads as a member). Chunks rather than one entry per node:
//! a 100,000-node snapshot is ~400 B-tree inserts instead of 100,000. An epoch's node snapshot
//! is written in one message together with its validator set (memory 11); memory 17 says which
//! snapshots exist. Pruning removes an epoch's total first (the snapshot then reads as absent)
//! and its chunks over the next calls. Memories 16 and 17 were added without a layout change:
//! an older registry's stable memory simply has no node snapshots. Memories 18 and 19 were
//! added the same way: an older registry has no PoC record, so its compute nodes vote only once
//! the epochs canister reports their E again (fail-closed).
//!
//! Layout 2 (compute admission): memory 5 lists a compute node only once it is admitted (a
//! passed PoC, memory 18); live compute nodes not admitted yet are candidates, queued in
//! memories 20 and 21 (the snapshot reads the front of the queue, never all nodes). The
//! migration from layout 1 (`Registry::load`) moves every compute member without a PoC
//! record out of memory 5 into the queue (by registration time), once. Memories 20 to 22 are
//! new (empty in a layout-1 registry).
//!
//! Everything lives in stable memory: nothing is serialized in `pre_upgrade`. Layout changes
//! bump [`LAYOUT_VERSION`] and add a migration step; a build finding a newer version than its
//! own refuses to start (no downgrades).

use crate::types::{EpochNode, Role};
use candid::Principal;
use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};
use ic_stable_structures::storable::{Bound, Storable};
use ic_stable_structures::{Memory, StableBTreeMap, StableCell};
use std::borrow::Cow;

/// The storage layout version this build writes and reads.
pub const LAYOUT_VERSION: u32 = 2;
/// Magic bytes at the start of the config cell.
pub const MAGIC: &[u8; 4] = b"EMCR";
/// The config cell's header: [`MAGIC`] and [`LAYOUT_VERSION`] (the shared `emc_stable` layout).
pub const HEADER: emc_stable::Header = emc_stable::Header::new(*MAGIC, LAYOUT_VERSION);

pub use emc_stable::Cand;

/// Memory of the config cell.
pub const CONFIG: MemoryId = MemoryId::new(0);
/// Memory of the meta cell.
pub const META: MemoryId = MemoryId::new(1);
/// Memory of the nodes map.
pub const NODES: MemoryId = MemoryId::new(2);
/// Memory of the role index.
pub const BY_ROLE: MemoryId = MemoryId::new(3);
/// Memory of the owner index.
pub const BY_OWNER: MemoryId = MemoryId::new(4);
/// Memory of the members index.
pub const MEMBERS: MemoryId = MemoryId::new(5);
/// Memory of the registration nonces.
pub const NONCES: MemoryId = MemoryId::new(6);
/// Memory of the journal.
pub const JOURNAL: MemoryId = MemoryId::new(7);
/// Memory of the pending journal ids.
pub const PENDING: MemoryId = MemoryId::new(8);
/// Memory of the nodes that may owe a movement.
pub const DUE: MemoryId = MemoryId::new(9);
/// Memory of the running terms by end.
pub const EXPIRIES: MemoryId = MemoryId::new(10);
/// Memory of the validator set snapshots.
pub const SNAPSHOTS: MemoryId = MemoryId::new(11);
/// Memory of the impeachment cases.
pub const CASES: MemoryId = MemoryId::new(12);
/// Memory of the impeachment votes.
pub const VOTES: MemoryId = MemoryId::new(13);
/// Memory of the open case per target.
pub const OPEN_CASES: MemoryId = MemoryId::new(14);
/// Memory of the open cases by deadline.
pub const DEADLINES: MemoryId = MemoryId::new(15);

/// Memory of the per-epoch node snapshots (rows).
pub const EPOCH_NODES: MemoryId = MemoryId::new(16);
/// Memory of the per-epoch node snapshot totals.
pub const EPOCH_TOTALS: MemoryId = MemoryId::new(17);
/// Memory of the compute nodes with a passed PoC (an E > 0 reported by the epochs canister).
pub const POC_PASSED: MemoryId = MemoryId::new(18);
/// Memory of the compute nodes that may vote in impeachment cases.
pub const COMPUTE_VOTERS: MemoryId = MemoryId::new(19);
/// Memory of the compute candidate queue.
pub const CANDIDATES: MemoryId = MemoryId::new(20);
/// Memory of each queued candidate's queue key.
pub const CANDIDATE_KEYS: MemoryId = MemoryId::new(21);
/// Memory of the nodes' last network address changes.
pub const ADDRESS_CHANGES: MemoryId = MemoryId::new(22);

/// A virtual memory of the registry.
pub type VM<M> = VirtualMemory<M>;
/// A node id key.
pub type Key = [u8; 32];

/// All stable structures of the registry.
pub struct Stores<M: Memory> {
    /// Config cell (magic, version, candid Config).
    pub config: StableCell<Vec<u8>, VM<M>>,
    /// Meta cell (candid Meta).
    pub meta: StableCell<Vec<u8>, VM<M>>,
    /// Nodes.
    pub nodes: StableBTreeMap<Key, Cand<crate::types::Node>, VM<M>>,
    /// Role index.
    pub by_role: StableBTreeMap<(u8, Key), (), VM<M>>,
    /// Owner index.
    pub by_owner: StableBTreeMap<(Principal, Key), (), VM<M>>,
    /// Active members per role.
    pub members: StableBTreeMap<(u8, Key), (), VM<M>>,
    /// Registration nonces.
    pub nonces: StableBTreeMap<Principal, ([u8; 32], u64), VM<M>>,
    /// Journal.
    pub journal: StableBTreeMap<u64, Cand<crate::types::Movement>, VM<M>>,
    /// Pending journal ids.
    pub pending: StableBTreeMap<u64, (), VM<M>>,
    /// Nodes that may owe a movement.
    pub due: StableBTreeMap<Key, (), VM<M>>,
    /// Running terms by end, and wake-ups of releases held back (a key whose time is not the
    /// term end only puts the node back on `due`).
    pub expiries: StableBTreeMap<(u64, Key), (), VM<M>>,
    /// Validator set snapshots.
    pub snapshots: StableBTreeMap<u64, Cand<crate::types::ValidatorSetSnapshot>, VM<M>>,
    /// Impeachment cases.
    pub cases: StableBTreeMap<u64, Cand<crate::types::Case>, VM<M>>,
    /// Votes.
    pub votes: StableBTreeMap<(u64, Key), u8, VM<M>>,
    /// Open case per target.
    pub open_cases: StableBTreeMap<Key, u64, VM<M>>,
    /// Open cases by deadline.
    pub deadlines: StableBTreeMap<(u64, u64), (), VM<M>>,
    /// Per-epoch node snapshots: (epoch, first node id of the chunk) -> chunk of rows.
    pub epoch_nodes: StableBTreeMap<(u64, Key), NodeChunk, VM<M>>,
    /// Per-epoch node snapshot totals: epoch -> node count (present = the snapshot exists).
    pub epoch_totals: StableBTreeMap<u64, u64, VM<M>>,
    /// Compute nodes with a passed PoC: node id -> ().
    pub poc_passed: StableBTreeMap<Key, (), VM<M>>,
    /// Compute nodes that may vote in impeachment cases (`is_voter`): node id -> ().
    pub compute_voters: StableBTreeMap<Key, (), VM<M>>,
    /// The compute candidate queue, oldest first: (queued_at, node id) -> epoch snapshots
    /// that listed it so far.
    pub candidates: StableBTreeMap<(u64, Key), u32, VM<M>>,
    /// A queued candidate's key in `candidates`: node id -> queued_at.
    pub candidate_keys: StableBTreeMap<Key, u64, VM<M>>,
    /// Last network address change per node (absent: none since registration).
    pub address_changes: StableBTreeMap<Key, u64, VM<M>>,
}

impl<M: Memory> Stores<M> {
    /// Opens (or creates, when the memory is empty) every structure over `memory`.
    pub fn open(memory: M) -> Self {
        let mm = MemoryManager::init(memory);
        Stores {
            config: StableCell::init(mm.get(CONFIG), Vec::new()),
            meta: StableCell::init(mm.get(META), Vec::new()),
            nodes: StableBTreeMap::init(mm.get(NODES)),
            by_role: StableBTreeMap::init(mm.get(BY_ROLE)),
            by_owner: StableBTreeMap::init(mm.get(BY_OWNER)),
            members: StableBTreeMap::init(mm.get(MEMBERS)),
            nonces: StableBTreeMap::init(mm.get(NONCES)),
            journal: StableBTreeMap::init(mm.get(JOURNAL)),
            pending: StableBTreeMap::init(mm.get(PENDING)),
            due: StableBTreeMap::init(mm.get(DUE)),
            expiries: StableBTreeMap::init(mm.get(EXPIRIES)),
            snapshots: StableBTreeMap::init(mm.get(SNAPSHOTS)),
            cases: StableBTreeMap::init(mm.get(CASES)),
            votes: StableBTreeMap::init(mm.get(VOTES)),
            open_cases: StableBTreeMap::init(mm.get(OPEN_CASES)),
            deadlines: StableBTreeMap::init(mm.get(DEADLINES)),
            epoch_nodes: StableBTreeMap::init(mm.get(EPOCH_NODES)),
            epoch_totals: StableBTreeMap::init(mm.get(EPOCH_TOTALS)),
            poc_passed: StableBTreeMap::init(mm.get(POC_PASSED)),
            compute_voters: StableBTreeMap::init(mm.get(COMPUTE_VOTERS)),
            candidates: StableBTreeMap::init(mm.get(CANDIDATES)),
            candidate_keys: StableBTreeMap::init(mm.get(CANDIDATE_KEYS)),
            address_changes: StableBTreeMap::init(mm.get(ADDRESS_CHANGES)),
        }
    }
}

/// A run of consecutive nodes (by id) of one epoch's node snapshot, stored under
/// (epoch, first node id): at most [`CHUNK_ROWS`] rows of
/// `node id [32] | flags u8 | stake u64 BE | multiplier u64 BE | owner length u8 | owner`
/// (flags: the role code, plus [`CANDIDATE_FLAG`] for a compute candidate).
/// Bytes that do not decode (never written) read as `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeChunk(pub Option<Vec<EpochNode>>);

/// Most rows in one [`NodeChunk`] (a chunk holds at most about 20 KiB).
pub const CHUNK_ROWS: usize = 256;
/// The bit of a row's flags byte that marks a compute candidate (the low bits are the role).
pub const CANDIDATE_FLAG: u8 = 0x80;
/// Fixed part of a row: id, flags, stake, multiplier, owner length.
const ROW_FIXED: usize = 32 + 1 + 8 + 8 + 1;
/// Longest principal.
const MAX_PRINCIPAL: usize = 29;

impl NodeChunk {
    fn encode(&self) -> Vec<u8> {
        let Some(rows) = &self.0 else {
            return Vec::new();
        };
        let mut b = Vec::with_capacity(rows.len() * (ROW_FIXED + MAX_PRINCIPAL));
        for r in rows {
            let owner = r.owner.as_slice();
            b.extend_from_slice(&r.id.0);
            b.push(r.role.code() | if r.candidate { CANDIDATE_FLAG } else { 0 });
            b.extend_from_slice(&r.stake_e8s.to_be_bytes());
            b.extend_from_slice(&r.multiplier.to_be_bytes());
            b.push(owner.len() as u8);
            b.extend_from_slice(owner);
        }
        b
    }

    fn decode(mut b: &[u8]) -> Option<Vec<EpochNode>> {
        let mut rows = Vec::with_capacity(b.len() / ROW_FIXED);
        while !b.is_empty() {
            let (fixed, rest) = b.split_at_checked(ROW_FIXED)?;
            let id: [u8; 32] = fixed[..32].try_into().ok()?;
            let flags = fixed[32];
            let role = Role::from_code(flags & !CANDIDATE_FLAG)?;
            let candidate = flags & CANDIDATE_FLAG != 0;
            let stake_e8s = u64::from_be_bytes(fixed[33..41].try_into().ok()?);
            let multiplier = u64::from_be_bytes(fixed[41..49].try_into().ok()?);
            let len = usize::from(fixed[49]);
            if len > MAX_PRINCIPAL {
                return None;
            }
            let (owner, rest) = rest.split_at_checked(len)?;
            rows.push(EpochNode {
                id: emc_types::NodeId(id),
                owner: Principal::try_from_slice(owner).ok()?,
                role,
                stake_e8s,
                multiplier,
                candidate,
            });
            b = rest;
        }
        Some(rows)
    }
}

impl Storable for NodeChunk {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.encode())
    }

    fn into_bytes(self) -> Vec<u8> {
        self.encode()
    }

    fn from_bytes(bytes: Cow<'_, [u8]>) -> Self {
        NodeChunk(Self::decode(&bytes))
    }

    const BOUND: Bound = Bound::Unbounded;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_chunks_round_trip_and_garbage_never_panics() {
        let rows: Vec<EpochNode> = [
            (Principal::anonymous(), Role::Validator),
            (Principal::management_canister(), Role::Router),
            (Principal::from_slice(&[7; 29]), Role::Compute),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, (owner, role))| EpochNode {
            id: emc_types::NodeId([i as u8; 32]),
            owner,
            role,
            stake_e8s: u64::MAX - i as u64,
            multiplier: 27_000,
            candidate: i == 2,
        })
        .collect();
        let chunk = NodeChunk(Some(rows));
        let bytes = chunk.to_bytes().into_owned();
        assert_eq!(NodeChunk::from_bytes(Cow::Owned(bytes.clone())), chunk);
        // A member's flags byte is its role code alone: the layout-1 row, which therefore
        // reads as a member; a candidate's carries the flag.
        assert_eq!(bytes[32], Role::Validator.code());
        let second = ROW_FIXED + Principal::anonymous().as_slice().len();
        assert_eq!(bytes[second + 32], Role::Router.code());
        let third = second + ROW_FIXED + Principal::management_canister().as_slice().len();
        assert_eq!(bytes[third + 32], Role::Compute.code() | CANDIDATE_FLAG);
        assert_eq!(
            NodeChunk::from_bytes(Cow::Borrowed(&[])),
            NodeChunk(Some(vec![]))
        );
        // Every truncation but the row boundaries reads as None, never a panic.
        for cut in 1..bytes.len() {
            let _ = NodeChunk::from_bytes(Cow::Borrowed(&bytes[..cut]));
        }
        assert_eq!(
            NodeChunk::from_bytes(Cow::Borrowed(&bytes[..10])),
            NodeChunk(None)
        );
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..400usize {
            let garbage: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = NodeChunk::from_bytes(Cow::Owned(garbage));
        }
    }
}
