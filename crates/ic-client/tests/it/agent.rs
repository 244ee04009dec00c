//! `AgentClient` without a replica: PEM identities of both key types, principal derivation,
//! and transport errors against a closed local port.
//!
//! `tests/fixtures/*.pem` are throwaway test keys made with
//! `openssl genpkey -algorithm ed25519` and `openssl ecparam -name secp256k1 -genkey` (and prime256v1, a curve the client refuses); the
//! expected principals were computed independently from `openssl pkey -pubout -outform DER`
//! (SHA-224 of the DER public key, then the self-authenticating suffix 0x02).

use candid::Principal;
use emc_ic_client::{AgentClient, AgentConfig, AgentIdentity, IcClient, IcError, KeyKind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const ED25519_PRINCIPAL: &str = "w222m-2a6nr-4hutv-ysfqc-aedez-xfxvl-6jgl6-vscnb-fk6kb-b2wja-3ae";
const SECP256K1_PRINCIPAL: &str = "tib33-zmvrz-3qfln-q2pze-jxviy-yjye7-z4wuh-raaiu-c3z4m-cgnro-gqe";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn ed25519_pem_file() {
    let id = AgentIdentity::from_pem_file(fixture("ed25519.pem")).unwrap();
    assert_eq!(id.kind(), KeyKind::Ed25519);
    assert_eq!(id.principal().to_text(), ED25519_PRINCIPAL);
    // The Debug output names the principal, never the key.
    let debug = format!("{id:?}");
    assert!(debug.contains(ED25519_PRINCIPAL) && !debug.contains("MC4C"));
}

#[test]
fn secp256k1_pem_file_with_and_without_ec_parameters() {
    let id = AgentIdentity::from_pem_file(fixture("secp256k1.pem")).unwrap();
    assert_eq!(id.kind(), KeyKind::Secp256k1);
    assert_eq!(id.principal().to_text(), SECP256K1_PRINCIPAL);
    // The same key without the leading `EC PARAMETERS` block.
    let pem = std::fs::read_to_string(fixture("secp256k1.pem")).unwrap();
    let start = pem.find("-----BEGIN EC PRIVATE KEY-----").unwrap();
    let id = AgentIdentity::from_pem(&pem.as_bytes()[start..]).unwrap();
    assert_eq!(id.principal().to_text(), SECP256K1_PRINCIPAL);
}

#[test]
fn missing_or_bad_pem_is_an_identity_error() {
    assert!(matches!(
        AgentIdentity::from_pem_file(fixture("no-such-file.pem")),
        Err(IcError::Identity(_))
    ));
    // An EC key on another curve (prime256v1) is refused, not misread.
    let err = AgentIdentity::from_pem_file(fixture("prime256v1.pem")).unwrap_err();
    assert!(
        matches!(&err, IcError::Identity(m) if m.contains("secp256k1")),
        "{err:?}"
    );
}

#[test]
fn client_principal_is_the_identity_principal() {
    let id = AgentIdentity::from_pem_file(fixture("ed25519.pem")).unwrap();
    let client = AgentClient::new("https://icp-api.io", id).unwrap();
    assert_eq!(client.principal().to_text(), ED25519_PRINCIPAL);
    assert!(!client.is_local());
    let anon = AgentClient::new("http://127.0.0.1:4943", AgentIdentity::anonymous()).unwrap();
    assert_eq!(anon.principal(), Principal::anonymous());
    assert!(anon.is_local());
    for bad in ["not a url", "ftp://127.0.0.1", "unix:/tmp/replica.sock"] {
        assert!(
            matches!(
                AgentClient::new(bad, AgentIdentity::anonymous()),
                Err(IcError::Config(_))
            ),
            "{bad}"
        );
        // Also when the network kind is given (no URL check for locality then).
        let mut config = AgentConfig::new(bad, AgentIdentity::anonymous());
        config.local = Some(true);
        assert!(
            matches!(AgentClient::with_config(config), Err(IcError::Config(_))),
            "{bad}"
        );
    }
}

/// A local port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn unreachable_replica_is_a_quick_transport_error() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let canister = Principal::from_text("ryjl3-tyaaa-aaaaa-aaaba-cai").unwrap();

    // Local network: the root key fetch fails first.
    let id = AgentIdentity::from_pem_file(fixture("ed25519.pem")).unwrap();
    let mut config = AgentConfig::new(url.clone(), id);
    config.timeout = Duration::from_secs(5);
    let client = AgentClient::with_config(config.clone()).unwrap();
    let started = Instant::now();
    let err = client.fetch_root_key().await.unwrap_err();
    assert!(matches!(err, IcError::Transport(_)), "{err:?}");
    let err = client
        .query(canister, "icrc1_fee", vec![])
        .await
        .unwrap_err();
    assert!(matches!(err, IcError::Transport(_)), "{err:?}");
    let err = client
        .update(canister, "icrc1_transfer", vec![])
        .await
        .unwrap_err();
    assert!(matches!(err, IcError::Transport(_)), "{err:?}");
    assert!(err.is_transient());

    // Declared non-local: no root key fetch, the call itself fails.
    config.local = Some(false);
    let client = AgentClient::with_config(config).unwrap();
    let err = client
        .query(canister, "icrc1_fee", vec![])
        .await
        .unwrap_err();
    assert!(matches!(err, IcError::Transport(_)), "{err:?}");
    let err = client
        .update(canister, "icrc1_transfer", vec![])
        .await
        .unwrap_err();
    assert!(matches!(err, IcError::Transport(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "connection refused must fail fast, took {:?}",
        started.elapsed()
    );
}
