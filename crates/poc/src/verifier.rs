//! The validator's side: a sans-IO state machine per challenge, the compute unit E in fixed
//! point, and the conversion of a verdict into a state bit.
//!
//! Time always comes in as an argument (`now`, nanoseconds on the validator's clock); the
//! verifier reads no clock and does no IO. Randomness for the spot check comes in as an
//! argument too, and only after the commitment arrived.

use crate::merkle::{self, leaf_hash};
use crate::prover::{Challenge, Commitment, OpenRequest, Opening};
use crate::task::{ParamsError, Task, TaskParams, STANDARD};
use emc_types::{Hash, NodeId, PocResult, StateBit, E_SCALE};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Rows opened per challenge by default. A node that cheats on a fraction `f` of its rows is
/// caught with probability `1 - (1 - f)^32`: 0.81 for f = 5 %, 0.97 for f = 10 %, 0.9999 for
/// f = 25 %; and `(k + 1) / n = 33 / 4096 = 0.008` keeps the verifier under 1 % of the work.
pub const STANDARD_K: u32 = 32;

/// The reference time of the compute unit: E = 15000 ms / PoC_time (protocol section 5).
pub const E_REFERENCE_NS: u64 = 15_000_000_000;

/// Default window of a challenge: the reference time, so that E is the work completed in the
/// window counted in standard tasks (1024 rounds at n = 4096 give E = 1).
pub const DEFAULT_WINDOW_NS: u64 = E_REFERENCE_NS;

/// Default `max_rounds` at n = 4096: E at most 4.0 with [`DEFAULT_WINDOW_NS`] (above an H200 at
/// its full int32 peak, ~3660 rounds in 15 s); an honest opening then costs the verifier at
/// most `34 * 4096 * 4096^2 = 2.3e12` multiply-adds.
pub const DEFAULT_MAX_ROUNDS: u32 = 4096;

/// Default time a node has to answer the spot check after its commitment arrived.
pub const DEFAULT_OPENING_TIMEOUT_NS: u64 = 10_000_000_000;

/// Domain tag of the row selection.
pub const ROWS_DOMAIN: &[u8] = b"emc-poc-rows-v1";

/// Domain tag of per-node seeds in a challenge round ([`round_seed`]).
pub const SEED_DOMAIN: &[u8] = b"emc-poc-seed-v1";

/// E in fixed point ([`E_SCALE`] = 10^4) for the work of `params` (`rounds` rounds at size
/// `n`) done in `time_ns`:
///
/// `E = 15000 ms / time * W(params) / W(STANDARD)`, `W = rounds * n^3`,
///
/// rounded half up. A challenge's E is this for the `r` rounds the node committed to and the
/// challenge's **window** (not the node's elapsed time): `e_fixed(&{n, r}, window_ns)`, so E
/// is proportional to the work completed within the window. With a window of 15 s (the
/// reference time) E is the work in standard tasks: 1024 rounds at n = 4096 give 1.0000. The
/// spec's examples hold as before: the standard task's work in 10,380 ms gives 14451
/// (1.4451), in 30,218 ms 4964. Sizes are normalized by their work, so they stay comparable.
/// A time of 0 counts as 1 ns; the result saturates at `u64::MAX`.
pub fn e_fixed(params: &TaskParams, time_ns: u64) -> u64 {
    let num = u128::from(E_REFERENCE_NS) * u128::from(E_SCALE) * params.prover_macs();
    let den = u128::from(time_ns.max(1)) * STANDARD.prover_macs();
    u64::try_from((num + den / 2) / den).unwrap_or(u64::MAX)
}

/// The seed of `node`'s challenge in a round: `SHA-256("emc-poc-seed-v1" || round_randomness
/// || node)`. Every node of a round gets its own seed, so one result cannot serve two
/// identities; the validator issues all of a round's challenges at the same instant.
pub fn round_seed(round_randomness: &[u8; 32], node: &NodeId) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(SEED_DOMAIN);
    h.update(round_randomness);
    h.update(node.0);
    h.finalize().into()
}

/// The validator's policy for one challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifierConfig {
    /// Rows opened (at most `n`).
    pub k: u32,
    /// Time the node has, after its commitment arrived, to deliver the opening.
    pub opening_timeout_ns: u64,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        VerifierConfig {
            k: STANDARD_K,
            opening_timeout_ns: DEFAULT_OPENING_TIMEOUT_NS,
        }
    }
}

/// Why a challenge failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailReason {
    /// The commitment arrived after the window.
    LateCommitment {
        /// Measured time from challenge to commitment.
        elapsed_ns: u64,
        /// The challenge's window.
        window_ns: u64,
    },
    /// The window passed without a commitment.
    NoCommitment,
    /// The commitment states a number of rounds outside `1..=max_rounds`: zero rounds is no
    /// work, more than `max_rounds` would make the verifier's work unbounded.
    RoundsOutOfRange {
        /// Rounds stated.
        rounds: u32,
        /// The challenge's `max_rounds`.
        max_rounds: u32,
    },
    /// The opening arrived after the opening timeout.
    LateOpening,
    /// The opening timeout passed without an opening.
    NoOpening,
    /// The opening does not answer the request (wrong count, order, index or row length).
    MalformedOpening {
        /// What was wrong.
        detail: String,
    },
    /// A row's inclusion proof does not lead to the committed root.
    BadProof {
        /// The row.
        row: u32,
    },
    /// A row differs from the validator's own recomputation.
    WrongRow {
        /// The row.
        row: u32,
    },
}

/// The outcome of a challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Whether the node passed.
    pub passed: bool,
    /// E in fixed point ([`E_SCALE`]); 0 when the node failed.
    pub e: u64,
    /// Time from challenge to commitment on the validator's clock, when a commitment came.
    pub elapsed_ns: Option<u64>,
    /// Rounds the commitment stated, when one came.
    pub rounds: Option<u32>,
    /// Why it failed; `None` when it passed.
    pub reason: Option<FailReason>,
}

impl Verdict {
    /// A failing verdict: E = 0.
    pub fn fail(reason: FailReason, elapsed_ns: Option<u64>, rounds: Option<u32>) -> Verdict {
        Verdict {
            passed: false,
            e: 0,
            elapsed_ns,
            rounds,
            reason: Some(reason),
        }
    }

    /// The state bit validators agree on (protocol section 6): `(node, E, pass, validator)`.
    pub fn to_state_bit(&self, node: NodeId, validator: NodeId) -> StateBit {
        StateBit::Poc(PocResult {
            node,
            e_fixed: if self.passed { self.e } else { 0 },
            passed: self.passed,
            validator,
        })
    }
}

/// Misuse of the state machine (calls in the wrong order, bad configuration). A node's bad
/// answers are not errors: they end the challenge with a failing [`Verdict`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifierError {
    /// The challenge's size is out of bounds.
    #[error(transparent)]
    Params(#[from] ParamsError),
    /// The window is zero.
    #[error("the window must be positive")]
    ZeroWindow,
    /// `k` is 0 or larger than `n`.
    #[error("k = {k} rows to open must be between 1 and n = {n}")]
    BadK {
        /// Rows to open.
        k: u32,
        /// Matrix size.
        n: u32,
    },
    /// The call does not fit the current phase.
    #[error("{call} is not valid while {phase}")]
    WrongPhase {
        /// The call.
        call: &'static str,
        /// The current phase.
        phase: &'static str,
    },
}

#[derive(Clone, Debug)]
enum Phase {
    AwaitCommitment,
    ChooseRows(Committed),
    AwaitOpening(Committed, Vec<u32>),
    Done(Verdict),
}

/// What the commitment fixed.
#[derive(Clone, Copy, Debug)]
struct Committed {
    root: Hash,
    rounds: u32,
    committed_at: u64,
    elapsed_ns: u64,
}

impl Phase {
    fn name(&self) -> &'static str {
        match self {
            Phase::AwaitCommitment => "awaiting the commitment",
            Phase::ChooseRows { .. } => "choosing rows to open",
            Phase::AwaitOpening { .. } => "awaiting the opening",
            Phase::Done(_) => "done",
        }
    }
}

/// One challenge, from the validator's side.
///
/// `new` (challenge sent) -> `on_commitment` (within the window, `1 <= r <= max_rounds`) ->
/// `rows_to_open` (fresh randomness) -> `on_opening` (rows recomputed through `r` rounds) ->
/// [`Verdict`] with `E = e_fixed({n, r}, window)`. `on_timeout` ends a challenge whose answer
/// does not come; [`Verifier::next_timeout`] says when to call it.
#[derive(Clone, Debug)]
pub struct Verifier {
    challenge: Challenge,
    config: VerifierConfig,
    issued_at: u64,
    phase: Phase,
    threads: usize,
    /// Rows recomputed so far (the verifier's work, for tests and metrics).
    rows_recomputed: u64,
}

impl Verifier {
    /// Starts a challenge sent at `now` (validator clock, ns).
    pub fn new(
        challenge: Challenge,
        config: VerifierConfig,
        now: u64,
    ) -> Result<Verifier, VerifierError> {
        let p = challenge.task.params;
        p.validate()?;
        if challenge.window_ns == 0 {
            return Err(VerifierError::ZeroWindow);
        }
        if config.k == 0 || config.k > p.n {
            return Err(VerifierError::BadK {
                k: config.k,
                n: p.n,
            });
        }
        Ok(Verifier {
            challenge,
            config,
            issued_at: now,
            phase: Phase::AwaitCommitment,
            threads: 1,
            rows_recomputed: 0,
        })
    }

    /// Recompute opened rows on `threads` threads (0: one per core; default 1). A local
    /// setting: the verdict is the same whatever the number.
    pub fn with_threads(mut self, threads: usize) -> Verifier {
        self.threads = threads;
        self
    }

    /// How many opened rows this verifier recomputed (its work: each costs about
    /// `r * n^2` multiply-adds for the `r` rounds committed).
    pub fn rows_recomputed(&self) -> u64 {
        self.rows_recomputed
    }

    /// The challenge.
    pub fn challenge(&self) -> &Challenge {
        &self.challenge
    }

    /// The verdict, once the challenge ended.
    pub fn verdict(&self) -> Option<&Verdict> {
        match &self.phase {
            Phase::Done(v) => Some(v),
            _ => None,
        }
    }

    /// When the shell should call [`Verifier::on_timeout`] if nothing arrives before
    /// (absolute, validator clock); `None` once done or while choosing rows.
    pub fn next_timeout(&self) -> Option<u64> {
        match &self.phase {
            Phase::AwaitCommitment => Some(self.issued_at.saturating_add(self.challenge.window_ns)),
            Phase::AwaitOpening(c, _) => Some(
                c.committed_at
                    .saturating_add(self.config.opening_timeout_ns),
            ),
            Phase::ChooseRows(_) | Phase::Done(_) => None,
        }
    }

    fn wrong_phase(&self, call: &'static str) -> VerifierError {
        VerifierError::WrongPhase {
            call,
            phase: self.phase.name(),
        }
    }

    fn finish(&mut self, v: Verdict) -> Verdict {
        self.phase = Phase::Done(v.clone());
        v
    }

    /// The node's commitment arrived at `now`. The elapsed time is measured here, on the
    /// validator's clock. Returns the verdict when this ends the challenge: after the window,
    /// or with rounds outside `1..=max_rounds`.
    pub fn on_commitment(
        &mut self,
        commitment: &Commitment,
        now: u64,
    ) -> Result<Option<Verdict>, VerifierError> {
        if !matches!(self.phase, Phase::AwaitCommitment) {
            return Err(self.wrong_phase("on_commitment"));
        }
        let elapsed_ns = now.saturating_sub(self.issued_at);
        let rounds = commitment.rounds;
        let fail = |reason| Verdict::fail(reason, Some(elapsed_ns), Some(rounds));
        if elapsed_ns > self.challenge.window_ns {
            let reason = FailReason::LateCommitment {
                elapsed_ns,
                window_ns: self.challenge.window_ns,
            };
            return Ok(Some(self.finish(fail(reason))));
        }
        let max_rounds = self.challenge.max_rounds();
        if rounds == 0 || rounds > max_rounds {
            let reason = FailReason::RoundsOutOfRange { rounds, max_rounds };
            return Ok(Some(self.finish(fail(reason))));
        }
        self.phase = Phase::ChooseRows(Committed {
            root: commitment.root,
            rounds,
            committed_at: now,
            elapsed_ns,
        });
        Ok(None)
    }

    /// Chooses the rows to open from `randomness`, which the validator draws fresh after the
    /// commitment arrived: `k` distinct rows, uniform, from `SHA-256("emc-poc-rows-v1" ||
    /// randomness || root || counter_le32)` by rejection sampling.
    pub fn rows_to_open(&mut self, randomness: &[u8; 32]) -> Result<OpenRequest, VerifierError> {
        let Phase::ChooseRows(c) = self.phase else {
            return Err(self.wrong_phase("rows_to_open"));
        };
        let rows = select_rows(
            randomness,
            &c.root,
            self.challenge.task.params.n,
            self.config.k,
        );
        self.phase = Phase::AwaitOpening(c, rows.clone());
        Ok(OpenRequest { rows })
    }

    /// The opening arrived at `now`: checks every row's proof against the root, then
    /// recomputes the first row asked through the `r` committed rounds and compares it, and
    /// only if it is right the other rows. Returns the verdict.
    ///
    /// Cost: a wrong first row, `r * n^2` generated entries plus as many multiply-adds;
    /// otherwise `2 * r * n^2` generated entries plus `k * r * n^2` multiply-adds, spread
    /// over [`Verifier::with_threads`] threads (`r <= max_rounds` bounds it).
    pub fn on_opening(&mut self, opening: &Opening, now: u64) -> Result<Verdict, VerifierError> {
        let Phase::AwaitOpening(c, rows) = self.phase.clone() else {
            return Err(self.wrong_phase("on_opening"));
        };
        if now.saturating_sub(c.committed_at) > self.config.opening_timeout_ns {
            let v = Verdict::fail(FailReason::LateOpening, Some(c.elapsed_ns), Some(c.rounds));
            return Ok(self.finish(v));
        }
        let v = self.check_opening(&c, &rows, opening);
        Ok(self.finish(v))
    }

    /// Nothing arrived by [`Verifier::next_timeout`]: ends the challenge as failed. Before
    /// that time (or once done) it does nothing and returns `None`.
    pub fn on_timeout(&mut self, now: u64) -> Option<Verdict> {
        let due = self.next_timeout()?;
        if now < due {
            return None;
        }
        let v = match &self.phase {
            Phase::AwaitCommitment => Verdict::fail(FailReason::NoCommitment, None, None),
            Phase::AwaitOpening(c, _) => {
                Verdict::fail(FailReason::NoOpening, Some(c.elapsed_ns), Some(c.rounds))
            }
            Phase::ChooseRows(_) | Phase::Done(_) => return None,
        };
        Some(self.finish(v))
    }

    fn check_opening(&mut self, c: &Committed, rows: &[u32], opening: &Opening) -> Verdict {
        // The task the node claims: the challenge's seed and n, through the committed rounds.
        let task: Task = self.challenge.task.with_rounds(c.rounds);
        let n = task.params.n;
        let (root, elapsed_ns, rounds) = (&c.root, Some(c.elapsed_ns), Some(c.rounds));
        let fail = |reason| Verdict::fail(reason, elapsed_ns, rounds);
        let malformed = |detail: String| fail(FailReason::MalformedOpening { detail });
        if opening.rows.len() != rows.len() {
            return malformed(format!(
                "{} rows, expected {}",
                opening.rows.len(),
                rows.len()
            ));
        }
        for (want, got) in rows.iter().zip(&opening.rows) {
            if got.index != *want {
                return malformed(format!("row {} where row {want} was asked", got.index));
            }
            if got.values.len() != n as usize {
                return malformed(format!("row {want} has {} entries", got.values.len()));
            }
            let leaf = leaf_hash(&got.values);
            if !merkle::verify(root, n as usize, *want as usize, &leaf, &got.proof) {
                return fail(FailReason::BadProof { row: *want });
            }
        }
        // Proofs hold: the opened rows are the committed ones. Now are they right? The first
        // row asked is recomputed alone and compared before any other: a garbage commitment
        // (every row wrong) costs one row's recomputation, not k. Only when it is right are
        // the remaining rows recomputed, together (each B_t generated once for all of them),
        // and compared in the order asked, so the verdict names the first wrong row asked.
        // An honest opening costs one extra generation of the B_t over checking all k at
        // once: (k + 2) instead of (k + 1) row-equivalents of work.
        let split = rows.len().min(1);
        for (lo, hi) in [(0, split), (split, rows.len())] {
            if lo == hi {
                continue;
            }
            self.rows_recomputed += (hi - lo) as u64;
            let Some(expected) = task.compute_rows_threaded(&rows[lo..hi], self.threads) else {
                return malformed("row out of range".to_string());
            };
            for (got, want) in opening.rows[lo..hi].iter().zip(&expected) {
                if got.values != *want {
                    return fail(FailReason::WrongRow { row: got.index });
                }
            }
        }
        Verdict {
            passed: true,
            e: e_fixed(&task.params, self.challenge.window_ns),
            elapsed_ns,
            rounds,
            reason: None,
        }
    }
}

/// `k` distinct rows in `0..n`, uniform, derived from `randomness` and the committed root.
/// Requires `1 <= k <= n` (checked by [`Verifier::new`]; otherwise returns fewer rows).
pub fn select_rows(randomness: &[u8; 32], root: &Hash, n: u32, k: u32) -> Vec<u32> {
    let k = k.min(n) as usize;
    let mut rows = Vec::with_capacity(k);
    let mut seen = vec![false; n as usize];
    // Largest multiple of n that fits in 2^32: words at or above it are rejected (no bias).
    let limit = (1u64 << 32) / u64::from(n) * u64::from(n);
    let mut counter = 0u32;
    while rows.len() < k {
        let mut h = Sha256::new();
        h.update(ROWS_DOMAIN);
        h.update(randomness);
        h.update(root.0);
        h.update(counter.to_le_bytes());
        let block: [u8; 32] = h.finalize().into();
        counter = counter.wrapping_add(1);
        for w in block.chunks_exact(4) {
            let w = u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
            if w >= limit {
                continue;
            }
            let r = (w % u64::from(n)) as u32;
            if !seen[r as usize] {
                seen[r as usize] = true;
                rows.push(r);
                if rows.len() == k {
                    break;
                }
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CpuProver, ProverSession};

    const SMALL: TaskParams = TaskParams { n: 128, rounds: 2 };

    fn challenge() -> Challenge {
        Challenge {
            task: Task {
                seed: [7; 32],
                params: SMALL,
            },
            window_ns: 1_000_000_000,
        }
    }

    /// Runs one challenge against `session` with `randomness` for the rows; returns the
    /// verdict, the rows asked and the verifier.
    fn run(session: &ProverSession, randomness: [u8; 32]) -> (Verdict, Vec<u32>, Verifier) {
        let mut v = Verifier::new(challenge(), VerifierConfig::default(), 0).unwrap();
        assert!(v
            .on_commitment(&session.commitment(), 10)
            .unwrap()
            .is_none());
        let req = v.rows_to_open(&randomness).unwrap();
        let opening = session.open(&req).unwrap();
        let verdict = v.on_opening(&opening, 20).unwrap();
        (verdict, req.rows, v)
    }

    fn output(session_task: &Task) -> Vec<u32> {
        let mut out = Vec::new();
        let n = session_task.params.n;
        let rows: Vec<u32> = (0..n).collect();
        for r in session_task.compute_rows(&rows).unwrap() {
            out.extend(r);
        }
        out
    }

    /// Issue #21 (finding 4): a garbage commitment used to cost the verifier all k rows
    /// through every round before the first comparison; now one row.
    #[test]
    fn a_garbage_opening_is_rejected_after_recomputing_one_row() {
        let task = challenge().task;
        let n = task.params.n as usize;
        let garbage: Vec<u32> = (0..n * n)
            .map(|i| (i as u32).wrapping_mul(0x9e37_79b9))
            .collect();
        let session = ProverSession::from_output(&task, garbage).unwrap();
        let (verdict, rows, v) = run(&session, [3; 32]);
        assert!(!verdict.passed);
        assert_eq!(verdict.reason, Some(FailReason::WrongRow { row: rows[0] }));
        assert_eq!(v.rows_recomputed(), 1);
    }

    #[test]
    fn an_honest_opening_passes_after_recomputing_every_row() {
        let task = challenge().task;
        let session = ProverSession::run(&CpuProver::new(1), &task).unwrap();
        let (verdict, rows, v) = run(&session, [3; 32]);
        assert!(verdict.passed, "{verdict:?}");
        assert_eq!(rows.len(), STANDARD_K as usize);
        assert_eq!(v.rows_recomputed(), u64::from(STANDARD_K));
    }

    /// E is the work of the committed rounds over the window, whenever within the window the
    /// commitment came; rounds outside `1..=max_rounds` fail before any row is asked.
    #[test]
    fn e_counts_the_committed_rounds_over_the_window() {
        let ch = challenge(); // max_rounds 2, window 1 s
        let one = ProverSession::run(&CpuProver::new(1), &ch.task.with_rounds(1)).unwrap();
        for at in [10, 999_999_999, 1_000_000_000] {
            let mut v = Verifier::new(ch.clone(), VerifierConfig::default(), 0).unwrap();
            assert!(v.on_commitment(&one.commitment(), at).unwrap().is_none());
            let req = v.rows_to_open(&[1; 32]).unwrap();
            let verdict = v.on_opening(&one.open(&req).unwrap(), at + 1).unwrap();
            assert!(verdict.passed, "{verdict:?}");
            assert_eq!(verdict.rounds, Some(1));
            assert_eq!(
                verdict.e,
                e_fixed(&TaskParams { n: 128, rounds: 1 }, 1_000_000_000)
            );
        }
        let full = ProverSession::run(&CpuProver::new(1), &ch.task).unwrap();
        let (verdict, _, _) = run(&full, [3; 32]);
        assert_eq!(verdict.e, e_fixed(&SMALL, 1_000_000_000));
        for rounds in [0, 3, u32::MAX] {
            let mut v = Verifier::new(ch.clone(), VerifierConfig::default(), 0).unwrap();
            let c = Commitment {
                rounds,
                root: full.commitment().root,
            };
            let verdict = v.on_commitment(&c, 10).unwrap().unwrap();
            assert_eq!(
                verdict.reason,
                Some(FailReason::RoundsOutOfRange {
                    rounds,
                    max_rounds: 2
                })
            );
            assert_eq!((verdict.e, verdict.passed), (0, false));
            assert_eq!(v.rows_recomputed(), 0);
        }
        let zero = Challenge {
            window_ns: 0,
            ..challenge()
        };
        assert_eq!(
            Verifier::new(zero, VerifierConfig::default(), 0).unwrap_err(),
            VerifierError::ZeroWindow
        );
    }

    /// A node right on the first row asked but wrong on a later one still fails, with the
    /// first wrong row in the order asked (the verdict is the same as before).
    #[test]
    fn a_partial_cheat_fails_on_the_first_wrong_row_asked() {
        let task = challenge().task;
        let n = task.params.n as usize;
        let mut data = output(&task);
        // Even rows right, odd rows wrong.
        for r in (1..n).step_by(2) {
            data[r * n] ^= 1;
        }
        let session = ProverSession::from_output(&task, data).unwrap();
        let mut found = false;
        for i in 0..64u8 {
            let (verdict, rows, v) = run(&session, [i; 32]);
            assert!(!verdict.passed);
            let first_wrong = *rows.iter().find(|r| *r % 2 == 1).unwrap();
            assert_eq!(
                verdict.reason,
                Some(FailReason::WrongRow { row: first_wrong })
            );
            if rows[0] % 2 == 0 {
                // The first row was right: the rest were recomputed to find the wrong one.
                assert!(v.rows_recomputed() > 1);
                found = true;
            } else {
                assert_eq!(v.rows_recomputed(), 1);
            }
        }
        assert!(found);
    }
}
