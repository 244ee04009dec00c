use super::*;
use emc_types::{DispatchRecord, MeterUnit, Signature, SummaryAccumulator};
use proptest::prelude::*;

/// A receipt of lane (user `u`, node `n`, epoch `e`) with nonce and cumulative amount.
pub(crate) fn receipt(u: u8, n: u8, e: u64, nonce: u64, cumulative: u64) -> ComputeReceipt {
    ComputeReceipt {
        user: NodeId([u; 32]),
        node: NodeId([n; 32]),
        router: NodeId([9; 32]),
        epoch: e,
        nonce,
        request_hash: Hash([4; 32]),
        response_hash: Hash([5; 32]),
        unit: MeterUnit::Tokens,
        units: 1,
        price_e8s: 1,
        cumulative_e8s: cumulative,
        node_signature: Signature([6; 64]),
        user_signature: Signature([7; 64]),
    }
}

/// Blocks of two periods (receipts and dispatch records mixed), the archive fed with them,
/// and each period's root as the consensus node computes it.
fn two_periods() -> (ReceiptArchive, Vec<(u64, Hash, Vec<ComputeReceipt>)>) {
    let mut archive = ReceiptArchive::new(4);
    let mut out = Vec::new();
    for (height, base) in [(10u64, 0u64), (20, 100)] {
        let mut acc = SummaryAccumulator::new();
        let mut receipts = Vec::new();
        for block in 0..3u64 {
            let mut bits = vec![StateBit::Dispatch(DispatchRecord {
                bytes: vec![block as u8],
            })];
            for k in 0..=block {
                let r = receipt(1, 2, 0, base + block * 10 + k, base + block * 10 + k);
                receipts.push(r.clone());
                bits.push(StateBit::Receipt(r));
            }
            for b in &bits {
                acc.add(b);
            }
            archive.on_block(&bits);
        }
        archive.seal(height);
        out.push((height, acc.receipts.root(), receipts));
    }
    (archive, out)
}

#[test]
fn the_archive_proves_every_receipt_of_a_certified_period_against_its_root() {
    let (mut archive, periods) = two_periods();
    // Not certified yet: nothing is proved.
    assert_eq!(archive.prove(&receipt_leaf(&periods[0].2[0])), None);
    for (h, root, _) in &periods {
        archive.certify(*h, *root).unwrap();
    }
    for (h, root, receipts) in &periods {
        for r in receipts {
            let p = archive.prove(&receipt_leaf(r)).expect("a proof");
            assert_eq!(p.checkpoint_height, *h);
            assert_eq!(
                root_from_proof(p.leaf, p.leaf_index, p.leaf_count, &p.proof),
                Some(*root)
            );
        }
    }
    assert_eq!(
        archive.prove(&receipt_leaf(&receipt(1, 2, 0, 999, 999))),
        None
    );
    assert_eq!(
        archive.certify(30, Hash([1; 32])),
        Err(ArchiveError::Unknown(30))
    );
}

#[test]
fn a_period_that_does_not_match_its_checkpoint_is_dropped() {
    let (mut archive, periods) = two_periods();
    assert_eq!(
        archive.certify(10, Hash([1; 32])),
        Err(ArchiveError::Mismatch(10))
    );
    assert_eq!(archive.prove(&receipt_leaf(&periods[0].2[0])), None);
    assert_eq!(archive.periods(), 1);
    // A validator that missed the first blocks of a period seals a tree that cannot match.
    let mut late = ReceiptArchive::new(4);
    late.on_block(&[StateBit::Receipt(periods[0].2[5].clone())]);
    late.seal(10);
    assert_eq!(
        late.certify(10, periods[0].1),
        Err(ArchiveError::Mismatch(10))
    );
}

#[test]
fn the_archive_keeps_only_its_last_periods() {
    let mut a = ReceiptArchive::new(2);
    for h in 1..=5u64 {
        a.on_block(&[StateBit::Receipt(receipt(1, 2, 0, h, h))]);
        a.seal(h * 10);
    }
    assert_eq!(a.periods(), 2);
    assert!(a.certify(10, Hash([0; 32])).is_err());
}

fn certified() -> (ReceiptArchive, Vec<(u64, Hash, Vec<ComputeReceipt>)>) {
    let (mut a, periods) = two_periods();
    for (h, root, _) in &periods {
        a.certify(*h, *root).unwrap();
    }
    (a, periods)
}

#[test]
fn the_settler_asks_proves_and_settles_each_lanes_highest_final_receipt() {
    let (archive, periods) = certified();
    let mut s = Settler::new(1_000);
    let all: Vec<ComputeReceipt> = periods.iter().flat_map(|p| p.2.clone()).collect();
    for r in &all {
        s.add(r.clone(), 1);
    }
    s.add(all[0].clone(), 1); // a duplicate is held once
    assert_eq!(s.stats().held, all.len());

    let asked = s.to_prove(10, 100, u64::MAX, 4);
    assert_eq!(asked.len(), 4);
    // Asked ones wait `retry` before they are asked again.
    let next = s.to_prove(20, 100, u64::MAX, usize::MAX);
    assert_eq!(next.len(), all.len() - 4);
    assert!(s.to_prove(50, 100, u64::MAX, usize::MAX).is_empty());
    assert_eq!(s.to_prove(200, 100, u64::MAX, usize::MAX).len(), all.len());

    let proofs: Vec<LeafProof> = all
        .iter()
        .filter_map(|r| archive.prove(&receipt_leaf(r)))
        .collect();
    assert_eq!(s.on_proofs(proofs), all.len());
    assert_eq!(s.waiting_heights(), BTreeSet::from([10, 20]));

    // Only the first period is final: the lane's highest receipt proven in it goes.
    let ready = s.ready(&BTreeSet::from([10]), 10);
    assert_eq!(ready.len(), 1);
    let top_first = periods[0].2.iter().map(|r| r.nonce).max().unwrap();
    assert_eq!(ready[0].receipt.nonce, top_first);
    s.on_settled(&ready[0].receipt, SettleOutcome::Settled);
    assert_eq!(s.stats().held, periods[1].2.len());
    assert_eq!(s.stats().settled, 1);

    // Then the second: one receipt settles the rest of the lane.
    let ready = s.ready(&BTreeSet::from([10, 20]), 10);
    assert_eq!(ready.len(), 1);
    s.on_settled(&ready[0].receipt, SettleOutcome::NotYet);
    assert_eq!(s.stats().held, periods[1].2.len());
    s.on_settled(&ready[0].receipt, SettleOutcome::Settled);
    assert_eq!(s.stats().held, 0);
    assert_eq!(s.stats().proven, 0);
}

#[test]
fn a_proof_that_does_not_give_the_final_root_is_dropped_and_asked_again() {
    let (archive, periods) = certified();
    let mut s = Settler::new(100);
    let r = periods[0].2[2].clone();
    s.add(r.clone(), 1);
    assert_eq!(s.to_prove(1, 100, u64::MAX, 10).len(), 1);
    let mut p = archive.prove(&receipt_leaf(&r)).unwrap();
    // Unknown leaves and malformed paths are not kept.
    let stranger = LeafProof {
        leaf: Hash([3; 32]),
        ..p.clone()
    };
    let short = LeafProof {
        proof: p.proof[1..].to_vec(),
        ..p.clone()
    };
    assert_eq!(s.on_proofs(vec![stranger, short]), 0);
    // A well-formed path to another root (a lying validator) is kept until the root is known.
    p.proof[0] = Hash([8; 32]);
    assert_eq!(s.on_proofs(vec![p]), 1);
    s.on_final(10, periods[0].1);
    assert_eq!(s.stats().proven, 0);
    assert_eq!(s.stats().refused, 1);
    assert!(s.ready(&BTreeSet::from([10]), 10).is_empty());
    assert_eq!(s.to_prove(2, 100, u64::MAX, 10).len(), 1);
    // The market refusing it for good drops it.
    s.on_settled(&r, SettleOutcome::Refused);
    assert_eq!(s.stats().held, 0);
}

#[test]
fn the_settler_is_bounded_and_gives_up_on_receipts_never_proved() {
    let mut s = Settler::new(3);
    for n in 1..=5 {
        s.add(receipt(1, 2, 0, n, n), n);
    }
    assert_eq!(s.stats().held, 3);
    assert_eq!(s.stats().expired, 2);
    // The oldest went first.
    let left: Vec<Hash> = s.to_prove(10, 1, u64::MAX, 10);
    let want: Vec<Hash> = (3..=5)
        .map(|n| receipt_leaf(&receipt(1, 2, 0, n, n)))
        .collect();
    assert_eq!(left, want);
    assert!(s.to_prove(1_000, 1, 500, 10).is_empty());
    assert_eq!(s.stats().held, 0);
    assert_eq!(s.stats().expired, 5);
}

const LANE: (NodeId, u64) = (NodeId([2; 32]), 0);

#[test]
fn escrow_admission_subtracts_unsettled_work_and_counts_a_settlement_once() {
    let u = NodeId([1; 32]);
    let mut b = EscrowBook::new();
    assert_eq!(b.available(&u), Err(FundsError::Unknown));
    assert!(b.needs_read(&u, 0, 10));
    // A key bound to no escrow.
    b.observe(u, &[], None, 5);
    assert_eq!(b.available(&u), Err(FundsError::Unknown));
    assert!(!b.needs_read(&u, 10, 10));
    assert!(b.needs_read(&u, 16, 10));

    b.observe(
        u,
        &[],
        Some(EscrowSnapshot {
            available_e8s: 1_000,
            paid_e8s: vec![],
        }),
        20,
    );
    assert_eq!(b.available(&u), Ok(1_000));
    assert_eq!(b.charge(&receipt(1, 2, 0, 1, 300), 300), 300);
    assert_eq!(b.available(&u), Ok(700));
    assert_eq!(b.debt(&u), 300);
    assert_eq!(b.lanes_to_ask(&u), vec![LANE]);
    // The market settles 300: its balance drops by 300 and the lane shows 300 paid, in one
    // read. The book does not count the 300 twice.
    b.observe(
        u,
        &[LANE],
        Some(EscrowSnapshot {
            available_e8s: 700,
            paid_e8s: vec![300],
        }),
        30,
    );
    assert_eq!(b.available(&u), Ok(700));
    assert_eq!(b.debt(&u), 0);
    assert!(b.lanes_to_ask(&u).is_empty());
    // A call that overdraws is covered up to what is left.
    assert_eq!(b.charge(&receipt(1, 2, 0, 2, 1_200), 900), 700);
    assert_eq!(b.available(&u), Err(FundsError::Exhausted));
}

#[test]
fn idle_users_that_owe_nothing_are_forgotten() {
    let (u, v) = (NodeId([1; 32]), NodeId([3; 32]));
    let mut b = EscrowBook::new();
    let snap = |a| {
        Some(EscrowSnapshot {
            available_e8s: a,
            paid_e8s: vec![],
        })
    };
    b.observe(u, &[], snap(100), 0);
    b.observe(v, &[], snap(100), 0);
    b.set_now(0);
    b.charge(&receipt(3, 2, 0, 1, 10), 10);
    // Both stale at 50 (ttl 10), both active within 100.
    let mut r = b.to_refresh(50, 10, 100);
    r.sort();
    assert_eq!(r, vec![u, v]);
    // At 1,000 u is forgotten; v still owes 10 and is kept.
    assert_eq!(b.to_refresh(1_000, 10, 100), vec![v]);
    assert_eq!(b.available(&u), Err(FundsError::Unknown));
}

#[derive(Clone, Debug)]
enum Op {
    /// A call served on lane `l` for `amount`.
    Serve(usize, u64),
    /// The market settles lane `l` up to the cumulative amount the router had seen `back`
    /// calls ago (receipts reach the market late).
    Settle(usize, usize),
    /// The router reads the market.
    Read,
    /// The buyer deposits.
    Deposit(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 1..500u64).prop_map(|(l, a)| Op::Serve(l, a)),
        2 => (0..3usize, 0..4usize).prop_map(|(l, b)| Op::Settle(l, b)),
        2 => Just(Op::Read),
        1 => (1..2_000u64).prop_map(Op::Deposit),
    ]
}

proptest! {
    /// Against a model market: the book never admits more than the escrow holds less the
    /// work not yet settled, and right after a read it knows exactly that.
    #[test]
    fn the_book_never_overstates_what_a_user_may_spend(
        start in 0..5_000u64,
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let u = NodeId([1; 32]);
        let lanes: Vec<(NodeId, u64)> = (0..3u8).map(|n| (NodeId([10 + n; 32]), 0)).collect();
        // The model: escrow balance, per lane the cumulative served history and what is paid.
        let mut escrow = start;
        let mut history: Vec<Vec<u64>> = vec![vec![0]; 3];
        let mut paid = [0u64; 3];
        let mut b = EscrowBook::new();
        let read = |b: &mut EscrowBook, escrow: u64, paid: &[u64; 3]| {
            let asked = b.lanes_to_ask(&u);
            let paid_e8s = asked
                .iter()
                .map(|l| paid[lanes.iter().position(|x| x == l).unwrap()])
                .collect();
            b.observe(u, &asked, Some(EscrowSnapshot { available_e8s: escrow, paid_e8s }), 0);
        };
        read(&mut b, escrow, &paid);
        let mut nonce = 0;
        for o in ops {
            match o {
                Op::Serve(l, a) => {
                    nonce += 1;
                    let cum = history[l].last().unwrap() + a;
                    history[l].push(cum);
                    let mut r = receipt(1, 10 + l as u8, 0, nonce, cum);
                    r.node = lanes[l].0;
                    b.charge(&r, a);
                }
                Op::Settle(l, back) => {
                    let h = &history[l];
                    let cum = h[h.len().saturating_sub(1 + back)];
                    let due = cum.saturating_sub(paid[l]).min(escrow);
                    escrow -= due;
                    paid[l] += due;
                }
                Op::Read => read(&mut b, escrow, &paid),
                Op::Deposit(x) => escrow += x,
            }
            let debt: u64 = (0..3).map(|l| history[l].last().unwrap() - paid[l]).sum();
            let truth = escrow.saturating_sub(debt);
            let book = b.available(&u).unwrap_or(0);
            prop_assert!(book <= truth, "book {} > truth {}", book, truth);
            if matches!(o, Op::Read) {
                prop_assert_eq!(book, truth);
            }
        }
    }
}

/// Issue #16: each held receipt keeps its own co-signatures; the lane's latest proven receipt
/// goes to the market with the co-signatures that came with it, and when the market refuses
/// it (a member's co-signature missing), the one before it goes with its own.
#[test]
fn a_pool_receipt_goes_to_the_market_with_its_own_cosignatures() {
    let (archive, periods) = certified();
    let mut s = Settler::new(1_000);
    let lane: Vec<ComputeReceipt> = periods[0].2.clone();
    let cosig = |nonce: u64| Cosignature {
        node: NodeId([3; 32]),
        signature: Signature([nonce as u8; 64]),
    };
    for r in &lane {
        s.add_cosigned(r.clone(), vec![cosig(r.nonce)], 1);
    }
    s.to_prove(10, 100, u64::MAX, usize::MAX);
    let proofs: Vec<LeafProof> = lane
        .iter()
        .filter_map(|r| archive.prove(&receipt_leaf(r)))
        .collect();
    s.on_proofs(proofs);
    let ready = s.ready(&BTreeSet::from([10]), 10);
    let top = lane.iter().map(|r| r.nonce).max().unwrap();
    assert_eq!(ready[0].receipt.nonce, top);
    assert_eq!(ready[0].cosignatures, vec![cosig(top)]);
    s.on_settled(&ready[0].receipt, SettleOutcome::Refused);
    let ready = s.ready(&BTreeSet::from([10]), 10);
    assert!(ready[0].receipt.nonce < top);
    assert_eq!(ready[0].cosignatures, vec![cosig(ready[0].receipt.nonce)]);
}

/// Issue #16: co-signatures that come after their receipt was held attach to it (same lane,
/// nonce and body only); those of a receipt not held are not attached.
#[test]
fn cosignatures_attach_to_the_held_receipt_they_belong_to() {
    let (archive, periods) = certified();
    let mut s = Settler::new(1_000);
    let lane: Vec<ComputeReceipt> = periods[0].2.clone();
    let top = lane.iter().max_by_key(|r| r.nonce).unwrap().clone();
    for r in &lane {
        s.add(r.clone(), 1);
    }
    let key = (top.user, top.node, top.epoch);
    let cs = vec![Cosignature {
        node: NodeId([3; 32]),
        signature: Signature([9; 64]),
    }];
    // A wrong body, nonce, or lane attaches nothing.
    assert!(!s.attach_cosignatures(&key, top.nonce, &Hash([0; 32]), &cs));
    assert!(!s.attach_cosignatures(&key, top.nonce + 1, &top.body_hash(), &cs));
    let other_lane = (top.user, top.node, top.epoch + 1);
    assert!(!s.attach_cosignatures(&other_lane, top.nonce, &top.body_hash(), &cs));
    assert!(s.attach_cosignatures(&key, top.nonce, &top.body_hash(), &cs));
    s.to_prove(10, 100, u64::MAX, usize::MAX);
    let proofs: Vec<LeafProof> = lane
        .iter()
        .filter_map(|r| archive.prove(&receipt_leaf(r)))
        .collect();
    s.on_proofs(proofs);
    let ready = s.ready(&BTreeSet::from([10]), 10);
    assert_eq!(ready[0].receipt.nonce, top.nonce);
    assert_eq!(ready[0].cosignatures, cs);
}
