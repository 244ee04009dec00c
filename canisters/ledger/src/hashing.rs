//! Hashing: the ICRC-3 representation-independent hash of values, LEB128, and the IC hash tree
//! (labeled / leaf / fork hashing and its CBOR encoding) used for the certified tip.

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

/// Unsigned LEB128 of `n` as a vector.
pub fn leb128_vec(n: u64) -> Vec<u8> {
    let mut buf = [0u8; 19];
    let len = leb128(&mut buf, u128::from(n));
    buf[..len].to_vec()
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

/// A (tiny) IC hash tree: what the certified tip needs. See the IC interface specification,
/// "Certification": `hash(Empty) = H(ds("ic-hashtree-empty"))`, `hash(Fork(l, r)) =
/// H(ds("ic-hashtree-fork") . hash(l) . hash(r))`, `hash(Labeled(l, t)) =
/// H(ds("ic-hashtree-labeled") . l . hash(t))`, `hash(Leaf(v)) = H(ds("ic-hashtree-leaf") . v)`,
/// `hash(Pruned(h)) = h`, where `ds(s)` is the length byte of `s` followed by `s`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashTree {
    /// The empty tree.
    Empty,
    /// Two subtrees.
    Fork(Box<HashTree>, Box<HashTree>),
    /// A labeled subtree.
    Labeled(Vec<u8>, Box<HashTree>),
    /// A leaf value.
    Leaf(Vec<u8>),
    /// A pruned subtree, by its hash.
    Pruned(Hash),
}

fn domain_sep(h: &mut Sha256, s: &str) {
    h.update([s.len() as u8]);
    h.update(s.as_bytes());
}

impl HashTree {
    /// `Fork(l, r)`.
    pub fn fork(l: HashTree, r: HashTree) -> Self {
        HashTree::Fork(Box::new(l), Box::new(r))
    }

    /// `Labeled(label, t)`.
    pub fn labeled(label: &[u8], t: HashTree) -> Self {
        HashTree::Labeled(label.to_vec(), Box::new(t))
    }

    /// `Leaf(v)`.
    pub fn leaf(v: &[u8]) -> Self {
        HashTree::Leaf(v.to_vec())
    }

    /// The root hash (what goes into the canister's certified data).
    pub fn digest(&self) -> Hash {
        let mut h = Sha256::new();
        match self {
            HashTree::Empty => domain_sep(&mut h, "ic-hashtree-empty"),
            HashTree::Fork(l, r) => {
                domain_sep(&mut h, "ic-hashtree-fork");
                h.update(l.digest());
                h.update(r.digest());
            }
            HashTree::Labeled(l, t) => {
                domain_sep(&mut h, "ic-hashtree-labeled");
                h.update(l);
                h.update(t.digest());
            }
            HashTree::Leaf(v) => {
                domain_sep(&mut h, "ic-hashtree-leaf");
                h.update(v);
            }
            HashTree::Pruned(d) => return *d,
        }
        h.finalize().into()
    }

    /// CBOR encoding (`[0]`, `[1, l, r]`, `[2, label, t]`, `[3, v]`, `[4, h]`), without the
    /// self-describe tag.
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_cbor(&mut out);
        out
    }

    /// CBOR encoding preceded by the self-describe tag 55799 (`d9 d9 f7`), as the IC's
    /// certified-data trees are usually served.
    pub fn to_cbor_self_describing(&self) -> Vec<u8> {
        let mut out = vec![0xd9, 0xd9, 0xf7];
        self.write_cbor(&mut out);
        out
    }

    fn write_cbor(&self, out: &mut Vec<u8>) {
        match self {
            HashTree::Empty => out.extend_from_slice(&[0x81, 0x00]),
            HashTree::Fork(l, r) => {
                out.extend_from_slice(&[0x83, 0x01]);
                l.write_cbor(out);
                r.write_cbor(out);
            }
            HashTree::Labeled(l, t) => {
                out.extend_from_slice(&[0x83, 0x02]);
                cbor_bytes(out, l);
                t.write_cbor(out);
            }
            HashTree::Leaf(v) => {
                out.extend_from_slice(&[0x82, 0x03]);
                cbor_bytes(out, v);
            }
            HashTree::Pruned(d) => {
                out.extend_from_slice(&[0x82, 0x04]);
                cbor_bytes(out, d);
            }
        }
    }
}

/// A CBOR byte string (major type 2) header and body.
fn cbor_bytes(out: &mut Vec<u8>, b: &[u8]) {
    let len = b.len();
    if len < 24 {
        out.push(0x40 | len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x58, len as u8]);
    } else if len < 0x1_0000 {
        out.push(0x59);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x5a);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(b);
}

/// The ICRC-3 tip tree: `last_block_hash` and `last_block_index` (LEB128), labels in order;
/// the empty tree before the first block.
pub fn tip_tree(tip: Option<(u64, Hash)>) -> HashTree {
    match tip {
        None => HashTree::Empty,
        Some((index, hash)) => HashTree::fork(
            HashTree::labeled(b"last_block_hash", HashTree::leaf(&hash)),
            HashTree::labeled(b"last_block_index", HashTree::leaf(&leb128_vec(index))),
        ),
    }
}
