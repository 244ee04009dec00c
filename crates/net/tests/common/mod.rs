//! Helpers for the loopback tests: nodes with deterministic keys, event waiting, and a raw
//! QUIC client that speaks the protocol by hand (to send what a well-behaved node never
//! would).
#![allow(dead_code)]

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use emc_net::frame::{self, KIND_HELLO};
use emc_net::{
    Event, Identity, NetConfig, Network, NodeId, Role, Roles, StaticAuthorizer, ALPN,
    PROTOCOL_VERSION,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::Receiver;

/// Generous bound for anything that should happen "soon" on loopback.
pub const SOON: Duration = Duration::from_secs(5);

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

pub fn id(seed: u8) -> NodeId {
    NodeId(key(seed).verifying_key().to_bytes())
}

/// Fast timers for tests.
pub fn config() -> NetConfig {
    NetConfig {
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        keep_alive_interval: Duration::from_millis(200),
        idle_timeout: Duration::from_secs(3),
        handshake_timeout: Duration::from_secs(2),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(400),
        ..NetConfig::default()
    }
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// An authorizer listing each `(seed, roles)`.
pub fn authorizer(entries: &[(u8, Roles)]) -> Arc<StaticAuthorizer> {
    let a = Arc::new(StaticAuthorizer::new());
    for (seed, roles) in entries {
        a.set(id(*seed), *roles);
    }
    a
}

pub struct Node {
    pub net: Network,
    pub events: Receiver<Event>,
    pub id: NodeId,
    pub addr: SocketAddr,
}

pub fn node(seed: u8, role: Role, auth: Arc<StaticAuthorizer>, config: NetConfig) -> Node {
    init_tracing();
    let identity = Identity::from_signing_key(key(seed)).unwrap();
    let (net, events) = Network::bind(config, identity, auth, role).unwrap();
    let addr = net.local_addr().unwrap();
    Node {
        id: id(seed),
        net,
        events,
        addr,
    }
}

/// The next event matching `pred`, skipping others; panics after `SOON`.
pub async fn wait_for(rx: &mut Receiver<Event>, mut pred: impl FnMut(&Event) -> bool) -> Event {
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) if pred(&ev) => return ev,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("event channel closed"),
            Err(_) => panic!("no matching event in {SOON:?}"),
        }
    }
}

pub async fn wait_up(rx: &mut Receiver<Event>, peer: NodeId) -> Role {
    match wait_for(
        rx,
        |e| matches!(e, Event::PeerUp { peer: p, .. } if *p == peer),
    )
    .await
    {
        Event::PeerUp { role, .. } => role,
        _ => unreachable!(),
    }
}

pub async fn wait_down(rx: &mut Receiver<Event>, peer: NodeId) {
    wait_for(
        rx,
        |e| matches!(e, Event::PeerDown { peer: p } if *p == peer),
    )
    .await;
}

/// The next frame from `peer`: (kind, payload).
pub async fn next_frame(rx: &mut Receiver<Event>, peer: NodeId) -> (u8, Bytes) {
    match wait_for(
        rx,
        |e| matches!(e, Event::Frame { peer: p, .. } if *p == peer),
    )
    .await
    {
        Event::Frame { kind, payload, .. } => (kind, payload),
        _ => unreachable!(),
    }
}

/// Asserts that no event matching `pred` arrives within `wait`.
pub async fn assert_none(
    rx: &mut Receiver<Event>,
    wait: Duration,
    mut pred: impl FnMut(&Event) -> bool,
) {
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(ev) = tokio::time::timeout_at(deadline, rx.recv()).await {
        match ev {
            Some(ev) => assert!(!pred(&ev), "unexpected event {ev:?}"),
            None => return,
        }
    }
}

/// Polls `cond` until it holds; panics after `SOON`.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + SOON;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A server verifier for the raw client: checks the handshake signature, trusts any key.
#[derive(Debug)]
struct TrustAny;

impl ServerCertVerifier for TrustAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// A hand-driven connection to a node, as key `seed`, through TLS only (no hello yet).
pub async fn raw_connect(seed: u8, to: SocketAddr) -> (quinn::Endpoint, quinn::Connection) {
    let (endpoint, conn) = try_raw_connect(seed, to).await;
    (endpoint, conn.unwrap())
}

/// [`raw_connect`], which may fail.
pub async fn try_raw_connect(
    seed: u8,
    to: SocketAddr,
) -> (
    quinn::Endpoint,
    Result<quinn::Connection, quinn::ConnectionError>,
) {
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend_from_slice(&[seed; 32]);
    let der = PrivatePkcs8KeyDer::from(pkcs8.clone());
    let kp = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_ED25519).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["raw".to_string()])
        .unwrap()
        .self_signed(&kp)
        .unwrap();
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(TrustAny))
    .with_client_auth_cert(
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8)),
    )
    .unwrap();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = endpoint
        .connect_with(quinn::ClientConfig::new(Arc::new(quic)), to, "emc-node")
        .unwrap()
        .await;
    (endpoint, conn)
}

/// Raw connection plus a valid hello claiming `role`; returns after the ack.
pub async fn raw_hello(
    seed: u8,
    to: SocketAddr,
    role: Role,
) -> (quinn::Endpoint, quinn::Connection) {
    let (endpoint, conn) = raw_connect(seed, to).await;
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let mut hello = PROTOCOL_VERSION.to_be_bytes().to_vec();
    hello.push(role.to_wire());
    hello.extend_from_slice(&(1u32 << 20).to_be_bytes());
    send.write_all(&frame::encode(KIND_HELLO, &hello, 64).unwrap())
        .await
        .unwrap();
    send.finish().unwrap();
    let ack = frame::read_frame(&mut recv, 64).await.unwrap().unwrap();
    assert_eq!(ack.kind, frame::KIND_HELLO_ACK);
    (endpoint, conn)
}
