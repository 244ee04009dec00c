//! Computing sockets in the market (issue #16): a buyer pays for a socket from its escrow, the
//! market mints it in the sockets canister, and calls made through the socket are paid per use
//! from the socket's own escrow through the ordinary settlement path.
//!
//! - **Purchase** (`buy_socket`): the price `offer price x units_per_period x periods` plus one
//!   ledger fee leaves the buyer's escrow (available balance: less a pending withdrawal) and
//!   becomes the **socket escrow**: an escrow like any other, owned by the socket's synthetic
//!   principal [`socket_escrow_principal`] (`"emc-sock" || purchase_id_be || 0x7f`, a reserved
//!   principal that can never sign a call), held in its own subaccount of the market. One
//!   journaled ledger transfer (`SocketFunding`) moves the tokens between the two subaccounts;
//!   the books move at once (buyer: `withdrawn += price + fee`; socket escrow: `deposited =
//!   balance = price`). The purchase is journaled for minting: the shell calls the sockets
//!   canister's `mint_socket` with the purchase id (idempotent there) until it answers.
//! - **Per-use settlement**: the socket's current holder binds its client's ed25519 key to the
//!   socket escrow (`bind_socket_key`, proof of possession over `bind_message(socket
//!   principal)`, the holder and expiry read from the sockets canister by the shell). Receipts
//!   countersigned by that key settle from the socket escrow exactly like any receipt (80 % to
//!   the provider, 20 % to the treasury, trading rewards).
//! - **Reclaim** (`reclaim_socket`): once the socket has expired and the withdrawal notice has
//!   passed since (so the receipts of calls admitted before the expiry settle first), the
//!   buyer who paid takes back what is left of the socket escrow, less one ledger fee, into its
//!   own escrow (one journaled `SocketFunding` transfer back; the books move at once).
//! - Keys bound by an earlier holder stay bound (a key is bound once, so a lane's payer never
//!   changes), but `socket_key(key)` names the holder that bound it: routers admit a key's
//!   socket calls only while that holder still holds the socket (the sockets canister's
//!   `socket(id)`), so a former holder's keys get no new calls.

use super::Market;
use crate::storage::Cand;
use crate::types::*;
use candid::{CandidType, Principal};
use emc_types::{Hash, NodeId};
use ic_stable_structures::Memory;
use icrc_ledger_types::icrc1::account::Account;
use serde::{Deserialize, Serialize};

/// Longest subscription, periods.
pub const MAX_PERIODS: u32 = 366;
/// Length of one subscription period, seconds (a day).
pub const PERIOD_SECS: u64 = 86_400;
/// Most pending mints one shell run calls.
pub const MINT_BATCH: usize = 20;

/// `buy_socket`'s argument.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct BuySocketArgs {
    /// The offer (its app, node and price).
    pub offer_id: u64,
    /// Units the holder may use per period (a day).
    pub units_per_period: u64,
    /// Periods bought (1 to 366): the socket expires `periods` days after the purchase.
    pub periods: u32,
    /// Hash of the model the app serves (recorded in the socket).
    pub model_hash: Hash,
}

/// A socket purchase's minting state.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub enum MintStatus {
    /// `mint_socket` not confirmed yet.
    Pending,
    /// Minted as this token.
    Minted {
        /// The sockets canister's token id.
        token_id: u64,
    },
}

/// A socket purchase.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct SocketPurchase {
    /// Purchase id (also the mint's `purchase_id`).
    pub id: u64,
    /// The buyer (the socket's first holder).
    pub buyer: Principal,
    /// The offer bought from.
    pub offer_id: u64,
    /// The offer's provider and node.
    pub provider: Principal,
    /// The offer's node.
    pub node: NodeId,
    /// The offer's app.
    pub app: String,
    /// Model hash.
    pub model_hash: Hash,
    /// Units per period.
    pub units_per_period: u64,
    /// Period, seconds.
    pub period_secs: u64,
    /// Expiry, ns.
    pub expires_at: u64,
    /// Paid into the socket escrow, e8s.
    pub price_e8s: u64,
    /// The socket escrow's principal.
    pub escrow: Principal,
    /// Purchase time, ns.
    pub created_at: u64,
    /// Minting state.
    pub mint: MintStatus,
}

/// The sockets canister's `SocketTerms` (its candid shape).
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct SocketTerms {
    pub app_id: String,
    pub model_hash: Hash,
    pub units_per_period: u64,
    pub period_secs: u64,
    pub expires_at: u64,
    pub offer_id: u64,
    pub provider: Principal,
    pub paid_e8s: u64,
}

/// The sockets canister's `MintSocketArgs` (its candid shape).
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct MintSocketArgs {
    pub purchase_id: u64,
    pub to: Account,
    pub terms: SocketTerms,
    pub memo: Option<serde_bytes::ByteBuf>,
}

/// A key bound to a socket's escrow, and by whom (`socket_key`): routers admit its calls only
/// while `holder` still holds the socket, so a former holder's keys are refused.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Serialize, Deserialize)]
pub struct SocketKey {
    /// The socket's token id.
    pub token_id: u64,
    /// The holder that bound the key.
    pub holder: Principal,
    /// The socket escrow it draws on.
    pub escrow: Principal,
}

/// What the shell read from the sockets canister about a socket (`socket(token_id)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketFacts {
    /// The current holder.
    pub holder: Account,
    /// Whether it has expired.
    pub expired: bool,
}

/// The socket escrow's principal of purchase `id`: `"emc-sock" || id_be || 0x7f` (class
/// 0x7f, reserved: no one can sign as it).
pub fn socket_escrow_principal(id: u64) -> Principal {
    let mut b = [0u8; 17];
    b[..8].copy_from_slice(b"emc-sock");
    b[8..16].copy_from_slice(&id.to_be_bytes());
    b[16] = 0x7f;
    Principal::from_slice(&b)
}

impl<M: Memory> Market<M> {
    /// The sockets canister the market mints in (governance sets it).
    pub fn sockets_canister(&self) -> Option<Principal> {
        candid::decode_one(self.s.sockets_canister.get())
            .ok()
            .flatten()
    }

    /// Governance: names the sockets canister (`None`: no socket sales).
    pub fn set_sockets_canister(
        &mut self,
        caller: Principal,
        canister: Option<Principal>,
    ) -> Result<(), MarketError> {
        if caller != self.config.governance {
            return Err(MarketError::NotGovernance);
        }
        let bytes =
            candid::encode_one(canister).map_err(|e| MarketError::Storage(e.to_string()))?;
        self.s.sockets_canister.set(bytes);
        Ok(())
    }

    /// A purchase.
    pub fn socket_purchase(&self, id: u64) -> Option<SocketPurchase> {
        self.s.socket_purchases.get(&id).and_then(|c| c.0)
    }

    /// The purchase a minted token came from.
    pub fn purchase_of_token(&self, token_id: u64) -> Option<SocketPurchase> {
        self.s
            .socket_tokens
            .get(&token_id)
            .and_then(|id| self.socket_purchase(id))
    }

    /// Buys a socket from offer `a.offer_id` for `caller`, paid from its escrow (see the module
    /// documentation). `me` is the market's own principal (the socket escrow's ledger owner).
    pub fn buy_socket(
        &mut self,
        caller: Principal,
        a: &BuySocketArgs,
        me: Principal,
        now: u64,
    ) -> Result<SocketPurchase, MarketError> {
        if caller == Principal::anonymous() {
            return Err(MarketError::Anonymous);
        }
        if self.sockets_canister().is_none() {
            return Err(MarketError::InvalidArgument(
                "socket sales are closed: no sockets canister".into(),
            ));
        }
        if a.units_per_period == 0 || a.periods == 0 || a.periods > MAX_PERIODS {
            return Err(MarketError::InvalidArgument(format!(
                "units_per_period must be positive and periods in 1..={MAX_PERIODS}"
            )));
        }
        let offer = self
            .offer(a.offer_id)
            .ok_or(MarketError::UnknownOffer(a.offer_id))?;
        let price = offer
            .price_e8s
            .checked_mul(a.units_per_period)
            .and_then(|p| p.checked_mul(u64::from(a.periods)))
            .ok_or(MarketError::Overflow)?;
        if price == 0 {
            return Err(MarketError::ZeroAmount);
        }
        let fee = self.params().ledger_fee_e8s;
        let cost = price.checked_add(fee).ok_or(MarketError::Overflow)?;
        let view = self
            .escrow_view(&caller, now)
            .ok_or(MarketError::NoEscrow)?;
        if view.available_e8s < cost {
            return Err(MarketError::InsufficientEscrow {
                available_e8s: view.available_e8s,
            });
        }
        let expires_at = (u64::from(a.periods) * PERIOD_SECS)
            .checked_mul(1_000_000_000)
            .and_then(|d| now.checked_add(d))
            .ok_or(MarketError::Overflow)?;
        let id = self
            .s
            .socket_purchases
            .last_key_value()
            .map_or(1, |(k, _)| k.saturating_add(1));
        let escrow = socket_escrow_principal(id);
        // Books: the buyer's escrow pays price + fee; the socket escrow holds the price.
        let mut buyer_escrow = self.escrow(&caller).ok_or(MarketError::NoEscrow)?;
        buyer_escrow.balance_e8s -= cost;
        buyer_escrow.withdrawn_e8s = buyer_escrow.withdrawn_e8s.saturating_add(cost);
        self.put_escrow(&caller, &buyer_escrow);
        let socket_escrow = Escrow {
            deposited_e8s: price,
            balance_e8s: price,
            ..Escrow::default()
        };
        self.put_escrow(&escrow, &socket_escrow);
        self.meta.escrows = self.meta.escrows.saturating_add(1);
        self.meta.held = self.meta.held.saturating_sub(fee);
        let t = Transfer {
            id: self.meta.next_transfer,
            kind: TransferKind::SocketFunding,
            buyer: Some(caller),
            from_subaccount: Some(super::escrow_subaccount(&caller)),
            to: Account {
                owner: me,
                subaccount: Some(super::escrow_subaccount(&escrow)),
            },
            amount_e8s: price,
            fee_e8s: fee,
            created_at_time: now,
            attempts: 0,
            status: TransferStatus::Pending,
        };
        let t = self.new_transfer(t);
        let p = SocketPurchase {
            id,
            buyer: caller,
            offer_id: offer.id,
            provider: offer.provider,
            node: offer.node,
            app: offer.app.clone(),
            model_hash: a.model_hash,
            units_per_period: a.units_per_period,
            period_secs: PERIOD_SECS,
            expires_at,
            price_e8s: price,
            escrow,
            created_at: now,
            mint: MintStatus::Pending,
        };
        self.s.socket_purchases.insert(id, Cand(Some(p.clone())));
        self.s.pending_mints.insert(id, ());
        self.log(
            Event::SocketBought {
                purchase: id,
                buyer: caller,
                offer_id: offer.id,
                price_e8s: price,
                transfer: t.id,
            },
            now,
        );
        self.save_meta();
        Ok(p)
    }

    /// The mints to call now (at most `max`), as the sockets canister's arguments.
    pub fn plan_mints(&self, max: usize) -> Vec<MintSocketArgs> {
        self.s
            .pending_mints
            .iter()
            .take(max)
            .filter_map(|e| self.socket_purchase(*e.key()))
            .map(|p| MintSocketArgs {
                purchase_id: p.id,
                to: Account {
                    owner: p.buyer,
                    subaccount: None,
                },
                terms: SocketTerms {
                    app_id: p.app.clone(),
                    model_hash: p.model_hash,
                    units_per_period: p.units_per_period,
                    period_secs: p.period_secs,
                    expires_at: p.expires_at,
                    offer_id: p.offer_id,
                    provider: p.provider,
                    paid_e8s: p.price_e8s,
                },
                memo: None,
            })
            .collect()
    }

    /// The sockets canister minted purchase `id` as `token_id`.
    pub fn mint_done(&mut self, id: u64, token_id: u64, now: u64) -> Result<(), MarketError> {
        let mut p = self
            .socket_purchase(id)
            .ok_or_else(|| MarketError::InvalidArgument(format!("unknown purchase {id}")))?;
        if p.mint != MintStatus::Pending {
            return Ok(());
        }
        p.mint = MintStatus::Minted { token_id };
        self.s.socket_purchases.insert(id, Cand(Some(p)));
        self.s.pending_mints.remove(&id);
        self.s.socket_tokens.insert(token_id, id);
        self.log(
            Event::SocketMinted {
                purchase: id,
                token_id,
            },
            now,
        );
        self.save_meta();
        Ok(())
    }

    /// Binds a key of the socket's current holder to the socket escrow. `facts` is what the
    /// sockets canister says of `token_id` (the shell reads it first).
    pub fn bind_socket_key(
        &mut self,
        caller: Principal,
        token_id: u64,
        facts: Option<&SocketFacts>,
        a: &BindKeyArgs,
        now: u64,
    ) -> Result<(), MarketError> {
        let p = self
            .purchase_of_token(token_id)
            .ok_or(MarketError::UnknownSocket(token_id))?;
        let f = facts.ok_or(MarketError::UnknownSocket(token_id))?;
        if f.holder.owner != caller {
            return Err(MarketError::NotSocketHolder(token_id));
        }
        if f.expired || p.expires_at <= now {
            return Err(MarketError::SocketExpired(token_id));
        }
        self.bind_key(p.escrow, a, now)?;
        let k = SocketKey {
            token_id,
            holder: caller,
            escrow: p.escrow,
        };
        self.s.socket_keys.insert(a.key.0, Cand(Some(k)));
        Ok(())
    }

    /// The buyer of purchase `id` takes back what is left of its socket escrow (see the
    /// module documentation).
    pub fn reclaim_socket(
        &mut self,
        caller: Principal,
        id: u64,
        me: Principal,
        now: u64,
    ) -> Result<Transfer, MarketError> {
        let p = self
            .socket_purchase(id)
            .ok_or_else(|| MarketError::InvalidArgument(format!("unknown purchase {id}")))?;
        if p.buyer != caller {
            return Err(MarketError::InvalidArgument(
                "only the buyer reclaims a socket escrow".into(),
            ));
        }
        let unlock_at = p
            .expires_at
            .saturating_add(self.params().withdrawal_notice_ns);
        if now < unlock_at {
            return Err(MarketError::NoticePending { unlock_at });
        }
        let fee = self.params().ledger_fee_e8s;
        let mut socket = self.escrow(&p.escrow).ok_or(MarketError::NoEscrow)?;
        let amount = socket.balance_e8s;
        if amount <= fee {
            return Err(MarketError::InsufficientEscrow {
                available_e8s: amount,
            });
        }
        let mut buyer = self.escrow(&caller).unwrap_or_default();
        socket.balance_e8s = 0;
        socket.withdrawn_e8s = socket.withdrawn_e8s.saturating_add(amount);
        buyer.deposited_e8s = buyer.deposited_e8s.saturating_add(amount - fee);
        buyer.balance_e8s = buyer.balance_e8s.saturating_add(amount - fee);
        self.meta.held = self.meta.held.saturating_sub(fee);
        self.put_escrow(&p.escrow, &socket);
        self.put_escrow(&caller, &buyer);
        let t = Transfer {
            id: self.meta.next_transfer,
            kind: TransferKind::SocketFunding,
            buyer: Some(p.escrow),
            from_subaccount: Some(super::escrow_subaccount(&p.escrow)),
            to: Account {
                owner: me,
                subaccount: Some(super::escrow_subaccount(&caller)),
            },
            amount_e8s: amount - fee,
            fee_e8s: fee,
            created_at_time: now,
            attempts: 0,
            status: TransferStatus::Pending,
        };
        let t = self.new_transfer(t);
        self.log(
            Event::Withdrawal {
                buyer: p.escrow,
                amount_e8s: amount,
                transfer: t.id,
            },
            now,
        );
        self.save_meta();
        Ok(t)
    }

    /// The socket a key is bound to, and the holder that bound it.
    pub fn socket_key(&self, key: &NodeId) -> Option<SocketKey> {
        self.s.socket_keys.get(&key.0).and_then(|c| c.0)
    }
}
