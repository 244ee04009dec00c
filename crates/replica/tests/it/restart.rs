//! The state survives a restart: canisters, heap, stable memory, controllers, and the root key.

use crate::*;
use candid::{Decode, Encode, Nat};
use emc_replica::{ReplicaConfig, RunningReplica};
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::TransferArg;

#[test]
fn balances_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("emc-replica-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    runtime().block_on(async {
        let user = ed25519(2);
        let sink = Principal::from_slice(&[0x42; 29]);
        let replica = start(Some(dir.clone())).await;
        let root_key = replica.root_key().to_vec();
        let admin = agent(&replica, ed25519(1)).await;
        let ledger = install_ledger(&admin, &[principal_of(&user)]).await;
        let a = agent(&replica, ed25519(2)).await;
        for _ in 0..3 {
            a.update(&ledger, "icrc1_transfer")
                .with_arg(
                    Encode!(&TransferArg {
                        from_subaccount: None,
                        to: Account::from(sink),
                        fee: None,
                        created_at_time: None,
                        memo: None,
                        amount: Nat::from(1_000u64),
                    })
                    .unwrap(),
                )
                .call_and_wait()
                .await
                .unwrap();
        }
        replica.shutdown().await;
        assert!(dir.join(emc_replica::snapshot::FILE).exists());

        let replica = start(Some(dir.clone())).await;
        assert_eq!(replica.root_key(), &root_key[..], "the root key survives");
        let a = agent(&replica, ed25519(2)).await;
        let balance = |who: Principal| {
            let a = a.clone();
            async move {
                let reply = a
                    .query(&ledger, "icrc1_balance_of")
                    .with_arg(Encode!(&Account::from(who)).unwrap())
                    .call()
                    .await
                    .unwrap();
                Decode!(&reply, Nat).unwrap()
            }
        };
        assert_eq!(balance(sink).await, Nat::from(3_000u64));
        assert_eq!(
            balance(principal_of(&user)).await,
            Nat::from(GENESIS - 3 * (1_000 + FEE))
        );
        // The restored ledger keeps working, and the controllers are still the admin only.
        let controllers = a.read_state_canister_controllers(ledger).await.unwrap();
        assert_eq!(controllers, vec![principal_of(&ed25519(1))]);
        a.update(&ledger, "icrc1_transfer")
            .with_arg(
                Encode!(&TransferArg {
                    from_subaccount: None,
                    to: Account::from(sink),
                    fee: None,
                    created_at_time: None,
                    memo: None,
                    amount: Nat::from(1u64),
                })
                .unwrap(),
            )
            .call_and_wait()
            .await
            .unwrap();
        assert_eq!(balance(sink).await, Nat::from(3_001u64));
        replica.shutdown().await;
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// The manual clock: time moves only through `POST /_/time`; a timer set before a restart
/// (heap and global timer in the snapshot) fires after it when the clock passes its deadline.
#[test]
fn manual_clock_and_timers_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("emc-replica-timers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = || ReplicaConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_dir: Some(dir.clone()),
        clock: emc_replica::Clock::Manual,
        snapshot_interval: None,
        ..ReplicaConfig::default()
    };
    runtime().block_on(async {
        let replica = emc_replica::start(config()).await.unwrap();
        let a = agent(&replica, ed25519(1)).await;
        let canister = install(
            &a,
            emc_test_env::canister_wasm("test-canister"),
            Encode!(&None::<()>).unwrap(),
        )
        .await;
        for _ in 0..2 {
            a.update(&canister, "inc")
                .with_arg(Encode!().unwrap())
                .call_and_wait()
                .await
                .unwrap();
        }
        a.update(&canister, "set_timer")
            .with_arg(Encode!(&30u64).unwrap())
            .call_and_wait()
            .await
            .unwrap();
        let start = replica.with_replica(|r| r.time()).await.unwrap();
        replica.shutdown().await;

        let replica = emc_replica::start(config()).await.unwrap();
        let a = agent(&replica, ed25519(1)).await;
        let query = |method: &'static str| {
            let a = a.clone();
            async move {
                let reply = a
                    .query(&canister, method)
                    .with_arg(Encode!().unwrap())
                    .call()
                    .await
                    .unwrap();
                Decode!(&reply, u64).unwrap()
            }
        };
        assert_eq!(query("get").await, 2, "the heap survives");
        assert_eq!(query("timer_fires").await, 0);
        // The clock does not move by itself.
        let t = replica.with_replica(|r| r.time()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(replica.with_replica(|r| r.time()).await.unwrap(), t);
        // 40 s later (through the HTTP admin endpoint) the timer has fired.
        let target = start + 40_000_000_000;
        let r = ic_agent::export::reqwest::Client::new()
            .post(format!("{}/_/time", replica.url()))
            .body(target.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(
            query("timer_fires").await,
            1,
            "the timer survives the restart"
        );
        replica.shutdown().await;

        // The wall clock refuses to be set.
        let wall = start_wall().await;
        let r = ic_agent::export::reqwest::Client::new()
            .post(format!("{}/_/time", wall.url()))
            .body(target.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
        wall.shutdown().await;
    });
    let _ = std::fs::remove_dir_all(&dir);
}

async fn start_wall() -> RunningReplica {
    start(None).await
}
