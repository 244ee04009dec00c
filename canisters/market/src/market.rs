//! The pure market core: offers, escrows, settlement of proven receipts, trading rewards, the
//! transfer journal, the event log and governance. No ic-cdk: the caller, the clock, the
//! registry's answers and the epochs canister's final roots come in as arguments.

use crate::storage::{
    decode_event, event_body, event_bytes, grant_key, key_principal, lane_key, principal_key,
    provider_offer_key, Cand, Lane, PrincipalKey, Stores, HEADER,
};
use crate::types::*;
use crate::LoadError;
use candid::{CandidType, Principal};
use ed25519_dalek::{Signature as DalekSignature, VerifyingKey};
use emc_tokenomics::{
    params::BPS_SCALE, settle_trade, trading_period, TokenomicsParams, TRADING_REWARD_POOL_CAP,
};
use emc_types::merkle::{leaf_hash, ProofBatch};
use emc_types::pool::{check_cosigners, cosign_message, CosignError};
use emc_types::{put_len_prefixed, sha256, ComputeReceipt, Hash, NodeId, StateBit};
use ic_stable_structures::Memory;
use icrc_ledger_types::icrc1::account::Account;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub mod pools;
pub mod sockets;

/// A pending ledger call older than this is not retried automatically: the ledger deduplicates
/// for 24 hours, so past it a retry could pay twice. Governance settles it.
pub const DEDUP_SAFE_NS: u64 = 23 * 3600 * 1_000_000_000;
/// Domain tag of a key binding.
pub const BIND_DOMAIN: &[u8] = b"emc-market-bind-v1";
/// Memo prefix of a journal transfer.
pub const MEMO_PREFIX: &[u8; 8] = b"emc-mkt:";
/// Most bytes of an offer's app name.
pub const MAX_APP_LEN: usize = 128;
/// Most events one `events` query returns.
pub const MAX_EVENTS_PAGE: u64 = 1_000;
/// Lanes one `admission_lanes` query answers (further ones are left out).
pub const MAX_LANES_ASKED: usize = 1_000;

/// The bytes a user key signs to bind itself to `buyer`'s escrow:
/// `b"emc-market-bind-v1" || u32_be(len(buyer)) || buyer`.
pub fn bind_message(buyer: &Principal) -> Vec<u8> {
    let mut m = Vec::with_capacity(BIND_DOMAIN.len() + 4 + 29);
    m.extend_from_slice(BIND_DOMAIN);
    put_len_prefixed(&mut m, buyer.as_slice());
    m
}

/// The market's subaccount holding `buyer`'s escrow: a length byte, then the principal's
/// bytes, zero-padded (the usual principal-to-subaccount mapping).
pub fn escrow_subaccount(buyer: &Principal) -> [u8; 32] {
    let mut s = [0u8; 32];
    let b = buyer.as_slice();
    let n = b.len().min(31);
    s[0] = n as u8;
    s[1..1 + n].copy_from_slice(&b[..n]);
    s
}

/// The ledger memo of journal transfer `id`: `b"emc-mkt:" || id_be64` (16 bytes).
pub fn transfer_memo(id: u64) -> Vec<u8> {
    let mut m = MEMO_PREFIX.to_vec();
    m.extend_from_slice(&id.to_be_bytes());
    m
}

/// The Merkle leaf of a receipt as validators commit it: `leaf_hash` of the state bit's
/// canonical bytes (tag, fields, node and user signatures), exactly `SummaryAccumulator::add`.
pub fn receipt_leaf(r: &ComputeReceipt) -> Hash {
    let mut b = Vec::with_capacity(1 + ComputeReceipt::CANONICAL_LEN);
    b.push(StateBit::TAG_RECEIPT);
    r.put_fields(&mut b);
    b.extend_from_slice(&r.node_signature.0);
    b.extend_from_slice(&r.user_signature.0);
    leaf_hash(&b)
}

/// Whether `r`'s user signature verifies (strict ed25519 over the body hash).
pub fn user_signature_valid(r: &ComputeReceipt) -> bool {
    signature_valid(&SignatureCheck::user(r))
}

/// Which of `receipts` carry a valid user signature: one batch verification for all, and one
/// by one (strict) only when the batch fails, to find the bad ones.
pub fn user_signatures_valid(receipts: &[&ComputeReceipt]) -> Vec<bool> {
    let checks: Vec<SignatureCheck> = receipts.iter().map(|r| SignatureCheck::user(r)).collect();
    signatures_valid(&checks)
}

/// One ed25519 signature to check: a key, the 32-byte message it signed, the signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureCheck {
    /// The signer's public key.
    pub key: NodeId,
    /// The signed message (a receipt's body hash, or a pool member's co-sign message).
    pub msg: [u8; 32],
    /// The signature.
    pub signature: emc_types::Signature,
}

impl SignatureCheck {
    /// The user's countersignature of `r`.
    pub fn user(r: &ComputeReceipt) -> SignatureCheck {
        SignatureCheck {
            key: r.user,
            msg: r.body_hash().0,
            signature: r.user_signature,
        }
    }
}

/// Whether one signature verifies (`verify_strict`).
pub fn signature_valid(c: &SignatureCheck) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(&c.key.0) else {
        return false;
    };
    let sig = DalekSignature::from_bytes(&c.signature.0);
    key.verify_strict(&c.msg, &sig).is_ok()
}

/// Which of `checks` verify: one batch verification for all, and one by one (strict) only when
/// the batch fails, to find the bad ones.
pub fn signatures_valid(checks: &[SignatureCheck]) -> Vec<bool> {
    if checks.len() < 2 {
        return checks.iter().map(signature_valid).collect();
    }
    // Each distinct key is decompressed once (a batch holds many lanes of few users).
    let mut decompressed: BTreeMap<[u8; 32], Option<VerifyingKey>> = BTreeMap::new();
    let keys: Option<Vec<VerifyingKey>> = checks
        .iter()
        .map(|c| {
            *decompressed
                .entry(c.key.0)
                .or_insert_with(|| VerifyingKey::from_bytes(&c.key.0).ok())
        })
        .collect();
    if let Some(keys) = keys {
        let msgs: Vec<&[u8]> = checks.iter().map(|c| &c.msg[..]).collect();
        let sigs: Vec<DalekSignature> = checks
            .iter()
            .map(|c| DalekSignature::from_bytes(&c.signature.0))
            .collect();
        if ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok() {
            return vec![true; checks.len()];
        }
    }
    checks.iter().map(signature_valid).collect()
}

/// What the registry says about a node (the shell asks `get_node`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeFacts {
    /// Its owner.
    pub owner: Principal,
    /// Whether it is a compute node.
    pub compute: bool,
    /// Whether it is live (registered, not retired or impeached).
    pub live: bool,
    /// Its last PoC E (fixed point, `emc_types::E_SCALE`; 0 until measured).
    pub e_fixed: u64,
}

/// What the ledger said to a journaled call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferOutcome {
    /// Executed (or a duplicate of an earlier execution of the same transfer) in this block.
    Done(u64),
    /// No answer or a transient error: nothing known to have moved; retried.
    Retry(String),
    /// Refused for good with nothing moved (only a deposit: no allowance, no funds).
    Failed(String),
    /// The `created_at_time` is too old: whether an earlier attempt landed is unknown.
    TooOld,
}

/// Mutable counters kept in the meta cell.
#[derive(Clone, Debug, Default, CandidType, Serialize, Deserialize)]
struct Meta {
    next_offer: u64,
    next_transfer: u64,
    next_event: u64,
    last_hash: Option<Hash>,
    offers: u64,
    escrows: u64,
    held: u64,
    trades: u64,
    volume: u64,
    treasury_fees: u64,
    rewards: u64,
    pending: u64,
}

fn storage<T>(v: Option<T>, what: &str) -> Result<T, MarketError> {
    v.ok_or_else(|| MarketError::Storage(format!("{what} does not decode")))
}

/// The lookups of one settlement call.
#[derive(Default)]
struct Lookups {
    roots: BTreeMap<u64, Option<Hash>>,
    /// Proofs by (checkpoint height, leaf count): receipts of one checkpoint share paths.
    proofs: BTreeMap<(u64, u64), ProofBatch>,
    /// Pools by entry node.
    pools: BTreeMap<[u8; 32], Option<pools::Pool>>,
    buyers: BTreeMap<[u8; 32], Option<Principal>>,
    owners: BTreeMap<[u8; 32], Option<Principal>>,
}

/// A settlement group of one call: the transfers out of one buyer's escrow to one provider.
#[derive(Default)]
struct Group {
    provider: u64,
    treasury: u64,
}

/// The market's state over a stable memory.
pub struct Market<M: Memory> {
    s: Stores<M>,
    config: Config,
    meta: Meta,
}

impl<M: Memory> Market<M> {
    /// Installs a fresh canister state.
    pub fn init(memory: M, args: &InitArgs) -> Result<Self, LoadError> {
        let params = args.params.clone().unwrap_or_default();
        validate_params(&params).map_err(LoadError::InvalidArgument)?;
        let mut s = Stores::open(memory);
        if !s.config.get().is_empty() {
            return Err(LoadError::AlreadyInitialized);
        }
        let config = Config {
            ledger: args.ledger,
            epochs: args.epochs,
            registry: args.registry,
            governance: args.governance,
            treasury: args.treasury,
            market_open_epoch: args.market_open_epoch,
            params,
        };
        write_config(&mut s, &config)?;
        let mut m = Market {
            s,
            config,
            meta: Meta::default(),
        };
        m.save_meta();
        Ok(m)
    }

    /// Loads the state from stable memory (after an upgrade).
    pub fn load(memory: M) -> Result<Self, LoadError> {
        let s = Stores::open(memory);
        // Version 1 is the only layout so far; later versions migrate step by step here.
        let body = HEADER.check(s.config.get())?;
        let config: Config =
            candid::decode_one(body).map_err(|e| LoadError::Storage(e.to_string()))?;
        let meta: Meta =
            candid::decode_one(s.meta.get()).map_err(|e| LoadError::Storage(e.to_string()))?;
        let mut m = Market { s, config, meta };
        m.index_pools();
        Ok(m)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn params(&self) -> &Params {
        &self.config.params
    }

    fn save_meta(&mut self) {
        // Meta always encodes (integers, options and a hash).
        let bytes = candid::encode_one(&self.meta).unwrap_or_default();
        self.s.meta.set(bytes);
    }

    // ------------------------------------------------------------------ event log

    fn log(&mut self, event: Event, now: u64) {
        let id = self.meta.next_event;
        let parent_hash = self.meta.last_hash;
        let body = event_body(&event);
        let parent = parent_hash.map(|h| h.0).unwrap_or_default();
        let hash = sha256(&[&parent, &body, &now.to_be_bytes(), &id.to_be_bytes()]);
        let stored = event_bytes(id, now, parent_hash.as_ref().map(|h| &h.0), &hash.0, &body);
        self.s.events.insert(id, stored);
        self.meta.next_event = id.saturating_add(1);
        self.meta.last_hash = Some(hash);
    }

    /// The hash of the log's last entry (the certified data).
    pub fn log_tip(&self) -> Option<Hash> {
        self.meta.last_hash
    }

    /// Entries `start..start + length` of the log (at most [`MAX_EVENTS_PAGE`]).
    pub fn events(&self, start: u64, length: u64) -> EventsPage {
        let end = start.saturating_add(length.min(MAX_EVENTS_PAGE));
        EventsPage {
            log_length: self.meta.next_event,
            events: self
                .s
                .events
                .range(start..end)
                .filter_map(|e| decode_event(&e.value()))
                .collect(),
        }
    }

    // ------------------------------------------------------------------ offers

    /// Checks an offer's fields and the provider's offer count (before asking the registry).
    pub fn check_offer(&self, caller: Principal, a: &OfferArgs) -> Result<(), MarketError> {
        if caller == Principal::anonymous() {
            return Err(MarketError::Anonymous);
        }
        if a.app.is_empty() || a.app.len() > MAX_APP_LEN {
            return Err(MarketError::InvalidArgument(format!(
                "app must be 1 to {MAX_APP_LEN} bytes"
            )));
        }
        if a.price_e8s == 0 || a.capacity == 0 {
            return Err(MarketError::ZeroAmount);
        }
        let max = self.params().max_offers_per_provider;
        if self.offer_count(&caller) >= u64::from(max) {
            return Err(MarketError::TooManyOffers(max));
        }
        Ok(())
    }

    /// Lists an offer of `caller` for a node the registry says `caller` owns as a live
    /// compute node.
    pub fn post_offer(
        &mut self,
        caller: Principal,
        a: &OfferArgs,
        node: &NodeFacts,
        now: u64,
    ) -> Result<Offer, MarketError> {
        self.check_offer(caller, a)?;
        if node.owner != caller {
            return Err(MarketError::NotProvider(
                "the caller does not own the node".into(),
            ));
        }
        if !node.compute || !node.live {
            return Err(MarketError::NotProvider(
                "the node is not a live compute node".into(),
            ));
        }
        let id = self.meta.next_offer;
        let offer = Offer {
            id,
            provider: caller,
            node: a.node,
            app: a.app.clone(),
            unit: a.unit,
            price_e8s: a.price_e8s,
            capacity: a.capacity,
            created_at: now,
            updated_at: now,
        };
        self.s.offers.insert(id, Cand(Some(offer.clone())));
        self.s
            .provider_offers
            .insert(provider_offer_key(&caller, id), ());
        let count = self.offer_count(&caller).saturating_add(1);
        self.s.offer_counts.insert(principal_key(&caller), count);
        self.s.owners.insert(a.node.0, principal_key(&node.owner));
        self.meta.next_offer = id.saturating_add(1);
        self.meta.offers = self.meta.offers.saturating_add(1);
        self.log(Event::OfferPosted(offer.clone()), now);
        self.save_meta();
        Ok(offer)
    }

    /// Live offers of `provider`.
    pub fn offer_count(&self, provider: &Principal) -> u64 {
        self.s
            .offer_counts
            .get(&principal_key(provider))
            .unwrap_or(0)
    }

    fn own_offer(&self, caller: Principal, id: u64) -> Result<Offer, MarketError> {
        let offer = self
            .s
            .offers
            .get(&id)
            .ok_or(MarketError::UnknownOffer(id))?;
        let offer = storage(offer.0, "offer")?;
        if offer.provider != caller {
            return Err(MarketError::NotOfferOwner(id));
        }
        Ok(offer)
    }

    /// Changes the price or capacity of one of `caller`'s offers.
    pub fn update_offer(
        &mut self,
        caller: Principal,
        a: &UpdateOfferArgs,
        now: u64,
    ) -> Result<Offer, MarketError> {
        let mut offer = self.own_offer(caller, a.id)?;
        if a.price_e8s == Some(0) || a.capacity == Some(0) {
            return Err(MarketError::ZeroAmount);
        }
        if let Some(p) = a.price_e8s {
            offer.price_e8s = p;
        }
        if let Some(c) = a.capacity {
            offer.capacity = c;
        }
        offer.updated_at = now;
        self.s.offers.insert(offer.id, Cand(Some(offer.clone())));
        self.log(Event::OfferUpdated(offer.clone()), now);
        self.save_meta();
        Ok(offer)
    }

    /// Withdraws one of `caller`'s offers.
    pub fn withdraw_offer(
        &mut self,
        caller: Principal,
        id: u64,
        now: u64,
    ) -> Result<(), MarketError> {
        let offer = self.own_offer(caller, id)?;
        self.s.offers.remove(&id);
        self.s
            .provider_offers
            .remove(&provider_offer_key(&offer.provider, id));
        let count = self.offer_count(&caller).saturating_sub(1);
        self.s.offer_counts.insert(principal_key(&caller), count);
        self.meta.offers = self.meta.offers.saturating_sub(1);
        self.log(
            Event::OfferWithdrawn {
                id,
                provider: caller,
            },
            now,
        );
        self.save_meta();
        Ok(())
    }

    /// An offer.
    pub fn offer(&self, id: u64) -> Option<Offer> {
        self.s.offers.get(&id).and_then(|c| c.0)
    }

    /// Offers after `start_after` by id (at most `limit`).
    pub fn list_offers(&self, start_after: Option<u64>, limit: u64) -> Vec<Offer> {
        let from = start_after.map_or(0, |s| s.saturating_add(1));
        self.s
            .offers
            .range(from..)
            .take(limit as usize)
            .filter_map(|e| e.value().0)
            .collect()
    }

    /// A provider's offers (at most `limit`).
    pub fn offers_of(&self, provider: &Principal, limit: u64) -> Vec<Offer> {
        let lo = provider_offer_key(provider, 0);
        let hi = provider_offer_key(provider, u64::MAX);
        self.s
            .provider_offers
            .range(lo..=hi)
            .take(limit as usize)
            .filter_map(|e| {
                let k = e.key();
                let mut id = [0u8; 8];
                id.copy_from_slice(&k[30..]);
                self.offer(u64::from_be_bytes(id))
            })
            .collect()
    }

    // ------------------------------------------------------------------ keys and escrows

    /// Binds a user key to `caller`'s escrow (once: a key never moves to another escrow, so the
    /// payer of a lane never changes).
    pub fn bind_key(
        &mut self,
        caller: Principal,
        a: &BindKeyArgs,
        now: u64,
    ) -> Result<(), MarketError> {
        if caller == Principal::anonymous() {
            return Err(MarketError::Anonymous);
        }
        if self.s.user_keys.contains_key(&a.key.0) {
            return Err(MarketError::KeyAlreadyBound);
        }
        let key = VerifyingKey::from_bytes(&a.key.0).map_err(|_| MarketError::BadKeySignature)?;
        if key.is_weak() {
            return Err(MarketError::BadKeySignature);
        }
        key.verify_strict(
            &bind_message(&caller),
            &DalekSignature::from_bytes(&a.signature.0),
        )
        .map_err(|_| MarketError::BadKeySignature)?;
        self.s.user_keys.insert(a.key.0, principal_key(&caller));
        self.log(
            Event::KeyBound {
                buyer: caller,
                key: a.key,
            },
            now,
        );
        self.save_meta();
        Ok(())
    }

    /// The buyer a user key is bound to.
    pub fn buyer_of(&self, key: &NodeId) -> Option<Principal> {
        self.s.user_keys.get(&key.0).map(|k| key_principal(&k))
    }

    /// A buyer's stored escrow.
    pub fn escrow(&self, buyer: &Principal) -> Option<Escrow> {
        self.s.escrows.get(&principal_key(buyer)).and_then(|c| c.0)
    }

    /// A buyer's escrow as shown at `now`.
    pub fn escrow_view(&self, buyer: &Principal, now: u64) -> Option<EscrowView> {
        let e = self.escrow(buyer)?;
        let requested = e
            .withdrawal
            .as_ref()
            .map_or(0, |w| w.amount_e8s.min(e.balance_e8s));
        let withdrawable = match &e.withdrawal {
            Some(w) if now >= w.unlock_at => requested,
            _ => 0,
        };
        Some(EscrowView {
            buyer: *buyer,
            subaccount: serde_bytes::ByteBuf::from(escrow_subaccount(buyer).to_vec()),
            balance_e8s: e.balance_e8s,
            spent_e8s: e.spent_e8s,
            fees_e8s: e.fees_e8s,
            deposited_e8s: e.deposited_e8s,
            withdrawn_e8s: e.withdrawn_e8s,
            reserved_e8s: e.balance_e8s - withdrawable,
            withdrawable_e8s: withdrawable,
            available_e8s: e.balance_e8s - requested,
            withdrawal: e.withdrawal,
        })
    }

    /// What a router admits calls against for a user key: the bound escrow's balance less a
    /// pending withdrawal.
    pub fn admission(&self, key: &NodeId, now: u64) -> Option<Admission> {
        let buyer = self.buyer_of(key)?;
        let available = self.escrow_view(&buyer, now).map_or(0, |v| v.available_e8s);
        Some(Admission {
            user: *key,
            buyer,
            available_e8s: available,
        })
    }

    /// [`Market::admission`] with the settled amount of each lane asked (the first
    /// [`MAX_LANES_ASKED`]), read together.
    pub fn admission_lanes(
        &self,
        key: &NodeId,
        lanes: &[LaneRef],
        now: u64,
    ) -> Option<AdmissionLanes> {
        let admission = self.admission(key, now)?;
        let paid_e8s = lanes
            .iter()
            .take(MAX_LANES_ASKED)
            .map(|l| self.lane(key, &l.node, l.epoch).paid_e8s)
            .collect();
        Some(AdmissionLanes {
            admission,
            paid_e8s,
        })
    }

    fn put_escrow(&mut self, buyer: &Principal, e: &Escrow) {
        self.s
            .escrows
            .insert(principal_key(buyer), Cand(Some(e.clone())));
    }

    fn new_transfer(&mut self, t: Transfer) -> Transfer {
        self.s.journal.insert(t.id, Cand(Some(t.clone())));
        self.s.pending.insert(t.id, ());
        self.meta.next_transfer = t.id.saturating_add(1);
        self.meta.pending = self.meta.pending.saturating_add(1);
        t
    }

    /// Journals a deposit of `amount` from `caller`'s default account into its escrow
    /// subaccount of the market `me` (credited when the ledger confirms it).
    pub fn begin_deposit(
        &mut self,
        caller: Principal,
        amount: u64,
        me: Principal,
        now: u64,
    ) -> Result<Transfer, MarketError> {
        if caller == Principal::anonymous() {
            return Err(MarketError::Anonymous);
        }
        if amount == 0 {
            return Err(MarketError::ZeroAmount);
        }
        let e = self.escrow(&caller).unwrap_or_default();
        if e.deposited_e8s.checked_add(amount).is_none()
            || e.balance_e8s.checked_add(amount).is_none()
            || self.meta.held.checked_add(amount).is_none()
        {
            return Err(MarketError::Overflow);
        }
        let t = Transfer {
            id: self.meta.next_transfer,
            kind: TransferKind::Deposit,
            buyer: Some(caller),
            from_subaccount: None,
            to: Account {
                owner: me,
                subaccount: Some(escrow_subaccount(&caller)),
            },
            amount_e8s: amount,
            fee_e8s: self.params().ledger_fee_e8s,
            created_at_time: now,
            attempts: 0,
            status: TransferStatus::Pending,
        };
        let t = self.new_transfer(t);
        self.save_meta();
        Ok(t)
    }

    fn credit_deposit(&mut self, buyer: Principal, amount: u64, block: u64, now: u64) {
        let mut e = match self.escrow(&buyer) {
            Some(e) => e,
            None => {
                self.meta.escrows = self.meta.escrows.saturating_add(1);
                Escrow::default()
            }
        };
        // `begin_deposit` checked that these cannot overflow at the time; saturate anyway.
        e.deposited_e8s = e.deposited_e8s.saturating_add(amount);
        e.balance_e8s = e.balance_e8s.saturating_add(amount);
        self.meta.held = self.meta.held.saturating_add(amount);
        self.put_escrow(&buyer, &e);
        self.log(
            Event::Deposit {
                buyer,
                amount_e8s: amount,
                block,
            },
            now,
        );
    }

    /// Asks to withdraw `amount` after the notice period (replacing an earlier request).
    pub fn request_withdrawal(
        &mut self,
        caller: Principal,
        amount: u64,
        now: u64,
    ) -> Result<EscrowView, MarketError> {
        let mut e = self.escrow(&caller).ok_or(MarketError::NoEscrow)?;
        if amount == 0 {
            return Err(MarketError::ZeroAmount);
        }
        if amount > e.balance_e8s {
            return Err(MarketError::InsufficientEscrow {
                available_e8s: e.balance_e8s,
            });
        }
        if amount <= self.params().ledger_fee_e8s {
            return Err(MarketError::InvalidArgument(
                "the amount does not cover the ledger fee".into(),
            ));
        }
        let unlock_at = now.saturating_add(self.params().withdrawal_notice_ns);
        e.withdrawal = Some(WithdrawalRequest {
            amount_e8s: amount,
            unlock_at,
        });
        self.put_escrow(&caller, &e);
        self.log(
            Event::WithdrawalRequested {
                buyer: caller,
                amount_e8s: amount,
                unlock_at,
            },
            now,
        );
        self.save_meta();
        self.escrow_view(&caller, now)
            .ok_or_else(|| MarketError::Storage("escrow vanished".into()))
    }

    /// Pays out a withdrawal whose notice has passed: what is left of the requested amount
    /// (receipts settled during the notice come first), less the ledger fee.
    pub fn withdraw(&mut self, caller: Principal, now: u64) -> Result<Transfer, MarketError> {
        let mut e = self.escrow(&caller).ok_or(MarketError::NoEscrow)?;
        let w = e.withdrawal.clone().ok_or(MarketError::NoWithdrawal)?;
        if now < w.unlock_at {
            return Err(MarketError::NoticePending {
                unlock_at: w.unlock_at,
            });
        }
        let fee = self.params().ledger_fee_e8s;
        let amount = w.amount_e8s.min(e.balance_e8s);
        if amount <= fee {
            return Err(MarketError::InsufficientEscrow {
                available_e8s: e.balance_e8s,
            });
        }
        e.balance_e8s -= amount;
        e.withdrawn_e8s = e.withdrawn_e8s.saturating_add(amount);
        e.withdrawal = None;
        self.meta.held = self.meta.held.saturating_sub(amount);
        self.put_escrow(&caller, &e);
        let t = Transfer {
            id: self.meta.next_transfer,
            kind: TransferKind::Withdrawal,
            buyer: Some(caller),
            from_subaccount: Some(escrow_subaccount(&caller)),
            to: Account {
                owner: caller,
                subaccount: None,
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
                buyer: caller,
                amount_e8s: amount,
                transfer: t.id,
            },
            now,
        );
        self.save_meta();
        Ok(t)
    }

    // ------------------------------------------------------------------ settlement

    /// The checkpoint heights and nodes of `items` the market has not cached yet: the shell
    /// fetches their final roots from the epochs canister and their owners from the registry
    /// before settling.
    pub fn missing(&self, items: &[ReceiptProof]) -> (Vec<u64>, Vec<NodeId>) {
        let mut heights: Vec<u64> = items
            .iter()
            .map(|i| i.checkpoint_height)
            .filter(|h| !self.s.roots.contains_key(h))
            .collect();
        heights.sort_unstable();
        heights.dedup();
        let mut nodes: Vec<NodeId> = items
            .iter()
            .map(|i| i.receipt.node)
            .filter(|n| !self.s.owners.contains_key(&n.0))
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        (heights, nodes)
    }

    /// Caches the receipts root of a final checkpoint (as the epochs canister reported it).
    pub fn cache_root(&mut self, height: u64, root: Hash) {
        self.s.roots.insert(height, root.0);
    }

    /// Caches a node's owner (as the registry reported it).
    pub fn cache_owner(&mut self, node: &NodeId, owner: Principal) {
        self.s.owners.insert(node.0, principal_key(&owner));
    }

    /// The cached final receipts root at `height`.
    pub fn final_root(&self, height: u64) -> Option<Hash> {
        self.s.roots.get(&height).map(Hash)
    }

    /// A lane's state.
    pub fn lane(&self, user: &NodeId, node: &NodeId, epoch: u64) -> Lane {
        self.s
            .lanes
            .get(&lane_key(&user.0, &node.0, epoch))
            .map(|b| Lane::from_bytes(&b))
            .unwrap_or_default()
    }

    /// Checks that need no state change: the proof against the cached final root, the key
    /// binding, the node's owner, the lane's progress. Returns (buyer, provider, lane); `memo`
    /// keeps the lookups of one call (a batch reads each root, key and node once).
    fn precheck(
        &self,
        item: &ReceiptProof,
        memo: &mut Lookups,
    ) -> Result<(Principal, Principal, Lane), MarketError> {
        let r = &item.receipt;
        let root = *memo
            .roots
            .entry(item.checkpoint_height)
            .or_insert_with(|| self.final_root(item.checkpoint_height));
        let root = root.ok_or(MarketError::UnknownCheckpoint(item.checkpoint_height))?;
        if item.proof.len() > 64 {
            return Err(MarketError::BadProof);
        }
        let leaf = receipt_leaf(r);
        let proven = memo
            .proofs
            .entry((item.checkpoint_height, item.leaf_count))
            .or_insert_with(|| ProofBatch::new(root, item.leaf_count))
            .verify(leaf, item.leaf_index, &item.proof);
        if !proven {
            return Err(MarketError::BadProof);
        }
        let buyer = *memo
            .buyers
            .entry(r.user.0)
            .or_insert_with(|| self.buyer_of(&r.user));
        let buyer = buyer.ok_or(MarketError::UnboundUser)?;
        let provider = *memo
            .owners
            .entry(r.node.0)
            .or_insert_with(|| self.s.owners.get(&r.node.0).map(|k| key_principal(&k)));
        let provider = provider.ok_or(MarketError::UnknownNode)?;
        let lane = self.lane(&r.user, &r.node, r.epoch);
        if r.cumulative_e8s <= lane.paid_e8s {
            return Err(MarketError::Replayed {
                paid_e8s: lane.paid_e8s,
            });
        }
        Ok((buyer, provider, lane))
    }

    /// The co-signature rule's structural part (`emc_types::pool::check_cosigners`) for one
    /// receipt: the co-sign checks its signatures need (none for a receipt of a node that is
    /// the entry of no pool, which must carry no co-signature).
    fn cosign_checks(
        &self,
        item: &ReceiptProof,
        body: &mut Option<Hash>,
        memo: &mut Lookups,
    ) -> Result<Vec<SignatureCheck>, MarketError> {
        let r = &item.receipt;
        let cosignatures = item.cosignatures.as_deref().unwrap_or_default();
        let pool = memo
            .pools
            .entry(r.node.0)
            .or_insert_with(|| self.pool_of_entry(&r.node));
        let Some(pool) = pool else {
            return match cosignatures.first() {
                Some(c) => Err(MarketError::Cosignature(CosignError::NotMember(c.node))),
                None => Ok(Vec::new()),
            };
        };
        let members: Vec<(NodeId, bool)> = pool
            .members
            .iter()
            .map(|m| (m.node, m.left_at.is_none()))
            .collect();
        let to_verify = check_cosigners(&pool.entry, &members, cosignatures)
            .map_err(MarketError::Cosignature)?;
        let msg = cosign_message(pool.offer_id, body.get_or_insert_with(|| r.body_hash()));
        Ok(to_verify
            .into_iter()
            .map(|c| SignatureCheck {
                key: c.node,
                msg,
                signature: c.signature,
            })
            .collect())
    }

    /// Settles one receipt (see [`Market::settle_batch`]).
    pub fn settle_receipt(&mut self, item: &ReceiptProof, now: u64) -> Result<Trade, MarketError> {
        self.settle_batch(std::slice::from_ref(item), now)?
            .pop()
            .unwrap_or(Err(MarketError::InvalidArgument("empty batch".into())))
    }

    /// Settles receipts proven against final checkpoints, each on its own (one item's refusal
    /// changes nothing and does not stop the others):
    ///
    /// * the receipt's leaf must lead to the cached final receipts root of its checkpoint, its
    ///   user key must be bound to an escrow and its user signature must verify (batch-verified);
    /// * the lane pays `cumulative - paid` (exactly once per lane and cumulative amount,
    ///   whoever submits however often), limited to what the escrow holds: what it lacks stays
    ///   claimable by a later submission of the same (or a later) receipt after a deposit;
    /// * 80% goes to the node's owner and 20% to the treasury, in one journaled transfer each
    ///   per (buyer, provider) of the call, whose ledger fees the escrow pays;
    /// * the trading reward of the settled amount (`fee x P(n)`, user `df(n)`, provider
    ///   `1 - df(n)`, at most `cap x fee`, at most the account's cap in the lane's epoch and
    ///   what is left of the 378M pool) is minted through the epochs canister;
    /// * every settled receipt is a `Trade` in the event log.
    pub fn settle_batch(
        &mut self,
        items: &[ReceiptProof],
        now: u64,
    ) -> Result<Vec<Result<Trade, MarketError>>, MarketError> {
        let max = self.params().max_batch;
        if items.len() > max as usize {
            return Err(MarketError::BatchTooLarge(max));
        }
        // Phase 1: checks without state change.
        let mut memo = Lookups::default();
        let mut checked: Vec<Result<(Principal, Principal, Lane), MarketError>> =
            items.iter().map(|i| self.precheck(i, &mut memo)).collect();
        // Phase 2: a pool receipt's co-signers (structure), then the user signatures and the
        // co-signatures of the survivors, in one batch.
        // (item, whether it is the user's signature, the check)
        let mut checks: Vec<(usize, bool, SignatureCheck)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if checked[i].is_err() {
                continue;
            }
            // The body hash, computed once if anything needs it.
            let r = &item.receipt;
            let mut body = None;
            match self.cosign_checks(item, &mut body, &mut memo) {
                Ok(cosigns) => {
                    if self.params().verify_user_signatures {
                        let user = SignatureCheck {
                            key: r.user,
                            msg: body.get_or_insert_with(|| r.body_hash()).0,
                            signature: r.user_signature,
                        };
                        checks.push((i, true, user));
                    }
                    checks.extend(cosigns.into_iter().map(|c| (i, false, c)));
                }
                Err(e) => checked[i] = Err(e),
            }
        }
        let sigs: Vec<SignatureCheck> = checks.iter().map(|(_, _, c)| *c).collect();
        for ((i, user, c), ok) in checks.iter().zip(signatures_valid(&sigs)) {
            if ok || checked[*i].is_err() {
                continue;
            }
            checked[*i] = Err(if *user {
                MarketError::BadUserSignature
            } else {
                MarketError::Cosignature(CosignError::BadSignature(c.key))
            });
        }
        // Phase 3: apply in order (a lane may appear twice), on overlays written at the end.
        let fee = self.params().ledger_fee_e8s;
        let tp = TokenomicsParams {
            trading_fee_bps: self.params().trading_fee_bps,
            trade_reward_cap_bps: self.params().trade_reward_cap_bps,
            account_epoch_reward_cap: self.params().account_epoch_reward_cap_e8s,
            ..TokenomicsParams::default()
        };
        let mut escrows: BTreeMap<PrincipalKey, Escrow> = BTreeMap::new();
        let mut lanes: BTreeMap<[u8; 72], Lane> = BTreeMap::new();
        let mut groups: BTreeMap<(PrincipalKey, PrincipalKey), Group> = BTreeMap::new();
        let mut rewards: BTreeMap<PrincipalKey, u64> = BTreeMap::new();
        let mut grants: BTreeMap<[u8; 38], u64> = BTreeMap::new();
        let mut out = Vec::with_capacity(items.len());
        for (item, check) in items.iter().zip(checked) {
            let (buyer, provider, stored_lane) = match check {
                Ok(bpl) => bpl,
                Err(e) => {
                    out.push(Err(e));
                    continue;
                }
            };
            let r = &item.receipt;
            let (bk, pk) = (principal_key(&buyer), principal_key(&provider));
            let lk = lane_key(&r.user.0, &r.node.0, r.epoch);
            // The overlay when this call moved the lane already, else the stored state.
            let mut lane = lanes.get(&lk).copied().unwrap_or(stored_lane);
            if r.cumulative_e8s <= lane.paid_e8s {
                out.push(Err(MarketError::Replayed {
                    paid_e8s: lane.paid_e8s,
                }));
                continue;
            }
            let mut escrow = match escrows.get(&bk) {
                Some(e) => e.clone(),
                None => self.escrow(&buyer).unwrap_or_default(),
            };
            // A pool's entry node earns for the pool: its members' owners are paid.
            let pool = memo
                .pools
                .entry(r.node.0)
                .or_insert_with(|| self.pool_of_entry(&r.node))
                .clone();
            let payees: Vec<PrincipalKey> = match &pool {
                Some(p) => p.shares(0).keys().map(principal_key).collect(),
                None => vec![pk],
            };
            // A new (buyer, payee) group of this call costs two ledger fees.
            let new_groups = payees
                .iter()
                .chain(std::iter::once(&pk))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .filter(|k| !groups.contains_key(&(bk, **k)))
                .count() as u64;
            let reserve = fee.saturating_mul(2).saturating_mul(new_groups);
            let covered =
                (r.cumulative_e8s - lane.paid_e8s).min(escrow.balance_e8s.saturating_sub(reserve));
            if covered == 0 {
                out.push(Err(MarketError::InsufficientEscrow {
                    available_e8s: escrow.balance_e8s,
                }));
                continue;
            }
            let period = trading_period(r.epoch, self.config.market_open_epoch);
            let mut s = settle_trade(
                covered,
                period.unwrap_or(emc_tokenomics::Period::FIRST),
                &tp,
            );
            if period.is_none() {
                s.user_reward = 0;
                s.provider_reward = 0;
            }
            s.user_reward = self.grant(&mut grants, r.epoch, &buyer, s.user_reward);
            // The provider's side: one payee, or a pool's owners by E (each reward share
            // capped on its owner's account).
            let mut pool_shares = Vec::new();
            let mut paid: Vec<(PrincipalKey, u64, u64)> = Vec::new();
            match &pool {
                None => {
                    let reward = self.grant(&mut grants, r.epoch, &provider, s.provider_reward);
                    paid.push((pk, s.provider_payment, reward));
                    s.provider_reward = reward;
                }
                Some(p) => {
                    let rewards_by_owner = p.shares(s.provider_reward);
                    let mut total_reward = 0u64;
                    for (owner, payment) in p.shares(s.provider_payment) {
                        let share = rewards_by_owner.get(&owner).copied().unwrap_or(0);
                        let reward = self.grant(&mut grants, r.epoch, &owner, share);
                        total_reward = total_reward.saturating_add(reward);
                        paid.push((principal_key(&owner), payment, reward));
                        pool_shares.push(ProviderShare {
                            owner,
                            payment_e8s: payment,
                            reward_e8s: reward,
                        });
                    }
                    s.provider_reward = total_reward;
                }
            }
            // Books: the reserve moves from the balance to the fees, the trade to spent.
            escrow.balance_e8s -= covered + reserve;
            escrow.fees_e8s = escrow.fees_e8s.saturating_add(reserve);
            escrow.spent_e8s = escrow.spent_e8s.saturating_add(covered);
            self.meta.held = self.meta.held.saturating_sub(covered + reserve);
            let g = groups.entry((bk, pk)).or_default();
            g.treasury = g.treasury.saturating_add(s.treasury_fee);
            for (ok, payment, _) in &paid {
                let g = groups.entry((bk, *ok)).or_default();
                g.provider = g.provider.saturating_add(*payment);
            }
            let reward_parts = paid.iter().map(|(ok, _, reward)| (*ok, *reward));
            for (who, amount) in std::iter::once((bk, s.user_reward)).chain(reward_parts) {
                if amount > 0 {
                    let e = rewards.entry(who).or_default();
                    *e = e.saturating_add(amount);
                }
            }
            lane.paid_e8s += covered;
            lane.claimed_e8s = lane.claimed_e8s.max(r.cumulative_e8s);
            lane.nonce = lane.nonce.max(r.nonce);
            lanes.insert(lk, lane);
            escrows.insert(bk, escrow);
            self.meta.trades = self.meta.trades.saturating_add(1);
            self.meta.volume = self.meta.volume.saturating_add(covered);
            self.meta.treasury_fees = self.meta.treasury_fees.saturating_add(s.treasury_fee);
            let trade = Trade {
                user: r.user,
                node: r.node,
                epoch: r.epoch,
                nonce: r.nonce,
                cumulative_e8s: r.cumulative_e8s,
                paid_cumulative_e8s: lane.paid_e8s,
                amount_e8s: covered,
                treasury_fee_e8s: s.treasury_fee,
                provider_payment_e8s: s.provider_payment,
                user_reward_e8s: s.user_reward,
                provider_reward_e8s: s.provider_reward,
                period: period.map_or(0, |p| p.get()),
                buyer,
                provider,
                checkpoint_height: item.checkpoint_height,
                pool_shares,
            };
            self.log(Event::Trade(trade.clone()), now);
            out.push(Ok(trade));
        }
        // The transfers: per group 80% to the provider and 20% to the treasury; a zero part
        // gives its reserved fee back to the escrow.
        let treasury = self.config.treasury;
        for ((bk, pk), g) in groups {
            let buyer = key_principal(&bk);
            for (kind, to, amount) in [
                (
                    TransferKind::ProviderPayment,
                    Account {
                        owner: key_principal(&pk),
                        subaccount: None,
                    },
                    g.provider,
                ),
                (TransferKind::TreasuryFee, treasury, g.treasury),
            ] {
                if amount == 0 {
                    if let Some(e) = escrows.get_mut(&bk) {
                        e.balance_e8s = e.balance_e8s.saturating_add(fee);
                        e.fees_e8s = e.fees_e8s.saturating_sub(fee);
                        self.meta.held = self.meta.held.saturating_add(fee);
                    }
                    continue;
                }
                let t = Transfer {
                    id: self.meta.next_transfer,
                    kind,
                    buyer: Some(buyer),
                    from_subaccount: Some(escrow_subaccount(&buyer)),
                    to,
                    amount_e8s: amount,
                    fee_e8s: fee,
                    created_at_time: now,
                    attempts: 0,
                    status: TransferStatus::Pending,
                };
                self.new_transfer(t);
            }
        }
        for (who, amount) in rewards {
            let t = Transfer {
                id: self.meta.next_transfer,
                kind: TransferKind::Reward,
                buyer: None,
                from_subaccount: None,
                to: Account {
                    owner: key_principal(&who),
                    subaccount: None,
                },
                amount_e8s: amount,
                fee_e8s: 0,
                created_at_time: now,
                attempts: 0,
                status: TransferStatus::Pending,
            };
            self.new_transfer(t);
        }
        for (bk, e) in escrows {
            self.s.escrows.insert(bk, Cand(Some(e)));
        }
        for (lk, l) in lanes {
            self.s.lanes.insert(lk, l.to_bytes());
        }
        for (k, used) in grants {
            self.s.grants.insert(k, used);
        }
        self.save_meta();
        Ok(out)
    }

    /// Grants up to `reward` to `who` for `epoch`, within its epoch cap and the pool's cap;
    /// `overlay` holds the grants of this batch, written to stable memory at its end.
    fn grant(
        &mut self,
        overlay: &mut BTreeMap<[u8; 38], u64>,
        epoch: u64,
        who: &Principal,
        reward: u64,
    ) -> u64 {
        if reward == 0 {
            return 0;
        }
        let k = grant_key(epoch, who);
        let used = match overlay.get(&k) {
            Some(&used) => used,
            None => self.s.grants.get(&k).unwrap_or(0),
        };
        let amount = reward
            .min(
                self.params()
                    .account_epoch_reward_cap_e8s
                    .saturating_sub(used),
            )
            .min(TRADING_REWARD_POOL_CAP.saturating_sub(self.meta.rewards));
        if amount > 0 {
            overlay.insert(k, used.saturating_add(amount));
            self.meta.rewards = self.meta.rewards.saturating_add(amount);
        }
        amount
    }

    /// Trading reward granted to `who` in `epoch`.
    pub fn granted(&self, epoch: u64, who: &Principal) -> u64 {
        self.s.grants.get(&grant_key(epoch, who)).unwrap_or(0)
    }

    // ------------------------------------------------------------------ journal

    /// A journal entry.
    pub fn transfer(&self, id: u64) -> Option<Transfer> {
        self.s.journal.get(&id).and_then(|c| c.0)
    }

    /// Pending entries to call now (at most `max`); entries past the ledger's deduplication
    /// window become `Stuck` instead.
    pub fn plan_transfers(&mut self, now: u64, max: usize) -> Vec<Transfer> {
        let ids: Vec<u64> = self.s.pending.iter().map(|e| *e.key()).collect();
        let mut out = Vec::new();
        let mut changed = false;
        for id in ids {
            if out.len() >= max {
                break;
            }
            let Some(mut t) = self.transfer(id) else {
                continue;
            };
            if now.saturating_sub(t.created_at_time) > DEDUP_SAFE_NS {
                t.status = TransferStatus::Stuck;
                self.s.journal.insert(id, Cand(Some(t)));
                self.s.pending.remove(&id);
                self.meta.pending = self.meta.pending.saturating_sub(1);
                changed = true;
                continue;
            }
            out.push(t);
        }
        if changed {
            self.save_meta();
        }
        out
    }

    /// Records the ledger's answer to a journaled call. A deposit is credited only here, once.
    pub fn record_transfer(
        &mut self,
        id: u64,
        outcome: &TransferOutcome,
        now: u64,
    ) -> Result<Transfer, MarketError> {
        let mut t = storage(
            self.s.journal.get(&id).ok_or(MarketError::NotFound)?.0,
            "transfer",
        )?;
        if t.status != TransferStatus::Pending {
            return Ok(t);
        }
        t.attempts = t.attempts.saturating_add(1);
        let settled = match outcome {
            TransferOutcome::Done(block) => {
                t.status = TransferStatus::Done { block: *block };
                if t.kind == TransferKind::Deposit {
                    if let Some(buyer) = t.buyer {
                        self.credit_deposit(buyer, t.amount_e8s, *block, now);
                    }
                }
                true
            }
            // Only a deposit can fail for good: everything else left an escrow already.
            TransferOutcome::Failed(reason) if t.kind == TransferKind::Deposit => {
                t.status = TransferStatus::Failed {
                    reason: reason.clone(),
                };
                true
            }
            TransferOutcome::Failed(_) | TransferOutcome::Retry(_) => false,
            TransferOutcome::TooOld => {
                t.status = TransferStatus::Stuck;
                true
            }
        };
        if settled {
            self.s.pending.remove(&id);
            self.meta.pending = self.meta.pending.saturating_sub(1);
        }
        self.s.journal.insert(id, Cand(Some(t.clone())));
        self.save_meta();
        Ok(t)
    }

    /// Pending entries (at most `limit`).
    pub fn pending_transfers(&self, limit: usize) -> Vec<Transfer> {
        self.s
            .pending
            .iter()
            .take(limit)
            .filter_map(|e| self.transfer(*e.key()))
            .collect()
    }

    // ------------------------------------------------------------------ governance

    /// Checks a parameter change (the SNS `validate_*` half).
    pub fn validate_set_params(&self, p: &Params) -> Result<String, String> {
        validate_params(p)?;
        Ok(format!("set market parameters to {p:?}"))
    }

    /// Applies a parameter change (governance only).
    pub fn execute_set_params(&mut self, caller: Principal, p: &Params) -> Result<(), MarketError> {
        if caller != self.config.governance {
            return Err(MarketError::NotGovernance);
        }
        validate_params(p).map_err(MarketError::InvalidArgument)?;
        let mut c = self.config.clone();
        c.params = p.clone();
        write_config(&mut self.s, &c).map_err(|e| MarketError::Storage(e.to_string()))?;
        self.config = c;
        Ok(())
    }

    /// Checks a change of the governance principal (the SNS `validate_*` half).
    pub fn validate_set_governance(&self, p: &Principal) -> Result<String, String> {
        if *p == Principal::anonymous() || *p == Principal::management_canister() {
            return Err(format!("{p} cannot be the governance principal"));
        }
        Ok(format!(
            "set the market's governance principal from {} to {p}",
            self.config.governance
        ))
    }

    /// Hands governance to another principal (governance only).
    pub fn execute_set_governance(
        &mut self,
        caller: Principal,
        p: &Principal,
    ) -> Result<(), MarketError> {
        if caller != self.config.governance {
            return Err(MarketError::NotGovernance);
        }
        self.validate_set_governance(p)
            .map_err(MarketError::InvalidArgument)?;
        let mut c = self.config.clone();
        c.governance = *p;
        write_config(&mut self.s, &c).map_err(|e| MarketError::Storage(e.to_string()))?;
        self.config = c;
        Ok(())
    }

    /// Checks the settlement of a `Stuck` transfer.
    pub fn validate_resolve_transfer(&self, a: &ResolveTransferArgs) -> Result<String, String> {
        let t = self.transfer(a.id).ok_or("unknown transfer")?;
        if t.status != TransferStatus::Stuck {
            return Err("the transfer is not stuck".into());
        }
        Ok(match a.executed_in_block {
            Some(b) => format!("mark transfer {} as executed in block {b}", a.id),
            None => format!("re-issue transfer {} with a fresh created_at_time", a.id),
        })
    }

    /// Settles a `Stuck` transfer (governance only): executed in a block, or re-issued.
    pub fn execute_resolve_transfer(
        &mut self,
        caller: Principal,
        a: &ResolveTransferArgs,
        now: u64,
    ) -> Result<(), MarketError> {
        if caller != self.config.governance {
            return Err(MarketError::NotGovernance);
        }
        self.validate_resolve_transfer(a)
            .map_err(MarketError::InvalidArgument)?;
        let mut t = storage(self.transfer(a.id), "transfer")?;
        match a.executed_in_block {
            Some(block) => {
                t.status = TransferStatus::Done { block };
                if t.kind == TransferKind::Deposit {
                    if let Some(buyer) = t.buyer {
                        self.credit_deposit(buyer, t.amount_e8s, block, now);
                    }
                }
            }
            None => {
                t.status = TransferStatus::Pending;
                t.created_at_time = now;
                self.s.pending.insert(t.id, ());
                self.meta.pending = self.meta.pending.saturating_add(1);
            }
        }
        self.s.journal.insert(t.id, Cand(Some(t)));
        self.save_meta();
        Ok(())
    }

    // ------------------------------------------------------------------ stats

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            offers: self.meta.offers,
            escrows: self.meta.escrows,
            escrow_held_e8s: self.meta.held,
            trades: self.meta.trades,
            volume_e8s: self.meta.volume,
            treasury_fees_e8s: self.meta.treasury_fees,
            rewards_e8s: self.meta.rewards,
            pending_transfers: self.meta.pending,
            events: self.meta.next_event,
        }
    }
}

fn write_config<M: Memory>(s: &mut Stores<M>, c: &Config) -> Result<(), LoadError> {
    let body = candid::encode_one(c).map_err(|e| LoadError::Storage(e.to_string()))?;
    s.config.set(HEADER.encode(&body));
    Ok(())
}

/// Checks every parameter's range.
pub fn validate_params(p: &Params) -> Result<(), String> {
    if p.trading_fee_bps > BPS_SCALE {
        return Err("trading_fee_bps must be at most 10000".into());
    }
    if p.trade_reward_cap_bps >= BPS_SCALE {
        return Err(
            "trade_reward_cap_bps must be strictly below 10000 (a trade's reward stays below its fee)"
                .into(),
        );
    }
    if p.max_batch == 0 || p.max_batch > 5_000 {
        return Err("max_batch must be 1 to 5000".into());
    }
    if p.max_offers_per_provider == 0 || p.max_offers_per_provider > 100_000 {
        return Err("max_offers_per_provider must be 1 to 100000".into());
    }
    if p.withdrawal_notice_ns > 365 * 86_400 * 1_000_000_000 {
        return Err("withdrawal_notice_ns must be at most a year".into());
    }
    if p.ledger_fee_e8s > 100_000_000 {
        return Err("ledger_fee_e8s must be at most 1 EMC".into());
    }
    Ok(())
}
