//! Proof-of-computing challenges, the validator's side (protocol sections 5 and 11.2).
//!
//! # Rounds
//! Validators agree on *when* to challenge without talking: every committed block's hash
//! decides, through a lottery, whether that block starts a round ([`RoundSchedule`]). Nobody
//! knows a block's hash before it is proposed, so compute nodes cannot predict the rounds;
//! every validator commits the same blocks, so all of them start the round at the same block,
//! within the commit skew of each other. A round is never closer than half the period to the
//! previous one, and rounds come every `period` blocks on average (`poc_interval` over the
//! block interval).
//!
//! # Who challenges whom
//! A round challenges **every** registered compute node at the same moment, each by one
//! validator of the height's set drawn from the round's randomness and the node's id
//! ([`challenger`]). One GPU behind several identities must then compute all their tasks at
//! once, and a node computes one task per round, whatever the number of validators. Over
//! the rounds of an epoch every validator challenges every node; a lying validator speaks for
//! only its share of the results, which the epoch's median and majority rule absorb.
//!
//! # One challenge
//! The challenger draws a fresh private seed ([`emc_poc::round_seed`] over its own random
//! bytes), sends the [`Challenge`] and runs the [`Verifier`] on its own monotonic clock
//! ([`run_challenge`]): the commitment's arrival fixes the elapsed time, the rows to open are
//! drawn only then, and the opened rows are recomputed on a blocking thread, never on the
//! consensus task (a few at a time: at the standard size one check recomputes 32 rows through
//! 1024 rounds, about 5.5e11 multiply-adds, tens of seconds on one core). A late answer, a bad row, a bad proof, undecodable bytes or no answer fail
//! with E = 0. The [`Verdict`] becomes a PoC state bit of the validator's next proposal.
//!
//! # Deadlines
//! A node whose last passed E is known gets a deadline of `slack` times the time that E
//! predicts ([`expected_time_ns`]), within `[min, max]`; a new node gets `max`
//! ([`DeadlinePolicy`]).

use crate::protocol::{PocOpen, KIND_POC_CHALLENGE, KIND_POC_OPEN};
use emc_poc::{
    expected_time_ns, Challenge, Commitment, FailReason, Opening, TaskParams, Verdict, Verifier,
    VerifierConfig, VerifierError,
};
use emc_types::{Hash, NodeId};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Domain tag of a round's randomness ([`round_randomness`]).
pub const ROUND_DOMAIN: &[u8] = b"emc-poc-round-v1";
/// Domain tag of the challenger draw ([`challenger`]).
pub const CHALLENGER_DOMAIN: &[u8] = b"emc-poc-challenger-v1";

/// A challenge round, started by a committed block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Round {
    /// The height of the block that started it.
    pub height: u64,
    /// Its randomness ([`round_randomness`] of the block's hash).
    pub randomness: [u8; 32],
}

/// The randomness of a round started by the block with `block_hash`:
/// `SHA-256("emc-poc-round-v1" || block_hash)`.
pub fn round_randomness(block_hash: &Hash) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(ROUND_DOMAIN);
    h.update(block_hash.0);
    h.finalize().into()
}

fn first_u64(bytes: &[u8; 32]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(b)
}

/// Decides from the committed chain which blocks start a challenge round.
///
/// Block `h` starts a round when at least `min_gap = period / 2` blocks passed since the last
/// round and the first 8 bytes of its [`round_randomness`], as a big-endian integer, are
/// divisible by `period - min_gap`: the gap between rounds is `min_gap` plus a geometric
/// wait, `period` blocks on average. The decision depends only on the chain, so validators
/// that saw the same blocks agree. A validator that starts in the middle of the chain does
/// not know the last round: it counts its first block as one and so may skip (never add) a
/// round in its first `min_gap` blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundSchedule {
    period: u64,
    min_gap: u64,
    last_round: Option<u64>,
    first_height: Option<u64>,
}

impl RoundSchedule {
    /// A schedule with rounds every `period_blocks` blocks on average (at least 1).
    pub fn new(period_blocks: u64) -> RoundSchedule {
        let period = period_blocks.max(1);
        RoundSchedule {
            period,
            min_gap: period / 2,
            last_round: None,
            first_height: None,
        }
    }

    /// Rounds every `poc_interval` on average with blocks every `block_interval`; `None`
    /// (no challenges) when `poc_interval` is zero.
    pub fn from_interval(poc_interval: Duration, block_interval: Duration) -> Option<Self> {
        if poc_interval.is_zero() {
            return None;
        }
        let block = block_interval.as_nanos().max(1);
        let period = poc_interval.as_nanos().div_ceil(block);
        Some(RoundSchedule::new(
            u64::try_from(period).unwrap_or(u64::MAX),
        ))
    }

    /// The mean number of blocks between rounds.
    pub fn period_blocks(&self) -> u64 {
        self.period
    }

    /// The height of the last round seen.
    pub fn last_round(&self) -> Option<u64> {
        self.last_round
    }

    /// Feeds a committed block (in height order); returns the round it starts, if any.
    pub fn on_commit(&mut self, height: u64, block_hash: &Hash) -> Option<Round> {
        let first = *self.first_height.get_or_insert(height);
        let last = self.last_round.unwrap_or(first.saturating_sub(1));
        if height <= last || height - last < self.min_gap.max(1) {
            return None;
        }
        let randomness = round_randomness(block_hash);
        let odds = self.period - self.min_gap; // >= 1: min_gap <= period / 2
        if first_u64(&randomness) % odds != 0 {
            return None;
        }
        self.last_round = Some(height);
        Some(Round { height, randomness })
    }
}

/// The validator of `members` that challenges `node` in the round with `randomness`:
/// `members[SHA-256("emc-poc-challenger-v1" || randomness || node) mod len]` (the first 8
/// bytes, big-endian). `None` when `members` is empty.
pub fn challenger(randomness: &[u8; 32], node: &NodeId, members: &[NodeId]) -> Option<NodeId> {
    if members.is_empty() {
        return None;
    }
    let mut h = Sha256::new();
    h.update(CHALLENGER_DOMAIN);
    h.update(randomness);
    h.update(node.0);
    let d: [u8; 32] = h.finalize().into();
    let len = members.len() as u64;
    members.get((first_u64(&d) % len) as usize).copied()
}

/// The nodes among `compute` that `me` challenges in `round` (none when `me` is not in
/// `members`).
pub fn assignments(
    round: &Round,
    me: &NodeId,
    members: &[NodeId],
    compute: impl IntoIterator<Item = NodeId>,
) -> Vec<NodeId> {
    if !members.contains(me) {
        return Vec::new();
    }
    compute
        .into_iter()
        .filter(|n| challenger(&round.randomness, n, members).as_ref() == Some(me))
        .collect()
}

/// How long a node has for its commitment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeadlinePolicy {
    /// The deadline of a node with no passed E yet, and the largest of any node.
    pub max_ns: u64,
    /// The smallest deadline (covers round trips and scheduling noise on short tasks).
    pub min_ns: u64,
    /// The deadline as a percentage of the time the node's last passed E predicts
    /// (e.g. 150); 0: always `max_ns`.
    pub slack_pct: u32,
}

impl DeadlinePolicy {
    /// The deadline for a task of size `params` to a node whose last passed E was `last_e`.
    pub fn deadline_ns(&self, params: &TaskParams, last_e: Option<u64>) -> u64 {
        match last_e {
            Some(e) if e > 0 && self.slack_pct > 0 => {
                let expected = u128::from(expected_time_ns(params, e));
                let d = expected * u128::from(self.slack_pct) / 100;
                u64::try_from(d)
                    .unwrap_or(u64::MAX)
                    .max(self.min_ns)
                    .min(self.max_ns)
            }
            _ => self.max_ns,
        }
    }
}

/// Nanoseconds on this process's monotonic clock (the validator's clock for E).
pub fn mono_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = BASE.get_or_init(Instant::now);
    u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// A challenge that could not be judged for a reason of the validator's own (its state
/// machine refused, its verification thread died): nothing is recorded about the node.
#[derive(Debug, thiserror::Error)]
pub enum ChallengeError {
    /// The verifier refused its input (a bad configuration).
    #[error(transparent)]
    Verifier(#[from] VerifierError),
    /// The verification thread did not finish.
    #[error("verification thread: {0}")]
    Join(String),
}

fn failed(reason: FailReason, elapsed_ns: Option<u64>) -> Verdict {
    Verdict {
        passed: false,
        e: 0,
        elapsed_ns,
        reason: Some(reason),
    }
}

/// Runs one challenge over `request` (`(kind, payload, timeout)` to the node, its answer or
/// an error for no answer) and returns the verdict. Time is taken from [`mono_ns`]; the rows
/// to open are drawn from the OS's randomness after the commitment arrived; the opened rows
/// are checked on a blocking thread once `verify_gate` gives a permit (it bounds how many
/// checks run at once; the check's cost does not count in E, which is fixed by then).
pub async fn run_challenge<R, Fut, E>(
    request: R,
    challenge: Challenge,
    config: VerifierConfig,
    verify_gate: &Semaphore,
) -> Result<Verdict, ChallengeError>
where
    R: Fn(u8, Vec<u8>, Duration) -> Fut,
    Fut: Future<Output = Result<Vec<u8>, E>>,
    E: std::fmt::Display,
{
    let seed = challenge.task.seed;
    let payload = challenge.encode();
    let wait = Duration::from_nanos(challenge.deadline_ns);
    let issued = mono_ns();
    let mut verifier = Verifier::new(challenge, config, issued)?;
    let answer = request(KIND_POC_CHALLENGE, payload, wait).await;
    let now = mono_ns();
    let commitment = match answer {
        Ok(bytes) => match Commitment::decode(&bytes) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "undecodable commitment");
                return Ok(failed(FailReason::NoCommitment, None));
            }
        },
        Err(e) => {
            tracing::debug!(error = %e, "no commitment");
            return Ok(failed(FailReason::NoCommitment, None));
        }
    };
    if let Some(late) = verifier.on_commitment(&commitment, now)? {
        return Ok(late);
    }
    let elapsed = now.saturating_sub(issued);
    let mut randomness = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut randomness);
    let rows = verifier.rows_to_open(&randomness)?;
    let open = PocOpen {
        seed,
        request: rows,
    };
    let answer = request(
        KIND_POC_OPEN,
        open.encode(),
        Duration::from_nanos(config.opening_timeout_ns),
    )
    .await;
    let arrived = mono_ns();
    let opening = match answer {
        Ok(bytes) => match Opening::decode(&bytes) {
            Ok(o) => o,
            Err(e) => {
                let detail = format!("undecodable opening: {e}");
                return Ok(failed(
                    FailReason::MalformedOpening { detail },
                    Some(elapsed),
                ));
            }
        },
        Err(e) => {
            tracing::debug!(error = %e, "no opening");
            return Ok(failed(FailReason::NoOpening, Some(elapsed)));
        }
    };
    let _permit = verify_gate
        .acquire()
        .await
        .map_err(|e| ChallengeError::Join(e.to_string()))?;
    let checked = tokio::task::spawn_blocking(move || verifier.on_opening(&opening, arrived))
        .await
        .map_err(|e| ChallengeError::Join(e.to_string()))?;
    Ok(checked?)
}

/// The last verdict about one node, as this validator measured it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PocNodeStatus {
    /// Height of the round.
    pub round_height: u64,
    /// Whether it passed.
    pub passed: bool,
    /// E in fixed point (4 decimals); 0 when failed.
    pub e_fixed: u64,
    /// Time to the commitment, ms, when one came.
    pub elapsed_ms: Option<f64>,
    /// Why it failed.
    pub reason: Option<String>,
}

/// This validator's challenge counters.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PocStatus {
    /// Mean blocks between rounds (0: challenges off).
    pub period_blocks: u64,
    /// Rounds seen on the chain.
    pub rounds: u64,
    /// Height of the last round.
    pub last_round: Option<u64>,
    /// Challenges this validator issued.
    pub issued: u64,
    /// ... that passed.
    pub passed: u64,
    /// ... that failed.
    pub failed: u64,
    /// Challenges skipped (the node's previous challenge still running, or the round's
    /// block committed too late here to be simultaneous).
    pub skipped: u64,
    /// The last verdict per node (hex id).
    pub nodes: BTreeMap<String, PocNodeStatus>,
}

impl PocStatus {
    /// Records a verdict about `node` from the round at `round_height`.
    pub fn record(&mut self, node: &NodeId, round_height: u64, v: &Verdict) {
        if v.passed {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
        self.nodes.insert(
            hex::encode(node.0),
            PocNodeStatus {
                round_height,
                passed: v.passed,
                e_fixed: v.e,
                elapsed_ms: v.elapsed_ns.map(|ns| ns as f64 / 1e6),
                reason: v.reason.as_ref().map(|r| format!("{r:?}")),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emc_poc::{CpuProver, OpenRequest, ProverSession, Task, STANDARD};
    use emc_types::E_SCALE;
    use std::sync::{Arc, Mutex};

    fn hash(i: u64) -> Hash {
        let mut h = Sha256::new();
        h.update(i.to_be_bytes());
        Hash(h.finalize().into())
    }

    #[test]
    fn rounds_follow_the_chain_keep_the_gap_and_average_the_period() {
        let mut a = RoundSchedule::new(20);
        let mut b = RoundSchedule::new(20);
        let mut rounds = Vec::new();
        for h in 1..=200_000 {
            let ra = a.on_commit(h, &hash(h));
            assert_eq!(ra, b.on_commit(h, &hash(h)), "same chain, same rounds");
            if let Some(r) = ra {
                assert_eq!(r.height, h);
                assert_eq!(r.randomness, round_randomness(&hash(h)));
                rounds.push(h);
            }
        }
        assert!(rounds[0] >= 10, "nothing in the first min_gap blocks");
        for w in rounds.windows(2) {
            assert!(w[1] - w[0] >= 10, "gap {} below period / 2", w[1] - w[0]);
        }
        let mean = 200_000.0 / rounds.len() as f64;
        assert!((18.0..22.0).contains(&mean), "mean gap {mean}");
        // Replaying a height (or an older one) starts nothing.
        let last = *rounds.last().unwrap();
        assert_eq!(a.last_round(), Some(last));
        assert_eq!(a.on_commit(last, &hash(last)), None);
    }

    #[test]
    fn a_validator_starting_late_skips_but_never_adds_rounds() {
        let mut full = RoundSchedule::new(8);
        let mut late = RoundSchedule::new(8);
        let mut full_rounds = std::collections::BTreeSet::new();
        for h in 1..=5_000 {
            if full.on_commit(h, &hash(h)).is_some() {
                full_rounds.insert(h);
            }
        }
        let mut late_rounds = std::collections::BTreeSet::new();
        for h in 1_001..=5_000 {
            if late.on_commit(h, &hash(h)).is_some() {
                late_rounds.insert(h);
            }
        }
        assert!(late_rounds.iter().all(|h| full_rounds.contains(h)));
        let first_full_after = full_rounds.range(1_010..).next().unwrap();
        assert!(late_rounds.contains(first_full_after) || *first_full_after < 1_010);
        assert!(late_rounds.len() + 2 >= full_rounds.range(1_001..).count());
    }

    #[test]
    fn period_one_is_every_block_and_zero_interval_is_off() {
        let mut s = RoundSchedule::new(1);
        assert!((1..100).all(|h| s.on_commit(h, &hash(h)).is_some()));
        assert!(RoundSchedule::from_interval(Duration::ZERO, Duration::from_secs(1)).is_none());
        let s = RoundSchedule::from_interval(Duration::from_secs(10), Duration::from_millis(300))
            .unwrap();
        assert_eq!(s.period_blocks(), 34);
    }

    #[test]
    fn every_node_has_one_challenger_and_the_load_spreads() {
        let members: Vec<NodeId> = (0..4u8).map(|i| NodeId([i; 32])).collect();
        let compute: Vec<NodeId> = (0..400u16)
            .map(|i| {
                let mut id = [0xc0; 32];
                id[..2].copy_from_slice(&i.to_be_bytes());
                NodeId(id)
            })
            .collect();
        let round = Round {
            height: 7,
            randomness: round_randomness(&hash(7)),
        };
        let mut total = 0;
        for m in &members {
            let mine = assignments(&round, m, &members, compute.iter().copied());
            assert!((60..140).contains(&mine.len()), "{} of 400", mine.len());
            total += mine.len();
        }
        assert_eq!(total, compute.len(), "each node exactly once");
        let outsider = NodeId([9; 32]);
        assert!(assignments(&round, &outsider, &members, compute.iter().copied()).is_empty());
        assert_eq!(challenger(&round.randomness, &compute[0], &[]), None);
        // Another round draws other challengers.
        let other = Round {
            height: 8,
            randomness: round_randomness(&hash(8)),
        };
        let moved = compute
            .iter()
            .filter(|n| {
                challenger(&round.randomness, n, &members)
                    != challenger(&other.randomness, n, &members)
            })
            .count();
        assert!(moved > 200, "{moved} of 400 changed challenger");
    }

    #[test]
    fn deadlines_follow_the_last_e_within_bounds() {
        let p = DeadlinePolicy {
            max_ns: 60_000_000_000,
            min_ns: 2_000_000_000,
            slack_pct: 150,
        };
        assert_eq!(p.deadline_ns(&STANDARD, None), 60_000_000_000);
        assert_eq!(p.deadline_ns(&STANDARD, Some(0)), 60_000_000_000);
        // E = 1.5: 10 s predicted, 15 s deadline.
        assert_eq!(
            p.deadline_ns(&STANDARD, Some(15_000)),
            15_000_000_000,
            "1.5 x 10 s"
        );
        assert_eq!(
            p.deadline_ns(&STANDARD, Some(1_000 * E_SCALE)),
            2_000_000_000
        );
        assert_eq!(p.deadline_ns(&STANDARD, Some(1)), 60_000_000_000);
        let off = DeadlinePolicy { slack_pct: 0, ..p };
        assert_eq!(off.deadline_ns(&STANDARD, Some(15_000)), 60_000_000_000);
        let odd = DeadlinePolicy {
            min_ns: 10,
            max_ns: 5,
            slack_pct: 100,
        };
        assert_eq!(odd.deadline_ns(&STANDARD, Some(15_000)), 5, "no panic");
    }

    /// A node in process: answers like the compute role, with `cheat` applied to its result.
    #[derive(Clone)]
    struct Node {
        session: Arc<Mutex<Option<ProverSession>>>,
        cheat: Cheat,
        delay: Duration,
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Cheat {
        Honest,
        GarbageRows,
        WrongRoot,
        Silent,
        BadBytes,
        NoOpening,
    }

    impl Node {
        fn new(cheat: Cheat, delay: Duration) -> Node {
            Node {
                session: Arc::new(Mutex::new(None)),
                cheat,
                delay,
            }
        }

        async fn answer(&self, kind: u8, payload: Vec<u8>) -> Result<Vec<u8>, String> {
            match kind {
                KIND_POC_CHALLENGE => {
                    let ch = Challenge::decode(&payload).map_err(|e| e.to_string())?;
                    if self.cheat == Cheat::Silent {
                        return Err("silent".into());
                    }
                    tokio::time::sleep(self.delay).await;
                    let n = ch.task.params.n_usize();
                    let session = if self.cheat == Cheat::GarbageRows {
                        ProverSession::from_output(&ch.task, vec![7; n * n]).unwrap()
                    } else {
                        ProverSession::run(&CpuProver::new(1), &ch.task).unwrap()
                    };
                    let mut c = session.commitment();
                    if self.cheat == Cheat::WrongRoot {
                        c.root.0[0] ^= 1;
                    }
                    *self.session.lock().unwrap() = Some(session);
                    Ok(c.encode())
                }
                KIND_POC_OPEN => {
                    let open = PocOpen::decode(&payload).map_err(|e| e.to_string())?;
                    match self.cheat {
                        Cheat::BadBytes => return Ok(vec![1, 2, 3]),
                        Cheat::NoOpening => return Err("gone".into()),
                        _ => {}
                    }
                    let s = self.session.lock().unwrap();
                    let s = s.as_ref().ok_or("no session")?;
                    Ok(s.open(&open.request).map_err(|e| e.to_string())?.encode())
                }
                _ => Err("kind".into()),
            }
        }
    }

    async fn challenge(node: &Node, deadline: Duration) -> Verdict {
        let ch = Challenge {
            task: Task {
                seed: [5; 32],
                params: TaskParams { n: 128, rounds: 2 },
            },
            deadline_ns: deadline.as_nanos() as u64,
        };
        let cfg = VerifierConfig {
            k: 16,
            opening_timeout_ns: 2_000_000_000,
        };
        let node = node.clone();
        run_challenge(
            move |kind, payload, timeout| {
                let node = node.clone();
                async move {
                    tokio::time::timeout(timeout, node.answer(kind, payload))
                        .await
                        .map_err(|_| "timeout".to_string())?
                }
            },
            ch,
            cfg,
            &Semaphore::new(1),
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn honest_nodes_pass_and_cheaters_fail() {
        let v = challenge(
            &Node::new(Cheat::Honest, Duration::ZERO),
            Duration::from_secs(5),
        )
        .await;
        assert!(v.passed, "{v:?}");
        assert!(v.e > 0 && v.elapsed_ns.is_some());

        let v = challenge(
            &Node::new(Cheat::GarbageRows, Duration::ZERO),
            Duration::from_secs(5),
        )
        .await;
        assert!(
            matches!(v.reason, Some(FailReason::WrongRow { .. })),
            "{v:?}"
        );
        assert_eq!(v.e, 0);

        let v = challenge(
            &Node::new(Cheat::WrongRoot, Duration::ZERO),
            Duration::from_secs(5),
        )
        .await;
        assert!(
            matches!(v.reason, Some(FailReason::BadProof { .. })),
            "{v:?}"
        );

        let v = challenge(
            &Node::new(Cheat::Silent, Duration::ZERO),
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(v.reason, Some(FailReason::NoCommitment));

        let v = challenge(
            &Node::new(Cheat::BadBytes, Duration::ZERO),
            Duration::from_secs(5),
        )
        .await;
        assert!(
            matches!(v.reason, Some(FailReason::MalformedOpening { .. })),
            "{v:?}"
        );

        let v = challenge(
            &Node::new(Cheat::NoOpening, Duration::ZERO),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(v.reason, Some(FailReason::NoOpening));

        // Too slow: the answer comes after the deadline (the transport gives up at it).
        let v = challenge(
            &Node::new(Cheat::Honest, Duration::from_millis(400)),
            Duration::from_millis(100),
        )
        .await;
        assert!(!v.passed && v.e == 0, "{v:?}");
    }

    #[tokio::test]
    async fn open_requests_name_the_challenge() {
        // The open request carries the seed and the rows drawn after the commitment.
        let seen = Arc::new(Mutex::new(Vec::new()));
        let node = Node::new(Cheat::Honest, Duration::ZERO);
        let s2 = seen.clone();
        let ch = Challenge {
            task: Task {
                seed: [8; 32],
                params: TaskParams { n: 128, rounds: 1 },
            },
            deadline_ns: 5_000_000_000,
        };
        let v = run_challenge(
            move |kind, payload: Vec<u8>, _timeout| {
                let node = node.clone();
                if kind == KIND_POC_OPEN {
                    s2.lock().unwrap().push(PocOpen::decode(&payload).unwrap());
                }
                async move { node.answer(kind, payload).await }
            },
            ch,
            VerifierConfig::default(),
            &Semaphore::new(1),
        )
        .await
        .unwrap();
        assert!(v.passed);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].seed, [8; 32]);
        assert_eq!(seen[0].request.rows.len(), 32);
        let _ = OpenRequest { rows: vec![] };
    }

    #[test]
    fn status_records_verdicts() {
        let mut s = PocStatus::default();
        let v = Verdict {
            passed: true,
            e: 12,
            elapsed_ns: Some(3_000_000),
            reason: None,
        };
        s.record(&NodeId([1; 32]), 40, &v);
        s.record(
            &NodeId([2; 32]),
            40,
            &failed(FailReason::NoCommitment, None),
        );
        assert_eq!((s.passed, s.failed), (1, 1));
        let n = &s.nodes[&hex::encode([1u8; 32])];
        assert_eq!((n.e_fixed, n.elapsed_ms), (12, Some(3.0)));
        assert!(s.nodes[&hex::encode([2u8; 32])].reason.is_some());
    }
}
