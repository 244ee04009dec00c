//! Property tests: the decoder and the state machine never panic on random or mutated bytes,
//! and every message round-trips through the codec.

use crate::common::*;
use emc_consensus::codec::{
    decode, decode_wal, encode, encode_wal, DecodeError, DEFAULT_MAX_MESSAGE_BYTES,
};
use emc_consensus::{
    ChainState, CommittedBlock, Input, Message, Seal, Signer, Timer, TimerKind, WalRecord,
};
use emc_types::{
    Block, Checkpoint, CheckpointSignature, ComputeReceipt, DispatchRecord, Hash,
    LivenessObservation, MeterUnit, NodeId, Signature, SignedCheckpoint, StateBit,
    SummaryAccumulator,
};
use proptest::prelude::*;

/// A checkpoint with distinct field values.
fn sample_checkpoint() -> Checkpoint {
    Checkpoint {
        height: 450,
        epoch: 0,
        state_root: Hash([4; 32]),
        prev_checkpoint_hash: Hash([5; 32]),
        validator_set_id: Hash([6; 32]),
        timestamp_ns: 77,
        poc_root: Hash([7; 32]),
        liveness_root: Hash([8; 32]),
        receipts_root: Hash([9; 32]),
    }
}

/// One valid message of every kind (and of every state bit kind).
fn corpus() -> Vec<Message> {
    let h = Harness::new(0);
    let mut b = h.block(1, 10);
    b = Block::new(
        b.header.height,
        b.header.parent_hash,
        b.header.proposer,
        b.header.timestamp_ns,
        vec![
            poc(7),
            StateBit::Liveness(LivenessObservation {
                observer: NodeId([1; 32]),
                subject: NodeId([2; 32]),
                online: true,
            }),
            StateBit::Dispatch(DispatchRecord {
                bytes: vec![1, 2, 3],
            }),
            StateBit::Receipt(ComputeReceipt {
                user: NodeId([4; 32]),
                node: NodeId([2; 32]),
                router: NodeId([5; 32]),
                epoch: 1,
                nonce: 2,
                request_hash: Hash([6; 32]),
                response_hash: Hash([7; 32]),
                unit: MeterUnit::Seconds,
                units: 20,
                price_e8s: 3,
                cumulative_e8s: 60,
                node_signature: Signature([8; 64]),
                user_signature: Signature([9; 64]),
            }),
            parent_commit(0, 1, Hash([3; 32])),
            StateBit::CheckpointCert(SignedCheckpoint {
                checkpoint: sample_checkpoint(),
                signatures: vec![CheckpointSignature {
                    signer: NodeId([1; 32]),
                    signature: Signature([2; 64]),
                }],
            }),
        ],
    );
    let c = cert(&b, 0, &[0, 1, 3]);
    let rcs = vec![
        signed_rc(1, 1, 1, Some((0, b.hash()))),
        signed_rc(2, 1, 1, None),
        signed_rc(3, 1, 1, None),
    ];
    vec![
        proposal(1, 0, &b),
        proposal_with(2, 1, &b, rcs, c.prepares.clone()),
        prepare(1, 1, 0, b.hash()),
        commit(2, 1, 0, b.hash()),
        round_change(3, 1, 1, None),
        round_change(3, 1, 1, Some(&c)),
        Message::Checkpoint {
            height: 450,
            checkpoint_hash: Hash([5; 32]),
            signature: CheckpointSignature {
                signer: key(1).node_id(),
                signature: Signature([6; 64]),
            },
        },
        Message::Decided(CommittedBlock {
            block: b.clone(),
            round: 0,
            seals: vec![Seal {
                signer: key(1).node_id(),
                signature: Signature([7; 64]),
            }],
        }),
        Message::SyncRequest { from_height: 9 },
    ]
}

#[test]
fn every_message_round_trips_and_has_one_encoding() {
    for m in corpus() {
        let bytes = encode(&m);
        assert_eq!(decode(&bytes, DEFAULT_MAX_MESSAGE_BYTES).unwrap(), m);
        // Trailing bytes are refused: exactly one encoding per message.
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            decode(&longer, DEFAULT_MAX_MESSAGE_BYTES),
            Err(DecodeError::Trailing(1))
        );
        // Every strict prefix is refused.
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], DEFAULT_MAX_MESSAGE_BYTES).is_err());
        }
        // The size cap is enforced.
        assert!(matches!(
            decode(&bytes, bytes.len() - 1),
            Err(DecodeError::TooLarge { .. })
        ));
    }
    assert_eq!(decode(&[3, 1], 100), Err(DecodeError::Version(3)));
    // A huge declared count does not allocate: it is refused against the bytes left.
    let mut b = vec![2u8, 1];
    b.extend_from_slice(&[0; 8 + 4 + 32 + 32 + 64]); // proposal vote
    b.extend_from_slice(&[0; 8 + 32 + 32 + 8 + 32]); // block header
    b.extend_from_slice(&u32::MAX.to_be_bytes()); // bit count
    assert!(matches!(
        decode(&b, 1 << 20),
        Err(DecodeError::Count { .. })
    ));
}

/// One write-ahead record of every kind.
fn wal_corpus() -> Vec<WalRecord> {
    let mut out: Vec<WalRecord> = corpus().into_iter().map(WalRecord::Sent).collect();
    let b = Harness::new(0).block(1, 10);
    out.push(WalRecord::Prepared {
        height: 1,
        cert: cert(&b, 2, &[0, 1, 3]),
    });
    let committed = CommittedBlock {
        block: b.clone(),
        round: 2,
        seals: vec![Seal {
            signer: key(2).node_id(),
            signature: Signature([9; 64]),
        }],
    };
    let chain = |last_checkpoint: Option<Checkpoint>| ChainState {
        height: 1,
        last_hash: b.hash(),
        last_timestamp_ns: b.header.timestamp_ns,
        summary: SummaryAccumulator {
            poc: Hash([1; 32]),
            liveness: Hash([2; 32]),
            receipts: {
                let mut f = emc_types::merkle::MerkleFrontier::new();
                for i in 0..11u8 {
                    f.push(emc_types::merkle::leaf_hash(&[i]));
                }
                f
            },
        },
        certified: last_checkpoint.clone().map(|mut c| {
            c.height -= 450;
            c
        }),
        last_checkpoint,
    };
    out.push(WalRecord::Committed {
        block: committed.clone(),
        chain: chain(None),
    });
    out.push(WalRecord::Committed {
        block: committed,
        chain: chain(Some(sample_checkpoint())),
    });
    out.push(WalRecord::ValidatorSet(set4()));
    out
}

#[test]
fn every_wal_record_round_trips_and_torn_records_are_refused() {
    for r in wal_corpus() {
        let bytes = encode_wal(&r);
        assert_eq!(decode_wal(&bytes, DEFAULT_MAX_MESSAGE_BYTES).unwrap(), r);
        for cut in 0..bytes.len() {
            assert!(
                decode_wal(&bytes[..cut], DEFAULT_MAX_MESSAGE_BYTES).is_err(),
                "a torn record of {cut} bytes"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_wal(&longer, DEFAULT_MAX_MESSAGE_BYTES).is_err());
    }
}

fn mutate(mut bytes: Vec<u8>, ops: &[(u8, u16, u8)]) -> Vec<u8> {
    for &(op, pos, val) in ops {
        let len = bytes.len();
        match op % 4 {
            0 if len > 0 => {
                let i = pos as usize % len;
                bytes[i] ^= val | 1;
            }
            1 => bytes.truncate(pos as usize % (len + 1)),
            2 => {
                let i = pos as usize % (len + 1);
                bytes.insert(i, val);
            }
            _ if len > 0 => {
                let i = pos as usize % len;
                bytes[i] = val;
            }
            _ => {}
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn wal_decoder_never_panics_on_mutated_records(
        which in 0usize..14,
        ops in proptest::collection::vec((any::<u8>(), any::<u16>(), any::<u8>()), 1..8),
    ) {
        let records = wal_corpus();
        let bytes = encode_wal(&records[which % records.len()]);
        let _ = decode_wal(&mutate(bytes, &ops), DEFAULT_MAX_MESSAGE_BYTES);
    }

    #[test]
    fn decoder_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode(&bytes, DEFAULT_MAX_MESSAGE_BYTES);
        // With a valid version and tag in front, the decoder goes deeper.
        for tag in 1u8..=7 {
            let mut b = vec![1, tag];
            b.extend_from_slice(&bytes);
            if let Ok(m) = decode(&b, DEFAULT_MAX_MESSAGE_BYTES) {
                prop_assert_eq!(encode(&m), b);
            }
        }
    }

    #[test]
    fn decoder_never_panics_on_mutated_messages(
        which in 0usize..9,
        ops in proptest::collection::vec((any::<u8>(), any::<u16>(), any::<u8>()), 1..6),
    ) {
        let corpus = corpus();
        let bytes = mutate(encode(&corpus[which % corpus.len()]), &ops);
        if let Ok(m) = decode(&bytes, DEFAULT_MAX_MESSAGE_BYTES) {
            // Whatever decodes re-encodes to the same bytes (canonical encoding).
            prop_assert_eq!(encode(&m), bytes);
        }
    }

    #[test]
    fn state_machine_never_panics(
        inputs in proptest::collection::vec(
            (0u8..4, 0usize..9, proptest::collection::vec((any::<u8>(), any::<u16>(), any::<u8>()), 0..3), any::<u32>()),
            1..40,
        ),
    ) {
        let corpus: Vec<Vec<u8>> = corpus().iter().map(encode).collect();
        let mut h = Harness::new(2);
        for (kind, which, ops, x) in inputs {
            h.now += u64::from(x % 1000) * MS;
            match kind {
                0 | 1 => {
                    let bytes = mutate(corpus[which % corpus.len()].clone(), &ops);
                    let from = Harness::id(which % 4);
                    let effects = h.node.step(Input::Message { from, bytes: &bytes }, h.now);
                    check_persist_before_send(&effects);
                }
                2 => {
                    let timer = Timer {
                        height: u64::from(x % 3),
                        round: x % 5,
                        kind: if x % 2 == 0 { TimerKind::Round } else { TimerKind::Propose },
                    };
                    let effects = h.node.step(Input::Timeout(timer), h.now);
                    check_persist_before_send(&effects);
                }
                _ => {
                    let bytes: Vec<u8> = ops.iter().flat_map(|(a, b, c)| [*a, (*b >> 8) as u8, *b as u8, *c]).collect();
                    let effects = h.node.step(Input::Message { from: Harness::id(1), bytes: &bytes }, h.now);
                    check_persist_before_send(&effects);
                }
            }
        }
        let m = h.node.metrics();
        prop_assert!(m.received >= m.malformed);
    }
}
