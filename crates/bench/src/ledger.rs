//! Suite `ledger`: instructions per ledger call on the embedded IC with 10,000 existing
//! accounts, next to the figures DFINITY publishes for its reference ledger.

use anyhow::{anyhow, Result};
use candid::{Decode, Encode, Nat, Principal};
use emc_embedded_ic::{user_principal, EmbeddedIc};
use emc_ledger::{InitArgs, LedgerArg};
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::{TransferArg, TransferError};
use icrc_ledger_types::icrc2::approve::{ApproveArgs, ApproveError};
use icrc_ledger_types::icrc2::transfer_from::{TransferFromArgs, TransferFromError};
use icrc_ledger_types::icrc3::blocks::GetBlocksRequest;
use serde_json::{json, Value};

const ACCOUNTS: u64 = 10_000;
const FEE: u64 = 10_000;

/// DFINITY's reference ledger, instructions per call (the figures).
const REFERENCE: [(&str, u64); 4] = [
    ("icrc1_transfer", 1_220_000),
    ("icrc2_approve", 1_840_000),
    ("icrc2_transfer_from", 2_060_000),
    ("icrc3_get_blocks_100", 7_850_000),
];

pub fn run() -> Result<Value> {
    let wasm = crate::canister_wasm("ledger")?;
    let admin = user_principal(1);
    let whale = user_principal(2);
    let mut ic = EmbeddedIc::new();
    let init = LedgerArg::Init(InitArgs::emc(
        Account::from(user_principal(3)),
        admin,
        FEE,
        vec![(Account::from(whale), 100_000_000_000_000_000)],
    ));
    let ledger = ic
        .install_canister(&wasm, Encode!(&init)?, vec![admin])
        .map_err(|e| anyhow!("install: {e}"))?;
    let transfer =
        |ic: &mut EmbeddedIc, from: Principal, to: Account, amount: u64| -> Result<u64> {
            let arg = TransferArg {
                from_subaccount: None,
                to,
                fee: None,
                created_at_time: None,
                memo: None,
                amount: Nat::from(amount),
            };
            let reply = ic
                .update_call(ledger, from, "icrc1_transfer", Encode!(&arg)?)
                .map_err(|e| anyhow!("icrc1_transfer: {e}"))?;
            Decode!(&reply, Result<Nat, TransferError>)?.map_err(|e| anyhow!("{e:?}"))?;
            Ok(ic.last_instructions())
        };
    // 10,000 funded accounts (and as many blocks).
    for i in 0..ACCOUNTS {
        transfer(
            &mut ic,
            whale,
            Account::from(user_principal(100_000 + i)),
            1_000_000_000,
        )?;
    }
    let alice = user_principal(100_000);
    let bob = user_principal(100_001);
    let spender = user_principal(100_002);

    let mut transfer_costs = Vec::new();
    for i in 0..20 {
        transfer_costs.push(transfer(
            &mut ic,
            alice,
            Account::from(user_principal(100_010 + i)),
            1_000,
        )?);
    }
    let approve_arg = |amount: u64| ApproveArgs {
        from_subaccount: None,
        spender: Account::from(spender),
        amount: Nat::from(amount),
        expected_allowance: None,
        expires_at: None,
        fee: None,
        memo: None,
        created_at_time: None,
    };
    let mut approve_costs = Vec::new();
    for i in 0..20 {
        let reply = ic
            .update_call(
                ledger,
                bob,
                "icrc2_approve",
                Encode!(&approve_arg(1_000_000 + i))?,
            )
            .map_err(|e| anyhow!("icrc2_approve: {e}"))?;
        Decode!(&reply, Result<Nat, ApproveError>)?.map_err(|e| anyhow!("{e:?}"))?;
        approve_costs.push(ic.last_instructions());
    }
    let mut transfer_from_costs = Vec::new();
    for i in 0..20 {
        let arg = TransferFromArgs {
            spender_subaccount: None,
            from: Account::from(bob),
            to: Account::from(user_principal(100_050 + i)),
            amount: Nat::from(1_000u64),
            fee: None,
            memo: None,
            created_at_time: None,
        };
        let reply = ic
            .update_call(ledger, spender, "icrc2_transfer_from", Encode!(&arg)?)
            .map_err(|e| anyhow!("icrc2_transfer_from: {e}"))?;
        Decode!(&reply, Result<Nat, TransferFromError>)?.map_err(|e| anyhow!("{e:?}"))?;
        transfer_from_costs.push(ic.last_instructions());
    }
    let request = vec![GetBlocksRequest {
        start: Nat::from(5_000u64),
        length: Nat::from(100u64),
    }];
    ic.query_call(ledger, alice, "icrc3_get_blocks", Encode!(&request)?)
        .map_err(|e| anyhow!("icrc3_get_blocks: {e}"))?;
    let get_blocks = ic.last_instructions();

    let median = |v: &mut Vec<u64>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    let measured = [
        median(&mut transfer_costs),
        median(&mut approve_costs),
        median(&mut transfer_from_costs),
        get_blocks,
    ];
    let mut report = json!({
        "suite": "ledger",
        "existing_accounts": ACCOUNTS,
        "icrc1_transfer_instructions": measured[0],
        "icrc2_approve_instructions": measured[1],
        "icrc2_transfer_from_instructions": measured[2],
        "icrc3_get_blocks_100_instructions": measured[3],
    });
    for ((name, reference), m) in REFERENCE.iter().zip(measured) {
        report[format!("{name}_vs_reference")] =
            json!((m as f64 / *reference as f64 * 1000.0).round() / 1000.0);
    }
    Ok(report)
}
