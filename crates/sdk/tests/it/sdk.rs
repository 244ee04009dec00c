//! Each sub-API of `Emc` over ic-agent against the shared replica.

use crate::*;
use emc_sdk::registry::{NodeState, Role};
use emc_sdk::{NodeRegistration, SdkError};

#[test]
fn default_canister_ids_are_the_devnets_order() {
    assert_eq!(fixture().ids, CanisterIds::local_devnet());
}

#[test]
fn ledger_metadata_transfer_approve_allowance() {
    let f = fixture();
    let (a, b) = (10, 11);
    let emc = f.emc(a);
    f.rt.block_on(async {
        let ledger = emc.ledger();
        let meta = ledger.metadata().await.unwrap();
        assert_eq!((meta.decimals, meta.fee_e8s), (8, FEE));
        assert_eq!(meta.symbol, "EMC");
        assert_eq!(ledger.my_balance().await.unwrap(), GENESIS);

        let to = Account::from(principal_of(b));
        let block = ledger
            .transfer(to, 3 * E8S, Some(b"rent".to_vec()))
            .await
            .unwrap();
        let block2 = ledger.transfer(to, 1, None).await.unwrap();
        assert!(block2 > block);
        assert_eq!(ledger.balance(to).await.unwrap(), GENESIS + 3 * E8S + 1);
        assert_eq!(
            ledger.my_balance().await.unwrap(),
            GENESIS - 3 * E8S - 1 - 2 * FEE
        );

        // More than the balance: the ledger's typed refusal, nothing moves.
        match ledger.transfer(to, GENESIS, None).await {
            Err(SdkError::Transfer(
                icrc_ledger_types::icrc1::transfer::TransferError::InsufficientFunds { .. },
            )) => {}
            other => panic!("expected InsufficientFunds, got {other:?}"),
        }
        assert_eq!(ledger.balance(to).await.unwrap(), GENESIS + 3 * E8S + 1);

        let spender = Account::from(principal_of(b));
        ledger.approve(spender, 7 * E8S, None).await.unwrap();
        let me = Account::from(emc.principal());
        assert_eq!(
            ledger.allowance(me, spender).await.unwrap().allowance_e8s,
            7 * E8S
        );
        ledger.approve(spender, 0, None).await.unwrap();
        assert_eq!(
            ledger.allowance(me, spender).await.unwrap().allowance_e8s,
            0
        );
    });
}

#[test]
fn registry_register_stake_lookup() {
    let f = fixture();
    let user = 12;
    let emc = f.emc(user);
    let key = node_key(user);
    f.rt.block_on(async {
        let reg = emc.registry();
        let node = reg
            .register(
                &key,
                NodeRegistration {
                    role: Role::Router,
                    network_address: "10.0.0.12:4000".into(),
                    region: "eu-central".into(),
                    hardware: String::new(),
                },
            )
            .await
            .unwrap();
        assert_eq!(node.owner, emc.principal());
        assert_eq!(node.state, NodeState::Live);
        // The same key again: the registry's typed refusal.
        let again = reg
            .register(
                &key,
                NodeRegistration {
                    role: Role::Router,
                    network_address: "10.0.0.12:4001".into(),
                    region: "eu-central".into(),
                    hardware: String::new(),
                },
            )
            .await;
        assert!(matches!(again, Err(SdkError::Registry(_))), "{again:?}");

        let min = reg.config().await.unwrap().params.router.min_stake_e8s;
        let info = reg.stake(node.id, min, 180).await.unwrap();
        assert!(info.active);
        assert_eq!(info.stake_e8s, min);
        assert_eq!(emc.ledger().balance(info.account).await.unwrap(), min);
        assert_eq!(reg.require_node(node.id).await.unwrap().stake_e8s, min);
        let mine = reg.nodes_of(emc.principal()).await.unwrap();
        assert_eq!(mine.iter().map(|n| n.id).collect::<Vec<_>>(), vec![node.id]);
        assert!(reg.nodes_of(principal_of(39)).await.unwrap().is_empty());
        assert!(reg
            .nodes_by_role(Role::Router)
            .await
            .unwrap()
            .iter()
            .any(|n| n.id == node.id));
        let unknown = emc_sdk::NodeId([0xee; 32]);
        assert!(matches!(
            reg.require_node(unknown).await,
            Err(SdkError::NotFound(_))
        ));

        // The doctor on the staked router: every check that can be made passes.
        let facts = emc_sdk::doctor::gather(&emc, node.id).await.unwrap();
        let checks = emc_sdk::doctor::diagnose(&node.id, &facts);
        assert!(!emc_sdk::doctor::any_failed(&checks), "{checks:?}");
        assert_eq!(checks[2].name, "staked");
        assert_eq!(checks[2].status, emc_sdk::doctor::Status::Pass);
    });
}

#[test]
fn epochs_before_any_checkpoint() {
    let f = fixture();
    let emc = f.emc(13);
    f.rt.block_on(async {
        let ep = emc.epochs();
        let stats = ep.stats().await.unwrap();
        assert_eq!(stats.last_closed_epoch, None);
        assert_eq!(stats.tip_height, None);
        assert!(ep.latest_checkpoint().await.unwrap().is_none());
        assert!(ep.checkpoint(0).await.unwrap().is_none());
        assert!(ep.epoch_summary(0).await.unwrap().is_none());
        let node = emc_sdk::NodeId([1; 32]);
        assert!(ep.node_rewards(node, 0, 9).await.unwrap().is_empty());
        assert!(ep
            .owner_rewards(emc.principal(), 0)
            .await
            .unwrap()
            .is_empty());
        assert!(matches!(
            ep.node_rewards(node, 5, 4).await,
            Err(SdkError::Input(_))
        ));
        assert!(matches!(
            ep.node_rewards(node, 0, 5_000).await,
            Err(SdkError::Input(_))
        ));
        let e = emc.registry().current_epoch().await.unwrap();
        assert!(e.next_start > e.start);
    });
}

#[test]
fn market_offer_deposit_withdrawal() {
    let f = fixture();
    let user = 14;
    let emc = f.emc(user);
    f.rt.block_on(async {
        // A compute node and its offer.
        let key = node_key(user);
        let node = emc
            .registry()
            .register(
                &key,
                NodeRegistration {
                    role: Role::Compute,
                    network_address: "10.0.0.14:4000".into(),
                    region: "us-east".into(),
                    hardware: "1x RTX 4090".into(),
                },
            )
            .await
            .unwrap();
        let m = emc.market();
        let offer = m
            .post_offer(emc_sdk::market::OfferArgs {
                node: node.id,
                app: "llama-sdk-test".into(),
                unit: emc_types::MeterUnit::Tokens,
                price_e8s: 20,
                capacity: 100,
            })
            .await
            .unwrap();
        assert!(m.offers().await.unwrap().iter().any(|o| o.id == offer.id));
        assert_eq!(
            m.offers_of(emc.principal()).await.unwrap(),
            vec![offer.clone()]
        );
        assert_eq!(m.offer(offer.id).await.unwrap(), Some(offer));
        assert_eq!(m.offer(u64::MAX).await.unwrap(), None);

        // Escrow: deposit (approve + transfer_from), bind a user key, request a withdrawal.
        assert_eq!(m.my_escrow().await.unwrap(), None);
        let e = m.deposit(10 * E8S).await.unwrap();
        assert_eq!(e.balance_e8s, 10 * E8S);
        assert_eq!(
            emc.ledger().my_balance().await.unwrap(),
            GENESIS - 10 * E8S - 2 * FEE,
            "the deposit and the fees of approve and transfer_from"
        );
        m.bind_key(&ed25519_dalek::SigningKey::from_bytes(&[77; 32]))
            .await
            .unwrap();
        let e = m.request_withdrawal(4 * E8S).await.unwrap();
        assert_eq!(e.withdrawal.unwrap().amount_e8s, 4 * E8S);
        match m.withdraw().await {
            Err(SdkError::Market(emc_market::MarketError::NoticePending { .. })) => {}
            other => panic!("expected NoticePending, got {other:?}"),
        }
        assert!(matches!(m.deposit(0).await, Err(SdkError::Input(_))));
        assert!(m.stats().await.unwrap().escrows >= 1);
        assert_eq!(m.config().await.unwrap().ledger, f.ids.ledger);
    });
}

#[test]
fn replica_down_is_a_transport_error() {
    let f = fixture();
    let emc = Emc::connect(&EmcConfig {
        url: "http://127.0.0.1:1".into(),
        ..f.config(15)
    })
    .unwrap();
    let err = f.rt.block_on(emc.ledger().my_balance()).unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
}
