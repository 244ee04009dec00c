//! The `edge-node` command line, and helpers the `router` binary shares.

use crate::compute::start_compute;
use crate::config::{generate_key, load_key, IcConfig, NodeConfig, NodeRole};
use crate::http::{metric, serve, Endpoint};
use crate::ic::IcHandles;
use crate::status::{Shared, ValidatorStatus};
use crate::validator::start_validator;
use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use ed25519_dalek::{Signer as _, SigningKey};
use emc_ic_client::{AgentClient, AgentIdentity, EpochsApi, IcClient, LedgerApi, RegistryApi};
use emc_net::{Event, Identity, Network, StaticAuthorizer};
use emc_registry::rules::registration_message;
use emc_registry::{RegisterArgs, StakeArgs};
use emc_types::NodeId;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc2::approve::ApproveArgs;
use serde_bytes::ByteBuf;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// 1 EMC in e8s.
pub const E8S: u64 = 100_000_000;

#[derive(Parser)]
#[command(
    name = "edge-node",
    version,
    about = "EMC edge node: validator and compute roles"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates a node key and a config file in a directory.
    Init {
        /// Directory for node.pem and node.toml.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The role.
        #[arg(long, value_enum)]
        role: NodeRole,
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
        #[arg(long, value_enum)]
        role: Option<NodeRole>,
        /// The local app a compute node serves (overrides the config).
        #[arg(long)]
        app_url: Option<String>,
        /// The compute node's prover (overrides the config).
        #[arg(long, value_enum)]
        prover: Option<crate::compute::ProverKind>,
        /// The Vulkan device: `auto`, an index or a name substring (overrides the config).
        #[arg(long)]
        vulkan_device: Option<String>,
    },
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,quinn=warn,rustls=warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

/// The canister clients for `ic` with the operator's identity.
pub async fn connect_ic(ic: &IcConfig, epoch_length: u64) -> Result<IcHandles> {
    let identity = match &ic.identity_pem {
        Some(p) => {
            AgentIdentity::from_pem_file(p).with_context(|| format!("identity {}", p.display()))?
        }
        None => AgentIdentity::anonymous(),
    };
    let agent = AgentClient::new(&ic.url, identity)?;
    if agent.is_local() {
        agent.fetch_root_key().await?;
    }
    let client: Arc<dyn IcClient> = Arc::new(agent);
    Ok(handles(
        client,
        ic.ledger,
        ic.registry,
        ic.epochs,
        epoch_length,
    ))
}

/// The canister clients over any [`IcClient`].
pub fn handles(
    client: Arc<dyn IcClient>,
    ledger: candid::Principal,
    registry: candid::Principal,
    epochs: candid::Principal,
    epoch_length: u64,
) -> IcHandles {
    IcHandles {
        ledger: LedgerApi::new(client.clone(), ledger),
        registry: RegistryApi::new(client.clone(), registry),
        epochs: EpochsApi::new(client, epochs),
        epoch_length,
    }
}

/// Binds the node's QUIC endpoint with an authorizer the role's task keeps current.
pub fn bind_network(
    cfg: &NodeConfig,
    key: &SigningKey,
) -> Result<(Network, mpsc::Receiver<Event>, Arc<StaticAuthorizer>)> {
    bind_endpoint(cfg.net.clone(), key, cfg.role)
}

/// Binds a QUIC endpoint for `key` in `role` on `net.listen_addr`, with an empty authorizer
/// (the role's task fills it from the registry).
pub fn bind_endpoint(
    net: emc_net::NetConfig,
    key: &SigningKey,
    role: NodeRole,
) -> Result<(Network, mpsc::Receiver<Event>, Arc<StaticAuthorizer>)> {
    let identity = Identity::from_signing_key(key.clone())?;
    let authorizer = Arc::new(StaticAuthorizer::new());
    let (net, events) = Network::bind(net, identity, authorizer.clone(), role.net_role())?;
    Ok((net, events, authorizer))
}

/// Turns true on Ctrl-C or SIGTERM.
pub fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = match signal(SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    let _ = tx.send(true);
                    return;
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        let _ = tx.send(true);
    });
    rx
}

/// Registers `key`'s node with the role, region, hardware and address given, as the caller
/// of `registry` (its owner).
pub async fn register_node(
    registry: &RegistryApi,
    key: &SigningKey,
    role: NodeRole,
    network_address: String,
    region: String,
    hardware: String,
) -> Result<emc_registry::Node> {
    let owner = registry.client().principal();
    let nonce = registry
        .registration_nonce()
        .await?
        .map_err(|e| anyhow!("registration nonce: {e:?}"))?;
    let sig = key.sign(&registration_message(&owner, &nonce, role.registry_role()));
    let node = registry
        .register(RegisterArgs {
            role: role.registry_role(),
            public_key: ByteBuf::from(key.verifying_key().to_bytes().to_vec()),
            network_address,
            region,
            hardware,
            signature: ByteBuf::from(sig.to_bytes().to_vec()),
        })
        .await?
        .map_err(|e| anyhow!("register: {e:?}"))?;
    Ok(node)
}

/// Approves the registry for `amount_e8s` plus the fee and stakes it for `node`.
pub async fn stake_node(
    ic: &IcHandles,
    node: NodeId,
    amount_e8s: u64,
    term_days: u32,
) -> Result<emc_registry::StakeInfo> {
    let fee: u64 = ic
        .ledger
        .icrc1_fee()
        .await?
        .0
        .try_into()
        .map_err(|_| anyhow!("fee out of range"))?;
    ic.ledger
        .icrc2_approve(ApproveArgs {
            from_subaccount: None,
            spender: Account::from(ic.registry.canister_id()),
            amount: candid::Nat::from(amount_e8s.saturating_add(fee)),
            expected_allowance: None,
            expires_at: None,
            fee: None,
            memo: None,
            created_at_time: None,
        })
        .await?
        .map_err(|e| anyhow!("approve: {e:?}"))?;
    let info = ic
        .registry
        .stake(StakeArgs {
            node_id: node,
            term_days,
            amount_e8s,
        })
        .await?
        .map_err(|e| anyhow!("stake: {e:?}"))?;
    Ok(info)
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
    init_tracing();
    let cli = Cli::parse();
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
                },
                net: emc_net::NetConfig {
                    listen_addr: listen,
                    ..Default::default()
                },
                validator: crate::validator::ValidatorConfig {
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
pub async fn run_node(cfg: NodeConfig) -> Result<()> {
    let key = load_key(&cfg.key_file)?;
    let ic = connect_ic(&cfg.ic, cfg.validator.epoch_length).await?;
    let (net, events, authorizer) = bind_network(&cfg, &key)?;
    let mut stop = shutdown_signal();
    match cfg.role {
        NodeRole::Validator => {
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
        NodeRole::Compute => {
            let h = start_compute(cfg.compute.clone(), net.clone(), events, authorizer, ic);
            if let Some(addr) = cfg.status_addr {
                let endpoint = crate::compute::ComputeEndpoint(h.status.clone());
                serve(addr, Arc::new(endpoint), stop.clone()).await?;
            }
            let _ = stop.changed().await;
            h.stop().await;
        }
        NodeRole::Router => bail!("routers run with the `router` binary"),
    }
    net.close().await;
    Ok(())
}

/// Loads a config file for `router` (role must be router).
pub fn load_router_config(path: &Path) -> Result<NodeConfig> {
    let cfg = NodeConfig::load(path)?;
    if cfg.role != NodeRole::Router {
        bail!("{}: role is {:?}, not router", path.display(), cfg.role);
    }
    Ok(cfg)
}
