//! Model-based property test: random sequences of transfers, approvals, transfer_from, mints
//! and burns (by many accounts and subaccounts, with bad fees, huge amounts, stale and future
//! timestamps, duplicates and anonymous callers) run against the ledger and a plain model.
//! After every step: results agree, balances and allowances agree, the balances sum to the
//! total supply, and the new block links to the previous tip.

use crate::common::*;
use candid::{Nat, Principal};
use emc_ledger::ledger::{PERMITTED_DRIFT_NANOS, TX_WINDOW_NANOS};
use emc_ledger::Ledger;
use ic_stable_structures::VectorMemory;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::{TransferArg, TransferError};
use icrc_ledger_types::icrc2::allowance::AllowanceArgs;
use icrc_ledger_types::icrc2::approve::{ApproveArgs, ApproveError};
use icrc_ledger_types::icrc2::transfer_from::{TransferFromArgs, TransferFromError};
use proptest::prelude::*;
use std::collections::BTreeMap;

const CAP: u64 = 10_000 * E8S;
const N_ACCOUNTS: u8 = 16;
const MINTING: u8 = 16;

/// Account `i`: owner p(1 + i / 4), subaccount None, zeros, 1 or 2; `MINTING` is the minter.
fn account(i: u8) -> Account {
    if i >= MINTING {
        return minter();
    }
    let owner = p(1 + i / 4);
    let subaccount = match i % 4 {
        0 => None,
        1 => Some([0; 32]),
        2 => subaccount(1),
        _ => subaccount(2),
    };
    Account { owner, subaccount }
}

type Key = (Principal, [u8; 32]);

fn key(a: &Account) -> Key {
    (a.owner, a.subaccount.unwrap_or([0; 32]))
}

#[derive(Clone, Debug)]
enum Amt {
    Small(u64),
    Max,
    Huge(u128),
}

impl Amt {
    fn nat(&self) -> Nat {
        match self {
            Amt::Small(n) => Nat::from(*n),
            Amt::Max => Nat::from(u64::MAX),
            Amt::Huge(n) => Nat::from(*n),
        }
    }
    fn u64(&self) -> Option<u64> {
        match self {
            Amt::Small(n) => Some(*n),
            Amt::Max => Some(u64::MAX),
            Amt::Huge(_) => None,
        }
    }
}

#[derive(Clone, Debug)]
enum TimeChoice {
    None,
    Now,
    Fixed,
    TooOld,
    Future,
}

#[derive(Clone, Debug)]
enum Action {
    Transfer {
        caller: u8,
        from: u8,
        to: u8,
        amount: Amt,
        fee: u8,
        created: TimeChoice,
        memo_len: u8,
    },
    Mint {
        to: u8,
        amount: Amt,
        created: TimeChoice,
    },
    Approve {
        from: u8,
        spender: u8,
        amount: Amt,
        expected: Option<Amt>,
        expires: Option<u64>,
        created: TimeChoice,
        anonymous: bool,
    },
    TransferFrom {
        spender: u8,
        from: u8,
        to: u8,
        amount: Amt,
        created: TimeChoice,
        anonymous: bool,
    },
    Tick(u64),
    /// Repeat the previous action exactly (to hit deduplication).
    Repeat,
}

fn amt() -> impl Strategy<Value = Amt> {
    prop_oneof![
        8 => (0u64..300 * E8S).prop_map(Amt::Small),
        2 => (0u64..3 * FEE).prop_map(Amt::Small),
        1 => Just(Amt::Max),
        1 => (u64::MAX - 2 * FEE..=u64::MAX).prop_map(Amt::Small),
        1 => (u128::from(u64::MAX) + 1..=u128::MAX).prop_map(Amt::Huge),
    ]
}

fn time_choice() -> impl Strategy<Value = TimeChoice> {
    prop_oneof![
        4 => Just(TimeChoice::None),
        2 => Just(TimeChoice::Now),
        2 => Just(TimeChoice::Fixed),
        1 => Just(TimeChoice::TooOld),
        1 => Just(TimeChoice::Future),
    ]
}

/// Mostly accounts with funds (0, 4, 6, 9) and their neighbours.
fn party() -> impl Strategy<Value = u8> {
    prop_oneof![6 => prop::sample::select(vec![0u8, 4, 6, 9]), 2 => prop::sample::select(vec![1u8, 5]), 1 => 0..N_ACCOUNTS]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0u8..5, 0u8..4, 0..=MINTING, amt(), 0u8..4, time_choice(), prop_oneof![4 => Just(0u8), 1 => 1u8..40])
            .prop_map(|(caller, sub, to, amount, fee, created, memo_len)| Action::Transfer {
                caller, from: sub, to, amount, fee, created, memo_len
            }),
        2 => (0..N_ACCOUNTS, amt(), time_choice()).prop_map(|(to, amount, created)| Action::Mint { to, amount, created }),
        4 => (party(), party(), amt(), proptest::option::weighted(0.2, amt()), proptest::option::of(prop_oneof![Just(0u64), 1u64..3_600]), time_choice(), proptest::bool::weighted(0.05))
            .prop_map(|(from, spender, amount, expected, expires, created, anonymous)| Action::Approve {
                from, spender, amount, expected, expires, created, anonymous
            }),
        4 => (party(), party(), prop_oneof![4 => party(), 1 => Just(MINTING)], prop_oneof![3 => (0u64..50 * E8S).prop_map(Amt::Small), 1 => amt()], time_choice(), proptest::bool::weighted(0.05))
            .prop_map(|(spender, from, to, amount, created, anonymous)| Action::TransferFrom {
                spender, from, to, amount, created, anonymous
            }),
        1 => prop_oneof![Just(0u64), Just(SEC), Just(3_600 * SEC), Just(25 * 3_600 * SEC)].prop_map(Action::Tick),
        2 => Just(Action::Repeat),
    ]
}

/// The model: plain maps and the rules written out again.
#[derive(Default)]
struct Model {
    balances: BTreeMap<Key, u64>,
    allowances: BTreeMap<(Key, Key), (u64, u64)>,
    supply: u64,
    log: u64,
    dedup: BTreeMap<String, u64>,
}

/// Result of a step, comparable across endpoints: `Ok(index)` or the error's debug text with
/// GenericError reduced to its code.
type Outcome = Result<u64, String>;

fn generic(code: u64) -> Outcome {
    Err(format!("Generic({code})"))
}

fn out_transfer(r: Result<Nat, TransferError>) -> Outcome {
    match r {
        Ok(n) => Ok(u64::try_from(&n.0).unwrap()),
        Err(TransferError::GenericError { error_code, .. }) => {
            generic(u64::try_from(&error_code.0).unwrap())
        }
        Err(e) => Err(format!("{e:?}")),
    }
}

fn out_approve(r: Result<Nat, ApproveError>) -> Outcome {
    match r {
        Ok(n) => Ok(u64::try_from(&n.0).unwrap()),
        Err(ApproveError::GenericError { error_code, .. }) => {
            generic(u64::try_from(&error_code.0).unwrap())
        }
        Err(e) => Err(format!("{e:?}")),
    }
}

fn out_transfer_from(r: Result<Nat, TransferFromError>) -> Outcome {
    match r {
        Ok(n) => Ok(u64::try_from(&n.0).unwrap()),
        Err(TransferFromError::GenericError { error_code, .. }) => {
            generic(u64::try_from(&error_code.0).unwrap())
        }
        Err(e) => Err(format!("{e:?}")),
    }
}

impl Model {
    fn bal(&self, a: &Account) -> u64 {
        self.balances.get(&key(a)).copied().unwrap_or(0)
    }
    fn add(&mut self, a: &Account, n: u64) {
        *self.balances.entry(key(a)).or_default() += n;
    }
    fn sub(&mut self, a: &Account, n: u64) {
        let b = self.balances.entry(key(a)).or_default();
        *b -= n;
    }
    fn allowance(&self, from: &Account, spender: &Account, now: u64) -> u64 {
        match self.allowances.get(&(key(from), key(spender))) {
            Some((a, x)) if *x == 0 || *x > now => *a,
            _ => 0,
        }
    }
    fn time_error(created: Option<u64>, now: u64) -> Option<String> {
        let t = created?;
        if t + TX_WINDOW_NANOS + PERMITTED_DRIFT_NANOS < now {
            return Some("TooOld".into());
        }
        if t > now + PERMITTED_DRIFT_NANOS {
            return Some(format!("CreatedInFuture {{ ledger_time: {now} }}"));
        }
        None
    }

    /// The transfer-like core (icrc1_transfer and icrc2_transfer_from).
    #[allow(clippy::too_many_arguments)]
    fn do_move(
        &mut self,
        from: Account,
        to: Account,
        spender: Option<Account>,
        amount: &Amt,
        fee: Option<Nat>,
        memo: Option<Vec<u8>>,
        created: Option<u64>,
        now: u64,
    ) -> Outcome {
        if memo.as_ref().is_some_and(|m| m.len() > 32) {
            return generic(2);
        }
        if let Some(e) = Self::time_error(created, now) {
            return Err(e);
        }
        let fm = key(&from) == key(&minter());
        let tm = key(&to) == key(&minter());
        let op = match (fm, tm) {
            (true, true) => return generic(4),
            (true, false) => "mint",
            (false, true) => "burn",
            (false, false) => "xfer",
        };
        let expected_fee = if op == "xfer" { FEE } else { 0 };
        if let Some(f) = &fee {
            if u64::try_from(&f.0).ok() != Some(expected_fee) {
                return Err(format!(
                    "BadFee {{ expected_fee: {:?} }}",
                    Nat::from(expected_fee)
                ));
            }
        }
        let balance = self.bal(&from);
        let Some(amount) = amount.u64() else {
            return if op == "mint" {
                generic(3)
            } else {
                Err(format!(
                    "InsufficientFunds {{ balance: {:?} }}",
                    Nat::from(balance)
                ))
            };
        };
        if op == "burn" && amount < FEE {
            return Err(format!(
                "BadBurn {{ min_burn_amount: {:?} }}",
                Nat::from(FEE)
            ));
        }
        let dkey = format!(
            "{op}|{:?}|{:?}|{spender:?}|{amount}|{:?}|{memo:?}|{created:?}",
            (op != "mint").then_some(from),
            (op != "burn").then_some(to),
            if op == "xfer" { fee.clone() } else { None }
        );
        if created.is_some() {
            if let Some(i) = self.dedup.get(&dkey) {
                return Err(format!("Duplicate {{ duplicate_of: {:?} }}", Nat::from(*i)));
            }
        }
        let debit = amount.checked_add(expected_fee);
        let spender_needs_allowance = spender.filter(|s| key(s) != key(&from));
        if let Some(s) = &spender_needs_allowance {
            let a = self.allowance(&from, s, now);
            if debit.is_none_or(|d| d > a) {
                return Err(format!(
                    "InsufficientAllowance {{ allowance: {:?} }}",
                    Nat::from(a)
                ));
            }
        }
        if op == "mint" {
            if self.supply.checked_add(amount).is_none_or(|s| s > CAP) {
                return generic(3);
            }
        } else if debit.is_none_or(|d| d > balance) {
            return Err(format!(
                "InsufficientFunds {{ balance: {:?} }}",
                Nat::from(balance)
            ));
        }
        let index = self.log;
        self.log += 1;
        if created.is_some() {
            self.dedup.insert(dkey, index);
        }
        match op {
            "mint" => {
                self.add(&to, amount);
                self.supply += amount;
            }
            "burn" => {
                self.sub(&from, amount);
                self.supply -= amount;
            }
            _ => {
                self.sub(&from, amount + FEE);
                self.add(&to, amount);
                self.supply -= FEE;
            }
        }
        if let Some(s) = &spender_needs_allowance {
            let (_, x) = self.allowances[&(key(&from), key(s))];
            let left = self.allowance(&from, s, now) - debit.unwrap_or(0);
            self.allowances.insert((key(&from), key(s)), (left, x));
        }
        Ok(index)
    }

    fn approve(&mut self, from: Account, arg: &ApproveArgs, now: u64) -> Outcome {
        if from.owner == arg.spender.owner {
            return generic(5);
        }
        if let Some(e) = Self::time_error(arg.created_at_time, now) {
            return Err(e);
        }
        if let Some(e) = arg.expires_at {
            if e <= now {
                return Err(format!("Expired {{ ledger_time: {now} }}"));
            }
        }
        let current = self.allowance(&from, &arg.spender, now);
        if let Some(e) = &arg.expected_allowance {
            if u64::try_from(&e.0).ok() != Some(current) {
                return Err(format!(
                    "AllowanceChanged {{ current_allowance: {:?} }}",
                    Nat::from(current)
                ));
            }
        }
        let amount = u64::try_from(&arg.amount.0).unwrap_or(u64::MAX);
        let dkey = format!(
            "approve|{from:?}|{:?}|{amount}|{:?}|{:?}|{:?}",
            arg.spender, arg.expected_allowance, arg.expires_at, arg.created_at_time
        );
        if arg.created_at_time.is_some() {
            if let Some(i) = self.dedup.get(&dkey) {
                return Err(format!("Duplicate {{ duplicate_of: {:?} }}", Nat::from(*i)));
            }
        }
        let balance = self.bal(&from);
        if balance < FEE {
            return Err(format!(
                "InsufficientFunds {{ balance: {:?} }}",
                Nat::from(balance)
            ));
        }
        let index = self.log;
        self.log += 1;
        if arg.created_at_time.is_some() {
            self.dedup.insert(dkey, index);
        }
        self.sub(&from, FEE);
        self.supply -= FEE;
        self.allowances.insert(
            (key(&from), key(&arg.spender)),
            (amount, arg.expires_at.unwrap_or(0)),
        );
        Ok(index)
    }
}

fn created_at(c: &TimeChoice, now: u64) -> Option<u64> {
    match c {
        TimeChoice::None => None,
        TimeChoice::Now => Some(now),
        TimeChoice::Fixed => Some(NOW),
        TimeChoice::TooOld => Some(now - TX_WINDOW_NANOS - PERMITTED_DRIFT_NANOS - 1),
        TimeChoice::Future => Some(now + PERMITTED_DRIFT_NANOS + 1),
    }
}

fn check(l: &Ledger<VectorMemory>, m: &Model, now: u64) -> Result<(), TestCaseError> {
    if let Err(e) = l.check_invariants() {
        return Err(TestCaseError::fail(e));
    }
    // Balances agree (the ledger stores no zero balances).
    let ledger: BTreeMap<Key, u64> = l
        .balances()
        .into_iter()
        .map(|(a, b)| (key(&a), b))
        .collect();
    let model: BTreeMap<Key, u64> = m
        .balances
        .iter()
        .filter(|(_, b)| **b > 0)
        .map(|(k, b)| (*k, *b))
        .collect();
    prop_assert_eq!(&ledger, &model);
    prop_assert!(ledger.values().all(|b| *b > 0));
    // Sum of balances = total supply <= cap.
    let sum: u128 = ledger.values().map(|b| u128::from(*b)).sum();
    prop_assert_eq!(sum, u128::from(l.total_supply()));
    prop_assert_eq!(l.total_supply(), m.supply);
    prop_assert!(l.total_supply() <= CAP);
    prop_assert_eq!(l.log_length(), m.log);
    // Allowances agree (effective values).
    for i in 0..N_ACCOUNTS {
        for j in 0..N_ACCOUNTS {
            let (a, s) = (account(i), account(j));
            let got = l
                .icrc2_allowance(
                    &AllowanceArgs {
                        account: a,
                        spender: s,
                    },
                    now,
                )
                .allowance;
            prop_assert_eq!(got, Nat::from(m.allowance(&a, &s, now)));
        }
    }
    Ok(())
}

fn run(actions: Vec<Action>) -> Result<(), TestCaseError> {
    let mut args = init_args();
    args.supply_cap = Some(Nat::from(CAP));
    args.initial_balances = vec![
        (account(0), Nat::from(1_000 * E8S)),
        (account(4), Nat::from(1_000 * E8S)),
        (account(6), Nat::from(100 * E8S)),
        (account(9), Nat::from(1_000 * E8S)),
    ];
    let (mut l, _) = new_ledger_with(&args);
    let mut m = Model::default();
    for (a, n) in &args.initial_balances {
        m.add(a, u64::try_from(&n.0).unwrap());
        m.supply += u64::try_from(&n.0).unwrap();
        m.log += 1;
    }
    let mut now = NOW;
    check(&l, &m, now)?;
    let mut last: Option<Action> = None;
    for action in actions {
        let action = match action {
            Action::Repeat => match &last {
                Some(a) => a.clone(),
                None => continue,
            },
            a => a,
        };
        if !matches!(action, Action::Tick(_)) {
            last = Some(action.clone());
        }
        let tip_before = l.tip();
        let (got, want) = match &action {
            Action::Tick(d) => {
                now += d;
                continue;
            }
            Action::Repeat => continue,
            Action::Transfer {
                caller,
                from,
                to,
                amount,
                fee,
                created,
                memo_len,
            } => {
                let owner = if *caller == 4 {
                    Principal::anonymous()
                } else {
                    p(1 + caller)
                };
                let from_acc = Account {
                    owner,
                    subaccount: account(*from).subaccount,
                };
                let fee = match fee {
                    0 => None,
                    1 => Some(Nat::from(FEE)),
                    2 => Some(Nat::from(0u8)),
                    _ => Some(Nat::from(FEE + 1)),
                };
                let memo_bytes = (*memo_len > 0).then(|| vec![*memo_len; usize::from(*memo_len)]);
                let arg = TransferArg {
                    from_subaccount: from_acc.subaccount,
                    to: account(*to),
                    fee: fee.clone(),
                    created_at_time: created_at(created, now),
                    memo: memo_bytes.as_deref().and_then(memo),
                    amount: amount.nat(),
                };
                let want = if owner == Principal::anonymous() {
                    generic(1)
                } else {
                    m.do_move(
                        from_acc,
                        account(*to),
                        None,
                        amount,
                        fee,
                        memo_bytes,
                        arg.created_at_time,
                        now,
                    )
                };
                (out_transfer(l.icrc1_transfer(owner, arg, now)), want)
            }
            Action::Mint {
                to,
                amount,
                created,
            } => {
                let arg = TransferArg {
                    from_subaccount: None,
                    to: account(*to),
                    fee: None,
                    created_at_time: created_at(created, now),
                    memo: None,
                    amount: amount.nat(),
                };
                let want = m.do_move(
                    minter(),
                    account(*to),
                    None,
                    amount,
                    None,
                    None,
                    arg.created_at_time,
                    now,
                );
                (
                    out_transfer(l.icrc1_transfer(minter().owner, arg, now)),
                    want,
                )
            }
            Action::Approve {
                from,
                spender,
                amount,
                expected,
                expires,
                created,
                anonymous,
            } => {
                let from_acc = account(*from);
                let owner = if *anonymous {
                    Principal::anonymous()
                } else {
                    from_acc.owner
                };
                let arg = ApproveArgs {
                    from_subaccount: from_acc.subaccount,
                    spender: account(*spender),
                    amount: amount.nat(),
                    expected_allowance: expected.as_ref().map(Amt::nat),
                    expires_at: expires.map(|s| now + s * SEC),
                    fee: None,
                    memo: None,
                    created_at_time: created_at(created, now),
                };
                let want = if *anonymous {
                    generic(1)
                } else {
                    m.approve(from_acc, &arg, now)
                };
                (out_approve(l.icrc2_approve(owner, arg, now)), want)
            }
            Action::TransferFrom {
                spender,
                from,
                to,
                amount,
                created,
                anonymous,
            } => {
                let sp = account(*spender);
                let owner = if *anonymous {
                    Principal::anonymous()
                } else {
                    sp.owner
                };
                let arg = TransferFromArgs {
                    spender_subaccount: sp.subaccount,
                    from: account(*from),
                    to: account(*to),
                    amount: amount.nat(),
                    fee: None,
                    memo: None,
                    created_at_time: created_at(created, now),
                };
                let want = if *anonymous {
                    generic(1)
                } else {
                    m.do_move(
                        account(*from),
                        account(*to),
                        Some(sp),
                        amount,
                        None,
                        None,
                        arg.created_at_time,
                        now,
                    )
                };
                (
                    out_transfer_from(l.icrc2_transfer_from(owner, arg, now)),
                    want,
                )
            }
        };
        prop_assert_eq!(&got, &want, "action {:?}", action);
        if std::env::var("MODEL_STATS").is_ok() {
            let k = match &got {
                Ok(_) => "Ok".to_string(),
                Err(e) => e.split([' ', '(']).next().unwrap_or("").to_string(),
            };
            eprintln!(
                "STAT {} {k}",
                format!("{action:?}").split([' ', '(']).next().unwrap_or("")
            );
        }
        // The new block (if any) links to the previous tip and is the new tip.
        if let Ok(i) = got {
            let b = l.block(i).unwrap();
            prop_assert_eq!(b.parent_hash, tip_before.map(|t| t.1));
            prop_assert_eq!(l.tip(), Some((i, b.hash())));
        } else {
            prop_assert_eq!(l.tip(), tip_before);
        }
        check(&l, &m, now)?;
    }
    // The whole chain links.
    let mut prev = None;
    for i in 0..l.log_length() {
        let b = l.block(i).unwrap();
        prop_assert_eq!(b.parent_hash, prev);
        prev = Some(b.hash());
    }
    prop_assert_eq!(l.tip().map(|t| t.1), prev);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn ledger_matches_model(actions in prop::collection::vec(action(), 1..80)) {
        run(actions)?;
    }
}
