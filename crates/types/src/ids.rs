//! Identifiers, hashes and signatures: fixed-size byte arrays with hex `Debug`.

use candid::CandidType;
use serde::{Deserialize, Serialize};
use std::fmt;

fn hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

/// A node's identity: its ed25519 public key (32 bytes, compressed Edwards point).
///
/// The registry binds this key to an owner principal; peers and validators are known by it.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, CandidType, Serialize, Deserialize,
)]
pub struct NodeId(#[serde(with = "serde_bytes")] pub [u8; 32]);

impl NodeId {
    /// The raw public key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The first 4 bytes are enough to tell nodes apart in logs.
        f.write_str("NodeId(")?;
        hex(f, &self.0[..4])?;
        f.write_str("..)")
    }
}

/// A SHA-256 digest.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, CandidType, Serialize, Deserialize,
)]
pub struct Hash(#[serde(with = "serde_bytes")] pub [u8; 32]);

/// The all-zero hash: "no previous value" (the parent of the first block, the previous
/// checkpoint of the first checkpoint).
pub const ZERO_HASH: Hash = Hash([0; 32]);

impl Hash {
    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hash(")?;
        hex(f, &self.0[..6])?;
        f.write_str("..)")
    }
}

/// An ed25519 signature (64 bytes: R || s).
#[derive(Clone, Copy, PartialEq, Eq, Hash, CandidType, Serialize, Deserialize)]
pub struct Signature(#[serde(with = "serde_bytes")] pub [u8; 64]);

impl Signature {
    /// The raw signature bytes.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}

impl Default for Signature {
    fn default() -> Self {
        Signature([0; 64])
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signature(")?;
        hex(f, &self.0[..6])?;
        f.write_str("..)")
    }
}
