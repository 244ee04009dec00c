//! Whole proposal lifecycles on the embedded IC: the stand-in governance is the `governance`
//! principal of the real registry, epochs and market (and of the ledger's record); every
//! governed method is driven through a proposal (register the function, propose, vote,
//! execute) and checked to change exactly its parameter, while the same call from any other
//! principal is refused with no state change. Build first:
//! `scripts/build-canisters.sh test-sns-governance ledger registry epochs market`.

use candid::{CandidType, Encode, Nat, Principal};
use emc_dao as dao;
use emc_embedded_ic::InstallMode;
use emc_epochs as ep;
use emc_ledger::{InitArgs as LedgerInit, LedgerArg};
use emc_market as mk;
use emc_registry as reg;
use emc_test_env::{canister_wasm, user, EmbeddedEnv, Reject, TestEnv, TestEnvExt};
use emc_test_sns_governance::emc::{emc_functions, EmcCanisters, EMC_FUNCTIONS};
use emc_test_sns_governance::*;
use emc_types::NodeId;
use icrc_ledger_types::icrc1::account::Account;
use serde_bytes::ByteBuf;
use std::time::Duration;

const E8S: u64 = 100_000_000;
const VOTING_SECS: u64 = 86_400;

fn admin() -> Principal {
    user(1)
}
/// Neuron `n`'s controller.
fn voter(n: u64) -> Principal {
    user(10 + n)
}
fn outsider() -> Principal {
    user(99)
}
fn acct(p: Principal) -> Account {
    Account {
        owner: p,
        subaccount: None,
    }
}

pub struct World {
    pub env: EmbeddedEnv,
    pub gov: Principal,
    pub ledger: Principal,
    pub registry: Principal,
    pub epochs: Principal,
    pub market: Principal,
    pub dao: Principal,
}

fn install(env: &mut EmbeddedEnv, id: Principal, name: &str, arg: Vec<u8>) {
    env.ic
        .install_code(id, InstallMode::Install, &canister_wasm(name), arg, admin())
        .unwrap();
}

/// Neurons 1, 2, 3 with 40 %, 35 % and 25 % of the stake; the four EMC canisters governed by
/// the stand-in governance; no function registered yet.
pub fn world() -> World {
    let mut env = EmbeddedEnv::new();
    let gov = env.ic.create_canister(vec![admin()]);
    let ledger = env.ic.create_canister(vec![admin()]);
    let registry = env.ic.create_canister(vec![admin()]);
    let epochs = env.ic.create_canister(vec![admin()]);
    let market = env.ic.create_canister(vec![admin()]);
    let dao = env.ic.create_canister(vec![admin()]);
    let neurons = [(1, 40), (2, 35), (3, 25)]
        .iter()
        .map(|(id, pct)| Neuron {
            id: *id,
            controller: voter(*id),
            stake_e8s: pct * 1_000_000 * E8S,
        })
        .collect();
    let init = InitArgs {
        neurons,
        voting_period_seconds: Some(VOTING_SECS),
    };
    install(
        &mut env,
        gov,
        "test-sns-governance",
        Encode!(&init).unwrap(),
    );
    let init = LedgerInit {
        token_name: "EdgeMatrix Computing".into(),
        token_symbol: "EMC".into(),
        decimals: None,
        transfer_fee: Nat::from(10_000u64),
        minting_account: acct(epochs),
        initial_balances: vec![],
        fee_collector_account: None,
        max_memo_length: None,
        governance: gov,
        supply_cap: None,
        metadata: None,
    };
    install(
        &mut env,
        ledger,
        "ledger",
        Encode!(&LedgerArg::Init(init)).unwrap(),
    );
    let args = reg::RegistryArg::Init(reg::InitArgs {
        ledger,
        governance: gov,
        treasury: acct(user(4)),
        epochs_canister: Some(epochs),
        ledger_fee_e8s: Some(10_000),
        params: None,
        genesis_time: None,
    });
    install(&mut env, registry, "registry", Encode!(&args).unwrap());
    let args = ep::EpochsArg::Init(ep::InitArgs {
        ledger,
        registry,
        governance: gov,
        params: None,
    });
    install(&mut env, epochs, "epochs", Encode!(&args).unwrap());
    let args = mk::MarketArg::Init(mk::InitArgs {
        ledger,
        epochs,
        registry,
        governance: gov,
        treasury: acct(user(4)),
        market_open_epoch: 0,
        params: None,
    });
    install(&mut env, market, "market", Encode!(&args).unwrap());
    let args = dao::InitArgs {
        governance: gov,
        epochs,
    };
    install(&mut env, dao, "dao", Encode!(&args).unwrap());
    World {
        env,
        gov,
        ledger,
        registry,
        epochs,
        market,
        dao,
    }
}

impl World {
    pub fn propose(&mut self, neuron: u64, action: Action) -> Result<u64, GovernanceError> {
        let input = ProposalInput {
            title: format!("{action:?}").chars().take(60).collect(),
            summary: "test".into(),
            action,
        };
        let (r,): (Result<u64, GovernanceError>,) = self
            .env
            .update_candid(self.gov, voter(neuron), "make_proposal", (neuron, input))
            .unwrap();
        r
    }

    pub fn vote(
        &mut self,
        neuron: u64,
        id: u64,
        yes: bool,
    ) -> Result<ProposalStatus, GovernanceError> {
        let (r,): (Result<ProposalStatus, GovernanceError>,) = self
            .env
            .update_candid(self.gov, voter(neuron), "register_vote", (neuron, id, yes))
            .unwrap();
        r
    }

    pub fn proposal(&mut self, id: u64) -> Proposal {
        let (p,): (Option<Proposal>,) = self
            .env
            .query_candid(self.gov, admin(), "get_proposal", (id,))
            .unwrap();
        p.unwrap()
    }

    /// Neuron 1 proposes (40 %), neuron 2 votes yes (75 %): adopted and executed in the vote.
    pub fn pass(&mut self, action: Action) -> Result<(u64, ProposalStatus), GovernanceError> {
        let id = self.propose(1, action)?;
        assert_eq!(self.proposal(id).status, ProposalStatus::Open);
        let status = self.vote(2, id, true).unwrap();
        Ok((id, status))
    }

    /// Runs an `ExecuteGenericNervousSystemFunction` proposal of `function_id` through.
    pub fn pass_call<T: CandidType>(
        &mut self,
        function_id: u64,
        payload: &T,
    ) -> Result<(u64, ProposalStatus), GovernanceError> {
        self.pass(execute(function_id, Encode!(payload).unwrap()))
    }

    pub fn register_all(&mut self) {
        let fs = emc_functions(&self.canisters());
        for f in fs.clone() {
            let (_, status) = self
                .pass(Action::AddGenericNervousSystemFunction(f))
                .unwrap();
            assert_eq!(status, ProposalStatus::Executed);
        }
        let (listed,): (Vec<NervousSystemFunction>,) = self
            .env
            .query_candid(self.gov, admin(), "list_nervous_system_functions", ())
            .unwrap();
        assert_eq!(listed, fs);
    }

    pub fn canisters(&self) -> EmcCanisters {
        EmcCanisters {
            registry: self.registry,
            epochs: self.epochs,
            market: self.market,
            dao: self.dao,
        }
    }

    pub fn dao_stats(&mut self) -> dao::Stats {
        let (s,): (dao::Stats,) = self
            .env
            .query_candid(self.dao, admin(), "stats", ())
            .unwrap();
        s
    }

    pub fn balance(&mut self, a: Account) -> u64 {
        let (n,): (Nat,) = self
            .env
            .query_candid(self.ledger, admin(), "icrc1_balance_of", (a,))
            .unwrap();
        u64::try_from(n.0).unwrap()
    }

    /// `who` applies for `amount` e8s with two milestones.
    pub fn apply(&mut self, who: Principal, amount: u64) -> u64 {
        let a = dao::ApplicationArgs {
            title: format!("tooling {amount}"),
            description: "an SDK for EMC compute".into(),
            amount_e8s: amount,
            milestones: vec![
                dao::Milestone {
                    description: "alpha".into(),
                    amount_e8s: amount / 2,
                },
                dao::Milestone {
                    description: "release".into(),
                    amount_e8s: amount - amount / 2,
                },
            ],
            recipient: None,
        };
        let (r,): (Result<u64, dao::DaoError>,) = self
            .env
            .update_candid(self.dao, who, "submit_application", (a,))
            .unwrap();
        r.unwrap()
    }

    pub fn application(&mut self, id: u64) -> dao::Application {
        let (a,): (Option<dao::Application>,) = self
            .env
            .query_candid(self.dao, admin(), "application", (id,))
            .unwrap();
        a.unwrap()
    }

    /// `who` claims `amount` from `batch` with the leaf at `proof.0`.
    pub fn claim(
        &mut self,
        who: Principal,
        amount: u64,
        batch: u64,
        proof: &(u64, Vec<emc_types::Hash>),
    ) -> Result<u64, dao::DaoError> {
        let c = dao::ClaimArgs {
            batch_id: batch,
            subaccount: None,
            amount_e8s: amount,
            leaf_index: proof.0,
            proof: proof.1.clone(),
        };
        let (r,): (Result<u64, dao::DaoError>,) = self
            .env
            .update_candid(self.dao, who, "claim_airdrop", (c,))
            .unwrap();
        r
    }

    /// Mints the DAO canister's pending payments; returns how many were paid.
    pub fn run_payments(&mut self) -> u64 {
        let (n,): (u64,) = self
            .env
            .update_candid(self.dao, admin(), "run_payments", ())
            .unwrap();
        n
    }

    pub fn registry_config(&mut self) -> reg::Config {
        let (c,): (reg::Config,) = self
            .env
            .query_candid(self.registry, admin(), "get_config", ())
            .unwrap();
        c
    }
    pub fn epochs_config(&mut self) -> ep::Config {
        let (c,): (ep::Config,) = self
            .env
            .query_candid(self.epochs, admin(), "get_config", ())
            .unwrap();
        c
    }
    pub fn market_config(&mut self) -> mk::Config {
        let (c,): (mk::Config,) = self
            .env
            .query_candid(self.market, admin(), "get_config", ())
            .unwrap();
        c
    }

    /// `execute_create_airdrop_batch` from anyone but governance is refused.
    fn refused_dao(&mut self, b: &dao::AirdropBatchArgs) {
        for who in [outsider(), voter(1), admin()] {
            let r = self.env.update(
                self.dao,
                who,
                "execute_create_airdrop_batch",
                Encode!(b).unwrap(),
            );
            assert!(r.is_err());
        }
        assert_eq!(self.dao_stats().batches, 0);
    }

    /// The direct call of `method` with `arg` from `who` (not governance) is refused.
    fn refused<T: CandidType>(
        &mut self,
        canister: Principal,
        who: Principal,
        method: &str,
        arg: &T,
    ) {
        let r = self
            .env
            .update(canister, who, method, Encode!(arg).unwrap());
        let e: Reject = r.expect_err(method);
        assert!(
            e.message.contains("only governance"),
            "{method}: {}",
            e.message
        );
    }
}

pub fn execute(function_id: u64, payload: Vec<u8>) -> Action {
    Action::ExecuteGenericNervousSystemFunction(ExecuteGenericNervousSystemFunction {
        function_id,
        payload: ByteBuf::from(payload),
    })
}

/// Every governed method: a proposal changes exactly its parameter; the same call from an
/// outsider (and from a neuron's controller) is refused with no change. The three `resolve_*`
/// functions need a transfer stuck past the ledger's 24 h window (their canisters' own tests
/// settle one): here their validators refuse an unknown id, which refuses the proposal.
#[test]
fn every_governed_method_through_a_proposal() {
    let mut w = world();
    w.register_all();

    // 1000 registry parameters: only the impeachment period changes.
    let before = w.registry_config();
    let mut p = before.params.clone();
    p.impeachment_period_secs += 86_400;
    for who in [outsider(), voter(1), admin()] {
        w.refused(w.registry, who, "execute_set_params", &p);
    }
    assert_eq!(w.registry_config(), before);
    let (id, status) = w.pass_call(1000, &p).unwrap();
    assert_eq!(status, ProposalStatus::Executed);
    assert!(w.proposal(id).rendering.contains("set registry parameters"));
    let mut expected = before.clone();
    expected.params = p;
    assert_eq!(w.registry_config(), expected);

    // 1001 treasury
    let t = acct(user(77));
    w.refused(w.registry, outsider(), "execute_set_treasury", &t);
    assert_eq!(w.registry_config(), expected);
    assert_eq!(w.pass_call(1001, &t).unwrap().1, ProposalStatus::Executed);
    expected.treasury = t;
    assert_eq!(w.registry_config(), expected);

    // 1002 epochs canister
    let e = Some(user(78));
    w.refused(w.registry, outsider(), "execute_set_epochs_canister", &e);
    assert_eq!(w.pass_call(1002, &e).unwrap().1, ProposalStatus::Executed);
    expected.epochs_canister = e;
    assert_eq!(w.registry_config(), expected);

    // 1003 resolve movement: refused by the validator, nothing stored
    let ra = reg::ResolveMovementArgs {
        movement_id: 7,
        executed_in_block: None,
    };
    w.refused(w.registry, outsider(), "execute_resolve_movement", &ra);
    let r = w.pass_call(1003, &ra);
    assert!(
        matches!(r, Err(GovernanceError::InvalidProposal(_))),
        "{r:?}"
    );

    // 1004 epochs parameters: only the payout batch changes.
    let before = w.epochs_config();
    let mut p = before.params.clone();
    p.payout_batch += 1;
    w.refused(w.epochs, outsider(), "execute_set_params", &p);
    assert_eq!(w.epochs_config(), before);
    assert_eq!(w.pass_call(1004, &p).unwrap().1, ProposalStatus::Executed);
    let mut expected = before.clone();
    expected.params = p;
    assert_eq!(w.epochs_config(), expected);

    // 1005 the market allowed to mint
    let m = Some(w.market);
    w.refused(w.epochs, outsider(), "execute_set_market", &m);
    assert_eq!(w.epochs_config(), expected);
    assert_eq!(w.pass_call(1005, &m).unwrap().1, ProposalStatus::Executed);
    expected.market = m;
    assert_eq!(w.epochs_config(), expected);

    // 1012 the DAO canister allowed to mint grants and the airdrop
    let d = Some(w.dao);
    w.refused(w.epochs, outsider(), "execute_set_dao", &d);
    assert_eq!(w.epochs_config(), expected);
    assert_eq!(w.pass_call(1012, &d).unwrap().1, ProposalStatus::Executed);
    expected.dao = d;
    assert_eq!(w.epochs_config(), expected);

    // 1006 resolve payout: refused by the validator
    let rp = ep::ResolvePayoutArgs {
        epoch: 3,
        node: NodeId([5; 32]),
        executed_in_block: None,
    };
    w.refused(w.epochs, outsider(), "execute_resolve_payout", &rp);
    assert!(matches!(
        w.pass_call(1006, &rp),
        Err(GovernanceError::InvalidProposal(_))
    ));

    // 1007 market parameters: only the offers per provider change.
    let before = w.market_config();
    let mut p = before.params.clone();
    p.max_offers_per_provider += 3;
    w.refused(w.market, outsider(), "execute_set_params", &p);
    assert_eq!(w.market_config(), before);
    assert_eq!(w.pass_call(1007, &p).unwrap().1, ProposalStatus::Executed);
    let mut expected_m = before.clone();
    expected_m.params = p;
    assert_eq!(w.market_config(), expected_m);

    // 1017 the sockets canister the market mints in: only that changes.
    let sockets_of = |w: &mut World| -> Option<Principal> {
        w.env
            .query_candid::<_, (Option<Principal>,)>(w.market, admin(), "sockets_canister", ())
            .unwrap()
            .0
    };
    let s = Some(user(81));
    w.refused(w.market, outsider(), "execute_set_sockets", &s);
    assert_eq!(sockets_of(&mut w), None);
    assert_eq!(w.pass_call(1017, &s).unwrap().1, ProposalStatus::Executed);
    assert_eq!(sockets_of(&mut w), s);
    assert_eq!(w.market_config(), expected_m);

    // 1008 resolve transfer: refused by the validator
    let rt = mk::ResolveTransferArgs {
        id: 11,
        executed_in_block: Some(3),
    };
    w.refused(w.market, outsider(), "execute_resolve_transfer", &rt);
    assert!(matches!(
        w.pass_call(1008, &rt),
        Err(GovernanceError::InvalidProposal(_))
    ));

    // 1016 resolve a DAO payment: refused by the validator
    let rpay = dao::ResolvePaymentArgs {
        id: 4,
        executed_in_block: None,
    };
    w.refused(w.dao, outsider(), "execute_resolve_payment", &rpay);
    assert!(matches!(
        w.pass_call(1016, &rpay),
        Err(GovernanceError::InvalidProposal(_))
    ));

    // 1009-1011 governance hand-over. A treasury proposal is adopted only after the registry
    // has moved to a new governance: its execution traps and is recorded as failed, with no
    // change.
    let pending = w
        .propose(3, execute(1001, Encode!(&acct(user(79))).unwrap()))
        .unwrap();
    let new_gov = user(7);
    let dao_before: dao::Config = w
        .env
        .query_candid::<_, (dao::Config,)>(w.dao, admin(), "get_config", ())
        .unwrap()
        .0;
    for (fid, canister) in [
        (1009, w.registry),
        (1010, w.epochs),
        (1011, w.market),
        (1015, w.dao),
    ] {
        w.refused(canister, outsider(), "execute_set_governance", &new_gov);
        assert_eq!(
            w.pass_call(fid, &new_gov).unwrap().1,
            ProposalStatus::Executed
        );
    }
    let mut expected_r = w.registry_config();
    assert_eq!(expected_r.governance, new_gov);
    assert_eq!(w.epochs_config().governance, new_gov);
    assert_eq!(w.market_config().governance, new_gov);
    let (dao_after,): (dao::Config,) = w
        .env
        .query_candid(w.dao, admin(), "get_config", ())
        .unwrap();
    assert_eq!(
        dao_after,
        dao::Config {
            governance: new_gov,
            ..dao_before
        }
    );
    expected.governance = new_gov;
    assert_eq!(w.epochs_config(), expected);
    expected_m.governance = new_gov;
    assert_eq!(w.market_config(), expected_m);
    let status = w.vote(1, pending, true).unwrap();
    assert!(
        matches!(&status, ProposalStatus::Failed(why) if why.contains("only governance")),
        "{status:?}"
    );
    assert_eq!(w.registry_config(), expected_r);
    // The old governance is refused now; the new one is obeyed.
    let t = acct(user(80));
    w.refused(w.registry, w.gov, "execute_set_treasury", &t);
    let () = w
        .env
        .update_candid(w.registry, new_gov, "execute_set_treasury", (t,))
        .unwrap();
    expected_r.treasury = t;
    assert_eq!(w.registry_config(), expected_r);
    assert_eq!(EMC_FUNCTIONS.len(), 18);
}

/// Bad input: a payload that does not decode, out-of-range parameters, an unknown function,
/// an id below 1000, a stranger's neuron. Each is refused at submission with a readable
/// reason and nothing changes; the target, called directly by governance with the same bad
/// payload, traps.
#[test]
fn bad_proposals_are_refused_with_a_reason() {
    let mut w = world();
    w.register_all();
    let before = (w.registry_config(), w.epochs_config(), w.market_config());
    let (n0,): (Vec<Proposal>,) = w
        .env
        .query_candid(w.gov, admin(), "list_proposals", (0u64, 100u32))
        .unwrap();

    // not candid
    let r = w.propose(1, execute(1007, b"not candid".to_vec()));
    assert!(
        matches!(&r, Err(GovernanceError::InvalidProposal(why)) if why.contains("rejected")),
        "{r:?}"
    );
    // candid of the wrong type
    let r = w.propose(1, execute(1004, Encode!(&42u64).unwrap()));
    assert!(
        matches!(r, Err(GovernanceError::InvalidProposal(_))),
        "{r:?}"
    );
    // out of range: a trade reward cap of 100 % of the fee
    let mut p = before.2.params.clone();
    p.trade_reward_cap_bps = 10_000;
    let r = w.propose(1, execute(1007, Encode!(&p).unwrap()));
    assert!(
        matches!(r, Err(GovernanceError::InvalidProposal(_))),
        "{r:?}"
    );
    // ... and the target traps on it even from governance itself
    let direct = w
        .env
        .update(w.market, w.gov, "execute_set_params", Encode!(&p).unwrap());
    assert!(direct.is_err());
    // a zero epoch length
    let mut ep = before.1.params.clone();
    ep.epoch_length_blocks = 0;
    let r = w.propose(1, execute(1004, Encode!(&ep).unwrap()));
    assert!(
        matches!(r, Err(GovernanceError::InvalidProposal(_))),
        "{r:?}"
    );
    // the anonymous principal as governance
    let r = w.propose(1, execute(1009, Encode!(&Principal::anonymous()).unwrap()));
    assert!(
        matches!(r, Err(GovernanceError::InvalidProposal(_))),
        "{r:?}"
    );
    // unknown function, low id, not the neuron's controller
    assert_eq!(
        w.propose(1, execute(1999, vec![])),
        Err(GovernanceError::UnknownFunction(1999))
    );
    let mut f = emc_functions(&w.canisters())[0].clone();
    f.id = 999;
    assert!(matches!(
        w.propose(1, Action::AddGenericNervousSystemFunction(f)),
        Err(GovernanceError::InvalidProposal(_))
    ));
    let input = ProposalInput {
        title: "x".into(),
        summary: String::new(),
        action: Action::Motion("m".into()),
    };
    let (r,): (Result<u64, GovernanceError>,) = w
        .env
        .update_candid(w.gov, outsider(), "make_proposal", (1u64, input))
        .unwrap();
    assert_eq!(r, Err(GovernanceError::NotController(1)));

    let (n1,): (Vec<Proposal>,) = w
        .env
        .query_candid(w.gov, admin(), "list_proposals", (0u64, 100u32))
        .unwrap();
    assert_eq!(n0, n1, "no refused proposal is stored");
    assert_eq!(
        before,
        (w.registry_config(), w.epochs_config(), w.market_config())
    );
}

/// The vote: a majority against rejects (no execution); at the deadline, a plurality of yes
/// above 3 % adopts and the timer executes it.
#[test]
fn votes_and_deadlines() {
    let mut w = world();
    w.register_all();
    let before = w.market_config();
    let mut p = before.params.clone();
    p.max_batch += 1;
    // rejected: neuron 3 proposes (25 %), neurons 1 and 2 vote no
    let id = w.propose(3, execute(1007, Encode!(&p).unwrap())).unwrap();
    assert_eq!(w.vote(1, id, false).unwrap(), ProposalStatus::Open);
    assert_eq!(w.vote(2, id, false).unwrap(), ProposalStatus::Rejected);
    assert!(matches!(
        w.vote(2, id, true),
        Err(GovernanceError::NotOpen(_))
    ));
    assert_eq!(w.market_config(), before);
    // at the deadline: 25 % yes against nothing: adopted and executed by the timer
    let id = w.propose(3, execute(1007, Encode!(&p).unwrap())).unwrap();
    w.env.advance_time(Duration::from_secs(VOTING_SECS - 120));
    w.env.tick();
    assert_eq!(w.proposal(id).status, ProposalStatus::Open);
    w.env.advance_time(Duration::from_secs(200));
    w.env.tick();
    w.env.tick();
    let pr = w.proposal(id);
    assert_eq!(pr.status, ProposalStatus::Executed);
    assert!(pr.executed_at_ns.is_some());
    let mut expected = before.clone();
    expected.params = p;
    assert_eq!(w.market_config(), expected);
    // a ballot after the deadline is refused
    assert!(matches!(
        w.vote(1, id, true),
        Err(GovernanceError::NotOpen(_))
    ));
}

/// Upgrades as direct controller calls keep every governed value and the proposals (by
/// proposal: `an_upgrade_proposal_carries_all_state_across`).
#[test]
fn upgrades_carry_governed_state() {
    let mut w = world();
    w.register_all();
    let mut rp = w.registry_config().params;
    rp.key_leak_period_secs += 60;
    w.pass_call(1000, &rp).unwrap();
    let mut mp = w.market_config().params;
    mp.withdrawal_notice_ns += 1;
    w.pass_call(1007, &mp).unwrap();
    w.pass_call(1005, &Some(w.market)).unwrap();
    w.pass_call(1012, &Some(w.dao)).unwrap();
    let app = w.apply(user(200), 1_000 * E8S);
    let grant = dao::GrantArgs {
        application_id: app,
        amount_e8s: 900 * E8S,
    };
    w.pass_call(1013, &grant).unwrap();
    let entries: Vec<(Account, u64)> = (0..4)
        .map(|i| (acct(user(300 + i)), (i + 1) * E8S))
        .collect();
    let (batch, proofs) = dao::airdrop_tree("test rule", &entries);
    w.pass_call(1014, &batch).unwrap();
    w.claim(user(300), E8S, 1, &proofs[0]).unwrap();
    w.pass_call(1010, &user(7)).unwrap();
    w.run_payments();
    let dao_before = (w.dao_stats(), w.application(app));
    assert_eq!(dao_before.0.grants_paid_e8s, 900 * E8S);
    let before = (w.registry_config(), w.epochs_config(), w.market_config());
    let (props_before,): (Vec<Proposal>,) = w
        .env
        .query_candid(w.gov, admin(), "list_proposals", (0u64, 100u32))
        .unwrap();
    for (c, name, arg) in [
        (
            w.registry,
            "registry",
            Encode!(&Some(reg::RegistryArg::Upgrade)).unwrap(),
        ),
        (
            w.epochs,
            "epochs",
            Encode!(&Some(ep::EpochsArg::Upgrade)).unwrap(),
        ),
        (
            w.market,
            "market",
            Encode!(&Some(mk::MarketArg::Upgrade)).unwrap(),
        ),
        (w.gov, "test-sns-governance", Encode!().unwrap()),
        (w.dao, "dao", Encode!().unwrap()),
    ] {
        // only a controller
        assert!(w
            .env
            .upgrade(c, &canister_wasm(name), arg.clone(), outsider())
            .is_err());
        w.env
            .upgrade(c, &canister_wasm(name), arg, admin())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_eq!(
        before,
        (w.registry_config(), w.epochs_config(), w.market_config())
    );
    let (props_after,): (Vec<Proposal>,) = w
        .env
        .query_candid(w.gov, admin(), "list_proposals", (0u64, 100u32))
        .unwrap();
    assert_eq!(props_before, props_after);
    assert_eq!(dao_before, (w.dao_stats(), w.application(app)));
    // the claims set survived: the same account cannot claim again, another still can
    assert_eq!(
        w.claim(user(300), E8S, 1, &proofs[0]),
        Err(dao::DaoError::AlreadyClaimed)
    );
    w.claim(user(301), 2 * E8S, 1, &proofs[1]).unwrap();
    // and governance still works after the upgrade
    mp.withdrawal_notice_ns += 1;
    assert_eq!(w.pass_call(1007, &mp).unwrap().1, ProposalStatus::Executed);
    assert_eq!(w.market_config().params, mp);
}

/// Developer grants: an application on chain, granted by a proposal, paid once; the 252M cap
/// holds across grants (the last one that would pass it is refused by the validator, and the
/// epochs canister refuses to mint past it too); only governance grants.
#[test]
fn grants_are_paid_once_within_the_pool() {
    const M: u64 = 1_000_000 * E8S;
    let mut w = world();
    w.register_all();
    w.pass_call(1012, &Some(w.dao)).unwrap();
    let dev = user(200);
    let a = w.apply(dev, 100 * M);
    let app = w.application(a);
    assert_eq!(app.applicant, dev);
    assert_eq!(app.args.milestones.len(), 2);
    assert_eq!(app.status, dao::ApplicationStatus::Submitted);
    let g = dao::GrantArgs {
        application_id: a,
        amount_e8s: 100 * M,
    };
    // only governance
    for who in [outsider(), dev, voter(1)] {
        assert!(w
            .env
            .update(w.dao, who, "execute_grant", Encode!(&g).unwrap())
            .is_err());
    }
    assert_eq!(w.dao_stats().grants_reserved_e8s, 0);
    // more than requested: refused
    let too_much = dao::GrantArgs {
        amount_e8s: 100 * M + 1,
        ..g.clone()
    };
    assert!(matches!(
        w.pass_call(1013, &too_much),
        Err(GovernanceError::InvalidProposal(_))
    ));
    let (id, status) = w.pass_call(1013, &g).unwrap();
    assert_eq!(status, ProposalStatus::Executed);
    assert!(w.proposal(id).rendering.contains("100000000.00000000 EMC"));
    w.env.tick();
    w.run_payments();
    assert_eq!(w.balance(acct(dev)), 100 * M);
    // paid once: a second grant of the same application is refused, and payments do not repeat
    assert!(matches!(
        w.pass_call(1013, &g),
        Err(GovernanceError::InvalidProposal(_))
    ));
    assert_eq!(w.run_payments(), 0);
    assert_eq!(w.balance(acct(dev)), 100 * M);
    // many grants up to the cap: 100M + 15 x 10M = 250M, then 2M = 252M exactly
    let mut granted = 100 * M;
    for i in 0..15 {
        let a = w.apply(user(400 + i), 10 * M);
        w.pass_call(
            1013,
            &dao::GrantArgs {
                application_id: a,
                amount_e8s: 10 * M,
            },
        )
        .unwrap();
        granted += 10 * M;
    }
    let last = w.apply(user(500), 3 * M);
    let r = w.pass_call(
        1013,
        &dao::GrantArgs {
            application_id: last,
            amount_e8s: 3 * M,
        },
    );
    assert!(
        matches!(&r, Err(GovernanceError::InvalidProposal(why)) if why.contains("cap")),
        "{r:?}"
    );
    w.pass_call(
        1013,
        &dao::GrantArgs {
            application_id: last,
            amount_e8s: 2 * M,
        },
    )
    .unwrap();
    granted += 2 * M;
    assert_eq!(granted, emc_tokenomics::DEVELOPER_REWARD_POOL_CAP);
    w.run_payments();
    let s = w.dao_stats();
    assert_eq!(s.grants_reserved_e8s, granted);
    assert_eq!(s.grants_paid_e8s, granted);
    assert_eq!(s.pending_payments, 0);
    let (es,): (ep::Stats,) = w.env.query_candid(w.epochs, admin(), "stats", ()).unwrap();
    assert_eq!(es.grants_minted_e8s, granted);
    assert_eq!(es.airdrop_minted_e8s, 0);
    // the pool is empty: even 1 e8s is refused
    let one = w.apply(user(501), 1);
    assert!(w
        .pass_call(
            1013,
            &dao::GrantArgs {
                application_id: one,
                amount_e8s: 1
            }
        )
        .is_err());
    // nobody but the DAO canister mints from the pools
    let m = ep::DaoMint {
        pool: ep::DaoPool::DeveloperGrants,
        to: acct(outsider()),
        amount_e8s: 1,
        created_at_time: w.env.time_nanos(),
        memo: ByteBuf::from(b"x".to_vec()),
    };
    let (r,): (Result<u64, ep::EpochsError>,) = w
        .env
        .update_candid(w.epochs, outsider(), "mint_dao_reward", (m.clone(),))
        .unwrap();
    assert_eq!(r, Err(ep::EpochsError::NotDao));
    // and the epochs canister holds the cap on its own, even for the DAO canister
    let (r,): (Result<u64, ep::EpochsError>,) = w
        .env
        .update_candid(w.epochs, w.dao, "mint_dao_reward", (m,))
        .unwrap();
    assert_eq!(
        r,
        Err(ep::EpochsError::DaoPoolExhausted(
            ep::DaoPool::DeveloperGrants
        ))
    );
}

/// The airdrop: a batch (Merkle root of (account, amount)) created by a proposal; each
/// account claims once with its proof; wrong proofs and second claims are refused; the batch
/// total and the 105M pool hold.
#[test]
fn an_airdrop_batch_pays_each_account_once() {
    let mut w = world();
    w.register_all();
    w.pass_call(1012, &Some(w.dao)).unwrap();
    let mut entries: Vec<(Account, u64)> = (0..6)
        .map(|i| (acct(user(300 + i)), (i + 1) * 1_000 * E8S))
        .collect();
    // a subaccount's leaf
    entries.push((
        Account {
            owner: user(300),
            subaccount: Some([7; 32]),
        },
        5 * E8S,
    ));
    let (batch, proofs) =
        dao::airdrop_tree("nodes and traders of epochs 1-10, 1k EMC steps", &entries);
    w.refused_dao(&batch);
    let (id, status) = w.pass_call(1014, &batch).unwrap();
    assert_eq!(status, ProposalStatus::Executed);
    assert!(w.proposal(id).rendering.contains("to 7 accounts"));
    let b = 1; // the DAO canister's first id
    let (stored,): (Option<dao::AirdropBatch>,) = w
        .env
        .query_candid(w.dao, admin(), "airdrop_batch", (b,))
        .unwrap();
    assert_eq!(stored.unwrap().args, batch);
    // someone else's proof, a wrong amount, a wrong index
    assert_eq!(
        w.claim(outsider(), entries[0].1, b, &proofs[0]),
        Err(dao::DaoError::BadProof)
    );
    assert_eq!(
        w.claim(user(300), entries[0].1 + 1, b, &proofs[0]),
        Err(dao::DaoError::BadProof)
    );
    assert_eq!(
        w.claim(user(300), entries[0].1, b, &proofs[1]),
        Err(dao::DaoError::BadProof)
    );
    for (i, (a, amount)) in entries.iter().enumerate().take(6) {
        w.claim(a.owner, *amount, b, &proofs[i]).unwrap();
        assert_eq!(
            w.claim(a.owner, *amount, b, &proofs[i]),
            Err(dao::DaoError::AlreadyClaimed)
        );
    }
    // the subaccount leaf is its own account
    let c = dao::ClaimArgs {
        batch_id: b,
        subaccount: Some(ByteBuf::from(vec![7; 32])),
        amount_e8s: 5 * E8S,
        leaf_index: proofs[6].0,
        proof: proofs[6].1.clone(),
    };
    let (r,): (Result<u64, dao::DaoError>,) = w
        .env
        .update_candid(w.dao, user(300), "claim_airdrop", (c.clone(),))
        .unwrap();
    r.unwrap();
    let (r,): (Result<u64, dao::DaoError>,) = w
        .env
        .update_candid(w.dao, user(300), "claim_airdrop", (c,))
        .unwrap();
    assert_eq!(r, Err(dao::DaoError::AlreadyClaimed));
    w.env.tick();
    w.run_payments();
    for (a, amount) in &entries {
        assert_eq!(w.balance(*a), *amount, "{a}");
    }
    let s = w.dao_stats();
    assert_eq!(s.airdrop_reserved_e8s, batch.total_e8s);
    assert_eq!(s.airdrop_paid_e8s, batch.total_e8s);
    assert_eq!(s.pending_payments, 0);
    // the same root again, and a batch past the 105M pool: refused
    assert!(matches!(
        w.pass_call(1014, &batch),
        Err(GovernanceError::InvalidProposal(_))
    ));
    let (big, _) = dao::airdrop_tree(
        "too much",
        &[(
            acct(user(1)),
            emc_tokenomics::AIRDROP_POOL_CAP - batch.total_e8s + 1,
        )],
    );
    let r = w.pass_call(1014, &big);
    assert!(
        matches!(&r, Err(GovernanceError::InvalidProposal(why)) if why.contains("cap")),
        "{r:?}"
    );
    // exactly the rest of the pool is accepted
    let (rest, _) = dao::airdrop_tree(
        "the rest",
        &[(
            acct(user(1)),
            emc_tokenomics::AIRDROP_POOL_CAP - batch.total_e8s,
        )],
    );
    assert_eq!(
        w.pass_call(1014, &rest).unwrap().1,
        ProposalStatus::Executed
    );
    assert_eq!(
        w.dao_stats().airdrop_reserved_e8s,
        emc_tokenomics::AIRDROP_POOL_CAP
    );
}

/// A settlement proposal end to end: a registry whose ledger fails every call leaves a stake
/// pull pending, then `Stuck` past the ledger's 24 h window; a proposal of its
/// `execute_resolve_movement` (registered as a generic function of this registry) settles it,
/// while the same call from the node's owner is refused. (The epochs and market settlements
/// follow the same pattern; their stuck paths are tested in their own crates.)
#[test]
fn a_stuck_stake_movement_is_settled_by_a_proposal() {
    use ed25519_dalek::{Signer, SigningKey};
    let mut w = world();
    let fake_ledger = w
        .env
        .install(
            &canister_wasm("test-canister"),
            Encode!(&None::<()>).unwrap(),
            vec![admin()],
        )
        .unwrap();
    let args = reg::RegistryArg::Init(reg::InitArgs {
        ledger: fake_ledger,
        governance: w.gov,
        treasury: acct(user(4)),
        epochs_canister: None,
        ledger_fee_e8s: Some(10_000),
        params: None,
        genesis_time: None,
    });
    let registry = w
        .env
        .install(
            &canister_wasm("registry"),
            Encode!(&args).unwrap(),
            vec![admin()],
        )
        .unwrap();
    let f = NervousSystemFunction {
        id: 1100,
        name: "Settle a stuck stake movement (second registry)".into(),
        description: None,
        target_canister_id: registry,
        target_method_name: "execute_resolve_movement".into(),
        validator_canister_id: registry,
        validator_method_name: "validate_resolve_movement".into(),
    };
    w.pass(Action::AddGenericNervousSystemFunction(f)).unwrap();
    // a router registers and stakes; the ledger fails
    let owner = user(500);
    let (nonce,): (Result<ByteBuf, reg::RegistryError>,) = w
        .env
        .update_candid(registry, owner, "registration_nonce", ())
        .unwrap();
    let nonce: [u8; 32] = nonce.unwrap().as_slice().try_into().unwrap();
    let k = SigningKey::from_bytes(&[9; 32]);
    let ra = reg::RegisterArgs {
        role: reg::Role::Router,
        public_key: ByteBuf::from(k.verifying_key().to_bytes().to_vec()),
        network_address: "10.1.0.9:4000".into(),
        region: "eu-central".into(),
        hardware: "node".into(),
        signature: ByteBuf::from(
            k.sign(&reg::rules::registration_message(
                &owner,
                &nonce,
                reg::Role::Router,
            ))
            .to_bytes()
            .to_vec(),
        ),
    };
    let (r,): (Result<reg::Node, reg::RegistryError>,) = w
        .env
        .update_candid(registry, owner, "register", (ra,))
        .unwrap();
    let node = r.unwrap().id;
    let sa = reg::StakeArgs {
        node_id: node,
        amount_e8s: 100_000 * E8S,
        term_days: 180,
    };
    let (r,): (Result<reg::StakeInfo, reg::RegistryError>,) = w
        .env
        .update_candid(registry, owner, "stake", (sa,))
        .unwrap();
    let Err(reg::RegistryError::LedgerUnavailable { movement_id, .. }) = r else {
        panic!("{r:?}")
    };
    let settle = reg::ResolveMovementArgs {
        movement_id,
        executed_in_block: None,
    };
    // not stuck yet: the validator refuses, so does the proposal
    assert!(matches!(
        w.pass_call(1100, &settle),
        Err(GovernanceError::InvalidProposal(_))
    ));
    w.env.advance_time(Duration::from_secs(24 * 3600));
    let movement = |w: &mut World| -> reg::Movement {
        let (m,): (Option<reg::Movement>,) = w
            .env
            .query_candid(registry, admin(), "movement", (movement_id,))
            .unwrap();
        m.unwrap()
    };
    assert_eq!(movement(&mut w).status, reg::MovementStatus::Stuck);
    w.refused(registry, owner, "execute_resolve_movement", &settle);
    assert_eq!(movement(&mut w).status, reg::MovementStatus::Stuck);
    let (id, status) = w.pass_call(1100, &settle).unwrap();
    assert_eq!(status, ProposalStatus::Executed);
    assert!(w.proposal(id).rendering.contains("never executed"));
    assert!(matches!(
        movement(&mut w).status,
        reg::MovementStatus::Failed { .. }
    ));
}

/// A grant whose mint fails (the epochs canister does not know the DAO canister yet) is retried,
/// then `Stuck` after 23 h and no longer retried; a proposal of function 1016 re-issues it and
/// it is paid once the DAO canister may mint.
#[test]
fn a_stuck_grant_payment_is_reissued_by_a_proposal() {
    let mut w = world();
    w.register_all();
    let dev = user(200);
    let a = w.apply(dev, 1_000 * E8S);
    let g = dao::GrantArgs {
        application_id: a,
        amount_e8s: 1_000 * E8S,
    };
    w.pass_call(1013, &g).unwrap();
    let payment = |w: &mut World| -> dao::Payment {
        let (p,): (Option<dao::Payment>,) = w
            .env
            .query_candid(w.dao, admin(), "payment", (1u64,))
            .unwrap();
        p.unwrap()
    };
    assert_eq!(w.run_payments(), 0);
    assert_eq!(payment(&mut w).status, dao::PaymentStatus::Pending);
    let settle = dao::ResolvePaymentArgs {
        id: 1,
        executed_in_block: None,
    };
    assert!(w.pass_call(1016, &settle).is_err(), "not stuck yet");
    w.env.advance_time(Duration::from_secs(24 * 3600));
    w.run_payments();
    assert_eq!(payment(&mut w).status, dao::PaymentStatus::Stuck);
    w.refused(w.dao, dev, "execute_resolve_payment", &settle);
    w.pass_call(1012, &Some(w.dao)).unwrap();
    assert_eq!(w.run_payments(), 0, "a stuck payment is not retried");
    assert_eq!(w.balance(acct(dev)), 0);
    let (id, status) = w.pass_call(1016, &settle).unwrap();
    assert_eq!(status, ProposalStatus::Executed);
    assert!(w.proposal(id).rendering.contains("re-issue payment 1"));
    w.run_payments();
    assert!(matches!(
        payment(&mut w).status,
        dao::PaymentStatus::Paid(_)
    ));
    assert_eq!(w.balance(acct(dev)), 1_000 * E8S);
    assert_eq!(w.dao_stats().grants_paid_e8s, 1_000 * E8S);
}

/// `owner` registers a router node with key seed `seed`.
fn register_router(w: &mut World, owner: Principal, seed: u8) -> reg::Node {
    use ed25519_dalek::{Signer, SigningKey};
    let (nonce,): (Result<ByteBuf, reg::RegistryError>,) = w
        .env
        .update_candid(w.registry, owner, "registration_nonce", ())
        .unwrap();
    let nonce: [u8; 32] = nonce.unwrap().as_slice().try_into().unwrap();
    let k = SigningKey::from_bytes(&[seed; 32]);
    let ra = reg::RegisterArgs {
        role: reg::Role::Router,
        public_key: ByteBuf::from(k.verifying_key().to_bytes().to_vec()),
        network_address: format!("10.1.0.{seed}:4000"),
        region: "eu-central".into(),
        hardware: "node".into(),
        signature: ByteBuf::from(
            k.sign(&reg::rules::registration_message(
                &owner,
                &nonce,
                reg::Role::Router,
            ))
            .to_bytes()
            .to_vec(),
        ),
    };
    let (r,): (Result<reg::Node, reg::RegistryError>,) = w
        .env
        .update_candid(w.registry, owner, "register", (ra,))
        .unwrap();
    r.unwrap()
}

/// `who` lets `spender` take `amount` e8s from its ledger account.
fn approve_spender(w: &mut World, who: Principal, spender: Principal, amount: u64) {
    use icrc_ledger_types::icrc2::approve::{ApproveArgs, ApproveError};
    let a = ApproveArgs {
        from_subaccount: None,
        spender: acct(spender),
        amount: Nat::from(amount),
        expected_allowance: None,
        expires_at: None,
        fee: None,
        memo: None,
        created_at_time: None,
    };
    let (r,): (Result<Nat, ApproveError>,) = w
        .env
        .update_candid(w.ledger, who, "icrc2_approve", (a,))
        .unwrap();
    r.unwrap();
}

fn upgrade_action(canister: Principal, wasm: Vec<u8>, arg: Vec<u8>) -> Action {
    Action::UpgradeSnsControlledCanister(UpgradeSnsControlledCanister {
        canister_id: Some(canister),
        new_canister_wasm: ByteBuf::from(wasm),
        canister_upgrade_arg: Some(ByteBuf::from(arg)),
        mode: None,
    })
}

/// The gzipped release module (what an SNS upgrade proposal carries: it fits one message).
fn canister_wasm_gz(name: &str) -> Vec<u8> {
    std::fs::read(emc_test_env::canister_dir().join(format!("{name}.wasm.gz")))
        .unwrap_or_else(|e| panic!("{name}.wasm.gz: {e}; run scripts/build-canisters.sh"))
}

/// Everything the upgrade must keep, read through the canisters' queries.
#[derive(Debug, PartialEq)]
struct Snapshot {
    registry: (
        reg::Config,
        reg::Stats,
        Vec<reg::Node>,
        Vec<Option<reg::StakeInfo>>,
    ),
    balances: Vec<u64>,
    epochs: (ep::Config, ep::Stats),
    market: (mk::Config, mk::Stats, Option<mk::EscrowView>),
    dao: (dao::Stats, dao::Application),
}

fn snapshot(w: &mut World, app: u64) -> Snapshot {
    let (rs,): (reg::Stats,) = w
        .env
        .query_candid(w.registry, admin(), "stats", ())
        .unwrap();
    let (nodes,): (Vec<reg::Node>,) = w
        .env
        .query_candid(
            w.registry,
            admin(),
            "nodes_by_role",
            (reg::Role::Router, None::<NodeId>, 100u32),
        )
        .unwrap();
    let stakes = nodes
        .iter()
        .map(|n| {
            let (s,): (Option<reg::StakeInfo>,) = w
                .env
                .query_candid(w.registry, admin(), "node_stake", (n.id,))
                .unwrap();
            s
        })
        .collect();
    let balances = [user(500), user(200), user(300), w.registry, w.market]
        .into_iter()
        .map(|p| w.balance(acct(p)))
        .collect();
    let (es,): (ep::Stats,) = w.env.query_candid(w.epochs, admin(), "stats", ()).unwrap();
    let (ms,): (mk::Stats,) = w.env.query_candid(w.market, admin(), "stats", ()).unwrap();
    let (escrow,): (Option<mk::EscrowView>,) = w
        .env
        .query_candid(w.market, admin(), "escrow", (user(200),))
        .unwrap();
    Snapshot {
        registry: (w.registry_config(), rs, nodes, stakes),
        balances,
        epochs: (w.epochs_config(), es),
        market: (w.market_config(), ms, escrow),
        dao: (w.dao_stats(), w.application(app)),
    }
}

/// Upgrades by proposal, as an SNS does them (`UpgradeSnsControlledCanister`: governance and
/// root in the stand-in): once the stand-in controls registry, epochs, market and DAO, an
/// adopted proposal upgrades each with its own wasm and upgrade argument through the
/// management canister's `install_code`, and every piece of state is still there. A proposal
/// for a canister the stand-in does not control fails with the reason and changes nothing; an
/// outsider canister cannot upgrade through the management canister; bad submissions are
/// refused with a reason.
#[test]
fn an_upgrade_proposal_carries_all_state_across() {
    let mut w = world();
    w.register_all();
    // state: governed parameters, nodes, a grant paid, an airdrop claimed, proposals
    let mut rp = w.registry_config().params;
    rp.key_leak_period_secs += 60;
    w.pass_call(1000, &rp).unwrap();
    let mut mp = w.market_config().params;
    mp.withdrawal_notice_ns += 1;
    w.pass_call(1007, &mp).unwrap();
    w.pass_call(1005, &Some(w.market)).unwrap();
    w.pass_call(1012, &Some(w.dao)).unwrap();
    let mut routers = Vec::new();
    for (i, owner) in [user(500), user(501), user(502)].into_iter().enumerate() {
        routers.push(register_router(&mut w, owner, 20 + i as u8).id);
    }
    // a stake: router 1's owner is funded by a grant, approves the registry and stakes
    let stake = 100_000 * E8S;
    let funding = w.apply(user(500), stake + E8S);
    let grant = dao::GrantArgs {
        application_id: funding,
        amount_e8s: stake + E8S,
    };
    w.pass_call(1013, &grant).unwrap();
    w.run_payments();
    let registry = w.registry;
    approve_spender(&mut w, user(500), registry, stake + E8S);
    let sa = reg::StakeArgs {
        node_id: routers[0],
        amount_e8s: stake,
        term_days: 180,
    };
    let (r,): (Result<reg::StakeInfo, reg::RegistryError>,) = w
        .env
        .update_candid(w.registry, user(500), "stake", (sa,))
        .unwrap();
    r.unwrap();
    let app = w.apply(user(200), 1_000 * E8S);
    let grant = dao::GrantArgs {
        application_id: app,
        amount_e8s: 900 * E8S,
    };
    w.pass_call(1013, &grant).unwrap();
    let entries: Vec<(Account, u64)> = (0..4)
        .map(|i| (acct(user(300 + i)), (i + 1) * E8S))
        .collect();
    let (batch, proofs) = dao::airdrop_tree("test rule", &entries);
    w.pass_call(1014, &batch).unwrap();
    w.claim(user(300), E8S, 1, &proofs[0]).unwrap();
    w.run_payments();
    // an escrow: the grantee deposits 100 tokens with the market
    let market = w.market;
    approve_spender(&mut w, user(200), market, 100 * E8S + E8S);
    let (r,): (Result<mk::EscrowView, mk::MarketError>,) = w
        .env
        .update_candid(w.market, user(200), "deposit", (100 * E8S,))
        .unwrap();
    r.unwrap();
    // SNS root's place: the stand-in controls registry, epochs and DAO (not the market yet)
    for c in [w.registry, w.epochs, w.dao] {
        w.env.ic.set_controllers(c, admin(), vec![w.gov]).unwrap();
    }
    let before = snapshot(&mut w, app);
    assert_eq!(before.registry.2.len(), 3);
    assert_eq!(
        before.registry.3[0].as_ref().map(|s| s.stake_e8s),
        Some(stake),
        "{:?}",
        before.registry.3
    );
    assert_eq!(before.dao.0.grants_paid_e8s, stake + E8S + 900 * E8S);
    assert!(before.market.2.is_some(), "the escrow is there");
    let market_hash = w.env.ic.module_hash(w.market);

    // bad submissions are refused with a reason, nothing stored
    let (props_before,): (Vec<Proposal>,) = w
        .env
        .query_candid(w.gov, admin(), "list_proposals", (0u64, 100u32))
        .unwrap();
    for (action, why) in [
        (upgrade_action(w.registry, vec![], vec![]), "empty"),
        (
            upgrade_action(w.ledger, vec![0, 97, 115, 109], vec![]),
            "not one the DAO governs",
        ),
        (
            Action::UpgradeSnsControlledCanister(UpgradeSnsControlledCanister {
                canister_id: None,
                new_canister_wasm: ByteBuf::from(vec![1]),
                canister_upgrade_arg: None,
                mode: None,
            }),
            "missing",
        ),
    ] {
        match w.propose(1, action) {
            Err(GovernanceError::InvalidProposal(m)) => assert!(m.contains(why), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    // the market is not the stand-in's: the adopted proposal fails, the market is unchanged
    let wasm = canister_wasm_gz("market");
    let (id, status) = w
        .pass(upgrade_action(
            w.market,
            wasm.clone(),
            Encode!(&Some(mk::MarketArg::Upgrade)).unwrap(),
        ))
        .unwrap();
    let ProposalStatus::Failed(why) = status else {
        panic!("{status:?}")
    };
    assert!(why.contains("is not a controller"), "{why}");
    assert_eq!(w.proposal(id).status, ProposalStatus::Failed(why));
    assert_eq!(w.env.ic.module_hash(w.market), market_hash);
    // an outsider canister cannot upgrade through the management canister either
    let outsider_canister = w
        .env
        .install(
            &canister_wasm("test-canister"),
            Encode!(&None::<()>).unwrap(),
            vec![admin()],
        )
        .unwrap();
    let args = Encode!(&InstallCodeArgs {
        mode: InstallCodeMode::Upgrade(None),
        canister_id: w.registry,
        wasm_module: canister_wasm_gz("registry"),
        arg: Encode!(&Some(reg::RegistryArg::Upgrade)).unwrap(),
        sender_canister_version: None,
    })
    .unwrap();
    let (r,): (Result<ByteBuf, (u32, String)>,) = w
        .env
        .update_candid(
            outsider_canister,
            admin(),
            "call_raw",
            (
                Principal::management_canister(),
                "install_code",
                ByteBuf::from(args),
            ),
        )
        .unwrap();
    let (code, message) = r.unwrap_err();
    assert_eq!(code, 5, "{message}");
    assert!(message.contains("is not a controller"), "{message}");

    // now hand the market over too; upgrade all four by proposal
    w.env
        .ic
        .set_controllers(w.market, admin(), vec![w.gov])
        .unwrap();
    assert_eq!(before, snapshot(&mut w, app));
    for (c, name, arg) in [
        (
            w.registry,
            "registry",
            Encode!(&Some(reg::RegistryArg::Upgrade)).unwrap(),
        ),
        (
            w.epochs,
            "epochs",
            Encode!(&Some(ep::EpochsArg::Upgrade)).unwrap(),
        ),
        (
            w.market,
            "market",
            Encode!(&Some(mk::MarketArg::Upgrade)).unwrap(),
        ),
        (w.dao, "dao", Encode!().unwrap()),
    ] {
        let wasm = canister_wasm_gz(name);
        let old_hash = w.env.ic.module_hash(c);
        let (id, status) = w.pass(upgrade_action(c, wasm.clone(), arg)).unwrap();
        assert_eq!(status, ProposalStatus::Executed, "{name}");
        let p = w.proposal(id);
        let hash: String = w
            .env
            .ic
            .module_hash(c)
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(
            p.rendering.contains(&hash) && p.rendering.contains(&format!("({} bytes)", wasm.len())),
            "{name}: {}",
            p.rendering
        );
        assert!(p.executed_at_ns.is_some());
        assert_ne!(
            w.env.ic.module_hash(c),
            old_hash,
            "{name}: the module was replaced"
        );
        assert!(
            w.env
                .ic
                .take_debug_log(c)
                .iter()
                .all(|l| !l.contains("trap")),
            "{name}"
        );
    }
    assert_eq!(before, snapshot(&mut w, app));
    // a listing leaves the wasm out (it fits one reply); get_proposal has it whole
    let (listed,): (Vec<Proposal>,) = w
        .env
        .query_candid(
            w.gov,
            admin(),
            "list_proposals",
            (props_before.len() as u64, 100u32),
        )
        .unwrap();
    assert_eq!(listed.len(), 5);
    for p in &listed {
        let Action::UpgradeSnsControlledCanister(u) = &p.input.action else {
            panic!("{p:?}")
        };
        assert!(u.new_canister_wasm.is_empty());
    }
    let Action::UpgradeSnsControlledCanister(u) = w.proposal(listed[1].id).input.action else {
        panic!()
    };
    assert_eq!(
        u.new_canister_wasm.len(),
        canister_wasm_gz("registry").len()
    );
    // the upgraded canisters still work: the claims set, grants and governance
    assert_eq!(
        w.claim(user(300), E8S, 1, &proofs[0]),
        Err(dao::DaoError::AlreadyClaimed)
    );
    w.claim(user(301), 2 * E8S, 1, &proofs[1]).unwrap();
    mp.withdrawal_notice_ns += 1;
    assert_eq!(w.pass_call(1007, &mp).unwrap().1, ProposalStatus::Executed);
    assert_eq!(w.market_config().params, mp);
    register_router(&mut w, user(503), 30);
}
