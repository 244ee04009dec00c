//! [`Sockets`]: computing sockets, the ICRC-7 / ICRC-37 NFTs the market mints when a buyer
//! pays for a subscription to compute (`candid/sockets.did`).
//!
//! A socket's holder may transfer it ([`Sockets::transfer`]), let a spender move it
//! ([`Sockets::approve`], [`Sockets::transfer_from`]) and bind a user key to its escrow in the
//! market ([`crate::Market::bind_socket_key`]); routers admit calls carrying the socket's id
//! (the `x-emc-socket` header, [`crate::compute::ComputeClient::with_socket`]) signed by a key
//! its current holder bound, until it expires. Buying one is the market's
//! ([`crate::Market::buy_socket`]).
//!
//! ```no_run
//! # async fn demo(emc: emc_sdk::Emc) -> Result<(), emc_sdk::SdkError> {
//! let sockets = emc.sockets();
//! for id in sockets.my_tokens().await? {
//!     let s = sockets.require_socket(id).await?;
//!     println!("socket {id}: app {} expired {}", s.terms.app_id, s.expired);
//! }
//! let to = emc_sdk::parse_account("2vxsx-fae")?;
//! let block = sockets.transfer(7, to).await?;
//! # let _ = block; Ok(()) }
//! ```

use crate::{Emc, SdkError};
use candid::{Nat, Principal};
use emc_ic_client::{IcClientExt, IcError};
use emc_sockets::{ApprovalInfo, ApproveTokenArg, ApproveTokenError, TransferArg, TransferFromArg};
pub use emc_sockets::{SocketTerms, SocketView, TransferError};
use icrc_ledger_types::icrc1::account::Account;
use serde::Serialize;

/// The collection's description (ICRC-7 metadata).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CollectionInfo {
    /// `icrc7_name`.
    pub name: String,
    /// `icrc7_symbol`.
    pub symbol: String,
    /// `icrc7_description`.
    pub description: Option<String>,
    /// `icrc7_total_supply`: sockets minted.
    pub total_supply: u64,
    /// `icrc7_supply_cap`.
    pub supply_cap: Option<u64>,
}

/// Why the sockets canister refused a transfer, in words (pure).
///
/// ```
/// use emc_sdk::sockets::{transfer_error_text, TransferError};
/// assert_eq!(transfer_error_text(&TransferError::NonExistingTokenId), "no such socket");
/// assert!(transfer_error_text(&TransferError::Unauthorized).contains("not hold"));
/// ```
pub fn transfer_error_text(e: &TransferError) -> String {
    match e {
        TransferError::NonExistingTokenId => "no such socket".into(),
        TransferError::Unauthorized => {
            "the caller does not hold it (and is not an approved spender)".into()
        }
        TransferError::InvalidRecipient => "invalid recipient (the holder itself?)".into(),
        TransferError::TooOld => "the request is too old".into(),
        TransferError::CreatedInFuture { ledger_time } => {
            format!("created in the future (canister time {ledger_time})")
        }
        TransferError::Duplicate { duplicate_of } => format!("a duplicate of block {duplicate_of}"),
        TransferError::GenericError { message, .. }
        | TransferError::GenericBatchError { message, .. } => message.clone(),
    }
}

/// Whether `caller` may move or bind socket `s` (pure): it must hold it and the socket must
/// not have expired. The canister decides; this names the reason before a call is made.
pub fn ensure_movable(s: &SocketView, caller: Principal) -> Result<(), SdkError> {
    if s.owner.owner != caller {
        return Err(SdkError::Input(format!(
            "{} does not hold socket {}: {} does",
            caller.to_text(),
            s.token_id,
            s.owner
        )));
    }
    if s.expired {
        return Err(SdkError::Input(format!(
            "socket {} expired at {} ns",
            s.token_id, s.terms.expires_at
        )));
    }
    Ok(())
}

/// A token id or count as `u64` (the canister's ids are `u64`; a larger one is a bad reply).
pub(crate) fn nat_to_u64(n: &Nat, what: &str) -> Result<u64, SdkError> {
    u64::try_from(&n.0)
        .map_err(|_| SdkError::Ic(IcError::Decode(format!("{what} {n} does not fit 64 bits"))))
}

/// Typed calls to the sockets canister.
#[derive(Clone, Debug)]
pub struct Sockets {
    emc: Emc,
}

impl Sockets {
    pub(crate) fn new(emc: Emc) -> Self {
        Sockets { emc }
    }

    /// The sockets canister's id (a configuration error when none is set).
    pub fn id(&self) -> Result<Principal, SdkError> {
        self.emc.canisters.sockets.ok_or_else(|| {
            SdkError::Config("no sockets canister is configured (`canisters.sockets`)".into())
        })
    }

    async fn query<A, R>(&self, method: &str, args: A) -> Result<R, SdkError>
    where
        A: candid::utils::ArgumentEncoder,
        R: candid::CandidType + serde::de::DeserializeOwned,
    {
        Ok(self
            .emc
            .client
            .query_candid(self.id()?, method, args)
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
            .update_candid(self.id()?, method, args)
            .await?)
    }

    /// The ids of the sockets `owner` holds, ascending (page by page).
    pub async fn tokens_of(&self, owner: Account) -> Result<Vec<u64>, SdkError> {
        let mut all: Vec<u64> = Vec::new();
        let mut prev: Option<Nat> = None;
        loop {
            let page: Vec<Nat> = self
                .query(
                    "icrc7_tokens_of",
                    (owner, prev.clone(), Option::<Nat>::None),
                )
                .await?;
            let Some(last) = page.last().cloned() else {
                return Ok(all);
            };
            if prev.as_ref().is_some_and(|p| last <= *p) {
                return Err(SdkError::Ic(IcError::Decode(
                    "icrc7_tokens_of: a page did not advance".into(),
                )));
            }
            for id in &page {
                all.push(nat_to_u64(id, "token id")?);
            }
            prev = Some(last);
        }
    }

    /// The ids of the sockets the caller holds.
    pub async fn my_tokens(&self) -> Result<Vec<u64>, SdkError> {
        self.tokens_of(Account::from(self.emc.principal())).await
    }

    /// A socket: its terms, holder, expiry and whether it has expired (`None`: no such id).
    pub async fn socket(&self, token_id: u64) -> Result<Option<SocketView>, SdkError> {
        self.query("socket", (Nat::from(token_id),)).await
    }

    /// A socket that must exist ([`SdkError::NotFound`] otherwise).
    pub async fn require_socket(&self, token_id: u64) -> Result<SocketView, SdkError> {
        self.socket(token_id)
            .await?
            .ok_or_else(|| SdkError::NotFound(format!("socket {token_id}")))
    }

    /// The collection's name, symbol, description, supply and cap.
    pub async fn metadata(&self) -> Result<CollectionInfo, SdkError> {
        let name: String = self.query("icrc7_name", ()).await?;
        let symbol: String = self.query("icrc7_symbol", ()).await?;
        let description: Option<String> = self.query("icrc7_description", ()).await?;
        let total: Nat = self.query("icrc7_total_supply", ()).await?;
        let cap: Option<Nat> = self.query("icrc7_supply_cap", ()).await?;
        Ok(CollectionInfo {
            name,
            symbol,
            description,
            total_supply: nat_to_u64(&total, "total supply")?,
            supply_cap: cap.map(|c| nat_to_u64(&c, "supply cap")).transpose()?,
        })
    }

    /// Transfers socket `token_id` from the caller to `to` (`icrc7_transfer`); the block
    /// index. A refusal is [`SdkError::SocketTransfer`] (not the holder, no such socket,
    /// expired, …) and moves nothing.
    pub async fn transfer(&self, token_id: u64, to: Account) -> Result<u64, SdkError> {
        let arg = TransferArg {
            from_subaccount: None,
            to,
            token_id: Nat::from(token_id),
            memo: None,
            created_at_time: None,
        };
        let r: Vec<Option<Result<Nat, TransferError>>> =
            self.update("icrc7_transfer", (vec![arg],)).await?;
        Self::one_block(token_id, r)
    }

    /// Lets `spender` move socket `token_id` until `expires_at` (ns; `None`: until it is
    /// moved or revoked) (`icrc37_approve_tokens`); the block index.
    pub async fn approve(
        &self,
        token_id: u64,
        spender: Account,
        expires_at: Option<u64>,
    ) -> Result<u64, SdkError> {
        let arg = ApproveTokenArg {
            token_id: Nat::from(token_id),
            approval_info: ApprovalInfo {
                spender,
                from_subaccount: None,
                expires_at,
                memo: None,
                created_at_time: now_ns(),
            },
        };
        let r: Vec<Option<Result<Nat, ApproveTokenError>>> =
            self.update("icrc37_approve_tokens", (vec![arg],)).await?;
        match r.into_iter().next().flatten() {
            Some(Ok(block)) => nat_to_u64(&block, "block index"),
            Some(Err(error)) => Err(SdkError::SocketApprove { token_id, error }),
            None => Err(SdkError::Ic(IcError::Decode(
                "icrc37_approve_tokens: no result".into(),
            ))),
        }
    }

    /// Moves socket `token_id` from `from` to `to` as an approved spender
    /// (`icrc37_transfer_from`); the block index.
    pub async fn transfer_from(
        &self,
        token_id: u64,
        from: Account,
        to: Account,
    ) -> Result<u64, SdkError> {
        let arg = TransferFromArg {
            spender_subaccount: None,
            from,
            to,
            token_id: Nat::from(token_id),
            memo: None,
            created_at_time: None,
        };
        // `icrc37_transfer_from`'s errors have ICRC-7 `TransferError`'s candid shape.
        let r: Vec<Option<Result<Nat, TransferError>>> =
            self.update("icrc37_transfer_from", (vec![arg],)).await?;
        Self::one_block(token_id, r)
    }

    fn one_block(
        token_id: u64,
        r: Vec<Option<Result<Nat, TransferError>>>,
    ) -> Result<u64, SdkError> {
        match r.into_iter().next().flatten() {
            Some(Ok(block)) => nat_to_u64(&block, "block index"),
            Some(Err(error)) => Err(SdkError::SocketTransfer { token_id, error }),
            None => Err(SdkError::Ic(IcError::Decode(
                "the transfer has no result".into(),
            ))),
        }
    }
}

/// Now, ns since the UNIX epoch (ICRC-37 approvals require a creation time).
fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts() {
        let g = TransferError::GenericError {
            error_code: Nat::from(2u64),
            message: "the socket expired at 5".into(),
        };
        assert_eq!(transfer_error_text(&g), "the socket expired at 5");
        let e = SdkError::SocketTransfer {
            token_id: 3,
            error: TransferError::Unauthorized,
        };
        assert!(e.to_string().contains("socket 3"), "{e}");
        assert!(e.to_string().contains("does not hold"), "{e}");
    }

    #[test]
    fn movable_only_by_its_holder_before_expiry() {
        let holder = Principal::from_slice(&[1; 29]);
        let other = Principal::from_slice(&[2; 29]);
        let mut v = SocketView {
            token_id: 4,
            owner: Account::from(holder),
            terms: SocketTerms {
                app_id: "llm".into(),
                model_hash: emc_types::Hash([0; 32]),
                units_per_period: 1,
                period_secs: 86_400,
                expires_at: 99,
                offer_id: 1,
                provider: other,
                paid_e8s: 1,
            },
            minted_at: 1,
            transfers: 0,
            expired: false,
        };
        assert_eq!(ensure_movable(&v, holder), Ok(()));
        let e = ensure_movable(&v, other).unwrap_err();
        assert!(e.to_string().contains("does not hold socket 4"), "{e}");
        v.expired = true;
        let e = ensure_movable(&v, holder).unwrap_err();
        assert!(e.to_string().contains("expired at 99"), "{e}");
    }

    #[test]
    fn nats_beyond_u64_are_decode_errors() {
        assert_eq!(nat_to_u64(&Nat::from(7u64), "x").unwrap(), 7);
        let big = Nat::from(u128::from(u64::MAX) + 1);
        assert!(matches!(
            nat_to_u64(&big, "token id"),
            Err(SdkError::Ic(IcError::Decode(_)))
        ));
    }
}
