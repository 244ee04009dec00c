//! The explorer (`explorer/`): its candid declarations are generated from `candid/*.did`, and
//! headless Chromium loads it from a running devnet and checks real values against the
//! canisters (`explorer/test/explorer.mjs`, puppeteer-core driving Debian's `chromium`):
//! the overview's height and node counts, a node's stake and its rewards chart, a retired
//! node's failed check in red, the epochs, checkpoints, market and nodes pages; it saves
//! screenshots under `target/explorer-screenshots/`.
//!
//! `UPDATE_IDL=1 cargo test -p emc-devnet --test it explorer::` rewrites the declarations.

use super::SERIAL;
use candid::{Decode, Encode};
use emc_devnet::Cluster;
use emc_ic_client::IcClient;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The JavaScript IDL factory and the TypeScript types of one `.did`, as `dfx generate`
/// writes them (candid_parser's bindings).
fn declarations(did: &Path) -> (String, String) {
    let (env, actor, prog) = candid_parser::typing::check_file(did).unwrap();
    let header = format!(
        "// Generated from candid/{} by `UPDATE_IDL=1 cargo test -p emc-devnet --test it explorer::`: do not edit.\n",
        did.file_name().unwrap().to_string_lossy()
    );
    let js = candid_parser::bindings::javascript::compile(&env, &actor);
    // candid_parser names the agent's new packages (@icp-sdk/core); the explorer uses
    // @dfinity/agent, @dfinity/candid and @dfinity/principal, which export the same types.
    let ts = candid_parser::bindings::typescript::compile(&env, &actor, &prog)
        .replace("'@icp-sdk/core/principal'", "'@dfinity/principal'")
        .replace("'@icp-sdk/core/agent'", "'@dfinity/agent'")
        .replace("'@icp-sdk/core/candid'", "'@dfinity/candid'");
    (format!("{header}{js}"), format!("{header}{ts}"))
}

#[test]
fn idl_declarations_are_generated_from_the_did_files() {
    let update = std::env::var_os("UPDATE_IDL").is_some();
    let out = root().join("explorer/src/declarations");
    let mut stale = Vec::new();
    for name in ["ledger", "registry", "epochs", "market"] {
        let (js, ts) = declarations(&root().join(format!("candid/{name}.did")));
        for (file, text) in [
            (format!("{name}.did.js"), js),
            (format!("{name}.did.d.ts"), ts),
        ] {
            let path = out.join(&file);
            if update {
                std::fs::create_dir_all(&out).unwrap();
                std::fs::write(&path, &text).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(file);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "explorer/src/declarations is stale ({stale:?}): run \
         `UPDATE_IDL=1 cargo test -p emc-devnet --test it explorer::`"
    );
}

/// A short-epoch devnet (600 blocks of 100 ms: the registry's shortest epoch, 60 s) so that
/// epoch 0 closes and pays within the test.
fn config() -> emc_devnet::ClusterConfig {
    let dir = std::env::temp_dir().join(format!("emc-explorer-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut c = emc_devnet::ClusterConfig::devnet(dir);
    c.routers = 1;
    c.compute = 2;
    c.genesis_delay = Duration::from_secs(3);
    c.challenge_window = Duration::from_secs(2);
    c.validator.block_interval = Duration::from_millis(100);
    c.validator.round_timeout = Duration::from_millis(500);
    c.validator.round_timeout_cap = Duration::from_secs(2);
    c.validator.epoch_length = 600;
    c.validator.checkpoint_interval = 50;
    c.validator.registry_refresh = Duration::from_secs(2);
    c.validator.submit_stagger = Duration::from_millis(500);
    c.validator.poc_interval = Duration::from_secs(4);
    c.router.epoch_length = 600;
    c
}

async fn query<R: candid::CandidType + for<'de> candid::Deserialize<'de>>(
    c: &Cluster,
    canister: candid::Principal,
    method: &str,
    arg: Vec<u8>,
) -> R {
    let reply = c
        .host
        .client(c.canisters.admin)
        .query(canister, method, arg)
        .await
        .unwrap();
    Decode!(&reply, R).unwrap()
}

async fn tip(c: &Cluster) -> u64 {
    query::<emc_epochs::Stats>(c, c.canisters.epochs, "stats", Encode!().unwrap())
        .await
        .tip_height
        .unwrap_or(0)
}

/// `node`'s paid epochs as (epoch, e8s), from the epochs canister's `node_history`.
async fn paid_epochs(c: &Cluster, node: emc_types::NodeId) -> Vec<(String, String)> {
    let arg = Encode!(&node, &0u64, &100u32).unwrap();
    let h: Vec<emc_epochs::NodeEpoch> = query(c, c.canisters.epochs, "node_history", arg).await;
    h.into_iter()
        .filter_map(|e| {
            let p = e.payout?;
            matches!(p.status, emc_epochs::PayoutStatus::Paid { .. })
                .then(|| (e.epoch.to_string(), p.amount_e8s.to_string()))
        })
        .collect()
}

/// Chromium: `$CHROMIUM`, or Debian's package (`scripts/install-deps.sh` installs it).
fn chromium() -> Option<PathBuf> {
    let p = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    p.is_file().then_some(p)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn chromium_shows_the_canisters_values_on_every_page() {
    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED chromium_shows_the_canisters_values_on_every_page: no chromium \
             (scripts/install-deps.sh installs Debian's package; or set CHROMIUM)"
        );
        return;
    };
    // npm ci (the committed lock file), the TypeScript check and the bundle.
    run(&mut Command::new(root().join("scripts/build-explorer.sh")));
    let shots = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("explorer-screenshots");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let _serial = SERIAL.lock().await;
        let c = Cluster::start(config()).await.unwrap();
        let http = c
            .serve_http(
                "127.0.0.1:0".parse().unwrap(),
                &root().join("explorer/dist"),
            )
            .await
            .unwrap();
        let url = http.explorer_url().expect("the explorer's build is served");
        // The staked compute node (multiplier 1.4): paid at epoch 0's close.
        let compute = c
            .members
            .iter()
            .find(|m| m.role == emc_types::Role::Compute)
            .unwrap();
        let node_id = compute.id.0.to_vec();
        let started = Instant::now();
        while paid_epochs(&c, compute.id).await.is_empty() {
            let s = c.status().await;
            eprintln!(
                "explorer: waiting for a paid epoch: height {} checkpoint {:?} closed {:?} rewards {}",
                s.height, s.checkpoint, s.closed_epoch, s.rewards_e8s
            );
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "no epoch paid the compute node in time"
            );
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        eprintln!("explorer: the compute node was paid after {:?}", started.elapsed());
        let paid_before = paid_epochs(&c, compute.id).await;
        let node: Option<emc_registry::Node> = query(
            &c,
            c.canisters.registry,
            "get_node",
            Encode!(&compute.id).unwrap(),
        )
        .await;
        let stake = node.unwrap().stake_e8s;
        // The other compute node retires (its owner's call): its page must show what to fix.
        let retired = c
            .members
            .iter()
            .filter(|m| m.role == emc_types::Role::Compute)
            .nth(1)
            .unwrap();
        let reply = c
            .host
            .client(retired.owner)
            .update(c.canisters.registry, "retire_node", Encode!(&retired.id).unwrap())
            .await
            .unwrap();
        Decode!(&reply, Result<emc_registry::Node, emc_registry::RegistryError>)
            .unwrap()
            .unwrap();
        // What the registry lists now (the retired node may stay listed, not live).
        let compute_nodes: Vec<emc_registry::Node> = query(
            &c,
            c.canisters.registry,
            "nodes_by_role",
            Encode!(&emc_types::Role::Compute, &None::<emc_types::NodeId>, &100u32).unwrap(),
        )
        .await;
        let compute_live = compute_nodes
            .iter()
            .filter(|n| n.state == emc_registry::NodeState::Live)
            .count();
        assert_eq!(compute_live, 1);
        let tip_before = tip(&c).await;
        let js = root().join("explorer");
        let args = (
            url.clone(),
            hex::encode(&node_id),
            shots.clone(),
            hex::encode(retired.id.0),
        );
        let out = tokio::task::spawn_blocking(move || {
            run(Command::new("node")
                .arg("test/explorer.mjs")
                .args([&args.0, &args.1])
                .arg(&args.2)
                .arg(&args.3)
                .env("CHROMIUM", browser)
                .current_dir(js))
        })
        .await
        .unwrap();
        let tip_after = tip(&c).await;
        let paid_after = paid_epochs(&c, compute.id).await;
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        eprintln!("explorer: {v:#}");
        assert_eq!(v["errors"], serde_json::json!([]), "errors on the pages");
        // Overview: the height is the IC's tip while the page loaded; the network's nodes.
        let height: u64 = v["overview"]["height"].as_str().unwrap().parse().unwrap();
        assert!(
            (tip_before..=tip_after).contains(&height),
            "{height} not in {tip_before}..={tip_after}"
        );
        assert_eq!(v["overview"]["validators"], "4");
        assert_eq!(v["overview"]["routers"], "1");
        assert_eq!(v["overview"]["compute"], compute_live.to_string());
        assert_ne!(v["overview"]["rewardsPaid"], "0.0000 EMC");
        // The node page: the registry's stake, a bar per paid epoch with the paid amount.
        assert_eq!(v["node"]["role"], "Compute");
        assert_eq!(v["node"]["stakeE8s"], stake.to_string());
        let bars: Vec<(String, String)> = v["node"]["chartEpochs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["epoch"].as_str().unwrap().into(),
                    b["e8s"].as_str().unwrap().into(),
                )
            })
            .collect();
        // (An epoch may have been paid while the pages loaded.)
        assert!(
            bars == paid_before || bars == paid_after,
            "chart {bars:?}, paid {paid_before:?} / {paid_after:?}"
        );
        assert!(!v["node"]["checks"].as_array().unwrap().is_empty());
        // The retired node: its checks fail, in red, with what to fix.
        let live_check = v["retired"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r[0] == "Registered and live")
            .expect("the live check");
        assert_eq!(live_check[1], "fail");
        assert!(live_check[2].as_str().unwrap().starts_with("Retired"));
        assert!(!live_check[3].as_str().unwrap().is_empty());
        assert!(v["retired"]["redCells"].as_u64().unwrap() >= 1);
        // An unknown node: a clear message, no error.
        assert!(v["unknownNode"].as_str().unwrap().contains("has no node"));
        // Epochs: epoch 0 paid; checkpoints down from the tip; the market's counters.
        let paid_epoch = &paid_before[0].0;
        let row = v["epochs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r[0] == paid_epoch.as_str())
            .expect("the paid epoch is listed");
        assert_eq!(row[1], "Paid");
        let cps: Vec<u64> = v["checkpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().parse().unwrap())
            .collect();
        assert!(cps.first().is_some_and(|h| *h >= tip_before && h % 50 == 0));
        assert!(cps.windows(2).all(|w| w[0] - w[1] == 50));
        assert_eq!(v["market"]["trades"], "0");
        assert_eq!(v["nodes"], 5 + compute_nodes.len());
        for page in [
            "overview",
            "node",
            "unknown-node",
            "epochs",
            "checkpoints",
            "market",
            "nodes",
        ] {
            assert!(shots.join(format!("{page}.png")).is_file());
        }
        http.replica.shutdown().await;
        c.shutdown().await;
    });
}
