//! Native tests of the pure registry core (no wasm): registration, terms, the journal state
//! machine with every ledger outcome, penalties, impeachment, validator sets, storage versions.
//! `check_invariants` runs after every step.

use candid::Principal;
use ed25519_dalek::{Signer, SigningKey};
use emc_registry::registry::{EPOCH_NODES_KEPT, MAX_EPOCH_NODES_PAGE, STUCK_MARGIN, TX_WINDOW};
use emc_registry::rules::registration_message;
use emc_registry::*;
use emc_types::NodeId;
use ic_stable_structures::VectorMemory;
use icrc_ledger_types::icrc1::account::Account;
use serde_bytes::ByteBuf;

pub(super) const T0: u64 = 1_700_000_000 * SEC;
pub(super) const FEE: u64 = 10_000;

pub(super) fn p(n: u8) -> Principal {
    Principal::from_slice(&[n, 9, 9, 9, 9, 1])
}
pub(super) fn me() -> Principal {
    p(100)
}
pub(super) fn gov() -> Principal {
    p(101)
}
pub(super) fn epochs() -> Principal {
    p(102)
}
pub(super) fn treasury() -> Account {
    Account {
        owner: p(103),
        subaccount: None,
    }
}

pub(super) fn new_registry() -> Registry<VectorMemory> {
    let args = InitArgs {
        ledger: p(104),
        governance: gov(),
        treasury: treasury(),
        epochs_canister: Some(epochs()),
        ledger_fee_e8s: Some(FEE),
        params: None,
        genesis_time: None,
    };
    Registry::init(VectorMemory::default(), &args, T0, me()).unwrap()
}

pub(super) fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

pub(super) fn register(
    r: &mut Registry<VectorMemory>,
    owner: Principal,
    seed: u8,
    role: Role,
    now: u64,
) -> Result<Node, RegistryError> {
    let nonce = r.registration_nonce(owner, now).unwrap();
    let k = key(seed);
    let sig = k.sign(&registration_message(&owner, &nonce, role));
    let args = RegisterArgs {
        role,
        public_key: ByteBuf::from(k.verifying_key().to_bytes().to_vec()),
        network_address: format!("10.0.0.{seed}:4000"),
        region: "eu-west".into(),
        hardware: "8x H100".into(),
        signature: ByteBuf::from(sig.to_bytes().to_vec()),
    };
    let out = r.register(owner, &args, now);
    r.check_invariants(now).unwrap();
    out
}

pub(super) fn id(seed: u8) -> NodeId {
    NodeId(key(seed).verifying_key().to_bytes())
}

/// Stakes and confirms at once (the ledger says Ok).
pub(super) fn stake(
    r: &mut Registry<VectorMemory>,
    owner: Principal,
    seed: u8,
    amount: u64,
    days: u32,
    now: u64,
) {
    let m = r
        .begin_stake(
            owner,
            &StakeArgs {
                node_id: id(seed),
                amount_e8s: amount,
                term_days: days,
            },
            now,
        )
        .unwrap();
    let m = r.prepare_attempt(m.id, now).unwrap();
    let done = r.finish(m.id, &LedgerOutcome::Done(m.id), now).unwrap();
    assert!(matches!(done.status, MovementStatus::Done { .. }));
    r.check_invariants(now).unwrap();
}

/// Runs the timer's work with a ledger that confirms everything; returns the movements made.
pub(super) fn tick_ok(r: &mut Registry<VectorMemory>, now: u64) -> Vec<Movement> {
    r.process_time(now);
    let ms = r.plan_movements(now, 100);
    let mut out = vec![];
    for m in ms {
        let m = r.prepare_attempt(m.id, now).unwrap();
        out.push(
            r.finish(m.id, &LedgerOutcome::Done(1000 + m.id), now)
                .unwrap(),
        );
    }
    r.check_invariants(now).unwrap();
    out
}

pub(super) const V_MIN: u64 = 1_000_000 * E8S;

#[test]
fn registration_checks() {
    let mut r = new_registry();
    let n = register(&mut r, p(1), 1, Role::Validator, T0).unwrap();
    assert_eq!(n.id, id(1));
    assert_eq!(r.get_node(&id(1)).unwrap().owner, p(1));
    // Reused key (by anyone).
    assert_eq!(
        register(&mut r, p(2), 1, Role::Router, T0),
        Err(RegistryError::KeyAlreadyRegistered)
    );
    // No nonce, and a nonce is used once.
    let k = key(3);
    let nonce = r.registration_nonce(p(3), T0).unwrap();
    let sig = k.sign(&registration_message(&p(3), &nonce, Role::Router));
    let mut args = RegisterArgs {
        role: Role::Router,
        public_key: ByteBuf::from(k.verifying_key().to_bytes().to_vec()),
        network_address: "a:1".into(),
        region: "r".into(),
        hardware: String::new(),
        signature: ByteBuf::from(sig.to_bytes().to_vec()),
    };
    // Signature over another role / owner fails.
    args.role = Role::Compute;
    assert_eq!(
        r.register(p(3), &args, T0),
        Err(RegistryError::BadSignature)
    );
    args.role = Role::Router;
    assert_eq!(r.register(p(4), &args, T0), Err(RegistryError::NoNonce));
    let _ = r.registration_nonce(p(4), T0).unwrap();
    assert_eq!(
        r.register(p(4), &args, T0),
        Err(RegistryError::BadSignature)
    );
    // Expired nonce.
    assert_eq!(
        r.register(p(3), &args, T0 + 601 * SEC),
        Err(RegistryError::NoNonce)
    );
    // Bad key, bad text.
    let mut bad = args.clone();
    bad.public_key = ByteBuf::from(vec![1, 2, 3]);
    assert_eq!(r.register(p(3), &bad, T0), Err(RegistryError::BadPublicKey));
    let mut bad = args.clone();
    bad.network_address = String::new();
    assert!(matches!(
        r.register(p(3), &bad, T0),
        Err(RegistryError::InvalidArgument(_))
    ));
    assert_eq!(
        r.register(Principal::anonymous(), &args, T0),
        Err(RegistryError::Anonymous)
    );
    assert_eq!(r.stats().nodes, 1, "failed registrations changed nothing");
    r.register(p(3), &args, T0).unwrap();
    assert_eq!(
        r.register(p(3), &args, T0),
        Err(RegistryError::NoNonce),
        "nonce is one-time"
    );
    r.check_invariants(T0).unwrap();
    // Owner-only metadata update and retirement.
    let upd = UpdateNodeArgs {
        node_id: id(3),
        network_address: Some("b:2".into()),
        region: None,
        hardware: None,
    };
    assert_eq!(r.update_node(p(1), &upd, T0), Err(RegistryError::NotOwner));
    assert_eq!(
        r.update_node(p(3), &upd, T0).unwrap().network_address,
        "b:2"
    );
    assert_eq!(r.retire(p(1), &id(3), T0), Err(RegistryError::NotOwner));
    r.retire(p(3), &id(3), T0).unwrap();
    assert_eq!(r.retire(p(3), &id(3), T0), Err(RegistryError::NodeNotLive));
    assert_eq!(r.nodes_by_owner(p(3), None, 10).len(), 1);
    assert_eq!(r.nodes_by_role(Role::Validator, None, 10).len(), 1);
    assert_eq!(r.nodes_by_role(Role::Router, Some(id(3)), 10).len(), 0);
    r.check_invariants(T0).unwrap();
}

#[test]
fn validator_lifecycle_term_release_and_renewal() {
    let mut r = new_registry();
    register(&mut r, p(1), 1, Role::Validator, T0).unwrap();
    let s = |amount, days| StakeArgs {
        node_id: id(1),
        amount_e8s: amount,
        term_days: days,
    };
    assert_eq!(
        r.begin_stake(p(1), &s(V_MIN - 1, 360), T0),
        Err(RegistryError::StakeBelowMinimum { minimum_e8s: V_MIN })
    );
    assert!(matches!(
        r.begin_stake(p(1), &s(V_MIN, 359), T0),
        Err(RegistryError::BadTerm(_))
    ));
    assert_eq!(
        r.begin_stake(p(2), &s(V_MIN, 360), T0),
        Err(RegistryError::NotOwner)
    );
    assert_eq!(r.stats().movements, 0, "refused stakes write nothing");
    stake(&mut r, p(1), 1, V_MIN, 360, T0);
    let info = r.stake_info(&id(1), T0).unwrap();
    assert!(info.active);
    assert_eq!(info.stake_e8s, V_MIN);
    assert_eq!(info.account.owner, me());
    assert_eq!(
        r.begin_stake(p(1), &s(V_MIN, 360), T0),
        Err(RegistryError::AlreadyStaked)
    );
    // Renewal: one, at least 180 days, before the end.
    let renew = |days| RenewArgs {
        node_id: id(1),
        days,
    };
    assert!(matches!(
        r.renew(p(1), &renew(100), T0 + DAY),
        Err(RegistryError::BadTerm(_))
    ));
    let t = r.renew(p(1), &renew(180), T0 + DAY).unwrap();
    assert_eq!(t.end, T0 + 540 * DAY);
    assert!(matches!(
        r.renew(p(1), &renew(180), T0 + 2 * DAY),
        Err(RegistryError::BadTerm(_))
    ));
    // Nothing happens before the end.
    assert!(tick_ok(&mut r, T0 + 539 * DAY).is_empty());
    // At the end: released to the owner, less the ledger fee.
    let ms = tick_ok(&mut r, T0 + 540 * DAY);
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].kind, MovementKind::Release);
    assert_eq!(
        ms[0].to,
        Account {
            owner: p(1),
            subaccount: None
        }
    );
    assert_eq!(ms[0].amount_e8s, V_MIN - FEE);
    let info = r.stake_info(&id(1), T0 + 540 * DAY).unwrap();
    assert_eq!((info.stake_e8s, info.term, info.active), (0, None, false));
    assert!(tick_ok(&mut r, T0 + 541 * DAY).is_empty(), "released once");
    // The node can stake again.
    stake(&mut r, p(1), 1, V_MIN, 360, T0 + 541 * DAY);
}

#[test]
fn compute_terms_and_multipliers() {
    let mut r = new_registry();
    register(&mut r, p(1), 1, Role::Compute, T0).unwrap();
    assert_eq!(r.e_multiplier(&id(1), T0), Some(E_SCALE));
    let s = |amount, days| StakeArgs {
        node_id: id(1),
        amount_e8s: amount,
        term_days: days,
    };
    assert!(matches!(
        r.begin_stake(p(1), &s(1000 * E8S, 8), T0),
        Err(RegistryError::BadTerm(_))
    ));
    // 1000 x E with E = 1.4451.
    r.report_compute_e(epochs(), &id(1), 14_451, T0).unwrap();
    assert_eq!(
        r.report_compute_e(p(1), &id(1), 14_451, T0),
        Err(RegistryError::NotEpochsCanister)
    );
    assert_eq!(
        r.begin_stake(p(1), &s(1000 * E8S, 90), T0),
        Err(RegistryError::StakeBelowMinimum {
            minimum_e8s: 144_510_000_000
        })
    );
    stake(&mut r, p(1), 1, 144_510_000_000, 90, T0);
    assert_eq!(r.e_multiplier(&id(1), T0), Some(62_000));
    // Renewal with another allowed term changes the multiplier.
    r.renew(
        p(1),
        &RenewArgs {
            node_id: id(1),
            days: 180,
        },
        T0 + DAY,
    )
    .unwrap();
    assert_eq!(r.e_multiplier(&id(1), T0 + DAY), Some(100_000));
    let ms = tick_ok(&mut r, T0 + 270 * DAY);
    assert_eq!(ms[0].kind, MovementKind::Release);
    assert_eq!(r.e_multiplier(&id(1), T0 + 270 * DAY), Some(E_SCALE));
}

/// The epochs canister's batch of compute E reports: its caller only, at most `MAX_REPORTS`;
/// unknown nodes, other roles and E of 0 or out of range are skipped, the rest applied.
#[test]
fn compute_e_batches_skip_what_the_single_call_refuses() {
    let mut r = new_registry();
    register(&mut r, p(1), 1, Role::Compute, T0).unwrap();
    register(&mut r, p(2), 2, Role::Compute, T0).unwrap();
    register(&mut r, p(3), 3, Role::Router, T0).unwrap();
    let ce = |seed: u8, e_fixed: u64| ComputeE {
        node_id: id(seed),
        e_fixed,
    };
    let batch = vec![
        ce(1, 14_451),
        ce(2, 0),
        ce(3, 20_000),
        ce(9, 10_000),
        ce(2, registry::MAX_E_FIXED + 1),
    ];
    assert_eq!(
        r.report_compute_es(p(1), &batch, T0),
        Err(RegistryError::NotEpochsCanister)
    );
    assert_eq!(r.get_node(&id(1)).unwrap().poc_e, E_SCALE);
    let too_many = vec![ce(1, 14_451); registry::MAX_REPORTS + 1];
    assert!(matches!(
        r.report_compute_es(epochs(), &too_many, T0),
        Err(RegistryError::InvalidArgument(_))
    ));
    assert_eq!(r.get_node(&id(1)).unwrap().poc_e, E_SCALE);
    assert_eq!(r.report_compute_es(epochs(), &batch, T0), Ok(1));
    r.check_invariants(T0).unwrap();
    assert_eq!(r.get_node(&id(1)).unwrap().poc_e, 14_451);
    assert_eq!(r.get_node(&id(2)).unwrap().poc_e, E_SCALE, "E = 0 ignored");
    assert_eq!(r.get_node(&id(3)).unwrap().poc_e, E_SCALE, "not compute");
    assert!(r.get_node(&id(9)).is_none());
    // The reported E sets the minimum stake (1000 x E), as the single call does.
    assert_eq!(
        r.begin_stake(
            p(1),
            &StakeArgs {
                node_id: id(1),
                amount_e8s: 1000 * E8S,
                term_days: 90,
            },
            T0
        ),
        Err(RegistryError::StakeBelowMinimum {
            minimum_e8s: 144_510_000_000
        })
    );
    // A node reported twice keeps the later E; an empty batch applies nothing.
    assert_eq!(
        r.report_compute_es(epochs(), &[ce(2, 5_000), ce(2, 7_000)], T0),
        Ok(2)
    );
    assert_eq!(r.get_node(&id(2)).unwrap().poc_e, 7_000);
    assert_eq!(r.report_compute_es(epochs(), &[], T0), Ok(0));
    r.check_invariants(T0).unwrap();
}

#[test]
fn journal_retries_never_pay_twice() {
    let mut r = new_registry();
    register(&mut r, p(1), 1, Role::Router, T0).unwrap();
    let m = r
        .begin_stake(
            p(1),
            &StakeArgs {
                node_id: id(1),
                amount_e8s: 100_000 * E8S,
                term_days: 180,
            },
            T0,
        )
        .unwrap();
    let first = r.prepare_attempt(m.id, T0).unwrap();
    // The ledger is stopped: the entry stays pending, the stake is not counted.
    r.finish(m.id, &LedgerOutcome::Unavailable("stopped".into()), T0)
        .unwrap();
    r.check_invariants(T0).unwrap();
    assert_eq!(r.stake_info(&id(1), T0).unwrap().stake_e8s, 0);
    assert_eq!(r.pending_movements(10).len(), 1);
    // No second movement while one is pending.
    assert_eq!(
        r.begin_stake(
            p(1),
            &StakeArgs {
                node_id: id(1),
                amount_e8s: 100_000 * E8S,
                term_days: 180
            },
            T0
        ),
        Err(RegistryError::MovementPending(m.id))
    );
    assert!(r.plan_movements(T0, 10).is_empty());
    // The retry carries the same created_at_time and id (hence memo): the ledger's dedup.
    let retry = r.prepare_attempt(m.id, T0 + 60 * SEC).unwrap();
    assert_eq!(
        (retry.created_at_time, retry.id, retry.attempts),
        (first.created_at_time, first.id, 2)
    );
    // The first call had in fact executed: the retry gets Duplicate -> Done, counted once.
    r.finish(m.id, &LedgerOutcome::Done(7), T0 + 60 * SEC)
        .unwrap();
    r.finish(m.id, &LedgerOutcome::Done(7), T0 + 61 * SEC)
        .unwrap();
    assert_eq!(r.stake_info(&id(1), T0).unwrap().stake_e8s, 100_000 * E8S);
    assert_eq!(r.stats().total_stake_e8s, 100_000 * E8S);
    assert!(r.pending_movements(10).is_empty());
    r.check_invariants(T0 + 61 * SEC).unwrap();
}

#[test]
fn refusals_and_bad_fee() {
    let mut r = new_registry();
    register(&mut r, p(1), 1, Role::Router, T0).unwrap();
    let a = StakeArgs {
        node_id: id(1),
        amount_e8s: 100_000 * E8S,
        term_days: 180,
    };
    let m = r.begin_stake(p(1), &a, T0).unwrap();
    let m = r
        .finish(
            m.id,
            &LedgerOutcome::Refused("InsufficientAllowance".into()),
            T0,
        )
        .unwrap();
    assert!(matches!(m.status, MovementStatus::Failed { .. }));
    assert_eq!(r.stake_info(&id(1), T0).unwrap().stake_e8s, 0);
    assert!(
        r.plan_movements(T0, 10).is_empty(),
        "a failed pull owes nothing"
    );
    // Bad fee: the fee is learned, the next movement uses it.
    let m = r.begin_stake(p(1), &a, T0).unwrap();
    r.finish(m.id, &LedgerOutcome::BadFee(20_000), T0).unwrap();
    let m = r.begin_stake(p(1), &a, T0).unwrap();
    assert_eq!(m.fee_e8s, 20_000);
    r.finish(m.id, &LedgerOutcome::Done(3), T0).unwrap();
    // An outgoing refusal is planned again.
    r.process_time(T0 + 180 * DAY);
    let rel = r.plan_movements(T0 + 180 * DAY, 10);
    assert_eq!(rel.len(), 1);
    r.finish(rel[0].id, &LedgerOutcome::BadFee(30_000), T0 + 180 * DAY)
        .unwrap();
    let rel2 = r.plan_movements(T0 + 180 * DAY, 10);
    assert_eq!(
        (rel2[0].kind, rel2[0].fee_e8s, rel2[0].amount_e8s),
        (MovementKind::Release, 30_000, 100_000 * E8S - 30_000)
    );
    r.finish(rel2[0].id, &LedgerOutcome::Done(9), T0 + 180 * DAY)
        .unwrap();
    assert_eq!(r.stats().total_stake_e8s, 0);
    r.check_invariants(T0 + 180 * DAY).unwrap();
}

#[test]
fn unconfirmed_past_the_dedup_window_is_stuck_until_governance_resolves() {
    let mut r = new_registry();
    register(&mut r, p(1), 1, Role::Router, T0).unwrap();
    let m = r
        .begin_stake(
            p(1),
            &StakeArgs {
                node_id: id(1),
                amount_e8s: 100_000 * E8S,
                term_days: 180,
            },
            T0,
        )
        .unwrap();
    r.finish(m.id, &LedgerOutcome::Unavailable("stopped".into()), T0)
        .unwrap();
    assert!(r
        .prepare_attempt(m.id, T0 + TX_WINDOW - STUCK_MARGIN - 1)
        .is_some());
    assert!(r.prepare_attempt(m.id, T0 + TX_WINDOW).is_none());
    assert_eq!(r.movement(m.id).unwrap().status, MovementStatus::Stuck);
    r.check_invariants(T0 + TX_WINDOW).unwrap();
    assert_eq!(
        r.resolve_movement(p(1), m.id, Some(5), T0 + TX_WINDOW),
        Err(RegistryError::NotGovernance)
    );
    assert!(r
        .validate_resolve_movement(&ResolveMovementArgs {
            movement_id: m.id,
            executed_in_block: Some(5)
        })
        .is_ok());
    r.resolve_movement(gov(), m.id, Some(5), T0 + TX_WINDOW)
        .unwrap();
    assert_eq!(
        r.stake_info(&id(1), T0 + TX_WINDOW).unwrap().stake_e8s,
        100_000 * E8S
    );
    r.check_invariants(T0 + TX_WINDOW).unwrap();
}

#[test]
fn penalties_suspension_and_treasury() {
    let mut r = new_registry();
    register(&mut r, p(1), 1, Role::Validator, T0).unwrap();
    register(&mut r, p(2), 2, Role::Router, T0).unwrap();
    register(&mut r, p(3), 3, Role::Compute, T0).unwrap();
    // Admitted (a passed PoC at E = 1): a compute member.
    r.report_compute_e(epochs(), &id(3), E_SCALE, T0).unwrap();
    stake(&mut r, p(1), 1, V_MIN + 200 * E8S, 360, T0);
    stake(&mut r, p(2), 2, 100_000 * E8S, 180, T0);
    stake(&mut r, p(3), 3, 7000 * E8S, 7, T0);
    let rep = |seed, minutes| PenaltyReport {
        node_id: id(seed),
        missed_minutes: minutes,
    };
    assert_eq!(
        r.apply_penalties(p(1), 1, &[rep(1, 60)], T0),
        Err(RegistryError::NotEpochsCanister)
    );
    assert_eq!(
        r.stake_info(&id(1), T0).unwrap().penalty_due_e8s,
        0,
        "a refused batch applies nothing"
    );
    // A node the registry does not know owes nothing and does not sink the batch.
    let unknown = PenaltyReport {
        node_id: NodeId([9; 32]),
        missed_minutes: 60,
    };
    let mut out = r
        .apply_penalties(
            epochs(),
            1,
            &[rep(1, 60), rep(2, 25), unknown, rep(3, 60)],
            T0,
        )
        .unwrap();
    assert_eq!(out.len(), 4);
    assert_eq!(
        (out[2].node_id, out[2].penalty_e8s, out[2].suspended),
        (NodeId([9; 32]), 0, false)
    );
    out.remove(2);
    assert_eq!(out[0].penalty_e8s, 11_570_000_000);
    assert!(
        !out[0].suspended,
        "1,000,200 - 115.7 EMC is above the minimum"
    );
    assert_eq!(out[1].penalty_e8s, 2 * 386_000_000);
    assert!(out[1].suspended, "the router dropped under 100,000 EMC");
    assert_eq!(out[2].penalty_e8s, 4_166_666_666);
    assert!(!out[2].suspended, "7000 - 41.67 EMC is above 1000 x E");
    assert!(
        matches!(
            r.apply_penalties(epochs(), 1, &[rep(1, 60)], T0),
            Err(RegistryError::InvalidArgument(_))
        ),
        "batch replay"
    );
    r.check_invariants(T0).unwrap();
    // Tokens go to the treasury; the stake decreases by exactly the penalty.
    let ms = tick_ok(&mut r, T0 + SEC);
    assert_eq!(ms.len(), 3);
    assert!(ms
        .iter()
        .all(|m| m.kind == MovementKind::Penalty && m.to == treasury()));
    assert_eq!(
        r.stake_info(&id(1), T0).unwrap().stake_e8s,
        V_MIN + 200 * E8S - 11_570_000_000
    );
    assert_eq!(
        r.stake_info(&id(2), T0).unwrap().stake_e8s,
        100_000 * E8S - 772_000_000
    );
    assert_eq!(
        ms.iter().find(|m| m.node_id == id(2)).unwrap().amount_e8s,
        772_000_000 - FEE
    );
    // A second validator hour suspends it (1,000,200 - 231.4 < 1,000,000).
    let out = r
        .apply_penalties(epochs(), 2, &[rep(1, 60)], T0 + SEC)
        .unwrap();
    assert!(out[0].suspended);
    assert!(!r.stake_info(&id(1), T0 + SEC).unwrap().active);
    assert_eq!(r.stats().active, vec![0, 0, 1]);
    tick_ok(&mut r, T0 + 2 * SEC);
    // Suspended stakes are still released at term end.
    let ms = tick_ok(&mut r, T0 + 7 * DAY);
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].kind, MovementKind::Release);
}

#[test]
fn impeachment_with_and_without_majority() {
    let mut r = new_registry();
    for s in 1..=5u8 {
        register(&mut r, p(s), s, Role::Router, T0).unwrap();
        stake(&mut r, p(s), s, 100_000 * E8S, 180, T0);
    }
    register(&mut r, p(9), 9, Role::Router, T0).unwrap(); // unstaked: not a member
    let open = |accuser, target| OpenCaseArgs {
        accuser: id(accuser),
        target: id(target),
        reason: "tampered code".into(),
    };
    assert_eq!(
        r.open_case(p(9), &open(9, 1), T0),
        Err(RegistryError::NotEligible)
    );
    assert_eq!(
        r.open_case(p(2), &open(1, 5), T0),
        Err(RegistryError::NotOwner)
    );
    let c = r.open_case(p(1), &open(1, 5), T0).unwrap();
    assert_eq!(c.electorate, 4);
    assert!(matches!(
        r.open_case(p(2), &open(2, 5), T0),
        Err(RegistryError::CaseAlreadyOpen(_))
    ));
    let vote = |voter, yes| VoteArgs {
        case_id: c.id,
        voter: id(voter),
        yes,
    };
    assert_eq!(
        r.vote(p(5), &vote(5, false), T0),
        Err(RegistryError::NotEligible),
        "the target cannot vote"
    );
    r.vote(p(1), &vote(1, true), T0).unwrap();
    assert_eq!(
        r.vote(p(1), &vote(1, true), T0),
        Err(RegistryError::AlreadyVoted)
    );
    let c2 = r.vote(p(2), &vote(2, true), T0).unwrap();
    assert_eq!(c2.status, CaseStatus::Open, "2 of 4 is not more than half");
    let c3 = r.vote(p(3), &vote(3, true), T0).unwrap();
    assert!(matches!(c3.status, CaseStatus::Upheld { .. }));
    assert!(matches!(
        r.get_node(&id(5)).unwrap().state,
        NodeState::Impeached { .. }
    ));
    // The whole stake goes to the treasury.
    let ms = tick_ok(&mut r, T0 + SEC);
    assert_eq!(
        (ms[0].kind, ms[0].to, ms[0].amount_e8s),
        (MovementKind::Confiscate, treasury(), 100_000 * E8S - FEE)
    );
    assert_eq!(r.stake_info(&id(5), T0).unwrap().stake_e8s, 0);
    // Without a majority by the deadline: rejected, nothing happens.
    let c = r.open_case(p(1), &open(1, 4), T0 + SEC).unwrap();
    assert_eq!(c.electorate, 3);
    r.vote(
        p(1),
        &VoteArgs {
            case_id: c.id,
            voter: id(1),
            yes: true,
        },
        T0 + SEC,
    )
    .unwrap();
    tick_ok(&mut r, c.deadline);
    assert!(matches!(
        r.case(c.id).unwrap().status,
        CaseStatus::Rejected { .. }
    ));
    assert_eq!(r.get_node(&id(4)).unwrap().state, NodeState::Live);
    assert_eq!(
        r.vote(
            p(2),
            &VoteArgs {
                case_id: c.id,
                voter: id(2),
                yes: true
            },
            c.deadline
        ),
        Err(RegistryError::CaseClosed)
    );
}

#[test]
fn key_leak_report_gives_two_hours() {
    let mut r = new_registry();
    for s in 1..=4u8 {
        register(&mut r, p(s), s, Role::Validator, T0).unwrap();
        stake(&mut r, p(s), s, V_MIN, 360, T0);
    }
    let c = r.report_key_leak(p(1), &id(1), T0).unwrap();
    assert_eq!(
        (c.deadline, c.electorate, c.opened_by),
        (T0 + 2 * 3600 * SEC, 3, None)
    );
    r.vote(
        p(2),
        &VoteArgs {
            case_id: c.id,
            voter: id(2),
            yes: true,
        },
        T0,
    )
    .unwrap();
    assert_eq!(
        r.vote(
            p(3),
            &VoteArgs {
                case_id: c.id,
                voter: id(3),
                yes: true
            },
            T0 + 2 * 3600 * SEC
        ),
        Err(RegistryError::CaseClosed)
    );
    let c = r
        .vote(
            p(3),
            &VoteArgs {
                case_id: c.id,
                voter: id(3),
                yes: true,
            },
            T0 + 3600 * SEC,
        )
        .unwrap();
    assert!(matches!(c.status, CaseStatus::Upheld { .. }));
}

#[test]
fn validator_set_grows_as_3f_plus_1_and_snapshots_never_change() {
    let mut r = new_registry();
    let mut now = T0;
    let expected = [1, 1, 1, 4, 4, 4, 7, 7, 7, 10, 10, 10, 13, 13, 13, 16];
    for (i, want) in expected.iter().enumerate() {
        let s = i as u8 + 1;
        register(&mut r, p(s), s, Role::Validator, now).unwrap();
        stake(&mut r, p(s), s, V_MIN + u64::from(s) * E8S, 360, now);
        now += DAY;
        r.process_time(now);
        let e = r.epoch_info().epoch;
        let snap = r.validator_set(e).unwrap();
        assert_eq!(snap.set.len(), *want, "{} validators", i + 1);
        assert!(
            snap.set.members.windows(2).all(|w| w[0] < w[1]),
            "ordered by id"
        );
        assert_eq!(snap.set_id, snap.set.id());
    }
    let e = r.epoch_info().epoch;
    let before = r.validator_set(e).unwrap();
    // The biggest stakes are chosen among 16 eligible when one leaves: 15 -> 13.
    r.retire(p(16), &id(16), now).unwrap();
    r.process_time(now);
    assert_eq!(
        r.validator_set(e).unwrap(),
        before,
        "a snapshot never changes"
    );
    now += DAY;
    r.process_time(now);
    let snap = r.validator_set(e + 1).unwrap();
    assert_eq!((snap.set.len(), snap.eligible), (13, 15));
    assert!(
        !snap.set.contains(&id(1)) && !snap.set.contains(&id(2)),
        "the two smallest stakes are left out"
    );
    assert_eq!(r.validator_set(e + 2), None, "future epoch");
}

#[test]
fn governance_only_and_storage_versions() {
    let mut r = new_registry();
    let mut p2 = Params::default();
    p2.router.min_stake_e8s = 50_000 * E8S;
    assert!(r
        .validate_set_params(&p2)
        .unwrap()
        .contains("set registry parameters"));
    assert_eq!(
        r.execute_set_params(p(1), &p2, T0),
        Err(RegistryError::NotGovernance)
    );
    let mut bad = p2.clone();
    bad.compute_terms.clear();
    assert!(r.validate_set_params(&bad).is_err());
    r.execute_set_params(gov(), &p2, T0).unwrap();
    assert_eq!(r.config().params.router.min_stake_e8s, 50_000 * E8S);
    assert_eq!(
        r.execute_set_treasury(p(1), &treasury()),
        Err(RegistryError::NotGovernance)
    );
    assert_eq!(
        r.execute_set_epochs_canister(p(1), &None),
        Err(RegistryError::NotGovernance)
    );
    r.execute_set_epochs_canister(gov(), &Some(p(50))).unwrap();
    assert_eq!(r.config().epochs_canister, Some(p(50)));
    register(&mut r, p(1), 1, Role::Router, T0).unwrap();
    let rep = [PenaltyReport {
        node_id: id(1),
        missed_minutes: 10,
    }];
    r.apply_penalties(p(50), 5, &rep, T0).unwrap();
    assert!(r.apply_penalties(p(50), 5, &rep, T0).is_err());
    r.execute_set_epochs_canister(gov(), &Some(p(51))).unwrap();
    r.apply_penalties(p(51), 1, &rep, T0).unwrap();

    // Reload from the same memory; a newer layout is refused.
    let mem = VectorMemory::default();
    let args = InitArgs {
        ledger: p(104),
        governance: gov(),
        treasury: treasury(),
        epochs_canister: None,
        ledger_fee_e8s: None,
        params: None,
        genesis_time: None,
    };
    let mut r = Registry::init(mem.clone(), &args, T0, me()).unwrap();
    register(&mut r, p(1), 1, Role::Router, T0).unwrap();
    drop(r);
    let r = Registry::load(mem.clone(), me()).unwrap();
    assert!(r.get_node(&id(1)).is_some());
    assert!(matches!(
        Registry::init(mem.clone(), &args, T0, me()),
        Err(LoadError::AlreadyInitialized)
    ));
    drop(r);
    let mut s = emc_registry::storage::Stores::open(mem.clone());
    let mut bytes = s.config.get().clone();
    bytes[4..8].copy_from_slice(&3u32.to_le_bytes());
    s.config.set(bytes);
    drop(s);
    assert!(matches!(
        Registry::load(mem, me()),
        Err(LoadError::Downgrade {
            stored: 3,
            supported: 2
        })
    ));
}

#[test]
fn a_future_genesis_takes_epoch_zero_with_the_validators_staked_before_it() {
    let genesis = T0 + 20 * SEC;
    let args = |g: u64| InitArgs {
        ledger: p(104),
        governance: gov(),
        treasury: treasury(),
        epochs_canister: Some(epochs()),
        ledger_fee_e8s: Some(FEE),
        params: None,
        genesis_time: Some(g),
    };
    let too_far = T0 + MAX_GENESIS_DELAY_NS + 1;
    assert!(Registry::init(VectorMemory::default(), &args(too_far), T0, me()).is_err());
    let mut r = Registry::init(VectorMemory::default(), &args(genesis), T0, me()).unwrap();
    r.process_time(T0);
    assert_eq!(r.validator_set(0), None, "no set before the genesis");
    for s in 1..=4u8 {
        register(&mut r, p(s), s, Role::Validator, T0 + SEC).unwrap();
        stake(&mut r, p(s), s, V_MIN, 360, T0 + SEC);
    }
    r.process_time(genesis - 1);
    assert_eq!(r.validator_set(0), None, "still before the genesis");
    r.process_time(genesis);
    let snap = r.validator_set(0).unwrap();
    assert_eq!(
        snap.set.len(),
        4,
        "the four validators staked before the genesis"
    );
    assert_eq!(snap.taken_at, genesis);
    assert_eq!(r.epoch_info().epoch, 0);
    r.process_time(genesis + DAY);
    assert_eq!(r.epoch_info().epoch, 1);
    assert_eq!(
        r.validator_set(0).unwrap(),
        snap,
        "a snapshot never changes"
    );
}

// ---------------------------------------------------------------- per-epoch node snapshots

/// Every node of `epoch`'s snapshot, read in pages of `limit` (None: no snapshot), checking
/// each page: ordered, `total` constant, `next` the last id of a full page and None at the end.
fn epoch_nodes_all(r: &Registry<VectorMemory>, epoch: u64, limit: u32) -> Option<Vec<EpochNode>> {
    let mut all: Vec<EpochNode> = Vec::new();
    let mut after = None;
    let mut total = None;
    for _ in 0..10_000 {
        let page = r.epoch_nodes(&EpochNodesArgs {
            epoch,
            start_after: after,
            limit,
        })?;
        assert_eq!(page.epoch, epoch);
        assert_eq!(
            *total.get_or_insert(page.total),
            page.total,
            "total per page"
        );
        let cap = if limit == 0 {
            MAX_EPOCH_NODES_PAGE
        } else {
            limit.min(MAX_EPOCH_NODES_PAGE)
        };
        assert!(page.nodes.len() <= cap as usize);
        assert!(
            page.nodes.windows(2).all(|w| w[0].id < w[1].id),
            "ordered by id"
        );
        all.extend(page.nodes.iter().cloned());
        match page.next {
            Some(next) => {
                assert_eq!(
                    page.nodes.len(),
                    cap as usize,
                    "only a full page has a next"
                );
                assert_eq!(Some(next), page.nodes.last().map(|n| n.id));
                after = Some(next);
            }
            None => {
                assert_eq!(all.len() as u64, page.total, "every node once");
                assert!(all.windows(2).all(|w| w[0].id < w[1].id), "no node twice");
                return Some(all);
            }
        }
    }
    panic!("paging did not end");
}

/// What the snapshot of the nodes `seeds` must hold at `now`, computed from the live views:
/// the members, and the queued candidates (fewer than the cap here, each listed in fewer
/// than `candidate_epochs` snapshots so far).
fn expected_members(r: &Registry<VectorMemory>, seeds: &[u8], now: u64) -> Vec<EpochNode> {
    let mut want: Vec<EpochNode> = seeds
        .iter()
        .filter_map(|s| {
            let n = r.get_node(&id(*s))?;
            let info = r.stake_info(&id(*s), now)?;
            let candidate = r.is_candidate(&n) && r.candidate(&n.id).is_some();
            (info.active || candidate).then(|| EpochNode {
                id: n.id,
                owner: n.owner,
                role: n.role,
                stake_e8s: n.stake_e8s - n.penalty_due_e8s,
                multiplier: r.e_multiplier(&n.id, now).unwrap(),
                candidate,
            })
        })
        .collect();
    want.sort_by_key(|n| n.id);
    want
}

pub(super) const R_MIN: u64 = 100_000 * E8S;

#[test]
fn epoch_node_snapshot_holds_the_members_and_never_changes() {
    let mut r = new_registry();
    let mut now = T0;
    // Epoch 0 was taken at install: an empty snapshot is Some, a future epoch None.
    assert_eq!(epoch_nodes_all(&r, 0, 10), Some(vec![]));
    assert_eq!(
        r.epoch_nodes(&EpochNodesArgs {
            epoch: 1,
            start_after: None,
            limit: 10
        }),
        None
    );
    // Members: a staked validator, a staked router that owes a penalty, a compute node on a
    // 30-day term (x2.7) and an unstaked one (x1). Not members: an unstaked validator, a
    // retired compute node, an unstaked router.
    register(&mut r, p(1), 1, Role::Validator, now).unwrap();
    stake(&mut r, p(1), 1, V_MIN + 5 * E8S, 360, now);
    register(&mut r, p(2), 2, Role::Router, now).unwrap();
    stake(&mut r, p(2), 2, R_MIN + 1_000 * E8S, 180, now);
    let pen = r
        .apply_penalties(
            epochs(),
            1,
            &[PenaltyReport {
                node_id: id(2),
                missed_minutes: 60,
            }],
            now,
        )
        .unwrap();
    assert!(pen[0].penalty_e8s > 0 && !pen[0].suspended);
    register(&mut r, p(3), 3, Role::Compute, now).unwrap();
    stake(&mut r, p(3), 3, 1_000 * E8S, 30, now);
    register(&mut r, p(3), 4, Role::Compute, now).unwrap();
    register(&mut r, p(5), 5, Role::Validator, now).unwrap();
    register(&mut r, p(6), 6, Role::Compute, now).unwrap();
    r.retire(p(6), &id(6), now).unwrap();
    register(&mut r, p(7), 7, Role::Router, now).unwrap();
    let seeds: Vec<u8> = (1..=7).collect();

    now += DAY;
    r.process_time(now);
    r.check_invariants(now).unwrap();
    assert_eq!(r.epoch_info().epoch, 1);
    let want = expected_members(&r, &seeds, now);
    assert_eq!(want.len(), 4);
    let snap = epoch_nodes_all(&r, 1, 0).unwrap();
    assert_eq!(snap, want);
    let router = snap.iter().find(|n| n.id == id(2)).unwrap();
    assert_eq!(
        router.stake_e8s,
        R_MIN + 1_000 * E8S - pen[0].penalty_e8s,
        "net of penalties"
    );
    assert_eq!(router.multiplier, E_SCALE);
    assert_eq!(
        snap.iter().find(|n| n.id == id(3)).unwrap().multiplier,
        27_000
    );
    assert_eq!(
        snap.iter().find(|n| n.id == id(4)).unwrap().multiplier,
        E_SCALE
    );
    // The validator set of the epoch is its validators' part of the snapshot.
    let set = r.validator_set(1).unwrap();
    assert_eq!(set.set.members, vec![id(1)]);

    // After the snapshot: a registration, a stake, a suspension, a retirement.
    register(&mut r, p(8), 8, Role::Compute, now).unwrap();
    stake(&mut r, p(5), 5, V_MIN, 360, now);
    let pen = r
        .apply_penalties(
            epochs(),
            2,
            &[PenaltyReport {
                node_id: id(2),
                missed_minutes: 1_000_000,
            }],
            now,
        )
        .unwrap();
    assert!(pen[0].suspended);
    r.retire(p(3), &id(4), now).unwrap();
    r.process_time(now + 60 * SEC);
    assert_eq!(
        epoch_nodes_all(&r, 1, 3).unwrap(),
        snap,
        "a snapshot never changes"
    );
    assert_eq!(
        epoch_nodes_all(&r, 0, 3),
        Some(vec![]),
        "nor does epoch 0's"
    );

    // The next epoch's snapshot sees the changes.
    now += DAY;
    r.process_time(now);
    r.check_invariants(now).unwrap();
    let seeds: Vec<u8> = (1..=8).collect();
    let next = epoch_nodes_all(&r, 2, 2).unwrap();
    assert_eq!(next, expected_members(&r, &seeds, now));
    let ids: Vec<NodeId> = next.iter().map(|n| n.id).collect();
    assert!(ids.contains(&id(5)) && ids.contains(&id(8)));
    assert!(!ids.contains(&id(2)) && !ids.contains(&id(4)));
}

#[test]
fn epoch_node_pages_cover_every_node_once_and_bad_args_never_panic() {
    let mut r = new_registry();
    let seeds: Vec<u8> = (1..=57).collect();
    for s in &seeds {
        register(&mut r, p(*s % 5), *s, Role::Compute, T0).unwrap();
    }
    r.process_time(T0 + DAY);
    let want = expected_members(&r, &seeds, T0 + DAY);
    assert_eq!(want.len(), 57);
    for limit in [1, 2, 7, 56, 57, 58, 0, 2_000, 2_001, u32::MAX] {
        assert_eq!(
            epoch_nodes_all(&r, 1, limit).unwrap(),
            want,
            "limit {limit}"
        );
    }
    // Starting after an id that is not in the snapshot continues after it.
    let mid = NodeId([0x80; 32]);
    let page = r
        .epoch_nodes(&EpochNodesArgs {
            epoch: 1,
            start_after: Some(mid),
            limit: 0,
        })
        .unwrap();
    let after: Vec<EpochNode> = want.iter().filter(|n| n.id > mid).cloned().collect();
    assert_eq!(page.nodes, after);
    assert_eq!((page.next, page.total), (None, 57));
    let page = r
        .epoch_nodes(&EpochNodesArgs {
            epoch: 1,
            start_after: Some(NodeId([0xff; 32])),
            limit: 5,
        })
        .unwrap();
    assert!(page.nodes.is_empty() && page.next.is_none());
    // A full last page ends with no next.
    let page = r
        .epoch_nodes(&EpochNodesArgs {
            epoch: 1,
            start_after: Some(want[51].id),
            limit: 5,
        })
        .unwrap();
    assert_eq!((page.nodes.len(), page.next), (5, None));
    for epoch in [2, 3, u64::MAX] {
        assert_eq!(
            r.epoch_nodes(&EpochNodesArgs {
                epoch,
                start_after: None,
                limit: u32::MAX
            }),
            None
        );
    }
}

#[test]
fn epoch_node_snapshots_are_pruned_after_the_kept_window() {
    let mut r = new_registry();
    for s in 1..=2u8 {
        register(&mut r, p(s), s, Role::Compute, T0).unwrap();
        // Admitted: members, listed in every snapshot.
        r.report_compute_e(epochs(), &id(s), E_SCALE, T0).unwrap();
    }
    let mut now = T0;
    // A long pause: 100 epochs are due at once; one call rolls at most 64.
    now += 100 * DAY;
    r.process_time(now);
    r.check_invariants(now).unwrap();
    assert_eq!(r.epoch_info().epoch, 64);
    r.process_time(now);
    r.check_invariants(now).unwrap();
    assert_eq!(r.epoch_info().epoch, 100);
    let kept = r.epoch_node_snapshots();
    assert_eq!(
        kept,
        (100 + 1 - EPOCH_NODES_KEPT..=100).collect::<Vec<u64>>()
    );
    for e in 0..=100 {
        let got = r.epoch_nodes(&EpochNodesArgs {
            epoch: e,
            start_after: None,
            limit: 0,
        });
        if e + EPOCH_NODES_KEPT > 100 {
            assert_eq!(got.unwrap().total, 2, "epoch {e} kept");
        } else {
            assert_eq!(got, None, "epoch {e} pruned");
            assert!(r.validator_set(e).is_some(), "validator sets are kept");
        }
    }
    // One more epoch drops exactly the oldest kept one.
    now += DAY;
    r.process_time(now);
    r.check_invariants(now).unwrap();
    assert_eq!(
        r.epoch_node_snapshots().first(),
        Some(&(101 + 1 - EPOCH_NODES_KEPT))
    );
}

#[test]
fn a_registry_without_node_snapshots_loads_and_answers_none_for_old_epochs() {
    // The stable memory of a registry built before node snapshots: same layout, memories 16
    // and 17 empty (cleared here, as the old build never wrote them).
    let mem = VectorMemory::default();
    let args = InitArgs {
        ledger: p(104),
        governance: gov(),
        treasury: treasury(),
        epochs_canister: Some(epochs()),
        ledger_fee_e8s: Some(FEE),
        params: None,
        genesis_time: None,
    };
    let mut r = Registry::init(mem.clone(), &args, T0, me()).unwrap();
    register(&mut r, p(1), 1, Role::Compute, T0).unwrap();
    r.process_time(T0 + DAY);
    drop(r);
    let mut s = emc_registry::storage::Stores::open(mem.clone());
    let rows: Vec<_> = s.epoch_nodes.keys().collect();
    for k in rows {
        s.epoch_nodes.remove(&k);
    }
    let totals: Vec<u64> = s.epoch_totals.keys().collect();
    for e in totals {
        s.epoch_totals.remove(&e);
    }
    drop(s);
    let mut r = Registry::load(mem, me()).unwrap();
    r.check_invariants(T0 + DAY).unwrap();
    assert_eq!(
        r.epoch_nodes(&EpochNodesArgs {
            epoch: 0,
            start_after: None,
            limit: 0
        }),
        None
    );
    assert_eq!(
        r.epoch_nodes(&EpochNodesArgs {
            epoch: 1,
            start_after: None,
            limit: 0
        }),
        None
    );
    assert!(r.validator_set(1).is_some());
    r.process_time(T0 + DAY + 60 * SEC);
    assert_eq!(
        r.epoch_nodes(&EpochNodesArgs {
            epoch: 1,
            start_after: None,
            limit: 0
        }),
        None,
        "a missed snapshot is not taken late"
    );
    r.process_time(T0 + 2 * DAY);
    r.check_invariants(T0 + 2 * DAY).unwrap();
    assert_eq!(epoch_nodes_all(&r, 2, 0).unwrap().len(), 1);
}
