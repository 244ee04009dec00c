//! Model-based property test of the journal: random registrations, stakes, penalties,
//! impeachments and time, against a fake ledger that executes each movement at most once per
//! (created_at_time, memo) — like the real ledger's deduplication — and whose replies can be
//! lost (executed, but the registry hears a reject) or which can be down (not executed).
//! After every step the registry's invariants hold and every node subaccount holds exactly its
//! recorded stake plus the effect of its one in-flight movement if the ledger executed it;
//! after the ledger heals and the journal drains, no token was lost or paid twice.

use candid::Principal;
use ed25519_dalek::{Signer, SigningKey};
use emc_registry::rules::registration_message;
use emc_registry::*;
use emc_types::NodeId;
use ic_stable_structures::VectorMemory;
use icrc_ledger_types::icrc1::account::Account;
use proptest::prelude::*;
use serde_bytes::ByteBuf;
use std::collections::HashMap;

const T0: u64 = 1_700_000_000 * SEC;
const FEE: u64 = 10_000;
const GENESIS: u64 = 10_000_000 * E8S;

fn p(n: u8) -> Principal {
    Principal::from_slice(&[n, 3, 3, 3, 1])
}

/// The fake ledger: balances, and the movements it has executed (its dedup memory).
#[derive(Default)]
struct FakeLedger {
    balances: HashMap<Account, u64>,
    executed: HashMap<u64, u64>,
    burned: u64,
    next_block: u64,
}

#[derive(Clone, Copy, Debug)]
enum Net {
    Ok,
    Down,
    LostReply,
}

impl FakeLedger {
    fn call(&mut self, m: &Movement, net: Net) -> LedgerOutcome {
        if let Net::Down = net {
            return LedgerOutcome::Unavailable("stopped".into());
        }
        let block = match self.executed.get(&m.id) {
            Some(b) => *b,
            None => {
                let from = self.balances.get(&m.from).copied().unwrap_or(0);
                let need = m.amount_e8s + m.fee_e8s;
                if from < need {
                    return LedgerOutcome::Refused("InsufficientFunds".into());
                }
                self.balances.insert(m.from, from - need);
                *self.balances.entry(m.to).or_default() += m.amount_e8s;
                self.burned += m.fee_e8s;
                self.next_block += 1;
                self.executed.insert(m.id, self.next_block);
                self.next_block
            }
        };
        match net {
            Net::LostReply => LedgerOutcome::Unavailable("reply lost".into()),
            _ => LedgerOutcome::Done(block),
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Register(u8, u8),
    Stake(u8, u8, Net),
    Tick(u32, Net),
    Penalty(u8, u16),
    Impeach(u8, u8),
    Retire(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let net = prop_oneof![3 => Just(Net::Ok), 1 => Just(Net::Down), 1 => Just(Net::LostReply)];
    prop_oneof![
        (0u8..6, 0u8..3).prop_map(|(s, r)| Op::Register(s, r)),
        (0u8..6, 0u8..4, net.clone()).prop_map(|(s, d, n)| Op::Stake(s, d, n)),
        (0u32..200, net).prop_map(|(h, n)| Op::Tick(h, n)),
        (0u8..6, 0u16..300).prop_map(|(s, m)| Op::Penalty(s, m)),
        (0u8..6, 0u8..6).prop_map(|(a, t)| Op::Impeach(a, t)),
        (0u8..6).prop_map(Op::Retire),
    ]
}

fn key(s: u8) -> SigningKey {
    SigningKey::from_bytes(&[s + 1; 32])
}
fn id(s: u8) -> NodeId {
    NodeId(key(s).verifying_key().to_bytes())
}
fn role(r: u8) -> Role {
    Role::ALL[usize::from(r % 3)]
}

struct World {
    r: Registry<VectorMemory>,
    l: FakeLedger,
    now: u64,
    batch: u64,
}

impl World {
    fn run_journal(&mut self, net: Net) {
        self.r.process_time(self.now);
        let mut todo: Vec<Movement> = self
            .r
            .pending_movements(100)
            .into_iter()
            .filter_map(|m| self.r.prepare_attempt(m.id, self.now))
            .collect();
        for m in self.r.plan_movements(self.now, 100) {
            if let Some(m) = self.r.prepare_attempt(m.id, self.now) {
                todo.push(m);
            }
        }
        for m in todo {
            let out = self.l.call(&m, net);
            self.r.finish(m.id, &out, self.now).unwrap();
        }
    }

    fn check(&self) {
        self.r.check_invariants(self.now).unwrap();
        for s in 0..6 {
            let Some(n) = self.r.get_node(&id(s)) else {
                continue;
            };
            let acct = self.r.node_account(&n.id);
            let bal = self.l.balances.get(&acct).copied().unwrap_or(0);
            let mut expect = n.stake_e8s;
            if let Some(mid) = n.pending_movement {
                let m = self.r.movement(mid).unwrap();
                if self.l.executed.contains_key(&mid) {
                    if m.kind == MovementKind::StakePull {
                        expect += m.amount_e8s;
                    } else {
                        expect -= m.amount_e8s + m.fee_e8s;
                    }
                }
            }
            assert_eq!(bal, expect, "subaccount of node {s}");
        }
        let total: u64 = self.l.balances.values().sum::<u64>() + self.l.burned;
        assert_eq!(total, 6 * GENESIS, "conservation");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn journal_never_loses_or_doubles_tokens(ops in proptest::collection::vec(op(), 1..60)) {
        let args = InitArgs {
            ledger: p(200),
            governance: p(201),
            treasury: Account { owner: p(202), subaccount: None },
            epochs_canister: Some(p(203)),
            ledger_fee_e8s: Some(FEE),
            params: None,
            genesis_time: None,
        };
        let mut w = World { r: Registry::init(VectorMemory::default(), &args, T0, p(204)).unwrap(), l: FakeLedger::default(), now: T0, batch: 0 };
        for s in 0..6 {
            w.l.balances.insert(Account { owner: p(s), subaccount: None }, GENESIS);
        }
        for op in ops {
            match op {
                Op::Register(s, r) => {
                    let nonce = w.r.registration_nonce(p(s), w.now).unwrap();
                    let k = key(s);
                    let a = RegisterArgs {
                        role: role(r),
                        public_key: ByteBuf::from(k.verifying_key().to_bytes().to_vec()),
                        network_address: "h:1".into(),
                        region: "r".into(),
                        hardware: String::new(),
                        signature: ByteBuf::from(k.sign(&registration_message(&p(s), &nonce, role(r))).to_bytes().to_vec()),
                    };
                    let _ = w.r.register(p(s), &a, w.now);
                }
                Op::Stake(s, d, net) => {
                    let Some(n) = w.r.get_node(&id(s)) else { continue };
                    let (amount, days) = match n.role {
                        Role::Validator => (1_000_000 * E8S + u64::from(d) * 100 * E8S, 360 + u32::from(d)),
                        Role::Router => (100_000 * E8S + u64::from(d) * 100 * E8S, 180 + u32::from(d)),
                        Role::Compute => (1_000 * E8S * (1 + u64::from(d)), [7, 30, 90, 180][usize::from(d)]),
                    };
                    if let Ok(m) = w.r.begin_stake(p(s), &StakeArgs { node_id: id(s), amount_e8s: amount, term_days: days }, w.now) {
                        let m = w.r.prepare_attempt(m.id, w.now).unwrap();
                        let out = w.l.call(&m, net);
                        w.r.finish(m.id, &out, w.now).unwrap();
                    }
                }
                Op::Tick(hours, net) => {
                    w.now += u64::from(hours) * 3_600 * SEC * 24 / 8;
                    w.run_journal(net);
                }
                Op::Penalty(s, minutes) => {
                    if w.r.get_node(&id(s)).is_some() {
                        w.batch += 1;
                        let _ = w.r.apply_penalties(p(203), w.batch, &[PenaltyReport { node_id: id(s), missed_minutes: u64::from(minutes) * 10 }], w.now);
                    }
                }
                Op::Impeach(a, t) => {
                    if let Ok(c) = w.r.open_case(p(a), &OpenCaseArgs { accuser: id(a), target: id(t), reason: "x".into() }, w.now) {
                        for v in 0..6 {
                            let _ = w.r.vote(p(v), &VoteArgs { case_id: c.id, voter: id(v), yes: true }, w.now);
                        }
                    }
                }
                Op::Retire(s) => {
                    let _ = w.r.retire(p(s), &id(s), w.now);
                }
            }
            w.check();
        }
        // Governance settles what got stuck past the dedup window, from the ledger's blocks.
        for mid in 0..w.r.meta().next_movement {
            if w.r.movement(mid).is_some_and(|m| m.status == MovementStatus::Stuck) {
                let executed = w.l.executed.get(&mid).copied();
                w.r.resolve_movement(p(201), mid, executed, w.now).unwrap();
                w.check();
            }
        }
        // The ledger heals: everything settles, once.
        for _ in 0..4 {
            w.now += 60 * SEC;
            w.run_journal(Net::Ok);
            w.check();
        }
        prop_assert_eq!(w.r.stats().pending_movements, 0);
        // Every term ends: everything is released or confiscated; stakes are empty.
        w.now += 2_000 * DAY;
        for _ in 0..4 {
            w.run_journal(Net::Ok);
            w.check();
        }
        for s in 0..6 {
            if let Some(n) = w.r.get_node(&id(s)) {
                prop_assert_eq!(n.stake_e8s, 0, "node {} still holds a stake: {:?}", s, n);
            }
        }
    }
}
