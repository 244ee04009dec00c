//! The registry state machine over stable structures. Every method takes the caller and the
//! current time as arguments; validation happens before any write, so a call that returns an
//! error changes nothing (except `finish`, whose job is to record ledger outcomes).
//!
//! This file holds the state, install and load; the methods live by concern in `nodes`,
//! `journal` (stakes and ledger movements), `penalties`, `impeachment`, `epochs` (the epoch
//! clock and validator sets), `epoch_nodes` (per-epoch node snapshots), `governance` and
//! `invariants` (checks and benchmark seeding).

use crate::rules;
use crate::storage::{Cand, Key, Stores, HEADER};
use crate::types::*;
use crate::LoadError;
use candid::{CandidType, Deserialize, Principal};
use emc_stable::HeaderError;
use emc_types::{NodeId, ValidatorSet};
use ic_stable_structures::Memory;
use icrc_ledger_types::icrc1::account::Account;
use serde::Serialize;
use sha2::Digest;

mod epoch_nodes;
mod epochs;
mod governance;
mod impeachment;
mod invariants;
mod journal;
mod nodes;
mod penalties;

pub use epoch_nodes::{
    EPOCH_NODES_KEPT, MAX_EPOCH_NODES_PAGE, PRUNE_CHUNKS_PER_CALL, SNAPSHOT_ROWS_PER_CALL,
};
pub use penalties::MAX_E_FIXED;

/// Epochs a validator's stake stays locked after the last epoch whose validator set lists
/// it, on top of its term: the release waits until epoch `last + 1 + margin` has started.
///
/// Why 2: equivocation evidence about epoch `last` slashes the validator through a penalty
/// on the stake the registry still holds. The closing checkpoint of `last` is accepted
/// after that epoch ends, and the epochs canister's challenge window runs one epoch (24 h by
/// default) from the acceptance; one epoch of margin covers the window, the second covers
/// the anchoring delay before the acceptance. A fixed number of epochs (not a governance
/// parameter) so the stored `Params` keep their layout.
pub const VALIDATOR_RELEASE_MARGIN_EPOCHS: u64 = 2;

/// The ledger's deduplication window (ICRC-1 `TX_WINDOW`), ns.
pub const TX_WINDOW: u64 = DAY;
/// A pending movement is no longer retried this long before its window closes (a retry after
/// the window could pay twice): it becomes `Stuck`.
pub const STUCK_MARGIN: u64 = 10 * 60 * SEC;
/// Most nodes or reports handled by one page or batch.
pub const MAX_PAGE: usize = 100;
/// Most penalty reports (`apply_penalties`) or compute E reports (`report_compute_es`) per call.
pub const MAX_REPORTS: usize = 1_000;
/// Longest text fields.
pub const MAX_ADDRESS: usize = 256;
/// Longest region.
pub const MAX_REGION: usize = 64;
/// Longest hardware description or reason.
pub const MAX_TEXT: usize = 1024;
/// Default ledger fee.
pub const DEFAULT_LEDGER_FEE: u64 = 10_000;

/// Counters and clocks, stored in one cell.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Default)]
pub struct Meta {
    /// Next journal id.
    pub next_movement: u64,
    /// Next case id.
    pub next_case: u64,
    /// Nonces issued.
    pub nonce_counter: u64,
    /// Active members per role code.
    pub active: Vec<u64>,
    /// Nodes registered.
    pub nodes: u64,
    /// Sum of `stake_e8s`.
    pub total_stake_e8s: u64,
    /// Ledger fee in use.
    pub ledger_fee_e8s: u64,
    /// Latest snapshotted epoch.
    pub epoch: u64,
    /// Its start.
    pub epoch_start: u64,
    /// Next epoch start.
    pub next_epoch_start: u64,
    /// Last penalty batch applied (None: none yet).
    pub last_penalty_batch: Option<u64>,
}

/// The node registry over a stable memory `M`.
pub struct Registry<M: Memory> {
    config: Config,
    meta: Meta,
    me: Principal,
    s: Stores<M>,
}

fn encode_config(config: &Config) -> Result<Vec<u8>, LoadError> {
    let body = candid::encode_one(config).map_err(|e| LoadError::Storage(e.to_string()))?;
    Ok(HEADER.encode(&body))
}

/// Decodes the config cell: the stored configuration and the layout version it was written
/// with (at most [`crate::storage::LAYOUT_VERSION`]).
fn decode_config(bytes: &[u8]) -> Result<(Config, u32), LoadError> {
    // A cell without this registry's header (empty, short, another magic) holds no registry.
    let checked = HEADER.check_versioned(bytes).map_err(|e| match e {
        HeaderError::Newer { found, supported } => LoadError::Downgrade {
            stored: found,
            supported,
        },
        HeaderError::Empty | HeaderError::Truncated { .. } | HeaderError::BadMagic { .. } => {
            LoadError::NotInitialized
        }
    })?;
    // The Config record reads the same in layouts 1 and 2 (the parameters added since are
    // `opt`); what changed is the meaning of the members index, see `Registry::load`.
    let config =
        candid::decode_one(checked.payload).map_err(|e| LoadError::Storage(e.to_string()))?;
    Ok((config, checked.version))
}

fn check_text(s: &str, what: &str, min: usize, max: usize) -> Result<(), RegistryError> {
    if s.len() < min || s.len() > max {
        return Err(RegistryError::InvalidArgument(format!(
            "{what} must have {min} to {max} bytes"
        )));
    }
    Ok(())
}

fn storage_err() -> RegistryError {
    RegistryError::Storage("a stored value does not decode".into())
}

fn key_range(role: Role) -> std::ops::RangeInclusive<(u8, Key)> {
    (role.code(), [0u8; 32])..=(role.code(), [0xffu8; 32])
}

/// How far in the future the genesis (the start of epoch 0) may be set at install.
pub const MAX_GENESIS_DELAY_NS: u64 = 30 * 86_400 * 1_000_000_000;

impl<M: Memory> Registry<M> {
    /// Installs a fresh registry in an empty `memory`. `me` is the registry's own principal
    /// (the owner of the stake subaccounts).
    pub fn init(memory: M, args: &InitArgs, now: u64, me: Principal) -> Result<Self, LoadError> {
        let params = args.params.clone().unwrap_or_default();
        rules::check_params(&params).map_err(|e| LoadError::InvalidArgument(e.to_string()))?;
        let genesis_time = args.genesis_time.unwrap_or(now);
        if genesis_time > now.saturating_add(MAX_GENESIS_DELAY_NS) {
            return Err(LoadError::InvalidArgument(
                "genesis_time is more than 30 days ahead".into(),
            ));
        }
        if args.governance == Principal::anonymous() || args.ledger == Principal::anonymous() {
            return Err(LoadError::InvalidArgument(
                "ledger and governance cannot be anonymous".into(),
            ));
        }
        let mut s = Stores::open(memory);
        if !s.config.get().is_empty() {
            return Err(LoadError::AlreadyInitialized);
        }
        let config = Config {
            ledger: args.ledger,
            governance: args.governance,
            treasury: args.treasury,
            epochs_canister: args.epochs_canister,
            params,
            genesis_time,
        };
        s.config.set(encode_config(&config)?);
        let meta = Meta {
            active: vec![0; 3],
            ledger_fee_e8s: args.ledger_fee_e8s.unwrap_or(DEFAULT_LEDGER_FEE),
            epoch: 0,
            epoch_start: genesis_time,
            next_epoch_start: genesis_time
                .saturating_add(config.params.epoch_length_secs.saturating_mul(SEC)),
            ..Meta::default()
        };
        let mut r = Registry {
            config,
            meta,
            me,
            s,
        };
        r.save_meta();
        r.roll_epochs(now);
        Ok(r)
    }

    /// Opens the registry stored in `memory` (after an upgrade), migrating an older layout.
    pub fn load(memory: M, me: Principal) -> Result<Self, LoadError> {
        let s = Stores::open(memory);
        let (config, version) = decode_config(s.config.get())?;
        let meta: Meta =
            candid::decode_one(s.meta.get()).map_err(|e| LoadError::Storage(e.to_string()))?;
        let mut r = Registry {
            config,
            meta,
            me,
            s,
        };
        if version < 2 {
            r.migrate_compute_admission()?;
        }
        Ok(r)
    }

    /// Layout 1 -> 2: a compute node is a member only once admitted (a passed PoC record,
    /// memory 18). Every compute node in the members index without one leaves it and joins
    /// the candidate queue, by registration time; then the header says layout 2. One pass
    /// over the compute members, in `post_upgrade` (about one node read per member).
    fn migrate_compute_admission(&mut self) -> Result<(), LoadError> {
        let compute: Vec<Key> = self
            .s
            .members
            .keys_range(key_range(Role::Compute))
            .map(|(_, k)| k)
            .filter(|k| !self.s.poc_passed.contains_key(k))
            .collect();
        for k in compute {
            self.s.members.remove(&(Role::Compute.code(), k));
            let i = usize::from(Role::Compute.code());
            if let Some(a) = self.meta.active.get_mut(i) {
                *a = a.saturating_sub(1);
            }
            if let Some(n) = self.get_node(&NodeId(k)) {
                if self.is_candidate(&n) {
                    self.enqueue_candidate(&n.id, n.registered_at);
                }
            }
        }
        self.save_meta();
        self.save_config()
            .map_err(|e| LoadError::Storage(e.to_string()))
    }

    fn save_meta(&mut self) {
        let bytes = candid::encode_one(&self.meta).unwrap_or_default();
        self.s.meta.set(bytes);
    }

    fn save_config(&mut self) -> Result<(), RegistryError> {
        let bytes =
            encode_config(&self.config).map_err(|e| RegistryError::Storage(e.to_string()))?;
        self.s.config.set(bytes);
        Ok(())
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    fn params(&self) -> &Params {
        &self.config.params
    }
}
