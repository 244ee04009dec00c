//! Mutual TLS 1.3 between nodes: rustls configurations (ring provider) and the certificate
//! verifiers that replace the web PKI.
//!
//! A peer's certificate is accepted when it is a single X.509 certificate whose subject key is
//! ed25519, that key is known to the [`Authorizer`] (any role), and, for a dialer that knows
//! whom it dials, it equals the expected [`NodeId`]. The TLS 1.3 handshake signature is then
//! verified with that key (ed25519 only), which proves the peer holds it. Names, dates and the
//! certificate's self-signature are ignored: the key is the identity. Session resumption is
//! off, so every connection runs the verifiers.

use crate::auth::Authorizer;
use crate::error::NetError;
use crate::identity::{node_id_of_certificate, Identity, CERT_NAME};
use crate::metrics::{inc, Metrics};
use emc_types::NodeId;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::SingleCertAndKey;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, PeerIncompatible,
    PeerMisbehaved, SignatureScheme,
};
use std::fmt;
use std::sync::Arc;
use tracing::debug;

/// The ALPN protocol of the EMC edge network.
pub const ALPN: &[u8] = b"emc/1";

/// Server name the dialer puts in its ClientHello (ignored by the verifiers).
pub(crate) const SERVER_NAME: &str = CERT_NAME;

/// The crypto provider: ring, never aws-lc.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Verifies peer certificates for one side of a connection.
pub(crate) struct PeerVerifier {
    authorizer: Arc<dyn Authorizer>,
    expected: Option<NodeId>,
    metrics: Arc<Metrics>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for PeerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerVerifier")
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl PeerVerifier {
    pub(crate) fn new(
        authorizer: Arc<dyn Authorizer>,
        expected: Option<NodeId>,
        metrics: Arc<Metrics>,
        provider: &CryptoProvider,
    ) -> PeerVerifier {
        PeerVerifier {
            authorizer,
            expected,
            metrics,
            algorithms: provider.signature_verification_algorithms,
        }
    }

    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<NodeId, Error> {
        if !intermediates.is_empty() {
            inc(&self.metrics.refused_bad_certificate);
            debug!("peer sent a certificate chain, not a single self-signed certificate");
            return Err(Error::InvalidCertificate(CertificateError::BadEncoding));
        }
        let node = node_id_of_certificate(end_entity).map_err(|e| {
            inc(&self.metrics.refused_bad_certificate);
            debug!("peer certificate refused: {e}");
            Error::InvalidCertificate(CertificateError::BadEncoding)
        })?;
        if let Some(expected) = self.expected {
            if expected != node {
                inc(&self.metrics.refused_wrong_node_id);
                debug!(?expected, got = ?node, "peer is not the node we dialed");
                return Err(Error::InvalidCertificate(CertificateError::NotValidForName));
            }
        }
        if self.authorizer.roles_of(&node).is_empty() {
            inc(&self.metrics.refused_unknown_key);
            debug!(peer = ?node, "peer key is not registered");
            return Err(Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ));
        }
        Ok(node)
    }

    fn verify_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        if dss.scheme != SignatureScheme::ED25519 {
            return Err(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into());
        }
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.check(end_entity, intermediates)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(PeerIncompatible::Tls13RequiredForQuic.into())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.verify_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.check(end_entity, intermediates)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(PeerIncompatible::Tls13RequiredForQuic.into())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.verify_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }
}

/// The acceptor's TLS configuration: TLS 1.3, ALPN `emc/1`, client certificates required.
pub(crate) fn server_config(
    identity: &Identity,
    authorizer: Arc<dyn Authorizer>,
    metrics: Arc<Metrics>,
) -> Result<rustls::ServerConfig, NetError> {
    let provider = provider();
    let verifier = PeerVerifier::new(authorizer, None, metrics, &provider);
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(identity.certified_key())));
    config.alpn_protocols = vec![ALPN.to_vec()];
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    config.max_early_data_size = 0;
    Ok(config)
}

/// The dialer's TLS configuration; `expected` pins the server's key when known.
pub(crate) fn client_config(
    identity: &Identity,
    authorizer: Arc<dyn Authorizer>,
    expected: Option<NodeId>,
    metrics: Arc<Metrics>,
) -> Result<rustls::ClientConfig, NetError> {
    let provider = provider();
    let verifier = PeerVerifier::new(authorizer, expected, metrics, &provider);
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(identity.certified_key())));
    config.alpn_protocols = vec![ALPN.to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    config.enable_early_data = false;
    Ok(config)
}
