//! [`RegistryApi`]: the node registry's calls the edge node and the devnet make.

use crate::{IcClient, IcClientExt, IcError};
use candid::Principal;
use emc_registry::{
    Config, EpochInfo, Node, RegisterArgs, RegistryError, Role, StakeArgs, StakeInfo, Stats,
    ValidatorSetSnapshot,
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
