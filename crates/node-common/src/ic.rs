//! What an edge node reads from the canisters, typed, over `emc-ic-client` (a replica through
//! ic-agent, or the embedded IC in the devnet and the tests). Every read is one candid call
//! per page through the typed wrappers; errors are [`IcError`]s.

use emc_edge_core::app::RegistryNode;
use emc_edge_core::view::{dial_changes, ChainView};
use emc_ic_client::{EpochsApi, IcError, LedgerApi, RegistryApi};
use emc_types::{NodeId, Role, ValidatorSet};
use std::collections::BTreeMap;
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
    /// The compute market, when there is one (calls through `epochs.client()`).
    pub market: Option<candid::Principal>,
    /// The computing sockets canister, when there is one.
    pub sockets: Option<candid::Principal>,
}

impl std::fmt::Debug for IcHandles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IcHandles")
            .field("registry", &self.registry.canister_id())
            .field("epochs", &self.epochs.canister_id())
            .finish_non_exhaustive()
    }
}

impl IcHandles {
    /// The registry's genesis time (start of epoch 0), ns.
    pub async fn genesis_time(&self) -> Result<u64, IcError> {
        Ok(self.registry.get_config().await?.genesis_time)
    }

    /// The registry's validator set of `epoch`, once taken.
    pub async fn validator_set(&self, epoch: u64) -> Result<Option<ValidatorSet>, IcError> {
        Ok(self.registry.validator_set(epoch).await?.map(|s| s.set))
    }

    /// The registry's snapshot of `epoch` (`None`: never taken, or pruned).
    pub async fn epoch_nodes(&self, epoch: u64) -> Result<Option<Vec<RegistryNode>>, IcError> {
        Ok(self
            .registry
            .epoch_nodes(epoch)
            .await?
            .map(|nodes| nodes.into_iter().map(RegistryNode::from).collect()))
    }

    /// The live registry view at committed `height`: live nodes (one paged read per role)
    /// and the validator sets of the epoch of the next height and the one after.
    pub async fn chain_view(&self, height: u64) -> Result<ChainView, IcError> {
        let mut nodes = Vec::new();
        for role in Role::ALL {
            nodes.extend(self.registry.nodes_by_role(role).await?);
        }
        let epoch = emc_types::epoch::epoch_of(height.saturating_add(1), self.epoch_length);
        let mut sets = Vec::new();
        for e in [epoch, epoch.saturating_add(1)] {
            if let Some(s) = self.validator_set(e).await? {
                sets.push(s);
            }
        }
        Ok(ChainView::from_registry(nodes, sets))
    }

    /// This node's registry entry.
    pub async fn node(&self, id: NodeId) -> Result<Option<emc_registry::Node>, IcError> {
        self.registry.get_node(id).await
    }
}

/// Who may connect, as the transport's authorizer takes it.
pub fn authorized(view: &ChainView) -> Vec<(NodeId, emc_net::Roles)> {
    view.authorized()
        .map(|(id, role)| (id, emc_net::Roles::from(role)))
        .collect()
}

/// Makes `net` keep connections to exactly the peers of `wanted`: dials new ones and peers
/// whose address changed, forgets those no longer wanted; `dialed` becomes `wanted`.
pub fn sync_dials(
    net: &emc_net::Network,
    dialed: &mut BTreeMap<NodeId, SocketAddr>,
    wanted: BTreeMap<NodeId, SocketAddr>,
) {
    let (add, remove) = dial_changes(dialed, &wanted);
    for (id, addr) in add {
        net.add_peer(id, addr);
    }
    for id in remove {
        net.remove_peer(&id);
    }
    *dialed = wanted;
}
