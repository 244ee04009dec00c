//! Issue #16 end to end on the devnet: a socket bought from the devnet's compute pool, called
//! through, transferred; then the new holder is served and the old holder refused.

use super::SERIAL;
use anyhow::Result;
use emc_devnet::sockets as sk;
use emc_devnet::{devnet_user_key, Cluster, ClusterConfig};
use emc_router::client::Client;
use std::time::Duration;

const E8S: u64 = 100_000_000;

fn chat() -> Vec<u8> {
    serde_json::json!({
        "model": "emc-bigram",
        "messages": [{"role": "user", "content": "what is a computing socket"}],
        "stream": false,
        "max_tokens": 4,
    })
    .to_string()
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_through_a_transferred_socket() -> Result<()> {
    let _serial = SERIAL.lock().await;
    let dir = std::env::temp_dir().join(format!("emc-sockets-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg = ClusterConfig::devnet(dir);
    cfg.compute = 2;
    cfg.genesis_delay = Duration::from_secs(3);
    cfg.validator.poc_interval = Duration::ZERO;
    cfg.validator.block_interval = Duration::from_millis(200);
    // Keys 5, 6 and 7 have no escrow of their own (no allowance): the router admits them only
    // against the socket escrow they are bound to.
    let c = Cluster::start(cfg).await?;
    let api = c.api_addr(0).expect("the router's API is on");
    let gw = c.routers[0].0.gateway.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while gw.models_json()["data"][0]["emc"]["nodes"] != 2 {
        assert!(tokio::time::Instant::now() < deadline, "the nodes' offers");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let can = c.canisters.clone();
    let (alice, bob) = (c.members[0].owner, c.members[1].owner);
    let pool = c.pool_offer.expect("the devnet's pool");

    // Alice buys a socket from the pool's offer; the market mints it to her.
    sk::deposit(&c.host, &can, alice, 100 * E8S).await?;
    let (token, escrow) = sk::buy_socket(&c.host, &can, alice, pool, 1_000, 7).await?;
    let alice_key = devnet_user_key(5);
    sk::bind_socket_key(&c.host, &can, alice, token, escrow, &alice_key)
        .await?
        .expect("alice holds the socket");
    let alice_client = Client::new(api, alice_key);
    // Its calls go to the pool's entry node (the pool offer's node), never to the other
    // compute node, though both serve the app.
    let entry = c
        .members
        .iter()
        .find(|m| m.role == emc_types::Role::Compute)
        .map(|m| hex::encode(m.id.0));
    for _ in 0..4 {
        let r = alice_client
            .call_through_socket("POST", "/v1/chat/completions", &chat(), token)
            .await?;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.node, entry,
            "a pool's socket call reaches the pool's entry node"
        );
    }
    // A call naming a socket of another app's route is refused.
    let r = alice_client
        .call_through_socket("POST", "/other-app/x", b"{}", token)
        .await?;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("socket_for_another_app"), "{}", r.text());

    // Alice transfers it to Bob; Bob binds his key; Alice can bind no more.
    sk::transfer_socket(&c.host, &can, alice, token, bob).await?;
    let bob_key = devnet_user_key(6);
    sk::bind_socket_key(&c.host, &can, bob, token, escrow, &bob_key)
        .await?
        .expect("bob holds the socket");
    let again =
        sk::bind_socket_key(&c.host, &can, alice, token, escrow, &devnet_user_key(7)).await?;
    assert_eq!(again, Err(emc_market::MarketError::NotSocketHolder(token)));
    // The new holder is served (the router re-reads the socket on its cached refusal) ...
    let bob_client = Client::new(api, bob_key);
    let r = bob_client
        .call_through_socket("POST", "/v1/chat/completions", &chat(), token)
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    // ... and the old holder is refused.
    let r = alice_client
        .call_through_socket("POST", "/v1/chat/completions", &chat(), token)
        .await?;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("not_socket_holder"), "{}", r.text());
    // A socket the key is not bound to.
    let r = bob_client
        .call_through_socket("POST", "/v1/chat/completions", &chat(), token + 100)
        .await?;
    assert_eq!(r.status, 403, "{}", r.text());
    Ok(())
}
