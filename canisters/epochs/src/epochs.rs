//! The pure epochs core: checkpoint acceptance, equivocation evidence, epoch data, epoch close,
//! the payout journal and governance. No ic-cdk: the caller and the clock come in as arguments.

use crate::data::{chunk_hash, header_hash, root_from_proof};
use crate::storage::{
    epoch_node, owner_key, owner_prefix, split_epoch_node, Cand, EpochNode, Stores, HEADER,
};
use crate::types::*;
use crate::LoadError;
use candid::{CandidType, Principal};
use emc_tokenomics::{
    compute_weight, epoch_reward, period_of_epoch, router_weight, validator_weight, Fixed4,
    NODE_REWARD_POOL_CAP,
};
use emc_types::{
    sha256, Checkpoint, CheckpointSignature, Hash, NodeId, SignedCheckpoint, ValidatorSet,
    ZERO_HASH,
};
use ic_stable_structures::Memory;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Seconds per block (spec 6), to turn missed blocks into the registry's minutes.
pub const BLOCK_TIME_SECS: u64 = 2;
/// Most records in one chunk (keeps a chunk well under the 2 MiB message limit).
pub const MAX_CHUNK_RECORDS: usize = 2_000;
/// A pending mint older than this is not retried automatically: the ledger deduplicates for 24
/// hours, so past it a retry could pay twice. Governance settles it (`execute_resolve_payout`).
pub const DEDUP_SAFE_NS: u64 = 23 * 3600 * 1_000_000_000;
/// Domain tag of a payout memo.
pub const MEMO_DOMAIN: &[u8] = b"emc-epochs-payout-v1";

/// The ledger memo of the payout of `node` for `epoch`:
/// `sha256("emc-epochs-payout-v1" || epoch_be64 || node)` (32 bytes).
pub fn payout_memo(epoch: u64, node: &NodeId) -> [u8; 32] {
    sha256(&[MEMO_DOMAIN, &epoch.to_be_bytes(), &node.0]).0
}

/// What the ledger said to a mint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MintOutcome {
    /// Minted (or a duplicate of an earlier mint of the same payout) in this block.
    Minted(u64),
    /// No answer, a transient error or a refusal: nothing known to have moved; retried.
    Retry(String),
    /// The ledger says the `created_at_time` is too old: whether an earlier attempt landed is
    /// unknown, so the payout becomes `Stuck`.
    TooOld,
}

/// Mutable counters kept in the meta cell.
#[derive(Clone, Debug, Default, CandidType, Serialize, Deserialize)]
struct Meta {
    /// Height of the tip of the accepted chain.
    tip: Option<u64>,
    /// Last closed epoch.
    last_closed: Option<u64>,
    /// Budgets of closed epochs, less the dust released by fully paid epochs.
    committed: u64,
    /// Minted.
    emitted: u64,
    /// Emission stopped by the cap.
    stopped: bool,
    /// Last penalty batch id used.
    last_penalty_batch: u64,
    /// Pending journal entries.
    pending: u64,
    /// Trading rewards minted for the market (an `opt` added after layout v1 shipped: a meta
    /// cell written before reads it as `null`, i.e. 0).
    trading_minted: Option<u64>,
    /// Developer grants minted for the DAO canister (`opt`, as above).
    grants_minted: Option<u64>,
    /// Airdrop payments minted for the DAO canister (`opt`, as above).
    airdrop_minted: Option<u64>,
}

/// What the registry answered to a batch of reports sent from a queue (compute E).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReportOutcome {
    /// Applied (possibly skipping some entries): the batch leaves the queue.
    Applied,
    /// A refusal that will not change on a retry: the batch is dropped.
    Refused,
    /// No answer, a transport failure, or a refusal that may pass later (the registry does not
    /// know this canister yet): the batch stays queued and is sent again.
    Retry,
}

/// A record with the weight computed when it arrived.
#[derive(Clone, Debug, CandidType, Serialize, Deserialize)]
pub struct WeightedRecord {
    /// The record.
    pub record: NodeRecord,
    /// Its weight (fixed point, 0 when not eligible).
    pub weight: u64,
}

/// Weight of a record under `params` (spec 8 and 11.3).
pub fn weight_of(r: &NodeRecord, epoch_blocks: u64, params: &Params) -> u64 {
    let share_ok = |bps: u32| {
        u128::from(r.active_blocks) * 10_000 >= u128::from(epoch_blocks) * u128::from(bps)
    };
    match r.role {
        Role::Validator if share_ok(params.validator_min_share_bps) => {
            validator_weight(r.stake_e8s).0
        }
        Role::Router if share_ok(params.router_min_share_bps) => router_weight(r.stake_e8s).0,
        Role::Compute => {
            // No compute reward for the hours of a fined outage (spec 4): the weight shrinks
            // by the share of the epoch's minutes in whole outage periods.
            let w = compute_weight(Fixed4(r.poc_e), Fixed4(r.multiplier)).0;
            if r.penalty_minutes == 0 {
                return w;
            }
            let minutes = (epoch_blocks.saturating_mul(BLOCK_TIME_SECS) / 60).max(1);
            let up = minutes.saturating_sub(r.penalty_minutes);
            u64::try_from(u128::from(w) * u128::from(up) / u128::from(minutes)).unwrap_or(0)
        }
        _ => 0,
    }
}

/// Penalty minutes of a record: its whole outage periods, as the validators agreed them.
pub fn penalty_minutes(r: &NodeRecord) -> u64 {
    r.penalty_minutes
}

/// Verifies that `sigs` are at least a quorum of distinct members of `set`, each a valid strict
/// ed25519 signature of `c.signing_bytes()`. Cheap checks (count, membership, duplicates) run
/// before any signature is verified. Returns the signers.
pub fn verify_quorum(
    set: &ValidatorSet,
    c: &Checkpoint,
    sigs: &[CheckpointSignature],
) -> Result<Vec<NodeId>, EpochsError> {
    check_signers(set, c, sigs)?;
    let msg = c.signing_bytes();
    for s in sigs {
        let key = ed25519_dalek::VerifyingKey::from_bytes(&s.signer.0)
            .map_err(|_| EpochsError::BadSignature(s.signer))?;
        let sig = ed25519_dalek::Signature::from_bytes(&s.signature.0);
        key.verify_strict(&msg, &sig)
            .map_err(|_| EpochsError::BadSignature(s.signer))?;
    }
    Ok(sigs.iter().map(|s| s.signer).collect())
}

/// The cheap part of [`verify_quorum`]: set id, counts, membership, duplicates.
pub fn check_signers(
    set: &ValidatorSet,
    c: &Checkpoint,
    sigs: &[CheckpointSignature],
) -> Result<(), EpochsError> {
    if set.epoch != c.epoch || set.id() != c.validator_set_id {
        return Err(EpochsError::WrongValidatorSet);
    }
    if sigs.len() > set.len() {
        return Err(EpochsError::TooManySignatures);
    }
    let quorum = set.quorum();
    if sigs.len() < quorum {
        return Err(EpochsError::InsufficientSignatures {
            got: sigs.len() as u64,
            quorum: quorum as u64,
        });
    }
    let mut seen = BTreeSet::new();
    for s in sigs {
        if !seen.insert(s.signer) {
            return Err(EpochsError::DuplicateSigner(s.signer));
        }
        if !set.contains(&s.signer) {
            return Err(EpochsError::NotInSet(s.signer));
        }
    }
    Ok(())
}

fn storage<T>(v: Option<T>, what: &str) -> Result<T, EpochsError> {
    v.ok_or_else(|| EpochsError::Storage(format!("{what} does not decode")))
}

/// The epochs canister's state over a stable memory.
pub struct Epochs<M: Memory> {
    s: Stores<M>,
    config: Config,
    meta: Meta,
}

impl<M: Memory> Epochs<M> {
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
            registry: args.registry,
            governance: args.governance,
            params,
            market: None,
            dao: None,
        };
        let meta = Meta::default();
        write_config(&mut s, &config)?;
        s.meta
            .set(candid::encode_one(&meta).map_err(|e| LoadError::Storage(e.to_string()))?);
        Ok(Epochs { s, config, meta })
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
        Ok(Epochs { s, config, meta })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn params(&self) -> &Params {
        &self.config.params
    }

    fn save_meta(&mut self) {
        // Meta always encodes (plain integers and options).
        let bytes = candid::encode_one(&self.meta).unwrap_or_default();
        self.s.meta.set(bytes);
    }

    // ------------------------------------------------------------------ validator sets

    /// Caches the registry's validator set of `epoch` (the first one given is kept).
    pub fn cache_validator_set(
        &mut self,
        epoch: u64,
        set: ValidatorSet,
    ) -> Result<(), EpochsError> {
        if set.epoch != epoch {
            return Err(EpochsError::InvalidArgument("set of another epoch".into()));
        }
        set.check()
            .map_err(|e| EpochsError::InvalidArgument(e.to_string()))?;
        if !self.s.sets.contains_key(&epoch) {
            self.s.sets.insert(epoch, Cand(Some(set)));
        }
        Ok(())
    }

    /// The cached validator set of `epoch`.
    pub fn validator_set(&self, epoch: u64) -> Option<ValidatorSet> {
        self.s.sets.get(&epoch).and_then(|c| c.0)
    }

    // ------------------------------------------------------------------ checkpoints

    /// The accepted checkpoint at `height`.
    pub fn checkpoint(&self, height: u64) -> Option<StoredCheckpoint> {
        self.s.checkpoints.get(&height).and_then(|c| c.0)
    }

    /// The tip of the accepted chain.
    pub fn latest(&self) -> Option<StoredCheckpoint> {
        self.meta.tip.and_then(|h| self.checkpoint(h))
    }

    /// Checks that need no signature verification (height, previous hash, epoch, set id,
    /// counts, membership): used by `inspect_message` and first thing by `submit_checkpoint`.
    /// `NoValidatorSet` means the registry's set must be fetched first.
    ///
    /// The height is positive, a multiple of the interval and above the tip, and the previous
    /// hash is the tip's (a skipped height is a checkpoint that never gathered a quorum: the
    /// validators link the next one to the last certified one); the epoch is the height's epoch
    /// as emc-consensus numbers it, `(height - 1) / epoch_length_blocks`.
    pub fn precheck(&self, sc: &SignedCheckpoint) -> Result<ValidatorSet, EpochsError> {
        let c = &sc.checkpoint;
        let interval = self.params().checkpoint_interval_blocks;
        if c.height == 0 {
            return Err(EpochsError::Malformed(
                "height 0 is the genesis, not a checkpoint height".into(),
            ));
        }
        if c.height.checked_rem(interval) != Some(0) {
            return Err(EpochsError::Malformed(format!(
                "height {} is not a multiple of {interval}",
                c.height
            )));
        }
        if Some(c.epoch) != self.params().epoch_of_height(c.height) {
            return Err(EpochsError::Malformed(format!(
                "epoch {} is not the epoch of height {}",
                c.epoch, c.height
            )));
        }
        match self.latest() {
            Some(tip) => {
                let th = tip.checkpoint.height;
                if c.height <= th {
                    let same = self
                        .checkpoint(c.height)
                        .is_some_and(|s| s.hash == c.hash());
                    return Err(if same {
                        EpochsError::Duplicate(c.height)
                    } else {
                        EpochsError::Stale {
                            height: c.height,
                            tip: th,
                        }
                    });
                }
                // Above the tip and linking to it; a gap is a checkpoint that never gathered
                // a quorum (the validators link the next one to the last certified one).
                if c.prev_checkpoint_hash != tip.hash {
                    return Err(EpochsError::WrongPrevHash);
                }
            }
            None => {
                if c.prev_checkpoint_hash != ZERO_HASH {
                    return Err(EpochsError::WrongPrevHash);
                }
            }
        }
        let set = self
            .validator_set(c.epoch)
            .ok_or(EpochsError::NoValidatorSet(c.epoch))?;
        check_signers(&set, c, &sc.signatures)?;
        Ok(set)
    }

    /// Accepts a checkpoint that extends the chain and carries a quorum of valid signatures of
    /// the registry's set for its epoch; anything else is refused with no state change.
    pub fn submit_checkpoint(
        &mut self,
        sc: &SignedCheckpoint,
        now: u64,
    ) -> Result<StoredCheckpoint, EpochsError> {
        let set = self.precheck(sc)?;
        let signers = verify_quorum(&set, &sc.checkpoint, &sc.signatures)?;
        let stored = StoredCheckpoint {
            checkpoint: sc.checkpoint.clone(),
            hash: sc.checkpoint.hash(),
            signers,
            accepted_at: now,
            voided: false,
        };
        self.s
            .checkpoints
            .insert(stored.checkpoint.height, Cand(Some(stored.clone())));
        self.meta.tip = Some(stored.checkpoint.height);
        self.save_meta();
        Ok(stored)
    }

    /// Whether the accepted checkpoint at `height` is past its challenge window.
    pub fn is_final(&self, height: u64, now: u64) -> bool {
        self.checkpoint(height).is_some_and(|c| {
            c.accepted_at
                .saturating_add(self.params().challenge_window_ns)
                <= now
        })
    }

    /// The receipts root of the accepted checkpoint at `height` once it is final (past its
    /// challenge window: it can no longer be voided, so the market may cache the root for
    /// good).
    pub fn final_receipts_root(&self, height: u64, now: u64) -> ReceiptsRoot {
        let Some(c) = self.checkpoint(height) else {
            return ReceiptsRoot::Unknown;
        };
        if self.is_final(height, now) {
            ReceiptsRoot::Final(c.checkpoint.receipts_root)
        } else {
            ReceiptsRoot::NotFinal {
                final_at: c
                    .accepted_at
                    .saturating_add(self.params().challenge_window_ns),
            }
        }
    }

    // ------------------------------------------------------------------ trading rewards

    /// Trading rewards minted for the market so far, e8s.
    pub fn trading_minted(&self) -> u64 {
        self.meta.trading_minted.unwrap_or(0)
    }

    /// Checks a trading-reward mint before the ledger call: only the market asks, a positive
    /// amount, a memo of at most 32 bytes, and the 378M pool not exceeded counting the mints
    /// already `in_flight` (e8s).
    pub fn check_trading_mint(
        &self,
        caller: Principal,
        m: &TradingMint,
        in_flight: u64,
    ) -> Result<(), EpochsError> {
        if self.config.market != Some(caller) {
            return Err(EpochsError::NotMarket);
        }
        if m.amount_e8s == 0 || m.memo.len() > 32 {
            return Err(EpochsError::InvalidArgument(
                "a positive amount and a memo of at most 32 bytes".into(),
            ));
        }
        let total = self
            .trading_minted()
            .saturating_add(in_flight)
            .saturating_add(m.amount_e8s);
        if total > emc_tokenomics::TRADING_REWARD_POOL_CAP {
            return Err(EpochsError::PoolExhausted);
        }
        Ok(())
    }

    /// Minted so far from a DAO pool, e8s.
    pub fn dao_minted(&self, pool: DaoPool) -> u64 {
        match pool {
            DaoPool::DeveloperGrants => self.meta.grants_minted,
            DaoPool::Airdrop => self.meta.airdrop_minted,
        }
        .unwrap_or(0)
    }

    /// Checks a DAO-pool mint before the ledger call: only the DAO canister asks, a positive
    /// amount, a memo of at most 32 bytes, and the pool's cap not exceeded counting the mints
    /// of that pool already `in_flight` (e8s).
    pub fn check_dao_mint(
        &self,
        caller: Principal,
        m: &DaoMint,
        in_flight: u64,
    ) -> Result<(), EpochsError> {
        if self.config.dao != Some(caller) {
            return Err(EpochsError::NotDao);
        }
        if m.amount_e8s == 0 || m.memo.len() > 32 {
            return Err(EpochsError::InvalidArgument(
                "a positive amount and a memo of at most 32 bytes".into(),
            ));
        }
        let total = self
            .dao_minted(m.pool)
            .saturating_add(in_flight)
            .saturating_add(m.amount_e8s);
        if total > m.pool.cap_e8s() {
            return Err(EpochsError::DaoPoolExhausted(m.pool));
        }
        Ok(())
    }

    /// Records a DAO-pool mint the ledger executed (not a duplicate of an earlier one).
    pub fn record_dao_mint(&mut self, pool: DaoPool, amount: u64) {
        let v = Some(self.dao_minted(pool).saturating_add(amount));
        match pool {
            DaoPool::DeveloperGrants => self.meta.grants_minted = v,
            DaoPool::Airdrop => self.meta.airdrop_minted = v,
        }
        self.save_meta();
    }

    /// Records a trading-reward mint the ledger executed (not a duplicate of an earlier one).
    pub fn record_trading_mint(&mut self, amount: u64) {
        self.meta.trading_minted = Some(self.trading_minted().saturating_add(amount));
        self.save_meta();
    }

    /// Equivocation evidence: two different checkpoints of the same height, both signed by a
    /// quorum of the registry's set. Voids the accepted one of them (with its successors) if it
    /// is still in its challenge window, and queues a slashing penalty for every validator that
    /// signed both.
    pub fn submit_evidence(
        &mut self,
        ev: &EquivocationEvidence,
        now: u64,
    ) -> Result<EquivocationOutcome, EpochsError> {
        let (a, b) = (&ev.first.checkpoint, &ev.second.checkpoint);
        if a.height != b.height {
            return Err(EpochsError::InvalidEvidence("different heights".into()));
        }
        let (ha, hb) = (a.hash(), b.hash());
        if ha == hb {
            return Err(EpochsError::InvalidEvidence(
                "the same checkpoint twice".into(),
            ));
        }
        if Some(a.epoch) != self.params().epoch_of_height(a.height) || b.epoch != a.epoch {
            return Err(EpochsError::InvalidEvidence(
                "epoch does not match height".into(),
            ));
        }
        let key = evidence_key(a.height, &ha, &hb);
        if self.s.evidence.contains_key(&key) {
            return Err(EpochsError::EvidenceAlreadyReported);
        }
        let set = self
            .validator_set(a.epoch)
            .ok_or(EpochsError::NoValidatorSet(a.epoch))?;
        check_signers(&set, a, &ev.first.signatures)?;
        check_signers(&set, b, &ev.second.signatures)?;
        let sa: BTreeSet<NodeId> = verify_quorum(&set, a, &ev.first.signatures)?
            .into_iter()
            .collect();
        let sb = verify_quorum(&set, b, &ev.second.signatures)?;
        let slashed: Vec<NodeId> = sb.into_iter().filter(|n| sa.contains(n)).collect();
        // Void the accepted one if it is one of them and not final.
        let mut voided = Vec::new();
        if let Some(stored) = self.checkpoint(a.height) {
            if (stored.hash == ha || stored.hash == hb) && !self.is_final(a.height, now) {
                voided = self.void_from(a.height);
            }
        }
        self.s.evidence.insert(key, ());
        self.meta.last_penalty_batch += 1;
        let batch = self.meta.last_penalty_batch;
        let minutes = self.params().equivocation_penalty_minutes;
        let reports: Vec<PenaltyReport> = slashed
            .iter()
            .map(|n| PenaltyReport {
                node_id: *n,
                missed_minutes: minutes,
            })
            .collect();
        self.s.penalties.insert(batch, Cand(Some(reports)));
        self.save_meta();
        Ok(EquivocationOutcome {
            height: a.height,
            voided,
            slashed,
            penalty_batch: batch,
        })
    }

    /// Moves the checkpoints at `height` and above off the chain; drops the declared data of
    /// the epochs whose closing checkpoint was voided.
    fn void_from(&mut self, height: u64) -> Vec<u64> {
        let heights: Vec<u64> = self
            .s
            .checkpoints
            .range(height..)
            .map(|e| *e.key())
            .collect();
        for h in &heights {
            if let Some(Cand(Some(mut c))) = self.s.checkpoints.remove(h) {
                c.voided = true;
                let mut k = [0u8; 40];
                k[..8].copy_from_slice(&h.to_be_bytes());
                k[8..].copy_from_slice(&c.hash.0);
                self.s.voided.insert(k, Cand(Some(c)));
            }
        }
        self.meta.tip = self.s.checkpoints.last_key_value().map(|(k, _)| k);
        // Accepted heights are positive; the epochs whose closing height is `height` or above.
        let first_epoch = self.params().epoch_of_height(height).unwrap_or(0);
        let epochs: Vec<u64> = self
            .s
            .epochs
            .range(first_epoch..)
            .map(|e| *e.key())
            .collect();
        for e in epochs {
            let collecting = self
                .epoch_summary(e)
                .is_some_and(|s| s.status == EpochStatus::Collecting);
            if collecting && self.closing_height(e).is_none_or(|c| c >= height) {
                self.drop_epoch_data(e);
            }
        }
        heights
    }

    fn drop_epoch_data(&mut self, epoch: u64) {
        let lo = epoch_node(epoch, &[0; 32]);
        let hi = epoch_node(epoch, &[0xff; 32]);
        let keys: Vec<[u8; 40]> = self.s.records.range(lo..=hi).map(|e| *e.key()).collect();
        for k in keys {
            self.s.records.remove(&k);
        }
        let mut clo = [0u8; 12];
        clo[..8].copy_from_slice(&epoch.to_be_bytes());
        let mut chi = [0xffu8; 12];
        chi[..8].copy_from_slice(&epoch.to_be_bytes());
        let keys: Vec<[u8; 12]> = self.s.chunks.range(clo..=chi).map(|e| *e.key()).collect();
        for k in keys {
            self.s.chunks.remove(&k);
        }
        self.s.epochs.remove(&epoch);
    }

    // ------------------------------------------------------------------ epoch data

    /// Height of the epoch's closing checkpoint, the epoch's last height
    /// `(epoch + 1) * epoch_length_blocks` (`None` past `u64::MAX`); that checkpoint carries
    /// `epoch` and its `state_root` is the [`header_hash`] of the epoch's data.
    pub fn closing_height(&self, epoch: u64) -> Option<u64> {
        self.params().closing_height(epoch)
    }

    /// Stored state of an epoch.
    pub fn epoch_summary(&self, epoch: u64) -> Option<EpochSummary> {
        self.s.epochs.get(&epoch).and_then(|c| c.0)
    }

    fn put_epoch(&mut self, s: &EpochSummary) {
        self.s.epochs.insert(s.epoch, Cand(Some(s.clone())));
    }

    /// Declares the header of an epoch's data: its hash must be the `state_root` of the
    /// epoch's accepted closing checkpoint, and its `epoch_blocks` the epoch length (every
    /// height of the epoch is one block).
    pub fn declare_epoch_data(&mut self, h: &EpochDataHeader) -> Result<EpochSummary, EpochsError> {
        let closing = self
            .closing_height(h.epoch)
            .and_then(|ch| self.checkpoint(ch))
            .ok_or_else(|| EpochsError::EpochData("closing checkpoint not accepted".into()))?;
        if closing.checkpoint.state_root != header_hash(h) {
            return Err(EpochsError::EpochData(
                "header hash is not the closing checkpoint's state root".into(),
            ));
        }
        let length = self.params().epoch_length_blocks;
        if h.epoch_blocks != length {
            return Err(EpochsError::EpochData(format!(
                "epoch_blocks {} is not the epoch length {length}",
                h.epoch_blocks
            )));
        }
        if h.chunk_count == 0 && h.node_count > 0 {
            return Err(EpochsError::EpochData("empty epoch header".into()));
        }
        if let Some(s) = self.epoch_summary(h.epoch) {
            if s.header.is_some() {
                return Err(EpochsError::EpochData("declared already".into()));
            }
        }
        let s = EpochSummary {
            epoch: h.epoch,
            status: EpochStatus::Collecting,
            header: Some(h.clone()),
            chunks_received: 0,
            nodes_received: 0,
            total_weight: 0,
            eligible_nodes: 0,
            budget_e8s: 0,
            planned_e8s: 0,
            paid_e8s: 0,
            paid_nodes: 0,
            unpaid_entries: 0,
            cursor: None,
            planned_all: false,
            closed_at: None,
        };
        self.put_epoch(&s);
        Ok(s)
    }

    /// Uploads one chunk of an epoch's records, authenticated by its Merkle path to the
    /// declared header's root.
    pub fn upload_chunk(&mut self, c: &DataChunk) -> Result<EpochSummary, EpochsError> {
        let mut s = self
            .epoch_summary(c.epoch)
            .ok_or_else(|| EpochsError::EpochData("header not declared".into()))?;
        let h = storage(s.header.clone(), "header")?;
        if s.status != EpochStatus::Collecting {
            return Err(EpochsError::AlreadyClosed(c.epoch));
        }
        if c.index >= h.chunk_count {
            return Err(EpochsError::EpochData("chunk index out of range".into()));
        }
        if c.records.is_empty() || c.records.len() > MAX_CHUNK_RECORDS {
            return Err(EpochsError::EpochData(format!(
                "a chunk holds 1 to {MAX_CHUNK_RECORDS} records"
            )));
        }
        let mut ck = [0u8; 12];
        ck[..8].copy_from_slice(&c.epoch.to_be_bytes());
        ck[8..].copy_from_slice(&c.index.to_be_bytes());
        if self.s.chunks.contains_key(&ck) {
            return Err(EpochsError::EpochData("chunk received already".into()));
        }
        if c.records.windows(2).any(|w| w[0].node >= w[1].node) {
            return Err(EpochsError::EpochData(
                "records not strictly ascending".into(),
            ));
        }
        if c.proof.len() > 40 {
            return Err(EpochsError::EpochData("proof too long".into()));
        }
        let leaf = chunk_hash(c.epoch, c.index, &c.records);
        if root_from_proof(leaf, c.index, h.chunk_count, &c.proof) != Some(h.chunks_root) {
            return Err(EpochsError::EpochData(
                "chunk does not match the root".into(),
            ));
        }
        if c.records
            .iter()
            .any(|r| self.s.records.contains_key(&epoch_node(c.epoch, &r.node.0)))
        {
            return Err(EpochsError::EpochData(
                "a node appears in two chunks".into(),
            ));
        }
        let params = self.params().clone();
        for r in &c.records {
            let weight = weight_of(r, h.epoch_blocks, &params);
            if weight > 0 {
                s.eligible_nodes += 1;
                s.total_weight += u128::from(weight);
            }
            self.s.records.insert(
                epoch_node(c.epoch, &r.node.0),
                Cand(Some(WeightedRecord {
                    record: r.clone(),
                    weight,
                })),
            );
        }
        self.s.chunks.insert(ck, ());
        s.chunks_received += 1;
        s.nodes_received += c.records.len() as u64;
        self.put_epoch(&s);
        Ok(s)
    }

    /// A stored record with its weight.
    pub fn record(&self, epoch: u64, node: &NodeId) -> Option<WeightedRecord> {
        self.s
            .records
            .get(&epoch_node(epoch, &node.0))
            .and_then(|c| c.0)
    }

    // ------------------------------------------------------------------ close and payouts

    /// Closes an epoch once its data is complete and its closing checkpoint is final: reserves
    /// `r(n)` under the pool cap (or stops emission for good), then payouts are planned in
    /// batches by [`Epochs::plan_payouts`], which also queues the records' penalties and the
    /// compute nodes' E for the registry (a bounded walk per call, so the close itself does
    /// not read the epoch's records).
    pub fn close_epoch(&mut self, epoch: u64, now: u64) -> Result<EpochSummary, EpochsError> {
        let mut s = self
            .epoch_summary(epoch)
            .ok_or_else(|| EpochsError::NotReady("no data declared".into()))?;
        if s.status != EpochStatus::Collecting {
            return Err(EpochsError::AlreadyClosed(epoch));
        }
        let h = storage(s.header.clone(), "header")?;
        if s.chunks_received != h.chunk_count || s.nodes_received != h.node_count {
            return Err(EpochsError::NotReady(format!(
                "{} of {} chunks, {} of {} nodes",
                s.chunks_received, h.chunk_count, s.nodes_received, h.node_count
            )));
        }
        if !self
            .closing_height(epoch)
            .is_some_and(|ch| self.is_final(ch, now))
        {
            return Err(EpochsError::NotReady(
                "the closing checkpoint is in its challenge window".into(),
            ));
        }
        if self.meta.last_closed.is_some_and(|l| epoch <= l) {
            return Err(EpochsError::NotReady("epochs close in order".into()));
        }
        let r = epoch_reward(period_of_epoch(epoch));
        let remaining = NODE_REWARD_POOL_CAP.saturating_sub(self.meta.committed);
        if !self.meta.stopped && r > remaining {
            self.meta.stopped = true;
        }
        let budget = if self.meta.stopped || s.total_weight == 0 {
            0
        } else {
            r
        };
        self.meta.committed = self.meta.committed.saturating_add(budget);
        self.meta.last_closed = Some(epoch);
        s.budget_e8s = budget;
        s.status = EpochStatus::Paying;
        s.closed_at = Some(now);
        self.put_epoch(&s);
        self.save_meta();
        Ok(s)
    }

    /// The payouts to mint now: pending entries first (a pending entry past the ledger's
    /// deduplication window becomes `Stuck` instead), then new entries planned from the
    /// closed epochs' records (each node once per epoch; penalties and the E of every compute
    /// record with E > 0 queued for the registry, one batch of each per epoch walked, at most
    /// `max` records a batch). At most `max` entries.
    pub fn plan_payouts(&mut self, now: u64, max: usize) -> Vec<Payout> {
        let mut out = Vec::new();
        let mut stuck = Vec::new();
        for e in self.s.pending.iter() {
            if out.len() >= max {
                break;
            }
            if let Some(Cand(Some(p))) = self.s.journal.get(e.key()) {
                if p.created_at_time.saturating_add(DEDUP_SAFE_NS) < now {
                    stuck.push(*e.key());
                } else {
                    out.push(p);
                }
            }
        }
        for k in stuck {
            if let Some(Cand(Some(mut p))) = self.s.journal.get(&k) {
                p.status = PayoutStatus::Stuck;
                self.s.journal.insert(k, Cand(Some(p)));
                self.s.pending.remove(&k);
                self.meta.pending = self.meta.pending.saturating_sub(1);
            }
        }
        let paying: Vec<EpochSummary> = self
            .s
            .epochs
            .iter()
            .filter_map(|e| e.value().0)
            .filter(|s| s.status == EpochStatus::Paying && !s.planned_all)
            .collect();
        for mut s in paying {
            if out.len() >= max {
                break;
            }
            let lo = match s.cursor {
                Some(n) => epoch_node(s.epoch, &n.0),
                None => epoch_node(s.epoch, &[0; 32]),
            };
            let hi = epoch_node(s.epoch, &[0xff; 32]);
            let mut penalties = Vec::new();
            let mut compute_es = Vec::new();
            let mut last = s.cursor;
            let room = max - out.len();
            let raw: Vec<Option<WeightedRecord>> = self
                .s
                .records
                .range(lo..=hi)
                .filter(|e| s.cursor.is_none() || *e.key() != lo)
                .take(room)
                .map(|e| e.value().0)
                .collect();
            let exhausted = raw.len() < room;
            for wr in raw.into_iter().flatten() {
                let r = &wr.record;
                last = Some(r.node);
                if r.role == Role::Compute && r.poc_e > 0 {
                    compute_es.push(ComputeE {
                        node_id: r.node,
                        e_fixed: r.poc_e,
                    });
                }
                let minutes = penalty_minutes(r);
                if minutes > 0 {
                    penalties.push(PenaltyReport {
                        node_id: r.node,
                        missed_minutes: minutes,
                    });
                }
                let share = (u128::from(s.budget_e8s) * u128::from(wr.weight))
                    .checked_div(s.total_weight)
                    .and_then(|x| u64::try_from(x).ok())
                    .unwrap_or(0);
                let key = epoch_node(s.epoch, &r.node.0);
                if share == 0 || self.s.journal.contains_key(&key) {
                    continue;
                }
                let p = Payout {
                    epoch: s.epoch,
                    node: r.node,
                    owner: r.owner,
                    amount_e8s: share,
                    created_at_time: now,
                    attempts: 0,
                    status: PayoutStatus::Pending,
                };
                self.s.journal.insert(key, Cand(Some(p.clone())));
                self.s.pending.insert(key, ());
                self.s
                    .by_owner
                    .insert(owner_key(&r.owner, s.epoch, &r.node.0), ());
                self.meta.pending += 1;
                s.planned_e8s = s.planned_e8s.saturating_add(share);
                s.unpaid_entries += 1;
                out.push(p);
            }
            s.cursor = last;
            if exhausted {
                s.planned_all = true;
            }
            if !penalties.is_empty() {
                self.meta.last_penalty_batch += 1;
                self.s
                    .penalties
                    .insert(self.meta.last_penalty_batch, Cand(Some(penalties)));
            }
            if let Some(first) = compute_es.first() {
                // Keyed by the epoch and the batch's first node: records are walked once, in
                // node order, so keys are unique and the queue is in walk order.
                self.s.compute_es.insert(
                    epoch_node(s.epoch, &first.node_id.0),
                    Cand(Some(compute_es)),
                );
            }
            self.finish_epoch_if_paid(&mut s);
            self.put_epoch(&s);
        }
        self.save_meta();
        out
    }

    fn finish_epoch_if_paid(&mut self, s: &mut EpochSummary) {
        if s.status == EpochStatus::Paying && s.planned_all && s.unpaid_entries == 0 {
            s.status = EpochStatus::Paid;
            let dust = s.budget_e8s.saturating_sub(s.paid_e8s);
            self.meta.committed = self.meta.committed.saturating_sub(dust);
        }
    }

    /// Records the ledger's answer to the mint of a payout. Idempotent: a payout is counted
    /// once, however many times its confirmation arrives.
    pub fn record_mint(
        &mut self,
        epoch: u64,
        node: &NodeId,
        outcome: &MintOutcome,
    ) -> Result<Payout, EpochsError> {
        let key = epoch_node(epoch, &node.0);
        let mut p = self
            .s
            .journal
            .get(&key)
            .and_then(|c| c.0)
            .ok_or(EpochsError::NotFound)?;
        if p.status != PayoutStatus::Pending {
            return Ok(p);
        }
        p.attempts = p.attempts.saturating_add(1);
        match outcome {
            MintOutcome::Minted(block) => {
                p.status = PayoutStatus::Paid { block: *block };
                self.mark_settled(&p, true)?;
            }
            MintOutcome::Retry(_) => {}
            MintOutcome::TooOld => {
                p.status = PayoutStatus::Stuck;
                self.s.pending.remove(&key);
                self.meta.pending = self.meta.pending.saturating_sub(1);
            }
        }
        self.s.journal.insert(key, Cand(Some(p.clone())));
        self.save_meta();
        Ok(p)
    }

    /// Counts a confirmed payout (removes it from the pending set when `pending`).
    fn mark_settled(&mut self, p: &Payout, pending: bool) -> Result<(), EpochsError> {
        let key = epoch_node(p.epoch, &p.node.0);
        if pending {
            self.s.pending.remove(&key);
            self.meta.pending = self.meta.pending.saturating_sub(1);
        }
        self.meta.emitted = self.meta.emitted.saturating_add(p.amount_e8s);
        let mut s = self.epoch_summary(p.epoch).ok_or(EpochsError::NotFound)?;
        s.paid_e8s = s.paid_e8s.saturating_add(p.amount_e8s);
        s.paid_nodes += 1;
        s.unpaid_entries = s.unpaid_entries.saturating_sub(1);
        self.finish_epoch_if_paid(&mut s);
        self.put_epoch(&s);
        Ok(())
    }

    /// A journal entry.
    pub fn payout(&self, epoch: u64, node: &NodeId) -> Option<Payout> {
        self.s
            .journal
            .get(&epoch_node(epoch, &node.0))
            .and_then(|c| c.0)
    }

    /// `node`'s record, weight and payout in each epoch from `from_epoch` on that has one of
    /// them, scanning at most `limit` known epochs ([`MAX_HISTORY_EPOCHS`] at most): the next
    /// page starts after the last epoch scanned, so a caller pages with `from_epoch + limit`.
    pub fn node_history(&self, node: &NodeId, from_epoch: u64, limit: u32) -> Vec<NodeEpoch> {
        let limit = limit.min(MAX_HISTORY_EPOCHS) as usize;
        self.s
            .epochs
            .range(from_epoch..)
            .take(limit)
            .filter_map(|entry| {
                let epoch = *entry.key();
                let key = epoch_node(epoch, &node.0);
                let weighted = self.s.records.get(&key).and_then(|c| c.0);
                let payout = self.payout(epoch, node);
                if weighted.is_none() && payout.is_none() {
                    return None;
                }
                let epoch_blocks = entry
                    .value()
                    .0
                    .and_then(|s| s.header)
                    .map_or(0, |h| h.epoch_blocks);
                let (record, weight) = match weighted {
                    Some(w) => (Some(w.record), w.weight),
                    None => (None, 0),
                };
                Some(NodeEpoch {
                    epoch,
                    epoch_blocks,
                    record,
                    weight,
                    payout,
                })
            })
            .collect()
    }

    /// The payouts of an owner in an epoch (at most `limit`).
    pub fn owner_rewards(&self, owner: &Principal, epoch: u64, limit: usize) -> Vec<Payout> {
        let mut lo = [0u8; 70];
        lo[..30].copy_from_slice(&owner_prefix(owner));
        lo[30..38].copy_from_slice(&epoch.to_be_bytes());
        let mut hi = [0xffu8; 70];
        hi[..38].copy_from_slice(&lo[..38]);
        self.s
            .by_owner
            .range(lo..=hi)
            .take(limit)
            .filter_map(|e| {
                let mut en = [0u8; 40];
                en.copy_from_slice(&e.key()[30..]);
                let (ep, n) = split_epoch_node(&en);
                self.payout(ep, &NodeId(n))
            })
            .collect()
    }

    /// Total minted as node rewards.
    pub fn total_emitted(&self) -> u64 {
        self.meta.emitted
    }

    /// Pending journal entries (at most `limit`).
    pub fn pending_payouts(&self, limit: usize) -> Vec<Payout> {
        self.s
            .pending
            .iter()
            .take(limit)
            .filter_map(|e| self.s.journal.get(e.key()).and_then(|c| c.0))
            .collect()
    }

    // ------------------------------------------------------------------ penalties

    /// The oldest unsent penalty batch.
    pub fn next_penalty_batch(&self) -> Option<(u64, Vec<PenaltyReport>)> {
        self.s
            .penalties
            .first_key_value()
            .and_then(|(k, v)| v.0.map(|r| (k, r)))
    }

    /// Forgets a batch the registry answered (applied, or refused for good).
    pub fn penalty_batch_sent(&mut self, batch: u64) {
        self.s.penalties.remove(&batch);
    }

    // ------------------------------------------------------------------ compute E

    /// The oldest unsent batch of compute nodes' E, with its queue key (a stored batch that
    /// does not decode comes back empty, so answering it clears it instead of blocking the
    /// queue).
    pub fn next_compute_e_batch(&self) -> Option<(EpochNode, Vec<ComputeE>)> {
        self.s
            .compute_es
            .first_key_value()
            .map(|(k, v)| (k, v.0.unwrap_or_default()))
    }

    /// Records the registry's answer to the batch `key`: applied or refused for good, it
    /// leaves the queue; otherwise it stays to be sent again.
    pub fn compute_e_batch_answered(&mut self, key: &EpochNode, outcome: &ReportOutcome) {
        match outcome {
            ReportOutcome::Applied | ReportOutcome::Refused => {
                self.s.compute_es.remove(key);
            }
            ReportOutcome::Retry => {}
        }
    }

    // ------------------------------------------------------------------ governance

    /// `validate_set_params`: a description of the change, or why it is refused.
    pub fn validate_set_params(&self, p: &Params) -> Result<String, String> {
        validate_params(p)?;
        self.check_param_change(p)?;
        Ok(format!("set epochs parameters to {p:?}"))
    }

    /// The rules that depend on the chain: once a checkpoint has been accepted the epoch
    /// length is fixed (it numbers the accepted checkpoints' epochs and places every closing
    /// checkpoint), and a new interval must divide the tip's height (the next checkpoints are
    /// at the tip plus multiples of the interval).
    fn check_param_change(&self, p: &Params) -> Result<(), String> {
        let current = self.params();
        let chain_started = !self.s.checkpoints.is_empty() || !self.s.voided.is_empty();
        if chain_started && p.epoch_length_blocks != current.epoch_length_blocks {
            return Err(format!(
                "the epoch length is fixed at {} once a checkpoint has been accepted",
                current.epoch_length_blocks
            ));
        }
        if let Some(tip) = self.meta.tip {
            if tip.checked_rem(p.checkpoint_interval_blocks) != Some(0) {
                return Err(format!(
                    "the checkpoint interval must divide the tip height {tip}"
                ));
            }
        }
        Ok(())
    }

    /// `execute_set_params` (governance only).
    pub fn execute_set_params(&mut self, caller: Principal, p: &Params) -> Result<(), EpochsError> {
        if caller != self.config.governance {
            return Err(EpochsError::NotGovernance);
        }
        validate_params(p).map_err(EpochsError::InvalidArgument)?;
        self.check_param_change(p)
            .map_err(EpochsError::InvalidArgument)?;
        self.config.params = p.clone();
        write_config(&mut self.s, &self.config).map_err(|e| EpochsError::Storage(e.to_string()))
    }

    /// `validate_set_governance`: the rendering of a change of the governance principal.
    pub fn validate_set_governance(&self, p: &Principal) -> Result<String, String> {
        if *p == Principal::anonymous() || *p == Principal::management_canister() {
            return Err(format!("{p} cannot be the governance principal"));
        }
        Ok(format!(
            "set the epochs canister's governance principal from {} to {p}",
            self.config.governance
        ))
    }

    /// `execute_set_governance` (governance only): from then on only `p` may call the
    /// `execute_*` methods.
    pub fn execute_set_governance(
        &mut self,
        caller: Principal,
        p: &Principal,
    ) -> Result<(), EpochsError> {
        if caller != self.config.governance {
            return Err(EpochsError::NotGovernance);
        }
        self.validate_set_governance(p)
            .map_err(EpochsError::InvalidArgument)?;
        let mut c = self.config.clone();
        c.governance = *p;
        write_config(&mut self.s, &c).map_err(|e| EpochsError::Storage(e.to_string()))?;
        self.config = c;
        Ok(())
    }

    /// `validate_set_market`.
    pub fn validate_set_market(&self, market: &Option<Principal>) -> Result<String, String> {
        Ok(match market {
            Some(m) => format!("let market canister {m} mint trading rewards"),
            None => "stop minting trading rewards".into(),
        })
    }

    /// `execute_set_market` (governance only).
    pub fn execute_set_market(
        &mut self,
        caller: Principal,
        market: Option<Principal>,
    ) -> Result<(), EpochsError> {
        if caller != self.config.governance {
            return Err(EpochsError::NotGovernance);
        }
        self.config.market = market;
        write_config(&mut self.s, &self.config).map_err(|e| EpochsError::Storage(e.to_string()))
    }

    /// `validate_set_dao`.
    pub fn validate_set_dao(&self, dao: &Option<Principal>) -> Result<String, String> {
        Ok(match dao {
            Some(p) if *p == Principal::anonymous() => {
                return Err("the DAO canister cannot be anonymous".into())
            }
            Some(d) => format!(
                "let DAO canister {d} mint developer grants (252M pool) and the airdrop (105M pool)"
            ),
            None => "stop minting developer grants and the airdrop".into(),
        })
    }

    /// `execute_set_dao` (governance only).
    pub fn execute_set_dao(
        &mut self,
        caller: Principal,
        dao: Option<Principal>,
    ) -> Result<(), EpochsError> {
        if caller != self.config.governance {
            return Err(EpochsError::NotGovernance);
        }
        self.validate_set_dao(&dao)
            .map_err(EpochsError::InvalidArgument)?;
        let mut c = self.config.clone();
        c.dao = dao;
        write_config(&mut self.s, &c).map_err(|e| EpochsError::Storage(e.to_string()))?;
        self.config = c;
        Ok(())
    }

    /// `validate_resolve_payout`.
    pub fn validate_resolve_payout(&self, a: &ResolvePayoutArgs) -> Result<String, String> {
        match self.payout(a.epoch, &a.node) {
            Some(p) if p.status == PayoutStatus::Stuck => Ok(format!(
                "settle the stuck payout of {:?} for epoch {}: {}",
                a.node,
                a.epoch,
                match a.executed_in_block {
                    Some(b) => format!("minted in block {b}"),
                    None => "not minted, re-issue".into(),
                }
            )),
            Some(_) => Err("the payout is not stuck".into()),
            None => Err("no such payout".into()),
        }
    }

    /// `execute_resolve_payout` (governance only): a stuck payout is either confirmed by the
    /// ledger block that minted it, or re-issued with a fresh `created_at_time`.
    pub fn execute_resolve_payout(
        &mut self,
        caller: Principal,
        a: &ResolvePayoutArgs,
        now: u64,
    ) -> Result<Payout, EpochsError> {
        if caller != self.config.governance {
            return Err(EpochsError::NotGovernance);
        }
        self.validate_resolve_payout(a)
            .map_err(EpochsError::InvalidArgument)?;
        let key = epoch_node(a.epoch, &a.node.0);
        let mut p = self.payout(a.epoch, &a.node).ok_or(EpochsError::NotFound)?;
        match a.executed_in_block {
            Some(block) => {
                p.status = PayoutStatus::Paid { block };
                self.mark_settled(&p, false)?;
            }
            None => {
                p.status = PayoutStatus::Pending;
                p.created_at_time = now;
                self.s.pending.insert(key, ());
                self.meta.pending += 1;
            }
        }
        self.s.journal.insert(key, Cand(Some(p.clone())));
        self.save_meta();
        Ok(p)
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            tip_height: self.meta.tip,
            total_emitted_e8s: self.meta.emitted,
            reserved_e8s: self.meta.committed.saturating_sub(self.meta.emitted),
            emission_stopped: self.meta.stopped,
            pending_payouts: self.meta.pending,
            pending_penalty_batches: self.s.penalties.len(),
            pending_compute_e_batches: self.s.compute_es.len(),
            last_closed_epoch: self.meta.last_closed,
            trading_minted_e8s: self.trading_minted(),
            grants_minted_e8s: self.dao_minted(DaoPool::DeveloperGrants),
            airdrop_minted_e8s: self.dao_minted(DaoPool::Airdrop),
        }
    }
}

fn evidence_key(height: u64, a: &Hash, b: &Hash) -> [u8; 72] {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut k = [0u8; 72];
    k[..8].copy_from_slice(&height.to_be_bytes());
    k[8..40].copy_from_slice(&lo.0);
    k[40..].copy_from_slice(&hi.0);
    k
}

fn write_config<M: Memory>(s: &mut Stores<M>, c: &Config) -> Result<(), LoadError> {
    let body = candid::encode_one(c).map_err(|e| LoadError::Storage(e.to_string()))?;
    s.config.set(HEADER.encode(&body));
    Ok(())
}

/// Parameter rules (at install and for governance changes).
pub fn validate_params(p: &Params) -> Result<(), String> {
    if p.epoch_length_blocks == 0 {
        return Err("the epoch length must be positive".into());
    }
    if p.checkpoint_interval_blocks == 0 {
        return Err("the checkpoint interval must be positive".into());
    }
    if p.epoch_length_blocks
        .checked_rem(p.checkpoint_interval_blocks)
        != Some(0)
    {
        return Err("the checkpoint interval must divide the epoch length".into());
    }
    if p.validator_min_share_bps > 10_000 || p.router_min_share_bps > 10_000 {
        return Err("shares are at most 10,000 basis points".into());
    }
    if p.payout_batch == 0 || p.payout_batch > 1_000 {
        return Err("payout_batch must be 1 to 1,000 (the registry takes at most 1,000 penalty reports per batch)".into());
    }
    if p.equivocation_penalty_minutes == 0 {
        return Err("equivocation must be penalized".into());
    }
    Ok(())
}
