//! What a DAO operator uses on mainnet agrees with the code: every generic function of
//! [`EMC_FUNCTIONS`] exists in its canister's `.did` with the same payload type on the target
//! and the validator (the validator answering `variant { Ok : text; Err : text }`), appears in
//! `docs/governance.md` and in `scripts/sns-register-functions.sh` with the same id, methods and
//! topic; `scripts/sns-handover.sh` hands over every governed canister and every canister of
//! `dfx.json`; `sns/sns_init.yaml` lists them as dapp canisters and distributes exactly 2.1 B.

use emc_test_sns_governance::emc::{EmcCanister, EMC_FUNCTIONS};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(p: &str) -> String {
    std::fs::read_to_string(root().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// The method line `name : (...) -> (...)` of a `.did` service.
fn method_line<'a>(did: &'a str, name: &str) -> Option<&'a str> {
    did.lines()
        .map(str::trim)
        .find(|l| l.starts_with(&format!("{name} : ")))
}

#[test]
fn every_function_is_in_its_did_with_one_payload_type() {
    let ids: BTreeSet<u64> = EMC_FUNCTIONS.iter().map(|f| f.id).collect();
    assert_eq!(ids.len(), EMC_FUNCTIONS.len(), "ids are unique");
    assert!(ids.iter().all(|id| *id >= 1000));
    for f in EMC_FUNCTIONS {
        let did = read(&format!("candid/{}.did", f.canister.name()));
        let target = method_line(&did, &f.target_method())
            .unwrap_or_else(|| panic!("{}: no {}", f.id, f.target_method()));
        assert_eq!(
            target,
            format!("{} : ({}) -> ();", f.target_method(), f.payload),
            "{}",
            f.id
        );
        let validator = method_line(&did, &f.validator_method())
            .unwrap_or_else(|| panic!("{}: no {}", f.id, f.validator_method()));
        let prefix = format!("{} : ({}) -> (", f.validator_method(), f.payload);
        assert!(validator.starts_with(&prefix), "{}: {validator}", f.id);
        assert!(validator.ends_with(") query;"), "{}: {validator}", f.id);
        let result = &validator[prefix.len()..validator.len() - ") query;".len()];
        let def = format!("type {result} = variant {{ Ok : text; Err : text }};");
        assert!(did.contains(&def), "{}: {result} is not text/text", f.id);
    }
}

#[test]
fn the_governance_document_lists_every_function() {
    let doc = read("docs/governance.md");
    let rows: Vec<&str> = doc
        .lines()
        .filter(|l| {
            l.starts_with("| 1")
                && l.split('|')
                    .nth(1)
                    .is_some_and(|c| c.trim().parse::<u64>().is_ok())
        })
        .collect();
    assert_eq!(
        rows.len(),
        EMC_FUNCTIONS.len(),
        "one table row per function"
    );
    for f in EMC_FUNCTIONS {
        let row = rows
            .iter()
            .find(|r| r.split('|').nth(1).map(str::trim) == Some(&f.id.to_string()))
            .unwrap_or_else(|| panic!("docs/governance.md has no row {}", f.id));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells[3], format!("`<{}>`", f.canister.name()), "{row}");
        assert_eq!(cells[4], format!("`{}`", f.target_method()), "{row}");
        assert_eq!(cells[5], format!("`{}`", f.validator_method()), "{row}");
        assert!(cells[6].starts_with(&format!("`{}", f.payload)), "{row}");
        assert_eq!(cells[7], format!("`{}`", f.topic), "{row}");
    }
}

#[test]
fn the_registration_script_registers_every_function() {
    let script = read("scripts/sns-register-functions.sh");
    let lines: Vec<&str> = script
        .lines()
        .filter(|l| {
            l.len() > 5 && l.as_bytes()[..4].iter().all(u8::is_ascii_digit) && l.contains('|')
        })
        .collect();
    let expected: Vec<String> = EMC_FUNCTIONS
        .iter()
        .map(|f| {
            format!(
                "{}|{}|{}|{}|{}",
                f.id,
                f.name.replace('\'', "'\"'\"'"),
                f.canister.name(),
                f.method,
                f.topic
            )
        })
        .collect();
    assert_eq!(lines, expected);
}

fn dfx_canisters() -> BTreeSet<String> {
    let dfx: serde_json::Value = serde_json::from_str(&read("dfx.json")).unwrap();
    dfx["canisters"]
        .as_object()
        .expect("dfx.json: canisters")
        .keys()
        .cloned()
        .collect()
}

fn shell_list(script: &str, var: &str) -> BTreeSet<String> {
    let line = script
        .lines()
        .find(|l| l.starts_with(&format!("{var}=\"")))
        .unwrap_or_else(|| panic!("no {var}"));
    line[var.len() + 2..line.len() - 1]
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn the_handover_covers_every_canister() {
    let script = read("scripts/sns-handover.sh");
    let governed: BTreeSet<String> = EMC_FUNCTIONS
        .iter()
        .filter(|f| f.method == "set_governance")
        .map(|f| f.canister.name().to_string())
        .collect();
    assert_eq!(shell_list(&script, "GOVERNED"), governed);
    let all = dfx_canisters();
    assert!(all.contains("ledger") && all.contains("dao"), "{all:?}");
    assert_eq!(shell_list(&script, "DAPP"), all);
    // every canister with a generic function has a governance setter
    for c in [
        EmcCanister::Registry,
        EmcCanister::Epochs,
        EmcCanister::Market,
        EmcCanister::Dao,
    ] {
        assert!(governed.contains(c.name()), "{}", c.name());
    }
}

/// `12_000 tokens` -> 12000.
fn tokens(v: &str) -> u64 {
    v.trim()
        .trim_end_matches("tokens")
        .trim()
        .replace('_', "")
        .parse()
        .unwrap_or_else(|e| panic!("{v}: {e}"))
}

#[test]
fn sns_init_lists_the_dapp_canisters_and_distributes_2_1_billion() {
    let y = read("sns/sns_init.yaml");
    let section = |name: &str| -> Vec<String> {
        let mut out = Vec::new();
        let mut inside = false;
        for l in y.lines() {
            if l.starts_with(&format!("{name}:")) {
                inside = true;
                continue;
            }
            if inside {
                if !l.starts_with(' ') && !l.trim().is_empty() && !l.starts_with('#') {
                    break;
                }
                out.push(l.to_string());
            }
        }
        out
    };
    for key in [
        "name:",
        "Token:",
        "Proposals:",
        "Voting:",
        "Swap:",
        "NnsProposal:",
        "fallback_controller_principals:",
    ] {
        assert!(y.lines().any(|l| l.starts_with(key)), "{key}");
    }
    let dapps: BTreeSet<String> = section("dapp_canisters")
        .iter()
        .filter_map(|l| l.trim().strip_prefix("- <"))
        .filter_map(|l| l.strip_suffix(" canister id>"))
        .map(String::from)
        .collect();
    assert_eq!(dapps, dfx_canisters());
    let dist = section("Distribution");
    let get = |key: &str| -> Vec<u64> {
        dist.iter()
            .filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix(key))
            .map(tokens)
            .collect()
    };
    let stakes: u64 = get("stake:").iter().sum();
    let treasury = get("treasury:")[0];
    let swap = get("swap:")[0];
    let total = get("total:")[0];
    assert_eq!(total, 2_100_000_000);
    assert_eq!(stakes + treasury + swap, total);
    assert!(
        swap >= stakes,
        "the swap must hold at least the developer neurons' stake"
    );
    // the treasury mirrors the four known pools of $EMC
    let pools = emc_tokenomics::NODE_REWARD_POOL_CAP
        + emc_tokenomics::TRADING_REWARD_POOL_CAP
        + emc_tokenomics::DEVELOPER_REWARD_POOL_CAP
        + emc_tokenomics::AIRDROP_POOL_CAP;
    assert_eq!(pools / 100_000_000, 1_155_000_000);
    assert!(treasury * 100_000_000 >= pools);
}
