//! The node's configuration file (TOML) and its key file, shared by `edge-node` and `router`.
//!
//! ```toml
//! role = "validator"            # validator | router | compute
//! key_file = "node.pem"         # the node key: ed25519 PKCS#8 PEM (the node id)
//! status_addr = "127.0.0.1:9400"
//! region = "eu-west"
//! hardware = "8x H100"
//!
//! [ic]
//! url = "http://127.0.0.1:4943"
//! identity_pem = "operator.pem" # the owner's identity (registers, stakes, receives rewards)
//! ledger = "..."
//! registry = "..."
//! epochs = "..."
//!
//! [net]                         # emc-net's NetConfig
//! listen_addr = "0.0.0.0:7400"
//!
//! [validator]                   # see ValidatorConfig
//! [compute]                     # see ComputeConfig
//! [compute.pool]                # a compute pool member: see PoolConfig
//! id = 0                        # the pool's offer id in the market
//! ```
//! Relative paths are relative to the config file's directory.

use candid::Principal;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::SigningKey;
use emc_edge_core::poc::WindowPolicy;
use emc_net::NetConfig;
use emc_poc::{
    TaskParams, DEFAULT_MAX_ROUNDS, DEFAULT_OPENING_TIMEOUT_NS, DEFAULT_WINDOW_NS, STANDARD,
    STANDARD_K,
};
use emc_types::Role;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a configuration or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Not valid TOML for this schema.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// The key file is not an ed25519 PKCS#8 PEM.
    #[error("key {path}: {message}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Where the canisters are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcConfig {
    /// Replica or boundary node URL (`http://127.0.0.1:4943` for `dfx start`).
    pub url: String,
    /// The operator's identity PEM (ed25519 or secp256k1, as dfx writes them).
    pub identity_pem: Option<PathBuf>,
    /// The $EMC ledger.
    pub ledger: Principal,
    /// The node registry.
    pub registry: Principal,
    /// The epochs canister.
    pub epochs: Principal,
    /// The compute market (routers admit calls against its escrow and settle receipts
    /// there); none: no market.
    #[serde(default)]
    pub market: Option<Principal>,
    /// The computing sockets canister (routers admit socket calls against it); none: socket
    /// calls are refused.
    #[serde(default)]
    pub sockets: Option<Principal>,
}

/// Validator settings (the `[validator]` table of the config file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidatorConfig {
    /// Target time between blocks (protocol: 2 s).
    #[serde(with = "humantime_serde")]
    pub block_interval: Duration,
    /// Round-0 timeout after the block interval; round r waits base * 2^r.
    #[serde(with = "humantime_serde")]
    pub round_timeout: Duration,
    /// Cap of a round's timeout.
    #[serde(with = "humantime_serde")]
    pub round_timeout_cap: Duration,
    /// Blocks per epoch (protocol: 43,200; the epochs canister must use the same).
    pub epoch_length: u64,
    /// Blocks between checkpoints (protocol: 450; the epochs canister must use the same).
    pub checkpoint_interval: u64,
    /// How often the registry view (nodes, stakes, validator sets) is refreshed.
    #[serde(with = "humantime_serde")]
    pub registry_refresh: Duration,
    /// How often every registered node is probed.
    #[serde(with = "humantime_serde")]
    pub probe_interval: Duration,
    /// A probe unanswered for this long counts as offline.
    #[serde(with = "humantime_serde")]
    pub probe_timeout: Duration,
    /// A validator at position i of the set submits a checkpoint i times this after it is
    /// ready (the first submits at once; the others only if it is still missing).
    #[serde(with = "humantime_serde")]
    pub submit_stagger: Duration,
    /// Write-ahead log file (none: in memory only, for tests and the devnet).
    pub wal: Option<PathBuf>,
    /// fdatasync every log record (off only for tests and benchmarks).
    pub wal_sync: bool,
    /// Records per uploaded epoch-data chunk (at most 2,000).
    pub chunk_records: usize,
    /// Mean time between proof-of-computing rounds (drawn from the committed blocks, so
    /// unpredictable; every validator starts a round at the same block). Zero: no challenges.
    #[serde(with = "humantime_serde")]
    pub poc_interval: Duration,
    /// A challenge's matrix size `n` and `max_rounds` (as `rounds`): the most rounds a node
    /// may complete in the window, which bounds the verifier's work (`k * max_rounds * n^2`)
    /// and E (protocol default: n = 4096, 4096 rounds; smaller on the devnet). E is normalized
    /// by the work, so sizes stay comparable.
    pub poc_task: TaskParams,
    /// Rows opened per challenge (at most n; protocol: 32).
    pub poc_rows: u32,
    /// The window of every challenge of a round: a commitment must arrive within it, and E is
    /// the work completed in it (default 15 s, the reference time).
    #[serde(with = "humantime_serde")]
    pub poc_window: Duration,
    /// Time a node has for the opening after its commitment arrived.
    #[serde(with = "humantime_serde")]
    pub poc_opening_timeout: Duration,
}

impl Default for ValidatorConfig {
    fn default() -> Self {
        ValidatorConfig {
            block_interval: Duration::from_secs(2),
            round_timeout: Duration::from_secs(1),
            round_timeout_cap: Duration::from_secs(60),
            epoch_length: 43_200,
            checkpoint_interval: 450,
            registry_refresh: Duration::from_secs(10),
            probe_interval: Duration::from_secs(2),
            probe_timeout: Duration::from_secs(2),
            submit_stagger: Duration::from_secs(5),
            wal: None,
            wal_sync: true,
            chunk_records: 2_000,
            poc_interval: Duration::from_secs(600),
            poc_task: TaskParams {
                n: STANDARD.n,
                rounds: DEFAULT_MAX_ROUNDS,
            },
            poc_rows: STANDARD_K,
            poc_window: Duration::from_nanos(DEFAULT_WINDOW_NS),
            poc_opening_timeout: Duration::from_nanos(DEFAULT_OPENING_TIMEOUT_NS),
        }
    }
}

impl ValidatorConfig {
    /// What every challenge asks: `poc_task` and `poc_window`.
    pub fn window_policy(&self) -> WindowPolicy {
        WindowPolicy {
            task: self.poc_task,
            window_ns: duration_ns(self.poc_window),
        }
    }

    /// Checks the proof-of-computing settings.
    pub fn check_poc(&self) -> Result<(), ConfigError> {
        self.poc_task
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("validator.poc_task: {e}")))?;
        if self.poc_rows == 0 || self.poc_rows > self.poc_task.n {
            return Err(ConfigError::Invalid(format!(
                "poc_rows = {} must be between 1 and n = {}",
                self.poc_rows, self.poc_task.n
            )));
        }
        if self.poc_window.is_zero() {
            return Err(ConfigError::Invalid("poc_window must be positive".into()));
        }
        Ok(())
    }
}

/// Which prover answers challenges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ProverKind {
    /// The CPU prover (threads, AVX2 when present).
    #[default]
    Cpu,
    /// A Vulkan device (GPU; lavapipe counts too).
    Vulkan,
}

impl ProverKind {
    /// `cpu` or `vulkan`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProverKind::Cpu => "cpu",
            ProverKind::Vulkan => "vulkan",
        }
    }
}

/// Compute-role settings (the `[compute]` table of the config file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComputeConfig {
    /// The local app this node serves (its REST endpoint), e.g. `http://127.0.0.1:8080`.
    pub app_url: Option<String>,
    /// Job slots this node offers.
    pub capacity: u32,
    /// How often the registry view is refreshed.
    #[serde(with = "humantime_serde")]
    pub registry_refresh: Duration,
    /// How often the load is reported to the routers.
    #[serde(with = "humantime_serde")]
    pub report_interval: Duration,
    /// The prover that answers proof-of-computing challenges: `cpu` or `vulkan`.
    pub prover: ProverKind,
    /// The Vulkan device: `auto` (discrete GPU first), an index, or a name substring.
    pub vulkan_device: String,
    /// Threads of the CPU prover (0: one per core).
    pub cpu_threads: usize,
    /// Largest matrix size `n` accepted in a challenge (the standard task's is 4096; memory is
    /// about three `n x n` u32 matrices while computing, one per result kept).
    pub max_task_n: u32,
    /// Results kept for their openings, computing ones included.
    pub max_sessions: usize,
    /// How long a result waits for its opening.
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// How long before the end of a challenge's window (on this node's clock, from the
    /// challenge's arrival) the commitment is sent: it covers the round trip to the validator
    /// and scheduling noise. The node also keeps its own estimate of the time to hash the
    /// result (`emc_poc::WindowStop`).
    #[serde(with = "humantime_serde")]
    pub poc_margin: Duration,
    /// The app's name in routers' dispatch (`llm` serves the OpenAI routes; other names are
    /// reached through `/{app}/...`).
    pub app: String,
    /// The app's models; empty: asked from the app's `GET /v1/models` at start (none found:
    /// the app is offered without a model, "").
    pub models: Vec<String>,
    /// The app's meter: `tokens`, `image_steps` or `seconds`.
    pub unit: UnitKind,
    /// Price of one unit, e8s.
    pub price_e8s: u64,
    /// Longest a call may take at the app, first byte to last.
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
    /// Largest request body accepted. Bodies over 1 MiB stream through to the app as they
    /// arrive (the node holds none of them whole).
    pub max_request_bytes: u64,
    /// Largest response body relayed; a longer one is cut (and not billed).
    pub max_response_bytes: u64,
    /// The compute pool this node is a member of (`[compute.pool]`); none: no pool.
    pub pool: Option<PoolConfig>,
}

/// A compute node's pool (`[compute.pool]`): its id, and its entry and members when the
/// market cannot be asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    /// The pool's id: its offer id in the market. With `[ic] market` set, the entry node and
    /// the active members are read from the market's `pool` query at every registry refresh
    /// (the two fields below are then ignored).
    pub id: u64,
    /// The entry node (hex key), when the market is not configured.
    pub entry: Option<String>,
    /// Every active member (hex keys, the entry included), when the market is not configured
    /// (their addresses then come from `[net] peers`).
    pub members: Vec<String>,
    /// How long the entry node waits for a member's co-signature of a receipt.
    #[serde(with = "humantime_serde")]
    pub cosign_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            id: 0,
            entry: None,
            members: Vec::new(),
            cosign_timeout: Duration::from_secs(2),
        }
    }
}

/// An app's meter, as the config file names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// Tokens (the app's OpenAI `usage`, else counted).
    #[default]
    Tokens,
    /// Image denoising steps (the request's `steps`).
    ImageSteps,
    /// Seconds of compute.
    Seconds,
}

impl UnitKind {
    /// The receipt's unit.
    pub fn meter(self) -> emc_types::MeterUnit {
        match self {
            UnitKind::Tokens => emc_types::MeterUnit::Tokens,
            UnitKind::ImageSteps => emc_types::MeterUnit::ImageSteps,
            UnitKind::Seconds => emc_types::MeterUnit::Seconds,
        }
    }
}

impl Default for ComputeConfig {
    fn default() -> Self {
        ComputeConfig {
            app_url: None,
            capacity: 4,
            registry_refresh: Duration::from_secs(10),
            report_interval: Duration::from_secs(5),
            prover: ProverKind::Cpu,
            vulkan_device: "auto".into(),
            cpu_threads: 0,
            max_task_n: STANDARD.n,
            max_sessions: 4,
            session_ttl: Duration::from_secs(60),
            poc_margin: Duration::from_millis(250),
            app: "llm".into(),
            models: Vec::new(),
            unit: UnitKind::Tokens,
            price_e8s: 1,
            call_timeout: Duration::from_secs(120),
            max_request_bytes: 64 << 20,
            max_response_bytes: 64 << 20,
            pool: None,
        }
    }
}

/// Router settings (the `[router]` table of the config file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouterConfig {
    /// How often the registry view (who may connect) is refreshed.
    #[serde(with = "humantime_serde")]
    pub registry_refresh: Duration,
    /// How often each compute node is pinged.
    #[serde(with = "humantime_serde")]
    pub ping_interval: Duration,
    /// A ping unanswered for this long marks the compute node unreachable.
    #[serde(with = "humantime_serde")]
    pub ping_timeout: Duration,
    /// The dApp-facing HTTP API (OpenAI routes, `/{app}/...`, receipts); none: off.
    pub http_addr: Option<SocketAddr>,
    /// The app that serves the OpenAI routes (`/v1/chat/completions`, `/v1/completions`).
    pub openai_app: String,
    /// Credit per account (hex ed25519 key), e8s: the stand-in for the market's escrow.
    pub allowances: std::collections::BTreeMap<String, u64>,
    /// Calls per second per account (0: no limit).
    pub rate_per_s: u32,
    /// Calls an account may make at once above its rate.
    pub rate_burst: u32,
    /// Largest request body accepted (413 beyond).
    pub max_request_bytes: u64,
    /// Bodies up to this are read whole before dispatch (a failed attempt is retried on
    /// another node). A larger one streams to the node as it arrives, and must declare its
    /// SHA-256 (`x-emc-body-sha256`) and length (`content-length`) up front, since the
    /// signature has to be checked before its first byte moves; it gets one node.
    pub buffered_request_bytes: u64,
    /// Largest response body relayed.
    pub max_response_bytes: u64,
    /// How long a node may take to its first byte (a call's attempt then fails: 504 when it
    /// was the last).
    #[serde(with = "humantime_serde")]
    pub first_byte_timeout: Duration,
    /// How long a call may take in all.
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
    /// How often countersigned receipts go to the validators.
    #[serde(with = "humantime_serde")]
    pub receipt_flush: Duration,
    /// Blocks per epoch (the validators' `epoch_length`): receipts are issued in the epoch of
    /// the validators' next block.
    pub epoch_length: u64,
    /// Where calls are paid from: `market` (the market canister's escrow, `ic.market`; the
    /// router also settles its receipts there) or `allowances` (the fixed credits above, for
    /// closed deployments and tests).
    pub funds: FundsSource,
    /// An active user's escrow is read again in the background after this long.
    #[serde(with = "humantime_serde")]
    pub escrow_refresh: Duration,
    /// A call from a user whose escrow was read longer ago than this waits for a read.
    #[serde(with = "humantime_serde")]
    pub escrow_max_age: Duration,
    /// How often the router asks validators for receipt proofs, checks which checkpoints are
    /// final and settles what is.
    #[serde(with = "humantime_serde")]
    pub settle_interval: Duration,
    /// A receipt whose proof was asked for and did not come is asked again after this long.
    #[serde(with = "humantime_serde")]
    pub proof_retry: Duration,
    /// A receipt never proved (no validator holds it in a certified period) is dropped after
    /// this long.
    #[serde(with = "humantime_serde")]
    pub settle_give_up: Duration,
    /// Receipts held for settlement at most (the oldest are dropped beyond).
    pub settle_cap: usize,
    /// Receipts per `settle_batch` call (the market's `max_batch` caps it).
    pub settle_batch: usize,
}

/// Where a router's users' calls are paid from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FundsSource {
    /// The market canister's escrow (`ic.market` must be set).
    #[default]
    Market,
    /// `router.allowances`.
    Allowances,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            registry_refresh: Duration::from_secs(10),
            ping_interval: Duration::from_secs(2),
            ping_timeout: Duration::from_secs(2),
            http_addr: None,
            openai_app: "llm".into(),
            allowances: std::collections::BTreeMap::new(),
            rate_per_s: 50,
            rate_burst: 100,
            max_request_bytes: 64 << 20,
            buffered_request_bytes: 1 << 20,
            max_response_bytes: 64 << 20,
            first_byte_timeout: Duration::from_secs(30),
            call_timeout: Duration::from_secs(300),
            receipt_flush: Duration::from_millis(500),
            epoch_length: 43_200,
            funds: FundsSource::Market,
            escrow_refresh: Duration::from_secs(2),
            escrow_max_age: Duration::from_secs(30),
            settle_interval: Duration::from_secs(5),
            proof_retry: Duration::from_secs(30),
            settle_give_up: Duration::from_secs(72 * 3600),
            settle_cap: 200_000,
            settle_batch: 100,
        }
    }
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The role this node runs: `validator`, `router` or `compute`.
    #[serde(with = "emc_types::role_name")]
    pub role: Role,
    /// The node key (ed25519 PKCS#8 PEM).
    pub key_file: PathBuf,
    /// Status and metrics endpoint (none: off).
    #[serde(default)]
    pub status_addr: Option<SocketAddr>,
    /// Region, registered with the node.
    #[serde(default = "default_region")]
    pub region: String,
    /// Hardware description, registered with the node.
    #[serde(default)]
    pub hardware: String,
    /// The address other nodes dial (registered); defaults to the listen address.
    #[serde(default)]
    pub public_addr: Option<SocketAddr>,
    /// The canisters.
    pub ic: IcConfig,
    /// Transport.
    #[serde(default)]
    pub net: NetConfig,
    /// Validator role.
    #[serde(default)]
    pub validator: ValidatorConfig,
    /// Compute role.
    #[serde(default)]
    pub compute: ComputeConfig,
    /// Router role.
    #[serde(default)]
    pub router: RouterConfig,
}

fn default_region() -> String {
    "unknown".into()
}

impl NodeConfig {
    /// Reads and checks a config file; relative paths become relative to its directory.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg: NodeConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let rebase = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        rebase(&mut cfg.key_file);
        if let Some(p) = cfg.ic.identity_pem.as_mut() {
            rebase(p);
        }
        if let Some(p) = cfg.validator.wal.as_mut() {
            rebase(p);
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values against each other.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.net
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("net: {e}")))?;
        let v = &self.validator;
        if v.epoch_length == 0
            || v.checkpoint_interval == 0
            || v.epoch_length % v.checkpoint_interval != 0
        {
            return Err(ConfigError::Invalid(
                "validator.checkpoint_interval must divide validator.epoch_length".into(),
            ));
        }
        if v.chunk_records == 0 || v.chunk_records > 2_000 {
            return Err(ConfigError::Invalid(
                "validator.chunk_records must be 1..=2000".into(),
            ));
        }
        v.check_poc()?;
        if self.region.is_empty() || self.region.len() > 64 {
            return Err(ConfigError::Invalid("region must be 1 to 64 bytes".into()));
        }
        Ok(())
    }

    /// The address to register (public address, else the listen address).
    pub fn advertised_addr(&self) -> SocketAddr {
        self.public_addr.unwrap_or(self.net.listen_addr)
    }
}

/// Writes a new random node key as PKCS#8 PEM (mode 0600 on Unix); refuses to overwrite.
pub fn generate_key(path: &Path) -> Result<SigningKey, ConfigError> {
    let key_err = |message: String| ConfigError::Key {
        path: path.to_path_buf(),
        message,
    };
    if path.exists() {
        return Err(key_err(
            "exists already (refusing to overwrite a node key)".into(),
        ));
    }
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    let key = SigningKey::from_bytes(&seed);
    let pem = key
        .to_pkcs8_pem(Default::default())
        .map_err(|e| key_err(e.to_string()))?;
    write_private(path, pem.as_bytes())?;
    Ok(key)
}

/// Reads a node key.
pub fn load_key(path: &Path) -> Result<SigningKey, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    SigningKey::from_pkcs8_pem(&text).map_err(|e| ConfigError::Key {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ConfigError> {
    let io = |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io)?;
    std::io::Write::write_all(&mut f, bytes).map_err(io)
}

/// A duration in ns, saturating.
pub fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_config_and_key_load_back() {
        let dir = std::env::temp_dir().join(format!("emc-cfg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let key = generate_key(&dir.join("node.pem")).unwrap();
        assert!(
            generate_key(&dir.join("node.pem")).is_err(),
            "never overwrites"
        );
        assert_eq!(
            load_key(&dir.join("node.pem")).unwrap().to_bytes(),
            key.to_bytes()
        );
        let text = r#"
role = "validator"
key_file = "node.pem"
[ic]
url = "http://127.0.0.1:4943"
ledger = "aaaaa-aa"
registry = "aaaaa-aa"
epochs = "aaaaa-aa"
[validator]
block_interval = "500ms"
epoch_length = 120
checkpoint_interval = 30
"#;
        std::fs::write(dir.join("node.toml"), text).unwrap();
        let cfg = NodeConfig::load(&dir.join("node.toml")).unwrap();
        assert_eq!(cfg.key_file, dir.join("node.pem"));
        assert_eq!(
            cfg.validator.block_interval,
            std::time::Duration::from_millis(500)
        );
        std::fs::write(dir.join("bad.toml"), text.replace("= 30", "= 7")).unwrap();
        assert!(matches!(
            NodeConfig::load(&dir.join("bad.toml")),
            Err(ConfigError::Invalid(_))
        ));
        std::fs::write(dir.join("typo.toml"), text.replace("role =", "rol =")).unwrap();
        assert!(matches!(
            NodeConfig::load(&dir.join("typo.toml")),
            Err(ConfigError::Parse { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_config_round_trips_through_toml_and_poc_settings_are_checked() {
        let cfg = ValidatorConfig::default();
        let text = toml::to_string_pretty(&cfg).unwrap();
        assert_eq!(toml::from_str::<ValidatorConfig>(&text).unwrap(), cfg);
        let c: ValidatorConfig = toml::from_str(
            "poc_interval = \"10s\"\npoc_task = { n = 256, rounds = 8 }\npoc_rows = 16",
        )
        .unwrap();
        assert_eq!(c.poc_task, TaskParams { n: 256, rounds: 8 });
        assert!(c.check_poc().is_ok());
        let bad_rows = ValidatorConfig {
            poc_rows: 257,
            ..c.clone()
        };
        assert!(matches!(bad_rows.check_poc(), Err(ConfigError::Invalid(_))));
        let bad_task = ValidatorConfig {
            poc_task: TaskParams { n: 100, rounds: 8 },
            ..c
        };
        assert!(matches!(bad_task.check_poc(), Err(ConfigError::Invalid(_))));
        let no_window = ValidatorConfig {
            poc_window: Duration::ZERO,
            ..ValidatorConfig::default()
        };
        assert!(matches!(
            no_window.check_poc(),
            Err(ConfigError::Invalid(_))
        ));
        // The defaults: n = 4096, at most 4096 rounds, a 15 s window for every challenge.
        assert!(cfg.check_poc().is_ok());
        let w = cfg.window_policy();
        assert_eq!(
            w.task,
            TaskParams {
                n: 4096,
                rounds: 4096
            }
        );
        assert_eq!(w.window_ns, 15_000_000_000);
        let c: ValidatorConfig =
            toml::from_str("poc_window = \"2s\"\npoc_task = { n = 256, rounds = 512 }").unwrap();
        assert_eq!(c.window_policy().window_ns, 2_000_000_000);
        // The former deadline settings are refused by name.
        assert!(toml::from_str::<ValidatorConfig>("poc_deadline = \"60s\"").is_err());
    }

    #[test]
    fn the_config_table_parses() {
        let c: ComputeConfig = toml::from_str(
            "prover = \"vulkan\"\nvulkan_device = \"1\"\nmax_sessions = 3\nsession_ttl = \"30s\"",
        )
        .unwrap();
        assert_eq!(c.prover, ProverKind::Vulkan);
        assert_eq!(c.vulkan_device, "1");
        assert_eq!(c.max_sessions, 3);
        assert_eq!(c.session_ttl, Duration::from_secs(30));
        assert!(toml::from_str::<ComputeConfig>("prover = \"tpu\"").is_err());
        // Issue #16: the pool table (its id alone when the market is asked).
        assert_eq!(c.pool, None);
        let c: ComputeConfig =
            toml::from_str("[pool]\nid = 3\ncosign_timeout = \"500ms\"\nmembers = [\"ab\"]")
                .unwrap();
        let p = c.pool.unwrap();
        assert_eq!(
            (p.id, p.entry, p.members),
            (3, None, vec!["ab".to_string()])
        );
        assert_eq!(p.cosign_timeout, Duration::from_millis(500));
        assert!(toml::from_str::<ComputeConfig>("[pool]\nidd = 3").is_err());
    }
}
