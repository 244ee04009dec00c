//! The devnet's multi-process mode (`emc-devnet --processes`): the replica in its own process
//! (`emc-replica`), EMC's canisters deployed to it over HTTP with `emc_sdk::deploy` (what
//! `emc deploy` and `scripts/replica-deploy.sh` run), then every node as its own process:
//! each validator and compute node an `edge-node run`, each router a `router`, configured by a
//! `node.toml` this module writes (the same file `edge-node init` writes, with the devnet's
//! short epochs), registered and staked by `edge-node register` / `edge-node stake` through
//! ic-agent, as an operator does.
//!
//! Layout of the data directory:
//! ```text
//! admin.pem                     the deployer: controller, governance and treasury
//! replica/                      emc-replica's --state-dir
//! validator-0/ node.toml node.pem operator.pem wal.log node.log
//! router-0/ ...  compute-0/ ...
//! logs/<name>.log               each process's console output (the replica's full log too)
//! ```
//! Processes are children of the devnet: [`ProcessCluster::shutdown`] stops them with SIGTERM,
//! and dropping the cluster (a failed test, an error) kills them. The demo apps the compute
//! nodes serve run inside the devnet process (they are the dApps' backends, not nodes).

use crate::{
    devnet_buyer, devnet_key, devnet_user_key, funded_users, ClusterConfig, ClusterStatus,
    COMPUTE_STAKE, COMPUTE_STAKE_DAYS, DEVNET_FEE, E8S, OPERATOR_GENESIS,
};
use anyhow::{anyhow, bail, Context, Result};
use candid::{Decode, Encode, Principal};
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::SigningKey;
use emc_ic_client::{AgentClient, AgentIdentity, IcClient};
use emc_node_common::bootstrap::handles;
use emc_node_common::config::{duration_ns, ComputeConfig, IcConfig, NodeConfig, ValidatorConfig};
use emc_node_common::ic::IcHandles;
use emc_node_common::ops::fund_escrow;
use emc_router::{FundsSource, RouterConfig};
use emc_sdk::deploy::{deploy, DeployConfig, Deployed};
use emc_types::{NodeId, Role};
use icrc_ledger_types::icrc1::account::Account;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The three binaries the multi-process devnet runs.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// `emc-replica`.
    pub replica: PathBuf,
    /// `edge-node` (validators, compute nodes, and every node's register / stake).
    pub edge_node: PathBuf,
    /// `router`.
    pub router: PathBuf,
}

/// The binaries of [`Binaries`] (packages `edge-node`, `emc-router`, `emc-replica`).
pub const BINARY_NAMES: [&str; 3] = ["edge-node", "router", "emc-replica"];

impl Binaries {
    /// The binaries in `dir`; a clear error names the one missing and how to build it.
    pub fn in_dir(dir: &Path) -> Result<Binaries> {
        let find = |name: &str| {
            let p = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
            if p.is_file() {
                Ok(p)
            } else {
                Err(anyhow!(
                    "{} not found: build the devnet's binaries with `cargo build --release -p \
                     edge-node -p emc-router -p emc-replica` (debug builds without --release), \
                     or name their folder with EMC_BIN_DIR",
                    p.display()
                ))
            }
        };
        Ok(Binaries {
            replica: find("emc-replica")?,
            edge_node: find("edge-node")?,
            router: find("router")?,
        })
    }

    /// The folder cargo put the running executable's sibling binaries in: `EMC_BIN_DIR` when
    /// set, else the executable's own folder (`target/<profile>/`), or its parent for a test
    /// executable (`target/<profile>/deps/`).
    pub fn default_dir() -> Result<PathBuf> {
        if let Some(d) = std::env::var_os("EMC_BIN_DIR") {
            return Ok(PathBuf::from(d));
        }
        let exe = std::env::current_exe().context("locating the running executable")?;
        let mut dir = exe
            .parent()
            .ok_or_else(|| anyhow!("{} has no folder", exe.display()))?
            .to_path_buf();
        if dir.file_name().is_some_and(|n| n == "deps") {
            dir.pop();
        }
        Ok(dir)
    }

    /// The binaries beside the running executable ([`Binaries::default_dir`]).
    pub fn locate() -> Result<Binaries> {
        Self::in_dir(&Self::default_dir()?)
    }

    /// Builds the binaries with cargo in the running executable's profile (`release` when it
    /// runs from `target/release`), then locates them: what a test does, so that it runs in a
    /// clean checkout (`cargo test` builds only the binaries of packages with integration
    /// tests).
    pub fn build() -> Result<Binaries> {
        Self::in_dir(&build_binaries(&BINARY_NAMES)?)
    }
}

/// A child process whose console output goes to a log file; killed when dropped (std's
/// `Child`, polled: tokio's `process` feature is not in the workspace's tokio).
#[derive(Debug)]
pub struct Proc {
    /// Its name (`replica`, `validator-0`, ...).
    pub name: String,
    /// Its console log.
    pub log: PathBuf,
    child: std::process::Child,
    reaped: bool,
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Proc {
    fn spawn(name: &str, bin: &Path, args: &[&str], log: &Path, cwd: &Path) -> Result<Proc> {
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .with_context(|| format!("opening {}", log.display()))
        };
        let child = std::process::Command::new(bin)
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::from(open()?))
            .stderr(Stdio::from(open()?))
            .env("NO_COLOR", "1")
            .spawn()
            .with_context(|| format!("starting {} ({name})", bin.display()))?;
        Ok(Proc {
            name: name.into(),
            log: log.to_path_buf(),
            child,
            reaped: false,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for it to exit; its exit status, or none if it still runs.
    async fn wait_for(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.reaped = true;
                    return Some(status);
                }
                Ok(None) if Instant::now() < end => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                _ => return None,
            }
        }
    }

    /// Whether it is still running (an exit is an error that names its log).
    fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                self.reaped = true;
                bail!(
                    "{} exited ({status}); its log:\n{}",
                    self.name,
                    log_tail(&self.log)
                )
            }
            Err(e) => bail!("{}: {e}", self.name),
        }
    }

    /// Kills it at once (SIGKILL: a crash) and reaps it.
    pub async fn kill(mut self) {
        let _ = self.child.kill();
        self.wait_for(Duration::from_secs(10)).await;
    }

    /// Asks it to stop (SIGTERM: a clean shutdown), waits up to `grace`, then kills it.
    pub async fn terminate(mut self, grace: Duration) {
        let pid = self.child.id().to_string();
        let asked = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        if asked && self.wait_for(grace).await.is_some() {
            return;
        }
        self.kill().await;
    }
}

/// The last lines of a log file.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Runs a one-shot command to completion; its output is appended to `log`.
async fn run_once(name: &str, bin: &Path, args: &[&str], log: &Path, cwd: &Path) -> Result<()> {
    let mut p = Proc::spawn(name, bin, args, log, cwd)?;
    let status = p
        .wait_for(Duration::from_secs(120))
        .await
        .ok_or_else(|| anyhow!("{name}: {} {args:?} took over 120 s", bin.display()))?;
    if !status.success() {
        bail!(
            "{name}: {} {} failed ({status}):\n{}",
            bin.display(),
            args.join(" "),
            log_tail(log)
        );
    }
    Ok(())
}

/// A free loopback port (for UDP when `udp`) that the node binds shortly after. Ports come
/// from 20000-32767, below Linux's ephemeral range (32768-60999): a socket bound to port 0
/// elsewhere (another test of the same binary, a client) never takes one between this check
/// and the node's bind. Each call moves on from a per-process starting point, so concurrent
/// devnets rarely try the same ports; a port taken anyway makes that node exit with a clear
/// error.
fn free_port(udp: bool) -> Result<SocketAddr> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_768;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id().wrapping_mul(7_919)) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN;
        let addr = SocketAddr::from(([127, 0, 0, 1], port as u16));
        let free = if udp {
            std::net::UdpSocket::bind(addr).is_ok()
        } else {
            std::net::TcpListener::bind(addr).is_ok()
        };
        if free {
            return Ok(addr);
        }
    }
    Err(anyhow!("no free loopback port in {LOW}..{}", LOW + SPAN))
}

/// An ed25519 PKCS#8 PEM of `key` (what `edge-node init` and dfx write).
fn pem(key: &SigningKey) -> Result<String> {
    Ok(key
        .to_pkcs8_pem(Default::default())
        .map_err(|e| anyhow!("encoding a key: {e}"))?
        .to_string())
}

/// The self-authenticating principal of an ed25519 key (ic-agent's `BasicIdentity`).
pub fn key_principal(key: &SigningKey) -> Principal {
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(&key.verifying_key().to_bytes());
    Principal::self_authenticating(der)
}

fn seeded_key(tag: &[u8; 8], i: usize) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(tag);
    seed[24..].copy_from_slice(&(i as u64).to_be_bytes());
    SigningKey::from_bytes(&seed)
}

/// The deployer's key (controller, governance, treasury).
pub fn admin_key() -> SigningKey {
    seeded_key(b"emc-admn", 0)
}

/// The key of node `i`'s operator (its owner: registers, stakes, is paid).
pub fn operator_key(i: usize) -> SigningKey {
    seeded_key(b"emc-oper", i)
}

/// `GET path` on a node's status endpoint: the body, or none if it does not answer in 2 s.
pub async fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let get = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8(buf).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.1 200").then(|| body.to_string())
    };
    tokio::time::timeout(Duration::from_secs(2), get)
        .await
        .ok()
        .flatten()
}

/// One node of the multi-process devnet.
#[derive(Debug)]
pub struct ProcMember {
    /// `validator-0`, `router-0`, `compute-1`, ...
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its node id.
    pub id: NodeId,
    /// Its operator.
    pub owner: Principal,
    /// Its directory (node.toml, node.pem, operator.pem, wal.log, node.log).
    pub dir: PathBuf,
    /// Its QUIC address (registered).
    pub addr: SocketAddr,
    /// Its status and metrics endpoint.
    pub status_addr: SocketAddr,
    /// A router's dApp API.
    pub api_addr: Option<SocketAddr>,
}

impl ProcMember {
    /// Its config file.
    pub fn config(&self) -> PathBuf {
        self.dir.join("node.toml")
    }
}

/// A whole network as processes: the replica and one process per node.
pub struct ProcessCluster {
    /// The data directory.
    pub dir: PathBuf,
    /// The configuration it was started with.
    pub config: ClusterConfig,
    /// The replica's URL.
    pub url: String,
    /// The canisters.
    pub canisters: Deployed,
    /// Every node, validators first, then routers, then compute nodes.
    pub members: Vec<ProcMember>,
    /// The canisters as the deployer, over ic-agent.
    pub ic: IcHandles,
    /// The deployer's client.
    pub admin: Arc<AgentClient>,
    bins: Binaries,
    replica: Option<Proc>,
    /// The node processes by member index (none while stopped).
    procs: Vec<Option<Proc>>,
    _apps_stop: tokio::sync::watch::Sender<bool>,
}

/// The registry's and the epochs canister's parameters for the devnet's shape (as
/// [`crate::Cluster::start`] installs them).
fn params(cfg: &ClusterConfig) -> (emc_registry::Params, emc_epochs::Params) {
    let v = &cfg.validator;
    let epoch_secs =
        (v.epoch_length.saturating_mul(duration_ns(v.block_interval)) / 1_000_000_000).max(60);
    (
        emc_registry::Params {
            epoch_length_secs: epoch_secs,
            candidate_epochs: Some(50),
            ..emc_registry::Params::default()
        },
        emc_epochs::Params {
            epoch_length_blocks: v.epoch_length,
            checkpoint_interval_blocks: v.checkpoint_interval,
            challenge_window_ns: duration_ns(cfg.challenge_window),
            ..emc_epochs::Params::default()
        },
    )
}

impl ProcessCluster {
    /// Starts the replica on `ic_listen` (port 0: any free one), deploys the canisters (the
    /// registry's genesis `config.genesis_delay` from now: deploying, registering and staking
    /// must fit in it, about 10 s here, so give it 20 s or more), writes
    /// every node's files, registers and stakes each node through `edge-node`, and starts the
    /// routers, compute nodes and validators as processes.
    pub async fn start(
        config: ClusterConfig,
        bins: Binaries,
        ic_listen: SocketAddr,
    ) -> Result<ProcessCluster> {
        let dir = config.data_dir.clone();
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        // The replica.
        let (replica, url) = spawn_replica(
            &bins.replica,
            ic_listen,
            &dir.join("replica"),
            &logs.join("replica.log"),
        )
        .await?;
        tracing::info!(%url, "replica up");

        // The deployer, the operators and the funded users.
        let admin_pem = dir.join("admin.pem");
        std::fs::write(&admin_pem, pem(&admin_key())?)?;
        let admin = Arc::new(AgentClient::new(
            &url,
            AgentIdentity::from_pem(pem(&admin_key())?.as_bytes())?,
        )?);
        let total = config.validators + config.routers + config.compute;
        let operators: Vec<SigningKey> = (0..total).map(operator_key).collect();
        let users = if config.router.funds == FundsSource::Market {
            funded_users(&config.router)
        } else {
            Vec::new()
        };
        let now_ns = duration_ns(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default(),
        );
        let genesis = now_ns + duration_ns(config.genesis_delay);
        let (registry_params, epochs_params) = params(&config);
        let deploy_cfg = DeployConfig {
            initial_balances: operators
                .iter()
                .map(|k| (Account::from(key_principal(k)), OPERATOR_GENESIS))
                .chain(
                    users
                        .iter()
                        .map(|(i, c)| (Account::from(devnet_buyer(*i)), c + 10 * DEVNET_FEE)),
                )
                .collect(),
            fee_e8s: DEVNET_FEE,
            genesis_time_ns: Some(genesis),
            registry_params: Some(registry_params),
            epochs_params: Some(epochs_params),
            ..DeployConfig::new(emc_test_env::canister_dir())
        };
        let canisters = deploy(&admin, &deploy_cfg, |line| tracing::info!("deploy: {line}"))
            .await
            .context("deploying the canisters to the replica")?;
        let el = config.validator.epoch_length;
        let mut ic = handles(
            admin.clone() as Arc<dyn IcClient>,
            canisters.ledger,
            canisters.registry,
            canisters.epochs,
            el,
        );
        ic.market = Some(canisters.market);
        ic.sockets = Some(canisters.sockets);
        fund_buyers(&url, &canisters, el, users).await?;

        // Demo apps, in this process.
        let (apps_stop, apps_stop_rx) = tokio::sync::watch::channel(false);
        let mut apps = Vec::new();
        if config.demo_app {
            for c in 0..config.compute {
                let demo = config.demo.get(c).cloned().unwrap_or_default();
                apps.push(
                    emc_demo_llm::spawn(
                        SocketAddr::from(([127, 0, 0, 1], 0)),
                        demo,
                        apps_stop_rx.clone(),
                    )
                    .await?,
                );
            }
        }

        // Every node's files.
        let mut members = Vec::new();
        for (i, op) in operators.iter().enumerate() {
            let (role, name) = if i < config.validators {
                (Role::Validator, format!("validator-{i}"))
            } else if i < config.validators + config.routers {
                (Role::Router, format!("router-{}", i - config.validators))
            } else {
                let c = i - config.validators - config.routers;
                (Role::Compute, format!("compute-{c}"))
            };
            let node_dir = dir.join(&name);
            std::fs::create_dir_all(&node_dir)?;
            let key = devnet_key(i);
            std::fs::write(node_dir.join("node.pem"), pem(&key)?)?;
            std::fs::write(node_dir.join("operator.pem"), pem(op)?)?;
            let addr = free_port(true)?;
            let status_addr = free_port(false)?;
            let api_addr = match (role, config.router.http_addr) {
                (Role::Router, Some(a)) if i == config.validators && a.port() != 0 => Some(a),
                (Role::Router, Some(_)) => Some(free_port(false)?),
                _ => None,
            };
            let app_url = match role {
                Role::Compute => apps
                    .get(i - config.validators - config.routers)
                    .map(|a| format!("http://{a}"))
                    .or(config.compute_node.app_url.clone()),
                _ => None,
            };
            let node = node_config(
                &config,
                role,
                &url,
                &canisters,
                addr,
                status_addr,
                api_addr,
                app_url,
            );
            node.validate()
                .with_context(|| format!("{name}'s configuration"))?;
            std::fs::write(node_dir.join("node.toml"), toml::to_string_pretty(&node)?)?;
            members.push(ProcMember {
                name,
                role,
                id: NodeId(key.verifying_key().to_bytes()),
                owner: key_principal(op),
                dir: node_dir,
                addr,
                status_addr,
                api_addr,
            });
        }

        register_and_stake(&bins.edge_node, &logs, &members, &config).await?;
        let now_ns = duration_ns(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default(),
        );
        if now_ns >= genesis {
            bail!(
                "deploying, registering and staking took longer than the genesis delay ({:?}): \
                 epoch 0 would start without validators (raise it)",
                config.genesis_delay
            );
        }

        let mut cluster = ProcessCluster {
            dir,
            config,
            url,
            canisters,
            procs: members.iter().map(|_| None).collect(),
            members,
            ic,
            admin,
            bins,
            replica: Some(replica),
            _apps_stop: apps_stop,
        };
        // Routers and compute nodes first, so the validators find them up.
        let first_router = cluster.config.validators;
        let order: Vec<usize> = (first_router..cluster.members.len())
            .chain(0..cluster.config.validators)
            .collect();
        for i in order {
            cluster.start_node(i)?;
        }
        cluster.wait_for_status_endpoints().await?;
        Ok(cluster)
    }

    /// The console log of member `i`.
    pub fn log_of(&self, i: usize) -> PathBuf {
        self.dir
            .join("logs")
            .join(format!("{}.log", self.members[i].name))
    }

    /// Waits until every process binds its ports and serves its status endpoint (an error
    /// names a process that exited, or one that does not answer within 60 s, with its log).
    async fn wait_for_status_endpoints(&mut self) -> Result<()> {
        let end = Instant::now() + Duration::from_secs(60);
        for i in 0..self.members.len() {
            loop {
                self.check_running()?;
                if http_get(self.members[i].status_addr, "/status")
                    .await
                    .is_some()
                {
                    break;
                }
                if Instant::now() > end {
                    bail!(
                        "{} does not serve its status endpoint; its log:\n{}",
                        self.members[i].name,
                        log_tail(&self.log_of(i))
                    );
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    fn start_node(&mut self, i: usize) -> Result<()> {
        let m = &self.members[i];
        let cfg = m.config().display().to_string();
        let p = match m.role {
            Role::Router => Proc::spawn(
                &m.name,
                &self.bins.router,
                &["-c", &cfg],
                &self.log_of(i),
                &m.dir,
            )?,
            _ => Proc::spawn(
                &m.name,
                &self.bins.edge_node,
                &["run", "-c", &cfg],
                &self.log_of(i),
                &m.dir,
            )?,
        };
        self.procs[i] = Some(p);
        Ok(())
    }

    /// An error naming the first process that exited (with its log), if one did.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(r) = self.replica.as_mut() {
            r.check_running()?;
        }
        for p in self.procs.iter_mut().flatten() {
            p.check_running()?;
        }
        Ok(())
    }

    /// The process id of member `i` (none while stopped).
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.procs.get(i).and_then(|p| p.as_ref()).map(Proc::pid)
    }

    /// Kills member `i`'s process (SIGKILL: a crash; its files stay).
    pub async fn kill(&mut self, i: usize) {
        if let Some(p) = self.procs.get_mut(i).and_then(Option::take) {
            p.kill().await;
        }
    }

    /// Starts member `i` again from its files (a validator from its write-ahead log), on its
    /// registered address.
    pub async fn restart(&mut self, i: usize) -> Result<()> {
        if i >= self.members.len() {
            bail!("no member {i}");
        }
        if self.procs[i].is_some() {
            return Ok(());
        }
        // The killed process's UDP port is free once it is reaped; give the OS a moment.
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.start_node(i)
    }

    /// Member `i`'s status document (its `GET /status`), if it answers.
    pub async fn node_status(&self, i: usize) -> Option<serde_json::Value> {
        let body = http_get(self.members.get(i)?.status_addr, "/status").await?;
        serde_json::from_str(&body).ok()
    }

    /// Member `i`'s Prometheus metric `name`, if it answers.
    pub async fn metric(&self, i: usize, name: &str) -> Option<f64> {
        let body = http_get(self.members.get(i)?.status_addr, "/metrics").await?;
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// The status line's figures, from the nodes' status endpoints and the canisters.
    pub async fn status(&self) -> ClusterStatus {
        let mut s = ClusterStatus::default();
        for (i, m) in self.members.iter().enumerate() {
            let Some(st) = self.node_status(i).await else {
                continue;
            };
            match m.role {
                Role::Validator => {
                    let h = st["height"].as_u64().unwrap_or(0);
                    if h >= s.height {
                        s.height = h;
                        s.epoch = st["epoch"].as_u64().unwrap_or(0);
                    }
                    s.validators_up += 1;
                }
                Role::Router => {
                    let seen = st["compute"].as_object().map_or(0, |c| c.len());
                    s.compute_seen = s.compute_seen.max(seen);
                }
                Role::Compute => {}
            }
        }
        if let Ok(stats) = self.ic.epochs.stats().await {
            s.checkpoint = stats.tip_height;
            s.closed_epoch = stats.last_closed_epoch;
            s.rewards_e8s = stats.total_emitted_e8s;
        }
        let stats = self
            .admin
            .query(
                self.canisters.market,
                "stats",
                Encode!().unwrap_or_default(),
            )
            .await;
        if let Some(m) = stats.ok().and_then(|b| Decode!(&b, emc_market::Stats).ok()) {
            s.market_volume_e8s = m.volume_e8s;
            s.market_fees_e8s = m.treasury_fees_e8s;
        }
        s
    }

    /// Stops every node (SIGTERM, then SIGKILL after a grace), then the replica (which writes
    /// its final snapshot).
    pub async fn shutdown(mut self) {
        let grace = Duration::from_secs(5);
        let nodes: Vec<Proc> = self.procs.iter_mut().filter_map(Option::take).collect();
        futures::future::join_all(nodes.into_iter().map(|p| p.terminate(grace))).await;
        if let Some(r) = self.replica.take() {
            r.terminate(Duration::from_secs(10)).await;
        }
    }
}

/// Each funded user's escrow holds its credit, its key bound to it (as that user, over
/// ic-agent).
async fn fund_buyers(
    url: &str,
    canisters: &Deployed,
    epoch_length: u64,
    users: Vec<(usize, u64)>,
) -> Result<()> {
    for (i, credit) in users {
        let key = devnet_user_key(i);
        let client = AgentClient::new(url, AgentIdentity::from_pem(pem(&key)?.as_bytes())?)?;
        let mut buyer = handles(
            Arc::new(client),
            canisters.ledger,
            canisters.registry,
            canisters.epochs,
            epoch_length,
        );
        buyer.market = Some(canisters.market);
        fund_escrow(&buyer, &key, credit)
            .await
            .with_context(|| format!("funding user {i}'s escrow"))?;
    }
    Ok(())
}

/// A node's config file: `edge-node init`'s, with the devnet's settings and ports.
#[allow(clippy::too_many_arguments)]
fn node_config(
    config: &ClusterConfig,
    role: Role,
    url: &str,
    canisters: &Deployed,
    addr: SocketAddr,
    status_addr: SocketAddr,
    api_addr: Option<SocketAddr>,
    app_url: Option<String>,
) -> NodeConfig {
    NodeConfig {
        role,
        key_file: "node.pem".into(),
        status_addr: Some(status_addr),
        region: "devnet".into(),
        hardware: match role {
            Role::Compute => format!(
                "{:?} prover, {} thread(s) (devnet)",
                config.compute_node.prover, config.compute_node.cpu_threads
            ),
            _ => String::new(),
        },
        public_addr: None,
        ic: IcConfig {
            url: url.to_string(),
            identity_pem: Some("operator.pem".into()),
            ledger: canisters.ledger,
            registry: canisters.registry,
            epochs: canisters.epochs,
            market: Some(canisters.market),
            sockets: Some(canisters.sockets),
        },
        net: emc_net::NetConfig {
            listen_addr: addr,
            ..config.net.clone()
        },
        validator: ValidatorConfig {
            wal: Some("wal.log".into()),
            ..config.validator.clone()
        },
        compute: ComputeConfig {
            registry_refresh: config.validator.registry_refresh,
            app_url,
            ..config.compute_node.clone()
        },
        router: RouterConfig {
            registry_refresh: config.validator.registry_refresh,
            epoch_length: config.validator.epoch_length,
            http_addr: api_addr,
            ..config.router.clone()
        },
    }
}

/// Registers every node and stakes it (validators 1,000,000 EMC for 360 days, routers 100,000
/// for 180, the first `staked_compute` compute nodes the registry's minimum for 7 days) with
/// `edge-node register` / `edge-node stake`, one operator each, all at once.
async fn register_and_stake(
    edge_node: &Path,
    logs: &Path,
    members: &[ProcMember],
    config: &ClusterConfig,
) -> Result<()> {
    let first_compute = config.validators + config.routers;
    let setups = members.iter().enumerate().map(|(i, m)| {
        let stake: Option<(u64, u32)> = match m.role {
            Role::Validator => Some((1_000_000, 360)),
            Role::Router => Some((100_000, 180)),
            Role::Compute if i - first_compute < config.staked_compute => {
                Some((COMPUTE_STAKE / E8S, COMPUTE_STAKE_DAYS))
            }
            Role::Compute => None,
        };
        let log = logs.join(format!("{}.setup.log", m.name));
        let cfg = m.config().display().to_string();
        async move {
            run_once(&m.name, edge_node, &["register", "-c", &cfg], &log, &m.dir).await?;
            if let Some((amount, days)) = stake {
                let (amount, days) = (amount.to_string(), days.to_string());
                let args = ["stake", "-c", &cfg, "--amount", &amount, "--days", &days];
                run_once(&m.name, edge_node, &args, &log, &m.dir).await?;
            }
            Ok::<(), anyhow::Error>(())
        }
    });
    for r in futures::future::join_all(setups).await {
        r?;
    }
    Ok(())
}

/// Starts `emc-replica` (`bin`) on `listen` (port 0: any free one) with its state in
/// `state_dir`, its output in `log`; returns it and its URL once it listens. A port taken is
/// an error that quotes the replica's own message.
pub async fn spawn_replica(
    bin: &Path,
    listen: SocketAddr,
    state_dir: &Path,
    log: &Path,
) -> Result<(Proc, String)> {
    let (port, host) = (listen.port().to_string(), listen.ip().to_string());
    let state = state_dir.display().to_string();
    let cwd = log.parent().unwrap_or(Path::new("."));
    let mut replica = Proc::spawn(
        "replica",
        bin,
        &["--port", &port, "--host", &host, "--state-dir", &state],
        log,
        cwd,
    )?;
    let url = wait_for_url(&mut replica).await?;
    Ok((replica, url))
}

/// Builds the binaries `bins` with cargo in the running executable's profile (`release` when
/// it runs from `target/release`) and returns the folder they are in
/// ([`Binaries::default_dir`]). The whole workspace's feature resolution is used (only these
/// binaries are built), as `scripts/build-canisters.sh` does, so that a `cargo test
/// --workspace` run (CI) has their dependencies built already instead of compiling them again
/// with the fewer features of three packages alone.
pub fn build_binaries(bins: &[&str]) -> Result<PathBuf> {
    let dir = Binaries::default_dir()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.arg("build").arg("--quiet");
    // What cargo sets for a test or `cargo run` is not the caller's environment: ring's build
    // script reruns when CARGO_MANIFEST_DIR changes, so inheriting it would rebuild half the
    // tree here and again in the next `cargo test`.
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if [
            "CARGO_MANIFEST_",
            "CARGO_PKG_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
            "CARGO_TARGET_TMPDIR",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_RUSTC_CURRENT_DIR",
            "OUT_DIR",
        ]
        .iter()
        .any(|p| k.starts_with(p))
        {
            cmd.env_remove(&key);
        }
    }
    cmd.arg("--workspace");
    for b in bins {
        cmd.arg("--bin").arg(b);
    }
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(profile) => {
            cmd.arg("--profile").arg(profile);
        }
    }
    let status = cmd
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build of {bins:?} failed ({status})");
    }
    Ok(dir)
}

/// Waits for the replica to print its URL (it exits with a clear error when its port is taken).
async fn wait_for_url(replica: &mut Proc) -> Result<String> {
    const PREFIX: &str = "emc-replica listening on ";
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&replica.log).unwrap_or_default();
        if let Some(url) = text
            .lines()
            .find_map(|l| l.split_once(PREFIX).map(|(_, u)| u.trim().to_string()))
        {
            return Ok(url);
        }
        replica
            .check_running()
            .context("the replica did not start")?;
        if Instant::now() > end {
            bail!(
                "the replica did not print its URL within 60 s ({})",
                replica.log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
