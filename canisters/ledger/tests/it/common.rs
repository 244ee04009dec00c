//! Shared helpers of the ledger's native tests.
#![allow(dead_code)]

use candid::{Nat, Principal};
use emc_ledger::{InitArgs, Ledger};
use ic_stable_structures::VectorMemory;
use icrc_ledger_types::icrc1::account::{Account, Subaccount};
use icrc_ledger_types::icrc1::transfer::{Memo, TransferArg};
use icrc_ledger_types::icrc2::approve::ApproveArgs;
use icrc_ledger_types::icrc2::transfer_from::TransferFromArgs;

pub const FEE: u64 = 10_000;
pub const NOW: u64 = 1_700_000_000_000_000_000;
pub const SEC: u64 = 1_000_000_000;
pub const DAY: u64 = 86_400 * SEC;
pub const E8S: u64 = 100_000_000;

pub fn p(n: u8) -> Principal {
    Principal::from_slice(&[n, 7, 7, 7, 7, 7, 7, 7, 7, 1])
}

pub fn acct(n: u8) -> Account {
    Account {
        owner: p(n),
        subaccount: None,
    }
}

pub fn sub(n: u8, s: u8) -> Account {
    let mut sa = [0u8; 32];
    sa[31] = s;
    Account {
        owner: p(n),
        subaccount: Some(sa),
    }
}

pub fn minter() -> Account {
    acct(200)
}

pub fn init_args() -> InitArgs {
    InitArgs {
        token_name: "EdgeMatrix Computing".into(),
        token_symbol: "EMC".into(),
        decimals: None,
        transfer_fee: Nat::from(FEE),
        minting_account: minter(),
        initial_balances: vec![
            (acct(1), Nat::from(1_000 * E8S)),
            (acct(2), Nat::from(500 * E8S)),
        ],
        fee_collector_account: None,
        max_memo_length: None,
        governance: p(250),
        supply_cap: None,
        metadata: None,
    }
}

pub fn new_ledger_with(args: &InitArgs) -> (Ledger<VectorMemory>, VectorMemory) {
    let mem = VectorMemory::default();
    let l = Ledger::init(mem.clone(), args, NOW).unwrap();
    (l, mem)
}

pub fn new_ledger() -> (Ledger<VectorMemory>, VectorMemory) {
    new_ledger_with(&init_args())
}

pub fn xfer(to: Account, amount: u64) -> TransferArg {
    TransferArg {
        from_subaccount: None,
        to,
        fee: None,
        created_at_time: None,
        memo: None,
        amount: Nat::from(amount),
    }
}

pub fn approve(spender: Account, amount: u64) -> ApproveArgs {
    ApproveArgs {
        from_subaccount: None,
        spender,
        amount: Nat::from(amount),
        expected_allowance: None,
        expires_at: None,
        fee: None,
        memo: None,
        created_at_time: None,
    }
}

pub fn xfer_from(from: Account, to: Account, amount: u64) -> TransferFromArgs {
    TransferFromArgs {
        spender_subaccount: None,
        from,
        to,
        amount: Nat::from(amount),
        fee: None,
        memo: None,
        created_at_time: None,
    }
}

pub fn memo(bytes: &[u8]) -> Option<Memo> {
    Some(Memo(serde_bytes::ByteBuf::from(bytes.to_vec())))
}

pub fn subaccount(s: u8) -> Option<Subaccount> {
    let mut sa = [0u8; 32];
    sa[31] = s;
    Some(sa)
}

/// Everything observable about the state, to check that a failed call changed nothing.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub balances: Vec<(Account, u64)>,
    pub allowances: Vec<(Account, Account, u64, u64)>,
    pub supply: u64,
    pub log: u64,
    pub tip: Option<(u64, [u8; 32])>,
    pub dedup: u64,
}

pub fn snapshot(l: &Ledger<VectorMemory>) -> Snapshot {
    l.check_invariants().unwrap();
    Snapshot {
        balances: l.balances(),
        allowances: l.allowances(),
        supply: l.total_supply(),
        log: l.log_length(),
        tip: l.tip(),
        dedup: l.dedup_len(),
    }
}
