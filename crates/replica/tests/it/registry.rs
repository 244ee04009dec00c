//! The node registry over HTTP through emc-ic-client's typed wrappers on `AgentClient`: a
//! registration signed with a real ed25519 node key, then approve + stake, where the registry
//! pulls the stake from the ledger (inter-canister calls inside one sync call).

use crate::*;
use candid::{Encode, Nat};
use ed25519_dalek::{Signer, SigningKey};
use emc_ic_client::{AgentClient, AgentIdentity, LedgerApi, RegistryApi};
use emc_registry::rules::registration_message;
use emc_registry::{NodeState, RegisterArgs, Role, StakeArgs};
use emc_types::NodeId;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc2::approve::ApproveArgs;
use serde_bytes::ByteBuf;

const E8S: u64 = 100_000_000;
const V_MIN: u64 = 1_000_000 * E8S;

#[test]
fn register_and_stake_over_http() {
    runtime().block_on(async {
        let replica = start(None).await;
        let admin = agent(&replica, ed25519(1)).await;
        let pem = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../ic-client/tests/fixtures/ed25519.pem");
        let id = AgentIdentity::from_pem_file(pem).unwrap();
        let owner = id.principal();
        let ledger = install_ledger(&admin, &[owner]).await;
        let init = emc_registry::RegistryArg::Init(emc_registry::InitArgs {
            ledger,
            governance: principal_of(&ed25519(1)),
            treasury: Account::from(Principal::from_slice(&[0x77; 29])),
            epochs_canister: None,
            ledger_fee_e8s: Some(FEE),
            params: None,
            genesis_time: None,
        });
        let registry = install(
            &admin,
            emc_test_env::canister_wasm("registry"),
            Encode!(&init).unwrap(),
        )
        .await;
        let client: Arc<dyn emc_ic_client::IcClient> =
            Arc::new(AgentClient::new(&replica.url(), id).unwrap());
        let reg = RegistryApi::new(client.clone(), registry);
        let led = LedgerApi::new(client, ledger);

        let key = SigningKey::from_bytes(&[9; 32]);
        let nonce = reg.registration_nonce().await.unwrap().unwrap();
        let node = reg
            .register(RegisterArgs {
                role: Role::Validator,
                public_key: ByteBuf::from(key.verifying_key().to_bytes().to_vec()),
                network_address: "10.0.0.9:4000".into(),
                region: "eu-central".into(),
                hardware: "1x RTX 4090".into(),
                signature: ByteBuf::from(
                    key.sign(&registration_message(&owner, &nonce, Role::Validator))
                        .to_bytes()
                        .to_vec(),
                ),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(node.owner, owner);
        assert_eq!(node.state, NodeState::Live);

        led.icrc2_approve(ApproveArgs {
            from_subaccount: None,
            spender: Account::from(registry),
            amount: Nat::from(V_MIN + FEE),
            expected_allowance: None,
            expires_at: None,
            fee: None,
            memo: None,
            created_at_time: None,
        })
        .await
        .unwrap()
        .unwrap();
        let node_id = NodeId(key.verifying_key().to_bytes());
        let info = reg
            .stake(StakeArgs {
                node_id,
                amount_e8s: V_MIN,
                term_days: 360,
            })
            .await
            .unwrap()
            .unwrap();
        assert!(info.active);
        assert_eq!(info.stake_e8s, V_MIN);
        assert_eq!(
            led.icrc1_balance_of(info.account).await.unwrap(),
            Nat::from(V_MIN),
            "the stake sits in the node's subaccount"
        );
        assert_eq!(
            led.icrc1_balance_of(Account::from(owner)).await.unwrap(),
            Nat::from(GENESIS - V_MIN - 2 * FEE)
        );
        assert_eq!(
            reg.get_node(node_id).await.unwrap().unwrap().stake_e8s,
            V_MIN
        );
        replica.shutdown().await;
    });
}
