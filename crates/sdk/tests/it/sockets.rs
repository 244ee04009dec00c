//! Computing sockets through `Emc::sockets` / `Emc::market` and through `emc socket …`,
//! against the shared replica's sockets canister (the market mints there).

use crate::*;
use emc_market::MarketError;
use emc_sdk::market::{BuySocketArgs, MintStatus};
use emc_sdk::registry::Role;
use emc_sdk::sockets::TransferError;
use emc_sdk::{NodeRegistration, SdkError};
use serde_json::Value;

/// `user` registers a compute node and lists an offer of `app` at `price_e8s` per token.
async fn offer_of(emc: &Emc, user: u8, app: &str, price_e8s: u64) -> u64 {
    let node = emc
        .registry()
        .register(
            &node_key(user),
            NodeRegistration {
                role: Role::Compute,
                network_address: format!("10.0.1.{user}:4000"),
                region: "eu-west".into(),
                hardware: "1x L4".into(),
            },
        )
        .await
        .unwrap();
    emc.market()
        .post_offer(emc_sdk::market::OfferArgs {
            node: node.id,
            app: app.into(),
            unit: emc_types::MeterUnit::Tokens,
            price_e8s,
            capacity: 100,
        })
        .await
        .unwrap()
        .id
}

fn minted(p: &emc_sdk::market::SocketPurchase) -> u64 {
    match p.mint {
        MintStatus::Minted { token_id } => token_id,
        MintStatus::Pending => panic!("purchase {} not minted", p.id),
    }
}

#[test]
fn buy_list_show_transfer_bind_through_the_sdk() {
    let f = fixture();
    let (a, b, c) = (30, 31, 32);
    let (ea, eb, ec) = (f.emc(a), f.emc(b), f.emc(c));
    f.rt.block_on(async {
        let offer = offer_of(&ea, a, "llama-socket-sdk", 20).await;
        let before = ea.sockets().metadata().await.unwrap();
        assert_eq!(before.symbol, "EMCS");

        // No escrow yet: refused, nothing bought.
        let buy = BuySocketArgs {
            offer_id: offer,
            units_per_period: 1_000,
            periods: 2,
            model_hash: emc_types::Hash([5; 32]),
        };
        match ea.market().buy_socket(buy.clone()).await {
            Err(SdkError::Market(MarketError::NoEscrow)) => {}
            other => panic!("expected NoEscrow, got {other:?}"),
        }
        ea.market().deposit(10 * E8S).await.unwrap();
        // Bad purchases: typed refusals.
        let bad = |f: fn(&mut BuySocketArgs)| {
            let mut x = buy.clone();
            f(&mut x);
            x
        };
        match ea.market().buy_socket(bad(|x| x.periods = 0)).await {
            Err(SdkError::Market(MarketError::InvalidArgument(_))) => {}
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
        match ea.market().buy_socket(bad(|x| x.offer_id = u64::MAX)).await {
            Err(SdkError::Market(MarketError::UnknownOffer(_))) => {}
            other => panic!("expected UnknownOffer, got {other:?}"),
        }

        // Buy: 20 e8s x 1,000 units x 2 days from the escrow, minted to the buyer.
        let p = ea.market().buy_socket_and_mint(buy).await.unwrap();
        assert_eq!((p.price_e8s, p.buyer), (40_000, ea.principal()));
        let id = minted(&p);
        assert_eq!(
            ea.market().my_escrow().await.unwrap().unwrap().balance_e8s,
            10 * E8S - 40_000 - FEE
        );
        assert_eq!(
            ea.market().socket_purchase(p.id).await.unwrap(),
            Some(p.clone())
        );
        assert_eq!(
            ea.market().socket_purchase_of_token(id).await.unwrap(),
            Some(p.clone())
        );
        let after = ea.sockets().metadata().await.unwrap();
        // (Other tests mint in parallel.)
        assert!(after.total_supply > before.total_supply);
        assert_eq!(after.name, before.name);

        // List and show.
        assert_eq!(ea.sockets().my_tokens().await.unwrap(), vec![id]);
        assert_eq!(eb.sockets().my_tokens().await.unwrap(), Vec::<u64>::new());
        let s = ea.sockets().require_socket(id).await.unwrap();
        assert_eq!(s.owner, Account::from(ea.principal()));
        assert_eq!(
            (s.terms.app_id.as_str(), s.terms.paid_e8s, s.terms.offer_id),
            ("llama-socket-sdk", 40_000, offer)
        );
        assert_eq!(s.terms.units_per_period, 1_000);
        assert!(!s.expired);
        assert_eq!(s.transfers, 0);

        // The holder binds a key to the socket's escrow.
        let key_a = ed25519_dalek::SigningKey::from_bytes(&[130; 32]);
        ea.market().bind_socket_key(id, &key_a).await.unwrap();
        let k = ea
            .market()
            .socket_key(emc_sdk::NodeId(key_a.verifying_key().to_bytes()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (k.token_id, k.holder, k.escrow),
            (id, ea.principal(), p.escrow)
        );

        // Transfer to b; the old holder can neither move it again nor bind keys to it.
        let to_b = Account::from(eb.principal());
        ea.sockets().transfer(id, to_b).await.unwrap();
        assert_eq!(eb.sockets().my_tokens().await.unwrap(), vec![id]);
        assert!(ea.sockets().my_tokens().await.unwrap().is_empty());
        let s = eb.sockets().require_socket(id).await.unwrap();
        assert_eq!((s.owner, s.transfers), (to_b, 1));
        match ea
            .sockets()
            .transfer(id, Account::from(ea.principal()))
            .await
        {
            Err(SdkError::SocketTransfer {
                token_id,
                error: TransferError::Unauthorized,
            }) if token_id == id => {}
            other => panic!("expected Unauthorized, got {other:?}"),
        }
        let key_a2 = ed25519_dalek::SigningKey::from_bytes(&[131; 32]);
        match ea.market().bind_socket_key(id, &key_a2).await {
            Err(SdkError::Market(MarketError::NotSocketHolder(t))) if t == id => {}
            other => panic!("expected NotSocketHolder, got {other:?}"),
        }
        let key_b = ed25519_dalek::SigningKey::from_bytes(&[132; 32]);
        eb.market().bind_socket_key(id, &key_b).await.unwrap();

        // ICRC-37: b lets c move it; c moves it to itself.
        let to_c = Account::from(ec.principal());
        eb.sockets().approve(id, to_c, None).await.unwrap();
        ec.sockets().transfer_from(id, to_b, to_c).await.unwrap();
        assert_eq!(ec.sockets().require_socket(id).await.unwrap().owner, to_c);
        // The approval went with the transfer: b's spender cannot move it back for b.
        match ec.sockets().transfer_from(id, to_b, to_c).await {
            Err(SdkError::SocketTransfer { .. }) => {}
            other => panic!("expected a refusal, got {other:?}"),
        }

        // Unknown sockets.
        assert_eq!(ea.sockets().socket(u64::MAX).await.unwrap(), None);
        match ea.sockets().require_socket(u64::MAX).await {
            Err(SdkError::NotFound(_)) => {}
            other => panic!("expected NotFound, got {other:?}"),
        }
        match ea.sockets().transfer(u64::MAX, to_b).await {
            Err(SdkError::SocketTransfer {
                error: TransferError::NonExistingTokenId,
                ..
            }) => {}
            other => panic!("expected NonExistingTokenId, got {other:?}"),
        }
        match ea.market().bind_socket_key(u64::MAX, &key_a2).await {
            Err(SdkError::Market(MarketError::UnknownSocket(_))) => {}
            other => panic!("expected UnknownSocket, got {other:?}"),
        }
        match eb.sockets().approve(u64::MAX, to_c, None).await {
            Err(SdkError::SocketApprove { .. }) => {}
            other => panic!("expected an approval refusal, got {other:?}"),
        }

        // No sockets canister configured: a configuration error, no call.
        let none = Emc::connect(&EmcConfig {
            canisters: CanisterIds {
                sockets: None,
                ..f.ids
            },
            ..f.config(a)
        })
        .unwrap();
        assert!(matches!(
            none.sockets().my_tokens().await,
            Err(SdkError::Config(_))
        ));
    });
}

#[test]
fn socket_commands_and_bad_input() {
    let f = fixture();
    let (a, b) = (34, 35);
    let sdk = f.emc(a);
    let offer = f.rt.block_on(async {
        let o = offer_of(&sdk, a, "llama-socket-cli", 10).await;
        sdk.market().deposit(5 * E8S).await.unwrap();
        o
    });
    let offer_s = offer.to_string();
    let (pa, pb) = (principal_of(a).to_text(), principal_of(b).to_text());

    // Buy, list, show.
    let bought = ok_json(emc(
        Some(a),
        &[
            "--json",
            "socket",
            "buy",
            &offer_s,
            "--units",
            "100",
            "--periods",
            "3",
        ],
    ));
    assert_eq!(bought["price_e8s"], 10 * 100 * 3);
    assert_eq!(bought["buyer"], pa);
    let id = bought["token"].as_u64().expect("minted");
    let ids = id.to_string();
    let list = ok_json(emc(Some(a), &["--json", "socket", "list"]));
    assert_eq!(list["sockets"].as_array().unwrap().len(), 1);
    assert_eq!(list["sockets"][0]["id"], id);
    assert_eq!(list["sockets"][0]["app"], "llama-socket-cli");
    let text = emc(Some(a), &["socket", "list"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("llama-socket-cli"));
    let show = ok_json(emc(None, &["--json", "socket", "show", &ids]));
    assert_eq!(show["holder"], pa);
    assert_eq!(show["expired"], false);
    assert_eq!(show["purchase"]["purchase"], bought["purchase"]);
    let text = emc(None, &["socket", "show", &ids]);
    assert!(String::from_utf8_lossy(&text.stdout).contains(&format!("socket {id}")));

    // Bind a user key, then hand the socket to b.
    let key_file = f.dir.join("socket-cli-user.key");
    std::fs::write(&key_file, hex::encode([140u8; 32])).unwrap();
    let key_path = key_file.to_str().unwrap();
    let bound = ok_json(emc(
        Some(a),
        &["--json", "socket", "bind", &ids, "--user-key", key_path],
    ));
    assert_eq!(bound["id"], id);
    let t = ok_json(emc(Some(a), &["--json", "socket", "transfer", &ids, &pb]));
    assert!(t["block"].as_u64().is_some());
    let list = ok_json(emc(None, &["--json", "socket", "list", "--owner", &pb]));
    assert_eq!(list["sockets"][0]["id"], id);
    let list = ok_json(emc(Some(a), &["--json", "socket", "list"]));
    assert!(list["sockets"].as_array().unwrap().is_empty());

    // The old holder: refused, with the holder named; nothing moves.
    fails_with(
        emc(Some(a), &["socket", "transfer", &ids, &pa]),
        &format!("does not hold socket {id}"),
    );
    fails_with(
        emc(Some(a), &["socket", "bind", &ids, "--user-key", key_path]),
        "does not hold",
    );
    let show = ok_json(emc(None, &["--json", "socket", "show", &ids]));
    assert_eq!(show["holder"], pb);
    assert_eq!(show["transfers"], 1);

    // Bad input for every command.
    fails_with(
        emc(None, &["socket", "show", "999999"]),
        "socket 999999 does not exist",
    );
    fails_with(emc(None, &["socket", "show", "abc"]), "invalid value");
    fails_with(emc(None, &["socket", "list"]), "--identity");
    fails_with(
        emc(None, &["socket", "list", "--owner", "nope"]),
        "invalid account",
    );
    fails_with(
        emc(Some(b), &["socket", "transfer", &ids, "not-a-principal"]),
        "invalid account",
    );
    fails_with(
        emc(Some(b), &["socket", "transfer", "999999", &pa]),
        "does not exist",
    );
    fails_with(emc(None, &["socket", "transfer", &ids, &pa]), "--identity");
    let bad_key = f.dir.join("socket-cli-bad.key");
    std::fs::write(&bad_key, "xyz").unwrap();
    fails_with(
        emc(
            Some(b),
            &[
                "socket",
                "bind",
                &ids,
                "--user-key",
                bad_key.to_str().unwrap(),
            ],
        ),
        "64 hex digits",
    );
    fails_with(
        emc(
            Some(b),
            &["socket", "bind", "999999", "--user-key", key_path],
        ),
        "does not exist",
    );
    fails_with(
        emc(Some(a), &["socket", "buy", "999999", "--units", "1"]),
        "the market refused",
    );
    fails_with(
        emc(Some(a), &["socket", "buy", &offer_s, "--units", "0"]),
        "positive",
    );
    fails_with(
        emc(
            Some(a),
            &[
                "socket",
                "buy",
                &offer_s,
                "--units",
                "1",
                "--periods",
                "400",
            ],
        ),
        "periods",
    );
    fails_with(
        emc(
            Some(a),
            &[
                "socket",
                "buy",
                &offer_s,
                "--units",
                "1",
                "--model-hash",
                "zz",
            ],
        ),
        "64 hex digits",
    );
    fails_with(
        emc(Some(b), &["socket", "buy", &offer_s, "--units", "1"]),
        "no escrow",
    );
    let j = emc(Some(b), &["--json", "socket", "show", "999999"]);
    assert_eq!(j.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&j.stdout).unwrap();
    assert!(v["error"].as_str().unwrap().contains("does not exist"));
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
                key_path,
                "--socket",
                "x",
            ],
        ),
        "invalid value",
    );
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
                key_path,
                "--socket",
                &ids,
            ],
        ),
        "cannot reach the router",
    );

    // ICRC-37 from the command line: b (the holder) lets a move the socket for an hour, a
    // moves it back to itself; b, no longer the holder, can neither approve nor move it.
    let ok = ok_json(emc(
        Some(b),
        &["--json", "socket", "approve", &ids, &pa, "--for", "1h"],
    ));
    assert!(ok["expires_at"].as_u64().is_some() && ok["block"].as_u64().is_some());
    let moved = ok_json(emc(
        Some(a),
        &[
            "--json",
            "socket",
            "transfer-from",
            &ids,
            "--from",
            &pb,
            &pa,
        ],
    ));
    assert_eq!(moved["to"], pa);
    let show = ok_json(emc(None, &["--json", "socket", "show", &ids]));
    assert_eq!(show["holder"], pa);
    assert_eq!(show["transfers"], 2);
    fails_with(
        emc(Some(b), &["socket", "approve", &ids, &pb]),
        &format!("does not hold socket {id}"),
    );
    fails_with(
        emc(
            Some(b),
            &["socket", "transfer-from", &ids, "--from", &pa, &pb],
        ),
        "not an approved spender",
    );
    // Reclaiming: only the buyer, only after expiry and the notice.
    let purchase = bought["purchase"]
        .as_u64()
        .expect("purchase id")
        .to_string();
    fails_with(
        emc(Some(b), &["socket", "reclaim", &purchase]),
        "only the buyer",
    );
    fails_with(
        emc(Some(a), &["socket", "reclaim", &purchase]),
        "the market refused",
    );
}
