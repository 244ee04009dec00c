//! Blocks: the ledger's transactions in ICRC-3 legacy form (`1mint`, `1burn`, `1xfer`,
//! `2xfer`, `2burn`, `2approve`), their compact storage encoding, their ICRC-3 value and hash.
//!
//! A block is hashed straight from this struct (no `Value` is built on the update path); a test
//! checks that the result equals the standard's hash of [`Block::to_value`].

use crate::account::{account_hash, account_value};
use crate::hashing::{hash_map_entries, hash_nat, sha256, Hash};
use candid::{Nat, Principal};
use icrc_ledger_types::icrc::generic_value::{ICRC3Map, ICRC3Value};
use icrc_ledger_types::icrc1::account::Account;
use serde_bytes::ByteBuf;
use std::cell::Cell;
use std::sync::OnceLock;

/// The operation of a block (`tx.op`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `"mint"`: from the minting account.
    Mint,
    /// `"burn"`: to the minting account.
    Burn,
    /// `"xfer"`: a transfer (with `spender` when made by `icrc2_transfer_from`).
    Xfer,
    /// `"approve"`.
    Approve,
}

impl Op {
    /// The `tx.op` text.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Mint => "mint",
            Op::Burn => "burn",
            Op::Xfer => "xfer",
            Op::Approve => "approve",
        }
    }

    fn code(self) -> u8 {
        match self {
            Op::Mint => 0,
            Op::Burn => 1,
            Op::Xfer => 2,
            Op::Approve => 3,
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            0 => Op::Mint,
            1 => Op::Burn,
            2 => Op::Xfer,
            3 => Op::Approve,
            _ => return None,
        })
    }
}

/// The `tx` of a block: the caller's intent, with optional fields only when the caller gave
/// them (the canonical mapping of ICRC-3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tx {
    /// The operation.
    pub op: Op,
    /// `tx.from` (absent for mints).
    pub from: Option<Account>,
    /// `tx.to` (absent for burns and approvals).
    pub to: Option<Account>,
    /// `tx.spender` (approvals, and transfers/burns made by `icrc2_transfer_from`).
    pub spender: Option<Account>,
    /// `tx.amt`: the amount (for approvals, the allowance).
    pub amount: u64,
    /// `tx.fee`: the fee the caller gave.
    pub fee: Option<u64>,
    /// `tx.memo`.
    pub memo: Option<Vec<u8>>,
    /// `tx.ts`: the caller's `created_at_time`.
    pub created_at_time: Option<u64>,
    /// `tx.expected_allowance` (approvals).
    pub expected_allowance: Option<u64>,
    /// `tx.expires_at` (approvals).
    pub expires_at: Option<u64>,
}

/// A block of the ledger's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// `phash`: the hash of the previous block (absent in block 0).
    pub parent_hash: Option<Hash>,
    /// `ts`: the ledger's time when the block was made (ns since the Unix epoch).
    pub timestamp: u64,
    /// Top-level `fee`: the fee charged, present when the caller gave no `tx.fee` and a fee
    /// was charged (ICRC-3 "effective fee").
    pub effective_fee: Option<u64>,
    /// `fee_col`: the account that received the fee (absent when the fee was burned).
    pub fee_collector: Option<Account>,
    /// The transaction.
    pub tx: Tx,
}

/// Errors decoding a stored block (only possible if stable memory was corrupted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes ended early.
    #[error("block encoding truncated")]
    Truncated,
    /// Unknown encoding version or operation.
    #[error("unknown block encoding (format {0})")]
    Unknown(u8),
    /// A principal longer than 29 bytes.
    #[error("bad principal in block")]
    BadPrincipal,
}

/// Version byte of the block encoding.
const FORMAT_V1: u8 = 1;

const F_PHASH: u16 = 1 << 0;
const F_FROM: u16 = 1 << 1;
const F_TO: u16 = 1 << 2;
const F_SPENDER: u16 = 1 << 3;
const F_TX_FEE: u16 = 1 << 4;
const F_MEMO: u16 = 1 << 5;
const F_CREATED: u16 = 1 << 6;
const F_EXPECTED: u16 = 1 << 7;
const F_EXPIRES: u16 = 1 << 8;
const F_EFF_FEE: u16 = 1 << 9;
const F_FEE_COL: u16 = 1 << 10;

/// Keys of block and tx maps, with their hashes computed once.
#[derive(Clone, Copy)]
enum Key {
    Phash,
    Ts,
    Fee,
    FeeCol,
    Tx,
    Op,
    From,
    To,
    Spender,
    Amt,
    Memo,
    ExpectedAllowance,
    ExpiresAt,
}

const KEYS: [&str; 13] = [
    "phash",
    "ts",
    "fee",
    "fee_col",
    "tx",
    "op",
    "from",
    "to",
    "spender",
    "amt",
    "memo",
    "expected_allowance",
    "expires_at",
];

fn key_hash(k: Key) -> Hash {
    static TABLE: OnceLock<[Hash; 13]> = OnceLock::new();
    TABLE.get_or_init(|| KEYS.map(|s| sha256(s.as_bytes())))[k as usize]
}

fn op_hash(op: Op) -> Hash {
    static TABLE: OnceLock<[Hash; 4]> = OnceLock::new();
    TABLE.get_or_init(|| {
        [Op::Mint, Op::Burn, Op::Xfer, Op::Approve].map(|o| sha256(o.as_str().as_bytes()))
    })[usize::from(op.code())]
}

/// `hash_nat(fee)`, remembered for the last fee hashed: nearly every block carries the ledger's
/// fee (as the top-level `fee` or as `tx.fee`), so this saves one SHA-256 per block.
fn fee_hash(fee: u64) -> Hash {
    thread_local! {
        static LAST: Cell<Option<(u64, Hash)>> = const { Cell::new(None) };
    }
    LAST.with(|last| match last.get() {
        Some((f, h)) if f == fee => h,
        _ => {
            let h = hash_nat(u128::from(fee));
            last.set(Some((fee, h)));
            h
        }
    })
}

fn nat(n: u64) -> ICRC3Value {
    ICRC3Value::Nat(Nat::from(n))
}

impl Tx {
    /// The ICRC-3 hash of the `tx` map; also the deduplication key (it holds every argument of
    /// the call, the caller included).
    pub fn hash(&self) -> Hash {
        let mut e: Vec<(Hash, Hash)> = Vec::with_capacity(10);
        e.push((key_hash(Key::Op), op_hash(self.op)));
        if let Some(a) = &self.from {
            e.push((key_hash(Key::From), account_hash(a)));
        }
        if let Some(a) = &self.to {
            e.push((key_hash(Key::To), account_hash(a)));
        }
        if let Some(a) = &self.spender {
            e.push((key_hash(Key::Spender), account_hash(a)));
        }
        e.push((key_hash(Key::Amt), hash_nat(u128::from(self.amount))));
        if let Some(f) = self.fee {
            e.push((key_hash(Key::Fee), fee_hash(f)));
        }
        if let Some(m) = &self.memo {
            e.push((key_hash(Key::Memo), sha256(m)));
        }
        if let Some(t) = self.created_at_time {
            e.push((key_hash(Key::Ts), hash_nat(u128::from(t))));
        }
        if let Some(x) = self.expected_allowance {
            e.push((key_hash(Key::ExpectedAllowance), hash_nat(u128::from(x))));
        }
        if let Some(x) = self.expires_at {
            e.push((key_hash(Key::ExpiresAt), hash_nat(u128::from(x))));
        }
        hash_map_entries(&mut e)
    }

    /// The `tx` map as an ICRC-3 value.
    pub fn to_value(&self) -> ICRC3Value {
        let mut m = ICRC3Map::new();
        m.insert("op".into(), ICRC3Value::Text(self.op.as_str().into()));
        if let Some(a) = &self.from {
            m.insert("from".into(), account_value(a));
        }
        if let Some(a) = &self.to {
            m.insert("to".into(), account_value(a));
        }
        if let Some(a) = &self.spender {
            m.insert("spender".into(), account_value(a));
        }
        m.insert("amt".into(), nat(self.amount));
        if let Some(f) = self.fee {
            m.insert("fee".into(), nat(f));
        }
        if let Some(memo) = &self.memo {
            m.insert("memo".into(), ICRC3Value::Blob(ByteBuf::from(memo.clone())));
        }
        if let Some(t) = self.created_at_time {
            m.insert("ts".into(), nat(t));
        }
        if let Some(x) = self.expected_allowance {
            m.insert("expected_allowance".into(), nat(x));
        }
        if let Some(x) = self.expires_at {
            m.insert("expires_at".into(), nat(x));
        }
        ICRC3Value::Map(m)
    }
}

impl Block {
    /// The block's ICRC-3 hash, given the hash of its `tx` (from [`Tx::hash`]).
    pub fn hash_with_tx_hash(&self, tx_hash: Hash) -> Hash {
        let mut e: Vec<(Hash, Hash)> = Vec::with_capacity(5);
        if let Some(p) = &self.parent_hash {
            e.push((key_hash(Key::Phash), sha256(p)));
        }
        e.push((key_hash(Key::Ts), hash_nat(u128::from(self.timestamp))));
        if let Some(f) = self.effective_fee {
            e.push((key_hash(Key::Fee), fee_hash(f)));
        }
        if let Some(a) = &self.fee_collector {
            e.push((key_hash(Key::FeeCol), account_hash(a)));
        }
        e.push((key_hash(Key::Tx), tx_hash));
        hash_map_entries(&mut e)
    }

    /// The block's ICRC-3 hash.
    pub fn hash(&self) -> Hash {
        self.hash_with_tx_hash(self.tx.hash())
    }

    /// The block as an ICRC-3 value (what `icrc3_get_blocks` serves).
    pub fn to_value(&self) -> ICRC3Value {
        let mut m = ICRC3Map::new();
        if let Some(p) = &self.parent_hash {
            m.insert("phash".into(), ICRC3Value::Blob(ByteBuf::from(p.to_vec())));
        }
        m.insert("ts".into(), nat(self.timestamp));
        if let Some(f) = self.effective_fee {
            m.insert("fee".into(), nat(f));
        }
        if let Some(a) = &self.fee_collector {
            m.insert("fee_col".into(), account_value(a));
        }
        m.insert("tx".into(), self.tx.to_value());
        ICRC3Value::Map(m)
    }

    /// The block type reported by `icrc3_supported_block_types` conventions.
    pub fn block_type(&self) -> &'static str {
        match (self.tx.op, self.tx.spender.is_some()) {
            (Op::Mint, _) => "1mint",
            (Op::Burn, false) => "1burn",
            (Op::Burn, true) => "2burn",
            (Op::Xfer, false) => "1xfer",
            (Op::Xfer, true) => "2xfer",
            (Op::Approve, _) => "2approve",
        }
    }

    /// The compact storage encoding (format 1): version, op, presence flags, `ts`, `amt`, then
    /// the present optional fields in a fixed order.
    pub fn encode(&self) -> Vec<u8> {
        let t = &self.tx;
        let mut flags = 0u16;
        let mut set = |cond: bool, f: u16| {
            if cond {
                flags |= f;
            }
        };
        set(self.parent_hash.is_some(), F_PHASH);
        set(t.from.is_some(), F_FROM);
        set(t.to.is_some(), F_TO);
        set(t.spender.is_some(), F_SPENDER);
        set(t.fee.is_some(), F_TX_FEE);
        set(t.memo.is_some(), F_MEMO);
        set(t.created_at_time.is_some(), F_CREATED);
        set(t.expected_allowance.is_some(), F_EXPECTED);
        set(t.expires_at.is_some(), F_EXPIRES);
        set(self.effective_fee.is_some(), F_EFF_FEE);
        set(self.fee_collector.is_some(), F_FEE_COL);
        let mut out = Vec::with_capacity(160);
        out.push(FORMAT_V1);
        out.push(t.op.code());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&self.timestamp.to_le_bytes());
        out.extend_from_slice(&t.amount.to_le_bytes());
        if let Some(p) = &self.parent_hash {
            out.extend_from_slice(p);
        }
        for a in [&t.from, &t.to, &t.spender].into_iter().flatten() {
            put_account(&mut out, a);
        }
        if let Some(f) = t.fee {
            out.extend_from_slice(&f.to_le_bytes());
        }
        if let Some(m) = &t.memo {
            // Memos are limited to max_memo_length <= u16::MAX at the API.
            let len = m.len().min(usize::from(u16::MAX));
            out.extend_from_slice(&(len as u16).to_le_bytes());
            out.extend_from_slice(&m[..len]);
        }
        for x in [
            t.created_at_time,
            t.expected_allowance,
            t.expires_at,
            self.effective_fee,
        ]
        .into_iter()
        .flatten()
        {
            out.extend_from_slice(&x.to_le_bytes());
        }
        if let Some(a) = &self.fee_collector {
            put_account(&mut out, a);
        }
        out
    }

    /// Decodes [`Block::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Block, DecodeError> {
        let mut r = Reader { b: bytes };
        let ver = r.u8()?;
        if ver != FORMAT_V1 {
            return Err(DecodeError::Unknown(ver));
        }
        let op_code = r.u8()?;
        let op = Op::from_code(op_code).ok_or(DecodeError::Unknown(op_code))?;
        let flags = u16::from_le_bytes(r.array::<2>()?);
        let timestamp = r.u64()?;
        let amount = r.u64()?;
        let has = |f: u16| flags & f != 0;
        let parent_hash = if has(F_PHASH) {
            Some(r.array::<32>()?)
        } else {
            None
        };
        let from = if has(F_FROM) {
            Some(r.account()?)
        } else {
            None
        };
        let to = if has(F_TO) { Some(r.account()?) } else { None };
        let spender = if has(F_SPENDER) {
            Some(r.account()?)
        } else {
            None
        };
        let fee = if has(F_TX_FEE) { Some(r.u64()?) } else { None };
        let memo = if has(F_MEMO) {
            let len = u16::from_le_bytes(r.array::<2>()?);
            Some(r.take(usize::from(len))?.to_vec())
        } else {
            None
        };
        let created_at_time = if has(F_CREATED) { Some(r.u64()?) } else { None };
        let expected_allowance = if has(F_EXPECTED) {
            Some(r.u64()?)
        } else {
            None
        };
        let expires_at = if has(F_EXPIRES) { Some(r.u64()?) } else { None };
        let effective_fee = if has(F_EFF_FEE) { Some(r.u64()?) } else { None };
        let fee_collector = if has(F_FEE_COL) {
            Some(r.account()?)
        } else {
            None
        };
        Ok(Block {
            parent_hash,
            timestamp,
            effective_fee,
            fee_collector,
            tx: Tx {
                op,
                from,
                to,
                spender,
                amount,
                fee,
                memo,
                created_at_time,
                expected_allowance,
                expires_at,
            },
        })
    }
}

fn put_account(out: &mut Vec<u8>, a: &Account) {
    let owner = a.owner.as_slice();
    out.push(owner.len() as u8);
    out.extend_from_slice(owner);
    match &a.subaccount {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            out.extend_from_slice(s);
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.b.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array::<8>()?))
    }

    fn account(&mut self) -> Result<Account, DecodeError> {
        let n = usize::from(self.u8()?);
        if n > 29 {
            return Err(DecodeError::BadPrincipal);
        }
        let owner = Principal::from_slice(self.take(n)?);
        let subaccount = match self.u8()? {
            0 => None,
            _ => Some(self.array::<32>()?),
        };
        Ok(Account { owner, subaccount })
    }
}
