//! `router`: runs a smart router. Its config file is the same format as edge-node's (`edge-node
//! init --role router` writes one; `edge-node register` / `stake` register and stake it).

use anyhow::Result;
use clap::Parser;
use emc_node_common::bootstrap::{bind_network, connect_ic, load_config_for, shutdown_signal};
use emc_node_common::config::load_key;
use emc_node_common::http::serve;
use emc_node_common::logging::{init_logging, log_dir_beside, LogConfig};
use emc_router::{start_router, RouterEndpoint};
use emc_types::Role;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "router", version, about = "EMC smart router")]
struct Cli {
    /// Config file (role = "router").
    #[arg(long, short, default_value = "node.toml")]
    config: PathBuf,
    /// Print every log line (`RUST_LOG` filters), not only milestones and warnings.
    #[arg(long, short)]
    verbose: bool,
    /// Where the full log, `router.log`, goes (default: the config file's directory).
    #[arg(long)]
    log_dir: Option<PathBuf>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let dir = log_dir_beside(&cli.config, cli.log_dir.as_deref());
    init_logging(&LogConfig {
        verbose: cli.verbose,
        dir: Some(dir),
        default_name: "router".into(),
    })?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let cfg = load_config_for(&cli.config, Role::Router)?;
        let key = load_key(&cfg.key_file)?;
        let ic = connect_ic(&cfg.ic, cfg.validator.epoch_length).await?;
        let (net, events, authorizer) = bind_network(&cfg, &key)?;
        let mut stop = shutdown_signal();
        let h = start_router(
            cfg.router.clone(),
            net.clone(),
            events,
            authorizer,
            Some(ic),
        );
        if let Some(addr) = cfg.status_addr {
            serve(
                addr,
                Arc::new(RouterEndpoint(h.status.clone())),
                stop.clone(),
            )
            .await?;
        }
        let _ = stop.changed().await;
        h.stop().await;
        net.close().await;
        Ok(())
    })
}
