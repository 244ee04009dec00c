//! Property tests of the envelope decoder: it is total on arbitrary bytes, and no mutation of a
//! signed envelope authenticates as a different request.

use crate::*;
use emc_replica::envelope::authenticate;
use ic_agent::agent::{Envelope, EnvelopeContent};
use proptest::prelude::*;
use std::borrow::Cow;

const NOW: u64 = 1_800_000_000_000_000_000;

fn signed_call(arg: Vec<u8>) -> Vec<u8> {
    let id = ed25519(4);
    let content = EnvelopeContent::Call {
        nonce: Some(vec![1, 2, 3]),
        ingress_expiry: NOW + 60_000_000_000,
        sender: id.sender().unwrap(),
        canister_id: emc_embedded_ic::canister_id(0),
        method_name: "icrc1_transfer".into(),
        arg,
    };
    let sig = id.sign(&content).unwrap();
    Envelope {
        content: Cow::Owned(content),
        sender_pubkey: sig.public_key,
        sender_sig: sig.signature,
        sender_delegation: sig.delegations,
    }
    .encode_bytes()
}

#[test]
fn signed_envelopes_authenticate_with_ic_agents_request_id() {
    let bytes = signed_call(b"DIDL\x00\x00".to_vec());
    let req = authenticate(&bytes, NOW).unwrap();
    let envelope: Envelope<'_> = serde_cbor::from_slice(&bytes).unwrap();
    assert_eq!(req.request_id, *envelope.content.to_request_id());
    assert_eq!(req.sender, principal_of(&ed25519(4)));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = authenticate(&bytes, NOW);
    }

    #[test]
    fn mutated_envelopes_never_pass_as_another_request(
        arg in proptest::collection::vec(any::<u8>(), 0..64),
        at in any::<prop::sample::Index>(),
        xor in 1u8..=255,
        cut in any::<bool>(),
    ) {
        let bytes = signed_call(arg);
        let original = authenticate(&bytes, NOW).unwrap();
        let mut mutated = bytes.clone();
        let i = at.index(mutated.len());
        if cut {
            mutated.truncate(i);
        } else {
            mutated[i] ^= xor;
        }
        if let Ok(req) = authenticate(&mutated, NOW) {
            // Only a change the signature does not cover (such as the self-describe tag's
            // number) may pass, and then it is the same request from the same sender.
            prop_assert_eq!(req.request_id, original.request_id);
            prop_assert_eq!(req.sender, original.sender);
            prop_assert_eq!(req.body, original.body);
        }
    }
}
