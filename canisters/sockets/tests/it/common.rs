//! Shared helpers.
#![allow(dead_code)]

use candid::Principal;
use emc_sockets::{MintSocketArgs, SocketTerms};
use emc_types::Hash;
use icrc_ledger_types::icrc1::account::Account;

pub const SEC: u64 = 1_000_000_000;
/// The clock the pure tests start at (2026-01-01).
pub const T0: u64 = 1_767_225_600 * SEC;

pub fn p(n: u64) -> Principal {
    let mut b = [0u8; 10];
    b[..8].copy_from_slice(&n.to_be_bytes());
    b[9] = 0x01;
    Principal::from_slice(&b)
}

pub fn acct(owner: Principal) -> Account {
    Account {
        owner,
        subaccount: None,
    }
}

pub fn terms(app: &str, expires_at: u64) -> SocketTerms {
    SocketTerms {
        app_id: app.into(),
        model_hash: Hash([7; 32]),
        units_per_period: 1_000,
        period_secs: 86_400,
        expires_at,
        offer_id: 3,
        provider: p(50),
        paid_e8s: 42 * 100_000_000,
    }
}

pub fn mint_args(purchase_id: u64, to: Principal, app: &str, expires_at: u64) -> MintSocketArgs {
    MintSocketArgs {
        purchase_id,
        to: acct(to),
        terms: terms(app, expires_at),
        memo: None,
    }
}
