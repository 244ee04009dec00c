//! The replica's integration tests, one binary. `cargo test -p emc-replica --test it <module>::`
//! runs one module.
//!
//! * `agent`: ic-agent 0.45 (directly and through `emc_ic_client::AgentClient`) against a
//!   replica on a loopback port: the management canister installs the real ledger wasm,
//!   transfers and balances with certificate and query-signature verification on; ed25519,
//!   secp256k1, P-256 and delegated identities; a replica with another root key is refused.
//! * `attached`: a replica over an embedded IC another thread owns (the devnet's seam).
//! * `bad_input`: malformed CBOR, wrong content type, oversized bodies, bad signatures,
//!   expired or far-future ingress, unknown canisters and methods, a stopped canister: the
//!   IC's status and reject codes, no state change, and the replica keeps serving.
//! * `acceptance`: DFINITY's ICRC-1/ICRC-2 acceptance suite through ic-agent.
//! * `registry`: register and stake through the registry (inter-canister calls to the ledger)
//!   with `AgentClient`'s typed wrappers.
//! * `node`: @dfinity/agent in Node (skipped with a message without node/npm).
//! * `restart`: the state survives a restart (snapshot in the state directory); the manual clock.
//! * `envelope_props`: property tests of the envelope decoder.
//!
//! Needs `target/canisters/{ledger,registry,test-canister}.wasm` (`scripts/build-canisters.sh`).

mod acceptance;
mod agent;
mod attached;
mod bad_input;
mod envelope_props;
mod node;
mod registry;
mod restart;

use candid::{Decode, Encode, Principal};
use emc_ledger::{InitArgs as LedgerInit, LedgerArg};
use emc_replica::management::{
    CanisterIdRecord, InstallCodeArgs, InstallCodeMode, ProvisionalCreateArgs,
};
use emc_replica::{ReplicaConfig, RunningReplica};
use ic_agent::identity::BasicIdentity;
use ic_agent::{Agent, Identity};
use icrc_ledger_types::icrc1::account::Account;
use std::path::PathBuf;
use std::sync::Arc;

pub const FEE: u64 = 10_000;
pub const GENESIS: u64 = 20_000_000 * 100_000_000;

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub async fn start(state_dir: Option<PathBuf>) -> RunningReplica {
    emc_replica::start(ReplicaConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_dir,
        snapshot_interval: None,
        ..ReplicaConfig::default()
    })
    .await
    .unwrap()
}

pub fn ed25519(seed: u8) -> BasicIdentity {
    BasicIdentity::from_raw_key(&[seed; 32])
}

pub async fn agent(replica: &RunningReplica, identity: impl Identity + 'static) -> Agent {
    let agent = Agent::builder()
        .with_url(replica.url())
        .with_identity(identity)
        .build()
        .unwrap();
    agent.fetch_root_key().await.unwrap();
    agent
}

/// Creates a canister through the management canister over HTTP and installs `wasm`.
pub async fn install(agent: &Agent, wasm: Vec<u8>, arg: Vec<u8>) -> Principal {
    let reply = agent
        .update(
            &Principal::management_canister(),
            "provisional_create_canister_with_cycles",
        )
        .with_arg(Encode!(&ProvisionalCreateArgs::default()).unwrap())
        .call_and_wait()
        .await
        .unwrap();
    let CanisterIdRecord { canister_id } = Decode!(&reply, CanisterIdRecord).unwrap();
    agent
        .update(&Principal::management_canister(), "install_code")
        .with_effective_canister_id(canister_id)
        .with_arg(
            Encode!(&InstallCodeArgs {
                mode: InstallCodeMode::Install,
                canister_id,
                wasm_module: wasm,
                arg,
                sender_canister_version: None,
            })
            .unwrap(),
        )
        .call_and_wait()
        .await
        .unwrap();
    canister_id
}

/// The ledger, with `GENESIS` for each of `owners`, installed by `agent`'s identity.
pub async fn install_ledger(agent: &Agent, owners: &[Principal]) -> Principal {
    let init = LedgerArg::Init(LedgerInit::emc(
        Account::from(Principal::from_slice(&[0xee; 29])),
        Principal::from_slice(&[0xdd; 29]),
        FEE,
        owners
            .iter()
            .map(|o| (Account::from(*o), GENESIS))
            .collect(),
    ));
    install(
        agent,
        emc_test_env::canister_wasm("ledger"),
        Encode!(&init).unwrap(),
    )
    .await
}

pub fn principal_of(identity: &impl Identity) -> Principal {
    identity.sender().unwrap()
}
