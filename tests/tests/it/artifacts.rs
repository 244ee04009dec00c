//! The release artifacts `scripts/build-canisters.sh` writes to `target/canisters/`, and the
//! deploy configurations that point at them:
//!
//! * every gzipped module fits the IC's 2 MiB ingress limit (installable without chunking, and
//!   small enough for an SNS upgrade proposal), every shrunk module is smaller than the module
//!   cargo built (`raw/<name>.wasm`), and the .wasm.gz is exactly the .wasm gzipped;
//! * `SHA256SUMS` holds the hash of every module;
//! * installed from its .wasm.gz on the embedded IC, every canister serves its interface as the
//!   public `candid:service` metadata (equal to candid/<name>.did), its `git_commit` and
//!   `version`, as `read_state` would;
//! * `dfx.json` and `icp.yaml` list exactly the deployable canisters, with the build script, the
//!   .wasm.gz and (dfx) the .did of each, and those files exist.

use crate::candid_interfaces::{canisters, root};
use candid::Principal;
use emc_embedded_ic::EmbeddedIc;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;

/// The IC's limit on an ingress message (and so on a module installed in one message).
const INGRESS_LIMIT: usize = 2 * 1024 * 1024;

/// Every canister crate, the test-only ones included: all are built and shrunk.
fn all_canisters() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("canisters"))
        .expect("canisters/ exists")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn artifact(file: &str) -> PathBuf {
    emc_test_env::canister_dir().join(file)
}

fn read(file: &str) -> Vec<u8> {
    let path = artifact(file);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}); build the canisters with `scripts/build-canisters.sh`",
            path.display()
        )
    })
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a valid gzip stream");
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn gzipped_modules_fit_the_ingress_limit_and_shrunk_modules_are_smaller_than_raw() {
    let mut report = Vec::new();
    for name in all_canisters() {
        let raw = read(&format!("raw/{name}.wasm"));
        let wasm = read(&format!("{name}.wasm"));
        let gz = read(&format!("{name}.wasm.gz"));
        assert!(
            gz.len() < INGRESS_LIMIT,
            "{name}.wasm.gz is {} bytes, over the 2 MiB ingress limit",
            gz.len()
        );
        assert!(
            wasm.len() < raw.len(),
            "{name}.wasm ({} bytes) is not smaller than raw/{name}.wasm ({} bytes)",
            wasm.len(),
            raw.len()
        );
        assert!(gz.len() < wasm.len());
        assert!(
            gunzip(&gz) == wasm,
            "{name}.wasm.gz does not decompress to {name}.wasm"
        );
        report.push(format!(
            "{name}: raw {} B, shrunk {} B, gzipped {} B",
            raw.len(),
            wasm.len(),
            gz.len()
        ));
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn sha256sums_lists_every_module_with_its_hash() {
    let text = String::from_utf8(read("SHA256SUMS")).unwrap();
    let mut listed = BTreeSet::new();
    for line in text.lines() {
        let (hash, file) = line
            .split_once("  ")
            .unwrap_or_else(|| panic!("not in sha256sum format: {line}"));
        assert_eq!(hash, sha256_hex(&read(file)), "SHA256SUMS: {file}");
        listed.insert(file.to_string());
    }
    for name in all_canisters() {
        for file in [format!("{name}.wasm"), format!("{name}.wasm.gz")] {
            assert!(listed.contains(&file), "SHA256SUMS lacks {file}");
        }
    }
}

#[test]
fn installed_from_the_gzipped_module_every_canister_serves_its_metadata() {
    let admin = Principal::from_slice(&[1, 2, 3]);
    for name in canisters() {
        let gz = read(&format!("{name}.wasm.gz"));
        let mut ic = EmbeddedIc::new();
        // The deploy script's registry genesis lies ten minutes ahead of now.
        ic.set_time(crate::dfx_deploy::GENESIS_NS - 600_000_000_000);
        let arg = crate::dfx_deploy::arg(&format!("{name}_arg"));
        let id = ic
            .install_canister(&gz, arg, vec![admin])
            .unwrap_or_else(|e| panic!("{name}: installing {name}.wasm.gz: {e}"));
        let did = std::fs::read(root().join("candid").join(format!("{name}.did"))).unwrap();
        let service = ic
            .canister_metadata(id, "candid:service")
            .unwrap_or_else(|| panic!("{name}: no public candid:service metadata"));
        assert!(
            service == did,
            "{name}: candid:service differs from candid/{name}.did"
        );
        let commit = String::from_utf8(ic.canister_metadata(id, "git_commit").unwrap()).unwrap();
        let hex = commit.strip_suffix("-dirty").unwrap_or(&commit);
        assert!(
            commit == "unknown" || (hex.len() == 40 && hex.chars().all(|c| c.is_ascii_hexdigit())),
            "{name}: git_commit {commit:?}"
        );
        assert_eq!(
            ic.canister_metadata(id, "version").as_deref(),
            Some(env!("CARGO_PKG_VERSION").as_bytes()),
            "{name}: version"
        );
        // The IC's module hash is the hash of what was installed: the gzipped module, which is
        // what SHA256SUMS lists for <name>.wasm.gz.
        assert_eq!(
            ic.module_hash(id)
                .map(|h| h.iter().map(|b| format!("{b:02x}")).collect()),
            Some(sha256_hex(&gz))
        );
    }
}

/// The canisters of `icp.yaml` with the text of each one's entry (a list item `- name: x` under
/// `canisters:`, up to the next item). Read line by line: the file is ours and plain.
fn icp_yaml_canisters() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root().join("icp.yaml")).expect("icp.yaml");
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut in_canisters = false;
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            in_canisters = line.trim_end() == "canisters:";
            continue;
        }
        if !in_canisters {
            continue;
        }
        if let Some(name) = line.strip_prefix("  - name: ") {
            entries.push((name.trim().to_string(), String::new()));
        } else if let Some((_, body)) = entries.last_mut() {
            body.push_str(line.trim());
            body.push('\n');
        }
    }
    entries
}

#[test]
fn dfx_json_and_icp_yaml_declare_every_canister_from_its_artifacts() {
    let names: BTreeSet<String> = canisters().into_iter().collect();
    assert!(!names.is_empty());

    let dfx: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("dfx.json")).unwrap()).unwrap();
    let mut dfx_canisters = dfx["canisters"]
        .as_object()
        .expect("dfx.json: canisters")
        .clone();
    // The explorer: an asset canister built from explorer/dist (scripts/build-explorer.sh).
    let explorer = dfx_canisters
        .remove("explorer")
        .expect("dfx.json: explorer");
    assert_eq!(explorer["type"], "assets");
    assert_eq!(explorer["source"], serde_json::json!(["explorer/dist"]));
    assert_eq!(
        explorer["build"],
        serde_json::json!(["scripts/build-explorer.sh"])
    );
    assert!(root().join("scripts/build-explorer.sh").is_file());
    assert_eq!(
        dfx_canisters.keys().cloned().collect::<BTreeSet<_>>(),
        names,
        "dfx.json lists exactly the canisters of canisters/"
    );
    for (name, c) in &dfx_canisters {
        assert_eq!(c["type"], "custom", "dfx.json: {name}");
        assert_eq!(c["build"], format!("scripts/build-canisters.sh {name}"));
        assert_eq!(c["wasm"], format!("target/canisters/{name}.wasm.gz"));
        assert_eq!(c["candid"], format!("candid/{name}.did"));
        assert!(root().join(c["candid"].as_str().unwrap()).is_file());
        let wasm = c["wasm"].as_str().unwrap();
        assert!(root().join(wasm).is_file(), "dfx.json: {wasm} is not built");
    }

    let icp = icp_yaml_canisters();
    assert_eq!(
        icp.iter().map(|(n, _)| n.clone()).collect::<BTreeSet<_>>(),
        names,
        "icp.yaml lists exactly the canisters of canisters/"
    );
    assert_eq!(icp.len(), names.len(), "icp.yaml lists a canister twice");
    for (name, body) in &icp {
        for expected in [
            "- type: script".to_string(),
            format!("- scripts/build-canisters.sh {name}"),
            "- type: pre-built".to_string(),
            format!("path: target/canisters/{name}.wasm.gz"),
        ] {
            assert!(
                body.lines().any(|l| l == expected),
                "icp.yaml: {name} lacks `{expected}`"
            );
        }
        let wasm = format!("target/canisters/{name}.wasm.gz");
        assert!(
            root().join(&wasm).is_file(),
            "icp.yaml: {wasm} is not built"
        );
    }
}

#[test]
fn shrinking_leaves_instruction_counts_unchanged() {
    use icrc_ledger_types::icrc1::account::Account;
    use icrc_ledger_types::icrc1::transfer::TransferArg;
    // The deploy script's ledger argument gives `$me` (this principal) a balance.
    let me = Principal::from_slice(&[1, 2, 3]);
    let transfer = candid::encode_one(TransferArg {
        from_subaccount: None,
        to: Account {
            owner: Principal::from_slice(&[1, 2, 7]),
            subaccount: None,
        },
        fee: None,
        created_at_time: None,
        memo: None,
        amount: 100_000_000u64.into(),
    })
    .unwrap();
    let counts = |wasm: &[u8]| {
        let mut ic = EmbeddedIc::new();
        let id = ic
            .install_canister(wasm, crate::dfx_deploy::arg("ledger_arg"), vec![me])
            .unwrap();
        let mut counts = Vec::new();
        for _ in 0..3 {
            let reply = ic
                .update_call(id, me, "icrc1_transfer", transfer.clone())
                .unwrap();
            let result = candid::decode_one::<
                Result<candid::Nat, icrc_ledger_types::icrc1::transfer::TransferError>,
            >(&reply)
            .unwrap();
            assert!(result.is_ok(), "{result:?}");
            counts.push(ic.last_instructions());
        }
        counts
    };
    let raw = counts(&read("raw/ledger.wasm"));
    assert!(raw.iter().all(|&n| n > 0), "{raw:?}");
    assert_eq!(raw, counts(&read("ledger.wasm")), "raw vs shrunk");
    assert_eq!(raw, counts(&read("ledger.wasm.gz")), "raw vs gzipped");
}
