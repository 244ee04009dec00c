//! Wasm-level tests: the real registry wasm with the real ledger wasm, on every `emc_test_env`
//! backend (the embedded IC always). Build them first:
//! `scripts/build-canisters.sh registry ledger test-canister` (the test canister stands in for
//! a ledger whose every call fails).
//!
//! After every scenario the token books are checked: every e8s the owners lost is in a node
//! subaccount (counted once in the registry's stakes), in the treasury, or was a ledger fee.

use candid::{Encode, Nat, Principal};
use ed25519_dalek::{Signer, SigningKey};
use emc_ledger::{InitArgs as LedgerInit, LedgerArg};
use emc_registry::rules::registration_message;
use emc_registry::*;
use emc_test_env::{canister_wasm, user, TestEnv, TestEnvExt};
use emc_types::NodeId;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc2::approve::{ApproveArgs, ApproveError};
use serde_bytes::ByteBuf;
use std::time::Duration;

const FEE: u64 = 10_000;
const V_MIN: u64 = 1_000_000 * E8S;
const R_MIN: u64 = 100_000 * E8S;
const GENESIS: u64 = 20_000_000 * E8S;
const OWNERS: u64 = 20;

fn admin() -> Principal {
    user(1)
}
fn gov() -> Principal {
    user(2)
}
fn epochs() -> Principal {
    user(3)
}
fn owner(n: u64) -> Principal {
    user(100 + n)
}
fn treasury() -> Account {
    Account {
        owner: user(4),
        subaccount: None,
    }
}
fn acct(p: Principal) -> Account {
    Account {
        owner: p,
        subaccount: None,
    }
}

struct Setup {
    ledger: Principal,
    registry: Principal,
}

fn on_all(scenario: impl Fn(&mut dyn TestEnv, &Setup)) {
    for mut env in emc_test_env::all() {
        eprintln!("backend: {}", env.name());
        let s = setup(env.as_mut());
        scenario(env.as_mut(), &s);
        check_books(env.as_mut(), &s);
    }
}

fn setup(env: &mut dyn TestEnv) -> Setup {
    let init = LedgerInit {
        token_name: "EdgeMatrix Computing".into(),
        token_symbol: "EMC".into(),
        decimals: None,
        transfer_fee: Nat::from(FEE),
        minting_account: acct(user(5)),
        initial_balances: (0..OWNERS)
            .map(|i| (acct(owner(i)), Nat::from(GENESIS)))
            .collect(),
        fee_collector_account: None,
        max_memo_length: None,
        governance: gov(),
        supply_cap: None,
        metadata: None,
    };
    let ledger = env
        .install(
            &canister_wasm("ledger"),
            Encode!(&LedgerArg::Init(init)).unwrap(),
            vec![admin()],
        )
        .expect("ledger install");
    let args = RegistryArg::Init(emc_registry::InitArgs {
        ledger,
        governance: gov(),
        treasury: treasury(),
        epochs_canister: Some(epochs()),
        ledger_fee_e8s: Some(FEE),
        params: None,
        genesis_time: None,
    });
    let registry = env
        .install(
            &canister_wasm("registry"),
            Encode!(&args).unwrap(),
            vec![admin()],
        )
        .expect("registry install");
    Setup { ledger, registry }
}

fn balance(env: &mut dyn TestEnv, s: &Setup, a: Account) -> u64 {
    let (b,): (Nat,) = env
        .query_candid(s.ledger, admin(), "icrc1_balance_of", (a,))
        .unwrap();
    u64::try_from(&b.0).unwrap()
}

fn supply(env: &mut dyn TestEnv, s: &Setup) -> u64 {
    let (b,): (Nat,) = env
        .query_candid(s.ledger, admin(), "icrc1_total_supply", ())
        .unwrap();
    u64::try_from(&b.0).unwrap()
}

fn stats(env: &mut dyn TestEnv, s: &Setup) -> Stats {
    let (st,): (Stats,) = env.query_candid(s.registry, admin(), "stats", ()).unwrap();
    st
}

/// The books: owners + node subaccounts + treasury = supply; the registry's total stake is
/// the sum of the node subaccounts (nothing counted twice, nothing lost).
fn check_books(env: &mut dyn TestEnv, s: &Setup) {
    let mut sum = balance(env, s, treasury());
    for i in 0..OWNERS {
        sum += balance(env, s, acct(owner(i)));
    }
    let mut staked = 0;
    for role in Role::ALL {
        let mut after = None;
        loop {
            let (page,): (Vec<Node>,) = env
                .query_candid(s.registry, admin(), "nodes_by_role", (role, after, 100u32))
                .unwrap();
            if page.is_empty() {
                break;
            }
            for n in &page {
                let b = balance(
                    env,
                    s,
                    Account {
                        owner: s.registry,
                        subaccount: Some(n.id.0),
                    },
                );
                assert_eq!(
                    b, n.stake_e8s,
                    "subaccount of {:?} holds its recorded stake",
                    n.id
                );
                staked += b;
            }
            after = page.last().map(|n| n.id);
        }
    }
    assert_eq!(sum + staked, supply(env, s), "every token is accounted for");
    assert_eq!(stats(env, s).total_stake_e8s, staked);
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}
fn id(seed: u8) -> NodeId {
    NodeId(key(seed).verifying_key().to_bytes())
}

fn register_args(
    env: &mut dyn TestEnv,
    s: &Setup,
    who: Principal,
    seed: u8,
    role: Role,
) -> RegisterArgs {
    let (nonce,): (Result<ByteBuf, RegistryError>,) = env
        .update_candid(s.registry, who, "registration_nonce", ())
        .unwrap();
    let nonce: [u8; 32] = nonce.unwrap().as_slice().try_into().unwrap();
    let k = key(seed);
    RegisterArgs {
        role,
        public_key: ByteBuf::from(k.verifying_key().to_bytes().to_vec()),
        network_address: format!("10.1.0.{seed}:4000"),
        region: "eu-central".into(),
        hardware: "1x RTX 4090".into(),
        signature: ByteBuf::from(
            k.sign(&registration_message(&who, &nonce, role))
                .to_bytes()
                .to_vec(),
        ),
    }
}

fn register(
    env: &mut dyn TestEnv,
    s: &Setup,
    who: Principal,
    seed: u8,
    role: Role,
) -> Result<Node, RegistryError> {
    let args = register_args(env, s, who, seed, role);
    let (r,): (Result<Node, RegistryError>,) = env
        .update_candid(s.registry, who, "register", (args,))
        .unwrap();
    r
}

fn approve(env: &mut dyn TestEnv, s: &Setup, who: Principal, amount: u64) {
    let a = ApproveArgs {
        from_subaccount: None,
        spender: acct(s.registry),
        amount: Nat::from(amount),
        expected_allowance: None,
        expires_at: None,
        fee: None,
        memo: None,
        created_at_time: None,
    };
    let (r,): (Result<Nat, ApproveError>,) = env
        .update_candid(s.ledger, who, "icrc2_approve", (a,))
        .unwrap();
    r.unwrap();
}

fn stake(
    env: &mut dyn TestEnv,
    s: &Setup,
    who: Principal,
    seed: u8,
    amount: u64,
    days: u32,
) -> Result<StakeInfo, RegistryError> {
    let a = StakeArgs {
        node_id: id(seed),
        amount_e8s: amount,
        term_days: days,
    };
    let (r,): (Result<StakeInfo, RegistryError>,) =
        env.update_candid(s.registry, who, "stake", (a,)).unwrap();
    r
}

fn approve_and_stake(
    env: &mut dyn TestEnv,
    s: &Setup,
    who: Principal,
    seed: u8,
    amount: u64,
    days: u32,
) -> StakeInfo {
    approve(env, s, who, amount + FEE);
    stake(env, s, who, seed, amount, days).expect("stake")
}

fn node_stake(env: &mut dyn TestEnv, s: &Setup, seed: u8) -> StakeInfo {
    let (r,): (Option<StakeInfo>,) = env
        .query_candid(s.registry, admin(), "node_stake", (id(seed),))
        .unwrap();
    r.unwrap()
}

fn get_node(env: &mut dyn TestEnv, s: &Setup, seed: u8) -> Node {
    let (r,): (Option<Node>,) = env
        .query_candid(s.registry, admin(), "get_node", (id(seed),))
        .unwrap();
    r.unwrap()
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

/// Lets the 60-second timer run (retries, releases, snapshots).
fn timer(env: &mut dyn TestEnv) {
    env.advance_time(Duration::from_secs(61));
}

#[test]
fn lifecycles_per_role_with_automatic_release() {
    on_all(|env, s| {
        // Validator.
        register(env, s, owner(0), 1, Role::Validator).unwrap();
        let info = approve_and_stake(env, s, owner(0), 1, V_MIN, 360);
        assert!(info.active);
        assert_eq!(balance(env, s, info.account), V_MIN);
        assert_eq!(balance(env, s, acct(owner(0))), GENESIS - V_MIN - 2 * FEE);
        // Router and compute.
        register(env, s, owner(1), 2, Role::Router).unwrap();
        approve_and_stake(env, s, owner(1), 2, R_MIN, 180);
        register(env, s, owner(2), 3, Role::Compute).unwrap();
        approve_and_stake(env, s, owner(2), 3, 1000 * E8S, 30);
        // The compute node is a candidate until the epochs canister reports a passed PoC.
        assert_eq!(stats(env, s).active, vec![1, 1, 0]);
        let (c,): (Option<CandidateInfo>,) = env
            .query_candid(s.registry, admin(), "candidate", (id(3),))
            .unwrap();
        assert_eq!(c.map(|c| c.listed_epochs), Some(0));
        let (r,): (Result<(), RegistryError>,) = env
            .update_candid(s.registry, epochs(), "report_compute_e", (id(3), E_SCALE))
            .unwrap();
        r.unwrap();
        let (c,): (Option<CandidateInfo>,) = env
            .query_candid(s.registry, admin(), "candidate", (id(3),))
            .unwrap();
        assert_eq!(c, None, "admitted");
        let (m,): (Option<u64>,) = env
            .query_candid(s.registry, admin(), "e_multiplier", (id(3),))
            .unwrap();
        assert_eq!(m, Some(27_000));
        let (mine,): (Vec<Node>,) = env
            .query_candid(s.registry, owner(1), "my_nodes", (None::<NodeId>, 10u32))
            .unwrap();
        assert_eq!(mine.iter().map(|n| n.id).collect::<Vec<_>>(), vec![id(2)]);
        assert_eq!(stats(env, s).active, vec![1, 1, 1]);
        check_books(env, s);

        // The compute term ends first: released automatically, less one fee.
        env.advance_time(days(30));
        timer(env);
        assert_eq!(node_stake(env, s, 3).stake_e8s, 0);
        assert_eq!(balance(env, s, acct(owner(2))), GENESIS - 3 * FEE);
        assert_eq!(
            node_stake(env, s, 2).stake_e8s,
            R_MIN,
            "the router is still locked"
        );
        // Router renews (unlimited, >= 90 days), validator renews once.
        let (r,): (Result<Term, RegistryError>,) = env
            .update_candid(
                s.registry,
                owner(1),
                "renew_stake",
                (RenewArgs {
                    node_id: id(2),
                    days: 89,
                },),
            )
            .unwrap();
        assert!(matches!(r, Err(RegistryError::BadTerm(_))));
        let (r,): (Result<Term, RegistryError>,) = env
            .update_candid(
                s.registry,
                owner(1),
                "renew_stake",
                (RenewArgs {
                    node_id: id(2),
                    days: 90,
                },),
            )
            .unwrap();
        assert_eq!(r.unwrap().renewals, 1);
        let (r,): (Result<Term, RegistryError>,) = env
            .update_candid(
                s.registry,
                owner(0),
                "renew_stake",
                (RenewArgs {
                    node_id: id(1),
                    days: 180,
                },),
            )
            .unwrap();
        r.unwrap();
        let (r,): (Result<Term, RegistryError>,) = env
            .update_candid(
                s.registry,
                owner(0),
                "renew_stake",
                (RenewArgs {
                    node_id: id(1),
                    days: 180,
                },),
            )
            .unwrap();
        assert!(
            matches!(r, Err(RegistryError::BadTerm(_))),
            "validators renew once"
        );
        env.advance_time(days(240));
        timer(env);
        assert_eq!(
            node_stake(env, s, 2).stake_e8s,
            0,
            "router released after 270 days"
        );
        assert_eq!(node_stake(env, s, 1).stake_e8s, V_MIN);
        env.advance_time(days(300));
        timer(env);
        assert_eq!(
            node_stake(env, s, 1).stake_e8s,
            0,
            "validator released after 540 days"
        );
        assert_eq!(balance(env, s, acct(owner(0))), GENESIS - 3 * FEE);
        assert_eq!(stats(env, s).pending_movements, 0);
        // Retire.
        let (r,): (Result<Node, RegistryError>,) = env
            .update_candid(s.registry, owner(1), "retire_node", (id(1),))
            .unwrap();
        assert_eq!(r.unwrap_err(), RegistryError::NotOwner);
        let (r,): (Result<Node, RegistryError>,) = env
            .update_candid(s.registry, owner(0), "retire_node", (id(1),))
            .unwrap();
        assert!(matches!(r.unwrap().state, NodeState::Retired { .. }));
    });
}

#[test]
fn bad_input_gives_typed_errors_and_changes_nothing() {
    on_all(|env, s| {
        register(env, s, owner(0), 1, Role::Router).unwrap();
        let before = stats(env, s);
        // Bad signature: signed for another owner.
        let mut args = register_args(env, s, owner(1), 2, Role::Router);
        let (r,): (Result<Node, RegistryError>,) = env
            .update_candid(s.registry, owner(2), "register", (args.clone(),))
            .unwrap();
        assert_eq!(r.unwrap_err(), RegistryError::NoNonce);
        args.signature = ByteBuf::from(vec![0u8; 64]);
        let (r,): (Result<Node, RegistryError>,) = env
            .update_candid(s.registry, owner(1), "register", (args,))
            .unwrap();
        assert_eq!(r.unwrap_err(), RegistryError::BadSignature);
        // Reused key.
        assert_eq!(
            register(env, s, owner(1), 1, Role::Router).unwrap_err(),
            RegistryError::KeyAlreadyRegistered
        );
        assert_eq!(stats(env, s), before);
        // Stake under the minimum, no allowance, too small an allowance.
        assert_eq!(
            stake(env, s, owner(0), 1, R_MIN - 1, 180).unwrap_err(),
            RegistryError::StakeBelowMinimum { minimum_e8s: R_MIN }
        );
        let e = stake(env, s, owner(0), 1, R_MIN, 180).unwrap_err();
        assert!(
            matches!(&e, RegistryError::LedgerRefused(m) if m.contains("InsufficientAllowance")),
            "{e:?}"
        );
        approve(env, s, owner(0), R_MIN);
        let e = stake(env, s, owner(0), 1, R_MIN, 180).unwrap_err();
        assert!(
            matches!(&e, RegistryError::LedgerRefused(m) if m.contains("InsufficientAllowance")),
            "{e:?}"
        );
        assert_eq!(node_stake(env, s, 1).stake_e8s, 0);
        assert_eq!(
            balance(env, s, acct(owner(0))),
            GENESIS - FEE,
            "only the approval's fee"
        );
        // Owner-only methods.
        assert_eq!(
            stake(env, s, owner(1), 1, R_MIN, 180).unwrap_err(),
            RegistryError::NotOwner
        );
        let upd = UpdateNodeArgs {
            node_id: id(1),
            network_address: Some("x:1".into()),
            region: None,
            hardware: None,
        };
        let (r,): (Result<Node, RegistryError>,) = env
            .update_candid(s.registry, owner(1), "update_node", (upd.clone(),))
            .unwrap();
        assert_eq!(r.unwrap_err(), RegistryError::NotOwner);
        let (r,): (Result<Node, RegistryError>,) = env
            .update_candid(s.registry, owner(0), "update_node", (upd,))
            .unwrap();
        assert_eq!(r.unwrap().network_address, "x:1");
        // Epochs-only and governance-only methods.
        let rep = vec![PenaltyReport {
            node_id: id(1),
            missed_minutes: 600,
        }];
        let (r,): (Result<Vec<PenaltyApplied>, RegistryError>,) = env
            .update_candid(s.registry, owner(0), "apply_penalties", (1u64, rep))
            .unwrap();
        assert_eq!(r.unwrap_err(), RegistryError::NotEpochsCanister);
        let mut p = Params::default();
        p.router.min_stake_e8s = 1;
        let (v,): (Result<String, String>,) = env
            .query_candid(s.registry, owner(0), "validate_set_params", (p.clone(),))
            .unwrap();
        assert!(v.unwrap().contains("min_stake_e8s: 1"));
        let reject = env
            .update(
                s.registry,
                owner(0),
                "execute_set_params",
                Encode!(&p).unwrap(),
            )
            .unwrap_err();
        assert!(
            reject.message.contains("only governance"),
            "{}",
            reject.message
        );
        let reject = env
            .update(
                s.registry,
                owner(0),
                "execute_set_treasury",
                Encode!(&acct(owner(0))).unwrap(),
            )
            .unwrap_err();
        assert!(reject.message.contains("only governance"));
        let (c,): (Config,) = env
            .query_candid(s.registry, admin(), "get_config", ())
            .unwrap();
        assert_eq!(
            (c.params.router.min_stake_e8s, c.treasury),
            (R_MIN, treasury())
        );
        // Governance can.
        env.update(
            s.registry,
            gov(),
            "execute_set_params",
            Encode!(&p).unwrap(),
        )
        .unwrap();
        let (c,): (Config,) = env
            .query_candid(s.registry, admin(), "get_config", ())
            .unwrap();
        assert_eq!(c.params.router.min_stake_e8s, 1);
    });
}

#[test]
fn ledger_stopped_mid_operation_loses_nothing_and_pays_once() {
    on_all(|env, s| {
        register(env, s, owner(0), 1, Role::Router).unwrap();
        approve(env, s, owner(0), R_MIN + FEE);
        env.stop(s.ledger, admin()).unwrap();
        let e = stake(env, s, owner(0), 1, R_MIN, 180).unwrap_err();
        let RegistryError::LedgerUnavailable { movement_id, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(stats(env, s).pending_movements, 1);
        assert_eq!(
            node_stake(env, s, 1).stake_e8s,
            0,
            "not counted before the ledger confirms"
        );
        // A second stake is refused while the first is pending.
        assert_eq!(
            stake(env, s, owner(0), 1, R_MIN, 180).unwrap_err(),
            RegistryError::MovementPending(movement_id)
        );
        // Retries while stopped keep it pending.
        timer(env);
        let (n,): (u64,) = env
            .update_candid(s.registry, owner(5), "retry_pending", ())
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(stats(env, s).pending_movements, 1);
        env.start(s.ledger, admin()).unwrap();
        assert_eq!(balance(env, s, acct(owner(0))), GENESIS - FEE);
        timer(env);
        let (m,): (Option<Movement>,) = env
            .query_candid(s.registry, admin(), "movement", (movement_id,))
            .unwrap();
        let m = m.unwrap();
        assert!(matches!(m.status, MovementStatus::Done { .. }), "{m:?}");
        assert!(m.attempts >= 3);
        assert_eq!(node_stake(env, s, 1).stake_e8s, R_MIN);
        assert_eq!(
            balance(env, s, acct(owner(0))),
            GENESIS - R_MIN - 2 * FEE,
            "pulled once"
        );
        // Another retry is a no-op (the entry is done).
        let (n,): (u64,) = env
            .update_candid(s.registry, owner(5), "retry_pending", ())
            .unwrap();
        assert_eq!(n, 0);
        check_books(env, s);

        // The ledger is stopped when the term ends: the release waits, then happens once.
        env.stop(s.ledger, admin()).unwrap();
        env.advance_time(days(180));
        timer(env);
        timer(env);
        assert_eq!(stats(env, s).pending_movements, 1);
        assert_eq!(node_stake(env, s, 1).stake_e8s, R_MIN);
        env.start(s.ledger, admin()).unwrap();
        timer(env);
        assert_eq!(stats(env, s).pending_movements, 0);
        assert_eq!(node_stake(env, s, 1).stake_e8s, 0);
        assert_eq!(
            balance(env, s, acct(owner(0))),
            GENESIS - 3 * FEE,
            "released once"
        );
    });
}

#[test]
fn penalties_move_tokens_to_the_treasury_and_suspend() {
    on_all(|env, s| {
        register(env, s, owner(0), 1, Role::Validator).unwrap();
        approve_and_stake(env, s, owner(0), 1, V_MIN + 200 * E8S, 360);
        register(env, s, owner(1), 2, Role::Router).unwrap();
        approve_and_stake(env, s, owner(1), 2, R_MIN + 10 * E8S, 180);
        let rep = vec![
            PenaltyReport {
                node_id: id(1),
                missed_minutes: 120,
            },
            PenaltyReport {
                node_id: id(2),
                missed_minutes: 20,
            },
        ];
        let (r,): (Result<Vec<PenaltyApplied>, RegistryError>,) = env
            .update_candid(s.registry, epochs(), "apply_penalties", (1u64, rep.clone()))
            .unwrap();
        let r = r.unwrap();
        assert_eq!(
            (r[0].penalty_e8s, r[0].suspended),
            (2 * 11_570_000_000, true)
        );
        assert_eq!((r[1].penalty_e8s, r[1].suspended), (2 * 386_000_000, false));
        let (again,): (Result<Vec<PenaltyApplied>, RegistryError>,) = env
            .update_candid(s.registry, epochs(), "apply_penalties", (1u64, rep))
            .unwrap();
        assert!(again.is_err(), "a batch applies once");
        timer(env);
        assert_eq!(
            balance(env, s, treasury()),
            2 * 11_570_000_000 - FEE + 2 * 386_000_000 - FEE
        );
        assert_eq!(
            node_stake(env, s, 1).stake_e8s,
            V_MIN + 200 * E8S - 2 * 11_570_000_000
        );
        assert!(!node_stake(env, s, 1).active);
        assert_eq!(stats(env, s).active, vec![0, 1, 0]);
    });
}

#[test]
fn impeachment_with_and_without_majority() {
    on_all(|env, s| {
        for i in 0..5u8 {
            register(env, s, owner(u64::from(i)), 10 + i, Role::Router).unwrap();
            approve_and_stake(env, s, owner(u64::from(i)), 10 + i, R_MIN, 180);
        }
        let open = OpenCaseArgs {
            accuser: id(10),
            target: id(14),
            reason: "tampered router binary".into(),
        };
        let (c,): (Result<Case, RegistryError>,) = env
            .update_candid(s.registry, owner(0), "open_impeachment", (open,))
            .unwrap();
        let c = c.unwrap();
        assert_eq!(c.electorate, 4);
        let vote = |env: &mut dyn TestEnv,
                    i: u8,
                    case_id: u64,
                    yes: bool|
         -> Result<Case, RegistryError> {
            let v = VoteArgs {
                case_id,
                voter: id(10 + i),
                yes,
            };
            let (r,): (Result<Case, RegistryError>,) = env
                .update_candid(s.registry, owner(u64::from(i)), "vote_impeachment", (v,))
                .unwrap();
            r
        };
        vote(env, 0, c.id, true).unwrap();
        assert_eq!(
            vote(env, 0, c.id, true).unwrap_err(),
            RegistryError::AlreadyVoted
        );
        assert_eq!(
            vote(env, 4, c.id, false).unwrap_err(),
            RegistryError::NotEligible
        );
        assert_eq!(vote(env, 1, c.id, true).unwrap().status, CaseStatus::Open);
        assert!(matches!(
            vote(env, 2, c.id, true).unwrap().status,
            CaseStatus::Upheld { .. }
        ));
        timer(env);
        assert_eq!(balance(env, s, treasury()), R_MIN - FEE, "the whole stake");
        assert!(matches!(
            get_node(env, s, 14).state,
            NodeState::Impeached { .. }
        ));
        // Without a majority before the deadline: nothing happens.
        let open = OpenCaseArgs {
            accuser: id(10),
            target: id(13),
            reason: "attacks".into(),
        };
        let (c,): (Result<Case, RegistryError>,) = env
            .update_candid(s.registry, owner(0), "open_impeachment", (open,))
            .unwrap();
        let c = c.unwrap();
        vote(env, 0, c.id, true).unwrap();
        env.advance_time(days(8));
        let (c,): (Option<Case>,) = env
            .query_candid(s.registry, admin(), "impeachment_case", (c.id,))
            .unwrap();
        assert!(matches!(c.unwrap().status, CaseStatus::Rejected { .. }));
        assert_eq!(get_node(env, s, 13).state, NodeState::Live);
        assert_eq!(node_stake(env, s, 13).stake_e8s, R_MIN);
    });
}

#[test]
fn validator_set_is_3f_plus_1_as_validators_join_and_leave() {
    on_all(|env, s| {
        let (e0,): (Option<ValidatorSetSnapshot>,) = env
            .query_candid(s.registry, admin(), "validator_set", (0u64,))
            .unwrap();
        assert!(e0.unwrap().set.members.is_empty());
        let want = [1usize, 1, 1, 4, 4, 4, 7, 7, 7, 10, 10, 10, 13, 13];
        for (i, w) in want.iter().enumerate() {
            let seed = 40 + i as u8;
            register(env, s, owner(i as u64), seed, Role::Validator).unwrap();
            approve_and_stake(env, s, owner(i as u64), seed, V_MIN, 360);
            env.advance_time(days(1));
            let (ep,): (EpochInfo,) = env
                .query_candid(s.registry, admin(), "current_epoch", ())
                .unwrap();
            let (set,): (Option<ValidatorSetSnapshot>,) = env
                .query_candid(s.registry, admin(), "validator_set", (ep.epoch,))
                .unwrap();
            let set = set.unwrap();
            assert_eq!(set.set.len(), *w, "{} validators", i + 1);
            assert_eq!(set.set_id, set.set.id());
            let (future,): (Option<ValidatorSetSnapshot>,) = env
                .query_candid(s.registry, admin(), "validator_set", (ep.epoch + 1,))
                .unwrap();
            assert!(future.is_none());
        }
        // Two leave (retire, impeachment-free): 12 eligible -> 10.
        for i in 0..2u8 {
            let (r,): (Result<Node, RegistryError>,) = env
                .update_candid(
                    s.registry,
                    owner(u64::from(i)),
                    "retire_node",
                    (id(40 + i),),
                )
                .unwrap();
            r.unwrap();
        }
        let (ep,): (EpochInfo,) = env
            .query_candid(s.registry, admin(), "current_epoch", ())
            .unwrap();
        env.advance_time(days(1));
        let (set,): (Option<ValidatorSetSnapshot>,) = env
            .query_candid(s.registry, admin(), "validator_set", (ep.epoch + 1,))
            .unwrap();
        let set = set.unwrap();
        assert_eq!((set.set.len(), set.eligible), (10, 12));
        assert!(!set.set.contains(&id(40)));
        let (old,): (Option<ValidatorSetSnapshot>,) = env
            .query_candid(s.registry, admin(), "validator_set", (ep.epoch,))
            .unwrap();
        assert_eq!(old.unwrap().set.len(), 13, "past snapshots never change");
    });
}

#[test]
fn upgrade_keeps_state_and_timers() {
    on_all(|env, s| {
        register(env, s, owner(0), 1, Role::Compute).unwrap();
        approve_and_stake(env, s, owner(0), 1, 1000 * E8S, 7);
        // A pull left pending by a stopped ledger survives the upgrade and completes once.
        register(env, s, owner(1), 2, Role::Router).unwrap();
        approve(env, s, owner(1), R_MIN + FEE);
        env.stop(s.ledger, admin()).unwrap();
        assert!(matches!(
            stake(env, s, owner(1), 2, R_MIN, 180),
            Err(RegistryError::LedgerUnavailable { .. })
        ));
        let wasm = canister_wasm("registry");
        env.upgrade(
            s.registry,
            &wasm,
            Encode!(&Some(RegistryArg::Upgrade)).unwrap(),
            admin(),
        )
        .unwrap();
        assert_eq!(get_node(env, s, 1).owner, owner(0));
        assert_eq!(stats(env, s).pending_movements, 1);
        env.start(s.ledger, admin()).unwrap();
        timer(env);
        assert_eq!(stats(env, s).pending_movements, 0);
        assert_eq!(node_stake(env, s, 2).stake_e8s, R_MIN);
        assert_eq!(balance(env, s, acct(owner(1))), GENESIS - R_MIN - 2 * FEE);
        let bad = RegistryArg::Init(emc_registry::InitArgs {
            ledger: s.ledger,
            governance: gov(),
            treasury: treasury(),
            epochs_canister: None,
            ledger_fee_e8s: None,
            params: None,
            genesis_time: None,
        });
        assert!(env
            .upgrade(s.registry, &wasm, Encode!(&Some(bad)).unwrap(), admin())
            .is_err());
        env.advance_time(days(7));
        timer(env);
        assert_eq!(
            node_stake(env, s, 1).stake_e8s,
            0,
            "the timer runs after the upgrade"
        );
    });
}

#[test]
fn paged_queries_and_governance_pairs() {
    on_all(|env, s| {
        for seed in 1..=5u8 {
            register(env, s, owner(0), seed, Role::Compute).unwrap();
        }
        register(env, s, owner(1), 9, Role::Router).unwrap();
        let mut seen = Vec::new();
        let mut after: Option<NodeId> = None;
        loop {
            let (page,): (Vec<Node>,) = env
                .query_candid(
                    s.registry,
                    admin(),
                    "nodes_by_owner",
                    (owner(0), after, 2u32),
                )
                .unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 2);
            seen.extend(page.iter().map(|n| n.id));
            after = page.last().map(|n| n.id);
        }
        let mut want: Vec<NodeId> = (1..=5u8).map(id).collect();
        want.sort();
        assert_eq!(seen, want, "paged by id, each node once");
        let (routers,): (Vec<Node>,) = env
            .query_candid(
                s.registry,
                admin(),
                "nodes_by_role",
                (Role::Router, None::<NodeId>, 10u32),
            )
            .unwrap();
        assert_eq!(routers.len(), 1);
        // The trusted epochs canister: validate renders, execute is governance-only.
        let new_epochs = Some(user(77));
        let (v,): (Result<String, String>,) = env
            .query_candid(
                s.registry,
                owner(0),
                "validate_set_epochs_canister",
                (new_epochs,),
            )
            .unwrap();
        assert!(v.unwrap().contains("set the epochs canister"));
        let reject = env
            .update(
                s.registry,
                owner(0),
                "execute_set_epochs_canister",
                Encode!(&new_epochs).unwrap(),
            )
            .unwrap_err();
        assert!(reject.message.contains("only governance"));
        env.update(
            s.registry,
            gov(),
            "execute_set_epochs_canister",
            Encode!(&new_epochs).unwrap(),
        )
        .unwrap();
        let rep = vec![PenaltyReport {
            node_id: id(1),
            missed_minutes: 60,
        }];
        let (r,): (Result<Vec<PenaltyApplied>, RegistryError>,) = env
            .update_candid(s.registry, epochs(), "apply_penalties", (1u64, rep.clone()))
            .unwrap();
        assert_eq!(
            r.unwrap_err(),
            RegistryError::NotEpochsCanister,
            "the old one is no longer trusted"
        );
        let (r,): (Result<Vec<PenaltyApplied>, RegistryError>,) = env
            .update_candid(s.registry, user(77), "apply_penalties", (1u64, rep))
            .unwrap();
        assert_eq!(
            r.unwrap()[0].penalty_e8s,
            0,
            "an unstaked compute node pays nothing"
        );
        // Treasury change.
        let t = Account {
            owner: user(78),
            subaccount: None,
        };
        env.update(
            s.registry,
            gov(),
            "execute_set_treasury",
            Encode!(&t).unwrap(),
        )
        .unwrap();
        let (c,): (Config,) = env
            .query_candid(s.registry, admin(), "get_config", ())
            .unwrap();
        assert_eq!((c.treasury, c.epochs_canister), (t, new_epochs));
    });
}

/// A "ledger" whose every call fails like a trap (the test canister has no ICRC methods, so
/// each call is rejected with a canister error): the pull stays pending and counts nothing;
/// past the ledger's dedup window it becomes Stuck (never retried: a retry could pay twice),
/// and governance settles it after reading the ledger's blocks.
#[test]
fn failing_ledger_leaves_the_pull_pending_then_stuck_until_governance_settles() {
    for mut env in emc_test_env::all() {
        let env = env.as_mut();
        let fake = env
            .install(
                &canister_wasm("test-canister"),
                Encode!(&None::<()>).unwrap(),
                vec![admin()],
            )
            .unwrap();
        let args = RegistryArg::Init(emc_registry::InitArgs {
            ledger: fake,
            governance: gov(),
            treasury: treasury(),
            epochs_canister: None,
            ledger_fee_e8s: Some(FEE),
            params: None,
            genesis_time: None,
        });
        let registry = env
            .install(
                &canister_wasm("registry"),
                Encode!(&args).unwrap(),
                vec![admin()],
            )
            .unwrap();
        let s = Setup {
            ledger: fake,
            registry,
        };
        register(env, &s, owner(0), 1, Role::Router).unwrap();
        let e = stake(env, &s, owner(0), 1, R_MIN, 180).unwrap_err();
        let RegistryError::LedgerUnavailable { movement_id, .. } = e else {
            panic!("{e:?}")
        };
        env.advance_time(Duration::from_secs(23 * 3600));
        let (m,): (Option<Movement>,) = env
            .query_candid(registry, admin(), "movement", (movement_id,))
            .unwrap();
        let m = m.unwrap();
        assert_eq!(m.status, MovementStatus::Pending);
        assert!(m.attempts >= 2, "retried by the timer");
        assert_eq!(node_stake(env, &s, 1).stake_e8s, 0);
        env.advance_time(Duration::from_secs(3600));
        let (m,): (Option<Movement>,) = env
            .query_candid(registry, admin(), "movement", (movement_id,))
            .unwrap();
        assert_eq!(m.unwrap().status, MovementStatus::Stuck);
        assert_eq!(
            stake(env, &s, owner(0), 1, R_MIN, 180).unwrap_err(),
            RegistryError::MovementPending(movement_id)
        );
        let settle = ResolveMovementArgs {
            movement_id,
            executed_in_block: None,
        };
        let (v,): (Result<String, String>,) = env
            .query_candid(
                registry,
                admin(),
                "validate_resolve_movement",
                (settle.clone(),),
            )
            .unwrap();
        assert!(v.unwrap().contains("never executed"));
        assert!(env
            .update(
                registry,
                owner(0),
                "execute_resolve_movement",
                Encode!(&settle).unwrap()
            )
            .is_err());
        env.update(
            registry,
            gov(),
            "execute_resolve_movement",
            Encode!(&settle).unwrap(),
        )
        .unwrap();
        let (m,): (Option<Movement>,) = env
            .query_candid(registry, admin(), "movement", (movement_id,))
            .unwrap();
        assert!(matches!(m.unwrap().status, MovementStatus::Failed { .. }));
        assert_eq!(node_stake(env, &s, 1).stake_e8s, 0);
        assert_eq!(stats(env, &s).pending_movements, 0);
        assert_eq!(stats(env, &s).total_stake_e8s, 0);
    }
}

fn epoch_nodes_page(
    env: &mut dyn TestEnv,
    s: &Setup,
    epoch: u64,
    start_after: Option<NodeId>,
    limit: u32,
) -> Option<EpochNodesPage> {
    let (r,): (Option<EpochNodesPage>,) = env
        .query_candid(
            s.registry,
            admin(),
            "epoch_nodes",
            (EpochNodesArgs {
                epoch,
                start_after,
                limit,
            },),
        )
        .unwrap();
    r
}

/// Every node of an epoch's snapshot, one node per page.
fn epoch_nodes(env: &mut dyn TestEnv, s: &Setup, epoch: u64) -> Option<Vec<EpochNode>> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = epoch_nodes_page(env, s, epoch, after, 1)?;
        assert!(page.nodes.len() <= 1);
        all.extend(page.nodes.iter().cloned());
        match page.next {
            Some(n) => after = Some(n),
            None => {
                assert_eq!(all.len() as u64, page.total);
                return Some(all);
            }
        }
    }
}

#[test]
fn epoch_node_snapshots_are_fixed_per_epoch_and_survive_an_upgrade() {
    on_all(|env, s| {
        assert_eq!(
            epoch_nodes(env, s, 0),
            Some(vec![]),
            "epoch 0 was taken at install, empty"
        );
        assert_eq!(epoch_nodes_page(env, s, 1, None, 0), None);
        register(env, s, owner(0), 1, Role::Validator).unwrap();
        approve_and_stake(env, s, owner(0), 1, V_MIN, 360);
        register(env, s, owner(1), 2, Role::Compute).unwrap();
        approve_and_stake(env, s, owner(1), 2, 1000 * E8S, 30);
        register(env, s, owner(2), 3, Role::Router).unwrap();
        register(env, s, owner(3), 4, Role::Compute).unwrap();
        env.advance_time(days(1));
        let (ep,): (EpochInfo,) = env
            .query_candid(s.registry, admin(), "current_epoch", ())
            .unwrap();
        assert_eq!(ep.epoch, 1);
        let snap = epoch_nodes(env, s, 1).unwrap();
        let mut want = vec![
            EpochNode {
                id: id(1),
                owner: owner(0),
                role: Role::Validator,
                stake_e8s: V_MIN,
                multiplier: E_SCALE,
                candidate: false,
            },
            // The compute nodes have no PoC yet: candidates, listed so that they are
            // challenged.
            EpochNode {
                id: id(2),
                owner: owner(1),
                role: Role::Compute,
                stake_e8s: 1000 * E8S,
                multiplier: 27_000,
                candidate: true,
            },
            EpochNode {
                id: id(4),
                owner: owner(3),
                role: Role::Compute,
                stake_e8s: 0,
                multiplier: E_SCALE,
                candidate: true,
            },
        ];
        want.sort_by_key(|n| n.id);
        assert_eq!(
            snap, want,
            "the members and candidates, not the unstaked router"
        );
        let full = epoch_nodes_page(env, s, 1, None, 0).unwrap();
        assert_eq!((full.nodes, full.next, full.total), (want.clone(), None, 3));

        // Later changes do not touch it, nor does an upgrade.
        approve_and_stake(env, s, owner(2), 3, R_MIN, 180);
        timer(env);
        env.upgrade(
            s.registry,
            &canister_wasm("registry"),
            Encode!(&Some(RegistryArg::Upgrade)).unwrap(),
            admin(),
        )
        .unwrap();
        assert_eq!(epoch_nodes(env, s, 1).unwrap(), want);
        assert_eq!(epoch_nodes_page(env, s, 2, None, 0), None);
        env.advance_time(days(1));
        let next = epoch_nodes(env, s, 2).unwrap();
        assert_eq!(next.len(), 4, "the router staked in epoch 1 is in epoch 2");
        assert!(next.iter().any(|n| n.id == id(3) && n.stake_e8s == R_MIN));
    });
}
