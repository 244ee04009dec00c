//! The canister's Candid interface, built from the same Rust types the shell uses (methods
//! sorted by name, `SocketsArg` as the class argument). `candid/sockets.did` is this text;
//! `tests/it/interface.rs` keeps them equal (`UPDATE_DID=1 cargo test -p emc-sockets --test it
//! interface::` rewrites the file) and checks that the wasm exports it.

use crate::types::*;
use candid::Nat;
use emc_candid_service::ServiceBuilder;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc3::archive::{GetArchivesArgs, GetArchivesResult};
use icrc_ledger_types::icrc3::blocks::{
    GetBlocksRequest, GetBlocksResult, ICRC3DataCertificate, SupportedBlockType,
};

type Meta = Vec<(String, Value)>;

/// The `.did` text of the sockets canister.
pub fn service_did() -> String {
    let mut s = ServiceBuilder::new();
    macro_rules! m {
        ($($t:tt)*) => { emc_candid_service::method!(s, $($t)*) };
    }
    m!("icrc7_collection_metadata", true, () -> (Meta));
    m!("icrc7_symbol", true, () -> (String));
    m!("icrc7_name", true, () -> (String));
    m!("icrc7_description", true, () -> (Option<String>));
    m!("icrc7_logo", true, () -> (Option<String>));
    m!("icrc7_total_supply", true, () -> (Nat));
    m!("icrc7_supply_cap", true, () -> (Option<Nat>));
    m!("icrc7_max_query_batch_size", true, () -> (Option<Nat>));
    m!("icrc7_max_update_batch_size", true, () -> (Option<Nat>));
    m!("icrc7_default_take_value", true, () -> (Option<Nat>));
    m!("icrc7_max_take_value", true, () -> (Option<Nat>));
    m!("icrc7_max_memo_size", true, () -> (Option<Nat>));
    m!("icrc7_atomic_batch_transfers", true, () -> (Option<bool>));
    m!("icrc7_tx_window", true, () -> (Option<Nat>));
    m!("icrc7_permitted_drift", true, () -> (Option<Nat>));
    m!("icrc7_token_metadata", true, (Vec<Nat>) -> (Vec<Option<Meta>>));
    m!("icrc7_owner_of", true, (Vec<Nat>) -> (Vec<Option<Account>>));
    m!("icrc7_balance_of", true, (Vec<Account>) -> (Vec<Nat>));
    m!("icrc7_tokens", true, (Option<Nat>, Option<Nat>) -> (Vec<Nat>));
    m!("icrc7_tokens_of", true, (Account, Option<Nat>, Option<Nat>) -> (Vec<Nat>));
    m!("icrc7_transfer", false, (Vec<TransferArg>) -> (Vec<Option<TransferResult>>));
    m!("icrc37_max_approvals_per_token_or_collection", true, () -> (Option<Nat>));
    m!("icrc37_max_revoke_approvals", true, () -> (Option<Nat>));
    m!("icrc37_approve_tokens", false, (Vec<ApproveTokenArg>) -> (Vec<Option<ApproveTokenResult>>));
    m!("icrc37_approve_collection", false, (Vec<ApproveCollectionArg>) -> (Vec<Option<ApproveCollectionError>>));
    m!("icrc37_revoke_token_approvals", false, (Vec<RevokeTokenApprovalArg>) -> (Vec<Option<RevokeTokenApprovalResponse>>));
    m!("icrc37_revoke_collection_approvals", false, (Vec<RevokeCollectionApprovalArg>) -> (Vec<Option<RevokeCollectionApprovalResult>>));
    m!("icrc37_is_approved", true, (Vec<IsApprovedArg>) -> (Vec<bool>));
    m!("icrc37_get_token_approvals", true, (Nat, Option<TokenApproval>, Option<Nat>) -> (Vec<TokenApproval>));
    m!("icrc37_get_collection_approvals", true, (Account, Option<CollectionApproval>, Option<Nat>) -> (Vec<CollectionApproval>));
    m!("icrc37_transfer_from", false, (Vec<TransferFromArg>) -> (Vec<Option<TransferFromResult>>));
    m!("icrc10_supported_standards", true, () -> (Vec<SupportedStandard>));
    m!("icrc3_get_blocks", true, (Vec<GetBlocksRequest>) -> (GetBlocksResult));
    m!("icrc3_get_archives", true, (GetArchivesArgs) -> (GetArchivesResult));
    m!("icrc3_supported_block_types", true, () -> (Vec<SupportedBlockType>));
    m!("icrc3_get_tip_certificate", true, () -> (Option<ICRC3DataCertificate>));
    m!("mint_socket", false, (MintSocketArgs) -> (Result<Nat, SocketError>));
    m!("socket", true, (Nat) -> (Option<SocketView>));
    m!("get_config", true, () -> (Config));
    s.did::<SocketsArg>()
}

/// `icrc10_supported_standards`.
pub fn supported_standards() -> Vec<SupportedStandard> {
    [
        (
            "ICRC-7",
            "https://github.com/dfinity/ICRC/blob/main/ICRCs/ICRC-7/ICRC-7.md",
        ),
        (
            "ICRC-10",
            "https://github.com/dfinity/ICRC/blob/main/ICRCs/ICRC-10/ICRC-10.md",
        ),
        (
            "ICRC-37",
            "https://github.com/dfinity/ICRC/blob/main/ICRCs/ICRC-37/ICRC-37.md",
        ),
        (
            "ICRC-3",
            "https://github.com/dfinity/ICRC-1/tree/main/standards/ICRC-3",
        ),
    ]
    .iter()
    .map(|(n, u)| SupportedStandard {
        name: n.to_string(),
        url: u.to_string(),
    })
    .collect()
}
