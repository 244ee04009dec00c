//! Signature verification figures of the `consensus` suite (issue #19), kept apart from
//! `consensus.rs` and hooked into its JSON as `"verification"`:
//!
//! - `ed25519_verifications_per_s`: ed25519-dalek `verify_strict`, one signature at a time, one
//!   core (the rule for checkpoint signatures, and the per-vote cost before #19);
//! - `ed25519_vote_verifications_per_s`: the consensus-vote rule alone (cofactored, see
//!   `emc_consensus::crypto`), one at a time;
//! - `ed25519_batch_verifications_per_s`: the vote rule in batches of 64, per signature
//!   (`Verifier::verify_votes`); `ed25519_dalek_verify_batch_per_s` is ed25519-dalek's own
//!   (cofactorless) `verify_batch` for comparison, not used by consensus;
//! - `core_messages_per_s_over_batch`: the suite's `core_messages_per_s` (4 validators, every
//!   message's signatures checked) over the batch figure;
//! - `seeds_run_100`, `safety_violations_100`, `liveness_failures_after_heal_100`: seeded
//!   simulations of 100 validators (fast insecure signatures), every fault mix.

use ed25519_dalek::{Signer as _, SigningKey};
use emc_consensus::sim::{run, FaultMix, SimConfig, SimCrypto};
use emc_consensus::{Ed25519Signer, Ed25519Verifier, SigItem, Signer, Verifier};
use serde_json::{json, Value};
use std::time::Instant;

const SIGS: usize = 4_096;
const BATCH: usize = 64;
/// About 3 s per seed in a release build here, so the 1,000 seeds take over 20 minutes on 2
/// cores (EMC_BENCH_SEEDS_100 sets another count for quick runs).
const SEEDS_100: u64 = 1_000;

fn items() -> Vec<SigItem> {
    (0..SIGS)
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[..8].copy_from_slice(&(i as u64 % 100).to_le_bytes());
            let k = Ed25519Signer::from_seed(seed);
            let mut msg = b"emc-qbft-prepare-v1".to_vec();
            msg.extend_from_slice(&(i as u64).to_be_bytes());
            msg.extend_from_slice(&[0u8; 4]);
            msg.extend_from_slice(&[i as u8; 32]);
            SigItem {
                signer: k.node_id(),
                sig: k.sign(&msg),
                msg,
            }
        })
        .collect()
}

/// Signatures per second of `f` over all items, best of three passes (warm caches).
fn rate(items: &[SigItem], f: impl Fn(&[SigItem]) -> bool) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        assert!(f(items), "a valid signature was refused");
        best = best.min(t.elapsed().as_secs_f64());
    }
    items.len() as f64 / best
}

fn sweep_100(seeds: u64) -> (u64, u64, u64, Vec<String>, f64) {
    let t = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let mixes = FaultMix::all();
    let results: Vec<(u64, u64, Vec<String>)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|th| {
                let mixes = &mixes;
                s.spawn(move || {
                    let (mut safety, mut live, mut fails) = (0, 0, Vec::new());
                    for seed in (50_000 + th..50_000 + seeds).step_by(threads as usize) {
                        let mix = mixes[(seed as usize) % mixes.len()];
                        let mut cfg = SimConfig::new(seed, 100, mix);
                        cfg.crypto = SimCrypto::FastInsecure;
                        let r = run(cfg);
                        if !r.violations.is_empty() {
                            safety += 1;
                            fails.push(format!("seed {seed} n=100 {mix:?}: {r}"));
                        } else if !r.live {
                            live += 1;
                            fails.push(format!("seed {seed} n=100 {mix:?}: not live: {r}"));
                        }
                    }
                    (safety, live, fails)
                })
            })
            .collect();
        hs.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let safety = results.iter().map(|r| r.0).sum();
    let live = results.iter().map(|r| r.1).sum();
    let fails = results.into_iter().flat_map(|r| r.2).take(5).collect();
    (seeds, safety, live, fails, t.elapsed().as_secs_f64())
}

/// The verification figures; `core_n4` and `core_n13` are the suite's `core_messages_per_s`
/// figures (4 and 13 validators).
pub fn report(core_n4: f64, core_n13: f64) -> Value {
    let items = items();
    let v = Ed25519Verifier::new();
    let single = rate(&items, |it| {
        it.iter().all(|i| v.verify(&i.signer, &i.msg, &i.sig))
    });
    let vote = rate(&items, |it| {
        it.iter().all(|i| v.verify_vote(&i.signer, &i.msg, &i.sig))
    });
    let batch = rate(&items, |it| {
        it.chunks(BATCH)
            .all(|c| v.verify_votes(c).into_iter().all(|ok| ok))
    });
    let keys: Vec<ed25519_dalek::VerifyingKey> = items
        .iter()
        .filter_map(|i| ed25519_dalek::VerifyingKey::from_bytes(&i.signer.0).ok())
        .collect();
    let sigs: Vec<ed25519_dalek::Signature> = items
        .iter()
        .map(|i| ed25519_dalek::Signature::from_bytes(&i.sig.0))
        .collect();
    let dalek_batch = {
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            for ((m, s), k) in items
                .chunks(BATCH)
                .zip(sigs.chunks(BATCH))
                .zip(keys.chunks(BATCH))
            {
                let msgs: Vec<&[u8]> = m.iter().map(|i| i.msg.as_slice()).collect();
                assert!(ed25519_dalek::verify_batch(&msgs, s, k).is_ok());
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        items.len() as f64 / best
    };
    let sign = {
        let k = SigningKey::from_bytes(&[3; 32]);
        let t = Instant::now();
        for i in &items {
            std::hint::black_box(k.sign(&i.msg));
        }
        items.len() as f64 / t.elapsed().as_secs_f64()
    };
    let seeds = std::env::var("EMC_BENCH_SEEDS_100")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEEDS_100);
    let (run_100, safety_100, live_100, fails_100, secs_100) = sweep_100(seeds);
    json!({
        "ed25519_verifications_per_s": single,
        "ed25519_vote_verifications_per_s": vote,
        "ed25519_batch_verifications_per_s": batch,
        "ed25519_dalek_verify_batch_per_s": dalek_batch,
        "ed25519_signatures_per_s": sign,
        "batch_size": BATCH,
        "core_messages_per_s_over_batch": core_n4 / batch,
        "core_messages_per_s_n13_over_batch": core_n13 / batch,
        "seeds_run_100": run_100,
        "safety_violations_100": safety_100,
        "liveness_failures_after_heal_100": live_100,
        "failures_100": fails_100,
        "sweep_seconds_100": secs_100,
        "note": "one core; best of three passes over 4,096 signatures by 100 keys. The vote rule is cofactored with verify_strict's encoding checks (emc_consensus::crypto); core_messages_per_s counts every received message, most of whose signatures are verified in batches (lazy PREPARE/COMMIT verification) or not at all (surplus prepares, copies)",
    })
}
