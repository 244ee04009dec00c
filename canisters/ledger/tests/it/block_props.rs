//! Block encoding properties: random blocks round-trip and hash as their ICRC-3 value; random
//! bytes never make the decoder panic.

use candid::Principal;
use emc_ledger::block::{Block, Op, Tx};
use emc_ledger::hashing::hash_value;
use icrc_ledger_types::icrc1::account::Account;
use proptest::prelude::*;

fn account() -> impl Strategy<Value = Account> {
    (
        prop::collection::vec(any::<u8>(), 0..=29),
        proptest::option::of(any::<[u8; 32]>()),
    )
        .prop_map(|(owner, subaccount)| Account {
            owner: Principal::from_slice(&owner),
            subaccount,
        })
}

fn block() -> impl Strategy<Value = Block> {
    (
        (
            proptest::option::of(any::<[u8; 32]>()),
            any::<u64>(),
            proptest::option::of(any::<u64>()),
            proptest::option::of(account()),
        ),
        (
            prop_oneof![
                Just(Op::Mint),
                Just(Op::Burn),
                Just(Op::Xfer),
                Just(Op::Approve)
            ],
            proptest::option::of(account()),
            proptest::option::of(account()),
            proptest::option::of(account()),
            any::<u64>(),
            proptest::option::of(any::<u64>()),
            proptest::option::of(prop::collection::vec(any::<u8>(), 0..64)),
        ),
        (
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u64>()),
        ),
    )
        .prop_map(
            |(
                (parent_hash, timestamp, effective_fee, fee_collector),
                (op, from, to, spender, amount, fee, memo),
                (created_at_time, expected_allowance, expires_at),
            )| Block {
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
            },
        )
}

proptest! {
    #[test]
    fn blocks_round_trip_and_hash_as_values(b in block()) {
        let bytes = b.encode();
        prop_assert_eq!(Block::decode(&bytes).unwrap(), b.clone());
        prop_assert_eq!(b.hash(), hash_value(&b.to_value()).unwrap());
    }

    #[test]
    fn decoding_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = Block::decode(&bytes);
        let mut v = vec![1u8];
        v.extend_from_slice(&bytes);
        let _ = Block::decode(&v);
    }
}
