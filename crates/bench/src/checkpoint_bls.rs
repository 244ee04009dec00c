//! The aggregate-signature alternative for checkpoint certificates (issue #19), measured in
//! canister wasm and hooked into the `epochs` suite: one BLS12-381 aggregate signature of 67 of
//! 100 validators over a checkpoint's 233 signing bytes, checked by the test canister's `bls`
//! feature (`canisters/test-canister/src/bls.rs`: keys summed, message hashed to G1, one
//! two-pair multi-Miller loop and final exponentiation) on the embedded IC.
//!
//! - `verify_checkpoint_instructions_bls_67_of_100`: the 67 keys arrive compressed (96 bytes)
//!   and are decoded with their subgroup checks, as a canister storing compressed keys would;
//! - `verify_checkpoint_instructions_bls_67_of_100_stored_keys`: the keys arrive uncompressed
//!   and are decoded without checks, as a canister that validated them once at registration
//!   and kept the points would;
//! - `bls_aggregate_pairing_check_instructions`: one key (the sum already formed): the hash to
//!   the curve and the pairing check alone.
//!
//! Each run also checks that a signature by 66 of the 67 is refused, so a verifier that
//! accepted anything would show here.

use anyhow::{anyhow, ensure, Result};
use candid::{Decode, Encode};
use emc_embedded_ic::{user_principal, EmbeddedIc};
use ic_bls12_381::hash_to_curve::{ExpandMsgXmd, HashToCurve};
use ic_bls12_381::{G1Affine, G1Projective, G2Affine, G2Projective, Scalar};
use serde_bytes::ByteBuf;
use serde_json::{json, Value};

const DST: &[u8] = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_";

fn hash_to_g1(msg: &[u8]) -> G1Projective {
    <G1Projective as HashToCurve<ExpandMsgXmd<sha2::Sha256>>>::hash_to_curve(msg, DST)
}

/// Runs the measurements; `msg` is the checkpoint's signing bytes.
pub fn run(msg: &[u8]) -> Result<Value> {
    let wasm = crate::feature_wasm("emc-test-canister", "bls", "canister", "test-canister-bls")?;
    let admin = user_principal(1);
    let mut ic = EmbeddedIc::new();
    let id = ic
        .install_canister(&wasm, Encode!(&None::<()>)?, vec![admin])
        .map_err(|e| anyhow!("install: {e}"))?;

    // 100 validators' keys from fixed scalars; 67 sign.
    let secrets: Vec<Scalar> = (1..=100u64)
        .map(|i| Scalar::from(i * 0x9E37_79B9 + 7))
        .collect();
    let keys: Vec<G2Affine> = secrets
        .iter()
        .map(|s| G2Affine::from(G2Affine::generator() * s))
        .collect();
    let hm = hash_to_g1(msg);
    let signers = 67;
    let aggregate = |n: usize| {
        let sum = secrets[..n]
            .iter()
            .fold(G1Projective::identity(), |acc, s| acc + hm * s);
        ByteBuf::from(G1Affine::from(sum).to_compressed().to_vec())
    };
    let sig = aggregate(signers);
    let compressed: Vec<ByteBuf> = keys[..signers]
        .iter()
        .map(|k| ByteBuf::from(k.to_compressed().to_vec()))
        .collect();
    let stored: Vec<ByteBuf> = keys[..signers]
        .iter()
        .map(|k| ByteBuf::from(k.to_uncompressed().to_vec()))
        .collect();
    let sum_key = keys[..signers]
        .iter()
        .fold(G2Projective::identity(), |acc, k| acc + k);
    let one = vec![ByteBuf::from(
        G2Affine::from(sum_key).to_compressed().to_vec(),
    )];
    let msg = ByteBuf::from(msg.to_vec());

    let mut verify = |keys: &[ByteBuf], sig: &ByteBuf| -> Result<(bool, u64)> {
        let r = ic
            .update_call(
                id,
                admin,
                "bls_verify_aggregate",
                Encode!(&keys, &msg, sig)?,
            )
            .map_err(|e| anyhow!("bls_verify_aggregate: {e}"))?;
        Ok((Decode!(&r, bool)?, ic.last_instructions()))
    };
    let (ok, compressed_instr) = verify(&compressed, &sig)?;
    ensure!(ok, "the 67-key aggregate was refused");
    let (ok, stored_instr) = verify(&stored, &sig)?;
    ensure!(ok, "the 67 stored keys' aggregate was refused");
    let (ok, one_instr) = verify(&one, &sig)?;
    ensure!(ok, "the summed key was refused");
    let (ok, _) = verify(&compressed, &aggregate(signers - 1))?;
    ensure!(!ok, "a signature by 66 of the 67 keys was accepted");
    Ok(json!({
        "verify_checkpoint_instructions_bls_67_of_100": compressed_instr,
        "verify_checkpoint_instructions_bls_67_of_100_stored_keys": stored_instr,
        "bls_aggregate_pairing_check_instructions": one_instr,
        "bls_certificate_bytes": 48 + 100 / 8 + 1,
    }))
}
