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
//! ```
//! Relative paths are relative to the config file's directory.

use crate::compute::ComputeConfig;
use crate::validator::ValidatorConfig;
use candid::Principal;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::SigningKey;
use emc_net::NetConfig;
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

/// The node's roles, as configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// Runs consensus and signs checkpoints.
    Validator,
    /// Relays and routes.
    Router,
    /// Runs workloads and answers proof-of-computing challenges.
    Compute,
}

impl NodeRole {
    /// The registry's role.
    pub fn registry_role(self) -> emc_registry::Role {
        match self {
            NodeRole::Validator => emc_registry::Role::Validator,
            NodeRole::Router => emc_registry::Role::Router,
            NodeRole::Compute => emc_registry::Role::Compute,
        }
    }

    /// The transport's role.
    pub fn net_role(self) -> emc_net::Role {
        match self {
            NodeRole::Validator => emc_net::Role::Validator,
            NodeRole::Router => emc_net::Role::Router,
            NodeRole::Compute => emc_net::Role::Compute,
        }
    }
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
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            registry_refresh: Duration::from_secs(10),
            ping_interval: Duration::from_secs(2),
            ping_timeout: Duration::from_secs(2),
        }
    }
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The role this node runs.
    pub role: NodeRole,
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
}
