//! Where the SDK connects and as whom: a typed config (TOML file and/or flags) with defaults
//! for the local devnet.

use crate::SdkError;
use candid::Principal;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The canisters the SDK talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanisterIds {
    /// The $EMC ledger (ICRC-1/2).
    pub ledger: Principal,
    /// The node registry.
    pub registry: Principal,
    /// The epochs canister (checkpoints, rewards).
    pub epochs: Principal,
    /// The compute market.
    pub market: Principal,
    /// The computing sockets (ICRC-7/37 NFTs the market mints); `None`: no socket calls.
    /// Absent from a config file: the devnet's.
    #[serde(default = "devnet_sockets")]
    pub sockets: Option<Principal>,
}

fn devnet_sockets() -> Option<Principal> {
    Some(local_canister_id(4))
}

/// The id the IC (and the embedded IC behind the devnet and `emc-replica`) gives the `index`-th
/// canister created on a fresh replica.
fn local_canister_id(index: u64) -> Principal {
    let mut bytes = [0u8; 10];
    bytes[..8].copy_from_slice(&index.to_be_bytes());
    bytes[8] = 1;
    bytes[9] = 1;
    Principal::from_slice(&bytes)
}

impl CanisterIds {
    /// The ids on a local devnet: the devnet creates the ledger, the registry, the epochs
    /// canister and the market first, in that order, on a fresh replica, then the sockets
    /// canister (`emc_devnet::sockets`).
    pub fn local_devnet() -> Self {
        CanisterIds {
            ledger: local_canister_id(0),
            registry: local_canister_id(1),
            epochs: local_canister_id(2),
            market: local_canister_id(3),
            sockets: devnet_sockets(),
        }
    }
}

impl Default for CanisterIds {
    fn default() -> Self {
        Self::local_devnet()
    }
}

/// How to reach the IC and as whom (TOML keys are the field names).
///
/// ```
/// let cfg: emc_sdk::EmcConfig = toml::from_str(r#"
///     url = "http://127.0.0.1:4943"
///     identity = "/home/me/.config/dfx/identity/default/identity.pem"
///     [canisters]
///     ledger = "rwlgt-iiaaa-aaaaa-aaaaa-cai"
///     registry = "rrkah-fqaaa-aaaaa-aaaaq-cai"
///     epochs = "ryjl3-tyaaa-aaaaa-aaaba-cai"
///     market = "r7inp-6aaaa-aaaaa-aaabq-cai"
/// "#).unwrap();
/// assert_eq!(cfg.canisters, emc_sdk::CanisterIds::local_devnet());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmcConfig {
    /// The replica or boundary node (default: the local devnet, `http://127.0.0.1:4943`).
    pub url: String,
    /// A PEM key (ed25519 PKCS#8 or secp256k1 SEC1, as dfx writes them); `None`: anonymous
    /// (queries only).
    pub identity: Option<PathBuf>,
    /// The replica's root key, hex DER (`emc-replica` prints it); `None`: fetched from a
    /// local replica, the IC's own key on mainnet.
    pub root_key: Option<String>,
    /// Longest time one call may take, in seconds.
    pub timeout_secs: u64,
    /// The canisters.
    pub canisters: CanisterIds,
}

impl Default for EmcConfig {
    fn default() -> Self {
        EmcConfig {
            url: "http://127.0.0.1:4943".into(),
            identity: None,
            root_key: None,
            timeout_secs: 60,
            canisters: CanisterIds::default(),
        }
    }
}

impl EmcConfig {
    /// Reads a TOML config file (absent keys take their defaults).
    pub fn from_file(path: &Path) -> Result<Self, SdkError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SdkError::Config(format!("reading {}: {e}", path.display())))?;
        toml::from_str(&text)
            .map_err(|e| SdkError::Config(format!("config {}: {e}", path.display())))
    }

    /// The call timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_ids_are_the_ic_ones() {
        let ids = CanisterIds::local_devnet();
        assert_eq!(ids.ledger.to_text(), "rwlgt-iiaaa-aaaaa-aaaaa-cai");
        assert_eq!(ids.registry.to_text(), "rrkah-fqaaa-aaaaa-aaaaq-cai");
        assert_eq!(ids.epochs.to_text(), "ryjl3-tyaaa-aaaaa-aaaba-cai");
        assert_eq!(ids.market.to_text(), "r7inp-6aaaa-aaaaa-aaabq-cai");
        assert_eq!(
            ids.sockets.map(|p| p.to_text()).as_deref(),
            Some("rkp4c-7iaaa-aaaaa-aaaca-cai")
        );
    }

    #[test]
    fn config_defaults_and_unknown_keys() {
        let cfg: EmcConfig = toml::from_str("url = \"http://localhost:8000\"").unwrap();
        assert_eq!(cfg.url, "http://localhost:8000");
        assert_eq!(cfg.canisters, CanisterIds::local_devnet());
        assert_eq!(cfg.timeout_secs, 60);
        assert!(toml::from_str::<EmcConfig>("urll = \"x\"").is_err());
        assert!(toml::from_str::<EmcConfig>("[canisters]\nledger = \"not a principal\"").is_err());
        let ids = CanisterIds::local_devnet();
        let cfg: EmcConfig = toml::from_str(&format!(
            "[canisters]\nledger = \"{}\"\nregistry = \"{}\"\nepochs = \"{}\"\nmarket = \"{}\"\nsockets = \"aaaaa-aa\"",
            ids.ledger, ids.registry, ids.epochs, ids.market
        ))
        .unwrap();
        assert_eq!(
            cfg.canisters.sockets,
            Some(Principal::management_canister())
        );
    }
}
