//! The canister's Candid interface, built from the Rust types the shell uses.
//! `candid/dao.did` is this text (`UPDATE_DID=1 cargo test -p emc-dao --test it interface::`
//! rewrites it).

use crate::types::*;
use candid::Principal;
use emc_candid_service::ServiceBuilder;

type R<T> = Result<T, DaoError>;

/// The `.did` text of the DAO canister.
pub fn service_did() -> String {
    let mut s = ServiceBuilder::new();
    macro_rules! m {
        ($($t:tt)*) => { emc_candid_service::method!(s, $($t)*) };
    }
    m!("submit_application", false, (ApplicationArgs) -> (R<u64>));
    m!("withdraw_application", false, (u64) -> (R<()>));
    m!("claim_airdrop", false, (ClaimArgs) -> (R<u64>));
    m!("run_payments", false, () -> (u64));
    m!("validate_grant", true, (GrantArgs) -> (Result<String, String>));
    m!("execute_grant", false, (GrantArgs) -> ());
    m!("validate_create_airdrop_batch", true, (AirdropBatchArgs) -> (Result<String, String>));
    m!("execute_create_airdrop_batch", false, (AirdropBatchArgs) -> ());
    m!("validate_resolve_payment", true, (ResolvePaymentArgs) -> (Result<String, String>));
    m!("execute_resolve_payment", false, (ResolvePaymentArgs) -> ());
    m!("validate_set_governance", true, (Principal) -> (Result<String, String>));
    m!("execute_set_governance", false, (Principal) -> ());
    m!("application", true, (u64) -> (Option<Application>));
    m!("list_applications", true, (u64, u32) -> (Vec<Application>));
    m!("airdrop_batch", true, (u64) -> (Option<AirdropBatch>));
    m!("payment", true, (u64) -> (Option<Payment>));
    m!("get_config", true, () -> (Config));
    m!("stats", true, () -> (Stats));
    s.did::<InitArgs>()
}
