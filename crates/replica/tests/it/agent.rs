//! ic-agent 0.45, unmodified, against the replica: certificates verified against the fetched
//! root key, query signatures verified against the certified node keys.

use crate::*;
use candid::{Decode, Encode, Nat, Principal};
use emc_ic_client::{AgentClient, AgentConfig, AgentIdentity, LedgerApi};
use emc_replica::management::{CanisterStatusResult, CanisterStatusType, UpdateSettingsArgs};
use ic_agent::agent::{RejectCode, RejectResponse};
use ic_agent::identity::{
    DelegatedIdentity, Prime256v1Identity, Secp256k1Identity, SignedDelegation,
};
use ic_agent::{AgentError, Identity};
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::TransferArg;
use serde_bytes::ByteBuf;
use sha2::Digest;
use std::time::{SystemTime, UNIX_EPOCH};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ic-client/tests/fixtures")
        .join(name)
}

fn transfer(to: Principal, amount: u64) -> TransferArg {
    TransferArg {
        from_subaccount: None,
        to: Account::from(to),
        fee: None,
        created_at_time: None,
        memo: None,
        amount: Nat::from(amount),
    }
}

async fn balance(agent: &Agent, ledger: Principal, who: Principal) -> Nat {
    let reply = agent
        .query(&ledger, "icrc1_balance_of")
        .with_arg(Encode!(&Account::from(who)).unwrap())
        .call()
        .await
        .unwrap();
    Decode!(&reply, Nat).unwrap()
}

async fn raw_transfer(agent: &Agent, ledger: Principal, to: Principal, amount: u64) -> Nat {
    let reply = agent
        .update(&ledger, "icrc1_transfer")
        .with_arg(Encode!(&transfer(to, amount)).unwrap())
        .call_and_wait()
        .await
        .unwrap();
    Decode!(&reply, Result<Nat, icrc_ledger_types::icrc1::transfer::TransferError>)
        .unwrap()
        .unwrap()
}

#[test]
fn ledger_over_http_with_every_key_type_and_verification_on() {
    runtime().block_on(async {
        let replica = start(None).await;
        let admin = agent(&replica, ed25519(1)).await;

        let ed = AgentIdentity::from_pem_file(fixture("ed25519.pem")).unwrap();
        let secp = AgentIdentity::from_pem_file(fixture("secp256k1.pem")).unwrap();
        let p256 =
            Prime256v1Identity::from_private_key(p256::SecretKey::from_slice(&[5; 32]).unwrap());
        let k256 =
            Secp256k1Identity::from_private_key(k256::SecretKey::from_slice(&[6; 32]).unwrap());
        // A delegation chain: key 7 delegates to key 8 for an hour (Internet Identity's shape).
        let root = ed25519(7);
        let session = ed25519(8);
        let expiration = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            + 3_600_000_000_000;
        let delegation = ic_agent::identity::Delegation {
            pubkey: session.public_key().unwrap(),
            expiration,
            targets: None,
        };
        let signature = root
            .sign_delegation(&delegation)
            .unwrap()
            .signature
            .unwrap();
        let delegated = DelegatedIdentity::new(
            root.public_key().unwrap(),
            Box::new(session),
            vec![SignedDelegation {
                delegation,
                signature,
            }],
        )
        .unwrap();
        assert_eq!(
            principal_of(&delegated),
            Principal::self_authenticating(root.public_key().unwrap())
        );
        let owners = [
            ed.principal(),
            secp.principal(),
            principal_of(&p256),
            principal_of(&k256),
            principal_of(&delegated),
        ];
        let ledger = install_ledger(&admin, &owners).await;
        let sink = Principal::from_slice(&[0x42; 29]);

        // emc-ic-client's AgentClient (ed25519 and secp256k1 PEM identities): it fetches the
        // root key itself, and verifies certificates and query signatures.
        for (n, id) in [ed.clone(), secp.clone()].into_iter().enumerate() {
            let who = id.principal();
            let client = AgentClient::new(&replica.url(), id).unwrap();
            let api = LedgerApi::new(Arc::new(client), ledger);
            let block = api
                .icrc1_transfer(transfer(sink, 1_000 + n as u64))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(block, Nat::from(n as u64 + owners.len() as u64));
            let left = api.icrc1_balance_of(Account::from(who)).await.unwrap();
            assert_eq!(left, Nat::from(GENESIS - 1_000 - n as u64 - FEE));
        }
        // Raw ic-agent with a P-256, a secp256k1 (raw key) and a delegated identity.
        let before = balance(&admin, ledger, sink).await;
        for id in [
            Box::new(p256) as Box<dyn Identity>,
            Box::new(k256),
            Box::new(delegated),
        ] {
            let who = id.sender().unwrap();
            let a = agent(&replica, id).await;
            raw_transfer(&a, ledger, sink, 500).await;
            assert_eq!(
                balance(&a, ledger, who).await,
                Nat::from(GENESIS - 500 - FEE)
            );
        }
        assert_eq!(
            balance(&admin, ledger, sink).await,
            before + Nat::from(1_500u64)
        );

        // The ledger's ICRC-3 tip certificate is signed with the replica's root key too: the
        // embedded IC's data certificates use the replica's signer.
        let reply = admin
            .query(&ledger, "icrc3_get_tip_certificate")
            .with_arg(Encode!().unwrap())
            .call()
            .await
            .unwrap();
        #[derive(candid::CandidType, serde::Deserialize)]
        struct DataCertificate {
            certificate: ByteBuf,
            hash_tree: ByteBuf,
        }
        let tip = Decode!(&reply, Option<DataCertificate>).unwrap().unwrap();
        let cert: ic_agent::Certificate = serde_cbor::from_slice(&tip.certificate).unwrap();
        admin.verify(&cert, ledger).unwrap();
        assert!(!tip.hash_tree.is_empty());
        replica.shutdown().await;
    });
}

#[test]
fn a_replica_with_another_root_key_is_refused() {
    runtime().block_on(async {
        let replica = start(None).await;
        let admin = agent(&replica, ed25519(1)).await;
        let ledger = install_ledger(&admin, &[principal_of(&ed25519(2))]).await;

        // An agent that trusts another root key: certificates do not verify, and neither do
        // the node keys its query verification reads from a certificate.
        let other = emc_replica::Keys::from_seed(&[9; 32]);
        let fooled = Agent::builder()
            .with_url(replica.url())
            .with_identity(ed25519(2))
            .build()
            .unwrap();
        fooled.set_root_key(other.root_key_der().to_vec());
        let err = fooled
            .update(&ledger, "icrc1_transfer")
            .with_arg(Encode!(&transfer(Principal::anonymous(), 1)).unwrap())
            .call_and_wait()
            .await
            .unwrap_err();
        assert!(
            matches!(err, AgentError::CertificateVerificationFailed()),
            "{err:?}"
        );
        let err = fooled
            .query(&ledger, "icrc1_balance_of")
            .with_arg(Encode!(&Account::from(Principal::anonymous())).unwrap())
            .call()
            .await
            .unwrap_err();
        assert!(
            matches!(err, AgentError::CertificateVerificationFailed()),
            "{err:?}"
        );
        // emc-ic-client with a pinned root key: the replica's works without a fetch, another
        // is refused.
        for (key, works) in [
            (replica.root_key().to_vec(), true),
            (other.root_key_der().to_vec(), false),
        ] {
            let id = AgentIdentity::from_pem_file(fixture("ed25519.pem")).unwrap();
            let mut config = AgentConfig::new(replica.url(), id);
            config.root_key = Some(key);
            let api = LedgerApi::new(Arc::new(AgentClient::with_config(config).unwrap()), ledger);
            let result = api
                .icrc1_balance_of(Account::from(Principal::anonymous()))
                .await;
            assert_eq!(result.is_ok(), works, "{result:?}");
            if !works {
                assert!(
                    matches!(result, Err(emc_ic_client::IcError::Protocol(_))),
                    "{result:?}"
                );
            }
        }
        // The replica's own key still works. The transfer whose answer the client refused did
        // run: the client refused to trust the reply, not the replica the call.
        let a = agent(&replica, ed25519(2)).await;
        assert_eq!(
            balance(&a, ledger, principal_of(&ed25519(2))).await,
            Nat::from(GENESIS - 1 - FEE)
        );
        replica.shutdown().await;
    });
}

#[test]
fn management_canister_workflow() {
    runtime().block_on(async {
        let replica = start(None).await;
        let admin = agent(&replica, ed25519(1)).await;
        let outsider = agent(&replica, ed25519(3)).await;
        let wasm = emc_test_env::canister_wasm("ledger");
        let ledger = install_ledger(&admin, &[principal_of(&ed25519(2))]).await;

        // Certified canister info through read_state.
        let hash = admin.read_state_canister_module_hash(ledger).await.unwrap();
        assert_eq!(hash, sha2::Sha256::digest(&wasm).to_vec());
        let controllers = admin.read_state_canister_controllers(ledger).await.unwrap();
        assert_eq!(controllers, vec![principal_of(&ed25519(1))]);

        let mgmt = Principal::management_canister();
        let status = |a: &Agent| {
            let a = a.clone();
            async move {
                a.update(&mgmt, "canister_status")
                    .with_effective_canister_id(ledger)
                    .with_arg(Encode!(&CanisterIdRecord { canister_id: ledger }).unwrap())
                    .call_and_wait()
                    .await
                    .map(|r| Decode!(&r, CanisterStatusResult).unwrap())
            }
        };
        let s = status(&admin).await.unwrap();
        assert_eq!(s.status, CanisterStatusType::Running);
        assert_eq!(s.module_hash.unwrap().to_vec(), hash);
        // Only controllers: the outsider gets the IC's reject.
        let err = status(&outsider).await.unwrap_err();
        assert!(
            matches!(&err, AgentError::CertifiedReject { reject: RejectResponse { reject_code: RejectCode::CanisterError, error_code: Some(c), .. }, .. } if c == "IC0512"),
            "{err:?}"
        );

        // Upgrade keeps the balances.
        let upgrade = InstallCodeArgs {
            mode: InstallCodeMode::Upgrade(None),
            canister_id: ledger,
            wasm_module: wasm.clone(),
            arg: Encode!(&LedgerArg::Upgrade(None)).unwrap(),
            sender_canister_version: None,
        };
        admin
            .update(&mgmt, "install_code")
            .with_effective_canister_id(ledger)
            .with_arg(Encode!(&upgrade).unwrap())
            .call_and_wait()
            .await
            .unwrap();
        assert_eq!(
            balance(&admin, ledger, principal_of(&ed25519(2))).await,
            Nat::from(GENESIS)
        );

        // Controllers change through update_settings; then the outsider may read the status.
        let settings = UpdateSettingsArgs {
            canister_id: ledger,
            settings: emc_replica::management::CanisterSettings {
                controllers: Some(vec![principal_of(&ed25519(1)), principal_of(&ed25519(3))]),
                ..Default::default()
            },
            sender_canister_version: None,
        };
        admin
            .update(&mgmt, "update_settings")
            .with_effective_canister_id(ledger)
            .with_arg(Encode!(&settings).unwrap())
            .call_and_wait()
            .await
            .unwrap();
        assert_eq!(
            status(&outsider).await.unwrap().settings.controllers.len(),
            2
        );

        // Stop: calls and queries are rejected as the IC rejects them; start: served again.
        let stop_start = |method: &'static str| {
            let admin = admin.clone();
            async move {
                admin
                    .update(&mgmt, method)
                    .with_effective_canister_id(ledger)
                    .with_arg(Encode!(&CanisterIdRecord { canister_id: ledger }).unwrap())
                    .call_and_wait()
                    .await
                    .unwrap();
            }
        };
        stop_start("stop_canister").await;
        assert_eq!(
            status(&admin).await.unwrap().status,
            CanisterStatusType::Stopped
        );
        let err = admin
            .update(&ledger, "icrc1_transfer")
            .with_arg(Encode!(&transfer(Principal::anonymous(), 1)).unwrap())
            .call_and_wait()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, AgentError::UncertifiedReject { reject: RejectResponse { reject_code: RejectCode::CanisterError, error_code: Some(c), .. }, .. } if c == "IC0508"),
            "{err:?}"
        );
        let err = admin
            .query(&ledger, "icrc1_fee")
            .with_arg(Encode!().unwrap())
            .call()
            .await
            .unwrap_err();
        assert!(matches!(&err, AgentError::UncertifiedReject { .. }), "{err:?}");
        stop_start("start_canister").await;
        assert_eq!(
            balance(&admin, ledger, principal_of(&ed25519(2))).await,
            Nat::from(GENESIS)
        );

        // A deployment's own ids (specified_id), far from the ones handed out in order; queries
        // to it pass ic-agent's canister-range check. Taken ids and non-canister ids are refused.
        let wanted = emc_embedded_ic::canister_id(0x0000_0000_0080_0001);
        let create = |id: Principal| {
            let admin = admin.clone();
            async move {
                admin
                    .update(&mgmt, "provisional_create_canister_with_cycles")
                    .with_arg(
                        Encode!(&ProvisionalCreateArgs {
                            specified_id: Some(id),
                            ..Default::default()
                        })
                        .unwrap(),
                    )
                    .call_and_wait()
                    .await
                    .map(|r| Decode!(&r, CanisterIdRecord).unwrap().canister_id)
            }
        };
        assert_eq!(create(wanted).await.unwrap(), wanted);
        for bad in [wanted, principal_of(&ed25519(1))] {
            let err = create(bad).await.unwrap_err();
            assert!(
                matches!(&err, AgentError::CertifiedReject { reject: RejectResponse { reject_code: RejectCode::CanisterReject, .. }, .. }),
                "{err:?}"
            );
        }
        admin
            .update(&mgmt, "install_code")
            .with_effective_canister_id(wanted)
            .with_arg(
                Encode!(&InstallCodeArgs {
                    mode: InstallCodeMode::Install,
                    canister_id: wanted,
                    wasm_module: emc_test_env::canister_wasm("test-canister"),
                    arg: Encode!(&None::<()>).unwrap(),
                    sender_canister_version: None,
                })
                .unwrap(),
            )
            .call_and_wait()
            .await
            .unwrap();
        let reply = admin
            .query(&wanted, "get")
            .with_arg(Encode!().unwrap())
            .call()
            .await
            .unwrap();
        assert_eq!(Decode!(&reply, u64).unwrap(), 0);
        replica.shutdown().await;
    });
}
