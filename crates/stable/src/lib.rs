//! Shared pieces of the canisters' stable storage (ic-stable-structures).

#![forbid(unsafe_code)]

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

#[cfg(test)]
mod tests {
    use super::*;

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
