//! The call interface every backend implements, and its candid-typed helpers.

use crate::IcError;
use async_trait::async_trait;
use candid::de::DecoderConfig;
use candid::utils::ArgumentEncoder;
use candid::{CandidType, Principal};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::sync::Arc;

/// Candid values a reply may skip (fields or variants the caller's types do not know) before
/// decoding fails: bounds the work on an unexpected reply, with room for newer canisters.
const SKIPPING_QUOTA: usize = 100_000;

/// Canister calls as one identity: raw candid bytes in, raw reply bytes out.
///
/// Implemented by [`crate::AgentClient`] (a replica or mainnet, through ic-agent) and
/// [`crate::EmbeddedClient`] (the in-process embedded IC). Code that talks to canisters takes
/// an `Arc<dyn IcClient>` and works on both.
#[async_trait]
pub trait IcClient: Send + Sync {
    /// The principal calls are made as.
    fn principal(&self) -> Principal;

    /// A query call: runs on one replica, changes nothing.
    async fn query(
        &self,
        canister: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, IcError>;

    /// An update call, awaited until the IC has its result.
    async fn update(
        &self,
        canister: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, IcError>;
}

#[async_trait]
impl<T: IcClient + ?Sized> IcClient for Arc<T> {
    fn principal(&self) -> Principal {
        (**self).principal()
    }

    async fn query(
        &self,
        canister: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, IcError> {
        (**self).query(canister, method, arg).await
    }

    async fn update(
        &self,
        canister: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, IcError> {
        (**self).update(canister, method, arg).await
    }
}

/// Candid-typed calls on any [`IcClient`]: the arguments are a tuple (`()`, `(a,)`, `(a, b)`,
/// …), the reply is one candid value.
pub trait IcClientExt: IcClient {
    /// A query with candid arguments and a single candid result.
    fn query_candid<A, R>(
        &self,
        canister: Principal,
        method: &str,
        args: A,
    ) -> impl Future<Output = Result<R, IcError>> + Send + '_
    where
        A: ArgumentEncoder,
        R: CandidType + DeserializeOwned,
    {
        let arg = encode(args);
        let method = method.to_owned();
        async move {
            let reply = self.query(canister, &method, arg?).await?;
            decode(&reply, &method)
        }
    }

    /// An update with candid arguments and a single candid result.
    fn update_candid<A, R>(
        &self,
        canister: Principal,
        method: &str,
        args: A,
    ) -> impl Future<Output = Result<R, IcError>> + Send + '_
    where
        A: ArgumentEncoder,
        R: CandidType + DeserializeOwned,
    {
        let arg = encode(args);
        let method = method.to_owned();
        async move {
            let reply = self.update(canister, &method, arg?).await?;
            decode(&reply, &method)
        }
    }
}

impl<T: IcClient + ?Sized> IcClientExt for T {}

/// Candid-encodes an argument tuple.
pub fn encode<A: ArgumentEncoder>(args: A) -> Result<Vec<u8>, IcError> {
    candid::utils::encode_args(args).map_err(|e| IcError::Encode(e.to_string()))
}

/// Decodes a reply holding one candid value of type `R` (the reply of `method`, for the
/// error message).
pub fn decode<R: CandidType + DeserializeOwned>(reply: &[u8], method: &str) -> Result<R, IcError> {
    let mut config = DecoderConfig::new();
    config.set_skipping_quota(SKIPPING_QUOTA);
    candid::utils::decode_one_with_config(reply, &config).map_err(|e| {
        IcError::Decode(format!(
            "reply of {method} ({} bytes) is not a {}: {e}",
            reply.len(),
            std::any::type_name::<R>()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_roundtrip_and_errors() {
        let bytes = encode((7u64, "x".to_string())).unwrap();
        assert_eq!(candid::decode_args::<(u64, String)>(&bytes).unwrap().1, "x");
        let one = encode((42u64,)).unwrap();
        assert_eq!(decode::<u64>(&one, "m").unwrap(), 42);
        assert!(matches!(
            decode::<String>(&one, "m"),
            Err(IcError::Decode(_))
        ));
        assert!(matches!(
            decode::<u64>(b"garbage", "m"),
            Err(IcError::Decode(_))
        ));
        assert!(matches!(decode::<u64>(&[], "m"), Err(IcError::Decode(_))));
    }
}
