//! `emc deploy` (what `scripts/replica-deploy.sh` runs) against a real `emc-replica` process:
//! the canisters get the devnet's ids and wiring, the genesis balances are there when read
//! back through ic-agent, and a second deployment to the same replica is refused, changing
//! nothing.

use super::{ed25519_pem, fails_with, ok_json, principal_of};
use candid::{Decode, Encode};
use emc_sdk::deploy::Deployed;
use emc_sdk::{Account, Emc, EmcConfig, IcClient};
use std::process::Command;

fn emc_deploy(url: &str, pem: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_emc"))
        .env_remove("EMC_CONFIG")
        .env_remove("EMC_IDENTITY")
        .env_remove("EMC_URL")
        .args(["--url", url, "--identity"])
        .arg(pem)
        .arg("--json")
        .arg("deploy")
        .arg("--wasm-dir")
        .arg(emc_test_env::canister_dir())
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn emc_deploy_installs_the_canisters_on_a_replica_process_with_the_devnet_ids() {
    // The replica binary, in this test's profile (`cargo test -p emc-sdk` does not build it),
    // built with the devnet's other binaries (one cargo feature set, so the devnet's process
    // test finds them built).
    let bin_dir =
        emc_devnet::processes::build_binaries(&emc_devnet::processes::BINARY_NAMES).unwrap();
    let replica_bin = bin_dir.join("emc-replica");
    let dir = std::env::temp_dir().join(format!("emc-sdk-deploy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (replica, url) = rt
        .block_on(emc_devnet::processes::spawn_replica(
            &replica_bin,
            "127.0.0.1:0".parse().unwrap(),
            &dir.join("state"),
            &dir.join("replica.log"),
        ))
        .unwrap();
    let deployer = dir.join("deployer.pem");
    std::fs::write(&deployer, ed25519_pem(&[61; 32])).unwrap();
    let user = principal_of(62);
    let fund = format!("{user}=123.5");

    let out = ok_json(emc_deploy(
        &url,
        &deployer,
        &["--fund", &fund, "--genesis-in-secs", "60"],
    ));
    let ids = Deployed::local();
    for (name, id) in [
        ("ledger", ids.ledger),
        ("registry", ids.registry),
        ("epochs", ids.epochs),
        ("market", ids.market),
        ("sockets", ids.sockets),
        ("dao", ids.dao),
    ] {
        assert_eq!(
            out[name].as_str(),
            Some(id.to_text().as_str()),
            "{name}: {out}"
        );
    }
    assert_eq!(
        out["governance"].as_str(),
        Some(principal_of(61).to_text().as_str())
    );

    // Read back through ic-agent (certified query replies, the replica's root key fetched).
    let emc = Emc::connect(&EmcConfig {
        url: url.clone(),
        timeout_secs: 30,
        canisters: ids.canister_ids(),
        ..EmcConfig::default()
    })
    .unwrap();
    rt.block_on(async {
        let ledger = emc.ledger();
        assert_eq!(
            ledger.balance(Account::from(user)).await.unwrap(),
            12_350_000_000
        );
        // Only the named balances: the deployer got none.
        assert_eq!(
            ledger
                .balance(Account::from(principal_of(61)))
                .await
                .unwrap(),
            0
        );
        // The epochs canister mints.
        let minting = emc
            .client()
            .query(ids.ledger, "icrc1_minting_account", Encode!().unwrap())
            .await
            .unwrap();
        let minting = Decode!(&minting, Option<Account>).unwrap();
        assert_eq!(minting, Some(Account::from(ids.epochs)));
        // The registry is up, its epoch 0 a minute ahead.
        let epochs = emc.epochs().stats().await.unwrap();
        assert_eq!(epochs.tip_height, None);
    });

    // A second deployment is refused before anything changes.
    let again = emc_deploy(&url, &deployer, &[]);
    fails_with(again, "exists already");
    rt.block_on(async {
        assert_eq!(
            emc.ledger().balance(Account::from(user)).await.unwrap(),
            12_350_000_000
        );
    });
    // A replica that is not there: a clear error.
    drop(replica);
    fails_with(emc_deploy(&url, &deployer, &[]), "error");
    let _ = std::fs::remove_dir_all(&dir);
}
