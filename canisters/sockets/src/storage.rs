//! Stable storage: one `MemoryManager` over the canister's stable memory (a `VectorMemory` in
//! tests) with fixed memory ids that never change. Nothing is serialized in `pre_upgrade`.
//!
//! ```text
//! MemoryId  structure                          key -> value
//!  0        StableCell<Vec<u8>> config         "EMCS" | u32 LE layout version | candid Config
//!  1        StableCell<Vec<u8>> meta           candid Meta (next id, supply, log length, tip)
//!  2        StableBTreeMap tokens              token id u64 -> candid Token
//!  3        StableBTreeMap owner index         account[62] || id_be64 -> ()
//!  4        StableBTreeMap token approvals     id_be64 || spender account[62] -> candid ApprovalInfo
//!  5        StableBTreeMap collection approvals owner account[62] || spender account[62] -> candid ApprovalInfo
//!  6        StableBTreeMap blocks              block index u64 -> candid ICRC-3 Value
//!  7        StableBTreeMap dedup               transaction key[32] -> block index u64
//!  8        StableBTreeMap dedup by time       created_at_be64 || key[32] -> ()
//!  9        StableBTreeMap purchases           minter principal[30] || purchase_id_be64 -> token id u64
//! ```
//!
//! `account[62]` is the owner as `principal[30]` (length byte, bytes, zero padding) and the
//! subaccount (32 bytes, zeros for the default one): the default subaccount and an explicit
//! all-zero one are the same account, as in ICRC-1.

use candid::Principal;
use emc_stable::Header;
use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};
use ic_stable_structures::{Memory, StableBTreeMap, StableCell};
use icrc_ledger_types::icrc1::account::Account;

pub use emc_stable::Cand;

/// The storage layout version this build writes and reads.
pub const LAYOUT_VERSION: u32 = 1;
/// Magic bytes at the start of the config cell.
pub const MAGIC: &[u8; 4] = b"EMCS";
/// The config cell's header.
pub const HEADER: Header = Header::new(*MAGIC, LAYOUT_VERSION);

pub const CONFIG: MemoryId = MemoryId::new(0);
pub const META: MemoryId = MemoryId::new(1);
pub const TOKENS: MemoryId = MemoryId::new(2);
pub const OWNER_INDEX: MemoryId = MemoryId::new(3);
pub const TOKEN_APPROVALS: MemoryId = MemoryId::new(4);
pub const COLLECTION_APPROVALS: MemoryId = MemoryId::new(5);
pub const BLOCKS: MemoryId = MemoryId::new(6);
pub const DEDUP: MemoryId = MemoryId::new(7);
pub const DEDUP_BY_TIME: MemoryId = MemoryId::new(8);
pub const PURCHASES: MemoryId = MemoryId::new(9);

/// Every memory id in use, in order (none is ever reused for another structure).
pub const ALL_MEMORY_IDS: [MemoryId; 10] = [
    CONFIG,
    META,
    TOKENS,
    OWNER_INDEX,
    TOKEN_APPROVALS,
    COLLECTION_APPROVALS,
    BLOCKS,
    DEDUP,
    DEDUP_BY_TIME,
    PURCHASES,
];

/// A virtual memory.
pub type VM<M> = VirtualMemory<M>;
/// An account as a fixed key.
pub type AccountKey = [u8; 62];

/// The fixed key of a principal (at most 29 bytes).
pub fn principal_key(p: &Principal) -> [u8; 30] {
    let mut k = [0u8; 30];
    let b = p.as_slice();
    let n = b.len().min(29);
    k[0] = n as u8;
    k[1..1 + n].copy_from_slice(&b[..n]);
    k
}

/// The fixed key of an account.
pub fn account_key(a: &Account) -> AccountKey {
    let mut k = [0u8; 62];
    k[..30].copy_from_slice(&principal_key(&a.owner));
    if let Some(s) = &a.subaccount {
        k[30..].copy_from_slice(s);
    }
    k
}

/// The account of a fixed key (the default subaccount as `None`).
pub fn key_account(k: &AccountKey) -> Account {
    let n = usize::from(k[0]).min(29);
    let owner = Principal::from_slice(&k[1..1 + n]);
    let mut sub = [0u8; 32];
    sub.copy_from_slice(&k[30..]);
    Account {
        owner,
        subaccount: (sub != [0; 32]).then_some(sub),
    }
}

/// `a || b` for fixed keys.
pub fn concat<const A: usize, const B: usize, const N: usize>(a: &[u8; A], b: &[u8; B]) -> [u8; N] {
    let mut k = [0u8; N];
    k[..A].copy_from_slice(a);
    k[A..A + B].copy_from_slice(b);
    k
}

/// All stable structures.
pub struct Stores<M: Memory> {
    pub config: StableCell<Vec<u8>, VM<M>>,
    pub meta: StableCell<Vec<u8>, VM<M>>,
    pub tokens: StableBTreeMap<u64, Cand<crate::types::Token>, VM<M>>,
    pub owner_index: StableBTreeMap<[u8; 70], (), VM<M>>,
    pub token_approvals: StableBTreeMap<[u8; 70], Cand<crate::types::ApprovalInfo>, VM<M>>,
    pub collection_approvals: StableBTreeMap<[u8; 124], Cand<crate::types::ApprovalInfo>, VM<M>>,
    pub blocks: StableBTreeMap<u64, Vec<u8>, VM<M>>,
    pub dedup: StableBTreeMap<[u8; 32], u64, VM<M>>,
    pub dedup_by_time: StableBTreeMap<[u8; 40], (), VM<M>>,
    pub purchases: StableBTreeMap<[u8; 38], u64, VM<M>>,
}

impl<M: Memory> Stores<M> {
    /// Opens (or creates) every structure over `memory`.
    pub fn open(memory: M) -> Self {
        let mm = MemoryManager::init(memory);
        Stores {
            config: StableCell::init(mm.get(CONFIG), Vec::new()),
            meta: StableCell::init(mm.get(META), Vec::new()),
            tokens: StableBTreeMap::init(mm.get(TOKENS)),
            owner_index: StableBTreeMap::init(mm.get(OWNER_INDEX)),
            token_approvals: StableBTreeMap::init(mm.get(TOKEN_APPROVALS)),
            collection_approvals: StableBTreeMap::init(mm.get(COLLECTION_APPROVALS)),
            blocks: StableBTreeMap::init(mm.get(BLOCKS)),
            dedup: StableBTreeMap::init(mm.get(DEDUP)),
            dedup_by_time: StableBTreeMap::init(mm.get(DEDUP_BY_TIME)),
            purchases: StableBTreeMap::init(mm.get(PURCHASES)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_ids_are_the_documented_table() {
        let expected: Vec<MemoryId> = (0..10u8).map(MemoryId::new).collect();
        assert_eq!(ALL_MEMORY_IDS.to_vec(), expected);
    }

    #[test]
    fn account_keys_round_trip_and_normalize_the_default_subaccount() {
        let p = Principal::from_slice(&[7; 29]);
        let a = Account {
            owner: p,
            subaccount: Some([3; 32]),
        };
        assert_eq!(key_account(&account_key(&a)), a);
        let zero = Account {
            owner: p,
            subaccount: Some([0; 32]),
        };
        let none = Account {
            owner: p,
            subaccount: None,
        };
        assert_eq!(account_key(&zero), account_key(&none));
        assert_eq!(key_account(&account_key(&zero)), none);
        assert_eq!(HEADER.to_bytes(), *b"EMCS\x01\x00\x00\x00");
    }
}
