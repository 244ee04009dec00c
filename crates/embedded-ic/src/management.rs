//! The management canister's (`aaaaa-aa`) candid types, as the IC's `ic.did` defines them, and
//! what the embedded IC serves to calls from canisters.
//!
//! The same types serve ingress in `emc-replica` (`management.rs` there), so a canister and a
//! developer's tool send the same bytes.
//!
//! | method (called by a canister) | what it does |
//! |---|---|
//! | `raw_rand` | 32 deterministic pseudo-random bytes |
//! | `install_code` | install / reinstall / upgrade of another canister; the caller must be a controller; the wasm may be gzipped |
//! | `canister_status` | status, controllers, module hash, memory, cycles (controllers only) |
//! | `update_settings` | `controllers` is applied; the other settings are accepted and ignored |
//! | `start_canister` | running again |
//! | `stop_canister` | stopped at once when the canister has no open call (else rejected: the embedded IC does not defer a canister's `stop_canister` reply) |
//!
//! A canister that installs code on itself is rejected (it awaits this very call), and every
//! refusal changes nothing.

use crate::ic::{CanisterStatus, EmbeddedIc};
use crate::types::{IcError, RejectCode};
use candid::{CandidType, Deserialize, Nat, Principal};

/// `canister_settings` (all optional; only `controllers` has an effect here).
#[derive(CandidType, Deserialize, Clone, Debug, Default)]
pub struct CanisterSettings {
    pub controllers: Option<Vec<Principal>>,
    pub compute_allocation: Option<Nat>,
    pub memory_allocation: Option<Nat>,
    pub freezing_threshold: Option<Nat>,
    pub reserved_cycles_limit: Option<Nat>,
    pub wasm_memory_limit: Option<Nat>,
}

/// `provisional_create_canister_with_cycles`'s argument.
#[derive(CandidType, Deserialize, Clone, Debug, Default)]
pub struct ProvisionalCreateArgs {
    pub amount: Option<Nat>,
    pub settings: Option<CanisterSettings>,
    pub specified_id: Option<Principal>,
}

/// `record { canister_id : canister_id }`.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CanisterIdRecord {
    pub canister_id: Principal,
}

/// The `upgrade` mode's options.
#[derive(CandidType, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct UpgradeFlags {
    pub skip_pre_upgrade: Option<bool>,
}

/// `canister_install_mode`.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum InstallCodeMode {
    #[serde(rename = "install")]
    Install,
    #[serde(rename = "reinstall")]
    Reinstall,
    #[serde(rename = "upgrade")]
    Upgrade(Option<UpgradeFlags>),
}

impl InstallCodeMode {
    /// The embedded IC's mode (upgrade flags are accepted and ignored).
    pub fn mode(&self) -> crate::types::InstallMode {
        use crate::types::InstallMode;
        match self {
            InstallCodeMode::Install => InstallMode::Install,
            InstallCodeMode::Reinstall => InstallMode::Reinstall,
            InstallCodeMode::Upgrade(_) => InstallMode::Upgrade,
        }
    }
}

/// `install_code_args`.
#[derive(CandidType, Deserialize, Clone, Debug)]
pub struct InstallCodeArgs {
    pub mode: InstallCodeMode,
    pub canister_id: Principal,
    #[serde(with = "serde_bytes")]
    pub wasm_module: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub arg: Vec<u8>,
    pub sender_canister_version: Option<u64>,
}

/// `update_settings_args`.
#[derive(CandidType, Deserialize, Clone, Debug)]
pub struct UpdateSettingsArgs {
    pub canister_id: Principal,
    pub settings: CanisterSettings,
    pub sender_canister_version: Option<u64>,
}

/// `canister_status_result.status`.
#[derive(CandidType, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CanisterStatusType {
    #[serde(rename = "running")]
    Running,
    #[serde(rename = "stopping")]
    Stopping,
    #[serde(rename = "stopped")]
    Stopped,
}

/// `log_visibility`.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum LogVisibility {
    #[serde(rename = "controllers")]
    Controllers,
    #[serde(rename = "public")]
    Public,
}

/// `definite_canister_settings`.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DefiniteCanisterSettings {
    pub controllers: Vec<Principal>,
    pub compute_allocation: Nat,
    pub memory_allocation: Nat,
    pub freezing_threshold: Nat,
    pub reserved_cycles_limit: Nat,
    pub log_visibility: LogVisibility,
    pub wasm_memory_limit: Nat,
    pub wasm_memory_threshold: Nat,
}

/// `canister_status_result.query_stats` (all zero here).
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct QueryStats {
    pub num_calls_total: Nat,
    pub num_instructions_total: Nat,
    pub request_payload_bytes_total: Nat,
    pub response_payload_bytes_total: Nat,
}

/// `canister_status_result`.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CanisterStatusResult {
    pub status: CanisterStatusType,
    pub settings: DefiniteCanisterSettings,
    pub module_hash: Option<serde_bytes::ByteBuf>,
    pub memory_size: Nat,
    pub cycles: Nat,
    pub reserved_cycles: Nat,
    pub idle_cycles_burned_per_day: Nat,
    pub query_stats: QueryStats,
}

/// The IC's reject code and error code (`IC0xxx`) for a management error.
pub fn reject_code(e: &IcError) -> (RejectCode, &'static str) {
    match e {
        IcError::CanisterNotFound(_) => (RejectCode::DestinationInvalid, "IC0301"),
        IcError::NotController { .. } => (RejectCode::CanisterError, "IC0512"),
        IcError::CanisterEmpty(_) => (RejectCode::DestinationInvalid, "IC0304"),
        IcError::InvalidWasm(_) => (RejectCode::CanisterError, "IC0505"),
        IcError::Trapped { .. } => (RejectCode::CanisterError, "IC0503"),
        IcError::AlreadyInstalled(_) => (RejectCode::CanisterError, "IC0538"),
        IcError::CanisterExists(_) => (RejectCode::CanisterReject, "IC0503"),
        IcError::UnknownMessage(_) | IcError::DidNotComplete(..) | IcError::NotQuiescent(_) => {
            (RejectCode::SysTransient, "IC0204")
        }
    }
}

impl EmbeddedIc {
    /// The management canister's `canister_status` of `id` as `sender` (a controller) reads
    /// it: status, controllers, module hash, heap + stable memory, cycles; the settings the
    /// embedded IC does not model have the IC's defaults.
    pub fn canister_status_record(
        &self,
        id: Principal,
        sender: Principal,
    ) -> Result<CanisterStatusResult, IcError> {
        let controllers = self.controllers(id).ok_or(IcError::CanisterNotFound(id))?;
        if !controllers.contains(&sender) {
            return Err(IcError::NotController {
                canister: id,
                caller: sender,
            });
        }
        let status = match self.canister_status(id) {
            Some(CanisterStatus::Running) | None => CanisterStatusType::Running,
            Some(CanisterStatus::Stopping) => CanisterStatusType::Stopping,
            Some(CanisterStatus::Stopped) => CanisterStatusType::Stopped,
        };
        let memory = self.heap_size(id).unwrap_or(0) + self.stable_size(id).unwrap_or(0);
        let zero = || Nat::from(0u8);
        Ok(CanisterStatusResult {
            status,
            settings: DefiniteCanisterSettings {
                controllers,
                compute_allocation: zero(),
                memory_allocation: zero(),
                freezing_threshold: Nat::from(2_592_000u64),
                reserved_cycles_limit: Nat::from(5_000_000_000_000u64),
                log_visibility: LogVisibility::Controllers,
                wasm_memory_limit: Nat::from(3_221_225_472u64),
                wasm_memory_threshold: zero(),
            },
            module_hash: self
                .module_hash(id)
                .map(|h| serde_bytes::ByteBuf::from(h.to_vec())),
            memory_size: Nat::from(memory),
            cycles: Nat::from(self.cycle_balance(id).unwrap_or(0)),
            reserved_cycles: zero(),
            idle_cycles_burned_per_day: zero(),
            query_stats: QueryStats {
                num_calls_total: zero(),
                num_instructions_total: zero(),
                request_payload_bytes_total: zero(),
                response_payload_bytes_total: zero(),
            },
        })
    }
}
