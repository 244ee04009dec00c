//! Issue #21, finding 5: one device behind k identities challenged at the same instant must
//! not earn more in total than one identity alone. Deterministic: a virtual clock and a device
//! model with a fixed throughput (one round every `ROUND_NS` virtual ns when it works on one
//! task), driving the real `Verifier` and the real CPU prover at a small size.
//!
//! TODAY'S SCHEME (fixed work, E = work / own elapsed time, per-node adaptive deadline of 1.5x
//! the time the identity's last E predicts). Written first: it fails on this code.

use emc_poc::{
    e_fixed, expected_time_ns, round_seed, Challenge, CpuProver, ProverSession, Task, TaskParams,
    Verifier, VerifierConfig,
};
use emc_types::NodeId;

const K: usize = 4;
const ROUND_NS: u64 = 1_000; // the device: a round per virtual microsecond (E well above 1e-4)
const PARAMS: TaskParams = TaskParams { n: 128, rounds: 4 };

fn ids() -> Vec<NodeId> {
    (0..K as u8).map(|i| NodeId([i + 1; 32])).collect()
}

/// Runs one challenge: the commitment arrives at `finish` (virtual ns after the challenge),
/// the deadline follows the identity's last E.
fn verdict_e(id: &NodeId, finish: u64, last_e: Option<u64>) -> u64 {
    let task = Task {
        seed: round_seed(&[5; 32], id),
        params: PARAMS,
    };
    let deadline_ns = match last_e {
        Some(e) => expected_time_ns(&PARAMS, e) * 3 / 2,
        None => 60_000_000_000,
    };
    let ch = Challenge { task, deadline_ns };
    let session = ProverSession::run(&CpuProver::new(1), &task).unwrap();
    let t0 = 1_000;
    let mut v = Verifier::new(ch, VerifierConfig::default(), t0).unwrap();
    if let Some(late) = v.on_commitment(&session.commitment(), t0 + finish).unwrap() {
        return late.e;
    }
    let req = v.rows_to_open(&[9; 32]).unwrap();
    v.on_opening(&session.open(&req).unwrap(), t0 + finish + 1)
        .unwrap()
        .e
}

/// ΣE of the k identities when identity j commits at `finish[j]`, after a few rounds of the
/// same strategy (so every identity's deadline follows its own last E).
fn sum_e(finish: &[u64]) -> u64 {
    let ids = ids();
    let mut last: Vec<Option<u64>> = vec![None; K];
    let mut sum = 0;
    for _ in 0..3 {
        sum = 0;
        for j in 0..K {
            let e = verdict_e(&ids[j], finish[j], last[j]);
            if e > 0 {
                last[j] = Some(e);
            }
            sum += e;
        }
    }
    sum
}

#[test]
fn one_device_behind_four_identities_earns_at_most_one_identitys_e() {
    let t = u64::from(PARAMS.rounds) * ROUND_NS; // the task's time on the whole device
    let alone = verdict_e(&ids()[0], t, None);
    // Sequential: identity j finishes at (j + 1) T.
    let sequential: Vec<u64> = (1..=K as u64).map(|j| j * t).collect();
    // Interleaved round by round, or in parallel shares: everyone finishes near K T.
    let interleaved: Vec<u64> = (0..K as u64)
        .map(|j| (K as u64 - 1) * t + (j + 1) * ROUND_NS)
        .collect();
    let parallel: Vec<u64> = vec![K as u64 * t; K];
    for (name, finish) in [
        ("sequential", sequential),
        ("interleaved", interleaved),
        ("parallel", parallel),
    ] {
        let sum = sum_e(&finish);
        println!(
            "{name}: sum E = {sum}, alone = {alone}, ratio {:.3}",
            sum as f64 / alone as f64
        );
        assert!(
            sum as f64 <= 1.05 * alone as f64,
            "{name}: ΣE = {sum} over E alone = {alone}: ratio {:.3}",
            sum as f64 / alone as f64
        );
    }
    let _ = e_fixed(&PARAMS, t);
}
