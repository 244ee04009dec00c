//! What an operator does to its node through the canisters: register it (proving the node
//! key) and stake for it (ICRC-2 approve, then the registry pulls the stake); and what a
//! buyer does to pay for calls: fund its escrow in the market and bind its user key to it.

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
    /// The market refused.
    #[error("market: {0}")]
    Market(emc_market::MarketError),
    /// No market canister is configured.
    #[error("no market canister configured (ic.market)")]
    NoMarket,
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

/// Funds the caller's escrow in the market with `amount_e8s` (ICRC-2 approve, then the
/// market pulls it) and binds the user key `user` to it (the key signs the market's bind
/// message for the caller), so routers admit `user`'s calls against the escrow. A key already
/// bound to the caller is left as it is; one bound to another buyer is an error.
pub async fn fund_escrow(
    ic: &IcHandles,
    user: &SigningKey,
    amount_e8s: u64,
) -> Result<emc_market::EscrowView, OpsError> {
    use emc_ic_client::IcClientExt as _;
    let market = ic.market.ok_or(OpsError::NoMarket)?;
    let client = ic.epochs.client();
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
            spender: Account::from(market),
            amount: candid::Nat::from(amount_e8s.saturating_add(fee)),
            expected_allowance: None,
            expires_at: None,
            fee: None,
            memo: None,
            created_at_time: None,
        })
        .await?
        .map_err(OpsError::Approve)?;
    let view: Result<emc_market::EscrowView, emc_market::MarketError> = client
        .update_candid(market, "deposit", (amount_e8s,))
        .await?;
    let view = view.map_err(OpsError::Market)?;
    let buyer = client.principal();
    let sig = user.sign(&emc_market::market::bind_message(&buyer));
    let bound: Result<(), emc_market::MarketError> = client
        .update_candid(
            market,
            "bind_key",
            (emc_market::BindKeyArgs {
                key: NodeId(user.verifying_key().to_bytes()),
                signature: emc_types::Signature(sig.to_bytes()),
            },),
        )
        .await?;
    match bound {
        Ok(()) => Ok(view),
        Err(emc_market::MarketError::KeyAlreadyBound) => {
            let key = NodeId(user.verifying_key().to_bytes());
            let a: Option<emc_market::Admission> =
                client.query_candid(market, "admission", (key,)).await?;
            match a {
                Some(a) if a.buyer == buyer => Ok(view),
                _ => Err(OpsError::Market(emc_market::MarketError::KeyAlreadyBound)),
            }
        }
        Err(e) => Err(OpsError::Market(e)),
    }
}

fn market_of(ic: &IcHandles) -> Result<candid::Principal, OpsError> {
    ic.market.ok_or(OpsError::NoMarket)
}

/// Lists an offer in the market for the caller's compute node (the caller must own it).
pub async fn post_offer(
    ic: &IcHandles,
    args: emc_market::OfferArgs,
) -> Result<emc_market::Offer, OpsError> {
    use emc_ic_client::IcClientExt as _;
    let market = market_of(ic)?;
    let r: Result<emc_market::Offer, emc_market::MarketError> = ic
        .epochs
        .client()
        .update_candid(market, "post_offer", (args,))
        .await?;
    r.map_err(OpsError::Market)
}

/// The offers `provider` lists.
pub async fn offers_of(
    ic: &IcHandles,
    provider: candid::Principal,
) -> Result<Vec<emc_market::Offer>, OpsError> {
    use emc_ic_client::IcClientExt as _;
    let market = market_of(ic)?;
    Ok(ic
        .epochs
        .client()
        .query_candid(market, "offers_of", (provider,))
        .await?)
}

/// Withdraws the caller's offer `id`.
pub async fn withdraw_offer(ic: &IcHandles, id: u64) -> Result<(), OpsError> {
    use emc_ic_client::IcClientExt as _;
    let market = market_of(ic)?;
    let r: Result<(), emc_market::MarketError> = ic
        .epochs
        .client()
        .update_candid(market, "withdraw_offer", (id,))
        .await?;
    r.map_err(OpsError::Market)
}
