//! The ledger's stable storage: one `MemoryManager` over the canister's stable memory (or a
//! `VectorMemory` in tests), with fixed memory ids that never change.
//!
//! ```text
//! MemoryId  structure                                   key -> value
//!  0        StableCell<Vec<u8>>  config                 "EMCL" magic | u32 LE layout version | candid Config
//!  1        StableCell<[u8;48]>  tip                    total_supply u64 LE | has_tip u8 | last block hash [32] | 7 pad
//!  2        StableBTreeMap       balances               AccountKey (62 B) -> u64 e8s (absent = 0)
//!  3        StableBTreeMap       allowances             (from AccountKey, spender AccountKey) -> (amount u64, expires_at u64, 0 = never)
//!  4        StableBTreeMap       allowance expiries     (expires_at, from, spender) -> ()
//!  5        StableBTreeMap       dedup                  (created_at_time, tx hash [32]) -> block index
//!  6, 7     StableLog<Vec<u8>>   blocks (index, data)   block index -> Block::encode bytes
//! ```
//!
//! The dedup key starts with `created_at_time`: a duplicate has the same `created_at_time` (it
//! is part of the hashed arguments), so one map serves both the lookup and the pruning in time
//! order.
//!
//! Everything lives in stable memory: nothing is serialized in `pre_upgrade`, and an upgrade
//! re-opens the same structures. The config cell starts with the shared [`emc_stable::Header`]
//! ([`HEADER`]). Layout changes bump [`LAYOUT_VERSION`] and add a migration step; a build
//! finding a newer version than its own refuses to start (no downgrades).

use crate::account::AccountKey;
use crate::hashing::Hash;
use emc_stable::Header;
use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};
use ic_stable_structures::{Memory, StableBTreeMap, StableCell, StableLog};

/// The storage layout version this build writes and reads.
pub const LAYOUT_VERSION: u32 = 1;
/// Magic bytes at the start of the config cell.
pub const MAGIC: &[u8; 4] = b"EMCL";
/// The config cell's header: [`MAGIC`], then [`LAYOUT_VERSION`] as u32 LE, then candid Config.
pub const HEADER: Header = Header::new(*MAGIC, LAYOUT_VERSION);

/// Memory id 0: the config cell.
pub const CONFIG: MemoryId = MemoryId::new(0);
/// Memory id 1: the tip cell.
pub const TIP: MemoryId = MemoryId::new(1);
/// Memory id 2: the balances map.
pub const BALANCES: MemoryId = MemoryId::new(2);
/// Memory id 3: the allowances map.
pub const ALLOWANCES: MemoryId = MemoryId::new(3);
/// Memory id 4: the allowance expiry index.
pub const EXPIRIES: MemoryId = MemoryId::new(4);
/// Memory id 5: the deduplication map.
pub const DEDUP: MemoryId = MemoryId::new(5);
/// Memory id 6: the block log's index.
pub const BLOCKS_INDEX: MemoryId = MemoryId::new(6);
/// Memory id 7: the block log's data.
pub const BLOCKS_DATA: MemoryId = MemoryId::new(7);

/// Every memory id in use, in order (none is ever reused for another structure).
pub const ALL_MEMORY_IDS: [MemoryId; 8] = [
    CONFIG,
    TIP,
    BALANCES,
    ALLOWANCES,
    EXPIRIES,
    DEDUP,
    BLOCKS_INDEX,
    BLOCKS_DATA,
];

/// Former name of [`CONFIG`].
pub const CONFIG_MEM: MemoryId = CONFIG;
/// Former name of [`TIP`].
pub const TIP_MEM: MemoryId = TIP;
/// Former name of [`BALANCES`].
pub const BALANCES_MEM: MemoryId = BALANCES;
/// Former name of [`ALLOWANCES`].
pub const ALLOWANCES_MEM: MemoryId = ALLOWANCES;
/// Former name of [`EXPIRIES`].
pub const EXPIRIES_MEM: MemoryId = EXPIRIES;
/// Former name of [`DEDUP`].
pub const DEDUP_MEM: MemoryId = DEDUP;
/// Former name of [`BLOCKS_INDEX`].
pub const BLOCKS_INDEX_MEM: MemoryId = BLOCKS_INDEX;
/// Former name of [`BLOCKS_DATA`].
pub const BLOCKS_DATA_MEM: MemoryId = BLOCKS_DATA;

/// A virtual memory of the ledger.
pub type VM<M> = VirtualMemory<M>;
/// Allowance key: (from, spender).
pub type AllowanceKey = (AccountKey, AccountKey);
/// Allowance value: (amount, expires_at; 0 = never).
pub type AllowanceValue = (u64, u64);

/// The tip cell: total supply and the last block's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tip {
    /// Sum of all balances.
    pub total_supply: u64,
    /// Hash of the last block, if any.
    pub last_hash: Option<Hash>,
}

impl Tip {
    /// Fixed encoding (48 bytes).
    pub fn encode(&self) -> [u8; 48] {
        let mut b = [0u8; 48];
        b[..8].copy_from_slice(&self.total_supply.to_le_bytes());
        if let Some(h) = &self.last_hash {
            b[8] = 1;
            b[9..41].copy_from_slice(h);
        }
        b
    }

    /// Decodes [`Tip::encode`].
    pub fn decode(b: &[u8; 48]) -> Tip {
        let mut s = [0u8; 8];
        s.copy_from_slice(&b[..8]);
        let mut h = [0u8; 32];
        h.copy_from_slice(&b[9..41]);
        Tip {
            total_supply: u64::from_le_bytes(s),
            last_hash: (b[8] == 1).then_some(h),
        }
    }
}

/// All stable structures of the ledger.
pub struct Stores<M: Memory> {
    /// Config cell (raw bytes: magic, version, candid).
    pub config: StableCell<Vec<u8>, VM<M>>,
    /// Tip cell.
    pub tip: StableCell<[u8; 48], VM<M>>,
    /// Balances.
    pub balances: StableBTreeMap<AccountKey, u64, VM<M>>,
    /// Allowances.
    pub allowances: StableBTreeMap<AllowanceKey, AllowanceValue, VM<M>>,
    /// Allowance expiry index.
    pub expiries: StableBTreeMap<(u64, AccountKey, AccountKey), (), VM<M>>,
    /// Deduplication: (created_at_time, tx hash) -> block index.
    pub dedup: StableBTreeMap<(u64, Hash), u64, VM<M>>,
    /// The block log.
    pub blocks: StableLog<Vec<u8>, VM<M>, VM<M>>,
}

impl<M: Memory> Stores<M> {
    /// Opens (or creates, when the memory is empty) every structure over `memory`.
    pub fn open(memory: M) -> Self {
        let mm = MemoryManager::init(memory);
        Stores {
            config: StableCell::init(mm.get(CONFIG), Vec::new()),
            tip: StableCell::init(mm.get(TIP), [0u8; 48]),
            balances: StableBTreeMap::init(mm.get(BALANCES)),
            allowances: StableBTreeMap::init(mm.get(ALLOWANCES)),
            expiries: StableBTreeMap::init(mm.get(EXPIRIES)),
            dedup: StableBTreeMap::init(mm.get(DEDUP)),
            blocks: StableLog::init(mm.get(BLOCKS_INDEX), mm.get(BLOCKS_DATA)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_ids_are_the_documented_table() {
        let expected: Vec<MemoryId> = (0..8u8).map(MemoryId::new).collect();
        assert_eq!(ALL_MEMORY_IDS.to_vec(), expected);
        assert_eq!(BALANCES, MemoryId::new(2));
        assert_eq!(BLOCKS_DATA, MemoryId::new(7));
    }

    #[test]
    fn config_header_is_emcl_then_layout_version_le() {
        assert_eq!(HEADER.to_bytes(), *b"EMCL\x01\x00\x00\x00");
        assert_eq!(HEADER.check(b"EMCL\x01\x00\x00\x00cfg"), Ok(&b"cfg"[..]));
    }
}
