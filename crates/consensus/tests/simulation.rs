//! The seeded simulation across fault mixes and network sizes. Any failure prints the seed
//! and the fault mix; `replay` reruns one seed (set EMC_SIM_SEED, EMC_SIM_N, EMC_SIM_MIX).

use emc_consensus::sim::{run, FaultMix, SimConfig, SimReport};

fn check(seed: u64, n: usize, mix: FaultMix) -> SimReport {
    let r = run(SimConfig::new(seed, n, mix));
    assert!(
        r.violations.is_empty(),
        "seed {seed} n={n} mix={mix:?}: SAFETY/VALIDITY violated: {r}\n{}",
        r.node_states.join("\n")
    );
    assert!(
        r.live,
        "seed {seed} n={n} mix={mix:?}: not live after heal: {r}\n{}",
        r.node_states.join("\n")
    );
    r
}

fn sweep(n: usize, seeds: std::ops::Range<u64>) {
    let mixes = FaultMix::all();
    for seed in seeds {
        let mix = mixes[(seed as usize) % mixes.len()];
        check(seed, n, mix);
    }
}

#[test]
fn sim_n4() {
    sweep(4, 0..200);
}

#[test]
fn sim_n7() {
    sweep(7, 1000..1100);
}

#[test]
fn sim_n13() {
    sweep(13, 2000..2030);
}
