//! [`RegistryApi`]: the node registry's calls the edge node and the devnet make.

use crate::{IcClient, IcClientExt, IcError};
use candid::Principal;
use emc_registry::{
    Config, EpochInfo, EpochNode, EpochNodesArgs, EpochNodesPage, Node, RegisterArgs,
    RegistryError, Role, StakeArgs, StakeInfo, Stats, ValidatorSetSnapshot,
};
use emc_types::NodeId;
use serde_bytes::ByteBuf;
use std::sync::Arc;

/// Nodes per `nodes_by_role` page (the registry's maximum).
const PAGE: u32 = emc_registry::registry::MAX_PAGE as u32;

/// Typed calls to the registry canister (`candid/registry.did`).
#[derive(Clone)]
pub struct RegistryApi {
    client: Arc<dyn IcClient>,
    canister: Principal,
}

impl std::fmt::Debug for RegistryApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryApi")
            .field("canister", &self.canister.to_text())
            .field("caller", &self.client.principal().to_text())
            .finish()
    }
}

impl RegistryApi {
    /// The registry `canister`, called through `client`.
    pub fn new(client: Arc<dyn IcClient>, canister: Principal) -> Self {
        RegistryApi { client, canister }
    }

    /// The registry's canister id.
    pub fn canister_id(&self) -> Principal {
        self.canister
    }

    /// The client calls go through.
    pub fn client(&self) -> &Arc<dyn IcClient> {
        &self.client
    }

    /// `registration_nonce` (update): a one-time nonce for the caller, to be signed with
    /// [`emc_registry::rules::registration_message`]. A nonce that is not 32 bytes is a
    /// [`IcError::Decode`].
    pub async fn registration_nonce(&self) -> Result<Result<[u8; 32], RegistryError>, IcError> {
        let r: Result<ByteBuf, RegistryError> = self
            .client
            .update_candid(self.canister, "registration_nonce", ())
            .await?;
        match r {
            Ok(nonce) => match <[u8; 32]>::try_from(nonce.as_slice()) {
                Ok(n) => Ok(Ok(n)),
                Err(_) => Err(IcError::Decode(format!(
                    "registration_nonce returned {} bytes, not 32",
                    nonce.len()
                ))),
            },
            Err(e) => Ok(Err(e)),
        }
    }

    /// `register` (update): registers a node owned by the caller.
    pub async fn register(
        &self,
        args: RegisterArgs,
    ) -> Result<Result<Node, RegistryError>, IcError> {
        self.client
            .update_candid(self.canister, "register", (args,))
            .await
    }

    /// `stake` (update): pulls the approved stake into the node's subaccount.
    pub async fn stake(
        &self,
        args: StakeArgs,
    ) -> Result<Result<StakeInfo, RegistryError>, IcError> {
        self.client
            .update_candid(self.canister, "stake", (args,))
            .await
    }

    /// `get_node` (query).
    pub async fn get_node(&self, id: NodeId) -> Result<Option<Node>, IcError> {
        self.client
            .query_candid(self.canister, "get_node", (id,))
            .await
    }

    /// `node_stake` (query).
    pub async fn node_stake(&self, id: NodeId) -> Result<Option<StakeInfo>, IcError> {
        self.client
            .query_candid(self.canister, "node_stake", (id,))
            .await
    }

    /// One `nodes_by_role` page (query): up to `limit` nodes (the registry caps it at 100)
    /// after `start_after`, by node id.
    pub async fn nodes_by_role_page(
        &self,
        role: Role,
        start_after: Option<NodeId>,
        limit: u32,
    ) -> Result<Vec<Node>, IcError> {
        self.client
            .query_candid(self.canister, "nodes_by_role", (role, start_after, limit))
            .await
    }

    /// Every node of `role`, collected page by page (several queries: a registration between
    /// two pages may be missed or not, as with any paging).
    pub async fn nodes_by_role(&self, role: Role) -> Result<Vec<Node>, IcError> {
        let mut all: Vec<Node> = Vec::new();
        let mut after: Option<NodeId> = None;
        loop {
            let page = self.nodes_by_role_page(role, after, PAGE).await?;
            let Some(last) = page.last().map(|n| n.id) else {
                return Ok(all);
            };
            if after.is_some_and(|a| last.0 <= a.0) {
                return Err(IcError::Decode(
                    "nodes_by_role: a page did not advance past the previous one".into(),
                ));
            }
            after = Some(last);
            all.extend(page);
        }
    }

    /// `validator_set` (query): the set fixed for `epoch`, if its snapshot is taken.
    pub async fn validator_set(&self, epoch: u64) -> Result<Option<ValidatorSetSnapshot>, IcError> {
        self.client
            .query_candid(self.canister, "validator_set", (epoch,))
            .await
    }

    /// One `epoch_nodes` page (query): up to `limit` nodes (0 or above 2,000: 2,000) of
    /// `epoch`'s node snapshot after `start_after`, by node id; `None` when the snapshot was
    /// never taken or has been pruned.
    pub async fn epoch_nodes_page(
        &self,
        epoch: u64,
        start_after: Option<NodeId>,
        limit: u32,
    ) -> Result<Option<EpochNodesPage>, IcError> {
        let args = EpochNodesArgs {
            epoch,
            start_after,
            limit,
        };
        self.client
            .query_candid(self.canister, "epoch_nodes", (args,))
            .await
    }

    /// The whole node snapshot of `epoch` (every node that was an active member of its role
    /// when the epoch's validator set was taken, by node id), page by page; `None` when the
    /// snapshot was never taken or has been pruned. The snapshot never changes, so the pages
    /// agree with each other. A reply that does not advance, disagrees with the previous
    /// pages' total, or would need more pages than the total allows is an [`IcError::Decode`].
    pub async fn epoch_nodes(&self, epoch: u64) -> Result<Option<Vec<EpochNode>>, IcError> {
        let page_size = emc_registry::registry::MAX_EPOCH_NODES_PAGE;
        let Some(first) = self.epoch_nodes_page(epoch, None, page_size).await? else {
            return Ok(None);
        };
        let total = first.total;
        // Pages needed for `total` nodes, plus one: the bound of the loop.
        let max_pages = total / u64::from(page_size) + 2;
        let mut all: Vec<EpochNode> =
            Vec::with_capacity(usize::try_from(total).unwrap_or(0).min(1 << 20));
        let mut page = first;
        for _ in 0..max_pages {
            if page.epoch != epoch || page.total != total {
                return Err(IcError::Decode(format!(
                    "epoch_nodes: a page of epoch {} with total {} in epoch {epoch}'s snapshot of {total}",
                    page.epoch, page.total
                )));
            }
            for n in page.nodes {
                if all.last().is_some_and(|l: &EpochNode| n.id <= l.id) {
                    return Err(IcError::Decode(
                        "epoch_nodes: nodes out of order or repeated across pages".into(),
                    ));
                }
                all.push(n);
            }
            if all.len() as u64 > total {
                return Err(IcError::Decode(format!(
                    "epoch_nodes: more than the {total} nodes the snapshot holds"
                )));
            }
            let Some(next) = page.next else {
                if all.len() as u64 != total {
                    return Err(IcError::Decode(format!(
                        "epoch_nodes: {} nodes read of a snapshot of {total}",
                        all.len()
                    )));
                }
                return Ok(Some(all));
            };
            page = match self.epoch_nodes_page(epoch, Some(next), page_size).await? {
                Some(p) => p,
                // Pruned between two pages (only for a snapshot at the edge of the kept window).
                None => return Ok(None),
            };
        }
        Err(IcError::Decode(format!(
            "epoch_nodes: more than {max_pages} pages for {total} nodes"
        )))
    }

    /// `current_epoch` (query).
    pub async fn current_epoch(&self) -> Result<EpochInfo, IcError> {
        self.client
            .query_candid(self.canister, "current_epoch", ())
            .await
    }

    /// `e_multiplier` (query): the node's multiplier of E (fixed point: the term's for a staked
    /// compute node, x1 otherwise; `None` for an unknown node).
    pub async fn e_multiplier(&self, id: NodeId) -> Result<Option<u64>, IcError> {
        self.client
            .query_candid(self.canister, "e_multiplier", (id,))
            .await
    }

    /// `get_config` (query): ledger, governance, treasury, genesis time, parameters.
    pub async fn get_config(&self) -> Result<Config, IcError> {
        self.client
            .query_candid(self.canister, "get_config", ())
            .await
    }

    /// `stats` (query).
    pub async fn stats(&self) -> Result<Stats, IcError> {
        self.client.query_candid(self.canister, "stats", ()).await
    }
}
