//! Socket sales in the pure market core (issue #16): purchase from the escrow into a socket
//! escrow, the mint journal, binding the holder's key, per-use settlement from the socket
//! escrow, and the refusals (no state change).

use crate::common::*;
use candid::Principal;
use emc_market::market::escrow_subaccount;
use emc_market::market::sockets::*;
use emc_market::*;
use emc_types::{Hash, MeterUnit};
use ic_stable_structures::VectorMemory;
use icrc_ledger_types::icrc1::account::Account;

const FEE: u64 = 10_000;
const NOW: u64 = 1_800_000_000_000_000_000;
const DAY_NS: u64 = 86_400 * 1_000_000_000;
/// The setup's offer (ids start at 0).
const OFFER: u64 = 0;

fn gov() -> Principal {
    principal(2)
}
fn me() -> Principal {
    principal(5)
}
fn sockets() -> Principal {
    principal(6)
}
fn buyer() -> Principal {
    principal(100)
}
fn provider() -> Principal {
    principal(200)
}

/// A market with the sockets canister set, an offer ([`OFFER`], 1,000 e8s per unit) by node key 2
/// of `provider()`, and `buyer()` holding 1,000 EMC in escrow.
fn setup() -> Market<VectorMemory> {
    let args = InitArgs {
        ledger: principal(10),
        epochs: principal(11),
        registry: principal(12),
        governance: gov(),
        treasury: Account {
            owner: principal(4),
            subaccount: None,
        },
        market_open_epoch: 0,
        params: None,
    };
    let mut m = Market::init(VectorMemory::default(), &args).unwrap();
    assert_eq!(
        m.set_sockets_canister(buyer(), Some(sockets())),
        Err(MarketError::NotGovernance)
    );
    m.set_sockets_canister(gov(), Some(sockets())).unwrap();
    let facts = NodeFacts {
        owner: provider(),
        compute: true,
        live: true,
        e_fixed: 0,
    };
    let a = OfferArgs {
        node: id_of(&sk(2)),
        app: "sd-xl".into(),
        unit: MeterUnit::Tokens,
        price_e8s: 1_000,
        capacity: 50,
    };
    assert_eq!(m.post_offer(provider(), &a, &facts, NOW).unwrap().id, OFFER);
    m.cache_owner(&id_of(&sk(2)), provider());
    let t = m.begin_deposit(buyer(), 1_000 * E8S, me(), NOW).unwrap();
    m.record_transfer(t.id, &TransferOutcome::Done(7), NOW)
        .unwrap();
    m
}

fn buy(units: u64, periods: u32) -> BuySocketArgs {
    BuySocketArgs {
        offer_id: OFFER,
        units_per_period: units,
        periods,
        model_hash: Hash([3; 32]),
    }
}

fn books(m: &Market<VectorMemory>, who: &[Principal]) {
    let mut held = 0;
    for b in who {
        if let Some(e) = m.escrow(b) {
            assert_eq!(
                e.deposited_e8s,
                e.spent_e8s + e.fees_e8s + e.withdrawn_e8s + e.balance_e8s,
                "books of {b}"
            );
            held += e.balance_e8s;
        }
    }
    assert_eq!(m.stats().escrow_held_e8s, held);
}

#[test]
fn a_purchase_funds_a_socket_escrow_and_journals_the_transfer_and_the_mint() {
    let mut m = setup();
    // 1,000 e8s x 10,000 units x 30 days = 3 EMC.
    let p = m.buy_socket(buyer(), &buy(10_000, 30), me(), NOW).unwrap();
    assert_eq!(p.id, 1);
    assert_eq!(p.price_e8s, 3 * E8S);
    assert_eq!(p.expires_at, NOW + 30 * DAY_NS);
    assert_eq!((p.app.as_str(), p.provider), ("sd-xl", provider()));
    assert_eq!(p.escrow, socket_escrow_principal(1));
    assert_eq!(p.mint, MintStatus::Pending);
    let e = m.escrow(&buyer()).unwrap();
    assert_eq!(e.balance_e8s, 1_000 * E8S - 3 * E8S - FEE);
    let s = m.escrow(&p.escrow).unwrap();
    assert_eq!((s.deposited_e8s, s.balance_e8s), (3 * E8S, 3 * E8S));
    books(&m, &[buyer(), p.escrow]);
    // The funding transfer: buyer's subaccount -> the socket escrow's subaccount.
    let todo = m.plan_transfers(NOW, 10);
    let f = todo
        .iter()
        .find(|t| t.kind == TransferKind::SocketFunding)
        .unwrap();
    assert_eq!(f.from_subaccount, Some(escrow_subaccount(&buyer())));
    assert_eq!(
        f.to,
        Account {
            owner: me(),
            subaccount: Some(escrow_subaccount(&p.escrow))
        }
    );
    assert_eq!((f.amount_e8s, f.fee_e8s), (3 * E8S, FEE));
    // The mint: pending until the sockets canister answers; then recorded once.
    let mints = m.plan_mints(10);
    assert_eq!(mints.len(), 1);
    assert_eq!(mints[0].purchase_id, 1);
    assert_eq!(mints[0].to.owner, buyer());
    assert_eq!(mints[0].terms.paid_e8s, 3 * E8S);
    m.mint_done(1, 41, NOW).unwrap();
    m.mint_done(1, 41, NOW).unwrap();
    assert!(m.plan_mints(10).is_empty());
    assert_eq!(m.purchase_of_token(41).unwrap().id, 1);
    assert_eq!(
        m.socket_purchase(1).unwrap().mint,
        MintStatus::Minted { token_id: 41 }
    );
}

#[test]
fn bad_purchases_change_nothing() {
    let mut m = setup();
    let before = (
        m.escrow(&buyer()),
        m.stats(),
        m.plan_transfers(NOW, 10).len(),
    );
    for (a, want) in [
        (buy(0, 1), "InvalidArgument"),
        (buy(1, 0), "InvalidArgument"),
        (buy(1, MAX_PERIODS + 1), "InvalidArgument"),
        (
            BuySocketArgs {
                offer_id: 9,
                ..buy(1, 1)
            },
            "UnknownOffer",
        ),
        (buy(u64::MAX, 2), "Overflow"),
        // 1,000 e8s x 1,000,000 units x 2 days = 20 EMC... x 366 is over the escrow.
        (buy(10_000_000, 366), "InsufficientEscrow"),
    ] {
        let e = m.buy_socket(buyer(), &a, me(), NOW).unwrap_err();
        assert!(format!("{e:?}").starts_with(want), "{e:?} for {a:?}");
    }
    assert_eq!(
        m.buy_socket(principal(300), &buy(1, 1), me(), NOW),
        Err(MarketError::NoEscrow)
    );
    assert_eq!(
        m.buy_socket(Principal::anonymous(), &buy(1, 1), me(), NOW),
        Err(MarketError::Anonymous)
    );
    m.set_sockets_canister(gov(), None).unwrap();
    assert!(matches!(
        m.buy_socket(buyer(), &buy(1, 1), me(), NOW),
        Err(MarketError::InvalidArgument(_))
    ));
    assert_eq!(
        (
            m.escrow(&buyer()),
            m.stats(),
            m.plan_transfers(NOW, 10).len()
        ),
        before
    );
    assert!(m.socket_purchase(1).is_none());
}

#[test]
fn the_holders_key_is_paid_for_from_the_socket_escrow_and_others_are_refused() {
    let mut m = setup();
    let p = m.buy_socket(buyer(), &buy(10_000, 30), me(), NOW).unwrap();
    m.mint_done(p.id, 5, NOW).unwrap();
    let holder = principal(101); // the socket was transferred to principal(101)
    let facts = SocketFacts {
        holder: Account {
            owner: holder,
            subaccount: None,
        },
        expired: false,
    };
    let key = sk(1);
    let proof = bind_args(&key, &p.escrow);
    // Refusals: unknown token, no facts, not the holder (the old holder), expired.
    assert_eq!(
        m.bind_socket_key(holder, 6, Some(&facts), &proof, NOW),
        Err(MarketError::UnknownSocket(6))
    );
    assert_eq!(
        m.bind_socket_key(holder, 5, None, &proof, NOW),
        Err(MarketError::UnknownSocket(5))
    );
    assert_eq!(
        m.bind_socket_key(buyer(), 5, Some(&facts), &proof, NOW),
        Err(MarketError::NotSocketHolder(5))
    );
    let expired = SocketFacts {
        expired: true,
        ..facts.clone()
    };
    assert_eq!(
        m.bind_socket_key(holder, 5, Some(&expired), &proof, NOW),
        Err(MarketError::SocketExpired(5))
    );
    assert_eq!(
        m.bind_socket_key(holder, 5, Some(&facts), &proof, NOW + 31 * DAY_NS),
        Err(MarketError::SocketExpired(5))
    );
    // A proof for the holder's own escrow does not bind to the socket's.
    assert_eq!(
        m.bind_socket_key(holder, 5, Some(&facts), &bind_args(&key, &holder), NOW),
        Err(MarketError::BadKeySignature)
    );
    assert!(m.admission(&id_of(&key), NOW).is_none());
    assert!(m.socket_key(&id_of(&key)).is_none());
    m.bind_socket_key(holder, 5, Some(&facts), &proof, NOW)
        .unwrap();
    assert_eq!(
        m.socket_key(&id_of(&key)),
        Some(SocketKey {
            token_id: 5,
            holder,
            escrow: p.escrow
        })
    );
    // A key is bound once.
    assert_eq!(
        m.bind_socket_key(holder, 5, Some(&facts), &proof, NOW),
        Err(MarketError::KeyAlreadyBound)
    );
    let adm = m.admission(&id_of(&key), NOW).unwrap();
    assert_eq!((adm.buyer, adm.available_e8s), (p.escrow, 3 * E8S));
    // A receipt countersigned by the key settles from the socket escrow.
    let r = receipt(&key, &sk(2), 0, 1, E8S);
    let (root, proofs) = period(450, std::slice::from_ref(&r));
    m.cache_root(450, root);
    let t = m.settle_receipt(&proofs[0], NOW).unwrap();
    assert_eq!((t.buyer, t.provider), (p.escrow, provider()));
    assert_eq!(t.provider_payment_e8s, 80_000_000);
    let s = m.escrow(&p.escrow).unwrap();
    assert_eq!(s.balance_e8s, 2 * E8S - 2 * FEE);
    assert_eq!(
        m.escrow(&buyer()).unwrap().balance_e8s,
        1_000 * E8S - 3 * E8S - FEE,
        "the buyer's own escrow is untouched"
    );
    books(&m, &[buyer(), p.escrow]);
    // The payments leave the socket escrow's subaccount.
    let pay: Vec<Transfer> = m
        .plan_transfers(NOW, 100)
        .into_iter()
        .filter(|t| t.kind == TransferKind::ProviderPayment)
        .collect();
    assert_eq!(pay.len(), 1);
    assert_eq!(pay[0].from_subaccount, Some(escrow_subaccount(&p.escrow)));
}

#[test]
fn the_buyer_reclaims_what_is_left_after_expiry_and_the_notice() {
    let mut m = setup();
    let p = m.buy_socket(buyer(), &buy(10_000, 30), me(), NOW).unwrap();
    m.mint_done(p.id, 5, NOW).unwrap();
    let notice = Params::default().withdrawal_notice_ns;
    let unlock_at = p.expires_at + notice;
    let before = (m.escrow(&buyer()), m.escrow(&p.escrow), m.stats());
    assert_eq!(
        m.reclaim_socket(buyer(), p.id, me(), p.expires_at),
        Err(MarketError::NoticePending { unlock_at })
    );
    assert!(matches!(
        m.reclaim_socket(principal(101), p.id, me(), unlock_at),
        Err(MarketError::InvalidArgument(_))
    ));
    assert!(matches!(
        m.reclaim_socket(buyer(), 9, me(), unlock_at),
        Err(MarketError::InvalidArgument(_))
    ));
    assert_eq!((m.escrow(&buyer()), m.escrow(&p.escrow), m.stats()), before);
    let t = m.reclaim_socket(buyer(), p.id, me(), unlock_at).unwrap();
    assert_eq!(t.kind, TransferKind::SocketFunding);
    assert_eq!(t.from_subaccount, Some(escrow_subaccount(&p.escrow)));
    assert_eq!(t.to.subaccount, Some(escrow_subaccount(&buyer())));
    assert_eq!((t.amount_e8s, t.fee_e8s), (3 * E8S - FEE, FEE));
    assert_eq!(m.escrow(&p.escrow).unwrap().balance_e8s, 0);
    assert_eq!(
        m.escrow(&buyer()).unwrap().balance_e8s,
        1_000 * E8S - 3 * E8S - FEE + 3 * E8S - FEE
    );
    books(&m, &[buyer(), p.escrow]);
    assert_eq!(
        m.reclaim_socket(buyer(), p.id, me(), unlock_at),
        Err(MarketError::InsufficientEscrow { available_e8s: 0 })
    );
}
