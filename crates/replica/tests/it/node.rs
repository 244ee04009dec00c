//! @dfinity/agent (npm, in Node) calls the ledger through the replica with certificate and
//! query-signature verification on. Skipped, with a message, when `node` or `npm` is missing or
//! the packages cannot be installed (`npm install` in `tests/js`, needs the npm registry once).

use crate::*;
use candid::Nat;
use std::path::Path;
use std::process::Command;

fn ready(js: &Path) -> Result<(), String> {
    for tool in ["node", "npm"] {
        let found = Command::new(tool).arg("--version").output();
        if !found.is_ok_and(|o| o.status.success()) {
            return Err(format!("`{tool}` is not installed"));
        }
    }
    if js.join("node_modules/@dfinity/agent").exists() {
        return Ok(());
    }
    let out = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund"])
        .current_dir(js)
        .output()
        .map_err(|e| format!("npm install: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "npm install failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[test]
fn dfinity_agent_in_node_calls_the_ledger() {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    if let Err(why) = ready(&js) {
        eprintln!("SKIPPED dfinity_agent_in_node_calls_the_ledger: {why}");
        return;
    }
    runtime().block_on(async {
        let replica = start(None).await;
        let admin = agent(&replica, ed25519(1)).await;
        // agent-js's Ed25519KeyIdentity.generate(seed) uses the seed as the private key, as
        // ic-agent's BasicIdentity::from_raw_key does: the same principal on both sides.
        let user = principal_of(&ed25519(21));
        let ledger = install_ledger(&admin, &[user]).await;
        let recipient = Principal::from_slice(&[0x43; 29]);
        let url = replica.url();
        let out = tokio::task::spawn_blocking(move || {
            Command::new("node")
                .arg("ledger.mjs")
                .args([url, ledger.to_text(), "21".into(), recipient.to_text()])
                .current_dir(js)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "node failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8(out.stdout).unwrap();
        let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(v["principal"], user.to_text());
        assert_eq!(v["before"], GENESIS.to_string());
        assert_eq!(v["after"], (GENESIS - 12_345 - FEE).to_string());
        assert_eq!(v["recipient"], "12345");
        // And ic-agent sees the same ledger.
        let reply = admin
            .query(&ledger, "icrc1_balance_of")
            .with_arg(
                candid::Encode!(&icrc_ledger_types::icrc1::account::Account::from(recipient))
                    .unwrap(),
            )
            .call()
            .await
            .unwrap();
        assert_eq!(candid::Decode!(&reply, Nat).unwrap(), Nat::from(12_345u64));
        replica.shutdown().await;
    });
}
