//! Stable storage: one `MemoryManager` over the canister's stable memory (a `VectorMemory` in
//! tests) with fixed memory ids that never change. Nothing is serialized in `pre_upgrade`.
//!
//! ```text
//! MemoryId  structure                       key -> value
//!  0        StableCell<Vec<u8>> config      "EMCE" | u32 LE layout version | candid Config
//!  1        StableCell<Vec<u8>> meta        candid Meta (tip, pool, counters)
//!  2        StableBTreeMap checkpoints      height u64 -> candid StoredCheckpoint (the chain)
//!  3        StableBTreeMap voided           height_be64 || hash[32] -> candid StoredCheckpoint
//!  4        StableBTreeMap epochs           epoch u64 -> candid EpochSummary
//!  5        StableBTreeMap chunks           epoch_be64 || index_be32 -> ()   chunks received
//!  6        StableBTreeMap records          epoch_be64 || node[32] -> candid WeightedRecord
//!  7        StableBTreeMap journal          epoch_be64 || node[32] -> candid Payout
//!  8        StableBTreeMap pending          epoch_be64 || node[32] -> ()     Pending payouts
//!  9        StableBTreeMap by owner         owner_len u8 || owner[29] || epoch_be64 || node[32] -> ()
//! 10        StableBTreeMap evidence         height_be64 || lo hash[32] || hi hash[32] -> ()
//! 11        StableBTreeMap penalties        batch id u64 -> candid Vec<PenaltyReport> (unsent)
//! 12        StableBTreeMap validator sets   epoch u64 -> candid ValidatorSet (registry's, cached)
//! 13        StableBTreeMap compute Es       epoch_be64 || first node[32] -> candid Vec<ComputeE> (unsent)
//! ```
//!
//! The config cell's candid `Config` holds the governance `Params` (layout v1: epoch length,
//! checkpoint interval, challenge window, minimum shares, equivocation minutes, payout batch).
//! `epoch_length_blocks` is a required field of v1: it was added before any deployment, so no
//! stored config lacks it. A field added later must be an `opt` (candid reads a missing `opt`
//! field as `null`) or come with a layout bump and a migration.
//!
//! The config cell starts with the shared [`emc_stable::Header`] ([`HEADER`]). Layout changes
//! bump [`LAYOUT_VERSION`] and add a migration; a build finding a newer version refuses to
//! start.

use candid::Principal;
use emc_stable::Header;
use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};
use ic_stable_structures::{Memory, StableBTreeMap, StableCell};

/// The storage layout version this build writes and reads.
pub const LAYOUT_VERSION: u32 = 1;
/// Magic bytes at the start of the config cell.
pub const MAGIC: &[u8; 4] = b"EMCE";
/// The config cell's header: [`MAGIC`], then [`LAYOUT_VERSION`] as u32 LE, then candid Config.
pub const HEADER: Header = Header::new(*MAGIC, LAYOUT_VERSION);

/// Memory id 0: the config cell.
pub const CONFIG: MemoryId = MemoryId::new(0);
/// Memory id 1: the meta cell.
pub const META: MemoryId = MemoryId::new(1);
/// Memory id 2: the accepted chain by height.
pub const CHECKPOINTS: MemoryId = MemoryId::new(2);
/// Memory id 3: voided checkpoints.
pub const VOIDED: MemoryId = MemoryId::new(3);
/// Memory id 4: epoch states.
pub const EPOCHS: MemoryId = MemoryId::new(4);
/// Memory id 5: chunks received.
pub const CHUNKS: MemoryId = MemoryId::new(5);
/// Memory id 6: node records.
pub const RECORDS: MemoryId = MemoryId::new(6);
/// Memory id 7: the payout journal.
pub const JOURNAL: MemoryId = MemoryId::new(7);
/// Memory id 8: pending payouts.
pub const PENDING: MemoryId = MemoryId::new(8);
/// Memory id 9: the journal's owner index.
pub const BY_OWNER: MemoryId = MemoryId::new(9);
/// Memory id 10: equivocation evidence reported.
pub const EVIDENCE: MemoryId = MemoryId::new(10);
/// Memory id 11: unsent penalty batches.
pub const PENALTIES: MemoryId = MemoryId::new(11);
/// Memory id 12: cached validator sets.
pub const VALIDATOR_SETS: MemoryId = MemoryId::new(12);

/// Memory id 13: unsent batches of compute nodes' E (added in layout v1: a memory id the
/// `MemoryManager` has not allocated yet opens empty, so older stable memory loads as is).
pub const COMPUTE_ES: MemoryId = MemoryId::new(13);

/// Every memory id in use, in order (none is ever reused for another structure).
pub const ALL_MEMORY_IDS: [MemoryId; 14] = [
    CONFIG,
    META,
    CHECKPOINTS,
    VOIDED,
    EPOCHS,
    CHUNKS,
    RECORDS,
    JOURNAL,
    PENDING,
    BY_OWNER,
    EVIDENCE,
    PENALTIES,
    VALIDATOR_SETS,
    COMPUTE_ES,
];

pub use emc_stable::Cand;

/// A virtual memory.
pub type VM<M> = VirtualMemory<M>;
/// epoch || node key.
pub type EpochNode = [u8; 40];
/// owner || epoch || node key.
pub type OwnerKey = [u8; 70];

/// `epoch_be64 || node`.
pub fn epoch_node(epoch: u64, node: &[u8; 32]) -> EpochNode {
    let mut k = [0u8; 40];
    k[..8].copy_from_slice(&epoch.to_be_bytes());
    k[8..].copy_from_slice(node);
    k
}

/// Splits an [`EpochNode`] key.
pub fn split_epoch_node(k: &EpochNode) -> (u64, [u8; 32]) {
    let mut e = [0u8; 8];
    e.copy_from_slice(&k[..8]);
    let mut n = [0u8; 32];
    n.copy_from_slice(&k[8..]);
    (u64::from_be_bytes(e), n)
}

/// Owner prefix (length byte, bytes zero-padded to 29).
pub fn owner_prefix(owner: &Principal) -> [u8; 30] {
    let mut k = [0u8; 30];
    let b = owner.as_slice();
    let n = b.len().min(29);
    k[0] = n as u8;
    k[1..1 + n].copy_from_slice(&b[..n]);
    k
}

/// `owner || epoch || node`.
pub fn owner_key(owner: &Principal, epoch: u64, node: &[u8; 32]) -> OwnerKey {
    let mut k = [0u8; 70];
    k[..30].copy_from_slice(&owner_prefix(owner));
    k[30..].copy_from_slice(&epoch_node(epoch, node));
    k
}

/// All stable structures.
pub struct Stores<M: Memory> {
    /// Config cell.
    pub config: StableCell<Vec<u8>, VM<M>>,
    /// Meta cell.
    pub meta: StableCell<Vec<u8>, VM<M>>,
    /// The accepted chain by height.
    pub checkpoints: StableBTreeMap<u64, Cand<crate::types::StoredCheckpoint>, VM<M>>,
    /// Voided checkpoints.
    pub voided: StableBTreeMap<[u8; 40], Cand<crate::types::StoredCheckpoint>, VM<M>>,
    /// Epoch states.
    pub epochs: StableBTreeMap<u64, Cand<crate::types::EpochSummary>, VM<M>>,
    /// Chunks received.
    pub chunks: StableBTreeMap<[u8; 12], (), VM<M>>,
    /// Node records.
    pub records: StableBTreeMap<EpochNode, Cand<crate::epochs::WeightedRecord>, VM<M>>,
    /// Payout journal.
    pub journal: StableBTreeMap<EpochNode, Cand<crate::types::Payout>, VM<M>>,
    /// Pending payouts.
    pub pending: StableBTreeMap<EpochNode, (), VM<M>>,
    /// Owner index of the journal.
    pub by_owner: StableBTreeMap<OwnerKey, (), VM<M>>,
    /// Evidence reported.
    pub evidence: StableBTreeMap<[u8; 72], (), VM<M>>,
    /// Unsent penalty batches.
    pub penalties: StableBTreeMap<u64, Cand<Vec<crate::types::PenaltyReport>>, VM<M>>,
    /// Cached validator sets.
    pub sets: StableBTreeMap<u64, Cand<emc_types::ValidatorSet>, VM<M>>,
    /// Unsent batches of compute nodes' E, by epoch and first node.
    pub compute_es: StableBTreeMap<EpochNode, Cand<Vec<crate::types::ComputeE>>, VM<M>>,
}

impl<M: Memory> Stores<M> {
    /// Opens (or creates) every structure over `memory`.
    pub fn open(memory: M) -> Self {
        let mm = MemoryManager::init(memory);
        Stores {
            config: StableCell::init(mm.get(CONFIG), Vec::new()),
            meta: StableCell::init(mm.get(META), Vec::new()),
            checkpoints: StableBTreeMap::init(mm.get(CHECKPOINTS)),
            voided: StableBTreeMap::init(mm.get(VOIDED)),
            epochs: StableBTreeMap::init(mm.get(EPOCHS)),
            chunks: StableBTreeMap::init(mm.get(CHUNKS)),
            records: StableBTreeMap::init(mm.get(RECORDS)),
            journal: StableBTreeMap::init(mm.get(JOURNAL)),
            pending: StableBTreeMap::init(mm.get(PENDING)),
            by_owner: StableBTreeMap::init(mm.get(BY_OWNER)),
            evidence: StableBTreeMap::init(mm.get(EVIDENCE)),
            penalties: StableBTreeMap::init(mm.get(PENALTIES)),
            sets: StableBTreeMap::init(mm.get(VALIDATOR_SETS)),
            compute_es: StableBTreeMap::init(mm.get(COMPUTE_ES)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_ids_are_the_documented_table() {
        let expected: Vec<MemoryId> = (0..14u8).map(MemoryId::new).collect();
        assert_eq!(ALL_MEMORY_IDS.to_vec(), expected);
        assert_eq!(RECORDS, MemoryId::new(6));
        assert_eq!(VALIDATOR_SETS, MemoryId::new(12));
        assert_eq!(COMPUTE_ES, MemoryId::new(13));
    }

    #[test]
    fn config_header_is_emce_then_layout_version_le() {
        assert_eq!(HEADER.to_bytes(), *b"EMCE\x01\x00\x00\x00");
        assert_eq!(HEADER.check(b"EMCE\x01\x00\x00\x00cfg"), Ok(&b"cfg"[..]));
    }
}
