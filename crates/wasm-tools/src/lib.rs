//! The release step of the canister build (`scripts/build-canisters.sh` runs the binary):
//! shrink with DFINITY's `ic-wasm`, embed public metadata, gzip deterministically.

use anyhow::{Context, Result};
use ic_wasm::metadata::{add_metadata, Kind};
use sha2::{Digest, Sha256};
use std::io::Write;

/// The public metadata a release module carries (`icp:public <name>` custom sections).
#[derive(Clone, Debug, Default)]
pub struct Metadata {
    /// `candid:service`: the canister's interface, the text of `candid/<name>.did`.
    pub candid_service: Option<String>,
    /// `git_commit`: the commit the module was built from (`-dirty` when the tree had changes).
    pub git_commit: Option<String>,
    /// `version`: the workspace version.
    pub version: Option<String>,
}

/// Shrinks `wasm` (custom sections other than `icp:*` dropped, unused functions removed) and
/// adds `metadata` as public sections.
pub fn release_module(wasm: &[u8], metadata: &Metadata) -> Result<Vec<u8>> {
    let mut module = ic_wasm::utils::parse_wasm(wasm, false).context("parsing the wasm module")?;
    ic_wasm::shrink::shrink(&mut module);
    let sections = [
        ("candid:service", &metadata.candid_service),
        ("git_commit", &metadata.git_commit),
        ("version", &metadata.version),
    ];
    for (name, value) in sections {
        if let Some(value) = value {
            add_metadata(&mut module, Kind::Public, name, value.as_bytes().to_vec());
        }
    }
    Ok(module.emit_wasm())
}

/// Gzip at the best compression, with no file name and a zero time stamp, so the same module
/// always gives the same bytes (and the same SHA-256).
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
