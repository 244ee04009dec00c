//! The multi-process devnet (issue #13): `emc-replica`, 4 `edge-node` validators, 1 `router`
//! and 2 `edge-node` compute nodes, each its own process, the canisters deployed over HTTP by
//! `emc_sdk::deploy`, every node registered and staked by `edge-node register` / `stake`.
//! Blocks are committed, the epochs canister accepts checkpoints over HTTP, epoch 0's rewards
//! are paid; a validator killed with SIGKILL and started again from its files (its
//! write-ahead log) rejoins: the chain goes on, checkpoints accepted before stay as they
//! were, the checkpoints after it link to them, and no validator saw an equivocation.
//!
//! The binaries are built by the test (`cargo build --workspace --bin edge-node --bin router
//! --bin emc-replica`, the test's own profile), so it runs in a clean checkout too. Proof of
//! computing is off (debug-build provers would only load the 2 cores).

use anyhow::{anyhow, ensure, Result};
use emc_devnet::processes::{Binaries, ProcessCluster};
use emc_devnet::ClusterConfig;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::{sleep, Instant};

use super::SERIAL;

fn config() -> ClusterConfig {
    let dir = std::env::temp_dir().join(format!("emc-processes-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut c = ClusterConfig::devnet(dir);
    c.genesis_delay = Duration::from_secs(20);
    // 240 blocks of 250 ms: a 60 s epoch (the registry's shortest), a checkpoint every 7.5 s.
    c.validator.block_interval = Duration::from_millis(250);
    c.validator.round_timeout = Duration::from_millis(500);
    c.validator.round_timeout_cap = Duration::from_secs(2);
    c.validator.epoch_length = 240;
    c.validator.checkpoint_interval = 30;
    c.validator.registry_refresh = Duration::from_secs(2);
    c.validator.submit_stagger = Duration::from_millis(500);
    c.validator.poc_interval = Duration::ZERO;
    c.router.epoch_length = 240;
    c
}

async fn heights(c: &ProcessCluster, validators: usize) -> Vec<Option<u64>> {
    let mut out = Vec::new();
    for i in 0..validators {
        out.push(c.node_status(i).await.and_then(|s| s["height"].as_u64()));
    }
    out
}

async fn wait_until<F, Fut>(
    c: &mut ProcessCluster,
    what: &str,
    secs: u64,
    mut cond: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        c.check_running()?;
        if cond().await {
            return Ok(());
        }
        ensure!(
            Instant::now() < end,
            "timed out ({secs} s) waiting for {what}"
        );
        sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_commit_anchor_and_pay_and_a_killed_validator_rejoins_from_its_log() -> Result<()>
{
    let _serial = SERIAL.lock().await;
    let t0 = Instant::now();
    let bins = tokio::task::spawn_blocking(Binaries::build).await??;
    let built = t0.elapsed();
    let cfg = config();
    let dir = cfg.data_dir.clone();
    let mut c = ProcessCluster::start(cfg, bins, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let started = t0.elapsed();
    // Each node is its own process, configured by its own file.
    let pids: std::collections::BTreeSet<u32> =
        (0..c.members.len()).filter_map(|i| c.pid(i)).collect();
    assert_eq!(pids.len(), 7, "4 validators, 1 router, 2 compute nodes");
    assert!(pids.iter().all(|p| *p != std::process::id()));
    for m in &c.members {
        assert!(m.config().is_file(), "{}", m.config().display());
    }

    // Blocks, and checkpoints accepted by the epochs canister over HTTP.
    let ic = c.ic.clone();
    let ids: Vec<_> = c.members.iter().map(|m| m.id).collect();
    let probe = ProcessProbe::new(&c);
    wait_until(&mut c, "30 blocks on every validator", 120, || {
        let p = probe.clone();
        async move { p.heights().await.iter().all(|h| h.is_some_and(|h| h >= 30)) }
    })
    .await?;
    wait_until(&mut c, "checkpoint 30 on the IC", 60, || {
        let ic = ic.clone();
        async move { ic.epochs.stats().await.ok().and_then(|s| s.tip_height) >= Some(30) }
    })
    .await?;
    let cp30 = ic
        .epochs
        .checkpoint(30)
        .await?
        .ok_or_else(|| anyhow!("checkpoint 30 is not stored"))?;
    assert!(cp30.signers.len() >= 3, "a quorum of the 4 signed");
    // The router sees both compute nodes.
    let router = c
        .node_status(4)
        .await
        .ok_or_else(|| anyhow!("router status"))?;
    assert_eq!(
        router["compute"].as_object().map(|m| m.len()),
        Some(2),
        "{router}"
    );

    // Kill validator 3 (SIGKILL: a crash); 3 of 4 go on.
    let killed_at = heights(&c, 4).await[3].unwrap_or(0);
    c.kill(3).await;
    wait_until(&mut c, "30 more blocks with 3 of 4", 60, || {
        let p = probe.clone();
        async move {
            p.heights().await[..3]
                .iter()
                .all(|h| h.is_some_and(|h| h >= killed_at + 30))
        }
    })
    .await?;
    // Restart it from its files: it syncs and commits with the others again.
    c.restart(3).await?;
    let at_restart = heights(&c, 3)
        .await
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
    wait_until(&mut c, "the restarted validator to catch up", 90, || {
        let p = probe.clone();
        async move { p.heights().await[3].is_some_and(|h| h >= at_restart + 20) }
    })
    .await?;
    let rejoined = t0.elapsed();

    // Epoch 0 (240 blocks) closes and its rewards are paid.
    wait_until(&mut c, "epoch 0's rewards", 180, || {
        let ic = ic.clone();
        let v0 = ids[0];
        async move {
            matches!(
                ic.epochs.node_reward(v0, 0).await,
                Ok(Some(p)) if matches!(p.status, emc_epochs::PayoutStatus::Paid { .. })
            )
        }
    })
    .await?;
    let paid = t0.elapsed();
    let stats = ic.epochs.stats().await?;
    assert_eq!(stats.last_closed_epoch, Some(0));
    assert!(stats.total_emitted_e8s > 0);
    let router_paid = ic.epochs.node_reward(ids[4], 0).await?;
    assert!(
        router_paid.is_some_and(|p| p.amount_e8s > 0),
        "the router earns in epoch 0"
    );

    // The same history: checkpoint 30 as accepted before the crash, and every checkpoint
    // since links to the one before (the canister accepts only such), past the restart.
    let tip = stats.tip_height.unwrap_or(0);
    assert!(tip >= 240 && tip > at_restart, "tip {tip}");
    let again = ic
        .epochs
        .checkpoint(30)
        .await?
        .ok_or_else(|| anyhow!("cp 30"))?;
    assert_eq!(again.hash, cp30.hash);
    assert!(!again.voided);
    let mut prev = cp30.hash;
    for h in (60..=tip).step_by(30) {
        if let Some(cp) = ic.epochs.checkpoint(h).await? {
            assert_eq!(cp.checkpoint.prev_checkpoint_hash, prev, "checkpoint {h}");
            assert!(!cp.voided, "checkpoint {h} voided");
            prev = cp.hash;
        }
    }
    // The restarted validator anchors the same checkpoints, and nobody double-signed.
    let v3 = c
        .node_status(3)
        .await
        .ok_or_else(|| anyhow!("validator 3 status"))?;
    assert!(
        v3["last_checkpoint_ready"].as_u64() > Some(at_restart.saturating_sub(30)),
        "{v3}"
    );
    for i in 0..4 {
        assert_eq!(
            c.metric(i, "emc_equivocations_seen_total").await,
            Some(0.0),
            "validator {i}"
        );
    }
    println!(
        "processes: binaries ready {:.1}s, network up {:.1}s, validator 3 rejoined {:.1}s, epoch 0 paid {:.1}s (tip {tip})",
        built.as_secs_f64(),
        started.as_secs_f64(),
        rejoined.as_secs_f64(),
        paid.as_secs_f64()
    );
    c.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Reads the validators' heights through their status endpoints (cheap to clone into the
/// wait conditions).
#[derive(Clone)]
struct ProcessProbe(Vec<SocketAddr>);

impl ProcessProbe {
    fn new(c: &ProcessCluster) -> Self {
        ProcessProbe(
            c.members
                .iter()
                .filter(|m| m.role == emc_types::Role::Validator)
                .map(|m| m.status_addr)
                .collect(),
        )
    }

    async fn heights(&self) -> Vec<Option<u64>> {
        let mut out = Vec::new();
        for a in &self.0 {
            let body = emc_devnet::processes::http_get(*a, "/status").await;
            out.push(
                body.and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
                    .and_then(|s| s["height"].as_u64()),
            );
        }
        out
    }
}
