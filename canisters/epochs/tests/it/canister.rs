//! Wasm-level tests: the real epochs wasm with the real ledger (the epochs canister is its
//! minting account) and the real registry (13 validators registered with ed25519 keys and
//! staked), on the embedded IC. Build first:
//! `scripts/build-canisters.sh epochs registry ledger`.

use crate::common::{checkpoint, checkpoint_in, sign, INTERVAL, L};
use candid::{Encode, Nat, Principal};
use ed25519_dalek::{Signer, SigningKey};
use emc_embedded_ic::InstallMode;
use emc_epochs::data::{build_chunks, header_hash};
use emc_epochs::epochs::weight_of;
use emc_epochs::*;
use emc_ledger::{InitArgs as LedgerInit, LedgerArg};
use emc_registry as reg;
use emc_test_env::{canister_wasm, user, EmbeddedEnv, TestEnv, TestEnvExt};
use emc_tokenomics::{epoch_reward, period_of_epoch, split_by_weight, SplitRounding};
use emc_types::{CheckpointSignature, Hash, NodeId, SignedCheckpoint, ValidatorSet, ZERO_HASH};
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc2::approve::{ApproveArgs, ApproveError};
use serde_bytes::ByteBuf;
use std::time::Duration;

const E8S: u64 = 100_000_000;
const FEE: u64 = 10_000;
const V_MIN: u64 = 1_000_000 * E8S;
const GENESIS: u64 = 2_000_000 * E8S;
const VALIDATORS: u8 = 13;
const DAY: Duration = Duration::from_secs(86_400);

fn admin() -> Principal {
    user(1)
}
fn gov() -> Principal {
    user(2)
}
fn owner(n: u64) -> Principal {
    user(100 + n)
}
fn acct(p: Principal) -> Account {
    Account {
        owner: p,
        subaccount: None,
    }
}
fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}
fn id(seed: u8) -> NodeId {
    NodeId(key(seed).verifying_key().to_bytes())
}

struct Setup {
    env: EmbeddedEnv,
    ledger: Principal,
    registry: Principal,
    epochs: Principal,
    /// Validator keys in the registry's set order.
    keys: Vec<SigningKey>,
    set: ValidatorSet,
}

fn setup() -> Setup {
    setup_with(None)
}

/// The three canisters with the epochs canister installed with `params`.
fn setup_with(params: Option<Params>) -> Setup {
    let mut env = EmbeddedEnv::new();
    let ledger = env.ic.create_canister(vec![admin()]);
    let registry = env.ic.create_canister(vec![admin()]);
    let epochs = env.ic.create_canister(vec![admin()]);
    let init = LedgerInit {
        token_name: "EdgeMatrix Computing".into(),
        token_symbol: "EMC".into(),
        decimals: None,
        transfer_fee: Nat::from(FEE),
        minting_account: acct(epochs),
        initial_balances: (0..u64::from(VALIDATORS))
            .map(|i| (acct(owner(i)), Nat::from(GENESIS)))
            .collect(),
        fee_collector_account: None,
        max_memo_length: None,
        governance: gov(),
        supply_cap: None,
        metadata: None,
    };
    env.ic
        .install_code(
            ledger,
            InstallMode::Install,
            &canister_wasm("ledger"),
            Encode!(&LedgerArg::Init(init)).unwrap(),
            admin(),
        )
        .unwrap();
    let args = reg::RegistryArg::Init(reg::InitArgs {
        ledger,
        governance: gov(),
        treasury: acct(user(4)),
        epochs_canister: Some(epochs),
        ledger_fee_e8s: Some(FEE),
        params: None,
        genesis_time: None,
    });
    env.ic
        .install_code(
            registry,
            InstallMode::Install,
            &canister_wasm("registry"),
            Encode!(&args).unwrap(),
            admin(),
        )
        .unwrap();
    let args = EpochsArg::Init(InitArgs {
        ledger,
        registry,
        governance: gov(),
        params,
    });
    env.ic
        .install_code(
            epochs,
            InstallMode::Install,
            &canister_wasm("epochs"),
            Encode!(&args).unwrap(),
            admin(),
        )
        .unwrap();
    // 13 validators, one per owner, registered with their keys and staked.
    for i in 0..VALIDATORS {
        let who = owner(u64::from(i));
        let seed = 40 + i;
        let (nonce,): (Result<ByteBuf, reg::RegistryError>,) = env
            .update_candid(registry, who, "registration_nonce", ())
            .unwrap();
        let nonce: [u8; 32] = nonce.unwrap().as_slice().try_into().unwrap();
        let k = key(seed);
        let ra = reg::RegisterArgs {
            role: reg::Role::Validator,
            public_key: ByteBuf::from(k.verifying_key().to_bytes().to_vec()),
            network_address: format!("10.1.0.{seed}:4000"),
            region: "eu-central".into(),
            hardware: "validator".into(),
            signature: ByteBuf::from(
                k.sign(&reg::rules::registration_message(
                    &who,
                    &nonce,
                    reg::Role::Validator,
                ))
                .to_bytes()
                .to_vec(),
            ),
        };
        let (r,): (Result<reg::Node, reg::RegistryError>,) =
            env.update_candid(registry, who, "register", (ra,)).unwrap();
        r.unwrap();
        let a = ApproveArgs {
            from_subaccount: None,
            spender: acct(registry),
            amount: Nat::from(V_MIN + FEE),
            expected_allowance: None,
            expires_at: None,
            fee: None,
            memo: None,
            created_at_time: None,
        };
        let (r,): (Result<Nat, ApproveError>,) = env
            .update_candid(ledger, who, "icrc2_approve", (a,))
            .unwrap();
        r.unwrap();
        let sa = reg::StakeArgs {
            node_id: id(seed),
            amount_e8s: V_MIN,
            term_days: 360,
        };
        let (r,): (Result<reg::StakeInfo, reg::RegistryError>,) =
            env.update_candid(registry, who, "stake", (sa,)).unwrap();
        r.unwrap();
    }
    // Epoch 1 of the registry snapshots the 13 validators.
    env.advance_time(DAY);
    env.advance_time(Duration::from_secs(61));
    let (snap,): (Option<reg::ValidatorSetSnapshot>,) = env
        .query_candid(registry, admin(), "validator_set", (1u64,))
        .unwrap();
    let set = snap.unwrap().set;
    assert_eq!(set.len(), 13);
    let keys: Vec<SigningKey> = set
        .members
        .iter()
        .map(|m| {
            (0..VALIDATORS)
                .map(|i| key(40 + i))
                .find(|k| k.verifying_key().to_bytes() == m.0)
                .unwrap()
        })
        .collect();
    Setup {
        env,
        ledger,
        registry,
        epochs,
        keys,
        set,
    }
}

fn submit(s: &mut Setup, sc: &SignedCheckpoint) -> Result<StoredCheckpoint, Option<EpochsError>> {
    let r: Result<(Result<StoredCheckpoint, EpochsError>,), _> = s.env.update_candid(
        s.epochs,
        user(7),
        "submit_checkpoint",
        (sc.checkpoint.clone(), sc.signatures.clone()),
    );
    match r {
        Ok((r,)) => r.map_err(Some),
        // Dropped by inspect_message (the cheap checks), before any update ran.
        Err(e) => {
            assert!(e.message.contains("inspect_message"), "{e:?}");
            Err(None)
        }
    }
}

fn latest(s: &mut Setup) -> Option<StoredCheckpoint> {
    let (r,): (Option<StoredCheckpoint>,) = s
        .env
        .query_candid(s.epochs, admin(), "latest_checkpoint", ())
        .unwrap();
    r
}

fn stats(s: &mut Setup) -> Stats {
    let (r,): (Stats,) = s.env.query_candid(s.epochs, admin(), "stats", ()).unwrap();
    r
}

fn balance(s: &mut Setup, p: Principal) -> u64 {
    let (b,): (Nat,) = s
        .env
        .query_candid(s.ledger, admin(), "icrc1_balance_of", (acct(p),))
        .unwrap();
    u64::try_from(&b.0).unwrap()
}

fn supply(s: &mut Setup) -> u64 {
    let (b,): (Nat,) = s
        .env
        .query_candid(s.ledger, admin(), "icrc1_total_supply", ())
        .unwrap();
    u64::try_from(&b.0).unwrap()
}

/// Accepts the 96 checkpoints of epoch 1 (heights 43,200 + 450 (i + 1), up to its closing
/// height 86,400), 9 of 13 signatures each, 15 minutes apart; the closing one carries
/// `closing_root`.
fn run_epoch1(s: &mut Setup, closing_root: Hash) -> Vec<SignedCheckpoint> {
    let mut prev = ZERO_HASH;
    let mut out = Vec::new();
    for i in 0..96u64 {
        let h = L + (i + 1) * INTERVAL;
        let root = if i == 95 {
            closing_root
        } else {
            Hash([i as u8; 32])
        };
        let c = checkpoint(h, prev, &s.set, root);
        let k = (i % 5) as usize;
        let sc = sign(&c, &s.keys[k..k + 9]);
        let stored = submit(s, &sc).unwrap();
        prev = stored.hash;
        out.push(sc);
        s.env.advance_time(Duration::from_secs(900));
    }
    out
}

#[test]
fn checkpoints_are_accepted_and_bad_ones_refused_without_state_change() {
    let mut s = setup();
    let cps = run_epoch1(&mut s, Hash([7; 32]));
    let tip = latest(&mut s).unwrap();
    assert_eq!(tip.checkpoint.height, 2 * L);
    assert_eq!(
        tip.checkpoint.epoch, 1,
        "the closing checkpoint carries its epoch"
    );
    let (c3,): (Option<StoredCheckpoint>,) = s
        .env
        .query_candid(s.epochs, admin(), "checkpoint", (L + 4 * INTERVAL,))
        .unwrap();
    assert_eq!(c3.unwrap().checkpoint, cps[3].checkpoint);
    let before = stats(&mut s);
    // The next height is the first of epoch 2: signed by the registry's set of epoch 2
    // (the same 13 validators).
    let (snap,): (Option<reg::ValidatorSetSnapshot>,) = s
        .env
        .query_candid(s.registry, admin(), "validator_set", (2u64,))
        .unwrap();
    let set2 = snap.unwrap().set;
    assert_eq!(set2.members, s.set.members);
    let next = checkpoint(
        tip.checkpoint.height + INTERVAL,
        tip.hash,
        &set2,
        Hash([1; 32]),
    );
    let mut forged = sign(&next, &s.keys[..9]);
    forged.signatures[2].signature = emc_types::Signature([3; 64]);
    let mut dup = sign(&next, &s.keys[..8]);
    dup.signatures.push(dup.signatures[0].clone());
    let mut wrong_set = next.clone();
    wrong_set.validator_set_id = Hash([1; 32]);
    // After a gap, linking to a checkpoint the canister never accepted.
    let mut skip = next.clone();
    skip.height += INTERVAL;
    skip.prev_checkpoint_hash = next.hash();
    let outsider = SigningKey::from_bytes(&[200; 32]);
    let mut foreign = sign(&next, &s.keys[..8]);
    foreign.signatures.push(CheckpointSignature {
        signer: NodeId(outsider.verifying_key().to_bytes()),
        signature: emc_types::Signature(outsider.sign(&next.signing_bytes()).to_bytes()),
    });
    let cases = vec![
        forged,
        sign(&next, &s.keys[..8]),
        dup,
        foreign,
        sign(&wrong_set, &s.keys[..9]),
        cps[95].clone(),
        cps[10].clone(),
        sign(&skip, &s.keys[..9]),
    ];
    let mut errs = Vec::new();
    for sc in &cases {
        errs.push(submit(&mut s, sc).unwrap_err());
        assert_eq!(latest(&mut s).unwrap(), tip);
        assert_eq!(stats(&mut s), before);
    }
    // Signature forgeries pass the ingress filter and are refused by the update; the cheap
    // failures are dropped by inspect_message already.
    assert!(matches!(errs[0], Some(EpochsError::BadSignature(_))));
    for e in &errs[1..] {
        assert_eq!(*e, None, "refused at ingress");
    }
    // An epoch the registry has no set for.
    let far = checkpoint(10 * L, tip.hash, &set2, Hash([1; 32]));
    let sc = sign(&far, &s.keys[..9]);
    assert!(submit(&mut s, &sc).is_err());
    // The good one.
    let sc = sign(&next, &s.keys[4..13]);
    submit(&mut s, &sc).unwrap();
}

#[test]
fn equivocation_from_evidence_to_slashing_in_the_registry() {
    let mut s = setup();
    // Heights 43,650 and 44,100: epoch 1 (the registry's set s.set).
    let base = L + INTERVAL;
    let c0 = checkpoint(base, ZERO_HASH, &s.set, Hash([1; 32]));
    let sc = sign(&c0, &s.keys[..9]);
    let s0 = submit(&mut s, &sc).unwrap();
    let c1 = checkpoint(base + INTERVAL, s0.hash, &s.set, Hash([2; 32]));
    let sc = sign(&c1, &s.keys[..9]);
    submit(&mut s, &sc).unwrap();
    let c1b = checkpoint(base + INTERVAL, s0.hash, &s.set, Hash([0xbb; 32]));
    let ev = EquivocationEvidence {
        first: sign(&c1, &s.keys[..9]),
        second: sign(&c1b, &s.keys[4..13]),
    };
    let (r,): (Result<EquivocationOutcome, EpochsError>,) = s
        .env
        .update_candid(s.epochs, user(8), "submit_evidence", (ev.clone(),))
        .unwrap();
    let out = r.unwrap();
    assert_eq!(out.voided, vec![base + INTERVAL]);
    assert_eq!(out.slashed.len(), 5);
    assert_eq!(latest(&mut s).unwrap().checkpoint.height, base);
    // the penalty batch reaches the registry
    s.env.advance_time(Duration::from_secs(31));
    s.env.tick();
    assert_eq!(stats(&mut s).pending_penalty_batches, 0);
    for n in &out.slashed {
        let (node,): (Option<reg::Node>,) = s
            .env
            .query_candid(s.registry, admin(), "get_node", (*n,))
            .unwrap();
        let node = node.unwrap();
        let (st,): (Option<reg::StakeInfo>,) = s
            .env
            .query_candid(s.registry, admin(), "node_stake", (*n,))
            .unwrap();
        let st = st.unwrap();
        assert!(
            st.stake_e8s < V_MIN || node.penalty_due_e8s > 0,
            "{n:?} penalized"
        );
    }
    let (r,): (Result<EquivocationOutcome, EpochsError>,) = s
        .env
        .update_candid(s.epochs, user(8), "submit_evidence", (ev,))
        .unwrap();
    assert_eq!(r, Err(EpochsError::EvidenceAlreadyReported));
}

/// An epoch paid to 1,000 nodes: 13 validators (one under 2/3 participation) and 987 compute nodes, the
/// ledger stopped during the payout: every payout is minted exactly once, equal to the
/// emc-tokenomics split.
#[test]
fn epoch_payout_survives_a_ledger_outage_and_pays_exactly_once() {
    let mut s = setup();
    let blocks = 43_200;
    let mut recs = crate::common::records(987, blocks)
        .into_iter()
        .map(|mut r| {
            r.role = Role::Compute;
            r
        })
        .collect::<Vec<_>>();
    for (i, k) in s.keys.iter().enumerate() {
        let mut who = owner(0);
        for j in 0..u64::from(VALIDATORS) {
            if key(40 + j as u8).verifying_key() == k.verifying_key() {
                who = owner(j);
            }
        }
        recs.push(NodeRecord {
            node: NodeId(k.verifying_key().to_bytes()),
            owner: who,
            role: Role::Validator,
            stake_e8s: V_MIN,
            active_blocks: if i == 0 { blocks / 2 } else { blocks },
            poc_e: 0,
            multiplier: 0,
            // Validator 0 was out for the second half of the day: 12 whole hours.
            penalty_minutes: if i == 0 { 720 } else { 0 },
        });
    }
    recs.sort_by_key(|r| r.node);
    let (header, chunks) = build_chunks(1, blocks, &recs, 100);
    run_epoch1(&mut s, header_hash(&header));
    let (r,): (Result<EpochSummary, EpochsError>,) = s
        .env
        .update_candid(s.epochs, user(9), "declare_epoch_data", (header.clone(),))
        .unwrap();
    r.unwrap();
    for c in &chunks {
        let (r,): (Result<EpochSummary, EpochsError>,) = s
            .env
            .update_candid(s.epochs, user(9), "upload_chunk", (c.clone(),))
            .unwrap();
        r.unwrap();
    }
    // Not final yet.
    let (r,): (Result<EpochSummary, EpochsError>,) = s
        .env
        .update_candid(s.epochs, user(9), "close_epoch", (1u64,))
        .unwrap();
    assert!(matches!(r, Err(EpochsError::NotReady(_))));
    s.env.advance_time(DAY);
    let supply0 = supply(&mut s);
    let before: Vec<u64> = recs
        .iter()
        .map(|r| r.owner)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|o| balance(&mut s, o))
        .collect();
    // The ledger goes down; the epoch closes and the first batches fail.
    s.env.stop(s.ledger, admin()).unwrap();
    let (r,): (Result<EpochSummary, EpochsError>,) = s
        .env
        .update_candid(s.epochs, user(9), "close_epoch", (1u64,))
        .unwrap();
    let closed = r.unwrap();
    assert_eq!(closed.budget_e8s, epoch_reward(period_of_epoch(1)));
    for _ in 0..3 {
        s.env.advance_time(Duration::from_secs(31));
        s.env.tick();
    }
    assert_eq!(stats(&mut s).total_emitted_e8s, 0);
    assert!(stats(&mut s).pending_payouts > 0);
    s.env.start(s.ledger, admin()).unwrap();
    for _ in 0..10 {
        s.env.advance_time(Duration::from_secs(31));
        s.env.tick();
    }
    let (sum,): (Option<EpochSummary>,) = s
        .env
        .query_candid(s.epochs, admin(), "epoch_summary", (1u64,))
        .unwrap();
    let sum = sum.unwrap();
    assert_eq!(sum.status, EpochStatus::Paid);
    let params = emc_epochs::Params::default();
    let weights: Vec<u64> = recs.iter().map(|r| weight_of(r, blocks, &params)).collect();
    assert_eq!(
        weights.iter().filter(|w| **w == 0).count(),
        1,
        "the idle validator"
    );
    let expected = split_by_weight(closed.budget_e8s, &weights, SplitRounding::Down);
    let total: u64 = expected.iter().sum();
    assert!(total <= closed.budget_e8s);
    assert_eq!(sum.paid_e8s, total);
    assert_eq!(stats(&mut s).total_emitted_e8s, total);
    // Minted exactly once (the registry's penalty movements burn one ledger fee each).
    let burned = supply0 + total - supply(&mut s);
    assert!(
        burned.checked_rem(FEE) == Some(0) && burned <= 13 * FEE,
        "burned {burned}"
    );
    for (r, want) in recs.iter().zip(&expected) {
        let (p,): (Option<Payout>,) = s
            .env
            .query_candid(s.epochs, admin(), "node_reward", (r.node, 1u64))
            .unwrap();
        assert_eq!(p.map(|p| p.amount_e8s).unwrap_or(0), *want);
    }
    let owners: Vec<Principal> = recs
        .iter()
        .map(|r| r.owner)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for (o, b0) in owners.iter().zip(before) {
        let want: u64 = recs
            .iter()
            .zip(&expected)
            .filter(|(r, _)| r.owner == *o)
            .map(|(_, w)| *w)
            .sum();
        assert_eq!(balance(&mut s, *o), b0 + want, "owner {o}");
        let (mine,): (Vec<Payout>,) = s
            .env
            .query_candid(s.epochs, admin(), "owner_rewards", (*o, 1u64))
            .unwrap();
        assert_eq!(mine.iter().map(|p| p.amount_e8s).sum::<u64>(), want);
    }
    // The idle validator's penalty reached the registry.
    assert_eq!(stats(&mut s).pending_penalty_batches, 0);
    let idle = NodeId(s.keys[0].verifying_key().to_bytes());
    let (st,): (Option<reg::StakeInfo>,) = s
        .env
        .query_candid(s.registry, admin(), "node_stake", (idle,))
        .unwrap();
    let st = st.unwrap();
    assert!(
        st.stake_e8s < V_MIN || st.penalty_due_e8s > 0,
        "idle validator penalized"
    );
}

/// The devnet's short epochs (120 blocks, a checkpoint every 30, a one-minute challenge window)
/// end to end in the wasm: the four checkpoints of epoch 1 (150, 180, 210, 240; the one at 240
/// carries epoch 1 and closes it, the same height numbered `240 / 120 = 2` is refused), the
/// epoch's data, the close and the payout minted by the timer.
#[test]
fn a_short_epoch_runs_from_checkpoints_to_payout() {
    const SHORT: u64 = 120;
    const EVERY: u64 = 30;
    let params = Params {
        epoch_length_blocks: SHORT,
        checkpoint_interval_blocks: EVERY,
        challenge_window_ns: 60_000_000_000,
        ..Params::default()
    };
    let mut s = setup_with(Some(params.clone()));
    let (cfg,): (Config,) = s
        .env
        .query_candid(s.epochs, admin(), "get_config", ())
        .unwrap();
    assert_eq!(cfg.params, params);
    let uneven = Params {
        checkpoint_interval_blocks: 50,
        ..params.clone()
    };
    let (r,): (Result<String, String>,) = s
        .env
        .query_candid(s.epochs, admin(), "validate_set_params", (uneven,))
        .unwrap();
    assert!(
        r.is_err(),
        "an interval that does not divide the epoch length"
    );
    // 13 validators (one idle) and 50 compute nodes.
    let mut recs: Vec<NodeRecord> = crate::common::records(50, SHORT)
        .into_iter()
        .map(|mut r| {
            r.role = Role::Compute;
            r.penalty_minutes = 0; // a short epoch: no whole hour out
            r
        })
        .collect();
    for (i, k) in s.keys.iter().enumerate() {
        recs.push(NodeRecord {
            node: NodeId(k.verifying_key().to_bytes()),
            owner: owner(i as u64),
            role: Role::Validator,
            stake_e8s: V_MIN,
            active_blocks: if i == 0 { SHORT / 3 } else { SHORT },
            poc_e: 0,
            multiplier: 0,
            penalty_minutes: if i == 0 { 60 } else { 0 },
        });
    }
    recs.sort_by_key(|r| r.node);
    let (header, chunks) = build_chunks(1, SHORT, &recs, 16);
    let mut prev = ZERO_HASH;
    for h in (SHORT + EVERY..=2 * SHORT).step_by(EVERY as usize) {
        let root = if h == 2 * SHORT {
            header_hash(&header)
        } else {
            Hash([h as u8; 32])
        };
        let c = checkpoint_in(SHORT, h, prev, &s.set, root);
        assert_eq!(c.epoch, 1);
        if h == 2 * SHORT {
            // Numbered as `height / L`, the closing checkpoint is malformed: dropped at ingress.
            let mut other = c.clone();
            other.epoch = 2;
            let sc = sign(&other, &s.keys[..9]);
            assert_eq!(submit(&mut s, &sc), Err(None));
        }
        let sc = sign(&c, &s.keys[..9]);
        prev = submit(&mut s, &sc).unwrap().hash;
        s.env.advance_time(Duration::from_secs(60));
    }
    assert_eq!(latest(&mut s).unwrap().checkpoint.height, 2 * SHORT);
    assert_eq!(stats(&mut s).tip_height, Some(240));
    let longer = Params {
        epoch_length_blocks: 240,
        ..params.clone()
    };
    let (r,): (Result<String, String>,) = s
        .env
        .query_candid(s.epochs, admin(), "validate_set_params", (longer,))
        .unwrap();
    assert!(
        r.is_err(),
        "the epoch length is fixed once the chain started"
    );
    // A header counting the protocol's 43,200 blocks is refused: the epoch is 120 blocks long.
    let (long, _) = build_chunks(1, L, &recs, 16);
    let (r,): (Result<EpochSummary, EpochsError>,) = s
        .env
        .update_candid(s.epochs, user(9), "declare_epoch_data", (long,))
        .unwrap();
    assert!(matches!(r, Err(EpochsError::EpochData(_))));
    let (r,): (Result<EpochSummary, EpochsError>,) = s
        .env
        .update_candid(s.epochs, user(9), "declare_epoch_data", (header.clone(),))
        .unwrap();
    r.unwrap();
    for c in &chunks {
        let (r,): (Result<EpochSummary, EpochsError>,) = s
            .env
            .update_candid(s.epochs, user(9), "upload_chunk", (c.clone(),))
            .unwrap();
        r.unwrap();
    }
    // The closing checkpoint was accepted a minute ago: final now (the window is one minute).
    s.env.advance_time(Duration::from_secs(1));
    let supply0 = supply(&mut s);
    let (r,): (Result<EpochSummary, EpochsError>,) = s
        .env
        .update_candid(s.epochs, user(9), "close_epoch", (1u64,))
        .unwrap();
    let closed = r.unwrap();
    assert_eq!(closed.budget_e8s, epoch_reward(period_of_epoch(1)));
    for _ in 0..3 {
        s.env.advance_time(Duration::from_secs(31));
        s.env.tick();
    }
    let (sum,): (Option<EpochSummary>,) = s
        .env
        .query_candid(s.epochs, admin(), "epoch_summary", (1u64,))
        .unwrap();
    let sum = sum.unwrap();
    assert_eq!(sum.status, EpochStatus::Paid);
    let weights: Vec<u64> = recs.iter().map(|r| weight_of(r, SHORT, &params)).collect();
    assert_eq!(
        weights.iter().filter(|w| **w == 0).count(),
        1,
        "the idle validator"
    );
    let expected = split_by_weight(closed.budget_e8s, &weights, SplitRounding::Down);
    let total: u64 = expected.iter().sum();
    assert!(total > 0 && total <= closed.budget_e8s);
    assert_eq!(sum.paid_e8s, total);
    assert_eq!(stats(&mut s).total_emitted_e8s, total);
    let burned = supply0 + total - supply(&mut s);
    assert!(
        burned.checked_rem(FEE) == Some(0) && burned <= 13 * FEE,
        "burned {burned}"
    );
    for (r, want) in recs.iter().zip(&expected) {
        let (p,): (Option<Payout>,) = s
            .env
            .query_candid(s.epochs, admin(), "node_reward", (r.node, 1u64))
            .unwrap();
        assert_eq!(p.map(|p| p.amount_e8s).unwrap_or(0), *want);
    }
    // The idle validator's agreed outage (one whole hour) was reported.
    assert_eq!(stats(&mut s).pending_penalty_batches, 0);
}

/// Registers a compute node (no stake) with key `seed`, owned by `who`.
fn register_compute(s: &mut Setup, who: Principal, seed: u8) {
    let (nonce,): (Result<ByteBuf, reg::RegistryError>,) = s
        .env
        .update_candid(s.registry, who, "registration_nonce", ())
        .unwrap();
    let nonce: [u8; 32] = nonce.unwrap().as_slice().try_into().unwrap();
    let k = key(seed);
    let ra = reg::RegisterArgs {
        role: reg::Role::Compute,
        public_key: ByteBuf::from(k.verifying_key().to_bytes().to_vec()),
        network_address: format!("10.2.0.{seed}:4000"),
        region: "eu-central".into(),
        hardware: "1x L4".into(),
        signature: ByteBuf::from(
            k.sign(&reg::rules::registration_message(
                &who,
                &nonce,
                reg::Role::Compute,
            ))
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

fn registry_node(s: &mut Setup, n: NodeId) -> Option<reg::Node> {
    let (r,): (Option<reg::Node>,) = s
        .env
        .query_candid(s.registry, admin(), "get_node", (n,))
        .unwrap();
    r
}

/// After an epoch closes the timer reports each compute node's PoC E to the real registry
/// (`report_compute_es`): a registered compute node gets its epoch's E; one whose record says
/// E = 0 keeps the registry's default; a compute node the registry does not know is skipped
/// without holding up the batch.
#[test]
fn closed_epochs_report_the_compute_nodes_e_to_the_registry() {
    const SHORT: u64 = 120;
    const EVERY: u64 = 30;
    let params = Params {
        epoch_length_blocks: SHORT,
        checkpoint_interval_blocks: EVERY,
        challenge_window_ns: 60_000_000_000,
        ..Params::default()
    };
    let mut s = setup_with(Some(params));
    register_compute(&mut s, owner(50), 90);
    register_compute(&mut s, owner(51), 91);
    let default_e = registry_node(&mut s, id(91)).unwrap().poc_e;
    assert_eq!(default_e, reg::E_SCALE);
    let compute = |n: NodeId, o: Principal, poc_e: u64| NodeRecord {
        node: n,
        owner: o,
        role: Role::Compute,
        stake_e8s: 0,
        active_blocks: 0,
        poc_e,
        multiplier: 10_000,
        penalty_minutes: 0,
    };
    let mut recs = vec![
        compute(id(90), owner(50), 14_451),
        compute(id(91), owner(51), 0),
        compute(id(92), owner(52), 4_964),
    ];
    for (i, k) in s.keys.iter().enumerate() {
        recs.push(NodeRecord {
            node: NodeId(k.verifying_key().to_bytes()),
            owner: owner(i as u64),
            role: Role::Validator,
            stake_e8s: V_MIN,
            active_blocks: SHORT,
            poc_e: 7_000,
            multiplier: 0,
            penalty_minutes: 0,
        });
    }
    recs.sort_by_key(|r| r.node);
    let (header, chunks) = build_chunks(1, SHORT, &recs, 16);
    let mut prev = ZERO_HASH;
    for h in (SHORT + EVERY..=2 * SHORT).step_by(EVERY as usize) {
        let root = if h == 2 * SHORT {
            header_hash(&header)
        } else {
            Hash([h as u8; 32])
        };
        let c = checkpoint_in(SHORT, h, prev, &s.set, root);
        let sc = sign(&c, &s.keys[..9]);
        prev = submit(&mut s, &sc).unwrap().hash;
        s.env.advance_time(Duration::from_secs(60));
    }
    let (r,): (Result<EpochSummary, EpochsError>,) = s
        .env
        .update_candid(s.epochs, user(9), "declare_epoch_data", (header,))
        .unwrap();
    r.unwrap();
    for c in &chunks {
        let (r,): (Result<EpochSummary, EpochsError>,) = s
            .env
            .update_candid(s.epochs, user(9), "upload_chunk", (c.clone(),))
            .unwrap();
        r.unwrap();
    }
    s.env.advance_time(Duration::from_secs(1));
    let (r,): (Result<EpochSummary, EpochsError>,) = s
        .env
        .update_candid(s.epochs, user(9), "close_epoch", (1u64,))
        .unwrap();
    r.unwrap();
    for _ in 0..3 {
        s.env.advance_time(Duration::from_secs(31));
        s.env.tick();
    }
    assert_eq!(stats(&mut s).pending_compute_e_batches, 0);
    assert_eq!(registry_node(&mut s, id(90)).unwrap().poc_e, 14_451);
    assert_eq!(registry_node(&mut s, id(91)).unwrap().poc_e, default_e);
    assert!(registry_node(&mut s, id(92)).is_none());
    // Validators' records carry no E for the registry.
    let v = NodeId(s.keys[0].verifying_key().to_bytes());
    assert_eq!(registry_node(&mut s, v).unwrap().poc_e, reg::E_SCALE);
}

/// Install refuses parameters whose interval does not divide the epoch length, or zeros.
#[test]
fn install_refuses_invalid_params() {
    let mut env = EmbeddedEnv::new();
    let base = Params::default();
    for (l, i) in [(120, 50), (0, 30), (120, 0), (43_200, 86_400)] {
        let epochs = env.ic.create_canister(vec![admin()]);
        let params = Params {
            epoch_length_blocks: l,
            checkpoint_interval_blocks: i,
            ..base.clone()
        };
        let args = EpochsArg::Init(InitArgs {
            ledger: user(1),
            registry: user(2),
            governance: gov(),
            params: Some(params),
        });
        let r = env.ic.install_code(
            epochs,
            InstallMode::Install,
            &canister_wasm("epochs"),
            Encode!(&args).unwrap(),
            admin(),
        );
        assert!(r.is_err(), "L = {l}, interval = {i} installed");
    }
}
