//! Certification helpers the canisters share: a (tiny) IC hash tree, its root hash and CBOR
//! encoding (what `ic0.data_certificate` witnesses), and the ICRC-3 certified tip
//! (`last_block_hash`, `last_block_index`) that the ledger and the sockets canister certify.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// LEB128 of `n` (the tip's `last_block_index` leaf).
pub fn leb128_vec(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn h(parts: &[&[u8]]) -> Hash {
        let mut s = Sha256::new();
        for p in parts {
            s.update(p);
        }
        s.finalize().into()
    }

    /// The IC interface specification's hashes, written out by hand.
    #[test]
    fn the_tip_tree_hashes_as_the_ic_specifies() {
        assert_eq!(tip_tree(None).digest(), h(&[b"\x11ic-hashtree-empty"]));
        let leaf = |v: &[u8]| h(&[b"\x10ic-hashtree-leaf", v]);
        let labeled = |l: &[u8], t: Hash| h(&[b"\x13ic-hashtree-labeled", l, &t]);
        let block = [7u8; 32];
        let want = h(&[
            b"\x10ic-hashtree-fork",
            &labeled(b"last_block_hash", leaf(&block)),
            &labeled(b"last_block_index", leaf(&[0xac, 0x02])),
        ]);
        assert_eq!(tip_tree(Some((300, block))).digest(), want);
        assert_eq!(leb128_vec(0), vec![0]);
        assert_eq!(leb128_vec(300), vec![0xac, 0x02]);
        // CBOR: a self-describing tag, then the tree as nested arrays.
        let c = tip_tree(None).to_cbor_self_describing();
        assert_eq!(&c[..3], &[0xd9, 0xd9, 0xf7]);
    }
}
