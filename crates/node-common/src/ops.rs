//! What an operator does to its node through the canisters: register it (proving the node
//! key) and stake for it (ICRC-2 approve, then the registry pulls the stake).

use crate::ic::IcHandles;
use ed25519_dalek::{Signer as _, SigningKey};
use emc_ic_client::{IcError, RegistryApi};
use emc_registry::rules::registration_message;
use emc_registry::{RegisterArgs, RegistryError, StakeArgs};
use emc_types::{NodeId, Role};
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc2::approve::{ApproveArgs, ApproveError};
use serde_bytes::ByteBuf;

/// 1 EMC in e8s.
pub const E8S: u64 = 100_000_000;

/// Why an operator action failed.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The call did not get through.
    #[error(transparent)]
    Ic(#[from] IcError),
    /// The registry refused.
    #[error("registry: {0:?}")]
    Registry(RegistryError),
    /// The ledger refused the approval.
    #[error("ledger approve: {0:?}")]
    Approve(ApproveError),
    /// The ledger's fee is not a u64.
    #[error("the ledger's fee is out of range")]
    Fee,
}

/// Registers `key`'s node with the role, region, hardware and address given, as the caller
/// of `registry` (its owner).
pub async fn register_node(
    registry: &RegistryApi,
    key: &SigningKey,
    role: Role,
    network_address: String,
    region: String,
    hardware: String,
) -> Result<emc_registry::Node, OpsError> {
    let owner = registry.client().principal();
    let nonce = registry
        .registration_nonce()
        .await?
        .map_err(OpsError::Registry)?;
    let sig = key.sign(&registration_message(&owner, &nonce, role));
    registry
        .register(RegisterArgs {
            role,
            public_key: ByteBuf::from(key.verifying_key().to_bytes().to_vec()),
            network_address,
            region,
            hardware,
            signature: ByteBuf::from(sig.to_bytes().to_vec()),
        })
        .await?
        .map_err(OpsError::Registry)
}

/// Approves the registry for `amount_e8s` plus the fee and stakes it for `node`.
pub async fn stake_node(
    ic: &IcHandles,
    node: NodeId,
    amount_e8s: u64,
    term_days: u32,
) -> Result<emc_registry::StakeInfo, OpsError> {
    let fee: u64 = ic
        .ledger
        .icrc1_fee()
        .await?
        .0
        .try_into()
        .map_err(|_| OpsError::Fee)?;
    ic.ledger
        .icrc2_approve(ApproveArgs {
            from_subaccount: None,
            spender: Account::from(ic.registry.canister_id()),
            amount: candid::Nat::from(amount_e8s.saturating_add(fee)),
            expected_allowance: None,
            expires_at: None,
            fee: None,
            memo: None,
            created_at_time: None,
        })
        .await?
        .map_err(OpsError::Approve)?;
    ic.registry
        .stake(StakeArgs {
            node_id: node,
            term_days,
            amount_e8s,
        })
        .await?
        .map_err(OpsError::Registry)
}
