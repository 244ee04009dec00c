//! Finality of 100 validators (and 13, for comparison) on a simulated network, since 100 real
//! QUIC endpoints with their tasks do not fit this 2-core machine: `emc-consensus` nodes with
//! real ed25519 (signing, batch and lazy verification) exchange messages over 1 ms links. Each
//! validator is one core: a step starts when the node is free and the message has arrived,
//! and takes the wall time `Node::step` really took here (measured), so verification cost
//! shows in finality as it would on a machine per validator. Finality is, per block and per
//! validator, the time from the block's timestamp to the validator's commit.

use emc_consensus::sim::{SimApp, SimCrypto, SimSigner, SimVerifier};
use emc_consensus::{Config, Ed25519Signer, Effect, Input, Node, Signer, Timer};
use emc_types::{NodeId, ValidatorSet};
use serde_json::{json, Value};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

const MS: u64 = 1_000_000;
const LINK_NS: u64 = MS;

enum Ev {
    Msg {
        to: usize,
        from: usize,
        bytes: std::rc::Rc<Vec<u8>>,
    },
    Timer {
        node: usize,
        timer: Timer,
    },
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    (v[i] * 100.0).round() / 100.0
}

/// (p50 ms, p99 ms, blocks measured, messages per second of a validator's busy time) for `n`
/// validators over `blocks` blocks (after 3).
fn finality(n: usize, blocks: u64) -> (f64, f64, u64, f64) {
    let keys: Vec<[u8; 32]> = (0..n)
        .map(|i| {
            let mut k = [0x5a; 32];
            k[..8].copy_from_slice(&(i as u64).to_le_bytes());
            k
        })
        .collect();
    let ids: Vec<NodeId> = keys
        .iter()
        .map(|k| Ed25519Signer::from_seed(*k).node_id())
        .collect();
    let set = ValidatorSet {
        epoch: 0,
        members: ids.clone(),
    };
    let mut cfg = Config::new(set);
    cfg.block_interval_ns = 50 * MS;
    cfg.round_timeout_base_ns = 500 * MS;
    cfg.checkpoint_interval = 1_000;
    cfg.epoch_length = 100_000;
    let mut nodes: Vec<_> = keys
        .iter()
        .zip(&ids)
        .filter_map(|(k, id)| {
            Node::new(
                cfg.clone(),
                SimApp::new(*id),
                SimSigner::Ed25519(Ed25519Signer::from_seed(*k)),
                SimVerifier::new(SimCrypto::Ed25519),
            )
            .ok()
        })
        .collect();
    let mut queue: BinaryHeap<Reverse<(u64, u64, usize)>> = BinaryHeap::new();
    let mut events: Vec<Option<Ev>> = Vec::new();
    let mut busy = vec![0u64; n];
    let mut finality_ms = Vec::new();
    let (mut msg_steps, mut msg_ns) = (0u64, 0u64);
    let push = |queue: &mut BinaryHeap<Reverse<(u64, u64, usize)>>,
                events: &mut Vec<Option<Ev>>,
                at: u64,
                ev: Ev| {
        let seq = events.len() as u64;
        events.push(Some(ev));
        queue.push(Reverse((at, seq, seq as usize)));
    };
    let mut pending: Vec<(usize, u64, Vec<Effect>)> = Vec::new();
    for (i, node) in nodes.iter_mut().enumerate() {
        pending.push((i, 0, node.step(Input::Start, 0)));
    }
    loop {
        for (i, at, effects) in pending.drain(..) {
            for e in effects {
                match e {
                    Effect::Broadcast { bytes } => {
                        let bytes = std::rc::Rc::new(bytes);
                        for j in 0..n {
                            if j != i {
                                let ev = Ev::Msg {
                                    to: j,
                                    from: i,
                                    bytes: bytes.clone(),
                                };
                                push(&mut queue, &mut events, at + LINK_NS, ev);
                            }
                        }
                    }
                    Effect::Send { to, bytes } => {
                        if let Some(j) = ids.iter().position(|x| *x == to) {
                            let ev = Ev::Msg {
                                to: j,
                                from: i,
                                bytes: std::rc::Rc::new(bytes),
                            };
                            push(&mut queue, &mut events, at + LINK_NS, ev);
                        }
                    }
                    Effect::ScheduleTimeout { timer, at_ns } => {
                        push(
                            &mut queue,
                            &mut events,
                            at_ns.max(at),
                            Ev::Timer { node: i, timer },
                        );
                    }
                    Effect::CommitBlock(cb) if cb.block.header.height > 3 => {
                        let ts = cb.block.header.timestamp_ns;
                        finality_ms.push(at.saturating_sub(ts) as f64 / 1e6);
                    }
                    _ => {}
                }
            }
        }
        if nodes.iter().map(|x| x.height()).min().unwrap_or(0) > blocks + 3 {
            break;
        }
        let Some(Reverse((at, _, idx))) = queue.pop() else {
            break;
        };
        let node = match events[idx].as_ref() {
            Some(Ev::Msg { to, .. }) => *to,
            Some(Ev::Timer { node, .. }) => *node,
            None => continue,
        };
        if busy[node] > at {
            // The validator is still working: the event waits for it (same order).
            queue.push(Reverse((busy[node], idx as u64, idx)));
            continue;
        }
        let Some(ev) = events[idx].take() else {
            continue;
        };
        let t = Instant::now();
        let effects = match &ev {
            Ev::Msg { from, bytes, .. } => nodes[node].step(
                Input::Message {
                    from: ids[*from],
                    bytes,
                },
                at,
            ),
            Ev::Timer { timer, .. } => nodes[node].step(Input::Timeout(*timer), at),
        };
        let took = t.elapsed().as_nanos() as u64;
        if matches!(ev, Ev::Msg { .. }) {
            msg_steps += 1;
            msg_ns += took;
        }
        let done = at + took;
        busy[node] = done;
        pending.push((node, done, effects));
    }
    let measured = nodes[0].height().saturating_sub(4);
    let p50 = percentile(&mut finality_ms, 0.50);
    let p99 = percentile(&mut finality_ms, 0.99);
    (
        p50,
        p99,
        measured,
        msg_steps as f64 / (msg_ns.max(1) as f64 / 1e9),
    )
}

/// The figures, as keys of the `network` suite's JSON object.
pub fn report() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (n, blocks) in [(13usize, 200u64), (100, 30)] {
        let (p50, p99, b, rate) = finality(n, blocks);
        // 100: simulated only; 13: the simulated figure beside the real loopback one.
        let tag = if n == 100 { "" } else { "_sim" };
        out.push((format!("finality_p50_ms_{n}{tag}"), json!(p50)));
        out.push((format!("finality_p99_ms_{n}{tag}"), json!(p99)));
        out.push((format!("finality_blocks_{n}{tag}"), json!(b)));
        out.push((format!("core_messages_per_s_{n}_sim"), json!(rate)));
    }
    out.push((
        "finality_sim_note".into(),
        json!("finality_*_100 and *_13_sim: emc-consensus nodes over simulated 1 ms links, one core per validator, each step costing the wall time it took here (real ed25519); 100 real QUIC validators do not fit this machine"),
    ));
    out
}
