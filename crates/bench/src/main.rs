//! `cargo run --release -p emc-bench -- <suite>`: runs one benchmark suite and prints one JSON
//! object on stdout. Figures are measured, never asserted: targets live in the README.

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};

mod checkpoint_bls;
mod compute;
mod consensus;
mod consensus_crypto;
mod embedded_ic;
mod epochs;
mod ledger;
mod market;
mod network;
mod network_sim;
mod poc;
mod registry;
mod replica;

#[derive(Parser)]
#[command(about = "EMC benchmark suites; each prints one JSON object on stdout")]
struct Cli {
    /// The suite to run.
    suite: Suite,
    /// `compute` only: run just the devnet's service part (added latency, calls/s,
    /// receipts/s), not the dispatch simulation.
    #[arg(long)]
    service_only: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Suite {
    /// The embedded IC: message throughput, instruction counting, rollback cost.
    EmbeddedIc,
    /// QBFT consensus: simulation seeds, messages per block, step throughput.
    Consensus,
    /// The $EMC ledger: instructions per call with 10,000 accounts.
    Ledger,
    /// The node registry: instructions of register, stake and validator_set at 1k/10k/100k nodes.
    Registry,
    /// Proof of computing: CPU and Vulkan prover times, verifier cost, int32 throughput.
    Poc,
    /// The epochs canister: checkpoint verification, payout cost per node at 1k/10k/100k nodes.
    Epochs,
    /// The edge network on loopback: finality (4/7/13 validators), state bits/s, router overhead.
    Network,
    /// The market canister: settle one receipt / a batch of 1,000, deposit; the wash trader.
    Market,
    /// The compute market's dispatch policy: p99 against an oracle (seeded simulation), picks/s.
    Compute,
    /// The local replica over HTTP through ic-agent: updates/s (16 callers), p50s, snapshot.
    Replica,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let report = match cli.suite {
        Suite::EmbeddedIc => embedded_ic::run()?,
        Suite::Consensus => consensus::run_suite()?,
        Suite::Ledger => ledger::run()?,
        Suite::Registry => registry::run()?,
        Suite::Poc => poc::run()?,
        Suite::Epochs => epochs::run()?,
        Suite::Network => network::run()?,
        Suite::Compute => compute::run(cli.service_only)?,
        Suite::Market => market::run()?,
        Suite::Replica => replica::run()?,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Builds canister package `package` (e.g. `emc-registry`) for wasm with `--features
/// <feature>` in cargo profile `profile`, copies it to `target/canisters/<out>.wasm` and returns
/// it: benchmark-only variants, never deployed (a later `scripts/build-canisters.sh` rebuilds
/// the production module).
pub(crate) fn feature_wasm(
    package: &str,
    feature: &str,
    profile: &str,
    out: &str,
) -> Result<Vec<u8>> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .current_dir(&root)
        .args(["build", "--quiet", "--target", "wasm32-unknown-unknown"])
        .args(["--profile", profile, "-p", package, "--features", feature])
        .status()
        .with_context(|| format!("running cargo build for {package} --features {feature}"))?;
    anyhow::ensure!(
        status.success(),
        "building {package} --features {feature} failed"
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let src = target.join(format!(
        "wasm32-unknown-unknown/{}/{}.wasm",
        if profile == "dev" { "debug" } else { profile },
        package.replace('-', "_")
    ));
    let dir = emc_test_env::canister_dir();
    std::fs::create_dir_all(&dir)?;
    let dst = dir.join(format!("{out}.wasm"));
    std::fs::copy(&src, &dst)
        .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
    Ok(std::fs::read(&dst)?)
}

/// The wasm of a canister, built by `scripts/build-canisters.sh` (run here when missing).
pub(crate) fn canister_wasm(name: &str) -> Result<Vec<u8>> {
    let path = emc_test_env::canister_dir().join(format!("{name}.wasm"));
    if !path.exists() {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/build-canisters.sh"
        );
        let status = std::process::Command::new(script)
            .status()
            .with_context(|| format!("running {script}"))?;
        anyhow::ensure!(status.success(), "{script} failed");
    }
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}
