//! The edge network end to end, on loopback with real QUIC and the real canister wasm on the
//! embedded IC: commits and IC-accepted checkpoints, crashes (one and two validators of four),
//! restarts from the write-ahead log, an unlisted key, relaying through a router (and an
//! altering router), and a partition that heals. Every test watches every validator's commits
//! and fails on two different blocks at one height.

use anyhow::Result;
use edge_node::validator::CommitInfo;
use emc_devnet::{Cluster, ClusterConfig};
use emc_edge_core::protocol::{RelayEnvelope, KIND_RELAY};
use emc_net::{Event, Identity, NetConfig, Network, Role, Roles, StaticAuthorizer};
use emc_types::Hash;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{sleep, Instant};

use super::SERIAL;

fn config(name: &str, routers: usize) -> ClusterConfig {
    let dir = std::env::temp_dir().join(format!("emc-net-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut c = ClusterConfig::devnet(dir);
    c.routers = routers;
    c.compute = 1;
    c.genesis_delay = Duration::from_secs(3);
    // 600 blocks of 100 ms: one 60 s epoch (the registry's shortest), so no test crosses one.
    c.validator.block_interval = Duration::from_millis(100);
    c.validator.round_timeout = Duration::from_millis(500);
    c.validator.round_timeout_cap = Duration::from_secs(2);
    c.validator.epoch_length = 600;
    c.validator.checkpoint_interval = 25;
    c.validator.registry_refresh = Duration::from_secs(2);
    c.validator.submit_stagger = Duration::from_millis(500);
    c
}

/// Records every commit of every validator and checks that no height has two blocks.
#[derive(Clone, Default)]
struct Safety(Arc<Mutex<BTreeMap<u64, Hash>>>);

impl Safety {
    fn watch(&self, c: &Cluster) {
        for (i, v) in c.running() {
            self.watch_one(i, v.handle.commits.subscribe());
        }
    }

    fn watch_one(&self, i: usize, mut rx: tokio::sync::broadcast::Receiver<CommitInfo>) {
        let seen = self.0.clone();
        tokio::spawn(async move {
            while let Ok(info) = rx.recv().await {
                let mut m = seen.lock().unwrap();
                let h = *m.entry(info.height).or_insert(info.hash);
                assert_eq!(
                    h, info.hash,
                    "validator {i} committed a conflicting block at {}",
                    info.height
                );
            }
        });
    }

    fn heights(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

fn height(c: &Cluster, i: usize) -> u64 {
    c.validators[i]
        .as_ref()
        .map_or(0, |v| v.handle.status.get().height)
}

fn max_height(c: &Cluster) -> u64 {
    c.running()
        .map(|(_, v)| v.handle.status.get().height)
        .max()
        .unwrap_or(0)
}

async fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        sleep(Duration::from_millis(100)).await;
    }
}

async fn ic_tip(c: &Cluster) -> u64 {
    c.ic.epochs
        .stats()
        .await
        .ok()
        .and_then(|s| s.tip_height)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_commit_and_the_ic_accepts_their_checkpoints() -> Result<()> {
    let _serial = SERIAL.lock().await;
    let c = Cluster::start(config("commit", 1)).await?;
    let safety = Safety::default();
    safety.watch(&c);
    wait_for("50 blocks", Duration::from_secs(60), || {
        c.running().all(|(_, v)| v.handle.status.get().height >= 50)
    })
    .await;
    let end = Instant::now() + Duration::from_secs(30);
    while ic_tip(&c).await < 50 {
        assert!(Instant::now() < end, "checkpoints 25 and 50 not accepted");
        sleep(Duration::from_millis(200)).await;
    }
    let stored = c.ic.epochs.checkpoint(50).await?.expect("checkpoint 50");
    assert!(
        stored.signers.len() >= 3,
        "a quorum of the 4 validators signed"
    );
    assert!(c.ic.epochs.checkpoint(25).await?.is_some());
    // The router saw the compute node; validators' probes reached everyone.
    assert_eq!(c.routers[0].0.status.get().compute.len(), 1);
    assert!(safety.heights() >= 50);
    c.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_crash_is_tolerated_two_stop_progress_until_one_restarts_from_its_log() -> Result<()> {
    let _serial = SERIAL.lock().await;
    let mut c = Cluster::start(config("crash", 0)).await?;
    let safety = Safety::default();
    safety.watch(&c);
    wait_for("10 blocks", Duration::from_secs(60), || {
        max_height(&c) >= 10
    })
    .await;

    c.stop_validator(3).await;
    let h = max_height(&c);
    wait_for("progress with 3 of 4", Duration::from_secs(30), || {
        max_height(&c) >= h + 15
    })
    .await;

    c.stop_validator(2).await;
    sleep(Duration::from_secs(1)).await; // blocks in flight settle
    let stalled = max_height(&c);
    sleep(Duration::from_secs(3)).await;
    assert!(max_height(&c) <= stalled + 1, "2 of 4 cannot commit");

    c.restart_validator(2).await?;
    let v = c.validators[2].as_ref().unwrap();
    safety.watch_one(2, v.handle.commits.subscribe());
    wait_for(
        "progress after the restart",
        Duration::from_secs(60),
        || max_height(&c) >= stalled + 15,
    )
    .await;
    wait_for(
        "the restarted validator catches up",
        Duration::from_secs(30),
        || height(&c, 2) + 2 >= max_height(&c),
    )
    .await;
    c.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_the_registry_does_not_list_cannot_connect() -> Result<()> {
    let _serial = SERIAL.lock().await;
    let c = Cluster::start(config("unlisted", 0)).await?;
    wait_for(
        "the validators' first registry view",
        Duration::from_secs(60),
        || max_height(&c) >= 1,
    )
    .await;
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[0x5a; 32]);
    let auth = Arc::new(StaticAuthorizer::new());
    for m in &c.members {
        auth.set(m.id, Roles::from(Role::Validator));
    }
    let (net, _events) = Network::bind(
        NetConfig {
            listen_addr: "127.0.0.1:0".parse()?,
            ..NetConfig::default()
        },
        Identity::from_signing_key(stranger)?,
        auth,
        Role::Validator,
    )?;
    let target = &c.members[0];
    assert!(
        net.connect(target.id, target.addr).await.is_err(),
        "refused at the handshake"
    );
    // A registered key claiming a role it does not have is refused too: a compute node's key
    // dialing as a validator.
    let compute = c
        .members
        .iter()
        .find(|m| m.role == emc_types::Role::Compute)
        .unwrap();
    let auth = Arc::new(StaticAuthorizer::new());
    auth.set(target.id, Roles::from(Role::Validator));
    let (liar, _events) = Network::bind(
        NetConfig {
            listen_addr: "127.0.0.1:0".parse()?,
            ..NetConfig::default()
        },
        Identity::from_signing_key(compute.key.clone())?,
        auth,
        Role::Validator,
    )?;
    assert!(
        liar.connect(target.id, target.addr).await.is_err(),
        "wrong role refused"
    );
    net.close().await;
    liar.close().await;
    c.shutdown().await;
    Ok(())
}

/// Every validator but 3 talks directly; 3 reaches the others only through the router.
fn isolate_behind_router(c: &Cluster) {
    for j in 0..3 {
        c.set_link(3, j, false);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_relays_and_an_altered_message_is_rejected() -> Result<()> {
    let _serial = SERIAL.lock().await;
    let mut c = Cluster::start(config("relay", 1)).await?;
    let safety = Safety::default();
    safety.watch(&c);
    wait_for("10 blocks", Duration::from_secs(60), || {
        max_height(&c) >= 10
    })
    .await;
    isolate_behind_router(&c);
    let h = height(&c, 3);
    wait_for(
        "validator 3 follows through the router",
        Duration::from_secs(30),
        || height(&c, 3) >= h + 20,
    )
    .await;
    assert!(c.routers[0].0.status.get().relayed > 0);

    // Replace the router by one that flips a byte of every relayed message.
    let (router, net) = c.routers.remove(0);
    router.stop().await;
    net.close().await;
    let m = c
        .members
        .iter()
        .find(|m| m.role == emc_types::Role::Router)
        .unwrap();
    let auth = Arc::new(StaticAuthorizer::new());
    for m in &c.members {
        auth.set(m.id, Roles::from(m.role));
    }
    // Same key (the registry lists it as a router), a fresh address the validators are told.
    let (evil, mut events) = Network::bind(
        NetConfig {
            listen_addr: "127.0.0.1:0".parse()?,
            ..NetConfig::default()
        },
        Identity::from_signing_key(m.key.clone())?,
        auth,
        Role::Router,
    )?;
    let evil_addr = evil.local_addr()?;
    for (_, v) in c.running() {
        v.net.add_peer(m.id, evil_addr);
    }
    let evil2 = evil.clone();
    let forwarded = Arc::new(Mutex::new(0u64));
    let fwd = forwarded.clone();
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if let Event::Frame {
                peer,
                kind: KIND_RELAY,
                payload,
                ..
            } = ev
            {
                let Ok(mut env) = RelayEnvelope::decode(&payload) else {
                    continue;
                };
                if let Some(b) = env.message.last_mut() {
                    *b ^= 0x01; // inside the signature
                }
                for p in evil2.peers() {
                    if p.role == Role::Validator && p.node != peer {
                        let _ = evil2.send(&p.node, KIND_RELAY, env.encode());
                        *fwd.lock().unwrap() += 1;
                    }
                }
            }
        }
    });
    let v3 = c.validators[3].as_ref().unwrap();
    let bad_before = v3.handle.status.get().consensus.bad_signature;
    let h3 = height(&c, 3);
    let others = max_height(&c);
    wait_for("the others go on", Duration::from_secs(30), || {
        max_height(&c) >= others + 20
    })
    .await;
    assert!(
        *forwarded.lock().unwrap() > 0,
        "the altering router relayed"
    );
    let st = v3.handle.status.get();
    assert!(
        st.consensus.bad_signature + st.consensus.malformed > bad_before,
        "altered messages counted as bad"
    );
    assert!(height(&c, 3) <= h3 + 1, "nothing altered was committed");
    evil.close().await;
    c.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_heals_and_the_network_catches_up() -> Result<()> {
    let _serial = SERIAL.lock().await;
    let c = Cluster::start(config("partition", 0)).await?;
    let safety = Safety::default();
    safety.watch(&c);
    wait_for("10 blocks", Duration::from_secs(60), || {
        max_height(&c) >= 10
    })
    .await;

    // Two against two: no side has a quorum of 3.
    for a in [0, 1] {
        for b in [2, 3] {
            c.set_link(a, b, false);
        }
    }
    sleep(Duration::from_secs(1)).await;
    let stalled = max_height(&c);
    sleep(Duration::from_secs(3)).await;
    assert!(max_height(&c) <= stalled + 1, "no side of 2|2 commits");
    for a in [0, 1] {
        for b in [2, 3] {
            c.set_link(a, b, true);
        }
    }
    wait_for("progress after healing", Duration::from_secs(60), || {
        max_height(&c) >= stalled + 10
    })
    .await;

    // One alone: the other three go on, and it catches up when healed.
    for j in 0..3 {
        c.set_link(3, j, false);
    }
    let h3 = height(&c, 3);
    let h = max_height(&c);
    wait_for("three go on", Duration::from_secs(30), || {
        max_height(&c) >= h + 30
    })
    .await;
    assert!(height(&c, 3) <= h3 + 1, "the lone validator cannot commit");
    for j in 0..3 {
        c.set_link(3, j, true);
    }
    wait_for(
        "the lone validator catches up",
        Duration::from_secs(60),
        || height(&c, 3) + 2 >= max_height(&c),
    )
    .await;
    c.shutdown().await;
    Ok(())
}

/// The registry changes during an epoch (a stake grows, a node registers), once in its middle
/// and once just before its closing block, when validators' registry reads differ the most.
/// Every validator builds the epoch's records from the registry's immutable snapshot of that
/// epoch, so epochs 0 and 1 both get their closing checkpoints and data onto the IC and close.
/// On the way: closed epochs leave the validators' application (it holds at most the current
/// and the next snapshot), and the router sees the compute node's load rise while it
/// computes a challenge and fall after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_changes_within_epochs_cost_no_checkpoint_and_closed_epochs_leave_the_app(
) -> Result<()> {
    let _serial = SERIAL.lock().await;
    let mut cfg = config("epochs", 1);
    cfg.challenge_window = Duration::from_secs(2);
    // PoC rounds every 2 s with a 1 s window (the node computes for most of it, up to 64
    // rounds of n = 512, a few tens of ms each on one thread) for the router's table to show
    // the node busy.
    cfg.validator.poc_interval = Duration::from_secs(2);
    cfg.validator.poc_task = emc_poc::TaskParams { n: 512, rounds: 64 };
    cfg.validator.poc_window = Duration::from_secs(1);
    cfg.compute_node.max_task_n = 512;
    let c = Cluster::start(cfg).await?;
    let safety = Safety::default();
    safety.watch(&c);
    let router = c.routers[0].0.status.clone();
    let busy = Arc::new(Mutex::new((0u32, 0u64)));
    {
        let (router, busy) = (router.clone(), busy.clone());
        tokio::spawn(async move {
            loop {
                let max = router
                    .get()
                    .compute
                    .values()
                    .map(|e| e.load)
                    .max()
                    .unwrap_or(0);
                {
                    let mut b = busy.lock().unwrap();
                    b.0 = b.0.max(max);
                    if max == 0 && b.0 > 0 {
                        b.1 += 1; // seen idle again after busy
                    }
                }
                sleep(Duration::from_millis(10)).await;
            }
        });
    }
    let router_member = c
        .members
        .iter()
        .position(|m| m.role == emc_types::Role::Router)
        .unwrap();
    let ops = c.operator_ic(router_member);
    for (i, at) in [300u64, 590, 900, 1190].into_iter().enumerate() {
        wait_for(&format!("height {at}"), Duration::from_secs(120), || {
            max_height(&c) >= at
        })
        .await;
        // A new compute node registers and stakes: the live registry changes between the
        // validators' refreshes.
        let key = ed25519_dalek::SigningKey::from_bytes(&[i as u8 + 77; 32]);
        let node = emc_node_common::ops::register_node(
            &ops.registry,
            &key,
            emc_types::Role::Compute,
            "127.0.0.1:9".into(),
            "test".into(),
            String::new(),
        )
        .await?;
        let stake = emc_devnet::COMPUTE_STAKE;
        emc_node_common::ops::stake_node(&ops, node.id, stake, emc_devnet::COMPUTE_STAKE_DAYS)
            .await?;
    }
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let closed = c.ic.epochs.stats().await?.last_closed_epoch;
        if closed.is_some_and(|e| e >= 1) {
            break;
        }
        assert!(
            Instant::now() < end,
            "epochs 0 and 1 not closed: {closed:?}"
        );
        sleep(Duration::from_millis(500)).await;
    }
    for epoch in 0..2u64 {
        let s = c.ic.epochs.epoch_summary(epoch).await?.expect("summary");
        let h = s.header.expect("epoch data declared");
        assert_eq!(
            s.chunks_received, h.chunk_count,
            "epoch {epoch} data complete"
        );
        assert!(
            s.nodes_received >= 6,
            "epoch {epoch}: {} records",
            s.nodes_received
        );
        let cp =
            c.ic.epochs
                .checkpoint((epoch + 1) * 600)
                .await?
                .expect("closing checkpoint");
        assert_eq!(cp.checkpoint.epoch, epoch);
    }
    for (i, v) in c.running() {
        let st = v.handle.status.get();
        assert_eq!(
            st.app_memory.closed_epochs, 0,
            "validator {i} handed its closed epochs over"
        );
        assert!(
            st.app_memory.snapshots <= 2,
            "validator {i}: {:?}",
            st.app_memory
        );
    }
    let (max_load, idle_after) = *busy.lock().unwrap();
    assert!(max_load >= 1, "the router never saw the compute node busy");
    assert!(idle_after > 0, "the router never saw the load fall again");
    assert!(safety.heights() >= 1200);
    c.shutdown().await;
    Ok(())
}
