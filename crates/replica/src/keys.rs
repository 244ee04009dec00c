//! The replica's keys: the BLS12-381 root key that signs certificates, and the Ed25519 node
//! key that signs query responses. Both come from one 32-byte seed (kept in the state
//! directory), so the root key, the subnet id and the node id survive restarts: clients cache
//! the root key.

use candid::Principal;
use ed25519_dalek::Signer;
use emc_embedded_ic::certificate::{CertificateSigner, STATE_ROOT_DOMAIN};
use ic_verify_bls_signature::PrivateKey;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The DER prefix of an IC BLS12-381 public key (OIDs 1.3.6.1.4.1.44668.5.3.1.2.1 and
/// 1.3.6.1.4.1.44668.5.3.2.1), before the 96-byte compressed G2 point.
pub const BLS_DER_PREFIX: [u8; 37] = [
    0x30, 0x81, 0x82, 0x30, 0x1d, 0x06, 0x0d, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xdc, 0x7c, 0x05,
    0x03, 0x01, 0x02, 0x01, 0x06, 0x0c, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xdc, 0x7c, 0x05, 0x03,
    0x02, 0x01, 0x03, 0x61, 0x00,
];

const ED25519_DER_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The replica's signing keys and the ids derived from them.
#[derive(Clone)]
pub struct Keys {
    root: PrivateKey,
    root_der: Vec<u8>,
    node: ed25519_dalek::SigningKey,
    node_der: Vec<u8>,
    subnet_id: Principal,
    node_id: Principal,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("subnet_id", &self.subnet_id.to_text())
            .field("node_id", &self.node_id.to_text())
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// The keys of `seed`: the same seed always gives the same keys.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        // A BLS secret key is a scalar below the group order r (< 2^255): hash the seed with a
        // counter until the big-endian value is one.
        let mut counter = 0u32;
        let root = loop {
            let mut h = Sha256::new();
            h.update(b"emc-replica root key");
            h.update(seed);
            h.update(counter.to_be_bytes());
            let mut bytes: [u8; 32] = h.finalize().into();
            bytes[0] &= 0x7f;
            if let Ok(key) = PrivateKey::deserialize(&bytes) {
                break key;
            }
            counter += 1;
        };
        let root_der = [&BLS_DER_PREFIX[..], &root.public_key().serialize()[..]].concat();
        let node_seed: [u8; 32] = Sha256::new()
            .chain_update(b"emc-replica node key")
            .chain_update(seed)
            .finalize()
            .into();
        let node = ed25519_dalek::SigningKey::from_bytes(&node_seed);
        let node_der = [
            &ED25519_DER_PREFIX[..],
            node.verifying_key().as_bytes().as_slice(),
        ]
        .concat();
        Keys {
            subnet_id: Principal::self_authenticating(&root_der),
            node_id: Principal::self_authenticating(&node_der),
            root,
            root_der,
            node,
            node_der,
        }
    }

    /// The root key as clients hold it (DER, 133 bytes): `/api/v2/status` serves it.
    pub fn root_key_der(&self) -> &[u8] {
        &self.root_der
    }

    /// The subnet's id: ic-agent assumes `self_authenticating(root key)` when a certificate
    /// has no delegation, so the replica's one subnet has exactly that id.
    pub fn subnet_id(&self) -> Principal {
        self.subnet_id
    }

    pub fn node_id(&self) -> Principal {
        self.node_id
    }

    /// The node's Ed25519 public key in DER (`/subnet/<id>/node/<id>/public_key`).
    pub fn node_key_der(&self) -> &[u8] {
        &self.node_der
    }

    /// Signs a certified tree's root hash: BLS over `"\x0Dic-state-root" ‖ root_hash`.
    pub fn sign_root_hash(&self, root_hash: &[u8; 32]) -> Vec<u8> {
        let msg = [STATE_ROOT_DOMAIN, &root_hash[..]].concat();
        self.root.sign(&msg).serialize().to_vec()
    }

    /// Signs a query response's signable bytes with the node key.
    pub fn sign_as_node(&self, msg: &[u8]) -> Vec<u8> {
        self.node.sign(msg).to_bytes().to_vec()
    }

    /// The signer the embedded IC uses for the data certificates canisters see in queries.
    pub fn certificate_signer(&self) -> CertificateSigner {
        let keys = self.clone();
        Arc::new(move |root_hash| keys.sign_root_hash(root_hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_certificates_verify() {
        let a = Keys::from_seed(&[7; 32]);
        let b = Keys::from_seed(&[7; 32]);
        let c = Keys::from_seed(&[8; 32]);
        assert_eq!(a.root_key_der(), b.root_key_der());
        assert_ne!(a.root_key_der(), c.root_key_der());
        assert_eq!(a.root_key_der().len(), 133);
        let hash = [3u8; 32];
        let sig = a.sign_root_hash(&hash);
        let msg = [STATE_ROOT_DOMAIN, &hash[..]].concat();
        let key = &a.root_key_der()[BLS_DER_PREFIX.len()..];
        assert!(ic_verify_bls_signature::verify_bls_signature(&sig, &msg, key).is_ok());
        let other = &c.root_key_der()[BLS_DER_PREFIX.len()..];
        assert!(ic_verify_bls_signature::verify_bls_signature(&sig, &msg, other).is_err());
    }
}
