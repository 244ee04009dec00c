//! The embedded host with the real ledger, registry and epochs wasm, through the typed
//! wrappers: transfers, a registration signed with a real ed25519 node key, approve + stake,
//! reading nodes back, concurrent updates from many async clients, reject and decode errors,
//! the manual and the wall clock, shutdown. Needs `target/canisters/{ledger,registry,epochs}.wasm`
//! (`scripts/build-canisters.sh`).

use candid::{Encode, Nat, Principal};
use ed25519_dalek::{Signer, SigningKey};
use emc_ic_client::{
    EmbeddedHost, EpochsApi, HostConfig, IcClient, IcClientExt, IcError, LedgerApi, RegistryApi,
    RejectCode,
};
use emc_ledger::{InitArgs as LedgerInit, LedgerArg};
use emc_registry::rules::registration_message;
use emc_registry::{NodeState, RegisterArgs, RegistryError, Role, StakeArgs};
use emc_test_env::{canister_wasm, user};
use emc_types::NodeId;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::TransferArg;
use icrc_ledger_types::icrc2::approve::ApproveArgs;
use serde_bytes::ByteBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const E8S: u64 = 100_000_000;
const FEE: u64 = 10_000;
const GENESIS: u64 = 20_000_000 * E8S;
const OWNERS: u64 = 12;
const V_MIN: u64 = 1_000_000 * E8S;
const R_MIN: u64 = 100_000 * E8S;

fn admin() -> Principal {
    user(1)
}
fn gov() -> Principal {
    user(2)
}
fn treasury() -> Account {
    Account::from(user(4))
}
fn owner(n: u64) -> Principal {
    user(100 + n)
}

struct Net {
    host: EmbeddedHost,
    ledger: Principal,
    registry: Principal,
}

impl Net {
    fn ledger_as(&self, who: Principal) -> LedgerApi {
        LedgerApi::new(Arc::new(self.host.client(who)), self.ledger)
    }
    fn registry_as(&self, who: Principal) -> RegistryApi {
        RegistryApi::new(Arc::new(self.host.client(who)), self.registry)
    }
}

/// The ledger (owners with genesis balances) and the registry, installed from sync code.
fn setup(config: HostConfig) -> Net {
    let host = EmbeddedHost::start(config).unwrap();
    let init = LedgerArg::Init(LedgerInit::emc(
        Account::from(user(5)),
        gov(),
        FEE,
        (0..OWNERS)
            .map(|i| (Account::from(owner(i)), GENESIS))
            .collect(),
    ));
    let ledger = host
        .install_canister(canister_wasm("ledger"), Encode!(&init).unwrap(), admin())
        .wait()
        .unwrap();
    let init = emc_registry::RegistryArg::Init(emc_registry::InitArgs {
        ledger,
        governance: gov(),
        treasury: treasury(),
        epochs_canister: None,
        ledger_fee_e8s: Some(FEE),
        params: None,
        genesis_time: None,
    });
    let registry = host
        .install_canister(canister_wasm("registry"), Encode!(&init).unwrap(), admin())
        .wait()
        .unwrap();
    Net {
        host,
        ledger,
        registry,
    }
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn node_id(seed: u8) -> NodeId {
    NodeId(key(seed).verifying_key().to_bytes())
}

fn nat(n: &Nat) -> u64 {
    u64::try_from(&n.0).unwrap()
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

/// Registers node `seed` for `role` as `who`, signing the registry's nonce with the node key.
async fn register(net: &Net, who: Principal, seed: u8, role: Role) -> emc_registry::Node {
    let registry = net.registry_as(who);
    let nonce = registry.registration_nonce().await.unwrap().unwrap();
    let k = key(seed);
    let args = RegisterArgs {
        role,
        public_key: ByteBuf::from(k.verifying_key().to_bytes().to_vec()),
        network_address: format!("10.0.0.{seed}:4000"),
        region: "eu-central".into(),
        hardware: "1x RTX 4090".into(),
        signature: ByteBuf::from(
            k.sign(&registration_message(&who, &nonce, role))
                .to_bytes()
                .to_vec(),
        ),
    };
    registry.register(args).await.unwrap().unwrap()
}

/// Approves `amount + FEE` for the registry and stakes `amount` on node `seed`.
async fn approve_and_stake(
    net: &Net,
    who: Principal,
    seed: u8,
    amount: u64,
    days: u32,
) -> emc_registry::StakeInfo {
    let approve = ApproveArgs {
        from_subaccount: None,
        spender: Account::from(net.registry),
        amount: Nat::from(amount + FEE),
        expected_allowance: None,
        expires_at: None,
        fee: None,
        memo: None,
        created_at_time: None,
    };
    net.ledger_as(who)
        .icrc2_approve(approve)
        .await
        .unwrap()
        .unwrap();
    net.registry_as(who)
        .stake(StakeArgs {
            node_id: node_id(seed),
            amount_e8s: amount,
            term_days: days,
        })
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_and_registry_through_the_typed_wrappers() {
    let net = setup(HostConfig::manual());
    let ledger = net.ledger_as(owner(0));
    assert_eq!(nat(&ledger.icrc1_fee().await.unwrap()), FEE);

    // A transfer.
    let block = ledger
        .icrc1_transfer(transfer(owner(1), 250 * E8S))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        nat(&block),
        OWNERS,
        "the genesis mints are blocks 0..OWNERS"
    );
    let balance = |p| {
        let ledger = ledger.clone();
        async move { nat(&ledger.icrc1_balance_of(Account::from(p)).await.unwrap()) }
    };
    assert_eq!(balance(owner(0)).await, GENESIS - 250 * E8S - FEE);
    assert_eq!(balance(owner(1)).await, GENESIS + 250 * E8S);
    // The ledger's own refusal comes back as the inner error.
    let refused = ledger
        .icrc1_transfer(transfer(owner(1), 10 * GENESIS))
        .await
        .unwrap();
    assert!(refused.is_err(), "{refused:?}");

    // A registration with a real ed25519 signature, then approve + stake.
    let node = register(&net, owner(0), 1, Role::Validator).await;
    assert_eq!(node.id, node_id(1));
    assert_eq!(node.owner, owner(0));
    assert_eq!(node.state, NodeState::Live);
    let info = approve_and_stake(&net, owner(0), 1, V_MIN, 360).await;
    assert!(info.active);
    assert_eq!(info.stake_e8s, V_MIN);

    // Read it back.
    let registry = net.registry_as(admin());
    let node = registry.get_node(node_id(1)).await.unwrap().unwrap();
    assert_eq!(node.stake_e8s, V_MIN);
    assert!(node.term.is_some());
    assert_eq!(
        nat(&ledger.icrc1_balance_of(info.account).await.unwrap()),
        V_MIN,
        "the stake sits in the node's subaccount"
    );
    assert_eq!(
        registry
            .node_stake(node_id(1))
            .await
            .unwrap()
            .unwrap()
            .stake_e8s,
        V_MIN
    );
    assert_eq!(registry.get_node(node_id(99)).await.unwrap(), None);
    let validators = registry.nodes_by_role(Role::Validator).await.unwrap();
    assert_eq!(
        validators.iter().map(|n| n.id).collect::<Vec<_>>(),
        vec![node_id(1)]
    );
    let stats = registry.stats().await.unwrap();
    assert_eq!((stats.nodes, stats.total_stake_e8s), (1, V_MIN));
    assert_eq!(registry.current_epoch().await.unwrap().epoch, 0);
    let config = registry.get_config().await.unwrap();
    assert_eq!((config.ledger, config.governance), (net.ledger, gov()));
    // x1 (E_SCALE) for a node that is not a staked compute node; None for an unknown one.
    assert_eq!(
        registry.e_multiplier(node_id(1)).await.unwrap(),
        Some(10_000)
    );
    assert_eq!(registry.e_multiplier(node_id(99)).await.unwrap(), None);
    // Epoch 0's snapshot was taken at install, before any stake.
    let set = registry.validator_set(0).await.unwrap();
    assert!(
        set.as_ref().is_none_or(|s| s.set.members.is_empty()),
        "{set:?}"
    );

    // A registration refused by the registry: the same key twice.
    let nonce = net
        .registry_as(owner(2))
        .registration_nonce()
        .await
        .unwrap()
        .unwrap();
    let k = key(1);
    let again = RegisterArgs {
        role: Role::Router,
        public_key: ByteBuf::from(k.verifying_key().to_bytes().to_vec()),
        network_address: "10.0.0.1:4000".into(),
        region: "eu".into(),
        hardware: String::new(),
        signature: ByteBuf::from(
            k.sign(&registration_message(&owner(2), &nonce, Role::Router))
                .to_bytes()
                .to_vec(),
        ),
    };
    assert_eq!(
        net.registry_as(owner(2)).register(again).await.unwrap(),
        Err(RegistryError::KeyAlreadyRegistered)
    );

    // Manual clock: time moves only when told, and the registry's timer runs.
    let t0 = net.host.time().await.unwrap();
    net.host
        .advance_time(Duration::from_secs(61))
        .await
        .unwrap();
    assert_eq!(net.host.time().await.unwrap(), t0 + 61_000_000_000);

    // Per-epoch node snapshots: epoch 0's (taken at install) is empty, epoch 1's holds the
    // staked validator; a future epoch has none.
    assert_eq!(registry.epoch_nodes(0).await.unwrap(), Some(vec![]));
    assert_eq!(registry.epoch_nodes(1).await.unwrap(), None);
    net.host
        .advance_time(Duration::from_secs(86_400))
        .await
        .unwrap();
    let nodes = registry.epoch_nodes(1).await.unwrap().unwrap();
    assert_eq!(
        nodes,
        vec![emc_registry::EpochNode {
            id: node_id(1),
            owner: owner(0),
            role: Role::Validator,
            stake_e8s: V_MIN,
            multiplier: emc_registry::E_SCALE,
            candidate: false,
        }]
    );
    let page = registry
        .epoch_nodes_page(1, Some(node_id(1)), 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((page.nodes.len(), page.next, page.total), (0, None, 1));
    net.host.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_from_many_clients() {
    let net = Arc::new(setup(HostConfig::manual()));
    let sink = user(999);

    // Transfers from ten owners at once, each through its own client.
    let mut tasks = Vec::new();
    for i in 0..10u64 {
        let ledger = net.ledger_as(owner(i));
        tasks.push(tokio::spawn(async move {
            let mut blocks = Vec::new();
            for k in 0..3u64 {
                let block = ledger
                    .icrc1_transfer(transfer(sink, (i + 1) * E8S + k))
                    .await
                    .unwrap()
                    .unwrap();
                blocks.push(nat(&block));
            }
            blocks
        }));
    }
    let mut blocks: Vec<u64> = Vec::new();
    for t in tasks {
        blocks.extend(t.await.unwrap());
    }
    blocks.sort_unstable();
    blocks.dedup();
    assert_eq!(blocks.len(), 30, "thirty distinct blocks");
    let expected: u64 = (0..10u64)
        .map(|i| (0..3).map(|k| (i + 1) * E8S + k).sum::<u64>())
        .sum();
    let ledger = net.ledger_as(sink);
    assert_eq!(
        nat(&ledger.icrc1_balance_of(Account::from(sink)).await.unwrap()),
        expected
    );

    // Twenty updates submitted before any reply is awaited (one task, so this holds on any
    // runtime): the host thread answers each when its round has run.
    let clients: Vec<LedgerApi> = (0..OWNERS).map(|i| net.ledger_as(owner(i))).collect();
    let calls = (0..20u64).map(|n| {
        let ledger = clients[(n % OWNERS) as usize].clone();
        async move { ledger.icrc1_transfer(transfer(sink, 1 + n)).await }
    });
    let results = futures::future::join_all(calls).await;
    assert!(
        results.iter().all(|r| matches!(r, Ok(Ok(_)))),
        "{results:?}"
    );
    assert_eq!(
        nat(&ledger.icrc1_balance_of(Account::from(sink)).await.unwrap()),
        expected + (1..=20).sum::<u64>()
    );

    // Registrations and stakes of four routers at once: each stake is an update that calls
    // the ledger (several executions), all in flight together.
    let mut tasks = Vec::new();
    for i in 0..4u8 {
        let net = net.clone();
        tasks.push(tokio::spawn(async move {
            let who = owner(u64::from(i));
            register(&net, who, 10 + i, Role::Router).await;
            approve_and_stake(&net, who, 10 + i, R_MIN, 180).await
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().active);
    }
    let routers = net
        .registry_as(admin())
        .nodes_by_role(Role::Router)
        .await
        .unwrap();
    let mut ids: Vec<NodeId> = routers.iter().map(|n| n.id).collect();
    assert!(routers.iter().all(|n| n.stake_e8s == R_MIN));
    ids.sort();
    let mut want: Vec<NodeId> = (10..14).map(node_id).collect();
    want.sort();
    assert_eq!(ids, want);
}

#[tokio::test]
async fn rejects_and_decode_errors() {
    let net = setup(HostConfig::manual());
    let client = net.host.client(owner(0));

    // An unknown method, as a query and as an update.
    let err = client
        .query(net.ledger, "no_such_method", Encode!().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, IcError::Reject { code: RejectCode::CanisterError, message } if message.contains("no_such_method")),
        "{err:?}"
    );
    let err = client
        .update(net.ledger, "no_such_method", Encode!().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, IcError::Reject { .. }), "{err:?}");
    // An unknown canister.
    let nowhere = emc_embedded_ic::canister_id(77);
    let err = client
        .query(nowhere, "icrc1_fee", Encode!().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, IcError::Reject { .. }), "{err:?}");
    // An argument the canister cannot decode traps: a reject, not a panic.
    let err = client
        .update(net.ledger, "icrc1_transfer", b"junk".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(err, IcError::Reject { .. }), "{err:?}");

    // A reply that is not the expected type: `icrc1_fee` is a nat, not a text.
    let err = client
        .query_candid::<_, String>(net.ledger, "icrc1_fee", ())
        .await
        .unwrap_err();
    assert!(matches!(err, IcError::Decode(_)), "{err:?}");
    let err = client
        .update_candid::<_, u64>(net.registry, "registration_nonce", ())
        .await
        .unwrap_err();
    assert!(matches!(err, IcError::Decode(_)), "{err:?}");
    // The typed call of the same still works.
    let fee: Nat = client
        .query_candid(net.ledger, "icrc1_fee", ())
        .await
        .unwrap();
    assert_eq!(nat(&fee), FEE);

    // Installing something that is not wasm is a host error.
    let err = net
        .host
        .install_canister(b"not wasm".to_vec(), vec![], admin())
        .await
        .unwrap_err();
    assert!(matches!(err, IcError::Host(_)), "{err:?}");

    // After shutdown every call is a transport error.
    let Net { host, ledger, .. } = net;
    host.shutdown();
    let err = client
        .query(ledger, "icrc1_fee", Encode!().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, IcError::Transport(_)), "{err:?}");
    let err = client
        .update(ledger, "icrc1_fee", Encode!().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, IcError::Transport(_)), "{err:?}");
}

#[test]
fn wall_clock_host_from_sync_code() {
    let net = setup(HostConfig::default());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let t1 = net.host.time().wait().unwrap();
    assert!(
        t1.abs_diff(now) < 5_000_000_000,
        "IC time {t1} follows the wall clock {now}"
    );
    std::thread::sleep(Duration::from_millis(120));
    let t2 = net.host.time().wait().unwrap();
    assert!(
        t2 >= t1 + 100_000_000,
        "the clock moved on its own: {t1} -> {t2}"
    );
    // Manual-clock operations are refused.
    assert!(matches!(
        net.host.advance_time(Duration::from_secs(1)).wait(),
        Err(IcError::Config(_))
    ));
    // Calls from sync code through a private runtime-free executor.
    let ledger = net.ledger_as(owner(3));
    let block = futures::executor::block_on(ledger.icrc1_transfer(transfer(owner(4), E8S)))
        .unwrap()
        .unwrap();
    assert_eq!(nat(&block), OWNERS);
    // The registry's epoch clock runs on the same (real) time.
    let epoch = futures::executor::block_on(net.registry_as(admin()).current_epoch()).unwrap();
    assert!(epoch.start <= t2 && t2 < epoch.next_start, "{epoch:?}");
    // Dropping the host stops its thread.
    drop(net);
}

#[tokio::test]
async fn epochs_wrapper_reads_a_fresh_epochs_canister() {
    let net = setup(HostConfig::manual());
    let init = emc_epochs::EpochsArg::Init(emc_epochs::InitArgs {
        ledger: net.ledger,
        registry: net.registry,
        governance: gov(),
        params: None,
    });
    let epochs = net
        .host
        .install_canister(canister_wasm("epochs"), Encode!(&init).unwrap(), admin())
        .await
        .unwrap();
    let api = EpochsApi::new(Arc::new(net.host.client(owner(0))), epochs);
    assert_eq!(api.latest_checkpoint().await.unwrap(), None);
    assert_eq!(api.checkpoint(450).await.unwrap(), None);
    assert_eq!(
        api.epoch_summary(0).await.unwrap().map(|s| s.closed_at),
        None
    );
    let stats = api.stats().await.unwrap();
    assert_eq!((stats.tip_height, stats.total_emitted_e8s), (None, 0));
    assert!(api.owner_rewards(owner(0), 0).await.unwrap().is_empty());
    assert_eq!(api.node_reward(node_id(1), 0).await.unwrap(), None);
    assert_eq!(api.run_payouts().await.unwrap(), 0);
    // Closing an epoch without its closing checkpoint is the canister's refusal (or a reject
    // at inspect_message), never a decode error.
    match api.close_epoch(0).await {
        Ok(r) => assert!(r.is_err(), "{r:?}"),
        Err(e) => assert!(matches!(e, IcError::Reject { .. }), "{e:?}"),
    }
}
