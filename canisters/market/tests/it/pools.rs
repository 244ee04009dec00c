//! Pool offers in the pure market core (issue #16): a pool is one offer of its entry node;
//! members are checked like an offer's node; a member leaves; refusals change nothing.

use crate::common::*;
use candid::Principal;
use emc_market::market::pools::*;
use emc_market::*;
use emc_types::{MeterUnit, NodeId};
use ic_stable_structures::VectorMemory;
use icrc_ledger_types::icrc1::account::Account;

const NOW: u64 = 1_800_000_000_000_000_000;

fn market() -> Market<VectorMemory> {
    let args = InitArgs {
        ledger: principal(10),
        epochs: principal(11),
        registry: principal(12),
        governance: principal(2),
        treasury: Account {
            owner: principal(4),
            subaccount: None,
        },
        market_open_epoch: 0,
        params: None,
    };
    Market::init(VectorMemory::default(), &args).unwrap()
}

fn live(owner: u64) -> Option<NodeFacts> {
    Some(NodeFacts {
        owner: principal(owner),
        compute: true,
        live: true,
        e_fixed: 0,
    })
}

fn args(members: Vec<NodeId>) -> PoolOfferArgs {
    PoolOfferArgs {
        entry: id_of(&sk(2)),
        members,
        app: "llama-3-70b-sharded".into(),
        unit: MeterUnit::Tokens,
        price_e8s: 5_000,
        capacity: 100,
    }
}

#[test]
fn a_pool_is_one_offer_of_its_entry_node() {
    let mut m = market();
    let (a, b, c) = (id_of(&sk(2)), id_of(&sk(3)), id_of(&sk(4)));
    let (offer, pool) = m
        .post_pool_offer(
            principal(200),
            &args(vec![a, b, c]),
            &[live(200), live(201), live(200)],
            NOW,
        )
        .unwrap();
    assert_eq!((offer.node, offer.provider), (a, principal(200)));
    assert_eq!(pool.entry, a);
    assert_eq!(m.pool(offer.id), Some(pool.clone()));
    assert_eq!(m.offer(offer.id), Some(offer.clone()));
    let owners: Vec<Principal> = pool.members.iter().map(|m| m.owner).collect();
    assert_eq!(owners, vec![principal(200), principal(201), principal(200)]);

    // A member leaves (by its owner); then the pool is at its minimum of 2.
    let before = m.pool(offer.id);
    assert_eq!(
        m.leave_pool(principal(200), offer.id, &b, NOW),
        Err(MarketError::NotPoolMember(b)),
        "only the member's owner"
    );
    assert!(matches!(
        m.leave_pool(principal(200), offer.id, &a, NOW),
        Err(MarketError::InvalidArgument(_))
    ));
    assert_eq!(
        m.leave_pool(principal(200), offer.id, &id_of(&sk(9)), NOW),
        Err(MarketError::NotPoolMember(id_of(&sk(9))))
    );
    assert_eq!(
        m.leave_pool(principal(200), 77, &b, NOW),
        Err(MarketError::UnknownOffer(77))
    );
    assert_eq!(m.pool(offer.id), before);
    let p = m.leave_pool(principal(201), offer.id, &b, NOW).unwrap();
    assert_eq!(p.active().count(), 2);
    assert_eq!(
        m.leave_pool(principal(201), offer.id, &b, NOW),
        Err(MarketError::NotPoolMember(b)),
        "a leaver is no longer a member"
    );
    assert!(matches!(
        m.leave_pool(principal(200), offer.id, &c, NOW),
        Err(MarketError::InvalidArgument(_))
    ));
}

#[test]
fn bad_pools_are_refused_without_a_trace() {
    let mut m = market();
    let (a, b) = (id_of(&sk(2)), id_of(&sk(3)));
    let cases: Vec<(PoolOfferArgs, Vec<Option<NodeFacts>>, Principal)> = vec![
        (args(vec![a]), vec![live(200)], principal(200)),
        (args(vec![a, a]), vec![live(200), live(200)], principal(200)),
        (
            args(vec![b, id_of(&sk(4))]),
            vec![live(200), live(200)],
            principal(200),
        ),
        (args(vec![a, b]), vec![live(200), None], principal(200)),
        (
            args(vec![a, b]),
            vec![
                live(200),
                Some(NodeFacts {
                    owner: principal(201),
                    compute: false,
                    live: true,
                    e_fixed: 0,
                }),
            ],
            principal(200),
        ),
        // The caller must own the entry node.
        (args(vec![a, b]), vec![live(200), live(201)], principal(201)),
        (args(vec![a, b]), vec![live(200)], principal(200)),
    ];
    for (a, f, caller) in cases {
        assert!(m.post_pool_offer(caller, &a, &f, NOW).is_err(), "{a:?}");
    }
    assert_eq!(m.stats().offers, 0);
    assert!(m.pool(0).is_none());
}

fn facts(owner: u64, e_fixed: u64) -> Option<NodeFacts> {
    Some(NodeFacts {
        owner: principal(owner),
        compute: true,
        live: true,
        e_fixed,
    })
}

fn fund(m: &mut Market<VectorMemory>, buyer: Principal, amount: u64) {
    let t = m.begin_deposit(buyer, amount, principal(9), NOW).unwrap();
    m.record_transfer(t.id, &TransferOutcome::Done(1_000 + t.id), NOW)
        .unwrap();
}

/// The transfers planned, as (kind, to, amount).
fn planned(m: &mut Market<VectorMemory>) -> Vec<(TransferKind, Principal, u64)> {
    let todo = m.plan_transfers(NOW, 1_000);
    for t in &todo {
        m.record_transfer(t.id, &TransferOutcome::Done(t.id), NOW)
            .unwrap();
    }
    todo.iter()
        .map(|t| (t.kind.clone(), t.to.owner, t.amount_e8s))
        .collect()
}

#[test]
fn a_pools_income_is_split_among_its_members_by_e() {
    let mut m = market();
    let (a, b, c) = (id_of(&sk(2)), id_of(&sk(3)), id_of(&sk(4)));
    // Owner 200 runs a (E 2) and c (E 1), owner 201 runs b (E 1): 3/4 and 1/4.
    let (offer, _) = m
        .post_pool_offer(
            principal(200),
            &args(vec![a, b, c]),
            &[
                facts(200, 2_000_000),
                facts(201, 1_000_000),
                facts(200, 1_000_000),
            ],
            NOW,
        )
        .unwrap();
    assert_eq!(m.pool_of_entry(&a).map(|p| p.offer_id), Some(offer.id));
    assert_eq!(
        m.pool_of_entry(&b),
        None,
        "only the entry's receipts are the pool's"
    );
    m.bind_key(principal(100), &bind_args(&sk(1), &principal(100)), NOW)
        .unwrap();
    fund(&mut m, principal(100), 1_000 * E8S);
    let fee = m.config().params.ledger_fee_e8s;
    let r = receipt(&sk(1), &sk(2), 0, 1, 100 * E8S);
    let (root, proofs) = period(450, std::slice::from_ref(&r));
    m.cache_root(450, root);
    let p = cosigned(&proofs[0], offer.id, &[&sk(3), &sk(4)]);
    let t = m.settle_receipt(&p, NOW).unwrap();
    assert_eq!(t.provider, principal(200));
    assert_eq!(t.provider_payment_e8s, 80 * E8S);
    let shares: Vec<(Principal, u64)> = t
        .pool_shares
        .iter()
        .map(|s| (s.owner, s.payment_e8s))
        .collect();
    assert_eq!(
        shares,
        vec![(principal(200), 60 * E8S), (principal(201), 20 * E8S)]
    );
    let mut paid = planned(&mut m);
    paid.sort_by_key(|(kind, to, amount)| (format!("{kind:?}"), *to, *amount));
    assert_eq!(
        paid,
        vec![
            (TransferKind::ProviderPayment, principal(200), 60 * E8S),
            (TransferKind::ProviderPayment, principal(201), 20 * E8S),
            (TransferKind::Reward, principal(100), 18 * E8S),
            (TransferKind::TreasuryFee, principal(4), 20 * E8S),
        ]
    );
    // Three transfers out of the escrow, three ledger fees (the unused treasury part of the
    // second payee's group gives its fee back).
    let e = m.escrow(&principal(100)).unwrap();
    assert_eq!(e.fees_e8s, 3 * fee);
    assert_eq!(e.balance_e8s, 900 * E8S - 3 * fee);

    // b leaves: the next receipt of the lane goes to owner 200 alone. b co-signed it before
    // leaving: its co-signature is no longer needed nor checked, so the receipt settles.
    m.leave_pool(principal(201), offer.id, &b, NOW).unwrap();
    let r = receipt(&sk(1), &sk(2), 0, 2, 140 * E8S);
    let (root, proofs) = period(900, std::slice::from_ref(&r));
    m.cache_root(900, root);
    let t = m
        .settle_receipt(&cosigned(&proofs[0], offer.id, &[&sk(3), &sk(4)]), NOW)
        .unwrap();
    assert_eq!(t.pool_shares.len(), 1);
    assert_eq!(t.pool_shares[0].owner, principal(200));
    assert_eq!(t.pool_shares[0].payment_e8s, 32 * E8S);

    // Withdrawing the offer does not end the split (the entry serves the pool for good),
    // and the entry cannot start another pool.
    m.withdraw_offer(principal(200), offer.id, NOW).unwrap();
    assert!(m.pool_of_entry(&a).is_some());
    let again = m.post_pool_offer(
        principal(200),
        &args(vec![a, c]),
        &[facts(200, 1), facts(200, 1)],
        NOW,
    );
    assert!(matches!(again, Err(MarketError::InvalidArgument(_))));
}

#[test]
fn a_pools_e_is_read_again_when_stale_and_zero_e_splits_evenly() {
    let mut m = market();
    let (a, b) = (id_of(&sk(2)), id_of(&sk(3)));
    let (offer, pool) = m
        .post_pool_offer(
            principal(200),
            &args(vec![a, b]),
            &[facts(200, 0), facts(201, 0)],
            NOW,
        )
        .unwrap();
    // Nobody measured yet: even shares, the odd e8 to the member listed first.
    let shares: Vec<(Principal, u64)> = pool.shares(101).into_iter().collect();
    assert_eq!(shares, vec![(principal(200), 51), (principal(201), 50)]);
    assert!(m.stale_pool_members(&[a, b], NOW + 1, 16).is_empty());
    let later = NOW + POOL_E_MAX_AGE_NS;
    assert_eq!(m.stale_pool_members(&[a, b], later, 16), vec![a, b]);
    assert_eq!(m.stale_pool_members(&[a], later, 1), vec![a], "at most max");
    // A partial read records what it got and stays stale.
    m.refresh_pool_e(&[a], &[(a, Some(3_000_000))], later);
    assert!(m.pool(offer.id).unwrap().e_stale(later));
    m.refresh_pool_e(&[a], &[(a, Some(3_000_000)), (b, Some(1_000_000))], later);
    let p = m.pool(offer.id).unwrap();
    assert!(!p.e_stale(later));
    let shares: Vec<(Principal, u64)> = p.shares(100).into_iter().collect();
    assert_eq!(shares, vec![(principal(200), 75), (principal(201), 25)]);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// A pool's shares add up exactly to what is split, and members that left get nothing.
    #[test]
    fn pool_shares_are_exact(
        es in proptest::collection::vec(0u64..5_000_000, 2..16),
        owners in proptest::collection::vec(0u64..4, 16),
        amount in proptest::prelude::any::<u64>(),
    ) {
        let members: Vec<PoolMember> = es
            .iter()
            .enumerate()
            .map(|(i, e)| PoolMember {
                node: NodeId([i as u8; 32]),
                owner: principal(300 + owners[i]),
                left_at: (i == 1).then_some(NOW),
                e_fixed: Some(*e),
            })
            .collect();
        let pool = Pool { offer_id: 1, entry: members[0].node, members, e_read_at: Some(NOW) };
        let shares = pool.shares(amount);
        proptest::prop_assert_eq!(shares.values().map(|v| u128::from(*v)).sum::<u128>(), u128::from(amount));
        let leaver = principal(300 + owners[1]);
        if pool.active().all(|m| m.owner != leaver) {
            proptest::prop_assert!(!shares.contains_key(&leaver));
        }
    }
}

#[test]
fn a_pools_trading_reward_is_split_like_its_income() {
    let mut m = market();
    let (a, b) = (id_of(&sk(2)), id_of(&sk(3)));
    let (offer, _) = m
        .post_pool_offer(
            principal(200),
            &args(vec![a, b]),
            &[facts(200, 1_000_000), facts(201, 1_000_000)],
            NOW,
        )
        .unwrap();
    m.bind_key(principal(100), &bind_args(&sk(1), &principal(100)), NOW)
        .unwrap();
    fund(&mut m, principal(100), 1_001 * E8S);
    // Period 4 (epoch 280 from the opening at 0): the spec's example, 1,000 EMC.
    let r = receipt(&sk(1), &sk(2), 280, 1, 1_000 * E8S);
    let (root, proofs) = period(450, std::slice::from_ref(&r));
    m.cache_root(450, root);
    let t = m
        .settle_receipt(&cosigned(&proofs[0], offer.id, &[&sk(3)]), NOW)
        .unwrap();
    assert_eq!(t.period, 4);
    assert_eq!(t.provider_reward_e8s, 2_222_222_222);
    let parts: Vec<(Principal, u64, u64)> = t
        .pool_shares
        .iter()
        .map(|s| (s.owner, s.payment_e8s, s.reward_e8s))
        .collect();
    assert_eq!(
        parts,
        vec![
            (principal(200), 400 * E8S, 1_111_111_111),
            (principal(201), 400 * E8S, 1_111_111_111),
        ]
    );
    assert_eq!(m.granted(280, &principal(201)), 1_111_111_111);
}

/// Issue #16: a pool receipt settles only with exactly one valid co-signature from each other
/// active member; every other set is refused with the offending member named and nothing
/// changed; a non-pool receipt must carry none; bad items do not stop good ones in a batch.
#[test]
fn pool_receipts_settle_only_with_every_members_cosignature() {
    use emc_types::{CosignError, Cosignature, Signature};
    let mut m = market();
    let (a, b, c) = (id_of(&sk(2)), id_of(&sk(3)), id_of(&sk(4)));
    let (offer, _) = m
        .post_pool_offer(
            principal(200),
            &args(vec![a, b, c]),
            &[facts(200, 1), facts(201, 1), facts(202, 1)],
            NOW,
        )
        .unwrap();
    // A plain offer of node 5 (not a pool's entry).
    m.post_offer(
        principal(205),
        &OfferArgs {
            node: id_of(&sk(5)),
            app: "llm".into(),
            unit: MeterUnit::Tokens,
            price_e8s: 1,
            capacity: 1,
        },
        &facts(205, 0).unwrap(),
        NOW,
    )
    .unwrap();
    m.bind_key(principal(100), &bind_args(&sk(1), &principal(100)), NOW)
        .unwrap();
    fund(&mut m, principal(100), 1_000 * E8S);
    let pool_r = receipt(&sk(1), &sk(2), 0, 1, 10 * E8S);
    let plain_r = receipt(&sk(1), &sk(5), 0, 1, 10 * E8S);
    let mut bad_user_r = receipt(&sk(1), &sk(2), 1, 1, 10 * E8S);
    bad_user_r.user_signature = Signature([3; 64]);
    let (root, proofs) = period(450, &[pool_r.clone(), plain_r, bad_user_r]);
    m.cache_root(450, root);
    let (pool_p, plain_p) = (&proofs[0], &proofs[1]);
    let good = cosigned(pool_p, offer.id, &[&sk(3), &sk(4)]);
    let good_set = good.cosignatures.clone().unwrap();
    let with = |set: Vec<Cosignature>| ReceiptProof {
        cosignatures: Some(set),
        ..pool_p.clone()
    };
    // c's key over another pool's message; a signature of the wrong key under c's name.
    let forged_c = cosigned(pool_p, offer.id + 1, &[&sk(4)])
        .cosignatures
        .unwrap()[0];
    let stolen = Cosignature {
        node: c,
        signature: good_set[0].signature,
    };
    let stranger = cosigned(pool_p, offer.id, &[&sk(9)]).cosignatures.unwrap()[0];
    let entry = cosigned(pool_p, offer.id, &[&sk(2)]).cosignatures.unwrap()[0];
    let garbage = Cosignature {
        node: NodeId([0xff; 32]),
        signature: Signature([0xff; 64]),
    };
    let bad: Vec<(ReceiptProof, CosignError)> = vec![
        (pool_p.clone(), CosignError::Missing(b)),
        (with(vec![]), CosignError::Missing(b)),
        (with(vec![good_set[0]]), CosignError::Missing(c)),
        (
            with(vec![good_set[0], forged_c]),
            CosignError::BadSignature(c),
        ),
        (
            with(vec![good_set[0], stolen]),
            CosignError::BadSignature(c),
        ),
        (
            with(vec![good_set[0], good_set[1], good_set[0]]),
            CosignError::Duplicate(b),
        ),
        (
            with(vec![good_set[0], good_set[1], stranger]),
            CosignError::NotMember(id_of(&sk(9))),
        ),
        (
            with(vec![entry, good_set[0], good_set[1]]),
            CosignError::NotMember(a),
        ),
        (
            with(vec![good_set[0], good_set[1], garbage]),
            CosignError::NotMember(NodeId([0xff; 32])),
        ),
        // A plain offer's receipt carries no co-signature.
        (
            ReceiptProof {
                cosignatures: Some(vec![good_set[0]]),
                ..plain_p.clone()
            },
            CosignError::NotMember(b),
        ),
    ];
    let before = (
        m.stats(),
        m.escrow(&principal(100)),
        m.lane(&id_of(&sk(1)), &a, 0),
    );
    let items: Vec<ReceiptProof> = bad.iter().map(|(p, _)| p.clone()).collect();
    let out = m.settle_batch(&items, NOW).unwrap();
    for ((p, want), got) in bad.iter().zip(&out) {
        assert_eq!(got, &Err(MarketError::Cosignature(*want)), "{p:?}");
    }
    let after = (
        m.stats(),
        m.escrow(&principal(100)),
        m.lane(&id_of(&sk(1)), &a, 0),
    );
    assert_eq!(
        format!("{before:?}"),
        format!("{after:?}"),
        "nothing changed"
    );

    // A bad user signature is still reported as such on a well co-signed pool receipt.
    let wrong_user = cosigned(&proofs[2], offer.id, &[&sk(3), &sk(4)]);
    // In one batch: bad items, the good pool receipt (in any order of its co-signatures) and
    // the plain receipt with no (or an empty) list; the bad ones do not stop the good.
    let mut reordered = good.clone();
    reordered.cosignatures = Some(vec![good_set[1], good_set[0]]);
    let plain_empty = ReceiptProof {
        cosignatures: Some(vec![]),
        ..plain_p.clone()
    };
    let out = m
        .settle_batch(
            &[
                with(vec![good_set[0], forged_c]),
                wrong_user,
                reordered,
                plain_empty,
            ],
            NOW,
        )
        .unwrap();
    assert_eq!(
        out[0],
        Err(MarketError::Cosignature(CosignError::BadSignature(c)))
    );
    assert_eq!(out[1], Err(MarketError::BadUserSignature));
    let t = out[2].as_ref().unwrap();
    assert_eq!(t.pool_shares.len(), 3);
    assert_eq!(t.amount_e8s, 10 * E8S);
    assert_eq!(out[3].as_ref().unwrap().provider, principal(205));
    assert_eq!(m.lane(&id_of(&sk(1)), &a, 0).paid_e8s, 10 * E8S);
}
