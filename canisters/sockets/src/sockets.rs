//! The pure core: ICRC-7 / ICRC-37 state transitions over stable structures, the ICRC-3 block
//! log with its hash chain, and socket minting. No ic-cdk, no clock: the shell passes the
//! caller and the time. Every batch item is checked completely before anything is written, so
//! a refused item changes nothing (batches are not atomic: earlier items stay applied).

use crate::certify::{tip_tree, HashTree};
use crate::storage::*;
use crate::types::*;
use crate::LoadError;
use candid::{Nat, Principal};
use ic_stable_structures::Memory;
use icrc_ledger_types::icrc::generic_value::ICRC3Map;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc3::archive::{GetArchivesArgs, GetArchivesResult};
use icrc_ledger_types::icrc3::blocks::{
    BlockWithId, GetBlocksRequest, GetBlocksResult, ICRC3DataCertificate, SupportedBlockType,
};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};

/// `GenericError` codes of this collection (documented in the README).
pub mod codes {
    /// The memo is longer than `icrc7_max_memo_size`.
    pub const MEMO_TOO_LONG: u64 = 1;
    /// The socket has expired: it can no longer be transferred or approved.
    pub const SOCKET_EXPIRED: u64 = 2;
    /// A subaccount argument is not 32 bytes.
    pub const BAD_SUBACCOUNT: u64 = 3;
    /// An approval's `expires_at` is not in the future.
    pub const APPROVAL_EXPIRED: u64 = 4;
    /// The token or account already has the most approvals allowed.
    pub const TOO_MANY_APPROVALS: u64 = 5;
    /// Storage failure (never expected).
    pub const STORAGE: u64 = 6;
    /// `GenericBatchError`: the batch exceeds `icrc7_max_update_batch_size`.
    pub const BATCH_TOO_LARGE: u64 = 100;
    /// `GenericBatchError`: an empty batch.
    pub const EMPTY_BATCH: u64 = 101;
}

/// The ICRC-3 block types this collection writes.
pub const BLOCK_TYPES: [&str; 7] = [
    "7mint",
    "7xfer",
    "37approve",
    "37approve_coll",
    "37revoke",
    "37revoke_coll",
    "37xfer",
];

/// A refusal common to every ICRC-7/37 update; mapped onto each method's error variant.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    NonExistingTokenId,
    InvalidRecipient,
    InvalidSpender,
    Unauthorized,
    ApprovalDoesNotExist,
    TooOld,
    CreatedInFuture(u64),
    Duplicate(u64),
    Generic(u64, String),
}

macro_rules! map_refusal {
    ($r:expr, $E:ident, [$($extra:ident),*]) => {{
        #[allow(unreachable_patterns)]
        match $r {
            Refusal::TooOld => $E::TooOld,
            Refusal::CreatedInFuture(t) => $E::CreatedInFuture { ledger_time: t },
            Refusal::Generic(c, m) => $E::GenericError { error_code: Nat::from(c), message: m },
            $(Refusal::$extra => $E::$extra,)*
            other => $E::GenericError { error_code: Nat::from(codes::STORAGE), message: format!("{other:?}") },
        }
    }};
}

fn batch_error(code: u64, max: u64) -> (Nat, String) {
    let msg = if code == codes::EMPTY_BATCH {
        "empty batch".to_string()
    } else {
        format!("a batch holds at most {max} items")
    };
    (Nat::from(code), msg)
}

/// A token id as `u64` (ids above `u64::MAX` never exist).
pub fn nat_u64(n: &Nat) -> Option<u64> {
    let d = n.0.to_u64_digits();
    match d.len() {
        0 => Some(0),
        1 => Some(d[0]),
        _ => None,
    }
}

fn sub32(s: &Option<ByteBuf>) -> Result<Option<[u8; 32]>, Refusal> {
    match s {
        None => Ok(None),
        Some(b) => {
            let a: [u8; 32] = b.as_slice().try_into().map_err(|_| {
                Refusal::Generic(codes::BAD_SUBACCOUNT, "a subaccount is 32 bytes".into())
            })?;
            Ok((a != [0; 32]).then_some(a))
        }
    }
}

/// The account with the default subaccount as `None`.
pub fn normalize(a: &Account) -> Account {
    Account {
        owner: a.owner,
        subaccount: a.subaccount.filter(|s| *s != [0; 32]),
    }
}

fn nat(n: u64) -> Value {
    Value::Nat(Nat::from(n))
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

/// An account as an ICRC-3 value: `Array[Blob(owner), Blob(subaccount)?]`.
pub fn account_value(a: &Account) -> Value {
    let mut v = vec![Value::Blob(ByteBuf::from(a.owner.as_slice().to_vec()))];
    if let Some(s) = normalize(a).subaccount {
        v.push(Value::Blob(ByteBuf::from(s.to_vec())));
    }
    Value::Array(v)
}

/// A socket's token metadata (`icrc7_token_metadata`, and the `meta` of its `7mint` block).
pub fn token_metadata(t: &Token) -> Vec<(String, Value)> {
    let s = &t.terms;
    vec![
        (
            "icrc7:name".into(),
            text(&format!("socket for {}", s.app_id)),
        ),
        ("emc:app_id".into(), text(&s.app_id)),
        (
            "emc:model_hash".into(),
            Value::Blob(ByteBuf::from(s.model_hash.0.to_vec())),
        ),
        ("emc:units_per_period".into(), nat(s.units_per_period)),
        ("emc:period_secs".into(), nat(s.period_secs)),
        ("emc:expires_at".into(), nat(s.expires_at)),
        ("emc:offer_id".into(), nat(s.offer_id)),
        (
            "emc:provider".into(),
            Value::Blob(ByteBuf::from(s.provider.as_slice().to_vec())),
        ),
        ("emc:paid_e8s".into(), nat(s.paid_e8s)),
        ("emc:minted_at".into(), nat(t.minted_at)),
    ]
}

/// A transaction being recorded: its block type and `tx` map.
struct Tx {
    btype: &'static str,
    tx: ICRC3Map,
}

impl Tx {
    fn new(btype: &'static str) -> Self {
        Tx {
            btype,
            tx: ICRC3Map::new(),
        }
    }
    fn put(mut self, k: &str, v: Value) -> Self {
        self.tx.insert(k.to_string(), v);
        self
    }
    fn opt(self, k: &str, v: Option<Value>) -> Self {
        match v {
            Some(v) => self.put(k, v),
            None => self,
        }
    }
    fn memo_ts(self, memo: &Option<ByteBuf>, ts: Option<u64>) -> Self {
        self.opt("memo", memo.clone().map(Value::Blob))
            .opt("ts", ts.map(nat))
    }
    /// The deduplication key: `sha256(btype || hash(tx))` (the tx holds every argument, the
    /// caller's account included).
    fn dedup_key(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.btype.as_bytes());
        h.update(Value::Map(self.tx.clone()).hash());
        h.finalize().into()
    }
}

/// The collection: config, counters and the stable structures.
pub struct Sockets<M: Memory> {
    s: Stores<M>,
    config: Config,
    meta: Meta,
}

impl<M: Memory> Sockets<M> {
    /// A fresh collection over an empty memory.
    pub fn init(memory: M, args: &InitArgs) -> Result<Self, LoadError> {
        let limits = args.limits.clone().unwrap_or_default();
        validate_limits(&limits).map_err(LoadError::InvalidArgument)?;
        if args.minters.iter().any(|m| *m == Principal::anonymous()) {
            return Err(LoadError::InvalidArgument(
                "the anonymous principal cannot mint".into(),
            ));
        }
        let mut s = Stores::open(memory);
        if !s.config.get().is_empty() {
            return Err(LoadError::AlreadyInitialized);
        }
        let config = Config {
            minters: args.minters.clone(),
            governance: args.governance,
            name: args
                .name
                .clone()
                .unwrap_or_else(|| "EMC Computing Sockets".into()),
            symbol: args.symbol.clone().unwrap_or_else(|| "EMCS".into()),
            description: args.description.clone().or_else(|| {
                Some("Subscriptions to EMC compute for one app, bought in the EMC market".into())
            }),
            limits,
        };
        let body = candid::encode_one(&config).map_err(|e| LoadError::Storage(e.to_string()))?;
        s.config.set(HEADER.encode(&body));
        let mut c = Sockets {
            s,
            config,
            meta: Meta {
                next_token_id: 1,
                ..Meta::default()
            },
        };
        c.save_meta();
        Ok(c)
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
        Ok(Sockets { s, config, meta })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The counters and the log tip.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    fn limits(&self) -> &Limits {
        &self.config.limits
    }

    fn save_meta(&mut self) {
        // Meta always encodes (integers, options and a hash).
        let bytes = candid::encode_one(&self.meta).unwrap_or_default();
        self.s.meta.set(bytes);
    }

    // ------------------------------------------------------------------ block log

    /// Appends a block `{btype, ts, phash?, tx}`; returns its index.
    fn append(&mut self, tx: Tx, now: u64) -> u64 {
        let mut b = ICRC3Map::new();
        b.insert("btype".into(), text(tx.btype));
        b.insert("ts".into(), nat(now));
        if let Some(p) = self.meta.tip_hash {
            b.insert("phash".into(), Value::Blob(ByteBuf::from(p.0.to_vec())));
        }
        b.insert("tx".into(), Value::Map(tx.tx));
        let block = Value::Map(b);
        let bytes = candid::encode_one(&block).unwrap_or_default();
        let index = self.meta.log_length;
        self.meta.tip_hash = Some(emc_types::Hash(block.hash()));
        self.meta.log_length += 1;
        self.s.blocks.insert(index, bytes);
        index
    }

    /// A stored block.
    pub fn block(&self, index: u64) -> Option<Value> {
        self.s
            .blocks
            .get(&index)
            .and_then(|b| candid::decode_one(&b).ok())
    }

    /// The certified tip tree.
    pub fn tip_hash_tree(&self) -> HashTree {
        tip_tree(match (self.meta.log_length, self.meta.tip_hash) {
            (n, Some(h)) if n > 0 => Some((n - 1, h.0)),
            _ => None,
        })
    }

    /// What the canister sets as its certified data.
    pub fn certified_data(&self) -> [u8; 32] {
        self.tip_hash_tree().digest()
    }

    /// `icrc3_get_tip_certificate`, given the system's data certificate.
    pub fn tip_certificate(&self, certificate: Option<Vec<u8>>) -> Option<ICRC3DataCertificate> {
        certificate.map(|c| ICRC3DataCertificate {
            certificate: ByteBuf::from(c),
            hash_tree: ByteBuf::from(self.tip_hash_tree().to_cbor_self_describing()),
        })
    }

    /// `icrc3_get_blocks`: the requested ranges, at most `max_query_batch_size` blocks in all.
    pub fn get_blocks(&self, args: &[GetBlocksRequest]) -> GetBlocksResult {
        let mut budget = self.limits().max_query_batch_size;
        let mut blocks = Vec::new();
        for r in args {
            let (Some(start), Some(len)) =
                (nat_u64(&r.start), nat_u64(&r.length).or(Some(u64::MAX)))
            else {
                continue;
            };
            let end = start
                .saturating_add(len.min(budget))
                .min(self.meta.log_length);
            for id in start..end {
                if let Some(block) = self.block(id) {
                    blocks.push(BlockWithId {
                        id: Nat::from(id),
                        block,
                    });
                    budget -= 1;
                }
            }
        }
        GetBlocksResult {
            log_length: Nat::from(self.meta.log_length),
            blocks,
            archived_blocks: vec![],
        }
    }

    /// `icrc3_get_archives`: none (every block stays in this canister's stable memory).
    pub fn archives(&self, _args: &GetArchivesArgs) -> GetArchivesResult {
        vec![]
    }

    /// `icrc3_supported_block_types`.
    pub fn supported_block_types(&self) -> Vec<SupportedBlockType> {
        BLOCK_TYPES
            .iter()
            .map(|t| SupportedBlockType {
                block_type: t.to_string(),
                url: if t.starts_with("37") {
                    "https://github.com/dfinity/ICRC/blob/main/ICRCs/ICRC-37/ICRC-37.md".into()
                } else {
                    "https://github.com/dfinity/ICRC/blob/main/ICRCs/ICRC-7/ICRC-7.md".into()
                },
            })
            .collect()
    }

    // ------------------------------------------------------------------ checks

    fn check_time(&self, created_at: Option<u64>, now: u64) -> Result<(), Refusal> {
        let Some(t) = created_at else { return Ok(()) };
        let l = self.limits();
        if t.saturating_add(l.tx_window_ns)
            .saturating_add(l.permitted_drift_ns)
            < now
        {
            return Err(Refusal::TooOld);
        }
        if t > now.saturating_add(l.permitted_drift_ns) {
            return Err(Refusal::CreatedInFuture(now));
        }
        Ok(())
    }

    fn check_memo(&self, memo: &Option<ByteBuf>) -> Result<(), Refusal> {
        match memo {
            Some(m) if m.len() as u64 > self.limits().max_memo_size => Err(Refusal::Generic(
                codes::MEMO_TOO_LONG,
                format!("a memo holds at most {} bytes", self.limits().max_memo_size),
            )),
            _ => Ok(()),
        }
    }

    fn token(&self, id: &Nat) -> Result<(u64, Token), Refusal> {
        let id = nat_u64(id).ok_or(Refusal::NonExistingTokenId)?;
        match self.s.tokens.get(&id) {
            Some(Cand(Some(t))) => Ok((id, t)),
            Some(Cand(None)) => Err(Refusal::Generic(codes::STORAGE, "undecodable token".into())),
            None => Err(Refusal::NonExistingTokenId),
        }
    }

    fn not_expired(t: &Token, now: u64) -> Result<(), Refusal> {
        if t.terms.expires_at <= now {
            return Err(Refusal::Generic(
                codes::SOCKET_EXPIRED,
                format!("the socket expired at {}", t.terms.expires_at),
            ));
        }
        Ok(())
    }

    fn check_dedup(&self, tx: &Tx, created_at: Option<u64>) -> Result<Option<[u8; 32]>, Refusal> {
        if created_at.is_none() {
            return Ok(None);
        }
        let key = tx.dedup_key();
        match self.s.dedup.get(&key) {
            Some(i) => Err(Refusal::Duplicate(i)),
            None => Ok(Some(key)),
        }
    }

    fn record_dedup(&mut self, key: Option<[u8; 32]>, created_at: Option<u64>, index: u64) {
        if let (Some(k), Some(t)) = (key, created_at) {
            self.s.dedup.insert(k, index);
            self.s
                .dedup_by_time
                .insert(concat(&t.to_be_bytes(), &k), ());
        }
    }

    /// Forgets at most `max` deduplication entries older than the window (run by every update).
    pub fn prune_dedup(&mut self, now: u64, max: usize) -> usize {
        let l = self.limits();
        let horizon = now.saturating_sub(l.tx_window_ns.saturating_add(l.permitted_drift_ns));
        let old: Vec<[u8; 40]> = self
            .s
            .dedup_by_time
            .iter()
            .take(max)
            .map(|e| *e.key())
            .take_while(|k| u64::from_be_bytes(k[..8].try_into().unwrap_or([0xff; 8])) < horizon)
            .collect();
        for k in &old {
            self.s.dedup_by_time.remove(k);
            let mut h = [0u8; 32];
            h.copy_from_slice(&k[8..]);
            self.s.dedup.remove(&h);
        }
        old.len()
    }

    fn move_token(&mut self, id: u64, mut t: Token, to: &Account) {
        let from = normalize(&t.owner);
        self.s
            .owner_index
            .remove(&concat(&account_key(&from), &id.to_be_bytes()));
        self.s
            .owner_index
            .insert(concat(&account_key(to), &id.to_be_bytes()), ());
        // A transfer clears the token's approvals (never the collection's).
        for k in self.token_approval_keys(id) {
            self.s.token_approvals.remove(&k);
        }
        t.owner = *to;
        t.transfers += 1;
        self.s.tokens.insert(id, Cand(Some(t)));
    }

    fn token_approval_keys(&self, id: u64) -> Vec<[u8; 70]> {
        let lo: [u8; 70] = concat(&id.to_be_bytes(), &[0u8; 62]);
        let hi: [u8; 70] = concat(&id.to_be_bytes(), &[0xffu8; 62]);
        self.s
            .token_approvals
            .range(lo..=hi)
            .map(|e| *e.key())
            .collect()
    }

    fn collection_approval_keys(&self, owner: &Account) -> Vec<[u8; 124]> {
        let o = account_key(owner);
        let lo: [u8; 124] = concat(&o, &[0u8; 62]);
        let hi: [u8; 124] = concat(&o, &[0xffu8; 62]);
        self.s
            .collection_approvals
            .range(lo..=hi)
            .map(|e| *e.key())
            .collect()
    }

    fn batch_limit(&self, n: usize) -> Result<(), (Nat, String)> {
        let max = self.limits().max_update_batch_size;
        if n == 0 {
            return Err(batch_error(codes::EMPTY_BATCH, max));
        }
        if n as u64 > max {
            return Err(batch_error(codes::BATCH_TOO_LARGE, max));
        }
        Ok(())
    }

    // ------------------------------------------------------------------ minting

    /// Mints a socket (minters only). Idempotent on `(caller, purchase_id)`: a repeat returns
    /// the token minted the first time and writes nothing.
    pub fn mint(
        &mut self,
        caller: Principal,
        now: u64,
        args: &MintSocketArgs,
    ) -> Result<u64, SocketError> {
        if !self.config.minters.contains(&caller) {
            return Err(SocketError::NotMinter);
        }
        let pkey: [u8; 38] = concat(&principal_key(&caller), &args.purchase_id.to_be_bytes());
        if let Some(id) = self.s.purchases.get(&pkey) {
            return Ok(id);
        }
        let t = &args.terms;
        let bad = |m: &str| Err(SocketError::InvalidArgument(m.into()));
        if t.app_id.is_empty() || t.app_id.len() > 128 {
            return bad("app_id must hold 1 to 128 bytes");
        }
        if t.period_secs == 0 || t.units_per_period == 0 {
            return bad("period_secs and units_per_period must be positive");
        }
        if t.expires_at <= now {
            return bad("expires_at must be in the future");
        }
        if args.to.owner == Principal::anonymous() {
            return bad("the anonymous principal cannot hold a socket");
        }
        if self.check_memo(&args.memo).is_err() {
            return bad("memo too long");
        }
        if let Some(cap) = self.limits().supply_cap {
            if self.meta.total_supply >= cap {
                return Err(SocketError::SupplyCapReached { cap });
            }
        }
        let id = self.meta.next_token_id;
        let to = normalize(&args.to);
        let token = Token {
            owner: to,
            terms: t.clone(),
            minted_at: now,
            transfers: 0,
        };
        let meta: ICRC3Map = token_metadata(&token).into_iter().collect();
        let mut wrapped = ICRC3Map::new();
        wrapped.insert("icrc7:token_metadata".into(), Value::Map(meta));
        let tx = Tx::new("7mint")
            .put("tid", nat(id))
            .put(
                "from",
                account_value(&Account {
                    owner: caller,
                    subaccount: None,
                }),
            )
            .put("to", account_value(&to))
            .put("meta", Value::Map(wrapped))
            .opt("memo", args.memo.clone().map(Value::Blob));
        self.s.tokens.insert(id, Cand(Some(token)));
        self.s
            .owner_index
            .insert(concat(&account_key(&to), &id.to_be_bytes()), ());
        self.s.purchases.insert(pkey, id);
        self.append(tx, now);
        self.meta.next_token_id += 1;
        self.meta.total_supply += 1;
        self.save_meta();
        Ok(id)
    }

    // ------------------------------------------------------------------ ICRC-7 updates

    /// `icrc7_transfer`.
    pub fn transfer(
        &mut self,
        caller: Principal,
        now: u64,
        args: &[TransferArg],
    ) -> Vec<Option<TransferResult>> {
        if let Err((error_code, message)) = self.batch_limit(args.len()) {
            return vec![Some(Err(TransferError::GenericBatchError {
                error_code,
                message,
            }))];
        }
        let out = args
            .iter()
            .map(|a| {
                Some(
                    self.transfer_one(caller, now, a)
                        .map(Nat::from)
                        .map_err(|r| match r {
                            Refusal::Duplicate(i) => TransferError::Duplicate {
                                duplicate_of: Nat::from(i),
                            },
                            r => map_refusal!(
                                r,
                                TransferError,
                                [NonExistingTokenId, InvalidRecipient, Unauthorized]
                            ),
                        }),
                )
            })
            .collect();
        self.save_meta();
        out
    }

    fn transfer_one(
        &mut self,
        caller: Principal,
        now: u64,
        a: &TransferArg,
    ) -> Result<u64, Refusal> {
        self.check_memo(&a.memo)?;
        self.check_time(a.created_at_time, now)?;
        let from = Account {
            owner: caller,
            subaccount: sub32(&a.from_subaccount)?,
        };
        let (id, t) = self.token(&a.token_id)?;
        if account_key(&t.owner) != account_key(&from) {
            return Err(Refusal::Unauthorized);
        }
        Self::not_expired(&t, now)?;
        let to = normalize(&a.to);
        if account_key(&to) == account_key(&from) || to.owner == Principal::anonymous() {
            return Err(Refusal::InvalidRecipient);
        }
        let tx = Tx::new("7xfer")
            .put("tid", nat(id))
            .put("from", account_value(&from))
            .put("to", account_value(&to))
            .memo_ts(&a.memo, a.created_at_time);
        let key = self.check_dedup(&tx, a.created_at_time)?;
        self.move_token(id, t, &to);
        let index = self.append(tx, now);
        self.record_dedup(key, a.created_at_time, index);
        Ok(index)
    }

    // ------------------------------------------------------------------ ICRC-37 updates

    /// `icrc37_approve_tokens`.
    pub fn approve_tokens(
        &mut self,
        caller: Principal,
        now: u64,
        args: &[ApproveTokenArg],
    ) -> Vec<Option<ApproveTokenResult>> {
        if let Err((error_code, message)) = self.batch_limit(args.len()) {
            return vec![Some(Err(ApproveTokenError::GenericBatchError {
                error_code,
                message,
            }))];
        }
        let out = args
            .iter()
            .map(|a| {
                Some(
                    self.approve_token_one(caller, now, a)
                        .map(Nat::from)
                        .map_err(|r| {
                            map_refusal!(
                                r,
                                ApproveTokenError,
                                [InvalidSpender, Unauthorized, NonExistingTokenId]
                            )
                        }),
                )
            })
            .collect();
        self.save_meta();
        out
    }

    fn check_approval(
        &self,
        caller: Principal,
        info: &ApprovalInfo,
        now: u64,
    ) -> Result<Account, Refusal> {
        self.check_memo(&info.memo)?;
        self.check_time(Some(info.created_at_time), now)?;
        let from = Account {
            owner: caller,
            subaccount: sub32(&info.from_subaccount)?,
        };
        if info.spender.owner == caller || info.spender.owner == Principal::anonymous() {
            return Err(Refusal::InvalidSpender);
        }
        if matches!(info.expires_at, Some(e) if e <= now) {
            return Err(Refusal::Generic(
                codes::APPROVAL_EXPIRED,
                "expires_at is not in the future".into(),
            ));
        }
        Ok(from)
    }

    fn approve_token_one(
        &mut self,
        caller: Principal,
        now: u64,
        a: &ApproveTokenArg,
    ) -> Result<u64, Refusal> {
        let info = &a.approval_info;
        let from = self.check_approval(caller, info, now)?;
        let (id, t) = self.token(&a.token_id)?;
        if account_key(&t.owner) != account_key(&from) {
            return Err(Refusal::Unauthorized);
        }
        Self::not_expired(&t, now)?;
        let spender = normalize(&info.spender);
        let key: [u8; 70] = concat(&id.to_be_bytes(), &account_key(&spender));
        if !self.s.token_approvals.contains_key(&key)
            && self.token_approval_keys(id).len() as u64
                >= self.limits().max_approvals_per_token_or_collection
        {
            return Err(Refusal::Generic(
                codes::TOO_MANY_APPROVALS,
                "too many approvals for this token".into(),
            ));
        }
        let tx = Tx::new("37approve")
            .put("tid", nat(id))
            .put("from", account_value(&from))
            .put("spender", account_value(&spender))
            .opt("exp", info.expires_at.map(nat))
            .memo_ts(&info.memo, Some(info.created_at_time));
        let mut stored = info.clone();
        stored.spender = spender;
        self.s.token_approvals.insert(key, Cand(Some(stored)));
        Ok(self.append(tx, now))
    }

    /// `icrc37_approve_collection` (one result per item; the canister method returns only the
    /// errors, as the standard's `.did` does).
    pub fn approve_collection(
        &mut self,
        caller: Principal,
        now: u64,
        args: &[ApproveCollectionArg],
    ) -> Vec<Option<ApproveCollectionResult>> {
        if let Err((error_code, message)) = self.batch_limit(args.len()) {
            return vec![Some(Err(ApproveCollectionError::GenericBatchError {
                error_code,
                message,
            }))];
        }
        let out = args
            .iter()
            .map(|a| {
                Some(
                    self.approve_collection_one(caller, now, a)
                        .map(Nat::from)
                        .map_err(|r| map_refusal!(r, ApproveCollectionError, [InvalidSpender])),
                )
            })
            .collect();
        self.save_meta();
        out
    }

    fn approve_collection_one(
        &mut self,
        caller: Principal,
        now: u64,
        a: &ApproveCollectionArg,
    ) -> Result<u64, Refusal> {
        let info = &a.approval_info;
        let from = self.check_approval(caller, info, now)?;
        let spender = normalize(&info.spender);
        let key: [u8; 124] = concat(&account_key(&from), &account_key(&spender));
        if !self.s.collection_approvals.contains_key(&key)
            && self.collection_approval_keys(&from).len() as u64
                >= self.limits().max_approvals_per_token_or_collection
        {
            return Err(Refusal::Generic(
                codes::TOO_MANY_APPROVALS,
                "too many collection approvals".into(),
            ));
        }
        let tx = Tx::new("37approve_coll")
            .put("from", account_value(&from))
            .put("spender", account_value(&spender))
            .opt("exp", info.expires_at.map(nat))
            .memo_ts(&info.memo, Some(info.created_at_time));
        let mut stored = info.clone();
        stored.spender = spender;
        self.s.collection_approvals.insert(key, Cand(Some(stored)));
        Ok(self.append(tx, now))
    }

    /// `icrc37_revoke_token_approvals`.
    pub fn revoke_token_approvals(
        &mut self,
        caller: Principal,
        now: u64,
        args: &[RevokeTokenApprovalArg],
    ) -> Vec<Option<RevokeTokenApprovalResponse>> {
        let max = self.limits().max_revoke_approvals;
        if args.is_empty() || args.len() as u64 > max {
            let (error_code, message) = batch_error(
                if args.is_empty() {
                    codes::EMPTY_BATCH
                } else {
                    codes::BATCH_TOO_LARGE
                },
                max,
            );
            return vec![Some(Err(RevokeTokenApprovalError::GenericBatchError {
                error_code,
                message,
            }))];
        }
        let out = args
            .iter()
            .map(|a| {
                Some(
                    self.revoke_token_one(caller, now, a)
                        .map(Nat::from)
                        .map_err(|r| {
                            map_refusal!(
                                r,
                                RevokeTokenApprovalError,
                                [ApprovalDoesNotExist, Unauthorized, NonExistingTokenId]
                            )
                        }),
                )
            })
            .collect();
        self.save_meta();
        out
    }

    fn revoke_token_one(
        &mut self,
        caller: Principal,
        now: u64,
        a: &RevokeTokenApprovalArg,
    ) -> Result<u64, Refusal> {
        self.check_memo(&a.memo)?;
        self.check_time(a.created_at_time, now)?;
        let from = Account {
            owner: caller,
            subaccount: sub32(&a.from_subaccount)?,
        };
        let (id, t) = self.token(&a.token_id)?;
        if account_key(&t.owner) != account_key(&from) {
            return Err(Refusal::Unauthorized);
        }
        let keys: Vec<[u8; 70]> = match &a.spender {
            Some(s) => {
                let k = concat(&id.to_be_bytes(), &account_key(&normalize(s)));
                if self.s.token_approvals.contains_key(&k) {
                    vec![k]
                } else {
                    vec![]
                }
            }
            None => self.token_approval_keys(id),
        };
        if keys.is_empty() {
            return Err(Refusal::ApprovalDoesNotExist);
        }
        let tx = Tx::new("37revoke")
            .put("tid", nat(id))
            .put("from", account_value(&from))
            .opt(
                "spender",
                a.spender.as_ref().map(|s| account_value(&normalize(s))),
            )
            .memo_ts(&a.memo, a.created_at_time);
        for k in keys {
            self.s.token_approvals.remove(&k);
        }
        Ok(self.append(tx, now))
    }

    /// `icrc37_revoke_collection_approvals`.
    pub fn revoke_collection_approvals(
        &mut self,
        caller: Principal,
        now: u64,
        args: &[RevokeCollectionApprovalArg],
    ) -> Vec<Option<RevokeCollectionApprovalResult>> {
        let max = self.limits().max_revoke_approvals;
        if args.is_empty() || args.len() as u64 > max {
            let (error_code, message) = batch_error(
                if args.is_empty() {
                    codes::EMPTY_BATCH
                } else {
                    codes::BATCH_TOO_LARGE
                },
                max,
            );
            return vec![Some(Err(
                RevokeCollectionApprovalError::GenericBatchError {
                    error_code,
                    message,
                },
            ))];
        }
        let out = args
            .iter()
            .map(|a| {
                Some(
                    self.revoke_collection_one(caller, now, a)
                        .map(Nat::from)
                        .map_err(|r| {
                            map_refusal!(r, RevokeCollectionApprovalError, [ApprovalDoesNotExist])
                        }),
                )
            })
            .collect();
        self.save_meta();
        out
    }

    fn revoke_collection_one(
        &mut self,
        caller: Principal,
        now: u64,
        a: &RevokeCollectionApprovalArg,
    ) -> Result<u64, Refusal> {
        self.check_memo(&a.memo)?;
        self.check_time(a.created_at_time, now)?;
        let from = Account {
            owner: caller,
            subaccount: sub32(&a.from_subaccount)?,
        };
        let keys: Vec<[u8; 124]> = match &a.spender {
            Some(s) => {
                let k = concat(&account_key(&from), &account_key(&normalize(s)));
                if self.s.collection_approvals.contains_key(&k) {
                    vec![k]
                } else {
                    vec![]
                }
            }
            None => self.collection_approval_keys(&from),
        };
        if keys.is_empty() {
            return Err(Refusal::ApprovalDoesNotExist);
        }
        let tx = Tx::new("37revoke_coll")
            .put("from", account_value(&from))
            .opt(
                "spender",
                a.spender.as_ref().map(|s| account_value(&normalize(s))),
            )
            .memo_ts(&a.memo, a.created_at_time);
        for k in keys {
            self.s.collection_approvals.remove(&k);
        }
        Ok(self.append(tx, now))
    }

    /// `icrc37_transfer_from`.
    pub fn transfer_from(
        &mut self,
        caller: Principal,
        now: u64,
        args: &[TransferFromArg],
    ) -> Vec<Option<TransferFromResult>> {
        if let Err((error_code, message)) = self.batch_limit(args.len()) {
            return vec![Some(Err(TransferFromError::GenericBatchError {
                error_code,
                message,
            }))];
        }
        let out = args
            .iter()
            .map(|a| {
                Some(
                    self.transfer_from_one(caller, now, a)
                        .map(Nat::from)
                        .map_err(|r| match r {
                            Refusal::Duplicate(i) => TransferFromError::Duplicate {
                                duplicate_of: Nat::from(i),
                            },
                            r => map_refusal!(
                                r,
                                TransferFromError,
                                [InvalidRecipient, Unauthorized, NonExistingTokenId]
                            ),
                        }),
                )
            })
            .collect();
        self.save_meta();
        out
    }

    fn transfer_from_one(
        &mut self,
        caller: Principal,
        now: u64,
        a: &TransferFromArg,
    ) -> Result<u64, Refusal> {
        self.check_memo(&a.memo)?;
        self.check_time(a.created_at_time, now)?;
        let spender = Account {
            owner: caller,
            subaccount: sub32(&a.spender_subaccount)?,
        };
        let from = normalize(&a.from);
        let (id, t) = self.token(&a.token_id)?;
        if account_key(&t.owner) != account_key(&from) {
            return Err(Refusal::Unauthorized);
        }
        if !self.approved(id, &from, &spender, now) {
            return Err(Refusal::Unauthorized);
        }
        Self::not_expired(&t, now)?;
        let to = normalize(&a.to);
        if account_key(&to) == account_key(&from) || to.owner == Principal::anonymous() {
            return Err(Refusal::InvalidRecipient);
        }
        let tx = Tx::new("37xfer")
            .put("tid", nat(id))
            .put("spender", account_value(&spender))
            .put("from", account_value(&from))
            .put("to", account_value(&to))
            .memo_ts(&a.memo, a.created_at_time);
        let key = self.check_dedup(&tx, a.created_at_time)?;
        self.move_token(id, t, &to);
        let index = self.append(tx, now);
        self.record_dedup(key, a.created_at_time, index);
        Ok(index)
    }

    /// Whether `spender` may move token `id` out of `owner` (a live token or collection
    /// approval).
    fn approved(&self, id: u64, owner: &Account, spender: &Account, now: u64) -> bool {
        let live = |i: Option<Cand<ApprovalInfo>>| matches!(i, Some(Cand(Some(a))) if a.expires_at.is_none_or(|e| e > now));
        let tk: [u8; 70] = concat(&id.to_be_bytes(), &account_key(spender));
        let ck: [u8; 124] = concat(&account_key(owner), &account_key(spender));
        live(self.s.token_approvals.get(&tk)) || live(self.s.collection_approvals.get(&ck))
    }

    // ------------------------------------------------------------------ queries

    /// `icrc7_collection_metadata`.
    pub fn collection_metadata(&self) -> Vec<(String, Value)> {
        let l = self.limits();
        let mut m = vec![
            ("icrc7:symbol".to_string(), text(&self.config.symbol)),
            ("icrc7:name".to_string(), text(&self.config.name)),
        ];
        if let Some(d) = &self.config.description {
            m.push(("icrc7:description".into(), text(d)));
        }
        m.push(("icrc7:total_supply".into(), nat(self.meta.total_supply)));
        if let Some(c) = l.supply_cap {
            m.push(("icrc7:supply_cap".into(), nat(c)));
        }
        for (k, v) in [
            ("icrc7:max_query_batch_size", l.max_query_batch_size),
            ("icrc7:max_update_batch_size", l.max_update_batch_size),
            ("icrc7:default_take_value", l.default_take_value),
            ("icrc7:max_take_value", l.max_take_value),
            ("icrc7:max_memo_size", l.max_memo_size),
            ("icrc7:tx_window", l.tx_window_ns),
            ("icrc7:permitted_drift", l.permitted_drift_ns),
            (
                "icrc37:max_approvals_per_token_or_collection",
                l.max_approvals_per_token_or_collection,
            ),
            ("icrc37:max_revoke_approvals", l.max_revoke_approvals),
        ] {
            m.push((k.to_string(), nat(v)));
        }
        m.push(("icrc7:atomic_batch_transfers".into(), text("false")));
        m
    }

    fn clip<T: Clone>(&self, ids: &[T]) -> Vec<T> {
        ids.iter()
            .take(self.limits().max_query_batch_size as usize)
            .cloned()
            .collect()
    }

    fn take(&self, take: &Option<Nat>) -> usize {
        let l = self.limits();
        take.as_ref()
            .map(|t| nat_u64(t).unwrap_or(u64::MAX).min(l.max_take_value))
            .unwrap_or(l.default_take_value) as usize
    }

    fn live_token(&self, id: &Nat) -> Option<(u64, Token)> {
        self.token(id).ok()
    }

    /// `icrc7_token_metadata`.
    pub fn token_metadata(&self, ids: &[Nat]) -> Vec<Option<Vec<(String, Value)>>> {
        self.clip(ids)
            .iter()
            .map(|id| self.live_token(id).map(|(_, t)| token_metadata(&t)))
            .collect()
    }

    /// `icrc7_owner_of`.
    pub fn owner_of(&self, ids: &[Nat]) -> Vec<Option<Account>> {
        self.clip(ids)
            .iter()
            .map(|id| self.live_token(id).map(|(_, t)| t.owner))
            .collect()
    }

    /// `icrc7_balance_of`.
    pub fn balance_of(&self, accounts: &[Account]) -> Vec<Nat> {
        self.clip(accounts)
            .iter()
            .map(|a| Nat::from(self.ids_of(a, None, usize::MAX).len()))
            .collect()
    }

    fn ids_of(&self, a: &Account, prev: Option<u64>, take: usize) -> Vec<u64> {
        let k = account_key(&normalize(a));
        let start = prev.map(|p| p.saturating_add(1)).unwrap_or(0);
        if prev == Some(u64::MAX) {
            return vec![];
        }
        let lo: [u8; 70] = concat(&k, &start.to_be_bytes());
        let hi: [u8; 70] = concat(&k, &u64::MAX.to_be_bytes());
        self.s
            .owner_index
            .range(lo..=hi)
            .take(take)
            .map(|e| u64::from_be_bytes(e.key()[62..].try_into().unwrap_or([0; 8])))
            .collect()
    }

    /// `icrc7_tokens`.
    pub fn tokens(&self, prev: &Option<Nat>, take: &Option<Nat>) -> Vec<Nat> {
        let start = match prev {
            None => 0,
            Some(p) => match nat_u64(p).and_then(|p| p.checked_add(1)) {
                Some(s) => s,
                None => return vec![],
            },
        };
        self.s
            .tokens
            .range(start..)
            .take(self.take(take))
            .map(|e| Nat::from(*e.key()))
            .collect()
    }

    /// `icrc7_tokens_of`.
    pub fn tokens_of(&self, a: &Account, prev: &Option<Nat>, take: &Option<Nat>) -> Vec<Nat> {
        let prev = match prev {
            None => None,
            Some(p) => match nat_u64(p) {
                Some(p) => Some(p),
                None => return vec![],
            },
        };
        self.ids_of(a, prev, self.take(take))
            .into_iter()
            .map(Nat::from)
            .collect()
    }

    /// `icrc37_is_approved`.
    pub fn is_approved(&self, caller_now: u64, args: &[IsApprovedArg]) -> Vec<bool> {
        self.clip(args)
            .iter()
            .map(|a| {
                let Ok(sub) = sub32(&a.from_subaccount) else {
                    return false;
                };
                let Some((id, t)) = self.live_token(&a.token_id) else {
                    return false;
                };
                let owner = Account {
                    owner: t.owner.owner,
                    subaccount: sub,
                };
                account_key(&owner) == account_key(&t.owner)
                    && self.approved(id, &owner, &normalize(&a.spender), caller_now)
            })
            .collect()
    }

    /// `icrc37_get_token_approvals`.
    pub fn get_token_approvals(
        &self,
        id: &Nat,
        prev: &Option<TokenApproval>,
        take: &Option<Nat>,
    ) -> Vec<TokenApproval> {
        let Some(id) = nat_u64(id) else { return vec![] };
        let lo: [u8; 70] = match prev {
            Some(p) => concat(
                &id.to_be_bytes(),
                &account_key(&normalize(&p.approval_info.spender)),
            ),
            None => concat(&id.to_be_bytes(), &[0u8; 62]),
        };
        let hi: [u8; 70] = concat(&id.to_be_bytes(), &[0xffu8; 62]);
        self.s
            .token_approvals
            .range(lo..=hi)
            .filter(|e| prev.is_none() || *e.key() != lo)
            .filter_map(|e| e.value().0)
            .take(self.take(take))
            .map(|approval_info| TokenApproval {
                token_id: Nat::from(id),
                approval_info,
            })
            .collect()
    }

    /// `icrc37_get_collection_approvals`.
    pub fn get_collection_approvals(
        &self,
        owner: &Account,
        prev: &Option<CollectionApproval>,
        take: &Option<Nat>,
    ) -> Vec<CollectionApproval> {
        let o = account_key(&normalize(owner));
        let lo: [u8; 124] = match prev {
            Some(p) => concat(&o, &account_key(&normalize(&p.spender))),
            None => concat(&o, &[0u8; 62]),
        };
        let hi: [u8; 124] = concat(&o, &[0xffu8; 62]);
        self.s
            .collection_approvals
            .range(lo..=hi)
            .filter(|e| prev.is_none() || *e.key() != lo)
            .filter_map(|e| e.value().0)
            .take(self.take(take))
            .collect()
    }

    /// A socket with its holder (what routers check).
    pub fn socket(&self, id: u64, now: u64) -> Option<SocketView> {
        let t = self.live_token(&Nat::from(id))?.1;
        Some(SocketView {
            token_id: id,
            owner: t.owner,
            expired: t.terms.expires_at <= now,
            terms: t.terms,
            minted_at: t.minted_at,
            transfers: t.transfers,
        })
    }
}

/// Checks the limits.
pub fn validate_limits(l: &Limits) -> Result<(), String> {
    if l.max_query_batch_size == 0 || l.max_update_batch_size == 0 || l.max_take_value == 0 {
        return Err("batch sizes and max_take_value must be positive".into());
    }
    if l.default_take_value == 0 || l.default_take_value > l.max_take_value {
        return Err("default_take_value must be in 1..=max_take_value".into());
    }
    if l.max_revoke_approvals == 0 || l.max_approvals_per_token_or_collection == 0 {
        return Err("approval limits must be positive".into());
    }
    Ok(())
}
