//! State bits: the payload of blocks. What validators agree on is not token transfers but
//! these facts (protocol section 6).

use crate::{put_len_prefixed, ComputeReceipt, NodeId, Signature, SignedCheckpoint};
use candid::CandidType;
use serde::{Deserialize, Serialize};

/// Fixed-point scale of the compute unit E: E is stored as `round(E * 10_000)` in a `u64`
/// (4 decimals, protocol section 5). `E = 1.4451` is stored as `14_451`.
pub const E_SCALE: u64 = 10_000;

/// Result of one proof-of-computing challenge, as measured by a validator.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct PocResult {
    /// The challenged compute node.
    pub node: NodeId,
    /// The measured E in fixed point ([`E_SCALE`]); 0 when the node failed.
    pub e_fixed: u64,
    /// Whether the node passed (correct result within the time limit).
    pub passed: bool,
    /// The validator that issued and timed the challenge.
    pub validator: NodeId,
}

/// A liveness observation: `observer` saw `subject` online or offline.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct LivenessObservation {
    /// The validator (or router) that probed.
    pub observer: NodeId,
    /// The probed node.
    pub subject: NodeId,
    /// The outcome of the probe.
    pub online: bool,
}

/// A compute-task dispatch record: a router handed a dApp call to a compute node.
/// The content is signed by the parties; its format is opaque to consensus for now.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct DispatchRecord {
    /// The signed record, opaque bytes.
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

/// A committed seal: one validator's COMMIT signature over `(height, round, block hash)`
/// (emc-consensus's vote signing bytes).
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct Seal {
    /// The validator.
    pub signer: NodeId,
    /// Its commit signature.
    pub signature: Signature,
}

/// The seals that committed a block's parent, carried by the block (Tendermint's
/// "last commit"): the agreed record of which validators took part in consensus at the
/// previous height. Consensus puts it first in every block above height 1 and checks it (a
/// quorum of valid seals by the parent height's set); the application counts validator
/// participation from it.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct ParentCommit {
    /// The round in which the parent was committed (the seals are for that round).
    pub round: u32,
    /// The seals, by distinct members of the parent height's validator set.
    pub seals: Vec<Seal>,
}

/// One fact agreed by consensus.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub enum StateBit {
    /// A proof-of-computing result.
    Poc(PocResult),
    /// A liveness observation.
    Liveness(LivenessObservation),
    /// A compute-task dispatch record.
    Dispatch(DispatchRecord),
    /// A served call's receipt, signed by the compute node and the user.
    Receipt(ComputeReceipt),
    /// The seals of the parent block (validators' participation).
    ParentCommit(ParentCommit),
    /// A checkpoint with a quorum of its validator set's signatures: once in the chain it is
    /// the checkpoint later ones link to and the one validators anchor on the IC.
    CheckpointCert(SignedCheckpoint),
}

impl StateBit {
    /// Tag byte of [`StateBit::Poc`] in the canonical layout.
    pub const TAG_POC: u8 = 1;
    /// Tag byte of [`StateBit::Liveness`].
    pub const TAG_LIVENESS: u8 = 2;
    /// Tag byte of [`StateBit::Dispatch`].
    pub const TAG_DISPATCH: u8 = 3;
    /// Tag byte of [`StateBit::Receipt`].
    pub const TAG_RECEIPT: u8 = 4;
    /// Tag byte of [`StateBit::ParentCommit`].
    pub const TAG_PARENT_COMMIT: u8 = 5;
    /// Tag byte of [`StateBit::CheckpointCert`].
    pub const TAG_CHECKPOINT_CERT: u8 = 6;

    /// Appends the canonical layout:
    /// - Poc: `1 || node(32) || e_fixed_be64 || passed(1: 0 or 1) || validator(32)`
    /// - Liveness: `2 || observer(32) || subject(32) || online(1)`
    /// - Dispatch: `3 || len_be32 || bytes`
    /// - Receipt: `4 || the receipt's body fields (201, [`ComputeReceipt::put_fields`]) ||
    ///   node_signature(64) || user_signature(64)`
    /// - ParentCommit: `5 || round_be32 || count_be32 || (signer(32) || signature(64))*`
    /// - CheckpointCert: `6 || checkpoint signing bytes(233) || count_be32 ||
    ///   (signer(32) || signature(64))*`
    pub fn encode_canonical(&self, out: &mut Vec<u8>) {
        match self {
            StateBit::Poc(p) => {
                out.push(Self::TAG_POC);
                out.extend_from_slice(&p.node.0);
                out.extend_from_slice(&p.e_fixed.to_be_bytes());
                out.push(u8::from(p.passed));
                out.extend_from_slice(&p.validator.0);
            }
            StateBit::Liveness(l) => {
                out.push(Self::TAG_LIVENESS);
                out.extend_from_slice(&l.observer.0);
                out.extend_from_slice(&l.subject.0);
                out.push(u8::from(l.online));
            }
            StateBit::Dispatch(d) => {
                out.push(Self::TAG_DISPATCH);
                put_len_prefixed(out, &d.bytes);
            }
            StateBit::Receipt(r) => {
                out.push(Self::TAG_RECEIPT);
                r.put_fields(out);
                out.extend_from_slice(&r.node_signature.0);
                out.extend_from_slice(&r.user_signature.0);
            }
            StateBit::ParentCommit(c) => {
                out.push(Self::TAG_PARENT_COMMIT);
                out.extend_from_slice(&c.round.to_be_bytes());
                let count = u32::try_from(c.seals.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&count.to_be_bytes());
                for seal in &c.seals {
                    out.extend_from_slice(&seal.signer.0);
                    out.extend_from_slice(&seal.signature.0);
                }
            }
            StateBit::CheckpointCert(sc) => {
                out.push(Self::TAG_CHECKPOINT_CERT);
                out.extend_from_slice(&sc.checkpoint.signing_bytes());
                let count = u32::try_from(sc.signatures.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&count.to_be_bytes());
                for s in &sc.signatures {
                    out.extend_from_slice(&s.signer.0);
                    out.extend_from_slice(&s.signature.0);
                }
            }
        }
    }

    /// The canonical layout as a new vector.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_canonical(&mut out);
        out
    }
}
