//! Grants and airdrop accounting without a canister.

use candid::Principal;
use emc_dao::*;
use emc_types::Hash;
use icrc_ledger_types::icrc1::account::Account;
use proptest::prelude::*;

const M: u64 = 1_000_000 * 100_000_000;

fn p(n: u64) -> Principal {
    let mut b = n.to_be_bytes().to_vec();
    b.push(1);
    Principal::from_slice(&b)
}
fn gov() -> Principal {
    p(1_000_000)
}
fn acct(o: Principal) -> Account {
    Account {
        owner: o,
        subaccount: None,
    }
}

fn dao() -> Dao {
    Dao::new(&InitArgs {
        governance: gov(),
        epochs: p(2_000_000),
    })
    .unwrap()
}

fn app(amount: u64) -> ApplicationArgs {
    ApplicationArgs {
        title: "t".into(),
        description: "d".into(),
        amount_e8s: amount,
        milestones: vec![],
        recipient: None,
    }
}

#[test]
fn applications_are_checked() {
    let mut d = dao();
    let bad = [
        ApplicationArgs {
            title: " ".into(),
            ..app(1)
        },
        app(0),
        app(252 * M + 1),
        ApplicationArgs {
            milestones: vec![Milestone {
                description: "m".into(),
                amount_e8s: 2,
            }],
            ..app(3)
        },
        ApplicationArgs {
            recipient: Some(acct(Principal::anonymous())),
            ..app(3)
        },
    ];
    for a in bad {
        assert!(matches!(
            d.submit_application(p(1), a.clone(), 0),
            Err(DaoError::InvalidArgument(_))
        ));
    }
    assert!(d
        .submit_application(Principal::anonymous(), app(1), 0)
        .is_err());
    for _ in 0..MAX_OPEN_APPLICATIONS {
        d.submit_application(p(1), app(1), 0).unwrap();
    }
    assert!(d.submit_application(p(1), app(1), 0).is_err());
    assert_eq!(d.stats().applications, MAX_OPEN_APPLICATIONS as u64);
    // withdrawing frees a slot; only the applicant withdraws
    assert_eq!(d.withdraw_application(p(2), 1), Err(DaoError::NotApplicant));
    d.withdraw_application(p(1), 1).unwrap();
    assert_eq!(d.withdraw_application(p(1), 1), Err(DaoError::NotOpen));
    d.submit_application(p(1), app(1), 0).unwrap();
    // the default recipient is the applicant
    assert_eq!(d.application(2).unwrap().args.recipient, Some(acct(p(1))));
}

#[test]
fn a_grant_is_journaled_once_and_paid_once() {
    let mut d = dao();
    let a = d.submit_application(p(1), app(10 * M), 0).unwrap();
    let g = GrantArgs {
        application_id: a,
        amount_e8s: 10 * M,
    };
    assert!(d
        .validate_grant(&g)
        .unwrap()
        .contains("10000000.00000000 EMC"));
    assert_eq!(d.execute_grant(p(1), &g, 5), Err(DaoError::NotGovernance));
    let pid = d.execute_grant(gov(), &g, 5).unwrap();
    assert_eq!(d.execute_grant(gov(), &g, 6), Err(DaoError::NotOpen));
    assert!(d.validate_grant(&g).is_err());
    let mints = d.pending_mints(10);
    assert_eq!(mints.len(), 1);
    assert_eq!(mints[0].1.amount_e8s, 10 * M);
    assert_eq!(mints[0].1.created_at_time, 5);
    // a failed mint is retried with the same time and memo
    d.record_payment(pid, None);
    assert_eq!(d.pending_mints(10), mints);
    d.record_payment(pid, Some(42));
    d.record_payment(pid, Some(43));
    assert_eq!(d.payment(pid).unwrap().status, PaymentStatus::Paid(42));
    assert_eq!(d.stats().grants_paid_e8s, 10 * M);
    assert!(d.pending_mints(10).is_empty());
}

proptest! {
    /// Whatever the requests and grants, the reserved total never passes 252M, every granted
    /// application has exactly one payment, and payments equal reservations once paid.
    #[test]
    fn the_grant_pool_cap_holds(reqs in prop::collection::vec((1u64..60, 0u64..100), 1..40)) {
        let mut d = dao();
        let mut expected = 0u64;
        for (i, (millions, pct)) in reqs.iter().enumerate() {
            let amount = millions * M;
            let a = d.submit_application(p(i as u64), app(amount), 0).unwrap();
            let grant = (amount * pct / 100).max(1);
            let g = GrantArgs { application_id: a, amount_e8s: grant };
            let fits = expected + grant <= 252 * M;
            prop_assert_eq!(d.validate_grant(&g).is_ok(), fits);
            let r = d.execute_grant(gov(), &g, i as u64);
            prop_assert_eq!(r.is_ok(), fits);
            if fits {
                expected += grant;
            } else {
                prop_assert_eq!(r, Err(DaoError::PoolExhausted(DaoPool::DeveloperGrants)));
            }
            prop_assert!(d.stats().grants_reserved_e8s <= 252 * M);
        }
        prop_assert_eq!(d.stats().grants_reserved_e8s, expected);
        let mints = d.pending_mints(usize::MAX);
        prop_assert_eq!(mints.iter().map(|m| m.1.amount_e8s).sum::<u64>(), expected);
        for (n, (id, _)) in mints.iter().enumerate() {
            d.record_payment(*id, Some(n as u64));
        }
        prop_assert_eq!(d.stats().grants_paid_e8s, expected);
    }

    /// Every listed account claims its amount exactly once per batch; proofs of other leaves,
    /// other amounts or other accounts fail; the batch's claimed total equals its total.
    #[test]
    fn each_account_claims_once_per_batch(amounts in prop::collection::vec(1u64..1_000_000, 1..30)) {
        let mut d = dao();
        let entries: Vec<(Account, u64)> =
            amounts.iter().enumerate().map(|(i, a)| (acct(p(i as u64)), *a)).collect();
        let (args, proofs) = airdrop_tree("rule", &entries);
        let b = d.execute_create_airdrop_batch(gov(), &args, 0).unwrap();
        let claim = |amount: u64, leaf: usize| ClaimArgs {
            batch_id: b,
            subaccount: None,
            amount_e8s: amount,
            leaf_index: proofs[leaf].0,
            proof: proofs[leaf].1.clone(),
        };
        for (i, (a, amount)) in entries.iter().enumerate() {
            prop_assert_eq!(d.claim_airdrop(a.owner, &claim(amount + 1, i), 1), Err(DaoError::BadProof));
            if entries.len() > 1 {
                let other = (i + 1) % entries.len();
                prop_assert_eq!(d.claim_airdrop(a.owner, &claim(*amount, other), 1), Err(DaoError::BadProof));
            }
            d.claim_airdrop(a.owner, &claim(*amount, i), 1).unwrap();
            prop_assert_eq!(d.claim_airdrop(a.owner, &claim(*amount, i), 1), Err(DaoError::AlreadyClaimed));
        }
        let batch = d.batch(b).unwrap();
        prop_assert_eq!(batch.claimed_e8s, args.total_e8s);
        prop_assert_eq!(batch.claims, entries.len() as u64);
        prop_assert_eq!(d.pending_mints(usize::MAX).len(), entries.len());
    }
}

#[test]
fn airdrop_batches_respect_the_pool_and_are_unique() {
    let mut d = dao();
    let root = |n: u8| Hash([n; 32]);
    let batch = |n: u8, total: u64| AirdropBatchArgs {
        rule: "r".into(),
        merkle_root: root(n),
        leaf_count: 3,
        total_e8s: total,
    };
    assert_eq!(
        d.execute_create_airdrop_batch(p(1), &batch(1, 1), 0),
        Err(DaoError::NotGovernance)
    );
    assert!(d.validate_create_airdrop_batch(&batch(1, 0)).is_err());
    d.execute_create_airdrop_batch(gov(), &batch(1, 100 * M), 0)
        .unwrap();
    assert!(d.validate_create_airdrop_batch(&batch(1, 1)).is_err());
    assert_eq!(
        d.execute_create_airdrop_batch(gov(), &batch(2, 5 * M + 1), 0),
        Err(DaoError::PoolExhausted(DaoPool::Airdrop))
    );
    d.execute_create_airdrop_batch(gov(), &batch(2, 5 * M), 0)
        .unwrap();
    assert_eq!(d.stats().airdrop_reserved_e8s, 105 * M);
    // a tree whose leaves sum past the declared total cannot pay past it
    let entries = vec![(acct(p(1)), 10), (acct(p(2)), 10)];
    let (mut args, proofs) = airdrop_tree("r", &entries);
    args.total_e8s = 15;
    let mut d = dao();
    let b = d.execute_create_airdrop_batch(gov(), &args, 0).unwrap();
    let c = |i: usize| ClaimArgs {
        batch_id: b,
        subaccount: None,
        amount_e8s: 10,
        leaf_index: proofs[i].0,
        proof: proofs[i].1.clone(),
    };
    d.claim_airdrop(p(1), &c(0), 0).unwrap();
    assert_eq!(
        d.claim_airdrop(p(2), &c(1), 0),
        Err(DaoError::BatchExhausted)
    );
}

#[test]
fn a_stuck_payment_waits_for_governance() {
    let mut d = dao();
    let a = d.submit_application(p(1), app(10), 0).unwrap();
    let pid = d
        .execute_grant(
            gov(),
            &GrantArgs {
                application_id: a,
                amount_e8s: 10,
            },
            100,
        )
        .unwrap();
    let r = |b| ResolvePaymentArgs {
        id: pid,
        executed_in_block: b,
    };
    assert!(d.validate_resolve_payment(&r(None)).is_err());
    d.mark_stuck(100 + STUCK_AFTER_NS);
    assert_eq!(d.payment(pid).unwrap().status, PaymentStatus::Pending);
    d.mark_stuck(101 + STUCK_AFTER_NS);
    assert_eq!(d.payment(pid).unwrap().status, PaymentStatus::Stuck);
    assert!(d.pending_mints(10).is_empty());
    assert_eq!(
        d.execute_resolve_payment(p(1), &r(None), 5),
        Err(DaoError::NotGovernance)
    );
    // confirmed by a block: paid, counted once
    let mut d2 = d.clone();
    d2.execute_resolve_payment(gov(), &r(Some(77)), 5).unwrap();
    assert_eq!(d2.payment(pid).unwrap().status, PaymentStatus::Paid(77));
    assert_eq!(d2.stats().grants_paid_e8s, 10);
    assert!(d2.validate_resolve_payment(&r(None)).is_err());
    // re-issued: pending again with a fresh time
    d.execute_resolve_payment(gov(), &r(None), 9_999).unwrap();
    let m = d.pending_mints(10);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].1.created_at_time, 9_999);
    assert_eq!(d.stats().grants_paid_e8s, 0);
}
