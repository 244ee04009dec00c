//! Native tests of the pure epochs core over a `VectorMemory`.

use crate::common::*;
use emc_epochs::data::{build_chunks, header_hash};
use emc_epochs::epochs::{payout_memo, penalty_minutes, weight_of, DEDUP_SAFE_NS};
use emc_epochs::*;
use emc_tokenomics::{epoch_reward, period_of_epoch, split_by_weight, SplitRounding};
use emc_types::{Hash, NodeId, Signature, SignedCheckpoint, ZERO_HASH};
use ic_stable_structures::VectorMemory;
use proptest::prelude::*;

const DAY: u64 = 24 * 3600 * 1_000_000_000;
const T0: u64 = 1_700_000_000_000_000_000;

fn gov() -> candid::Principal {
    candid::Principal::from_slice(&[9; 10])
}

fn init_args(params: Option<Params>) -> InitArgs {
    InitArgs {
        ledger: candid::Principal::from_slice(&[1; 10]),
        registry: candid::Principal::from_slice(&[2; 10]),
        governance: gov(),
        params,
    }
}

fn fresh() -> (Epochs<VectorMemory>, VectorMemory) {
    let mem = VectorMemory::default();
    let e = Epochs::init(mem.clone(), &init_args(None)).unwrap();
    (e, mem)
}

/// Accepts the 96 checkpoints of epoch 0 (heights 450, 900, ..., 43,200; 9 of 13 signatures
/// each); the closing one (43,200) carries `closing_root` as its state root.
fn epoch0(e: &mut Epochs<VectorMemory>, closing_root: Hash) -> Vec<SignedCheckpoint> {
    let ks = keys(13, 1);
    let set = set_of(0, &ks);
    e.cache_validator_set(0, set.clone()).unwrap();
    let mut prev = ZERO_HASH;
    let mut out = Vec::new();
    for i in 0..96u64 {
        let h = (i + 1) * INTERVAL;
        let root = if i == 95 {
            closing_root
        } else {
            Hash([i as u8; 32])
        };
        let c = checkpoint(h, prev, &set, root);
        let sc = sign(&c, &ks[(i as usize % 4)..(i as usize % 4) + 9]);
        let stored = e.submit_checkpoint(&sc, T0 + i * 900_000_000_000).unwrap();
        assert_eq!(stored.signers.len(), 9);
        prev = stored.hash;
        out.push(sc);
    }
    out
}

#[test]
fn ninety_six_checkpoints_are_accepted_in_order() {
    let (mut e, _) = fresh();
    let cps = epoch0(&mut e, Hash([7; 32]));
    assert_eq!(e.latest().unwrap().checkpoint.height, L);
    assert_eq!(e.checkpoint(900).unwrap().checkpoint, cps[1].checkpoint);
    assert_eq!(e.closing_height(0), Some(L));
    assert_eq!(e.closing_height(1), Some(2 * L));
    assert_eq!(e.closing_height(u64::MAX), None);
    // The closing checkpoint carries the epoch it closes.
    assert_eq!(e.checkpoint(L).unwrap().checkpoint.epoch, 0);
    assert_eq!(
        e.checkpoint(L).unwrap().checkpoint.state_root,
        Hash([7; 32])
    );
}

/// Epoch e is heights e L + 1 ..= (e + 1) L (emc-consensus): the checkpoint at (e + 1) L carries
/// epoch e and closes it; the same height with the epoch `height / L` is malformed, and so is
/// height 0.
#[test]
fn the_checkpoint_at_the_epoch_boundary_carries_and_closes_the_epoch_before_it() {
    let (mut e, mem) = fresh();
    let ks = keys(13, 1);
    let set0 = set_of(0, &ks);
    let set1 = set_of(1, &ks);
    e.cache_validator_set(0, set0.clone()).unwrap();
    e.cache_validator_set(1, set1.clone()).unwrap();
    let snapshot = mem.borrow().clone();
    // Height 0 is the genesis: no checkpoint there, whatever its epoch.
    let genesis = checkpoint(0, ZERO_HASH, &set0, Hash([1; 32]));
    assert!(matches!(
        e.submit_checkpoint(&sign(&genesis, &ks[..9]), T0),
        Err(EpochsError::Malformed(_))
    ));
    // The first checkpoint may start anywhere on the interval: the last one of epoch 0.
    let recs = records(10, L);
    let (header, chunks) = emc_epochs::data::build_chunks(0, L, &recs, 4);
    let closing = checkpoint(L, ZERO_HASH, &set0, header_hash(&header));
    assert_eq!(closing.epoch, 0);
    // The other convention (epoch = height / L) puts 43,200 in epoch 1: refused as malformed,
    // although epoch 1's set is known and the signatures are those of that set.
    let mut other = closing.clone();
    other.epoch = 1;
    other.validator_set_id = set1.id();
    assert_eq!(
        e.submit_checkpoint(&sign(&other, &ks[..9]), T0),
        Err(EpochsError::Malformed(
            "epoch 1 is not the epoch of height 43200".into()
        ))
    );
    assert_eq!(*mem.borrow(), snapshot, "a refusal changes nothing");
    let stored = e.submit_checkpoint(&sign(&closing, &ks[..9]), T0).unwrap();
    assert_eq!(stored.checkpoint.epoch, 0);
    // Epoch 0's data is authenticated by that checkpoint, and it closes epoch 0.
    e.declare_epoch_data(&header).unwrap();
    for c in &chunks {
        e.upload_chunk(c).unwrap();
    }
    assert!(matches!(
        e.close_epoch(0, T0 + DAY - 1),
        Err(EpochsError::NotReady(_))
    ));
    let s = e.close_epoch(0, T0 + DAY).unwrap();
    assert_eq!(s.status, EpochStatus::Paying);
    assert_eq!(s.budget_e8s, epoch_reward(period_of_epoch(0)));
    // The next height, 43,650, is the first checkpoint of epoch 1.
    let next = checkpoint(L + INTERVAL, stored.hash, &set1, Hash([2; 32]));
    assert_eq!(next.epoch, 1);
    let mut next0 = next.clone();
    next0.epoch = 0;
    next0.validator_set_id = set0.id();
    assert!(matches!(
        e.submit_checkpoint(&sign(&next0, &ks[..9]), T0),
        Err(EpochsError::Malformed(_))
    ));
    e.submit_checkpoint(&sign(&next, &ks[..9]), T0).unwrap();
    // Evidence with the other convention's epoch proves nothing.
    let a = sign(&other, &ks[..9]);
    let mut b_cp = other.clone();
    b_cp.state_root = Hash([0xbb; 32]);
    let ev = EquivocationEvidence {
        first: a,
        second: sign(&b_cp, &ks[4..13]),
    };
    assert!(matches!(
        e.submit_evidence(&ev, T0),
        Err(EpochsError::InvalidEvidence(_))
    ));
}

/// A short epoch (the devnet's: 120 blocks, a checkpoint every 30) from checkpoints to payout.
#[test]
fn a_short_epoch_length_closes_and_pays() {
    let params = Params {
        epoch_length_blocks: 120,
        checkpoint_interval_blocks: 30,
        challenge_window_ns: 60_000_000_000,
        ..Params::default()
    };
    let mem = VectorMemory::default();
    let mut e = Epochs::init(mem, &init_args(Some(params))).unwrap();
    let ks = keys(4, 3);
    for epoch in 0..3 {
        e.cache_validator_set(epoch, set_of(epoch, &ks)).unwrap();
    }
    assert_eq!(e.closing_height(0), Some(120));
    assert_eq!(e.closing_height(2), Some(360));
    let recs = records(30, 120);
    let (h0, c0) = emc_epochs::data::build_chunks(0, 120, &recs, 7);
    let (h1, c1) = emc_epochs::data::build_chunks(1, 120, &recs, 7);
    let mut prev = ZERO_HASH;
    let mut now = T0;
    // Heights 30, 60, ..., 360: epochs 0, 1, 2 (four checkpoints each).
    for i in 1..=12u64 {
        let h = i * 30;
        let epoch = (h - 1) / 120;
        let root = match h {
            120 => header_hash(&h0),
            240 => header_hash(&h1),
            _ => Hash([i as u8; 32]),
        };
        let c = checkpoint_in(120, h, prev, &set_of(epoch, &ks), root);
        assert_eq!(c.epoch, epoch);
        // The epoch as `height / L` would number it is refused at each epoch's last height.
        if h % 120 == 0 {
            let mut wrong = c.clone();
            wrong.epoch = h / 120;
            wrong.validator_set_id = set_of(h / 120, &ks).id();
            assert!(matches!(
                e.submit_checkpoint(&sign(&wrong, &ks[..3]), now),
                Err(EpochsError::Malformed(_))
            ));
        }
        prev = e.submit_checkpoint(&sign(&c, &ks[..3]), now).unwrap().hash;
        now += 60_000_000_000;
    }
    // A header that counts blocks with another epoch length is refused.
    let (bad, _) = emc_epochs::data::build_chunks(0, L, &recs, 7);
    assert!(matches!(
        e.declare_epoch_data(&bad),
        Err(EpochsError::EpochData(_))
    ));
    for (h, chunks) in [(&h0, &c0), (&h1, &c1)] {
        e.declare_epoch_data(h).unwrap();
        for c in chunks {
            e.upload_chunk(c).unwrap();
        }
    }
    // A header moved to another epoch does not match that epoch's closing checkpoint.
    let mut swapped = h1.clone();
    swapped.epoch = 2;
    assert!(e.declare_epoch_data(&swapped).is_err());
    let mut block = 0;
    for epoch in 0..2u64 {
        let s = e.close_epoch(epoch, now).unwrap();
        assert_eq!(s.budget_e8s, epoch_reward(period_of_epoch(epoch)));
        let params = e.config().params.clone();
        let weights: Vec<u64> = recs.iter().map(|r| weight_of(r, 120, &params)).collect();
        let expected = split_by_weight(s.budget_e8s, &weights, SplitRounding::Down);
        for p in e.plan_payouts(now, 1_000) {
            block += 1;
            e.record_mint(p.epoch, &p.node, &MintOutcome::Minted(block))
                .unwrap();
        }
        let s = e.epoch_summary(epoch).unwrap();
        assert_eq!(s.status, EpochStatus::Paid);
        assert_eq!(s.paid_e8s, expected.iter().sum::<u64>());
        for (r, want) in recs.iter().zip(&expected) {
            let got = e.payout(epoch, &r.node).map(|p| p.amount_e8s).unwrap_or(0);
            assert_eq!(got, *want);
        }
    }
    assert_eq!(e.stats().last_closed_epoch, Some(1));
    // A node's history: its agreed record, weight and payout in each paid epoch.
    let params = e.config().params.clone();
    let paid = recs
        .iter()
        .find(|r| weight_of(r, 120, &params) > 0)
        .unwrap();
    let node = &paid.node;
    let history = e.node_history(node, 0, 10);
    assert_eq!(history.iter().map(|h| h.epoch).collect::<Vec<_>>(), [0, 1]);
    for h in &history {
        assert_eq!(h.epoch_blocks, 120);
        assert_eq!(h.record.as_ref(), Some(paid));
        assert_eq!(h.weight, weight_of(paid, 120, &params));
        assert!(h.weight > 0);
        assert_eq!(h.payout, e.payout(h.epoch, node));
        assert!(h.payout.is_some());
    }
    // A node that earned nothing: its record with weight 0 and no payout.
    if let Some(idle) = recs.iter().find(|r| weight_of(r, 120, &params) == 0) {
        let h = e.node_history(&idle.node, 0, 10);
        assert_eq!(h.len(), 2);
        assert!(h
            .iter()
            .all(|h| h.weight == 0 && h.payout.is_none() && h.record.as_ref() == Some(idle)));
    }
    // Paging: from epoch 1, and one epoch scanned at a time.
    assert_eq!(e.node_history(node, 1, 10), history[1..].to_vec());
    assert_eq!(e.node_history(node, 0, 1), history[..1].to_vec());
    assert!(e.node_history(node, 0, 0).is_empty());
    assert!(e.node_history(node, 2, u32::MAX).is_empty());
    // An unknown node has no history.
    assert!(e.node_history(&NodeId([0xab; 32]), 0, u32::MAX).is_empty());
}

#[test]
fn bad_submissions_are_refused_without_state_change() {
    let (mut e, mem) = fresh();
    let cps = epoch0(&mut e, Hash([7; 32]));
    let ks = keys(13, 1);
    let set = set_of(0, &ks);
    let tip = e.latest().unwrap();
    let snapshot = mem.borrow().clone();
    let next = |prev: Hash| checkpoint(97 * INTERVAL, prev, &set, Hash([1; 32]));
    // 97 * 450 = 43,650 is the first height of epoch 1: its set is not cached yet.
    let c = next(tip.hash);
    let mut c0 = c.clone();
    c0.epoch = 0;
    assert_eq!(
        e.submit_checkpoint(&sign(&c0, &ks[..9]), T0),
        Err(EpochsError::Malformed(
            "epoch 0 is not the epoch of height 43650".into()
        ))
    );
    let c1 = c.clone();
    assert_eq!(
        e.submit_checkpoint(&sign(&c1, &ks[..9]), T0),
        Err(EpochsError::NoValidatorSet(1))
    );
    e.cache_validator_set(1, set_of(1, &ks)).unwrap();
    let set1 = set_of(1, &ks);
    let snapshot = {
        let _ = snapshot;
        mem.borrow().clone()
    };
    let good = {
        let mut c = c1.clone();
        c.validator_set_id = set1.id();
        c
    };
    let mut cases: Vec<(SignedCheckpoint, &str)> = Vec::new();
    // forged: one signature of another message
    let mut forged = sign(&good, &ks[..9]);
    forged.signatures[3].signature = Signature([7; 64]);
    cases.push((forged, "forged"));
    let mut forged2 = sign(&good, &ks[..9]);
    let other = sign(&next(Hash([1; 32])), &ks[..9]);
    forged2.signatures[0].signature = other.signatures[0].signature;
    cases.push((forged2, "signature of another checkpoint"));
    cases.push((sign(&good, &ks[..8]), "insufficient"));
    let mut dup = sign(&good, &ks[..8]);
    dup.signatures.push(dup.signatures[0].clone());
    cases.push((dup, "duplicate signer"));
    let outsiders = keys(3, 2);
    let mut foreign = sign(&good, &ks[..8]);
    foreign
        .signatures
        .extend(sign(&good, &outsiders[..1]).signatures);
    cases.push((foreign, "non-member"));
    let mut wrong_set = good.clone();
    wrong_set.validator_set_id = set_of(1, &ks[..12]).id();
    cases.push((sign(&wrong_set, &ks[..9]), "wrong set id"));
    cases.push((cps[95].clone(), "replay of the tip"));
    cases.push((cps[3].clone(), "replay of an old one"));
    let mut bad_prev = good.clone();
    bad_prev.prev_checkpoint_hash = Hash([9; 32]);
    cases.push((sign(&bad_prev, &ks[..9]), "wrong prev"));
    let mut stale = cps[50].checkpoint.clone();
    stale.state_root = Hash([0xee; 32]);
    cases.push((sign(&stale, &ks[..9]), "stale"));
    let mut off = good.clone();
    off.height += 1;
    cases.push((sign(&off, &ks[..9]), "off interval"));
    for (sc, what) in &cases {
        let r = e.submit_checkpoint(sc, T0 + DAY);
        assert!(r.is_err(), "{what} accepted");
        assert_eq!(*mem.borrow(), snapshot, "{what} changed the state: {r:?}");
    }
    let errs: Vec<EpochsError> = cases
        .iter()
        .map(|(sc, _)| e.submit_checkpoint(sc, T0).unwrap_err())
        .collect();
    assert!(matches!(errs[0], EpochsError::BadSignature(_)));
    assert!(matches!(errs[1], EpochsError::BadSignature(_)));
    assert!(matches!(
        errs[2],
        EpochsError::InsufficientSignatures { got: 8, quorum: 9 }
    ));
    assert!(matches!(errs[3], EpochsError::DuplicateSigner(_)));
    assert!(matches!(errs[4], EpochsError::NotInSet(_)));
    assert_eq!(errs[5], EpochsError::WrongValidatorSet);
    assert_eq!(errs[6], EpochsError::Duplicate(96 * INTERVAL));
    assert_eq!(errs[7], EpochsError::Duplicate(4 * INTERVAL));
    assert_eq!(errs[8], EpochsError::WrongPrevHash);
    assert!(matches!(errs[9], EpochsError::Stale { .. }));
    assert!(matches!(errs[10], EpochsError::Malformed(_)));
    // and the good one goes through
    e.submit_checkpoint(&sign(&good, &ks[2..11]), T0).unwrap();

    // Issue #21, finding 2: a checkpoint that never gathered a quorum is skipped. The
    // validators link the next one to the last certified checkpoint (the tip), and it is
    // accepted after the gap; one linking to the skipped checkpoint is not.
    let tip = e.latest().unwrap();
    let mut lost = good.clone();
    lost.height += INTERVAL;
    lost.prev_checkpoint_hash = tip.hash;
    let mut after_gap = lost.clone();
    after_gap.height += INTERVAL;
    let mut on_lost = after_gap.clone();
    on_lost.prev_checkpoint_hash = lost.hash();
    assert_eq!(
        e.submit_checkpoint(&sign(&on_lost, &ks[..9]), T0),
        Err(EpochsError::WrongPrevHash)
    );
    let accepted = e
        .submit_checkpoint(&sign(&after_gap, &ks[..9]), T0)
        .unwrap();
    assert_eq!(
        accepted.checkpoint.height,
        tip.checkpoint.height + 2 * INTERVAL
    );
    assert_eq!(e.latest().unwrap().hash, after_gap.hash());
}

#[test]
fn equivocation_voids_and_slashes() {
    let (mut e, _) = fresh();
    let ks = keys(13, 1);
    let set = set_of(0, &ks);
    e.cache_validator_set(0, set.clone()).unwrap();
    let c0 = checkpoint(450, ZERO_HASH, &set, Hash([1; 32]));
    let s0 = e.submit_checkpoint(&sign(&c0, &ks[..9]), T0).unwrap();
    let c1 = checkpoint(900, s0.hash, &set, Hash([2; 32]));
    e.submit_checkpoint(&sign(&c1, &ks[..9]), T0 + 10).unwrap();
    let c2 = checkpoint(1_350, c1.hash(), &set, Hash([3; 32]));
    e.submit_checkpoint(&sign(&c2, &ks[..9]), T0 + 20).unwrap();
    // a conflicting checkpoint at 900 signed by validators 4..13 (4..9 signed both)
    let c1b = checkpoint(900, s0.hash, &set, Hash([0xbb; 32]));
    let ev = EquivocationEvidence {
        first: sign(&c1, &ks[..9]),
        second: sign(&c1b, &ks[4..13]),
    };
    // under-signed evidence proves nothing
    let weak = EquivocationEvidence {
        first: sign(&c1, &ks[..9]),
        second: sign(&c1b, &ks[4..12]),
    };
    assert!(matches!(
        e.submit_evidence(&weak, T0 + 30),
        Err(EpochsError::InsufficientSignatures { .. })
    ));
    let out = e.submit_evidence(&ev, T0 + 30).unwrap();
    assert_eq!(out.voided, vec![900, 1_350]);
    let mut expect: Vec<NodeId> = ks[4..9].iter().map(node_of).collect();
    expect.sort();
    let mut got = out.slashed.clone();
    got.sort();
    assert_eq!(got, expect);
    assert_eq!(e.latest().unwrap().checkpoint.height, 450);
    let (batch, reports) = e.next_penalty_batch().unwrap();
    assert_eq!(batch, out.penalty_batch);
    assert_eq!(reports.len(), 5);
    e.penalty_batch_sent(batch);
    assert_eq!(e.next_penalty_batch(), None);
    // the same evidence again (either order) is refused
    let swapped = EquivocationEvidence {
        first: ev.second.clone(),
        second: ev.first.clone(),
    };
    assert_eq!(
        e.submit_evidence(&swapped, T0 + 40),
        Err(EpochsError::EvidenceAlreadyReported)
    );
    // the chain continues from height 450 with a fresh checkpoint
    e.submit_checkpoint(&sign(&c1b, &ks[4..13]), T0 + 50)
        .unwrap();
    // evidence against a final checkpoint slashes but does not void it
    let c1c = checkpoint(900, s0.hash, &set, Hash([0xcc; 32]));
    let ev2 = EquivocationEvidence {
        first: sign(&c1b, &ks[4..13]),
        second: sign(&c1c, &ks[..9]),
    };
    let out2 = e.submit_evidence(&ev2, T0 + 50 + 2 * DAY).unwrap();
    assert!(out2.voided.is_empty());
    assert_eq!(out2.slashed.len(), 5);
    assert_eq!(e.latest().unwrap().checkpoint.height, 900);
}

fn load_epoch0_data(
    e: &mut Epochs<VectorMemory>,
    n: u64,
    per_chunk: usize,
) -> (EpochDataHeader, Vec<NodeRecord>) {
    let blocks = 43_200;
    let recs = records(n, blocks);
    let (header, chunks) = build_chunks(0, blocks, &recs, per_chunk);
    epoch0(e, header_hash(&header));
    e.declare_epoch_data(&header).unwrap();
    // a tampered chunk is refused
    let mut bad = chunks[0].clone();
    bad.records[0].stake_e8s += 1;
    assert!(matches!(
        e.upload_chunk(&bad),
        Err(EpochsError::EpochData(_))
    ));
    for c in chunks.iter().rev() {
        e.upload_chunk(c).unwrap();
    }
    assert!(e.upload_chunk(&chunks[0]).is_err(), "chunk twice");
    (header, recs)
}

#[test]
fn thousand_node_epoch_pays_the_tokenomics_split_exactly_once() {
    let (mut e, _) = fresh();
    let (header, recs) = load_epoch0_data(&mut e, 1_000, 128);
    let accepted_at = e
        .checkpoint(e.closing_height(0).unwrap())
        .unwrap()
        .accepted_at;
    assert!(matches!(
        e.close_epoch(0, accepted_at + DAY - 1),
        Err(EpochsError::NotReady(_))
    ));
    let now = accepted_at + DAY;
    let s = e.close_epoch(0, now).unwrap();
    assert_eq!(s.budget_e8s, epoch_reward(period_of_epoch(0)));
    assert_eq!(e.close_epoch(0, now), Err(EpochsError::AlreadyClosed(0)));
    let params = e.config().params.clone();
    let weights: Vec<u64> = recs
        .iter()
        .map(|r| weight_of(r, header.epoch_blocks, &params))
        .collect();
    assert!(
        weights.iter().filter(|w| **w == 0).count() > 10,
        "some below 2/3"
    );
    let expected = split_by_weight(s.budget_e8s, &weights, SplitRounding::Down);
    let mut block = 0;
    loop {
        let batch = e.plan_payouts(now, 77);
        if batch.is_empty() && e.epoch_summary(0).unwrap().status == EpochStatus::Paid {
            break;
        }
        for p in batch {
            block += 1;
            e.record_mint(p.epoch, &p.node, &MintOutcome::Minted(block))
                .unwrap();
            // a replayed confirmation pays nothing
            let again = e
                .record_mint(p.epoch, &p.node, &MintOutcome::Minted(block + 1))
                .unwrap();
            assert_eq!(again.status, PayoutStatus::Paid { block });
        }
    }
    let mut total = 0;
    for (r, want) in recs.iter().zip(&expected) {
        let got = e.payout(0, &r.node).map(|p| p.amount_e8s).unwrap_or(0);
        assert_eq!(got, *want);
        total += got;
    }
    let s = e.epoch_summary(0).unwrap();
    assert_eq!(s.status, EpochStatus::Paid);
    assert_eq!(s.paid_e8s, total);
    assert!(total <= s.budget_e8s);
    assert_eq!(e.total_emitted(), total);
    assert_eq!(e.stats().reserved_e8s, 0);
    // owner view
    let o = recs[0].owner;
    let mine = e.owner_rewards(&o, 0, 100);
    assert!(mine.iter().all(|p| p.owner == o));
    assert_eq!(
        mine.len(),
        recs.iter()
            .zip(&expected)
            .filter(|(r, w)| r.owner == o && **w > 0)
            .count()
    );
    // penalties for those below full participation were queued
    assert!(e.next_penalty_batch().is_some());
    assert_ne!(payout_memo(0, &recs[0].node), payout_memo(1, &recs[0].node));
}

#[test]
fn a_ledger_outage_then_recovery_pays_once_and_stuck_payouts_need_governance() {
    let (mut e, mem) = fresh();
    load_epoch0_data(&mut e, 60, 16);
    let now = e
        .checkpoint(e.closing_height(0).unwrap())
        .unwrap()
        .accepted_at
        + DAY;
    e.close_epoch(0, now).unwrap();
    let first = e.plan_payouts(now, 1_000);
    assert!(!first.is_empty());
    for p in &first {
        e.record_mint(p.epoch, &p.node, &MintOutcome::Retry("down".into()))
            .unwrap();
    }
    assert_eq!(e.total_emitted(), 0);
    // an upgrade in between: the journal survives
    drop(e);
    let mut e = Epochs::load(mem.clone()).unwrap();
    let again = e.plan_payouts(now + 1, 1_000);
    assert_eq!(again.len(), first.len());
    assert!(again
        .iter()
        .zip(&first)
        .all(|(a, b)| a.created_at_time == b.created_at_time));
    // one more outage leaves a payout unconfirmed past the dedup window: Stuck
    for p in &again[1..] {
        e.record_mint(p.epoch, &p.node, &MintOutcome::Minted(5))
            .unwrap();
    }
    let late = e.plan_payouts(now + DEDUP_SAFE_NS + 1, 1_000);
    assert!(late.is_empty());
    let stuck = e.payout(0, &again[0].node).unwrap();
    assert_eq!(stuck.status, PayoutStatus::Stuck);
    assert_eq!(e.epoch_summary(0).unwrap().status, EpochStatus::Paying);
    let args = ResolvePayoutArgs {
        epoch: 0,
        node: stuck.node,
        executed_in_block: Some(99),
    };
    assert!(e.validate_resolve_payout(&args).is_ok());
    assert_eq!(
        e.execute_resolve_payout(candid::Principal::anonymous(), &args, now),
        Err(EpochsError::NotGovernance)
    );
    e.execute_resolve_payout(gov(), &args, now).unwrap();
    assert!(e.execute_resolve_payout(gov(), &args, now).is_err());
    let s = e.epoch_summary(0).unwrap();
    assert_eq!(s.status, EpochStatus::Paid);
    assert_eq!(e.total_emitted(), s.paid_e8s);
    assert!(s.paid_e8s <= s.budget_e8s);
}

/// After an epoch closes, the walk that plans its payouts queues the PoC E of exactly the
/// compute records with E > 0 (validators, routers and E = 0 are left out), in batches of at
/// most the planning batch; batches the registry applied or refused for good leave the queue,
/// one it did not answer stays (and survives an upgrade).
#[test]
fn closing_an_epoch_queues_the_compute_nodes_e_for_the_registry() {
    let (mut e, mem) = fresh();
    let blocks = 43_200;
    let mut recs = records(2_500, blocks);
    for (i, r) in recs.iter_mut().enumerate() {
        if r.role == Role::Compute && i % 5 == 0 {
            r.poc_e = 0;
        }
    }
    let (header, chunks) = build_chunks(0, blocks, &recs, 500);
    epoch0(&mut e, header_hash(&header));
    e.declare_epoch_data(&header).unwrap();
    for c in &chunks {
        e.upload_chunk(c).unwrap();
    }
    assert!(e.next_compute_e_batch().is_none());
    let now = e
        .checkpoint(e.closing_height(0).unwrap())
        .unwrap()
        .accepted_at
        + DAY;
    e.close_epoch(0, now).unwrap();
    const MAX: usize = 200;
    let mut block = 0;
    for _ in 0..1_000 {
        let batch = e.plan_payouts(now, MAX);
        if batch.is_empty() && e.epoch_summary(0).unwrap().status == EpochStatus::Paid {
            break;
        }
        for p in batch {
            block += 1;
            e.record_mint(p.epoch, &p.node, &MintOutcome::Minted(block))
                .unwrap();
        }
    }
    assert_eq!(e.epoch_summary(0).unwrap().status, EpochStatus::Paid);
    let expected: Vec<ComputeE> = recs
        .iter()
        .filter(|r| r.role == Role::Compute && r.poc_e > 0)
        .map(|r| ComputeE {
            node_id: r.node,
            e_fixed: r.poc_e,
        })
        .collect();
    assert!(expected.len() > 600, "{}", expected.len());
    assert!(recs.iter().any(|r| r.role == Role::Compute && r.poc_e == 0));
    let queued = e.stats().pending_compute_e_batches;
    assert!(queued >= expected.len().div_ceil(MAX) as u64, "{queued}");
    // Not answered (a transport failure): the same batch again, also after an upgrade.
    let (k1, b1) = e.next_compute_e_batch().unwrap();
    e.compute_e_batch_answered(&k1, &ReportOutcome::Retry);
    drop(e);
    let mut e = Epochs::load(mem.clone()).unwrap();
    assert_eq!(e.next_compute_e_batch(), Some((k1, b1.clone())));
    assert_eq!(e.stats().pending_compute_e_batches, queued);
    // Refused for good: dropped.
    e.compute_e_batch_answered(&k1, &ReportOutcome::Refused);
    assert_ne!(e.next_compute_e_batch().map(|(k, _)| k), Some(k1));
    let mut sent = b1;
    let mut batches = 1;
    while let Some((k, b)) = e.next_compute_e_batch() {
        assert!(!b.is_empty() && b.len() <= MAX, "{}", b.len());
        sent.extend(b);
        batches += 1;
        e.compute_e_batch_answered(&k, &ReportOutcome::Applied);
        assert_ne!(e.next_compute_e_batch().map(|(k, _)| k), Some(k));
    }
    assert_eq!(batches, queued);
    assert_eq!(
        sent, expected,
        "each compute node with E > 0 once, in node order"
    );
    assert_eq!(e.stats().pending_compute_e_batches, 0);
    // Planning again queues nothing more (each record is walked once).
    assert!(e.plan_payouts(now + 1, MAX).is_empty());
    assert!(e.next_compute_e_batch().is_none());
}

/// A stable memory written before the compute E queue (memory id 13) existed loads: the queue
/// opens empty.
#[test]
fn a_stable_memory_without_the_compute_e_queue_loads() {
    use ic_stable_structures::memory_manager::MemoryManager;
    use ic_stable_structures::StableCell;
    let (e, mem) = fresh();
    let config = e.config().clone();
    drop(e);
    // Only the config and meta cells, as an older build leaves a fresh canister.
    let cells: Vec<Vec<u8>> = {
        let mm = MemoryManager::init(mem);
        (0..2u8)
            .map(|i| {
                StableCell::init(mm.get(storage::ALL_MEMORY_IDS[usize::from(i)]), Vec::new())
                    .get()
                    .clone()
            })
            .collect()
    };
    let old = VectorMemory::default();
    {
        let mm = MemoryManager::init(old.clone());
        for (i, bytes) in cells.into_iter().enumerate() {
            StableCell::init(mm.get(storage::ALL_MEMORY_IDS[i]), bytes);
        }
    }
    let mut e = Epochs::load(old.clone()).unwrap();
    assert_eq!(e.config(), &config);
    assert_eq!(e.stats().pending_compute_e_batches, 0);
    assert!(e.next_compute_e_batch().is_none());
    // and it keeps working
    epoch0(&mut e, Hash([7; 32]));
    assert_eq!(e.stats().tip_height, Some(43_200));
    drop(e);
    assert_eq!(Epochs::load(old).unwrap().stats().tip_height, Some(43_200));
}

#[test]
fn governance_params() {
    let (mut e, _) = fresh();
    assert_eq!(e.config().params.epoch_length_blocks, 43_200);
    let mut p = e.config().params.clone();
    p.checkpoint_interval_blocks = 451;
    assert!(e.validate_set_params(&p).is_err());
    p.checkpoint_interval_blocks = 900;
    assert!(e.validate_set_params(&p).is_ok());
    assert_eq!(
        e.execute_set_params(candid::Principal::anonymous(), &p),
        Err(EpochsError::NotGovernance)
    );
    e.execute_set_params(gov(), &p).unwrap();
    assert_eq!(e.config().params.checkpoint_interval_blocks, 900);
    // Before any checkpoint the epoch length may change (the devnet's 120 / 30).
    p.epoch_length_blocks = 120;
    p.checkpoint_interval_blocks = 30;
    assert!(e.validate_set_params(&p).is_ok());
    e.execute_set_params(gov(), &p).unwrap();
    assert_eq!(e.closing_height(0), Some(120));
}

/// Invalid parameters: a zero epoch length or interval, an interval that does not divide the
/// epoch length. Refused by `validate_set_params`, `execute_set_params` and at install.
#[test]
fn invalid_params_are_refused_everywhere() {
    let base = Params::default();
    let bad = [
        Params {
            epoch_length_blocks: 0,
            ..base.clone()
        },
        Params {
            checkpoint_interval_blocks: 0,
            ..base.clone()
        },
        Params {
            epoch_length_blocks: 0,
            checkpoint_interval_blocks: 0,
            ..base.clone()
        },
        Params {
            epoch_length_blocks: 120,
            checkpoint_interval_blocks: 50,
            ..base.clone()
        },
        Params {
            epoch_length_blocks: 43_200,
            checkpoint_interval_blocks: 86_400,
            ..base.clone()
        },
        Params {
            epoch_length_blocks: 100,
            checkpoint_interval_blocks: 450,
            ..base.clone()
        },
    ];
    let (mut e, mem) = fresh();
    let snapshot = mem.borrow().clone();
    for p in &bad {
        assert!(e.validate_set_params(p).is_err(), "{p:?}");
        assert!(
            matches!(
                e.execute_set_params(gov(), p),
                Err(EpochsError::InvalidArgument(_))
            ),
            "{p:?}"
        );
        assert_eq!(*mem.borrow(), snapshot);
        assert!(
            matches!(
                Epochs::init(VectorMemory::default(), &init_args(Some(p.clone()))),
                Err(LoadError::InvalidArgument(_))
            ),
            "{p:?}"
        );
    }
    // Edge cases that are fine: one checkpoint per epoch, one block per epoch.
    for (l, i) in [(43_200, 43_200), (1, 1), (120, 30)] {
        let p = Params {
            epoch_length_blocks: l,
            checkpoint_interval_blocks: i,
            ..base.clone()
        };
        assert!(e.validate_set_params(&p).is_ok());
        assert!(Epochs::init(VectorMemory::default(), &init_args(Some(p))).is_ok());
    }
}

/// Once a checkpoint is accepted the epoch length numbers the chain's epochs: it no longer
/// changes, and a new interval must divide the tip's height.
#[test]
fn the_epoch_length_is_fixed_once_the_chain_started() {
    let (mut e, _) = fresh();
    let ks = keys(13, 1);
    let set = set_of(0, &ks);
    e.cache_validator_set(0, set.clone()).unwrap();
    let c = checkpoint(450, ZERO_HASH, &set, Hash([1; 32]));
    e.submit_checkpoint(&sign(&c, &ks[..9]), T0).unwrap();
    let mut p = e.config().params.clone();
    p.epoch_length_blocks = 21_600;
    assert!(e.validate_set_params(&p).is_err());
    assert!(matches!(
        e.execute_set_params(gov(), &p),
        Err(EpochsError::InvalidArgument(_))
    ));
    p.epoch_length_blocks = 43_200;
    // 900 does not divide the tip 450: the next checkpoint could never be placed.
    p.checkpoint_interval_blocks = 900;
    assert!(e.validate_set_params(&p).is_err());
    p.checkpoint_interval_blocks = 150;
    e.execute_set_params(gov(), &p).unwrap();
    let c2 = checkpoint(600, c.hash(), &set, Hash([2; 32]));
    e.submit_checkpoint(&sign(&c2, &ks[..9]), T0).unwrap();
    assert_eq!(e.config().params.epoch_length_blocks, 43_200);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Whatever the batch sizes and however often the ledger fails or confirms twice, an epoch
    /// never pays more than r(n), no node is paid twice, and once everything is confirmed the
    /// payouts are exactly the tokenomics round-down split.
    #[test]
    fn payouts_never_exceed_the_budget(
        n in 1u64..80,
        per_chunk in 1usize..40,
        batch in 1usize..50,
        fails in proptest::collection::vec(0u8..4, 1..64),
    ) {
        let (mut e, _) = fresh();
        let (header, recs) = load_epoch0_data(&mut e, n, per_chunk);
        let now = e.checkpoint(e.closing_height(0).unwrap()).unwrap().accepted_at + DAY;
        let s = e.close_epoch(0, now).unwrap();
        let mut i = 0usize;
        let mut block = 0u64;
        let mut minted = std::collections::BTreeMap::new();
        for _round in 0..10_000 {
            let todo = e.plan_payouts(now, batch);
            // A batch of records with no reward plans nothing: go on until the epoch is paid.
            if todo.is_empty() && e.epoch_summary(0).unwrap().status == EpochStatus::Paid { break; }
            for p in todo {
                let f = fails[i % fails.len()];
                i += 1;
                match f {
                    0 if p.attempts < 3 => { e.record_mint(0, &p.node, &MintOutcome::Retry("x".into())).unwrap(); }
                    _ => {
                        block += 1;
                        // the ledger deduplicates: one block per (memo, created_at_time)
                        let b = *minted.entry(p.node).or_insert(block);
                        e.record_mint(0, &p.node, &MintOutcome::Minted(b)).unwrap();
                        if f == 3 {
                            e.record_mint(0, &p.node, &MintOutcome::Minted(b)).unwrap();
                        }
                    }
                }
                let sum = e.epoch_summary(0).unwrap();
                prop_assert!(sum.paid_e8s <= s.budget_e8s);
                prop_assert!(e.total_emitted() <= s.budget_e8s);
            }
        }
        let params = e.config().params.clone();
        let weights: Vec<u64> = recs.iter().map(|r| weight_of(r, header.epoch_blocks, &params)).collect();
        let expected = split_by_weight(s.budget_e8s, &weights, SplitRounding::Down);
        let mut total = 0;
        for (r, want) in recs.iter().zip(&expected) {
            let got = e.payout(0, &r.node).map(|p| p.amount_e8s).unwrap_or(0);
            prop_assert_eq!(got, *want);
            total += got;
        }
        prop_assert_eq!(e.total_emitted(), total);
        prop_assert_eq!(e.epoch_summary(0).unwrap().status, EpochStatus::Paid);
    }
}

#[test]
fn config_cell_layout_is_emce_version_then_candid_config() {
    use emc_epochs::storage::{Stores, LAYOUT_VERSION};
    let (e, mem) = fresh();
    let config = e.config().clone();
    drop(e);
    let bytes = Stores::open(mem.clone()).config.get().clone();
    // The byte layout every deployed epochs canister has in memory 0.
    assert_eq!(&bytes[..8], b"EMCE\x01\x00\x00\x00");
    assert_eq!(LAYOUT_VERSION, 1);
    let mut hand = b"EMCE".to_vec();
    hand.extend_from_slice(&1u32.to_le_bytes());
    hand.extend_from_slice(&candid::encode_one(&config).unwrap());
    assert_eq!(hand, bytes);
    assert_eq!(Epochs::load(mem.clone()).unwrap().config(), &config);

    // A newer layout is refused (no downgrades), and refusing changes nothing.
    let mut newer = bytes.clone();
    newer[4..8].copy_from_slice(&(LAYOUT_VERSION + 1).to_le_bytes());
    Stores::open(mem.clone()).config.set(newer);
    assert_eq!(
        Epochs::load(mem.clone()).err(),
        Some(LoadError::Downgrade {
            stored: LAYOUT_VERSION + 1,
            supported: LAYOUT_VERSION
        })
    );
    // Another canister's magic is a storage error; an empty or short cell holds no canister.
    let mut foreign = bytes.clone();
    foreign[..4].copy_from_slice(b"EMCL");
    Stores::open(mem.clone()).config.set(foreign);
    assert!(matches!(
        Epochs::load(mem.clone()),
        Err(LoadError::Storage(m)) if m.contains("bad magic")
    ));
    for short in [&b""[..], b"EMCE\x01"] {
        Stores::open(mem.clone()).config.set(short.to_vec());
        assert_eq!(
            Epochs::load(mem.clone()).err(),
            Some(LoadError::NotInitialized)
        );
    }
    // Undecodable candid after a good header is a storage error, not a panic.
    let mut garbage = bytes[..8].to_vec();
    garbage.extend_from_slice(&[0xde, 0xad]);
    Stores::open(mem.clone()).config.set(garbage);
    assert!(matches!(Epochs::load(mem), Err(LoadError::Storage(_))));
}

/// Issue #21, finding 8: the penalty of a record is its agreed outage minutes (whole periods of
/// continuous absence, as the validators counted them), not the blocks it missed; a compute
/// node's weight shrinks by the share of the epoch's minutes in fined outages (no compute
/// reward for those hours).
#[test]
fn penalties_follow_agreed_outages_and_compute_weight_shrinks_with_them() {
    let params = Params::default();
    let blocks = 43_200; // 1,440 minutes
    let compute = NodeRecord {
        node: NodeId([3; 32]),
        owner: owner(3),
        role: Role::Compute,
        stake_e8s: 2_000 * 100_000_000,
        active_blocks: blocks,
        poc_e: 20_000,
        multiplier: 10_000,
        penalty_minutes: 0,
    };
    let full = weight_of(&compute, blocks, &params);
    assert!(full > 0);
    let out = NodeRecord {
        penalty_minutes: 360,
        ..compute.clone()
    };
    assert_eq!(weight_of(&out, blocks, &params), full * 3 / 4);
    assert_eq!(penalty_minutes(&out), 360);
    // A validator that missed a quarter of the blocks in short gaps (never a whole hour): paid
    // (above the share) and not fined.
    let v = NodeRecord {
        role: Role::Validator,
        stake_e8s: 1_000_000 * 100_000_000,
        active_blocks: blocks * 3 / 4,
        poc_e: 0,
        multiplier: 0,
        ..compute
    };
    assert!(weight_of(&v, blocks, &params) > 0);
    assert_eq!(penalty_minutes(&v), 0);
}

/// The market's two doors: the receipts root of a final checkpoint only, and trading-reward
/// mints only for the market governance named, within the 378M pool.
#[test]
fn final_receipts_roots_and_trading_mints_for_the_market() {
    let (mut e, mem) = fresh();
    let cps = epoch0(&mut e, Hash([7; 32]));
    let first = &cps[0].checkpoint;
    let window = Params::default().challenge_window_ns;
    assert_eq!(e.final_receipts_root(450 + 1, T0), ReceiptsRoot::Unknown);
    assert_eq!(
        e.final_receipts_root(450, T0),
        ReceiptsRoot::NotFinal {
            final_at: T0 + window
        }
    );
    assert_eq!(
        e.final_receipts_root(450, T0 + window),
        ReceiptsRoot::Final(first.receipts_root)
    );
    let market = candid::Principal::from_slice(&[5; 10]);
    let m = TradingMint {
        to: icrc_ledger_types::icrc1::account::Account {
            owner: market,
            subaccount: None,
        },
        amount_e8s: 10,
        created_at_time: T0,
        memo: serde_bytes::ByteBuf::from(vec![1; 16]),
    };
    // No market named yet, then only governance names it.
    assert_eq!(
        e.check_trading_mint(market, &m, 0),
        Err(EpochsError::NotMarket)
    );
    assert_eq!(
        e.execute_set_market(market, Some(market)),
        Err(EpochsError::NotGovernance)
    );
    assert!(e.validate_set_market(&Some(market)).is_ok());
    e.execute_set_market(gov(), Some(market)).unwrap();
    assert_eq!(e.check_trading_mint(market, &m, 0), Ok(()));
    assert_eq!(
        e.check_trading_mint(gov(), &m, 0),
        Err(EpochsError::NotMarket)
    );
    let zero = TradingMint {
        amount_e8s: 0,
        ..m.clone()
    };
    assert!(matches!(
        e.check_trading_mint(market, &zero, 0),
        Err(EpochsError::InvalidArgument(_))
    ));
    let long_memo = TradingMint {
        memo: serde_bytes::ByteBuf::from(vec![1; 33]),
        ..m.clone()
    };
    assert!(matches!(
        e.check_trading_mint(market, &long_memo, 0),
        Err(EpochsError::InvalidArgument(_))
    ));
    // The pool counts confirmed mints and those in flight.
    let pool = emc_tokenomics::TRADING_REWARD_POOL_CAP;
    assert_eq!(
        e.check_trading_mint(market, &m, pool - 9),
        Err(EpochsError::PoolExhausted)
    );
    e.record_trading_mint(pool - 10);
    assert_eq!(e.check_trading_mint(market, &m, 0), Ok(()));
    e.record_trading_mint(10);
    assert_eq!(
        e.check_trading_mint(market, &m, 0),
        Err(EpochsError::PoolExhausted)
    );
    assert_eq!(e.stats().trading_minted_e8s, pool);
    // Both survive an upgrade.
    drop(e);
    let e = Epochs::load(mem).unwrap();
    assert_eq!(e.config().market, Some(market));
    assert_eq!(e.trading_minted(), pool);
}

/// The DAO canister's mints (developer grants, airdrop): only the canister governance names,
/// each pool capped on its own counting mints in flight, totals kept across an upgrade; the
/// governance principal itself changes only through governance.
#[test]
fn dao_mints_are_capped_per_pool_and_governance_hands_over() {
    let (mut e, mem) = fresh();
    let dao = candid::Principal::from_slice(&[6; 10]);
    let m = |pool, amount_e8s| DaoMint {
        pool,
        to: icrc_ledger_types::icrc1::account::Account {
            owner: dao,
            subaccount: None,
        },
        amount_e8s,
        created_at_time: 1,
        memo: serde_bytes::ByteBuf::from(vec![2; 16]),
    };
    let g = m(DaoPool::DeveloperGrants, 10);
    assert_eq!(e.check_dao_mint(dao, &g, 0), Err(EpochsError::NotDao));
    assert_eq!(
        e.execute_set_dao(dao, Some(dao)),
        Err(EpochsError::NotGovernance)
    );
    assert!(e
        .validate_set_dao(&Some(candid::Principal::anonymous()))
        .is_err());
    e.execute_set_dao(gov(), Some(dao)).unwrap();
    assert_eq!(e.check_dao_mint(dao, &g, 0), Ok(()));
    assert_eq!(e.check_dao_mint(gov(), &g, 0), Err(EpochsError::NotDao));
    for (pool, cap) in [
        (
            DaoPool::DeveloperGrants,
            emc_tokenomics::DEVELOPER_REWARD_POOL_CAP,
        ),
        (DaoPool::Airdrop, emc_tokenomics::AIRDROP_POOL_CAP),
    ] {
        assert_eq!(pool.cap_e8s(), cap);
        assert_eq!(
            e.check_dao_mint(dao, &m(pool, 10), cap - 9),
            Err(EpochsError::DaoPoolExhausted(pool))
        );
        e.record_dao_mint(pool, cap - 10);
        assert_eq!(e.check_dao_mint(dao, &m(pool, 10), 0), Ok(()));
        e.record_dao_mint(pool, 10);
        assert_eq!(
            e.check_dao_mint(dao, &m(pool, 1), 0),
            Err(EpochsError::DaoPoolExhausted(pool))
        );
    }
    let s = e.stats();
    assert_eq!(
        (
            s.grants_minted_e8s,
            s.airdrop_minted_e8s,
            s.trading_minted_e8s
        ),
        (
            emc_tokenomics::DEVELOPER_REWARD_POOL_CAP,
            emc_tokenomics::AIRDROP_POOL_CAP,
            0
        )
    );
    // governance hands over: the old one is refused from then on
    let next = candid::Principal::from_slice(&[7; 10]);
    assert!(e
        .validate_set_governance(&candid::Principal::anonymous())
        .is_err());
    assert_eq!(
        e.execute_set_governance(next, &next),
        Err(EpochsError::NotGovernance)
    );
    e.execute_set_governance(gov(), &next).unwrap();
    assert_eq!(
        e.execute_set_dao(gov(), None),
        Err(EpochsError::NotGovernance)
    );
    drop(e);
    let e = Epochs::load(mem).unwrap();
    assert_eq!(e.config().governance, next);
    assert_eq!(e.config().dao, Some(dao));
    assert_eq!(
        e.dao_minted(DaoPool::Airdrop),
        emc_tokenomics::AIRDROP_POOL_CAP
    );
}
