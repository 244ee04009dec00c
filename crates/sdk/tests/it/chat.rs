//! `emc call chat` and the SDK's compute client through a real router: a devnet cluster on the
//! embedded IC (4 validators, 1 router, 1 compute node proxying the demo LLM, over QUIC on
//! loopback), the user being a devnet user the router grants credit to. The same cluster then
//! serves the node doctor (the SDK over the embedded IC, the real router probed) and, once
//! epoch 0 (60 s) has closed and paid, the rewards per node per epoch.

use emc_devnet::{devnet_user_key, Cluster, ClusterConfig};
use emc_sdk::compute::{ChatEvent, ChatMessage, ComputeClient};
use emc_sdk::doctor;
use futures::StreamExt;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn chat_streams_through_a_devnet_router() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = std::env::temp_dir().join(format!("emc-sdk-chat-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cfg = ClusterConfig::devnet(dir.clone());
        cfg.compute = 1;
        cfg.genesis_delay = Duration::from_secs(2);
        cfg.validator.poc_interval = Duration::ZERO;
        // 600 blocks of 100 ms: the registry's shortest epoch (60 s), so epoch 0 closes and
        // pays within the test (as in emc-devnet's PoC test).
        cfg.challenge_window = Duration::from_secs(2);
        cfg.validator.block_interval = Duration::from_millis(100);
        cfg.validator.round_timeout = Duration::from_millis(500);
        cfg.validator.round_timeout_cap = Duration::from_secs(2);
        cfg.validator.epoch_length = 600;
        cfg.validator.checkpoint_interval = 50;
        cfg.validator.registry_refresh = Duration::from_secs(2);
        cfg.validator.submit_stagger = Duration::from_millis(500);
        // Bodies over 64 KiB stream through the router (the demo app takes up to 1 MiB).
        cfg.router.buffered_request_bytes = 64 << 10;
        let c = Cluster::start(cfg).await.unwrap();
        let api = c.api_addr(0).expect("the router's API is on");
        let gw = c.routers[0].0.gateway.clone();
        let end = Instant::now() + Duration::from_secs(60);
        while gw.models_json()["data"][0]["emc"]["nodes"] != 1 {
            assert!(
                Instant::now() < end,
                "the router never listed the node's offer"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let router = format!("http://{api}");

        // The SDK: deltas, then [DONE], then the node's receipt; countersigned afterwards.
        let client = ComputeClient::new(&router, devnet_user_key(0)).unwrap();
        let mut stream = client
            .chat_stream(
                "emc-bigram",
                vec![ChatMessage::user("how does the router pick a node")],
            )
            .await
            .unwrap();
        let (mut text, mut events) = (String::new(), Vec::new());
        while let Some(e) = stream.next().await {
            let e = e.unwrap();
            if let ChatEvent::Delta(d) = &e {
                text.push_str(d);
            }
            events.push(e);
        }
        assert!(!text.is_empty());
        let deltas = events
            .iter()
            .filter(|e| matches!(e, ChatEvent::Delta(_)))
            .count();
        assert!(deltas >= 2, "streamed in pieces: {events:?}");
        let done = events
            .iter()
            .position(|e| *e == ChatEvent::Done)
            .expect("[DONE]");
        let ChatEvent::Receipt(r) = &events[done + 1] else {
            panic!("no receipt after [DONE]: {events:?}")
        };
        assert_eq!(r.user.0, devnet_user_key(0).verifying_key().to_bytes());
        assert_eq!(r.node, c.compute[0].0.id);
        let (accepted, refused) = client.countersign_pending().await.unwrap();
        assert_eq!((accepted, refused), (1, 0));

        // The CLI, as devnet user 1: the answer on stdout, its receipt countersigned.
        let key = dir.join("user-1.key");
        std::fs::write(&key, hex::encode(devnet_user_key(1).to_bytes())).unwrap();
        let (router2, key2) = (router.clone(), key.clone());
        let run = move |json: bool| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_emc"));
            if json {
                cmd.arg("--json");
            }
            cmd.args(["call", "chat", "what is a receipt", "--model", "emc-bigram"])
                .args(["--router", &router2, "--user-key"])
                .arg(&key2)
                .env_remove("EMC_ROUTER")
                .output()
                .unwrap()
        };
        let out = tokio::task::spawn_blocking(move || (run(false), run(true)))
            .await
            .unwrap();
        for o in [&out.0, &out.1] {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        assert!(!String::from_utf8_lossy(&out.0.stdout).trim().is_empty());
        let v: serde_json::Value = serde_json::from_slice(&out.1.stdout).unwrap();
        assert!(!v["text"].as_str().unwrap().is_empty());
        assert_eq!(v["receipts_in_stream"], 1);
        assert_eq!(v["countersigned"], 1);

        // An app's own REST API (`/llm/v1/completions`) with a 200 KiB body: the SDK
        // declares its hash, so the router streams it instead of refusing it (413).
        let prompt = "the router streams what it cannot hold ".repeat(6_000);
        let body = serde_json::json!({"model": "emc-bigram", "prompt": prompt, "max_tokens": 3})
            .to_string();
        assert!(body.len() > 200_000);
        let resp = client
            .call_app(
                "POST",
                "llm",
                "/v1/completions",
                "emc-bigram",
                body.clone().into_bytes(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let answer: serde_json::Value = resp.json().await.unwrap();
        assert!(answer["choices"][0]["text"].is_string(), "{answer}");
        assert_eq!(client.countersign_pending().await.unwrap(), (1, 0));
        // The same through the CLI, the body from a file.
        let data = dir.join("completion.json");
        std::fs::write(&data, &body).unwrap();
        let (router2, key2) = (router.clone(), key.clone());
        let o = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_emc"))
                .args(["--json", "call", "app", "llm", "/v1/completions"])
                .args(["--model", "emc-bigram", "--router", &router2, "--user-key"])
                .arg(&key2)
                .arg("--data-file")
                .arg(&data)
                .env_remove("EMC_ROUTER")
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["status"], 200, "{v}");
        assert_eq!(v["countersigned"], 1, "{v}");

        // The node doctor on the live devnet, through the SDK over the embedded IC
        // (`Emc::from_client`), with the real router probed: the staked compute node, once
        // its owner lists the app the router serves, passes registered/active/staked/router.
        let (node_id, node_owner) = c
            .members
            .iter()
            .find(|m| m.id == c.compute[0].0.id)
            .map(|m| (m.id, m.owner))
            .unwrap();
        let ids = emc_sdk::CanisterIds {
            ledger: c.canisters.ledger,
            registry: c.canisters.registry,
            epochs: c.canisters.epochs,
            market: c.canisters.market,
            sockets: Some(c.canisters.sockets),
        };
        // The devnet creates the sockets canister fifth: the SDK's default is its id.
        assert_eq!(ids.sockets, emc_sdk::CanisterIds::local_devnet().sockets);
        let owner = emc_sdk::Emc::from_client(std::sync::Arc::new(c.host.client(node_owner)), ids);
        let app = gw.models_json()["data"][0]["emc"]["app"]
            .as_str()
            .unwrap()
            .to_string();
        let probe = |emc: emc_sdk::Emc, router: String| async move {
            let mut facts = doctor::gather(&emc, node_id).await.unwrap();
            let node = facts.node.clone().unwrap();
            let offered = doctor::offered_apps(&emc, &node).await.unwrap();
            facts.router = Some(doctor::probe_router(&router, offered).await);
            (node, doctor::diagnose(&node_id, &facts))
        };
        let status = |checks: &[doctor::Check], name: &str| {
            checks.iter().find(|c| c.name == name).unwrap().status
        };
        let (_, checks) = probe(owner.clone(), router.clone()).await;
        assert_eq!(
            status(&checks, "router"),
            doctor::Status::Warn,
            "no market offer yet"
        );
        let offer = owner
            .market()
            .post_offer(emc_sdk::market::OfferArgs {
                node: node_id,
                app,
                unit: emc_types::MeterUnit::Tokens,
                price_e8s: 10,
                capacity: 10,
            })
            .await
            .unwrap();
        let (node, checks) = probe(owner.clone(), router.clone()).await;
        assert_eq!(status(&checks, "registered"), doctor::Status::Pass);
        assert_eq!(status(&checks, "active"), doctor::Status::Pass);
        assert_eq!(
            status(&checks, "staked"),
            doctor::Status::Pass,
            "{checks:?}"
        );
        assert_eq!(
            status(&checks, "router"),
            doctor::Status::Pass,
            "{checks:?}"
        );
        let poc = if node.poc_e > 0 {
            doctor::Status::Pass
        } else {
            doctor::Status::Fail
        };
        assert_eq!(status(&checks, "poc"), poc, "PoC challenges are off here");
        // A router that does not serve the app: the check fails and says why.
        let (_, checks) = probe(owner, "http://127.0.0.1:1".into()).await;
        assert_eq!(status(&checks, "router"), doctor::Status::Fail);

        // A call through a computing socket: validator 0's operator buys one from that offer
        // (through the SDK), binds a fresh user key to it, and the key's chat call names the
        // socket (`x-emc-socket`); the router admits it and it streams to the end.
        let buyer =
            emc_sdk::Emc::from_client(std::sync::Arc::new(c.host.client(c.members[0].owner)), ids);
        buyer.market().deposit(crate::E8S).await.unwrap();
        let p = buyer
            .market()
            .buy_socket_and_mint(emc_sdk::market::BuySocketArgs {
                offer_id: offer.id,
                units_per_period: 100_000,
                periods: 1,
                model_hash: emc_types::Hash([0; 32]),
            })
            .await
            .unwrap();
        let emc_sdk::market::MintStatus::Minted { token_id } = p.mint else {
            panic!("socket not minted: {p:?}")
        };
        assert_eq!(buyer.sockets().my_tokens().await.unwrap(), vec![token_id]);
        let socket_key = ed25519_dalek::SigningKey::from_bytes(&[150; 32]);
        buyer
            .market()
            .bind_socket_key(token_id, &socket_key)
            .await
            .unwrap();
        let sc = ComputeClient::new(&router, socket_key)
            .unwrap()
            .with_socket(token_id);
        let mut stream = sc
            .chat_stream("emc-bigram", vec![ChatMessage::user("through a socket")])
            .await
            .unwrap();
        let (mut socket_text, mut socket_done) = (String::new(), false);
        while let Some(e) = stream.next().await {
            match e.unwrap() {
                ChatEvent::Delta(d) => socket_text.push_str(&d),
                ChatEvent::Done => socket_done = true,
                ChatEvent::Receipt(_) => {}
            }
        }
        assert!(socket_done && !socket_text.is_empty(), "{socket_text:?}");
        // A socket the key is not bound to: the router refuses.
        let other = ComputeClient::new(&router, ed25519_dalek::SigningKey::from_bytes(&[151; 32]))
            .unwrap()
            .with_socket(token_id);
        assert!(matches!(
            other
                .chat_stream("emc-bigram", vec![ChatMessage::user("hi")])
                .await
                .map(|_| ()),
            Err(emc_sdk::SdkError::Compute(_))
        ));

        // Epoch 0 closes on the IC and pays: rewards per node per epoch through the SDK, as
        // the epochs canister has them, and the doctor's `online` check passes.
        let validator = c.members[0].id;
        let v_owner = c.members[0].owner;
        let end = Instant::now() + Duration::from_secs(240);
        let paid = loop {
            if let Some(p) = c.ic.epochs.node_reward(validator, 0).await.unwrap() {
                if matches!(p.status, emc_epochs::PayoutStatus::Paid { .. }) {
                    break p;
                }
            }
            assert!(
                Instant::now() < end,
                "epoch 0 not paid: {:?}",
                c.ic.epochs.stats().await
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert!(paid.amount_e8s > 0);
        let v = emc_sdk::Emc::from_client(std::sync::Arc::new(c.host.client(v_owner)), ids);
        let last = v.epochs().stats().await.unwrap().last_closed_epoch.unwrap();
        let rewards = v.epochs().node_rewards(validator, 0, last).await.unwrap();
        assert_eq!(rewards[0], paid, "the SDK reads the canister's payout");
        assert!(v
            .epochs()
            .owner_rewards(v_owner, 0)
            .await
            .unwrap()
            .contains(&paid));
        let csv = emc_sdk::epochs::earnings_csv(&rewards);
        let line = csv.lines().nth(1).unwrap().to_string();
        assert!(
            line.starts_with(&format!("0,{},", emc_sdk::node_id_hex(&validator)))
                && line.contains(&format!(",{},", paid.amount_e8s))
                && line.contains(",paid,"),
            "{line}"
        );
        let facts = doctor::gather(&v, validator).await.unwrap();
        let e = facts.last_closed_epoch.expect("an epoch has closed");
        assert_eq!(
            facts.last_payout,
            v.epochs().node_reward(validator, e).await.unwrap(),
            "the doctor reads the last closed epoch's payout"
        );
        // Epoch 1 ends 60 s of blocks after epoch 0: normally still open here.
        if e == 0 {
            assert_eq!(facts.last_payout.as_ref(), Some(&paid));
            let checks = doctor::diagnose(&validator, &facts);
            assert_eq!(
                status(&checks, "online"),
                doctor::Status::Pass,
                "{checks:?}"
            );
            assert!(!doctor::any_failed(&checks), "{checks:?}");
        }
        c.shutdown().await;
    });
}
