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

#[cfg(test)]
mod tests {
    use super::*;

    /// The custom sections of a module by name, in order.
    fn custom_sections(wasm: &[u8]) -> Vec<(String, Vec<u8>)> {
        let m = ic_wasm::utils::parse_wasm(wasm, true).unwrap();
        m.customs
            .iter()
            .map(|(_, s)| {
                (
                    s.name().to_string(),
                    s.data(&Default::default()).into_owned(),
                )
            })
            .collect()
    }

    fn sample() -> Vec<u8> {
        wat::parse_str(
            r#"(module $sample
                 (memory 1)
                 (func $used (export "canister_update f") (drop (i32.const 1)))
                 (func $unused (drop (i32.const 2)))
                 (@custom "producers" "x")
                 (@custom "icp:private keep" "k"))"#,
        )
        .unwrap()
    }

    #[test]
    fn release_modules_are_smaller_keep_icp_sections_and_carry_the_metadata() {
        let raw = sample();
        let metadata = Metadata {
            candid_service: Some("service : { f : () -> () }".into()),
            git_commit: Some("0123abcd".into()),
            version: Some("9.9.9".into()),
        };
        let out = release_module(&raw, &metadata).unwrap();
        let bare = release_module(&raw, &Metadata::default()).unwrap();
        assert!(bare.len() < raw.len(), "{} >= {}", bare.len(), raw.len());
        let sections = custom_sections(&out);
        let names: Vec<&str> = sections.iter().map(|(n, _)| n.as_str()).collect();
        assert!(
            !names.contains(&"name") && !names.contains(&"producers"),
            "{names:?}"
        );
        let get = |n: &str| {
            sections
                .iter()
                .find(|(name, _)| name == n)
                .map(|(_, d)| d.clone())
        };
        assert_eq!(get("icp:private keep").as_deref(), Some(&b"k"[..]));
        assert_eq!(
            get("icp:public candid:service").as_deref(),
            Some(&b"service : { f : () -> () }"[..])
        );
        assert_eq!(
            get("icp:public git_commit").as_deref(),
            Some(&b"0123abcd"[..])
        );
        assert_eq!(get("icp:public version").as_deref(), Some(&b"9.9.9"[..]));
        // The unused function is gone, the exported one stays.
        let m = ic_wasm::utils::parse_wasm(&out, false).unwrap();
        assert_eq!(m.funcs.iter().count(), 1);
        assert!(m.exports.iter().any(|e| e.name == "canister_update f"));
        // Run twice, the same bytes; absent metadata is not written.
        assert_eq!(out, release_module(&raw, &metadata).unwrap());
        assert!(custom_sections(&bare)
            .iter()
            .all(|(n, _)| !n.starts_with("icp:public")));
    }

    #[test]
    fn gzip_is_deterministic_and_round_trips() {
        use std::io::Read;
        let data = sample();
        let gz = gzip(&data).unwrap();
        assert_eq!(gz, gzip(&data).unwrap());
        // Gzip header: magic, deflate, no flags (no file name), mtime 0.
        assert_eq!(&gz[..8], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(release_module(b"not wasm", &Metadata::default()).is_err());
    }
}
