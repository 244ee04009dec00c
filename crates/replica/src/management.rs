//! The management canister (`aaaaa-aa`) as ingress reaches it over HTTP: what a developer's
//! workflow needs (dfx / icp-cli / ic-utils call these with these candid types).
//!
//! | method | what it does here |
//! |---|---|
//! | `provisional_create_canister_with_cycles`, `create_canister` | a new empty canister, controlled by `settings.controllers` or the caller; `amount` cycles (default: the embedded IC's initial cycles); `specified_id` (a free canister id) gives a deployment the ids it expects |
//! | `install_code` | install / reinstall / upgrade, caller must be a controller |
//! | `canister_status` | status, controllers, module hash, memory, cycles (controllers only) |
//! | `update_settings` | `controllers` is applied; the other settings are accepted and ignored |
//! | `start_canister`, `stop_canister` | as on the IC: a stopped canister rejects calls |
//!
//! Anything else is rejected with `DestinationInvalid` (IC0302, method not found).

use crate::envelope::RequestId;
use candid::{CandidType, Deserialize, Nat, Principal};
use emc_embedded_ic::{CanisterStatus, EmbeddedIc, IcError, InstallMode, Reject, RejectCode};

/// A management reject with the IC's error code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagementReject {
    pub reject: Reject,
    pub error_code: &'static str,
}

fn reject(code: RejectCode, error_code: &'static str, message: String) -> ManagementReject {
    ManagementReject {
        reject: Reject::new(code, message),
        error_code,
    }
}

#[derive(CandidType, Deserialize, Clone, Debug, Default)]
pub struct CanisterSettings {
    pub controllers: Option<Vec<Principal>>,
    pub compute_allocation: Option<Nat>,
    pub memory_allocation: Option<Nat>,
    pub freezing_threshold: Option<Nat>,
    pub reserved_cycles_limit: Option<Nat>,
    pub wasm_memory_limit: Option<Nat>,
}

#[derive(CandidType, Deserialize, Clone, Debug, Default)]
pub struct ProvisionalCreateArgs {
    pub amount: Option<Nat>,
    pub settings: Option<CanisterSettings>,
    pub specified_id: Option<Principal>,
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CanisterIdRecord {
    pub canister_id: Principal,
}

#[derive(CandidType, Deserialize, Clone, Debug, Default)]
pub struct UpgradeFlags {
    pub skip_pre_upgrade: Option<bool>,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub enum InstallCodeMode {
    #[serde(rename = "install")]
    Install,
    #[serde(rename = "reinstall")]
    Reinstall,
    #[serde(rename = "upgrade")]
    Upgrade(Option<UpgradeFlags>),
}

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

#[derive(CandidType, Deserialize, Clone, Debug)]
pub struct UpdateSettingsArgs {
    pub canister_id: Principal,
    pub settings: CanisterSettings,
    pub sender_canister_version: Option<u64>,
}

#[derive(CandidType, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CanisterStatusType {
    #[serde(rename = "running")]
    Running,
    #[serde(rename = "stopping")]
    Stopping,
    #[serde(rename = "stopped")]
    Stopped,
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum LogVisibility {
    #[serde(rename = "controllers")]
    Controllers,
    #[serde(rename = "public")]
    Public,
}

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

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct QueryStats {
    pub num_calls_total: Nat,
    pub num_instructions_total: Nat,
    pub request_payload_bytes_total: Nat,
    pub response_payload_bytes_total: Nat,
}

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

/// The canister a management call is about (the effective canister id), when it names one.
pub fn target_canister(method: &str, arg: &[u8]) -> Option<Principal> {
    match method {
        "provisional_create_canister_with_cycles" | "create_canister" => None,
        "install_code" => candid::decode_one::<InstallCodeArgs>(arg)
            .ok()
            .map(|a| a.canister_id),
        "update_settings" => candid::decode_one::<UpdateSettingsArgs>(arg)
            .ok()
            .map(|a| a.canister_id),
        _ => candid::decode_one::<CanisterIdRecord>(arg)
            .ok()
            .map(|a| a.canister_id),
    }
}

/// Executes a management call from ingress `sender`. Returns the candid reply.
pub fn call(
    ic: &mut EmbeddedIc,
    sender: Principal,
    method: &str,
    arg: &[u8],
    _request_id: &RequestId,
) -> Result<Vec<u8>, ManagementReject> {
    let bad_arg = |e: candid::Error| {
        reject(
            RejectCode::CanisterError,
            "IC0504",
            format!("Error decoding candid for the management canister's {method}: {e}"),
        )
    };
    let encode = |r: Result<Vec<u8>, candid::Error>| {
        r.map_err(|e| {
            reject(
                RejectCode::SysFatal,
                "IC0504",
                format!("encoding the reply: {e}"),
            )
        })
    };
    match method {
        "provisional_create_canister_with_cycles" | "create_canister" => {
            let args = if method == "create_canister" {
                #[derive(CandidType, Deserialize, Default)]
                struct CreateArgs {
                    settings: Option<CanisterSettings>,
                }
                let a: CreateArgs = decode_or_default(arg).map_err(bad_arg)?;
                ProvisionalCreateArgs {
                    settings: a.settings,
                    ..Default::default()
                }
            } else {
                decode_or_default(arg).map_err(bad_arg)?
            };
            let controllers = args
                .settings
                .and_then(|s| s.controllers)
                .unwrap_or_else(|| vec![sender]);
            let cycles = match args.amount {
                Some(n) => u128::try_from(n.0).map_err(|_| {
                    reject(
                        RejectCode::CanisterReject,
                        "IC0503",
                        "amount does not fit 128 bits".into(),
                    )
                })?,
                None => ic.config().initial_cycles,
            };
            let canister_id = match args.specified_id {
                Some(id) => {
                    let bytes = id.as_slice();
                    if bytes.len() != 10 || bytes[8..] != [1, 1] {
                        return Err(reject(
                            RejectCode::CanisterReject,
                            "IC0503",
                            format!("specified_id {id} is not a canister id"),
                        ));
                    }
                    ic.create_canister_at(id, controllers, cycles)
                        .map_err(ic_error)?;
                    id
                }
                None => ic.create_canister_with_cycles(controllers, cycles),
            };
            encode(candid::encode_one(CanisterIdRecord { canister_id }))
        }
        "install_code" => {
            let a: InstallCodeArgs = candid::decode_one(arg).map_err(bad_arg)?;
            let mode = match a.mode {
                InstallCodeMode::Install => InstallMode::Install,
                InstallCodeMode::Reinstall => InstallMode::Reinstall,
                InstallCodeMode::Upgrade(_) => InstallMode::Upgrade,
            };
            ic.install_code(a.canister_id, mode, &a.wasm_module, a.arg, sender)
                .map_err(ic_error)?;
            encode(candid::encode_args(()))
        }
        "update_settings" => {
            let a: UpdateSettingsArgs = candid::decode_one(arg).map_err(bad_arg)?;
            // Controllers are checked even when nothing changes.
            let current = ic
                .controllers(a.canister_id)
                .ok_or(IcError::CanisterNotFound(a.canister_id))
                .map_err(ic_error)?;
            let controllers = a.settings.controllers.unwrap_or(current);
            ic.set_controllers(a.canister_id, sender, controllers)
                .map_err(ic_error)?;
            encode(candid::encode_args(()))
        }
        "start_canister" | "stop_canister" | "canister_status" => {
            let CanisterIdRecord { canister_id } = candid::decode_one(arg).map_err(bad_arg)?;
            match method {
                "start_canister" => {
                    ic.start_canister(canister_id, sender).map_err(ic_error)?;
                    encode(candid::encode_args(()))
                }
                "stop_canister" => {
                    ic.stop_canister(canister_id, sender).map_err(ic_error)?;
                    encode(candid::encode_args(()))
                }
                _ => encode(candid::encode_one(status(ic, canister_id, sender)?)),
            }
        }
        other => Err(reject(
            RejectCode::DestinationInvalid,
            "IC0302",
            format!("Management canister has no method '{other}' (this replica serves: provisional_create_canister_with_cycles, create_canister, install_code, update_settings, start_canister, stop_canister, canister_status)"),
        )),
    }
}

fn status(
    ic: &EmbeddedIc,
    id: Principal,
    sender: Principal,
) -> Result<CanisterStatusResult, ManagementReject> {
    let controllers = ic
        .controllers(id)
        .ok_or_else(|| ic_error(IcError::CanisterNotFound(id)))?;
    if !controllers.contains(&sender) {
        return Err(ic_error(IcError::NotController {
            canister: id,
            caller: sender,
        }));
    }
    let status = match ic.canister_status(id) {
        Some(CanisterStatus::Running) | None => CanisterStatusType::Running,
        Some(CanisterStatus::Stopping) => CanisterStatusType::Stopping,
        Some(CanisterStatus::Stopped) => CanisterStatusType::Stopped,
    };
    let memory = ic.heap_size(id).unwrap_or(0) + ic.stable_size(id).unwrap_or(0);
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
        module_hash: ic
            .module_hash(id)
            .map(|h| serde_bytes::ByteBuf::from(h.to_vec())),
        memory_size: Nat::from(memory),
        cycles: Nat::from(ic.cycle_balance(id).unwrap_or(0)),
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

/// An empty argument (`DIDL\0\0` or no bytes) decodes as the default.
fn decode_or_default<T>(arg: &[u8]) -> Result<T, candid::Error>
where
    T: for<'de> Deserialize<'de> + CandidType + Default,
{
    if arg.is_empty() || arg == b"DIDL\x00\x00" {
        return Ok(T::default());
    }
    candid::decode_one(arg)
}

/// The IC's reject code and error code for an embedded-IC management error.
pub fn ic_error(e: IcError) -> ManagementReject {
    let message = e.to_string();
    let (code, error_code) = match &e {
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
    };
    reject(code, error_code, message)
}
