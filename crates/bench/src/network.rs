//! The edge network on loopback: finality with 4, 7 and 13 validators, state-bit throughput
//! with 4, and the latency a router adds to a relayed message.
//!
//! Finality is measured per block and per validator: the time from the block's timestamp (its
//! proposer's clock when proposing; every node here shares the clock) to the validator's commit.
//! The network is a real `emc-devnet` cluster: QUIC, ed25519 on every vote, the write-ahead
//! log in files (without fsync: loopback benchmarks measure the protocol, not the disk).

use anyhow::{ensure, Result};
use edge_node::validator::{Command, CommitInfo};
use emc_devnet::{Cluster, ClusterConfig};
use emc_edge_core::protocol::{RelayEnvelope, KIND_CONSENSUS, KIND_RELAY};
use emc_net::{Event, Identity, NetConfig, Network, Role, Roles, StaticAuthorizer};
use emc_router::{start_router, RouterConfig};
use emc_types::NodeId;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn run() -> Result<Value> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut out = serde_json::Map::new();
        for n in [4usize, 7, 13] {
            let (p50, p99, blocks) = finality(n).await?;
            out.insert(format!("finality_p50_ms_{n}"), json!(p50));
            out.insert(format!("finality_p99_ms_{n}"), json!(p99));
            out.insert(format!("finality_blocks_{n}"), json!(blocks));
        }
        out.extend(crate::network_sim::report());
        let (bits, blocks) = state_bits().await?;
        out.insert("state_bits_per_s_4".into(), json!(bits));
        out.insert("state_bits_blocks_4".into(), json!(blocks));
        out.insert(
            "router_overhead_p50_us".into(),
            json!(router_overhead().await?),
        );
        out.insert(
            "machine_cores".into(),
            json!(std::thread::available_parallelism().map_or(0, |n| n.get())),
        );
        Ok(Value::Object(out))
    })
}

fn cluster_config(name: &str, n: usize) -> ClusterConfig {
    let dir = std::env::temp_dir().join(format!("emc-bench-net-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut c = ClusterConfig::devnet(dir);
    c.validators = n;
    c.routers = 0;
    c.compute = 0;
    c.genesis_delay = Duration::from_secs(3);
    c.validator.block_interval = Duration::from_millis(50);
    c.validator.round_timeout = Duration::from_millis(500);
    c.validator.epoch_length = 100_000;
    c.validator.checkpoint_interval = 1_000;
    c.validator.probe_interval = Duration::from_secs(5);
    c.validator.poc_interval = Duration::ZERO; // consensus alone: no PoC challenges

    c
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    (v[i] * 100.0).round() / 100.0
}

async fn collect(
    c: &Cluster,
    warmup: Duration,
    window: Duration,
) -> Result<(Vec<CommitInfo>, usize)> {
    // Every validator past the first blocks (connections up), then the warm-up.
    while c
        .running()
        .map(|(_, v)| v.handle.status.get().height)
        .min()
        .unwrap_or(0)
        < 5
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(warmup).await;
    let mut rxs: Vec<_> = c
        .running()
        .map(|(_, v)| v.handle.commits.subscribe())
        .collect();
    let end = Instant::now() + window;
    let mut all = Vec::new();
    let mut heights = std::collections::BTreeSet::new();
    while Instant::now() < end {
        for rx in &mut rxs {
            while let Ok(info) = rx.try_recv() {
                heights.insert(info.height);
                all.push(info);
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok((all, heights.len()))
}

async fn finality(n: usize) -> Result<(f64, f64, usize)> {
    let c = Cluster::start(cluster_config(&format!("fin{n}"), n)).await?;
    let (commits, blocks) = collect(&c, Duration::from_secs(2), Duration::from_secs(8)).await?;
    c.shutdown().await;
    ensure!(blocks > 10, "{n} validators committed only {blocks} blocks");
    let mut ms: Vec<f64> = commits
        .iter()
        .map(|i| i.committed_at_ns.saturating_sub(i.proposed_at_ns) as f64 / 1e6)
        .collect();
    let p50 = percentile(&mut ms, 0.50);
    let p99 = percentile(&mut ms, 0.99);
    Ok((p50, p99, blocks))
}

/// Four validators each queue PoC results as fast as blocks take them; state bits committed
/// per second of wall time.
async fn state_bits() -> Result<(u64, usize)> {
    let mut cfg = cluster_config("bits", 4);
    cfg.validator.block_interval = Duration::from_millis(0);
    let c = Cluster::start(cfg).await?;
    let feeders: Vec<_> = c
        .running()
        .map(|(i, v)| {
            let tx = v.handle.commands.clone();
            tokio::spawn(async move {
                let mut k = 0u64;
                loop {
                    let batch: Vec<(NodeId, u64, bool)> = (0..1_000)
                        .map(|_| {
                            k += 1;
                            let mut id = [0u8; 32];
                            id[..8].copy_from_slice(&(i as u64).to_be_bytes());
                            id[8..16].copy_from_slice(&k.to_be_bytes());
                            (NodeId(id), 15_000, true)
                        })
                        .collect();
                    if tx.send(Command::RecordPoc(batch)).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        })
        .collect();
    let (commits, blocks) = collect(&c, Duration::from_secs(2), Duration::from_secs(8)).await?;
    for f in feeders {
        f.abort();
    }
    c.shutdown().await;
    // Each block counted once (by the first validator that reported it).
    let mut seen = std::collections::BTreeSet::new();
    let bits: usize = commits
        .iter()
        .filter(|i| seen.insert(i.height))
        .map(|i| i.bits)
        .sum();
    Ok(((bits as f64 / 8.0) as u64, blocks))
}

fn bind(
    seed: u8,
    role: Role,
    auth: Arc<StaticAuthorizer>,
) -> Result<(Network, tokio::sync::mpsc::Receiver<Event>)> {
    let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    Ok(Network::bind(
        NetConfig {
            listen_addr: "127.0.0.1:0".parse()?,
            ..NetConfig::default()
        },
        Identity::from_signing_key(key)?,
        auth,
        role,
    )?)
}

/// Ping-pong between two validators, directly and through a router; the router's share is
/// half the difference of the round trips (p50).
async fn router_overhead() -> Result<f64> {
    let auth = Arc::new(StaticAuthorizer::new());
    let (a, mut a_ev) = bind(1, Role::Validator, auth.clone())?;
    let (b, mut b_ev) = bind(2, Role::Validator, auth.clone())?;
    let (r, r_ev) = bind(3, Role::Router, auth.clone())?;
    auth.set(a.node_id(), Roles::from(Role::Validator));
    auth.set(b.node_id(), Roles::from(Role::Validator));
    auth.set(r.node_id(), Roles::from(Role::Router));
    let router = start_router(RouterConfig::default(), r.clone(), r_ev, auth.clone(), None);
    a.connect(b.node_id(), b.local_addr()?).await?;
    a.connect(r.node_id(), r.local_addr()?).await?;
    b.connect(r.node_id(), r.local_addr()?).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (aid, bid) = (a.node_id(), b.node_id());
    // B echoes: a direct frame straight back, a relayed one back through the router.
    let b2 = b.clone();
    let echo = tokio::spawn(async move {
        while let Some(ev) = b_ev.recv().await {
            if let Event::Frame { kind, payload, .. } = ev {
                match kind {
                    KIND_CONSENSUS => {
                        let _ = b2.send(&aid, KIND_CONSENSUS, payload);
                    }
                    KIND_RELAY => {
                        if let Ok(env) = RelayEnvelope::decode(&payload) {
                            let back = RelayEnvelope {
                                origin: bid,
                                target: Some(env.origin),
                                message: env.message,
                            };
                            let _ =
                                b2.broadcast(KIND_RELAY, back.encode(), Roles::from(Role::Router));
                        }
                    }
                    _ => {}
                }
            }
        }
    });
    let msg = vec![7u8; 200]; // the size of a signed vote
    let rtt = |relayed: bool| {
        let (a, msg) = (a.clone(), msg.clone());
        async move {
            let t0 = Instant::now();
            if relayed {
                let env = RelayEnvelope {
                    origin: aid,
                    target: Some(bid),
                    message: msg,
                };
                a.broadcast(KIND_RELAY, env.encode(), Roles::from(Role::Router))?;
            } else {
                a.send(&bid, KIND_CONSENSUS, msg)?;
            }
            anyhow::Ok(t0)
        }
    };
    let mut direct = Vec::new();
    let mut via = Vec::new();
    for round in 0..4_000 {
        let relayed = round % 2 == 1;
        let t0 = rtt(relayed).await?;
        loop {
            match tokio::time::timeout(Duration::from_secs(2), a_ev.recv()).await {
                Ok(Some(Event::Frame { kind, .. }))
                    if kind == KIND_CONSENSUS || kind == KIND_RELAY =>
                {
                    break
                }
                Ok(Some(_)) => continue,
                _ => anyhow::bail!("echo lost"),
            }
        }
        let us = t0.elapsed().as_secs_f64() * 1e6;
        if round >= 400 {
            if relayed {
                via.push(us)
            } else {
                direct.push(us)
            }
        }
    }
    echo.abort();
    router.stop().await;
    let d = percentile(&mut direct, 0.5);
    let v = percentile(&mut via, 0.5);
    for n in [a, b, r] {
        n.close().await;
    }
    Ok((((v - d) / 2.0) * 100.0).round() / 100.0)
}
