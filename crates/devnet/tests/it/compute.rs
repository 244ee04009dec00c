//! dApp calls end to end (issue #14): a signed HTTP call to the router, dispatched over real
//! QUIC on loopback to a compute node that proxies its demo app (`emc-demo-llm`), with the
//! real canister wasm on the embedded IC. One cluster serves every assertion: a streamed chat
//! completion arrives intact; refusals (401, 402, 409, 413, 400, 404) are clear JSON; the slow
//! node gets fewer calls than the fast one; a compute node ignores a call from a non-router;
//! forged receipts are refused by the validators, countersigned ones enter committed blocks and
//! verify against the checkpoint's receipts root; a dApp that disconnects mid-stream is
//! cancelled (no ticket leaks, nothing billed); an account past its rate gets 429; a node
//! killed mid-call cuts that call and the next one goes to the other node.

use anyhow::Result;
use bytes::Bytes;
use candid::{Decode, Encode};
use emc_devnet::{devnet_user_key, Cluster, ClusterConfig, DemoConfig};
use emc_edge_core::protocol::{encode_receipts, CallHead, KIND_CALL, KIND_RECEIPTS};
use emc_net::{Call, Roles};
use emc_router::client::Client;
use emc_types::merkle::{inclusion_proof, leaf_hash, root_from_proof};
use emc_types::{Block, Checkpoint, Hash, Signature, StateBit};
use http_body_util::{BodyExt as _, Full};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{sleep, Instant};

use super::SERIAL;

async fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        sleep(Duration::from_millis(50)).await;
    }
}

fn chat(stream: bool, max_tokens: u32) -> Vec<u8> {
    serde_json::json!({
        "model": "emc-bigram",
        "messages": [{"role": "user", "content": "how does the router pick a node"}],
        "stream": stream,
        "max_tokens": max_tokens,
    })
    .to_string()
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dapp_calls_through_the_router() -> Result<()> {
    let _serial = SERIAL.lock().await;
    let dir = std::env::temp_dir().join(format!("emc-compute-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg = ClusterConfig::devnet(dir);
    cfg.compute = 2;
    cfg.genesis_delay = Duration::from_secs(3);
    cfg.validator.poc_interval = Duration::ZERO;
    cfg.validator.block_interval = Duration::from_millis(200);
    cfg.validator.epoch_length = 600;
    cfg.validator.checkpoint_interval = 25;
    cfg.router.max_request_bytes = 64 * 1024;
    // 2 calls/s after a burst of 100: the test's own calls stay within it; user 3's loop at
    // the end runs past it.
    cfg.router.rate_per_s = 2;
    cfg.router.rate_burst = 100;
    cfg.router.allowances.insert(
        hex::encode(devnet_user_key(3).verifying_key().to_bytes()),
        1_000_000_000,
    );
    // Node 0 is fast (a little per token, so a long stream lasts); node 1 slow to its first token.
    cfg.demo = vec![
        DemoConfig {
            token_delay: Duration::from_millis(5),
            ..DemoConfig::default()
        },
        DemoConfig {
            first_token_delay: Duration::from_millis(150),
            ..DemoConfig::default()
        },
    ];
    let mut c = Cluster::start(cfg).await?;
    // Issue #16: the devnet's two compute nodes are one pool, one market offer of node 0.
    let offer = c
        .pool_offer
        .expect("the devnet lists a pool of its two compute nodes");
    let pool = emc_devnet::sockets::pool(&c.host, c.canisters.market, c.canisters.admin, offer)
        .await?
        .expect("the market has the pool");
    assert_eq!(pool.entry, c.compute[0].0.id);
    let members: Vec<_> = pool.members.iter().map(|m| m.node).collect();
    assert_eq!(members, vec![c.compute[0].0.id, c.compute[1].0.id]);
    let api = c.api_addr(0).expect("the router's API is on");
    let gw = c.routers[0].0.gateway.clone();
    wait_for("both nodes' offers", Duration::from_secs(30), || {
        gw.models_json()["data"][0]["emc"]["nodes"] == 2
    })
    .await;
    let models = gw.models_json();
    assert_eq!(models["data"][0]["id"], "emc-bigram");
    assert_eq!(models["data"][0]["emc"]["unit"], "tokens");
    // Every committed block and checkpoint of validator 0, for the receipts' proofs.
    let seen_blocks = Arc::new(Mutex::new(Vec::<Arc<Block>>::new()));
    let seen_checkpoints = Arc::new(Mutex::new(Vec::<Checkpoint>::new()));
    {
        let v = &c.validators[0].as_ref().unwrap().handle;
        let (mut blocks, mut cps) = (v.blocks.subscribe(), v.checkpoints.subscribe());
        let (b, k) = (seen_blocks.clone(), seen_checkpoints.clone());
        tokio::spawn(async move {
            while let Ok(block) = blocks.recv().await {
                b.lock().unwrap().push(block);
            }
        });
        tokio::spawn(async move {
            while let Ok(cp) = cps.recv().await {
                k.lock().unwrap().push(cp);
            }
        });
    }
    let fast = hex::encode(c.compute[0].0.id.0);
    let slow = hex::encode(c.compute[1].0.id.0);

    // 1. A streamed chat completion arrives intact: the app's own bytes, then the receipt.
    let user = Client::new(api, devnet_user_key(0));
    let reply = user
        .call("POST", "/v1/chat/completions", &chat(true, 8))
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let direct = Client::new(c.apps[0], devnet_user_key(0));
    let req = hyper::Request::post("/v1/chat/completions")
        .header(hyper::header::HOST, c.apps[0].to_string())
        .body(Full::new(Bytes::from(chat(true, 8))))?;
    let app = direct.send(req).await?;
    let text = reply.text();
    let (served, trailer) = text.split_at(app.body.len());
    assert_eq!(
        served.as_bytes(),
        &app.body[..],
        "the stream differs from the app's"
    );
    assert!(served.ends_with("data: [DONE]\n\n"));
    assert!(trailer.starts_with(": emc-receipt "), "{trailer}");
    assert!(
        reply.chunks >= 10,
        "streamed chunk by chunk: {} chunks",
        reply.chunks
    );
    assert_eq!(reply.receipts.len(), 1);
    let r = &reply.receipts[0];
    // 7 prompt words + 8 completion tokens, from the app's usage.
    assert_eq!((r.units, r.price_e8s, r.user), (15, 1, user.account()));
    assert_eq!(
        r.node.0.to_vec(),
        hex::decode(reply.node.as_ref().unwrap())?
    );
    // Non-streamed and the other OpenAI route.
    let body = br#"{"model":"emc-bigram","prompt":"the node","max_tokens":3}"#;
    let reply = user.call("POST", "/v1/completions", body).await?;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let v: serde_json::Value = serde_json::from_slice(&reply.body)?;
    assert_eq!(v["usage"]["completion_tokens"], 3);

    // 2. Refusals, each a clear JSON error; none is billed or dispatched.
    let err = |r: &emc_router::client::Reply| -> serde_json::Value {
        serde_json::from_slice(&r.body).unwrap_or_default()
    };
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[77; 32]);
    let n = user.next_nonce();
    let r = user
        .call_as(
            "POST",
            "/v1/chat/completions",
            &chat(false, 2),
            n,
            Some(&stranger),
        )
        .await?;
    assert_eq!(r.status, 401, "bad signature: {}", r.text());
    assert_eq!(err(&r)["error"]["code"], 401);
    let req = hyper::Request::post("/v1/chat/completions")
        .header(hyper::header::HOST, api.to_string())
        .body(Full::new(Bytes::from(chat(false, 2))))?;
    assert_eq!(user.send(req).await?.status, 401, "no auth headers");
    let unfunded = Client::new(api, devnet_user_key(2));
    let r = unfunded
        .call("POST", "/v1/chat/completions", &chat(false, 2))
        .await?;
    assert_eq!(r.status, 402, "{}", r.text());
    let unknown = Client::new(api, devnet_user_key(9));
    assert_eq!(
        unknown
            .call("POST", "/v1/chat/completions", &chat(false, 2))
            .await?
            .status,
        402
    );
    let n = user.next_nonce();
    let r = user
        .call_as("POST", "/v1/chat/completions", &chat(false, 2), n, None)
        .await?;
    assert_eq!(r.status, 200);
    let r = user
        .call_as("POST", "/v1/chat/completions", &chat(false, 2), n, None)
        .await?;
    assert_eq!(r.status, 409, "replayed nonce: {}", r.text());
    let big = vec![b' '; 65 * 1024];
    assert_eq!(
        user.call("POST", "/v1/chat/completions", &big)
            .await?
            .status,
        413
    );
    let r = user
        .call("POST", "/v1/chat/completions", b"{not json")
        .await?;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = user
        .call(
            "POST",
            "/v1/chat/completions",
            br#"{"model":"gpt-9","messages":[]}"#,
        )
        .await?;
    assert_eq!(r.status, 404, "unknown model: {}", r.text());
    let r = user.call("POST", "/nope/x", b"{}").await?;
    assert_eq!(r.status, 404, "unknown app: {}", r.text());

    // 3. The slow node (150 ms to its first token) gets fewer calls than the fast one.
    let mut by_node: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..30 {
        let r = user
            .call("POST", "/v1/chat/completions", &chat(false, 2))
            .await?;
        assert_eq!(r.status, 200, "{}", r.text());
        *by_node.entry(r.node.unwrap_or_default()).or_default() += 1;
    }
    let (f, s) = (
        by_node.get(&fast).copied().unwrap_or(0),
        by_node.get(&slow).copied().unwrap_or(0),
    );
    assert!(f >= 2 * s.max(1) && f >= 20, "fast {f}, slow {s}");

    // 4. A compute node ignores a call from anything but a router.
    let v_net = c.validators[0].as_ref().unwrap().net.clone();
    let head = CallHead {
        app: "llm".into(),
        model: "emc-bigram".into(),
        method: "POST".into(),
        url_path: "/v1/completions".into(),
        app_path: "/v1/completions".into(),
        headers: vec![],
        user: user.account(),
        nonce: 1,
        body_hash: Hash([0; 32]),
        body_len: 0,
        signature: Signature([0; 64]),
        epoch: 0,
        max_response_bytes: 1 << 20,
        timeout_ms: 1000,
    };
    let node0 = c.compute[0].0.id;
    let Call {
        sender,
        mut receiver,
    } = v_net
        .open_call(&node0, KIND_CALL, head.encode(), Duration::from_secs(2))
        .await?;
    sender.finish();
    let answer = tokio::time::timeout(Duration::from_secs(5), receiver.recv()).await?;
    assert!(
        matches!(answer, Err(_) | Ok(None)),
        "a validator's call was served: {answer:?}"
    );
    wait_for("the refusal counted", Duration::from_secs(5), || {
        c.compute[0].0.status.get().calls_refused_not_router == 1
    })
    .await;

    // 5. Receipts: a forged one (units raised after signing) is refused by the validators;
    // the user's countersigned ones are recorded for their proposals.
    let mut forged = reply_receipt(&user, api).await?;
    forged.units += 1;
    let router_net = c.routers[0].1.clone();
    router_net.broadcast(
        KIND_RECEIPTS,
        encode_receipts(&[forged.clone()]),
        Roles::from(emc_net::Role::Validator),
    )?;
    let refused = || {
        c.running()
            .map(|(_, v)| v.handle.status.get().receipts_refused)
            .sum::<u64>()
    };
    wait_for(
        "the forged receipt refused",
        Duration::from_secs(10),
        || refused() >= 1,
    )
    .await;
    let (accepted, rejected) = user.countersign_pending().await?;
    assert!(
        accepted >= 30,
        "countersigned {accepted}, refused {rejected}"
    );
    assert_eq!(rejected, 0);
    let recorded = || {
        c.running()
            .map(|(_, v)| v.handle.status.get().receipts_recorded)
            .sum::<u64>()
    };
    wait_for(
        "countersigned receipts recorded",
        Duration::from_secs(10),
        || recorded() >= accepted,
    )
    .await;
    // They enter committed blocks, and a checkpoint's receipts root covers them: each one
    // verifies against it with an inclusion proof built from the period's receipts.
    let ours = |b: &Block| {
        b.bits
            .iter()
            .filter(|bit| matches!(bit, StateBit::Receipt(r) if r.user == user.account()))
            .count()
    };
    wait_for("the receipts committed", Duration::from_secs(20), || {
        seen_blocks
            .lock()
            .unwrap()
            .iter()
            .map(|b| ours(b))
            .sum::<usize>() as u64
            >= accepted
    })
    .await;
    let last = seen_blocks
        .lock()
        .unwrap()
        .iter()
        .filter(|b| ours(b) > 0)
        .map(|b| b.header.height)
        .max()
        .unwrap();
    wait_for("a checkpoint over them", Duration::from_secs(30), || {
        seen_checkpoints
            .lock()
            .unwrap()
            .iter()
            .any(|k| k.height >= last)
    })
    .await;
    let interval = c.config.validator.checkpoint_interval;
    let (mut proved, mut forged_seen) = (0u64, false);
    for k in seen_checkpoints.lock().unwrap().iter() {
        let period: Vec<StateBit> = seen_blocks
            .lock()
            .unwrap()
            .iter()
            .filter(|b| b.header.height + interval > k.height && b.header.height <= k.height)
            .flat_map(|b| b.bits.iter().cloned())
            .filter(|bit| matches!(bit, StateBit::Receipt(_) | StateBit::Dispatch(_)))
            .collect();
        let leaves: Vec<Hash> = period
            .iter()
            .map(|bit| leaf_hash(&bit.canonical_bytes()))
            .collect();
        for (i, bit) in period.iter().enumerate() {
            let StateBit::Receipt(r) = bit else { continue };
            forged_seen |= r.body_hash() == forged.body_hash();
            let proof = inclusion_proof(&leaves, i);
            let root = root_from_proof(leaves[i], i as u64, leaves.len() as u64, &proof);
            assert_eq!(
                root,
                Some(k.receipts_root),
                "receipt {i} of checkpoint {}",
                k.height
            );
            proved += u64::from(r.user == user.account());
        }
    }
    assert!(proved >= accepted, "proved {proved} of {accepted}");
    assert!(!forged_seen, "the forged receipt entered a block");

    // 5b. The whole trade: the router gets the receipts' proofs from a validator, waits for
    // their checkpoints to be final (10 s challenge window), and settles each lane's latest
    // receipt in the market: the user's escrow pays, the treasury gets its 20%, and a trading
    // reward is granted.
    let m = gw
        .market()
        .expect("the devnet's router pays calls from the market");
    wait_for(
        "the market settled the receipts",
        Duration::from_secs(60),
        || m.stats().settled > 0 && m.stats().settled_e8s > 0,
    )
    .await;
    let market = c.canisters.market;
    let admin = c.canisters.admin;
    let q = |method: &'static str, arg: Vec<u8>| {
        c.host.with_ic(move |ic| {
            ic.query_call(market, admin, method, arg)
                .map_err(|e| emc_ic_client::IcError::Host(format!("{e:?}")))
        })
    };
    let stats = Decode!(&q("stats", Encode!()?).await?, emc_market::Stats)?;
    let settled = m.stats().settled_e8s;
    assert_eq!(
        stats.volume_e8s, settled,
        "the market's volume is what this router settled"
    );
    assert!(stats.trades >= 1);
    assert!(stats.treasury_fees_e8s * 5 <= stats.volume_e8s);
    assert!(stats.volume_e8s - stats.treasury_fees_e8s * 5 < 5 * stats.trades);
    assert!(stats.rewards_e8s > 0, "a trading reward was granted");
    let escrow = Decode!(
        &q("escrow", Encode!(&emc_devnet::devnet_buyer(0))?).await?,
        Option<emc_market::EscrowView>
    )?
    .expect("user 0's escrow");
    assert_eq!(escrow.deposited_e8s, emc_devnet::USER_CREDIT);
    assert!(escrow.spent_e8s > 0 && escrow.spent_e8s <= settled);
    assert_eq!(
        escrow.balance_e8s + escrow.spent_e8s + escrow.fees_e8s + escrow.withdrawn_e8s,
        escrow.deposited_e8s,
        "the escrow's books balance"
    );
    let treasury = c.canisters.treasury;
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let s = Decode!(&q("stats", Encode!()?).await?, emc_market::Stats)?;
        if s.pending_transfers == 0 {
            break;
        }
        assert!(
            Instant::now() < end,
            "the market's transfers are still pending"
        );
        sleep(Duration::from_millis(100)).await;
    }
    let tb = c
        .operator_ic(0)
        .ledger
        .icrc1_balance_of(icrc_ledger_types::icrc1::account::Account::from(treasury))
        .await?;
    assert!(tb >= stats.treasury_fees_e8s);

    // 5c. Issue #16: node 0 is the pool's entry. It learnt its pool from the market, its
    // member (node 1) co-signed its receipts over QUIC, the co-signatures rode the trailers
    // to the router, and its lane settled in the market with them, the income split between
    // both members' owners.
    let (entry, member) = (c.compute[0].0.status.get(), c.compute[1].0.status.get());
    assert_eq!((entry.pool, entry.pool_entry), (Some(offer), true));
    assert_eq!((member.pool, member.pool_entry), (Some(offer), false));
    assert!(entry.cosign.collected > 0, "{:?}", entry.cosign);
    assert!(member.cosign.signed >= entry.cosign.collected);
    let entry_id = c.compute[0].0.id;
    let end = Instant::now() + Duration::from_secs(60);
    let pool_trade = loop {
        let page = Decode!(
            &q("events", Encode!(&0u64, &1_000u64)?).await?,
            emc_market::EventsPage
        )?;
        let trade = page.events.into_iter().find_map(|e| match e.event {
            emc_market::Event::Trade(t) if t.node == entry_id => Some(t),
            _ => None,
        });
        if let Some(t) = trade {
            break t;
        }
        assert!(Instant::now() < end, "no trade of the pool's entry node");
        sleep(Duration::from_millis(200)).await;
    };
    let owners: std::collections::BTreeSet<_> =
        pool_trade.pool_shares.iter().map(|s| s.owner).collect();
    let member_owners: std::collections::BTreeSet<_> =
        pool.members.iter().map(|m| m.owner).collect();
    assert_eq!(owners, member_owners, "{pool_trade:?}");
    assert_eq!(
        pool_trade
            .pool_shares
            .iter()
            .map(|s| s.payment_e8s)
            .sum::<u64>(),
        pool_trade.provider_payment_e8s
    );

    // 6. A dApp that disconnects mid-stream: the call is cancelled, its ticket ended, the
    // router keeps serving.
    {
        let tcp = tokio::net::TcpStream::connect(api).await?;
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
        let conn = tokio::spawn(conn);
        let body = chat(true, 400);
        let nonce = user.next_nonce();
        let sig = emc_edge_core::compute::sign_request(
            &devnet_user_key(0),
            nonce,
            "POST",
            "/v1/chat/completions",
            &body,
        );
        let req = hyper::Request::post("/v1/chat/completions")
            .header(hyper::header::HOST, api.to_string())
            .header("x-emc-account", hex::encode(user.account().0))
            .header("x-emc-nonce", nonce.to_string())
            .header("x-emc-signature", hex::encode(sig.0))
            .body(Full::new(Bytes::from(body)))?;
        let resp = send.send_request(req).await?;
        assert_eq!(resp.status(), 200);
        let mut b = resp.into_body();
        let first = b.frame().await.expect("a first chunk")?;
        assert!(first.is_data());
        drop(b);
        drop(send);
        conn.abort();
    }
    wait_for(
        "the cancelled call's ticket ended",
        Duration::from_secs(10),
        || gw.open_tickets() == 0 && gw.stats().1.cancelled >= 1,
    )
    .await;

    // 7. Rate limit: an account past its burst gets 429 with a clear error.
    let hasty = Client::new(api, devnet_user_key(3));
    let mut limited = None;
    let t0 = Instant::now();
    for i in 0..300 {
        let r = hasty.call("POST", "/v1/completions", body).await?;
        if r.status == 429 {
            limited = Some((i, err(&r)));
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let (i, e) = limited.expect("no 429 within 300 calls");
    let refilled = (t0.elapsed().as_secs_f64() * 2.0).ceil() as usize;
    assert!(
        i >= 100 && i <= 100 + refilled + 1,
        "429 after {i} calls, {refilled} refilled"
    );
    assert_eq!(e["error"]["type"], "rate_limit_exceeded");

    // A receipt of user 0 from the fast node, recorded by the validators, before that node
    // crashes (step 9 checks the restarted node continues its lane).
    let mut pre = None;
    for _ in 0..20 {
        let r = user
            .call("POST", "/v1/chat/completions", &chat(true, 2))
            .await?;
        if r.node.as_deref() == Some(fast.as_str()) {
            pre = r.receipts.into_iter().next();
            break;
        }
    }
    let pre = pre.expect("a call served by the fast node");
    let (accepted, _) = user.countersign_pending().await?;
    assert!(accepted >= 1);
    let before = recorded();
    wait_for(
        "user 0's last receipt recorded",
        Duration::from_secs(10),
        || recorded() > before,
    )
    .await;

    // 8. A node killed mid-call: that call is cut (no [DONE], no receipt), the next goes to
    // the other node.
    let long = tokio::spawn({
        let user = Client::new(api, devnet_user_key(1));
        async move {
            user.call("POST", "/v1/chat/completions", &chat(true, 400))
                .await
        }
    });
    // The long call goes to the fast node (its first byte is immediate): kill it mid-stream.
    sleep(Duration::from_millis(500)).await;
    let killed = c.kill_compute(0).await.expect("node 0 runs");
    assert_eq!(hex::encode(killed.0), fast);
    match long.await? {
        Ok(r) => {
            assert!(
                !r.text().contains("[DONE]"),
                "the killed node's call completed"
            );
            assert!(r.receipts.is_empty());
        }
        Err(e) => tracing::info!(error = %e, "the killed node's call was cut"),
    }
    let r = user
        .call("POST", "/v1/chat/completions", &chat(false, 2))
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.node.as_deref(), Some(slow.as_str()));
    wait_for("no ticket leaked", Duration::from_secs(10), || {
        gw.open_tickets() == 0
    })
    .await;

    // 9. The crashed node restarts with no lanes in memory: it asks a validator where user
    // 0's lane stands and continues it, so its receipts are still recorded, not refused.
    c.restart_compute(killed).await?;
    let slow_id = c.compute[0].0.id;
    c.kill_compute(0).await.expect("the slow node runs");
    // Calls fail (503) until the restarted node has reconnected and offered its app.
    let mut post = None;
    for _ in 0..150 {
        match user
            .call("POST", "/v1/chat/completions", &chat(true, 2))
            .await
        {
            Ok(r) if r.status == 200 && r.node.as_deref() == Some(fast.as_str()) => {
                post = r.receipts.into_iter().next();
                break;
            }
            _ => sleep(Duration::from_millis(200)).await,
        }
    }
    let post = post.expect("a call served by the restarted node");
    assert_ne!(post.node, slow_id);
    assert!(post.nonce > emc_edge_core::compute::RESUME_NONCE_GAP);
    if post.epoch == pre.epoch {
        assert!(post.nonce > pre.nonce);
        assert!(post.cumulative_e8s >= pre.cumulative_e8s + post.units * post.price_e8s);
    }
    let refused = || {
        c.running()
            .map(|(_, v)| v.handle.status.get().receipts_refused)
            .sum::<u64>()
    };
    let recorded = || {
        c.running()
            .map(|(_, v)| v.handle.status.get().receipts_recorded)
            .sum::<u64>()
    };
    let (refused_before, recorded_before) = (refused(), recorded());
    let (accepted, rejected) = user.countersign_pending().await?;
    assert!(accepted >= 1 && rejected == 0);
    wait_for(
        "the restarted node's receipt recorded",
        Duration::from_secs(10),
        || recorded() > recorded_before,
    )
    .await;
    assert_eq!(
        refused(),
        refused_before,
        "a receipt of the restarted node was refused"
    );

    // 9b. An app that hangs: the router answers 504 with a clear JSON error once the node has
    // sent nothing within `first_byte_timeout`, nothing is billed, the node drops the call,
    // and the router keeps serving. The running node's app is swapped for one that lists the
    // model but never answers a call.
    let hung_app = hanging_app().await?;
    let node_id = c.compute[0].0.id;
    let member = c
        .members
        .iter()
        .position(|m| m.id == node_id)
        .expect("a member");
    let app_index = member - c.config.validators - c.config.routers;
    let real_app = std::mem::replace(&mut c.apps[app_index], hung_app);
    c.kill_compute(0).await.expect("the node runs");
    restart_compute(&mut c, node_id).await?;
    let serving = |c: &Cluster| {
        c.compute
            .first()
            .is_some_and(|(h, _)| h.status.get().routers >= 1)
    };
    wait_for(
        "the node on the hanging app",
        Duration::from_secs(30),
        || serving(&c) && gw.models_json()["data"][0]["emc"]["nodes"] == 1,
    )
    .await;
    let account = user.account();
    gw.pending_receipts(&account); // books every earlier call
    let served_by_node = || {
        gw.stats()
            .0
            .get(&node_id)
            .map_or((0, 0), |s| (s.calls, s.units))
    };
    let (served_before, pending) = (served_by_node(), gw.pending_receipts(&account));
    let t0 = Instant::now();
    let r = user
        .call("POST", "/v1/chat/completions", &chat(false, 2))
        .await?;
    assert_eq!(r.status, 504, "{}", r.text());
    assert_eq!(err(&r)["error"]["code"], 504);
    assert!(
        err(&r)["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("sent nothing")),
        "{}",
        r.text()
    );
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    // Nothing billed: no receipt kept for the user, no call or unit counted as served.
    assert_eq!(gw.pending_receipts(&account), pending);
    assert_eq!(
        served_by_node(),
        served_before,
        "a timed-out call was counted"
    );
    wait_for(
        "the node dropped the timed-out call",
        Duration::from_secs(10),
        || {
            gw.open_tickets() == 0
                && c.compute
                    .first()
                    .is_some_and(|(h, _)| h.status.get().calls.errors >= 1)
        },
    )
    .await;
    // The router keeps serving: the node back on its real app serves the next call.
    c.apps[app_index] = real_app;
    c.kill_compute(0).await.expect("the node runs");
    restart_compute(&mut c, node_id).await?;
    let mut served = None;
    for _ in 0..150 {
        match user
            .call("POST", "/v1/chat/completions", &chat(false, 2))
            .await
        {
            Ok(r) if r.status == 200 => {
                served = Some(r);
                break;
            }
            _ => sleep(Duration::from_millis(200)).await,
        }
    }
    assert!(served.is_some(), "no call served after the timeout");

    // 10. The devnet is governed by its DAO (the stand-in SNS governance): an adopted proposal
    // changes the market's parameters; the setup principal, governance before the hand-over,
    // is refused when it calls the same method itself.
    let q = |method: &'static str, arg: Vec<u8>| {
        c.host.with_ic(move |ic| {
            ic.query_call(market, admin, method, arg)
                .map_err(|e| emc_ic_client::IcError::Host(format!("{e:?}")))
        })
    };
    let config = || async {
        let b = q("get_config", Encode!()?).await?;
        anyhow::Ok(Decode!(&b, emc_market::Config)?)
    };
    let before = config().await?;
    assert_eq!(before.governance, c.canisters.governance);
    let mut params = before.params.clone();
    params.withdrawal_notice_ns += 1_000_000_000;
    let proposal = emc_devnet::governance::propose(
        &c.host,
        &emc_devnet::governance::DevnetDao {
            governance: c.canisters.governance,
            dao: c.canisters.dao,
        },
        admin,
        "A longer withdrawal notice",
        emc_devnet::governance::execute(1007, &params)?,
    )
    .await?;
    assert_eq!(
        proposal.status,
        emc_test_sns_governance::ProposalStatus::Executed,
        "{}",
        proposal.rendering
    );
    assert_eq!(config().await?.params, params);
    let direct = c
        .host
        .with_ic(move |ic| {
            Ok(ic.update_call(
                market,
                admin,
                "execute_set_params",
                Encode!(&before.params).unwrap(),
            ))
        })
        .await?;
    assert!(
        direct.is_err(),
        "the setup principal changed a parameter without a proposal"
    );
    assert_eq!(config().await?.params, params);

    Ok(())
}

/// Restarts compute node `id` just after it was killed: its port is free once the old
/// endpoint has let go of it.
async fn restart_compute(c: &mut Cluster, id: emc_types::NodeId) -> Result<()> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        match c.restart_compute(id).await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() < end => {
                tracing::info!(error = %e, "the port is not free yet");
                sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// An app that lists the demo model on `GET /v1/models` and never answers anything else (its
/// connections stay open), on loopback; its address.
async fn hanging_app() -> Result<std::net::SocketAddr> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let Ok(n) = s.read(&mut buf).await else {
                    return;
                };
                if buf[..n].starts_with(b"GET /v1/models") {
                    let body = r#"{"object":"list","data":[{"id":"emc-bigram","object":"model"}]}"#;
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                } else {
                    // Hold the connection and never answer.
                    let _ = s.read(&mut buf).await;
                    sleep(Duration::from_secs(3600)).await;
                }
            });
        }
    });
    Ok(addr)
}

/// A fresh node-signed receipt of `user` (from an SSE call's trailer line).
async fn reply_receipt(
    user: &Client,
    _api: std::net::SocketAddr,
) -> Result<emc_types::ComputeReceipt> {
    let r = user
        .call("POST", "/v1/chat/completions", &chat(true, 2))
        .await?;
    anyhow::ensure!(r.status == 200, "{}", r.text());
    r.receipts
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no receipt"))
}
