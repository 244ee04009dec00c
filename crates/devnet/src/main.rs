//! `emc-devnet`: runs the local devnet until Ctrl-C or `--duration`, printing a status line.

use anyhow::Result;
use clap::Parser;
use emc_devnet::{Devnet, E8S};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "EMC local devnet on the embedded IC")]
struct Cli {
    /// Stop after this long (e.g. 60s, 5m); runs until Ctrl-C when absent.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// How often to print the status line.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    status_every: Duration,
    /// Send a small operator-to-operator transfer every status interval (shows ledger activity).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    demo_transfers: bool,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))?;

    let mut devnet = Devnet::start()?;
    println!("devnet: embedded IC running");
    println!("  ledger   {}", devnet.ledger);
    println!("  registry {}", devnet.registry);
    println!("  admin    {}", devnet.principals.admin);
    println!("  treasury {}", devnet.principals.treasury);
    for (i, op) in devnet.principals.operators.iter().enumerate() {
        println!("  operator {i} {op}");
    }

    let started = Instant::now();
    let mut last = Instant::now();
    let mut last_status = Instant::now() - cli.status_every;
    let mut round = 0u64;
    while !stop.load(Ordering::SeqCst) {
        if cli.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        let now = Instant::now();
        devnet.advance(now - last);
        last = now;
        if now - last_status >= cli.status_every {
            last_status = now;
            if cli.demo_transfers {
                let ops = devnet.principals.operators.clone();
                let (from, to) = (
                    ops[round as usize % ops.len()],
                    ops[(round as usize + 1) % ops.len()],
                );
                devnet.transfer(from, to, E8S)?;
            }
            round += 1;
            let s = devnet.status()?;
            println!(
                "devnet: t+{:>5}s  ledger blocks {:>5}  supply {} EMC  registry: {} nodes, epoch {}",
                started.elapsed().as_secs(),
                s.ledger_blocks,
                s.total_supply_e8s / u128::from(E8S),
                s.registered_nodes,
                s.registry_epoch,
            );
        }
    }
    println!(
        "devnet: stopped cleanly after {}s",
        started.elapsed().as_secs()
    );
    Ok(())
}
