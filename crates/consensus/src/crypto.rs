//! Signing and verification. The node's key is behind [`Signer`]; verification behind
//! [`Verifier`] so that a benchmark can measure the state machine alone. Production and the
//! simulation use ed25519 ([`Ed25519Signer`], [`Ed25519Verifier`]).
//!
//! Two verification rules:
//! - **Checkpoint signatures** ([`Verifier::verify`]) use ed25519-dalek's `verify_strict`, the
//!   epochs canister's rule, so a certificate consensus accepts is one the IC accepts.
//! - **Consensus votes** (proposals, prepares, commit seals, round changes:
//!   [`Verifier::verify_vote`], [`Verifier::verify_votes`]) use one rule for single and batch
//!   verification: `verify_strict`'s encoding checks (canonical `s` and `R`, neither the key
//!   nor `R` of small order) with the *cofactored* equation `[8](sB - kA - R) = 0`. Batch
//!   verification (one multi-scalar multiplication for many signatures) can only be made to
//!   agree exactly with a cofactored equation: with `verify_strict`'s cofactorless equation,
//!   a signature whose `R` carries a small-order component passes or fails a batch depending
//!   on the other signatures in it, so two honest nodes could disagree about the same vote
//!   (and about a block whose parent commit carries it). The two rules differ only on such
//!   signatures, and only the key's owner can make one (`R` is hashed into the challenge, so a
//!   third party cannot move an existing signature's `R`): a Byzantine validator can at most
//!   get its own vote counted, which it could have sent validly anyway. Honest signatures pass
//!   both rules.

use crate::message::{RoundChange, Vote, VoteKind};
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use emc_types::{Checkpoint, NodeId, Signature};
use sha2::{Digest, Sha512};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// Domain tag of proposal signatures.
pub const PROPOSAL_DOMAIN: &[u8] = b"emc-qbft-proposal-v1";
/// Domain tag of prepare signatures.
pub const PREPARE_DOMAIN: &[u8] = b"emc-qbft-prepare-v1";
/// Domain tag of commit seals (the commit message's only signature).
pub const COMMIT_SEAL_DOMAIN: &[u8] = b"emc-qbft-commit-seal-v1";
/// Domain tag of round-change signatures.
pub const ROUND_CHANGE_DOMAIN: &[u8] = b"emc-qbft-round-change-v1";

/// The node's signing key.
pub trait Signer {
    /// The node's public key.
    fn node_id(&self) -> NodeId;
    /// Signs `msg` (already domain-separated by the caller).
    fn sign(&self, msg: &[u8]) -> Signature;
}

/// One signature to check: the signer, the signed bytes and the signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigItem {
    /// The claimed signer (its public key).
    pub signer: NodeId,
    /// The signed bytes (domain-separated).
    pub msg: Vec<u8>,
    /// The signature.
    pub sig: Signature,
}

/// Signature verification against a node's public key.
pub trait Verifier {
    /// Whether `sig` is `signer`'s signature over `msg` under the strict rule (checkpoint
    /// signatures: the epochs canister's `verify_strict`).
    fn verify(&self, signer: &NodeId, msg: &[u8], sig: &Signature) -> bool;

    /// Whether `sig` is `signer`'s signature over `msg` under the consensus-vote rule (see the
    /// module docs). The default is [`Verifier::verify`].
    fn verify_vote(&self, signer: &NodeId, msg: &[u8], sig: &Signature) -> bool {
        self.verify(signer, msg, sig)
    }

    /// For each item, whether [`Verifier::verify_vote`] accepts it: exactly the same answers,
    /// possibly computed faster together. The default checks them one by one.
    fn verify_votes(&self, items: &[SigItem]) -> Vec<bool> {
        items
            .iter()
            .map(|i| self.verify_vote(&i.signer, &i.msg, &i.sig))
            .collect()
    }
}

/// An ed25519 key (ed25519-dalek).
pub struct Ed25519Signer {
    key: ed25519_dalek::SigningKey,
    id: NodeId,
}

impl Ed25519Signer {
    /// The key derived from a 32-byte secret seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let id = NodeId(key.verifying_key().to_bytes());
        Ed25519Signer { key, id }
    }
}

impl Signer for Ed25519Signer {
    fn node_id(&self) -> NodeId {
        self.id
    }
    fn sign(&self, msg: &[u8]) -> Signature {
        use ed25519_dalek::Signer as _;
        Signature(self.key.sign(msg).to_bytes())
    }
}

impl<T: Signer + ?Sized> Signer for &T {
    fn node_id(&self) -> NodeId {
        (**self).node_id()
    }
    fn sign(&self, msg: &[u8]) -> Signature {
        (**self).sign(msg)
    }
}

/// ed25519 verification: `verify_strict` for [`Verifier::verify`], the cofactored vote rule
/// (module docs) for [`Verifier::verify_vote`] and, batched, [`Verifier::verify_votes`]. Both
/// reject small-order keys and non-canonical signatures, so a third party cannot mangle a
/// signature into a second valid one. Decompressed public
/// keys are cached (validator sets are small; the cache is cleared if it ever exceeds
/// [`Ed25519Verifier::CACHE_CAP`] keys, so forged signer ids cannot grow it without bound).
#[derive(Clone, Debug, Default)]
pub struct Ed25519Verifier {
    keys: RefCell<BTreeMap<NodeId, Option<Key>>>,
}

/// A decompressed public key: dalek's (for `verify_strict`) and the curve point, negated (for
/// the vote rule); `None` in the cache when the bytes do not decode.
#[derive(Clone, Copy, Debug)]
struct Key {
    vk: ed25519_dalek::VerifyingKey,
    neg_a: EdwardsPoint,
    small_order: bool,
}

/// A vote signature's parts after the encoding checks: `R`, `s` and the challenge `k`.
struct Prepared {
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
    neg_a: EdwardsPoint,
}

/// The encoding checks of the vote rule (those of `verify_strict`): a key not of small order,
/// a canonical `s`, an `R` that decodes, re-encodes to the same bytes and is not of small
/// order; then the challenge `k = H(R || A || msg)`.
fn prepare_vote(key: &Key, signer: &NodeId, msg: &[u8], sig: &Signature) -> Option<Prepared> {
    if key.small_order {
        return None;
    }
    let mut r_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&sig.0[..32]);
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&sig.0[32..]);
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
    // Canonical: y < p (the points with x = 0, whose sign bit must be 0, are of small order
    // and refused below), checked on the bytes rather than by re-encoding (an inversion).
    if !y_is_canonical(&r_bytes) {
        return None;
    }
    let r = CompressedEdwardsY(r_bytes).decompress()?;
    if r.is_small_order() {
        return None;
    }
    let mut h = Sha512::new();
    h.update(r_bytes);
    h.update(signer.0);
    h.update(msg);
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    Some(Prepared {
        r,
        s,
        k,
        neg_a: key.neg_a,
    })
}

/// Whether the encoded y coordinate (sign bit aside) is below p = 2^255 - 19.
fn y_is_canonical(b: &[u8; 32]) -> bool {
    !(b[31] & 0x7f == 0x7f && b[1..31].iter().all(|x| *x == 0xff) && b[0] >= 0xed)
}

/// The cofactored equation for one signature: `[8](sB - kA - R) = 0`.
fn check_one(p: &Prepared) -> bool {
    let r = EdwardsPoint::vartime_double_scalar_mul_basepoint(&p.k, &p.neg_a, &p.s);
    (r - p.r).mul_by_cofactor().is_identity()
}

/// The cofactored batch equation `[8](-(sum z_i s_i) B + sum z_i R_i + sum z_i k_i A_i) = 0`
/// with 128-bit coefficients `z_i` drawn from a hash of every input (as ed25519-dalek's batch
/// does: a forger would need the hash to cancel a wrong signature, probability 2^-128).
/// Holds for any list of valid signatures; fails, but for that probability, if one is not.
fn check_batch(ps: &[Prepared], items: &[&SigItem]) -> bool {
    let mut seed = Sha512::new();
    seed.update(b"emc-consensus batch verification");
    for it in items {
        seed.update(it.signer.0);
        seed.update(it.sig.0);
        seed.update((it.msg.len() as u64).to_le_bytes());
        seed.update(&it.msg);
    }
    let seed: [u8; 64] = seed.finalize().into();
    // Four 128-bit coefficients per SHA-512 output.
    let mut zs: Vec<Scalar> = Vec::with_capacity(ps.len());
    let mut block = 0u64;
    while zs.len() < ps.len() {
        let mut h = Sha512::new();
        h.update(seed);
        h.update(block.to_le_bytes());
        let out: [u8; 64] = h.finalize().into();
        for chunk in out.chunks_exact(16).take(ps.len() - zs.len()) {
            let mut z = [0u8; 32];
            z[..16].copy_from_slice(chunk);
            zs.push(Scalar::from_bytes_mod_order(z));
        }
        block += 1;
    }
    // sB = R + kA for each signature, so with the cached -A:
    // -(sum z s) B + sum z R - sum (z k)(-A) = 0, the terms of one key summed into one
    // (many signatures of few signers: the multiplication has about half the points).
    let b_coeff: Scalar = -ps.iter().zip(&zs).map(|(p, z)| z * p.s).sum::<Scalar>();
    let mut by_key: BTreeMap<&NodeId, (Scalar, EdwardsPoint)> = BTreeMap::new();
    for ((p, z), it) in ps.iter().zip(&zs).zip(items) {
        let e = by_key.entry(&it.signer).or_insert((Scalar::ZERO, p.neg_a));
        e.0 -= z * p.k;
    }
    let scalars = std::iter::once(b_coeff)
        .chain(zs.iter().copied())
        .chain(by_key.values().map(|(c, _)| *c));
    let points = std::iter::once(ED25519_BASEPOINT_POINT)
        .chain(ps.iter().map(|p| p.r))
        .chain(by_key.values().map(|(_, a)| *a));
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
}

impl Ed25519Verifier {
    /// Most keys kept decompressed.
    pub const CACHE_CAP: usize = 1024;

    /// A verifier with an empty key cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn key(&self, signer: &NodeId) -> Option<Key> {
        if let Some(k) = self.keys.borrow().get(signer) {
            return *k;
        }
        let key = ed25519_dalek::VerifyingKey::from_bytes(&signer.0)
            .ok()
            .and_then(|vk| {
                let a = CompressedEdwardsY(signer.0).decompress()?;
                Some(Key {
                    vk,
                    neg_a: -a,
                    small_order: a.is_small_order(),
                })
            });
        let mut keys = self.keys.borrow_mut();
        if keys.len() >= Self::CACHE_CAP {
            keys.clear();
        }
        keys.insert(*signer, key);
        key
    }
}

impl Verifier for Ed25519Verifier {
    fn verify(&self, signer: &NodeId, msg: &[u8], sig: &Signature) -> bool {
        let Some(key) = self.key(signer) else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
        key.vk.verify_strict(msg, &sig).is_ok()
    }

    fn verify_vote(&self, signer: &NodeId, msg: &[u8], sig: &Signature) -> bool {
        self.key(signer)
            .and_then(|k| prepare_vote(&k, signer, msg, sig))
            .is_some_and(|p| check_one(&p))
    }

    /// One batch equation for all items that pass the encoding checks; if it fails, the bad
    /// ones are found by halving ([`verify_prepared`]).
    fn verify_votes(&self, items: &[SigItem]) -> Vec<bool> {
        let mut out = vec![false; items.len()];
        let mut ps = Vec::with_capacity(items.len());
        let mut idx = Vec::with_capacity(items.len());
        let mut refs = Vec::with_capacity(items.len());
        for (i, it) in items.iter().enumerate() {
            if let Some(p) = self
                .key(&it.signer)
                .and_then(|k| prepare_vote(&k, &it.signer, &it.msg, &it.sig))
            {
                ps.push(p);
                idx.push(i);
                refs.push(it);
            }
        }
        for (i, ok) in idx.into_iter().zip(verify_prepared(&ps, &refs)) {
            out[i] = ok;
        }
        out
    }
}

/// Below this many signatures a failed batch is not halved: each is checked alone.
const MIN_HALVED: usize = 8;
/// Finding the bad signatures of a failed batch batches at most this many times its size
/// again before checking the rest one by one.
const HALVING_BUDGET: usize = 4;

/// For each prepared signature, whether it holds: one batch for all; if it fails, each
/// failed part is halved and each half batched (breadth first), so a few bad signatures
/// among many cost a few more batches rather than a check of each. Halving stops below
/// [`MIN_HALVED`] signatures and once [`HALVING_BUDGET`] times the batch was spent on it
/// (many bad signatures: one by one is cheaper then), so a batch of bad signatures costs at
/// most about five batches more than checking each alone. A signature is accepted only by a
/// batch that holds or by [`check_one`]. The terms of one key are summed in each batch
/// ([`check_batch`]), so many signatures of few signers batch about twice as fast.
fn verify_prepared(ps: &[Prepared], items: &[&SigItem]) -> Vec<bool> {
    let n = ps.len();
    let mut ok = vec![false; n];
    match n {
        0 => return ok,
        1 => {
            ok[0] = check_one(&ps[0]);
            return ok;
        }
        _ if check_batch(ps, items) => {
            ok.fill(true);
            return ok;
        }
        _ => {}
    }
    let mut budget = HALVING_BUDGET * n;
    let mut failed = std::collections::VecDeque::new();
    failed.push_back(0..n);
    while let Some(part) = failed.pop_front() {
        if part.len() < MIN_HALVED || part.len() > budget {
            for i in part {
                ok[i] = check_one(&ps[i]);
            }
            continue;
        }
        budget -= part.len();
        let mid = part.start + part.len() / 2;
        for half in [part.start..mid, mid..part.end] {
            if check_batch(&ps[half.clone()], &items[half.clone()]) {
                ok[half].fill(true);
            } else {
                failed.push_back(half);
            }
        }
    }
    ok
}

/// The bytes signed for a proposal, prepare or commit seal:
/// `domain(kind) || height_be64 || round_be32 || digest(32)`.
pub fn vote_signing_bytes(kind: VoteKind, vote: &Vote) -> Vec<u8> {
    let domain = match kind {
        VoteKind::Proposal => PROPOSAL_DOMAIN,
        VoteKind::Prepare => PREPARE_DOMAIN,
        VoteKind::Commit => COMMIT_SEAL_DOMAIN,
    };
    let mut out = Vec::with_capacity(domain.len() + 8 + 4 + 32);
    out.extend_from_slice(domain);
    out.extend_from_slice(&vote.height.to_be_bytes());
    out.extend_from_slice(&vote.round.to_be_bytes());
    out.extend_from_slice(&vote.digest.0);
    out
}

/// The bytes signed for a round change: `ROUND_CHANGE_DOMAIN || height_be64 || round_be32 ||
/// 0` when nothing is prepared, or `... || 1 || prepared_round_be32 || prepared_digest(32)`.
pub fn round_change_signing_bytes(rc: &RoundChange) -> Vec<u8> {
    let mut out = Vec::with_capacity(ROUND_CHANGE_DOMAIN.len() + 8 + 4 + 1 + 4 + 32);
    out.extend_from_slice(ROUND_CHANGE_DOMAIN);
    out.extend_from_slice(&rc.height.to_be_bytes());
    out.extend_from_slice(&rc.round.to_be_bytes());
    match &rc.prepared {
        None => out.push(0),
        Some((round, digest)) => {
            out.push(1);
            out.extend_from_slice(&round.to_be_bytes());
            out.extend_from_slice(&digest.0);
        }
    }
    out
}

/// The bytes signed for a checkpoint: exactly [`Checkpoint::signing_bytes`] (what the epochs
/// canister verifies).
pub fn checkpoint_signing_bytes(c: &Checkpoint) -> Vec<u8> {
    c.signing_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::EIGHT_TORSION;

    fn item(i: u8, msg: &[u8]) -> SigItem {
        let k = Ed25519Signer::from_seed([i; 32]);
        SigItem {
            signer: k.node_id(),
            msg: msg.to_vec(),
            sig: k.sign(msg),
        }
    }

    /// A signature by secret scalar `a` whose `R` carries the small-order point `t`: valid
    /// under the cofactored equation, refused by `verify_strict`.
    fn torsion_item(a: u8, t: EdwardsPoint, msg: &[u8]) -> SigItem {
        let a = Scalar::from(u64::from(a) * 7919 + 12345);
        let big_a = EdwardsPoint::mul_base(&a);
        let r = Scalar::from(987_654_321u64);
        let big_r = EdwardsPoint::mul_base(&r) + t;
        let r_bytes = big_r.compress().0;
        let mut h = Sha512::new();
        h.update(r_bytes);
        h.update(big_a.compress().0);
        h.update(msg);
        let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        let s = r + k * a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r_bytes);
        sig[32..].copy_from_slice(s.as_bytes());
        SigItem {
            signer: NodeId(big_a.compress().0),
            msg: msg.to_vec(),
            sig: Signature(sig),
        }
    }

    #[test]
    fn y_canonical_means_below_p() {
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(!y_is_canonical(&p)); // p itself
        let mut sign = p;
        sign[31] = 0xff; // p with the sign bit
        assert!(!y_is_canonical(&sign));
        let mut below = p;
        below[0] = 0xec; // p - 1
        assert!(y_is_canonical(&below));
        assert!(y_is_canonical(&[0; 32]));
        assert!(!y_is_canonical(&[0xff; 32]));
    }

    fn one_by_one(v: &Ed25519Verifier, items: &[SigItem]) -> Vec<bool> {
        items
            .iter()
            .map(|i| v.verify_vote(&i.signer, &i.msg, &i.sig))
            .collect()
    }

    #[test]
    fn honest_signatures_pass_both_rules_alone_and_in_batches() {
        let v = Ed25519Verifier::new();
        let items: Vec<SigItem> = (1..=40).map(|i| item(i, &[i, 1, 2, 3])).collect();
        for it in &items {
            assert!(v.verify(&it.signer, &it.msg, &it.sig));
            assert!(v.verify_vote(&it.signer, &it.msg, &it.sig));
        }
        assert!(v.verify_votes(&items).into_iter().all(|ok| ok));
        assert!(v.verify_votes(&[]).is_empty());
    }

    #[test]
    fn a_batch_finds_exactly_the_bad_signatures() {
        let v = Ed25519Verifier::new();
        let mut items: Vec<SigItem> = (1..=20).map(|i| item(i, b"vote")).collect();
        items[3].sig.0[40] ^= 1; // wrong s
        items[7].msg.push(0); // other message
        items[11].signer = items[12].signer; // other key
        items[15].sig.0[32..].copy_from_slice(&[0xff; 32]); // non-canonical s
        items[16].sig.0[..32].copy_from_slice(&[0xff; 32]); // R that does not decode (or non-canonical)
        let got = v.verify_votes(&items);
        let want: Vec<bool> = (0..20).map(|i| ![3, 7, 11, 15, 16].contains(&i)).collect();
        assert_eq!(got, want);
        assert_eq!(got, one_by_one(&v, &items));
    }

    /// Large batches with a few bad signatures (found by halving) and with many (halving
    /// gives up for one by one): always exactly the answers of one by one. Several signatures
    /// per key, as receipts have.
    #[test]
    fn halving_finds_exactly_the_bad_signatures_of_large_batches() {
        let v = Ed25519Verifier::new();
        let good: Vec<SigItem> = (0..300u16)
            .map(|i| item((i % 7) as u8 + 1, &i.to_le_bytes()))
            .collect();
        assert!(v.verify_votes(&good).into_iter().all(|ok| ok));
        let spoil = |bad: &[usize]| {
            let mut items = good.clone();
            for &b in bad {
                items[b].sig.0[33] ^= 2;
            }
            let got = v.verify_votes(&items);
            let want: Vec<bool> = (0..items.len()).map(|i| !bad.contains(&i)).collect();
            assert_eq!(got, want, "bad {bad:?}");
            assert_eq!(got, one_by_one(&v, &items));
        };
        spoil(&[0]);
        spoil(&[299]);
        spoil(&[150]);
        spoil(&[3, 149, 150, 298]);
        spoil(&(0..300).step_by(3).collect::<Vec<_>>());
        spoil(&(0..300).collect::<Vec<_>>());
        // A bad signature by a key that also signed good ones in the batch.
        let mut items = good.clone();
        items[14].msg[0] ^= 1;
        let got = v.verify_votes(&items);
        assert_eq!(got.iter().filter(|ok| !**ok).count(), 1);
        assert!(!got[14]);
    }

    #[test]
    fn small_order_keys_and_small_order_r_are_refused_by_both_rules() {
        let v = Ed25519Verifier::new();
        let msg = b"vote".to_vec();
        // A small-order key: the identity, with the trivially "valid" signature R = identity, s = 0.
        let id = EIGHT_TORSION[0].compress().0;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&id);
        let weak = SigItem {
            signer: NodeId(id),
            msg: msg.clone(),
            sig: Signature(sig),
        };
        assert!(!v.verify(&weak.signer, &weak.msg, &weak.sig));
        assert!(!v.verify_vote(&weak.signer, &weak.msg, &weak.sig));
        // A small-order R under an honest key.
        let mut bad_r = item(1, &msg);
        bad_r.sig.0[..32].copy_from_slice(&EIGHT_TORSION[1].compress().0);
        let items = vec![weak, bad_r, item(2, &msg), item(3, &msg)];
        assert_eq!(v.verify_votes(&items), vec![false, false, true, true]);
    }

    /// The one difference between the rules (module docs): an `R` with a small-order component,
    /// made by the key's owner. The vote rule accepts it alone and in every batch alike, so
    /// honest nodes never disagree about it; the strict rule (checkpoints) refuses it.
    #[test]
    fn torsion_in_r_is_judged_alike_alone_and_in_any_batch() {
        let v = Ed25519Verifier::new();
        for (n, t) in EIGHT_TORSION.iter().enumerate().skip(1) {
            let odd = torsion_item(n as u8, *t, b"vote");
            assert!(!v.verify(&odd.signer, &odd.msg, &odd.sig), "strict refuses");
            assert!(
                v.verify_vote(&odd.signer, &odd.msg, &odd.sig),
                "cofactored accepts"
            );
            for size in [2usize, 3, 9, 30] {
                let mut items: Vec<SigItem> = (1..size as u8).map(|i| item(i, b"x")).collect();
                items.insert(size / 2, odd.clone());
                assert!(v.verify_votes(&items).into_iter().all(|ok| ok));
            }
        }
        // Two of them with opposite torsion, and a bad one beside: still item by item.
        let mut items = vec![
            torsion_item(1, EIGHT_TORSION[2], b"a"),
            torsion_item(2, EIGHT_TORSION[6], b"b"),
            item(5, b"c"),
        ];
        items[2].sig.0[0] ^= 4;
        assert_eq!(v.verify_votes(&items), one_by_one(&v, &items));
        assert_eq!(v.verify_votes(&items), vec![true, true, false]);
    }
}
