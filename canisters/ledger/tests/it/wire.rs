//! The fast Candid paths of `emc_ledger::wire` agree with the generic `candid` codec: the
//! headers are candid's own, every argument candid writes is decoded to the same value, any
//! byte string the fast path accepts is one candid decodes to the same value, and `Ok` replies
//! are byte-identical to candid's.

use candid::{CandidType, Decode, Deserialize, Encode, Nat, Principal};
use emc_ledger::wire::{self, *};
use icrc_ledger_types::icrc1::account::{Account, Subaccount};
use icrc_ledger_types::icrc1::transfer::{Memo, TransferArg, TransferError};
use icrc_ledger_types::icrc2::approve::{ApproveArgs, ApproveError};
use icrc_ledger_types::icrc2::transfer_from::{TransferFromArgs, TransferFromError};
use proptest::prelude::*;
use serde_bytes::ByteBuf;

fn principal() -> impl Strategy<Value = Principal> {
    prop_oneof![
        Just(Principal::anonymous()),
        Just(Principal::management_canister()),
        prop::collection::vec(any::<u8>(), 0..=29).prop_map(|b| Principal::from_slice(&b)),
    ]
}

fn subaccount() -> impl Strategy<Value = Option<Subaccount>> {
    prop_oneof![
        Just(None),
        Just(Some([0u8; 32])),
        any::<[u8; 32]>().prop_map(Some),
    ]
}

fn account() -> impl Strategy<Value = Account> {
    (principal(), subaccount()).prop_map(|(owner, subaccount)| Account { owner, subaccount })
}

/// Naturals, mostly u64 (the fast path) and sometimes far larger (the fallback).
fn nat() -> impl Strategy<Value = Nat> {
    prop_oneof![
        4 => any::<u64>().prop_map(Nat::from),
        1 => Just(Nat::from(u64::MAX)),
        1 => Just(Nat::from(0u8)),
        1 => any::<u128>().prop_map(Nat::from),
        1 => any::<u128>().prop_map(|n| Nat::from(n) * Nat::from(u128::MAX)),
    ]
}

fn memo() -> impl Strategy<Value = Option<Memo>> {
    prop::option::of(prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| Memo(ByteBuf::from(b))))
}

fn transfer_arg() -> impl Strategy<Value = TransferArg> {
    (
        subaccount(),
        account(),
        prop::option::of(nat()),
        prop::option::of(any::<u64>()),
        memo(),
        nat(),
    )
        .prop_map(
            |(from_subaccount, to, fee, created_at_time, memo, amount)| TransferArg {
                from_subaccount,
                to,
                fee,
                created_at_time,
                memo,
                amount,
            },
        )
}

fn approve_args() -> impl Strategy<Value = ApproveArgs> {
    (
        subaccount(),
        account(),
        nat(),
        prop::option::of(nat()),
        prop::option::of(any::<u64>()),
        prop::option::of(nat()),
        memo(),
        prop::option::of(any::<u64>()),
    )
        .prop_map(
            |(
                from_subaccount,
                spender,
                amount,
                expected_allowance,
                expires_at,
                fee,
                memo,
                created_at_time,
            )| {
                ApproveArgs {
                    from_subaccount,
                    spender,
                    amount,
                    expected_allowance,
                    expires_at,
                    fee,
                    memo,
                    created_at_time,
                }
            },
        )
}

fn transfer_from_args() -> impl Strategy<Value = TransferFromArgs> {
    (
        subaccount(),
        account(),
        account(),
        nat(),
        prop::option::of(nat()),
        memo(),
        prop::option::of(any::<u64>()),
    )
        .prop_map(
            |(spender_subaccount, from, to, amount, fee, memo, created_at_time)| TransferFromArgs {
                spender_subaccount,
                from,
                to,
                amount,
                fee,
                memo,
                created_at_time,
            },
        )
}

fn fits(n: &Nat) -> bool {
    u64::try_from(&n.0).is_ok()
}

fn opt_fits(n: &Option<Nat>) -> bool {
    n.as_ref().is_none_or(fits)
}

/// What the generic decoder makes of `bytes` (as the `#[update]` macro configures it).
fn generic<T: CandidType + for<'de> Deserialize<'de>>(bytes: &[u8]) -> Option<T> {
    let mut config = candid::DecoderConfig::new();
    config.set_skipping_quota(10000);
    candid::utils::decode_args_with_config::<(T,)>(bytes, &config)
        .ok()
        .map(|(v,)| v)
}

/// A mutation of a valid encoding: one byte changed, bytes cut off, or bytes added.
fn mutate(bytes: &[u8], at: usize, byte: u8, how: u8) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let at = at % b.len();
    match how % 4 {
        0 => b[at] = byte,
        1 => b.truncate(at),
        2 => b.insert(at, byte),
        _ => b.push(byte),
    }
    b
}

#[test]
fn argument_headers_are_candids() {
    let a = Account::from(Principal::anonymous());
    let t = TransferArg {
        from_subaccount: None,
        to: a,
        fee: None,
        created_at_time: None,
        memo: None,
        amount: Nat::from(1u8),
    };
    assert!(Encode!(&t).unwrap().starts_with(TRANSFER_ARG_HEADER));
    let ap = ApproveArgs {
        from_subaccount: None,
        spender: a,
        amount: Nat::from(1u8),
        expected_allowance: None,
        expires_at: None,
        fee: None,
        memo: None,
        created_at_time: None,
    };
    assert!(Encode!(&ap).unwrap().starts_with(APPROVE_ARGS_HEADER));
    let tf = TransferFromArgs {
        spender_subaccount: None,
        from: a,
        to: a,
        amount: Nat::from(1u8),
        fee: None,
        memo: None,
        created_at_time: None,
    };
    assert!(Encode!(&tf).unwrap().starts_with(TRANSFER_FROM_ARGS_HEADER));
}

#[test]
fn ok_replies_are_candids() {
    for n in [0u64, 1, 127, 128, 300, 1 << 32, u64::MAX] {
        let t: Result<Nat, TransferError> = Ok(Nat::from(n));
        assert_eq!(wire::encode_transfer_ok(&t), Some(Encode!(&t).unwrap()));
        let a: Result<Nat, ApproveError> = Ok(Nat::from(n));
        assert_eq!(wire::encode_approve_ok(&a), Some(Encode!(&a).unwrap()));
        let f: Result<Nat, TransferFromError> = Ok(Nat::from(n));
        assert_eq!(
            wire::encode_transfer_from_ok(&f),
            Some(Encode!(&f).unwrap())
        );
        // And any client decodes them.
        assert_eq!(
            Decode!(&wire::encode_transfer_ok(&t).unwrap(), Result<Nat, TransferError>).unwrap(),
            t
        );
    }
    let big: Result<Nat, TransferError> = Ok(Nat::from(u128::MAX));
    assert_eq!(wire::encode_transfer_ok(&big), None);
    let err: Result<Nat, TransferError> = Err(TransferError::TooOld);
    assert_eq!(wire::encode_transfer_ok(&err), None);
    let err: Result<Nat, ApproveError> = Err(ApproveError::TooOld);
    assert_eq!(wire::encode_approve_ok(&err), None);
    let err: Result<Nat, TransferFromError> = Err(TransferFromError::TooOld);
    assert_eq!(wire::encode_transfer_from_ok(&err), None);
}

#[test]
fn other_encodings_are_left_to_candid() {
    // A record with the same fields in another type-table layout (as other clients may
    // write): the fast path declines, candid decodes it.
    #[derive(CandidType)]
    struct Reordered {
        amount: Nat,
        to: Account,
    }
    let bytes = Encode!(&Reordered {
        amount: Nat::from(5u8),
        to: Account::from(Principal::anonymous()),
    })
    .unwrap();
    assert_eq!(wire::decode_transfer_arg(&bytes), None);
    let v: TransferArg = generic(&bytes).unwrap();
    assert_eq!(v.amount, Nat::from(5u8));
    // Empty and garbage input.
    assert_eq!(wire::decode_transfer_arg(&[]), None);
    assert_eq!(wire::decode_approve_args(b"DIDL\xff"), None);
    assert_eq!(wire::decode_transfer_from_args(b"DIDL\x00\x00"), None);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn transfer_args_decode_as_candid(arg in transfer_arg(), at in any::<usize>(), byte in any::<u8>(), how in any::<u8>()) {
        let bytes = Encode!(&arg).unwrap();
        let fast = wire::decode_transfer_arg(&bytes);
        if fits(&arg.amount) && opt_fits(&arg.fee) {
            prop_assert_eq!(fast, Some(arg.clone()));
        } else if let Some(v) = fast {
            prop_assert_eq!(v, arg.clone());
        }
        let bad = mutate(&bytes, at, byte, how);
        if let Some(v) = wire::decode_transfer_arg(&bad) {
            prop_assert_eq!(Some(v), generic::<TransferArg>(&bad));
        }
    }

    #[test]
    fn approve_args_decode_as_candid(arg in approve_args(), at in any::<usize>(), byte in any::<u8>(), how in any::<u8>()) {
        let bytes = Encode!(&arg).unwrap();
        let fast = wire::decode_approve_args(&bytes);
        if fits(&arg.amount) && opt_fits(&arg.fee) && opt_fits(&arg.expected_allowance) {
            prop_assert_eq!(fast, Some(arg.clone()));
        } else if let Some(v) = fast {
            prop_assert_eq!(v, arg.clone());
        }
        let bad = mutate(&bytes, at, byte, how);
        if let Some(v) = wire::decode_approve_args(&bad) {
            prop_assert_eq!(Some(v), generic::<ApproveArgs>(&bad));
        }
    }

    #[test]
    fn transfer_from_args_decode_as_candid(arg in transfer_from_args(), at in any::<usize>(), byte in any::<u8>(), how in any::<u8>()) {
        let bytes = Encode!(&arg).unwrap();
        let fast = wire::decode_transfer_from_args(&bytes);
        if fits(&arg.amount) && opt_fits(&arg.fee) {
            prop_assert_eq!(fast, Some(arg.clone()));
        } else if let Some(v) = fast {
            prop_assert_eq!(v, arg.clone());
        }
        let bad = mutate(&bytes, at, byte, how);
        if let Some(v) = wire::decode_transfer_from_args(&bad) {
            prop_assert_eq!(Some(v), generic::<TransferFromArgs>(&bad));
        }
    }

    #[test]
    fn random_bytes_after_a_header_decode_as_candid(tail in prop::collection::vec(any::<u8>(), 0..120)) {
        for header in [TRANSFER_ARG_HEADER, APPROVE_ARGS_HEADER, TRANSFER_FROM_ARGS_HEADER] {
            let mut bytes = header.to_vec();
            bytes.extend_from_slice(&tail);
            if let Some(v) = wire::decode_transfer_arg(&bytes) {
                prop_assert_eq!(Some(v), generic::<TransferArg>(&bytes));
            }
            if let Some(v) = wire::decode_approve_args(&bytes) {
                prop_assert_eq!(Some(v), generic::<ApproveArgs>(&bytes));
            }
            if let Some(v) = wire::decode_transfer_from_args(&bytes) {
                prop_assert_eq!(Some(v), generic::<TransferFromArgs>(&bytes));
            }
        }
    }

    #[test]
    fn ok_replies_encode_as_candid(n in any::<u64>()) {
        let t: Result<Nat, TransferError> = Ok(Nat::from(n));
        prop_assert_eq!(wire::encode_transfer_ok(&t), Some(Encode!(&t).unwrap()));
        let a: Result<Nat, ApproveError> = Ok(Nat::from(n));
        prop_assert_eq!(wire::encode_approve_ok(&a), Some(Encode!(&a).unwrap()));
        let f: Result<Nat, TransferFromError> = Ok(Nat::from(n));
        prop_assert_eq!(wire::encode_transfer_from_ok(&f), Some(Encode!(&f).unwrap()));
    }
}

/// Hand-made values after the `TransferArg` header: where the fast path accepts them, candid
/// decodes the same; where candid refuses them, the fast path does too.
#[test]
fn edge_cases_agree_with_candid() {
    let owner = [0x01, 0x02, 0xaa, 0xbb]; // principal aabb
    let tail = |amount: &[u8], to: &[u8], rest: &[u8]| {
        let mut b = TRANSFER_ARG_HEADER.to_vec();
        b.extend_from_slice(to);
        b.extend_from_slice(&[0x00, 0x00, 0x00, 0x00]); // fee, memo, from_subaccount, created
        b.extend_from_slice(amount);
        b.extend_from_slice(rest);
        b
    };
    let with_sub = |len: u8, tag: u8| {
        let mut to = owner.to_vec();
        to.push(tag);
        to.push(len);
        to.extend(std::iter::repeat_n(7u8, usize::from(len)));
        to
    };
    let mut to_plain = owner.to_vec();
    to_plain.push(0);
    let cases: Vec<Vec<u8>> = vec![
        tail(&[0x05], &to_plain, &[]),
        tail(&[0x85, 0x80, 0x00], &to_plain, &[]), // overlong LEB128
        tail(
            &[0xff; 9].iter().copied().chain([0x01]).collect::<Vec<_>>(),
            &to_plain,
            &[],
        ), // u64::MAX
        tail(
            &[0xff; 9].iter().copied().chain([0x03]).collect::<Vec<_>>(),
            &to_plain,
            &[],
        ), // 2^65-1
        tail(
            &[0x80; 10].iter().copied().chain([0x00]).collect::<Vec<_>>(),
            &to_plain,
            &[],
        ), // overlong 0
        tail(&[0x05], &to_plain, &[0x00]),         // trailing byte
        tail(&[0x05], &with_sub(32, 1), &[]),
        tail(&[0x05], &with_sub(31, 1), &[]),
        tail(&[0x05], &with_sub(33, 1), &[]),
        tail(&[0x05], &with_sub(32, 2), &[]), // bad opt tag
        tail(&[0x05], &[0x00, 0x02, 0xaa, 0xbb, 0x00], &[]), // opaque principal reference
        tail(
            &[0x05],
            &[0x01, 0x1e]
                .iter()
                .copied()
                .chain([9u8; 30])
                .chain([0])
                .collect::<Vec<_>>(),
            &[],
        ), // 30-byte principal
        tail(
            &[0x05],
            &[0x01, 0x1d]
                .iter()
                .copied()
                .chain([9u8; 29])
                .chain([0])
                .collect::<Vec<_>>(),
            &[],
        ), // 29-byte principal
        tail(&[0x05], &[0x01, 0x00, 0x00], &[]), // empty principal
        tail(&[0x80], &to_plain, &[]),        // truncated LEB128
    ];
    for (i, bytes) in cases.iter().enumerate() {
        let fast = wire::decode_transfer_arg(bytes);
        let slow = generic::<TransferArg>(bytes);
        if fast.is_some() {
            assert_eq!(fast, slow, "case {i}");
        }
        if slow.is_none() {
            assert_eq!(fast, None, "case {i}");
        }
    }
    // The plain cases take the fast path.
    assert!(wire::decode_transfer_arg(&cases[0]).is_some());
    assert!(wire::decode_transfer_arg(&cases[1]).is_some());
    assert!(wire::decode_transfer_arg(&cases[2]).is_some());
    assert!(wire::decode_transfer_arg(&cases[6]).is_some());
    assert!(wire::decode_transfer_arg(&cases[12]).is_some());
}
