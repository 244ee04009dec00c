//! The seeded simulation across fault mixes and network sizes. Any failure prints the seed
//! and the fault mix; `replay` reruns one seed (set EMC_SIM_SEED, EMC_SIM_N, EMC_SIM_MIX).

use emc_consensus::sim::{run, FaultMix, SimConfig, SimCrypto, SimReport};

fn check(seed: u64, n: usize, mix: FaultMix, crypto: SimCrypto) -> SimReport {
    let mut cfg = SimConfig::new(seed, n, mix);
    cfg.crypto = crypto;
    let r = run(cfg);
    assert!(
        r.violations.is_empty(),
        "seed {seed} n={n} mix={mix:?} crypto={crypto:?}: SAFETY/VALIDITY violated: {r}\n{}",
        r.node_states.join("\n")
    );
    assert!(
        r.live,
        "seed {seed} n={n} mix={mix:?} crypto={crypto:?}: not live after heal: {r}\n{}",
        r.node_states.join("\n")
    );
    r
}

fn sweep(n: usize, seeds: std::ops::Range<u64>, crypto: SimCrypto) {
    let mixes = FaultMix::all();
    for seed in seeds {
        let mix = mixes[(seed as usize) % mixes.len()];
        check(seed, n, mix, crypto);
    }
}

#[test]
fn sim_n4() {
    sweep(4, 0..100, SimCrypto::Ed25519);
}

#[test]
fn sim_n7() {
    sweep(7, 1000..1050, SimCrypto::Ed25519);
}

#[test]
fn sim_n13() {
    sweep(13, 2000..2020, SimCrypto::Ed25519);
}

/// More seeds with the simulation's fast signatures (same protocol paths, cheaper crypto).
#[test]
fn sim_fast_signatures_mixed_sizes() {
    sweep(4, 10_000..10_200, SimCrypto::FastInsecure);
    sweep(7, 20_000..20_100, SimCrypto::FastInsecure);
    sweep(13, 30_000..30_040, SimCrypto::FastInsecure);
}

/// 100 validators (F = 33) with the fast signatures: agreement, validity and liveness after
/// the heal. About 6 s per seed in a dev build on 2 cores, so four seeds here (a partition,
/// double votes, bad signatures, chaos); more run in the benchmark (`emc-bench consensus`,
/// `seeds_run_100`).
#[test]
fn sim_n100_fast_signatures() {
    let mixes = FaultMix::all();
    for seed in [40_002u64, 40_005, 40_007, 40_009] {
        check(
            seed,
            100,
            mixes[(seed as usize) % mixes.len()],
            SimCrypto::FastInsecure,
        );
    }
}

/// Reruns one seed with its report printed:
/// `EMC_SIM_SEED=42 EMC_SIM_N=7 EMC_SIM_MIX=9 cargo test -p emc-consensus --test consensus
/// simulation::replay -- --ignored --nocapture` (EMC_SIM_MIX indexes `FaultMix::all()`; by default the
/// mix the sweeps use for that seed).
#[test]
#[ignore]
fn replay() {
    let var = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let seed = var("EMC_SIM_SEED").unwrap_or(0);
    let n = var("EMC_SIM_N").unwrap_or(4) as usize;
    let mixes = FaultMix::all();
    let mix = mixes[var("EMC_SIM_MIX").unwrap_or(seed) as usize % mixes.len()];
    let r = run(SimConfig::new(seed, n, mix));
    println!("{r}\n{}", r.node_states.join("\n"));
    check(seed, n, mix, SimCrypto::Ed25519);
}

#[test]
fn same_seed_same_run() {
    let a = run(SimConfig::new(77, 7, FaultMix::Chaos));
    let b = run(SimConfig::new(77, 7, FaultMix::Chaos));
    assert_eq!(
        (a.messages, a.steps, a.min_height, a.max_height, a.end_ns),
        (b.messages, b.steps, b.min_height, b.max_height, b.end_ns)
    );
    assert_eq!(a.fault_desc, b.fault_desc);
}

/// Timing of a sweep with the fast signatures, printing slow seeds:
/// `EMC_SIM_FROM=0 EMC_SIM_TO=10000 cargo test --release -p emc-consensus --test
/// consensus simulation::sweep_timing -- --ignored --nocapture`.
#[test]
#[ignore]
fn sweep_timing() {
    let var = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(d)
    };
    let mixes = FaultMix::all();
    for seed in var("EMC_SIM_FROM", 0)..var("EMC_SIM_TO", 1000) {
        let n = match seed % 10 {
            0..=4 => 4,
            5..=7 => 7,
            _ => 13,
        };
        let mix = mixes[((seed / 10) as usize) % mixes.len()];
        let mut cfg = SimConfig::new(seed, n, mix);
        cfg.crypto = SimCrypto::FastInsecure;
        if std::env::var("EMC_SIM_VERBOSE").is_ok() {
            eprintln!("start seed {seed}");
        }
        let t = std::time::Instant::now();
        let r = run(cfg);
        let el = t.elapsed();
        if el.as_millis() > 500 || !r.violations.is_empty() || !r.live {
            println!("seed {seed} n={n} {:?}: {r}", el);
        }
    }
}
