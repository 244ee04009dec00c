//! `router`: runs a smart router. Its config file is the same format as edge-node's (`edge-node
//! init --role router` writes one; `edge-node register` / `stake` register and stake it).

use anyhow::Result;
use clap::Parser;
use edge_node::cli::{bind_network, connect_ic, init_tracing, load_router_config, shutdown_signal};
use edge_node::config::load_key;
use edge_node::http::serve;
use emc_router::{start_router, RouterEndpoint};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "router", version, about = "EMC smart router")]
struct Cli {
    /// Config file (role = "router").
    #[arg(long, short, default_value = "node.toml")]
    config: PathBuf,
}

fn main() -> Result<()> {
    init_tracing();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let cfg = load_router_config(&cli.config)?;
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
