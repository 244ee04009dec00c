//! The EMC DAO's generic nervous system functions ([`emc_types::governance`], the one list)
//! as the stand-in's registration payloads.

pub use emc_types::governance::{EmcCanister, EmcFunction, EMC_FUNCTIONS};

use crate::types::NervousSystemFunction;
use candid::Principal;

/// The deployed canister ids the functions target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmcCanisters {
    /// Registry.
    pub registry: Principal,
    /// Epochs.
    pub epochs: Principal,
    /// Market.
    pub market: Principal,
    /// DAO (grants, airdrop).
    pub dao: Principal,
}

/// The `AddGenericNervousSystemFunction` payloads for deployed canisters.
pub fn emc_functions(c: &EmcCanisters) -> Vec<NervousSystemFunction> {
    EMC_FUNCTIONS
        .iter()
        .map(|e| {
            let id = match e.canister {
                EmcCanister::Registry => c.registry,
                EmcCanister::Epochs => c.epochs,
                EmcCanister::Market => c.market,
                EmcCanister::Dao => c.dao,
            };
            NervousSystemFunction {
                id: e.id,
                name: e.name.into(),
                description: None,
                target_canister_id: id,
                target_method_name: e.target_method(),
                validator_canister_id: id,
                validator_method_name: e.validator_method(),
            }
        })
        .collect()
}
