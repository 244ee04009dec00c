//! `emc-devnet`: a whole local EMC network (embedded IC with the canisters, 4 validators,
//! 1 router, 2 compute nodes over QUIC on loopback) until Ctrl-C or `--duration`, printing a
//! status line, the milestones (checkpoints accepted, epochs closed, rewards paid, PoC
//! verdicts turning) and warnings; each node's full log goes to `<data dir>/logs/<node>.log`.
//! `--verbose` prints everything. The router's dApp API listens on `--api` (127.0.0.1:8787);
//! the devnet prints a `curl` that streams a completion, signed by devnet user 0.
//! The embedded IC is served over the IC's HTTP interface on `--ic-http` (127.0.0.1:4943, like
//! dfx) with the explorer under `/explorer/`; the devnet prints both URLs and the canister ids.
//! `emc-devnet --sign '<json body>'` prints another signed `curl` (a fresh nonce) and exits.
//! `--socket-demo` buys a computing socket from the devnet's compute pool, calls through it,
//! transfers it and calls as the new and the old holder.
//! `--processes` runs the same network as processes: `emc-replica` with the canisters deployed
//! over HTTP, and every node an `edge-node` / `router` child ([`emc_devnet::processes`]).

use anyhow::{Context as _, Result};
use clap::Parser;
use emc_devnet::processes::{Binaries, ProcessCluster};
use emc_devnet::{Cluster, ClusterConfig, ClusterStatus, E8S};
use emc_ic_client::IcClient as _;
use emc_node_common::logging::{init_logging, LogConfig, MILESTONE};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "EMC local devnet: the embedded IC and an edge network on loopback")]
struct Cli {
    /// Stop after this long (e.g. 60s, 5m); runs until Ctrl-C when absent.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// How often to print the status line.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    status_every: Duration,
    /// Validators.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Routers.
    #[arg(long, default_value_t = 1)]
    routers: usize,
    /// Compute nodes.
    #[arg(long, default_value_t = 2)]
    compute: usize,
    /// Time between blocks.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    block_interval: Duration,
    /// Blocks per epoch.
    #[arg(long, default_value_t = 120)]
    epoch_length: u64,
    /// Blocks between checkpoints (divides the epoch length).
    #[arg(long, default_value_t = 30)]
    checkpoint_interval: u64,
    /// Directory for the validators' write-ahead logs and the nodes' logs (`logs/`; a fresh
    /// temporary one by default, removed on a clean stop).
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Print every node's log lines (`RUST_LOG` filters), not only milestones and warnings.
    #[arg(long, short)]
    verbose: bool,
    /// Keep the data directory (logs included) after a clean stop.
    #[arg(long)]
    keep_data: bool,
    /// The first router's dApp API address.
    #[arg(long, default_value = "127.0.0.1:8787")]
    api: std::net::SocketAddr,
    /// Print a `curl` of this JSON body to `--sign-path`, signed by devnet user 0 with a
    /// fresh nonce, and exit.
    #[arg(long)]
    sign: Option<String>,
    /// Where the embedded IC is served over the IC's HTTP interface (and the explorer under
    /// /explorer/).
    #[arg(long, default_value_t = emc_devnet::DEFAULT_IC_HTTP)]
    ic_http: std::net::SocketAddr,
    /// Do not serve the embedded IC over HTTP.
    #[arg(long)]
    no_ic_http: bool,
    /// The explorer's build (`scripts/build-explorer.sh`; default: explorer/dist of this
    /// checkout, or $EMC_EXPLORER_DIR).
    #[arg(long)]
    explorer_dir: Option<std::path::PathBuf>,
    /// The path `--sign` calls.
    #[arg(long, default_value = "/v1/chat/completions")]
    sign_path: String,
    /// Once started, buy a computing socket from the compute pool, call through it, transfer
    /// it and call as the new and the old holder (issue #16), printing each step.
    #[arg(long)]
    socket_demo: bool,
    /// Multi-process mode: the replica (`emc-replica`, on --ic-http) and every node (`edge-node`,
    /// `router`) as its own process, configured by files in the data directory and registered
    /// and staked through `edge-node register` / `stake` over HTTP. The binaries are looked up
    /// beside this one (or in $EMC_BIN_DIR): `cargo build --release -p edge-node -p emc-router
    /// -p emc-replica` first.
    #[arg(long)]
    processes: bool,
}

/// A `curl` of `body` to `path` at `api`, signed by devnet user 0 (nonce: UNIX time in µs).
fn signed_curl(api: std::net::SocketAddr, path: &str, body: &str) -> String {
    let key = emc_devnet::devnet_user_key(0);
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(1);
    let sig = emc_edge_core::compute::sign_request(&key, nonce, "POST", path, body.as_bytes());
    format!(
        "curl -N http://{api}{path} -H 'content-type: application/json' \\\n  \
         -H 'x-emc-account: {}' -H 'x-emc-nonce: {nonce}' \\\n  \
         -H 'x-emc-signature: {}' \\\n  -d '{body}'",
        hex::encode(key.verifying_key().to_bytes()),
        hex::encode(sig.0)
    )
}

const EXAMPLE: &str = r#"{"model":"emc-bigram","stream":true,"max_tokens":12,"messages":[{"role":"user","content":"what does a router do"}]}"#;

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(body) = &cli.sign {
        println!("{}", signed_curl(cli.api, &cli.sign_path, body));
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    let data_dir = match cli.data_dir.clone() {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("emc-devnet-{}", std::process::id())),
    };
    let _ = std::fs::remove_dir_all(&data_dir);
    let log_dir = data_dir.join("logs");
    init_logging(&LogConfig {
        verbose: cli.verbose,
        dir: Some(log_dir.clone()),
        default_name: "devnet".into(),
    })?;
    println!(
        "devnet: each node's full log goes to {}/<node>.log (--verbose prints them here)",
        log_dir.display()
    );
    let mut cfg = ClusterConfig::devnet(data_dir.clone());
    cfg.validators = cli.validators;
    cfg.routers = cli.routers;
    cfg.compute = cli.compute;
    cfg.validator.block_interval = cli.block_interval;
    cfg.validator.epoch_length = cli.epoch_length;
    cfg.validator.checkpoint_interval = cli.checkpoint_interval;
    cfg.router.http_addr = Some(cli.api);
    if cfg.validator.epoch_length % cfg.validator.checkpoint_interval.max(1) != 0 {
        anyhow::bail!("--checkpoint-interval must divide --epoch-length");
    }
    if cli.processes {
        // Deploying and registering through processes takes longer than in one process.
        cfg.genesis_delay = std::time::Duration::from_secs(30);
        return run_processes(cli, cfg, data_dir).await;
    }
    let mut stop = emc_node_common::bootstrap::shutdown_signal();
    let started = Instant::now();
    let cluster = Cluster::start(cfg).await?;
    let c = &cluster.canisters;
    println!(
        "devnet: embedded IC with ledger {}, registry {}, epochs {}, market {}",
        c.ledger, c.registry, c.epochs, c.market
    );
    println!(
        "devnet: governed by the stand-in SNS governance {} (the DAO canister {}); {} \
         holds the majority neuron {}, every node operator a neuron: parameters change only \
         by proposal (make_proposal with ExecuteGenericNervousSystemFunction, ids 1000-1017 of \
         docs/governance.md)",
        c.governance,
        c.dao,
        c.admin,
        emc_devnet::governance::DEVNET_NEURON
    );
    for m in &cluster.members {
        println!(
            "  {:<11} {} at {}  owner {}",
            m.name,
            hex_short(&m.id.0),
            m.addr,
            m.owner
        );
    }
    println!(
        "devnet: blocks every {:?}, a checkpoint every {} blocks, epochs of {} blocks; data in {}",
        cli.block_interval,
        cli.checkpoint_interval,
        cli.epoch_length,
        data_dir.display()
    );
    let ic_http = if cli.no_ic_http {
        None
    } else {
        let dir = cli
            .explorer_dir
            .clone()
            .unwrap_or_else(emc_devnet::http::explorer_dist_dir);
        match cluster.serve_http(cli.ic_http, &dir).await {
            Ok(http) => {
                println!(
                    "{}",
                    emc_devnet::http::describe(&http, &cluster.canisters, &dir)
                );
                Some(http)
            }
            // The network runs without it (e.g. dfx holds the port): say so and go on.
            Err(e) => {
                println!("devnet: not serving the IC over HTTP: {e:#} (choose --ic-http)");
                None
            }
        }
    };
    if let Some(api) = cluster.api_addr(0) {
        println!(
            "devnet: router-0's dApp API on http://{api} (OpenAI routes, /v1/models, /{{app}}/..); \
             a streamed completion, signed by devnet user 0:\n{}",
            signed_curl(api, "/v1/chat/completions", EXAMPLE)
        );
    }
    println!(
        "devnet: sockets canister {} (ICRC-7/37; the market {} mints); compute pool: {}",
        c.sockets,
        c.market,
        cluster
            .pool_offer
            .map_or("none (fewer than 2 compute nodes)".into(), |o| format!(
                "market offer {o} (compute nodes 0 and 1)"
            ))
    );
    if cli.socket_demo {
        match emc_devnet::sockets::demo(&cluster).await {
            Ok(lines) => lines
                .iter()
                .for_each(|l| println!("devnet: socket demo: {l}")),
            Err(e) => println!("devnet: socket demo failed: {e:#}"),
        }
    }
    let mut tick = tokio::time::interval(cli.status_every);
    tick.tick().await;
    let mut paid_before = 0u64;
    // The network's PoC verdicts as committed (validator 0's view: every validator commits
    // the same blocks): a milestone when a node's verdict is new or turns.
    let mut poc_commits = match cluster.running().next() {
        Some((_, v)) => v.handle.poc_commits.subscribe(),
        None => tokio::sync::broadcast::channel(1).1,
    };
    let mut verdicts: std::collections::BTreeMap<emc_types::NodeId, bool> = Default::default();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Ok(c) = poc_commits.recv() => {
                let r = c.result;
                if verdicts.insert(r.node, r.passed) != Some(r.passed) {
                    tracing::info!(
                        target: MILESTONE,
                        node = %hex_short(&r.node.0),
                        height = c.height,
                        e = r.e_fixed as f64 / 1e4,
                        "PoC: compute node {} (committed)",
                        if r.passed { "passes" } else { "fails" }
                    );
                }
            }
            _ = tick.tick() => {
                let s = cluster.status().await;
                if s.rewards_e8s > paid_before {
                    tracing::info!(
                        target: MILESTONE,
                        closed_epoch = ?s.closed_epoch,
                        new_emc = (s.rewards_e8s - paid_before) as f64 / E8S as f64,
                        total_emc = s.rewards_e8s as f64 / E8S as f64,
                        "rewards paid"
                    );
                    paid_before = s.rewards_e8s;
                }
                println!("{}", status_line(started, &s));
                if cli.duration.is_some_and(|d| started.elapsed() >= d) {
                    break;
                }
            }
        }
    }
    match cluster.rewards_by_role().await {
        Ok(r) => {
            let emc = |e8s: u64| e8s as f64 / E8S as f64;
            println!(
                "devnet: rewards paid: validators {:.4} EMC, routers {:.4} EMC, compute {:.4} EMC",
                emc(r.validator_e8s),
                emc(r.router_e8s),
                emc(r.compute_e8s)
            );
            for (i, paid) in r.compute_nodes {
                let m = &cluster.members[i];
                let es: Vec<String> = cluster
                    .last_poc(&m.id)
                    .iter()
                    .map(|p| format!("{:.4}", p.e_fixed as f64 / 1e4))
                    .collect();
                println!(
                    "  compute {}: last E measured by validators [{}], paid {:.4} EMC",
                    hex_short(&m.id.0),
                    es.join(", "),
                    emc(paid)
                );
            }
        }
        Err(e) => println!("devnet: rewards unreadable: {e}"),
    }
    if let Some(http) = ic_http {
        http.replica.shutdown().await;
    }
    cluster.shutdown().await;
    stopped(started, cli.keep_data, &data_dir);
    Ok(())
}

/// The status line.
fn status_line(started: Instant, s: &ClusterStatus) -> String {
    format!(
        "devnet: t+{:>4}s  height {:>5}  epoch {:>3}  checkpoint {:>6}  closed epoch {:>4}  rewards paid {:>10.4} EMC  validators {}  compute seen {}  market volume {:.4} EMC fees {:.4} EMC",
        started.elapsed().as_secs(),
        s.height,
        s.epoch,
        s.checkpoint.map_or("-".into(), |h| h.to_string()),
        s.closed_epoch.map_or("-".into(), |e| e.to_string()),
        s.rewards_e8s as f64 / E8S as f64,
        s.validators_up,
        s.compute_seen,
        s.market_volume_e8s as f64 / E8S as f64,
        s.market_fees_e8s as f64 / E8S as f64,
    )
}

/// `--processes`: the replica and every node as child processes; the status line reads their
/// status endpoints and the canisters over HTTP.
async fn run_processes(cli: Cli, cfg: ClusterConfig, data_dir: std::path::PathBuf) -> Result<()> {
    let bins = Binaries::locate()?;
    let mut stop = emc_node_common::bootstrap::shutdown_signal();
    let started = Instant::now();
    let ic_listen = if cli.no_ic_http {
        std::net::SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        cli.ic_http
    };
    let mut cluster = ProcessCluster::start(cfg, bins, ic_listen)
        .await
        .with_context(|| {
            format!(
                "starting the devnet's processes (logs in {}/logs)",
                data_dir.display()
            )
        })?;
    let c = &cluster.canisters;
    println!(
        "devnet: emc-replica at {} (a process; root key fetched by clients) with ledger {}, registry {}, epochs {}, market {}, sockets {}, dao {}; deployer {} (admin.pem)",
        cluster.url, c.ledger, c.registry, c.epochs, c.market, c.sockets, c.dao,
        cluster.admin.principal()
    );
    for (i, m) in cluster.members.iter().enumerate() {
        println!(
            "  {:<11} {} at {}  pid {}  status http://{}/status  owner {}  ({})",
            m.name,
            hex_short(&m.id.0),
            m.addr,
            cluster.pid(i).map_or("-".into(), |p| p.to_string()),
            m.status_addr,
            m.owner,
            m.dir.display()
        );
    }
    println!(
        "devnet: blocks every {:?}, a checkpoint every {} blocks, epochs of {} blocks; each process's output in {}/logs/<name>.log, a node's full log in <dir>/node.log",
        cli.block_interval,
        cli.checkpoint_interval,
        cli.epoch_length,
        data_dir.display()
    );
    if let Some(api) = cluster.members.iter().find_map(|m| m.api_addr) {
        println!(
            "devnet: router-0's dApp API on http://{api}; a streamed completion, signed by devnet user 0:\n{}",
            signed_curl(api, "/v1/chat/completions", EXAMPLE)
        );
    }
    let mut tick = tokio::time::interval(cli.status_every);
    tick.tick().await;
    let mut exited = false;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {
                if let Err(e) = cluster.check_running() {
                    if !exited {
                        println!("devnet: warning: {e:#}");
                        exited = true;
                    }
                }
                let s = cluster.status().await;
                println!("{}", status_line(started, &s));
                if cli.duration.is_some_and(|d| started.elapsed() >= d) {
                    break;
                }
            }
        }
    }
    cluster.shutdown().await;
    stopped(started, cli.keep_data, &data_dir);
    Ok(())
}

fn hex_short(b: &[u8]) -> String {
    b.iter().take(6).map(|x| format!("{x:02x}")).collect()
}

/// The last lines of a run, either mode: how long it ran, and the data folder kept or removed.
fn stopped(started: std::time::Instant, keep_data: bool, data_dir: &std::path::Path) {
    println!(
        "devnet: stopped cleanly after {}s",
        started.elapsed().as_secs()
    );
    if keep_data {
        println!("devnet: data and logs kept in {}", data_dir.display());
    } else {
        let _ = std::fs::remove_dir_all(data_dir);
    }
}
