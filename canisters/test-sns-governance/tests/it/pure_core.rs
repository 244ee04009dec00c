//! The proposal state machine without a canister: submission checks, the adoption rule,
//! ballots and execution bookkeeping.

use candid::Principal;
use emc_test_sns_governance::*;
use proptest::prelude::*;
use serde_bytes::ByteBuf;

const S: u64 = 1_000_000_000;

fn p(n: u8) -> Principal {
    Principal::from_slice(&[n, 1])
}

fn gov(stakes: &[u64]) -> Governance {
    Governance::new(&InitArgs {
        neurons: stakes
            .iter()
            .enumerate()
            .map(|(i, s)| Neuron {
                id: i as u64 + 1,
                controller: p(i as u8 + 1),
                stake_e8s: *s,
            })
            .collect(),
        voting_period_seconds: Some(100),
    })
    .unwrap()
}

fn function(id: u64) -> NervousSystemFunction {
    NervousSystemFunction {
        id,
        name: "f".into(),
        description: None,
        target_canister_id: p(100),
        target_method_name: "execute_f".into(),
        validator_canister_id: p(100),
        validator_method_name: "validate_f".into(),
    }
}

fn input(action: Action) -> ProposalInput {
    ProposalInput {
        title: "t".into(),
        summary: String::new(),
        action,
    }
}

fn exec(function_id: u64, payload: &[u8]) -> Action {
    Action::ExecuteGenericNervousSystemFunction(ExecuteGenericNervousSystemFunction {
        function_id,
        payload: ByteBuf::from(payload.to_vec()),
    })
}

/// A governance with function 1000 registered (neuron 1 holds a majority).
fn with_function() -> Governance {
    let mut g = gov(&[60, 25, 15]);
    let (id, e) = g
        .submit(
            p(1),
            1,
            input(Action::AddGenericNervousSystemFunction(function(1000))),
            None,
            0,
        )
        .unwrap();
    assert_eq!(e, None);
    assert_eq!(g.proposal(id).unwrap().status, ProposalStatus::Executed);
    g
}

#[test]
fn init_refuses_empty_zero_and_duplicate_neurons() {
    let n = |id, s| Neuron {
        id,
        controller: p(1),
        stake_e8s: s,
    };
    for neurons in [vec![], vec![n(1, 0)], vec![n(1, 5), n(1, 6)]] {
        assert!(Governance::new(&InitArgs {
            neurons,
            voting_period_seconds: None
        })
        .is_err());
    }
}

#[test]
fn function_ids_below_1000_and_taken_ids_are_refused() {
    let mut g = with_function();
    for id in [0, 999, 1000] {
        let r = g.check_submission(
            p(1),
            1,
            &input(Action::AddGenericNervousSystemFunction(function(id))),
        );
        assert!(
            matches!(r, Err(GovernanceError::InvalidProposal(_))),
            "{id}: {r:?}"
        );
    }
    assert_eq!(g.functions().len(), 1);
    // unknown function, not the controller, unknown neuron
    assert_eq!(
        g.check_submission(p(1), 1, &input(exec(1001, b""))),
        Err(GovernanceError::UnknownFunction(1001))
    );
    assert_eq!(
        g.check_submission(p(2), 1, &input(exec(1000, b""))),
        Err(GovernanceError::NotController(1))
    );
    assert_eq!(
        g.check_submission(p(1), 9, &input(exec(1000, b""))),
        Err(GovernanceError::UnknownNeuron(9))
    );
    // titles and summaries are bounded
    for (title, summary) in [
        (String::new(), String::new()),
        ("t".repeat(MAX_TITLE_BYTES + 1), String::new()),
        ("t".into(), "s".repeat(MAX_SUMMARY_BYTES + 1)),
    ] {
        let i = ProposalInput {
            title,
            summary,
            action: Action::Motion("m".into()),
        };
        assert!(matches!(
            g.check_submission(p(1), 1, &i),
            Err(GovernanceError::InvalidProposal(_))
        ));
    }
    // A validator's refusal stores nothing.
    let before = g.proposals(0, 100).len();
    assert_eq!(
        g.submit(p(2), 2, input(exec(1000, b"x")), Some(Err("no".into())), 5),
        Err(GovernanceError::InvalidProposal("no".into()))
    );
    assert_eq!(
        g.submit(p(2), 2, input(exec(1000, b"x")), None, 5),
        Err(GovernanceError::InvalidProposal(
            "the payload was not validated".into()
        ))
    );
    assert_eq!(g.proposals(0, 100).len(), before);
}

#[test]
fn a_majority_ballot_executes_with_the_payload_once() {
    let mut g = with_function();
    // neuron 2 (25 %) proposes: open
    let (id, e) = g
        .submit(
            p(2),
            2,
            input(exec(1000, b"DIDL")),
            Some(Ok("r".into())),
            10,
        )
        .unwrap();
    assert_eq!(e, None);
    let pr = g.proposal(id).unwrap();
    assert_eq!((pr.yes_e8s, pr.no_e8s, pr.total_e8s), (25, 0, 100));
    assert_eq!(pr.rendering, "r");
    assert_eq!(
        g.vote(p(2), 2, id, true, 11),
        Err(GovernanceError::AlreadyVoted(2))
    );
    assert_eq!(
        g.vote(p(3), 1, id, true, 11),
        Err(GovernanceError::NotController(1))
    );
    let e = g.vote(p(1), 1, id, true, 12).unwrap();
    assert_eq!(
        e,
        Some(Execution::Call {
            proposal: id,
            canister: p(100),
            method: "execute_f".into(),
            payload: b"DIDL".to_vec()
        })
    );
    assert_eq!(g.proposal(id).unwrap().status, ProposalStatus::Adopted);
    assert_eq!(
        g.vote(p(3), 3, id, false, 13),
        Err(GovernanceError::NotOpen(id))
    );
    g.record_execution(id, Err("trapped".into()), 14);
    assert_eq!(
        g.proposal(id).unwrap().status,
        ProposalStatus::Failed("trapped".into())
    );
    // recorded once: a second report changes nothing
    g.record_execution(id, Ok(()), 15);
    assert_eq!(
        g.proposal(id).unwrap().status,
        ProposalStatus::Failed("trapped".into())
    );
    assert_eq!(g.close_expired(u64::MAX), vec![]);
}

#[test]
fn half_the_stake_against_rejects_at_once() {
    let mut g = gov(&[50, 30, 20]);
    let (id, _) = g
        .submit(p(3), 3, input(Action::Motion("m".into())), None, 0)
        .unwrap();
    assert_eq!(g.vote(p(1), 1, id, false, 1), Ok(None));
    let pr = g.proposal(id).unwrap();
    assert_eq!(pr.status, ProposalStatus::Rejected);
    assert_eq!(pr.decided_at_ns, Some(1));
}

#[test]
fn upgrade_interrupted_executions_fail() {
    let mut g = with_function();
    let (id, e) = g
        .submit(p(1), 1, input(exec(1000, b"x")), Some(Ok("r".into())), 0)
        .unwrap();
    assert!(e.is_some());
    g.fail_interrupted(5);
    assert!(matches!(
        g.proposal(id).unwrap().status,
        ProposalStatus::Failed(_)
    ));
}

proptest! {
    /// At the deadline: adopted iff yes > no and yes >= 3 % of all stake; the decision is
    /// final and taken once; stake tallies equal the ballots.
    #[test]
    fn deadline_rule(stakes in prop::collection::vec(1u64..1_000 * S, 2..8),
                     ballots in prop::collection::vec(0u8..3, 8)) {
        let mut g = gov(&stakes);
        let total: u64 = stakes.iter().sum();
        // the smallest neuron proposes so that its yes rarely decides alone
        let proposer = (0..stakes.len()).min_by_key(|i| stakes[*i]).unwrap();
        let pid = proposer as u64 + 1;
        let (id, first) = g
            .submit(p(pid as u8), pid, input(Action::Motion("m".into())), None, 0)
            .unwrap();
        prop_assert_eq!(first, None);
        let mut decided_early = g.proposal(id).unwrap().status != ProposalStatus::Open;
        for (i, b) in ballots.iter().enumerate().take(stakes.len()) {
            let n = i as u64 + 1;
            if n == pid || *b == 2 || decided_early {
                continue;
            }
            g.vote(p(n as u8), n, id, *b == 1, 1).unwrap();
            decided_early = g.proposal(id).unwrap().status != ProposalStatus::Open;
        }
        let pr = g.proposal(id).unwrap();
        let yes: u64 = pr.ballots.iter().filter(|b| b.1).map(|b| stakes[b.0 as usize - 1]).sum();
        let no: u64 = pr.ballots.iter().filter(|b| !b.1).map(|b| stakes[b.0 as usize - 1]).sum();
        prop_assert_eq!((pr.yes_e8s, pr.no_e8s), (yes, no));
        if decided_early {
            let adopted = pr.status == ProposalStatus::Executed;
            prop_assert_eq!(adopted, u128::from(yes) * 2 > u128::from(total));
        } else {
            prop_assert!(g.close_expired(99 * 1_000_000_000).is_empty());
            prop_assert_eq!(g.proposal(id).unwrap().status, ProposalStatus::Open);
            g.close_expired(100 * 1_000_000_000);
            let adopted = yes > no && u128::from(yes) * 10_000 >= u128::from(total) * 300;
            let status = g.proposal(id).unwrap().status;
            prop_assert_eq!(status == ProposalStatus::Executed, adopted);
            prop_assert_eq!(status == ProposalStatus::Rejected, !adopted);
            // final
            g.close_expired(u64::MAX);
            prop_assert_eq!(g.proposal(id).unwrap().status, status);
        }
    }
}

fn upgrade(canister: Option<Principal>, wasm: &[u8], mode: Option<i32>) -> Action {
    Action::UpgradeSnsControlledCanister(UpgradeSnsControlledCanister {
        canister_id: canister,
        new_canister_wasm: ByteBuf::from(wasm.to_vec()),
        canister_upgrade_arg: Some(ByteBuf::from(b"DIDL\0\0".to_vec())),
        mode,
    })
}

#[test]
fn an_upgrade_is_refused_without_a_canister_a_wasm_or_a_governed_target() {
    let mut g = with_function();
    for (action, why) in [
        (upgrade(None, b"\0asm", None), "canister_id"),
        (upgrade(Some(p(100)), b"", None), "empty"),
        (upgrade(Some(p(100)), b"\0asm", Some(1)), "only mode 3"),
        (
            upgrade(Some(p(101)), b"\0asm", None),
            "not one the DAO governs",
        ),
    ] {
        match g.check_submission(p(1), 1, &input(action.clone())) {
            Err(GovernanceError::InvalidProposal(m)) => assert!(m.contains(why), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(g.submit(p(1), 1, input(action), None, 0).is_err());
    }
    assert_eq!(g.proposals(0, 100).len(), 1);
}

#[test]
fn an_adopted_upgrade_calls_install_code_in_upgrade_mode() {
    let mut g = with_function();
    let wasm = b"\0asm\x01\0\0\0 module".to_vec();
    let (id, e) = g
        .submit(
            p(1),
            1,
            input(upgrade(Some(p(100)), &wasm, Some(3))),
            None,
            7,
        )
        .unwrap();
    // rendering: the module hash (sha256) and size for voters
    let r = g.proposal(id).unwrap().rendering;
    let hash: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&wasm)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert!(
        r.contains(&hash) && r.contains(&format!("({} bytes)", wasm.len())),
        "{r}"
    );
    assert!(r.contains(&p(100).to_text()), "{r}");
    let Some(Execution::Call {
        proposal,
        canister,
        method,
        payload,
    }) = e
    else {
        panic!("{e:?}")
    };
    assert_eq!(proposal, id);
    assert_eq!(canister, Principal::management_canister());
    assert_eq!(method, "install_code");
    let args: InstallCodeArgs = candid::decode_one(&payload).unwrap();
    assert_eq!(args.mode, InstallCodeMode::Upgrade(None));
    assert_eq!(args.canister_id, p(100));
    assert_eq!(args.wasm_module, wasm);
    assert_eq!(args.arg, b"DIDL\0\0".to_vec());
    assert_eq!(g.proposal(id).unwrap().status, ProposalStatus::Adopted);
    // a listing leaves the wasm out; the proposal itself keeps it
    let listed = g.proposals(id - 1, 1);
    let Action::UpgradeSnsControlledCanister(u) = &listed[0].input.action else {
        panic!()
    };
    assert!(u.new_canister_wasm.is_empty());
    let Action::UpgradeSnsControlledCanister(u) = g.proposal(id).unwrap().input.action else {
        panic!()
    };
    assert_eq!(u.new_canister_wasm.into_vec(), wasm);
    // the management canister's reject is the failure reason
    g.record_execution(id, Err("caller is not a controller".into()), 9);
    assert_eq!(
        g.proposal(id).unwrap().status,
        ProposalStatus::Failed("caller is not a controller".into())
    );
}

#[test]
fn an_upgrade_whose_target_left_the_dao_fails_at_execution() {
    // neurons 1 and 2 must agree: the function is removed while the upgrade is open
    let mut g = gov(&[40, 35, 25]);
    let (f, _) = g
        .submit(
            p(1),
            1,
            input(Action::AddGenericNervousSystemFunction(function(1000))),
            None,
            0,
        )
        .unwrap();
    g.vote(p(2), 2, f, true, 0).unwrap();
    let (up, e) = g
        .submit(
            p(1),
            1,
            input(upgrade(Some(p(100)), b"\0asm", None)),
            None,
            0,
        )
        .unwrap();
    assert_eq!(e, None);
    let (rm, _) = g
        .submit(
            p(1),
            1,
            input(Action::RemoveGenericNervousSystemFunction(1000)),
            None,
            0,
        )
        .unwrap();
    g.vote(p(2), 2, rm, true, 0).unwrap();
    assert_eq!(g.vote(p(2), 2, up, true, 1).unwrap(), None);
    let ProposalStatus::Failed(why) = g.proposal(up).unwrap().status else {
        panic!()
    };
    assert!(why.contains("not one the DAO governs"), "{why}");
}
