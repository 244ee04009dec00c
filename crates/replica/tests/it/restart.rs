//! The state survives a restart: canisters, heap, stable memory, controllers, and the root key.

use crate::*;
use candid::{Decode, Encode, Nat};
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
