//! The canister's Candid interface, built from the same Rust types the shell uses, the way
//! `ic_cdk::export_candid!()` builds it (methods sorted by name, `LedgerArg` as the class
//! argument). `candid/ledger.did` is this text; `tests/it/interface.rs` keeps them equal
//! (`UPDATE_DID=1 cargo test -p emc-ledger --test it interface::` rewrites the file), and the
//! wasm-level test compares the wasm's exported interface with the file.

use crate::{LedgerArg, StandardRecord};
use candid::Nat;
use emc_candid_service::ServiceBuilder;
use icrc_ledger_types::icrc::generic_metadata_value::MetadataValue;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::{TransferArg, TransferError};
use icrc_ledger_types::icrc2::allowance::{Allowance, AllowanceArgs};
use icrc_ledger_types::icrc2::approve::{ApproveArgs, ApproveError};
use icrc_ledger_types::icrc2::transfer_from::{TransferFromArgs, TransferFromError};
use icrc_ledger_types::icrc21::errors::Icrc21Error;
use icrc_ledger_types::icrc21::requests::ConsentMessageRequest;
use icrc_ledger_types::icrc21::responses::ConsentInfo;
use icrc_ledger_types::icrc3::archive::{GetArchivesArgs, GetArchivesResult};
use icrc_ledger_types::icrc3::blocks::{
    GetBlocksRequest, GetBlocksResult, ICRC3DataCertificate, SupportedBlockType,
};

/// The `.did` text of the ledger canister.
pub fn service_did() -> String {
    let mut s = ServiceBuilder::new();
    macro_rules! m {
        ($($t:tt)*) => { emc_candid_service::method!(s, $($t)*) };
    }
    m!("icrc1_name", true, () -> (String));
    m!("icrc1_symbol", true, () -> (String));
    m!("icrc1_decimals", true, () -> (u8));
    m!("icrc1_fee", true, () -> (Nat));
    m!("icrc1_metadata", true, () -> (Vec<(String, MetadataValue)>));
    m!("icrc1_total_supply", true, () -> (Nat));
    m!("icrc1_minting_account", true, () -> (Option<Account>));
    m!("icrc1_balance_of", true, (Account) -> (Nat));
    m!("icrc1_supported_standards", true, () -> (Vec<StandardRecord>));
    m!("icrc10_supported_standards", true, () -> (Vec<StandardRecord>));
    m!("icrc1_transfer", false, (TransferArg) -> (Result<Nat, TransferError>));
    m!("icrc2_approve", false, (ApproveArgs) -> (Result<Nat, ApproveError>));
    m!("icrc2_transfer_from", false, (TransferFromArgs) -> (Result<Nat, TransferFromError>));
    m!("icrc2_allowance", true, (AllowanceArgs) -> (Allowance));
    m!("icrc3_get_blocks", true, (Vec<GetBlocksRequest>) -> (GetBlocksResult));
    m!("icrc3_get_tip_certificate", true, () -> (Option<ICRC3DataCertificate>));
    m!("icrc3_supported_block_types", true, () -> (Vec<SupportedBlockType>));
    m!("icrc3_get_archives", true, (GetArchivesArgs) -> (GetArchivesResult));
    m!("icrc21_canister_call_consent_message", false, (ConsentMessageRequest) -> (Result<ConsentInfo, Icrc21Error>));
    s.did::<LedgerArg>()
}
