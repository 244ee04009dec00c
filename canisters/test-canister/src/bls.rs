//! `bls` feature: one aggregate BLS12-381 signature of a quorum over one message, checked as a
//! checkpoint certificate would be if validators signed with BLS instead of ed25519 (issue
//! #19's decision; `emc-bench epochs` counts its instructions). Minimal-signature-size BLS as
//! the IC uses it: signatures in G1, public keys in G2, the message hashed to G1 with the IC's
//! domain separator; same-message aggregation, which is sound only with proofs of possession
//! at key registration (not modelled here).

use ic_bls12_381::hash_to_curve::{ExpandMsgXmd, HashToCurve};
use ic_bls12_381::{
    multi_miller_loop, G1Affine, G1Projective, G2Affine, G2Prepared, G2Projective, Gt,
};

const DST: &[u8] = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_";

/// Whether `sig` (48-byte compressed G1) is the aggregate signature over `msg` of the holders of
/// `keys`: each 96 bytes (compressed G2, decoded with its subgroup check, as keys arriving in a
/// call are) or 192 bytes (uncompressed, decoded without checks, as keys a canister validated
/// at registration and stored would be). The keys are summed, the message hashed to G1, and
/// `e(sig, -g2) · e(H(msg), Σ pk) = 1` checked with one multi-Miller loop.
#[ic_cdk::query]
fn bls_verify_aggregate(
    keys: Vec<serde_bytes::ByteBuf>,
    msg: serde_bytes::ByteBuf,
    sig: serde_bytes::ByteBuf,
) -> bool {
    let Ok(sig) = <[u8; 48]>::try_from(sig.as_slice()) else {
        return false;
    };
    let sig = G1Affine::from_compressed(&sig);
    if bool::from(sig.is_none()) {
        return false;
    }
    let sig = sig.unwrap();
    let mut apk = G2Projective::identity();
    for k in &keys {
        let key = match k.len() {
            96 => <[u8; 96]>::try_from(k.as_slice())
                .ok()
                .map(|b| G2Affine::from_compressed(&b)),
            192 => <[u8; 192]>::try_from(k.as_slice())
                .ok()
                .map(|b| G2Affine::from_uncompressed_unchecked(&b)),
            _ => None,
        };
        match key {
            Some(p) if bool::from(p.is_some()) => apk += p.unwrap(),
            _ => return false,
        }
    }
    let hm = G1Affine::from(
        <G1Projective as HashToCurve<ExpandMsgXmd<sha2::Sha256>>>::hash_to_curve(
            msg.as_slice(),
            DST,
        ),
    );
    let neg_g2 = G2Prepared::from(-G2Affine::generator());
    let apk = G2Prepared::from(G2Affine::from(apk));
    multi_miller_loop(&[(&sig, &neg_g2), (&hm, &apk)]).final_exponentiation() == Gt::identity()
}
