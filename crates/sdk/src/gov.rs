//! Governance proposals' payloads: the SNS generic functions of `docs/governance.md`
//! ([`emc_types::governance::EMC_FUNCTIONS`], ids 1000-1017), and their payloads encoded from
//! candid text, checked against the canister's `.did` and decoded back into the canister's own
//! Rust type. Pure: no IO.

use crate::SdkError;
use candid::types::Type;
use candid::{IDLArgs, TypeEnv};
use emc_types::governance::{EmcCanister, EMC_FUNCTIONS};
use serde::Serialize;

const REGISTRY_DID: &str = include_str!("../../../candid/registry.did");
const EPOCHS_DID: &str = include_str!("../../../candid/epochs.did");
const MARKET_DID: &str = include_str!("../../../candid/market.did");
const DAO_DID: &str = include_str!("../../../candid/dao.did");

/// The canister a generic function targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The node registry.
    Registry,
    /// The epochs canister.
    Epochs,
    /// The market.
    Market,
    /// The DAO canister (grants, airdrop).
    Dao,
}

impl Target {
    fn did(self) -> &'static str {
        match self {
            Target::Registry => REGISTRY_DID,
            Target::Epochs => EPOCHS_DID,
            Target::Market => MARKET_DID,
            Target::Dao => DAO_DID,
        }
    }
}

impl From<EmcCanister> for Target {
    fn from(c: EmcCanister) -> Target {
        match c {
            EmcCanister::Registry => Target::Registry,
            EmcCanister::Epochs => Target::Epochs,
            EmcCanister::Market => Target::Market,
            EmcCanister::Dao => Target::Dao,
        }
    }
}

/// One SNS generic nervous-system function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GenericFunction {
    /// The SNS function id.
    pub id: u64,
    /// Its name.
    pub name: &'static str,
    /// The canister it calls.
    pub target: Target,
    /// The method an adopted proposal calls.
    pub method: String,
    /// The method that validates the payload before the vote.
    pub validator: String,
    /// The payload's candid type.
    pub payload: &'static str,
}

/// The functions a DAO registers (`docs/governance.md`), in id order.
pub fn functions() -> Vec<GenericFunction> {
    EMC_FUNCTIONS
        .iter()
        .map(|f| GenericFunction {
            id: f.id,
            name: f.name,
            target: f.canister.into(),
            method: f.target_method(),
            validator: f.validator_method(),
            payload: f.payload,
        })
        .collect()
}

/// The function with this id.
pub fn function(id: u64) -> Result<GenericFunction, SdkError> {
    functions().into_iter().find(|g| g.id == id).ok_or_else(|| {
        let (lo, hi) = (
            EMC_FUNCTIONS.first().map_or(0, |f| f.id),
            EMC_FUNCTIONS.last().map_or(0, |f| f.id),
        );
        SdkError::Input(format!(
            "no generic function {id}: the functions are {lo} to {hi} (`emc gov list`)"
        ))
    })
}

fn method_args(g: &GenericFunction) -> Result<(TypeEnv, Vec<Type>), SdkError> {
    let prog: candid_parser::IDLProg = g
        .target
        .did()
        .parse()
        .map_err(|e| SdkError::Config(format!("the embedded {:?} .did: {e}", g.target)))?;
    let mut env = TypeEnv::new();
    let actor = candid_parser::check_prog(&mut env, &prog)
        .map_err(|e| SdkError::Config(format!("the embedded {:?} .did: {e}", g.target)))?
        .ok_or_else(|| SdkError::Config(format!("the {:?} .did has no service", g.target)))?;
    let args = env
        .get_method(&actor, &g.method)
        .map_err(|e| SdkError::Config(format!("{}: {e}", g.method)))?
        .args
        .clone();
    Ok((env, args))
}

/// Decodes the payload into the canister's own Rust type: what the canister will decode.
fn check_typed(g: &GenericFunction, bytes: &[u8]) -> Result<(), SdkError> {
    use candid::utils::decode_one as d;
    use candid::Principal;
    let r = match g.id {
        1000 => d::<emc_registry::Params>(bytes).map(drop),
        1001 => d::<icrc_ledger_types::icrc1::account::Account>(bytes).map(drop),
        1002 | 1005 | 1012 | 1017 => d::<Option<Principal>>(bytes).map(drop),
        1009 | 1010 | 1011 | 1015 => d::<Principal>(bytes).map(drop),
        1013 => d::<emc_dao::GrantArgs>(bytes).map(drop),
        1014 => d::<emc_dao::AirdropBatchArgs>(bytes).map(drop),
        1016 => d::<emc_dao::ResolvePaymentArgs>(bytes).map(drop),
        1003 => d::<emc_registry::ResolveMovementArgs>(bytes).map(drop),
        1004 => d::<emc_epochs::Params>(bytes).map(drop),
        1006 => d::<emc_epochs::ResolvePayoutArgs>(bytes).map(drop),
        1007 => d::<emc_market::Params>(bytes).map(drop),
        1008 => d::<emc_market::ResolveTransferArgs>(bytes).map(drop),
        other => return Err(SdkError::Input(format!("no generic function {other}"))),
    };
    r.map_err(|e| SdkError::Input(format!("the payload is not a {}: {e}", g.payload)))
}

/// Encodes a payload written as candid text (`(record { ... })`, as for `dfx canister call`),
/// type-checked against the target method's argument in the canister's `.did`.
///
/// ```
/// let g = emc_sdk::gov::function(1005).unwrap();
/// let bytes = emc_sdk::gov::encode_payload(&g, "(opt principal \"aaaaa-aa\")").unwrap();
/// assert_eq!(emc_sdk::gov::decode_payload(&g, &bytes).unwrap(), "(opt principal \"aaaaa-aa\")");
/// assert!(emc_sdk::gov::encode_payload(&g, "(42 : nat)").is_err());
/// ```
pub fn encode_payload(g: &GenericFunction, text: &str) -> Result<Vec<u8>, SdkError> {
    let (env, types) = method_args(g)?;
    let args: IDLArgs = candid_parser::parse_idl_args(text)
        .map_err(|e| SdkError::Input(format!("the payload is not candid text: {e}")))?;
    let bytes = args.to_bytes_with_types(&env, &types).map_err(|e| {
        SdkError::Input(format!(
            "the payload does not match {}'s argument ({}): {e}",
            g.method, g.payload
        ))
    })?;
    check_typed(g, &bytes)?;
    Ok(bytes)
}

/// Renders a payload's bytes as candid text (what voters should see), checking them as
/// [`encode_payload`] does.
pub fn decode_payload(g: &GenericFunction, bytes: &[u8]) -> Result<String, SdkError> {
    let (env, types) = method_args(g)?;
    let args = IDLArgs::from_bytes_with_types(bytes, &env, &types)
        .map_err(|e| SdkError::Input(format!("the payload is not a {}: {e}", g.payload)))?;
    check_typed(g, bytes)?;
    Ok(args.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_resolves_in_its_did() {
        assert_eq!(functions().len(), EMC_FUNCTIONS.len());
        for g in functions() {
            let (_, args) = method_args(&g).unwrap();
            assert_eq!(args.len(), 1, "{}", g.method);
            let (_, vargs) = method_args(&GenericFunction {
                method: g.validator.clone(),
                ..g.clone()
            })
            .unwrap();
            assert_eq!(args, vargs, "validator and target take the same payload");
        }
        assert!(function(999).is_err());
        // Every function's payload type decodes into the canister's Rust type: a payload of
        // the wrong type is refused whatever the function.
        for g in functions() {
            assert!(
                encode_payload(&g, "(\"not a payload\")").is_err(),
                "{}",
                g.id
            );
        }
        let g = function(1009).unwrap();
        let b = encode_payload(&g, "(principal \"aaaaa-aa\")").unwrap();
        assert_eq!(
            candid::decode_one::<candid::Principal>(&b).unwrap(),
            candid::Principal::management_canister()
        );
        let g = function(1013).unwrap();
        let b = encode_payload(
            &g,
            "(record { application_id = 3 : nat64; amount_e8s = 5 : nat64 })",
        );
        assert!(b.is_ok(), "{b:?}");
    }

    #[test]
    fn every_params_default_roundtrips_through_text() {
        let cases = [
            (
                1000,
                candid::encode_one(emc_registry::Params::default()).unwrap(),
            ),
            (
                1004,
                candid::encode_one(emc_epochs::Params::default()).unwrap(),
            ),
            (
                1007,
                candid::encode_one(emc_market::Params::default()).unwrap(),
            ),
        ];
        for (id, bytes) in cases {
            let g = function(id).unwrap();
            let text = decode_payload(&g, &bytes).unwrap();
            let again = encode_payload(&g, &text).unwrap();
            assert_eq!(decode_payload(&g, &again).unwrap(), text, "function {id}");
        }
        assert_eq!(
            candid::decode_one::<emc_registry::Params>(
                &encode_payload(
                    &function(1000).unwrap(),
                    &decode_payload(
                        &function(1000).unwrap(),
                        &candid::encode_one(emc_registry::Params::default()).unwrap()
                    )
                    .unwrap()
                )
                .unwrap()
            )
            .unwrap(),
            emc_registry::Params::default()
        );
    }

    #[test]
    fn market_params_roundtrip() {
        let p = emc_market::Params::default();
        let bytes = candid::encode_one(&p).unwrap();
        let g = function(1007).unwrap();
        let text = decode_payload(&g, &bytes).unwrap();
        let again = encode_payload(&g, &text).unwrap();
        assert_eq!(candid::decode_one::<emc_market::Params>(&again).unwrap(), p);
        // A missing field is refused.
        assert!(encode_payload(&g, "(record { trading_fee_bps = 2000 : nat32 })").is_err());
    }

    #[test]
    fn resolve_transfer_payload() {
        let g = function(1008).unwrap();
        let b = encode_payload(
            &g,
            "(record { id = 7 : nat64; executed_in_block = opt (9 : nat64) })",
        )
        .unwrap();
        let a: emc_market::ResolveTransferArgs = candid::decode_one(&b).unwrap();
        assert_eq!((a.id, a.executed_in_block), (7, Some(9)));
        assert!(encode_payload(&g, "(record { id = \"seven\" })").is_err());
        assert!(encode_payload(&g, "not candid").is_err());
    }
}
