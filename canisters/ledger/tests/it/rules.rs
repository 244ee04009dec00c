//! One test per rule and error of the ledger (native, over VectorMemory).

use crate::common::*;
use candid::{Nat, Principal};
use emc_ledger::block::Op;
use emc_ledger::error_codes;
use emc_ledger::ledger::{PERMITTED_DRIFT_NANOS, TX_WINDOW_NANOS};
use emc_ledger::{ChangeFeeCollector, Ledger, LedgerError, UpgradeArgs};
use icrc_ledger_types::icrc::generic_metadata_value::MetadataValue;
use icrc_ledger_types::icrc1::transfer::TransferError;
use icrc_ledger_types::icrc2::allowance::AllowanceArgs;
use icrc_ledger_types::icrc2::approve::ApproveError;
use icrc_ledger_types::icrc2::transfer_from::TransferFromError;

fn generic_code(e: &TransferError) -> u64 {
    match e {
        TransferError::GenericError { error_code, .. } => u64::try_from(&error_code.0).unwrap(),
        other => panic!("not a generic error: {other:?}"),
    }
}

#[test]
fn init_metadata_and_genesis() {
    let (l, _) = new_ledger();
    assert_eq!(l.name(), "EdgeMatrix Computing");
    assert_eq!(l.symbol(), "EMC");
    assert_eq!(l.decimals(), 8);
    assert_eq!(l.fee(), FEE);
    assert_eq!(l.minting_account(), minter());
    assert_eq!(l.total_supply(), 1_500 * E8S);
    assert_eq!(l.balance_of(&acct(1)), 1_000 * E8S);
    assert_eq!(l.balance_of(&acct(2)), 500 * E8S);
    assert_eq!(l.log_length(), 2);
    let b0 = l.block(0).unwrap();
    assert_eq!(b0.tx.op, Op::Mint);
    assert_eq!(b0.parent_hash, None);
    assert_eq!(b0.block_type(), "1mint");
    assert_eq!(l.block(1).unwrap().parent_hash, Some(b0.hash()));
    assert_eq!(l.config().supply_cap, 2_100_000_000 * E8S);
    assert_eq!(l.config().max_memo_length, 32);
    let md = l.metadata();
    assert!(md.contains(&("icrc1:symbol".into(), MetadataValue::Text("EMC".into()))));
    assert!(md.contains(&("icrc1:decimals".into(), MetadataValue::Nat(8u8.into()))));
    assert!(md.contains(&("icrc1:fee".into(), MetadataValue::Nat(FEE.into()))));
    assert!(md.contains(&(
        "icrc1:max_memo_length".into(),
        MetadataValue::Nat(32u16.into())
    )));
    let names: Vec<String> = l
        .supported_standards()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["ICRC-1", "ICRC-2", "ICRC-3", "ICRC-10", "ICRC-21"]);
    let types: Vec<String> = l
        .supported_block_types()
        .into_iter()
        .map(|s| s.block_type)
        .collect();
    for t in ["1mint", "1burn", "1xfer", "2xfer", "2approve"] {
        assert!(types.contains(&t.to_string()));
    }
    assert!(l
        .archives(&icrc_ledger_types::icrc3::archive::GetArchivesArgs { from: None })
        .is_empty());
}

#[test]
fn bad_init_args_are_refused() {
    let mem = ic_stable_structures::VectorMemory::default();
    let mut a = init_args();
    a.initial_balances
        .push((acct(3), Nat::from(2_100_000_000 * E8S)));
    assert!(matches!(
        Ledger::init(mem.clone(), &a, NOW),
        Err(LedgerError::InvalidArgument(_))
    ));
    let mut a = init_args();
    a.initial_balances.push((minter(), Nat::from(1u8)));
    assert!(Ledger::init(mem.clone(), &a, NOW).is_err());
    let mut a = init_args();
    a.transfer_fee = Nat::from(u128::from(u64::MAX) + 1);
    assert!(Ledger::init(mem.clone(), &a, NOW).is_err());
    let mut a = init_args();
    a.max_memo_length = Some(31);
    assert!(Ledger::init(mem.clone(), &a, NOW).is_err());
    let mut a = init_args();
    a.fee_collector_account = Some(minter());
    assert!(Ledger::init(mem.clone(), &a, NOW).is_err());
    let mut a = init_args();
    a.metadata = Some(vec![("icrc1:name".into(), MetadataValue::Text("x".into()))]);
    assert!(Ledger::init(mem.clone(), &a, NOW).is_err());
    // Nothing was written by the refused attempts.
    assert_eq!(
        Ledger::load(mem.clone()).err(),
        Some(LedgerError::NotInitialized)
    );
    // A second init on a used memory is refused.
    let (_, used) = new_ledger();
    assert_eq!(
        Ledger::init(used, &init_args(), NOW).err(),
        Some(LedgerError::AlreadyInitialized)
    );
}

#[test]
fn transfer_moves_amount_and_burns_fee() {
    let (mut l, _) = new_ledger();
    let idx = l
        .icrc1_transfer(p(1), xfer(acct(3), 100 * E8S), NOW)
        .unwrap();
    assert_eq!(idx, Nat::from(2u8));
    assert_eq!(l.balance_of(&acct(1)), 900 * E8S - FEE);
    assert_eq!(l.balance_of(&acct(3)), 100 * E8S);
    assert_eq!(l.total_supply(), 1_500 * E8S - FEE);
    let b = l.block(2).unwrap();
    assert_eq!(b.tx.op, Op::Xfer);
    assert_eq!(b.effective_fee, Some(FEE));
    assert_eq!(b.tx.fee, None);
    assert_eq!(b.fee_collector, None);
    assert_eq!(b.timestamp, NOW);
    // With an explicit fee the block records tx.fee and no top-level fee.
    let mut a = xfer(acct(3), 1);
    a.fee = Some(Nat::from(FEE));
    l.icrc1_transfer(p(1), a, NOW).unwrap();
    let b = l.block(3).unwrap();
    assert_eq!((b.tx.fee, b.effective_fee), (Some(FEE), None));
    // Self transfer pays the fee.
    l.icrc1_transfer(p(3), xfer(acct(3), 5), NOW).unwrap();
    assert_eq!(l.balance_of(&acct(3)), 100 * E8S + 1 - FEE);
}

#[test]
fn errors_change_nothing() {
    let (mut l, _) = new_ledger();
    l.icrc2_approve(p(1), approve(acct(5), 10 * E8S), NOW)
        .unwrap();
    let before = snapshot(&l);
    let mut bad_fee = xfer(acct(3), 1);
    bad_fee.fee = Some(Nat::from(FEE + 1));
    let cases: Vec<(Principal, icrc_ledger_types::icrc1::transfer::TransferArg)> = vec![
        (p(1), bad_fee),
        (p(9), xfer(acct(3), 1)),                   // no funds
        (Principal::anonymous(), xfer(acct(3), 1)), // anonymous
        (p(1), {
            let mut a = xfer(acct(3), 1);
            a.memo = memo(&[1; 33]);
            a
        }),
        (p(1), {
            let mut a = xfer(acct(3), 1);
            a.created_at_time = Some(0);
            a
        }),
        (p(1), {
            let mut a = xfer(acct(3), 1);
            a.created_at_time = Some(u64::MAX);
            a
        }),
        (p(1), {
            let mut a = xfer(acct(3), 1);
            a.amount = Nat::from(u128::MAX);
            a
        }),
        (p(1), xfer(minter(), FEE - 1)),              // bad burn
        (p(200), xfer(acct(3), 2_100_000_000 * E8S)), // over the cap
        (p(200), xfer(minter(), 1)),                  // minting to minting
    ];
    for (caller, arg) in cases {
        assert!(
            l.icrc1_transfer(caller, arg.clone(), NOW).is_err(),
            "{arg:?}"
        );
        assert_eq!(snapshot(&l), before, "{arg:?}");
    }
    assert!(l
        .icrc2_approve(Principal::anonymous(), approve(acct(5), 1), NOW)
        .is_err());
    assert!(l.icrc2_approve(p(1), approve(acct(1), 1), NOW).is_err());
    assert!(l
        .icrc2_transfer_from(Principal::anonymous(), xfer_from(acct(1), acct(6), 1), NOW)
        .is_err());
    assert!(l
        .icrc2_transfer_from(p(5), xfer_from(acct(1), acct(6), 20 * E8S), NOW)
        .is_err());
    assert_eq!(snapshot(&l), before);
}

#[test]
fn bad_fee() {
    let (mut l, _) = new_ledger();
    for f in [
        Nat::from(0u8),
        Nat::from(FEE - 1),
        Nat::from(FEE + 1),
        Nat::from(u128::MAX),
    ] {
        let mut a = xfer(acct(3), 1);
        a.fee = Some(f);
        assert_eq!(
            l.icrc1_transfer(p(1), a, NOW),
            Err(TransferError::BadFee {
                expected_fee: Nat::from(FEE)
            })
        );
        let mut a = approve(acct(3), 1);
        a.fee = Some(Nat::from(FEE + 1));
        assert_eq!(
            l.icrc2_approve(p(1), a, NOW),
            Err(ApproveError::BadFee {
                expected_fee: Nat::from(FEE)
            })
        );
    }
    // Mints and burns expect no fee (0 is accepted).
    let mut a = xfer(acct(3), 1);
    a.fee = Some(Nat::from(FEE));
    assert_eq!(
        l.icrc1_transfer(p(200), a.clone(), NOW),
        Err(TransferError::BadFee {
            expected_fee: Nat::from(0u8)
        })
    );
    a.fee = Some(Nat::from(0u8));
    assert!(l.icrc1_transfer(p(200), a, NOW).is_ok());
}

#[test]
fn insufficient_funds_and_amount_limits() {
    let (mut l, _) = new_ledger();
    let bal = 1_000 * E8S;
    assert_eq!(
        l.icrc1_transfer(p(1), xfer(acct(3), bal - FEE + 1), NOW),
        Err(TransferError::InsufficientFunds {
            balance: Nat::from(bal)
        })
    );
    // amount + fee overflows u64.
    assert_eq!(
        l.icrc1_transfer(p(1), xfer(acct(3), u64::MAX), NOW),
        Err(TransferError::InsufficientFunds {
            balance: Nat::from(bal)
        })
    );
    // amounts that do not fit in 64 bits.
    for amount in [Nat::from(u128::from(u64::MAX) + 1), Nat::from(u128::MAX)] {
        let mut a = xfer(acct(3), 0);
        a.amount = amount;
        assert_eq!(
            l.icrc1_transfer(p(1), a, NOW),
            Err(TransferError::InsufficientFunds {
                balance: Nat::from(bal)
            })
        );
    }
    // Exactly the balance works and leaves 0 (the account disappears from storage).
    l.icrc1_transfer(p(1), xfer(acct(3), bal - FEE), NOW)
        .unwrap();
    assert_eq!(l.balance_of(&acct(1)), 0);
    assert!(l.balances().iter().all(|(a, _)| *a != acct(1)));
    // Zero-amount transfers still pay the fee.
    assert_eq!(
        l.icrc1_transfer(p(1), xfer(acct(3), 0), NOW),
        Err(TransferError::InsufficientFunds {
            balance: Nat::from(0u8)
        })
    );
}

#[test]
fn created_at_time_window() {
    let (mut l, _) = new_ledger();
    let at = |t: u64| {
        let mut a = xfer(acct(3), 1);
        a.created_at_time = Some(t);
        a
    };
    let oldest_ok = NOW - TX_WINDOW_NANOS - PERMITTED_DRIFT_NANOS;
    assert_eq!(
        l.icrc1_transfer(p(1), at(oldest_ok - 1), NOW),
        Err(TransferError::TooOld)
    );
    assert!(l.icrc1_transfer(p(1), at(oldest_ok), NOW).is_ok());
    let newest_ok = NOW + PERMITTED_DRIFT_NANOS;
    assert_eq!(
        l.icrc1_transfer(p(1), at(newest_ok + 1), NOW),
        Err(TransferError::CreatedInFuture { ledger_time: NOW })
    );
    assert!(l.icrc1_transfer(p(1), at(newest_ok), NOW).is_ok());
    assert_eq!(PERMITTED_DRIFT_NANOS, 60 * SEC);
    assert_eq!(TX_WINDOW_NANOS, DAY);
    // The same rules for approve and transfer_from.
    let mut a = approve(acct(3), 1);
    a.created_at_time = Some(0);
    assert_eq!(l.icrc2_approve(p(1), a, NOW), Err(ApproveError::TooOld));
    let mut a = xfer_from(acct(1), acct(3), 1);
    a.created_at_time = Some(NOW + 61 * SEC);
    assert_eq!(
        l.icrc2_transfer_from(p(3), a, NOW),
        Err(TransferFromError::CreatedInFuture { ledger_time: NOW })
    );
}

#[test]
fn deduplication() {
    let (mut l, _) = new_ledger();
    let mut a = xfer(acct(3), 7);
    a.created_at_time = Some(NOW);
    let i = l.icrc1_transfer(p(1), a.clone(), NOW).unwrap();
    let before = snapshot(&l);
    assert_eq!(
        l.icrc1_transfer(p(1), a.clone(), NOW + SEC),
        Err(TransferError::Duplicate {
            duplicate_of: i.clone()
        })
    );
    assert_eq!(snapshot(&l), before);
    // Any difference in the arguments (or the caller) is a new transaction.
    let mut b = a.clone();
    b.memo = memo(b"x");
    assert!(l.icrc1_transfer(p(1), b, NOW).is_ok());
    let mut c = a.clone();
    c.fee = Some(Nat::from(FEE));
    assert!(l.icrc1_transfer(p(1), c, NOW).is_ok());
    assert!(l.icrc1_transfer(p(2), a.clone(), NOW).is_ok());
    // Without created_at_time there is no deduplication.
    let d = xfer(acct(3), 7);
    assert!(l.icrc1_transfer(p(1), d.clone(), NOW).is_ok());
    assert!(l.icrc1_transfer(p(1), d, NOW).is_ok());
    // Still a duplicate at the end of the window, TooOld after it.
    let end = NOW + TX_WINDOW_NANOS + PERMITTED_DRIFT_NANOS;
    assert_eq!(
        l.icrc1_transfer(p(1), a.clone(), end),
        Err(TransferError::Duplicate { duplicate_of: i })
    );
    assert_eq!(
        l.icrc1_transfer(p(1), a.clone(), end + 1),
        Err(TransferError::TooOld)
    );
    // Expired entries are pruned by later updates.
    let n = l.dedup_len();
    assert!(n >= 3);
    l.icrc1_transfer(p(1), xfer(acct(3), 1), end + 1).unwrap();
    assert_eq!(l.dedup_len(), 0);
    // Approvals and transfer_from deduplicate too.
    let t = end + 2;
    let mut ap = approve(acct(5), 100 * E8S);
    ap.created_at_time = Some(t);
    let j = l.icrc2_approve(p(1), ap.clone(), t).unwrap();
    assert_eq!(
        l.icrc2_approve(p(1), ap, t),
        Err(ApproveError::Duplicate { duplicate_of: j })
    );
    let mut tf = xfer_from(acct(1), acct(6), E8S);
    tf.created_at_time = Some(t);
    let k = l.icrc2_transfer_from(p(5), tf.clone(), t).unwrap();
    assert_eq!(
        l.icrc2_transfer_from(p(5), tf, t),
        Err(TransferFromError::Duplicate { duplicate_of: k })
    );
}

#[test]
fn mint_and_supply_cap() {
    let mut args = init_args();
    args.supply_cap = Some(Nat::from(2_000 * E8S));
    let (mut l, _) = new_ledger_with(&args);
    let i = l
        .icrc1_transfer(p(200), xfer(acct(3), 400 * E8S), NOW)
        .unwrap();
    let b = l.block(u64::try_from(&i.0).unwrap()).unwrap();
    assert_eq!(b.tx.op, Op::Mint);
    assert_eq!((b.tx.from, b.tx.fee, b.effective_fee), (None, None, None));
    assert_eq!(l.total_supply(), 1_900 * E8S);
    // Up to the cap exactly.
    l.icrc1_transfer(p(200), xfer(acct(3), 100 * E8S), NOW)
        .unwrap();
    assert_eq!(l.total_supply(), 2_000 * E8S);
    let e = l.icrc1_transfer(p(200), xfer(acct(3), 1), NOW).unwrap_err();
    assert_eq!(generic_code(&e), error_codes::SUPPLY_CAP);
    let mut a = xfer(acct(3), 0);
    a.amount = Nat::from(u128::MAX);
    assert_eq!(
        generic_code(&l.icrc1_transfer(p(200), a, NOW).unwrap_err()),
        error_codes::SUPPLY_CAP
    );
    // Burning makes room again (the cap bounds the total supply).
    l.icrc1_transfer(p(3), xfer(minter(), 10 * E8S), NOW)
        .unwrap();
    assert!(l
        .icrc1_transfer(p(200), xfer(acct(3), 10 * E8S), NOW)
        .is_ok());
    // Minting from a minting subaccount that is not the minting account is a plain transfer.
    let mut a = xfer(acct(3), 1);
    a.from_subaccount = subaccount(1);
    assert!(matches!(
        l.icrc1_transfer(p(200), a, NOW),
        Err(TransferError::InsufficientFunds { .. })
    ));
}

#[test]
fn burn() {
    let (mut l, _) = new_ledger();
    assert_eq!(
        l.icrc1_transfer(p(1), xfer(minter(), FEE - 1), NOW),
        Err(TransferError::BadBurn {
            min_burn_amount: Nat::from(FEE)
        })
    );
    let i = l.icrc1_transfer(p(1), xfer(minter(), FEE), NOW).unwrap();
    assert_eq!(l.balance_of(&acct(1)), 1_000 * E8S - FEE);
    assert_eq!(l.total_supply(), 1_500 * E8S - FEE);
    let b = l.block(u64::try_from(&i.0).unwrap()).unwrap();
    assert_eq!(b.tx.op, Op::Burn);
    assert_eq!((b.tx.to, b.tx.fee, b.effective_fee), (None, None, None));
    // A burn of more than the balance.
    assert!(matches!(
        l.icrc1_transfer(p(1), xfer(minter(), 2_000 * E8S), NOW),
        Err(TransferError::InsufficientFunds { .. })
    ));
}

#[test]
fn memo_limit() {
    let (mut l, _) = new_ledger();
    let mut a = xfer(acct(3), 1);
    a.memo = memo(&[7; 32]);
    assert!(l.icrc1_transfer(p(1), a.clone(), NOW).is_ok());
    assert_eq!(l.block(2).unwrap().tx.memo, Some(vec![7; 32]));
    a.memo = memo(&[7; 33]);
    let e = l.icrc1_transfer(p(1), a, NOW).unwrap_err();
    assert_eq!(generic_code(&e), error_codes::MEMO_TOO_LONG);
    if let TransferError::GenericError { message, .. } = e {
        assert!(
            message.contains("33") && message.contains("32"),
            "{message}"
        );
    }
    let mut ap = approve(acct(3), 1);
    ap.memo = memo(&[0; 100]);
    assert!(matches!(
        l.icrc2_approve(p(1), ap, NOW),
        Err(ApproveError::GenericError { .. })
    ));
    // A larger limit set at init.
    let mut args = init_args();
    args.max_memo_length = Some(64);
    let (mut l, _) = new_ledger_with(&args);
    let mut a = xfer(acct(3), 1);
    a.memo = memo(&[7; 64]);
    assert!(l.icrc1_transfer(p(1), a, NOW).is_ok());
}

#[test]
fn anonymous_caller_is_refused() {
    let (mut l, _) = new_ledger();
    let before = snapshot(&l);
    let e = l
        .icrc1_transfer(Principal::anonymous(), xfer(acct(3), 0), NOW)
        .unwrap_err();
    assert_eq!(generic_code(&e), error_codes::ANONYMOUS_CALLER);
    assert!(matches!(
        l.icrc2_approve(Principal::anonymous(), approve(acct(3), 1), NOW),
        Err(ApproveError::GenericError { .. })
    ));
    assert!(matches!(
        l.icrc2_transfer_from(Principal::anonymous(), xfer_from(acct(1), acct(3), 1), NOW),
        Err(TransferFromError::GenericError { .. })
    ));
    assert_eq!(snapshot(&l), before);
}

#[test]
fn none_and_zero_subaccount_are_the_same_account() {
    let (mut l, _) = new_ledger();
    let zeros = icrc_ledger_types::icrc1::account::Account {
        owner: p(1),
        subaccount: Some([0; 32]),
    };
    assert_eq!(l.balance_of(&zeros), l.balance_of(&acct(1)));
    let mut a = xfer(zeros, 5);
    a.from_subaccount = Some([0; 32]);
    // from (p1, zeros) to (p1, None): a self transfer.
    l.icrc1_transfer(p(1), a, NOW).unwrap();
    assert_eq!(l.balance_of(&acct(1)), 1_000 * E8S - FEE);
    // Approving (p1, None) -> (p1, zeros) is a self-approval.
    let mut ap = approve(zeros, 1);
    ap.from_subaccount = None;
    assert!(matches!(
        l.icrc2_approve(p(1), ap, NOW),
        Err(ApproveError::GenericError { .. })
    ));
    // Distinct subaccounts are distinct accounts.
    l.icrc1_transfer(p(1), xfer(sub(1, 1), 3 * E8S), NOW)
        .unwrap();
    assert_eq!(l.balance_of(&sub(1, 1)), 3 * E8S);
    let mut a = xfer(acct(4), E8S);
    a.from_subaccount = subaccount(1);
    l.icrc1_transfer(p(1), a, NOW).unwrap();
    assert_eq!(l.balance_of(&sub(1, 1)), 2 * E8S - FEE);
}

#[test]
fn approve_rules() {
    let (mut l, _) = new_ledger();
    let args = |a, s| AllowanceArgs {
        account: a,
        spender: s,
    };
    l.icrc2_approve(p(1), approve(acct(5), 10 * E8S), NOW)
        .unwrap();
    assert_eq!(l.balance_of(&acct(1)), 1_000 * E8S - FEE);
    assert_eq!(l.total_supply(), 1_500 * E8S - FEE);
    assert_eq!(
        l.icrc2_allowance(&args(acct(1), acct(5)), NOW).allowance,
        Nat::from(10 * E8S)
    );
    let b = l.block(2).unwrap();
    assert_eq!(
        (b.tx.op, b.block_type(), b.effective_fee),
        (Op::Approve, "2approve", Some(FEE))
    );
    // Approve replaces (it does not add).
    l.icrc2_approve(p(1), approve(acct(5), 3 * E8S), NOW)
        .unwrap();
    assert_eq!(
        l.icrc2_allowance(&args(acct(1), acct(5)), NOW).allowance,
        Nat::from(3 * E8S)
    );
    // expected_allowance must match.
    let mut a = approve(acct(5), 1);
    a.expected_allowance = Some(Nat::from(10 * E8S));
    assert_eq!(
        l.icrc2_approve(p(1), a.clone(), NOW),
        Err(ApproveError::AllowanceChanged {
            current_allowance: Nat::from(3 * E8S)
        })
    );
    a.expected_allowance = Some(Nat::from(u128::MAX));
    assert_eq!(
        l.icrc2_approve(p(1), a.clone(), NOW),
        Err(ApproveError::AllowanceChanged {
            current_allowance: Nat::from(3 * E8S)
        })
    );
    a.expected_allowance = Some(Nat::from(3 * E8S));
    l.icrc2_approve(p(1), a, NOW).unwrap();
    assert_eq!(l.block(4).unwrap().tx.expected_allowance, Some(3 * E8S));
    // expires_at in the past (or now) is refused; a future one expires.
    let mut a = approve(acct(6), E8S);
    a.expires_at = Some(NOW);
    assert_eq!(
        l.icrc2_approve(p(1), a.clone(), NOW),
        Err(ApproveError::Expired { ledger_time: NOW })
    );
    a.expires_at = Some(NOW + 10 * SEC);
    l.icrc2_approve(p(1), a, NOW).unwrap();
    let al = l.icrc2_allowance(&args(acct(1), acct(6)), NOW);
    assert_eq!(
        (al.allowance, al.expires_at),
        (Nat::from(E8S), Some(NOW + 10 * SEC))
    );
    let al = l.icrc2_allowance(&args(acct(1), acct(6)), NOW + 10 * SEC);
    assert_eq!((al.allowance, al.expires_at), (Nat::from(0u8), None));
    // An expired allowance counts as 0 for expected_allowance.
    let mut a = approve(acct(6), 2);
    a.expected_allowance = Some(Nat::from(0u8));
    l.icrc2_approve(p(1), a, NOW + 11 * SEC).unwrap();
    // Huge amounts become u64::MAX.
    let mut a = approve(acct(7), 0);
    a.amount = Nat::from(u128::MAX);
    l.icrc2_approve(p(1), a, NOW).unwrap();
    assert_eq!(
        l.icrc2_allowance(&args(acct(1), acct(7)), NOW).allowance,
        Nat::from(u64::MAX)
    );
    // Approve needs the fee.
    assert_eq!(
        l.icrc2_approve(p(9), approve(acct(7), 1), NOW),
        Err(ApproveError::InsufficientFunds {
            balance: Nat::from(0u8)
        })
    );
    // The minting account cannot approve; nobody can approve itself (nor another subaccount
    // of its own: ICRC-2's SHOULD).
    assert!(matches!(
        l.icrc2_approve(p(200), approve(acct(7), 1), NOW),
        Err(ApproveError::GenericError { .. })
    ));
    assert!(matches!(
        l.icrc2_approve(p(1), approve(acct(1), 1), NOW),
        Err(ApproveError::GenericError { .. })
    ));
    assert!(matches!(
        l.icrc2_approve(p(1), approve(sub(1, 9), 1), NOW),
        Err(ApproveError::GenericError { .. })
    ));
    // Approving a zero allowance removes it.
    l.icrc2_approve(p(1), approve(acct(7), 0), NOW).unwrap();
    assert!(l.allowances().iter().all(|(_, s, _, _)| *s != acct(7)));
}

#[test]
fn transfer_from_rules() {
    let (mut l, _) = new_ledger();
    l.icrc2_approve(p(1), approve(acct(5), 10 * E8S), NOW)
        .unwrap();
    let allowance = |l: &Ledger<_>| {
        l.icrc2_allowance(
            &AllowanceArgs {
                account: acct(1),
                spender: acct(5),
            },
            NOW,
        )
        .allowance
    };
    // Uses amount + fee of the allowance.
    let i = l
        .icrc2_transfer_from(p(5), xfer_from(acct(1), acct(6), 4 * E8S), NOW)
        .unwrap();
    assert_eq!(allowance(&l), Nat::from(6 * E8S - FEE));
    assert_eq!(l.balance_of(&acct(6)), 4 * E8S);
    assert_eq!(l.balance_of(&acct(1)), 1_000 * E8S - FEE - 4 * E8S - FEE);
    let b = l.block(u64::try_from(&i.0).unwrap()).unwrap();
    assert_eq!((b.block_type(), b.tx.spender), ("2xfer", Some(acct(5))));
    // Not enough allowance.
    assert_eq!(
        l.icrc2_transfer_from(p(5), xfer_from(acct(1), acct(6), 6 * E8S), NOW),
        Err(TransferFromError::InsufficientAllowance {
            allowance: Nat::from(6 * E8S - FEE)
        })
    );
    // Another spender, or another spender subaccount, has no allowance.
    assert_eq!(
        l.icrc2_transfer_from(p(6), xfer_from(acct(1), acct(6), 1), NOW),
        Err(TransferFromError::InsufficientAllowance {
            allowance: Nat::from(0u8)
        })
    );
    let mut a = xfer_from(acct(1), acct(6), 1);
    a.spender_subaccount = subaccount(3);
    assert!(matches!(
        l.icrc2_transfer_from(p(5), a, NOW),
        Err(TransferFromError::InsufficientAllowance { .. })
    ));
    // Exactly the allowance: the allowance disappears.
    l.icrc2_transfer_from(p(5), xfer_from(acct(1), acct(6), 6 * E8S - 2 * FEE), NOW)
        .unwrap();
    assert_eq!(allowance(&l), Nat::from(0u8));
    assert!(l.allowances().is_empty());
    // Enough allowance but not enough funds.
    l.icrc2_approve(p(2), approve(acct(5), u64::MAX), NOW)
        .unwrap();
    assert_eq!(
        l.icrc2_transfer_from(p(5), xfer_from(acct(2), acct(6), 500 * E8S), NOW),
        Err(TransferFromError::InsufficientFunds {
            balance: Nat::from(500 * E8S - FEE)
        })
    );
    // Burn through an allowance: no fee, min burn = fee, allowance reduced by the amount.
    let i = l
        .icrc2_transfer_from(p(5), xfer_from(acct(2), minter(), E8S), NOW)
        .unwrap();
    let b = l.block(u64::try_from(&i.0).unwrap()).unwrap();
    assert_eq!((b.block_type(), b.tx.op), ("2burn", Op::Burn));
    assert_eq!(
        l.icrc2_allowance(
            &AllowanceArgs {
                account: acct(2),
                spender: acct(5)
            },
            NOW
        )
        .allowance,
        Nat::from(u64::MAX - E8S)
    );
    assert_eq!(
        l.icrc2_transfer_from(p(5), xfer_from(acct(2), minter(), 1), NOW),
        Err(TransferFromError::BadBurn {
            min_burn_amount: Nat::from(FEE)
        })
    );
    // The minting account cannot be the source.
    assert!(matches!(
        l.icrc2_transfer_from(p(5), xfer_from(minter(), acct(6), 1), NOW),
        Err(TransferFromError::GenericError { .. })
    ));
    // Expired allowance.
    let mut ap = approve(acct(8), 10 * E8S);
    ap.expires_at = Some(NOW + SEC);
    l.icrc2_approve(p(2), ap, NOW).unwrap();
    assert_eq!(
        l.icrc2_transfer_from(p(8), xfer_from(acct(2), acct(6), 1), NOW + SEC),
        Err(TransferFromError::InsufficientAllowance {
            allowance: Nat::from(0u8)
        })
    );
    // Later updates prune the expired allowance.
    l.icrc1_transfer(p(2), xfer(acct(6), 1), NOW + 2 * SEC)
        .unwrap();
    assert!(l.allowances().iter().all(|(_, s, _, _)| *s != acct(8)));
    // A spender acting on its own account needs no allowance (the block still names it).
    let i = l
        .icrc2_transfer_from(p(6), xfer_from(acct(6), acct(2), 1), NOW)
        .unwrap();
    let b = l.block(u64::try_from(&i.0).unwrap()).unwrap();
    assert_eq!((b.tx.spender, b.block_type()), (Some(acct(6)), "2xfer"));
    let mut a = xfer_from(acct(6), acct(2), 1);
    a.spender_subaccount = subaccount(1);
    assert!(matches!(
        l.icrc2_transfer_from(p(6), a, NOW),
        Err(TransferFromError::InsufficientAllowance { .. })
    ));
    // Bad fee.
    let mut a = xfer_from(acct(2), acct(6), 1);
    a.fee = Some(Nat::from(1u8));
    assert_eq!(
        l.icrc2_transfer_from(p(5), a, NOW),
        Err(TransferFromError::BadFee {
            expected_fee: Nat::from(FEE)
        })
    );
}

#[test]
fn fee_collector_and_upgrade_args() {
    let mut args = init_args();
    args.fee_collector_account = Some(acct(99));
    let (mut l, mem) = new_ledger_with(&args);
    l.icrc1_transfer(p(1), xfer(acct(3), E8S), NOW).unwrap();
    assert_eq!(l.balance_of(&acct(99)), FEE);
    assert_eq!(l.total_supply(), 1_500 * E8S);
    assert_eq!(l.block(2).unwrap().fee_collector, Some(acct(99)));
    l.icrc2_approve(p(1), approve(acct(3), 1), NOW).unwrap();
    assert_eq!(l.balance_of(&acct(99)), 2 * FEE);
    // An empty upgrade changes nothing.
    let before = (l.config().clone(), snapshot(&l));
    l.upgrade(&UpgradeArgs::default()).unwrap();
    assert_eq!((l.config().clone(), snapshot(&l)), before);
    // Change the fee, metadata and collector.
    l.upgrade(&UpgradeArgs {
        transfer_fee: Some(Nat::from(2 * FEE)),
        metadata: Some(vec![(
            "emc:website".into(),
            MetadataValue::Text("https://emc.network".into()),
        )]),
        change_fee_collector: Some(ChangeFeeCollector::Unset),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(l.fee(), 2 * FEE);
    assert!(l.metadata().iter().any(|(k, _)| k == "emc:website"));
    assert!(l
        .metadata()
        .contains(&("icrc1:fee".into(), MetadataValue::Nat((2 * FEE).into()))));
    l.icrc1_transfer(p(1), xfer(acct(3), E8S), NOW).unwrap();
    assert_eq!(l.balance_of(&acct(99)), 2 * FEE);
    assert_eq!(l.total_supply(), 1_500 * E8S - 2 * FEE);
    // Bad upgrade args are refused and change nothing.
    let cfg = l.config().clone();
    assert!(l
        .upgrade(&UpgradeArgs {
            transfer_fee: Some(Nat::from(u128::MAX)),
            ..Default::default()
        })
        .is_err());
    assert!(l
        .upgrade(&UpgradeArgs {
            change_fee_collector: Some(ChangeFeeCollector::SetTo(minter())),
            ..Default::default()
        })
        .is_err());
    assert_eq!(l.config(), &cfg);
    // The upgrade is persistent.
    drop(l);
    let l = Ledger::load(mem).unwrap();
    assert_eq!(l.fee(), 2 * FEE);
    assert_eq!(l.config().fee_collector, None);
}
