//! `emc-demo-llm`: runs the demo OpenAI-compatible server (see the library docs).

use anyhow::Result;
use clap::Parser;
use emc_demo_llm::{spawn, DemoConfig};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "emc-demo-llm",
    version,
    about = "Tiny OpenAI-compatible streaming LLM server"
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Delay before the first token (e.g. `200ms`).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    first_token_delay: Duration,
    /// Delay before each further token.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    token_delay: Duration,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        let cfg = DemoConfig {
            first_token_delay: cli.first_token_delay,
            token_delay: cli.token_delay,
        };
        let addr = spawn(cli.listen, cfg, stop).await?;
        println!(
            "emc-demo-llm serving {} on http://{addr}",
            emc_demo_llm::MODEL
        );
        tokio::signal::ctrl_c().await?;
        Ok(())
    })
}
