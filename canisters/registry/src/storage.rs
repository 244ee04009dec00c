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
//! 10        StableBTreeMap expiries       (term end, node id) -> ()  running terms by end
//! 11        StableBTreeMap snapshots      epoch -> candid ValidatorSetSnapshot (never rewritten)
//! 12        StableBTreeMap cases          case id -> candid Case
//! 13        StableBTreeMap votes          (case id, voter node id) -> yes u8
//! 14        StableBTreeMap open cases     target node id -> case id
//! 15        StableBTreeMap case deadlines (deadline, case id) -> ()    open cases
//! ```
//!
//! Everything lives in stable memory: nothing is serialized in `pre_upgrade`. Layout changes
//! bump [`LAYOUT_VERSION`] and add a migration step; a build finding a newer version than its
//! own refuses to start (no downgrades).

use candid::Principal;
use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};
use ic_stable_structures::{Memory, StableBTreeMap, StableCell};

/// The storage layout version this build writes and reads.
pub const LAYOUT_VERSION: u32 = 1;
/// Magic bytes at the start of the config cell.
pub const MAGIC: &[u8; 4] = b"EMCR";

pub use emc_stable::Cand;

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
    /// Running terms by end.
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
}

impl<M: Memory> Stores<M> {
    /// Opens (or creates, when the memory is empty) every structure over `memory`.
    pub fn open(memory: M) -> Self {
        let mm = MemoryManager::init(memory);
        let m = |i: u8| mm.get(MemoryId::new(i));
        Stores {
            config: StableCell::init(m(0), Vec::new()),
            meta: StableCell::init(m(1), Vec::new()),
            nodes: StableBTreeMap::init(m(2)),
            by_role: StableBTreeMap::init(m(3)),
            by_owner: StableBTreeMap::init(m(4)),
            members: StableBTreeMap::init(m(5)),
            nonces: StableBTreeMap::init(m(6)),
            journal: StableBTreeMap::init(m(7)),
            pending: StableBTreeMap::init(m(8)),
            due: StableBTreeMap::init(m(9)),
            expiries: StableBTreeMap::init(m(10)),
            snapshots: StableBTreeMap::init(m(11)),
            cases: StableBTreeMap::init(m(12)),
            votes: StableBTreeMap::init(m(13)),
            open_cases: StableBTreeMap::init(m(14)),
            deadlines: StableBTreeMap::init(m(15)),
        }
    }
}
