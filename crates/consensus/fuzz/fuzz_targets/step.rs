//! A validator fed arbitrary bytes as messages: never panics. The input is split into
//! messages at 0xFF 0xFF markers so that the fuzzer can build sequences.
#![no_main]

use emc_consensus::sim::{SimApp, SimCrypto, SimSigner, SimVerifier};
use emc_consensus::{Config, Ed25519Signer, Input, Node, Signer};
use emc_types::ValidatorSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let keys: Vec<Ed25519Signer> = (0..4u8)
        .map(|i| Ed25519Signer::from_seed([i + 1; 32]))
        .collect();
    let set = ValidatorSet {
        epoch: 0,
        members: keys.iter().map(|k| k.node_id()).collect(),
    };
    let me = keys[0].node_id();
    let Ok(mut node) = Node::new(
        Config::new(set.clone()),
        SimApp::new(me),
        SimSigner::Fast(me),
        SimVerifier::new(SimCrypto::FastInsecure),
    ) else {
        return;
    };
    let mut now = 0u64;
    node.step(Input::Start, now);
    for (i, chunk) in data.split(|b| *b == 0xff).enumerate() {
        now += 1_000_000;
        let from = set.members[i % 4];
        node.step(Input::Message { from, bytes: chunk }, now);
    }
});
