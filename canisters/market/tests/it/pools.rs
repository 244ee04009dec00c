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
