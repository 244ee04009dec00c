//! Public value types of the embedded IC: reject codes, errors, configuration, ids.

use candid::Principal;
use std::fmt;

/// The IC's reject codes (interface specification, "Reject codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectCode {
    SysFatal = 1,
    SysTransient = 2,
    DestinationInvalid = 3,
    CanisterReject = 4,
    CanisterError = 5,
    SysUnknown = 6,
}

impl RejectCode {
    pub fn from_u32(code: u32) -> Option<Self> {
        Some(match code {
            1 => RejectCode::SysFatal,
            2 => RejectCode::SysTransient,
            3 => RejectCode::DestinationInvalid,
            4 => RejectCode::CanisterReject,
            5 => RejectCode::CanisterError,
            6 => RejectCode::SysUnknown,
            _ => return None,
        })
    }
}

/// A call that did not produce a reply: the reject code and a human-readable message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    pub code: RejectCode,
    pub message: String,
}

impl Reject {
    pub fn new(code: RejectCode, message: impl Into<String>) -> Self {
        Reject {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reject {:?} ({}): {}",
            self.code, self.code as u32, self.message
        )
    }
}

impl std::error::Error for Reject {}

/// The outcome of a call: reply bytes or a reject.
pub type CallResult = Result<Vec<u8>, Reject>;

/// Errors of management operations (create, install, upgrade, …) and of the host's API.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IcError {
    #[error("canister {0} not found")]
    CanisterNotFound(Principal),
    #[error("canister {0} is empty: no wasm module is installed")]
    CanisterEmpty(Principal),
    #[error("caller {caller} is not a controller of canister {canister}")]
    NotController {
        canister: Principal,
        caller: Principal,
    },
    #[error("the wasm module is not a valid canister: {0}")]
    InvalidWasm(String),
    #[error("canister {canister} trapped during {phase}: {message}")]
    Trapped {
        canister: Principal,
        phase: &'static str,
        message: String,
    },
    #[error("canister {0} already has a module installed; use reinstall or upgrade")]
    AlreadyInstalled(Principal),
    #[error("ingress message {0} is unknown")]
    UnknownMessage(u64),
    #[error("message {0} did not complete within {1} rounds")]
    DidNotComplete(u64, u32),
    #[error("the state cannot be saved now: {0}")]
    NotQuiescent(String),
    #[error("canister {0} already exists")]
    CanisterExists(Principal),
}

/// Per-message instruction limits and other knobs; the defaults are the IC's.
#[derive(Clone, Debug)]
pub struct IcConfig {
    /// Limit of one update, callback, timer or heartbeat execution (IC: 40 billion).
    pub update_instruction_limit: u64,
    /// Limit of one query execution (IC: 5 billion).
    pub query_instruction_limit: u64,
    /// Limit of `canister_inspect_message` (IC: 200 million).
    pub inspect_instruction_limit: u64,
    /// Limit of install, reinstall and upgrade, all hooks together (IC: 300 billion).
    pub install_instruction_limit: u64,
    /// Cycles a new canister starts with.
    pub initial_cycles: u128,
    /// Rounds an update call may take before `update_call` gives up.
    pub max_rounds_per_call: u32,
    /// Largest ingress or inter-canister payload (IC: 2 MiB).
    pub max_payload_bytes: usize,
    /// Largest reply (IC: 2 MiB for inter-canister replies and ingress).
    pub max_reply_bytes: usize,
    /// Maximum size of stable memory in bytes (IC: 500 GiB; kept lower in-process).
    pub max_stable_memory_bytes: u64,
    /// Print `ic0.debug_print` output through `tracing` (always collected in `debug_log`).
    pub trace_debug_print: bool,
    /// Largest module a gzipped module may decompress to (IC: 100 MiB); larger is refused.
    pub max_decompressed_module_bytes: usize,
}

impl Default for IcConfig {
    fn default() -> Self {
        IcConfig {
            update_instruction_limit: 40_000_000_000,
            query_instruction_limit: 5_000_000_000,
            inspect_instruction_limit: 200_000_000,
            install_instruction_limit: 300_000_000_000,
            initial_cycles: 100_000_000_000_000,
            max_rounds_per_call: 10_000,
            max_payload_bytes: 2 * 1024 * 1024,
            max_reply_bytes: 2 * 1024 * 1024,
            max_stable_memory_bytes: 8 * 1024 * 1024 * 1024,
            trace_debug_print: true,
            max_decompressed_module_bytes: 100 * 1024 * 1024,
        }
    }
}

/// An ingress message's id, returned by [`crate::EmbeddedIc::submit_update`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub u64);

/// The principal of canister number `index`, in the IC's format for canister ids
/// (eight big-endian bytes of the index followed by `0x01 0x01`).
pub fn canister_id(index: u64) -> Principal {
    let mut bytes = [0u8; 10];
    bytes[..8].copy_from_slice(&index.to_be_bytes());
    bytes[8] = 1;
    bytes[9] = 1;
    Principal::from_slice(&bytes)
}

/// A self-authenticating user principal derived from `seed`: distinct seeds give distinct,
/// stable users, so tests can name callers without holding keys.
pub fn user_principal(seed: u64) -> Principal {
    use sha2::Digest;
    let der_key = sha2::Sha256::digest(seed.to_be_bytes());
    Principal::self_authenticating(der_key)
}

/// A wasm global's value in a snapshot: its type and its bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlobalValue {
    I32(i32),
    I64(i64),
    /// An f32's bits.
    F32(u32),
    /// An f64's bits.
    F64(u64),
}

impl GlobalValue {
    pub(crate) fn from_val(v: &wasmi::Val) -> Self {
        match v {
            wasmi::Val::I32(x) => GlobalValue::I32(*x),
            wasmi::Val::I64(x) => GlobalValue::I64(*x),
            wasmi::Val::F32(x) => GlobalValue::F32(x.to_bits()),
            wasmi::Val::F64(x) => GlobalValue::F64(x.to_bits()),
            // Reference and vector globals are not saved (Rust canisters have none).
            _ => GlobalValue::I32(0),
        }
    }

    pub(crate) fn to_val(self) -> wasmi::Val {
        match self {
            GlobalValue::I32(x) => wasmi::Val::I32(x),
            GlobalValue::I64(x) => wasmi::Val::I64(x),
            GlobalValue::F32(x) => wasmi::Val::from(f32::from_bits(x)),
            GlobalValue::F64(x) => wasmi::Val::from(f64::from_bits(x)),
        }
    }
}

/// A canister's module state in a snapshot: the module as installed, its heap and globals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleState {
    pub wasm: Vec<u8>,
    pub heap: Vec<u8>,
    pub globals: Vec<GlobalValue>,
}

/// A canister in a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanisterState {
    pub id: Principal,
    pub controllers: Vec<Principal>,
    pub cycles: u128,
    pub certified_data: Vec<u8>,
    pub global_timer: u64,
    pub stable: Vec<u8>,
    /// Running (false: stopped).
    pub running: bool,
    pub version: u64,
    pub module: Option<ModuleState>,
}

/// The embedded IC's whole state at a quiescent point (no message queued, no call open):
/// what [`crate::EmbeddedIc::export_state`] saves and [`crate::EmbeddedIc::import_state`] loads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IcState {
    pub time: u64,
    pub next_canister: u64,
    pub next_message: u64,
    pub rand_counter: u64,
    pub canisters: Vec<CanisterState>,
}

/// How a canister was (re)installed, as in the management canister's `install_code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstallMode {
    Install,
    Reinstall,
    Upgrade,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canister_ids_match_the_ic_format() {
        // The NNS canisters' ids: registry, governance, ledger.
        assert_eq!(canister_id(0).to_text(), "rwlgt-iiaaa-aaaaa-aaaaa-cai");
        assert_eq!(canister_id(1).to_text(), "rrkah-fqaaa-aaaaa-aaaaq-cai");
        assert_eq!(canister_id(2).to_text(), "ryjl3-tyaaa-aaaaa-aaaba-cai");
        assert_ne!(user_principal(1), user_principal(2));
    }
}
