//! Starting a node process: logs, the canister clients, the QUIC endpoint, the config file,
//! and the stop signal. Shared by `edge-node`, `router` and the devnet.

use crate::config::{ConfigError, IcConfig, NodeConfig};
use crate::ic::IcHandles;
use ed25519_dalek::SigningKey;
use emc_ic_client::{
    AgentClient, AgentIdentity, EpochsApi, IcClient, IcError, LedgerApi, RegistryApi,
};
use emc_net::{Event, Identity, Network, StaticAuthorizer};
use emc_types::Role;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tracing::Instrument as _;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The config or key file.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The replica (identity, URL, root key).
    #[error("IC: {0}")]
    Ic(#[from] IcError),
    /// The QUIC endpoint.
    #[error("network: {0}")]
    Net(String),
    /// The config file is for another role than this binary runs.
    #[error("{path}: role is {found}, expected {expected}")]
    WrongRole {
        /// The file.
        path: String,
        /// Its role.
        found: Role,
        /// The binary's role.
        expected: Role,
    },
}

/// The canister clients for `ic` with the operator's identity (the root key is fetched for a
/// local replica).
pub async fn connect_ic(ic: &IcConfig, epoch_length: u64) -> Result<IcHandles, BootstrapError> {
    let identity = match &ic.identity_pem {
        Some(p) => AgentIdentity::from_pem_file(p)?,
        None => AgentIdentity::anonymous(),
    };
    let agent = AgentClient::new(&ic.url, identity)?;
    if agent.is_local() {
        agent.fetch_root_key().await?;
    }
    let client: Arc<dyn IcClient> = Arc::new(agent);
    let mut h = handles(client, ic.ledger, ic.registry, ic.epochs, epoch_length);
    h.market = ic.market;
    h.sockets = ic.sockets;
    Ok(h)
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
        market: None,
        sockets: None,
    }
}

/// A bound QUIC endpoint: the network, its events, and the authorizer the role's task keeps
/// current from the registry.
pub type Endpoint = (Network, mpsc::Receiver<Event>, Arc<StaticAuthorizer>);

/// Binds a QUIC endpoint for `key` in `role` on `net.listen_addr`, with an empty authorizer.
pub fn bind_endpoint(
    net: emc_net::NetConfig,
    key: &SigningKey,
    role: Role,
) -> Result<Endpoint, BootstrapError> {
    let identity =
        Identity::from_signing_key(key.clone()).map_err(|e| BootstrapError::Net(e.to_string()))?;
    let authorizer = Arc::new(StaticAuthorizer::new());
    let (net, events) = Network::bind(net, identity, authorizer.clone(), role)
        .map_err(|e| BootstrapError::Net(e.to_string()))?;
    Ok((net, events, authorizer))
}

/// Binds the endpoint a config file describes.
pub fn bind_network(cfg: &NodeConfig, key: &SigningKey) -> Result<Endpoint, BootstrapError> {
    bind_endpoint(cfg.net.clone(), key, cfg.role)
}

/// Loads a config file whose role must be `role`.
pub fn load_config_for(path: &Path, role: Role) -> Result<NodeConfig, BootstrapError> {
    let cfg = NodeConfig::load(path)?;
    if cfg.role != role {
        return Err(BootstrapError::WrongRole {
            path: path.display().to_string(),
            found: cfg.role,
            expected: role,
        });
    }
    Ok(cfg)
}

/// Turns true on Ctrl-C or SIGTERM.
pub fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(
        async move {
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
        }
        .in_current_span(),
    );
    rx
}
