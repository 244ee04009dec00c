//! Wire types shared by the EMC edge network and the IC canisters.
//!
//! Everything here derives `candid::CandidType` and serde so that the same values travel over
//! candid (to the canisters) and over the edge network. Candid and serde encodings are **not**
//! canonical, so every value that is hashed or signed has an explicit, fixed byte layout
//! ([`BlockHeader::canonical_bytes`], [`Checkpoint::signing_bytes`], [`StateBit::encode_canonical`],
//! [`ValidatorSet::id`]). Each layout starts with a domain tag (for example `b"emc-checkpoint-v1"`)
//! so that a signature made for one purpose can never be replayed for another.
//!
//! Integers in canonical layouts are big-endian; variable-length fields are prefixed with their
//! length as a big-endian `u32`. The crate does no IO and compiles for `wasm32-unknown-unknown`.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod block;
mod checkpoint;
pub mod epoch;
pub mod governance;
mod ids;
pub mod merkle;
pub mod pool;
mod receipt;
mod role;
mod state;
mod validator;

pub use block::{payload_root, Block, BlockHeader, BLOCK_DOMAIN, PAYLOAD_DOMAIN};
pub use checkpoint::{
    Checkpoint, CheckpointSignature, SignedCheckpoint, SummaryAccumulator, CHECKPOINT_DOMAIN,
};
pub use ids::{Hash, NodeId, Signature, ZERO_HASH};
pub use pool::{CosignError, Cosignature};
pub use receipt::{ComputeReceipt, MeterUnit, RECEIPT_DOMAIN};
pub use role::{role_name, Role, UnknownRole};
pub use state::{
    DispatchRecord, LivenessObservation, ParentCommit, PocResult, Seal, StateBit, E_SCALE,
};
pub use validator::{ValidatorSet, ValidatorSetError, VALIDATOR_SET_DOMAIN};

/// SHA-256 over the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> Hash {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p);
    }
    Hash(h.finalize().into())
}

/// Appends `bytes` prefixed with its length as a big-endian `u32` (canonical layouts only).
///
/// Lengths above `u32::MAX` cannot occur for the types in this crate (blocks are capped far
/// below by the network layer); they are clamped, which keeps the function total.
pub fn put_len_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}
