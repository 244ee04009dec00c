//! emc-sdk's integration tests, one binary: `cargo test -p emc-sdk --test it <module>::`.
//!
//! One `emc-replica` (the embedded IC over the IC's HTTP interface, on a loopback port) is
//! shared by every test, with the real ledger, registry, epochs and market wasm installed in
//! the devnet's order, then the sockets canister with the market as its minter (so the SDK's
//! default canister ids are theirs). Each test signs as its
//! own user (an ed25519 PEM written to a temporary directory), so tests run in parallel
//! without touching each other's balances.
//!
//! * `sdk`: each sub-API through `Emc` over ic-agent.
//! * `chat`: `emc call chat` and `ComputeClient` through a devnet cluster's router (own
//!   runtime and cluster, on the embedded IC); the node doctor on its live nodes; rewards per
//!   node per epoch once its epoch 0 has closed and paid (~90 s).
//! * `sockets`: computing sockets through `Emc` and through `emc socket …` (buy, list, show,
//!   transfer, bind; the old holder refused; bad input).
//! * `deploy`: `emc deploy` to a real `emc-replica` process (built by the test), read back
//!   through ic-agent.
//! * `cli`: the `emc` binary for every command, with bad input, an unknown node and a
//!   replica that is down (clear error, non-zero exit).
//!
//! Needs `target/canisters/{ledger,registry,epochs,market,sockets}.wasm` (`scripts/build-canisters.sh`).

mod chat;
mod cli;
mod deploy;
mod sdk;
mod sockets;

use candid::{Decode, Encode, Principal};
use emc_ledger::{InitArgs as LedgerInit, LedgerArg};
use emc_replica::management::{
    CanisterIdRecord, InstallCodeArgs, InstallCodeMode, ProvisionalCreateArgs,
};
use emc_replica::{ReplicaConfig, RunningReplica};
use emc_sdk::{CanisterIds, Emc, EmcConfig};
use ic_agent::identity::BasicIdentity;
use ic_agent::{Agent, Identity};
use icrc_ledger_types::icrc1::account::Account;
use std::path::PathBuf;
use std::sync::OnceLock;

pub const FEE: u64 = 10_000;
pub const E8S: u64 = 100_000_000;
/// Each test user's genesis balance: 20M EMC.
pub const GENESIS: u64 = 20_000_000 * E8S;
/// Test users are seeds 10..40.
const USERS: std::ops::Range<u8> = 10..40;

pub struct Fixture {
    pub rt: tokio::runtime::Runtime,
    pub replica: RunningReplica,
    pub ids: CanisterIds,
    pub dir: PathBuf,
}

impl Fixture {
    pub fn url(&self) -> String {
        self.replica.url()
    }

    /// The PEM of test user `seed` (written once).
    pub fn pem(&self, seed: u8) -> PathBuf {
        let path = self.dir.join(format!("user-{seed}.pem"));
        if !path.exists() {
            let tmp = self.dir.join(format!(
                "user-{seed}.pem.tmp-{:?}",
                std::thread::current().id()
            ));
            std::fs::write(&tmp, ed25519_pem(&[seed; 32])).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
        }
        path
    }

    pub fn config(&self, seed: u8) -> EmcConfig {
        EmcConfig {
            url: self.url(),
            identity: Some(self.pem(seed)),
            timeout_secs: 30,
            canisters: self.ids,
            ..EmcConfig::default()
        }
    }

    pub fn emc(&self, seed: u8) -> Emc {
        Emc::connect(&self.config(seed)).unwrap()
    }
}

pub fn principal_of(seed: u8) -> Principal {
    BasicIdentity::from_raw_key(&[seed; 32]).sender().unwrap()
}

/// An ed25519 PKCS#8 v1 PEM (as dfx writes them) of a raw seed.
pub fn ed25519_pem(seed: &[u8; 32]) -> String {
    let mut der = hex::decode("302e020100300506032b657004220420").unwrap();
    der.extend_from_slice(seed);
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64(&der)
    )
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn create(agent: &Agent) -> Principal {
    let reply = agent
        .update(
            &Principal::management_canister(),
            "provisional_create_canister_with_cycles",
        )
        .with_arg(Encode!(&ProvisionalCreateArgs::default()).unwrap())
        .call_and_wait()
        .await
        .unwrap();
    Decode!(&reply, CanisterIdRecord).unwrap().canister_id
}

async fn install(agent: &Agent, canister_id: Principal, name: &str, arg: Vec<u8>) {
    agent
        .update(&Principal::management_canister(), "install_code")
        .with_effective_canister_id(canister_id)
        .with_arg(
            Encode!(&InstallCodeArgs {
                mode: InstallCodeMode::Install,
                canister_id,
                wasm_module: emc_test_env::canister_wasm(name),
                arg,
                sender_canister_version: None,
            })
            .unwrap(),
        )
        .call_and_wait()
        .await
        .unwrap();
}

async fn setup() -> (RunningReplica, CanisterIds) {
    let replica = emc_replica::start(ReplicaConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        snapshot_interval: None,
        ..ReplicaConfig::default()
    })
    .await
    .unwrap();
    let admin_id = BasicIdentity::from_raw_key(&[1; 32]);
    let admin = admin_id.sender().unwrap();
    let agent = Agent::builder()
        .with_url(replica.url())
        .with_identity(admin_id)
        .build()
        .unwrap();
    agent.fetch_root_key().await.unwrap();
    let ids = CanisterIds {
        ledger: create(&agent).await,
        registry: create(&agent).await,
        epochs: create(&agent).await,
        market: create(&agent).await,
        sockets: None,
    };
    let sockets = create(&agent).await;
    let treasury = Account::from(Principal::from_slice(&[0x77; 29]));
    let ledger = LedgerArg::Init(LedgerInit::emc(
        Account::from(ids.epochs),
        admin,
        FEE,
        USERS
            .map(|s| (Account::from(principal_of(s)), GENESIS))
            .collect(),
    ));
    install(&agent, ids.ledger, "ledger", Encode!(&ledger).unwrap()).await;
    let registry = emc_registry::RegistryArg::Init(emc_registry::InitArgs {
        ledger: ids.ledger,
        governance: admin,
        treasury,
        epochs_canister: Some(ids.epochs),
        ledger_fee_e8s: Some(FEE),
        params: None,
        genesis_time: None,
    });
    install(
        &agent,
        ids.registry,
        "registry",
        Encode!(&registry).unwrap(),
    )
    .await;
    let epochs = emc_epochs::EpochsArg::Init(emc_epochs::InitArgs {
        ledger: ids.ledger,
        registry: ids.registry,
        governance: admin,
        params: None,
    });
    install(&agent, ids.epochs, "epochs", Encode!(&epochs).unwrap()).await;
    let market = emc_market::MarketArg::Init(emc_market::InitArgs {
        ledger: ids.ledger,
        epochs: ids.epochs,
        registry: ids.registry,
        governance: admin,
        treasury,
        market_open_epoch: 0,
        params: Some(emc_market::Params {
            ledger_fee_e8s: FEE,
            ..emc_market::Params::default()
        }),
    });
    install(&agent, ids.market, "market", Encode!(&market).unwrap()).await;
    let sockets_init = emc_sockets::SocketsArg::Init(emc_sockets::InitArgs {
        minters: vec![ids.market],
        governance: admin,
        name: None,
        symbol: None,
        description: None,
        limits: None,
    });
    install(&agent, sockets, "sockets", Encode!(&sockets_init).unwrap()).await;
    // Governance (the admin here) opens socket sales through it.
    let reply = agent
        .update(&ids.market, "execute_set_sockets")
        .with_arg(Encode!(&Some(sockets)).unwrap())
        .call_and_wait()
        .await
        .unwrap();
    Decode!(&reply).unwrap();
    (
        replica,
        CanisterIds {
            sockets: Some(sockets),
            ..ids
        },
    )
}

/// The shared replica, started on first use.
pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (replica, ids) = rt.block_on(setup());
        let dir = std::env::temp_dir().join(format!("emc-sdk-it-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Fixture {
            rt,
            replica,
            ids,
            dir,
        }
    })
}

/// A node key of test `seed` (distinct from user keys).
pub fn node_key(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed.wrapping_add(100); 32])
}

/// Runs `emc` as test user `seed` (none: anonymous) against the shared replica, with no
/// configuration from the environment.
pub fn emc(seed: Option<u8>, args: &[&str]) -> std::process::Output {
    let f = fixture();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_emc"));
    cmd.arg("--url").arg(f.url());
    if let Some(s) = seed {
        cmd.arg("--identity").arg(f.pem(s));
    }
    cmd.env_remove("EMC_CONFIG")
        .env_remove("EMC_IDENTITY")
        .env_remove("EMC_URL")
        .env_remove("EMC_USER_KEY")
        .args(args)
        .output()
        .unwrap()
}

/// The JSON a successful command printed.
pub fn ok_json(out: std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Fails with exit code 1 and an error on stderr that contains `needle`.
pub fn fails_with(out: std::process::Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(err.contains("error:"), "stderr: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}
