//! The `edge-node` command line: `init`, `register`, `stake`, `status`, `run`.

use crate::compute::{start_compute, ComputeEndpoint};
use crate::status::ValidatorStatus;
use crate::validator::start_validator;
use anyhow::{anyhow, bail, Result};
use clap::{Parser, Subcommand};
use emc_node_common::bootstrap::{bind_network, connect_ic, shutdown_signal};
use emc_node_common::config::{generate_key, load_key, IcConfig, NodeConfig, ProverKind};
use emc_node_common::http::{metric, serve, Endpoint};
use emc_node_common::logging::{init_logging, log_dir_beside, LogConfig};
use emc_node_common::ops::{offers_of, post_offer, register_node, stake_node, withdraw_offer, E8S};
use emc_node_common::status::Shared;
use emc_types::{NodeId, Role};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "edge-node",
    version,
    about = "EMC edge node: validator and compute roles"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print every log line (`RUST_LOG` filters), not only milestones and warnings.
    #[arg(long, short, global = true)]
    verbose: bool,
    /// Where `run` writes its full log, `node.log` (default: the config file's directory).
    #[arg(long, global = true)]
    log_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Creates a node key and a config file in a directory.
    Init {
        /// Directory for node.pem and node.toml.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The role.
        #[arg(long)]
        role: Role,
        /// QUIC listen address.
        #[arg(long, default_value = "0.0.0.0:7400")]
        listen: SocketAddr,
        /// Replica URL.
        #[arg(long, default_value = "http://127.0.0.1:4943")]
        ic_url: String,
        /// The operator's identity PEM (dfx: ~/.config/dfx/identity/<name>/identity.pem).
        #[arg(long)]
        identity_pem: Option<PathBuf>,
        /// Ledger canister id.
        #[arg(long)]
        ledger: candid::Principal,
        /// Registry canister id.
        #[arg(long)]
        registry: candid::Principal,
        /// Epochs canister id.
        #[arg(long)]
        epochs: candid::Principal,
        /// Market canister id (routers admit calls against its escrow and settle there).
        #[arg(long)]
        market: Option<candid::Principal>,
        /// Computing sockets canister id (routers admit socket calls against it).
        #[arg(long)]
        sockets: Option<candid::Principal>,
    },
    /// Registers the node with the registry (the operator's identity becomes its owner).
    Register {
        /// Config file.
        #[arg(long, short, default_value = "node.toml")]
        config: PathBuf,
    },
    /// Approves and stakes EMC for the node.
    Stake {
        /// Config file.
        #[arg(long, short, default_value = "node.toml")]
        config: PathBuf,
        /// Amount in whole EMC.
        #[arg(long)]
        amount: u64,
        /// Term in days.
        #[arg(long)]
        days: u32,
    },
    /// The node's offers in the compute market (a compute node's owner lists what it sells).
    Offer {
        #[command(subcommand)]
        action: OfferAction,
    },
    /// Prints the node's registry entry and the network's anchored state.
    Status {
        /// Config file.
        #[arg(long, short, default_value = "node.toml")]
        config: PathBuf,
    },
    /// Runs the node.
    Run {
        /// Config file.
        #[arg(long, short, default_value = "node.toml")]
        config: PathBuf,
        /// Overrides the configured role.
        #[arg(long)]
        role: Option<Role>,
        /// The local app a compute node serves (overrides the config).
        #[arg(long)]
        app_url: Option<String>,
        /// The compute node's prover (overrides the config).
        #[arg(long, value_enum)]
        prover: Option<ProverKind>,
        /// The Vulkan device: `auto`, an index or a name substring (overrides the config).
        #[arg(long)]
        vulkan_device: Option<String>,
    },
}

/// `edge-node offer ...`.
#[derive(Subcommand, Debug)]
pub enum OfferAction {
    /// Lists an offer for this compute node: its app and unit from the config.
    Post {
        /// Config file.
        #[arg(long, short, default_value = "node.toml")]
        config: PathBuf,
        /// Price of one unit, e8s (default: the config's `compute.price_e8s`).
        #[arg(long)]
        price_e8s: Option<u64>,
        /// Units the node serves per second.
        #[arg(long)]
        capacity: u64,
    },
    /// Lists the operator's offers.
    List {
        /// Config file.
        #[arg(long, short, default_value = "node.toml")]
        config: PathBuf,
    },
    /// Withdraws an offer.
    Withdraw {
        /// Config file.
        #[arg(long, short, default_value = "node.toml")]
        config: PathBuf,
        /// The offer's id.
        id: u64,
    },
}

/// The validator's status and metrics endpoint.
#[derive(Clone, Debug)]
pub struct ValidatorEndpoint(pub Shared<ValidatorStatus>);

impl Endpoint for ValidatorEndpoint {
    fn status_json(&self) -> String {
        serde_json::to_string_pretty(&self.0.get()).unwrap_or_default()
    }

    fn metrics_text(&self) -> String {
        let s = self.0.get();
        let c = &s.consensus;
        let mut out = String::new();
        metric(
            &mut out,
            "emc_height",
            "gauge",
            "Last committed height.",
            s.height,
        );
        metric(
            &mut out,
            "emc_epoch",
            "gauge",
            "Epoch of the last committed height.",
            s.epoch,
        );
        metric(&mut out, "emc_peers", "gauge", "Live connections.", s.peers);
        metric(
            &mut out,
            "emc_blocks_committed_total",
            "counter",
            "Blocks committed.",
            s.blocks_committed,
        );
        metric(
            &mut out,
            "emc_state_bits_total",
            "counter",
            "State bits committed.",
            s.state_bits,
        );
        metric(
            &mut out,
            "emc_checkpoint_accepted_height",
            "gauge",
            "Latest checkpoint accepted by the IC.",
            s.last_checkpoint_accepted.unwrap_or(0),
        );
        metric(
            &mut out,
            "emc_checkpoints_submitted_total",
            "counter",
            "Checkpoints this node got accepted.",
            s.checkpoints_submitted,
        );
        metric(
            &mut out,
            "emc_messages_received_total",
            "counter",
            "Consensus messages received.",
            c.received,
        );
        metric(
            &mut out,
            "emc_messages_bad_signature_total",
            "counter",
            "Consensus messages with a bad signature.",
            c.bad_signature,
        );
        metric(
            &mut out,
            "emc_messages_malformed_total",
            "counter",
            "Undecodable consensus messages.",
            c.malformed,
        );
        metric(
            &mut out,
            "emc_round_changes_total",
            "counter",
            "Round changes.",
            c.round_changes,
        );
        metric(
            &mut out,
            "emc_equivocations_seen_total",
            "counter",
            "Equivocations seen.",
            c.equivocations_seen,
        );
        metric(
            &mut out,
            "emc_rewards_emitted_e8s",
            "gauge",
            "Node rewards minted (all nodes).",
            s.total_emitted_e8s,
        );
        out
    }
}

/// `edge-node` entry point.
pub fn main() -> Result<()> {
    let cli = Cli::parse();
    // `run` keeps its full log in a file; the one-shot commands print to the console only.
    let dir = match &cli.command {
        Command::Run { config, .. } => Some(log_dir_beside(config, cli.log_dir.as_deref())),
        _ => None,
    };
    let one_shot = dir.is_none();
    init_logging(&LogConfig {
        verbose: cli.verbose || one_shot,
        dir,
        default_name: "node".into(),
    })?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_cli(cli))
}

async fn run_cli(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init {
            dir,
            role,
            listen,
            ic_url,
            identity_pem,
            ledger,
            registry,
            epochs,
            market,
            sockets,
        } => {
            let key = generate_key(&dir.join("node.pem"))?;
            let cfg = NodeConfig {
                role,
                key_file: PathBuf::from("node.pem"),
                status_addr: Some(SocketAddr::from(([127, 0, 0, 1], 9400))),
                region: "unknown".into(),
                hardware: String::new(),
                public_addr: None,
                ic: IcConfig {
                    url: ic_url,
                    identity_pem,
                    ledger,
                    registry,
                    epochs,
                    market,
                    sockets,
                },
                net: emc_net::NetConfig {
                    listen_addr: listen,
                    ..Default::default()
                },
                validator: emc_node_common::config::ValidatorConfig {
                    wal: Some(PathBuf::from("wal.log")),
                    ..Default::default()
                },
                compute: Default::default(),
                router: Default::default(),
            };
            let path = dir.join("node.toml");
            if path.exists() {
                bail!("{} exists already", path.display());
            }
            std::fs::write(&path, toml::to_string_pretty(&cfg)?)?;
            println!("node id {}", hex::encode(key.verifying_key().to_bytes()));
            println!(
                "wrote {} and {}",
                dir.join("node.pem").display(),
                path.display()
            );
            Ok(())
        }
        Command::Register { config } => {
            let cfg = NodeConfig::load(&config)?;
            let key = load_key(&cfg.key_file)?;
            let ic = connect_ic(&cfg.ic, cfg.validator.epoch_length).await?;
            let node = register_node(
                &ic.registry,
                &key,
                cfg.role,
                cfg.advertised_addr().to_string(),
                cfg.region.clone(),
                cfg.hardware.clone(),
            )
            .await?;
            println!(
                "registered {} as {:?}, owner {}",
                hex::encode(node.id.0),
                node.role,
                node.owner
            );
            Ok(())
        }
        Command::Stake {
            config,
            amount,
            days,
        } => {
            let cfg = NodeConfig::load(&config)?;
            let key = load_key(&cfg.key_file)?;
            let ic = connect_ic(&cfg.ic, cfg.validator.epoch_length).await?;
            let node = NodeId(key.verifying_key().to_bytes());
            let e8s = amount
                .checked_mul(E8S)
                .ok_or_else(|| anyhow!("amount too large"))?;
            let info = stake_node(&ic, node, e8s, days).await?;
            println!("{}", serde_json::to_string_pretty(&format!("{info:?}"))?);
            Ok(())
        }
        Command::Offer { action } => {
            let path = match &action {
                OfferAction::Post { config, .. }
                | OfferAction::List { config }
                | OfferAction::Withdraw { config, .. } => config.clone(),
            };
            let cfg = NodeConfig::load(&path)?;
            let ic = connect_ic(&cfg.ic, cfg.validator.epoch_length).await?;
            match action {
                OfferAction::Post {
                    price_e8s,
                    capacity,
                    ..
                } => {
                    let key = load_key(&cfg.key_file)?;
                    let offer = post_offer(
                        &ic,
                        emc_market::OfferArgs {
                            node: NodeId(key.verifying_key().to_bytes()),
                            app: cfg.compute.app.clone(),
                            unit: cfg.compute.unit.meter(),
                            price_e8s: price_e8s.unwrap_or(cfg.compute.price_e8s),
                            capacity,
                        },
                    )
                    .await?;
                    println!("{}", serde_json::to_string_pretty(&offer)?);
                }
                OfferAction::List { .. } => {
                    let me = ic.epochs.client().principal();
                    let offers = offers_of(&ic, me).await?;
                    println!("{}", serde_json::to_string_pretty(&offers)?);
                }
                OfferAction::Withdraw { id, .. } => {
                    withdraw_offer(&ic, id).await?;
                    println!("offer {id} withdrawn");
                }
            }
            Ok(())
        }
        Command::Status { config } => {
            let cfg = NodeConfig::load(&config)?;
            let key = load_key(&cfg.key_file)?;
            let ic = connect_ic(&cfg.ic, cfg.validator.epoch_length).await?;
            let node = NodeId(key.verifying_key().to_bytes());
            println!("node {}", hex::encode(node.0));
            match ic.registry.get_node(node).await? {
                Some(n) => println!(
                    "registered as {:?}, owner {}, state {:?}, stake {} EMC, suspended {}",
                    n.role,
                    n.owner,
                    n.state,
                    n.stake_e8s / E8S,
                    n.suspended
                ),
                None => println!("not registered"),
            }
            let stats = ic.epochs.stats().await?;
            println!(
                "network: latest checkpoint {:?}, last closed epoch {:?}, rewards minted {} EMC",
                stats.tip_height,
                stats.last_closed_epoch,
                stats.total_emitted_e8s / E8S
            );
            Ok(())
        }
        Command::Run {
            config,
            role,
            app_url,
            prover,
            vulkan_device,
        } => {
            let mut cfg = NodeConfig::load(&config)?;
            if let Some(r) = role {
                cfg.role = r;
            }
            if app_url.is_some() {
                cfg.compute.app_url = app_url;
            }
            if let Some(p) = prover {
                cfg.compute.prover = p;
            }
            if let Some(d) = vulkan_device {
                cfg.compute.vulkan_device = d;
            }
            run_node(cfg).await
        }
    }
}

/// Runs a validator or compute node until Ctrl-C / SIGTERM.
async fn run_node(cfg: NodeConfig) -> Result<()> {
    let key = load_key(&cfg.key_file)?;
    let ic = connect_ic(&cfg.ic, cfg.validator.epoch_length).await?;
    let (net, events, authorizer) = bind_network(&cfg, &key)?;
    let mut stop = shutdown_signal();
    match cfg.role {
        Role::Validator => {
            let h = start_validator(
                cfg.validator.clone(),
                key.to_bytes(),
                net.clone(),
                events,
                authorizer,
                ic,
            )
            .await?;
            if let Some(addr) = cfg.status_addr {
                serve(
                    addr,
                    Arc::new(ValidatorEndpoint(h.status.clone())),
                    stop.clone(),
                )
                .await?;
            }
            let _ = stop.changed().await;
            h.stop().await;
        }
        Role::Compute => {
            let h = start_compute(
                cfg.compute.clone(),
                net.clone(),
                events,
                authorizer,
                ic,
                key.clone(),
            );
            if let Some(addr) = cfg.status_addr {
                let endpoint = ComputeEndpoint(h.status.clone());
                serve(addr, Arc::new(endpoint), stop.clone()).await?;
            }
            let _ = stop.changed().await;
            h.stop().await;
        }
        Role::Router => bail!("routers run with the `router` binary"),
    }
    net.close().await;
    Ok(())
}
