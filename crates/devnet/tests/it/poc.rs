//! Proof of computing end to end: 4 validators challenge 2 compute nodes over QUIC on loopback
//! with the real canisters on the embedded IC. The honest node (CPU prover) passes with E > 0
//! measured by several validators; a cheater that answers with half of its rows wrong (it
//! commits to them and opens them consistently, so only the recomputation catches it) fails
//! every time; at the epoch close the honest node's owner is paid a compute reward and the
//! cheater's owner nothing.

use anyhow::Result;
use edge_node::validator::PocCommit;
use emc_devnet::{rebind, Cluster, ClusterConfig, OPERATOR_GENESIS};
use emc_edge_core::protocol::{PingReply, PocOpen, KIND_PING, KIND_POC_CHALLENGE, KIND_POC_OPEN};
use emc_net::{Event, Roles};
use emc_poc::{Challenge, CpuProver, Prover, ProverSession};
use emc_types::NodeId;
use emc_types::Role as NodeRole;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{sleep, Instant};

use super::SERIAL;

fn config(name: &str) -> ClusterConfig {
    let dir = std::env::temp_dir().join(format!("emc-poc-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut c = ClusterConfig::devnet(dir);
    c.routers = 0;
    c.compute = 2;
    c.staked_compute = 1; // the honest one: multiplier 1.4
    c.genesis_delay = Duration::from_secs(3);
    c.challenge_window = Duration::from_secs(2);
    // 600 blocks of 100 ms: the registry's shortest epoch (60 s).
    c.validator.block_interval = Duration::from_millis(100);
    c.validator.round_timeout = Duration::from_millis(500);
    c.validator.round_timeout_cap = Duration::from_secs(2);
    c.validator.epoch_length = 600;
    c.validator.checkpoint_interval = 50;
    c.validator.registry_refresh = Duration::from_secs(2);
    c.validator.submit_stagger = Duration::from_millis(500);
    c.validator.poc_interval = Duration::from_secs(4);
    c
}

/// Replaces compute node `index` of the cluster by a cheater with the same key:
/// it computes the task, then corrupts every other row before committing.
async fn start_cheater(c: &mut Cluster, index: usize) -> Result<(NodeId, emc_net::Network)> {
    let member = c
        .members
        .iter()
        .filter(|m| m.role == NodeRole::Compute)
        .nth(index)
        .expect("compute member");
    let (id, key, addr) = (member.id, member.key.clone(), member.addr);
    let (h, net) = c.compute.remove(index);
    h.stop().await;
    net.close().await;
    // A fresh port (the stopped endpoint may hold its own for a while); the validators are
    // told the new address, as a moved node's would be after re-registering.
    let fresh = SocketAddr::new(addr.ip(), 0);
    let (net, mut events, auth) = rebind(&c.config.net, &key, NodeRole::Compute, fresh).await?;
    let new_addr = net.local_addr()?;
    for (_, v) in c.running() {
        v.net.add_peer(id, new_addr);
    }
    for m in &c.members {
        auth.set(m.id, Roles::from(m.role));
    }
    tokio::spawn(async move {
        let mut sessions: BTreeMap<(NodeId, [u8; 32]), ProverSession> = BTreeMap::new();
        while let Some(ev) = events.recv().await {
            let Event::Request {
                peer,
                kind,
                payload,
                responder,
                ..
            } = ev
            else {
                continue;
            };
            match kind {
                KIND_PING => {
                    let _ = responder.respond(PingReply::default().encode());
                }
                KIND_POC_CHALLENGE => {
                    let Ok(ch) = Challenge::decode(&payload) else {
                        continue;
                    };
                    // A few rounds, well within the window: it is caught by the
                    // recomputation, not by the clock.
                    let task = ch.task.with_rounds(ch.max_rounds().min(8));
                    let session = tokio::task::spawn_blocking(move || {
                        let n = task.params.n as usize;
                        let mut data = CpuProver::new(1).compute(&task).unwrap();
                        for (i, row) in data.chunks_mut(n).enumerate() {
                            if i % 2 == 0 {
                                row[0] ^= 1;
                            }
                        }
                        ProverSession::from_output(&task, data).unwrap()
                    })
                    .await
                    .unwrap();
                    let _ = responder.respond(session.commitment().encode());
                    sessions.insert((peer, task.seed), session);
                }
                KIND_POC_OPEN => {
                    let Ok(open) = PocOpen::decode(&payload) else {
                        continue;
                    };
                    if let Some(s) = sessions.remove(&(peer, open.seed)) {
                        let _ = responder.respond(s.open(&open.request).unwrap().encode());
                    }
                }
                _ => {}
            }
        }
    });
    Ok((id, net))
}

#[derive(Default, Debug)]
struct Seen {
    /// Passed E values per node, with the validator that measured each.
    passed: BTreeMap<NodeId, Vec<(u64, NodeId)>>,
    failed: BTreeMap<NodeId, u64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_compute_passes_with_e_a_cheater_fails_and_only_the_honest_is_paid() -> Result<()> {
    let _serial = SERIAL.lock().await;
    let mut c = Cluster::start(config("rewards")).await?;
    let computes: Vec<(NodeId, usize)> = c
        .members
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role == NodeRole::Compute)
        .map(|(i, m)| (m.id, i))
        .collect();
    let (honest, honest_member) = computes[0];
    let (cheater, cheater_member) = computes[1];
    let (_, cheater_net) = start_cheater(&mut c, 1).await?;

    // Committed PoC bits, as validator 0 commits them (every validator commits the same).
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut rx = c.validators[0]
        .as_ref()
        .unwrap()
        .handle
        .poc_commits
        .subscribe();
    let s2 = seen.clone();
    tokio::spawn(async move {
        while let Ok(PocCommit {
            proposer, result, ..
        }) = rx.recv().await
        {
            assert_eq!(
                result.validator, proposer,
                "a validator reports its own results"
            );
            let mut s = s2.lock().unwrap();
            if result.passed {
                s.passed
                    .entry(result.node)
                    .or_default()
                    .push((result.e_fixed, result.validator));
            } else {
                *s.failed.entry(result.node).or_default() += 1;
            }
        }
    });

    let end = Instant::now() + Duration::from_secs(120);
    loop {
        {
            let s = seen.lock().unwrap();
            let honest_passed = s.passed.get(&honest).map_or(0, Vec::len);
            let by: BTreeSet<NodeId> = s
                .passed
                .get(&honest)
                .map(|v| v.iter().map(|(_, by)| *by).collect())
                .unwrap_or_default();
            let cheater_failed = s.failed.get(&cheater).copied().unwrap_or(0);
            if honest_passed >= 4 && by.len() >= 2 && cheater_failed >= 4 {
                break;
            }
            assert!(Instant::now() < end, "not enough PoC results: {s:?}");
        }
        sleep(Duration::from_millis(200)).await;
    }
    {
        let s = seen.lock().unwrap();
        let es: Vec<u64> = s.passed[&honest].iter().map(|(e, _)| *e).collect();
        eprintln!(
            "honest node: {} passed, E (1e-4) = {es:?}, {} failed; cheater: {} passed, {} failed",
            es.len(),
            s.failed.get(&honest).copied().unwrap_or(0),
            s.passed.get(&cheater).map_or(0, Vec::len),
            s.failed.get(&cheater).copied().unwrap_or(0),
        );
        assert!(es.iter().all(|e| *e > 0), "passed results carry E > 0");
        assert!(!s.passed.contains_key(&cheater), "the cheater never passes");
    }
    // Validators say why the cheater failed: a wrong row (its proofs are consistent).
    let cheater_hex: String = cheater.0.iter().map(|b| format!("{b:02x}")).collect();
    let reasons: Vec<String> = c
        .running()
        .filter_map(|(_, v)| {
            v.handle
                .poc
                .get()
                .nodes
                .get(&cheater_hex)
                .and_then(|n| n.reason.clone())
        })
        .collect();
    assert!(!reasons.is_empty());
    assert!(
        reasons.iter().all(|r| r.starts_with("WrongRow")),
        "{reasons:?}"
    );

    // Epoch 0 (heights 1..=600) closes on the IC and pays.
    let end = Instant::now() + Duration::from_secs(240);
    let honest_payout = loop {
        if let Some(p) = c.ic.epochs.node_reward(honest, 0).await? {
            if matches!(p.status, emc_epochs::PayoutStatus::Paid { .. }) {
                break p;
            }
        }
        assert!(
            Instant::now() < end,
            "epoch 0 not paid: {:?}",
            c.ic.epochs.stats().await?
        );
        sleep(Duration::from_secs(1)).await;
    };
    eprintln!(
        "epoch 0: honest compute node paid {} e8s; summary {:?}",
        honest_payout.amount_e8s,
        c.ic.epochs.epoch_summary(0).await?
    );
    assert!(honest_payout.amount_e8s > 0);
    assert_eq!(honest_payout.owner, c.members[honest_member].owner);
    assert!(c.ic.epochs.node_reward(cheater, 0).await?.is_none());
    // The cheater's owner never staked nor paid a fee: its balance is the genesis one.
    assert_eq!(c.owner_balance(cheater_member).await?, OPERATOR_GENESIS);
    let rewards =
        c.ic.epochs
            .owner_rewards(c.members[honest_member].owner, 0)
            .await?;
    assert!(rewards.iter().any(|p| p.node == honest && p.amount_e8s > 0));

    cheater_net.close().await;
    c.shutdown().await;
    Ok(())
}
