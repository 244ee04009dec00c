//! A node's identity: its ed25519 key, and a self-signed X.509 certificate over the same key.
//!
//! The certificate carries nothing but the key: peers ignore its names, dates and
//! self-signature. What binds a connection to a key is the TLS 1.3 handshake signature, which
//! the verifiers in [`crate::tls`] check with the key in the certificate.

use crate::error::NetError;
use ed25519_dalek::SigningKey;
use emc_types::NodeId;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use std::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

/// DER prefix of an RFC 8410 PKCS#8 v1 ed25519 private key; the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// DER prefix of an ed25519 SubjectPublicKeyInfo (RFC 8410: no algorithm parameters); the
/// 32-byte key follows. Every ed25519 SPKI is exactly these 12 bytes and the key.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Subject alternative name of every node certificate (peers do not check it).
pub(crate) const CERT_NAME: &str = "emc-node";

/// Why a certificate does not name a node.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// Not a parsable X.509 certificate.
    #[error("not a valid X.509 certificate: {0}")]
    Parse(String),
    /// The certificate's key is not an ed25519 key.
    #[error("the certificate's key is not an ed25519 key")]
    NotEd25519,
}

/// The [`NodeId`] (raw ed25519 public key) a certificate's subject public key names.
pub fn node_id_of_certificate(der: &[u8]) -> Result<NodeId, CertError> {
    let cert = CertificateDer::from(der);
    let parsed =
        webpki::EndEntityCert::try_from(&cert).map_err(|e| CertError::Parse(format!("{e:?}")))?;
    let spki = parsed.subject_public_key_info();
    let spki: &[u8] = spki.as_ref();
    match spki.split_at_checked(ED25519_SPKI_PREFIX.len()) {
        Some((prefix, key)) if prefix == ED25519_SPKI_PREFIX => {
            let key: [u8; 32] = key.try_into().map_err(|_| CertError::NotEd25519)?;
            Ok(NodeId(key))
        }
        _ => Err(CertError::NotEd25519),
    }
}

/// A node's TLS identity: its ed25519 key and a self-signed certificate for that key.
/// Cheap to clone (the key lives behind an `Arc`, inside rustls's signer).
#[derive(Clone)]
pub struct Identity {
    node_id: NodeId,
    certified: Arc<CertifiedKey>,
}

impl Identity {
    /// Builds the identity of `key`: a self-signed X.509 certificate (rcgen) whose subject
    /// public key is `key`'s verifying key, signed by `key`.
    pub fn from_signing_key(key: SigningKey) -> Result<Identity, NetError> {
        let node_id = NodeId(key.verifying_key().to_bytes());
        let mut pkcs8 = Zeroizing::new(Vec::with_capacity(48));
        pkcs8.extend_from_slice(&ED25519_PKCS8_PREFIX);
        pkcs8.extend_from_slice(key.as_bytes());
        drop(key);
        let der = PrivatePkcs8KeyDer::from(pkcs8.as_slice());

        let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_ED25519)
            .map_err(|e| NetError::Identity(format!("key pair: {e}")))?;
        let mut params = rcgen::CertificateParams::new(vec![CERT_NAME.to_string()])
            .map_err(|e| NetError::Identity(format!("certificate parameters: {e}")))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, CERT_NAME);
        let cert = params
            .self_signed(&key_pair)
            .map_err(|e| NetError::Identity(format!("self-signed certificate: {e}")))?;
        let cert = cert.der().clone();

        let signer = rustls::crypto::ring::sign::any_eddsa_type(&der)
            .map_err(|e| NetError::Identity(format!("rustls signing key: {e}")))?;
        let certified = Arc::new(CertifiedKey::new(vec![cert], signer));
        // The certificate must name the key we sign with.
        let named = certified
            .end_entity_cert()
            .map_err(|e| NetError::Identity(format!("certificate: {e}")))
            .and_then(|c| {
                node_id_of_certificate(c).map_err(|e| NetError::Identity(e.to_string()))
            })?;
        if named != node_id {
            return Err(NetError::Identity(
                "certificate key differs from the signing key".into(),
            ));
        }
        Ok(Identity { node_id, certified })
    }

    /// The node's id: its raw ed25519 public key.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The DER of the node's certificate.
    pub fn certificate_der(&self) -> &[u8] {
        self.certified
            .cert
            .first()
            .map(|c| c.as_ref())
            .unwrap_or_default()
    }

    pub(crate) fn certified_key(&self) -> Arc<CertifiedKey> {
        self.certified.clone()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_names_the_key() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let expected = NodeId(key.verifying_key().to_bytes());
        let id = Identity::from_signing_key(key).unwrap();
        assert_eq!(id.node_id(), expected);
        assert_eq!(
            node_id_of_certificate(id.certificate_der()).unwrap(),
            expected
        );
        // Deterministic key, fresh certificate each time, same id.
        let again = Identity::from_signing_key(SigningKey::from_bytes(&[7; 32])).unwrap();
        assert_eq!(again.node_id(), expected);
    }

    #[test]
    fn non_certificates_and_other_keys_are_refused() {
        assert!(matches!(
            node_id_of_certificate(b"garbage"),
            Err(CertError::Parse(_))
        ));
        assert!(node_id_of_certificate(&[]).is_err());
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["x".to_string()])
            .unwrap()
            .self_signed(&kp)
            .unwrap();
        assert_eq!(
            node_id_of_certificate(cert.der()),
            Err(CertError::NotEd25519)
        );
    }
}
