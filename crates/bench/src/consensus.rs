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
//!   `core_overhead_fraction` (and `_n13`) is the share of that step time spent outside
//!   signing and verification (timed around every `Signer`/`Verifier` call): the core's own
//!   cost on top of the cryptography; `signatures_verified_per_message` and
//!   `signatures_made_per_message` count what the cryptography did per message.
//! - `coordinated_byzantine`: the coordinated strategies (colluding Byzantine nodes, see
//!   `emc_consensus::sim::Collusion`), every strategy over the same number of seeds with F
//!   colluders: `byzantine_strategies`, `seeds_run`, `safety_violations` (expected 0) and
//!   `liveness_failures_after_heal` (expected 0); then the sanity run with F+1 colluders,
//!   beyond what QBFT tolerates, where the checker must see forks:
//!   `sanity_f_plus_1_violating_seeds` (expected > 0) out of `sanity_f_plus_1_seeds_run`.

use emc_consensus::sim::{
    run, Collusion, FaultMix, SimApp, SimConfig, SimCrypto, SimSigner, SimVerifier,
};
use emc_consensus::{Config, Ed25519Signer, Effect, Input, Node, SigItem, Signer, Timer, Verifier};
use emc_types::{NodeId, Signature, ValidatorSet};
use serde_json::{json, Value};
use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

const FAST_SEEDS: u64 = 10_000;
const ED25519_SEEDS: u64 = 300;
/// Seeds per coordinated strategy with F colluders: fast signatures, then ed25519.
const COLLUDING_FAST_SEEDS: u64 = 1_000;
const COLLUDING_ED25519_SEEDS: u64 = 30;
/// Seeds per coordinated strategy with F+1 colluders (the sanity run).
const SANITY_SEEDS: u64 = 100;

#[derive(Default)]
struct Sweep {
    seeds: u64,
    safety: u64,
    liveness: u64,
    failures: Vec<String>,
    colluder_messages: u64,
}

impl Sweep {
    fn add(&mut self, other: Sweep) {
        self.seeds += other.seeds;
        self.safety += other.safety;
        self.liveness += other.liveness;
        self.failures.extend(other.failures);
        self.colluder_messages += other.colluder_messages;
    }
}

/// n for a seed: 4, 7, 13 in proportions 5:3:2 (bigger networks cost more per seed).
fn size_for(seed: u64) -> usize {
    match seed % 10 {
        0..=4 => 4,
        5..=7 => 7,
        _ => 13,
    }
}

/// One coordinated strategy over `seeds`: F colluders, or F+1 when `beyond_f`.
fn colluding_sweep(
    strategy: Collusion,
    seeds: std::ops::Range<u64>,
    crypto: SimCrypto,
    beyond_f: bool,
) -> Sweep {
    let mut out = Sweep::default();
    for seed in seeds {
        let n = size_for(seed);
        let mut cfg = SimConfig::new(seed, n, FaultMix::Colluding(strategy));
        cfg.crypto = crypto;
        if beyond_f {
            cfg.colluders = Some((n - 1) / 3 + 1);
        }
        let r = run(cfg);
        out.seeds += 1;
        out.colluder_messages += r.colluder_messages;
        if !r.violations.is_empty() {
            out.safety += 1;
            if !beyond_f {
                out.failures
                    .push(format!("seed {seed} n={n} {strategy:?}: {r}"));
            }
        } else if !r.live {
            out.liveness += 1;
            if !beyond_f {
                out.failures
                    .push(format!("seed {seed} n={n} {strategy:?}: not live: {r}"));
            }
        }
    }
    out
}

/// Runs `f` over `total` seeds from `first_seed`, split across all cores.
fn parallel(
    total: u64,
    first_seed: u64,
    f: impl Fn(std::ops::Range<u64>) -> Sweep + Sync,
) -> Sweep {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let per = total.div_ceil(threads);
    let mut all = Sweep::default();
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let start = first_seed + t * per;
                let end = (start + per).min(first_seed + total);
                s.spawn(move || f(start..end))
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

/// The coordinated strategies: F colluders (must be clean), then F+1 (must fork).
fn coordinated() -> Value {
    let t = Instant::now();
    let mut clean = Sweep::default();
    for (k, strategy) in Collusion::ALL.iter().enumerate() {
        let first = 3_000_000 + k as u64 * 100_000;
        clean.add(parallel(COLLUDING_FAST_SEEDS, first, |s| {
            colluding_sweep(*strategy, s, SimCrypto::FastInsecure, false)
        }));
        clean.add(parallel(COLLUDING_ED25519_SEEDS, first + 50_000, |s| {
            colluding_sweep(*strategy, s, SimCrypto::Ed25519, false)
        }));
    }
    let clean_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut sanity = Sweep::default();
    let mut by_strategy = serde_json::Map::new();
    for (k, strategy) in Collusion::ALL.iter().enumerate() {
        let first = 4_000_000 + k as u64 * 100_000;
        let r = parallel(SANITY_SEEDS, first, |s| {
            colluding_sweep(*strategy, s, SimCrypto::FastInsecure, true)
        });
        by_strategy.insert(strategy.name().to_string(), json!(r.safety));
        sanity.add(r);
    }
    json!({
        "byzantine_strategies": Collusion::ALL.iter().map(|c| c.name()).collect::<Vec<_>>(),
        "seeds_run": clean.seeds,
        "ed25519_seeds_run": COLLUDING_ED25519_SEEDS * Collusion::ALL.len() as u64,
        "safety_violations": clean.safety,
        "liveness_failures_after_heal": clean.liveness,
        "failures": clean.failures.iter().take(5).collect::<Vec<_>>(),
        "colluder_messages": clean.colluder_messages,
        "seconds": clean_s,
        "sanity_f_plus_1_seeds_run": sanity.seeds,
        "sanity_f_plus_1_violating_seeds": sanity.safety,
        "sanity_f_plus_1_violating_seeds_by_strategy": by_strategy,
        "sanity_seconds": t.elapsed().as_secs_f64(),
    })
}

fn sweep(seeds: std::ops::Range<u64>, crypto: SimCrypto) -> Sweep {
    let mixes = FaultMix::all();
    let mut out = Sweep::default();
    for seed in seeds {
        let n = size_for(seed);
        let mix = mixes[((seed / 10) as usize) % mixes.len()];
        let mut cfg = SimConfig::new(seed, n, mix);
        cfg.crypto = crypto;
        let r = run(cfg);
        out.seeds += 1;
        out.colluder_messages += r.colluder_messages;
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
    parallel(total, first_seed, |s| sweep(s, crypto))
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

thread_local! {
    /// Seconds spent inside signing and verification calls on this thread (the `Timed*`
    /// wrappers), to separate the cryptography's cost from the core's.
    static CRYPTO_SECONDS: Cell<f64> = const { Cell::new(0.0) };
    /// Signatures verified and produced through the `Timed*` wrappers.
    static CRYPTO_OPS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

fn timed<T>(verified: u64, signed: u64, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    CRYPTO_SECONDS.with(|c| c.set(c.get() + t.elapsed().as_secs_f64()));
    CRYPTO_OPS.with(|c| {
        let (v, s) = c.get();
        c.set((v + verified, s + signed));
    });
    out
}

/// A signer that charges its time to `CRYPTO_SECONDS`.
struct TimedSigner(SimSigner);
impl Signer for TimedSigner {
    fn node_id(&self) -> NodeId {
        self.0.node_id()
    }
    fn sign(&self, msg: &[u8]) -> Signature {
        timed(0, 1, || self.0.sign(msg))
    }
}

/// A verifier that charges its time to `CRYPTO_SECONDS` (every method forwarded, so the
/// batch paths stay the real ones).
struct TimedVerifier(SimVerifier);
impl Verifier for TimedVerifier {
    fn verify(&self, signer: &NodeId, msg: &[u8], sig: &Signature) -> bool {
        timed(1, 0, || self.0.verify(signer, msg, sig))
    }
    fn verify_vote(&self, signer: &NodeId, msg: &[u8], sig: &Signature) -> bool {
        timed(1, 0, || self.0.verify_vote(signer, msg, sig))
    }
    fn verify_votes(&self, items: &[SigItem]) -> Vec<bool> {
        timed(items.len() as u64, 0, || self.0.verify_votes(items))
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

/// A fault-free ed25519 cluster of `n`: (message steps, seconds in `step`, blocks, seconds of
/// those inside signing and verification, signatures verified, signatures made).
fn throughput_ed25519(n: usize, blocks: u64) -> (u64, f64, u64, f64, u64, u64) {
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
                TimedSigner(SimSigner::Ed25519(Ed25519Signer::from_seed(*k))),
                TimedVerifier(SimVerifier::new(SimCrypto::Ed25519)),
            )
            .ok()
        })
        .collect();
    CRYPTO_SECONDS.with(|c| c.set(0.0));
    CRYPTO_OPS.with(|c| c.set((0, 0)));
    let (msgs, busy, blocks) = cluster(&mut nodes, blocks);
    let crypto = CRYPTO_SECONDS.with(|c| c.get());
    let (verified, signed) = CRYPTO_OPS.with(|c| c.get());
    (msgs, busy, blocks, crypto, verified, signed)
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

    let coordinated = coordinated();

    let (m_ed, s_ed, b_ed, c_ed, v_ed, g_ed) = throughput_ed25519(4, 2_000);
    let (m_no, s_no, b_no) = throughput_no_crypto(4, 20_000);
    let (m_ed13, s_ed13, _, c_ed13, v_ed13, g_ed13) = throughput_ed25519(13, 100);
    // The core's own share of a step's time: everything but signing and verifying.
    let overhead = |busy: f64, crypto: f64| (busy - crypto).max(0.0) / busy;

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
        "core_overhead_fraction": overhead(s_ed, c_ed),
        "core_overhead_fraction_n13": overhead(s_ed13, c_ed13),
        "signatures_verified_per_message": v_ed as f64 / m_ed as f64,
        "signatures_verified_per_message_n13": v_ed13 as f64 / m_ed13 as f64,
        "signatures_made_per_message": g_ed as f64 / m_ed as f64,
        "signatures_made_per_message_n13": g_ed13 as f64 / m_ed13 as f64,
        "throughput_blocks": {"ed25519_n4": b_ed, "no_crypto_n4": b_no},
        "coordinated_byzantine": coordinated,
        "verification": crate::consensus_crypto::report(m_ed as f64 / s_ed, m_ed13 as f64 / s_ed13),
        "note": "core_messages_per_s includes real ed25519 verification of every vote (cofactored, batched when several are checked at once, each copy once, lazily at a possible quorum) and signing of the node's own votes; the state-machine-only figure uses no-op signatures",
        "wall_seconds": started.elapsed().as_secs_f64(),
    }))
}
