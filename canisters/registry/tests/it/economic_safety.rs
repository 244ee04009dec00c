//! Issue #21, the registry's part: economic safety under Byzantine validators and sybils.
//! Each test pins one finding (its number in the issue) on the pure core; `check_invariants`
//! runs after every step through the `pure_core` helpers.

use super::pure_core::*;
use emc_registry::*;
use emc_types::NodeId;

/// #8: a renewal grants a new term (and a compute node a new multiplier) only while the stake,
/// net of the penalties due, is still at the role's minimum (compute: 1000 x the last E).
#[test]
fn a_renewal_needs_the_stake_net_of_penalties_at_the_minimum() {
    let mut r = new_registry();
    let renew = |seed, days| RenewArgs {
        node_id: id(seed),
        days,
    };
    // A compute node staked at 1000 x E with E = 1, then measured at E = 2: its stake is half
    // the minimum, so it cannot renew into the x10 multiplier.
    register(&mut r, p(1), 1, Role::Compute, T0).unwrap();
    stake(&mut r, p(1), 1, 1_000 * E8S, 7, T0);
    assert_eq!(r.e_multiplier(&id(1), T0), Some(14_000));
    r.report_compute_e(epochs(), &id(1), 2 * E_SCALE, T0)
        .unwrap();
    assert_eq!(
        r.renew(p(1), &renew(1, 180), T0 + DAY),
        Err(RegistryError::StakeBelowMinimum {
            minimum_e8s: 2_000 * E8S
        })
    );
    assert_eq!(r.e_multiplier(&id(1), T0 + DAY), Some(14_000), "unchanged");
    assert_eq!(r.get_node(&id(1)).unwrap().term.unwrap().end, T0 + 7 * DAY);
    r.check_invariants(T0 + DAY).unwrap();

    // A compute node whose stake covers its E renews as before.
    register(&mut r, p(2), 2, Role::Compute, T0).unwrap();
    r.report_compute_e(epochs(), &id(2), 2 * E_SCALE, T0)
        .unwrap();
    stake(&mut r, p(2), 2, 2_000 * E8S, 7, T0);
    r.renew(p(2), &renew(2, 180), T0 + DAY).unwrap();
    assert_eq!(r.e_multiplier(&id(2), T0 + DAY), Some(100_000));

    // A router whose penalties due take it under 100,000 EMC cannot renew, neither before nor
    // after the penalty is paid.
    register(&mut r, p(3), 3, Role::Router, T0).unwrap();
    stake(&mut r, p(3), 3, R_MIN + E8S, 180, T0);
    let out = r
        .apply_penalties(
            epochs(),
            1,
            &[PenaltyReport {
                node_id: id(3),
                missed_minutes: 10,
            }],
            T0,
        )
        .unwrap();
    assert!(out[0].penalty_e8s > E8S);
    assert_eq!(
        r.renew(p(3), &renew(3, 90), T0 + DAY),
        Err(RegistryError::StakeBelowMinimum { minimum_e8s: R_MIN })
    );
    tick_ok(&mut r, T0 + DAY);
    assert_eq!(
        r.renew(p(3), &renew(3, 90), T0 + DAY),
        Err(RegistryError::StakeBelowMinimum { minimum_e8s: R_MIN })
    );
    assert_eq!(r.get_node(&id(3)).unwrap().term.unwrap().renewals, 0);
    r.check_invariants(T0 + DAY).unwrap();
}

/// The movements of `ms` for node `seed`.
fn of(ms: &[Movement], seed: u8) -> Vec<MovementKind> {
    ms.iter()
        .filter(|m| m.node_id == id(seed))
        .map(|m| m.kind)
        .collect()
}

/// #6: a node under an open impeachment case cannot take its stake out by retiring: the case
/// still decides it (upheld: confiscated), and a term that ends while the case is open is
/// released only once the case is rejected.
#[test]
fn retiring_under_an_open_case_freezes_the_stake_until_the_case_is_decided() {
    let mut r = new_registry();
    for s in 1..=6u8 {
        register(&mut r, p(s), s, Role::Router, T0).unwrap();
        stake(&mut r, p(s), s, R_MIN, 180, T0);
    }
    let open = |accuser, target| OpenCaseArgs {
        accuser: id(accuser),
        target: id(target),
        reason: "attacks".into(),
    };
    let vote = |case_id, voter| VoteArgs {
        case_id,
        voter: id(voter),
        yes: true,
    };

    // A: 6 retires as soon as the case opens; the yes majority still impeaches it and its
    // whole stake goes to the treasury.
    let c = r.open_case(p(1), &open(1, 6), T0).unwrap();
    r.retire(p(6), &id(6), T0).unwrap();
    assert_eq!(r.stake_info(&id(6), T0).unwrap().stake_e8s, R_MIN);
    for v in 1..=3u8 {
        r.vote(p(v), &vote(c.id, v), T0).unwrap();
    }
    assert!(matches!(
        r.case(c.id).unwrap().status,
        CaseStatus::Upheld { .. }
    ));
    assert!(matches!(
        r.get_node(&id(6)).unwrap().state,
        NodeState::Impeached { .. }
    ));
    let ms = tick_ok(&mut r, T0 + SEC);
    assert_eq!(of(&ms, 6), vec![MovementKind::Confiscate]);
    assert_eq!(ms[0].to, treasury());
    assert_eq!(r.stake_info(&id(6), T0 + SEC).unwrap().stake_e8s, 0);

    // The voters renew, so only the targets' terms end at T0 + 180 days.
    for v in 1..=4u8 {
        r.renew(
            p(v),
            &RenewArgs {
                node_id: id(v),
                days: 90,
            },
            T0 + DAY,
        )
        .unwrap();
    }

    // B: 5's term ends while the case against it is open (and 5 retired): nothing is released;
    // the case is upheld after the term end and the stake is confiscated.
    let t = T0 + 179 * DAY;
    let c = r.open_case(p(1), &open(1, 5), t).unwrap();
    r.retire(p(5), &id(5), t).unwrap();
    let ms = tick_ok(&mut r, T0 + 180 * DAY);
    assert_eq!(of(&ms, 5), vec![], "no release under an open case");
    let ms = tick_ok(&mut r, T0 + 181 * DAY);
    assert_eq!(of(&ms, 5), vec![]);
    assert_eq!(
        r.stake_info(&id(5), T0 + 181 * DAY).unwrap().stake_e8s,
        R_MIN
    );
    assert_eq!(c.electorate, 4);
    for v in 1..=3u8 {
        r.vote(p(v), &vote(c.id, v), T0 + 181 * DAY).unwrap();
    }
    assert!(matches!(
        r.get_node(&id(5)).unwrap().state,
        NodeState::Impeached { .. }
    ));
    let ms = tick_ok(&mut r, T0 + 181 * DAY + SEC);
    assert_eq!(of(&ms, 5), vec![MovementKind::Confiscate]);

    // C: 4's term ends while a case against it is open; the case finds no majority by its
    // deadline: the stake is released to the owner then, as usual.
    let t = T0 + 268 * DAY;
    let c = r.open_case(p(1), &open(1, 4), t).unwrap();
    r.retire(p(4), &id(4), t).unwrap();
    let ms = tick_ok(&mut r, T0 + 270 * DAY);
    assert_eq!(of(&ms, 4), vec![], "no release under an open case");
    let ms = tick_ok(&mut r, c.deadline);
    assert!(matches!(
        r.case(c.id).unwrap().status,
        CaseStatus::Rejected { .. }
    ));
    assert_eq!(of(&ms, 4), vec![MovementKind::Release]);
    let rel = ms.iter().find(|m| m.node_id == id(4)).unwrap();
    assert_eq!(
        (rel.to.owner, rel.amount_e8s),
        (p(4), R_MIN - FEE),
        "released to the owner"
    );
    assert_eq!(r.stake_info(&id(4), c.deadline).unwrap().stake_e8s, 0);
}

/// #7: a validator's stake stays locked after its term until the last epoch whose validator
/// set lists it is over plus [`registry::VALIDATOR_RELEASE_MARGIN_EPOCHS`] epochs (the
/// challenge window in which equivocation evidence about that epoch can still arrive). A
/// validator that no set ever listed is released at its term end as before.
#[test]
fn a_validator_stake_stays_locked_until_its_last_set_epoch_plus_the_margin() {
    use emc_registry::registry::VALIDATOR_RELEASE_MARGIN_EPOCHS as MARGIN;
    let mut r = new_registry();
    // Four validators with more stake make the set (size 4 of 5 eligible); the fifth never
    // gets in.
    for s in 1..=4u8 {
        register(&mut r, p(s), s, Role::Validator, T0).unwrap();
        stake(&mut r, p(s), s, V_MIN + E8S, 360, T0);
    }
    register(&mut r, p(5), 5, Role::Validator, T0).unwrap();
    stake(&mut r, p(5), 5, V_MIN, 360, T0);
    for d in 1..360 {
        assert!(tick_ok(&mut r, T0 + d * DAY).is_empty());
    }
    let listed = |r: &Registry<_>, e: u64, s: u8| {
        r.validator_set(e)
            .is_some_and(|v| v.set.members.contains(&id(s)))
    };
    assert!(listed(&r, 359, 1) && !listed(&r, 359, 5));
    // The terms end at T0 + 360 days: epoch 360's set (taken then) lists nobody, so 359 is
    // the last epoch 1..4 were in a set.
    let ms = tick_ok(&mut r, T0 + 360 * DAY);
    assert_eq!(r.epoch_info().epoch, 360);
    assert!(!listed(&r, 360, 1));
    assert_eq!(of(&ms, 5), vec![MovementKind::Release], "never in a set");
    for s in 1..=4u8 {
        assert_eq!(of(&ms, s), vec![], "locked after the term end");
    }
    // Evidence of an equivocation in its last epochs still takes its stake meanwhile.
    r.apply_penalties(
        epochs(),
        1,
        &[PenaltyReport {
            node_id: id(1),
            missed_minutes: 60,
        }],
        T0 + 360 * DAY,
    )
    .unwrap();
    let ms = tick_ok(&mut r, T0 + 360 * DAY + SEC);
    assert_eq!(of(&ms, 1), vec![MovementKind::Penalty]);
    // Locked until epoch 359 + 1 + MARGIN starts.
    let free = 359 + 1 + MARGIN;
    for d in 361..free {
        let ms = tick_ok(&mut r, T0 + d * DAY);
        assert!(ms.is_empty(), "day {d}: {ms:?}");
        assert_eq!(
            r.stake_info(&id(2), T0 + d * DAY).unwrap().stake_e8s,
            V_MIN + E8S
        );
    }
    let ms = tick_ok(&mut r, T0 + free * DAY);
    for s in 1..=4u8 {
        assert_eq!(of(&ms, s), vec![MovementKind::Release], "validator {s}");
    }
    assert_eq!(r.stats().total_stake_e8s, 0);
}

/// #4: compute identities are free to register, so only a compute node with a passed PoC
/// (an E reported by the epochs canister) and a stake at its minimum (1000 x E) may open or
/// vote in impeachment cases and counts in their electorate. A compute node is a member only
/// once admitted (its PoC passed); the others are candidates, listed in the snapshot (within
/// the cap) so that they can be challenged at all.
#[test]
fn only_compute_nodes_with_a_passed_poc_and_the_minimum_stake_vote() {
    let mut r = new_registry();
    // Honest: 1, 2, 3 passed PoC (E = 1.5) and staked 1500 EMC.
    for s in 1..=3u8 {
        register(&mut r, p(s), s, Role::Compute, T0).unwrap();
        r.report_compute_e(epochs(), &id(s), 15_000, T0).unwrap();
        stake(&mut r, p(s), s, 1_500 * E8S, 30, T0);
    }
    // Sybils: 4..=8 registered for free; 8 even staked 1000 EMC but never passed PoC; 9
    // passed PoC at E = 3 but its stake covers only E = 1.
    for s in 4..=8u8 {
        register(&mut r, p(40), s, Role::Compute, T0).unwrap();
    }
    stake(&mut r, p(40), 8, 1_000 * E8S, 30, T0);
    register(&mut r, p(40), 9, Role::Compute, T0).unwrap();
    stake(&mut r, p(40), 9, 1_000 * E8S, 30, T0);
    r.report_compute_e(epochs(), &id(9), 30_000, T0).unwrap();
    r.check_invariants(T0).unwrap();
    for s in [1u8, 2, 3, 9] {
        assert!(r.stake_info(&id(s), T0).unwrap().active, "{s} is a member");
    }
    for s in 4..=8u8 {
        let n = r.get_node(&id(s)).unwrap();
        assert!(!r.stake_info(&id(s), T0).unwrap().active, "{s}: no PoC");
        assert!(r.is_candidate(&n) && r.candidate(&id(s)).is_some(), "{s}");
    }
    assert_eq!(r.stats().active, vec![0, 0, 4]);
    for s in 1..=3u8 {
        assert!(r.is_voter(&r.get_node(&id(s)).unwrap(), T0));
    }
    for s in 4..=9u8 {
        assert!(!r.is_voter(&r.get_node(&id(s)).unwrap(), T0), "{s}");
    }

    let open = |accuser, target| OpenCaseArgs {
        accuser: id(accuser),
        target: id(target),
        reason: "honest node".into(),
    };
    for s in [4u8, 8, 9] {
        assert_eq!(
            r.open_case(p(40), &open(s, 1), T0),
            Err(RegistryError::NotEligible),
            "sybil {s} opens no case"
        );
    }
    // A case among the honest: the electorate is the voters but the target.
    let c = r.open_case(p(2), &open(2, 1), T0).unwrap();
    assert_eq!(c.electorate, 2, "2 and 3: the voters but the target");
    for s in 4..=9u8 {
        assert_eq!(
            r.vote(
                p(40),
                &VoteArgs {
                    case_id: c.id,
                    voter: id(s),
                    yes: true
                },
                T0
            ),
            Err(RegistryError::NotEligible),
            "sybil {s} does not vote"
        );
    }
    let c = r
        .vote(
            p(3),
            &VoteArgs {
                case_id: c.id,
                voter: id(3),
                yes: false,
            },
            T0,
        )
        .unwrap();
    assert!(matches!(c.status, CaseStatus::Rejected { .. }));
    assert_eq!(r.get_node(&id(1)).unwrap().state, NodeState::Live);

    // A voter whose E is measured higher than its stake covers stops voting.
    r.report_compute_e(epochs(), &id(3), 20_000, T0).unwrap();
    assert!(!r.is_voter(&r.get_node(&id(3)).unwrap(), T0));
    let c = r.open_case(p(1), &open(1, 2), T0).unwrap();
    assert_eq!(c.electorate, 1, "1 only");
    r.check_invariants(T0).unwrap();

    // The members and (under the cap) the candidates are in the epoch's node snapshot.
    r.process_time(T0 + DAY);
    r.check_invariants(T0 + DAY).unwrap();
    let page = r
        .epoch_nodes(&EpochNodesArgs {
            epoch: 1,
            start_after: None,
            limit: 0,
        })
        .unwrap();
    assert_eq!(page.total, 9);
    let candidates: Vec<NodeId> = page
        .nodes
        .iter()
        .filter(|n| n.candidate)
        .map(|n| n.id)
        .collect();
    let mut want: Vec<NodeId> = (4..=8u8).map(id).collect();
    want.sort();
    assert_eq!(candidates, want);
}

/// #4, upgrade: a registry of layout 1 (compute members without a PoC record: written before
/// the PoC records, or registered for free) loads; the migration to layout 2 makes its
/// compute nodes without a PoC record candidates, queued by registration time, and they are
/// members (and vote) again once their E is reported.
#[test]
fn a_layout_1_registry_migrates_its_compute_members_without_poc_to_candidates() {
    use ic_stable_structures::VectorMemory;
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
    for s in 1..=3u8 {
        register(&mut r, p(s), s, Role::Compute, T0 + u64::from(s)).unwrap();
        r.report_compute_e(epochs(), &id(s), E_SCALE, T0).unwrap();
        stake(&mut r, p(s), s, 1_000 * E8S, 30, T0);
        assert!(r.is_voter(&r.get_node(&id(s)).unwrap(), T0));
    }
    drop(r);
    // What a layout-1 build left: no PoC records for 1 and 2 (written before memories 18 and
    // 19), yet in the members index, and a header saying layout 1.
    let mut st = emc_registry::storage::Stores::open(mem.clone());
    for s in 1..=2u8 {
        st.poc_passed.remove(&id(s).0);
        st.compute_voters.remove(&id(s).0);
    }
    let mut bytes = st.config.get().clone();
    bytes[4..8].copy_from_slice(&1u32.to_le_bytes());
    st.config.set(bytes);
    drop(st);
    let r = Registry::load(mem.clone(), me()).unwrap();
    r.check_invariants(T0).unwrap();
    assert_eq!(
        r.stats().active,
        vec![0, 0, 1],
        "3 only: it has a PoC record"
    );
    let n1 = r.get_node(&id(1)).unwrap();
    assert!(!r.stake_info(&id(1), T0).unwrap().active, "a candidate now");
    assert!(!r.is_voter(&n1, T0), "no PoC record yet");
    assert_eq!(
        r.candidate(&id(1)).map(|c| c.queued_at),
        Some(T0 + 1),
        "queued by registration time"
    );
    assert_eq!(r.candidate(&id(2)).map(|c| c.queued_at), Some(T0 + 2));
    assert_eq!(r.candidate(&id(3)), None, "a member");
    // Migrated once: the header says layout 2 now.
    drop(r);
    let st = emc_registry::storage::Stores::open(mem.clone());
    assert_eq!(st.config.get()[4..8], 2u32.to_le_bytes());
    drop(st);
    let mut r = Registry::load(mem, me()).unwrap();
    assert_eq!(
        r.open_case(
            p(1),
            &OpenCaseArgs {
                accuser: id(1),
                target: id(2),
                reason: "r".into()
            },
            T0
        ),
        Err(RegistryError::NotEligible)
    );
    r.report_compute_e(epochs(), &id(1), E_SCALE, T0).unwrap();
    r.check_invariants(T0).unwrap();
    assert_eq!(r.candidate(&id(1)), None, "admitted: out of the queue");
    let c = r
        .open_case(
            p(1),
            &OpenCaseArgs {
                accuser: id(1),
                target: id(2),
                reason: "r".into(),
            },
            T0,
        )
        .unwrap();
    assert_eq!(c.electorate, 2, "1 and 3");
}

/// The ids of the candidates and of the members in snapshot `epoch`, each sorted.
fn listed(
    r: &Registry<ic_stable_structures::VectorMemory>,
    epoch: u64,
) -> (Vec<NodeId>, Vec<NodeId>) {
    let page = r
        .epoch_nodes(&EpochNodesArgs {
            epoch,
            start_after: None,
            limit: 0,
        })
        .unwrap();
    assert_eq!(page.next, None);
    let pick = |c: bool| {
        page.nodes
            .iter()
            .filter(|n| n.candidate == c)
            .map(|n| n.id)
            .collect()
    };
    (pick(true), pick(false))
}

fn sorted(seeds: &[u8]) -> Vec<NodeId> {
    let mut v: Vec<NodeId> = seeds.iter().map(|s| id(*s)).collect();
    v.sort();
    v
}

/// #4, admission: a compute node is admitted (a member) only after a passed PoC; before, it
/// is a candidate. Each epoch snapshot lists the members plus at most `max_compute_candidates`
/// candidates, oldest queued first, so free sybil registrations add a bounded amount of
/// work per validator and epoch; a candidate listed in `candidate_epochs` snapshots without
/// an admission leaves the queue, and its owner may queue it again, at the back.
#[test]
fn free_compute_registrations_are_candidates_and_a_snapshot_lists_at_most_the_cap() {
    let mut r = new_registry();
    r.execute_set_params(
        gov(),
        &Params {
            max_compute_candidates: Some(4),
            candidate_epochs: Some(2),
            ..Params::default()
        },
        T0,
    )
    .unwrap();
    // One honest admitted node and ten free registrations, oldest first by seed.
    register(&mut r, p(20), 20, Role::Compute, T0).unwrap();
    r.report_compute_e(epochs(), &id(20), E_SCALE, T0).unwrap();
    for s in 1..=10u8 {
        register(&mut r, p(40), s, Role::Compute, T0 + u64::from(s)).unwrap();
    }
    assert_eq!(
        r.stats().active,
        vec![0, 0, 1],
        "only the admitted node is a member"
    );

    tick_ok(&mut r, T0 + DAY);
    assert_eq!(listed(&r, 1), (sorted(&[1, 2, 3, 4]), sorted(&[20])));
    // 2 passes PoC in epoch 1: admitted, a member from the next snapshot on.
    r.report_compute_e(epochs(), &id(2), 15_000, T0 + DAY)
        .unwrap();
    assert!(r.stake_info(&id(2), T0 + DAY).unwrap().active);
    assert_eq!(r.candidate(&id(2)), None);

    tick_ok(&mut r, T0 + 2 * DAY);
    assert_eq!(listed(&r, 2), (sorted(&[1, 3, 4, 5]), sorted(&[2, 20])));
    // 1, 3, 4: listed twice without an admission, out of the queue.
    for s in [1u8, 3, 4] {
        assert_eq!(r.candidate(&id(s)), None, "{s}");
    }
    tick_ok(&mut r, T0 + 3 * DAY);
    assert_eq!(listed(&r, 3), (sorted(&[5, 6, 7, 8]), sorted(&[2, 20])));

    // 1's owner queues it again: at the back, behind 9 and 10.
    assert_eq!(
        r.requeue_candidate(p(1), &id(1), T0 + 3 * DAY),
        Err(RegistryError::NotOwner)
    );
    let info = r.requeue_candidate(p(40), &id(1), T0 + 3 * DAY).unwrap();
    assert_eq!((info.queued_at, info.listed_epochs), (T0 + 3 * DAY, 0));
    assert!(
        r.requeue_candidate(p(40), &id(1), T0 + 3 * DAY).is_err(),
        "queued already"
    );
    assert!(
        r.requeue_candidate(p(40), &id(2), T0 + 3 * DAY).is_err(),
        "admitted"
    );
    assert!(
        r.requeue_candidate(p(40), &id(6), T0 + 3 * DAY).is_err(),
        "queued"
    );
    r.check_invariants(T0 + 3 * DAY).unwrap();

    tick_ok(&mut r, T0 + 4 * DAY);
    assert_eq!(listed(&r, 4), (sorted(&[6, 7, 8, 9]), sorted(&[2, 20])));
    tick_ok(&mut r, T0 + 5 * DAY);
    assert_eq!(listed(&r, 5), (sorted(&[9, 10, 1]), sorted(&[2, 20])));
    tick_ok(&mut r, T0 + 6 * DAY);
    assert_eq!(listed(&r, 6), (sorted(&[10, 1]), sorted(&[2, 20])));
    tick_ok(&mut r, T0 + 7 * DAY);
    assert_eq!(
        listed(&r, 7),
        (vec![], sorted(&[2, 20])),
        "the queue is empty"
    );

    // A sybil flood: 200 more free registrations add at most the cap to any snapshot.
    let mut r = new_registry();
    for s in 1..=200u8 {
        register(&mut r, p(40), s, Role::Compute, T0).unwrap();
    }
    tick_ok(&mut r, T0 + DAY);
    let (c, m) = listed(&r, 1);
    assert_eq!((c.len(), m.len()), (64, 0), "the default cap");
    // A retired or admitted candidate leaves the queue at once.
    r.retire(p(40), &id(1), T0 + DAY).unwrap();
    r.report_compute_e(epochs(), &id(200), E_SCALE, T0 + DAY)
        .unwrap();
    assert_eq!((r.candidate(&id(1)), r.candidate(&id(200))), (None, None));
    r.check_invariants(T0 + DAY).unwrap();
}

/// #4, `update_node`: an owner could repoint its node's address at any host, turning every
/// validator and router into a dialer of the victim. An address change is allowed once per
/// `address_change_interval_secs` (1 hour by default), the first one after registration
/// always; a refused call changes nothing.
#[test]
fn a_network_address_changes_at_most_once_per_interval() {
    let mut r = new_registry();
    register(&mut r, p(1), 1, Role::Router, T0).unwrap();
    let upd = |addr: &str, region: Option<&str>| UpdateNodeArgs {
        node_id: id(1),
        network_address: Some(addr.into()),
        region: region.map(Into::into),
        hardware: None,
    };
    r.update_node(p(1), &upd("victim.example:443", None), T0 + SEC)
        .unwrap();
    let hour = 3_600 * SEC;
    assert_eq!(
        r.update_node(
            p(1),
            &upd("victim2.example:443", Some("us")),
            T0 + SEC + hour - 1
        ),
        Err(RegistryError::AddressChangeTooSoon {
            next_allowed_at: T0 + SEC + hour
        })
    );
    let n = r.get_node(&id(1)).unwrap();
    assert_eq!(
        (n.network_address.as_str(), n.region.as_str()),
        ("victim.example:443", "eu-west")
    );
    // The same address is no change: other fields update.
    let n = r
        .update_node(p(1), &upd("victim.example:443", Some("us")), T0 + 2 * SEC)
        .unwrap();
    assert_eq!(n.region, "us");
    let n = r
        .update_node(p(1), &upd("10.0.0.1:4000", None), T0 + SEC + hour)
        .unwrap();
    assert_eq!(n.network_address, "10.0.0.1:4000");
    assert!(matches!(
        r.update_node(p(1), &upd("10.0.0.2:4000", None), T0 + SEC + hour + 1),
        Err(RegistryError::AddressChangeTooSoon { .. })
    ));
    // Governance sets the interval (at most 30 days).
    let bad = Params {
        address_change_interval_secs: Some(31 * 86_400),
        ..Params::default()
    };
    assert!(r.execute_set_params(gov(), &bad, T0).is_err());
    r.check_invariants(T0 + SEC + hour + 1).unwrap();
}

/// Retiring before a case opens is no escape: a case may be opened against a retired node
/// whose stake the registry still holds; it freezes the stake (no release at the term end)
/// and a yes majority confiscates it to the treasury, as for a live node. Once a stake is
/// released there is nothing left to open a case on.
#[test]
fn a_node_that_retired_before_a_case_opened_still_loses_its_stake_to_a_yes_verdict() {
    let mut r = new_registry();
    for s in 1..=5u8 {
        register(&mut r, p(s), s, Role::Router, T0).unwrap();
        stake(&mut r, p(s), s, R_MIN, 180, T0);
    }
    let open = |target| OpenCaseArgs {
        accuser: id(1),
        target: id(target),
        reason: "attacks".into(),
    };
    // Voting stays open past the terms' end, so that the case is still open then.
    r.execute_set_params(
        gov(),
        &Params {
            impeachment_period_secs: 200 * 86_400,
            ..Params::default()
        },
        T0,
    )
    .unwrap();
    // The voters renew (1..3 to day 360, 4 to day 270): only 5's term ends at day 180.
    for v in 1..=4u8 {
        let days = if v == 4 { 90 } else { 180 };
        r.renew(
            p(v),
            &RenewArgs {
                node_id: id(v),
                days,
            },
            T0,
        )
        .unwrap();
    }
    // 5 retires first; the case comes a day later.
    r.retire(p(5), &id(5), T0).unwrap();
    let c = r.open_case(p(1), &open(5), T0 + DAY).unwrap();
    assert_eq!(c.electorate, 4, "1..4: the retired target is no voter");
    assert!(r.under_open_case(&id(5)));
    // The term ends while the case is open: frozen.
    let ms = tick_ok(&mut r, T0 + 180 * DAY);
    assert_eq!(of(&ms, 5), vec![], "no release under an open case");
    assert_eq!(
        r.stake_info(&id(5), T0 + 180 * DAY).unwrap().stake_e8s,
        R_MIN
    );
    for v in 1..=3u8 {
        r.vote(
            p(v),
            &VoteArgs {
                case_id: c.id,
                voter: id(v),
                yes: true,
            },
            T0 + 180 * DAY,
        )
        .unwrap();
    }
    assert!(matches!(
        r.get_node(&id(5)).unwrap().state,
        NodeState::Impeached { .. }
    ));
    let ms = tick_ok(&mut r, T0 + 180 * DAY + SEC);
    assert_eq!(of(&ms, 5), vec![MovementKind::Confiscate]);
    let conf = ms.iter().find(|m| m.node_id == id(5)).unwrap();
    assert_eq!((conf.to, conf.amount_e8s), (treasury(), R_MIN - FEE));
    assert_eq!(r.stake_info(&id(5), T0 + 181 * DAY).unwrap().stake_e8s, 0);

    // 4 retires and its stake is released at its term end: nothing left to open a case on.
    r.retire(p(4), &id(4), T0 + 200 * DAY).unwrap();
    let ms = tick_ok(&mut r, T0 + 270 * DAY);
    assert_eq!(of(&ms, 4), vec![MovementKind::Release]);
    assert_eq!(
        of(&ms, 5),
        vec![],
        "5's stake is never released to its owner"
    );
    assert_eq!(
        r.open_case(p(1), &open(4), T0 + 271 * DAY),
        Err(RegistryError::NodeNotLive)
    );
}
