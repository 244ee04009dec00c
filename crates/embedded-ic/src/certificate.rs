//! The data certificate a canister sees in a non-replicated query (`ic0.data_certificate_copy`).
//!
//! It has the IC's shape: a CBOR map `{"tree": HashTree, "signature": bytes}` (with the
//! self-describing tag 55799), where the tree is the IC's hash tree holding
//! `/canister/<id>/certified_data` and `/time` (LEB128 nanoseconds). Root hashes follow the IC
//! interface specification's domain-separated SHA-256 (`ic-hashtree-fork`, `-labeled`, `-leaf`,
//! `-empty`), so a client that checks `certified_data` against the tree's root hash works
//! unchanged.
//!
//! Who signs: by default nobody (the embedded IC in tests has no subnet key), and the
//! signature is [`SIGNATURE_LEN`] zero bytes, so clients must skip verification. A host that
//! has a key (the local replica, `emc-replica`, with its BLS12-381 root key) installs a
//! [`CertificateSigner`] with [`crate::EmbeddedIc::set_certificate_signer`]; it signs the tree's
//! root hash (the IC signs `"\x0Dic-state-root" ‖ root_hash`), and clients verify the
//! certificate against that host's root key as against any replica.
//!
//! The module also has what a host needs to serve certificates itself: [`forest`] (a sorted,
//! balanced labeled subtree), [`HashTree::witness`] (prune to the requested paths, keeping
//! absence proofs), and [`certificate_cbor`].

use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Signs a certified state tree: takes its root hash, returns the signature bytes.
pub type CertificateSigner = Arc<dyn Fn(&[u8; 32]) -> Vec<u8> + Send + Sync>;

/// The domain separator of the message a certificate's signature covers.
pub const STATE_ROOT_DOMAIN: &[u8] = b"\x0Dic-state-root";

/// Length of a BLS12-381 signature on the IC; the embedded IC's placeholder has this length.
pub const SIGNATURE_LEN: usize = 48;

/// An IC hash tree (interface specification, "Certification").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashTree {
    Empty,
    Fork(Box<HashTree>, Box<HashTree>),
    Labeled(Vec<u8>, Box<HashTree>),
    Leaf(Vec<u8>),
    Pruned([u8; 32]),
}

fn domain_hasher(domain: &str) -> Sha256 {
    let mut h = Sha256::new();
    h.update([domain.len() as u8]);
    h.update(domain.as_bytes());
    h
}

impl HashTree {
    pub fn labeled(label: impl Into<Vec<u8>>, tree: HashTree) -> Self {
        HashTree::Labeled(label.into(), Box::new(tree))
    }

    pub fn fork(left: HashTree, right: HashTree) -> Self {
        HashTree::Fork(Box::new(left), Box::new(right))
    }

    /// The tree's root hash (`reconstruct` in the interface specification).
    pub fn root_hash(&self) -> [u8; 32] {
        match self {
            HashTree::Empty => domain_hasher("ic-hashtree-empty").finalize().into(),
            HashTree::Fork(l, r) => {
                let mut h = domain_hasher("ic-hashtree-fork");
                h.update(l.root_hash());
                h.update(r.root_hash());
                h.finalize().into()
            }
            HashTree::Labeled(label, t) => {
                let mut h = domain_hasher("ic-hashtree-labeled");
                h.update(label);
                h.update(t.root_hash());
                h.finalize().into()
            }
            HashTree::Leaf(v) => {
                let mut h = domain_hasher("ic-hashtree-leaf");
                h.update(v);
                h.finalize().into()
            }
            HashTree::Pruned(hash) => *hash,
        }
    }

    /// Looks up the leaf at `path`; `None` when the path does not end in a leaf.
    pub fn lookup(&self, path: &[&[u8]]) -> Option<&[u8]> {
        match (path.split_first(), self) {
            (None, HashTree::Leaf(v)) => Some(v),
            (Some(_), HashTree::Fork(l, r)) => l.lookup(path).or_else(|| r.lookup(path)),
            (Some((first, rest)), HashTree::Labeled(label, t)) if label == first => t.lookup(rest),
            _ => None,
        }
    }

    /// The tree pruned to `paths`: the subtree at the end of each path is kept whole, every
    /// label on the way is kept, and where a path's label is missing its neighbours' labels
    /// are kept (with pruned subtrees) so the absence is proven; everything else is replaced
    /// by [`HashTree::Pruned`]. The root hash does not change. The tree's labeled children
    /// must be sorted (as [`forest`] builds them).
    pub fn witness(&self, paths: &[Vec<Vec<u8>>]) -> HashTree {
        let refs: Vec<&[Vec<u8>]> = paths.iter().map(Vec::as_slice).collect();
        self.witness_refs(&refs)
    }

    fn witness_refs(&self, paths: &[&[Vec<u8>]]) -> HashTree {
        if paths.iter().any(|p| p.is_empty()) {
            return self.clone();
        }
        if paths.is_empty() {
            return HashTree::Pruned(self.root_hash());
        }
        // The labels of this level, in order, and the neighbours that prove absences.
        let mut labels = Vec::new();
        self.level_labels(&mut labels);
        let mut neighbours = Vec::new();
        for p in paths {
            let wanted = &p[0];
            if let Err(i) = labels.binary_search(&wanted.as_slice()) {
                if i > 0 {
                    neighbours.push(labels[i - 1]);
                }
                if let Some(&next) = labels.get(i) {
                    neighbours.push(next);
                }
            }
        }
        self.prune_level(paths, &neighbours)
    }

    fn level_labels<'a>(&'a self, out: &mut Vec<&'a [u8]>) {
        match self {
            HashTree::Fork(l, r) => {
                l.level_labels(out);
                r.level_labels(out);
            }
            HashTree::Labeled(label, _) => out.push(label),
            _ => {}
        }
    }

    fn prune_level(&self, paths: &[&[Vec<u8>]], neighbours: &[&[u8]]) -> HashTree {
        match self {
            HashTree::Fork(l, r) => {
                let (l, r) = (
                    l.prune_level(paths, neighbours),
                    r.prune_level(paths, neighbours),
                );
                match (&l, &r) {
                    (HashTree::Pruned(_), HashTree::Pruned(_)) => {
                        HashTree::Pruned(self.root_hash())
                    }
                    _ => HashTree::fork(l, r),
                }
            }
            HashTree::Labeled(label, sub) => {
                let below: Vec<&[Vec<u8>]> = paths
                    .iter()
                    .filter(|p| p[0] == *label)
                    .map(|p| &p[1..])
                    .collect();
                if !below.is_empty() {
                    HashTree::labeled(label.clone(), sub.witness_refs(&below))
                } else if neighbours.contains(&label.as_slice()) {
                    HashTree::labeled(label.clone(), HashTree::Pruned(sub.root_hash()))
                } else {
                    HashTree::Pruned(self.root_hash())
                }
            }
            // A leaf or an empty tree where labels were asked for: kept (it proves absence).
            other => other.clone(),
        }
    }

    /// The tree's CBOR encoding (`[0]`, `[1, l, r]`, `[2, label, t]`, `[3, v]`, `[4, h]`).
    pub fn encode_cbor(&self, out: &mut Vec<u8>) {
        match self {
            HashTree::Empty => {
                cbor_head(out, 4, 1);
                cbor_head(out, 0, 0);
            }
            HashTree::Fork(l, r) => {
                cbor_head(out, 4, 3);
                cbor_head(out, 0, 1);
                l.encode_cbor(out);
                r.encode_cbor(out);
            }
            HashTree::Labeled(label, t) => {
                cbor_head(out, 4, 3);
                cbor_head(out, 0, 2);
                cbor_bytes(out, label);
                t.encode_cbor(out);
            }
            HashTree::Leaf(v) => {
                cbor_head(out, 4, 2);
                cbor_head(out, 0, 3);
                cbor_bytes(out, v);
            }
            HashTree::Pruned(h) => {
                cbor_head(out, 4, 2);
                cbor_head(out, 0, 4);
                cbor_bytes(out, h);
            }
        }
    }
}

fn cbor_head(out: &mut Vec<u8>, major: u8, value: u64) {
    let m = major << 5;
    if value < 24 {
        out.push(m | value as u8);
    } else if value <= u8::MAX as u64 {
        out.extend_from_slice(&[m | 24, value as u8]);
    } else if value <= u16::MAX as u64 {
        out.push(m | 25);
        out.extend_from_slice(&(value as u16).to_be_bytes());
    } else if value <= u32::MAX as u64 {
        out.push(m | 26);
        out.extend_from_slice(&(value as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&value.to_be_bytes());
    }
}

fn cbor_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    cbor_head(out, 2, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn cbor_text(out: &mut Vec<u8>, text: &str) {
    cbor_head(out, 3, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// A labeled level of a tree: `entries` sorted by label under a balanced binary tree of forks
/// (the shape the IC uses, and the order [`HashTree::witness`] and clients' lookups rely on).
/// Duplicate labels keep the last entry. No entries make [`HashTree::Empty`].
pub fn forest(mut entries: Vec<(Vec<u8>, HashTree)>) -> HashTree {
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.reverse();
    entries.dedup_by(|a, b| a.0 == b.0);
    entries.reverse();
    fn build(entries: &mut [(Vec<u8>, HashTree)]) -> HashTree {
        match entries.len() {
            0 => HashTree::Empty,
            1 => {
                let (label, tree) =
                    std::mem::replace(&mut entries[0], (Vec::new(), HashTree::Empty));
                HashTree::labeled(label, tree)
            }
            n => {
                let (l, r) = entries.split_at_mut(n / 2);
                HashTree::fork(build(l), build(r))
            }
        }
    }
    build(&mut entries)
}

/// A certificate's CBOR: `55799({"tree": tree, "signature": signature})`.
pub fn certificate_cbor(tree: &HashTree, signature: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    cbor_head(&mut out, 6, 55799);
    cbor_head(&mut out, 5, 2);
    cbor_text(&mut out, "tree");
    tree.encode_cbor(&mut out);
    cbor_text(&mut out, "signature");
    cbor_bytes(&mut out, signature);
    out
}

/// Unsigned LEB128, the encoding of `/time` in certificates.
pub fn leb128(mut value: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(10);
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// The state tree a canister's certificate covers: its certified data and the time.
pub fn certified_state_tree(canister: &[u8], certified_data: &[u8], time_ns: u64) -> HashTree {
    HashTree::fork(
        HashTree::labeled(
            "canister",
            HashTree::labeled(
                canister.to_vec(),
                HashTree::labeled("certified_data", HashTree::Leaf(certified_data.to_vec())),
            ),
        ),
        HashTree::labeled("time", HashTree::Leaf(leb128(time_ns))),
    )
}

/// The CBOR certificate for `canister`'s certified data at `time_ns`, signed by `signer`
/// (zero bytes without one).
pub fn data_certificate(
    canister: &[u8],
    certified_data: &[u8],
    time_ns: u64,
    signer: Option<&CertificateSigner>,
) -> Vec<u8> {
    let tree = certified_state_tree(canister, certified_data, time_ns);
    let signature = match signer {
        Some(sign) => sign(&tree.root_hash()),
        None => vec![0u8; SIGNATURE_LEN],
    };
    certificate_cbor(&tree, &signature)
}

/// Decodes a certificate made by [`data_certificate`] back into its tree (for tests and tools).
pub fn decode_certificate_tree(bytes: &[u8]) -> Option<HashTree> {
    let mut r = CborReader { bytes, pos: 0 };
    let (major, tag) = r.head()?;
    if (major, tag) != (6, 55799) {
        return None;
    }
    let (major, entries) = r.head()?;
    if major != 5 {
        return None;
    }
    let mut tree = None;
    for _ in 0..entries {
        let key = r.text()?;
        if key == "tree" {
            tree = Some(r.tree(0)?);
        } else {
            r.bytes()?;
        }
    }
    tree
}

/// Decodes a CBOR hash tree (optionally behind the self-describe tag 55799), such as the
/// `hash_tree` of an ICRC-3 tip certificate.
pub fn decode_hash_tree(bytes: &[u8]) -> Option<HashTree> {
    let tagged = bytes.starts_with(&[0xd9, 0xd9, 0xf7]);
    let mut r = CborReader {
        bytes,
        pos: if tagged { 3 } else { 0 },
    };
    let tree = r.tree(0)?;
    (r.pos == bytes.len()).then_some(tree)
}

struct CborReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> CborReader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn head(&mut self) -> Option<(u8, u64)> {
        let b = *self.take(1)?.first()?;
        let (major, info) = (b >> 5, b & 0x1f);
        let value = match info {
            0..=23 => info as u64,
            24 => self.take(1)?[0] as u64,
            25 => u16::from_be_bytes(self.take(2)?.try_into().ok()?) as u64,
            26 => u32::from_be_bytes(self.take(4)?.try_into().ok()?) as u64,
            27 => u64::from_be_bytes(self.take(8)?.try_into().ok()?),
            _ => return None,
        };
        Some((major, value))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let (major, len) = self.head()?;
        (major == 2).then_some(())?;
        self.take(usize::try_from(len).ok()?)
    }

    fn text(&mut self) -> Option<&'a str> {
        let (major, len) = self.head()?;
        (major == 3).then_some(())?;
        std::str::from_utf8(self.take(usize::try_from(len).ok()?)?).ok()
    }

    fn tree(&mut self, depth: u32) -> Option<HashTree> {
        if depth > 64 {
            return None;
        }
        let (major, len) = self.head()?;
        (major == 4 && len >= 1).then_some(())?;
        let (m, kind) = self.head()?;
        (m == 0).then_some(())?;
        Some(match (kind, len) {
            (0, 1) => HashTree::Empty,
            (1, 3) => HashTree::fork(self.tree(depth + 1)?, self.tree(depth + 1)?),
            (2, 3) => {
                let label = self.bytes()?.to_vec();
                HashTree::labeled(label, self.tree(depth + 1)?)
            }
            (3, 2) => HashTree::Leaf(self.bytes()?.to_vec()),
            (4, 2) => HashTree::Pruned(self.bytes()?.try_into().ok()?),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_round_trips_and_holds_the_data() {
        let cert = data_certificate(&[1, 2, 3], b"hello", 1_700_000_000_000_000_000, None);
        let tree = decode_certificate_tree(&cert).unwrap();
        assert_eq!(
            tree.lookup(&[b"canister", &[1, 2, 3], b"certified_data"]),
            Some(&b"hello"[..])
        );
        assert_eq!(
            tree.lookup(&[b"time"]),
            Some(&leb128(1_700_000_000_000_000_000)[..])
        );
        assert_eq!(
            tree,
            certified_state_tree(&[1, 2, 3], b"hello", 1_700_000_000_000_000_000)
        );
    }

    #[test]
    fn root_hash_matches_the_interface_spec_example() {
        // The example tree of the IC interface specification ("Certification", "Example").
        let t = HashTree::fork(
            HashTree::fork(
                HashTree::labeled(
                    "a",
                    HashTree::fork(
                        HashTree::fork(
                            HashTree::labeled("x", HashTree::Leaf(b"hello".to_vec())),
                            HashTree::Empty,
                        ),
                        HashTree::labeled("y", HashTree::Leaf(b"world".to_vec())),
                    ),
                ),
                HashTree::labeled("b", HashTree::Leaf(b"good".to_vec())),
            ),
            HashTree::fork(
                HashTree::labeled("c", HashTree::Empty),
                HashTree::labeled("d", HashTree::Leaf(b"morning".to_vec())),
            ),
        );
        assert_eq!(
            hex(&t.root_hash()),
            "eb5c5b2195e62d996b84c9bcc8259d19a83786a2f59e0878cec84c811f669aa0"
        );
    }

    #[test]
    fn leb128_matches_known_encodings() {
        assert_eq!(leb128(0), vec![0]);
        assert_eq!(leb128(127), vec![0x7f]);
        assert_eq!(leb128(128), vec![0x80, 0x01]);
        assert_eq!(leb128(624_485), vec![0xe5, 0x8e, 0x26]);
    }

    #[test]
    fn hash_trees_decode_with_or_without_the_tag() {
        let t = certified_state_tree(&[9], b"x", 5);
        let mut bytes = Vec::new();
        t.encode_cbor(&mut bytes);
        assert_eq!(decode_hash_tree(&bytes), Some(t.clone()));
        let tagged = [&[0xd9, 0xd9, 0xf7][..], &bytes].concat();
        assert_eq!(decode_hash_tree(&tagged), Some(t));
        assert_eq!(decode_hash_tree(&bytes[..bytes.len() - 1]), None);
    }

    #[test]
    fn forest_is_sorted_and_witnesses_keep_the_root_hash() {
        let leaf = |s: &str| HashTree::Leaf(s.as_bytes().to_vec());
        let inner = forest(vec![
            (b"d".to_vec(), leaf("4")),
            (b"b".to_vec(), leaf("2")),
            (b"f".to_vec(), leaf("6")),
            (b"a".to_vec(), leaf("1")),
        ]);
        let tree = forest(vec![(b"x".to_vec(), inner), (b"time".to_vec(), leaf("t"))]);
        let mut labels = Vec::new();
        tree.level_labels(&mut labels);
        assert_eq!(labels, vec![&b"time"[..], b"x"]);
        let p = |s: &[&str]| s.iter().map(|l| l.as_bytes().to_vec()).collect::<Vec<_>>();
        // Present, absent between two labels, absent past the end, absent before the start.
        for (path, found) in [
            (p(&["x", "d"]), Some(&b"4"[..])),
            (p(&["x", "c"]), None),
            (p(&["x", "z"]), None),
            (p(&["x", "0"]), None),
        ] {
            let w = tree.witness(&[path.clone(), p(&["time"])]);
            assert_eq!(w.root_hash(), tree.root_hash());
            let refs: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
            assert_eq!(w.lookup(&refs), found);
            assert_eq!(w.lookup(&[b"time"]), Some(&b"t"[..]));
            // Everything not asked for is pruned: "x/f" is gone unless it proves an absence.
            if found.is_some() {
                assert_eq!(w.lookup(&[b"x", b"f"]), None);
                assert_eq!(w.lookup(&[b"x", b"a"]), None);
            }
        }
        // Asking for nothing prunes the whole tree.
        assert_eq!(tree.witness(&[]), HashTree::Pruned(tree.root_hash()));
    }

    #[test]
    fn garbage_does_not_decode() {
        assert!(decode_certificate_tree(&[]).is_none());
        assert!(decode_certificate_tree(&[0xd9, 0xd9, 0xf7, 0xa1, 0xff]).is_none());
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
