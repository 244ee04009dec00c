//! [`Ledger`]: the $EMC ledger (ICRC-1/2).

use crate::{nat_u64, SdkError};
use candid::{Nat, Principal};
use emc_ic_client::{IcClient, IcClientExt, LedgerApi};
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::{Memo, TransferArg};
use icrc_ledger_types::icrc2::allowance::{Allowance as IcrcAllowance, AllowanceArgs};
use icrc_ledger_types::icrc2::approve::ApproveArgs;
use serde::Serialize;
use std::sync::Arc;

/// The token's metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenMetadata {
    /// `icrc1_name`.
    pub name: String,
    /// `icrc1_symbol`.
    pub symbol: String,
    /// `icrc1_decimals`.
    pub decimals: u8,
    /// `icrc1_fee`, e8s.
    pub fee_e8s: u64,
}

/// An ICRC-2 allowance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Allowance {
    /// What the spender may still take, e8s.
    pub allowance_e8s: u64,
    /// When it expires (ns since the UNIX epoch), if it does.
    pub expires_at: Option<u64>,
}

/// Typed calls to the ledger.
#[derive(Clone, Debug)]
pub struct Ledger {
    api: LedgerApi,
}

impl Ledger {
    pub(crate) fn new(client: Arc<dyn IcClient>, canister: Principal) -> Self {
        Ledger {
            api: LedgerApi::new(client, canister),
        }
    }

    fn client(&self) -> &Arc<dyn IcClient> {
        self.api.client()
    }

    /// The account's balance, e8s.
    pub async fn balance(&self, account: Account) -> Result<u64, SdkError> {
        nat_u64(&self.api.icrc1_balance_of(account).await?, "balance")
    }

    /// The caller's (default account's) balance, e8s.
    pub async fn my_balance(&self) -> Result<u64, SdkError> {
        self.balance(Account::from(self.client().principal())).await
    }

    /// The transfer fee, e8s.
    pub async fn fee(&self) -> Result<u64, SdkError> {
        nat_u64(&self.api.icrc1_fee().await?, "fee")
    }

    /// Name, symbol, decimals and fee.
    pub async fn metadata(&self) -> Result<TokenMetadata, SdkError> {
        let c = self.client();
        let id = self.api.canister_id();
        let name: String = c.query_candid(id, "icrc1_name", ()).await?;
        let symbol: String = c.query_candid(id, "icrc1_symbol", ()).await?;
        let decimals: u8 = c.query_candid(id, "icrc1_decimals", ()).await?;
        Ok(TokenMetadata {
            name,
            symbol,
            decimals,
            fee_e8s: self.fee().await?,
        })
    }

    /// Transfers `amount_e8s` from the caller's default account to `to` (the fee is paid on
    /// top); the ledger block index.
    pub async fn transfer(
        &self,
        to: Account,
        amount_e8s: u64,
        memo: Option<Vec<u8>>,
    ) -> Result<u64, SdkError> {
        let arg = TransferArg {
            from_subaccount: None,
            to,
            fee: None,
            created_at_time: None,
            memo: memo.map(Memo::from),
            amount: Nat::from(amount_e8s),
        };
        let block = self
            .api
            .icrc1_transfer(arg)
            .await?
            .map_err(SdkError::Transfer)?;
        nat_u64(&block, "block index")
    }

    /// Lets `spender` take up to `amount_e8s` from the caller's default account (replaces
    /// any previous allowance; 0 revokes it); the ledger block index.
    pub async fn approve(
        &self,
        spender: Account,
        amount_e8s: u64,
        expires_at: Option<u64>,
    ) -> Result<u64, SdkError> {
        let arg = ApproveArgs {
            from_subaccount: None,
            spender,
            amount: Nat::from(amount_e8s),
            expected_allowance: None,
            expires_at,
            fee: None,
            memo: None,
            created_at_time: None,
        };
        let block = self
            .api
            .icrc2_approve(arg)
            .await?
            .map_err(SdkError::Approve)?;
        nat_u64(&block, "block index")
    }

    /// What `spender` may take from `owner`.
    pub async fn allowance(&self, owner: Account, spender: Account) -> Result<Allowance, SdkError> {
        let a: IcrcAllowance = self
            .client()
            .query_candid(
                self.api.canister_id(),
                "icrc2_allowance",
                (AllowanceArgs {
                    account: owner,
                    spender,
                },),
            )
            .await?;
        Ok(Allowance {
            allowance_e8s: nat_u64(&a.allowance, "allowance")?,
            expires_at: a.expires_at,
        })
    }
}
