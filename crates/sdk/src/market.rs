//! [`Market`]: compute offers, the buyer's escrow, and socket sales (buying a computing socket
//! from an offer, binding a key to a socket's escrow).

use crate::{Emc, SdkError};
use candid::Principal;
use ed25519_dalek::{Signer, SigningKey};
use emc_ic_client::IcClientExt;
pub use emc_market::market::sockets::{BuySocketArgs, MintStatus, SocketKey, SocketPurchase};
use emc_market::{BindKeyArgs, MarketError};
pub use emc_market::{Config, EscrowView, Offer, OfferArgs, Stats, Transfer, TransferStatus};
use icrc_ledger_types::icrc1::account::Account;

/// Offers per `list_offers` page (the market's maximum).
const PAGE: u32 = 1_000;

/// Typed calls to the market canister (`candid/market.did`).
#[derive(Clone, Debug)]
pub struct Market {
    emc: Emc,
}

impl Market {
    pub(crate) fn new(emc: Emc) -> Self {
        Market { emc }
    }

    fn id(&self) -> Principal {
        self.emc.canisters.market
    }

    async fn query<A, R>(&self, method: &str, args: A) -> Result<R, SdkError>
    where
        A: candid::utils::ArgumentEncoder,
        R: candid::CandidType + serde::de::DeserializeOwned,
    {
        Ok(self
            .emc
            .client
            .query_candid(self.id(), method, args)
            .await?)
    }

    async fn update<A, R>(&self, method: &str, args: A) -> Result<R, SdkError>
    where
        A: candid::utils::ArgumentEncoder,
        R: candid::CandidType + serde::de::DeserializeOwned,
    {
        Ok(self
            .emc
            .client
            .update_candid(self.id(), method, args)
            .await?)
    }

    /// Every listed offer, by id (page by page).
    pub async fn offers(&self) -> Result<Vec<Offer>, SdkError> {
        let mut all: Vec<Offer> = Vec::new();
        let mut after: Option<u64> = None;
        loop {
            let page: Vec<Offer> = self.query("list_offers", (after, PAGE)).await?;
            let Some(last) = page.last().map(|o| o.id) else {
                return Ok(all);
            };
            if after.is_some_and(|a| last <= a) {
                return Err(SdkError::Ic(emc_ic_client::IcError::Decode(
                    "list_offers: a page did not advance".into(),
                )));
            }
            after = Some(last);
            all.extend(page);
        }
    }

    /// The offers of one provider.
    pub async fn offers_of(&self, provider: Principal) -> Result<Vec<Offer>, SdkError> {
        self.query("offers_of", (provider,)).await
    }

    /// One offer.
    pub async fn offer(&self, id: u64) -> Result<Option<Offer>, SdkError> {
        self.query("offer", (id,)).await
    }

    /// Lists an offer for a compute node the caller owns.
    pub async fn post_offer(&self, args: OfferArgs) -> Result<Offer, SdkError> {
        let r: Result<Offer, MarketError> = self.update("post_offer", (args,)).await?;
        r.map_err(SdkError::Market)
    }

    /// A buyer's escrow.
    pub async fn escrow(&self, buyer: Principal) -> Result<Option<EscrowView>, SdkError> {
        self.query("escrow", (buyer,)).await
    }

    /// The caller's escrow.
    pub async fn my_escrow(&self) -> Result<Option<EscrowView>, SdkError> {
        self.escrow(self.emc.principal()).await
    }

    /// Deposits `amount_e8s` into the caller's escrow: approves the market for the amount
    /// plus the ledger fee, then `deposit` pulls it (`icrc2_transfer_from`).
    pub async fn deposit(&self, amount_e8s: u64) -> Result<EscrowView, SdkError> {
        if amount_e8s == 0 {
            return Err(SdkError::Input("a deposit must be positive".into()));
        }
        let ledger = self.emc.ledger();
        let fee = ledger.fee().await?;
        let allowance = amount_e8s
            .checked_add(fee)
            .ok_or_else(|| SdkError::Input("deposit plus fee overflows".into()))?;
        ledger
            .approve(Account::from(self.id()), allowance, None)
            .await?;
        let r: Result<EscrowView, MarketError> = self.update("deposit", (amount_e8s,)).await?;
        r.map_err(SdkError::Market)
    }

    /// Asks to withdraw `amount_e8s` from the escrow once the notice period has passed.
    pub async fn request_withdrawal(&self, amount_e8s: u64) -> Result<EscrowView, SdkError> {
        let r: Result<EscrowView, MarketError> =
            self.update("request_withdrawal", (amount_e8s,)).await?;
        r.map_err(SdkError::Market)
    }

    /// Pays out the pending withdrawal (after its notice): the journaled ledger transfer.
    pub async fn withdraw(&self) -> Result<Transfer, SdkError> {
        let r: Result<Transfer, MarketError> = self.update("withdraw", ()).await?;
        r.map_err(SdkError::Market)
    }

    /// Binds the user key that countersigns the caller's compute receipts to its escrow.
    pub async fn bind_key(&self, user_key: &SigningKey) -> Result<(), SdkError> {
        let msg = emc_market::market::bind_message(&self.emc.principal());
        let args = BindKeyArgs {
            key: emc_types::NodeId(user_key.verifying_key().to_bytes()),
            signature: emc_types::Signature(user_key.sign(&msg).to_bytes()),
        };
        let r: Result<(), MarketError> = self.update("bind_key", (args,)).await?;
        r.map_err(SdkError::Market)
    }

    /// Buys a computing socket from an offer, paid from the caller's escrow (price: the
    /// offer's price × units per period × periods, plus one ledger fee). The market mints the
    /// socket in the sockets canister right after ([`MintStatus::Pending`] until then; see
    /// [`Market::buy_socket_and_mint`]).
    pub async fn buy_socket(&self, args: BuySocketArgs) -> Result<SocketPurchase, SdkError> {
        let r: Result<SocketPurchase, MarketError> = self.update("buy_socket", (args,)).await?;
        r.map_err(SdkError::Market)
    }

    /// [`Market::buy_socket`], then runs the market's pending mints (anyone may) and reads the
    /// purchase back: minted unless the sockets canister did not answer yet.
    pub async fn buy_socket_and_mint(
        &self,
        args: BuySocketArgs,
    ) -> Result<SocketPurchase, SdkError> {
        let p = self.buy_socket(args).await?;
        if p.mint != MintStatus::Pending {
            return Ok(p);
        }
        let _minted: u64 = self.update("run_socket_mints", ()).await?;
        Ok(self.socket_purchase(p.id).await?.unwrap_or(p))
    }

    /// A socket purchase by its id.
    pub async fn socket_purchase(&self, id: u64) -> Result<Option<SocketPurchase>, SdkError> {
        self.query("socket_purchase", (id,)).await
    }

    /// The purchase that minted socket `token_id`.
    pub async fn socket_purchase_of_token(
        &self,
        token_id: u64,
    ) -> Result<Option<SocketPurchase>, SdkError> {
        self.query("socket_purchase_of_token", (token_id,)).await
    }

    /// Binds `user_key` to socket `token_id`'s escrow: the key then pays for calls through
    /// the socket while the caller holds it. The key proves possession by signing the
    /// market's bind message over the socket escrow's principal (read from the purchase).
    pub async fn bind_socket_key(
        &self,
        token_id: u64,
        user_key: &SigningKey,
    ) -> Result<(), SdkError> {
        let p = self
            .socket_purchase_of_token(token_id)
            .await?
            .ok_or(SdkError::Market(MarketError::UnknownSocket(token_id)))?;
        let msg = emc_market::market::bind_message(&p.escrow);
        let args = BindKeyArgs {
            key: emc_types::NodeId(user_key.verifying_key().to_bytes()),
            signature: emc_types::Signature(user_key.sign(&msg).to_bytes()),
        };
        let r: Result<(), MarketError> = self.update("bind_socket_key", (token_id, args)).await?;
        r.map_err(SdkError::Market)
    }

    /// Which socket a user key is bound to, and by which holder.
    pub async fn socket_key(&self, key: emc_types::NodeId) -> Result<Option<SocketKey>, SdkError> {
        self.query("socket_key", (key,)).await
    }

    /// The buyer of purchase `purchase_id` takes back what is left of its expired socket's
    /// escrow (after the withdrawal notice).
    pub async fn reclaim_socket(&self, purchase_id: u64) -> Result<Transfer, SdkError> {
        let r: Result<Transfer, MarketError> =
            self.update("reclaim_socket", (purchase_id,)).await?;
        r.map_err(SdkError::Market)
    }

    /// Counters: volume, trades, offers, escrow held, fees.
    pub async fn stats(&self) -> Result<Stats, SdkError> {
        self.query("stats", ()).await
    }

    /// The market's configuration.
    pub async fn config(&self) -> Result<Config, SdkError> {
        self.query("get_config", ()).await
    }
}
