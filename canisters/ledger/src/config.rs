//! Init and upgrade arguments, and the ledger's stored configuration.

use crate::account::same_account;
use crate::LedgerError;
use candid::{CandidType, Deserialize, Nat, Principal};
use icrc_ledger_types::icrc::generic_metadata_value::MetadataValue;
use icrc_ledger_types::icrc1::account::Account;
use serde::Serialize;

/// e8s per EMC.
pub const E8S_PER_EMC: u64 = 100_000_000;
/// Default supply cap: 2,100,000,000 EMC (spec 2).
pub const DEFAULT_SUPPLY_CAP: u64 = 2_100_000_000 * E8S_PER_EMC;
/// Default decimals.
pub const DEFAULT_DECIMALS: u8 = 8;
/// Default (and minimum) memo length limit in bytes; ICRC-1 requires accepting 32.
pub const DEFAULT_MAX_MEMO_LENGTH: u16 = 32;
/// Longest token name / symbol accepted.
pub const MAX_NAME_LEN: usize = 64;
/// Most extra metadata entries.
pub const MAX_METADATA_ENTRIES: usize = 64;

/// Arguments of a fresh install.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct InitArgs {
    /// Token name, e.g. "EdgeMatrix Computing".
    pub token_name: String,
    /// Token symbol, e.g. "EMC".
    pub token_symbol: String,
    /// Decimals (default 8, at most 18).
    pub decimals: Option<u8>,
    /// The transfer (and approve) fee in e8s.
    pub transfer_fee: Nat,
    /// The minting account: transfers from it mint (the rewards logic), transfers to it burn.
    pub minting_account: Account,
    /// Genesis balances, minted at install (block per entry).
    pub initial_balances: Vec<(Account, Nat)>,
    /// Where fees go; burned when absent.
    pub fee_collector_account: Option<Account>,
    /// Longest memo accepted (default and minimum 32).
    pub max_memo_length: Option<u16>,
    /// The governance principal (the SNS root/governance) recorded for the record and metadata.
    pub governance: Principal,
    /// Supply cap in e8s (default 2,100,000,000 EMC): minting past it is refused.
    pub supply_cap: Option<Nat>,
    /// Extra metadata entries (keys must not start with `icrc1:`).
    pub metadata: Option<Vec<(String, MetadataValue)>>,
}

impl InitArgs {
    /// The $EMC token ("EdgeMatrix Computing", EMC, 8 decimals, default memo length and supply
    /// cap, fees burned) with a deployment's accounts. Set the other fields with struct update
    /// syntax, e.g. `InitArgs { fee_collector_account: Some(a), ..InitArgs::emc(..) }`.
    pub fn emc(
        minting_account: Account,
        governance: Principal,
        transfer_fee_e8s: u64,
        initial_balances: Vec<(Account, u64)>,
    ) -> Self {
        InitArgs {
            token_name: "EdgeMatrix Computing".into(),
            token_symbol: "EMC".into(),
            decimals: Some(8),
            transfer_fee: Nat::from(transfer_fee_e8s),
            minting_account,
            initial_balances: initial_balances
                .into_iter()
                .map(|(a, e8s)| (a, Nat::from(e8s)))
                .collect(),
            fee_collector_account: None,
            max_memo_length: None,
            governance,
            supply_cap: None,
            metadata: None,
        }
    }
}

/// A change of the fee collector.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub enum ChangeFeeCollector {
    /// Burn fees from now on.
    Unset,
    /// Send fees to this account from now on.
    SetTo(Account),
}

/// Arguments of an upgrade: every field is optional and absent means unchanged.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Default)]
pub struct UpgradeArgs {
    /// New token name.
    pub token_name: Option<String>,
    /// New token symbol.
    pub token_symbol: Option<String>,
    /// New transfer fee.
    pub transfer_fee: Option<Nat>,
    /// New extra metadata (replaces the extra entries; the `icrc1:*` entries are derived).
    pub metadata: Option<Vec<(String, MetadataValue)>>,
    /// New fee collector.
    pub change_fee_collector: Option<ChangeFeeCollector>,
}

/// The canister's install argument.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub enum LedgerArg {
    /// Fresh install.
    Init(InitArgs),
    /// Upgrade (optional changes).
    Upgrade(Option<UpgradeArgs>),
}

/// The stored configuration.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct Config {
    /// Token name.
    pub token_name: String,
    /// Token symbol.
    pub token_symbol: String,
    /// Decimals.
    pub decimals: u8,
    /// Transfer/approve fee in e8s.
    pub fee: u64,
    /// The minting account.
    pub minting_account: Account,
    /// The fee collector (fees are burned when `None`).
    pub fee_collector: Option<Account>,
    /// Longest memo accepted.
    pub max_memo_length: u16,
    /// Governance principal.
    pub governance: Principal,
    /// Supply cap in e8s.
    pub supply_cap: u64,
    /// Extra metadata.
    pub metadata: Vec<(String, MetadataValue)>,
}

/// `n` as a u64, or an error naming `what`.
pub fn nat_to_u64(n: &Nat, what: &'static str) -> Result<u64, LedgerError> {
    u64::try_from(&n.0)
        .map_err(|_| LedgerError::InvalidArgument(format!("{what} does not fit in 64 bits")))
}

fn check_name(s: &str, what: &str) -> Result<(), LedgerError> {
    if s.is_empty() || s.len() > MAX_NAME_LEN {
        return Err(LedgerError::InvalidArgument(format!(
            "{what} must have 1 to {MAX_NAME_LEN} bytes"
        )));
    }
    Ok(())
}

fn check_metadata(m: &[(String, MetadataValue)]) -> Result<(), LedgerError> {
    if m.len() > MAX_METADATA_ENTRIES {
        return Err(LedgerError::InvalidArgument(
            "too many metadata entries".into(),
        ));
    }
    for (k, _) in m {
        if k.starts_with("icrc1:") || k.is_empty() || k.len() > 128 {
            return Err(LedgerError::InvalidArgument(format!(
                "metadata key {k:?} is reserved or invalid"
            )));
        }
    }
    Ok(())
}

fn check_fee_collector(fc: &Option<Account>, minting: &Account) -> Result<(), LedgerError> {
    if let Some(fc) = fc {
        if same_account(fc, minting) {
            return Err(LedgerError::InvalidArgument(
                "the fee collector cannot be the minting account".into(),
            ));
        }
    }
    Ok(())
}

impl Config {
    /// Validates init arguments into a configuration.
    pub fn from_init(args: &InitArgs) -> Result<Config, LedgerError> {
        check_name(&args.token_name, "token_name")?;
        check_name(&args.token_symbol, "token_symbol")?;
        let decimals = args.decimals.unwrap_or(DEFAULT_DECIMALS);
        if decimals > 18 {
            return Err(LedgerError::InvalidArgument(
                "decimals must be at most 18".into(),
            ));
        }
        let fee = nat_to_u64(&args.transfer_fee, "transfer_fee")?;
        let supply_cap = match &args.supply_cap {
            Some(c) => nat_to_u64(c, "supply_cap")?,
            None => DEFAULT_SUPPLY_CAP,
        };
        let max_memo_length = args.max_memo_length.unwrap_or(DEFAULT_MAX_MEMO_LENGTH);
        if max_memo_length < DEFAULT_MAX_MEMO_LENGTH {
            return Err(LedgerError::InvalidArgument(
                "max_memo_length must be at least 32 (ICRC-1)".into(),
            ));
        }
        if args.minting_account.owner == Principal::anonymous() {
            return Err(LedgerError::InvalidArgument(
                "the minting account cannot be anonymous".into(),
            ));
        }
        check_fee_collector(&args.fee_collector_account, &args.minting_account)?;
        let metadata = args.metadata.clone().unwrap_or_default();
        check_metadata(&metadata)?;
        Ok(Config {
            token_name: args.token_name.clone(),
            token_symbol: args.token_symbol.clone(),
            decimals,
            fee,
            minting_account: args.minting_account,
            fee_collector: args.fee_collector_account,
            max_memo_length,
            governance: args.governance,
            supply_cap,
            metadata,
        })
    }

    /// The configuration after an upgrade; absent fields keep their values.
    pub fn upgraded(&self, args: &UpgradeArgs) -> Result<Config, LedgerError> {
        let mut c = self.clone();
        if let Some(n) = &args.token_name {
            check_name(n, "token_name")?;
            c.token_name = n.clone();
        }
        if let Some(s) = &args.token_symbol {
            check_name(s, "token_symbol")?;
            c.token_symbol = s.clone();
        }
        if let Some(f) = &args.transfer_fee {
            c.fee = nat_to_u64(f, "transfer_fee")?;
        }
        if let Some(m) = &args.metadata {
            check_metadata(m)?;
            c.metadata = m.clone();
        }
        match &args.change_fee_collector {
            None => {}
            Some(ChangeFeeCollector::Unset) => c.fee_collector = None,
            Some(ChangeFeeCollector::SetTo(a)) => {
                check_fee_collector(&Some(*a), &c.minting_account)?;
                c.fee_collector = Some(*a);
            }
        }
        Ok(c)
    }
}
