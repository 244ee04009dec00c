//! Hashing: the ICRC-3 representation-independent hash of values and LEB128; the IC hash tree
//! of the certified tip is `emc_stable::certify`'s (shared with the sockets canister).

use icrc_ledger_types::icrc::generic_value::ICRC3Value;
use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// Unsigned LEB128 of `n` into `buf`; returns the number of bytes written (at most 19).
pub fn leb128(buf: &mut [u8; 19], mut n: u128) -> usize {
    let mut i = 0;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            buf[i] = byte;
            return i + 1;
        }
        buf[i] = byte | 0x80;
        i += 1;
    }
}

/// Signed LEB128 of `n` into `buf`; returns the number of bytes written.
fn sleb128(buf: &mut [u8; 19], mut n: i128) -> usize {
    let mut i = 0;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        let done = (n == 0 && byte & 0x40 == 0) || (n == -1 && byte & 0x40 != 0);
        if done {
            buf[i] = byte;
            return i + 1;
        }
        buf[i] = byte | 0x80;
        i += 1;
    }
}

/// Hash of a `Nat` that fits in 128 bits: SHA-256 of its LEB128.
pub fn hash_nat(n: u128) -> Hash {
    let mut buf = [0u8; 19];
    let len = leb128(&mut buf, n);
    sha256(&buf[..len])
}

/// Hash of a map given the hashes of its keys and values: SHA-256 of the sorted concatenation.
pub fn hash_map_entries(entries: &mut [(Hash, Hash)]) -> Hash {
    entries.sort_unstable();
    let mut h = Sha256::new();
    for (k, v) in entries.iter() {
        h.update(k);
        h.update(v);
    }
    h.finalize().into()
}

/// The ICRC-3 hash of a value (`None` only for an `Int` outside 128 bits, which blocks of this
/// ledger never contain). Used for test vectors and for checking served blocks; the ledger
/// hashes its own blocks without building values ([`crate::block::Block::hash`]).
pub fn hash_value(value: &ICRC3Value) -> Option<Hash> {
    Some(match value {
        ICRC3Value::Blob(b) => sha256(b),
        ICRC3Value::Text(t) => sha256(t.as_bytes()),
        ICRC3Value::Nat(n) => {
            // candid's Nat encodes itself as LEB128.
            let mut buf = Vec::new();
            n.encode(&mut buf).ok()?;
            sha256(&buf)
        }
        ICRC3Value::Int(i) => {
            let v = i128::try_from(&i.0).ok()?;
            let mut buf = [0u8; 19];
            let len = sleb128(&mut buf, v);
            sha256(&buf[..len])
        }
        ICRC3Value::Array(items) => {
            let mut h = Sha256::new();
            for item in items {
                h.update(hash_value(item)?);
            }
            h.finalize().into()
        }
        ICRC3Value::Map(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map {
                entries.push((sha256(k.as_bytes()), hash_value(v)?));
            }
            hash_map_entries(&mut entries)
        }
    })
}

pub use emc_stable::certify::{tip_tree, HashTree};
