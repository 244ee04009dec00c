//! Stable storage: one `MemoryManager` over the canister's stable memory (a `VectorMemory` in
//! tests) with fixed memory ids that never change. Nothing is serialized in `pre_upgrade`.
//!
//! ```text
//! MemoryId  structure                       key -> value
//!  0        StableCell<Vec<u8>> config      "EMCM" | u32 LE layout version | candid Config
//!  1        StableCell<Vec<u8>> meta        candid Meta (ids, counters, log tip)
//!  2        StableBTreeMap offers           id u64 -> candid Offer
//!  3        StableBTreeMap provider offers  principal[30] || id_be64 -> ()
//!  4        StableBTreeMap escrows          principal[30] -> candid Escrow
//!  5        StableBTreeMap user keys        key[32] -> principal[30] (the escrow it draws on)
//!  6        StableBTreeMap lanes            user[32] || node[32] || epoch_be64 -> paid_be64 || claimed_be64 || nonce_be64
//!  7        StableBTreeMap final roots      checkpoint height u64 -> receipts_root[32]
//!  8        StableBTreeMap node owners      node[32] -> principal[30] (from the registry)
//!  9        StableBTreeMap journal          transfer id u64 -> candid Transfer
//! 10        StableBTreeMap pending          transfer id u64 -> ()  (Pending entries)
//! 11        StableBTreeMap events           event id u64 -> id_be64 || ts_be64 || parent?(1 + 32) || hash[32] || body (trade layout or candid Event)
//! 12        StableBTreeMap reward grants    epoch_be64 || principal[30] -> granted e8s u64
//! 13        StableBTreeMap offer counts     principal[30] -> live offers of the provider u64
//! 14        StableBTreeMap socket purchases purchase id u64 -> candid SocketPurchase
//! 15        StableBTreeMap pending mints    purchase id u64 -> ()
//! 16        StableBTreeMap socket tokens    token id u64 -> purchase id u64
//! 17        StableCell<Vec<u8>> sockets     candid opt principal (the sockets canister)
//! 18        StableBTreeMap socket keys      key[32] -> candid SocketKey (socket, holder that bound it)
//! 19        StableBTreeMap pools            offer id u64 -> candid Pool (entry, members)
//! 20        StableBTreeMap pool entries     entry node[32] -> offer id u64 (derived from 19: rebuilt at load when empty)
//! ```
//!
//! `principal[30]` is a length byte and the principal's bytes, zero-padded. A final
//! checkpoint's receipts root never changes (the epochs canister voids only checkpoints still in
//! their challenge window), so the cache of final roots is never invalidated; neither is the
//! node-owner cache (a node's owner is fixed at registration).
//!
//! The config cell starts with the shared [`emc_stable::Header`] ([`HEADER`]). Layout changes
//! bump [`LAYOUT_VERSION`] and add a migration; a build finding a newer version refuses to
//! start.

use candid::Principal;
use emc_stable::Header;
use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};
use ic_stable_structures::{Memory, StableBTreeMap, StableCell};

pub use emc_stable::Cand;

/// The storage layout version this build writes and reads.
pub const LAYOUT_VERSION: u32 = 1;
/// Magic bytes at the start of the config cell.
pub const MAGIC: &[u8; 4] = b"EMCM";
/// The config cell's header.
pub const HEADER: Header = Header::new(*MAGIC, LAYOUT_VERSION);

/// Memory id 0: the config cell.
pub const CONFIG: MemoryId = MemoryId::new(0);
/// Memory id 1: the meta cell.
pub const META: MemoryId = MemoryId::new(1);
/// Memory id 2: offers.
pub const OFFERS: MemoryId = MemoryId::new(2);
/// Memory id 3: offers by provider.
pub const PROVIDER_OFFERS: MemoryId = MemoryId::new(3);
/// Memory id 4: escrows.
pub const ESCROWS: MemoryId = MemoryId::new(4);
/// Memory id 5: user keys bound to escrows.
pub const USER_KEYS: MemoryId = MemoryId::new(5);
/// Memory id 6: lanes.
pub const LANES: MemoryId = MemoryId::new(6);
/// Memory id 7: final checkpoints' receipts roots.
pub const ROOTS: MemoryId = MemoryId::new(7);
/// Memory id 8: node owners.
pub const OWNERS: MemoryId = MemoryId::new(8);
/// Memory id 9: the transfer journal.
pub const JOURNAL: MemoryId = MemoryId::new(9);
/// Memory id 10: pending transfers.
pub const PENDING: MemoryId = MemoryId::new(10);
/// Memory id 11: the event log.
pub const EVENTS: MemoryId = MemoryId::new(11);
/// Memory id 12: trading rewards granted per account per epoch.
pub const GRANTS: MemoryId = MemoryId::new(12);

/// Memory id 13: live offers per provider.
pub const OFFER_COUNTS: MemoryId = MemoryId::new(13);

/// Memory id 14: socket purchases.
pub const SOCKET_PURCHASES: MemoryId = MemoryId::new(14);
/// Memory id 15: purchases whose socket is not minted yet.
pub const PENDING_MINTS: MemoryId = MemoryId::new(15);
/// Memory id 16: minted token id -> purchase.
pub const SOCKET_TOKENS: MemoryId = MemoryId::new(16);
/// Memory id 17: the sockets canister.
pub const SOCKETS_CANISTER: MemoryId = MemoryId::new(17);
/// Memory id 18: keys bound to socket escrows, with the holder that bound them.
pub const SOCKET_KEYS: MemoryId = MemoryId::new(18);
/// Memory id 19: compute pools by offer.
pub const POOLS: MemoryId = MemoryId::new(19);
/// Memory id 20: pools by entry node.
pub const POOL_ENTRIES: MemoryId = MemoryId::new(20);

/// Every memory id in use, in order (none is ever reused for another structure).
pub const ALL_MEMORY_IDS: [MemoryId; 21] = [
    CONFIG,
    META,
    OFFERS,
    PROVIDER_OFFERS,
    ESCROWS,
    USER_KEYS,
    LANES,
    ROOTS,
    OWNERS,
    JOURNAL,
    PENDING,
    EVENTS,
    GRANTS,
    OFFER_COUNTS,
    SOCKET_PURCHASES,
    PENDING_MINTS,
    SOCKET_TOKENS,
    SOCKETS_CANISTER,
    SOCKET_KEYS,
    POOLS,
    POOL_ENTRIES,
];

/// A virtual memory.
pub type VM<M> = VirtualMemory<M>;
/// A principal as a fixed key: length byte, bytes, zero padding.
pub type PrincipalKey = [u8; 30];
/// user || node || epoch.
pub type LaneKey = [u8; 72];

/// The fixed key of a principal (at most 29 bytes).
pub fn principal_key(p: &Principal) -> PrincipalKey {
    let mut k = [0u8; 30];
    let b = p.as_slice();
    let n = b.len().min(29);
    k[0] = n as u8;
    k[1..1 + n].copy_from_slice(&b[..n]);
    k
}

/// The principal of a fixed key.
pub fn key_principal(k: &PrincipalKey) -> Principal {
    let n = usize::from(k[0]).min(29);
    Principal::from_slice(&k[1..1 + n])
}

/// `principal || id_be64`.
pub fn provider_offer_key(p: &Principal, id: u64) -> [u8; 38] {
    let mut k = [0u8; 38];
    k[..30].copy_from_slice(&principal_key(p));
    k[30..].copy_from_slice(&id.to_be_bytes());
    k
}

/// `user || node || epoch_be64`.
pub fn lane_key(user: &[u8; 32], node: &[u8; 32], epoch: u64) -> LaneKey {
    let mut k = [0u8; 72];
    k[..32].copy_from_slice(user);
    k[32..64].copy_from_slice(node);
    k[64..].copy_from_slice(&epoch.to_be_bytes());
    k
}

/// `epoch_be64 || principal`.
pub fn grant_key(epoch: u64, p: &Principal) -> [u8; 38] {
    let mut k = [0u8; 38];
    k[..8].copy_from_slice(&epoch.to_be_bytes());
    k[8..].copy_from_slice(&principal_key(p));
    k
}

/// The stored bytes of a logged event: `id_be64 || timestamp_be64 || parent flag (1) ||
/// parent hash (32, zero when none) || hash (32) || body`, the body being [`event_body`]'s
/// bytes, encoded once (they are also what the hash covers).
pub fn event_bytes(
    id: u64,
    timestamp: u64,
    parent: Option<&[u8; 32]>,
    hash: &[u8; 32],
    body: &[u8],
) -> Vec<u8> {
    let mut b = Vec::with_capacity(81 + body.len());
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&timestamp.to_be_bytes());
    b.push(u8::from(parent.is_some()));
    b.extend_from_slice(parent.unwrap_or(&[0; 32]));
    b.extend_from_slice(hash);
    b.extend_from_slice(body);
    b
}

/// First byte of a [`trade_body`]: candid bodies start with `DIDL`, so the two never collide.
pub const TRADE_BODY_TAG: u8 = 0x01;
/// Length of a [`trade_body`] without its two principals.
const TRADE_BODY_FIXED: usize = 1 + 32 + 32 + 11 * 8;

/// The logged body of an event: a `Trade`, the one event settlement writes per receipt, in
/// [`trade_body`]'s fixed layout (candid's encoder costs ~0.4M instructions per event, most
/// of a batched receipt's budget); every other event as its candid bytes.
pub fn event_body(event: &crate::types::Event) -> Vec<u8> {
    match event {
        crate::types::Event::Trade(t) => trade_body(t),
        // Events always encode (records of integers, principals, strings and blobs).
        other => candid::encode_one(other).unwrap_or_default(),
    }
}

/// A trade's logged body: `0x01 || user (32) || node (32) || epoch || nonce || cumulative ||
/// paid cumulative || amount || treasury fee || provider payment || user reward || provider
/// reward || period || checkpoint height` (u64 big-endian each) `|| len || buyer || len ||
/// provider` (principals with a one-byte length) `|| count` (one byte) and per pool share
/// `len || owner || payment || reward`.
pub fn trade_body(t: &crate::types::Trade) -> Vec<u8> {
    let (buyer, provider) = (t.buyer.as_slice(), t.provider.as_slice());
    let mut b = Vec::with_capacity(TRADE_BODY_FIXED + 2 + buyer.len() + provider.len());
    b.push(TRADE_BODY_TAG);
    b.extend_from_slice(&t.user.0);
    b.extend_from_slice(&t.node.0);
    for w in [
        t.epoch,
        t.nonce,
        t.cumulative_e8s,
        t.paid_cumulative_e8s,
        t.amount_e8s,
        t.treasury_fee_e8s,
        t.provider_payment_e8s,
        t.user_reward_e8s,
        t.provider_reward_e8s,
        t.period,
        t.checkpoint_height,
    ] {
        b.extend_from_slice(&w.to_be_bytes());
    }
    let put = |b: &mut Vec<u8>, p: &[u8]| {
        // A principal is at most 29 bytes.
        b.push(p.len() as u8);
        b.extend_from_slice(p);
    };
    put(&mut b, buyer);
    put(&mut b, provider);
    // A pool has at most 16 members.
    b.push(t.pool_shares.len().min(255) as u8);
    for s in t.pool_shares.iter().take(255) {
        put(&mut b, s.owner.as_slice());
        b.extend_from_slice(&s.payment_e8s.to_be_bytes());
        b.extend_from_slice(&s.reward_e8s.to_be_bytes());
    }
    b
}

/// Decodes [`trade_body`]; `None` unless the bytes are exactly one.
pub fn decode_trade_body(b: &[u8]) -> Option<crate::types::Trade> {
    if b.len() < TRADE_BODY_FIXED + 3 || b[0] != TRADE_BODY_TAG {
        return None;
    }
    let key = |i: usize| -> Option<emc_types::NodeId> {
        Some(emc_types::NodeId(b.get(i..i + 32)?.try_into().ok()?))
    };
    let word = |k: usize| -> Option<u64> {
        let i = 65 + 8 * k;
        Some(u64::from_be_bytes(b.get(i..i + 8)?.try_into().ok()?))
    };
    fn principal(rest: &mut &[u8]) -> Option<Principal> {
        let (&n, tail) = rest.split_first()?;
        let n = usize::from(n);
        if n > 29 || tail.len() < n {
            return None;
        }
        let p = Principal::from_slice(&tail[..n]);
        *rest = &tail[n..];
        Some(p)
    }
    fn take_u64(rest: &mut &[u8]) -> Option<u64> {
        let w = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
        *rest = &rest[8..];
        Some(w)
    }
    let rest = &mut &b[TRADE_BODY_FIXED..];
    let (buyer, provider) = (principal(rest)?, principal(rest)?);
    let (&count, tail) = rest.split_first()?;
    *rest = tail;
    let mut pool_shares = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        pool_shares.push(crate::types::ProviderShare {
            owner: principal(rest)?,
            payment_e8s: take_u64(rest)?,
            reward_e8s: take_u64(rest)?,
        });
    }
    if !rest.is_empty() {
        return None;
    }
    Some(crate::types::Trade {
        user: key(1)?,
        node: key(33)?,
        epoch: word(0)?,
        nonce: word(1)?,
        cumulative_e8s: word(2)?,
        paid_cumulative_e8s: word(3)?,
        amount_e8s: word(4)?,
        treasury_fee_e8s: word(5)?,
        provider_payment_e8s: word(6)?,
        user_reward_e8s: word(7)?,
        provider_reward_e8s: word(8)?,
        period: word(9)?,
        buyer,
        provider,
        checkpoint_height: word(10)?,
        pool_shares,
    })
}

/// Decodes an [`event_body`].
pub fn decode_event_body(b: &[u8]) -> Option<crate::types::Event> {
    if b.first() == Some(&TRADE_BODY_TAG) {
        decode_trade_body(b).map(crate::types::Event::Trade)
    } else {
        candid::decode_one(b).ok()
    }
}

/// Decodes [`event_bytes`]; `None` when they do not decode (never expected).
pub fn decode_event(b: &[u8]) -> Option<crate::types::LoggedEvent> {
    if b.len() < 81 {
        return None;
    }
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        u64::from_be_bytes(w)
    };
    let mut parent = [0u8; 32];
    parent.copy_from_slice(&b[17..49]);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&b[49..81]);
    Some(crate::types::LoggedEvent {
        id: word(0),
        timestamp: word(8),
        parent_hash: (b[16] == 1).then_some(emc_types::Hash(parent)),
        hash: emc_types::Hash(hash),
        event: decode_event_body(&b[81..])?,
    })
}

/// A lane's settlement state: the cumulative amount paid, the highest cumulative amount a
/// proven receipt claimed, and that receipt's nonce.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lane {
    /// Paid so far (cumulative), e8s.
    pub paid_e8s: u64,
    /// Highest proven cumulative claim, e8s (above `paid_e8s` while the escrow fell short).
    pub claimed_e8s: u64,
    /// Nonce of the receipt that claimed it.
    pub nonce: u64,
}

impl Lane {
    /// The stored bytes.
    pub fn to_bytes(self) -> [u8; 24] {
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&self.paid_e8s.to_be_bytes());
        b[8..16].copy_from_slice(&self.claimed_e8s.to_be_bytes());
        b[16..].copy_from_slice(&self.nonce.to_be_bytes());
        b
    }

    /// From the stored bytes.
    pub fn from_bytes(b: &[u8; 24]) -> Lane {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i..i + 8]);
            u64::from_be_bytes(w)
        };
        Lane {
            paid_e8s: word(0),
            claimed_e8s: word(8),
            nonce: word(16),
        }
    }
}

/// All stable structures.
pub struct Stores<M: Memory> {
    /// Config cell.
    pub config: StableCell<Vec<u8>, VM<M>>,
    /// Meta cell.
    pub meta: StableCell<Vec<u8>, VM<M>>,
    /// Offers.
    pub offers: StableBTreeMap<u64, Cand<crate::types::Offer>, VM<M>>,
    /// Offers by provider.
    pub provider_offers: StableBTreeMap<[u8; 38], (), VM<M>>,
    /// Escrows.
    pub escrows: StableBTreeMap<PrincipalKey, Cand<crate::types::Escrow>, VM<M>>,
    /// User keys.
    pub user_keys: StableBTreeMap<[u8; 32], PrincipalKey, VM<M>>,
    /// Lanes.
    pub lanes: StableBTreeMap<LaneKey, [u8; 24], VM<M>>,
    /// Final receipts roots.
    pub roots: StableBTreeMap<u64, [u8; 32], VM<M>>,
    /// Node owners.
    pub owners: StableBTreeMap<[u8; 32], PrincipalKey, VM<M>>,
    /// Journal.
    pub journal: StableBTreeMap<u64, Cand<crate::types::Transfer>, VM<M>>,
    /// Pending transfers.
    pub pending: StableBTreeMap<u64, (), VM<M>>,
    /// Event log.
    pub events: StableBTreeMap<u64, Vec<u8>, VM<M>>,
    /// Reward grants.
    pub grants: StableBTreeMap<[u8; 38], u64, VM<M>>,
    /// Live offers per provider.
    pub offer_counts: StableBTreeMap<PrincipalKey, u64, VM<M>>,
    /// Socket purchases.
    pub socket_purchases: StableBTreeMap<u64, Cand<crate::market::sockets::SocketPurchase>, VM<M>>,
    /// Purchases awaiting their mint.
    pub pending_mints: StableBTreeMap<u64, (), VM<M>>,
    /// Token id -> purchase id.
    pub socket_tokens: StableBTreeMap<u64, u64, VM<M>>,
    /// The sockets canister (candid `opt principal`).
    pub sockets_canister: StableCell<Vec<u8>, VM<M>>,
    /// Keys bound to socket escrows.
    pub socket_keys: StableBTreeMap<[u8; 32], Cand<crate::market::sockets::SocketKey>, VM<M>>,
    /// Compute pools by offer id.
    pub pools: StableBTreeMap<u64, Cand<crate::market::pools::Pool>, VM<M>>,
    /// Pools by entry node (derived from `pools`).
    pub pool_entries: StableBTreeMap<[u8; 32], u64, VM<M>>,
}

impl<M: Memory> Stores<M> {
    /// Opens (or creates) every structure over `memory`.
    pub fn open(memory: M) -> Self {
        let mm = MemoryManager::init(memory);
        Stores {
            config: StableCell::init(mm.get(CONFIG), Vec::new()),
            meta: StableCell::init(mm.get(META), Vec::new()),
            offers: StableBTreeMap::init(mm.get(OFFERS)),
            provider_offers: StableBTreeMap::init(mm.get(PROVIDER_OFFERS)),
            escrows: StableBTreeMap::init(mm.get(ESCROWS)),
            user_keys: StableBTreeMap::init(mm.get(USER_KEYS)),
            lanes: StableBTreeMap::init(mm.get(LANES)),
            roots: StableBTreeMap::init(mm.get(ROOTS)),
            owners: StableBTreeMap::init(mm.get(OWNERS)),
            journal: StableBTreeMap::init(mm.get(JOURNAL)),
            pending: StableBTreeMap::init(mm.get(PENDING)),
            events: StableBTreeMap::init(mm.get(EVENTS)),
            grants: StableBTreeMap::init(mm.get(GRANTS)),
            offer_counts: StableBTreeMap::init(mm.get(OFFER_COUNTS)),
            socket_purchases: StableBTreeMap::init(mm.get(SOCKET_PURCHASES)),
            pending_mints: StableBTreeMap::init(mm.get(PENDING_MINTS)),
            socket_tokens: StableBTreeMap::init(mm.get(SOCKET_TOKENS)),
            sockets_canister: StableCell::init(mm.get(SOCKETS_CANISTER), Vec::new()),
            socket_keys: StableBTreeMap::init(mm.get(SOCKET_KEYS)),
            pools: StableBTreeMap::init(mm.get(POOLS)),
            pool_entries: StableBTreeMap::init(mm.get(POOL_ENTRIES)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_ids_are_the_documented_table() {
        let expected: Vec<MemoryId> = (0..21u8).map(MemoryId::new).collect();
        assert_eq!(ALL_MEMORY_IDS.to_vec(), expected);
    }

    #[test]
    fn keys_round_trip() {
        let p = Principal::from_slice(&[7; 29]);
        assert_eq!(key_principal(&principal_key(&p)), p);
        assert_eq!(
            key_principal(&principal_key(&Principal::anonymous())),
            Principal::anonymous()
        );
        let l = Lane {
            paid_e8s: 1,
            claimed_e8s: 2,
            nonce: u64::MAX,
        };
        assert_eq!(Lane::from_bytes(&l.to_bytes()), l);
        assert_eq!(HEADER.to_bytes(), *b"EMCM\x01\x00\x00\x00");
    }
}
