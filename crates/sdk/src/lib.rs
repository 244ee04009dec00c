//! # emc-sdk: one typed Rust API over EMC's canisters
//!
//! [`Emc`] is a handle built from a [`EmcConfig`] (replica URL, a PEM identity, the canister
//! ids; defaults for the local devnet) or from any [`IcClient`]. Its sub-APIs use the
//! canisters' own Rust types:
//!
//! - [`Emc::ledger`]: balances, transfers, approvals, allowances, metadata ([`Ledger`]);
//! - [`Emc::registry`]: node registration and staking, status, lookup by node id or owner
//!   ([`Registry`]);
//! - [`Emc::epochs`]: checkpoints, epoch summaries, rewards per node per epoch ([`Epochs`]);
//! - [`Emc::market`]: offers, escrow deposits and withdrawals, socket sales ([`Market`]);
//! - [`Emc::sockets`]: computing sockets, ICRC-7/37 NFTs: holdings, terms, transfers,
//!   approvals ([`Sockets`]).
//!
//! Pure helpers: [`amount`] (decimal EMC ↔ e8s), [`doctor`] (a node's health checks from
//! facts), [`gov`] (SNS generic-function payloads). Every call returns `Result<_, SdkError>`:
//! a canister's refusal stays typed ([`SdkError::Transfer`], [`SdkError::Market`], …),
//! [`SdkError::Ic`] means no usable reply (the replica is down, the call was rejected).
//!
//! ```no_run
//! # async fn demo() -> Result<(), emc_sdk::SdkError> {
//! use emc_sdk::{amount, Emc, EmcConfig};
//!
//! let config = EmcConfig {
//!     identity: Some("identity.pem".into()),
//!     ..EmcConfig::default() // the local devnet
//! };
//! let emc = Emc::connect(&config)?;
//! let mine = emc.ledger().my_balance().await?;
//! println!("{} EMC", amount::format_emc(mine));
//! let to = emc_sdk::parse_account("2vxsx-fae")?;
//! let block = emc.ledger().transfer(to, amount::parse_emc("1.5")?, None).await?;
//! # let _ = block; Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod amount;
pub mod compute;
mod config;
pub mod deploy;
pub mod doctor;
pub mod epochs;
mod error;
pub mod gov;
mod ledger;
pub mod market;
pub mod registry;
pub mod sockets;

pub use config::{CanisterIds, EmcConfig};
pub use epochs::Epochs;
pub use error::SdkError;
pub use ledger::{Allowance, Ledger, TokenMetadata};
pub use market::Market;
pub use registry::{NodeRegistration, Registry};
pub use sockets::Sockets;

pub use emc_ic_client::{AgentClient, AgentConfig, AgentIdentity, IcClient, IcError};
pub use emc_types::NodeId;
pub use icrc_ledger_types::icrc1::account::Account;

use candid::{Nat, Principal};
use std::str::FromStr;
use std::sync::Arc;

/// A connection to EMC's canisters as one identity. Cheap to clone.
#[derive(Clone)]
pub struct Emc {
    client: Arc<dyn IcClient>,
    canisters: CanisterIds,
}

impl std::fmt::Debug for Emc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emc")
            .field("principal", &self.client.principal().to_text())
            .field("canisters", &self.canisters)
            .finish()
    }
}

impl Emc {
    /// Connects over ic-agent as `config` says (no network traffic yet: the root key of a
    /// local replica is fetched on the first call).
    pub fn connect(config: &EmcConfig) -> Result<Emc, SdkError> {
        let client = Self::agent_client(config)?;
        Ok(Emc::from_client(Arc::new(client), config.canisters))
    }

    /// The ic-agent client `config` describes (what [`Emc::connect`] uses; [`deploy`] needs it
    /// for management calls).
    pub fn agent_client(config: &EmcConfig) -> Result<AgentClient, SdkError> {
        let identity = match &config.identity {
            Some(path) => AgentIdentity::from_pem_file(path)?,
            None => AgentIdentity::anonymous(),
        };
        let root_key = match &config.root_key {
            Some(h) => Some(
                hex::decode(h.trim())
                    .map_err(|e| SdkError::Config(format!("root_key is not hex: {e}")))?,
            ),
            None => None,
        };
        let agent = AgentConfig {
            root_key,
            timeout: config.timeout(),
            ..AgentConfig::new(config.url.clone(), identity)
        };
        Ok(AgentClient::with_config(agent)?)
    }

    /// A handle over any client (e.g. `emc_ic_client::EmbeddedClient` in tests).
    pub fn from_client(client: Arc<dyn IcClient>, canisters: CanisterIds) -> Emc {
        Emc { client, canisters }
    }

    /// The principal calls are made as.
    pub fn principal(&self) -> Principal {
        self.client.principal()
    }

    /// The canister ids.
    pub fn canisters(&self) -> CanisterIds {
        self.canisters
    }

    /// The client calls go through.
    pub fn client(&self) -> &Arc<dyn IcClient> {
        &self.client
    }

    /// The $EMC ledger.
    pub fn ledger(&self) -> Ledger {
        Ledger::new(self.client.clone(), self.canisters.ledger)
    }

    /// The node registry.
    pub fn registry(&self) -> Registry {
        Registry::new(self.clone())
    }

    /// The epochs canister.
    pub fn epochs(&self) -> Epochs {
        Epochs::new(self.client.clone(), self.canisters.epochs)
    }

    /// The compute market.
    pub fn market(&self) -> Market {
        Market::new(self.clone())
    }

    /// The computing sockets canister (calls fail with [`SdkError::Config`] when
    /// `canisters.sockets` is `None`).
    pub fn sockets(&self) -> Sockets {
        Sockets::new(self.clone())
    }
}

/// Parses an ICRC-1 account: a principal, or the textual form with a subaccount
/// (`<principal>-<checksum>.<hex subaccount>`).
///
/// ```
/// let a = emc_sdk::parse_account("2vxsx-fae").unwrap();
/// assert_eq!(a.owner, candid::Principal::anonymous());
/// assert!(emc_sdk::parse_account("not-an-account").is_err());
/// ```
pub fn parse_account(text: &str) -> Result<Account, SdkError> {
    Account::from_str(text.trim())
        .map_err(|e| SdkError::Input(format!("invalid account {text:?}: {e}")))
}

/// Parses a node id: its ed25519 public key, 64 hex digits.
///
/// ```
/// let id = emc_sdk::parse_node_id(&"ab".repeat(32)).unwrap();
/// assert_eq!(id.0, [0xab; 32]);
/// assert!(emc_sdk::parse_node_id("abcd").is_err());
/// ```
pub fn parse_node_id(text: &str) -> Result<NodeId, SdkError> {
    let bytes = hex::decode(text.trim())
        .map_err(|e| SdkError::Input(format!("invalid node id {text:?}: {e}")))?;
    let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
        SdkError::Input(format!(
            "invalid node id {text:?}: {} bytes, a node id is 32 (64 hex digits)",
            b.len()
        ))
    })?;
    Ok(NodeId(key))
}

/// A node id as 64 hex digits.
pub fn node_id_hex(id: &NodeId) -> String {
    hex::encode(id.0)
}

/// A ledger amount that must fit 64 bits of e8s.
pub(crate) fn nat_u64(n: &Nat, what: &str) -> Result<u64, SdkError> {
    u64::try_from(&n.0).map_err(|_| {
        SdkError::Ic(IcError::Decode(format!(
            "{what} {n} does not fit 64 bits of e8s"
        )))
    })
}
