//! Checkpoints: every `checkpoint_interval` blocks each member signs the checkpoint's canonical
//! bytes; signatures are gathered (early ones kept briefly, re-sent ones answered at a limited
//! rate) until a quorum makes [`Effect::CheckpointReady`].

use super::{Application, Effect, Node};
use crate::codec::encode;
use crate::crypto::{checkpoint_signing_bytes, Signer, Verifier};
use crate::message::Message;
use emc_types::{Checkpoint, CheckpointSignature, Hash, NodeId, Signature, ValidatorSet};
use std::collections::BTreeMap;

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
        self.metrics.checkpoints_ready += 1;
        self.out.push(Effect::CheckpointReady {
            checkpoint,
            signatures,
        });
    }
}
