//! The canister shell (wasm32 only): decodes calls, reads the caller and the clock, calls the
//! pure [`Ledger`], and keeps the certified data equal to the ICRC-3 tip tree's root hash.
//! All state is in stable structures, so there is no `pre_upgrade` hook.

use crate::icrc21::{consent_message, TokenInfo};
use crate::{Ledger, LedgerArg, StandardRecord};
use candid::Nat;
use ic_cdk::api::{certified_data_set, data_certificate, msg_caller, time};
use ic_cdk::{init, post_upgrade, query, update};
use ic_stable_structures::DefaultMemoryImpl;
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
use std::cell::RefCell;

thread_local! {
    static LEDGER: RefCell<Option<Ledger<DefaultMemoryImpl>>> = const { RefCell::new(None) };
}

fn with<R>(f: impl FnOnce(&Ledger<DefaultMemoryImpl>) -> R) -> R {
    LEDGER.with_borrow(|l| match l {
        Some(l) => f(l),
        None => ic_cdk::trap("the ledger is not initialized"),
    })
}

fn with_mut<R>(f: impl FnOnce(&mut Ledger<DefaultMemoryImpl>) -> R) -> R {
    LEDGER.with_borrow_mut(|l| match l {
        Some(l) => {
            let tip = l.tip();
            let r = f(l);
            // Only a new block changes the certified tip.
            if l.tip() != tip {
                certified_data_set(l.certified_data());
            }
            r
        }
        None => ic_cdk::trap("the ledger is not initialized"),
    })
}

#[init]
fn init(arg: LedgerArg) {
    let LedgerArg::Init(args) = arg else {
        ic_cdk::trap("install needs LedgerArg::Init");
    };
    match Ledger::init(DefaultMemoryImpl::default(), &args, time()) {
        Ok(l) => {
            certified_data_set(l.certified_data());
            LEDGER.with_borrow_mut(|s| *s = Some(l));
        }
        Err(e) => ic_cdk::trap(e.to_string()),
    }
}

#[post_upgrade]
fn post_upgrade(arg: Option<LedgerArg>) {
    let mut l = match Ledger::load(DefaultMemoryImpl::default()) {
        Ok(l) => l,
        Err(e) => ic_cdk::trap(e.to_string()),
    };
    match arg {
        None | Some(LedgerArg::Upgrade(None)) => {}
        Some(LedgerArg::Upgrade(Some(u))) => {
            if let Err(e) = l.upgrade(&u) {
                ic_cdk::trap(e.to_string());
            }
        }
        Some(LedgerArg::Init(_)) => {
            ic_cdk::trap("refusing LedgerArg::Init on upgrade: it would reset the ledger")
        }
    }
    certified_data_set(l.certified_data());
    LEDGER.with_borrow_mut(|s| *s = Some(l));
}

#[query]
fn icrc1_name() -> String {
    with(|l| l.name())
}

#[query]
fn icrc1_symbol() -> String {
    with(|l| l.symbol())
}

#[query]
fn icrc1_decimals() -> u8 {
    with(|l| l.decimals())
}

#[query]
fn icrc1_fee() -> Nat {
    with(|l| l.fee().into())
}

#[query]
fn icrc1_metadata() -> Vec<(String, MetadataValue)> {
    with(|l| l.metadata())
}

#[query]
fn icrc1_total_supply() -> Nat {
    with(|l| l.total_supply().into())
}

#[query]
fn icrc1_minting_account() -> Option<Account> {
    with(|l| Some(l.minting_account()))
}

#[query]
fn icrc1_balance_of(account: Account) -> Nat {
    with(|l| l.balance_of(&account).into())
}

#[query]
fn icrc1_supported_standards() -> Vec<StandardRecord> {
    with(|l| l.supported_standards())
}

#[query]
fn icrc10_supported_standards() -> Vec<StandardRecord> {
    with(|l| l.supported_standards())
}

// The three transfer-like updates decode their argument and encode their reply through the
// fast paths of `crate::wire` (falling back to the generic candid codec, exactly as the
// `#[update]` macro does it, for anything else). `hidden` keeps the macro from declaring the
// raw byte signature of the hooks; the `*_interface` functions declare the real one for
// `export_candid!`.

/// The candid argument of a call: the fast path, else the generic decoder as `#[update]` runs
/// it (an undecodable argument traps, and the call changes nothing).
fn decode_arg<T>(bytes: Vec<u8>, fast: fn(&[u8]) -> Option<T>) -> T
where
    T: candid::CandidType + for<'de> candid::Deserialize<'de>,
{
    if let Some(v) = fast(&bytes) {
        return v;
    }
    let bytes: &[u8] = if bytes.is_empty() {
        b"DIDL\x00\x00"
    } else {
        &bytes
    };
    let mut config = candid::DecoderConfig::new();
    config.set_skipping_quota(10000);
    match candid::utils::decode_args_with_config::<(T,)>(bytes, &config) {
        Ok((v,)) => v,
        Err(e) => ic_cdk::trap(format!("failed to decode the call argument: {e}")),
    }
}

/// The candid reply `r`: the fast path, else the generic encoder.
fn encode_reply<R: candid::CandidType>(r: R, fast: fn(&R) -> Option<Vec<u8>>) -> Vec<u8> {
    if let Some(b) = fast(&r) {
        return b;
    }
    match candid::encode_one(r) {
        Ok(b) => b,
        Err(e) => ic_cdk::trap(format!("failed to encode the reply: {e}")),
    }
}

fn decode_transfer_arg(bytes: Vec<u8>) -> TransferArg {
    decode_arg(bytes, crate::wire::decode_transfer_arg)
}

fn encode_transfer_reply(r: Result<Nat, TransferError>) -> Vec<u8> {
    encode_reply(r, crate::wire::encode_transfer_ok)
}

fn decode_approve_args(bytes: Vec<u8>) -> ApproveArgs {
    decode_arg(bytes, crate::wire::decode_approve_args)
}

fn encode_approve_reply(r: Result<Nat, ApproveError>) -> Vec<u8> {
    encode_reply(r, crate::wire::encode_approve_ok)
}

fn decode_transfer_from_args(bytes: Vec<u8>) -> TransferFromArgs {
    decode_arg(bytes, crate::wire::decode_transfer_from_args)
}

fn encode_transfer_from_reply(r: Result<Nat, TransferFromError>) -> Vec<u8> {
    encode_reply(r, crate::wire::encode_transfer_from_ok)
}

#[update(
    hidden = true,
    decode_with = "decode_transfer_arg",
    encode_with = "encode_transfer_reply"
)]
fn icrc1_transfer(arg: TransferArg) -> Result<Nat, TransferError> {
    let caller = msg_caller();
    with_mut(|l| l.icrc1_transfer(caller, arg, time()))
}

#[candid::candid_method(update, rename = "icrc1_transfer")]
#[allow(dead_code)]
fn icrc1_transfer_interface(arg: TransferArg) -> Result<Nat, TransferError> {
    icrc1_transfer(arg)
}

#[update(
    hidden = true,
    decode_with = "decode_approve_args",
    encode_with = "encode_approve_reply"
)]
fn icrc2_approve(arg: ApproveArgs) -> Result<Nat, ApproveError> {
    let caller = msg_caller();
    with_mut(|l| l.icrc2_approve(caller, arg, time()))
}

#[candid::candid_method(update, rename = "icrc2_approve")]
#[allow(dead_code)]
fn icrc2_approve_interface(arg: ApproveArgs) -> Result<Nat, ApproveError> {
    icrc2_approve(arg)
}

#[update(
    hidden = true,
    decode_with = "decode_transfer_from_args",
    encode_with = "encode_transfer_from_reply"
)]
fn icrc2_transfer_from(arg: TransferFromArgs) -> Result<Nat, TransferFromError> {
    let caller = msg_caller();
    with_mut(|l| l.icrc2_transfer_from(caller, arg, time()))
}

#[candid::candid_method(update, rename = "icrc2_transfer_from")]
#[allow(dead_code)]
fn icrc2_transfer_from_interface(arg: TransferFromArgs) -> Result<Nat, TransferFromError> {
    icrc2_transfer_from(arg)
}

#[query]
fn icrc2_allowance(arg: AllowanceArgs) -> Allowance {
    with(|l| l.icrc2_allowance(&arg, time()))
}

#[query]
fn icrc3_get_blocks(args: Vec<GetBlocksRequest>) -> GetBlocksResult {
    with(|l| l.icrc3_get_blocks(&args))
}

#[query]
fn icrc3_get_tip_certificate() -> Option<ICRC3DataCertificate> {
    with(|l| l.tip_certificate(data_certificate()))
}

#[query]
fn icrc3_supported_block_types() -> Vec<SupportedBlockType> {
    with(|l| l.supported_block_types())
}

#[query]
fn icrc3_get_archives(args: GetArchivesArgs) -> GetArchivesResult {
    with(|l| l.archives(&args))
}

#[update]
fn icrc21_canister_call_consent_message(
    req: ConsentMessageRequest,
) -> Result<ConsentInfo, Icrc21Error> {
    let caller = msg_caller();
    with(|l| {
        let c = l.config();
        let token = TokenInfo {
            symbol: &c.token_symbol,
            decimals: c.decimals,
            fee: c.fee,
        };
        consent_message(&req, caller, &token)
    })
}

ic_cdk::export_candid!();
