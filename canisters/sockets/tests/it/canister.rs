//! The real sockets wasm on the embedded IC: install, mint by the minter only, ICRC-7
//! transfers, ICRC-37 approvals, ICRC-3 blocks and the certified tip, upgrade. Build first:
//! `scripts/build-canisters.sh sockets`.

use crate::common::*;
use candid::{Encode, Nat, Principal};
use emc_sockets::*;
use emc_test_env::{canister_wasm, user, EmbeddedEnv, TestEnv, TestEnvExt};
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc3::blocks::{GetBlocksRequest, GetBlocksResult, ICRC3DataCertificate};
use std::time::Duration;

fn market() -> Principal {
    user(9)
}

fn setup() -> (EmbeddedEnv, Principal) {
    let mut env = EmbeddedEnv::new();
    let arg = SocketsArg::Init(InitArgs {
        minters: vec![market()],
        governance: user(2),
        name: None,
        symbol: None,
        description: None,
        limits: None,
    });
    let id = env
        .install(
            &canister_wasm("sockets"),
            Encode!(&arg).unwrap(),
            vec![user(1)],
        )
        .unwrap();
    (env, id)
}

fn mint(
    env: &mut EmbeddedEnv,
    c: Principal,
    caller: Principal,
    purchase: u64,
    to: Principal,
    expires_in: Duration,
) -> Result<Nat, SocketError> {
    let exp = env.time_nanos() + expires_in.as_nanos() as u64;
    let (r,): (Result<Nat, SocketError>,) = env
        .update_candid(
            c,
            caller,
            "mint_socket",
            (mint_args(purchase, to, "sd-xl", exp),),
        )
        .unwrap();
    r
}

fn transfer(
    env: &mut EmbeddedEnv,
    c: Principal,
    caller: Principal,
    id: u64,
    to: Principal,
) -> Option<TransferResult> {
    let arg = TransferArg {
        from_subaccount: None,
        to: acct(to),
        token_id: Nat::from(id),
        memo: None,
        created_at_time: None,
    };
    let (r,): (Vec<Option<TransferResult>>,) = env
        .update_candid(c, caller, "icrc7_transfer", (vec![arg],))
        .unwrap();
    r.into_iter().next().flatten()
}

fn owner_of(env: &mut EmbeddedEnv, c: Principal, id: u64) -> Option<Account> {
    let (r,): (Vec<Option<Account>>,) = env
        .query_candid(c, user(1), "icrc7_owner_of", (vec![Nat::from(id)],))
        .unwrap();
    r[0]
}

#[test]
fn mint_transfer_approve_and_blocks_on_the_embedded_ic() {
    let (mut env, c) = setup();
    let (alice, bob, carol) = (user(100), user(101), user(102));
    // Standards and collection metadata.
    let (stds,): (Vec<SupportedStandard>,) = env
        .query_candid(c, alice, "icrc10_supported_standards", ())
        .unwrap();
    let names: Vec<&str> = stds.iter().map(|s| s.name.as_str()).collect();
    for n in ["ICRC-7", "ICRC-10", "ICRC-37", "ICRC-3"] {
        assert!(names.contains(&n), "{n}");
    }
    let (sym,): (String,) = env.query_candid(c, alice, "icrc7_symbol", ()).unwrap();
    assert_eq!(sym, "EMCS");
    let (meta,): (Vec<(String, Value)>,) = env
        .query_candid(c, alice, "icrc7_collection_metadata", ())
        .unwrap();
    assert!(meta.iter().any(|(k, _)| k == "icrc7:max_update_batch_size"));

    // Only the market mints; a retried purchase mints once.
    assert_eq!(
        mint(&mut env, c, alice, 1, alice, Duration::from_secs(3_600)),
        Err(SocketError::NotMinter)
    );
    assert_eq!(
        mint(&mut env, c, market(), 1, alice, Duration::from_secs(3_600)),
        Ok(Nat::from(1u64))
    );
    assert_eq!(
        mint(&mut env, c, market(), 1, alice, Duration::from_secs(3_600)),
        Ok(Nat::from(1u64))
    );
    let (supply,): (Nat,) = env
        .query_candid(c, alice, "icrc7_total_supply", ())
        .unwrap();
    assert_eq!(supply, Nat::from(1u64));

    // A non-holder is refused and nothing changes; the holder transfers.
    assert_eq!(
        transfer(&mut env, c, bob, 1, bob),
        Some(Err(TransferError::Unauthorized))
    );
    assert_eq!(owner_of(&mut env, c, 1).map(|a| a.owner), Some(alice));
    assert_eq!(
        transfer(&mut env, c, alice, 1, bob),
        Some(Ok(Nat::from(1u64)))
    );
    // Cost of one transfer (the README quotes it): well under a cent of cycles.
    let transfer_instructions = env.last_instructions().unwrap_or(0);
    eprintln!("icrc7_transfer: {transfer_instructions} instructions");
    assert!(
        transfer_instructions < 20_000_000,
        "{transfer_instructions}"
    );
    assert_eq!(owner_of(&mut env, c, 1).map(|a| a.owner), Some(bob));
    let (v,): (Option<SocketView>,) = env
        .query_candid(c, alice, "socket", (Nat::from(1u64),))
        .unwrap();
    let v = v.unwrap();
    assert_eq!(
        (
            v.owner.owner,
            v.transfers,
            v.expired,
            v.terms.app_id.as_str()
        ),
        (bob, 1, false, "sd-xl")
    );

    // bob approves carol for the collection; icrc37_approve_collection answers null on success.
    let info = ApprovalInfo {
        spender: acct(carol),
        from_subaccount: None,
        expires_at: None,
        memo: None,
        created_at_time: env.time_nanos(),
    };
    let (r,): (Vec<Option<ApproveCollectionError>>,) = env
        .update_candid(
            c,
            bob,
            "icrc37_approve_collection",
            (vec![ApproveCollectionArg {
                approval_info: info,
            }],),
        )
        .unwrap();
    assert_eq!(r, vec![None]);
    let tf = TransferFromArg {
        spender_subaccount: None,
        from: acct(bob),
        to: acct(carol),
        token_id: Nat::from(1u64),
        memo: None,
        created_at_time: None,
    };
    let (r,): (Vec<Option<TransferFromResult>>,) = env
        .update_candid(c, carol, "icrc37_transfer_from", (vec![tf],))
        .unwrap();
    assert_eq!(r, vec![Some(Ok(Nat::from(3u64)))]);
    assert_eq!(owner_of(&mut env, c, 1).map(|a| a.owner), Some(carol));

    // The log: 7mint, 7xfer, 37approve_coll, 37xfer, and a certified tip.
    let (blocks,): (GetBlocksResult,) = env
        .query_candid(
            c,
            alice,
            "icrc3_get_blocks",
            (vec![GetBlocksRequest {
                start: Nat::from(0u64),
                length: Nat::from(100u64),
            }],),
        )
        .unwrap();
    assert_eq!(blocks.log_length, Nat::from(4u64));
    let btypes: Vec<Value> = blocks
        .blocks
        .iter()
        .map(|b| match &b.block {
            Value::Map(m) => m["btype"].clone(),
            _ => panic!("a block is a map"),
        })
        .collect();
    let want: Vec<Value> = ["7mint", "7xfer", "37approve_coll", "37xfer"]
        .iter()
        .map(|t| Value::Text(t.to_string()))
        .collect();
    assert_eq!(btypes, want);
    let (_cert,): (Option<ICRC3DataCertificate>,) = env
        .query_candid(c, alice, "icrc3_get_tip_certificate", ())
        .unwrap();

    // An expired socket cannot move.
    mint(&mut env, c, market(), 2, alice, Duration::from_secs(60)).unwrap();
    env.advance_time(Duration::from_secs(61));
    assert!(matches!(
        transfer(&mut env, c, alice, 2, bob),
        Some(Err(TransferError::GenericError { .. }))
    ));
    assert_eq!(owner_of(&mut env, c, 2).map(|a| a.owner), Some(alice));

    // Upgrade keeps everything.
    env.upgrade(
        c,
        &canister_wasm("sockets"),
        Encode!(&Some(SocketsArg::Upgrade)).unwrap(),
        user(1),
    )
    .unwrap();
    assert_eq!(owner_of(&mut env, c, 1).map(|a| a.owner), Some(carol));
    let (blocks,): (GetBlocksResult,) = env
        .query_candid(
            c,
            alice,
            "icrc3_get_blocks",
            (vec![GetBlocksRequest {
                start: Nat::from(0u64),
                length: Nat::from(100u64),
            }],),
        )
        .unwrap();
    assert_eq!(blocks.log_length, Nat::from(5u64));
    // Init on upgrade is refused.
    let bad = SocketsArg::Init(InitArgs {
        minters: vec![],
        governance: user(2),
        name: None,
        symbol: None,
        description: None,
        limits: None,
    });
    assert!(env
        .upgrade(
            c,
            &canister_wasm("sockets"),
            Encode!(&Some(bad)).unwrap(),
            user(1)
        )
        .is_err());
}
