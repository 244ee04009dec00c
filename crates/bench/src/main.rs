//! `cargo run --release -p emc-bench -- <suite>`: runs one benchmark suite and prints one JSON
//! object on stdout. Figures are measured, never asserted: targets live in the README.

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};

mod compute;
mod consensus;
mod consensus_crypto;
mod embedded_ic;
mod epochs;
mod ledger;
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
        Suite::Compute => compute::run()?,
        Suite::Replica => replica::run()?,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
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
