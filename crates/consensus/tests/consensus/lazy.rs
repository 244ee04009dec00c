//! Lazy and batch verification of votes: a vote counts only once its signature verified; a
//! forged vote can delay a quorum but never make one, nor keep a member's real vote out; a
//! copy of a vote is verified once.

use crate::common::*;
use emc_consensus::{Message, SignedVote, VoteKind};

fn forged(i: usize, kind: VoteKind, height: u64, digest: emc_types::Hash) -> Message {
    // Signed by node 3's key but claiming node i.
    let mut v: SignedVote = vote(3, kind, height, 0, digest);
    v.signer = Harness::id(i);
    match kind {
        VoteKind::Commit => Message::Commit(v),
        _ => Message::Prepare(v),
    }
}

fn has(out: &[String], s: &str) -> bool {
    out.iter().any(|o| o == s)
}

#[test]
fn a_forged_prepare_never_completes_a_quorum() {
    let mut h = Harness::new(0);
    let b = h.block(1, 10);
    h.deliver(1, &proposal(1, 0, &b)); // own prepare: 1 verified
    let out = h.deliver(1, &forged(2, VoteKind::Prepare, 1, b.hash()));
    assert!(!has(&out, "bcast:commit:r0"), "{out:?}");
    // With node 1's real prepare, 1 verified + 2 unverified reach the quorum: the batch
    // fails, each is checked alone, the forgery is dropped and no commit is sent.
    let out = h.deliver(1, &prepare(1, 1, 0, b.hash()));
    assert!(!has(&out, "bcast:commit:r0"), "{out:?}");
    assert_eq!(h.node.metrics().bad_signature, 1);
    // Node 2's real prepare completes the quorum.
    let out = h.deliver(2, &prepare(2, 1, 0, b.hash()));
    assert!(has(&out, "bcast:commit:r0"), "{out:?}");
}

#[test]
fn a_forgery_cannot_keep_a_members_real_vote_out() {
    let mut h = Harness::new(0);
    let b = h.block(1, 10);
    // Before the proposal: the forgery in node 2's name waits unverified...
    h.deliver(1, &forged(2, VoteKind::Prepare, 1, b.hash()));
    // ...and node 2's real prepare, another vote under the same name, is verified at once.
    h.deliver(2, &prepare(2, 1, 0, b.hash()));
    assert_eq!(h.node.metrics().signatures_verified, 1);
    h.deliver(1, &proposal(1, 0, &b));
    let out = h.deliver(1, &prepare(1, 1, 0, b.hash()));
    assert!(has(&out, "bcast:commit:r0"), "{out:?}");
}

#[test]
fn forged_commits_never_decide_and_real_ones_do() {
    let mut h = Harness::new(0);
    let b = h.block(1, 10);
    h.deliver(1, &proposal(1, 0, &b));
    h.deliver(1, &prepare(1, 1, 0, b.hash()));
    h.deliver(2, &prepare(2, 1, 0, b.hash())); // own commit: 1 verified
    let out = h.deliver(3, &forged(1, VoteKind::Commit, 1, b.hash()));
    assert!(!has(&out, "commit:h1"), "{out:?}");
    let out = h.deliver(3, &forged(2, VoteKind::Commit, 1, b.hash()));
    assert!(!has(&out, "commit:h1"), "{out:?}");
    assert_eq!(h.node.metrics().bad_signature, 2);
    h.deliver(1, &commit(1, 1, 0, b.hash()));
    let out = h.deliver(2, &commit(2, 1, 0, b.hash()));
    assert!(has(&out, "commit:h1"), "{out:?}");
    assert_eq!(h.node.height(), 2);
}

#[test]
fn copies_are_verified_once_and_surplus_prepares_not_at_all() {
    let mut h = Harness::new(0);
    let b = h.block(1, 10);
    h.deliver(1, &proposal(1, 0, &b));
    let p1 = prepare(1, 1, 0, b.hash());
    h.deliver(1, &p1);
    h.deliver(2, &p1); // relayed copy, still unverified: not verified
    assert_eq!(h.node.metrics().signatures_verified, 1); // the proposal
    let out = h.deliver(2, &prepare(2, 1, 0, b.hash()));
    assert!(has(&out, "bcast:commit:r0"), "{out:?}");
    // One batch of two prepares.
    assert_eq!(h.node.metrics().signatures_verified, 3);
    h.deliver(1, &p1); // a copy of a counted vote
    h.deliver(3, &prepare(3, 1, 0, b.hash())); // after our commit: not needed
    let m = h.node.metrics();
    assert_eq!(m.signatures_verified, 3);
    assert_eq!((m.votes_not_needed, m.duplicate), (1, 2));
    // The commits, then a late commit, kept unverified until this node proposes.
    h.deliver(1, &commit(1, 1, 0, b.hash()));
    h.deliver(2, &commit(2, 1, 0, b.hash()));
    assert_eq!(h.node.height(), 2);
    let before = h.node.metrics().signatures_verified;
    h.deliver(3, &commit(3, 1, 0, b.hash()));
    assert_eq!(h.node.metrics().signatures_verified, before);
    assert_eq!(h.node.metrics().late_seals, 0);
}

#[test]
fn late_seals_are_verified_when_proposing() {
    use emc_consensus::{Input, TimerKind, WalRecord};
    use emc_types::StateBit;
    // Node 2 proposes height 2 in round 0.
    let mut h = Harness::new(2);
    let b = h.block(1, 10);
    h.deliver(1, &proposal(1, 0, &b));
    h.deliver(1, &prepare(1, 1, 0, b.hash()));
    h.deliver(3, &prepare(3, 1, 0, b.hash()));
    h.deliver(1, &commit(1, 1, 0, b.hash()));
    let out = h.deliver(3, &commit(3, 1, 0, b.hash()));
    assert!(has(&out, "commit:h1"), "{out:?}");
    // A forgery in node 0's name waits unverified; node 0's real late seal, another vote
    // under the same name, is verified at once.
    h.deliver(3, &forged(0, VoteKind::Commit, 1, b.hash()));
    h.deliver(0, &commit(0, 1, 0, b.hash()));
    assert_eq!(h.node.metrics().bad_signature, 0, "{:?}", h.node.metrics());
    assert_eq!(h.node.metrics().late_seals, 1, "{:?}", h.node.metrics());
    let before = h.node.metrics().signatures_verified;
    h.now += 200 * MS;
    let out = h.timeout(0, TimerKind::Propose);
    assert!(has(&out, "bcast:proposal:r0"), "{out:?}");
    // The forgery was dropped unverified once the real seal was counted; the real seal is in
    // the parent commit, with nothing verified again.
    assert_eq!(h.node.metrics().bad_signature, 0);
    assert_eq!(h.node.metrics().signatures_verified, before);
    let seals = h
        .log
        .iter()
        .rev()
        .find_map(|r| match r {
            WalRecord::Sent(Message::Proposal { block, .. }) => {
                block.bits.iter().find_map(|bit| match bit {
                    StateBit::ParentCommit(pc) => Some(pc.seals.len()),
                    _ => None,
                })
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(seals, 4);
    let _ = Input::Start;
}

#[test]
fn a_forged_late_seal_is_dropped_when_the_proposer_verifies_it() {
    use emc_consensus::TimerKind;
    let mut h = Harness::new(2);
    let b = h.block(1, 10);
    h.deliver(1, &proposal(1, 0, &b));
    h.deliver(1, &prepare(1, 1, 0, b.hash()));
    h.deliver(3, &prepare(3, 1, 0, b.hash()));
    h.deliver(1, &commit(1, 1, 0, b.hash()));
    h.deliver(3, &commit(3, 1, 0, b.hash()));
    h.deliver(3, &forged(0, VoteKind::Commit, 1, b.hash()));
    assert_eq!(h.node.metrics().bad_signature, 0);
    h.now += 200 * MS;
    let out = h.timeout(0, TimerKind::Propose);
    assert!(has(&out, "bcast:proposal:r0"), "{out:?}");
    assert_eq!(h.node.metrics().bad_signature, 1);
    assert_eq!(h.node.metrics().late_seals, 0);
}
