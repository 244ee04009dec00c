//! Shared pieces of the canisters' stable storage (ic-stable-structures): [`Cand`], a
//! candid-encoded `Storable`, and [`Header`], the magic + layout version at the start of every
//! canister's config cell; and [`certify`], the IC hash tree of the certified data the ledger
//! and the sockets canister publish (their ICRC-3 tips).

#![forbid(unsafe_code)]

pub mod certify;

use candid::CandidType;
use ic_stable_structures::storable::{Bound, Storable};
use serde::de::DeserializeOwned;
use std::borrow::Cow;

/// A candid-encoded value in a stable structure. Values are written only by the canister that
/// owns the memory, from well-formed Rust values; a value that does not decode (never expected)
/// reads as `None`, and the caller reports a storage error instead of trapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cand<T>(pub Option<T>);

impl<T: CandidType + DeserializeOwned> Storable for Cand<T> {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.encode())
    }

    fn into_bytes(self) -> Vec<u8> {
        self.encode()
    }

    fn from_bytes(bytes: Cow<'_, [u8]>) -> Self {
        Cand(candid::decode_one(&bytes).ok())
    }

    const BOUND: Bound = Bound::Unbounded;
}

impl<T: CandidType> Cand<T> {
    fn encode(&self) -> Vec<u8> {
        match &self.0 {
            Some(v) => candid::encode_one(v).unwrap_or_default(),
            None => Vec::new(),
        }
    }
}

/// The header every canister writes at the start of its config cell: four magic bytes naming
/// the canister, then the stable-memory layout version as a little-endian `u32`, then the
/// payload (the canister's candid-encoded config).
///
/// ```text
/// offset 0..4   magic (e.g. b"EMCL")
/// offset 4..8   layout version, u32 LE
/// offset 8..    payload
/// ```
///
/// A build reads layouts up to its own version (older ones migrate step by step in the
/// canister) and refuses a newer one: no downgrades.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The canister's magic bytes.
    pub magic: [u8; 4],
    /// The layout version this build writes (and the newest it reads).
    pub version: u32,
}

/// Why a config cell's header was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The cell holds nothing: the canister was never initialized.
    #[error("no header: the cell is empty")]
    Empty,
    /// The cell holds fewer bytes than a header.
    #[error("truncated header: {len} of {} bytes", Header::LEN)]
    Truncated {
        /// How many bytes the cell holds.
        len: usize,
    },
    /// The magic bytes are another canister's (or garbage).
    #[error("bad magic {found:02x?}, expected {expected:02x?}")]
    BadMagic {
        /// The bytes found.
        found: [u8; 4],
        /// The bytes this canister writes.
        expected: [u8; 4],
    },
    /// The layout was written by a newer build; downgrades are refused.
    #[error("stable memory has layout version {found}, this build supports up to {supported}")]
    Newer {
        /// The stored layout version.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
}

/// Why a canister's state could not be installed or loaded (the registry, epochs, market and
/// sockets canisters share it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// Bad init argument.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// `init` on a memory that already holds state.
    #[error("the stable memory already holds this canister's state")]
    AlreadyInitialized,
    /// `load` on a memory without state.
    #[error("the stable memory holds no state of this canister")]
    NotInitialized,
    /// The stored layout is newer than this build.
    #[error("stored layout version {stored} is newer than this build's {supported}: refusing to downgrade")]
    Downgrade {
        /// Version found in stable memory.
        stored: u32,
        /// Version this build supports.
        supported: u32,
    },
    /// Stable memory could not be written or decoded.
    #[error("storage error: {0}")]
    Storage(String),
}

impl From<HeaderError> for LoadError {
    /// An empty or short config cell holds no state; another canister's magic is a storage
    /// error; a newer layout is a refused downgrade.
    fn from(e: HeaderError) -> Self {
        match e {
            HeaderError::Newer { found, supported } => LoadError::Downgrade {
                stored: found,
                supported,
            },
            HeaderError::Empty | HeaderError::Truncated { .. } => LoadError::NotInitialized,
            e @ HeaderError::BadMagic { .. } => LoadError::Storage(e.to_string()),
        }
    }
}

/// A header that passed [`Header::check_versioned`]: the stored layout version (at most the
/// build's) and the payload after the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked<'a> {
    /// The layout version the bytes were written with.
    pub version: u32,
    /// The bytes after the header.
    pub payload: &'a [u8],
}

impl Header {
    /// The header's length in bytes.
    pub const LEN: usize = 8;

    /// A header with `magic` and layout `version`.
    pub const fn new(magic: [u8; 4], version: u32) -> Self {
        Header { magic, version }
    }

    /// The eight header bytes: magic, then the version as u32 LE.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[..4].copy_from_slice(&self.magic);
        b[4..].copy_from_slice(&self.version.to_le_bytes());
        b
    }

    /// The header followed by `payload`, as the config cell stores it.
    pub fn encode(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::LEN + payload.len());
        out.extend_from_slice(&self.to_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// Checks `bytes` against this header and returns the stored version and the payload.
    /// Any version up to `self.version` passes (the caller migrates older layouts).
    pub fn check_versioned<'a>(&self, bytes: &'a [u8]) -> Result<Checked<'a>, HeaderError> {
        if bytes.is_empty() {
            return Err(HeaderError::Empty);
        }
        let (Some(magic), Some(version)) = (bytes.get(..4), bytes.get(4..Self::LEN)) else {
            return Err(HeaderError::Truncated { len: bytes.len() });
        };
        if magic != self.magic {
            let mut found = [0u8; 4];
            found.copy_from_slice(magic);
            return Err(HeaderError::BadMagic {
                found,
                expected: self.magic,
            });
        }
        let mut v = [0u8; 4];
        v.copy_from_slice(version);
        let found = u32::from_le_bytes(v);
        if found > self.version {
            return Err(HeaderError::Newer {
                found,
                supported: self.version,
            });
        }
        Ok(Checked {
            version: found,
            payload: &bytes[Self::LEN..],
        })
    }

    /// Checks `bytes` against this header and returns the payload (for a canister with a
    /// single layout so far, where every accepted version reads the same way).
    pub fn check<'a>(&self, bytes: &'a [u8]) -> Result<&'a [u8], HeaderError> {
        self.check_versioned(bytes).map(|c| c.payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Header = Header::new(*b"EMCX", 3);

    #[test]
    fn header_layout_is_magic_then_u32_le_version_then_payload() {
        assert_eq!(
            H.encode(b"cfg"),
            [b'E', b'M', b'C', b'X', 3, 0, 0, 0, b'c', b'f', b'g']
        );
        assert_eq!(Header::new(*b"EMCL", 1).to_bytes(), *b"EMCL\x01\0\0\0");
        assert_eq!(
            Header::new(*b"EMCE", 0x0102_0304).to_bytes()[4..],
            [4, 3, 2, 1]
        );
    }

    #[test]
    fn header_check_returns_the_payload_for_this_and_older_versions() {
        assert_eq!(H.check(&H.encode(b"payload")), Ok(&b"payload"[..]));
        assert_eq!(H.check(&H.encode(b"")), Ok(&b""[..]));
        let older = Header::new(*b"EMCX", 2).encode(b"old");
        assert_eq!(
            H.check_versioned(&older),
            Ok(Checked {
                version: 2,
                payload: b"old"
            })
        );
        let v0 = Header::new(*b"EMCX", 0).encode(b"");
        assert_eq!(H.check_versioned(&v0).map(|c| c.version), Ok(0));
    }

    #[test]
    fn header_check_refuses_newer_layouts() {
        let newer = Header::new(*b"EMCX", 4).encode(b"x");
        assert_eq!(
            H.check(&newer),
            Err(HeaderError::Newer {
                found: 4,
                supported: 3
            })
        );
        let max = Header::new(*b"EMCX", u32::MAX).encode(b"");
        assert_eq!(
            H.check(&max),
            Err(HeaderError::Newer {
                found: u32::MAX,
                supported: 3
            })
        );
    }

    #[test]
    fn header_check_refuses_empty_short_and_foreign_cells() {
        assert_eq!(H.check(&[]), Err(HeaderError::Empty));
        for len in 1..Header::LEN {
            let bytes = &H.encode(b"")[..len];
            assert_eq!(H.check(bytes), Err(HeaderError::Truncated { len }));
        }
        let other = Header::new(*b"EMCL", 3).encode(b"x");
        assert_eq!(
            H.check(&other),
            Err(HeaderError::BadMagic {
                found: *b"EMCL",
                expected: *b"EMCX"
            })
        );
        // The magic is checked before the version: a foreign cell is never "newer".
        let foreign_newer = Header::new(*b"ABCD", 99).encode(b"");
        assert!(matches!(
            H.check(&foreign_newer),
            Err(HeaderError::BadMagic { .. })
        ));
    }

    #[test]
    fn header_errors_explain_themselves() {
        let e = HeaderError::Newer {
            found: 2,
            supported: 1,
        };
        assert_eq!(
            e.to_string(),
            "stable memory has layout version 2, this build supports up to 1"
        );
        assert_eq!(
            HeaderError::Truncated { len: 3 }.to_string(),
            "truncated header: 3 of 8 bytes"
        );
    }

    #[test]
    fn values_round_trip_and_garbage_reads_as_none() {
        let v = Cand(Some((7u64, String::from("x"))));
        let bytes = v.to_bytes().into_owned();
        assert_eq!(Cand::<(u64, String)>::from_bytes(Cow::Owned(bytes)), v);
        assert_eq!(
            Cand::<u64>::from_bytes(Cow::Borrowed(b"garbage")),
            Cand(None)
        );
        assert_eq!(Cand::<u64>(None).to_bytes().len(), 0);
    }
}
