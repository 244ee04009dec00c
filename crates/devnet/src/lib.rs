//! The local devnet: a whole EMC network in one process.
//!
//! [`Cluster::start`] starts the embedded IC (wall clock) with the ledger, the registry and the
//! epochs canister installed and wired (the epochs canister is the ledger's minting account and
//! the registry's penalty reporter), gives the operators genesis balances, then creates every
//! node with its own ed25519 key and real QUIC endpoint on loopback, registers and stakes it
//! through the canisters (as its operator would with `edge-node register` / `stake`), and
//! starts validators, routers and compute nodes. The registry's genesis is set a few seconds
//! ahead so that the first validators are staked when epoch 0's set is taken.
//!
//! Compute nodes answer proof-of-computing challenges with the CPU prover on a small task
//! (n = 256, 8 rounds: tens of milliseconds here), and the validators challenge them every
//! 10 s or so, so each epoch's data carries a real E for them and the first epoch close pays
//! them compute rewards. The first compute node is staked for 7 days (multiplier 1.4).
//!
//! The sockets canister is installed beside them (the market mints sockets), and with two or
//! more compute nodes the first two are listed in the market as one compute pool
//! ([`sockets`], issue #16).
//!
//! The `emc-devnet` binary runs it with short epochs; the system tests and the network
//! benchmark use the same builder (validators can be stopped and restarted from their
//! write-ahead logs, links cut at the transport).

pub mod sockets;

use anyhow::{anyhow, Context, Result};
use candid::{Decode, Encode, Principal};
use ed25519_dalek::SigningKey;
use edge_node::compute::{start_compute, ComputeHandle};
use edge_node::validator::{start_validator, ValidatorHandle};
pub use emc_demo_llm::DemoConfig;
use emc_embedded_ic::user_principal;
use emc_ic_client::{EmbeddedHost, IcClient};
use emc_ledger::{InitArgs, LedgerArg};
use emc_net::{NetConfig, Network, StaticAuthorizer};
use emc_node_common::bootstrap::handles;
use emc_node_common::config::{duration_ns, ComputeConfig, ProverKind, ValidatorConfig};
use emc_node_common::ic::IcHandles;
use emc_node_common::logging::node_span;
use emc_node_common::ops::{fund_escrow, register_node, stake_node};
use emc_poc::TaskParams;
use emc_router::{start_router, FundsSource, RouterConfig, RouterHandle};
use emc_types::NodeId;
use emc_types::Role as NodeRole;
use icrc_ledger_types::icrc1::account::Account;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

pub mod governance;
pub mod http;
pub mod processes;
pub use http::{IcHttp, DEFAULT_IC_HTTP, EXPLORER_PATH};

/// 1 EMC in e8s.
pub const E8S: u64 = 100_000_000;
/// The devnet's transfer fee: 0.0001 EMC.
pub const DEVNET_FEE: u64 = 10_000;
/// Genesis balance of each operator: enough to stake a validator (1,000,000 EMC) and more.
pub const OPERATOR_GENESIS: u64 = 2_000_000 * E8S;
/// The devnet's challenges: 256 x 256 matrices, at most 1024 rounds (a round is 1.7e7
/// multiply-adds, a few milliseconds on one core, so a one-thread CPU prover completes some
/// hundreds in the window; an honest opening then costs the verifier at most
/// `34 * 1024 * 256^2 = 2.3e9` multiply-adds, a second or less).
pub const DEVNET_POC_TASK: TaskParams = TaskParams {
    n: 256,
    rounds: 1024,
};
/// The devnet's challenge window (every challenge of a round gets it).
pub const DEVNET_POC_WINDOW: Duration = Duration::from_secs(2);
/// The stake of a staked devnet compute node: the registry's minimum for a new node
/// (1000 EMC x E, with E = 1 until a measured E is reported to the registry).
pub const COMPUTE_STAKE: u64 = 1_000 * E8S;
/// The term of a staked devnet compute node (the registry's shortest: multiplier 1.4).
pub const COMPUTE_STAKE_DAYS: u32 = 7;

/// What to start.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// Validators (3F+1 of them make a set with F faults tolerated).
    pub validators: usize,
    /// Routers.
    pub routers: usize,
    /// Compute nodes.
    pub compute: usize,
    /// The first this many compute nodes are staked ([`COMPUTE_STAKE`] for
    /// [`COMPUTE_STAKE_DAYS`] days); the others are unstaked (multiplier 1).
    pub staked_compute: usize,
    /// Settings of every compute node (prover, task limits; the registry refresh follows the
    /// validators').
    pub compute_node: ComputeConfig,
    /// Validator settings (block interval, epoch length, checkpoint interval, PoC rounds...).
    pub validator: ValidatorConfig,
    /// The epochs canister's challenge window.
    pub challenge_window: Duration,
    /// Time between installing the canisters and the genesis.
    pub genesis_delay: Duration,
    /// Where the validators' write-ahead logs go.
    pub data_dir: PathBuf,
    /// Transport settings (the listen address is replaced by 127.0.0.1:0).
    pub net: NetConfig,
    /// Router settings (the registry refresh follows the validators'; `http_addr` is the dApp
    /// API's, 127.0.0.1:0 by default: [`Cluster::api_addr`]).
    pub router: RouterConfig,
    /// Run the demo app (`emc-demo-llm`) in-process beside each compute node, on a loopback
    /// port that becomes the node's `app_url`.
    pub demo_app: bool,
    /// Per compute node (by index), the demo app's settings (injected latency); missing
    /// entries get the defaults.
    pub demo: Vec<DemoConfig>,
    /// List the first two compute nodes as one compute pool in the market, node 0 its entry
    /// collecting node 1's co-signature of every receipt (needs two compute nodes).
    pub pool: bool,
}

/// Credit of the funded devnet users ([`devnet_user_key`] 0 and 1; user 2 has none), e8s.
pub const USER_CREDIT: u64 = 1_000_000 * E8S;

/// The deterministic key of devnet user (dApp account) `i`.
pub fn devnet_user_key(i: usize) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(b"emc-user");
    seed[24..].copy_from_slice(&(i as u64).to_be_bytes());
    SigningKey::from_bytes(&seed)
}

/// The principal devnet user `i` manages its escrow as: the self-authenticating principal of
/// its ed25519 key (what ic-agent's `BasicIdentity` and dfx give for the same key), so the
/// user's PEM is both its call-signing key and its wallet.
pub fn devnet_buyer(i: usize) -> Principal {
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(&devnet_user_key(i).verifying_key().to_bytes());
    Principal::self_authenticating(der)
}

/// Devnet users looked up by key (the router's allowances name keys).
const DEVNET_USERS: usize = 16;

/// The devnet users with a credit in `router.allowances`, and the credit: with
/// `router.funds = market` each gets an escrow of that much at start.
fn funded_users(cfg: &RouterConfig) -> Vec<(usize, u64)> {
    (0..DEVNET_USERS)
        .filter_map(|i| {
            let hex = hex::encode(devnet_user_key(i).verifying_key().to_bytes());
            cfg.allowances
                .get(&hex)
                .filter(|c| **c > 0)
                .map(|c| (i, *c))
        })
        .collect()
}

impl ClusterConfig {
    /// The devnet's defaults: 4 validators, 1 router, 2 compute nodes (the first staked), a
    /// block a second, a checkpoint every 30 blocks, 120-block epochs, a 10 s challenge
    /// window, PoC rounds every 10 s on [`DEVNET_POC_TASK`] in a [`DEVNET_POC_WINDOW`] with
    /// the CPU prover (one thread per compute node). Set `validator.poc_interval` to zero to turn challenges off.
    pub fn devnet(data_dir: PathBuf) -> Self {
        ClusterConfig {
            validators: 4,
            routers: 1,
            compute: 2,
            staked_compute: 1,
            compute_node: ComputeConfig {
                prover: ProverKind::Cpu,
                cpu_threads: 1,
                max_task_n: DEVNET_POC_TASK.n,
                report_interval: Duration::from_secs(2),
                ..ComputeConfig::default()
            },
            validator: ValidatorConfig {
                block_interval: Duration::from_secs(1),
                round_timeout: Duration::from_secs(1),
                round_timeout_cap: Duration::from_secs(8),
                epoch_length: 120,
                checkpoint_interval: 30,
                registry_refresh: Duration::from_secs(3),
                probe_interval: Duration::from_secs(1),
                probe_timeout: Duration::from_millis(800),
                submit_stagger: Duration::from_secs(3),
                wal: None,
                wal_sync: false,
                chunk_records: 2_000,
                poc_interval: Duration::from_secs(10),
                poc_task: DEVNET_POC_TASK,
                poc_rows: emc_poc::STANDARD_K,
                poc_window: DEVNET_POC_WINDOW,
                poc_opening_timeout: Duration::from_secs(5),
            },
            challenge_window: Duration::from_secs(10),
            genesis_delay: Duration::from_secs(6),
            data_dir,
            net: NetConfig {
                listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                idle_timeout: Duration::from_secs(5),
                ..NetConfig::default()
            },
            router: RouterConfig {
                ping_interval: Duration::from_secs(1),
                ping_timeout: Duration::from_millis(800),
                http_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
                epoch_length: 120,
                allowances: [(0, USER_CREDIT), (1, USER_CREDIT), (2, 0)]
                    .into_iter()
                    .map(|(i, c)| {
                        (
                            hex::encode(devnet_user_key(i).verifying_key().to_bytes()),
                            c,
                        )
                    })
                    .collect(),
                rate_per_s: 10_000,
                rate_burst: 10_000,
                first_byte_timeout: Duration::from_secs(5),
                receipt_flush: Duration::from_millis(200),
                ..RouterConfig::default()
            },
            demo_app: true,
            demo: Vec::new(),
            pool: true,
        }
    }
}

/// One node of the cluster.
#[derive(Debug)]
pub struct Member {
    /// Its key.
    pub key: SigningKey,
    /// Its node id.
    pub id: NodeId,
    /// Its operator (owner).
    pub owner: Principal,
    /// Its QUIC address.
    pub addr: SocketAddr,
    /// Its role.
    pub role: NodeRole,
    /// Its name in logs: role and index within the role (`validator-0`, `compute-1`); its
    /// full log is `<data dir>/logs/<name>.log` when the devnet logs to files.
    pub name: String,
}

/// A running validator and its transport.
pub struct RunningValidator {
    /// The validator task.
    pub handle: ValidatorHandle,
    /// Its network (for fault injection: `set_blocked`).
    pub net: Network,
}

/// The canisters and the principals of the devnet.
#[derive(Clone, Debug)]
pub struct Canisters {
    /// The ledger.
    pub ledger: Principal,
    /// The registry.
    pub registry: Principal,
    /// The epochs canister.
    pub epochs: Principal,
    /// The compute market (opens at epoch 0; the epochs canister mints its trading rewards).
    pub market: Principal,
    /// The computing sockets (ICRC-7/37; the market mints them).
    pub sockets: Principal,
    /// Controls the canisters (as SNS root does) and holds the majority neuron of the
    /// stand-in governance ([`governance::DEVNET_NEURON`]).
    pub admin: Principal,
    /// The stand-in SNS governance: every canister's governance (proposals through
    /// [`governance::propose`]).
    pub governance: Principal,
    /// The DAO canister (developer grants, airdrop).
    pub dao: Principal,
    /// The treasury.
    pub treasury: Principal,
}

/// A whole network in one process.
pub struct Cluster {
    /// The embedded IC.
    pub host: EmbeddedHost,
    /// Canister ids and principals.
    pub canisters: Canisters,
    /// The configuration it was started with.
    pub config: ClusterConfig,
    /// Every node, validators first, then routers, then compute nodes.
    pub members: Vec<Member>,
    /// Validators (None while stopped), by index among the validators.
    pub validators: Vec<Option<RunningValidator>>,
    /// Routers.
    pub routers: Vec<(RouterHandle, Network)>,
    /// Compute nodes (a killed one is removed).
    pub compute: Vec<(ComputeHandle, Network)>,
    /// The demo apps' addresses, by compute node index.
    pub apps: Vec<SocketAddr>,
    /// A read-only view of the canisters (as the admin).
    pub ic: IcHandles,
    /// The market offer of the devnet's compute pool (the first two compute nodes), when it
    /// runs two or more.
    pub pool_offer: Option<u64>,
    /// Stops the demo apps when dropped.
    _apps_stop: tokio::sync::watch::Sender<bool>,
}

/// A snapshot for the devnet's status line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterStatus {
    /// Highest committed height among the running validators.
    pub height: u64,
    /// Its epoch.
    pub epoch: u64,
    /// The IC's latest accepted checkpoint.
    pub checkpoint: Option<u64>,
    /// The last closed epoch.
    pub closed_epoch: Option<u64>,
    /// Node rewards minted, e8s.
    pub rewards_e8s: u64,
    /// Running validators.
    pub validators_up: usize,
    /// Compute nodes the routers see.
    pub compute_seen: usize,
    /// Market volume settled, e8s.
    pub market_volume_e8s: u64,
    /// Market fees to the treasury, e8s.
    pub market_fees_e8s: u64,
}

/// Node rewards paid so far, by role, and per compute node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleRewards {
    /// Paid to validators, e8s.
    pub validator_e8s: u64,
    /// Paid to routers, e8s.
    pub router_e8s: u64,
    /// Paid to compute nodes, e8s.
    pub compute_e8s: u64,
    /// Each compute node (index among the members) and what it was paid, e8s.
    pub compute_nodes: Vec<(usize, u64)>,
}

fn wasm(name: &str) -> Result<Vec<u8>> {
    let path = emc_test_env::canister_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).with_context(|| {
        format!(
            "{} (build it with scripts/build-canisters.sh)",
            path.display()
        )
    })
}

/// The deterministic devnet key of node `i`.
pub fn devnet_key(i: usize) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(b"emc-node");
    seed[24..].copy_from_slice(&(i as u64).to_be_bytes());
    SigningKey::from_bytes(&seed)
}

impl Cluster {
    /// Installs the canisters, creates, registers and stakes every node, and starts them.
    pub async fn start(config: ClusterConfig) -> Result<Cluster> {
        let host = EmbeddedHost::wall_clock()?;
        let admin = user_principal(0);
        let treasury = user_principal(2);
        let total = config.validators + config.routers + config.compute;
        let operators: Vec<Principal> =
            (0..total).map(|i| user_principal(100 + i as u64)).collect();

        // Create the canisters first: each one's init names the others.
        let (ledger, registry, epochs, market) = host
            .with_ic(move |ic| {
                Ok((
                    ic.create_canister(vec![admin]),
                    ic.create_canister(vec![admin]),
                    ic.create_canister(vec![admin]),
                    ic.create_canister(vec![admin]),
                ))
            })
            .await?;
        let now = host.time().await?;
        let vcfg = &config.validator;
        let genesis = now + duration_ns(config.genesis_delay);
        let ledger_init = LedgerArg::Init(InitArgs {
            fee_collector_account: Some(Account::from(treasury)),
            ..InitArgs::emc(
                Account::from(epochs),
                admin,
                DEVNET_FEE,
                operators
                    .iter()
                    .map(|p| (Account::from(*p), OPERATOR_GENESIS))
                    .chain(
                        funded_users(&config.router)
                            .into_iter()
                            .map(|(i, c)| (Account::from(devnet_buyer(i)), c + 10 * DEVNET_FEE)),
                    )
                    .collect(),
            )
        });
        let epoch_secs =
            (vcfg.epoch_length * duration_ns(vcfg.block_interval) / 1_000_000_000).max(60);
        let registry_init = emc_registry::RegistryArg::Init(emc_registry::InitArgs {
            ledger,
            governance: admin,
            treasury: Account::from(treasury),
            epochs_canister: Some(epochs),
            ledger_fee_e8s: Some(DEVNET_FEE),
            params: Some(emc_registry::Params {
                epoch_length_secs: epoch_secs,
                // Short epochs: a compute node's first passed PoC reaches the registry only
                // after its epoch closes and pays, so candidates stay listed longer here.
                candidate_epochs: Some(50),
                ..emc_registry::Params::default()
            }),
            genesis_time: Some(genesis),
        });
        let epochs_init = emc_epochs::EpochsArg::Init(emc_epochs::InitArgs {
            ledger,
            registry,
            governance: admin,
            params: Some(emc_epochs::Params {
                epoch_length_blocks: vcfg.epoch_length,
                checkpoint_interval_blocks: vcfg.checkpoint_interval,
                challenge_window_ns: duration_ns(config.challenge_window),
                ..emc_epochs::Params::default()
            }),
        });
        let market_init = emc_market::MarketArg::Init(emc_market::InitArgs {
            ledger,
            epochs,
            registry,
            governance: admin,
            treasury: Account::from(treasury),
            market_open_epoch: 0,
            params: Some(emc_market::Params {
                ledger_fee_e8s: DEVNET_FEE,
                ..emc_market::Params::default()
            }),
        });
        let installs = [
            (ledger, wasm("ledger")?, Encode!(&ledger_init)?),
            (registry, wasm("registry")?, Encode!(&registry_init)?),
            (epochs, wasm("epochs")?, Encode!(&epochs_init)?),
            (market, wasm("market")?, Encode!(&market_init)?),
        ];
        for (id, wasm, arg) in installs {
            host.with_ic(move |ic| {
                ic.install_code(id, emc_embedded_ic::InstallMode::Install, &wasm, arg, admin)
                    .map_err(|e| emc_ic_client::IcError::Host(e.to_string()))
            })
            .await
            .with_context(|| format!("installing {id}"))?;
        }
        // Governance lets the market mint trading rewards through the epochs canister.
        let set_market = Encode!(&Some(market))?;
        host.with_ic(move |ic| {
            ic.update_call(epochs, admin, "execute_set_market", set_market)
                .map(|_| ())
                .map_err(|e| emc_ic_client::IcError::Host(format!("{e:?}")))
        })
        .await
        .context("letting the market mint trading rewards")?;
        let sockets = sockets::install_sockets(&host, market, admin).await?;
        // The DAO: the stand-in SNS governance and the grants/airdrop canister; every
        // canister's governance is handed to the stand-in, as on mainnet.
        let dao = governance::install(&host, admin, registry, epochs, market, &operators)
            .await
            .context("installing the devnet DAO")?;
        let canisters = Canisters {
            ledger,
            registry,
            epochs,
            market,
            sockets,
            admin,
            treasury,
            governance: dao.governance,
            dao: dao.dao,
        };
        let el = vcfg.epoch_length;
        let mut ic = handles(Arc::new(host.client(admin)), ledger, registry, epochs, el);
        ic.market = Some(market);
        // Buyers: with the market paying for calls, each funded user's escrow holds its credit
        // and its key is bound to it.
        if config.router.funds == FundsSource::Market {
            for (i, credit) in funded_users(&config.router) {
                let mut buyer = handles(
                    Arc::new(host.client(devnet_buyer(i))),
                    ledger,
                    registry,
                    epochs,
                    el,
                );
                buyer.market = Some(market);
                fund_escrow(&buyer, &devnet_user_key(i), credit)
                    .await
                    .with_context(|| format!("funding user {i}'s escrow"))?;
            }
        }

        // Nodes: bind first (the registered address is the bound one), then register + stake.
        let mut members = Vec::new();
        let mut bound = Vec::new();
        let compute_hardware = match config.compute_node.prover {
            ProverKind::Cpu => format!(
                "cpu prover, {} thread(s) (devnet)",
                config.compute_node.cpu_threads
            ),
            ProverKind::Vulkan => format!(
                "vulkan prover, device {} (devnet)",
                config.compute_node.vulkan_device
            ),
        };
        for (i, &owner) in operators.iter().enumerate() {
            let role = if i < config.validators {
                NodeRole::Validator
            } else if i < config.validators + config.routers {
                NodeRole::Router
            } else {
                NodeRole::Compute
            };
            let key = devnet_key(i);
            let name = match role {
                NodeRole::Validator => format!("validator-{i}"),
                NodeRole::Router => format!("router-{}", i - config.validators),
                NodeRole::Compute => format!("compute-{}", i - config.validators - config.routers),
            };
            let span = node_span(&name);
            let (net, events, auth) = span.in_scope(|| bind(&config.net, &key, role, None))?;
            let addr = net.local_addr()?;
            let ops = handles(Arc::new(host.client(owner)), ledger, registry, epochs, el);
            register_node(
                &ops.registry,
                &key,
                role,
                addr.to_string(),
                "devnet".into(),
                match role {
                    NodeRole::Compute => compute_hardware.clone(),
                    _ => String::new(),
                },
            )
            .await
            .with_context(|| format!("registering node {i}"))?;
            let id = NodeId(key.verifying_key().to_bytes());
            match role {
                NodeRole::Validator => {
                    stake_node(&ops, id, 1_000_000 * E8S, 360).await?;
                }
                NodeRole::Router => {
                    stake_node(&ops, id, 100_000 * E8S, 180).await?;
                }
                NodeRole::Compute => {
                    let c = i - config.validators - config.routers;
                    if c < config.staked_compute {
                        stake_node(&ops, id, COMPUTE_STAKE, COMPUTE_STAKE_DAYS).await?;
                    }
                }
            }
            members.push(Member {
                key,
                id,
                owner,
                addr,
                role,
                name,
            });
            bound.push((net, events, auth));
        }

        // One compute pool: the first two compute nodes, listed by compute node 0's operator.
        let compute_members: Vec<&Member> = members
            .iter()
            .filter(|m| m.role == NodeRole::Compute)
            .collect();
        let pool_offer = match compute_members.as_slice() {
            [a, b, ..] if config.pool => {
                Some(sockets::list_pool(&host, market, a.owner, vec![a.id, b.id]).await?)
            }
            _ => None,
        };
        let (apps_stop, apps_stop_rx) = tokio::sync::watch::channel(false);
        let mut cluster = Cluster {
            host,
            canisters,
            config,
            members,
            validators: Vec::new(),
            routers: Vec::new(),
            compute: Vec::new(),
            apps: Vec::new(),
            ic,
            pool_offer,
            _apps_stop: apps_stop,
        };
        // Routers and compute nodes first, so the validators find them up.
        let mut validator_nets = Vec::new();
        for (i, (net, events, auth)) in bound.into_iter().enumerate() {
            match cluster.members[i].role {
                NodeRole::Validator => validator_nets.push((net, events, auth)),
                NodeRole::Router => {
                    let ic = cluster.operator_ic(i);
                    let _span = node_span(&cluster.members[i].name).entered();
                    let h = start_router(
                        RouterConfig {
                            registry_refresh: cluster.config.validator.registry_refresh,
                            epoch_length: cluster.config.validator.epoch_length,
                            ..cluster.config.router.clone()
                        },
                        net.clone(),
                        events,
                        auth,
                        Some(ic),
                    );
                    cluster.routers.push((h, net));
                }
                NodeRole::Compute => {
                    let ic = cluster.operator_ic(i);
                    let c = cluster.compute.len();
                    let mut app_url = cluster.config.compute_node.app_url.clone();
                    if cluster.config.demo_app {
                        let demo = cluster.config.demo.get(c).cloned().unwrap_or_default();
                        let addr = emc_demo_llm::spawn(
                            SocketAddr::from(([127, 0, 0, 1], 0)),
                            demo,
                            apps_stop_rx.clone(),
                        )
                        .await?;
                        cluster.apps.push(addr);
                        app_url = Some(format!("http://{addr}"));
                    }
                    let _span = node_span(&cluster.members[i].name).entered();
                    let h = start_compute(
                        ComputeConfig {
                            registry_refresh: cluster.config.validator.registry_refresh,
                            app_url,
                            pool: cluster.pool_config(c),
                            ..cluster.config.compute_node.clone()
                        },
                        net.clone(),
                        events,
                        auth,
                        ic,
                        cluster.members[i].key.clone(),
                    );
                    cluster.compute.push((h, net));
                }
            }
        }
        for (i, (net, events, auth)) in validator_nets.into_iter().enumerate() {
            let v = cluster.spawn_validator(i, net, events, auth).await?;
            cluster.validators.push(Some(v));
        }
        Ok(cluster)
    }

    /// The dApp API of router `r`.
    pub fn api_addr(&self, r: usize) -> Option<SocketAddr> {
        self.routers.get(r).and_then(|(h, _)| h.http_addr)
    }

    /// Kills compute node `c` (by index among the running ones): stops it and closes its
    /// transport at once, as a crash would; it is removed from `compute`. Returns its id.
    pub async fn kill_compute(&mut self, c: usize) -> Option<NodeId> {
        if c >= self.compute.len() {
            return None;
        }
        let (h, net) = self.compute.remove(c);
        let id = h.id;
        net.close().await;
        h.stop().await;
        Some(id)
    }

    /// Starts the compute node `id` again (after [`Cluster::kill_compute`]) at its registered
    /// address, with a fresh process state (no receipt lanes) and the same demo app; it is
    /// pushed to the end of `compute`.
    pub async fn restart_compute(&mut self, id: NodeId) -> Result<()> {
        let i = self
            .members
            .iter()
            .position(|m| m.id == id && m.role == NodeRole::Compute)
            .ok_or_else(|| anyhow!("no compute node {id:?}"))?;
        anyhow::ensure!(
            self.compute.iter().all(|(h, _)| h.id != id),
            "compute node {id:?} is running"
        );
        let c = i - self.config.validators - self.config.routers;
        let (key, addr) = (self.members[i].key.clone(), self.members[i].addr);
        let span = node_span(&self.members[i].name);
        let (net, events, auth) =
            span.in_scope(|| bind(&self.config.net, &key, NodeRole::Compute, Some(addr)))?;
        let app_url = match self.apps.get(c) {
            Some(a) if self.config.demo_app => Some(format!("http://{a}")),
            _ => self.config.compute_node.app_url.clone(),
        };
        let ic = self.operator_ic(i);
        let _span = span.entered();
        let h = start_compute(
            ComputeConfig {
                registry_refresh: self.config.validator.registry_refresh,
                app_url,
                pool: self.pool_config(c),
                ..self.config.compute_node.clone()
            },
            net.clone(),
            events,
            auth,
            ic,
            key,
        );
        self.compute.push((h, net));
        Ok(())
    }

    /// The pool section of compute node `c`'s config: the devnet's pool for its first two
    /// compute nodes (they read its entry and members from the market), none for the others.
    fn pool_config(&self, c: usize) -> Option<emc_node_common::config::PoolConfig> {
        self.pool_offer
            .filter(|_| c < 2)
            .map(|id| emc_node_common::config::PoolConfig {
                id,
                ..Default::default()
            })
    }

    /// The canister clients of member `i`'s operator (its owner's identity).
    pub fn operator_ic(&self, i: usize) -> IcHandles {
        let c = &self.canisters;
        let client: Arc<dyn IcClient> = Arc::new(self.host.client(self.members[i].owner));
        let mut h = handles(
            client,
            c.ledger,
            c.registry,
            c.epochs,
            self.config.validator.epoch_length,
        );
        h.market = Some(c.market);
        h.sockets = Some(c.sockets);
        h
    }

    fn validator_config(&self, i: usize) -> ValidatorConfig {
        ValidatorConfig {
            wal: Some(self.config.data_dir.join(format!("validator-{i}.wal"))),
            ..self.config.validator.clone()
        }
    }

    async fn spawn_validator(
        &self,
        i: usize,
        net: Network,
        events: tokio::sync::mpsc::Receiver<emc_net::Event>,
        auth: Arc<StaticAuthorizer>,
    ) -> Result<RunningValidator> {
        let key = &self.members[i].key;
        let handle = start_validator(
            self.validator_config(i),
            key.to_bytes(),
            net.clone(),
            events,
            auth,
            self.operator_ic(i),
        )
        .instrument(node_span(&self.members[i].name))
        .await
        .with_context(|| format!("starting validator {i}"))?;
        Ok(RunningValidator { handle, net })
    }

    /// Stops validator `i` (a crash: its endpoint closes; its log stays).
    pub async fn stop_validator(&mut self, i: usize) {
        if let Some(v) = self.validators.get_mut(i).and_then(Option::take) {
            v.handle.stop().await;
            v.net.close().await;
        }
    }

    /// Restarts validator `i` on its old address from its write-ahead log.
    pub async fn restart_validator(&mut self, i: usize) -> Result<()> {
        if self.validators.get(i).is_some_and(Option::is_some) {
            return Ok(());
        }
        let m = &self.members[i];
        let (net, events, auth) = rebind(&self.config.net, &m.key, m.role, m.addr)
            .instrument(node_span(&m.name))
            .await?;
        let v = self.spawn_validator(i, net, events, auth).await?;
        self.validators[i] = Some(v);
        Ok(())
    }

    /// The running validators' handles.
    pub fn running(&self) -> impl Iterator<Item = (usize, &RunningValidator)> {
        self.validators
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_ref().map(|v| (i, v)))
    }

    /// Cuts (or heals) the link between validators `a` and `b` at the transport, both ways.
    pub fn set_link(&self, a: usize, b: usize, up: bool) {
        let (ida, idb) = (self.members[a].id, self.members[b].id);
        if let Some(Some(v)) = self.validators.get(a) {
            v.net.set_blocked(idb, !up);
        }
        if let Some(Some(v)) = self.validators.get(b) {
            v.net.set_blocked(ida, !up);
        }
    }

    /// The status line's figures.
    pub async fn status(&self) -> ClusterStatus {
        let mut s = ClusterStatus::default();
        for (_, v) in self.running() {
            let st = v.handle.status.get();
            if st.height >= s.height {
                s.height = st.height;
                s.epoch = st.epoch;
            }
            s.validators_up += 1;
        }
        if let Ok(stats) = self.ic.epochs.stats().await {
            s.checkpoint = stats.tip_height;
            s.closed_epoch = stats.last_closed_epoch;
            s.rewards_e8s = stats.total_emitted_e8s;
        }
        let market = self.canisters.market;
        let admin = self.canisters.admin;
        let stats = self
            .host
            .with_ic(move |ic| {
                ic.query_call(market, admin, "stats", Encode!().unwrap_or_default())
                    .map_err(|e| emc_ic_client::IcError::Host(format!("{e:?}")))
            })
            .await;
        if let Some(m) = stats.ok().and_then(|b| Decode!(&b, emc_market::Stats).ok()) {
            s.market_volume_e8s = m.volume_e8s;
            s.market_fees_e8s = m.treasury_fees_e8s;
        }
        s.compute_seen = self
            .routers
            .iter()
            .map(|(h, _)| h.status.get().compute.len())
            .max()
            .unwrap_or(0);
        s
    }

    /// Rewards paid (confirmed by the ledger) in the closed epochs so far, by role.
    pub async fn rewards_by_role(&self) -> Result<RoleRewards> {
        let mut r = RoleRewards::default();
        let Some(last) = self.ic.epochs.stats().await?.last_closed_epoch else {
            return Ok(r);
        };
        for (i, m) in self.members.iter().enumerate() {
            let mut paid = 0u64;
            for epoch in 0..=last {
                if let Some(p) = self.ic.epochs.node_reward(m.id, epoch).await? {
                    if matches!(p.status, emc_epochs::PayoutStatus::Paid { .. }) {
                        paid = paid.saturating_add(p.amount_e8s);
                    }
                }
            }
            match m.role {
                NodeRole::Validator => r.validator_e8s += paid,
                NodeRole::Router => r.router_e8s += paid,
                NodeRole::Compute => {
                    r.compute_e8s += paid;
                    r.compute_nodes.push((i, paid));
                }
            }
        }
        Ok(r)
    }

    /// The last PoC verdict about `node` of each running validator that challenged it.
    pub fn last_poc(&self, node: &NodeId) -> Vec<emc_edge_core::poc::PocNodeStatus> {
        let key: String = node.0.iter().map(|b| format!("{b:02x}")).collect();
        self.running()
            .filter_map(|(_, v)| v.handle.poc.get().nodes.get(&key).cloned())
            .collect()
    }

    /// The EMC balance of a node's owner, e8s.
    pub async fn owner_balance(&self, i: usize) -> Result<u64> {
        let b = self
            .ic
            .ledger
            .icrc1_balance_of(Account::from(self.members[i].owner))
            .await?;
        u64::try_from(b.0).map_err(|_| anyhow!("balance out of range"))
    }

    /// Stops every node and the IC.
    pub async fn shutdown(mut self) {
        for i in 0..self.validators.len() {
            self.stop_validator(i).await;
        }
        for (h, net) in self.routers.drain(..) {
            h.stop().await;
            net.close().await;
        }
        for (h, net) in self.compute.drain(..) {
            h.stop().await;
            net.close().await;
        }
        self.host.shutdown();
    }
}

/// Binds a node's endpoint again on its old address, retrying for a few seconds while the
/// stopped endpoint's socket is released.
pub async fn rebind(
    net: &NetConfig,
    key: &SigningKey,
    role: NodeRole,
    at: SocketAddr,
) -> Result<(
    Network,
    tokio::sync::mpsc::Receiver<emc_net::Event>,
    Arc<StaticAuthorizer>,
)> {
    let mut tries = 0;
    loop {
        match bind(net, key, role, Some(at)) {
            Ok(b) => return Ok(b),
            Err(e) if tries < 50 => {
                tracing::debug!(error = %e, %at, "address still in use");
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Binds a node's endpoint on loopback (`at`: a fixed address, for restarts).
fn bind(
    net: &NetConfig,
    key: &SigningKey,
    role: NodeRole,
    at: Option<SocketAddr>,
) -> Result<(
    Network,
    tokio::sync::mpsc::Receiver<emc_net::Event>,
    Arc<StaticAuthorizer>,
)> {
    let cfg = NetConfig {
        listen_addr: at.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..net.clone()
    };
    Ok(emc_node_common::bootstrap::bind_endpoint(cfg, key, role)?)
}
