//! The replica's state on disk, so that canisters survive a restart.
//!
//! File `<state-dir>/state.snapshot`, format version 1:
//!
//! ```text
//! "EMC-SNAP" (8 bytes) ‖ version: u32 big-endian (1) ‖ body: CBOR ‖ SHA-256(everything before): 32 bytes
//! body = {
//!   "time": nat, "next_canister": nat, "next_message": nat, "rand_counter": nat,
//!   "canisters": [{
//!     "id": bytes, "controllers": [bytes], "cycles": bytes (u128 big-endian),
//!     "certified_data": bytes, "global_timer": nat, "stable": bytes, "running": bool,
//!     "version": nat,
//!     "module": null | {"wasm": bytes (as installed), "heap": bytes, "globals": [[kind, bits]]}
//!   }]
//! }   kind: 0 i32, 1 i64, 2 f32, 3 f64; bits: the value's bits as a nat
//! ```
//!
//! It is written atomically: to `state.snapshot.tmp`, synced, renamed over `state.snapshot`,
//! and the directory synced, so a crash leaves the old or the new snapshot, never a torn one.
//! A snapshot is taken only at a quiescent point (no message queued, no call open; see
//! [`EmbeddedIc::export_state`]); timers are in it (`global_timer`). Request statuses are not:
//! after a restart a client polling for an old request id sees it as unknown. The key seed
//! lives next to it in `key-seed` (32 bytes), so the root key survives too.

use crate::cbor::{self, Value};
use candid::Principal;
use emc_embedded_ic::{
    CanisterState, EmbeddedIc, GlobalValue, IcConfig, IcError, IcState, ModuleState,
};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file name of the snapshot in the state directory.
pub const FILE: &str = "state.snapshot";
const MAGIC: &[u8; 8] = b"EMC-SNAP";
/// The format version this code writes and reads.
pub const VERSION: u32 = 1;

/// Why a snapshot could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not a snapshot: {0}")]
    Format(String),
    #[error("snapshot format version {0} is not supported (this replica reads version {VERSION})")]
    Version(u32),
    #[error("the snapshot's checksum does not match: the file is damaged")]
    Checksum,
    #[error(transparent)]
    Ic(#[from] IcError),
}

/// Writes `bytes` to `path` atomically (temporary file, sync, rename, sync the directory).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        // Directories cannot be opened for syncing on every platform; best effort.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Encodes a state as a version-1 snapshot file.
pub fn encode(state: &IcState) -> Vec<u8> {
    let canisters = state
        .canisters
        .iter()
        .map(|c| {
            let module = match &c.module {
                None => Value::Null,
                Some(m) => Value::map([
                    ("wasm", Value::bytes(m.wasm.clone())),
                    ("heap", Value::bytes(m.heap.clone())),
                    (
                        "globals",
                        Value::Array(
                            m.globals
                                .iter()
                                .map(|g| {
                                    let (kind, bits) = match *g {
                                        GlobalValue::I32(x) => (0, u64::from(x as u32)),
                                        GlobalValue::I64(x) => (1, x as u64),
                                        GlobalValue::F32(x) => (2, u64::from(x)),
                                        GlobalValue::F64(x) => (3, x),
                                    };
                                    Value::Array(vec![Value::Uint(kind), Value::Uint(bits)])
                                })
                                .collect(),
                        ),
                    ),
                ]),
            };
            Value::map([
                ("id", Value::bytes(c.id.as_slice())),
                (
                    "controllers",
                    Value::Array(
                        c.controllers
                            .iter()
                            .map(|p| Value::bytes(p.as_slice()))
                            .collect(),
                    ),
                ),
                ("cycles", Value::bytes(c.cycles.to_be_bytes())),
                ("certified_data", Value::bytes(c.certified_data.clone())),
                ("global_timer", Value::Uint(c.global_timer)),
                ("stable", Value::bytes(c.stable.clone())),
                ("running", Value::Bool(c.running)),
                ("version", Value::Uint(c.version)),
                ("module", module),
            ])
        })
        .collect();
    let body = Value::map([
        ("time", Value::Uint(state.time)),
        ("next_canister", Value::Uint(state.next_canister)),
        ("next_message", Value::Uint(state.next_message)),
        ("rand_counter", Value::Uint(state.rand_counter)),
        ("canisters", Value::Array(canisters)),
    ]);
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&VERSION.to_be_bytes());
    body.encode_into(&mut out);
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

/// Decodes a snapshot file.
pub fn decode(bytes: &[u8]) -> Result<IcState, SnapshotError> {
    let format = |m: &str| SnapshotError::Format(m.to_owned());
    if bytes.len() < 12 + 32 || &bytes[..8] != MAGIC {
        return Err(format("the file does not start with EMC-SNAP"));
    }
    let version = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != VERSION {
        return Err(SnapshotError::Version(version));
    }
    let (content, sum) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(content).as_slice() != sum {
        return Err(SnapshotError::Checksum);
    }
    let body = cbor::decode(&content[12..]).map_err(|e| SnapshotError::Format(e.to_string()))?;
    let uint = |v: &Value, k: &str| match v.get(k) {
        Some(Value::Uint(n)) => Ok(*n),
        _ => Err(SnapshotError::Format(format!("field {k} is not a nat"))),
    };
    let bytes_of = |v: &Value, k: &str| match v.get(k) {
        Some(Value::Bytes(b)) => Ok(b.clone()),
        _ => Err(SnapshotError::Format(format!("field {k} is not bytes"))),
    };
    let principal = |b: &[u8]| {
        Principal::try_from_slice(b).map_err(|e| SnapshotError::Format(format!("principal: {e}")))
    };
    let Some(Value::Array(items)) = body.get("canisters") else {
        return Err(format("no canisters array"));
    };
    let mut canisters = Vec::with_capacity(items.len());
    for c in items {
        let controllers = match c.get("controllers") {
            Some(Value::Array(ps)) => ps
                .iter()
                .map(|p| match p {
                    Value::Bytes(b) => principal(b),
                    _ => Err(format("a controller is not bytes")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err(format("controllers is not an array")),
        };
        let cycles: [u8; 16] = bytes_of(c, "cycles")?
            .try_into()
            .map_err(|_| format("cycles is not 16 bytes"))?;
        let module = match c.get("module") {
            Some(Value::Null) => None,
            Some(m @ Value::Map(_)) => {
                let Some(Value::Array(gs)) = m.get("globals") else {
                    return Err(format("globals is not an array"));
                };
                let globals = gs
                    .iter()
                    .map(|g| match g {
                        Value::Array(kb) => match kb.as_slice() {
                            [Value::Uint(0), Value::Uint(b)] => {
                                Ok(GlobalValue::I32(*b as u32 as i32))
                            }
                            [Value::Uint(1), Value::Uint(b)] => Ok(GlobalValue::I64(*b as i64)),
                            [Value::Uint(2), Value::Uint(b)] => Ok(GlobalValue::F32(*b as u32)),
                            [Value::Uint(3), Value::Uint(b)] => Ok(GlobalValue::F64(*b)),
                            _ => Err(format("a global is not [kind, bits]")),
                        },
                        _ => Err(format("a global is not an array")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Some(ModuleState {
                    wasm: bytes_of(m, "wasm")?,
                    heap: bytes_of(m, "heap")?,
                    globals,
                })
            }
            _ => return Err(format("module is neither null nor a map")),
        };
        canisters.push(CanisterState {
            id: principal(&bytes_of(c, "id")?)?,
            controllers,
            cycles: u128::from_be_bytes(cycles),
            certified_data: bytes_of(c, "certified_data")?,
            global_timer: uint(c, "global_timer")?,
            stable: bytes_of(c, "stable")?,
            running: matches!(c.get("running"), Some(Value::Bool(true))),
            version: uint(c, "version")?,
            module,
        });
    }
    Ok(IcState {
        time: uint(&body, "time")?,
        next_canister: uint(&body, "next_canister")?,
        next_message: uint(&body, "next_message")?,
        rand_counter: uint(&body, "rand_counter")?,
        canisters,
    })
}

/// Saves the embedded IC's state in `dir`; returns the file's size.
pub fn write(dir: &Path, ic: &EmbeddedIc) -> Result<usize, SnapshotError> {
    let bytes = encode(&ic.export_state()?);
    let path = dir.join(FILE);
    write_atomically(&path, &bytes).map_err(|source| SnapshotError::Io { path, source })?;
    Ok(bytes.len())
}

/// Reads the snapshot in `dir`, if there is one.
pub fn read(dir: &Path) -> Result<Option<IcState>, SnapshotError> {
    let path = dir.join(FILE);
    match std::fs::read(&path) {
        Ok(bytes) => decode(&bytes).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SnapshotError::Io { path, source }),
    }
}

/// An embedded IC with a snapshot's state.
pub fn restore(state: IcState, config: IcConfig) -> Result<EmbeddedIc, SnapshotError> {
    Ok(EmbeddedIc::import_state(state, config)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> IcState {
        IcState {
            time: 5,
            next_canister: 2,
            next_message: 9,
            rand_counter: 1,
            canisters: vec![CanisterState {
                id: emc_embedded_ic::canister_id(1),
                controllers: vec![Principal::anonymous()],
                cycles: u128::MAX - 3,
                certified_data: vec![1, 2],
                global_timer: 77,
                stable: vec![9; 100],
                running: true,
                version: 4,
                module: Some(ModuleState {
                    wasm: vec![0, 0x61, 0x73, 0x6d],
                    heap: vec![3; 10],
                    globals: vec![
                        GlobalValue::I32(-1),
                        GlobalValue::I64(i64::MIN),
                        GlobalValue::F32(7),
                        GlobalValue::F64(u64::MAX),
                    ],
                }),
            }],
        }
    }

    #[test]
    fn round_trips() {
        let s = sample();
        assert_eq!(decode(&encode(&s)).unwrap(), s);
    }

    #[test]
    fn damaged_or_foreign_files_are_refused() {
        let bytes = encode(&sample());
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        assert!(matches!(decode(&flipped), Err(SnapshotError::Checksum)));
        let mut v2 = bytes.clone();
        v2[11] = 2;
        assert!(matches!(decode(&v2), Err(SnapshotError::Version(2))));
        assert!(matches!(decode(b"hello"), Err(SnapshotError::Format(_))));
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
    }
}
