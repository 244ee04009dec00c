//! Table-driven tests of single steps: for each protocol rule, a setup, one input, and the
//! exact effects expected (summarized as short strings, see `common::summarize`).

use crate::common::{self, *};
use emc_consensus::{Ed25519Verifier, Input, Message, Metrics, Node, Signer, TimerKind, VoteKind};
use emc_types::{
    Block, Checkpoint, CheckpointSignature, Hash, SignedCheckpoint, StateBit, ValidatorSet,
};

struct Case {
    name: &'static str,
    /// Runs the setup and the step under test; returns the step's summarized effects and
    /// the node's metrics afterwards.
    run: fn() -> (Vec<String>, Metrics),
    expect: &'static [&'static str],
    /// Checks on the metrics after the step.
    metrics: fn(&Metrics) -> bool,
}

fn any(_: &Metrics) -> bool {
    true
}

/// Node 0 decides height 1 (block by node 1, the round-0 proposer of height 1).
fn decide_h1(h: &mut Harness) -> Block {
    let b = h.block(1, 10);
    h.deliver(1, &proposal(1, 0, &b));
    h.deliver(1, &prepare(1, 1, 0, b.hash()));
    h.deliver(2, &prepare(2, 1, 0, b.hash()));
    h.deliver(1, &commit(1, 1, 0, b.hash()));
    let out = h.deliver(2, &commit(2, 1, 0, b.hash()));
    assert!(out.contains(&"commit:h1".to_string()), "{out:?}");
    b
}

/// Node 0 decides heights 1 and 2 (block 2 by node 2, the round-0 proposer of height 2).
fn decide_h2(h: &mut Harness) {
    decide_h1(h);
    let b = h.block(2, 20);
    h.deliver(2, &proposal(2, 0, &b));
    h.deliver(1, &prepare(1, 2, 0, b.hash()));
    h.deliver(2, &prepare(2, 2, 0, b.hash()));
    h.deliver(1, &commit(1, 2, 0, b.hash()));
    let out = h.deliver(2, &commit(2, 2, 0, b.hash()));
    assert!(out.contains(&"commit:h2".to_string()), "{out:?}");
}

/// Node 0 decides `b` (proposed by `proposer` in round 0, prepared and committed by nodes 1
/// and 2); returns the effects of the deciding step.
fn decide(h: &mut Harness, proposer: usize, b: &Block) -> Vec<String> {
    let height = b.header.height;
    h.deliver(proposer, &proposal(proposer, 0, b));
    h.deliver(1, &prepare(1, height, 0, b.hash()));
    h.deliver(2, &prepare(2, height, 0, b.hash()));
    h.deliver(1, &commit(1, height, 0, b.hash()));
    h.deliver(2, &commit(2, height, 0, b.hash()))
}

/// `b` with other bits.
fn with_bits(b: &Block, bits: Vec<StateBit>) -> Block {
    let hd = &b.header;
    Block::new(
        hd.height,
        hd.parent_hash,
        hd.proposer,
        hd.timestamp_ns,
        bits,
    )
}

/// A certificate of `cp` signed by `signers`.
fn checkpoint_cert(cp: &Checkpoint, signers: &[usize]) -> StateBit {
    StateBit::CheckpointCert(SignedCheckpoint {
        checkpoint: cp.clone(),
        signatures: signers
            .iter()
            .map(|i| CheckpointSignature {
                signer: key(*i).node_id(),
                signature: key(*i).sign(&cp.signing_bytes()),
            })
            .collect(),
    })
}

fn sync_request(from_height: u64) -> Message {
    Message::SyncRequest { from_height }
}

fn done(h: Harness, out: Vec<String>) -> (Vec<String>, Metrics) {
    (out, h.node.metrics().clone())
}

const CASES: &[Case] = &[
    Case {
        name: "start, not the proposer: arm the round timer",
        run: || {
            let mut n = Node::new(config(), TestApp, key(0), Ed25519Verifier::new()).unwrap();
            (
                common::summarize(&n.step(Input::Start, 0)),
                n.metrics().clone(),
            )
        },
        expect: &["timer:round:h1:r0"],
        metrics: any,
    },
    Case {
        name: "start, proposer of round 0: round timer and propose timer",
        run: || {
            let mut n = Node::new(config(), TestApp, key(1), Ed25519Verifier::new()).unwrap();
            (
                common::summarize(&n.step(Input::Start, 0)),
                n.metrics().clone(),
            )
        },
        expect: &["timer:round:h1:r0", "timer:propose:h1:r0"],
        metrics: any,
    },
    Case {
        name: "propose timer: propose, then prepare own proposal (persist before each send)",
        run: || {
            let mut h = Harness::new(1);
            let out = h.timeout(0, TimerKind::Propose);
            done(h, out)
        },
        expect: &[
            "persist:proposal:r0",
            "bcast:proposal:r0",
            "persist:prepare:r0",
            "bcast:prepare:r0",
        ],
        metrics: |m| m.proposals_made == 1,
    },
    Case {
        name: "valid proposal from the round's proposer: prepare",
        run: || {
            let mut h = Harness::new(0);
            let b = h.block(1, 10);
            let out = h.deliver(1, &proposal(1, 0, &b));
            done(h, out)
        },
        expect: &["persist:prepare:r0", "bcast:prepare:r0"],
        metrics: any,
    },
    Case {
        name: "proposal signed by a validator that is not the round's proposer: dropped",
        run: || {
            let mut h = Harness::new(0);
            let b = h.block(2, 10);
            let out = h.deliver(2, &proposal(2, 0, &b));
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.invalid == 1,
    },
    Case {
        name: "proposal with a bad signature: dropped",
        run: || {
            let mut h = Harness::new(0);
            let b = h.block(1, 10);
            let mut p = proposal(1, 0, &b);
            if let Message::Proposal { proposal, .. } = &mut p {
                proposal.signature.0[3] ^= 1;
            }
            let out = h.deliver(1, &p);
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.bad_signature == 1,
    },
    Case {
        name: "proposal whose payload the application rejects: dropped",
        run: || {
            let mut h = Harness::new(0);
            let b = h.block(1, MAX_E + 1);
            let out = h.deliver(1, &proposal(1, 0, &b));
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.invalid == 1,
    },
    Case {
        name: "proposal on the wrong parent: dropped",
        run: || {
            let mut h = Harness::new(0);
            let b = Block::new(1, Hash([7; 32]), Harness::id(1), 5, vec![poc(1)]);
            let out = h.deliver(1, &proposal(1, 0, &b));
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.invalid == 1,
    },
    Case {
        name: "proposal above height 1 without its parent's commit: dropped",
        run: || {
            let mut h = Harness::new(0);
            decide_h1(&mut h);
            let c = h.node.chain().clone();
            let b = Block::new(
                2,
                c.last_hash,
                Harness::id(2),
                c.last_timestamp_ns + 1,
                vec![poc(1)],
            );
            let out = h.deliver(2, &proposal(2, 0, &b));
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.invalid == 1,
    },
    Case {
        name: "parent commit below a quorum, or sealing another block: dropped",
        run: || {
            let mut h = Harness::new(0);
            decide_h1(&mut h);
            let c = h.node.chain().clone();
            let mut out = Vec::new();
            for bad in [
                // Two seals of three needed.
                match common::parent_commit(1, 0, c.last_hash) {
                    StateBit::ParentCommit(mut pc) => {
                        pc.seals.truncate(2);
                        StateBit::ParentCommit(pc)
                    }
                    other => other,
                },
                // A quorum of seals, over another block.
                common::parent_commit(1, 0, Hash([9; 32])),
            ] {
                let b = Block::new(
                    2,
                    c.last_hash,
                    Harness::id(2),
                    c.last_timestamp_ns + 1,
                    vec![bad, poc(1)],
                );
                out.extend(h.deliver(2, &proposal(2, 0, &b)));
            }
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.invalid == 2,
    },
    Case {
        name: "a commit seal arriving after the decision is kept (unverified) for the parent commit, once",
        run: || {
            let mut h = Harness::new(0);
            let b1 = decide_h1(&mut h);
            let mut out = h.deliver(3, &commit(3, 1, 0, b1.hash()));
            out.extend(h.deliver(3, &commit(3, 1, 0, b1.hash())));
            // A seal for another block at that height is not about the decided block.
            out.extend(h.deliver(3, &commit(3, 1, 0, Hash([9; 32]))));
            done(h, out)
        },
        expect: &[],
        // Verified, and counted as a late seal, when this node builds a parent commit
        // (`lazy::late_seals_are_verified_when_proposing`).
        metrics: |m| m.late_seals == 0 && m.duplicate == 1 && m.stale == 1 && m.bad_signature == 0,
    },
    Case {
        name: "proposal timestamped far in the future (u64::MAX - 1): dropped",
        run: || {
            // Issue #21, finding 9: accepted, it would freeze block time for good (every later
            // block must not be earlier).
            let mut h = Harness::new(0);
            let b = Block::new(
                1,
                h.node.chain().last_hash,
                Harness::id(1),
                u64::MAX - 1,
                vec![poc(1)],
            );
            let out = h.deliver(1, &proposal(1, 0, &b));
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.invalid == 1,
    },
    Case {
        name: "proposal timestamped just above now plus the allowed drift: dropped",
        run: || {
            let mut h = Harness::new(0);
            let ts = h.now + config().max_future_drift_ns + 1;
            let b = Block::new(
                1,
                h.node.chain().last_hash,
                Harness::id(1),
                ts,
                vec![poc(1)],
            );
            let out = h.deliver(1, &proposal(1, 0, &b));
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.invalid == 1,
    },
    Case {
        name: "proposal timestamped at now plus the allowed drift (a fast clock): prepare",
        run: || {
            let mut h = Harness::new(0);
            let ts = h.now + config().max_future_drift_ns;
            let b = Block::new(
                1,
                h.node.chain().last_hash,
                Harness::id(1),
                ts,
                vec![poc(1)],
            );
            let out = h.deliver(1, &proposal(1, 0, &b));
            done(h, out)
        },
        expect: &["persist:prepare:r0", "bcast:prepare:r0"],
        metrics: any,
    },
    Case {
        name: "proposal timestamped before its parent: dropped",
        run: || {
            let mut h = Harness::new(0);
            decide_h1(&mut h);
            let c = h.node.chain().clone();
            let b = Block::new(
                2,
                c.last_hash,
                Harness::id(2),
                c.last_timestamp_ns - 1,
                vec![poc(2)],
            );
            let out = h.deliver(2, &proposal(2, 0, &b));
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.invalid == 1,
    },
    Case {
        name: "the same proposal twice: the second is a duplicate",
        run: || {
            let mut h = Harness::new(0);
            let b = h.block(1, 10);
            h.deliver(1, &proposal(1, 0, &b));
            let out = h.deliver(1, &proposal(1, 0, &b));
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.duplicate == 1,
    },
    Case {
        name: "a second, different proposal in the round (equivocating proposer): ignored",
        run: || {
            let mut h = Harness::new(0);
            let b = h.block(1, 10);
            let b2 = h.block(1, 11);
            h.deliver(1, &proposal(1, 0, &b));
            let out = h.deliver(1, &proposal(1, 0, &b2));
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.equivocations_seen == 1,
    },
    Case {
        name: "quorum of prepares (2F+1 with our own): prepared, persist, commit",
        run: || {
            let mut h = Harness::new(0);
            let b = h.block(1, 10);
            h.deliver(1, &proposal(1, 0, &b));
            assert!(h.deliver(1, &prepare(1, 1, 0, b.hash())).is_empty());
            let out = h.deliver(2, &prepare(2, 1, 0, b.hash()));
            done(h, out)
        },
        expect: &[
            "persist:prepared:r0",
            "persist:commit:r0",
            "bcast:commit:r0",
        ],
        metrics: any,
    },
    Case {
        name: "prepares before the proposal count once the proposal arrives",
        run: || {
            let mut h = Harness::new(0);
            let b = h.block(1, 10);
            for i in 1..4 {
                assert!(h.deliver(i, &prepare(i, 1, 0, b.hash())).is_empty());
            }
            let out = h.deliver(1, &proposal(1, 0, &b));
            done(h, out)
        },
        expect: &[
            "persist:prepare:r0",
            "bcast:prepare:r0",
            "persist:prepared:r0",
            "persist:commit:r0",
            "bcast:commit:r0",
        ],
        metrics: any,
    },
    Case {
        name: "prepares for another digest do not make a quorum",
        run: || {
            let mut h = Harness::new(0);
            let b = h.block(1, 10);
            h.deliver(1, &proposal(1, 0, &b));
            h.deliver(1, &prepare(1, 1, 0, Hash([1; 32])));
            let out = h.deliver(2, &prepare(2, 1, 0, Hash([1; 32])));
            done(h, out)
        },
        expect: &[],
        metrics: any,
    },
    Case {
        name: "quorum of commits: persist, commit the block, start the next height",
        run: || {
            let mut h = Harness::new(0);
            let b = h.block(1, 10);
            h.deliver(1, &proposal(1, 0, &b));
            h.deliver(1, &prepare(1, 1, 0, b.hash()));
            h.deliver(2, &prepare(2, 1, 0, b.hash()));
            h.deliver(1, &commit(1, 1, 0, b.hash()));
            let out = h.deliver(2, &commit(2, 1, 0, b.hash()));
            done(h, out)
        },
        expect: &["persist:committed:h1", "commit:h1", "timer:round:h2:r0"],
        metrics: |m| m.blocks_committed == 1,
    },
    Case {
        name: "a commit with a bad seal: kept unverified, counts for nothing (dropped when a quorum could form: lazy.rs)",
        run: || {
            let mut h = Harness::new(0);
            let mut c = commit(1, 1, 0, Hash([1; 32]));
            if let Message::Commit(v) = &mut c {
                v.signature.0[60] ^= 0x10;
            }
            let out = h.deliver(1, &c);
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.bad_signature == 0 && m.signatures_verified == 0,
    },
    Case {
        name: "round timeout: next round, round change (persisted first)",
        run: || {
            let mut h = Harness::new(0);
            let out = h.timeout(0, TimerKind::Round);
            done(h, out)
        },
        expect: &[
            "timer:round:h1:r1",
            "persist:round-change:r1",
            "bcast:round-change:r1",
        ],
        metrics: |m| m.round_changes == 1,
    },
    Case {
        name: "a stale timer is ignored",
        run: || {
            let mut h = Harness::new(0);
            let out = h.timeout(3, TimerKind::Round);
            done(h, out)
        },
        expect: &[],
        metrics: any,
    },
    Case {
        name: "F round changes for higher rounds: not enough to move",
        run: || {
            let mut h = Harness::new(0);
            let out = h.deliver(2, &round_change(2, 1, 2, None));
            done(h, out)
        },
        expect: &[],
        metrics: any,
    },
    Case {
        name: "F+1 round changes for higher rounds: jump to the lowest of them",
        run: || {
            let mut h = Harness::new(0);
            h.deliver(2, &round_change(2, 1, 2, None));
            let out = h.deliver(3, &round_change(3, 1, 3, None));
            done(h, out)
        },
        expect: &[
            "timer:round:h1:r2",
            "persist:round-change:r2",
            "bcast:round-change:r2",
        ],
        metrics: any,
    },
    Case {
        name: "quorum of round changes, nothing prepared, we propose round 1: fresh block",
        run: || {
            // Node 2 is the proposer of (height 1, round 1).
            let mut h = Harness::new(2);
            h.timeout(0, TimerKind::Round);
            h.deliver(0, &round_change(0, 1, 1, None));
            let out = h.deliver(1, &round_change(1, 1, 1, None));
            done(h, out)
        },
        expect: &[
            "persist:proposal:r1",
            "bcast:proposal:r1",
            "persist:prepare:r1",
            "bcast:prepare:r1",
        ],
        metrics: any,
    },
    Case {
        name: "quorum of round changes with a prepared certificate: re-propose that block",
        run: || {
            let mut h = Harness::new(2);
            h.timeout(0, TimerKind::Round);
            let b = h.block(1, 10);
            let c = cert(&b, 0, &[0, 1, 3]);
            h.deliver(0, &round_change(0, 1, 1, Some(&c)));
            let effects = {
                let m = round_change(1, 1, 1, None);
                let bytes = emc_consensus::codec::encode(&m);
                h.raw(Input::Message {
                    from: Harness::id(1),
                    bytes: &bytes,
                })
            };
            let mut out = summarize(&effects);
            let reproposed = effects.iter().any(|e| match e {
                emc_consensus::Effect::Persist(emc_consensus::WalRecord::Sent(
                    Message::Proposal { block, .. },
                )) => block.hash() == b.hash(),
                _ => false,
            });
            out.push(format!("reproposed-prepared:{reproposed}"));
            done(h, out)
        },
        expect: &[
            "persist:proposal:r1",
            "bcast:proposal:r1",
            "persist:prepare:r1",
            "bcast:prepare:r1",
            "reproposed-prepared:true",
        ],
        metrics: any,
    },
    Case {
        name: "a round-1 proposal without justification: dropped",
        run: || {
            let mut h = Harness::new(0);
            h.timeout(0, TimerKind::Round);
            let b = h.block(2, 10);
            let out = h.deliver(2, &proposal(2, 1, &b));
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.invalid == 1,
    },
    Case {
        name: "a justified round-1 proposal while in round 0: move to round 1 and prepare",
        run: || {
            let mut h = Harness::new(0);
            let b = h.block(2, 10);
            let rcs = (1..4).map(|i| signed_rc(i, 1, 1, None)).collect();
            let out = h.deliver(2, &proposal_with(2, 1, &b, rcs, vec![]));
            done(h, out)
        },
        expect: &[
            "timer:round:h1:r1",
            "persist:prepare:r1",
            "bcast:prepare:r1",
        ],
        metrics: any,
    },
    Case {
        name: "a round-1 proposal that ignores the highest prepared value: dropped",
        run: || {
            let mut h = Harness::new(0);
            let prepared = h.block(1, 10);
            let c = cert(&prepared, 0, &[0, 1, 3]);
            let fresh = h.block(2, 11);
            let rcs = vec![
                signed_rc(1, 1, 1, Some((0, prepared.hash()))),
                signed_rc(2, 1, 1, None),
                signed_rc(3, 1, 1, None),
            ];
            let out = h.deliver(2, &proposal_with(2, 1, &fresh, rcs, c.prepares));
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.invalid == 1,
    },
    Case {
        name: "a round-1 re-proposal of the highest prepared value with its certificate: prepare",
        run: || {
            let mut h = Harness::new(0);
            let prepared = h.block(1, 10);
            let c = cert(&prepared, 0, &[0, 1, 3]);
            let rcs = vec![
                signed_rc(1, 1, 1, Some((0, prepared.hash()))),
                signed_rc(2, 1, 1, None),
                signed_rc(3, 1, 1, None),
            ];
            let out = h.deliver(2, &proposal_with(2, 1, &prepared, rcs, c.prepares));
            done(h, out)
        },
        expect: &[
            "timer:round:h1:r1",
            "persist:prepare:r1",
            "bcast:prepare:r1",
        ],
        metrics: any,
    },
    Case {
        name: "a round change whose certificate lacks a quorum: dropped",
        run: || {
            let mut h = Harness::new(0);
            let b = h.block(1, 10);
            let c = cert(&b, 0, &[1, 3]);
            let out = h.deliver(3, &round_change(3, 1, 1, Some(&c)));
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.invalid == 1,
    },
    Case {
        name: "a round change carrying a prepared block with a tampered payload: dropped",
        run: || {
            // Regression (found by the simulation, Garbage mix): the digest covers the header
            // only, so the payload must be checked against the header's payload root.
            let mut h = Harness::new(0);
            let b = h.block(1, 10);
            let c = cert(&b, 0, &[0, 1, 3]);
            let mut m = round_change(3, 1, 1, Some(&c));
            if let Message::RoundChange {
                prepared_block: Some(pb),
                ..
            } = &mut m
            {
                pb.bits[0] = poc(MAX_E + 5);
            }
            let out = h.deliver(3, &m);
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.invalid == 1,
    },
    Case {
        name: "an observer (not in the set) accepts a proposal but does not vote",
        run: || {
            let mut h = Harness::new(5);
            let b = h.block(1, 10);
            let out = h.deliver(1, &proposal(1, 0, &b));
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.invalid == 0 && m.votes_refused == 0,
    },
    Case {
        name: "garbage bytes: dropped and counted",
        run: || {
            let mut h = Harness::new(0);
            let out = h.step(Input::Message {
                from: Harness::id(1),
                bytes: &[1, 2, 3, 4, 5],
            });
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.malformed == 1,
    },
    Case {
        name: "a vote signed by a key outside the validator set: dropped",
        run: || {
            let mut h = Harness::new(0);
            let out = h.deliver(1, &prepare(9, 1, 0, Hash([1; 32])));
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.not_validator == 1,
    },
    Case {
        name: "a peer still on a decided height gets the decided block",
        run: || {
            let mut h = Harness::new(0);
            decide_h1(&mut h);
            let out = h.deliver(3, &round_change(3, 1, 1, None));
            done(h, out)
        },
        expect: &["send:decided:h1"],
        metrics: |m| m.sync_served == 1,
    },
    Case {
        name: "a sync request from a member: the decided blocks from that height",
        run: || {
            let mut h = Harness::new(0);
            decide_h2(&mut h);
            let out = h.deliver(3, &sync_request(1));
            done(h, out)
        },
        expect: &["send:decided:h1", "send:decided:h2"],
        metrics: |m| m.sync_served == 2,
    },
    Case {
        name: "a sync request claiming a requester outside the validator sets: not served",
        run: || {
            // Issue #21, finding 9: a router can fake the relay origin of an (unsigned) sync
            // request; serving any claimed id amplifies traffic and grows the served map.
            let mut h = Harness::new(0);
            decide_h2(&mut h);
            let mut out = h.deliver(9, &sync_request(1));
            out.extend(h.deliver(10, &sync_request(2)));
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.sync_served == 0 && m.sync_refused == 2,
    },
    Case {
        name: "sync requests from one member in quick succession: one batch per interval",
        run: || {
            let mut h = Harness::new(0);
            decide_h2(&mut h);
            let mut out = h.deliver(3, &sync_request(1));
            // Another height right away: refused (the old rule only refused the same height).
            out.extend(h.deliver(3, &sync_request(2)));
            out.push("|".into());
            // After the interval: served again.
            h.now += config().sync_serve_interval_ns;
            out.extend(h.deliver(3, &sync_request(2)));
            done(h, out)
        },
        expect: &["send:decided:h1", "send:decided:h2", "|", "send:decided:h2"],
        metrics: |m| m.sync_served == 3 && m.sync_refused == 1,
    },
    Case {
        name: "a message two heights ahead from a node outside the sets: no sync request",
        run: || {
            let mut h = Harness::new(0);
            let out = h.deliver(9, &prepare(9, 3, 0, Hash([1; 32])));
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.future_dropped == 1,
    },
    Case {
        name: "a message two heights ahead: ask that peer for blocks",
        run: || {
            let mut h = Harness::new(0);
            let out = h.deliver(1, &prepare(1, 3, 0, Hash([1; 32])));
            done(h, out)
        },
        expect: &["send:sync-request:h1"],
        metrics: any,
    },
    Case {
        name: "a decided block with a quorum of seals: committed without voting",
        run: || {
            let mut a = Harness::new(0);
            decide_h1(&mut a);
            let cb = a
                .log
                .iter()
                .find_map(|r| match r {
                    emc_consensus::WalRecord::Committed { block, .. } => Some(block.clone()),
                    _ => None,
                })
                .unwrap();
            let mut h = Harness::new(3);
            let out = h.deliver(0, &Message::Decided(cb));
            done(h, out)
        },
        expect: &["persist:committed:h1", "commit:h1", "timer:round:h2:r0"],
        metrics: |m| m.blocks_synced == 1,
    },
    Case {
        name: "a proposal for the next height is kept and handled after the commit",
        run: || {
            let mut h = Harness::new(0);
            let b1 = h.block(1, 10);
            let pc = common::parent_commit(1, 0, b1.hash());
            let b2 = Block::new(2, b1.hash(), Harness::id(2), 50, vec![pc, poc(2)]);
            assert!(h.deliver(2, &proposal(2, 0, &b2)).is_empty());
            h.deliver(1, &proposal(1, 0, &b1));
            h.deliver(1, &prepare(1, 1, 0, b1.hash()));
            h.deliver(2, &prepare(2, 1, 0, b1.hash()));
            h.deliver(1, &commit(1, 1, 0, b1.hash()));
            let out = h.deliver(2, &commit(2, 1, 0, b1.hash()));
            done(h, out)
        },
        expect: &[
            "persist:committed:h1",
            "commit:h1",
            "timer:round:h2:r0",
            "persist:prepare:r0",
            "bcast:prepare:r0",
        ],
        metrics: |m| m.future_buffered == 1,
    },
    Case {
        name: "checkpoint height: sign and broadcast; ready at a quorum of signatures",
        run: || {
            let mut cfg = config();
            cfg.checkpoint_interval = 1;
            let mut h = Harness::with_config(0, cfg);
            decide_h1(&mut h);
            let cp = h.node.chain().last_checkpoint.clone().unwrap();
            let sig = |i: usize| Message::Checkpoint {
                height: 1,
                checkpoint_hash: cp.hash(),
                signature: CheckpointSignature {
                    signer: key(i).node_id(),
                    signature: key(i).sign(&cp.signing_bytes()),
                },
            };
            assert!(h.deliver(1, &sig(1)).is_empty());
            let out = h.deliver(2, &sig(2));
            done(h, out)
        },
        // A quorum makes a certificate for this node's next proposal; nothing is anchored
        // before the certificate is decided.
        expect: &[],
        metrics: |m| m.checkpoint_quorums == 1 && m.checkpoints_ready == 0,
    },
    Case {
        name: "a decided checkpoint certificate is ready to anchor; the next checkpoint links to it",
        run: || {
            let mut cfg = config();
            cfg.checkpoint_interval = 1;
            let mut h = Harness::with_config(0, cfg);
            decide_h1(&mut h);
            let cp1 = h.node.chain().last_checkpoint.clone().unwrap();
            let mut b = h.block(2, 20);
            b = with_bits(&b, vec![b.bits[0].clone(), checkpoint_cert(&cp1, &[0, 1, 2])]);
            let out = decide(&mut h, 2, &b);
            let chain = h.node.chain();
            assert_eq!(chain.certified.as_ref(), Some(&cp1));
            let cp2 = chain.last_checkpoint.clone().unwrap();
            assert_eq!((cp2.height, cp2.prev_checkpoint_hash), (2, cp1.hash()));
            done(h, out)
        },
        expect: &[
            "persist:committed:h2",
            "commit:h2",
            "ckpt:h1:3",
            "bcast:checkpoint:h2",
            "timer:round:h3:r0",
        ],
        metrics: |m| m.checkpoints_ready == 1,
    },
    Case {
        name: "a checkpoint certificate below a quorum, or not linking to the certified one: dropped",
        run: || {
            let mut cfg = config();
            cfg.checkpoint_interval = 1;
            let mut h = Harness::with_config(0, cfg);
            decide_h1(&mut h);
            let cp1 = h.node.chain().last_checkpoint.clone().unwrap();
            let b = h.block(2, 20);
            let mut relinked = cp1.clone();
            relinked.prev_checkpoint_hash = Hash([1; 32]);
            let mut out = Vec::new();
            for cert in [
                checkpoint_cert(&cp1, &[0, 1]),
                checkpoint_cert(&relinked, &[0, 1, 2]),
            ] {
                let bad = with_bits(&b, vec![b.bits[0].clone(), cert]);
                out.extend(h.deliver(2, &proposal(2, 0, &bad)));
            }
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.invalid == 2,
    },
    Case {
        name: "a checkpoint that never gathers a quorum is skipped: the next links to the last certified",
        run: || {
            let mut cfg = config();
            cfg.checkpoint_interval = 1;
            let mut h = Harness::with_config(0, cfg);
            decide_h1(&mut h);
            let cp1 = h.node.chain().last_checkpoint.clone().unwrap();
            let b = h.block(2, 20);
            let out = decide(&mut h, 2, &b);
            let cp2 = h.node.chain().last_checkpoint.clone().unwrap();
            assert_ne!(cp2.prev_checkpoint_hash, cp1.hash());
            assert_eq!(cp2.prev_checkpoint_hash, Hash([0; 32]));
            done(h, out)
        },
        expect: &[
            "persist:committed:h2",
            "commit:h2",
            "bcast:checkpoint:h2",
            // Still gathering signatures for it (re-sent now and then).
            "bcast:checkpoint:h1",
            "timer:round:h3:r0",
        ],
        metrics: |m| m.checkpoints_ready == 0,
    },
    Case {
        name: "last block of an epoch whose next set is unknown: wait, then go on the set",
        run: || {
            let mut cfg = config();
            cfg.epoch_length = 1;
            let mut h = Harness::with_config(0, cfg);
            decide_h1(&mut h);
            assert_eq!(h.node.height(), 2);
            let next = ValidatorSet::new(1, set4().members).unwrap();
            let out = h.step(Input::ValidatorSet(next));
            done(h, out)
        },
        expect: &["persist:set:e1", "timer:round:h2:r0"],
        metrics: any,
    },
    Case {
        name: "new epoch with a member replaced: the old member's votes are refused",
        run: || {
            let mut cfg = config();
            cfg.epoch_length = 1;
            let mut h = Harness::with_config(0, cfg);
            decide_h1(&mut h);
            let mut members = set4().members;
            members[3] = key(4).node_id();
            h.step(Input::ValidatorSet(ValidatorSet::new(1, members).unwrap()));
            let mut out = h.deliver(3, &prepare(3, 2, 0, Hash([1; 32])));
            out.extend(h.deliver(4, &prepare(4, 2, 0, Hash([1; 32]))));
            done(h, out)
        },
        expect: &[],
        metrics: |m| m.not_validator == 1 && m.bad_signature == 0,
    },
    Case {
        name: "restart from the log: re-send the logged vote, refuse to sign another value",
        run: || {
            let mut h = Harness::new(0);
            let b = h.block(1, 10);
            h.deliver(1, &proposal(1, 0, &b));
            let log = h.log.clone();
            let node =
                Node::restore(config(), TestApp, key(0), Ed25519Verifier::new(), &log).unwrap();
            h.node = node;
            let mut out = h.step(Input::Start);
            // The proposer equivocates towards the restarted node.
            let b2 = h.block(1, 11);
            out.extend(h.deliver(1, &proposal(1, 0, &b2)));
            done(h, out)
        },
        expect: &["timer:round:h1:r0", "bcast:prepare:r0"],
        metrics: |m| m.votes_refused == 1,
    },
];

#[test]
fn single_steps() {
    let mut failures = Vec::new();
    for case in CASES {
        let (got, metrics) = (case.run)();
        let want: Vec<String> = case.expect.iter().map(|s| s.to_string()).collect();
        if got != want {
            failures.push(format!("{}\n   want {want:?}\n   got  {got:?}", case.name));
        } else if !(case.metrics)(&metrics) {
            failures.push(format!("{}: metrics check failed: {metrics:?}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn committed_seals_verify_and_tampering_is_caught() {
    let mut h = Harness::new(0);
    decide_h1(&mut h);
    let cb = h
        .log
        .iter()
        .find_map(|r| match r {
            emc_consensus::WalRecord::Committed { block, .. } => Some(block.clone()),
            _ => None,
        })
        .unwrap();
    let set = set4();
    assert_eq!(cb.seals.len(), 3);
    emc_consensus::verify_committed(&cb, &set, &Ed25519Verifier::new()).unwrap();
    let mut bad = cb.clone();
    bad.seals.pop();
    assert!(emc_consensus::verify_committed(&bad, &set, &Ed25519Verifier::new()).is_err());
    let mut bad = cb.clone();
    bad.round = 1;
    assert!(emc_consensus::verify_committed(&bad, &set, &Ed25519Verifier::new()).is_err());
    let mut bad = cb.clone();
    bad.seals[1] = bad.seals[0].clone();
    assert!(emc_consensus::verify_committed(&bad, &set, &Ed25519Verifier::new()).is_err());
    let mut bad = cb;
    bad.block.bits.push(poc(3));
    assert!(emc_consensus::verify_committed(&bad, &set, &Ed25519Verifier::new()).is_err());
    let _ = VoteKind::Commit;
}
