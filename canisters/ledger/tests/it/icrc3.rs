//! ICRC-3: the standard's hash test vectors, the IC hash tree example, block encoding, the
//! chain's links, paging, the certified tip; ICRC-21 consent messages; storage upgrade and
//! downgrade refusal; how many blocks fit in stable memory.

use crate::common::*;
use candid::{Int, Nat};
use emc_ledger::block::{Block, Op, Tx};
use emc_ledger::hashing::{hash_value, tip_tree, HashTree};
use emc_ledger::icrc21::{consent_message, format_time, format_tokens, TokenInfo};
use emc_ledger::storage::{Stores, LAYOUT_VERSION};
use emc_ledger::{Ledger, LedgerError};
use icrc_ledger_types::icrc::generic_value::ICRC3Value as V;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc2::allowance::AllowanceArgs;
use icrc_ledger_types::icrc21::errors::Icrc21Error;
use icrc_ledger_types::icrc21::requests::{
    ConsentMessageMetadata, ConsentMessageRequest, ConsentMessageSpec, DisplayMessageType,
};
use icrc_ledger_types::icrc21::responses::{ConsentMessage, Value as CValue};
use icrc_ledger_types::icrc3::blocks::GetBlocksRequest;
use serde_bytes::ByteBuf;

fn blob(b: &[u8]) -> V {
    V::Blob(ByteBuf::from(b.to_vec()))
}

fn h(v: &V) -> String {
    hex::encode(hash_value(v).unwrap())
}

/// The test vectors of ICRC-3's HASHINGVALUES.md.
#[test]
fn icrc3_hash_test_vectors() {
    assert_eq!(
        h(&V::Nat(Nat::from(42u8))),
        "684888c0ebb17f374298b65ee2807526c066094c701bcc7ebbe1c1095f494fc1"
    );
    assert_eq!(
        h(&V::Int(Int::from(-42))),
        "de5a6f78116eca62d7fc5ce159d23ae6b889b365a1739ad2cf36f925a140d0cc"
    );
    assert_eq!(
        h(&V::Text("Hello, World!".into())),
        "dffd6021bb2bd5b0af676290809ec3a53191dd81c7f70a4b28688a362182986f"
    );
    assert_eq!(
        h(&blob(&[1, 2, 3, 4])),
        "9f64a747e1b97f131fabb6b447296c9b6f0201e79fb3c5356e6c77e89b6a806a"
    );
    assert_eq!(
        h(&V::Array(vec![
            V::Nat(Nat::from(3u8)),
            V::Text("foo".into()),
            blob(&[5, 6])
        ])),
        "514a04011caa503990d446b7dec5d79e19c221ae607fb08b2848c67734d468d6"
    );
    let map = V::Map(
        [
            (
                "from".to_string(),
                blob(&hex::decode("00abcdef0012340056789a00bcdef000012345678900abcdef01").unwrap()),
            ),
            (
                "to".to_string(),
                blob(&hex::decode("00ab0def0012340056789a00bcdef000012345678900abcdef01").unwrap()),
            ),
            ("amount".to_string(), V::Nat(Nat::from(42u8))),
            (
                "created_at".to_string(),
                V::Nat(Nat::from(1_699_218_263u64)),
            ),
            ("memo".to_string(), V::Nat(Nat::from(0u8))),
        ]
        .into_iter()
        .collect(),
    );
    assert_eq!(
        h(&map),
        "c56ece650e1de4269c5bdeff7875949e3e2033f85b2d193c2ff4f7f78bdcfc75"
    );
    // Big naturals (beyond 64 bits) hash their full LEB128.
    assert_eq!(
        hash_value(&V::Nat(Nat::from(u64::MAX))).unwrap(),
        emc_ledger::hashing::hash_nat(u128::from(u64::MAX))
    );
}

/// The example tree of the IC interface specification ("Certification").
#[test]
fn ic_hash_tree_spec_example() {
    use HashTree as T;
    let tree = T::fork(
        T::fork(
            T::labeled(
                b"a",
                T::fork(
                    T::fork(T::labeled(b"x", T::leaf(b"hello")), T::Empty),
                    T::labeled(b"y", T::leaf(b"world")),
                ),
            ),
            T::labeled(b"b", T::leaf(b"good")),
        ),
        T::fork(
            T::labeled(b"c", T::Empty),
            T::labeled(b"d", T::leaf(b"morning")),
        ),
    );
    assert_eq!(
        hex::encode(tree.digest()),
        "eb5c5b2195e62d996b84c9bcc8259d19a83786a2f59e0878cec84c811f669aa0"
    );
    assert_eq!(
        hex::encode(tree.to_cbor()),
        "8301830183024161830183018302417882034568656c6c6f810083024179820345776f726c6483024162820344676f6f648301830241638100830241648203476d6f726e696e67"
    );
    assert_eq!(&tree.to_cbor_self_describing()[..3], &[0xd9, 0xd9, 0xf7]);
    let pruned = T::fork(
        T::fork(
            T::labeled(
                b"a",
                T::fork(
                    T::Pruned(
                        hex::decode(
                            "1b4feff9bef8131788b0c9dc6dbad6e81e524249c879e9f10f71ce3749f5a638",
                        )
                        .unwrap()
                        .try_into()
                        .unwrap(),
                    ),
                    T::labeled(b"y", T::leaf(b"world")),
                ),
            ),
            T::labeled(
                b"b",
                T::Pruned(
                    hex::decode("7b32ac0c6ba8ce35ac82c255fc7906f7fc130dab2a090f80fe12f9c2cae83ba6")
                        .unwrap()
                        .try_into()
                        .unwrap(),
                ),
            ),
        ),
        T::fork(
            T::Pruned(
                hex::decode("ec8324b8a1f1ac16bd2e806edba78006479c9877fed4eb464a25485465af601d")
                    .unwrap()
                    .try_into()
                    .unwrap(),
            ),
            T::labeled(b"d", T::leaf(b"morning")),
        ),
    );
    assert_eq!(pruned.digest(), tree.digest());
}

#[test]
fn tip_tree_shape() {
    let hash = [7u8; 32];
    let t = tip_tree(Some((300, hash)));
    // last_block_index = 300 in LEB128 is ac 02.
    assert_eq!(
        t,
        HashTree::fork(
            HashTree::labeled(b"last_block_hash", HashTree::leaf(&hash)),
            HashTree::labeled(b"last_block_index", HashTree::leaf(&[0xac, 0x02])),
        )
    );
    assert_eq!(tip_tree(None), HashTree::Empty);
}

fn sample_blocks() -> Vec<Block> {
    let tx = |op| Tx {
        op,
        from: None,
        to: None,
        spender: None,
        amount: 0,
        fee: None,
        memo: None,
        created_at_time: None,
        expected_allowance: None,
        expires_at: None,
    };
    vec![
        Block {
            parent_hash: None,
            timestamp: 0,
            effective_fee: None,
            fee_collector: None,
            tx: Tx {
                to: Some(acct(1)),
                amount: 5,
                ..tx(Op::Mint)
            },
        },
        Block {
            parent_hash: Some([9; 32]),
            timestamp: u64::MAX,
            effective_fee: Some(10_000),
            fee_collector: Some(sub(4, 4)),
            tx: Tx {
                from: Some(sub(1, 200)),
                to: Some(sub(2, 1)),
                spender: Some(acct(3)),
                amount: u64::MAX,
                memo: Some(vec![0xff; 32]),
                created_at_time: Some(123),
                ..tx(Op::Xfer)
            },
        },
        Block {
            parent_hash: Some([1; 32]),
            timestamp: 5,
            effective_fee: None,
            fee_collector: None,
            tx: Tx {
                from: Some(acct(1)),
                spender: Some(acct(2)),
                amount: 77,
                fee: Some(10_000),
                memo: Some(vec![]),
                expected_allowance: Some(3),
                expires_at: Some(99),
                created_at_time: Some(1),
                ..tx(Op::Approve)
            },
        },
        Block {
            parent_hash: Some([2; 32]),
            timestamp: 6,
            effective_fee: None,
            fee_collector: None,
            tx: Tx {
                from: Some(acct(1)),
                amount: 1,
                ..tx(Op::Burn)
            },
        },
    ]
}

#[test]
fn block_encoding_round_trips_and_direct_hash_matches_value_hash() {
    for b in sample_blocks() {
        let bytes = b.encode();
        assert_eq!(Block::decode(&bytes).unwrap(), b);
        assert_eq!(b.hash(), hash_value(&b.to_value()).unwrap(), "{b:?}");
        assert_eq!(b.tx.hash(), hash_value(&b.tx.to_value()).unwrap());
        // Truncations are errors, never panics.
        for n in 0..bytes.len() {
            assert!(Block::decode(&bytes[..n]).is_err());
        }
    }
    assert!(Block::decode(&[2, 0]).is_err());
    assert!(Block::decode(&[1, 9, 0, 0]).is_err());
}

/// The structure of ICRC-3's "Example 1" (transfer with required parameters only).
#[test]
fn block_value_follows_the_standard_schema() {
    let from = Account {
        owner: candid::Principal::from_slice(&[0, 0, 0, 0, 2, 0x30, 2, 0x17, 1, 1]),
        subaccount: None,
    };
    let to = Account {
        owner: candid::Principal::from_slice(&[9; 29]),
        subaccount: None,
    };
    let b = Block {
        parent_hash: Some([0xb8; 32]),
        timestamp: 1_753_344_727_778_561_060,
        effective_fee: Some(10_000),
        fee_collector: None,
        tx: Tx {
            op: Op::Xfer,
            from: Some(from),
            to: Some(to),
            spender: None,
            amount: 85_224_322_205,
            fee: None,
            memo: None,
            created_at_time: None,
            expected_allowance: None,
            expires_at: None,
        },
    };
    let nat = |n: u64| V::Nat(Nat::from(n));
    let acc = |a: &Account| V::Array(vec![blob(a.owner.as_slice())]);
    let expected = V::Map(
        [
            ("fee".to_string(), nat(10_000)),
            ("phash".to_string(), blob(&[0xb8; 32])),
            ("ts".to_string(), nat(1_753_344_727_778_561_060)),
            (
                "tx".to_string(),
                V::Map(
                    [
                        ("amt".to_string(), nat(85_224_322_205)),
                        ("from".to_string(), acc(&from)),
                        ("op".to_string(), V::Text("xfer".into())),
                        ("to".to_string(), acc(&to)),
                    ]
                    .into_iter()
                    .collect(),
                ),
            ),
        ]
        .into_iter()
        .collect(),
    );
    assert_eq!(b.to_value(), expected);
    // With a subaccount the account is [owner, subaccount].
    let s = sub(1, 1);
    assert_eq!(
        emc_ledger::account::account_value(&s),
        V::Array(vec![blob(s.owner.as_slice()), blob(&s.subaccount.unwrap())])
    );
}

#[test]
fn chain_links_paging_and_certified_tip() {
    let (mut l, _) = new_ledger();
    for i in 0..30u64 {
        l.icrc1_transfer(p(1), xfer(acct(3), i * E8S), NOW + i)
            .unwrap();
    }
    l.icrc2_approve(p(3), approve(acct(4), E8S), NOW).unwrap();
    l.icrc2_transfer_from(p(4), xfer_from(acct(3), acct(5), 10), NOW)
        .unwrap();
    let len = l.log_length();
    assert_eq!(len, 34);
    // Page through the log in several ranges.
    let req = |s: u64, n: u64| GetBlocksRequest {
        start: Nat::from(s),
        length: Nat::from(n),
    };
    let r = l.icrc3_get_blocks(&[req(0, 10), req(10, 10), req(20, 100)]);
    assert_eq!(r.log_length, Nat::from(len));
    assert!(r.archived_blocks.is_empty());
    let ids: Vec<Nat> = r.blocks.iter().map(|b| b.id.clone()).collect();
    assert_eq!(ids, (0..len).map(Nat::from).collect::<Vec<_>>());
    // Every block's phash is the hash of the served previous block.
    let mut prev: Option<[u8; 32]> = None;
    for b in &r.blocks {
        let V::Map(m) = &b.block else {
            panic!("not a map")
        };
        match prev {
            None => assert!(!m.contains_key("phash")),
            Some(p) => assert_eq!(m.get("phash"), Some(&blob(&p))),
        }
        prev = Some(hash_value(&b.block).unwrap());
    }
    // The certified tip is the last block.
    let (last, hash) = l.tip().unwrap();
    assert_eq!((last, hash), (len - 1, prev.unwrap()));
    assert_eq!(l.certified_data(), tip_tree(Some((last, hash))).digest());
    let cert = l.tip_certificate(Some(vec![1, 2, 3])).unwrap();
    assert_eq!(cert.certificate.as_slice(), &[1, 2, 3]);
    assert_eq!(
        cert.hash_tree.as_slice(),
        tip_tree(Some((last, hash)))
            .to_cbor_self_describing()
            .as_slice()
    );
    assert!(l.tip_certificate(None).is_none());
    // Out of range, huge and empty requests.
    assert!(l.icrc3_get_blocks(&[req(len, 5)]).blocks.is_empty());
    assert!(l
        .icrc3_get_blocks(&[req(u64::MAX, u64::MAX)])
        .blocks
        .is_empty());
    let huge = GetBlocksRequest {
        start: Nat::from(u128::MAX),
        length: Nat::from(u128::MAX),
    };
    assert!(l.icrc3_get_blocks(&[huge]).blocks.is_empty());
    let r = l.icrc3_get_blocks(&[GetBlocksRequest {
        start: Nat::from(30u8),
        length: Nat::from(u128::MAX),
    }]);
    assert_eq!(r.blocks.len(), 4);
    assert!(l.icrc3_get_blocks(&[]).blocks.is_empty());
}

#[test]
fn get_blocks_is_capped() {
    let (mut l, _) = new_ledger();
    for i in 0..1_100u64 {
        l.icrc1_transfer(p(1), xfer(acct(3), 1), NOW + i).unwrap();
    }
    let req = GetBlocksRequest {
        start: Nat::from(0u8),
        length: Nat::from(5_000u32),
    };
    let r = l.icrc3_get_blocks(&[req.clone(), req]);
    assert_eq!(
        r.blocks.len() as u64,
        emc_ledger::ledger::MAX_BLOCKS_PER_RESPONSE
    );
    assert_eq!(r.log_length, Nat::from(1_102u32));
}

#[test]
fn upgrade_reopens_everything_from_the_same_memory() {
    let (mut l, mem) = new_ledger();
    l.icrc1_transfer(p(1), xfer(sub(3, 1), 10 * E8S), NOW)
        .unwrap();
    let mut a = approve(acct(5), 7 * E8S);
    a.expires_at = Some(NOW + DAY);
    a.created_at_time = Some(NOW);
    l.icrc2_approve(p(1), a.clone(), NOW).unwrap();
    let mut t = xfer(acct(6), E8S);
    t.created_at_time = Some(NOW);
    let dup_of = l.icrc1_transfer(p(2), t.clone(), NOW).unwrap();
    let before = snapshot(&l);
    let cfg = l.config().clone();
    let blocks = l.icrc3_get_blocks(&[GetBlocksRequest {
        start: Nat::from(0u8),
        length: Nat::from(100u8),
    }]);
    let cert = l.certified_data();
    drop(l);

    let mut l = Ledger::load(mem.clone()).unwrap();
    assert_eq!(snapshot(&l), before);
    assert_eq!(l.config(), &cfg);
    assert_eq!(l.certified_data(), cert);
    assert_eq!(
        l.icrc3_get_blocks(&[GetBlocksRequest {
            start: Nat::from(0u8),
            length: Nat::from(100u8)
        }]),
        blocks
    );
    assert_eq!(
        l.icrc2_allowance(
            &AllowanceArgs {
                account: acct(1),
                spender: acct(5)
            },
            NOW
        )
        .expires_at,
        Some(NOW + DAY)
    );
    // Dedup survives the upgrade; the chain continues from the stored tip.
    assert_eq!(
        l.icrc1_transfer(p(2), t, NOW),
        Err(
            icrc_ledger_types::icrc1::transfer::TransferError::Duplicate {
                duplicate_of: dup_of
            }
        )
    );
    let i = l.icrc1_transfer(p(2), xfer(acct(6), 1), NOW).unwrap();
    let i = u64::try_from(&i.0).unwrap();
    assert_eq!(l.block(i).unwrap().parent_hash, Some(before.tip.unwrap().1));
}

#[test]
fn config_cell_layout_is_emcl_version_then_candid_config() {
    // The byte layout every deployed ledger has in memory 0: "EMCL", u32 LE version, candid.
    let (l, mem) = new_ledger();
    let config = l.config().clone();
    drop(l);
    let bytes = Stores::open(mem.clone()).config.get().clone();
    assert_eq!(&bytes[..8], b"EMCL\x01\x00\x00\x00");
    assert_eq!(LAYOUT_VERSION, 1);
    let body: emc_ledger::Config = candid::decode_one(&bytes[8..]).unwrap();
    assert_eq!(body, config);
    // A cell written by hand in that layout loads.
    let mut hand = b"EMCL".to_vec();
    hand.extend_from_slice(&1u32.to_le_bytes());
    hand.extend_from_slice(&candid::encode_one(&config).unwrap());
    assert_eq!(hand, bytes);
    let l = Ledger::load(mem).unwrap();
    assert_eq!(l.config(), &config);
}

#[test]
fn config_cell_without_a_ledger_header_is_not_initialized() {
    for cell in [
        &b""[..],
        b"EMC",
        b"EMCL\x01\x00\x00",
        b"EMCR\x01\x00\x00\x00DIDL",
    ] {
        let mem = ic_stable_structures::VectorMemory::default();
        Stores::open(mem.clone()).config.set(cell.to_vec());
        assert_eq!(
            Ledger::load(mem).err(),
            Some(LedgerError::NotInitialized),
            "{cell:?}"
        );
    }
}

#[test]
fn newer_layout_is_refused() {
    let (l, mem) = new_ledger();
    drop(l);
    {
        let mut s = Stores::open(mem.clone());
        let mut bytes = s.config.get().clone();
        bytes[4..8].copy_from_slice(&(LAYOUT_VERSION + 1).to_le_bytes());
        s.config.set(bytes);
    }
    assert_eq!(
        Ledger::load(mem).err(),
        Some(LedgerError::Downgrade {
            stored: LAYOUT_VERSION + 1,
            supported: LAYOUT_VERSION
        })
    );
    // Garbage in the config cell is an error, not a panic.
    let mem2 = ic_stable_structures::VectorMemory::default();
    {
        let mut s = Stores::open(mem2.clone());
        let mut b = b"EMCL".to_vec();
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&[0xde, 0xad]);
        s.config.set(b);
    }
    assert!(matches!(Ledger::load(mem2), Err(LedgerError::Storage(_))));
}

/// How big blocks are: the figures behind the "blocks that fit" arithmetic.
#[test]
fn block_sizes() {
    let (mut l, _) = new_ledger();
    // A typical transfer: default subaccounts, 10-byte principals, an 8-byte memo, created_at_time.
    let mut t = xfer(acct(3), 1);
    t.memo = memo(&[1; 8]);
    t.created_at_time = Some(NOW);
    let i = l.icrc1_transfer(p(1), t, NOW).unwrap();
    let typical = l
        .block(u64::try_from(&i.0).unwrap())
        .unwrap()
        .encode()
        .len();
    // Worst case: 29-byte principals with subaccounts everywhere, a 32-byte memo, every option.
    let big = |n: u8| Account {
        owner: candid::Principal::from_slice(&[n; 29]),
        subaccount: Some([n; 32]),
    };
    let worst = Block {
        parent_hash: Some([0; 32]),
        timestamp: 0,
        effective_fee: Some(1),
        fee_collector: Some(big(4)),
        tx: Tx {
            op: Op::Xfer,
            from: Some(big(1)),
            to: Some(big(2)),
            spender: Some(big(3)),
            amount: 1,
            fee: Some(1),
            memo: Some(vec![0; 32]),
            created_at_time: Some(1),
            expected_allowance: Some(1),
            expires_at: Some(1),
        },
    }
    .encode()
    .len();
    println!("typical transfer block: {typical} bytes; worst case: {worst} bytes");
    // header (version, op, flags) + ts + amt + phash + 2 accounts + memo + created_at + fee
    assert_eq!(typical, 4 + 8 + 8 + 32 + 2 * (1 + 10 + 1) + (2 + 8) + 8 + 8);
    assert_eq!(
        worst,
        4 + 8 + 8 + 32 + 4 * (1 + 29 + 1 + 32) + 8 + (2 + 32) + 4 * 8
    );
}

fn req(method: &str, arg: Vec<u8>, display: Option<DisplayMessageType>) -> ConsentMessageRequest {
    ConsentMessageRequest {
        method: method.into(),
        arg,
        user_preferences: ConsentMessageSpec {
            metadata: ConsentMessageMetadata {
                language: "en".into(),
                utc_offset_minutes: Some(60),
            },
            device_spec: display,
        },
    }
}

#[test]
fn icrc21_consent_messages() {
    let token = TokenInfo {
        symbol: "EMC",
        decimals: 8,
        fee: FEE,
    };
    let mut t = xfer(acct(3), 150_000_000);
    t.memo = memo(b"invoice 7");
    let info = consent_message(
        &req("icrc1_transfer", candid::encode_one(&t).unwrap(), None),
        p(1),
        &token,
    )
    .unwrap();
    let ConsentMessage::GenericDisplayMessage(text) = info.consent_message else {
        panic!()
    };
    assert!(text.starts_with("# Send EMC"), "{text}");
    assert!(
        text.contains("`1.5 EMC`") && text.contains("`0.0001 EMC`") && text.contains("invoice 7"),
        "{text}"
    );
    assert!(text.contains(&acct(3).to_string()) && text.contains(&acct(1).to_string()));
    assert_eq!(info.metadata.utc_offset_minutes, Some(60));

    let mut a = approve(acct(5), 2 * E8S);
    a.expires_at = Some(1_700_000_000 * SEC);
    a.expected_allowance = Some(Nat::from(0u8));
    let info = consent_message(
        &req(
            "icrc2_approve",
            candid::encode_one(&a).unwrap(),
            Some(DisplayMessageType::FieldsDisplay),
        ),
        p(1),
        &token,
    )
    .unwrap();
    let ConsentMessage::FieldsDisplayMessage(f) = info.consent_message else {
        panic!()
    };
    assert_eq!(f.intent, "Approve spending");
    let get = |n: &str| {
        f.fields
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        get("Requested allowance"),
        Some(CValue::TokenAmount {
            decimals: 8,
            amount: 2 * E8S,
            symbol: "EMC".into()
        })
    );
    assert_eq!(
        get("Approval expiration"),
        Some(CValue::Text {
            content: "2023-11-14 23:13:20 UTC+01:00".into()
        })
    );
    assert!(get("Existing allowance").is_some() && get("Approval fees").is_some());

    let tf = xfer_from(acct(1), acct(6), 1);
    let info = consent_message(
        &req(
            "icrc2_transfer_from",
            candid::encode_one(&tf).unwrap(),
            None,
        ),
        p(5),
        &token,
    )
    .unwrap();
    let ConsentMessage::GenericDisplayMessage(text) = info.consent_message else {
        panic!()
    };
    assert!(
        text.starts_with("# Spend EMC") && text.contains("`0.00000001 EMC`"),
        "{text}"
    );

    // Errors: unknown method, undecodable argument, wrong fee.
    assert!(matches!(
        consent_message(&req("icrc1_balance_of", vec![], None), p(1), &token),
        Err(Icrc21Error::UnsupportedCanisterCall(_))
    ));
    assert!(matches!(
        consent_message(&req("icrc1_transfer", vec![1, 2, 3], None), p(1), &token),
        Err(Icrc21Error::UnsupportedCanisterCall(_))
    ));
    let mut t = xfer(acct(3), 1);
    t.fee = Some(Nat::from(1u8));
    assert!(matches!(
        consent_message(
            &req("icrc1_transfer", candid::encode_one(&t).unwrap(), None),
            p(1),
            &token
        ),
        Err(Icrc21Error::ConsentMessageUnavailable(_))
    ));
    // Formatting helpers.
    assert_eq!(format_tokens(&Nat::from(0u8), 8), "0");
    assert_eq!(format_tokens(&Nat::from(100_000_000u64), 8), "1");
    assert_eq!(
        format_tokens(&Nat::from(123_456_789_012u64), 8),
        "1234.56789012"
    );
    assert_eq!(
        format_tokens(&Nat::from(u128::MAX), 8),
        "3402823669209384634633746074317.68211455"
    );
    assert_eq!(format_tokens(&Nat::from(5u8), 0), "5");
    assert_eq!(format_time(0, None), "1970-01-01 00:00:00 UTC+00:00");
    assert_eq!(
        format_time(u64::MAX, Some(i16::MIN)),
        format_time(u64::MAX, Some(-1440))
    );
    assert_eq!(
        format_time(951_782_400 * SEC, Some(-90)),
        "2000-02-28 22:30:00 UTC-01:30"
    );
}
