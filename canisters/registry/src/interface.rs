//! The canister's Candid interface, built from the same Rust types the shell uses, the way
//! `ic_cdk::export_candid!()` builds it (methods sorted by name, `RegistryArg` as the class
//! argument). `candid/registry.did` is this text; `tests/it/interface.rs` keeps them equal
//! (`UPDATE_DID=1 cargo test -p emc-registry --test it interface::` rewrites the file), and the
//! workspace test compares the wasm's exported interface with the file.

use crate::types::*;
use candid::Principal;
use emc_candid_service::ServiceBuilder;
use emc_types::NodeId;
use icrc_ledger_types::icrc1::account::Account;
use serde_bytes::ByteBuf;

type R<T> = Result<T, RegistryError>;

/// The `.did` text of the registry canister.
pub fn service_did() -> String {
    let mut s = ServiceBuilder::new();
    macro_rules! m {
        ($($t:tt)*) => { emc_candid_service::method!(s, $($t)*) };
    }
    m!("registration_nonce", false, () -> (R<ByteBuf>));
    m!("register", false, (RegisterArgs) -> (R<Node>));
    m!("update_node", false, (UpdateNodeArgs) -> (R<Node>));
    m!("retire_node", false, (NodeId) -> (R<Node>));
    m!("requeue_candidate", false, (NodeId) -> (R<CandidateInfo>));
    m!("stake", false, (StakeArgs) -> (R<StakeInfo>));
    m!("renew_stake", false, (RenewArgs) -> (R<Term>));
    m!("retry_pending", false, () -> (u64));
    m!("apply_penalties", false, (u64, Vec<PenaltyReport>) -> (R<Vec<PenaltyApplied>>));
    m!("report_compute_e", false, (NodeId, u64) -> (R<()>));
    m!("report_compute_es", false, (Vec<ComputeE>) -> (R<u32>));
    m!("open_impeachment", false, (OpenCaseArgs) -> (R<Case>));
    m!("report_key_leak", false, (NodeId) -> (R<Case>));
    m!("vote_impeachment", false, (VoteArgs) -> (R<Case>));
    m!("validate_set_params", true, (Params) -> (Result<String, String>));
    m!("execute_set_params", false, (Params) -> ());
    m!("validate_set_governance", true, (Principal) -> (Result<String, String>));
    m!("execute_set_governance", false, (Principal) -> ());
    m!("validate_set_treasury", true, (Account) -> (Result<String, String>));
    m!("execute_set_treasury", false, (Account) -> ());
    m!("validate_set_epochs_canister", true, (Option<Principal>) -> (Result<String, String>));
    m!("execute_set_epochs_canister", false, (Option<Principal>) -> ());
    m!("validate_resolve_movement", true, (ResolveMovementArgs) -> (Result<String, String>));
    m!("execute_resolve_movement", false, (ResolveMovementArgs) -> ());
    m!("get_node", true, (NodeId) -> (Option<Node>));
    m!("nodes_by_role", true, (Role, Option<NodeId>, u32) -> (Vec<Node>));
    m!("nodes_by_owner", true, (Principal, Option<NodeId>, u32) -> (Vec<Node>));
    m!("my_nodes", true, (Option<NodeId>, u32) -> (Vec<Node>));
    m!("node_stake", true, (NodeId) -> (Option<StakeInfo>));
    m!("candidate", true, (NodeId) -> (Option<CandidateInfo>));
    m!("e_multiplier", true, (NodeId) -> (Option<u64>));
    m!("validator_set", true, (u64) -> (Option<ValidatorSetSnapshot>));
    m!("epoch_nodes", true, (EpochNodesArgs) -> (Option<EpochNodesPage>));
    m!("current_epoch", true, () -> (EpochInfo));
    m!("movement", true, (u64) -> (Option<Movement>));
    m!("pending_movements", true, () -> (Vec<Movement>));
    m!("impeachment_case", true, (u64) -> (Option<Case>));
    m!("get_config", true, () -> (Config));
    m!("stats", true, () -> (Stats));
    s.did::<RegistryArg>()
}
