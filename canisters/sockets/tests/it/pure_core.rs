//! The pure core over a `VectorMemory`: ICRC-7/37 rules, bad input (nothing changes), the
//! ICRC-3 block log and its hash chain, a model-based property test, reload.

use crate::common::*;
use candid::{Nat, Principal};
use emc_sockets::sockets::codes;
use emc_sockets::*;
use ic_stable_structures::VectorMemory;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc3::blocks::GetBlocksRequest;
use proptest::prelude::*;
use serde_bytes::ByteBuf;
use std::collections::BTreeMap;

const MARKET: u64 = 9;
const DAY: u64 = 86_400 * SEC;

fn init_args() -> InitArgs {
    InitArgs {
        minters: vec![p(MARKET)],
        governance: p(2),
        name: None,
        symbol: None,
        description: None,
        limits: None,
    }
}

fn fresh() -> (Sockets<VectorMemory>, VectorMemory) {
    let mem = VectorMemory::default();
    (Sockets::init(mem.clone(), &init_args()).unwrap(), mem)
}

fn xfer(token: u64, to: Principal, ts: Option<u64>) -> TransferArg {
    TransferArg {
        from_subaccount: None,
        to: acct(to),
        token_id: Nat::from(token),
        memo: None,
        created_at_time: ts,
    }
}

fn approval(spender: Principal, ts: u64) -> ApprovalInfo {
    ApprovalInfo {
        spender: acct(spender),
        from_subaccount: None,
        expires_at: None,
        memo: None,
        created_at_time: ts,
    }
}

/// Everything observable about the collection, to assert that a refusal changed nothing.
fn snapshot(s: &Sockets<VectorMemory>) -> (Meta, Vec<Option<Account>>, Vec<Nat>) {
    let ids: Vec<Nat> = (0..8u64).map(Nat::from).collect();
    (s.meta().clone(), s.owner_of(&ids), s.tokens(&None, &None))
}

fn owner(s: &Sockets<VectorMemory>, id: u64) -> Option<Principal> {
    s.owner_of(&[Nat::from(id)])[0].map(|a| a.owner)
}

#[test]
fn only_minters_mint_and_a_repeated_purchase_mints_once() {
    let (mut s, _) = fresh();
    let a = mint_args(1, p(100), "sd-xl", T0 + DAY);
    assert_eq!(s.mint(p(100), T0, &a), Err(SocketError::NotMinter));
    assert_eq!(s.meta().log_length, 0);
    let id = s.mint(p(MARKET), T0, &a).unwrap();
    assert_eq!(id, 1);
    assert_eq!(s.mint(p(MARKET), T0 + 5, &a), Ok(1), "journal retry");
    assert_eq!(s.meta().total_supply, 1);
    assert_eq!(s.meta().log_length, 1);
    let id2 = s
        .mint(p(MARKET), T0, &mint_args(2, p(101), "sd-xl", T0 + DAY))
        .unwrap();
    assert_eq!(id2, 2);
    assert_eq!(owner(&s, 1), Some(p(100)));
    assert_eq!(
        s.tokens_of(&acct(p(101)), &None, &None),
        vec![Nat::from(2u64)]
    );
    assert_eq!(
        s.balance_of(&[acct(p(100)), acct(p(7))]),
        vec![Nat::from(1u64), Nat::from(0u64)]
    );
    // Bad terms: refused, nothing written.
    let before = snapshot(&s);
    for bad in [
        mint_args(3, p(100), "", T0 + DAY),
        mint_args(3, p(100), "x", T0),
        mint_args(3, Principal::anonymous(), "x", T0 + DAY),
        MintSocketArgs {
            terms: SocketTerms {
                period_secs: 0,
                ..terms("x", T0 + DAY)
            },
            ..mint_args(3, p(1), "x", T0 + DAY)
        },
    ] {
        assert!(matches!(
            s.mint(p(MARKET), T0, &bad),
            Err(SocketError::InvalidArgument(_))
        ));
    }
    assert_eq!(snapshot(&s), before);
    let v = s.socket(1, T0).unwrap();
    assert_eq!(
        (v.terms.app_id.as_str(), v.expired, v.transfers),
        ("sd-xl", false, 0)
    );
    assert!(s.socket(1, T0 + DAY).unwrap().expired);
    assert!(s.socket(99, T0).is_none());
}

#[test]
fn holder_transfers_and_refusals_change_nothing() {
    let (mut s, _) = fresh();
    s.mint(p(MARKET), T0, &mint_args(1, p(100), "sd-xl", T0 + DAY))
        .unwrap();
    // A non-holder.
    let before = snapshot(&s);
    let r = s.transfer(p(101), T0, &[xfer(1, p(101), None)]);
    assert_eq!(r, vec![Some(Err(TransferError::Unauthorized))]);
    // A missing token, a token id above u64, transfer to self, to anonymous, a long memo,
    // a bad subaccount.
    let r = s.transfer(p(100), T0, &[xfer(5, p(101), None)]);
    assert_eq!(r, vec![Some(Err(TransferError::NonExistingTokenId))]);
    let mut huge = xfer(1, p(101), None);
    huge.token_id = Nat::from(u128::MAX);
    assert_eq!(
        s.transfer(p(100), T0, &[huge]),
        vec![Some(Err(TransferError::NonExistingTokenId))]
    );
    assert_eq!(
        s.transfer(p(100), T0, &[xfer(1, p(100), None)]),
        vec![Some(Err(TransferError::InvalidRecipient))]
    );
    assert_eq!(
        s.transfer(p(100), T0, &[xfer(1, Principal::anonymous(), None)]),
        vec![Some(Err(TransferError::InvalidRecipient))]
    );
    let mut memo = xfer(1, p(101), None);
    memo.memo = Some(ByteBuf::from(vec![0; 33]));
    assert!(matches!(
        &s.transfer(p(100), T0, &[memo])[0],
        Some(Err(TransferError::GenericError { error_code, .. })) if *error_code == codes::MEMO_TOO_LONG
    ));
    let mut sub = xfer(1, p(101), None);
    sub.from_subaccount = Some(ByteBuf::from(vec![1; 5]));
    assert!(matches!(
        &s.transfer(p(100), T0, &[sub])[0],
        Some(Err(TransferError::GenericError { error_code, .. })) if *error_code == codes::BAD_SUBACCOUNT
    ));
    // Empty and oversized batches.
    assert!(matches!(
        &s.transfer(p(100), T0, &[])[0],
        Some(Err(TransferError::GenericBatchError { .. }))
    ));
    let many = vec![xfer(1, p(101), None); 21];
    let r = s.transfer(p(100), T0, &many);
    assert_eq!(r.len(), 1);
    assert!(matches!(
        &r[0],
        Some(Err(TransferError::GenericBatchError { .. }))
    ));
    assert_eq!(snapshot(&s), before);

    // The holder: the block index is the answer, the new holder can pass it on, the old not.
    assert_eq!(
        s.transfer(p(100), T0, &[xfer(1, p(101), None)]),
        vec![Some(Ok(Nat::from(1u64)))]
    );
    assert_eq!(owner(&s, 1), Some(p(101)));
    assert_eq!(
        s.transfer(p(100), T0, &[xfer(1, p(102), None)]),
        vec![Some(Err(TransferError::Unauthorized))]
    );
    assert_eq!(s.socket(1, T0).unwrap().transfers, 1);
    assert!(s.tokens_of(&acct(p(100)), &None, &None).is_empty());
    // The explicit all-zero subaccount is the default one.
    let mut zero = xfer(1, p(102), None);
    zero.from_subaccount = Some(ByteBuf::from(vec![0; 32]));
    assert!(matches!(s.transfer(p(101), T0, &[zero])[0], Some(Ok(_))));
}

#[test]
fn expired_sockets_cannot_move_or_be_approved() {
    let (mut s, _) = fresh();
    s.mint(p(MARKET), T0, &mint_args(1, p(100), "sd-xl", T0 + DAY))
        .unwrap();
    let later = T0 + DAY;
    let before = snapshot(&s);
    let expired = |code: &Nat| *code == codes::SOCKET_EXPIRED;
    assert!(matches!(
        &s.transfer(p(100), later, &[xfer(1, p(101), None)])[0],
        Some(Err(TransferError::GenericError { error_code, .. })) if expired(error_code)
    ));
    let a = ApproveTokenArg {
        token_id: Nat::from(1u64),
        approval_info: approval(p(5), later),
    };
    assert!(matches!(
        &s.approve_tokens(p(100), later, &[a])[0],
        Some(Err(ApproveTokenError::GenericError { error_code, .. })) if expired(error_code)
    ));
    assert_eq!(snapshot(&s), before);
}

#[test]
fn deduplication_and_time_bounds() {
    let (mut s, _) = fresh();
    s.mint(p(MARKET), T0, &mint_args(1, p(100), "a", T0 + 10 * DAY))
        .unwrap();
    s.mint(p(MARKET), T0, &mint_args(2, p(100), "a", T0 + 10 * DAY))
        .unwrap();
    let now = T0 + SEC;
    let r = s.transfer(p(100), now, &[xfer(1, p(101), Some(now))]);
    assert_eq!(r, vec![Some(Ok(Nat::from(2u64)))]);
    // p(101) sends it back and p(100) resends the very same transfer: a duplicate.
    assert!(matches!(
        s.transfer(p(101), now, &[xfer(1, p(100), None)])[0],
        Some(Ok(_))
    ));
    let before = snapshot(&s);
    assert_eq!(
        s.transfer(p(100), now + SEC, &[xfer(1, p(101), Some(now))]),
        vec![Some(Err(TransferError::Duplicate {
            duplicate_of: Nat::from(2u64)
        }))]
    );
    assert_eq!(
        s.transfer(p(100), now, &[xfer(2, p(101), Some(now - 2 * DAY))]),
        vec![Some(Err(TransferError::TooOld))]
    );
    assert_eq!(
        s.transfer(p(100), now, &[xfer(2, p(101), Some(now + 3_600 * SEC))]),
        vec![Some(Err(TransferError::CreatedInFuture {
            ledger_time: now
        }))]
    );
    assert_eq!(snapshot(&s), before);
    // Past the window the entry is forgotten (and the same time stamp is then TooOld anyway).
    assert_eq!(s.prune_dedup(now + 2 * DAY, 100), 1);
}

#[test]
fn approvals_transfer_from_and_revocations() {
    let (mut s, _) = fresh();
    for i in 1..=2 {
        s.mint(p(MARKET), T0, &mint_args(i, p(100), "a", T0 + 10 * DAY))
            .unwrap();
    }
    let spender = p(200);
    let tf = |id: u64, to: u64| TransferFromArg {
        spender_subaccount: None,
        from: acct(p(100)),
        to: acct(p(to)),
        token_id: Nat::from(id),
        memo: None,
        created_at_time: None,
    };
    // Not approved yet.
    let before = snapshot(&s);
    assert_eq!(
        s.transfer_from(spender, T0, &[tf(1, 300)]),
        vec![Some(Err(TransferFromError::Unauthorized))]
    );
    // Approving oneself, approving someone else's token.
    let self_approve = ApproveTokenArg {
        token_id: Nat::from(1u64),
        approval_info: approval(p(100), T0),
    };
    assert_eq!(
        s.approve_tokens(p(100), T0, &[self_approve]),
        vec![Some(Err(ApproveTokenError::InvalidSpender))]
    );
    let foreign = ApproveTokenArg {
        token_id: Nat::from(1u64),
        approval_info: approval(spender, T0),
    };
    assert_eq!(
        s.approve_tokens(p(101), T0, std::slice::from_ref(&foreign)),
        vec![Some(Err(ApproveTokenError::Unauthorized))]
    );
    assert_eq!(snapshot(&s), before);

    assert!(matches!(
        s.approve_tokens(p(100), T0, &[foreign])[0],
        Some(Ok(_))
    ));
    let is = |s: &Sockets<VectorMemory>, id: u64| {
        s.is_approved(
            T0,
            &[IsApprovedArg {
                spender: acct(spender),
                from_subaccount: None,
                token_id: Nat::from(id),
            }],
        )[0]
    };
    assert!(is(&s, 1) && !is(&s, 2));
    assert_eq!(
        s.get_token_approvals(&Nat::from(1u64), &None, &None).len(),
        1
    );
    // The spender moves token 1; the transfer clears the token's approvals.
    assert!(matches!(
        s.transfer_from(spender, T0, &[tf(1, 300)])[0],
        Some(Ok(_))
    ));
    assert_eq!(owner(&s, 1), Some(p(300)));
    assert!(s
        .get_token_approvals(&Nat::from(1u64), &None, &None)
        .is_empty());
    // A collection approval covers every token of the owner and survives transfers.
    let coll = ApproveCollectionArg {
        approval_info: approval(spender, T0),
    };
    assert!(matches!(
        s.approve_collection(p(100), T0, &[coll])[0],
        Some(Ok(_))
    ));
    assert!(is(&s, 2));
    assert!(matches!(
        s.transfer_from(spender, T0, &[tf(2, 301)])[0],
        Some(Ok(_))
    ));
    assert_eq!(
        s.get_collection_approvals(&acct(p(100)), &None, &None)
            .len(),
        1
    );
    // Revocations: a missing one is typed, a real one removes it.
    let rev = RevokeCollectionApprovalArg {
        spender: Some(acct(p(999))),
        from_subaccount: None,
        memo: None,
        created_at_time: None,
    };
    assert_eq!(
        s.revoke_collection_approvals(p(100), T0, &[rev]),
        vec![Some(Err(
            RevokeCollectionApprovalError::ApprovalDoesNotExist
        ))]
    );
    let rev = RevokeCollectionApprovalArg {
        spender: None,
        from_subaccount: None,
        memo: None,
        created_at_time: None,
    };
    assert!(matches!(
        s.revoke_collection_approvals(p(100), T0, &[rev])[0],
        Some(Ok(_))
    ));
    assert!(s
        .get_collection_approvals(&acct(p(100)), &None, &None)
        .is_empty());
    let rt = RevokeTokenApprovalArg {
        spender: None,
        from_subaccount: None,
        token_id: Nat::from(2u64),
        memo: None,
        created_at_time: None,
    };
    assert_eq!(
        s.revoke_token_approvals(p(301), T0, std::slice::from_ref(&rt)),
        vec![Some(Err(RevokeTokenApprovalError::ApprovalDoesNotExist))]
    );
    assert_eq!(
        s.revoke_token_approvals(p(100), T0, &[rt]),
        vec![Some(Err(RevokeTokenApprovalError::Unauthorized))]
    );
    // An expired approval no longer authorizes.
    let mut short = approval(spender, T0);
    short.expires_at = Some(T0 + SEC);
    let a = ApproveTokenArg {
        token_id: Nat::from(2u64),
        approval_info: short,
    };
    assert!(matches!(s.approve_tokens(p(301), T0, &[a])[0], Some(Ok(_))));
    let mut late = tf(2, 302);
    late.from = acct(p(301));
    assert_eq!(
        s.transfer_from(spender, T0 + 2 * SEC, &[late]),
        vec![Some(Err(TransferFromError::Unauthorized))]
    );
}

#[test]
fn blocks_form_a_hash_chain_of_the_standard_types() {
    let (mut s, _) = fresh();
    s.mint(p(MARKET), T0, &mint_args(1, p(100), "a", T0 + DAY))
        .unwrap();
    s.transfer(p(100), T0 + 1, &[xfer(1, p(101), Some(T0 + 1))]);
    let a = ApproveTokenArg {
        token_id: Nat::from(1u64),
        approval_info: approval(p(7), T0),
    };
    s.approve_tokens(p(101), T0 + 2, &[a]);
    let r = s.get_blocks(&[GetBlocksRequest {
        start: Nat::from(0u64),
        length: Nat::from(10u64),
    }]);
    assert_eq!(r.log_length, Nat::from(3u64));
    assert_eq!(r.blocks.len(), 3);
    let field = |v: &Value, k: &str| match v {
        Value::Map(m) => m.get(k).cloned(),
        _ => None,
    };
    let mut prev: Option<[u8; 32]> = None;
    for (b, btype) in r.blocks.iter().zip(["7mint", "7xfer", "37approve"]) {
        assert_eq!(field(&b.block, "btype"), Some(Value::Text(btype.into())));
        let phash = field(&b.block, "phash").map(|v| match v {
            Value::Blob(b) => b.to_vec(),
            _ => panic!("phash is a blob"),
        });
        assert_eq!(phash, prev.map(|h| h.to_vec()));
        prev = Some(b.block.clone().hash());
    }
    assert_eq!(s.meta().tip_hash.map(|h| h.0), prev);
    let tx = field(&r.blocks[0].block, "tx").unwrap();
    for k in ["tid", "to", "meta"] {
        assert!(field(&tx, k).is_some(), "7mint tx.{k}");
    }
    let tx = field(&r.blocks[1].block, "tx").unwrap();
    assert_eq!(field(&tx, "ts"), Some(Value::Nat(Nat::from(T0 + 1))));
    let types: Vec<String> = s
        .supported_block_types()
        .into_iter()
        .map(|t| t.block_type)
        .collect();
    assert!(types.contains(&"37xfer".to_string()) && types.contains(&"7mint".to_string()));
    // Requests past the end or with absurd numbers answer what exists.
    let r = s.get_blocks(&[GetBlocksRequest {
        start: Nat::from(2u64),
        length: Nat::from(u128::MAX),
    }]);
    assert_eq!(r.blocks.len(), 1);
}

#[test]
fn state_survives_a_reload() {
    let (mut s, mem) = fresh();
    s.mint(p(MARKET), T0, &mint_args(1, p(100), "a", T0 + DAY))
        .unwrap();
    s.transfer(p(100), T0, &[xfer(1, p(101), None)]);
    let meta = s.meta().clone();
    drop(s);
    let s = Sockets::load(mem.clone()).unwrap();
    assert_eq!(s.meta(), &meta);
    assert_eq!(owner(&s, 1), Some(p(101)));
    assert!(matches!(
        Sockets::init(mem, &init_args()),
        Err(LoadError::AlreadyInitialized)
    ));
    assert!(matches!(
        Sockets::load(VectorMemory::default()),
        Err(LoadError::NotInitialized)
    ));
}

#[derive(Debug, Clone)]
enum Op {
    Mint {
        to: u8,
    },
    Transfer {
        caller: u8,
        token: u8,
        to: u8,
    },
    Approve {
        caller: u8,
        token: u8,
        spender: u8,
    },
    TransferFrom {
        caller: u8,
        from: u8,
        token: u8,
        to: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..4).prop_map(|to| Op::Mint { to }),
        (0u8..4, 0u8..6, 0u8..4).prop_map(|(caller, token, to)| Op::Transfer { caller, token, to }),
        (0u8..4, 0u8..6, 0u8..4).prop_map(|(caller, token, spender)| Op::Approve {
            caller,
            token,
            spender
        }),
        (0u8..4, 0u8..4, 0u8..6, 0u8..4).prop_map(|(caller, from, token, to)| Op::TransferFrom {
            caller,
            from,
            token,
            to
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Against a plain model (owner per token, token approvals): every answer agrees, refused
    /// operations write no block, the indexes agree with `owner_of`, and the log is a chain.
    #[test]
    fn agrees_with_a_model(ops in proptest::collection::vec(op(), 1..40)) {
        let (mut s, _) = fresh();
        let who = |n: u8| p(100 + u64::from(n));
        let mut owners: BTreeMap<u64, u8> = BTreeMap::new();
        let mut approvals: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        let mut blocks = 0u64;
        for (i, o) in ops.iter().enumerate() {
            let now = T0 + i as u64;
            match *o {
                Op::Mint { to } => {
                    let id = s.mint(p(MARKET), now, &mint_args(i as u64, who(to), "a", T0 + DAY)).unwrap();
                    owners.insert(id, to);
                    blocks += 1;
                }
                Op::Transfer { caller, token, to } => {
                    let r = s.transfer(who(caller), now, &[xfer(u64::from(token), who(to), None)]);
                    let ok = owners.get(&u64::from(token)) == Some(&caller) && caller != to;
                    prop_assert_eq!(matches!(r[0], Some(Ok(_))), ok);
                    if ok {
                        owners.insert(u64::from(token), to);
                        approvals.remove(&u64::from(token));
                        blocks += 1;
                    }
                }
                Op::Approve { caller, token, spender } => {
                    let a = ApproveTokenArg { token_id: Nat::from(token), approval_info: approval(who(spender), now) };
                    let r = s.approve_tokens(who(caller), now, &[a]);
                    let ok = owners.get(&u64::from(token)) == Some(&caller) && caller != spender;
                    prop_assert_eq!(matches!(r[0], Some(Ok(_))), ok);
                    if ok {
                        let v = approvals.entry(u64::from(token)).or_default();
                        if !v.contains(&spender) { v.push(spender); }
                        blocks += 1;
                    }
                }
                Op::TransferFrom { caller, from, token, to } => {
                    let a = TransferFromArg {
                        spender_subaccount: None, from: acct(who(from)), to: acct(who(to)),
                        token_id: Nat::from(token), memo: None, created_at_time: None,
                    };
                    let r = s.transfer_from(who(caller), now, &[a]);
                    let ok = owners.get(&u64::from(token)) == Some(&from)
                        && approvals.get(&u64::from(token)).is_some_and(|v| v.contains(&caller))
                        && from != to;
                    prop_assert_eq!(matches!(r[0], Some(Ok(_))), ok);
                    if ok {
                        owners.insert(u64::from(token), to);
                        approvals.remove(&u64::from(token));
                        blocks += 1;
                    }
                }
            }
            prop_assert_eq!(s.meta().log_length, blocks);
        }
        for (id, o) in &owners {
            prop_assert_eq!(owner(&s, *id), Some(who(*o)));
        }
        for u in 0..4u8 {
            let mine: Vec<Nat> = owners.iter().filter(|(_, o)| **o == u).map(|(id, _)| Nat::from(*id)).collect();
            prop_assert_eq!(s.tokens_of(&acct(who(u)), &None, &None), mine.clone());
            prop_assert_eq!(s.balance_of(&[acct(who(u))]), vec![Nat::from(mine.len())]);
        }
        prop_assert_eq!(s.meta().total_supply, owners.len() as u64);
        let mut prev: Option<Vec<u8>> = None;
        for i in 0..blocks {
            let b = s.block(i).unwrap();
            let ph = match &b { Value::Map(m) => m.get("phash").map(|v| match v { Value::Blob(b) => b.to_vec(), _ => vec![] }), _ => None };
            prop_assert_eq!(ph, prev.clone());
            prev = Some(b.hash().to_vec());
        }
    }
}
