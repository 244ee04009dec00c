//! `candid/ledger.did` is the interface built from the shell's Rust types.
//! Regenerate with `UPDATE_DID=1 cargo test -p emc-ledger --test it interface::`.

#[test]
fn did_file_matches_the_rust_types() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../candid/ledger.did");
    let generated = emc_ledger::interface::service_did();
    if std::env::var("UPDATE_DID").is_ok() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        on_disk, generated,
        "candid/ledger.did is stale: rerun with UPDATE_DID=1"
    );
    // The interface parses and names every endpoint.
    for m in [
        "icrc1_transfer",
        "icrc1_balance_of",
        "icrc1_total_supply",
        "icrc1_metadata",
        "icrc1_fee",
        "icrc1_minting_account",
        "icrc1_name",
        "icrc1_symbol",
        "icrc1_decimals",
        "icrc1_supported_standards",
        "icrc2_approve",
        "icrc2_allowance",
        "icrc2_transfer_from",
        "icrc3_get_blocks",
        "icrc3_get_tip_certificate",
        "icrc3_supported_block_types",
        "icrc3_get_archives",
        "icrc10_supported_standards",
        "icrc21_canister_call_consent_message",
    ] {
        assert!(generated.contains(&format!("{m} :")), "{m}");
    }
}
