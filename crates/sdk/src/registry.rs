//! [`Registry`]: node registration, staking, status and lookup.

use crate::{Emc, SdkError};
use candid::Principal;
use ed25519_dalek::{Signer, SigningKey};
use emc_ic_client::{IcClientExt, RegistryApi};
use emc_registry::rules::registration_message;
pub use emc_registry::{Config, EpochInfo, Node, NodeState, Role, StakeInfo, Stats, Term};
use emc_registry::{RegisterArgs, StakeArgs};
use emc_types::NodeId;
use icrc_ledger_types::icrc1::account::Account;
use serde_bytes::ByteBuf;

/// Nodes per `nodes_by_owner` page (the registry's maximum).
const PAGE: u32 = emc_registry::registry::MAX_PAGE as u32;

/// What a new node registers.
#[derive(Clone, Debug)]
pub struct NodeRegistration {
    /// Validator, router or compute.
    pub role: Role,
    /// Where peers reach it (`host:port`).
    pub network_address: String,
    /// Region label.
    pub region: String,
    /// Hardware description.
    pub hardware: String,
}

/// Typed calls to the node registry.
#[derive(Clone, Debug)]
pub struct Registry {
    emc: Emc,
    api: RegistryApi,
}

impl Registry {
    pub(crate) fn new(emc: Emc) -> Self {
        let api = RegistryApi::new(emc.client.clone(), emc.canisters.registry);
        Registry { emc, api }
    }

    /// The node, if registered.
    pub async fn node(&self, id: NodeId) -> Result<Option<Node>, SdkError> {
        Ok(self.api.get_node(id).await?)
    }

    /// The node, or [`SdkError::NotFound`].
    pub async fn require_node(&self, id: NodeId) -> Result<Node, SdkError> {
        self.node(id).await?.ok_or_else(|| {
            SdkError::NotFound(format!(
                "node {} is not registered",
                crate::node_id_hex(&id)
            ))
        })
    }

    /// The node's stake (amount, term, penalties, the account holding it).
    pub async fn stake_info(&self, id: NodeId) -> Result<Option<StakeInfo>, SdkError> {
        Ok(self.api.node_stake(id).await?)
    }

    /// Every node `owner` registered, by node id (page by page).
    pub async fn nodes_of(&self, owner: Principal) -> Result<Vec<Node>, SdkError> {
        let mut all: Vec<Node> = Vec::new();
        let mut after: Option<NodeId> = None;
        loop {
            let page: Vec<Node> = self
                .emc
                .client
                .query_candid(
                    self.api.canister_id(),
                    "nodes_by_owner",
                    (owner, after, PAGE),
                )
                .await?;
            let Some(last) = page.last().map(|n| n.id) else {
                return Ok(all);
            };
            if after.is_some_and(|a| last <= a) {
                return Err(SdkError::Ic(emc_ic_client::IcError::Decode(
                    "nodes_by_owner: a page did not advance".into(),
                )));
            }
            after = Some(last);
            all.extend(page);
        }
    }

    /// Every node of `role`.
    pub async fn nodes_by_role(&self, role: Role) -> Result<Vec<Node>, SdkError> {
        Ok(self.api.nodes_by_role(role).await?)
    }

    /// The registry's current epoch (its start and the next one's, ns).
    pub async fn current_epoch(&self) -> Result<EpochInfo, SdkError> {
        Ok(self.api.current_epoch().await?)
    }

    /// Ledger, governance, treasury, genesis time, parameters (minimum stakes, terms).
    pub async fn config(&self) -> Result<Config, SdkError> {
        Ok(self.api.get_config().await?)
    }

    /// Counters.
    pub async fn stats(&self) -> Result<Stats, SdkError> {
        Ok(self.api.stats().await?)
    }

    /// Registers the node whose key is `node_key`, owned by the caller: asks for a nonce,
    /// signs the registration message with the node's key (proof of possession), registers.
    pub async fn register(
        &self,
        node_key: &SigningKey,
        node: NodeRegistration,
    ) -> Result<Node, SdkError> {
        let owner = self.emc.principal();
        let nonce = self
            .api
            .registration_nonce()
            .await?
            .map_err(SdkError::Registry)?;
        let signature = node_key.sign(&registration_message(&owner, &nonce, node.role));
        self.api
            .register(RegisterArgs {
                role: node.role,
                public_key: ByteBuf::from(node_key.verifying_key().to_bytes().to_vec()),
                network_address: node.network_address,
                region: node.region,
                hardware: node.hardware,
                signature: ByteBuf::from(signature.to_bytes().to_vec()),
            })
            .await?
            .map_err(SdkError::Registry)
    }

    /// Stakes `amount_e8s` on the caller's node for `term_days`: approves the registry for the
    /// amount plus the ledger fee, then `stake` pulls it into the node's subaccount.
    pub async fn stake(
        &self,
        node: NodeId,
        amount_e8s: u64,
        term_days: u32,
    ) -> Result<StakeInfo, SdkError> {
        let ledger = self.emc.ledger();
        let fee = ledger.fee().await?;
        let allowance = amount_e8s
            .checked_add(fee)
            .ok_or_else(|| SdkError::Input("stake plus fee overflows".into()))?;
        ledger
            .approve(Account::from(self.api.canister_id()), allowance, None)
            .await?;
        self.api
            .stake(StakeArgs {
                node_id: node,
                amount_e8s,
                term_days,
            })
            .await?
            .map_err(SdkError::Registry)
    }
}
