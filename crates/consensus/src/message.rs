//! Consensus messages (QBFT) and committed blocks.
//!
//! Small signed statements ([`SignedVote`], [`SignedRoundChange`]) carry the signatures; the
//! bulky parts (blocks, justifications) travel beside them unsigned and are checked against
//! the signed digests.

use crate::crypto::{round_change_signing_bytes, vote_signing_bytes, SigItem, Verifier};
use emc_types::{Block, CheckpointSignature, Hash, NodeId, Signature, ValidatorSet};
use std::collections::BTreeSet;

/// A round number within a height; round 0 is the first.
pub type Round = u32;

/// What a [`SignedVote`] stands for (it selects the signature's domain tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VoteKind {
    /// PRE-PREPARE / PROPOSAL: the round's proposer proposes the block `digest`.
    Proposal,
    /// PREPARE.
    Prepare,
    /// COMMIT; its signature is the committed seal.
    Commit,
}

/// `(height, round, block digest)`: the content of proposals, prepares and commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Vote {
    /// Height.
    pub height: u64,
    /// Round.
    pub round: Round,
    /// Block hash.
    pub digest: Hash,
}

/// A vote with its signer and signature (over [`vote_signing_bytes`] for its kind).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedVote {
    /// The vote.
    pub vote: Vote,
    /// The validator that signed it.
    pub signer: NodeId,
    /// The signature.
    pub signature: Signature,
}

impl SignedVote {
    /// Verifies the signature for `kind` (the consensus-vote rule).
    pub fn verify(&self, kind: VoteKind, verifier: &impl Verifier) -> bool {
        verifier.verify_vote(
            &self.signer,
            &vote_signing_bytes(kind, &self.vote),
            &self.signature,
        )
    }

    /// The signature to check for `kind`, for batch verification.
    pub fn sig_item(&self, kind: VoteKind) -> SigItem {
        SigItem {
            signer: self.signer,
            msg: vote_signing_bytes(kind, &self.vote),
            sig: self.signature,
        }
    }
}

/// The signed part of a ROUND-CHANGE: the sender moves to `round` and reports the highest
/// round in which it became prepared, and for which digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundChange {
    /// Height.
    pub height: u64,
    /// The round the sender moves to.
    pub round: Round,
    /// `(prepared round, prepared digest)`, if the sender is prepared.
    pub prepared: Option<(Round, Hash)>,
}

/// A signed [`RoundChange`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRoundChange {
    /// The content.
    pub body: RoundChange,
    /// The signer.
    pub signer: NodeId,
    /// The signature over [`round_change_signing_bytes`].
    pub signature: Signature,
}

impl SignedRoundChange {
    /// Verifies the signature (the consensus-vote rule).
    pub fn verify(&self, verifier: &impl Verifier) -> bool {
        verifier.verify_vote(
            &self.signer,
            &round_change_signing_bytes(&self.body),
            &self.signature,
        )
    }

    /// The signature to check, for batch verification.
    pub fn sig_item(&self) -> SigItem {
        SigItem {
            signer: self.signer,
            msg: round_change_signing_bytes(&self.body),
            sig: self.signature,
        }
    }
}

/// A prepared certificate: a block and a quorum of PREPAREs for it in one round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedCertificate {
    /// The round in which the quorum of prepares was gathered.
    pub round: Round,
    /// The prepared block.
    pub block: Block,
    /// At least a quorum of prepares for `(height, round, block.hash())` by distinct members.
    pub prepares: Vec<SignedVote>,
}

/// A committed seal: one validator's COMMIT signature (over [`vote_signing_bytes`] with
/// [`VoteKind::Commit`] for `(height, round, block hash)`).
pub use emc_types::Seal;

/// A decided block with the committed seals that prove it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedBlock {
    /// The block.
    pub block: Block,
    /// The round in which it was committed (the seals are for this round).
    pub round: Round,
    /// At least a quorum of seals by distinct members of the height's validator set.
    pub seals: Vec<Seal>,
}

/// Why a committed block does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// A seal's signer is not in the validator set.
    #[error("seal by {0:?}, who is not a validator")]
    NotValidator(NodeId),
    /// Two seals by the same validator.
    #[error("two seals by {0:?}")]
    DuplicateSigner(NodeId),
    /// A seal does not verify.
    #[error("seal by {0:?} does not verify")]
    BadSignature(NodeId),
    /// Fewer valid seals than the quorum.
    #[error("{got} seals, quorum is {quorum}")]
    NoQuorum {
        /// Seals counted.
        got: usize,
        /// Quorum of the set.
        quorum: usize,
    },
    /// The header does not commit to the payload.
    #[error("payload root does not match the state bits")]
    PayloadMismatch,
}

/// Verifies that `cb` carries a quorum of valid committed seals from distinct members of `set`
/// (the set of the block's epoch) and that the block's header commits to its payload.
/// Anyone holding the validator set can run this. The seals are verified as one batch
/// ([`Verifier::verify_votes`]).
pub fn verify_committed(
    cb: &CommittedBlock,
    set: &ValidatorSet,
    verifier: &impl Verifier,
) -> Result<(), SealError> {
    if !cb.block.payload_matches() {
        return Err(SealError::PayloadMismatch);
    }
    let vote = Vote {
        height: cb.block.header.height,
        round: cb.round,
        digest: cb.block.hash(),
    };
    let msg = vote_signing_bytes(VoteKind::Commit, &vote);
    let signers = check_seal_signers(&cb.seals, set)?;
    let items: Vec<SigItem> = cb
        .seals
        .iter()
        .map(|seal| SigItem {
            signer: seal.signer,
            msg: msg.clone(),
            sig: seal.signature,
        })
        .collect();
    let ok = verifier.verify_votes(&items);
    if let Some((seal, _)) = cb.seals.iter().zip(&ok).find(|(_, ok)| !**ok) {
        return Err(SealError::BadSignature(seal.signer));
    }
    if signers < set.quorum() {
        return Err(SealError::NoQuorum {
            got: signers,
            quorum: set.quorum(),
        });
    }
    Ok(())
}

/// The signer checks of a list of seals, before any signature is verified: every signer a
/// member of `set`, none twice. Returns the number of signers.
pub fn check_seal_signers(seals: &[Seal], set: &ValidatorSet) -> Result<usize, SealError> {
    let mut seen = BTreeSet::new();
    for seal in seals {
        if !set.contains(&seal.signer) {
            return Err(SealError::NotValidator(seal.signer));
        }
        if !seen.insert(seal.signer) {
            return Err(SealError::DuplicateSigner(seal.signer));
        }
    }
    Ok(seen.len())
}

/// A consensus message on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// PROPOSAL (PRE-PREPARE) for `proposal.vote`, with the block and, for rounds above 0,
    /// the justification: a quorum of round changes for the round and, when one of them
    /// reports a prepared value, the prepares of the highest one.
    Proposal {
        /// The proposer's signed proposal.
        proposal: SignedVote,
        /// The proposed block (`block.hash() == proposal.vote.digest`).
        block: Block,
        /// Round changes justifying a round above 0.
        round_changes: Vec<SignedRoundChange>,
        /// Prepares of the highest prepared value reported in `round_changes`.
        prepares: Vec<SignedVote>,
    },
    /// PREPARE.
    Prepare(SignedVote),
    /// COMMIT (the signature is the committed seal).
    Commit(SignedVote),
    /// ROUND-CHANGE with, when the sender is prepared, the prepared block and certificate.
    RoundChange {
        /// The signed round change.
        round_change: SignedRoundChange,
        /// The prepared block, when `round_change.body.prepared` is set.
        prepared_block: Option<Block>,
        /// The prepares certifying it.
        prepares: Vec<SignedVote>,
    },
    /// A validator's signature over the checkpoint at `height`.
    Checkpoint {
        /// Height of the checkpoint.
        height: u64,
        /// Hash of the checkpoint the signer computed.
        checkpoint_hash: Hash,
        /// Signer and signature over the checkpoint's signing bytes.
        signature: CheckpointSignature,
    },
    /// A decided block with its seals (block sync).
    Decided(CommittedBlock),
    /// Asks the peer for decided blocks from `from_height` on (block sync).
    SyncRequest {
        /// First height wanted.
        from_height: u64,
    },
}

impl Message {
    /// The consensus height the message is about (`None` for sync and checkpoint messages).
    pub fn height(&self) -> Option<u64> {
        match self {
            Message::Proposal { proposal, .. } => Some(proposal.vote.height),
            Message::Prepare(v) | Message::Commit(v) => Some(v.vote.height),
            Message::RoundChange { round_change, .. } => Some(round_change.body.height),
            Message::Checkpoint { .. } | Message::Decided(_) | Message::SyncRequest { .. } => None,
        }
    }
}
