//! `candid/test-sns-governance.did` is the interface built from the Rust types.
//! Regenerate with `UPDATE_DID=1 cargo test -p emc-test-sns-governance --test it interface::`.

fn did_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../candid/test-sns-governance.did")
}

#[test]
fn did_file_matches_the_rust_types() {
    let generated = emc_test_sns_governance::interface::service_did();
    if std::env::var("UPDATE_DID").is_ok() {
        std::fs::write(did_path(), &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(did_path()).unwrap_or_default();
    assert_eq!(
        on_disk, generated,
        "candid/test-sns-governance.did is stale: rerun with UPDATE_DID=1"
    );
    for m in ["make_proposal", "register_vote", "get_proposal"] {
        assert!(generated.contains(&format!("{m} :")), "{m}");
    }
}

/// The wasm built by `scripts/build-canisters.sh test-sns-governance` exports exactly this service.
#[test]
fn wasm_exports_the_did_file() {
    use candid_parser::utils::{service_equal, CandidSource};
    let did = std::fs::read_to_string(did_path()).unwrap();
    let wasm = emc_test_env::canister_wasm("test-sns-governance");
    let exported = emc_embedded_ic::EmbeddedIc::candid_interface(&wasm).unwrap();
    service_equal(CandidSource::Text(&did), CandidSource::Text(&exported)).unwrap_or_else(|e| {
        panic!("the wasm's interface differs from candid/test-sns-governance.did: {e}\n{exported}")
    });
}
