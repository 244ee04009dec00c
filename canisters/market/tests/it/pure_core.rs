//! The pure market core over a `VectorMemory`: settlement rules, bad input, the journal,
//! governance, and property tests of the books and the reward caps.

use crate::common::*;
use candid::Principal;
use emc_market::market::{escrow_subaccount, receipt_leaf, DEDUP_SAFE_NS};
use emc_market::*;
use emc_tokenomics::TRADING_REWARD_POOL_CAP;
use emc_types::{Hash, MeterUnit, NodeId, StateBit, SummaryAccumulator};
use ic_stable_structures::VectorMemory;
use icrc_ledger_types::icrc1::account::Account;
use proptest::prelude::*;

const FEE: u64 = 10_000;
const NOW: u64 = 1_800_000_000_000_000_000;

fn gov() -> Principal {
    principal(2)
}
fn treasury() -> Principal {
    principal(4)
}
fn me() -> Principal {
    principal(5)
}

fn args(open: u64) -> InitArgs {
    InitArgs {
        ledger: principal(10),
        epochs: principal(11),
        registry: principal(12),
        governance: gov(),
        treasury: Account {
            owner: treasury(),
            subaccount: None,
        },
        market_open_epoch: open,
        params: None,
    }
}

fn market() -> (Market<VectorMemory>, VectorMemory) {
    let mem = VectorMemory::default();
    (Market::init(mem.clone(), &args(0)).unwrap(), mem)
}

fn fund(m: &mut Market<VectorMemory>, buyer: Principal, amount: u64) {
    let t = m.begin_deposit(buyer, amount, me(), NOW).unwrap();
    let block = 1_000 + t.id;
    let t = m
        .record_transfer(t.id, &TransferOutcome::Done(block), NOW)
        .unwrap();
    assert_eq!(t.status, TransferStatus::Done { block });
}

/// A market with buyer principal(100) bound to user key 1, node key 2 owned by principal(200).
fn trading() -> Market<VectorMemory> {
    let (mut m, _) = market();
    m.bind_key(principal(100), &bind_args(&sk(1), &principal(100)), NOW)
        .unwrap();
    m.cache_owner(&id_of(&sk(2)), principal(200));
    m
}

/// Confirms every pending transfer and returns them.
fn confirm_all(m: &mut Market<VectorMemory>) -> Vec<Transfer> {
    let todo = m.plan_transfers(NOW, 10_000);
    for t in &todo {
        m.record_transfer(t.id, &TransferOutcome::Done(t.id), NOW)
            .unwrap();
    }
    todo
}

fn assert_books(m: &Market<VectorMemory>, buyers: &[Principal]) {
    let mut held = 0;
    for b in buyers {
        if let Some(e) = m.escrow(b) {
            assert_eq!(
                e.deposited_e8s,
                e.spent_e8s + e.fees_e8s + e.withdrawn_e8s + e.balance_e8s,
                "escrow books of {b}"
            );
            held += e.balance_e8s;
        }
    }
    assert_eq!(m.stats().escrow_held_e8s, held);
}

#[test]
fn the_leaf_is_what_validators_commit() {
    let rs: Vec<_> = (1..6)
        .map(|n| receipt(&sk(1), &sk(2), 3, n, n * 10))
        .collect();
    let mut acc = SummaryAccumulator::new();
    for r in &rs {
        acc.add(&StateBit::Receipt(r.clone()));
    }
    let leaves: Vec<Hash> = rs.iter().map(receipt_leaf).collect();
    assert_eq!(acc.receipts.root(), emc_types::merkle::merkle_root(&leaves));
}

#[test]
fn a_receipt_pays_80_percent_to_the_provider_and_20_to_the_treasury_once() {
    let mut m = trading();
    fund(&mut m, principal(100), 1_000 * E8S);
    let r = receipt(&sk(1), &sk(2), 0, 1, 100 * E8S);
    let (root, proofs) = period(450, std::slice::from_ref(&r));
    m.cache_root(450, root);
    let t = m.settle_receipt(&proofs[0], NOW).unwrap();
    assert_eq!(t.amount_e8s, 100 * E8S);
    assert_eq!(t.provider_payment_e8s, 80 * E8S);
    assert_eq!(t.treasury_fee_e8s, 20 * E8S);
    assert_eq!((t.buyer, t.provider), (principal(100), principal(200)));
    // Period 1: the capped reward (0.9 x fee), all to the user.
    assert_eq!(t.user_reward_e8s, 18 * E8S);
    assert_eq!(t.provider_reward_e8s, 0);
    let e = m.escrow(&principal(100)).unwrap();
    assert_eq!(e.balance_e8s, 900 * E8S - 2 * FEE);
    assert_eq!(e.fees_e8s, 2 * FEE);
    let transfers = confirm_all(&mut m);
    let to = |kind: TransferKind| {
        transfers
            .iter()
            .find(|t| t.kind == kind)
            .map(|t| (t.to.owner, t.amount_e8s, t.from_subaccount))
            .unwrap()
    };
    let sub = Some(escrow_subaccount(&principal(100)));
    assert_eq!(
        to(TransferKind::ProviderPayment),
        (principal(200), 80 * E8S, sub)
    );
    assert_eq!(to(TransferKind::TreasuryFee), (treasury(), 20 * E8S, sub));
    assert_eq!(to(TransferKind::Reward), (principal(100), 18 * E8S, None));
    // Submitted again (by anyone, any number of times): nothing more.
    let before = m.stats();
    for _ in 0..3 {
        assert_eq!(
            m.settle_receipt(&proofs[0], NOW),
            Err(MarketError::Replayed {
                paid_e8s: 100 * E8S
            })
        );
    }
    assert_eq!(m.stats(), before);
    assert!(m.plan_transfers(NOW, 100).is_empty());
    // The lane's next receipt pays only the difference.
    let r2 = receipt(&sk(1), &sk(2), 0, 2, 150 * E8S);
    let (root2, proofs2) = period(900, std::slice::from_ref(&r2));
    m.cache_root(900, root2);
    assert_eq!(
        m.settle_receipt(&proofs2[0], NOW).unwrap().amount_e8s,
        50 * E8S
    );
    // An older receipt of the lane (proven in an earlier checkpoint) is a replay.
    assert!(matches!(
        m.settle_receipt(&proofs[0], NOW),
        Err(MarketError::Replayed { .. })
    ));
    assert_books(&m, &[principal(100)]);
    // Each trade is in the log, in the fixed trade layout, chained by its documented hash.
    let log = m.events(0, 100);
    let trades: Vec<&LoggedEvent> = log
        .events
        .iter()
        .filter(|e| matches!(e.event, Event::Trade(_)))
        .collect();
    assert_eq!(trades.len(), 2);
    assert_eq!(trades[0].event, Event::Trade(t.clone()));
    let body = emc_market::storage::trade_body(&t);
    let parent = trades[0].parent_hash.map(|h| h.0).unwrap_or_default();
    let hash = emc_types::sha256(&[
        &parent,
        &body,
        &trades[0].timestamp.to_be_bytes(),
        &trades[0].id.to_be_bytes(),
    ]);
    assert_eq!(trades[0].hash, hash);
}

fn any_trade() -> impl Strategy<Value = Trade> {
    let principal =
        proptest::collection::vec(any::<u8>(), 0..=29).prop_map(|b| Principal::from_slice(&b));
    (
        (any::<[u8; 32]>(), any::<[u8; 32]>()),
        proptest::array::uniform11(any::<u64>()),
        (principal.clone(), principal),
    )
        .prop_map(|((user, node), w, (buyer, provider))| Trade {
            user: NodeId(user),
            node: NodeId(node),
            epoch: w[0],
            nonce: w[1],
            cumulative_e8s: w[2],
            paid_cumulative_e8s: w[3],
            amount_e8s: w[4],
            treasury_fee_e8s: w[5],
            provider_payment_e8s: w[6],
            user_reward_e8s: w[7],
            provider_reward_e8s: w[8],
            period: w[9],
            buyer,
            provider,
            checkpoint_height: w[10],
            pool_shares: Vec::new(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A trade's logged body decodes to the same trade; any shorter or longer bytes do not
    /// decode; other events' (candid) bodies still do.
    #[test]
    fn trade_bodies_round_trip_and_nothing_else_decodes(t in any_trade(), cut in 1usize..40) {
        use emc_market::storage::{decode_event_body, decode_trade_body, event_body};
        let body = event_body(&Event::Trade(t.clone()));
        prop_assert_eq!(decode_event_body(&body), Some(Event::Trade(t.clone())));
        prop_assert_eq!(decode_trade_body(&body[..body.len().saturating_sub(cut)]), None);
        let mut longer = body.clone();
        longer.push(0);
        prop_assert_eq!(decode_trade_body(&longer), None);
        let other = Event::KeyBound { buyer: t.buyer, key: t.user };
        prop_assert_eq!(decode_event_body(&event_body(&other)), Some(other));
    }
}

#[test]
fn the_period_4_example_of_the_spec() {
    // Period 4 = epochs 270..360 counted from the market's opening epoch.
    let mem = VectorMemory::default();
    let mut m = Market::init(mem, &args(10)).unwrap();
    m.bind_key(principal(100), &bind_args(&sk(1), &principal(100)), NOW)
        .unwrap();
    m.cache_owner(&id_of(&sk(2)), principal(200));
    fund(&mut m, principal(100), 1_001 * E8S);
    let r = receipt(&sk(1), &sk(2), 280, 1, 1_000 * E8S);
    let (root, proofs) = period(450, &[r]);
    m.cache_root(450, root);
    let t = m.settle_receipt(&proofs[0], NOW).unwrap();
    assert_eq!(t.period, 4);
    assert_eq!(t.treasury_fee_e8s, 200 * E8S);
    assert_eq!(t.provider_payment_e8s, 800 * E8S);
    // Exact: 1000 x 0.2 x 1/3 x 2/3 = 44.444... and x 1/3 x 1/3 = 22.222..., rounded down.
    assert_eq!(t.user_reward_e8s, 4_444_444_444);
    assert_eq!(t.provider_reward_e8s, 2_222_222_222);
    // The whitepaper's printed figures, within 0.1 EMC.
    let close = |x: u64, printed: f64| ((x as f64 / E8S as f64) - printed).abs() < 0.1;
    assert!(close(t.user_reward_e8s, 44.5));
    assert!(close(t.provider_reward_e8s, 22.2));
    assert!(close(t.amount_e8s - t.user_reward_e8s, 955.5));
    assert!(close(t.provider_payment_e8s + t.provider_reward_e8s, 822.2));
}

#[test]
fn bad_input_is_refused_without_state_change() {
    let mut m = trading();
    fund(&mut m, principal(100), 10 * E8S);
    let r = receipt(&sk(1), &sk(2), 0, 1, E8S);
    let (root, proofs) = period(450, std::slice::from_ref(&r));
    let before = (m.stats(), m.escrow(&principal(100)));
    // No final root for the height.
    assert_eq!(
        m.settle_receipt(&proofs[0], NOW),
        Err(MarketError::UnknownCheckpoint(450))
    );
    m.cache_root(450, root);
    // A proof against another root, a wrong index, a changed amount.
    let mut p = proofs[0].clone();
    p.checkpoint_height = 900;
    m.cache_root(900, Hash([1; 32]));
    assert_eq!(m.settle_receipt(&p, NOW), Err(MarketError::BadProof));
    let mut p = proofs[0].clone();
    p.leaf_index = 0;
    assert_eq!(m.settle_receipt(&p, NOW), Err(MarketError::BadProof));
    let mut p = proofs[0].clone();
    p.receipt.cumulative_e8s *= 2;
    assert_eq!(m.settle_receipt(&p, NOW), Err(MarketError::BadProof));
    let mut p = proofs[0].clone();
    p.proof = vec![Hash([0; 32]); 65];
    assert_eq!(m.settle_receipt(&p, NOW), Err(MarketError::BadProof));
    // A receipt proven in the tree but whose user signature does not cover it.
    let mut forged = receipt(&sk(1), &sk(2), 0, 1, 5 * E8S);
    forged.user_signature = receipt(&sk(1), &sk(2), 0, 1, E8S).user_signature;
    let (froot, fproofs) = period(1_350, &[forged]);
    m.cache_root(1_350, froot);
    assert_eq!(
        m.settle_receipt(&fproofs[0], NOW),
        Err(MarketError::BadUserSignature)
    );
    // A user key bound to no escrow; a node whose owner is unknown.
    let stranger = receipt(&sk(3), &sk(2), 0, 1, E8S);
    let unknown_node = receipt(&sk(1), &sk(4), 0, 1, E8S);
    let (sroot, sproofs) = period(1_800, &[stranger, unknown_node]);
    m.cache_root(1_800, sroot);
    let out = m.settle_batch(&sproofs, NOW).unwrap();
    assert_eq!(
        out,
        vec![Err(MarketError::UnboundUser), Err(MarketError::UnknownNode)]
    );
    // Too many receipts.
    let many = vec![proofs[0].clone(); 1_001];
    assert_eq!(
        m.settle_batch(&many, NOW),
        Err(MarketError::BatchTooLarge(1_000))
    );
    // Zero and overflowing deposits, the anonymous principal.
    assert_eq!(
        m.begin_deposit(principal(100), 0, me(), NOW),
        Err(MarketError::ZeroAmount)
    );
    assert_eq!(
        m.begin_deposit(principal(100), u64::MAX, me(), NOW),
        Err(MarketError::Overflow)
    );
    assert_eq!(
        m.begin_deposit(Principal::anonymous(), 1, me(), NOW),
        Err(MarketError::Anonymous)
    );
    // A key bound twice, a binding signed for someone else.
    assert_eq!(
        m.bind_key(principal(101), &bind_args(&sk(1), &principal(101)), NOW),
        Err(MarketError::KeyAlreadyBound)
    );
    assert_eq!(
        m.bind_key(principal(101), &bind_args(&sk(6), &principal(100)), NOW),
        Err(MarketError::BadKeySignature)
    );
    // Withdrawals: none requested, more than the balance, zero.
    assert_eq!(
        m.withdraw(principal(100), NOW),
        Err(MarketError::NoWithdrawal)
    );
    assert!(matches!(
        m.request_withdrawal(principal(100), 11 * E8S, NOW),
        Err(MarketError::InsufficientEscrow { .. })
    ));
    assert_eq!(
        m.request_withdrawal(principal(100), 0, NOW),
        Err(MarketError::ZeroAmount)
    );
    assert_eq!(
        m.request_withdrawal(principal(101), E8S, NOW),
        Err(MarketError::NoEscrow)
    );
    assert_eq!(before, (m.stats(), m.escrow(&principal(100))));
    // The good receipt still settles.
    assert_eq!(m.settle_receipt(&proofs[0], NOW).unwrap().amount_e8s, E8S);
}

#[test]
fn without_its_own_check_the_market_takes_the_quorums_word_for_the_user_signature() {
    let mut m = trading();
    fund(&mut m, principal(100), 10 * E8S);
    let mut forged = receipt(&sk(1), &sk(2), 0, 1, 5 * E8S);
    forged.user_signature = receipt(&sk(1), &sk(2), 0, 1, E8S).user_signature;
    let (root, proofs) = period(450, &[forged]);
    m.cache_root(450, root);
    assert_eq!(
        m.settle_receipt(&proofs[0], NOW),
        Err(MarketError::BadUserSignature)
    );
    let p = Params {
        verify_user_signatures: false,
        ..Params::default()
    };
    m.execute_set_params(gov(), &p).unwrap();
    assert_eq!(
        m.settle_receipt(&proofs[0], NOW).unwrap().amount_e8s,
        5 * E8S
    );
}

#[test]
fn a_receipt_beyond_the_escrow_settles_what_is_covered_and_the_rest_later() {
    let mut m = trading();
    fund(&mut m, principal(100), 30 * E8S + 2 * FEE);
    let r = receipt(&sk(1), &sk(2), 0, 1, 100 * E8S);
    let (root, proofs) = period(450, &[r]);
    m.cache_root(450, root);
    let t = m.settle_receipt(&proofs[0], NOW).unwrap();
    assert_eq!(t.amount_e8s, 30 * E8S);
    assert_eq!(t.paid_cumulative_e8s, 30 * E8S);
    assert_eq!(m.escrow(&principal(100)).unwrap().balance_e8s, 0);
    // Nothing left: refused, nothing changes.
    assert_eq!(
        m.settle_receipt(&proofs[0], NOW),
        Err(MarketError::InsufficientEscrow { available_e8s: 0 })
    );
    // After a deposit the same receipt settles the rest, once.
    fund(&mut m, principal(100), 100 * E8S);
    assert_eq!(
        m.settle_receipt(&proofs[0], NOW).unwrap().amount_e8s,
        70 * E8S
    );
    assert!(matches!(
        m.settle_receipt(&proofs[0], NOW),
        Err(MarketError::Replayed { .. })
    ));
    assert_eq!(
        m.lane(&id_of(&sk(1)), &id_of(&sk(2)), 0).paid_e8s,
        100 * E8S
    );
    assert_books(&m, &[principal(100)]);
}

#[test]
fn a_batch_settles_each_lane_once_and_groups_transfers() {
    let mut m = trading();
    m.bind_key(principal(101), &bind_args(&sk(3), &principal(101)), NOW)
        .unwrap();
    fund(&mut m, principal(100), 1_000 * E8S);
    fund(&mut m, principal(101), 1_000 * E8S);
    let mut rs = Vec::new();
    for n in 1..=10u64 {
        rs.push(receipt(&sk(1), &sk(2), 0, n, n * E8S));
        rs.push(receipt(&sk(3), &sk(2), 0, n, n * 2 * E8S));
    }
    let (root, proofs) = period(450, &rs);
    m.cache_root(450, root);
    let out = m.settle_batch(&proofs, NOW).unwrap();
    assert!(out.iter().all(|r| r.is_ok()));
    let total: u64 = out.iter().map(|r| r.as_ref().unwrap().amount_e8s).sum();
    assert_eq!(total, 10 * E8S + 20 * E8S);
    // Two buyers, one provider: two payments, two treasury fees, rewards to the two buyers.
    let t = m.pending_transfers(100);
    assert_eq!(
        t.iter()
            .filter(|t| t.kind == TransferKind::ProviderPayment)
            .count(),
        2
    );
    assert_eq!(
        t.iter()
            .filter(|t| t.kind == TransferKind::TreasuryFee)
            .count(),
        2
    );
    // Submitting the whole batch again settles nothing.
    let again = m.settle_batch(&proofs, NOW).unwrap();
    assert!(again
        .iter()
        .all(|r| matches!(r, Err(MarketError::Replayed { .. }))));
    assert_books(&m, &[principal(100), principal(101)]);
}

#[test]
fn offers_belong_to_the_node_owner() {
    let (mut m, _) = market();
    let facts = NodeFacts {
        owner: principal(200),
        compute: true,
        live: true,
        e_fixed: 0,
    };
    let a = OfferArgs {
        node: id_of(&sk(2)),
        app: "llama-3-8b".into(),
        unit: MeterUnit::Tokens,
        price_e8s: 1_000,
        capacity: 50,
    };
    assert!(matches!(
        m.post_offer(principal(201), &a, &facts, NOW),
        Err(MarketError::NotProvider(_))
    ));
    let router = NodeFacts {
        compute: false,
        ..facts.clone()
    };
    assert!(matches!(
        m.post_offer(principal(200), &a, &router, NOW),
        Err(MarketError::NotProvider(_))
    ));
    assert_eq!(
        m.post_offer(
            principal(200),
            &OfferArgs {
                price_e8s: 0,
                ..a.clone()
            },
            &facts,
            NOW
        ),
        Err(MarketError::ZeroAmount)
    );
    let o = m.post_offer(principal(200), &a, &facts, NOW).unwrap();
    assert_eq!(m.offers_of(&principal(200), 10), vec![o.clone()]);
    let up = UpdateOfferArgs {
        id: o.id,
        price_e8s: Some(2_000),
        capacity: None,
    };
    assert_eq!(
        m.update_offer(principal(201), &up, NOW),
        Err(MarketError::NotOfferOwner(o.id))
    );
    assert_eq!(
        m.update_offer(
            principal(200),
            &UpdateOfferArgs {
                id: 99,
                ..up.clone()
            },
            NOW
        ),
        Err(MarketError::UnknownOffer(99))
    );
    assert_eq!(
        m.update_offer(principal(200), &up, NOW).unwrap().price_e8s,
        2_000
    );
    assert_eq!(
        m.withdraw_offer(principal(201), o.id, NOW),
        Err(MarketError::NotOfferOwner(o.id))
    );
    // At most `max_offers_per_provider` live offers.
    let p = Params {
        max_offers_per_provider: 1,
        ..Params::default()
    };
    m.execute_set_params(gov(), &p).unwrap();
    assert_eq!(
        m.post_offer(principal(200), &a, &facts, NOW),
        Err(MarketError::TooManyOffers(1))
    );
    m.withdraw_offer(principal(200), o.id, NOW).unwrap();
    assert!(m.offer(o.id).is_none());
    let o2 = m.post_offer(principal(200), &a, &facts, NOW).unwrap();
    m.withdraw_offer(principal(200), o2.id, NOW).unwrap();
    assert!(m.offers_of(&principal(200), 10).is_empty());
    // Each step is in the hash-chained log.
    let log = m.events(0, 100);
    assert_eq!(log.log_length, 5);
    assert_eq!(log.events[1].parent_hash, Some(log.events[0].hash));
    assert_eq!(m.log_tip(), Some(log.events[4].hash));
}

#[test]
fn withdrawals_wait_for_the_notice_and_receipts_come_first() {
    let mut m = trading();
    fund(&mut m, principal(100), 100 * E8S);
    let notice = Params::default().withdrawal_notice_ns;
    let v = m.request_withdrawal(principal(100), 60 * E8S, NOW).unwrap();
    assert_eq!(v.available_e8s, 40 * E8S);
    assert_eq!(v.withdrawable_e8s, 0);
    assert_eq!(
        m.admission(&id_of(&sk(1)), NOW).unwrap().available_e8s,
        40 * E8S
    );
    assert_eq!(
        m.withdraw(principal(100), NOW + notice - 1),
        Err(MarketError::NoticePending {
            unlock_at: NOW + notice
        })
    );
    // A receipt settles during the notice: it draws on the balance first.
    let r = receipt(&sk(1), &sk(2), 0, 1, 70 * E8S);
    let (root, proofs) = period(450, &[r]);
    m.cache_root(450, root);
    m.settle_receipt(&proofs[0], NOW + 1).unwrap();
    // A router's read: the admission and each asked lane's paid amount, at one instant.
    let lanes = [
        LaneRef {
            node: id_of(&sk(2)),
            epoch: 0,
        },
        LaneRef {
            node: id_of(&sk(3)),
            epoch: 0,
        },
    ];
    let read = m.admission_lanes(&id_of(&sk(1)), &lanes, NOW + 1).unwrap();
    assert_eq!(read.paid_e8s, vec![70 * E8S, 0]);
    assert_eq!(
        read.admission,
        m.admission(&id_of(&sk(1)), NOW + 1).unwrap()
    );
    assert!(m.admission_lanes(&id_of(&sk(9)), &lanes, NOW).is_none());
    let left = 30 * E8S - 2 * FEE;
    let v = m.escrow_view(&principal(100), NOW + notice).unwrap();
    assert_eq!(v.withdrawable_e8s, left);
    let t = m.withdraw(principal(100), NOW + notice).unwrap();
    assert_eq!(t.amount_e8s, left - FEE);
    assert_eq!(t.to.owner, principal(100));
    let e = m.escrow(&principal(100)).unwrap();
    assert_eq!(e.balance_e8s, 0);
    assert_eq!(e.withdrawal, None);
    assert_books(&m, &[principal(100)]);
}

#[test]
fn the_journal_retries_dedups_and_sticks_past_the_window() {
    let (mut m, _) = market();
    let t = m.begin_deposit(principal(100), 5 * E8S, me(), NOW).unwrap();
    // The ledger is down: still pending, nothing credited.
    m.record_transfer(t.id, &TransferOutcome::Retry("down".into()), NOW)
        .unwrap();
    assert!(m.escrow(&principal(100)).is_none());
    let again = m.plan_transfers(NOW + 60, 10);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].created_at_time, t.created_at_time);
    // The ledger answers Duplicate on a retry (mapped to Done): credited once.
    m.record_transfer(t.id, &TransferOutcome::Done(7), NOW)
        .unwrap();
    m.record_transfer(t.id, &TransferOutcome::Done(7), NOW)
        .unwrap();
    assert_eq!(m.escrow(&principal(100)).unwrap().balance_e8s, 5 * E8S);
    // A refused deposit credits nothing.
    let t2 = m.begin_deposit(principal(100), E8S, me(), NOW).unwrap();
    m.record_transfer(t2.id, &TransferOutcome::Failed("no allowance".into()), NOW)
        .unwrap();
    assert_eq!(m.escrow(&principal(100)).unwrap().balance_e8s, 5 * E8S);
    // Past the dedup window a pending entry is Stuck; governance re-issues it.
    let t3 = m.begin_deposit(principal(100), E8S, me(), NOW).unwrap();
    assert!(m.plan_transfers(NOW + DEDUP_SAFE_NS + 1, 10).is_empty());
    assert_eq!(m.transfer(t3.id).unwrap().status, TransferStatus::Stuck);
    let resolve = ResolveTransferArgs {
        id: t3.id,
        executed_in_block: Some(99),
    };
    assert_eq!(
        m.execute_resolve_transfer(principal(7), &resolve, NOW),
        Err(MarketError::NotGovernance)
    );
    m.execute_resolve_transfer(gov(), &resolve, NOW).unwrap();
    assert_eq!(m.escrow(&principal(100)).unwrap().balance_e8s, 6 * E8S);
    assert!(m.validate_resolve_transfer(&resolve).is_err());
}

#[test]
fn governance_sets_parameters_within_their_ranges() {
    let (mut m, mem) = market();
    let p = Params {
        trade_reward_cap_bps: 5_000,
        withdrawal_notice_ns: 1,
        ..Params::default()
    };
    assert_eq!(
        m.execute_set_params(principal(7), &p),
        Err(MarketError::NotGovernance)
    );
    let bad = Params {
        trade_reward_cap_bps: 10_000,
        ..Params::default()
    };
    assert!(m.validate_set_params(&bad).is_err());
    assert!(matches!(
        m.execute_set_params(gov(), &bad),
        Err(MarketError::InvalidArgument(_))
    ));
    assert!(m.validate_set_params(&p).is_ok());
    m.execute_set_params(gov(), &p).unwrap();
    // The change survives an upgrade (a reload of the same memory).
    let m2 = Market::load(mem).unwrap();
    assert_eq!(m2.config().params, p);
}

#[test]
fn state_survives_a_reload() {
    let mem = VectorMemory::default();
    let mut m = Market::init(mem.clone(), &args(0)).unwrap();
    m.bind_key(principal(100), &bind_args(&sk(1), &principal(100)), NOW)
        .unwrap();
    m.cache_owner(&id_of(&sk(2)), principal(200));
    fund(&mut m, principal(100), 50 * E8S);
    let r = receipt(&sk(1), &sk(2), 0, 1, 10 * E8S);
    let (root, proofs) = period(450, &[r]);
    m.cache_root(450, root);
    m.settle_receipt(&proofs[0], NOW).unwrap();
    let (stats, escrow, log) = (m.stats(), m.escrow(&principal(100)), m.events(0, 100));
    drop(m);
    let mut m = Market::load(mem.clone()).unwrap();
    assert_eq!(m.stats(), stats);
    assert_eq!(m.escrow(&principal(100)), escrow);
    assert_eq!(m.events(0, 100), log);
    assert!(matches!(
        m.settle_receipt(&proofs[0], NOW),
        Err(MarketError::Replayed { .. })
    ));
    assert_eq!(
        Market::init(mem, &args(0)).err(),
        Some(LoadError::AlreadyInitialized)
    );
}

#[test]
fn ten_thousand_escrows_and_offers_survive_a_reload() {
    let mem = VectorMemory::default();
    let mut m = Market::init(mem.clone(), &args(0)).unwrap();
    let n = 10_000u64;
    for i in 0..n {
        fund(&mut m, principal(1_000 + i), E8S + i);
        let owner = principal(500 + i / 1_000);
        let facts = NodeFacts {
            owner,
            compute: true,
            live: true,
            e_fixed: 0,
        };
        let a = OfferArgs {
            node: NodeId([(i / 1_000) as u8; 32]),
            app: format!("app-{i}"),
            unit: MeterUnit::Seconds,
            price_e8s: 1 + i,
            capacity: 1,
        };
        m.post_offer(owner, &a, &facts, NOW).unwrap();
    }
    let stats = m.stats();
    assert_eq!((stats.escrows, stats.offers), (n, n));
    drop(m);
    let m = Market::load(mem).unwrap();
    assert_eq!(m.stats(), stats);
    for i in [0, 4_321, n - 1] {
        assert_eq!(
            m.escrow(&principal(1_000 + i)).unwrap().balance_e8s,
            E8S + i
        );
        assert_eq!(m.offer(i).unwrap().price_e8s, 1 + i);
    }
    assert_eq!(m.offers_of(&principal(509), 2_000).len(), 1_000);
    assert_eq!(m.events(0, 1).log_length, 2 * n);
}

/// The wash trader: one person owns the buyer (principal 100, key 1) and the provider
/// (principal 200, node 2) and trades with itself. Its EMC across both accounts after an epoch
/// of self-trades (escrow balance + provider payments + rewards) is below what it put in.
fn wash_epoch(open: u64, epoch: u64, sizes: &[u64]) -> (u64, u64) {
    let mem = VectorMemory::default();
    let mut m = Market::init(mem, &args(open)).unwrap();
    m.bind_key(principal(100), &bind_args(&sk(1), &principal(100)), NOW)
        .unwrap();
    m.cache_owner(&id_of(&sk(2)), principal(200));
    let funded: u64 = sizes.iter().sum::<u64>() + 10 * E8S;
    fund(&mut m, principal(100), funded);
    let mut cumulative = 0;
    for (i, s) in sizes.iter().enumerate() {
        cumulative += s;
        let r = receipt(&sk(1), &sk(2), epoch, i as u64 + 1, cumulative);
        let h = 450 * (i as u64 + 1);
        let (root, proofs) = period(h, &[r]);
        m.cache_root(h, root);
        let _ = m.settle_receipt(&proofs[0], NOW);
    }
    let back: u64 = confirm_all(&mut m)
        .iter()
        .filter(|t| t.to.owner == principal(100) || t.to.owner == principal(200))
        .map(|t| t.amount_e8s)
        .sum();
    let held = m.escrow(&principal(100)).unwrap().balance_e8s;
    (funded, held + back)
}

#[test]
fn a_wash_trader_ends_every_epoch_poorer() {
    for epoch in [0, 1, 89, 90, 179, 180, 270, 500, 5_000] {
        for sizes in [
            vec![E8S],
            vec![1_000 * E8S],
            vec![10_000 * E8S; 20],
            vec![1, 2, 3, 4, 5],
            vec![123_456_789; 7],
        ] {
            let (put_in, after) = wash_epoch(0, epoch, &sizes);
            assert!(
                after < put_in,
                "epoch {epoch} sizes {sizes:?}: {after} >= {put_in}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any sequence of deposits, settlements (of any lane state) and withdrawals keeps every
    /// escrow's books balanced, and no trade's reward reaches 0.9 x its fee, no account gets
    /// more than its epoch cap, and the pool is never exceeded.
    #[test]
    fn books_balance_and_rewards_stay_under_their_caps(
        ops in proptest::collection::vec((0u8..4, 0u8..3, 1u64..5_000_000_000u64, 0u64..400), 1..40),
        cap in 1u64..50 * E8S,
    ) {
        let (mut m, _) = market();
        let p = Params { account_epoch_reward_cap_e8s: cap, withdrawal_notice_ns: 0, ..Params::default() };
        m.execute_set_params(gov(), &p).unwrap();
        let buyers: Vec<Principal> = (0..3).map(|i| principal(100 + i)).collect();
        for (i, b) in buyers.iter().enumerate() {
            m.bind_key(*b, &bind_args(&sk(10 + i as u8), b), NOW).unwrap();
        }
        m.cache_owner(&id_of(&sk(2)), principal(200));
        let mut cum = [0u64; 3];
        let mut nonce = 0;
        let mut height = 0;
        for (op, who, amount, epoch) in ops {
            let b = buyers[who as usize];
            match op {
                0 => fund(&mut m, b, amount),
                1 | 2 => {
                    cum[who as usize] += amount;
                    nonce += 1;
                    height += 450;
                    let r = receipt(&sk(10 + who), &sk(2), epoch, nonce, cum[who as usize]);
                    let (root, proofs) = period(height, &[r]);
                    m.cache_root(height, root);
                    if let Ok(t) = m.settle_receipt(&proofs[0], NOW) {
                        prop_assert!(t.user_reward_e8s + t.provider_reward_e8s <= t.treasury_fee_e8s * 9 / 10);
                        prop_assert_eq!(t.treasury_fee_e8s + t.provider_payment_e8s, t.amount_e8s);
                        prop_assert!(m.granted(epoch, &b) <= cap);
                        prop_assert!(m.granted(epoch, &principal(200)) <= cap);
                    }
                }
                _ => {
                    let bal = m.escrow(&b).map_or(0, |e| e.balance_e8s);
                    if bal > FEE {
                        m.request_withdrawal(b, bal.min(amount).max(FEE + 1), NOW).unwrap();
                        m.withdraw(b, NOW).unwrap();
                    }
                }
            }
            assert_books(&m, &buyers);
        }
        prop_assert!(m.stats().rewards_e8s <= TRADING_REWARD_POOL_CAP);
        // Escrow in = settled + fees + refunded + held, summed over the market.
        let (mut dep, mut out) = (0u64, 0u64);
        for b in &buyers {
            if let Some(e) = m.escrow(b) {
                dep += e.deposited_e8s;
                out += e.spent_e8s + e.fees_e8s + e.withdrawn_e8s + e.balance_e8s;
            }
        }
        prop_assert_eq!(dep, out);
        prop_assert_eq!(m.stats().volume_e8s, buyers.iter().map(|b| m.escrow(b).map_or(0, |e| e.spent_e8s)).sum::<u64>());
    }
}

#[test]
fn the_pool_cap_bounds_rewards() {
    // Drive the pool to its cap with an account cap above it.
    let (mut m, _) = market();
    let p = Params {
        account_epoch_reward_cap_e8s: u64::MAX,
        max_batch: 5_000,
        ..Params::default()
    };
    m.execute_set_params(gov(), &p).unwrap();
    m.bind_key(principal(100), &bind_args(&sk(1), &principal(100)), NOW)
        .unwrap();
    m.cache_owner(&id_of(&sk(2)), principal(200));
    // 378M / 0.18 = 2.1B EMC of trades exhausts the pool in period 1.
    let trade = 1_000_000_000 * E8S;
    fund(&mut m, principal(100), trade);
    fund(&mut m, principal(100), trade);
    fund(&mut m, principal(100), trade);
    let mut cum = 0;
    for n in 1..=3u64 {
        cum += trade - 1_000 * E8S;
        let r = receipt(&sk(1), &sk(2), 0, n, cum);
        let (root, proofs) = period(450 * n, &[r]);
        m.cache_root(450 * n, root);
        m.settle_receipt(&proofs[0], NOW).unwrap();
    }
    assert_eq!(m.stats().rewards_e8s, TRADING_REWARD_POOL_CAP);
    let _ = NodeId([0; 32]);
}
