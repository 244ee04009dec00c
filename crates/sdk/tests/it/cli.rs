//! The `emc` binary against the shared replica: every command, and bad input.

use crate::*;
use serde_json::Value;
use std::process::Command;

#[test]
fn wallet_commands() {
    let (a, b) = (20, 21);
    let to = principal_of(b).to_text();
    let who = ok_json(emc(Some(a), &["--json", "wallet", "whoami"]));
    assert_eq!(who["principal"], principal_of(a).to_text());

    let bal = ok_json(emc(Some(a), &["--json", "wallet", "balance"]));
    assert_eq!(bal["balance_e8s"], GENESIS);
    let t = ok_json(emc(
        Some(a),
        &["--json", "wallet", "transfer", &to, "1.5", "--memo", "hi"],
    ));
    assert_eq!(t["amount_e8s"], 150_000_000u64);
    assert!(t["block"].as_u64().is_some());
    let bal = ok_json(emc(None, &["--json", "wallet", "balance", &to]));
    assert_eq!(bal["balance_e8s"], GENESIS + 150_000_000);
    assert_eq!(bal["balance"], "20000001.5");
    let text = emc(Some(a), &["wallet", "balance"]);
    assert_eq!(
        String::from_utf8_lossy(&text.stdout).trim(),
        format!(
            "{} EMC",
            emc_sdk::amount::format_emc(GENESIS - 150_000_000 - FEE)
        )
    );

    let ap = ok_json(emc(Some(a), &["--json", "wallet", "approve", &to, "2"]));
    assert_eq!(ap["amount_e8s"], 2 * E8S);
    let al = ok_json(emc(Some(a), &["--json", "wallet", "allowance", &to]));
    assert_eq!(al["allowance_e8s"], 2 * E8S);

    // Bad amounts: refused before any call, nothing moves.
    fails_with(
        emc(Some(a), &["wallet", "transfer", &to, "1.123456789"]),
        "more than 8 decimals",
    );
    fails_with(emc(Some(a), &["wallet", "transfer", &to, "-1"]), "negative");
    // With --json, the error is also a JSON document on stdout.
    let out = emc(Some(a), &["--json", "wallet", "transfer", &to, "-1"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["error"].as_str().unwrap().contains("negative"), "{v}");
    fails_with(emc(Some(a), &["wallet", "transfer", &to, "0"]), "positive");
    fails_with(
        emc(Some(a), &["wallet", "transfer", &to, "abc"]),
        "invalid amount",
    );
    fails_with(
        emc(
            Some(a),
            &["wallet", "transfer", &to, "184467440737.09551616"],
        ),
        "too large",
    );
    // More than the balance: the ledger's refusal.
    fails_with(
        emc(Some(a), &["wallet", "transfer", &to, "30000000"]),
        "enough funds",
    );
    fails_with(
        emc(Some(a), &["wallet", "transfer", "not-a-principal", "1"]),
        "invalid account",
    );
    // Signing commands need an identity.
    fails_with(emc(None, &["wallet", "transfer", &to, "1"]), "--identity");
    let bal = ok_json(emc(None, &["--json", "wallet", "balance", &to]));
    assert_eq!(bal["balance_e8s"], GENESIS + 150_000_000, "nothing moved");
}

#[test]
fn replica_down_or_bad_setup_is_a_clear_error() {
    let f = fixture();
    let out = Command::new(env!("CARGO_BIN_EXE_emc"))
        .args(["--url", "http://127.0.0.1:1", "--identity"])
        .arg(f.pem(22))
        .args(["wallet", "balance"])
        .output()
        .unwrap();
    fails_with(out, "replica did not answer");
    fails_with(
        emc(
            None,
            &["--identity", "/nonexistent.pem", "wallet", "balance"],
        ),
        "identity",
    );
    // A canister id that is not installed.
    let missing = Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0, 50, 1, 1]).to_text();
    fails_with(
        emc(Some(22), &["--ledger", &missing, "wallet", "balance"]),
        "hint: check the canister ids",
    );
    fails_with(
        emc(Some(22), &["--ledger", "nope", "wallet", "balance"]),
        "invalid principal",
    );
    // A config file with an unknown key.
    let cfg = f.dir.join("bad.toml");
    std::fs::write(&cfg, "urll = \"x\"\n").unwrap();
    fails_with(
        emc(
            Some(22),
            &["--config", cfg.to_str().unwrap(), "wallet", "balance"],
        ),
        "unknown field",
    );
    // Usage errors (clap) exit 1 too; --help exits 0.
    fails_with(emc(Some(22), &["wallet", "fly"]), "unrecognized subcommand");
    let help = emc(None, &["node", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("doctor"));
}

#[test]
fn node_status_earnings_doctor() {
    let f = fixture();
    let user = 23;
    let sdk = f.emc(user);
    let key = node_key(user);
    let node = f.rt.block_on(async {
        let node = sdk
            .registry()
            .register(
                &key,
                emc_sdk::NodeRegistration {
                    role: emc_sdk::registry::Role::Validator,
                    network_address: "10.0.0.23:4000".into(),
                    region: "eu-west".into(),
                    hardware: String::new(),
                },
            )
            .await
            .unwrap();
        let min = sdk
            .registry()
            .config()
            .await
            .unwrap()
            .params
            .validator
            .min_stake_e8s;
        sdk.registry().stake(node.id, min, 360).await.unwrap();
        node
    });
    let id = emc_sdk::node_id_hex(&node.id);
    let reg_node = f.rt.block_on(sdk.registry().require_node(node.id)).unwrap();

    let s = ok_json(emc(None, &["--json", "node", "status", &id]));
    assert_eq!(s["id"], id);
    assert_eq!(s["role"], "validator");
    assert_eq!(s["stake_e8s"], reg_node.stake_e8s, "the registry's stake");
    assert_eq!(s["term"]["term_days"], 360);
    let mine = ok_json(emc(Some(user), &["--json", "node", "status"]));
    assert_eq!(mine["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(mine["nodes"][0]["id"], id);
    let text = String::from_utf8(emc(None, &["node", "status", &id]).stdout).unwrap();
    assert!(
        text.contains("Validator") && text.contains("360-day term"),
        "{text}"
    );

    // No epoch has closed on this replica: no rewards yet, in JSON and CSV.
    let e = ok_json(emc(None, &["--json", "node", "earnings", &id]));
    assert_eq!(e["last_closed_epoch"], Value::Null);
    assert_eq!(e["epochs"].as_array().unwrap().len(), 0);
    let csv = emc(None, &["node", "earnings", &id, "--csv"]);
    assert!(csv.status.success());
    assert_eq!(
        String::from_utf8(csv.stdout).unwrap(),
        format!("{}\n", emc_sdk::epochs::EARNINGS_CSV_HEADER)
    );
    fails_with(
        emc(None, &["node", "earnings", &id, "--from", "9", "--to", "3"]),
        "empty",
    );

    // Doctor: registered, active, staked pass; no router asked, no epoch closed: skipped.
    let d = ok_json(emc(None, &["--json", "node", "doctor", &id]));
    assert_eq!(d["ok"], true);
    let status = |name: &str| {
        d["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("registered"), "pass");
    assert_eq!(status("staked"), "pass");
    assert_eq!(status("router"), "skip");
    assert_eq!(status("online"), "skip");
    // A router that does not answer: the check fails, exit 2.
    let d = emc(
        None,
        &["node", "doctor", &id, "--router", "http://127.0.0.1:1"],
    );
    assert_eq!(d.status.code(), Some(2));
    let text = String::from_utf8(d.stdout).unwrap();
    assert!(
        text.contains("FAIL  router") && text.contains("fix:"),
        "{text}"
    );

    // Unknown and malformed nodes.
    let unknown = "ee".repeat(32);
    fails_with(emc(None, &["node", "status", &unknown]), "not registered");
    fails_with(emc(None, &["node", "earnings", &unknown]), "not registered");
    let d = emc(None, &["node", "doctor", &unknown]);
    assert_eq!(d.status.code(), Some(2));
    assert!(String::from_utf8(d.stdout)
        .unwrap()
        .contains("FAIL  registered"));
    fails_with(emc(None, &["node", "status", "abcd"]), "invalid node id");
    fails_with(emc(None, &["node", "status", "zz"]), "invalid node id");
}

#[test]
fn market_commands() {
    let f = fixture();
    let user = 24;
    let sdk = f.emc(user);
    let offer = f.rt.block_on(async {
        let node = sdk
            .registry()
            .register(
                &node_key(user),
                emc_sdk::NodeRegistration {
                    role: emc_sdk::registry::Role::Compute,
                    network_address: "10.0.0.24:4000".into(),
                    region: "us-west".into(),
                    hardware: "1x L4".into(),
                },
            )
            .await
            .unwrap();
        sdk.market()
            .post_offer(emc_sdk::market::OfferArgs {
                node: node.id,
                app: "llama-cli-test".into(),
                unit: emc_types::MeterUnit::Tokens,
                price_e8s: 25,
                capacity: 50,
            })
            .await
            .unwrap()
    });
    let o = ok_json(emc(None, &["--json", "market", "offers"]));
    let listed = o["offers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == offer.id)
        .expect("the offer is listed")
        .clone();
    assert_eq!(listed["app"], "llama-cli-test");
    assert_eq!(listed["price_e8s"], 25);
    assert_eq!(listed["unit"], "tokens");
    let p = principal_of(user).to_text();
    let o = ok_json(emc(None, &["--json", "market", "offers", "--provider", &p]));
    assert_eq!(o["offers"].as_array().unwrap().len(), 1);
    let text =
        String::from_utf8(emc(None, &["market", "offers", "--provider", &p]).stdout).unwrap();
    assert!(
        text.contains("llama-cli-test") && text.contains("0.00000025"),
        "{text}"
    );

    let buyer = 25;
    let none = ok_json(emc(Some(buyer), &["--json", "market", "escrow"]));
    assert_eq!(none["escrow"], Value::Null);
    let out = emc(Some(buyer), &["--json", "market", "deposit", "12.5"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("approving the market"),
        "progress on stderr"
    );
    let e = ok_json(out);
    assert_eq!(e["balance_e8s"], 1_250_000_000u64);
    let bal = ok_json(emc(Some(buyer), &["--json", "wallet", "balance"]));
    assert_eq!(bal["balance_e8s"], GENESIS - 1_250_000_000 - 2 * FEE);
    let w = ok_json(emc(Some(buyer), &["--json", "market", "withdraw", "5"]));
    assert_eq!(w["withdrawal"]["amount_e8s"], 5 * E8S);
    // The notice (48 h) has not passed.
    fails_with(
        emc(Some(buyer), &["market", "withdraw", "--complete"]),
        "unlocks at",
    );
    fails_with(emc(Some(buyer), &["market", "deposit", "0"]), "positive");
    fails_with(
        emc(Some(buyer), &["market", "deposit", "0.000000001"]),
        "more than 8 decimals",
    );
    fails_with(emc(Some(26), &["market", "withdraw", "1"]), "escrow");
    let e = ok_json(emc(
        None,
        &["--json", "market", "escrow", &principal_of(buyer).to_text()],
    ));
    assert_eq!(
        e["balance_e8s"], 1_250_000_000u64,
        "the refusals moved nothing"
    );
}

#[test]
fn gov_payloads() {
    let l = ok_json(emc(None, &["--json", "gov", "list"]));
    let ids: Vec<u64> = l["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_u64().unwrap())
        .collect();
    let want: Vec<u64> = emc_types::governance::EMC_FUNCTIONS
        .iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(ids, want);
    assert_eq!(ids.first(), Some(&1000));
    let out = emc(
        None,
        &["gov", "encode", "1005", "(opt principal \"aaaaa-aa\")"],
    );
    assert!(out.status.success());
    let hex_payload = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let bytes = hex::decode(&hex_payload).unwrap();
    assert_eq!(
        candid::decode_one::<Option<Principal>>(&bytes).unwrap(),
        Some(Principal::management_canister())
    );
    let d = ok_json(emc(
        None,
        &["--json", "gov", "decode", "1005", &hex_payload],
    ));
    assert_eq!(d["payload"], "(opt principal \"aaaaa-aa\")");
    assert_eq!(d["function"]["method"], "execute_set_market");
    fails_with(
        emc(None, &["gov", "encode", "999", "()"]),
        "no generic function",
    );
    fails_with(
        emc(
            None,
            &["gov", "encode", "1008", "(record { id = \"seven\" })"],
        ),
        "does not match",
    );
    fails_with(emc(None, &["gov", "decode", "1008", "zz"]), "not hex");
}

#[test]
fn call_chat_bad_input() {
    let f = fixture();
    let key = f.dir.join("bad-user-key");
    std::fs::write(&key, "not hex").unwrap();
    fails_with(
        emc(
            None,
            &[
                "call",
                "chat",
                "hi",
                "--router",
                "http://127.0.0.1:1",
                "--user-key",
                key.to_str().unwrap(),
            ],
        ),
        "64 hex digits",
    );
    let key = f.dir.join("user-key");
    std::fs::write(&key, "11".repeat(32)).unwrap();
    fails_with(
        emc(
            None,
            &[
                "call",
                "chat",
                "hi",
                "--router",
                "http://127.0.0.1:1",
                "--user-key",
                key.to_str().unwrap(),
            ],
        ),
        "cannot reach the router",
    );
}
