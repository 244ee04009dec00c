//! Accounts: the normalised storage key (a `None` subaccount and the all-zero subaccount are
//! the same account) and the ICRC-3 representation.

use crate::hashing::{sha256, Hash};
use candid::Principal;
use ic_stable_structures::storable::{Bound, Storable};
use icrc_ledger_types::icrc::generic_value::ICRC3Value;
use icrc_ledger_types::icrc1::account::Account;
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// The all-zero (default) subaccount.
pub const DEFAULT_SUBACCOUNT: [u8; 32] = [0; 32];

/// The most bytes a principal has.
pub const MAX_PRINCIPAL_LEN: usize = 29;

/// Size of an [`AccountKey`]: principal length, principal padded to 29 bytes, subaccount.
pub const ACCOUNT_KEY_LEN: usize = 1 + MAX_PRINCIPAL_LEN + 32;

/// An account's normalised, fixed-size storage key. `None` and the all-zero subaccount give the
/// same key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct AccountKey(pub [u8; ACCOUNT_KEY_LEN]);

impl AccountKey {
    /// The key of `account`.
    pub fn new(account: &Account) -> Self {
        let mut k = [0u8; ACCOUNT_KEY_LEN];
        let owner = account.owner.as_slice();
        let n = owner.len().min(MAX_PRINCIPAL_LEN);
        k[0] = n as u8;
        k[1..1 + n].copy_from_slice(&owner[..n]);
        if let Some(sub) = &account.subaccount {
            k[1 + MAX_PRINCIPAL_LEN..].copy_from_slice(sub);
        }
        AccountKey(k)
    }

    /// The account this key stands for (with `None` for the default subaccount).
    pub fn account(&self) -> Account {
        let n = usize::from(self.0[0]).min(MAX_PRINCIPAL_LEN);
        let owner = Principal::from_slice(&self.0[1..1 + n]);
        let mut sub = [0u8; 32];
        sub.copy_from_slice(&self.0[1 + MAX_PRINCIPAL_LEN..]);
        Account {
            owner,
            subaccount: (sub != DEFAULT_SUBACCOUNT).then_some(sub),
        }
    }
}

impl Storable for AccountKey {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.0)
    }

    fn into_bytes(self) -> Vec<u8> {
        self.0.to_vec()
    }

    fn from_bytes(bytes: Cow<'_, [u8]>) -> Self {
        let mut k = [0u8; ACCOUNT_KEY_LEN];
        let n = bytes.len().min(ACCOUNT_KEY_LEN);
        k[..n].copy_from_slice(&bytes[..n]);
        AccountKey(k)
    }

    const BOUND: Bound = Bound::Bounded {
        max_size: ACCOUNT_KEY_LEN as u32,
        is_fixed_size: true,
    };
}

/// Whether two accounts are the same (subaccount `None` = all zeros).
pub fn same_account(a: &Account, b: &Account) -> bool {
    a.owner == b.owner
        && a.subaccount.unwrap_or(DEFAULT_SUBACCOUNT) == b.subaccount.unwrap_or(DEFAULT_SUBACCOUNT)
}

/// The ICRC-3 value of an account: `Array [Blob owner]` or `Array [Blob owner, Blob sub]`
/// (the subaccount exactly as given).
pub fn account_value(account: &Account) -> ICRC3Value {
    let mut items = vec![ICRC3Value::Blob(ByteBuf::from(
        account.owner.as_slice().to_vec(),
    ))];
    if let Some(sub) = &account.subaccount {
        items.push(ICRC3Value::Blob(ByteBuf::from(sub.to_vec())));
    }
    ICRC3Value::Array(items)
}

/// The ICRC-3 hash of [`account_value`], computed directly.
pub fn account_hash(account: &Account) -> Hash {
    let mut h = Sha256::new();
    h.update(sha256(account.owner.as_slice()));
    if let Some(sub) = &account.subaccount {
        h.update(sha256(sub));
    }
    h.finalize().into()
}
