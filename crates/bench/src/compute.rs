//! The compute market's dispatch, the part measurable without a router in front of it: the
//! dispatch policy (`emc_edge_core::dispatch`) on the seeded virtual-time simulation against an
//! oracle, and how fast `pick` runs. Keys of issue #14 that need a real router and compute
//! nodes (latency added by a router on the HTTP path, streams over QUIC, end-to-end p99 under
//! load) are not measured here: the router's HTTP API and the nodes' job streams do not exist
//! yet, and these figures say nothing about them.
//!
//! - `dispatch_p99_vs_oracle`: the worst, over the workloads below and seeds 1–3, of the
//!   dispatcher's p99 time to first byte divided by the oracle's (the oracle knows every node's
//!   true speed and free slots and takes the fastest node with a free slot). Workloads: six
//!   nodes at 1×, 1×, 2×, 2×, 4×, 4× a 100 ms service time, four slots each, ±20 % jitter,
//!   20,000 Poisson calls (2,000 warm-up), offered 30 / 50 / 70 % of the fleet's throughput,
//!   with independent slots and (30 / 50 %) with contention 0.5 (a node's open calls slow a new
//!   one by `1 + 0.5 × open / slots`). `dispatch_by_workload` has each one.
//! - `picks_per_s`: `pick` + `on_first_byte` + `on_success` cycles per second on one core, 100
//!   nodes serving the model, 50 calls open at any time (`picks_per_s_1000_nodes`: 1,000).

use anyhow::Result;
use emc_edge_core::dispatch::sim::{self, SimConfig};
use emc_edge_core::dispatch::{DispatchConfig, Dispatcher, Ticket};
use emc_types::NodeId;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub fn run() -> Result<Value> {
    let cfg = DispatchConfig::default();
    let mut worst = 0f64;
    let mut by = serde_json::Map::new();
    for (load, contention) in [(0.3, 0.0), (0.5, 0.0), (0.7, 0.0), (0.3, 0.5), (0.5, 0.5)] {
        let mut ratios = Vec::new();
        let mut p99 = Vec::new();
        for seed in 1..=3u64 {
            let mut w = SimConfig::standard(seed, load);
            w.contention = contention;
            let (r, ours, oracle) = sim::p99_vs_oracle(&w, &cfg);
            anyhow::ensure!(ours.open_tickets == 0, "tickets leaked");
            ratios.push(r);
            p99.push((ours.p99_ns / 1_000_000, oracle.p99_ns / 1_000_000));
        }
        let max = ratios.iter().copied().fold(0f64, f64::max);
        worst = worst.max(max);
        by.insert(
            format!("load_{load}_contention_{contention}"),
            json!({
                "ratio_max": round3(max),
                "ratios": ratios.iter().map(|r| round3(*r)).collect::<Vec<_>>(),
                "p99_ms_dispatch_oracle": p99,
            }),
        );
    }
    Ok(json!({
        "dispatch_p99_vs_oracle": round3(worst),
        "dispatch_by_workload": Value::Object(by),
        "picks_per_s": picks_per_s(100),
        "picks_per_s_1000_nodes": picks_per_s(1000),
        "machine_cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
    }))
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Pick-and-complete cycles per second with `nodes` nodes and 50 calls open.
fn picks_per_s(nodes: u32) -> f64 {
    let mut d = Dispatcher::new(DispatchConfig::default());
    let ids: Vec<NodeId> = (0..nodes)
        .map(|i| {
            let mut b = [0u8; 32];
            b[..4].copy_from_slice(&i.to_le_bytes());
            NodeId(b)
        })
        .collect();
    for id in &ids {
        d.upsert_node(*id, vec![("app".into(), "m".into())], 64);
    }
    let ms = 1_000_000u64;
    let mut now = 0u64;
    let mut open: VecDeque<Ticket> = VecDeque::new();
    let mut rnd = 0x1234_5678u64;
    let mut cycle = |d: &mut Dispatcher, now: &mut u64, open: &mut VecDeque<Ticket>| {
        *now += ms;
        rnd = rnd
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        if let Ok(t) = d.pick("app", "m", None, *now, rnd) {
            open.push_back(t);
        }
        if open.len() > 50 {
            if let Some(t) = open.pop_front() {
                // Service time from the node's id: unequal nodes, as in the simulation.
                let extra = u64::from(t.node().0[0] % 4) * 20 * ms;
                d.on_first_byte(&t, *now + extra);
                d.on_success(t, *now + extra);
            }
        }
    };
    for _ in 0..10_000 {
        cycle(&mut d, &mut now, &mut open);
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        for _ in 0..1_000 {
            cycle(&mut d, &mut now, &mut open);
        }
        n += 1_000;
    }
    (n as f64 / start.elapsed().as_secs_f64()).round()
}
