//! Signing and verification. The node's key is behind [`Signer`]; verification behind
//! [`Verifier`] so that a benchmark can measure the state machine alone. Production and the
//! simulation use ed25519 ([`Ed25519Signer`], [`Ed25519Verifier`]).

use crate::message::{RoundChange, Vote, VoteKind};
use emc_types::{Checkpoint, NodeId, Signature};
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

/// Signature verification against a node's public key.
pub trait Verifier {
    /// Whether `sig` is `signer`'s signature over `msg`.
    fn verify(&self, signer: &NodeId, msg: &[u8], sig: &Signature) -> bool;
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

/// ed25519 verification with `verify_strict` (rejects small-order keys and non-canonical
/// signatures, so a signature cannot be mangled into a second valid one). Decompressed public
/// keys are cached (validator sets are small; the cache is cleared if it ever exceeds
/// [`Ed25519Verifier::CACHE_CAP`] keys, so forged signer ids cannot grow it without bound).
#[derive(Clone, Debug, Default)]
pub struct Ed25519Verifier {
    keys: RefCell<BTreeMap<NodeId, Option<ed25519_dalek::VerifyingKey>>>,
}

impl Ed25519Verifier {
    /// Most keys kept decompressed.
    pub const CACHE_CAP: usize = 1024;

    /// A verifier with an empty key cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn key(&self, signer: &NodeId) -> Option<ed25519_dalek::VerifyingKey> {
        if let Some(k) = self.keys.borrow().get(signer) {
            return *k;
        }
        let key = ed25519_dalek::VerifyingKey::from_bytes(&signer.0).ok();
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
        key.verify_strict(msg, &sig).is_ok()
    }
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
