//! `candid/sockets.did` is the interface built from the shell's Rust types.
//! Regenerate with `UPDATE_DID=1 cargo test -p emc-sockets --test it interface::`.

#[test]
fn did_file_matches_the_rust_types() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../candid/sockets.did");
    let generated = emc_sockets::interface::service_did();
    if std::env::var("UPDATE_DID").is_ok() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        on_disk, generated,
        "candid/sockets.did is stale: rerun with UPDATE_DID=1"
    );
}

/// The methods and argument shapes of the standards' `.did` files (dfinity/ICRC
/// ICRCs/ICRC-7/ICRC-7.did and ICRCs/ICRC-37/ICRC-37.did, ICRC-3, ICRC-10): our service must be
/// a subtype of each, so that wallets and indexers built against them can call it.
#[test]
fn service_is_a_subtype_of_the_standards() {
    use candid_parser::utils::{service_compatible, CandidSource};
    let ours = emc_sockets::interface::service_did();
    for (name, std_did) in [("ICRC-7", ICRC7_DID), ("ICRC-37", ICRC37_DID)] {
        service_compatible(CandidSource::Text(&ours), CandidSource::Text(std_did))
            .unwrap_or_else(|e| panic!("not compatible with {name}: {e}"));
    }
}

/// The wasm built by `scripts/build-canisters.sh sockets` exports exactly this service.
#[test]
fn wasm_exports_the_did_file() {
    use candid_parser::utils::{service_equal, CandidSource};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../candid/sockets.did");
    let did = std::fs::read_to_string(&path).unwrap();
    let wasm = emc_test_env::canister_wasm("sockets");
    let exported = emc_embedded_ic::EmbeddedIc::candid_interface(&wasm).unwrap();
    service_equal(CandidSource::Text(&did), CandidSource::Text(&exported)).unwrap_or_else(|e| {
        panic!("the wasm's interface differs from candid/sockets.did: {e}\n{exported}")
    });
}

const ICRC7_DID: &str = r#"
type Subaccount = blob;
type Account = record { owner : principal; subaccount : opt Subaccount };
type Value = variant { Blob : blob; Text : text; Nat : nat; Int : int; Array : vec Value; Map : vec record { text; Value } };
type TransferArg = record { from_subaccount: opt blob; to : Account; token_id : nat; memo : opt blob; created_at_time : opt nat64 };
type TransferResult = variant { Ok : nat; Err : TransferError };
type TransferError = variant {
    NonExistingTokenId; InvalidRecipient; Unauthorized; TooOld;
    CreatedInFuture : record { ledger_time: nat64 };
    Duplicate : record { duplicate_of : nat };
    GenericError : record { error_code : nat; message : text };
    GenericBatchError : record { error_code : nat; message : text };
};
service : {
  icrc7_collection_metadata : () -> (vec record { text; Value } ) query;
  icrc7_symbol : () -> (text) query;
  icrc7_name : () -> (text) query;
  icrc7_description : () -> (opt text) query;
  icrc7_logo : () -> (opt text) query;
  icrc7_total_supply : () -> (nat) query;
  icrc7_supply_cap : () -> (opt nat) query;
  icrc7_max_query_batch_size : () -> (opt nat) query;
  icrc7_max_update_batch_size : () -> (opt nat) query;
  icrc7_default_take_value : () -> (opt nat) query;
  icrc7_max_take_value : () -> (opt nat) query;
  icrc7_max_memo_size : () -> (opt nat) query;
  icrc7_atomic_batch_transfers : () -> (opt bool) query;
  icrc7_tx_window : () -> (opt nat) query;
  icrc7_permitted_drift : () -> (opt nat) query;
  icrc7_token_metadata : (token_ids : vec nat) -> (vec opt vec record { text; Value }) query;
  icrc7_owner_of : (token_ids : vec nat) -> (vec opt Account) query;
  icrc7_balance_of : (vec Account) -> (vec nat) query;
  icrc7_tokens : (prev : opt nat, take : opt nat) -> (vec nat) query;
  icrc7_tokens_of : (account : Account, prev : opt nat, take : opt nat) -> (vec nat) query;
  icrc7_transfer : (vec TransferArg) -> (vec opt TransferResult);
  icrc10_supported_standards : () -> (vec record { name : text; url : text }) query;
}
"#;

const ICRC37_DID: &str = r#"
type Subaccount = blob;
type Account = record { owner : principal; subaccount : opt Subaccount };
type ApprovalInfo = record { spender : Account; from_subaccount : opt blob; expires_at : opt nat64; memo : opt blob; created_at_time : nat64 };
type ApproveTokenArg = record { token_id : nat; approval_info : ApprovalInfo };
type ApproveTokenResult = variant { Ok : nat; Err : ApproveTokenError };
type ApproveTokenError = variant {
    InvalidSpender; Unauthorized; NonExistingTokenId; TooOld;
    CreatedInFuture : record { ledger_time: nat64 };
    GenericError : record { error_code : nat; message : text };
    GenericBatchError : record { error_code : nat; message : text };
};
type ApproveCollectionArg = record { approval_info : ApprovalInfo };
type ApproveCollectionError = variant {
    InvalidSpender; TooOld;
    CreatedInFuture : record { ledger_time: nat64 };
    GenericError : record { error_code : nat; message : text };
    GenericBatchError : record { error_code : nat; message : text };
};
type RevokeTokenApprovalArg = record { spender : opt Account; from_subaccount : opt blob; token_id : nat; memo : opt blob; created_at_time : opt nat64 };
type RevokeTokenApprovalResponse = variant { Ok : nat; Err : RevokeTokenApprovalError };
type RevokeTokenApprovalError = variant {
    ApprovalDoesNotExist; Unauthorized; NonExistingTokenId; TooOld;
    CreatedInFuture : record { ledger_time: nat64 };
    GenericError : record { error_code : nat; message : text };
    GenericBatchError : record { error_code : nat; message : text };
};
type RevokeCollectionApprovalArg = record { spender : opt Account; from_subaccount : opt blob; memo : opt blob; created_at_time : opt nat64 };
type RevokeCollectionApprovalResult = variant { Ok : nat; Err : RevokeCollectionApprovalError };
type RevokeCollectionApprovalError = variant {
    ApprovalDoesNotExist; TooOld;
    CreatedInFuture : record { ledger_time: nat64 };
    GenericError : record { error_code : nat; message : text };
    GenericBatchError : record { error_code : nat; message : text };
};
type IsApprovedArg = record { spender : Account; from_subaccount : opt blob; token_id : nat };
type TokenApproval = record { token_id : nat; approval_info : ApprovalInfo };
type CollectionApproval = ApprovalInfo;
type TransferFromArg = record { spender_subaccount: opt blob; from : Account; to : Account; token_id : nat; memo : opt blob; created_at_time : opt nat64 };
type TransferFromResult = variant { Ok : nat; Err : TransferFromError };
type TransferFromError = variant {
    InvalidRecipient; Unauthorized; NonExistingTokenId; TooOld;
    CreatedInFuture : record { ledger_time: nat64 };
    Duplicate : record { duplicate_of : nat };
    GenericError : record { error_code : nat; message : text };
    GenericBatchError : record { error_code : nat; message : text };
};
service : {
  icrc37_max_approvals_per_token_or_collection : () -> (opt nat) query;
  icrc37_max_revoke_approvals : () -> (opt nat) query;
  icrc37_approve_tokens : (vec ApproveTokenArg) -> (vec opt ApproveTokenResult);
  icrc37_approve_collection : (vec ApproveCollectionArg) -> (vec opt ApproveCollectionError);
  icrc37_revoke_token_approvals: (vec RevokeTokenApprovalArg) -> (vec opt RevokeTokenApprovalResponse);
  icrc37_revoke_collection_approvals: (vec RevokeCollectionApprovalArg) -> (vec opt RevokeCollectionApprovalResult);
  icrc37_is_approved : (vec IsApprovedArg) -> (vec bool) query;
  icrc37_get_token_approvals : (token_id : nat, prev : opt TokenApproval, take : opt nat) -> (vec TokenApproval) query;
  icrc37_get_collection_approvals : (owner : Account, prev : opt CollectionApproval, take : opt nat) -> (vec CollectionApproval) query;
  icrc37_transfer_from : (vec TransferFromArg) -> (vec opt TransferFromResult);
}
"#;
