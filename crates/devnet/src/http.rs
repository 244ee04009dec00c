//! The devnet's embedded IC over the IC's HTTP interface, and the explorer.
//!
//! [`Cluster::serve_http`] attaches an `emc-replica` server to the devnet's own embedded IC
//! (the [`EmbeddedHost`](emc_ic_client::EmbeddedHost) thread keeps owning it: each batch of
//! HTTP requests runs there as one job), so ic-agent, @dfinity/agent and dfx-style tools see
//! the devnet's canisters, with certificates signed by the replica's (local, fetched) root key.
//! The same server serves the explorer's static build under `/explorer/` with a
//! `/explorer/config.json` naming the canisters and the replica's URL.

use crate::Cluster;
use anyhow::{Context, Result};
use emc_ic_client::EmbeddedClient;
use emc_replica::{IcJob, IcOwner, ReplicaConfig, RunningReplica, StaticFile};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the devnet serves its IC by default (dfx's local replica address).
pub const DEFAULT_IC_HTTP: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 4943);

/// The URL path the explorer is served under.
pub const EXPLORER_PATH: &str = "/explorer/";

/// The devnet's embedded IC on the IC's HTTP interface.
pub struct IcHttp {
    /// The server (stop it with [`RunningReplica::shutdown`] before the cluster).
    pub replica: RunningReplica,
    /// Whether the explorer's build was found and is served.
    pub explorer: bool,
}

impl IcHttp {
    /// `http://<addr>`: the URL agents use (`fetchRootKey` first: the key is local).
    pub fn url(&self) -> String {
        self.replica.url()
    }

    /// The explorer's URL, when its build is served.
    pub fn explorer_url(&self) -> Option<String> {
        self.explorer
            .then(|| format!("{}{EXPLORER_PATH}", self.replica.url()))
    }
}

/// Runs the replica's jobs on the devnet's embedded-IC thread.
struct HostThread(EmbeddedClient);

impl IcOwner for HostThread {
    fn run(&self, job: IcJob) {
        // The reply only says the job ran: the replica gets its results through the job.
        drop(self.0.with_ic(move |ic| {
            job(ic);
            Ok(())
        }));
    }
}

/// The explorer's build: `$EMC_EXPLORER_DIR`, or `explorer/dist` of this checkout.
pub fn explorer_dist_dir() -> PathBuf {
    match std::env::var_os("EMC_EXPLORER_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../explorer/dist"),
    }
}

/// The explorer's `config.json` for this cluster served at `url`.
pub fn explorer_config(cluster: &Cluster, url: &str) -> serde_json::Value {
    let c = &cluster.canisters;
    let v = &cluster.config.validator;
    serde_json::json!({
        "network": "devnet",
        "host": url,
        "fetchRootKey": true,
        "canisters": {
            "ledger": c.ledger.to_text(),
            "registry": c.registry.to_text(),
            "epochs": c.epochs.to_text(),
            "market": c.market.to_text(),
        },
        "blockIntervalMs": v.block_interval.as_millis() as u64,
        "epochLengthBlocks": v.epoch_length,
        "checkpointIntervalBlocks": v.checkpoint_interval,
    })
}

/// Every file under `dir` at `prefix` + its relative path (`index.html` also at `prefix`).
pub fn load_static(dir: &Path, prefix: &str) -> Result<BTreeMap<String, StaticFile>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(dir)
                .context("a file outside the directory")?
                .to_string_lossy()
                .replace('\\', "/");
            let body =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            if rel == "index.html" {
                files.insert(prefix.to_string(), StaticFile::new(&rel, body.clone()));
            }
            files.insert(format!("{prefix}{rel}"), StaticFile::new(&rel, body));
        }
    }
    Ok(files)
}

impl Cluster {
    /// Serves the devnet's embedded IC over the IC's HTTP interface on `listen`, and the
    /// explorer's build from `explorer_dir` (when it holds an `index.html`) under
    /// [`EXPLORER_PATH`].
    pub async fn serve_http(&self, listen: SocketAddr, explorer_dir: &Path) -> Result<IcHttp> {
        let mut files = if explorer_dir.join("index.html").is_file() {
            load_static(explorer_dir, EXPLORER_PATH)?
        } else {
            BTreeMap::new()
        };
        let explorer = !files.is_empty();
        // The config names the address: with port 0, take a free port first.
        let addr = if listen.port() == 0 {
            std::net::TcpListener::bind(listen)
                .and_then(|l| l.local_addr())
                .with_context(|| format!("listening on {listen}"))?
        } else {
            listen
        };
        if explorer {
            let config = explorer_config(self, &format!("http://{addr}"));
            files.insert(
                format!("{EXPLORER_PATH}config.json"),
                StaticFile::new("config.json", serde_json::to_vec_pretty(&config)?),
            );
        }
        let config = ReplicaConfig {
            listen: addr,
            state_dir: None,
            snapshot_interval: None,
            static_files: Arc::new(files),
            ..ReplicaConfig::default()
        };
        let replica = emc_replica::start_attached(
            config,
            HostThread(self.host.client(candid::Principal::anonymous())),
        )
        .await
        .with_context(|| format!("serving the embedded IC on {addr}"))?;
        Ok(IcHttp { replica, explorer })
    }
}

/// What the devnet prints about its HTTP interface: the URL, the root key note, the canister
/// ids, and the explorer's URL (or how to build it).
pub fn describe(http: &IcHttp, c: &crate::Canisters, explorer_dir: &Path) -> String {
    let url = http.url();
    let explorer = match http.explorer_url() {
        Some(u) => format!("devnet: explorer at {u}"),
        None => format!(
            "devnet: no explorer build in {} (build it with scripts/build-explorer.sh)",
            explorer_dir.display()
        ),
    };
    format!(
        "devnet: the embedded IC on the IC's HTTP interface at {url} \
         (a local root key: agents fetch it first, agent.fetch_root_key() / fetchRootKey())\n  \
         ledger {}  registry {}  epochs {}  market {}  governance {}  dao {}\n{explorer}",
        c.ledger, c.registry, c.epochs, c.market, c.governance, c.dao
    )
}
