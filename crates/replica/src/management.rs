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
use candid::{CandidType, Deserialize, Principal};
use emc_embedded_ic::{EmbeddedIc, IcError, Reject, RejectCode};

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

// The candid types are the embedded IC's (the same ones serve its canister callers).
pub use emc_embedded_ic::management::{
    CanisterIdRecord, CanisterSettings, CanisterStatusResult, CanisterStatusType,
    DefiniteCanisterSettings, InstallCodeArgs, InstallCodeMode, LogVisibility,
    ProvisionalCreateArgs, QueryStats, UpdateSettingsArgs, UpgradeFlags,
};

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
            ic.install_code(a.canister_id, a.mode.mode(), &a.wasm_module, a.arg, sender)
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
    ic.canister_status_record(id, sender).map_err(ic_error)
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
    let (code, error_code) = emc_embedded_ic::management::reject_code(&e);
    let message = e.to_string();
    reject(code, error_code, message)
}
