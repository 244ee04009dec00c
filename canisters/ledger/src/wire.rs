//! Fast paths of the Candid codec for the three update endpoints (`icrc1_transfer`,
//! `icrc2_approve`, `icrc2_transfer_from`).
//!
//! The generic `candid` codec builds and walks type descriptions on every call: measured on the
//! embedded IC, decoding a `TransferArg` cost ~151,000 instructions and encoding the
//! `Result<Nat, TransferError>` reply ~136,000, more than the whole ledger logic. These paths
//! produce exactly what the generic codec produces, for the common case only:
//!
//! * **Decoding** accepts an argument whose header (magic, type table and argument types) is,
//!   byte for byte, the one `candid` itself writes for the argument type (what every Rust client
//!   sends), and whose values are plain (principals of at most 29 bytes, 32-byte subaccounts,
//!   naturals below 2^64, no trailing bytes). Anything else returns `None` and the shell falls
//!   back to the generic decoder, which then accepts or refuses it exactly as before.
//! * **Encoding** writes `Ok(n)` replies (with `n` below 2^64) as the constant header `candid`
//!   writes for the reply type, the `Ok` variant index and `n` in LEB128; other replies (errors)
//!   return `None` and go through the generic encoder.
//!
//! Tests (`tests/it/wire.rs`) check the headers against `candid`'s own output and both directions
//! against the generic codec on random values and random byte strings.

use crate::hashing::leb128;
use candid::{Nat, Principal};
use icrc_ledger_types::icrc1::account::{Account, Subaccount};
use icrc_ledger_types::icrc1::transfer::{Memo, TransferArg};
use icrc_ledger_types::icrc2::approve::ApproveArgs;
use icrc_ledger_types::icrc2::transfer_from::TransferFromArgs;
use serde_bytes::ByteBuf;

/// `candid`'s header of a `(TransferArg)` argument: the record's fields, sorted by field-name
/// hash, are `to`, `fee`, `memo`, `from_subaccount`, `created_at_time`, `amount`.
pub const TRANSFER_ARG_HEADER: &[u8] = &[
    0x44, 0x49, 0x44, 0x4c, // DIDL
    0x06, // 6 types
    0x6c, 0x06, // 0: record, 6 fields
    0xfb, 0xca, 0x01, 0x01, // to: 1
    0xc6, 0xfc, 0xb6, 0x02, 0x04, // fee: 4
    0xba, 0x89, 0xe5, 0xc2, 0x04, 0x02, // memo: 2
    0xa2, 0xde, 0x94, 0xeb, 0x06, 0x02, // from_subaccount: 2
    0x82, 0xf3, 0xf3, 0x91, 0x0c, 0x05, // created_at_time: 5
    0xd8, 0xa3, 0x8c, 0xa8, 0x0d, 0x7d, // amount: nat
    0x6c, 0x02, // 1: record (Account), 2 fields
    0xb3, 0xb0, 0xda, 0xc3, 0x03, 0x68, // owner: principal
    0xad, 0x86, 0xca, 0x83, 0x05, 0x02, // subaccount: 2
    0x6e, 0x03, // 2: opt 3
    0x6d, 0x7b, // 3: vec nat8
    0x6e, 0x7d, // 4: opt nat
    0x6e, 0x78, // 5: opt nat64
    0x01, 0x00, // one argument, of type 0
];

/// `candid`'s header of an `(ApproveArgs)` argument: fields `fee`, `memo`, `from_subaccount`,
/// `created_at_time`, `amount`, `expected_allowance`, `expires_at`, `spender`.
pub const APPROVE_ARGS_HEADER: &[u8] = &[
    0x44, 0x49, 0x44, 0x4c, // DIDL
    0x06, // 6 types
    0x6c, 0x08, // 0: record, 8 fields
    0xc6, 0xfc, 0xb6, 0x02, 0x01, // fee: 1
    0xba, 0x89, 0xe5, 0xc2, 0x04, 0x02, // memo: 2
    0xa2, 0xde, 0x94, 0xeb, 0x06, 0x02, // from_subaccount: 2
    0x82, 0xf3, 0xf3, 0x91, 0x0c, 0x04, // created_at_time: 4
    0xd8, 0xa3, 0x8c, 0xa8, 0x0d, 0x7d, // amount: nat
    0x91, 0x9c, 0x9c, 0xbf, 0x0d, 0x01, // expected_allowance: 1
    0xde, 0xa7, 0xf7, 0xda, 0x0d, 0x04, // expires_at: 4
    0xcb, 0x96, 0xdc, 0xb4, 0x0e, 0x05, // spender: 5
    0x6e, 0x7d, // 1: opt nat
    0x6e, 0x03, // 2: opt 3
    0x6d, 0x7b, // 3: vec nat8
    0x6e, 0x78, // 4: opt nat64
    0x6c, 0x02, // 5: record (Account), 2 fields
    0xb3, 0xb0, 0xda, 0xc3, 0x03, 0x68, // owner: principal
    0xad, 0x86, 0xca, 0x83, 0x05, 0x02, // subaccount: 2
    0x01, 0x00, // one argument, of type 0
];

/// `candid`'s header of a `(TransferFromArgs)` argument: fields `to`, `fee`,
/// `spender_subaccount`, `from`, `memo`, `created_at_time`, `amount`.
pub const TRANSFER_FROM_ARGS_HEADER: &[u8] = &[
    0x44, 0x49, 0x44, 0x4c, // DIDL
    0x06, // 6 types
    0x6c, 0x07, // 0: record, 7 fields
    0xfb, 0xca, 0x01, 0x01, // to: 1
    0xc6, 0xfc, 0xb6, 0x02, 0x04, // fee: 4
    0xe1, 0x85, 0xc1, 0x94, 0x02, 0x02, // spender_subaccount: 2
    0xea, 0xca, 0x8a, 0x9e, 0x04, 0x01, // from: 1
    0xba, 0x89, 0xe5, 0xc2, 0x04, 0x02, // memo: 2
    0x82, 0xf3, 0xf3, 0x91, 0x0c, 0x05, // created_at_time: 5
    0xd8, 0xa3, 0x8c, 0xa8, 0x0d, 0x7d, // amount: nat
    0x6c, 0x02, // 1: record (Account), 2 fields
    0xb3, 0xb0, 0xda, 0xc3, 0x03, 0x68, // owner: principal
    0xad, 0x86, 0xca, 0x83, 0x05, 0x02, // subaccount: 2
    0x6e, 0x03, // 2: opt 3
    0x6d, 0x7b, // 3: vec nat8
    0x6e, 0x7d, // 4: opt nat
    0x6e, 0x78, // 5: opt nat64
    0x01, 0x00, // one argument, of type 0
];

/// `candid`'s header of a `(variant { Ok: nat; Err: TransferError })` reply.
pub const TRANSFER_RESULT_HEADER: &[u8] = &[
    0x44, 0x49, 0x44, 0x4c, 0x08, 0x6b, 0x02, 0xbc, 0x8a, 0x01, 0x7d, 0xc5, 0xfe, 0xd2, 0x01, 0x01,
    0x6b, 0x08, 0xd1, 0xc4, 0x98, 0x7c, 0x02, 0xc2, 0x91, 0xec, 0xb9, 0x02, 0x7f, 0x94, 0xc1, 0xc7,
    0x89, 0x04, 0x03, 0xeb, 0x82, 0xa8, 0x97, 0x04, 0x04, 0xa1, 0xc3, 0xeb, 0xfd, 0x07, 0x05, 0xf0,
    0x87, 0xe6, 0xdb, 0x09, 0x06, 0x93, 0xe5, 0xbe, 0xc8, 0x0c, 0x7f, 0xeb, 0x9c, 0xdb, 0xd5, 0x0f,
    0x07, 0x6c, 0x02, 0xc7, 0xeb, 0xc4, 0xd0, 0x09, 0x71, 0xc4, 0x98, 0xb1, 0xb5, 0x0d, 0x7d, 0x6c,
    0x01, 0x9b, 0xb3, 0xbe, 0xa6, 0x0a, 0x7d, 0x6c, 0x01, 0x8b, 0xbd, 0xf2, 0x9b, 0x01, 0x7d, 0x6c,
    0x01, 0xbf, 0x9b, 0xb7, 0xf0, 0x0d, 0x7d, 0x6c, 0x01, 0xa3, 0xbb, 0x91, 0x8c, 0x0a, 0x78, 0x6c,
    0x01, 0x9c, 0xba, 0xb6, 0x9c, 0x02, 0x7d, 0x01, 0x00,
];

/// `candid`'s header of a `(variant { Ok: nat; Err: ApproveError })` reply.
pub const APPROVE_RESULT_HEADER: &[u8] = &[
    0x44, 0x49, 0x44, 0x4c, 0x08, 0x6b, 0x02, 0xbc, 0x8a, 0x01, 0x7d, 0xc5, 0xfe, 0xd2, 0x01, 0x01,
    0x6b, 0x09, 0xd1, 0xc4, 0x98, 0x7c, 0x02, 0xc2, 0x91, 0xec, 0xb9, 0x02, 0x7f, 0xeb, 0x82, 0xa8,
    0x97, 0x04, 0x03, 0xa1, 0xc3, 0xeb, 0xfd, 0x07, 0x04, 0x9c, 0x84, 0xe8, 0xfc, 0x08, 0x05, 0xf0,
    0x87, 0xe6, 0xdb, 0x09, 0x06, 0x93, 0xe5, 0xbe, 0xc8, 0x0c, 0x7f, 0x85, 0x8f, 0xee, 0x95, 0x0f,
    0x06, 0xeb, 0x9c, 0xdb, 0xd5, 0x0f, 0x07, 0x6c, 0x02, 0xc7, 0xeb, 0xc4, 0xd0, 0x09, 0x71, 0xc4,
    0x98, 0xb1, 0xb5, 0x0d, 0x7d, 0x6c, 0x01, 0x8b, 0xbd, 0xf2, 0x9b, 0x01, 0x7d, 0x6c, 0x01, 0xbf,
    0x9b, 0xb7, 0xf0, 0x0d, 0x7d, 0x6c, 0x01, 0x92, 0xae, 0xce, 0xe5, 0x0f, 0x7d, 0x6c, 0x01, 0xa3,
    0xbb, 0x91, 0x8c, 0x0a, 0x78, 0x6c, 0x01, 0x9c, 0xba, 0xb6, 0x9c, 0x02, 0x7d, 0x01, 0x00,
];

/// `candid`'s header of a `(variant { Ok: nat; Err: TransferFromError })` reply.
pub const TRANSFER_FROM_RESULT_HEADER: &[u8] = &[
    0x44, 0x49, 0x44, 0x4c, 0x09, 0x6b, 0x02, 0xbc, 0x8a, 0x01, 0x7d, 0xc5, 0xfe, 0xd2, 0x01, 0x01,
    0x6b, 0x09, 0xd1, 0xc4, 0x98, 0x7c, 0x02, 0xc2, 0x91, 0xec, 0xb9, 0x02, 0x7f, 0xb5, 0xda, 0x9a,
    0xa3, 0x03, 0x03, 0x94, 0xc1, 0xc7, 0x89, 0x04, 0x04, 0xeb, 0x82, 0xa8, 0x97, 0x04, 0x05, 0xa1,
    0xc3, 0xeb, 0xfd, 0x07, 0x06, 0xf0, 0x87, 0xe6, 0xdb, 0x09, 0x07, 0x93, 0xe5, 0xbe, 0xc8, 0x0c,
    0x7f, 0xeb, 0x9c, 0xdb, 0xd5, 0x0f, 0x08, 0x6c, 0x02, 0xc7, 0xeb, 0xc4, 0xd0, 0x09, 0x71, 0xc4,
    0x98, 0xb1, 0xb5, 0x0d, 0x7d, 0x6c, 0x01, 0xd8, 0xbb, 0xb2, 0x84, 0x0c, 0x7d, 0x6c, 0x01, 0x9b,
    0xb3, 0xbe, 0xa6, 0x0a, 0x7d, 0x6c, 0x01, 0x8b, 0xbd, 0xf2, 0x9b, 0x01, 0x7d, 0x6c, 0x01, 0xbf,
    0x9b, 0xb7, 0xf0, 0x0d, 0x7d, 0x6c, 0x01, 0xa3, 0xbb, 0x91, 0x8c, 0x0a, 0x78, 0x6c, 0x01, 0x9c,
    0xba, 0xb6, 0x9c, 0x02, 0x7d, 0x01, 0x00,
];

/// Index of `Ok` in `variant { Ok; Err }` (fields sorted by hash: `Ok` = 17724 < `Err`).
const OK_INDEX: u8 = 0;

/// A reader over the value part of an argument; every method returns `None` on anything the
/// fast path does not handle (the generic decoder then decides).
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Some(h)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    /// Unsigned LEB128 that fits in a u64 (overlong encodings included, as `candid` accepts
    /// them).
    fn leb_u64(&mut self) -> Option<u64> {
        let mut n: u64 = 0;
        let mut shift = 0u32;
        loop {
            let byte = self.byte()?;
            let low = u64::from(byte & 0x7f);
            if shift >= 64 || (shift == 63 && low > 1) {
                // Past 64 bits, only zero continuation bits would still fit; leave those
                // rare encodings to the generic decoder.
                return None;
            }
            n |= low << shift;
            if byte & 0x80 == 0 {
                return Some(n);
            }
            shift += 7;
        }
    }

    /// `opt` tag: `Some(false)` for null, `Some(true)` for a value.
    fn opt(&mut self) -> Option<bool> {
        match self.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    fn nat(&mut self) -> Option<Nat> {
        self.leb_u64().map(Nat::from)
    }

    fn opt_nat(&mut self) -> Option<Option<Nat>> {
        Some(if self.opt()? { Some(self.nat()?) } else { None })
    }

    fn opt_nat64(&mut self) -> Option<Option<u64>> {
        Some(if self.opt()? {
            let mut a = [0u8; 8];
            a.copy_from_slice(self.take(8)?);
            Some(u64::from_le_bytes(a))
        } else {
            None
        })
    }

    fn blob(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.leb_u64()?).ok()?;
        self.take(len)
    }

    fn opt_subaccount(&mut self) -> Option<Option<Subaccount>> {
        Some(if self.opt()? {
            let b = self.blob()?;
            if b.len() != 32 {
                return None;
            }
            let mut s = [0u8; 32];
            s.copy_from_slice(b);
            Some(s)
        } else {
            None
        })
    }

    fn opt_memo(&mut self) -> Option<Option<Memo>> {
        Some(if self.opt()? {
            Some(Memo(ByteBuf::from(self.blob()?.to_vec())))
        } else {
            None
        })
    }

    fn principal(&mut self) -> Option<Principal> {
        // 1: a transparent reference (0 would be an opaque one, which candid refuses).
        if self.byte()? != 1 {
            return None;
        }
        Principal::try_from_slice(self.blob()?).ok()
    }

    fn account(&mut self) -> Option<Account> {
        let owner = self.principal()?;
        let subaccount = self.opt_subaccount()?;
        Some(Account { owner, subaccount })
    }

    fn finish<T>(self, value: T) -> Option<T> {
        self.b.is_empty().then_some(value)
    }
}

fn values<'a>(bytes: &'a [u8], header: &[u8]) -> Option<Reader<'a>> {
    bytes.strip_prefix(header).map(|b| Reader { b })
}

/// Decodes a `(TransferArg)` argument written the way `candid` writes it; `None` otherwise.
pub fn decode_transfer_arg(bytes: &[u8]) -> Option<TransferArg> {
    let mut r = values(bytes, TRANSFER_ARG_HEADER)?;
    let to = r.account()?;
    let fee = r.opt_nat()?;
    let memo = r.opt_memo()?;
    let from_subaccount = r.opt_subaccount()?;
    let created_at_time = r.opt_nat64()?;
    let amount = r.nat()?;
    r.finish(TransferArg {
        from_subaccount,
        to,
        fee,
        created_at_time,
        memo,
        amount,
    })
}

/// Decodes an `(ApproveArgs)` argument written the way `candid` writes it; `None` otherwise.
pub fn decode_approve_args(bytes: &[u8]) -> Option<ApproveArgs> {
    let mut r = values(bytes, APPROVE_ARGS_HEADER)?;
    let fee = r.opt_nat()?;
    let memo = r.opt_memo()?;
    let from_subaccount = r.opt_subaccount()?;
    let created_at_time = r.opt_nat64()?;
    let amount = r.nat()?;
    let expected_allowance = r.opt_nat()?;
    let expires_at = r.opt_nat64()?;
    let spender = r.account()?;
    r.finish(ApproveArgs {
        from_subaccount,
        spender,
        amount,
        expected_allowance,
        expires_at,
        fee,
        memo,
        created_at_time,
    })
}

/// Decodes a `(TransferFromArgs)` argument written the way `candid` writes it; `None`
/// otherwise.
pub fn decode_transfer_from_args(bytes: &[u8]) -> Option<TransferFromArgs> {
    let mut r = values(bytes, TRANSFER_FROM_ARGS_HEADER)?;
    let to = r.account()?;
    let fee = r.opt_nat()?;
    let spender_subaccount = r.opt_subaccount()?;
    let from = r.account()?;
    let memo = r.opt_memo()?;
    let created_at_time = r.opt_nat64()?;
    let amount = r.nat()?;
    r.finish(TransferFromArgs {
        spender_subaccount,
        from,
        to,
        amount,
        fee,
        memo,
        created_at_time,
    })
}

/// The reply `Ok(n)` after `header` (one of the `*_RESULT_HEADER`s); `None` if `n` does not
/// fit in 64 bits.
fn ok_nat(header: &[u8], n: &Nat) -> Option<Vec<u8>> {
    let n = u64::try_from(&n.0).ok()?;
    let mut buf = [0u8; 19];
    let len = leb128(&mut buf, u128::from(n));
    let mut out = Vec::with_capacity(header.len() + 1 + len);
    out.extend_from_slice(header);
    out.push(OK_INDEX);
    out.extend_from_slice(&buf[..len]);
    Some(out)
}

/// The candid reply for `r` of `icrc1_transfer`, when it is `Ok` (errors: `None`).
pub fn encode_transfer_ok<E>(r: &Result<Nat, E>) -> Option<Vec<u8>> {
    r.as_ref()
        .ok()
        .and_then(|n| ok_nat(TRANSFER_RESULT_HEADER, n))
}

/// The candid reply for `r` of `icrc2_approve`, when it is `Ok` (errors: `None`).
pub fn encode_approve_ok<E>(r: &Result<Nat, E>) -> Option<Vec<u8>> {
    r.as_ref()
        .ok()
        .and_then(|n| ok_nat(APPROVE_RESULT_HEADER, n))
}

/// The candid reply for `r` of `icrc2_transfer_from`, when it is `Ok` (errors: `None`).
pub fn encode_transfer_from_ok<E>(r: &Result<Nat, E>) -> Option<Vec<u8>> {
    r.as_ref()
        .ok()
        .and_then(|n| ok_nat(TRANSFER_FROM_RESULT_HEADER, n))
}
