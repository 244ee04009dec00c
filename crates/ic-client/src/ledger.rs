//! [`LedgerApi`]: the $EMC ledger's ICRC-1/2 calls the edge node and the devnet make.

use crate::{IcClient, IcClientExt, IcError};
use candid::{Nat, Principal};
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::{TransferArg, TransferError};
use icrc_ledger_types::icrc2::approve::{ApproveArgs, ApproveError};
use std::sync::Arc;

/// Typed calls to the ledger canister (`candid/ledger.did`).
#[derive(Clone)]
pub struct LedgerApi {
    client: Arc<dyn IcClient>,
    canister: Principal,
}

impl std::fmt::Debug for LedgerApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerApi")
            .field("canister", &self.canister.to_text())
            .field("caller", &self.client.principal().to_text())
            .finish()
    }
}

impl LedgerApi {
    /// The ledger `canister`, called through `client`.
    pub fn new(client: Arc<dyn IcClient>, canister: Principal) -> Self {
        LedgerApi { client, canister }
    }

    /// The ledger's canister id.
    pub fn canister_id(&self) -> Principal {
        self.canister
    }

    /// The client calls go through.
    pub fn client(&self) -> &Arc<dyn IcClient> {
        &self.client
    }

    /// `icrc1_balance_of` (query): the account's balance in e8s.
    pub async fn icrc1_balance_of(&self, account: Account) -> Result<Nat, IcError> {
        self.client
            .query_candid(self.canister, "icrc1_balance_of", (account,))
            .await
    }

    /// `icrc1_fee` (query): the transfer fee in e8s.
    pub async fn icrc1_fee(&self) -> Result<Nat, IcError> {
        self.client
            .query_candid(self.canister, "icrc1_fee", ())
            .await
    }

    /// `icrc1_transfer` from the caller's account: the block index, or the ledger's refusal.
    pub async fn icrc1_transfer(
        &self,
        arg: TransferArg,
    ) -> Result<Result<Nat, TransferError>, IcError> {
        self.client
            .update_candid(self.canister, "icrc1_transfer", (arg,))
            .await
    }

    /// `icrc2_approve` for the caller's account: the block index, or the ledger's refusal.
    pub async fn icrc2_approve(
        &self,
        arg: ApproveArgs,
    ) -> Result<Result<Nat, ApproveError>, IcError> {
        self.client
            .update_candid(self.canister, "icrc2_approve", (arg,))
            .await
    }
}
