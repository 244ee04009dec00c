//! A seeded simulation on a virtual clock: one router dispatches a Poisson stream of calls to
//! compute nodes of unequal speeds, and the same stream is replayed with an oracle that knows
//! every node's true speed and free slots and always takes the fastest node with a free slot.
//! The figure is the ratio of the two p99 times to first byte (`dispatch_p99_vs_oracle`, issue
//! #14). For the crate's tests and `emc-bench compute` (feature `sim`).
//!
//! The model: node i has `slots` parallel slots (its capacity) and serves a call in
//! `service_ns[i] × u`, u uniform in `[1 - jitter, 1 + jitter]` drawn per call (the same u
//! for a call under both policies, like the arrival times), independent of its other calls;
//! the whole service time is the time to first byte. A call that finds no node with room waits
//! `backoff_ns` and asks again (its latency counts the wait). The first `warmup` calls (the
//! dispatcher learning the nodes) are left out of both percentiles. Randomness is splitmix64
//! from the seed; nothing here reads a clock.

use super::{DispatchConfig, Dispatcher, Ticket};
use emc_types::NodeId;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A seeded pseudo-random generator (splitmix64): the simulation's only randomness.
#[derive(Clone, Debug)]
pub struct SimRng(u64);

impl SimRng {
    /// The generator of `seed`.
    pub fn new(seed: u64) -> Self {
        SimRng(seed)
    }
    /// The next word.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        super::mix(self.0)
    }
    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One simulated workload.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The seed of arrivals, service draws and the dispatcher's random words.
    pub seed: u64,
    /// Each node's mean service time (time to first byte), ns.
    pub service_ns: Vec<u64>,
    /// Slots (capacity) per node.
    pub slots: u32,
    /// Offered load as a fraction of the fleet's throughput (Σ slots / service).
    pub load: f64,
    /// Calls in the run.
    pub calls: usize,
    /// Calls at the start left out of the percentiles.
    pub warmup: usize,
    /// Service time spread: uniform within ± this fraction of the mean.
    pub jitter: f64,
    /// How long a call that found no node waits before asking again, ns.
    pub backoff_ns: u64,
    /// How much a node's open calls slow a new one: its service time is multiplied by
    /// `1 + contention × open / slots` (0: slots are independent).
    pub contention: f64,
}

impl SimConfig {
    /// The workload: six nodes, two each at 1×, 2× and 4× a 100 ms service time, four
    /// slots each, ±20 % jitter, offered load `load`, 20,000 calls (2,000 warm-up), 10 ms
    /// back-off.
    pub fn standard(seed: u64, load: f64) -> Self {
        const MS: u64 = 1_000_000;
        SimConfig {
            seed,
            service_ns: vec![100 * MS, 100 * MS, 200 * MS, 200 * MS, 400 * MS, 400 * MS],
            slots: 4,
            load,
            calls: 20_000,
            warmup: 2_000,
            jitter: 0.2,
            backoff_ns: 10 * MS,
            contention: 0.0,
        }
    }
}

/// Who picks the node.
#[derive(Clone, Debug)]
pub enum Policy {
    /// The [`Dispatcher`] with this configuration.
    Dispatch(DispatchConfig),
    /// The fastest node with a free slot, from the true speeds.
    Oracle,
}

/// What a run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct SimReport {
    /// Median time to first byte after warm-up, ns.
    pub p50_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// Calls each node served (warm-up included), in `service_ns` order.
    pub calls_per_node: Vec<u64>,
    /// Times a call found no node with room and waited.
    pub waits: u64,
    /// Tickets still open at the end (always 0: nothing leaks).
    pub open_tickets: usize,
}

fn node_id(i: usize) -> NodeId {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    NodeId(b)
}

/// Runs the workload under `policy`.
pub fn run(cfg: &SimConfig, policy: &Policy) -> SimReport {
    let n = cfg.service_ns.len();
    let mut rng = SimRng::new(cfg.seed);
    let throughput: f64 = cfg
        .service_ns
        .iter()
        .map(|s| f64::from(cfg.slots) * 1e9 / (*s).max(1) as f64)
        .sum();
    let rate = (cfg.load * throughput).max(1e-9); // calls per second
    let mut arrivals = Vec::with_capacity(cfg.calls);
    let mut spread = Vec::with_capacity(cfg.calls);
    let mut t = 0f64;
    for _ in 0..cfg.calls {
        t += -(1.0 - rng.next_f64()).ln() / rate * 1e9;
        arrivals.push(t as u64);
        spread.push(1.0 + cfg.jitter * (2.0 * rng.next_f64() - 1.0));
    }
    // The dispatcher's random words come from their own stream, so the workload is identical
    // under both policies.
    let mut picks = SimRng::new(cfg.seed ^ 0x5eed_d15e_a7c4_0000);

    let mut d = match policy {
        Policy::Dispatch(c) => {
            let mut d = Dispatcher::new(c.clone());
            for i in 0..n {
                d.upsert_node(node_id(i), vec![("app".into(), "m".into())], cfg.slots);
            }
            Some(d)
        }
        Policy::Oracle => None,
    };
    let mut by_speed: Vec<usize> = (0..n).collect();
    by_speed.sort_by_key(|i| cfg.service_ns[*i]);
    let mut busy = vec![0u32; n];

    // (time, kind: 0 done / 1 arrival, call, node)
    let mut events: BinaryHeap<Reverse<(u64, u8, usize, usize)>> = BinaryHeap::new();
    for (i, a) in arrivals.iter().enumerate() {
        events.push(Reverse((*a, 1, i, 0)));
    }
    let mut tickets: Vec<Option<Ticket>> = (0..cfg.calls).map(|_| None).collect();
    let mut latency = vec![0u64; cfg.calls];
    let mut calls_per_node = vec![0u64; n];
    let mut waits = 0u64;

    while let Some(Reverse((now, kind, call, node))) = events.pop() {
        if kind == 0 {
            latency[call] = now - arrivals[call];
            busy[node] -= 1;
            if let (Some(d), Some(t)) = (d.as_mut(), tickets[call].take()) {
                d.on_first_byte(&t, now);
                d.on_success(t, now);
            }
            continue;
        }
        let chosen = match d.as_mut() {
            Some(d) => match d.pick("app", "m", None, now, picks.next_u64()) {
                Ok(t) => {
                    let i = (0..n).find(|i| node_id(*i) == t.node()).unwrap_or(0);
                    tickets[call] = Some(t);
                    Some(i)
                }
                Err(_) => None,
            },
            None => by_speed.iter().copied().find(|i| busy[*i] < cfg.slots),
        };
        match chosen {
            Some(i) => {
                let slowdown = 1.0 + cfg.contention * f64::from(busy[i]) / f64::from(cfg.slots);
                busy[i] += 1;
                calls_per_node[i] += 1;
                let s = (cfg.service_ns[i] as f64 * spread[call] * slowdown) as u64;
                events.push(Reverse((now + s.max(1), 0, call, i)));
            }
            None => {
                waits += 1;
                events.push(Reverse((now + cfg.backoff_ns, 1, call, 0)));
            }
        }
    }
    let mut measured: Vec<u64> = latency.iter().skip(cfg.warmup).copied().collect();
    measured.sort_unstable();
    let pct = |p: f64| -> u64 {
        if measured.is_empty() {
            return 0;
        }
        let i = ((measured.len() as f64 * p).ceil() as usize).clamp(1, measured.len()) - 1;
        measured[i]
    };
    SimReport {
        p50_ns: pct(0.50),
        p99_ns: pct(0.99),
        calls_per_node,
        waits,
        open_tickets: d.as_ref().map_or(0, |d| d.open_tickets()),
    }
}

/// `dispatch_p99_vs_oracle`: the dispatcher's p99 over the oracle's on the same workload, with
/// both reports.
pub fn p99_vs_oracle(cfg: &SimConfig, dispatch: &DispatchConfig) -> (f64, SimReport, SimReport) {
    let ours = run(cfg, &Policy::Dispatch(dispatch.clone()));
    let oracle = run(cfg, &Policy::Oracle);
    let ratio = ours.p99_ns as f64 / oracle.p99_ns.max(1) as f64;
    (ratio, ours, oracle)
}
