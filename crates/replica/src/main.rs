//! `emc-replica`: a local replica over the embedded IC, serving the IC's HTTP interface.
//!
//! ```text
//! emc-replica --port 4943 --state-dir .emc-replica --clock wall
//! ```
//! Flags override the TOML file given with `--config` (keys: the fields of `ReplicaConfig`).
//! Ctrl-C (or SIGTERM) stops it cleanly: the final snapshot is written before it exits.

use anyhow::Context;
use clap::Parser;
use emc_replica::{Clock, ReplicaConfig};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "emc-replica",
    version,
    about = "The embedded IC as a local replica (IC HTTP interface)"
)]
struct Cli {
    /// TOML configuration file (flags override it).
    #[arg(long, env = "EMC_REPLICA_CONFIG")]
    config: Option<PathBuf>,
    /// Port to listen on (0: any free port).
    #[arg(long)]
    port: Option<u16>,
    /// Address to listen on.
    #[arg(long)]
    host: Option<IpAddr>,
    /// Directory for the key seed and the state snapshot (state survives restarts).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// wall: the IC's time is the UNIX time; manual: it moves only through `POST /_/time`.
    #[arg(long, value_enum)]
    clock: Option<Clock>,
    /// Print canisters' debug_print output.
    #[arg(long)]
    debug_print: bool,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let mut config = match &cli.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str::<ReplicaConfig>(&text)
                .with_context(|| format!("parsing {}", path.display()))?
        }
        None => ReplicaConfig::default(),
    };
    if let Some(port) = cli.port {
        config.listen.set_port(port);
    }
    if let Some(host) = cli.host {
        config.listen = SocketAddr::new(host, config.listen.port());
    }
    if cli.state_dir.is_some() {
        config.state_dir = cli.state_dir;
    }
    if let Some(clock) = cli.clock {
        config.clock = clock;
    }
    config.trace_debug_print |= cli.debug_print;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let replica = emc_replica::start(config).await?;
        println!("emc-replica listening on {}", replica.url());
        println!("root key: {}", hex(replica.root_key()));
        shutdown_signal().await;
        tracing::info!("shutting down");
        replica.shutdown().await;
        Ok(())
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
