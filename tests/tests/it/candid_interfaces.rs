//! Every canister's wasm exports (through `ic_cdk::export_candid!`) exactly the service in
//! `candid/<name>.did`: the .did files are the public contract, and this keeps them true.

use candid_parser::utils::{service_equal, CandidSource};
use emc_embedded_ic::EmbeddedIc;
use std::path::{Path, PathBuf};

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The deployable canisters: every crate under canisters/ except test-only ones.
pub(crate) fn canisters() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("canisters"))
        .expect("canisters/ exists")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with("test-"))
        .collect();
    names.sort();
    names
}

#[test]
fn every_canister_exports_the_service_in_its_did_file() {
    let names = canisters();
    assert!(!names.is_empty(), "no canisters found");
    for name in names {
        let did_path = root().join("candid").join(format!("{name}.did"));
        let did = std::fs::read_to_string(&did_path)
            .unwrap_or_else(|e| panic!("{}: {e} (every canister needs one)", did_path.display()));
        let wasm = emc_test_env::canister_wasm(&name);
        let exported = EmbeddedIc::candid_interface(&wasm)
            .unwrap_or_else(|e| panic!("{name}: cannot read the wasm's interface: {e}"));
        if let Err(e) = service_equal(CandidSource::Text(&did), CandidSource::Text(&exported)) {
            panic!(
                "{name}: the wasm's interface differs from {}:\n{e}\n--- exported by the wasm ---\n{exported}",
                did_path.display()
            );
        }
    }
}
