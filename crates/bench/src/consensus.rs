//! The `consensus` suite: the QBFT core under the seeded simulation and in a tight loop.
//!
//! - `seeds_run`, `safety_violations`, `liveness_failures_after_heal`: the simulation over
//!   many seeds, every fault mix, n in {4, 7, 13}. Most seeds use the simulation's fast
//!   insecure signatures so that 10,000 seeds fit in minutes; `ed25519_seeds_run` more seeds
//!   use real ed25519 (both kinds verify every signature and reject corrupted ones).
//! - `messages_per_block_N`: network messages (a broadcast counts once per recipient) per
//!   committed block in a fault-free run with the default checkpoint interval.
//! - `core_messages_per_s`: messages one core pushes through `Node::step` (decode, ed25519
//!   verification, protocol rules, signing and encoding of the node's own votes) in a
//!   fault-free 4-validator cluster run in one thread;
//!   `core_messages_per_s_state_machine_only` is the same with no-op signatures.

use emc_consensus::sim::{run, FaultMix, SimApp, SimConfig, SimCrypto, SimSigner, SimVerifier};
use emc_consensus::{Config, Ed25519Signer, Effect, Input, Node, Signer, Timer, Verifier};
use emc_types::{NodeId, Signature, ValidatorSet};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

const FAST_SEEDS: u64 = 10_000;
const ED25519_SEEDS: u64 = 300;

#[derive(Default)]
struct Sweep {
    seeds: u64,
    safety: u64,
    liveness: u64,
    failures: Vec<String>,
}

impl Sweep {
    fn add(&mut self, other: Sweep) {
        self.seeds += other.seeds;
        self.safety += other.safety;
        self.liveness += other.liveness;
        self.failures.extend(other.failures);
    }
}

fn sweep(seeds: std::ops::Range<u64>, crypto: SimCrypto) -> Sweep {
    let mixes = FaultMix::all();
    let mut out = Sweep::default();
    for seed in seeds {
        // n = 4, 7, 13 in proportions 5:3:2 (bigger networks cost more per seed).
        let n = match seed % 10 {
            0..=4 => 4,
            5..=7 => 7,
            _ => 13,
        };
        let mix = mixes[((seed / 10) as usize) % mixes.len()];
        let mut cfg = SimConfig::new(seed, n, mix);
        cfg.crypto = crypto;
        let r = run(cfg);
        out.seeds += 1;
        if !r.violations.is_empty() {
            out.safety += 1;
            out.failures.push(format!("seed {seed} n={n} {mix:?}: {r}"));
        } else if !r.live {
            out.liveness += 1;
            out.failures
                .push(format!("seed {seed} n={n} {mix:?}: not live: {r}"));
        }
    }
    out
}

/// Runs the seeds on all cores (each seed is independent and deterministic).
fn parallel_sweep(total: u64, first_seed: u64, crypto: SimCrypto) -> Sweep {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let per = total.div_ceil(threads);
    let mut all = Sweep::default();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let start = first_seed + t * per;
                let end = (start + per).min(first_seed + total);
                s.spawn(move || sweep(start..end, crypto))
            })
            .collect();
        for h in handles {
            if let Ok(r) = h.join() {
                all.add(r);
            }
        }
    });
    all
}

fn messages_per_block(n: usize) -> f64 {
    let mut cfg = SimConfig::new(1, n, FaultMix::Clean);
    cfg.checkpoint_interval = 450;
    cfg.crypto = SimCrypto::FastInsecure;
    let r = run(cfg);
    r.messages as f64 / r.max_height.max(1) as f64
}

struct NoSign(NodeId);
impl Signer for NoSign {
    fn node_id(&self) -> NodeId {
        self.0
    }
    fn sign(&self, _msg: &[u8]) -> Signature {
        Signature([0; 64])
    }
}
struct TrustAll;
impl Verifier for TrustAll {
    fn verify(&self, _: &NodeId, _: &[u8], _: &Signature) -> bool {
        true
    }
}

/// A fault-free cluster driven in one thread with zero latency; returns (message steps,
/// seconds spent in `step` for them, blocks).
fn cluster<S: Signer, V: Verifier>(
    nodes: &mut [Node<SimApp, S, V>],
    blocks: u64,
) -> (u64, f64, u64) {
    let ids: Vec<NodeId> = nodes.iter().map(|n| n.id()).collect();
    let mut queue: VecDeque<(usize, usize, Vec<u8>)> = VecDeque::new();
    let mut timers: BTreeMap<(u64, usize, u64), Timer> = BTreeMap::new();
    let mut seq = 0u64;
    let mut now = 0u64;
    let mut msg_steps = 0u64;
    let mut busy = 0f64;
    let mut handle = |i: usize,
                      effects: Vec<Effect>,
                      queue: &mut VecDeque<(usize, usize, Vec<u8>)>,
                      timers: &mut BTreeMap<(u64, usize, u64), Timer>| {
        for e in effects {
            match e {
                Effect::Broadcast { bytes } => {
                    for j in 0..ids.len() {
                        if j != i {
                            queue.push_back((j, i, bytes.clone()));
                        }
                    }
                }
                Effect::Send { to, bytes } => {
                    if let Some(j) = ids.iter().position(|x| *x == to) {
                        queue.push_back((j, i, bytes));
                    }
                }
                Effect::ScheduleTimeout { timer, at_ns } => {
                    seq += 1;
                    timers.insert((at_ns, i, seq), timer);
                }
                _ => {}
            }
        }
    };
    for (i, node) in nodes.iter_mut().enumerate() {
        let e = node.step(Input::Start, now);
        handle(i, e, &mut queue, &mut timers);
    }
    while nodes[0].height() <= blocks {
        if let Some((to, from, bytes)) = queue.pop_front() {
            let t = Instant::now();
            let e = nodes[to].step(
                Input::Message {
                    from: ids[from],
                    bytes: &bytes,
                },
                now,
            );
            busy += t.elapsed().as_secs_f64();
            msg_steps += 1;
            handle(to, e, &mut queue, &mut timers);
        } else if let Some(((at, i, _), timer)) = timers.pop_first() {
            now = now.max(at);
            let e = nodes[i].step(Input::Timeout(timer), now);
            handle(i, e, &mut queue, &mut timers);
        } else {
            break;
        }
    }
    (msg_steps, busy, nodes[0].height() - 1)
}

fn cluster_config(set: ValidatorSet) -> Config {
    let mut cfg = Config::new(set);
    cfg.block_interval_ns = 0;
    cfg
}

fn throughput_ed25519(n: usize, blocks: u64) -> (u64, f64, u64) {
    let keys: Vec<[u8; 32]> = (0..n).map(|i| [i as u8 + 1; 32]).collect();
    let ids: Vec<NodeId> = keys
        .iter()
        .map(|k| Ed25519Signer::from_seed(*k).node_id())
        .collect();
    let set = ValidatorSet {
        epoch: 0,
        members: ids.clone(),
    };
    let mut nodes: Vec<_> = keys
        .iter()
        .zip(&ids)
        .filter_map(|(k, id)| {
            Node::new(
                cluster_config(set.clone()),
                SimApp::new(*id),
                SimSigner::Ed25519(Ed25519Signer::from_seed(*k)),
                SimVerifier::new(SimCrypto::Ed25519),
            )
            .ok()
        })
        .collect();
    cluster(&mut nodes, blocks)
}

fn throughput_no_crypto(n: usize, blocks: u64) -> (u64, f64, u64) {
    let ids: Vec<NodeId> = (0..n).map(|i| NodeId([i as u8 + 1; 32])).collect();
    let set = ValidatorSet {
        epoch: 0,
        members: ids.clone(),
    };
    let mut nodes: Vec<_> = ids
        .iter()
        .filter_map(|id| {
            Node::new(
                cluster_config(set.clone()),
                SimApp::new(*id),
                NoSign(*id),
                TrustAll,
            )
            .ok()
        })
        .collect();
    cluster(&mut nodes, blocks)
}

/// Runs the suite.
pub fn run_suite() -> anyhow::Result<Value> {
    // EMC_BENCH_SEEDS overrides the number of fast-signature seeds (for quick runs).
    let fast_seeds = std::env::var("EMC_BENCH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(FAST_SEEDS);
    let started = Instant::now();
    let fast = parallel_sweep(fast_seeds, 0, SimCrypto::FastInsecure);
    let fast_s = started.elapsed().as_secs_f64();
    let t = Instant::now();
    let ed = parallel_sweep(ED25519_SEEDS, 1_000_000, SimCrypto::Ed25519);
    let ed_s = t.elapsed().as_secs_f64();
    let mut total = Sweep::default();
    total.add(fast);
    total.add(ed);

    let (m_ed, s_ed, b_ed) = throughput_ed25519(4, 2_000);
    let (m_no, s_no, b_no) = throughput_no_crypto(4, 20_000);
    let (m_ed13, s_ed13, _) = throughput_ed25519(13, 100);

    Ok(json!({
        "suite": "consensus",
        "seeds_run": total.seeds,
        "ed25519_seeds_run": ED25519_SEEDS,
        "fault_mixes": FaultMix::all().iter().map(|m| format!("{m:?}")).collect::<Vec<_>>(),
        "safety_violations": total.safety,
        "liveness_failures_after_heal": total.liveness,
        "failures": total.failures.iter().take(5).collect::<Vec<_>>(),
        "sweep_seconds_fast_signatures": fast_s,
        "sweep_seconds_ed25519": ed_s,
        "messages_per_block_4": messages_per_block(4),
        "messages_per_block_7": messages_per_block(7),
        "messages_per_block_13": messages_per_block(13),
        "core_messages_per_s": m_ed as f64 / s_ed,
        "core_messages_per_s_n13": m_ed13 as f64 / s_ed13,
        "core_messages_per_s_state_machine_only": m_no as f64 / s_no,
        "throughput_blocks": {"ed25519_n4": b_ed, "no_crypto_n4": b_no},
        "verification": crate::consensus_crypto::report(m_ed as f64 / s_ed, m_ed13 as f64 / s_ed13),
        "note": "core_messages_per_s includes one ed25519 verify_strict per vote (plus signing of the node's own votes); the state-machine-only figure uses no-op signatures",
        "wall_seconds": started.elapsed().as_secs_f64(),
    }))
}
