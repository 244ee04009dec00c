//! The canister's Candid interface, built from the same Rust types the shell uses (methods
//! sorted by name, `EpochsArg` as the class argument). `candid/epochs.did` is this text;
//! `tests/it/interface.rs` keeps them equal (`UPDATE_DID=1 cargo test -p emc-epochs --test it
//! interface::` rewrites the file) and checks that the wasm exports it.

use crate::types::*;
use candid::Principal;
use emc_candid_service::ServiceBuilder;
use emc_types::{Checkpoint, CheckpointSignature, NodeId, ValidatorSet};

type R<T> = Result<T, EpochsError>;

/// The `.did` text of the epochs canister.
pub fn service_did() -> String {
    let mut s = ServiceBuilder::new();
    macro_rules! m {
        ($($t:tt)*) => { emc_candid_service::method!(s, $($t)*) };
    }
    m!("submit_checkpoint", false, (Checkpoint, Vec<CheckpointSignature>) -> (R<StoredCheckpoint>));
    m!("submit_evidence", false, (EquivocationEvidence) -> (R<EquivocationOutcome>));
    m!("declare_epoch_data", false, (EpochDataHeader) -> (R<EpochSummary>));
    m!("upload_chunk", false, (DataChunk) -> (R<EpochSummary>));
    m!("close_epoch", false, (u64) -> (R<EpochSummary>));
    m!("run_payouts", false, () -> (u64));
    m!("validate_set_params", true, (Params) -> (Result<String, String>));
    m!("execute_set_params", false, (Params) -> ());
    m!("mint_trading_reward", false, (TradingMint) -> (R<u64>));
    m!("validate_set_governance", true, (Principal) -> (Result<String, String>));
    m!("execute_set_governance", false, (Principal) -> ());
    m!("validate_set_market", true, (Option<Principal>) -> (Result<String, String>));
    m!("execute_set_market", false, (Option<Principal>) -> ());
    m!("mint_dao_reward", false, (DaoMint) -> (R<u64>));
    m!("validate_set_dao", true, (Option<Principal>) -> (Result<String, String>));
    m!("execute_set_dao", false, (Option<Principal>) -> ());
    m!("final_receipts_root", true, (u64) -> (ReceiptsRoot));
    m!("validate_resolve_payout", true, (ResolvePayoutArgs) -> (Result<String, String>));
    m!("execute_resolve_payout", false, (ResolvePayoutArgs) -> ());
    m!("checkpoint", true, (u64) -> (Option<StoredCheckpoint>));
    m!("latest_checkpoint", true, () -> (Option<StoredCheckpoint>));
    m!("epoch_summary", true, (u64) -> (Option<EpochSummary>));
    m!("node_reward", true, (NodeId, u64) -> (Option<Payout>));
    m!("node_history", true, (NodeId, u64, u32) -> (Vec<NodeEpoch>));
    m!("owner_rewards", true, (Principal, u64) -> (Vec<Payout>));
    m!("total_emitted", true, () -> (u64));
    m!("pending_payouts", true, () -> (Vec<Payout>));
    m!("validator_set", true, (u64) -> (Option<ValidatorSet>));
    m!("get_config", true, () -> (Config));
    m!("stats", true, () -> (Stats));
    s.did::<EpochsArg>()
}
