//! `candid/market.did` is the interface built from the shell's Rust types.
//! Regenerate with `UPDATE_DID=1 cargo test -p emc-market --test it interface::`.

#[test]
fn did_file_matches_the_rust_types() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../candid/market.did");
    let generated = emc_market::interface::service_did();
    if std::env::var("UPDATE_DID").is_ok() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        on_disk, generated,
        "candid/market.did is stale: rerun with UPDATE_DID=1"
    );
    for m in [
        "post_offer",
        "deposit",
        "withdraw",
        "settle_receipt",
        "settle_batch",
        "admission",
        "events",
        "validate_set_params",
        "execute_set_params",
    ] {
        assert!(generated.contains(&format!("{m} :")), "{m}");
    }
}

/// The wasm built by `scripts/build-canisters.sh market` exports exactly this service.
#[test]
fn wasm_exports_the_did_file() {
    use candid_parser::utils::{service_equal, CandidSource};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../candid/market.did");
    let did = std::fs::read_to_string(&path).unwrap();
    let wasm = emc_test_env::canister_wasm("market");
    let exported = emc_embedded_ic::EmbeddedIc::candid_interface(&wasm).unwrap();
    service_equal(CandidSource::Text(&did), CandidSource::Text(&exported)).unwrap_or_else(|e| {
        panic!("the wasm's interface differs from candid/market.did: {e}\n{exported}")
    });
}
