//! The ledger state machine: every ICRC-1/2/3 endpoint as a method taking the caller and the
//! current time as arguments. Validation happens entirely before any write, so a call that
//! returns an error changes nothing observable.

use crate::account::{same_account, AccountKey};
use crate::block::{Block, Op, Tx};
use crate::config::{Config, InitArgs, UpgradeArgs};
use crate::hashing::{tip_tree, Hash, HashTree};
use crate::storage::{Stores, Tip, HEADER};
use crate::{error_codes, LedgerError};
use candid::{Nat, Principal};
use ic_stable_structures::Memory;
use icrc_ledger_types::icrc::generic_metadata_value::MetadataValue;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::{Memo, TransferArg, TransferError};
use icrc_ledger_types::icrc2::allowance::{Allowance, AllowanceArgs};
use icrc_ledger_types::icrc2::approve::{ApproveArgs, ApproveError};
use icrc_ledger_types::icrc2::transfer_from::{TransferFromArgs, TransferFromError};
use icrc_ledger_types::icrc3::archive::{GetArchivesArgs, GetArchivesResult};
use icrc_ledger_types::icrc3::blocks::{
    BlockWithId, GetBlocksRequest, GetBlocksResult, ICRC3DataCertificate, SupportedBlockType,
};
use serde_bytes::ByteBuf;

/// Deduplication window (ICRC-1 `TX_WINDOW`): 24 hours, in nanoseconds.
pub const TX_WINDOW_NANOS: u64 = 24 * 60 * 60 * 1_000_000_000;
/// Allowed clock drift (ICRC-1 `PERMITTED_DRIFT`): 60 seconds, in nanoseconds.
pub const PERMITTED_DRIFT_NANOS: u64 = 60 * 1_000_000_000;
/// Most blocks one `icrc3_get_blocks` call returns (over all its ranges).
pub const MAX_BLOCKS_PER_RESPONSE: u64 = 1_000;
/// Most ranges one `icrc3_get_blocks` call considers.
pub const MAX_RANGES_PER_REQUEST: usize = 128;
/// Most expired dedup entries / allowances removed per update call (bounded work).
pub const MAX_PRUNE_PER_CALL: usize = 32;

/// A standard the ledger supports (ICRC-1 `supported_standards`, ICRC-10).
#[derive(candid::CandidType, serde::Deserialize, serde::Serialize, Clone, Debug, PartialEq)]
pub struct StandardRecord {
    /// e.g. "ICRC-1".
    pub name: String,
    /// The standard's URL.
    pub url: String,
}

/// The kind-independent failure of a transfer-like call, mapped to each endpoint's error type.
#[derive(Debug, Clone, PartialEq)]
enum Fail {
    BadFee(u64),
    BadBurn(u64),
    InsufficientFunds(u64),
    InsufficientAllowance(u64),
    TooOld,
    CreatedInFuture(u64),
    Duplicate(u64),
    AllowanceChanged(u64),
    Expired(u64),
    Generic(u64, String),
}

impl From<Fail> for TransferError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::BadFee(e) => TransferError::BadFee {
                expected_fee: e.into(),
            },
            Fail::BadBurn(m) => TransferError::BadBurn {
                min_burn_amount: m.into(),
            },
            Fail::InsufficientFunds(b) => TransferError::InsufficientFunds { balance: b.into() },
            Fail::TooOld => TransferError::TooOld,
            Fail::CreatedInFuture(t) => TransferError::CreatedInFuture { ledger_time: t },
            Fail::Duplicate(i) => TransferError::Duplicate {
                duplicate_of: i.into(),
            },
            Fail::InsufficientAllowance(_) | Fail::AllowanceChanged(_) | Fail::Expired(_) => {
                TransferError::GenericError {
                    error_code: error_codes::INTERNAL.into(),
                    message: "unexpected allowance error".into(),
                }
            }
            Fail::Generic(c, m) => TransferError::GenericError {
                error_code: c.into(),
                message: m,
            },
        }
    }
}

impl From<Fail> for TransferFromError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::BadFee(e) => TransferFromError::BadFee {
                expected_fee: e.into(),
            },
            Fail::BadBurn(m) => TransferFromError::BadBurn {
                min_burn_amount: m.into(),
            },
            Fail::InsufficientFunds(b) => {
                TransferFromError::InsufficientFunds { balance: b.into() }
            }
            Fail::InsufficientAllowance(a) => TransferFromError::InsufficientAllowance {
                allowance: a.into(),
            },
            Fail::TooOld => TransferFromError::TooOld,
            Fail::CreatedInFuture(t) => TransferFromError::CreatedInFuture { ledger_time: t },
            Fail::Duplicate(i) => TransferFromError::Duplicate {
                duplicate_of: i.into(),
            },
            Fail::AllowanceChanged(_) | Fail::Expired(_) => TransferFromError::GenericError {
                error_code: error_codes::INTERNAL.into(),
                message: "unexpected approval error".into(),
            },
            Fail::Generic(c, m) => TransferFromError::GenericError {
                error_code: c.into(),
                message: m,
            },
        }
    }
}

impl From<Fail> for ApproveError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::BadFee(e) => ApproveError::BadFee {
                expected_fee: e.into(),
            },
            Fail::InsufficientFunds(b) => ApproveError::InsufficientFunds { balance: b.into() },
            Fail::TooOld => ApproveError::TooOld,
            Fail::CreatedInFuture(t) => ApproveError::CreatedInFuture { ledger_time: t },
            Fail::Duplicate(i) => ApproveError::Duplicate {
                duplicate_of: i.into(),
            },
            Fail::AllowanceChanged(a) => ApproveError::AllowanceChanged {
                current_allowance: a.into(),
            },
            Fail::Expired(t) => ApproveError::Expired { ledger_time: t },
            Fail::BadBurn(_) | Fail::InsufficientAllowance(_) => ApproveError::GenericError {
                error_code: error_codes::INTERNAL.into(),
                message: "unexpected transfer error".into(),
            },
            Fail::Generic(c, m) => ApproveError::GenericError {
                error_code: c.into(),
                message: m,
            },
        }
    }
}

fn generic(code: u64, msg: impl Into<String>) -> Fail {
    Fail::Generic(code, msg.into())
}

/// A transfer-like request after decoding the endpoint's arguments.
struct Move {
    from: Account,
    to: Account,
    spender: Option<Account>,
    amount: Nat,
    fee: Option<Nat>,
    memo: Option<Memo>,
    created_at_time: Option<u64>,
}

/// The $EMC ledger over a stable memory `M`.
pub struct Ledger<M: Memory> {
    config: Config,
    tip: Tip,
    s: Stores<M>,
}

fn encode_config(config: &Config) -> Result<Vec<u8>, LedgerError> {
    let body = candid::encode_one(config).map_err(|e| LedgerError::Storage(e.to_string()))?;
    Ok(HEADER.encode(&body))
}

fn decode_config(bytes: &[u8]) -> Result<Config, LedgerError> {
    // Version 1 is the only layout so far; later versions migrate step by step here.
    let body = HEADER.check(bytes)?;
    candid::decode_one(body).map_err(|e| LedgerError::Storage(e.to_string()))
}

fn u64_of(n: &Nat) -> Option<u64> {
    u64::try_from(&n.0).ok()
}

impl<M: Memory> Ledger<M> {
    /// Installs a fresh ledger in an empty `memory`: validates `args`, stores the config and
    /// mints the genesis balances (one `mint` block each, at time `now`).
    pub fn init(memory: M, args: &InitArgs, now: u64) -> Result<Self, LedgerError> {
        let config = Config::from_init(args)?;
        let mut s = Stores::open(memory);
        if !s.config.get().is_empty() || !s.blocks.is_empty() {
            return Err(LedgerError::AlreadyInitialized);
        }
        // Validate all genesis balances before writing anything.
        let mut total: u64 = 0;
        let mut genesis = Vec::with_capacity(args.initial_balances.len());
        for (account, amount) in &args.initial_balances {
            let amount = crate::config::nat_to_u64(amount, "initial balance")?;
            if same_account(account, &config.minting_account) {
                return Err(LedgerError::InvalidArgument(
                    "a genesis balance cannot go to the minting account".into(),
                ));
            }
            total = total
                .checked_add(amount)
                .ok_or_else(|| LedgerError::InvalidArgument("genesis balances overflow".into()))?;
            genesis.push((*account, amount));
        }
        if total > config.supply_cap {
            return Err(LedgerError::InvalidArgument(
                "genesis balances exceed the supply cap".into(),
            ));
        }
        s.config.set(encode_config(&config)?);
        let mut ledger = Ledger {
            config,
            tip: Tip::default(),
            s,
        };
        for (account, amount) in genesis {
            let tx = Tx {
                op: Op::Mint,
                from: None,
                to: Some(account),
                spender: None,
                amount,
                fee: None,
                memo: None,
                created_at_time: None,
                expected_allowance: None,
                expires_at: None,
            };
            let tx_hash = tx.hash();
            ledger
                .append(tx, tx_hash, None, None, now)
                .map_err(|_| LedgerError::Storage("could not write a genesis block".into()))?;
            ledger.credit(&account, amount);
            ledger.tip.total_supply = ledger.tip.total_supply.saturating_add(amount);
            ledger.save_tip();
        }
        Ok(ledger)
    }

    /// Re-opens the ledger stored in `memory` (after an upgrade); refuses a newer layout.
    pub fn load(memory: M) -> Result<Self, LedgerError> {
        let s = Stores::open(memory);
        let config = decode_config(s.config.get())?;
        let tip = Tip::decode(s.tip.get());
        Ok(Ledger { config, tip, s })
    }

    /// Applies upgrade arguments (absent fields keep their values).
    pub fn upgrade(&mut self, args: &UpgradeArgs) -> Result<(), LedgerError> {
        let config = self.config.upgraded(args)?;
        self.s.config.set(encode_config(&config)?);
        self.config = config;
        Ok(())
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    // ---------------------------------------------------------------- ICRC-1 queries

    /// `icrc1_balance_of`.
    pub fn balance_of(&self, account: &Account) -> u64 {
        self.s.balances.get(&AccountKey::new(account)).unwrap_or(0)
    }

    /// `icrc1_total_supply`.
    pub fn total_supply(&self) -> u64 {
        self.tip.total_supply
    }

    /// `icrc1_fee`.
    pub fn fee(&self) -> u64 {
        self.config.fee
    }

    /// `icrc1_name`.
    pub fn name(&self) -> String {
        self.config.token_name.clone()
    }

    /// `icrc1_symbol`.
    pub fn symbol(&self) -> String {
        self.config.token_symbol.clone()
    }

    /// `icrc1_decimals`.
    pub fn decimals(&self) -> u8 {
        self.config.decimals
    }

    /// `icrc1_minting_account`.
    pub fn minting_account(&self) -> Account {
        self.config.minting_account
    }

    /// `icrc1_metadata`.
    pub fn metadata(&self) -> Vec<(String, MetadataValue)> {
        let c = &self.config;
        let mut m = vec![
            (
                "icrc1:name".to_string(),
                MetadataValue::Text(c.token_name.clone()),
            ),
            (
                "icrc1:symbol".to_string(),
                MetadataValue::Text(c.token_symbol.clone()),
            ),
            (
                "icrc1:decimals".to_string(),
                MetadataValue::Nat(c.decimals.into()),
            ),
            ("icrc1:fee".to_string(), MetadataValue::Nat(c.fee.into())),
            (
                "icrc1:max_memo_length".to_string(),
                MetadataValue::Nat(c.max_memo_length.into()),
            ),
            (
                "emc:supply_cap".to_string(),
                MetadataValue::Nat(c.supply_cap.into()),
            ),
            (
                "emc:governance".to_string(),
                MetadataValue::Text(c.governance.to_text()),
            ),
        ];
        m.extend(c.metadata.iter().cloned());
        m
    }

    /// `icrc1_supported_standards` and `icrc10_supported_standards`.
    pub fn supported_standards(&self) -> Vec<StandardRecord> {
        let base = "https://github.com/dfinity/ICRC-1/tree/main/standards";
        let mut v: Vec<StandardRecord> = ["ICRC-1", "ICRC-2", "ICRC-3"]
            .iter()
            .map(|n| StandardRecord {
                name: n.to_string(),
                url: format!("{base}/{n}"),
            })
            .collect();
        v.push(StandardRecord {
            name: "ICRC-10".into(),
            url: "https://github.com/dfinity/ICRC/blob/main/ICRCs/ICRC-10/ICRC-10.md".into(),
        });
        v.push(StandardRecord {
            name: "ICRC-21".into(),
            url: "https://github.com/dfinity/wg-identity-authentication/blob/main/topics/ICRC-21/icrc_21_consent_msg.md".into(),
        });
        v
    }

    // ---------------------------------------------------------------- shared checks

    fn check_caller(caller: &Principal) -> Result<(), Fail> {
        if *caller == Principal::anonymous() {
            return Err(generic(
                error_codes::ANONYMOUS_CALLER,
                "the anonymous principal cannot make ledger transactions",
            ));
        }
        Ok(())
    }

    fn check_memo(&self, memo: &Option<Memo>) -> Result<(), Fail> {
        if let Some(m) = memo {
            let max = usize::from(self.config.max_memo_length);
            if m.0.len() > max {
                return Err(generic(
                    error_codes::MEMO_TOO_LONG,
                    format!(
                        "the memo has {} bytes; at most {max} are allowed",
                        m.0.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_time(created_at_time: Option<u64>, now: u64) -> Result<(), Fail> {
        if let Some(t) = created_at_time {
            if t.saturating_add(TX_WINDOW_NANOS)
                .saturating_add(PERMITTED_DRIFT_NANOS)
                < now
            {
                return Err(Fail::TooOld);
            }
            if t > now.saturating_add(PERMITTED_DRIFT_NANOS) {
                return Err(Fail::CreatedInFuture(now));
            }
        }
        Ok(())
    }

    fn check_duplicate(&self, tx: &Tx, tx_hash: &Hash) -> Result<(), Fail> {
        if let Some(t) = tx.created_at_time {
            if let Some(index) = self.s.dedup.get(&(t, *tx_hash)) {
                return Err(Fail::Duplicate(index));
            }
        }
        Ok(())
    }

    /// The effective allowance (0 once expired) and the stored expiry (0 = none or no entry).
    fn allowance_of(&self, from: &AccountKey, spender: &AccountKey, now: u64) -> (u64, u64) {
        match self.s.allowances.get(&(*from, *spender)) {
            Some((amount, expires)) if expires == 0 || expires > now => (amount, expires),
            Some((_, expires)) => (0, expires),
            None => (0, 0),
        }
    }

    // ---------------------------------------------------------------- state changes

    fn credit(&mut self, account: &Account, amount: u64) {
        if amount == 0 {
            return;
        }
        let k = AccountKey::new(account);
        let b = self.s.balances.get(&k).unwrap_or(0);
        // Balances sum to the total supply <= the cap <= u64::MAX: no overflow.
        self.s.balances.insert(k, b.saturating_add(amount));
    }

    /// Sets the balance of `key` from its known current value `balance` (no second read).
    fn debit_known(&mut self, key: AccountKey, balance: u64, amount: u64) {
        if amount == 0 {
            return;
        }
        // Callers check `amount <= balance` first.
        let nb = balance.saturating_sub(amount);
        if nb == 0 {
            self.s.balances.remove(&key);
        } else {
            self.s.balances.insert(key, nb);
        }
    }

    /// Credits the fee to the collector, or burns it.
    fn take_fee(&mut self, fee: u64) {
        match self.config.fee_collector {
            Some(fc) => self.credit(&fc, fee),
            None => self.tip.total_supply = self.tip.total_supply.saturating_sub(fee),
        }
    }

    /// Replaces the allowance `(from, spender)` whose stored expiry is `old_expires` (0 = none
    /// or no entry).
    fn set_allowance(
        &mut self,
        from: AccountKey,
        spender: AccountKey,
        old_expires: u64,
        amount: u64,
        expires: u64,
    ) {
        if old_expires != 0 && (amount == 0 || old_expires != expires) {
            self.s.expiries.remove(&(old_expires, from, spender));
        }
        if amount == 0 {
            self.s.allowances.remove(&(from, spender));
        } else {
            self.s.allowances.insert((from, spender), (amount, expires));
            if expires != 0 && expires != old_expires {
                self.s.expiries.insert((expires, from, spender), ());
            }
        }
    }

    fn save_tip(&mut self) {
        self.s.tip.set(self.tip.encode());
    }

    /// Appends a block for `tx` (whose [`Tx::hash`] is `tx_hash`; the only fallible write,
    /// done first); returns its index and records the dedup entry. The caller then applies the
    /// balance changes and saves the tip.
    fn append(
        &mut self,
        tx: Tx,
        tx_hash: Hash,
        effective_fee: Option<u64>,
        fee_collector: Option<Account>,
        now: u64,
    ) -> Result<u64, Fail> {
        let created = tx.created_at_time;
        let block = Block {
            parent_hash: self.tip.last_hash,
            timestamp: now,
            effective_fee,
            fee_collector,
            tx,
        };
        let index = self
            .s
            .blocks
            .append(&block.encode())
            .map_err(|_| generic(error_codes::STORAGE, "the block log is full"))?;
        self.tip.last_hash = Some(block.hash_with_tx_hash(tx_hash));
        if let Some(t) = created {
            self.s.dedup.insert((t, tx_hash), index);
        }
        Ok(index)
    }

    /// Removes a bounded number of dedup entries that can no longer match (their transactions
    /// would be `TooOld`) and of expired allowances. Unobservable through the API.
    fn prune(&mut self, now: u64) {
        // `is_empty` reads the in-memory length: no B-tree walk when there is nothing to prune.
        for _ in 0..if self.s.dedup.is_empty() {
            0
        } else {
            MAX_PRUNE_PER_CALL
        } {
            match self.s.dedup.first_key_value() {
                Some(((t, h), _))
                    if t.saturating_add(TX_WINDOW_NANOS)
                        .saturating_add(PERMITTED_DRIFT_NANOS)
                        < now =>
                {
                    self.s.dedup.remove(&(t, h));
                }
                _ => break,
            }
        }
        for _ in 0..if self.s.expiries.is_empty() {
            0
        } else {
            MAX_PRUNE_PER_CALL
        } {
            match self.s.expiries.first_key_value() {
                Some(((exp, from, spender), ())) if exp <= now => {
                    self.s.expiries.remove(&(exp, from, spender));
                    if let Some((_, e)) = self.s.allowances.get(&(from, spender)) {
                        if e == exp {
                            self.s.allowances.remove(&(from, spender));
                        }
                    }
                }
                _ => break,
            }
        }
    }

    // ---------------------------------------------------------------- ICRC-1 / ICRC-2 updates

    /// `icrc1_transfer` by `caller` at time `now` (ns): a transfer, a mint (from the minting
    /// account) or a burn (to the minting account).
    pub fn icrc1_transfer(
        &mut self,
        caller: Principal,
        arg: TransferArg,
        now: u64,
    ) -> Result<Nat, TransferError> {
        Self::check_caller(&caller)?;
        let mv = Move {
            from: Account {
                owner: caller,
                subaccount: arg.from_subaccount,
            },
            to: arg.to,
            spender: None,
            amount: arg.amount,
            fee: arg.fee,
            memo: arg.memo,
            created_at_time: arg.created_at_time,
        };
        Ok(self.do_move(mv, now)?.into())
    }

    /// `icrc2_transfer_from` by `caller` (the spender) at time `now`.
    pub fn icrc2_transfer_from(
        &mut self,
        caller: Principal,
        arg: TransferFromArgs,
        now: u64,
    ) -> Result<Nat, TransferFromError> {
        Self::check_caller(&caller)?;
        if same_account(&arg.from, &self.config.minting_account) {
            return Err(generic(
                error_codes::MINTING_ACCOUNT,
                "the minting account cannot be the source of icrc2_transfer_from",
            )
            .into());
        }
        let mv = Move {
            from: arg.from,
            to: arg.to,
            spender: Some(Account {
                owner: caller,
                subaccount: arg.spender_subaccount,
            }),
            amount: arg.amount,
            fee: arg.fee,
            memo: arg.memo,
            created_at_time: arg.created_at_time,
        };
        Ok(self.do_move(mv, now)?.into())
    }

    fn do_move(&mut self, mv: Move, now: u64) -> Result<u64, Fail> {
        self.check_memo(&mv.memo)?;
        Self::check_time(mv.created_at_time, now)?;
        let minting = self.config.minting_account;
        let from_minting = same_account(&mv.from, &minting);
        let to_minting = same_account(&mv.to, &minting);
        let op = match (from_minting, to_minting) {
            (true, true) => {
                return Err(generic(
                    error_codes::MINTING_ACCOUNT,
                    "a transfer from the minting account to itself is not allowed",
                ))
            }
            (true, false) => Op::Mint,
            (false, true) => Op::Burn,
            (false, false) => Op::Xfer,
        };
        // Fee: transfers pay the ledger fee; mints and burns pay none.
        let expected_fee = if op == Op::Xfer { self.config.fee } else { 0 };
        let tx_fee = match &mv.fee {
            None => None,
            Some(f) => match u64_of(f) {
                Some(f) if f == expected_fee => Some(f),
                _ => return Err(Fail::BadFee(expected_fee)),
            },
        };
        let from_key = AccountKey::new(&mv.from);
        // The minting account holds nothing: no read for mints.
        let balance = if op == Op::Mint {
            0
        } else {
            self.s.balances.get(&from_key).unwrap_or(0)
        };
        let amount = match u64_of(&mv.amount) {
            Some(a) => a,
            None if op == Op::Mint => {
                return Err(generic(
                    error_codes::SUPPLY_CAP,
                    "the mint would exceed the supply cap",
                ))
            }
            None => return Err(Fail::InsufficientFunds(balance)),
        };
        if op == Op::Burn && amount < self.config.fee {
            return Err(Fail::BadBurn(self.config.fee));
        }
        let tx = Tx {
            op,
            from: (op != Op::Mint).then_some(mv.from),
            to: (op != Op::Burn).then_some(mv.to),
            spender: mv.spender,
            amount,
            fee: if op == Op::Xfer { tx_fee } else { None },
            memo: mv.memo.map(|m| m.0.into_vec()),
            created_at_time: mv.created_at_time,
            expected_allowance: None,
            expires_at: None,
        };
        let tx_hash = tx.hash();
        self.check_duplicate(&tx, &tx_hash)?;
        let fee = expected_fee;
        let debit = amount.checked_add(fee);
        // Allowance (transfer_from): covers amount + fee.
        let mut allowance_after = None;
        // A spender acting on its own account needs no allowance.
        if let Some(spender) = mv.spender.as_ref().filter(|sp| !same_account(sp, &mv.from)) {
            let sk = AccountKey::new(spender);
            let (allowance, expires) = self.allowance_of(&from_key, &sk, now);
            match debit {
                Some(d) if d <= allowance => allowance_after = Some((sk, allowance - d, expires)),
                _ => return Err(Fail::InsufficientAllowance(allowance)),
            }
        }
        match op {
            Op::Mint => {
                let new_supply = self.tip.total_supply.checked_add(amount);
                if new_supply.is_none_or(|s| s > self.config.supply_cap) {
                    return Err(generic(
                        error_codes::SUPPLY_CAP,
                        format!(
                            "the mint would exceed the supply cap of {} e8s (supply {})",
                            self.config.supply_cap, self.tip.total_supply
                        ),
                    ));
                }
            }
            Op::Burn | Op::Xfer => match debit {
                Some(d) if d <= balance => {}
                _ => return Err(Fail::InsufficientFunds(balance)),
            },
            Op::Approve => return Err(generic(error_codes::INTERNAL, "not a transfer")),
        }
        // All checks passed: write.
        self.prune(now);
        let (effective_fee, fee_col) = if op == Op::Xfer {
            (tx_fee.is_none().then_some(fee), self.config.fee_collector)
        } else {
            (None, None)
        };
        let index = self.append(tx, tx_hash, effective_fee, fee_col, now)?;
        match op {
            Op::Mint => {
                self.credit(&mv.to, amount);
                self.tip.total_supply = self.tip.total_supply.saturating_add(amount);
            }
            Op::Burn => {
                self.debit_known(from_key, balance, amount);
                self.tip.total_supply = self.tip.total_supply.saturating_sub(amount);
            }
            Op::Xfer => {
                self.debit_known(from_key, balance, amount.saturating_add(fee));
                // Reads the receiver after the debit, so a self-transfer stays exact.
                self.credit(&mv.to, amount);
                self.take_fee(fee);
            }
            Op::Approve => {}
        }
        if let Some((sk, left, expires)) = allowance_after {
            self.set_allowance(from_key, sk, expires, left, expires);
        }
        self.save_tip();
        Ok(index)
    }

    /// `icrc2_approve` by `caller` at time `now`: replaces the allowance; the fee is charged to
    /// the approver.
    pub fn icrc2_approve(
        &mut self,
        caller: Principal,
        arg: ApproveArgs,
        now: u64,
    ) -> Result<Nat, ApproveError> {
        Ok(self.do_approve(caller, arg, now)?.into())
    }

    fn do_approve(&mut self, caller: Principal, arg: ApproveArgs, now: u64) -> Result<u64, Fail> {
        Self::check_caller(&caller)?;
        let from = Account {
            owner: caller,
            subaccount: arg.from_subaccount,
        };
        if same_account(&from, &self.config.minting_account) {
            return Err(generic(
                error_codes::MINTING_ACCOUNT,
                "the minting account cannot approve",
            ));
        }
        // ICRC-2: the ledger SHOULD reject approvals whose spender owner is the caller (a
        // principal needs no allowance over its own subaccounts).
        if arg.spender.owner == caller {
            return Err(generic(
                error_codes::SELF_APPROVAL,
                "the spender's owner is the caller: self-approval is not allowed",
            ));
        }
        self.check_memo(&arg.memo)?;
        Self::check_time(arg.created_at_time, now)?;
        let fee = self.config.fee;
        let tx_fee = match &arg.fee {
            None => None,
            Some(f) => match u64_of(f) {
                Some(f) if f == fee => Some(f),
                _ => return Err(Fail::BadFee(fee)),
            },
        };
        if let Some(e) = arg.expires_at {
            if e <= now {
                return Err(Fail::Expired(now));
            }
        }
        let from_key = AccountKey::new(&from);
        let spender_key = AccountKey::new(&arg.spender);
        let stored = self.s.allowances.get(&(from_key, spender_key));
        let stored_expiry = stored.map_or(0, |(_, x)| x);
        let current = match stored {
            Some((a, x)) if x == 0 || x > now => a,
            _ => 0,
        };
        let expected = match &arg.expected_allowance {
            None => None,
            Some(e) => match u64_of(e) {
                Some(e) if e == current => Some(e),
                _ => return Err(Fail::AllowanceChanged(current)),
            },
        };
        // An allowance above u64::MAX (far above the supply) is recorded as u64::MAX.
        let amount = u64_of(&arg.amount).unwrap_or(u64::MAX);
        let tx = Tx {
            op: Op::Approve,
            from: Some(from),
            to: None,
            spender: Some(arg.spender),
            amount,
            fee: tx_fee,
            memo: arg.memo.map(|m| m.0.into_vec()),
            created_at_time: arg.created_at_time,
            expected_allowance: expected,
            expires_at: arg.expires_at,
        };
        let tx_hash = tx.hash();
        self.check_duplicate(&tx, &tx_hash)?;
        let balance = self.s.balances.get(&from_key).unwrap_or(0);
        if balance < fee {
            return Err(Fail::InsufficientFunds(balance));
        }
        self.prune(now);
        let effective_fee = tx_fee.is_none().then_some(fee);
        let index = self.append(tx, tx_hash, effective_fee, self.config.fee_collector, now)?;
        self.debit_known(from_key, balance, fee);
        self.take_fee(fee);
        self.set_allowance(
            from_key,
            spender_key,
            stored_expiry,
            amount,
            arg.expires_at.unwrap_or(0),
        );
        self.save_tip();
        Ok(index)
    }

    /// `icrc2_allowance` at time `now` (an expired allowance is 0).
    pub fn icrc2_allowance(&self, arg: &AllowanceArgs, now: u64) -> Allowance {
        let (amount, expires) = self.allowance_of(
            &AccountKey::new(&arg.account),
            &AccountKey::new(&arg.spender),
            now,
        );
        Allowance {
            allowance: amount.into(),
            expires_at: (amount > 0 && expires != 0).then_some(expires),
        }
    }

    // ---------------------------------------------------------------- ICRC-3

    /// Number of blocks.
    pub fn log_length(&self) -> u64 {
        self.s.blocks.len()
    }

    /// Block `index`, decoded (`None` past the end).
    pub fn block(&self, index: u64) -> Option<Block> {
        self.s
            .blocks
            .get(index)
            .and_then(|b| Block::decode(&b).ok())
    }

    /// `icrc3_get_blocks`: the requested ranges (the first [`MAX_RANGES_PER_REQUEST`]), clipped
    /// to the log, at most [`MAX_BLOCKS_PER_RESPONSE`] blocks in all. No archives: every block
    /// is local.
    pub fn icrc3_get_blocks(&self, args: &[GetBlocksRequest]) -> GetBlocksResult {
        let len = self.s.blocks.len();
        let mut budget = MAX_BLOCKS_PER_RESPONSE;
        let mut blocks = Vec::new();
        for req in args.iter().take(MAX_RANGES_PER_REQUEST) {
            if budget == 0 {
                break;
            }
            let Some(start) = u64_of(&req.start) else {
                continue;
            };
            let want = u64_of(&req.length).unwrap_or(u64::MAX);
            let end = start.saturating_add(want.min(budget)).min(len);
            for i in start..end {
                if let Some(b) = self.block(i) {
                    blocks.push(BlockWithId {
                        id: i.into(),
                        block: b.to_value(),
                    });
                }
            }
            budget = budget.saturating_sub(end.saturating_sub(start));
        }
        GetBlocksResult {
            log_length: len.into(),
            blocks,
            archived_blocks: vec![],
        }
    }

    /// The last block's index and hash.
    pub fn tip(&self) -> Option<(u64, Hash)> {
        let len = self.s.blocks.len();
        match (len.checked_sub(1), self.tip.last_hash) {
            (Some(i), Some(h)) => Some((i, h)),
            _ => None,
        }
    }

    /// The ICRC-3 tip hash tree.
    pub fn tip_hash_tree(&self) -> HashTree {
        tip_tree(self.tip())
    }

    /// The value the canister must set as its certified data (root of [`Self::tip_hash_tree`]).
    pub fn certified_data(&self) -> Hash {
        self.tip_hash_tree().digest()
    }

    /// `icrc3_get_tip_certificate` given the system's data certificate (present only in
    /// non-replicated queries).
    pub fn tip_certificate(&self, certificate: Option<Vec<u8>>) -> Option<ICRC3DataCertificate> {
        certificate.map(|c| ICRC3DataCertificate {
            certificate: ByteBuf::from(c),
            hash_tree: ByteBuf::from(self.tip_hash_tree().to_cbor_self_describing()),
        })
    }

    /// `icrc3_supported_block_types`.
    pub fn supported_block_types(&self) -> Vec<SupportedBlockType> {
        let url = "https://github.com/dfinity/ICRC-1/tree/main/standards/ICRC-3";
        ["1burn", "1mint", "1xfer", "2approve", "2burn", "2xfer"]
            .iter()
            .map(|t| SupportedBlockType {
                block_type: t.to_string(),
                url: url.to_string(),
            })
            .collect()
    }

    /// `icrc3_get_archives`: none (all blocks stay in this canister's stable memory).
    pub fn archives(&self, _args: &GetArchivesArgs) -> GetArchivesResult {
        vec![]
    }

    // ---------------------------------------------------------------- inspection (tests)

    /// Every balance, in key order (test and audit helper; O(accounts)).
    pub fn balances(&self) -> Vec<(Account, u64)> {
        self.s
            .balances
            .iter()
            .map(|e| (e.key().account(), e.value()))
            .collect()
    }

    /// Every stored allowance (from, spender, amount, expires_at or 0).
    pub fn allowances(&self) -> Vec<(Account, Account, u64, u64)> {
        self.s
            .allowances
            .iter()
            .map(|e| {
                let (f, s) = *e.key();
                let (a, x) = e.value();
                (f.account(), s.account(), a, x)
            })
            .collect()
    }

    /// Number of live dedup entries.
    pub fn dedup_len(&self) -> u64 {
        self.s.dedup.len()
    }

    /// Checks the storage invariants (audit and test helper; O(state)): balances are positive
    /// and sum to the total supply, which is within the cap; stored allowances are positive;
    /// the expiry index and the allowances agree; dedup entries point at existing blocks; the
    /// tip is the hash of the last block.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut sum: u128 = 0;
        for e in self.s.balances.iter() {
            if e.value() == 0 {
                return Err(format!("zero balance stored for {:?}", e.key().account()));
            }
            sum += u128::from(e.value());
        }
        if sum != u128::from(self.tip.total_supply) {
            return Err(format!(
                "balances sum to {sum}, total supply is {}",
                self.tip.total_supply
            ));
        }
        if self.tip.total_supply > self.config.supply_cap {
            return Err("total supply above the cap".into());
        }
        let mut with_expiry = 0u64;
        for e in self.s.allowances.iter() {
            let (f, sp) = *e.key();
            let (amount, expires) = e.value();
            if amount == 0 {
                return Err("zero allowance stored".into());
            }
            if expires != 0 {
                with_expiry += 1;
                if !self.s.expiries.contains_key(&(expires, f, sp)) {
                    return Err("allowance without its expiry index entry".into());
                }
            }
        }
        if with_expiry != self.s.expiries.len() {
            return Err(format!(
                "{} expiry index entries for {with_expiry} expiring allowances",
                self.s.expiries.len()
            ));
        }
        for e in self.s.dedup.iter() {
            if e.value() >= self.s.blocks.len() {
                return Err("dedup entry points past the last block".into());
            }
        }
        let last = self
            .s
            .blocks
            .len()
            .checked_sub(1)
            .and_then(|i| self.block(i))
            .map(|b| b.hash());
        if last != self.tip.last_hash {
            return Err("the stored tip is not the hash of the last block".into());
        }
        Ok(())
    }
}
