//! `emc-replica`: the embedded IC as a local replica that ic-agent, agent-js and dfx-style
//! tools talk to unmodified, over the IC's HTTP interface.
//!
//! Layers, pure to impure:
//! * [`cbor`] and [`envelope`]: decoding and authenticating request envelopes (request ids,
//!   Ed25519 / secp256k1 / P-256 signatures, delegations, ingress expiry). No IO, no clock.
//! * [`keys`]: the BLS12-381 root key that signs certificates and the Ed25519 node key that
//!   signs query responses, from one seed.
//! * [`replica`] and [`management`]: the core over the embedded IC: calls, batch
//!   certification, queries, read_state, the management canister. No IO, no clock.
//! * [`snapshot`]: the state on disk (format v1), written atomically.
//! * `host` (a thread owning the core) and `server` (hyper): the shell.
//!
//! ```ignore
//! let replica = emc_replica::start(ReplicaConfig::default()).await?;
//! let agent = ic_agent::Agent::builder().with_url(replica.url()).build()?;
//! agent.fetch_root_key().await?;
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod cbor;
pub mod envelope;
mod host;
pub mod keys;
pub mod management;
pub mod replica;
mod server;
pub mod snapshot;

pub use host::{CallReply, Clock, IcJob, IcOwner};
pub use keys::Keys;
pub use replica::{Replica, ReplicaParts, ReplicaRef};

use emc_embedded_ic::{EmbeddedIc, IcConfig};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tracing::{info, warn};

/// Settings of a replica (TOML keys as the field names; the binary's flags override them).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplicaConfig {
    /// Address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Where the key seed and the state snapshot live; `None`: a fresh key and no persistence.
    pub state_dir: Option<PathBuf>,
    /// Wall or manual clock.
    pub clock: Clock,
    /// Largest request body accepted (the IC: 5 MB; ingress payloads are at most 2 MiB).
    pub max_request_bytes: usize,
    /// Time between two rounds when idle (timers fire at this granularity).
    #[serde(with = "humantime_serde")]
    pub tick_interval: Duration,
    /// Time between two snapshots while state changes (`None`: only at shutdown).
    #[serde(with = "humantime_serde")]
    pub snapshot_interval: Option<Duration>,
    /// Print canisters' `debug_print` through tracing.
    pub trace_debug_print: bool,
    /// Files served on `GET` at their paths besides the IC's interface (set in code: the
    /// devnet serves the explorer's build and its config so).
    #[serde(skip)]
    pub static_files: StaticFiles,
}

/// A file served as is.
#[derive(Clone, Debug)]
pub struct StaticFile {
    pub content_type: &'static str,
    pub body: hyper::body::Bytes,
}

impl StaticFile {
    /// `body` with the content type its path's extension names (`application/octet-stream`
    /// for unknown ones).
    pub fn new(path: &str, body: impl Into<hyper::body::Bytes>) -> Self {
        let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
        let content_type = match ext.to_ascii_lowercase().as_str() {
            "html" => "text/html; charset=utf-8",
            "js" | "mjs" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "json" => "application/json",
            "svg" => "image/svg+xml",
            "png" => "image/png",
            "ico" => "image/x-icon",
            "txt" | "map" => "text/plain; charset=utf-8",
            _ => "application/octet-stream",
        };
        StaticFile {
            content_type,
            body: body.into(),
        }
    }
}

/// Static files by URL path (`/explorer/index.html`).
pub type StaticFiles = Arc<std::collections::BTreeMap<String, StaticFile>>;

impl Default for ReplicaConfig {
    fn default() -> Self {
        ReplicaConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 4943)),
            state_dir: None,
            clock: Clock::Wall,
            max_request_bytes: 5 * 1024 * 1024,
            tick_interval: Duration::from_millis(20),
            snapshot_interval: Some(Duration::from_secs(30)),
            trace_debug_print: false,
            static_files: StaticFiles::default(),
        }
    }
}

/// Why a replica did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("state directory {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("restoring the snapshot: {0}")]
    Snapshot(#[from] snapshot::SnapshotError),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Attached(&'static str),
    #[error("starting the replica thread: {0}")]
    Thread(std::io::Error),
}

/// A running replica: its address, and a handle to stop it.
pub struct RunningReplica {
    addr: SocketAddr,
    root_key: Vec<u8>,
    tx: mpsc::Sender<host::Command>,
    thread: Option<JoinHandle<()>>,
    stop_accepting: watch::Sender<bool>,
    accept_task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for RunningReplica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningReplica")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Loads the key seed from `dir/key-seed` (creating it with fresh randomness if missing).
fn key_seed(dir: Option<&Path>) -> Result<[u8; 32], StartError> {
    use rand::RngCore;
    let fresh = || {
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        seed
    };
    let Some(dir) = dir else {
        return Ok(fresh());
    };
    let path = dir.join("key-seed");
    let io = |source| StartError::StateDir {
        path: path.clone(),
        source,
    };
    match std::fs::read(&path) {
        Ok(bytes) => bytes.try_into().map_err(|_| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the key seed is not 32 bytes",
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let seed = fresh();
            snapshot::write_atomically(&path, &seed).map_err(io)?;
            Ok(seed)
        }
        Err(e) => Err(io(e)),
    }
}

/// Starts a replica: restores the state directory's snapshot if there is one, binds the
/// listener, and serves until [`RunningReplica::shutdown`]. Must run inside a tokio runtime.
pub async fn start(config: ReplicaConfig) -> Result<RunningReplica, StartError> {
    if let Some(dir) = &config.state_dir {
        std::fs::create_dir_all(dir).map_err(|source| StartError::StateDir {
            path: dir.clone(),
            source,
        })?;
    }
    let keys = Keys::from_seed(&key_seed(config.state_dir.as_deref())?);
    let ic_config = IcConfig {
        trace_debug_print: config.trace_debug_print,
        ..IcConfig::default()
    };
    let mut ic = match config.state_dir.as_deref().map(snapshot::read) {
        Some(Ok(Some(snapshot))) => {
            let ic = snapshot::restore(snapshot, ic_config)?;
            info!(
                canisters = ic.canister_ids().len(),
                "restored the state snapshot"
            );
            ic
        }
        Some(Err(e)) => return Err(e.into()),
        Some(Ok(None)) | None => EmbeddedIc::with_config(ic_config),
    };
    ic.set_time(host::unix_nanos());
    ic.set_certificate_signer(keys.certificate_signer());
    let time = ic.time();
    serve(config, keys, host::Backend::Owned(Box::new(ic)), time).await
}

/// Starts a replica over an embedded IC that another thread owns and drives (the devnet's
/// embedded host): the same HTTP interface, certificates signed by a fresh key (its data
/// certificates too: the IC's certificate signer is replaced). Each batch of requests runs as
/// one job on the owner's thread. The owner keeps the state: a `state_dir` is refused, and
/// the clock must be the wall clock (the owner moves the time). Must run inside a tokio runtime.
pub async fn start_attached(
    config: ReplicaConfig,
    owner: impl IcOwner,
) -> Result<RunningReplica, StartError> {
    if config.state_dir.is_some() || config.clock != Clock::Wall {
        return Err(StartError::Attached(
            "an attached replica has no state directory and follows the wall clock",
        ));
    }
    let keys = Keys::from_seed(&key_seed(None)?);
    let signer = keys.certificate_signer();
    owner.run(Box::new(move |ic| ic.set_certificate_signer(signer)));
    serve(
        config,
        keys,
        host::Backend::Attached(Box::new(owner)),
        host::unix_nanos(),
    )
    .await
}

async fn serve(
    config: ReplicaConfig,
    keys: Keys,
    backend: host::Backend,
    time: u64,
) -> Result<RunningReplica, StartError> {
    let status = bytes_of(replica::status_cbor(&keys));
    let time = Arc::new(AtomicU64::new(time));

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: config.listen,
        source,
    })?;

    let (tx, rx) = mpsc::channel();
    let host = host::Host {
        backend,
        parts: Some(replica::ReplicaParts::new(keys.clone())),
        clock: config.clock,
        tick: config.tick_interval,
        time: time.clone(),
        state_dir: config.state_dir.clone(),
        snapshot_every: config.snapshot_interval,
    };
    let thread = std::thread::Builder::new()
        .name("emc-replica".into())
        .spawn(move || host.run(rx))
        .map_err(StartError::Thread)?;

    let shared = Arc::new(server::Shared {
        tx: tx.clone(),
        time,
        clock: config.clock,
        status,
        max_body_bytes: config.max_request_bytes,
        static_files: config.static_files.clone(),
    });
    let (stop_accepting, stopped) = watch::channel(false);
    let handler = move |req| server::handle(req, shared.clone());
    let accept_task = tokio::spawn(emc_http::serve(
        listener,
        handler,
        stopped,
        emc_http::Options::named("replica"),
    ));
    info!(%addr, subnet = %keys.subnet_id(), clock = ?config.clock, "replica listening");
    Ok(RunningReplica {
        addr,
        root_key: keys.root_key_der().to_vec(),
        tx,
        thread: Some(thread),
        stop_accepting,
        accept_task: Some(accept_task),
    })
}

fn bytes_of(v: Vec<u8>) -> hyper::body::Bytes {
    hyper::body::Bytes::from(v)
}

impl RunningReplica {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, for agents.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The root key (DER) that certificates verify against.
    pub fn root_key(&self) -> &[u8] {
        &self.root_key
    }

    /// Runs `f` on the replica thread (setup, inspection, the manual clock).
    pub async fn with_replica<T: Send + 'static>(
        &self,
        f: impl for<'a> FnOnce(&mut ReplicaRef<'a>) -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(host::Command::Run(Box::new(move |r| {
                let _ = tx.send(f(r));
            })))
            .ok()?;
        rx.await.ok()
    }

    /// Sets the IC's time (manual clock) and runs due timers.
    pub async fn set_time(&self, nanos: u64) -> Option<u64> {
        self.with_replica(move |r| {
            r.set_time(nanos);
            r.tick_if_due();
            r.time()
        })
        .await
    }

    /// Stops accepting connections, writes the final snapshot (with a state directory), and
    /// stops the replica thread.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        let _ = self.stop_accepting.send(true);
        if let Some(task) = self.accept_task.take() {
            let _ = task.await;
        }
        let _ = self.tx.send(host::Command::Shutdown);
        if let Some(thread) = self.thread.take() {
            let joined = tokio::task::spawn_blocking(move || thread.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                warn!("the replica thread panicked");
            }
        }
    }
}

impl Drop for RunningReplica {
    fn drop(&mut self) {
        let _ = self.stop_accepting.send(true);
        let _ = self.tx.send(host::Command::Shutdown);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_from_toml_with_defaults_and_unknown_keys_refused() {
        let c: ReplicaConfig = toml::from_str(
            "listen = \"127.0.0.1:8000\"\nclock = \"manual\"\nsnapshot_interval = \"10s\"\ntick_interval = \"5ms\"",
        )
        .unwrap();
        assert_eq!(c.listen.port(), 8000);
        assert_eq!(c.clock, Clock::Manual);
        assert_eq!(c.snapshot_interval, Some(Duration::from_secs(10)));
        assert_eq!(c.tick_interval, Duration::from_millis(5));
        assert_eq!(
            c.max_request_bytes,
            ReplicaConfig::default().max_request_bytes
        );
        assert!(toml::from_str::<ReplicaConfig>("prot = 1").is_err());
        assert!(toml::from_str::<ReplicaConfig>("clock = \"sundial\"").is_err());
    }
}
