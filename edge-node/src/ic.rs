//! What the edge node reads from and writes to the canisters, over `emc-ic-client` (a replica
//! through ic-agent, or the embedded IC in the devnet and the tests).

use crate::app::RegistryNode;
use emc_ic_client::{EpochsApi, IcClientExt, LedgerApi, RegistryApi};
use emc_registry::{NodeState, Role as RegRole};
use emc_types::{NodeId, ValidatorSet};
use std::net::SocketAddr;

/// The canisters a node talks to.
#[derive(Clone)]
pub struct IcHandles {
    /// The $EMC ledger.
    pub ledger: LedgerApi,
    /// The node registry.
    pub registry: RegistryApi,
    /// Checkpoints and rewards.
    pub epochs: EpochsApi,
    /// Blocks per epoch (the height-to-epoch map of the network).
    pub epoch_length: u64,
}

impl std::fmt::Debug for IcHandles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IcHandles")
            .field("registry", &self.registry.canister_id())
            .field("epochs", &self.epochs.canister_id())
            .finish_non_exhaustive()
    }
}

/// The registry as a validator needs it: live nodes with their addresses, and the validator
/// sets of the current and the next epoch (when taken).
#[derive(Clone, Debug, Default)]
pub struct ChainView {
    /// Live, unsuspended nodes, and the socket address each registered (if it parses).
    pub nodes: Vec<(RegistryNode, Option<SocketAddr>)>,
    /// Validator sets known for the epochs around the height.
    pub sets: Vec<ValidatorSet>,
}

/// The transport's role of a node role.
pub fn net_role(r: emc_epochs::Role) -> emc_net::Role {
    match r {
        emc_epochs::Role::Validator => emc_net::Role::Validator,
        emc_epochs::Role::Router => emc_net::Role::Router,
        emc_epochs::Role::Compute => emc_net::Role::Compute,
    }
}

impl ChainView {
    /// The addresses of the live nodes `keep` selects (nodes without a parseable address are
    /// left out).
    pub fn addresses(
        &self,
        mut keep: impl FnMut(&RegistryNode) -> bool,
    ) -> std::collections::BTreeMap<NodeId, SocketAddr> {
        self.nodes
            .iter()
            .filter(|(n, _)| keep(n))
            .filter_map(|(n, addr)| addr.map(|a| (n.id, a)))
            .collect()
    }

    /// Who may connect: every live node with its role.
    pub fn authorized(&self) -> Vec<(NodeId, emc_net::Roles)> {
        self.nodes
            .iter()
            .map(|(n, _)| (n.id, emc_net::Roles::from(net_role(n.role))))
            .collect()
    }
}

/// Makes `net` keep connections to exactly the peers of `wanted`: dials new ones and peers
/// whose address changed, forgets those no longer wanted; `dialed` becomes `wanted`.
pub fn sync_dials(
    net: &emc_net::Network,
    dialed: &mut std::collections::BTreeMap<NodeId, SocketAddr>,
    wanted: std::collections::BTreeMap<NodeId, SocketAddr>,
) {
    for (id, addr) in &wanted {
        if dialed.get(id) != Some(addr) {
            net.add_peer(*id, *addr);
        }
    }
    for id in dialed.keys() {
        if !wanted.contains_key(id) {
            net.remove_peer(id);
        }
    }
    *dialed = wanted;
}

fn role(r: RegRole) -> emc_epochs::Role {
    match r {
        RegRole::Validator => emc_epochs::Role::Validator,
        RegRole::Router => emc_epochs::Role::Router,
        RegRole::Compute => emc_epochs::Role::Compute,
    }
}

impl IcHandles {
    /// The registry's genesis time (start of epoch 0), ns.
    pub async fn genesis_time(&self) -> Result<u64, String> {
        let c: emc_registry::Config = self
            .registry
            .client()
            .query_candid(self.registry.canister_id(), "get_config", ())
            .await
            .map_err(|e| e.to_string())?;
        Ok(c.genesis_time)
    }

    /// The registry's validator set of `epoch`, once taken.
    pub async fn validator_set(&self, epoch: u64) -> Result<Option<ValidatorSet>, String> {
        Ok(self
            .registry
            .validator_set(epoch)
            .await
            .map_err(|e| e.to_string())?
            .map(|s| s.set))
    }

    /// Reads the registry view for a validator at `height`.
    pub async fn chain_view(&self, height: u64) -> Result<ChainView, String> {
        let mut nodes = Vec::new();
        for r in [RegRole::Validator, RegRole::Router, RegRole::Compute] {
            let list = self
                .registry
                .nodes_by_role(r)
                .await
                .map_err(|e| e.to_string())?;
            for n in list {
                if n.state != NodeState::Live || n.suspended {
                    continue;
                }
                let multiplier = if r == RegRole::Compute {
                    let m: Option<u64> = self
                        .registry
                        .client()
                        .query_candid(self.registry.canister_id(), "e_multiplier", (n.id,))
                        .await
                        .map_err(|e| e.to_string())?;
                    m.unwrap_or(emc_types::E_SCALE)
                } else {
                    0
                };
                let addr = n.network_address.parse::<SocketAddr>().ok();
                nodes.push((
                    RegistryNode {
                        id: n.id,
                        owner: n.owner,
                        role: role(n.role),
                        stake_e8s: n.stake_e8s.saturating_sub(n.penalty_due_e8s),
                        multiplier,
                    },
                    addr,
                ));
            }
        }
        let l = self.epoch_length.max(1);
        let epoch = height / l; // the epoch of the next height, height + 1
        let mut sets = Vec::new();
        for e in [epoch, epoch + 1] {
            if let Some(s) = self.validator_set(e).await? {
                sets.push(s);
            }
        }
        Ok(ChainView { nodes, sets })
    }

    /// This node's registry entry.
    pub async fn node(&self, id: NodeId) -> Result<Option<emc_registry::Node>, String> {
        self.registry.get_node(id).await.map_err(|e| e.to_string())
    }
}
