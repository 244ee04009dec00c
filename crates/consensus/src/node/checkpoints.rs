//! Checkpoints: every `checkpoint_interval` blocks each member signs the checkpoint's canonical
//! bytes; signatures are gathered (early ones kept briefly, re-sent ones answered at a limited
//! rate) until a quorum forms; the proposer then puts the certificate in a block, and a
//! decided certificate makes [`Effect::CheckpointReady`] (so every validator anchors the same
//! checkpoints, and each checkpoint links to the last certified one).

use super::{Application, Effect, Node};
use crate::codec::encode;
use crate::crypto::{checkpoint_signing_bytes, Signer, Verifier};
use crate::message::Message;
use emc_types::{
    Block, Checkpoint, CheckpointSignature, Hash, NodeId, Signature, SignedCheckpoint, StateBit,
    ValidatorSet, ZERO_HASH,
};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug)]
pub(super) struct CheckpointState {
    pub(super) checkpoint: Checkpoint,
    pub(super) hash: Hash,
    pub(super) bytes: Vec<u8>,
    pub(super) set: ValidatorSet,
    pub(super) sigs: BTreeMap<NodeId, Signature>,
    pub(super) own: Option<Signature>,
    pub(super) done: bool,
    /// When we last answered a peer's re-sent signature with ours (rate limit: two nodes
    /// answering each other must not ping-pong).
    pub(super) answered: BTreeMap<NodeId, u64>,
}

/// Early checkpoint signatures kept per claimed signer (unverified until the checkpoint is
/// known, so a few per signer to stop a forger from crowding out the real one).
const EARLY_SIGS_PER_SIGNER: usize = 3;

impl<A: Application, S: Signer, V: Verifier> Node<A, S, V> {
    pub(super) fn open_checkpoint(&mut self, cp: Checkpoint, broadcast: bool) {
        let Some(set) = self.set_for_height(cp.height) else {
            return;
        };
        let bytes = checkpoint_signing_bytes(&cp);
        let own = set.contains(&self.me).then(|| self.signer.sign(&bytes));
        let height = cp.height;
        let mut st = CheckpointState {
            hash: cp.hash(),
            checkpoint: cp,
            bytes,
            set,
            sigs: BTreeMap::new(),
            own,
            done: false,
            answered: BTreeMap::new(),
        };
        if let Some(sig) = own {
            st.sigs.insert(self.me, sig);
        }
        // Keep the last two checkpoints only.
        while self.checkpoints.len() >= 2 {
            self.checkpoints.pop_first();
        }
        self.checkpoints.insert(height, st);
        if let Some(early) = self.early_sigs.remove(&height) {
            for (signer, list) in early {
                for (hash, sig) in list {
                    self.add_checkpoint_sig(height, hash, signer, sig);
                }
            }
        }
        self.early_sigs = self.early_sigs.split_off(&height);
        if broadcast {
            self.broadcast_own_checkpoint_sig(height);
        }
        self.check_checkpoint_quorum(height);
    }

    pub(super) fn broadcast_own_checkpoint_sig(&mut self, height: u64) {
        let Some(st) = self.checkpoints.get(&height) else {
            return;
        };
        let Some(sig) = st.own else { return };
        let msg = Message::Checkpoint {
            height,
            checkpoint_hash: st.hash,
            signature: CheckpointSignature {
                signer: self.me,
                signature: sig,
            },
        };
        self.out.push(Effect::Broadcast {
            bytes: encode(&msg),
        });
    }

    /// Adds a signature; returns `Some(was_new)` when it verified.
    pub(super) fn add_checkpoint_sig(
        &mut self,
        height: u64,
        hash: Hash,
        signer: NodeId,
        sig: Signature,
    ) -> Option<bool> {
        let st = self.checkpoints.get_mut(&height)?;
        if hash != st.hash {
            self.metrics.checkpoint_mismatches += 1;
            return None;
        }
        if !st.set.contains(&signer) {
            self.metrics.not_validator += 1;
            return None;
        }
        if st.sigs.get(&signer) == Some(&sig) {
            return Some(false);
        }
        if !self.verifier.verify(&signer, &st.bytes, &sig) {
            self.metrics.bad_signature += 1;
            return None;
        }
        st.sigs.insert(signer, sig);
        Some(true)
    }

    pub(super) fn on_checkpoint_sig(
        &mut self,
        from: NodeId,
        height: u64,
        hash: Hash,
        sig: CheckpointSignature,
    ) {
        if !self.cfg.is_checkpoint_height(height) {
            self.metrics.invalid += 1;
            return;
        }
        if self.checkpoints.contains_key(&height) {
            match self.add_checkpoint_sig(height, hash, sig.signer, sig.signature) {
                Some(true) => self.check_checkpoint_quorum(height),
                Some(false) => {
                    // A re-sent signature: its sender may lack ours.
                    self.metrics.duplicate += 1;
                    let (now, pause) = (self.now, self.cfg.round_timeout_base_ns);
                    let own = self.checkpoints.get_mut(&height).and_then(|st| {
                        let last = st.answered.get(&from).copied();
                        if last.is_some_and(|t| now < t.saturating_add(pause)) {
                            return None;
                        }
                        st.answered.insert(from, now);
                        st.own
                    });
                    if let Some(own) = own {
                        let msg = Message::Checkpoint {
                            height,
                            checkpoint_hash: hash,
                            signature: CheckpointSignature {
                                signer: self.me,
                                signature: own,
                            },
                        };
                        self.out.push(Effect::Send {
                            to: from,
                            bytes: encode(&msg),
                        });
                    }
                }
                None => {}
            }
            return;
        }
        let ahead = height > self.chain.height
            && height
                <= self
                    .chain
                    .height
                    .saturating_add(2 * self.cfg.checkpoint_interval);
        let member = self
            .set_for_height(height)
            .is_none_or(|s| s.contains(&sig.signer));
        if !ahead || !member {
            self.metrics.stale += 1;
            return;
        }
        let list = self
            .early_sigs
            .entry(height)
            .or_default()
            .entry(sig.signer)
            .or_default();
        if list.len() < EARLY_SIGS_PER_SIGNER && !list.contains(&(hash, sig.signature)) {
            list.push((hash, sig.signature));
        }
    }

    pub(super) fn check_checkpoint_quorum(&mut self, height: u64) {
        let Some(st) = self.checkpoints.get_mut(&height) else {
            return;
        };
        if st.done || st.sigs.len() < st.set.quorum() {
            return;
        }
        st.done = true;
        let mut signatures: Vec<CheckpointSignature> = st
            .sigs
            .iter()
            .map(|(signer, signature)| CheckpointSignature {
                signer: *signer,
                signature: *signature,
            })
            .collect();
        let set = &st.set;
        signatures.sort_by_key(|s| set.index_of(&s.signer));
        let checkpoint = st.checkpoint.clone();
        self.metrics.checkpoint_quorums += 1;
        // Anchored only once its certificate is in the chain (this node proposes it).
        if self.cert_is_next(&checkpoint) {
            self.gathered = Some(SignedCheckpoint {
                checkpoint,
                signatures,
            });
        }
    }

    /// Whether a certificate of `cp` may enter the chain next: a later checkpoint than the
    /// chain's certified one, linking to it, of a height already decided.
    pub(super) fn cert_is_next(&self, cp: &Checkpoint) -> bool {
        let certified = self.chain.certified.as_ref();
        cp.height <= self.chain.height
            && certified.is_none_or(|c| cp.height > c.height)
            && cp.prev_checkpoint_hash == certified.map_or(ZERO_HASH, Checkpoint::hash)
    }

    /// The certificate this node's next proposal carries, if any.
    pub(super) fn cert_to_propose(&self) -> Option<SignedCheckpoint> {
        self.gathered
            .as_ref()
            .filter(|g| self.cert_is_next(&g.checkpoint))
            .cloned()
    }

    /// A block carries at most one checkpoint certificate, and only one that may come next
    /// ([`Self::cert_is_next`]) with a quorum of valid signatures by distinct members of the
    /// checkpoint height's set, for that set's id and the height's epoch. Signatures this node
    /// gathered itself for the same checkpoint are not verified again. Once in the chain, the
    /// certificate re-links this node's checkpoints to the quorum's even if its own checkpoint
    /// at that height differed (so a validator that derived a wrong one recovers).
    pub(super) fn checkpoint_cert_valid(&self, block: &Block) -> bool {
        let mut certs = block.bits.iter().filter_map(|b| match b {
            StateBit::CheckpointCert(sc) => Some(sc),
            _ => None,
        });
        let Some(sc) = certs.next() else {
            return true;
        };
        if certs.next().is_some() {
            return false;
        }
        let cp = &sc.checkpoint;
        if !self.cfg.is_checkpoint_height(cp.height)
            || cp.height >= block.header.height
            || !self.cert_is_next(cp)
            || cp.epoch != self.cfg.epoch_of(cp.height)
        {
            return false;
        }
        let Some(set) = self.set_for_height(cp.height) else {
            return false;
        };
        if cp.validator_set_id != set.id() {
            return false;
        }
        let hash = cp.hash();
        let known = self
            .checkpoints
            .get(&cp.height)
            .filter(|st| st.hash == hash);
        let bytes = checkpoint_signing_bytes(cp);
        let mut seen = BTreeSet::new();
        for s in &sc.signatures {
            if !set.contains(&s.signer) || !seen.insert(s.signer) {
                return false;
            }
            if known.is_some_and(|st| st.sigs.get(&s.signer) == Some(&s.signature)) {
                continue;
            }
            if !self.verifier.verify(&s.signer, &bytes, &s.signature) {
                return false;
            }
        }
        seen.len() >= set.quorum()
    }
}
