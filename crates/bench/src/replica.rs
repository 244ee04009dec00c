//! Suite `replica`: the local replica (`emc-replica`) over HTTP on loopback, driven by
//! ic-agent 0.45 with certificate and query-signature verification on.
//!
//! * `update_calls_per_s`: ledger transfers from 16 concurrent callers (each its own agent and
//!   identity), `call_and_wait` on the v4 sync call endpoint, certified replies verified.
//! * `update_p50_ms`: one caller, one transfer after the other.
//! * `query_p50_us`: one caller, `icrc1_balance_of` queries, node signatures verified.
//! * `state_snapshot_ms_100k_accounts`: a ledger with 100,000 accounts, exported and written
//!   atomically to disk (format v1), and restored.

use anyhow::{anyhow, Context, Result};
use candid::{Decode, Encode, Nat, Principal};
use emc_embedded_ic::{user_principal, EmbeddedIc, IcConfig};
use emc_ledger::{InitArgs, LedgerArg};
use emc_replica::management::{
    CanisterIdRecord, InstallCodeArgs, InstallCodeMode, ProvisionalCreateArgs,
};
use emc_replica::ReplicaConfig;
use ic_agent::identity::BasicIdentity;
use ic_agent::{Agent, Identity};
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::{TransferArg, TransferError};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CALLERS: usize = 16;
const TRANSFERS_PER_CALLER: usize = 60;
const SEQUENTIAL: usize = 200;
const QUERIES: usize = 2_000;
const SNAPSHOT_ACCOUNTS: u64 = 100_000;
const FEE: u64 = 10_000;

fn identity(n: usize) -> BasicIdentity {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(n as u64 + 1).to_be_bytes());
    BasicIdentity::from_raw_key(&seed)
}

async fn agent(url: &str, id: BasicIdentity) -> Result<Agent> {
    let agent = Agent::builder()
        .with_url(url)
        .with_identity(id)
        .build()
        .context("agent")?;
    agent.fetch_root_key().await.context("fetch_root_key")?;
    Ok(agent)
}

async fn transfer(agent: &Agent, ledger: Principal, n: u64) -> Result<()> {
    let arg = TransferArg {
        from_subaccount: None,
        to: Account::from(Principal::from_slice(&[0x42; 29])),
        fee: None,
        created_at_time: None,
        memo: Some(n.to_be_bytes().to_vec().into()),
        amount: Nat::from(1u64),
    };
    let reply = agent
        .update(&ledger, "icrc1_transfer")
        .with_arg(Encode!(&arg)?)
        .call_and_wait()
        .await?;
    Decode!(&reply, Result<Nat, TransferError>)?.map_err(|e| anyhow!("{e:?}"))?;
    Ok(())
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

pub fn run() -> Result<Value> {
    let wasm = crate::canister_wasm("ledger")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut report = runtime.block_on(over_http(wasm.clone()))?;
    let snapshot = snapshot_100k(&wasm)?;
    if let (Value::Object(r), Value::Object(s)) = (&mut report, snapshot) {
        r.extend(s);
    }
    Ok(report)
}

async fn over_http(wasm: Vec<u8>) -> Result<Value> {
    let replica = emc_replica::start(ReplicaConfig {
        listen: "127.0.0.1:0".parse()?,
        snapshot_interval: None,
        ..ReplicaConfig::default()
    })
    .await?;
    let url = replica.url();
    let admin = agent(&url, identity(1000)).await?;
    let owners: Vec<Principal> = (0..=CALLERS)
        .map(|n| identity(n).sender().map_err(|e| anyhow!(e)))
        .collect::<Result<_>>()?;
    let init = LedgerArg::Init(InitArgs::emc(
        Account::from(user_principal(3)),
        user_principal(4),
        FEE,
        owners
            .iter()
            .map(|o| (Account::from(*o), 1_000_000_000_000))
            .collect(),
    ));
    let mgmt = Principal::management_canister();
    let reply = admin
        .update(&mgmt, "provisional_create_canister_with_cycles")
        .with_arg(Encode!(&ProvisionalCreateArgs::default())?)
        .call_and_wait()
        .await?;
    let CanisterIdRecord {
        canister_id: ledger,
    } = Decode!(&reply, CanisterIdRecord)?;
    admin
        .update(&mgmt, "install_code")
        .with_effective_canister_id(ledger)
        .with_arg(Encode!(&InstallCodeArgs {
            mode: InstallCodeMode::Install,
            canister_id: ledger,
            wasm_module: wasm,
            arg: Encode!(&init)?,
            sender_canister_version: None,
        })?)
        .call_and_wait()
        .await?;

    // One caller: sync-call latency, then query latency.
    let solo = agent(&url, identity(CALLERS)).await?;
    let mut latencies = Vec::with_capacity(SEQUENTIAL);
    for n in 0..SEQUENTIAL {
        let t = Instant::now();
        transfer(&solo, ledger, n as u64).await?;
        latencies.push(t.elapsed());
    }
    let update_p50 = percentile(latencies.clone(), 0.5);
    let update_p99 = percentile(latencies, 0.99);
    let arg = Encode!(&Account::from(owners[0]))?;
    let mut latencies = Vec::with_capacity(QUERIES);
    for _ in 0..QUERIES {
        let t = Instant::now();
        let reply = solo
            .query(&ledger, "icrc1_balance_of")
            .with_arg(arg.clone())
            .call()
            .await?;
        latencies.push(t.elapsed());
        Decode!(&reply, Nat)?;
    }
    let query_p50 = percentile(latencies.clone(), 0.5);
    let query_p99 = percentile(latencies, 0.99);

    // 16 concurrent callers.
    let mut agents = Vec::with_capacity(CALLERS);
    for n in 0..CALLERS {
        agents.push(agent(&url, identity(n)).await?);
    }
    let started = Instant::now();
    let tasks: Vec<_> = agents
        .into_iter()
        .map(|a| {
            tokio::spawn(async move {
                for n in 0..TRANSFERS_PER_CALLER {
                    transfer(&a, ledger, 1_000_000 + n as u64).await?;
                }
                Ok::<(), anyhow::Error>(())
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed();
    let total = CALLERS * TRANSFERS_PER_CALLER;
    replica.shutdown().await;
    Ok(json!({
        "suite": "replica",
        "client": "ic-agent 0.45, certificate and query-signature verification on",
        "update_calls_per_s": (total as f64 / elapsed.as_secs_f64()).round(),
        "update_calls": total,
        "concurrent_callers": CALLERS,
        "update_p50_ms": update_p50.as_secs_f64() * 1e3,
        "update_p99_ms": update_p99.as_secs_f64() * 1e3,
        "query_p50_us": query_p50.as_micros() as u64,
        "query_p99_us": query_p99.as_micros() as u64,
        "targets": {"update_calls_per_s": 500, "query_p50_us": 1000},
    }))
}

fn snapshot_100k(wasm: &[u8]) -> Result<Value> {
    let config = IcConfig {
        trace_debug_print: false,
        ..IcConfig::default()
    };
    let mut ic = EmbeddedIc::with_config(config.clone());
    let accounts: Vec<(Account, u64)> = (0..SNAPSHOT_ACCOUNTS)
        .map(|i| (Account::from(user_principal(10 + i)), 1_000_000))
        .collect();
    let init = LedgerArg::Init(InitArgs::emc(
        Account::from(user_principal(3)),
        user_principal(4),
        FEE,
        accounts,
    ));
    let admin = user_principal(1);
    let started = Instant::now();
    ic.install_canister(wasm, Encode!(&init)?, vec![admin])
        .map_err(|e| anyhow!("install with {SNAPSHOT_ACCOUNTS} accounts: {e}"))?;
    let install_ms = started.elapsed().as_secs_f64() * 1e3;
    let dir = std::env::temp_dir().join(format!("emc-bench-replica-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let started = Instant::now();
    let bytes = emc_replica::snapshot::write(&dir, &ic)?;
    let snapshot_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    let state = emc_replica::snapshot::read(&dir)?.ok_or_else(|| anyhow!("no snapshot"))?;
    let restored = emc_replica::snapshot::restore(state, config)?;
    let restore_ms = started.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(restored.canister_ids() == ic.canister_ids());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({
        "state_snapshot_ms_100k_accounts": snapshot_ms,
        "state_snapshot_bytes_100k_accounts": bytes,
        "state_restore_ms_100k_accounts": restore_ms,
        "ledger_install_ms_100k_accounts": install_ms,
    }))
}
