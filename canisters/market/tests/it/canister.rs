//! Wasm-level tests: the real market wasm with the real ledger (the epochs canister is its
//! minting account), the real registry (4 validators and a compute node registered with their
//! keys) and the real epochs canister (quorum-signed checkpoints, finality after the challenge
//! window), on the embedded IC. Build first:
//! `scripts/build-canisters.sh market epochs registry ledger`.

use crate::common::*;
use candid::{Encode, Nat, Principal};
use ed25519_dalek::{Signer, SigningKey};
use emc_embedded_ic::InstallMode;
use emc_epochs as ep;
use emc_ledger::{InitArgs as LedgerInit, LedgerArg};
use emc_market::*;
use emc_registry as reg;
use emc_test_env::{canister_wasm, user, EmbeddedEnv, TestEnv, TestEnvExt};
use emc_types::{
    Checkpoint, CheckpointSignature, Hash, MeterUnit, NodeId, Signature, ValidatorSet, ZERO_HASH,
};
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc2::approve::{ApproveArgs, ApproveError};
use serde_bytes::ByteBuf;
use std::time::Duration;

const FEE: u64 = 10_000;
const V_MIN: u64 = 1_000_000 * E8S;
const VALIDATORS: u8 = 4;
const DAY: Duration = Duration::from_secs(86_400);
const L: u64 = 43_200;

fn admin() -> Principal {
    user(1)
}
fn gov() -> Principal {
    user(2)
}
fn treasury() -> Principal {
    user(4)
}
fn provider() -> Principal {
    user(50)
}
fn buyer(n: u64) -> Principal {
    user(1_000 + n)
}
fn vowner(i: u8) -> Principal {
    user(100 + u64::from(i))
}
fn acct(p: Principal) -> Account {
    Account {
        owner: p,
        subaccount: None,
    }
}

pub struct Setup {
    pub env: EmbeddedEnv,
    pub ledger: Principal,
    pub registry: Principal,
    pub epochs: Principal,
    pub market: Principal,
    /// Validator keys in the registry's set order, and the set of epoch 1.
    pub keys: Vec<SigningKey>,
    pub set: ValidatorSet,
    /// The previous accepted checkpoint's hash.
    pub prev: Hash,
}

fn install(env: &mut EmbeddedEnv, id: Principal, name: &str, arg: Vec<u8>) {
    env.ic
        .install_code(id, InstallMode::Install, &canister_wasm(name), arg, admin())
        .unwrap();
}

/// Ledger, registry, epochs and market; 4 validators staked; a compute node (key 2) owned by
/// `provider()`; `buyers` buyers with 100,000 EMC each; the market allowed to mint.
pub fn setup(buyers: u64, market_open_epoch: u64) -> Setup {
    let mut env = EmbeddedEnv::new();
    let ledger = env.ic.create_canister(vec![admin()]);
    let registry = env.ic.create_canister(vec![admin()]);
    let epochs = env.ic.create_canister(vec![admin()]);
    let market = env.ic.create_canister(vec![admin()]);
    let mut balances: Vec<(Account, Nat)> = (0..VALIDATORS)
        .map(|i| (acct(vowner(i)), Nat::from(2 * V_MIN)))
        .collect();
    balances.extend((0..buyers).map(|b| (acct(buyer(b)), Nat::from(100_000 * E8S))));
    let init = LedgerInit {
        token_name: "EdgeMatrix Computing".into(),
        token_symbol: "EMC".into(),
        decimals: None,
        transfer_fee: Nat::from(FEE),
        minting_account: acct(epochs),
        initial_balances: balances,
        fee_collector_account: None,
        max_memo_length: None,
        governance: gov(),
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
        governance: gov(),
        treasury: acct(treasury()),
        epochs_canister: Some(epochs),
        ledger_fee_e8s: Some(FEE),
        params: None,
        genesis_time: None,
    });
    install(&mut env, registry, "registry", Encode!(&args).unwrap());
    let args = ep::EpochsArg::Init(ep::InitArgs {
        ledger,
        registry,
        governance: gov(),
        params: None,
    });
    install(&mut env, epochs, "epochs", Encode!(&args).unwrap());
    let args = MarketArg::Init(InitArgs {
        ledger,
        epochs,
        registry,
        governance: gov(),
        treasury: acct(treasury()),
        market_open_epoch,
        params: None,
    });
    install(&mut env, market, "market", Encode!(&args).unwrap());
    let () = env
        .update_candid(epochs, gov(), "execute_set_market", (Some(market),))
        .unwrap();
    let mut s = Setup {
        env,
        ledger,
        registry,
        epochs,
        market,
        keys: Vec::new(),
        set: ValidatorSet::new(0, vec![NodeId([0; 32])]).unwrap(),
        prev: ZERO_HASH,
    };
    for i in 0..VALIDATORS {
        register(&mut s, vowner(i), 40 + i, reg::Role::Validator);
        approve(&mut s, vowner(i), registry, V_MIN + FEE);
        let sa = reg::StakeArgs {
            node_id: id_of(&sk(40 + i)),
            amount_e8s: V_MIN,
            term_days: 360,
        };
        let (r,): (Result<reg::StakeInfo, reg::RegistryError>,) = s
            .env
            .update_candid(registry, vowner(i), "stake", (sa,))
            .unwrap();
        r.unwrap();
    }
    register(&mut s, provider(), 2, reg::Role::Compute);
    s
}

fn register(s: &mut Setup, who: Principal, seed: u8, role: reg::Role) {
    let (nonce,): (Result<ByteBuf, reg::RegistryError>,) = s
        .env
        .update_candid(s.registry, who, "registration_nonce", ())
        .unwrap();
    let nonce: [u8; 32] = nonce.unwrap().as_slice().try_into().unwrap();
    let k = sk(seed);
    let ra = reg::RegisterArgs {
        role,
        public_key: ByteBuf::from(k.verifying_key().to_bytes().to_vec()),
        network_address: format!("10.1.0.{seed}:4000"),
        region: "eu-central".into(),
        hardware: "node".into(),
        signature: ByteBuf::from(
            k.sign(&reg::rules::registration_message(&who, &nonce, role))
                .to_bytes()
                .to_vec(),
        ),
    };
    let (r,): (Result<reg::Node, reg::RegistryError>,) = s
        .env
        .update_candid(s.registry, who, "register", (ra,))
        .unwrap();
    r.unwrap();
}

fn approve(s: &mut Setup, who: Principal, spender: Principal, amount: u64) {
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
    let (r,): (Result<Nat, ApproveError>,) = s
        .env
        .update_candid(s.ledger, who, "icrc2_approve", (a,))
        .unwrap();
    r.unwrap();
}

pub fn balance(s: &mut Setup, p: Principal) -> u64 {
    let (b,): (Nat,) = s
        .env
        .query_candid(s.ledger, admin(), "icrc1_balance_of", (acct(p),))
        .unwrap();
    u64::try_from(&b.0).unwrap()
}

/// Advances the registry to `epoch` (one jump; its timer snapshots the epoch's validator set)
/// and reads the set.
pub fn to_epoch(s: &mut Setup, epoch: u64) {
    let (info,): (reg::EpochInfo,) = s
        .env
        .query_candid(s.registry, admin(), "current_epoch", ())
        .unwrap();
    let days = epoch.saturating_sub(info.epoch);
    s.env.advance_time(DAY * days as u32);
    s.env.advance_time(Duration::from_secs(61));
    let (snap,): (Option<reg::ValidatorSetSnapshot>,) = s
        .env
        .query_candid(s.registry, admin(), "validator_set", (epoch,))
        .unwrap();
    let set = snap.expect("the registry snapshots the epoch's set").set;
    s.keys = set
        .members
        .iter()
        .map(|m| {
            (0..VALIDATORS)
                .map(|i| sk(40 + i))
                .find(|k| k.verifying_key().to_bytes() == m.0)
                .unwrap()
        })
        .collect();
    s.set = set;
}

/// Accepts a checkpoint of `epoch` (its first interval's height, or `height` when given)
/// whose receipts root is `root`, signed by 3 of the 4 validators.
pub fn checkpoint(s: &mut Setup, epoch: u64, root: Hash) -> u64 {
    let height = epoch * L + 450;
    let c = Checkpoint {
        height,
        epoch,
        state_root: Hash([1; 32]),
        prev_checkpoint_hash: s.prev,
        validator_set_id: s.set.id(),
        timestamp_ns: s.env.time_nanos(),
        poc_root: Hash([3; 32]),
        liveness_root: Hash([4; 32]),
        receipts_root: root,
    };
    let msg = c.signing_bytes();
    let sigs: Vec<CheckpointSignature> = s.keys[..3]
        .iter()
        .map(|k| CheckpointSignature {
            signer: id_of(k),
            signature: Signature(k.sign(&msg).to_bytes()),
        })
        .collect();
    let (r,): (Result<ep::StoredCheckpoint, ep::EpochsError>,) = s
        .env
        .update_candid(s.epochs, user(7), "submit_checkpoint", (c, sigs))
        .unwrap();
    s.prev = r.unwrap().hash;
    height
}

pub fn deposit(s: &mut Setup, who: Principal, amount: u64) -> Result<EscrowView, MarketError> {
    let market = s.market;
    approve(s, who, market, amount + FEE);
    let (r,): (Result<EscrowView, MarketError>,) = s
        .env
        .update_candid(s.market, who, "deposit", (amount,))
        .unwrap();
    r
}

pub fn bind(s: &mut Setup, who: Principal, key: &SigningKey) {
    let (r,): (Result<(), MarketError>,) = s
        .env
        .update_candid(s.market, who, "bind_key", (bind_args(key, &who),))
        .unwrap();
    r.unwrap();
}

pub fn settle(s: &mut Setup, p: &ReceiptProof, who: Principal) -> Result<Trade, MarketError> {
    let (r,): (Result<Trade, MarketError>,) = s
        .env
        .update_candid(s.market, who, "settle_receipt", (p.clone(),))
        .unwrap();
    r
}

fn stats(s: &mut Setup) -> Stats {
    let (r,): (Stats,) = s.env.query_candid(s.market, admin(), "stats", ()).unwrap();
    r
}

fn escrow(s: &mut Setup, who: Principal) -> EscrowView {
    let (r,): (Option<EscrowView>,) = s
        .env
        .query_candid(s.market, admin(), "escrow", (who,))
        .unwrap();
    r.unwrap()
}

/// Runs the journal's timer (zero-delay kicks and the 30 s interval).
fn drain(s: &mut Setup) {
    for _ in 0..3 {
        s.env.advance_time(Duration::from_secs(31));
    }
}

fn offer_args() -> OfferArgs {
    OfferArgs {
        node: id_of(&sk(2)),
        app: "llama-3-8b-instruct".into(),
        unit: MeterUnit::Tokens,
        price_e8s: 1_000,
        capacity: 500,
    }
}

#[test]
fn the_period_4_trade_of_the_spec_settles_on_the_embedded_ic() {
    // The market opened at epoch 1: epoch 271 is the first of trading period 4.
    let mut s = setup(1, 1);
    let (o,): (Result<Offer, MarketError>,) = s
        .env
        .update_candid(s.market, provider(), "post_offer", (offer_args(),))
        .unwrap();
    let o = o.unwrap();
    assert_eq!(o.provider, provider());
    // Someone else cannot list the provider's node.
    let (bad,): (Result<Offer, MarketError>,) = s
        .env
        .update_candid(s.market, buyer(0), "post_offer", (offer_args(),))
        .unwrap();
    assert!(matches!(bad, Err(MarketError::NotProvider(_))));
    let v = deposit(&mut s, buyer(0), 1_001 * E8S).unwrap();
    assert_eq!(v.balance_e8s, 1_001 * E8S);
    assert_eq!(
        balance(&mut s, buyer(0)),
        100_000 * E8S - 1_001 * E8S - 2 * FEE
    );
    bind(&mut s, buyer(0), &sk(1));
    let (adm,): (Option<Admission>,) = s
        .env
        .query_candid(s.market, user(9), "admission", (id_of(&sk(1)),))
        .unwrap();
    assert_eq!(adm.unwrap().available_e8s, 1_001 * E8S);

    to_epoch(&mut s, 271);
    let r = receipt(&sk(1), &sk(2), 271, 1, 1_000 * E8S);
    let (root, proofs) = period(271 * L + 450, &[r]);
    let h = checkpoint(&mut s, 271, root);
    assert_eq!(h, proofs[0].checkpoint_height);
    // Inside the challenge window: not final, nothing settles.
    assert_eq!(
        settle(&mut s, &proofs[0], user(9)),
        Err(MarketError::CheckpointNotFinal(h))
    );
    s.env.advance_time(DAY + Duration::from_secs(1));
    let (p0, t0) = (balance(&mut s, provider()), balance(&mut s, treasury()));
    let b0 = balance(&mut s, buyer(0));
    // Anyone may submit (here a router's principal).
    let t = settle(&mut s, &proofs[0], user(9)).unwrap();
    assert_eq!(t.period, 4);
    drain(&mut s);
    let user_reward = balance(&mut s, buyer(0)) - b0;
    let provider_total = balance(&mut s, provider()) - p0;
    let treasury_got = balance(&mut s, treasury()) - t0;
    assert_eq!(treasury_got, 200 * E8S);
    assert_eq!(provider_total, 800 * E8S + 2_222_222_222);
    assert_eq!(user_reward, 4_444_444_444);
    let close = |x: u64, printed: f64| ((x as f64 / E8S as f64) - printed).abs() < 0.1;
    assert!(close(user_reward, 44.5) && close(provider_total, 822.2));
    // The user pays 1000 from escrow (plus two ledger fees) and gets 44.44 back: 955.55 net.
    let v = escrow(&mut s, buyer(0));
    assert_eq!(v.balance_e8s, E8S - 2 * FEE);
    assert!(close(1_000 * E8S - user_reward, 955.5));
    // The rewards were minted through the epochs canister, within the pool.
    let (es,): (ep::Stats,) = s.env.query_candid(s.epochs, admin(), "stats", ()).unwrap();
    assert_eq!(es.trading_minted_e8s, 4_444_444_444 + 2_222_222_222);
    // The trade is in the market's log.
    let (log,): (EventsPage,) = s
        .env
        .query_candid(s.market, admin(), "events", (0u64, 100u64))
        .unwrap();
    assert!(log
        .events
        .iter()
        .any(|e| matches!(&e.event, Event::Trade(x) if x == &t)));
    // Replays change nothing.
    assert!(matches!(
        settle(&mut s, &proofs[0], provider()),
        Err(MarketError::Replayed { .. })
    ));
    drain(&mut s);
    assert_eq!(balance(&mut s, provider()) - p0, provider_total);
    assert_eq!(stats(&mut s).pending_transfers, 0);
}

#[test]
fn settlement_through_a_ledger_outage_pays_exactly_once() {
    let mut s = setup(1, 0);
    // The provider's node is known to the market through its offer.
    let (o,): (Result<Offer, MarketError>,) = s
        .env
        .update_candid(s.market, provider(), "post_offer", (offer_args(),))
        .unwrap();
    o.unwrap();
    deposit(&mut s, buyer(0), 500 * E8S).unwrap();
    bind(&mut s, buyer(0), &sk(1));
    to_epoch(&mut s, 1);
    let rs = vec![
        receipt(&sk(1), &sk(2), 1, 1, 40 * E8S),
        receipt(&sk(1), &sk(2), 1, 2, 100 * E8S),
    ];
    let (root, proofs) = period(L + 450, &rs);
    checkpoint(&mut s, 1, root);
    s.env.advance_time(DAY + Duration::from_secs(1));
    let (p0, t0, b0) = (
        balance(&mut s, provider()),
        balance(&mut s, treasury()),
        balance(&mut s, buyer(0)),
    );
    s.env.stop(s.ledger, admin()).unwrap();
    // Settles while the ledger is down: the books move, the transfers wait in the journal.
    let (out,): (Result<Vec<Result<Trade, MarketError>>, MarketError>,) = s
        .env
        .update_candid(s.market, user(9), "settle_batch", (proofs.clone(),))
        .unwrap();
    let out = out.unwrap();
    assert_eq!(out[0].as_ref().unwrap().amount_e8s, 40 * E8S);
    assert_eq!(out[1].as_ref().unwrap().amount_e8s, 60 * E8S);
    for _ in 0..5 {
        s.env.advance_time(Duration::from_secs(31));
    }
    assert!(stats(&mut s).pending_transfers >= 3);
    // Resubmitted during the outage: nothing more.
    assert!(matches!(
        settle(&mut s, &proofs[1], user(9)),
        Err(MarketError::Replayed { .. })
    ));
    s.env.start(s.ledger, admin()).unwrap();
    drain(&mut s);
    assert_eq!(stats(&mut s).pending_transfers, 0);
    assert_eq!(balance(&mut s, provider()) - p0, 80 * E8S);
    assert_eq!(balance(&mut s, treasury()) - t0, 20 * E8S);
    // Period 1: the user's reward is 0.9 x the fee.
    assert_eq!(balance(&mut s, buyer(0)) - b0, 18 * E8S);
    // Again after recovery: nothing is paid twice.
    for p in &proofs {
        assert!(matches!(
            settle(&mut s, p, user(9)),
            Err(MarketError::Replayed { .. })
        ));
    }
    drain(&mut s);
    assert_eq!(balance(&mut s, provider()) - p0, 80 * E8S);
    assert_eq!(balance(&mut s, treasury()) - t0, 20 * E8S);
    let v = escrow(&mut s, buyer(0));
    assert_eq!(v.balance_e8s, 400 * E8S - 2 * FEE);
    // The market's subaccount holds exactly the escrow.
    let (sub_balance,): (Nat,) = s
        .env
        .query_candid(
            s.ledger,
            admin(),
            "icrc1_balance_of",
            (Account {
                owner: s.market,
                subaccount: Some(emc_market::market::escrow_subaccount(&buyer(0))),
            },),
        )
        .unwrap();
    assert_eq!(u64::try_from(&sub_balance.0).unwrap(), v.balance_e8s);
    // The buyer takes 100 EMC out after the 48 h notice: it receives 100 less the ledger fee.
    let (r,): (Result<EscrowView, MarketError>,) = s
        .env
        .update_candid(s.market, buyer(0), "request_withdrawal", (100 * E8S,))
        .unwrap();
    assert_eq!(r.unwrap().available_e8s, v.balance_e8s - 100 * E8S);
    let (r,): (Result<Transfer, MarketError>,) = s
        .env
        .update_candid(s.market, buyer(0), "withdraw", ())
        .unwrap();
    assert!(matches!(r, Err(MarketError::NoticePending { .. })), "{r:?}");
    s.env.advance_time(Duration::from_secs(48 * 3600));
    let before = balance(&mut s, buyer(0));
    let (r,): (Result<Transfer, MarketError>,) = s
        .env
        .update_candid(s.market, buyer(0), "withdraw", ())
        .unwrap();
    assert!(matches!(r.unwrap().status, TransferStatus::Done { .. }));
    assert_eq!(balance(&mut s, buyer(0)) - before, 100 * E8S - FEE);
    assert_eq!(
        escrow(&mut s, buyer(0)).balance_e8s,
        v.balance_e8s - 100 * E8S
    );
}

#[test]
fn bad_input_on_the_wire_is_refused_without_state_change() {
    let mut s = setup(2, 0);
    deposit(&mut s, buyer(0), 100 * E8S).unwrap();
    bind(&mut s, buyer(0), &sk(1));
    let before = stats(&mut s);
    // Zero and overflowing deposits; no allowance.
    let (r,): (Result<EscrowView, MarketError>,) = s
        .env
        .update_candid(s.market, buyer(0), "deposit", (0u64,))
        .unwrap();
    assert_eq!(r, Err(MarketError::ZeroAmount));
    let (r,): (Result<EscrowView, MarketError>,) = s
        .env
        .update_candid(s.market, buyer(0), "deposit", (u64::MAX,))
        .unwrap();
    assert_eq!(r, Err(MarketError::Overflow));
    let (r,): (Result<EscrowView, MarketError>,) = s
        .env
        .update_candid(s.market, buyer(1), "deposit", (E8S,))
        .unwrap();
    assert!(matches!(r, Err(MarketError::Ledger(_))), "{r:?}");
    // Unknown offers; an offer for a node the registry does not know.
    let (r,): (Result<(), MarketError>,) = s
        .env
        .update_candid(s.market, provider(), "withdraw_offer", (42u64,))
        .unwrap();
    assert_eq!(r, Err(MarketError::UnknownOffer(42)));
    let (r,): (Result<Offer, MarketError>,) = s
        .env
        .update_candid(
            s.market,
            provider(),
            "post_offer",
            (OfferArgs {
                node: NodeId([8; 32]),
                ..offer_args()
            },),
        )
        .unwrap();
    assert_eq!(r, Err(MarketError::UnknownNode));
    // A proof against a checkpoint that does not exist.
    let r = receipt(&sk(1), &sk(2), 0, 1, E8S);
    let (_, proofs) = period(450, &[r]);
    assert_eq!(
        settle(&mut s, &proofs[0], user(9)),
        Err(MarketError::UnknownCheckpoint(450))
    );
    // A batch naming more unknown checkpoints than one call fetches.
    let many: Vec<ReceiptProof> = (1..=17u64)
        .map(|h| ReceiptProof {
            checkpoint_height: 450 * h,
            ..proofs[0].clone()
        })
        .collect();
    let (r,): (Result<Vec<Result<Trade, MarketError>>, MarketError>,) = s
        .env
        .update_candid(s.market, user(9), "settle_batch", (many,))
        .unwrap();
    assert!(matches!(r, Err(MarketError::InvalidArgument(_))), "{r:?}");
    // Governance methods refuse other callers (the call traps, nothing changes).
    let e = s
        .env
        .update_candid::<_, ()>(
            s.market,
            user(9),
            "execute_set_params",
            (Params::default(),),
        )
        .unwrap_err();
    assert!(e.message.contains("governance"), "{e:?}");
    // The anonymous principal is dropped by inspect_message.
    assert!(s
        .env
        .update_candid::<_, (Result<EscrowView, MarketError>,)>(
            s.market,
            Principal::anonymous(),
            "deposit",
            (E8S,)
        )
        .is_err());
    let mut after = stats(&mut s);
    // The failed deposit is journaled (Failed), nothing else moved.
    after.events = before.events;
    assert_eq!(after, before);
    assert_eq!(escrow(&mut s, buyer(0)).balance_e8s, 100 * E8S);
    // The epochs canister mints trading rewards only for the market.
    let m = ep::TradingMint {
        to: acct(user(9)),
        amount_e8s: E8S,
        created_at_time: s.env.time_nanos(),
        memo: ByteBuf::from(b"x".to_vec()),
    };
    let (r,): (Result<u64, ep::EpochsError>,) = s
        .env
        .update_candid(s.epochs, user(9), "mint_trading_reward", (m,))
        .unwrap();
    assert_eq!(r, Err(ep::EpochsError::NotMarket));
}

/// Every escrow and offer goes through the real path (approve, `deposit` pulling from the
/// ledger, `post_offer` asking the registry): about 50 ms each on a shared 2-core machine, so the
/// default is 300 of each; `EMC_MARKET_UPGRADE_N=10000` runs the 10,000 (about 10 min). The pure
/// core's `ten_thousand_escrows_and_offers_survive_a_reload` covers 10,000 on every run.
#[test]
fn an_upgrade_carries_escrows_and_offers() {
    let n = std::env::var("EMC_MARKET_UPGRADE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300u64);
    let mut s = setup(n, 0);
    let start = std::time::Instant::now();
    let market = s.market;
    // At most 1,000 offers per provider: one compute node (key 60 + p) per 1,000 offers.
    let providers = n.div_ceil(1_000);
    for p in 0..providers {
        register(&mut s, user(60 + p), 60 + p as u8, reg::Role::Compute);
    }
    for b in 0..n {
        approve(&mut s, buyer(b), market, E8S + b + FEE);
        let (r,): (Result<EscrowView, MarketError>,) = s
            .env
            .update_candid(s.market, buyer(b), "deposit", (E8S + b,))
            .unwrap();
        r.unwrap();
        let (o,): (Result<Offer, MarketError>,) = s
            .env
            .update_candid(
                s.market,
                user(60 + b / 1_000),
                "post_offer",
                (OfferArgs {
                    node: id_of(&sk(60 + (b / 1_000) as u8)),
                    price_e8s: 1 + b,
                    ..offer_args()
                },),
            )
            .unwrap();
        o.unwrap();
    }
    eprintln!("{n} escrows and offers in {:?}", start.elapsed());
    let before = stats(&mut s);
    assert_eq!(before.escrows, n);
    assert_eq!(before.offers, n);
    let (log_before,): (EventsPage,) = s
        .env
        .query_candid(s.market, admin(), "events", (0u64, 1_000u64))
        .unwrap();
    s.env
        .upgrade(
            s.market,
            &canister_wasm("market"),
            Encode!(&Some(MarketArg::Upgrade)).unwrap(),
            admin(),
        )
        .unwrap();
    assert_eq!(stats(&mut s), before);
    for b in [0, n / 2, n - 1] {
        assert_eq!(escrow(&mut s, buyer(b)).balance_e8s, E8S + b);
        let (o,): (Option<Offer>,) = s
            .env
            .query_candid(s.market, admin(), "offer", (b,))
            .unwrap();
        assert_eq!(o.unwrap().price_e8s, 1 + b);
    }
    let (log_after,): (EventsPage,) = s
        .env
        .query_candid(s.market, admin(), "events", (0u64, 1_000u64))
        .unwrap();
    assert_eq!(log_after, log_before);
    // An Init argument on upgrade is refused (it would reset the canister).
    let args = MarketArg::Init(InitArgs {
        ledger: s.ledger,
        epochs: s.epochs,
        registry: s.registry,
        governance: gov(),
        treasury: acct(treasury()),
        market_open_epoch: 0,
        params: None,
    });
    assert!(s
        .env
        .upgrade(
            s.market,
            &canister_wasm("market"),
            Encode!(&Some(args)).unwrap(),
            admin()
        )
        .is_err());
    assert_eq!(stats(&mut s), before);
}

/// A wash trader on the real canisters: buyer 0 also owns a compute node (key 3) and trades
/// with itself in trading periods 1 and 2 (where the literal rule would pay the whole fee
/// back); across its account and its escrow it ends with less EMC than it started with.
#[test]
fn a_wash_trader_ends_poorer_on_the_embedded_ic() {
    let mut s = setup(1, 0);
    let me = buyer(0);
    register(&mut s, me, 3, reg::Role::Compute);
    let (o,): (Result<Offer, MarketError>,) = s
        .env
        .update_candid(
            s.market,
            me,
            "post_offer",
            (OfferArgs {
                node: id_of(&sk(3)),
                ..offer_args()
            },),
        )
        .unwrap();
    o.unwrap();
    let start = balance(&mut s, me);
    deposit(&mut s, me, 5_000 * E8S).unwrap();
    bind(&mut s, me, &sk(1));
    to_epoch(&mut s, 1);
    // Lanes in epoch 1 (period 1) and epoch 91 (period 2), any sizes.
    let rs = vec![
        receipt(&sk(1), &sk(3), 1, 1, 1_000 * E8S),
        receipt(&sk(1), &sk(3), 1, 2, 1_700 * E8S),
        receipt(&sk(1), &sk(3), 91, 1, 3 * E8S),
        receipt(&sk(1), &sk(3), 91, 2, 2_000 * E8S),
    ];
    let (root, proofs) = period(L + 450, &rs);
    checkpoint(&mut s, 1, root);
    s.env.advance_time(DAY + Duration::from_secs(1));
    for p in &proofs {
        let t = settle(&mut s, p, me).unwrap();
        assert!(t.user_reward_e8s + t.provider_reward_e8s < t.treasury_fee_e8s);
    }
    drain(&mut s);
    assert_eq!(stats(&mut s).pending_transfers, 0);
    let wealth = balance(&mut s, me) + escrow(&mut s, me).balance_e8s;
    assert!(
        wealth < start,
        "the wash trader gained: {wealth} >= {start}"
    );
    // It lost at least 10% of the fees it paid (the reward is at most 0.9 x fee).
    let fees = stats(&mut s).treasury_fees_e8s;
    assert!(
        start - wealth >= fees / 10,
        "{} < {}",
        start - wealth,
        fees / 10
    );
}

/// Issue #16 on the embedded IC: a socket bought in the market is funded on the ledger and
/// minted in the real sockets canister; after the buyer transfers it, the old holder can no
/// longer bind keys to its escrow and the new holder can.
#[test]
fn a_socket_bought_in_the_market_is_minted_and_follows_its_holder() {
    use emc_market::market::escrow_subaccount;
    use emc_market::market::sockets::{BuySocketArgs, MintStatus, SocketPurchase};
    let mut s = setup(1, 0);
    let (o,): (Result<Offer, MarketError>,) = s
        .env
        .update_candid(s.market, provider(), "post_offer", (offer_args(),))
        .unwrap();
    let o = o.unwrap();
    let arg = emc_sockets::SocketsArg::Init(emc_sockets::InitArgs {
        minters: vec![s.market],
        governance: gov(),
        name: None,
        symbol: None,
        description: None,
        limits: None,
    });
    let sockets = s
        .env
        .install(
            &canister_wasm("sockets"),
            Encode!(&arg).unwrap(),
            vec![admin()],
        )
        .unwrap();
    let buy = BuySocketArgs {
        offer_id: o.id,
        units_per_period: 10_000,
        periods: 30,
        model_hash: Hash([3; 32]),
    };
    // Closed until governance names the sockets canister.
    let (r,): (Result<SocketPurchase, MarketError>,) = s
        .env
        .update_candid(s.market, buyer(0), "buy_socket", (buy.clone(),))
        .unwrap();
    assert!(matches!(r, Err(MarketError::InvalidArgument(_))));
    let () = s
        .env
        .update_candid(s.market, gov(), "execute_set_sockets", (Some(sockets),))
        .unwrap();
    deposit(&mut s, buyer(0), 100 * E8S).unwrap();
    let (p,): (Result<SocketPurchase, MarketError>,) = s
        .env
        .update_candid(s.market, buyer(0), "buy_socket", (buy,))
        .unwrap();
    let p = p.unwrap();
    assert_eq!(p.price_e8s, 3 * E8S); // 1,000 e8s x 10,000 units x 30 days
    drain(&mut s);
    // Minted to the buyer, funded on the ledger.
    let (p2,): (Option<SocketPurchase>,) = s
        .env
        .query_candid(s.market, admin(), "socket_purchase", (p.id,))
        .unwrap();
    let MintStatus::Minted { token_id } = p2.unwrap().mint else {
        panic!("not minted");
    };
    let (view,): (Option<emc_sockets::SocketView>,) = s
        .env
        .query_candid(sockets, admin(), "socket", (Nat::from(token_id),))
        .unwrap();
    let view = view.unwrap();
    assert_eq!(view.owner.owner, buyer(0));
    assert_eq!(
        (view.terms.paid_e8s, view.terms.app_id.as_str()),
        (3 * E8S, "llama-3-8b-instruct")
    );
    let socket_account = Account {
        owner: s.market,
        subaccount: Some(escrow_subaccount(&p.escrow)),
    };
    let (bal,): (Nat,) = s
        .env
        .query_candid(s.ledger, admin(), "icrc1_balance_of", (socket_account,))
        .unwrap();
    assert_eq!(bal, Nat::from(3 * E8S));
    // The buyer hands the socket on.
    let new_holder = buyer(7);
    let t = emc_sockets::TransferArg {
        from_subaccount: None,
        to: acct(new_holder),
        token_id: Nat::from(token_id),
        memo: None,
        created_at_time: None,
    };
    let (r,): (Vec<Option<emc_sockets::TransferResult>>,) = s
        .env
        .update_candid(sockets, buyer(0), "icrc7_transfer", (vec![t],))
        .unwrap();
    assert!(matches!(r[0], Some(Ok(_))));
    let bind_to_socket = |s: &mut Setup, who: Principal, seed: u8| {
        let (r,): (Result<(), MarketError>,) = s
            .env
            .update_candid(
                s.market,
                who,
                "bind_socket_key",
                (token_id, bind_args(&sk(seed), &p.escrow)),
            )
            .unwrap();
        r
    };
    assert_eq!(
        bind_to_socket(&mut s, buyer(0), 60),
        Err(MarketError::NotSocketHolder(token_id))
    );
    assert_eq!(bind_to_socket(&mut s, new_holder, 61), Ok(()));
    let (k,): (Option<emc_market::market::sockets::SocketKey>,) = s
        .env
        .query_candid(s.market, admin(), "socket_key", (id_of(&sk(61)),))
        .unwrap();
    assert_eq!(
        k.map(|k| (k.token_id, k.holder)),
        Some((token_id, new_holder))
    );
    let (adm,): (Option<Admission>,) = s
        .env
        .query_candid(s.market, admin(), "admission", (id_of(&sk(61)),))
        .unwrap();
    let adm = adm.unwrap();
    assert_eq!((adm.buyer, adm.available_e8s), (p.escrow, 3 * E8S));
    let (none,): (Option<Admission>,) = s
        .env
        .query_candid(s.market, admin(), "admission", (id_of(&sk(60)),))
        .unwrap();
    assert!(none.is_none());
}

/// Issue #16: a pool of two registered compute nodes (two owners) listed as one offer of its
/// entry node on the embedded IC; an unregistered member is refused with nothing listed.
#[test]
fn a_pool_of_two_compute_nodes_is_one_offer() {
    use emc_market::market::pools::{Pool, PoolOfferArgs};
    let mut s = setup(1, 0);
    let partner = user(51);
    register(&mut s, partner, 3, reg::Role::Compute);
    let pool_args = |members: Vec<NodeId>| PoolOfferArgs {
        entry: id_of(&sk(2)),
        members,
        app: "llama-3-70b-sharded".into(),
        unit: MeterUnit::Tokens,
        price_e8s: 5_000,
        capacity: 100,
    };
    let (bad,): (Result<(Offer, Pool), MarketError>,) = s
        .env
        .update_candid(
            s.market,
            provider(),
            "post_pool_offer",
            (pool_args(vec![id_of(&sk(2)), id_of(&sk(4))]),),
        )
        .unwrap();
    assert_eq!(bad, Err(MarketError::UnknownNode));
    assert_eq!(stats(&mut s).offers, 0);
    let (r,): (Result<(Offer, Pool), MarketError>,) = s
        .env
        .update_candid(
            s.market,
            provider(),
            "post_pool_offer",
            (pool_args(vec![id_of(&sk(2)), id_of(&sk(3))]),),
        )
        .unwrap();
    let (offer, pool) = r.unwrap();
    assert_eq!((offer.node, offer.provider), (id_of(&sk(2)), provider()));
    let owners: Vec<Principal> = pool.members.iter().map(|m| m.owner).collect();
    assert_eq!(owners, vec![provider(), partner]);
    // At two members, a member cannot leave.
    let (r,): (Result<Pool, MarketError>,) = s
        .env
        .update_candid(s.market, partner, "leave_pool", (offer.id, id_of(&sk(3))))
        .unwrap();
    assert!(matches!(r, Err(MarketError::InvalidArgument(_))));
    let (p,): (Option<Pool>,) = s
        .env
        .query_candid(s.market, admin(), "pool", (offer.id,))
        .unwrap();
    assert_eq!(p, Some(pool));

    // A receipt the entry node signed pays both members' owners on the ledger, by E (not
    // measured yet in this registry: even shares).
    deposit(&mut s, buyer(0), 101 * E8S).unwrap();
    bind(&mut s, buyer(0), &sk(1));
    to_epoch(&mut s, 1);
    let r = receipt(&sk(1), &sk(2), 1, 1, 100 * E8S);
    let (root, proofs) = period(L + 450, &[r]);
    assert_eq!(checkpoint(&mut s, 1, root), proofs[0].checkpoint_height);
    s.env.advance_time(DAY + Duration::from_secs(1));
    let (p0, q0) = (balance(&mut s, provider()), balance(&mut s, partner));
    // Without the partner's co-signature, with a forged one, twice, or with a stranger's:
    // refused, the member named, nothing changed.
    let good = cosigned(&proofs[0], offer.id, &[&sk(3)]);
    let forged = cosigned(&proofs[0], offer.id + 1, &[&sk(3)]);
    let twice = cosigned(&proofs[0], offer.id, &[&sk(3), &sk(3)]);
    let stranger = cosigned(&proofs[0], offer.id, &[&sk(3), &sk(7)]);
    let before = stats(&mut s);
    let (r,): (Result<Vec<Result<Trade, MarketError>>, MarketError>,) = s
        .env
        .update_candid(
            s.market,
            user(9),
            "settle_batch",
            (vec![proofs[0].clone(), forged, twice, stranger],),
        )
        .unwrap();
    use emc_types::CosignError;
    assert_eq!(
        r.unwrap(),
        vec![
            Err(MarketError::Cosignature(CosignError::Missing(id_of(&sk(
                3
            ))))),
            Err(MarketError::Cosignature(CosignError::BadSignature(id_of(
                &sk(3)
            )))),
            Err(MarketError::Cosignature(CosignError::Duplicate(id_of(
                &sk(3)
            )))),
            Err(MarketError::Cosignature(CosignError::NotMember(id_of(
                &sk(7)
            )))),
        ]
    );
    assert_eq!(format!("{:?}", stats(&mut s)), format!("{before:?}"));
    let t = settle(&mut s, &good, user(9)).unwrap();
    assert_eq!(t.pool_shares.len(), 2);
    drain(&mut s);
    assert_eq!(balance(&mut s, provider()) - p0, 40 * E8S);
    assert_eq!(balance(&mut s, partner) - q0, 40 * E8S);
    assert_eq!(stats(&mut s).pending_transfers, 0);
}
