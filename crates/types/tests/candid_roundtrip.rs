//! The wire types survive candid and serde_json round trips (fixed-size arrays included).

use emc_types::*;

fn sample_block() -> Block {
    Block::new(
        7,
        Hash([9; 32]),
        NodeId([1; 32]),
        123,
        vec![
            StateBit::Poc(PocResult {
                node: NodeId([2; 32]),
                e_fixed: 14_451,
                passed: true,
                validator: NodeId([1; 32]),
            }),
            StateBit::Liveness(LivenessObservation {
                observer: NodeId([1; 32]),
                subject: NodeId([3; 32]),
                online: false,
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
                unit: MeterUnit::ImageSteps,
                units: 20,
                price_e8s: 3,
                cumulative_e8s: 60,
                node_signature: Signature([8; 64]),
                user_signature: Signature([9; 64]),
            }),
        ],
    )
}

#[test]
fn candid_round_trip() {
    let block = sample_block();
    let bytes = candid::encode_one(&block).unwrap();
    let back: Block = candid::decode_one(&bytes).unwrap();
    assert_eq!(back, block);
    assert!(back.payload_matches());

    let signed = SignedCheckpoint {
        checkpoint: Checkpoint {
            height: 450,
            epoch: 0,
            state_root: Hash([1; 32]),
            prev_checkpoint_hash: ZERO_HASH,
            validator_set_id: Hash([2; 32]),
            timestamp_ns: 5,
            poc_root: Hash([3; 32]),
            liveness_root: Hash([4; 32]),
            receipts_root: Hash([5; 32]),
        },
        signatures: vec![CheckpointSignature {
            signer: NodeId([8; 32]),
            signature: Signature([7; 64]),
        }],
    };
    let bytes = candid::encode_one(&signed).unwrap();
    let back: SignedCheckpoint = candid::decode_one(&bytes).unwrap();
    assert_eq!(back, signed);

    let set = ValidatorSet::new(3, vec![NodeId([1; 32]), NodeId([2; 32])]).unwrap();
    let back: ValidatorSet = candid::decode_one(&candid::encode_one(&set).unwrap()).unwrap();
    assert_eq!(back.id(), set.id());
}

#[test]
fn block_hash_commits_to_payload() {
    let mut block = sample_block();
    let h = block.hash();
    block.bits.pop();
    assert!(!block.payload_matches());
    let rebuilt = Block::new(7, Hash([9; 32]), NodeId([1; 32]), 123, block.bits.clone());
    assert_ne!(rebuilt.hash(), h);
}
