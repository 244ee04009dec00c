//! The challenge protocol end to end on the CPU prover: honest nodes pass with E from the
//! rounds they completed over the window; late, out-of-range, garbage, replayed, tampered and
//! partial answers fail; partial cheaters are caught at the rate `1 - (1 - f)^k` predicts.

use emc_poc::{
    e_fixed, round_seed, Challenge, Commitment, CpuProver, FailReason, OpenRequest, Opening,
    Prover, ProverSession, Task, TaskParams, Verdict, Verifier, VerifierConfig, VerifierError,
    STANDARD,
};
use emc_types::{NodeId, StateBit};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const MS: u64 = 1_000_000;
const SMALL: TaskParams = TaskParams { n: 128, rounds: 1 };

fn seed(i: u64) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&i.to_le_bytes());
    s[31] = 0xa5;
    s
}

fn challenge(i: u64, params: TaskParams) -> Challenge {
    Challenge {
        task: Task {
            seed: seed(i),
            params,
        },
        window_ns: 1_000 * MS,
    }
}

/// Runs the protocol against `session`: challenge at `t0`, commitment at `t0 + commit_after`,
/// opening right after. `tamper` may change the opening before it is delivered.
fn run(
    ch: &Challenge,
    config: VerifierConfig,
    session: &ProverSession,
    commit_after: u64,
    randomness: [u8; 32],
    tamper: impl FnOnce(&mut Opening),
) -> Verdict {
    let t0 = 5_000 * MS;
    // Threads only split the verifier's work: alternate to exercise both paths.
    let threads = 1 + (ch.task.seed[0] % 3) as usize;
    let mut v = Verifier::new(ch.clone(), config, t0)
        .unwrap()
        .with_threads(threads);
    if let Some(verdict) = v
        .on_commitment(&session.commitment(), t0 + commit_after)
        .unwrap()
    {
        return verdict;
    }
    let req = v.rows_to_open(&randomness).unwrap();
    let mut opening = session.open(&req).unwrap();
    tamper(&mut opening);
    v.on_opening(&opening, t0 + commit_after + 100 * MS)
        .unwrap()
}

fn honest(ch: &Challenge) -> ProverSession {
    ProverSession::run(&CpuProver::new(2), &ch.task).unwrap()
}

#[test]
fn spec_examples_of_e() {
    assert_eq!(e_fixed(&STANDARD, 10_380 * MS), 14_451);
    assert_eq!(e_fixed(&STANDARD, 30_218 * MS), 4_964);
    assert_eq!(e_fixed(&STANDARD, 15_000 * MS), 10_000);
    // Work scaling: half the rounds in half the time is the same E.
    let half = TaskParams {
        n: 4096,
        rounds: 512,
    };
    assert_eq!(e_fixed(&half, 5_190 * MS), 14_451);
    // No division by zero, no overflow.
    assert!(e_fixed(&STANDARD, 0) > 0);
    // The default window is the reference time: E counts standard tasks done in it.
    let rounds = |r| TaskParams { n: 4096, rounds: r };
    assert_eq!(e_fixed(&rounds(1024), 15_000 * MS), 10_000);
    assert_eq!(e_fixed(&rounds(1830), 15_000 * MS), 17_871);
    assert_eq!(e_fixed(&rounds(4096), 15_000 * MS), 40_000);
}

#[test]
fn honest_node_passes_with_e_from_its_rounds_over_the_window() {
    // A tiny task, so the window is tiny too (E stays well above its 1e-4 resolution): up to
    // 8 rounds of n = 128 in 10 us of the validator's clock.
    const US: u64 = 1_000;
    let mut ch = challenge(1, TaskParams { n: 128, rounds: 8 });
    ch.window_ns = 10 * US;
    let cpu = CpuProver::new(2);
    for r in [1u32, 3, 8] {
        let session = ProverSession::run_window(&cpu, &ch.task, &mut |done| u32::from(done < r))
            .unwrap()
            .unwrap();
        assert_eq!(session.commitment().rounds, r);
        // Whenever within the window it commits, E is its rounds' work over the window.
        for elapsed in [US, 7 * US, 10 * US] {
            let v = run(
                &ch,
                VerifierConfig::default(),
                &session,
                elapsed,
                [9; 32],
                |_| {},
            );
            assert!(v.passed, "{v:?}");
            assert_eq!(v.reason, None);
            assert_eq!((v.elapsed_ns, v.rounds), (Some(elapsed), Some(r)));
            assert_eq!(v.e, e_fixed(&TaskParams { n: 128, rounds: r }, 10 * US));
        }
    }
    // W(1 round of 128) / W(STANDARD) = 2^21 / 2^46: E = 15 s / 10 us / 2^25 = 0.0447 a round.
    let one = ProverSession::run(&cpu, &ch.task.with_rounds(1)).unwrap();
    let eight = ProverSession::run(&cpu, &ch.task).unwrap();
    let e = |s: &ProverSession| run(&ch, VerifierConfig::default(), s, US, [9; 32], |_| {}).e;
    assert_eq!((e(&one), e(&eight)), (447, 3_576));
    // Claiming more rounds than it ran is a wrong row (C_3 is not C_4).
    let c3 = CpuProver::new(2).compute(&ch.task.with_rounds(3)).unwrap();
    let liar = ProverSession::from_output(&ch.task.with_rounds(4), c3).unwrap();
    let v = run(&ch, VerifierConfig::default(), &liar, US, [9; 32], |_| {});
    assert!(
        matches!(v.reason, Some(FailReason::WrongRow { .. })),
        "{v:?}"
    );
}

#[test]
fn rounds_out_of_range_fail_before_any_row_is_asked() {
    let ch = challenge(8, TaskParams { n: 128, rounds: 2 });
    let three = ProverSession::run(&CpuProver::new(2), &ch.task.with_rounds(3)).unwrap();
    for (rounds, session_rounds) in [(0u32, None), (3, Some(&three))] {
        let mut v = Verifier::new(ch.clone(), VerifierConfig::default(), 0).unwrap();
        let c = Commitment {
            rounds,
            root: session_rounds.map_or(emc_types::Hash([0; 32]), |s| s.commitment().root),
        };
        let verdict = v.on_commitment(&c, MS).unwrap().unwrap();
        assert_eq!(
            verdict.reason,
            Some(FailReason::RoundsOutOfRange {
                rounds,
                max_rounds: 2
            })
        );
        assert!(!verdict.passed && verdict.e == 0);
        assert!(v.rows_to_open(&[0; 32]).is_err(), "the challenge is over");
    }
    // A window too short for one round: the node commits nothing; the window's end fails it.
    let mut v = Verifier::new(ch.clone(), VerifierConfig::default(), 0).unwrap();
    let mut stop = emc_poc::WindowStop::new(0, ch.window_ns, ch.window_ns, 0, 2, None);
    let none =
        ProverSession::run_window(&CpuProver::new(1), &ch.task, &mut |d| stop.more(d, 0)).unwrap();
    assert!(none.is_none());
    assert_eq!(
        v.on_timeout(ch.window_ns).unwrap().reason,
        Some(FailReason::NoCommitment)
    );
}

#[test]
fn answer_after_the_window_fails() {
    let mut ch = challenge(2, SMALL);
    ch.window_ns = 1_000 * MS;
    let session = honest(&ch);
    let on_time = run(
        &ch,
        VerifierConfig::default(),
        &session,
        1_000 * MS,
        [1; 32],
        |_| {},
    );
    assert!(on_time.passed);
    let late = run(
        &ch,
        VerifierConfig::default(),
        &session,
        1_000 * MS + 1,
        [1; 32],
        |_| {},
    );
    assert!(!late.passed);
    assert_eq!(late.e, 0);
    assert_eq!(
        late.reason,
        Some(FailReason::LateCommitment {
            elapsed_ns: 1_000 * MS + 1,
            window_ns: 1_000 * MS
        })
    );
}

#[test]
fn silence_times_out_and_late_openings_fail() {
    let ch = challenge(3, SMALL);
    let session = honest(&ch);
    let config = VerifierConfig {
        k: 8,
        opening_timeout_ns: 500 * MS,
    };

    let mut v = Verifier::new(ch.clone(), config, 0).unwrap();
    assert_eq!(v.next_timeout(), Some(ch.window_ns));
    assert_eq!(v.on_timeout(ch.window_ns - 1), None);
    let verdict = v.on_timeout(ch.window_ns).unwrap();
    assert_eq!(verdict.reason, Some(FailReason::NoCommitment));
    assert!(v
        .on_commitment(&session.commitment(), ch.window_ns)
        .is_err());

    let mut v = Verifier::new(ch.clone(), config, 0).unwrap();
    v.on_commitment(&session.commitment(), 100 * MS).unwrap();
    let req = v.rows_to_open(&[2; 32]).unwrap();
    assert_eq!(v.next_timeout(), Some(600 * MS));
    let verdict = v
        .on_opening(&session.open(&req).unwrap(), 600 * MS + 1)
        .unwrap();
    assert_eq!(verdict.reason, Some(FailReason::LateOpening));

    let mut v = Verifier::new(ch, config, 0).unwrap();
    v.on_commitment(&session.commitment(), 100 * MS).unwrap();
    v.rows_to_open(&[2; 32]).unwrap();
    assert_eq!(
        v.on_timeout(600 * MS).unwrap().reason,
        Some(FailReason::NoOpening)
    );
}

#[test]
fn rows_are_chosen_only_after_the_commitment() {
    let ch = challenge(4, SMALL);
    let session = honest(&ch);
    let mut v = Verifier::new(ch, VerifierConfig::default(), 0).unwrap();
    assert!(matches!(
        v.rows_to_open(&[0; 32]),
        Err(VerifierError::WrongPhase { .. })
    ));
    let empty = Opening { rows: vec![] };
    assert!(matches!(
        v.on_opening(&empty, 0),
        Err(VerifierError::WrongPhase { .. })
    ));
    v.on_commitment(&session.commitment(), MS).unwrap();
    let req = v.rows_to_open(&[7; 32]).unwrap();
    let mut rows = req.rows.clone();
    rows.sort_unstable();
    rows.dedup();
    assert_eq!(rows.len(), 32, "k distinct rows");
    assert!(rows.iter().all(|&r| r < SMALL.n));
    assert_ne!(
        req.rows,
        emc_poc::select_rows(&[8; 32], &session.commitment().root, 128, 32)
    );
    assert!(v.rows_to_open(&[7; 32]).is_err(), "rows are chosen once");
}

#[test]
fn bad_configuration_is_refused() {
    let ch = challenge(5, SMALL);
    let k_too_big = VerifierConfig {
        k: 129,
        ..Default::default()
    };
    assert!(matches!(
        Verifier::new(ch.clone(), k_too_big, 0),
        Err(VerifierError::BadK { .. })
    ));
    let k_zero = VerifierConfig {
        k: 0,
        ..Default::default()
    };
    assert!(matches!(
        Verifier::new(ch.clone(), k_zero, 0),
        Err(VerifierError::BadK { .. })
    ));
    let mut bad = ch;
    bad.task.params.n = 100;
    assert!(matches!(
        Verifier::new(bad, VerifierConfig::default(), 0),
        Err(VerifierError::Params(_))
    ));
}

#[test]
fn garbage_rows_are_caught() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for i in 0..10 {
        let ch = challenge(100 + i, SMALL);
        let garbage: Vec<u32> = (0..128 * 128).map(|_| rng.gen()).collect();
        let session = ProverSession::from_output(&ch.task, garbage).unwrap();
        let v = run(
            &ch,
            VerifierConfig::default(),
            &session,
            10 * MS,
            rng.gen(),
            |_| {},
        );
        assert!(!v.passed);
        assert!(
            matches!(v.reason, Some(FailReason::WrongRow { .. })),
            "{v:?}"
        );
    }
}

#[test]
fn an_answer_precomputed_for_another_seed_or_size_is_caught() {
    for i in 0..5 {
        let ch = challenge(200 + i, SMALL);
        let other_seed = Task {
            seed: seed(300 + i),
            params: SMALL,
        };
        let replay = CpuProver::new(2).compute(&other_seed).unwrap();
        let session = ProverSession::from_output(&ch.task, replay).unwrap();
        let v = run(
            &ch,
            VerifierConfig::default(),
            &session,
            10 * MS,
            [i as u8; 32],
            |_| {},
        );
        assert!(
            matches!(v.reason, Some(FailReason::WrongRow { .. })),
            "{v:?}"
        );

        let other_size = Task {
            seed: ch.task.seed,
            params: TaskParams { n: 128, rounds: 2 },
        };
        let replay = CpuProver::new(2).compute(&other_size).unwrap();
        let session = ProverSession::from_output(&ch.task, replay).unwrap();
        let v = run(
            &ch,
            VerifierConfig::default(),
            &session,
            10 * MS,
            [i as u8; 32],
            |_| {},
        );
        assert!(
            matches!(v.reason, Some(FailReason::WrongRow { .. })),
            "{v:?}"
        );
    }
}

#[test]
fn tampered_openings_are_caught() {
    let ch = challenge(6, SMALL);
    let session = honest(&ch);
    let cfg = VerifierConfig::default();
    // A row changed after the commitment: its leaf no longer matches the root.
    let v = run(&ch, cfg, &session, MS, [3; 32], |o| {
        o.rows[5].values[17] ^= 1
    });
    assert!(
        matches!(v.reason, Some(FailReason::BadProof { .. })),
        "{v:?}"
    );
    // A proof with a flipped sibling.
    let v = run(&ch, cfg, &session, MS, [3; 32], |o| {
        o.rows[0].proof.siblings[2].0[0] ^= 1
    });
    assert!(
        matches!(v.reason, Some(FailReason::BadProof { .. })),
        "{v:?}"
    );
    // Wrong count, wrong order, wrong length.
    let v = run(&ch, cfg, &session, MS, [3; 32], |o| {
        o.rows.pop();
    });
    assert!(
        matches!(v.reason, Some(FailReason::MalformedOpening { .. })),
        "{v:?}"
    );
    let v = run(&ch, cfg, &session, MS, [3; 32], |o| o.rows.swap(0, 1));
    assert!(
        matches!(v.reason, Some(FailReason::MalformedOpening { .. })),
        "{v:?}"
    );
    let v = run(&ch, cfg, &session, MS, [3; 32], |o| {
        o.rows[1].values.pop();
    });
    assert!(
        matches!(v.reason, Some(FailReason::MalformedOpening { .. })),
        "{v:?}"
    );
    // The honest node refuses rows that do not exist.
    assert!(session.open(&OpenRequest { rows: vec![128] }).is_err());
}

/// A node that skips each row with probability `f` (committing garbage there) survives only
/// if none of the k distinct opened rows is skipped: P(caught) = 1 - (1 - f)^k exactly.
#[test]
fn partial_cheaters_are_caught_at_the_predicted_rate() {
    let trials = 300u32;
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    for (f, k) in [(0.02, 32u32), (0.05, 32), (0.1, 16), (0.2, 8)] {
        let config = VerifierConfig {
            k,
            ..Default::default()
        };
        let mut caught = 0u32;
        for trial in 0..trials {
            let ch = challenge(10_000 + u64::from(trial), SMALL);
            let mut out = CpuProver::new(1).compute(&ch.task).unwrap();
            for row in out.chunks_mut(128) {
                if rng.gen_bool(f) {
                    row.iter_mut().for_each(|x| *x = rng.gen());
                }
            }
            let session = ProverSession::from_output(&ch.task, out).unwrap();
            let v = run(&ch, config, &session, 10 * MS, rng.gen(), |_| {});
            if !v.passed {
                assert!(
                    matches!(v.reason, Some(FailReason::WrongRow { .. })),
                    "{v:?}"
                );
                caught += 1;
            }
        }
        let p = 1.0 - (1.0 - f).powi(k as i32);
        let measured = f64::from(caught) / f64::from(trials);
        // 4 standard deviations of a binomial proportion (deterministic seeds: no flakes).
        let tol = 4.0 * (p * (1.0 - p) / f64::from(trials)).sqrt();
        assert!(
            (measured - p).abs() <= tol,
            "f = {f}, k = {k}: caught {measured:.3}, predicted {p:.3} +- {tol:.3}"
        );
    }
}

#[test]
fn verdicts_become_poc_state_bits() {
    let node = NodeId([1; 32]);
    let validator = NodeId([2; 32]);
    let ch = challenge(7, SMALL);
    let session = honest(&ch);
    let pass = run(
        &ch,
        VerifierConfig::default(),
        &session,
        10 * MS,
        [4; 32],
        |_| {},
    );
    match pass.to_state_bit(node, validator) {
        StateBit::Poc(r) => {
            assert!(r.passed);
            assert_eq!((r.node, r.validator, r.e_fixed), (node, validator, pass.e));
        }
        other => panic!("{other:?}"),
    }
    let mut late = ch.clone();
    late.window_ns = MS;
    let fail = run(
        &late,
        VerifierConfig::default(),
        &session,
        2 * MS,
        [4; 32],
        |_| {},
    );
    match fail.to_state_bit(node, validator) {
        StateBit::Poc(r) => assert!(!r.passed && r.e_fixed == 0),
        other => panic!("{other:?}"),
    }
}

#[test]
fn each_node_of_a_round_gets_its_own_seed() {
    let round = [42u8; 32];
    let a = round_seed(&round, &NodeId([1; 32]));
    let b = round_seed(&round, &NodeId([2; 32]));
    assert_ne!(a, b);
    assert_ne!(a, round_seed(&[43; 32], &NodeId([1; 32])));
    assert_eq!(a, round_seed(&round, &NodeId([1; 32])));
}
