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

/// Default time a node has to answer the spot check after its commitment arrived.
pub const DEFAULT_OPENING_TIMEOUT_NS: u64 = 10_000_000_000;

/// Domain tag of the row selection.
pub const ROWS_DOMAIN: &[u8] = b"emc-poc-rows-v1";

/// Domain tag of per-node seeds in a challenge round ([`round_seed`]).
pub const SEED_DOMAIN: &[u8] = b"emc-poc-seed-v1";

/// E in fixed point ([`E_SCALE`] = 10^4) for a task of size `params` answered in `elapsed_ns`
/// on the validator's clock:
///
/// `E = 15000 ms / elapsed * W(params) / W(STANDARD)`, `W = rounds * n^3`,
///
/// rounded half up. At the standard size this is exactly the spec's `E = 15000 ms / time`
/// (10,380 ms -> 14451, i.e. 1.4451; 30,218 ms -> 4964). Other sizes are scaled by their
/// work, so that a validator can give slow nodes (CPUs) fewer rounds and fast ones more,
/// keeping every challenge long enough to dwarf network latency; fixed costs (generating
/// `A`, hashing the rows, the round trip) make small tasks slightly pessimistic, never
/// optimistic. An elapsed time of 0 counts as 1 ns; the result saturates at `u64::MAX`.
pub fn e_fixed(params: &TaskParams, elapsed_ns: u64) -> u64 {
    let num = u128::from(E_REFERENCE_NS) * u128::from(E_SCALE) * params.prover_macs();
    let den = u128::from(elapsed_ns.max(1)) * STANDARD.prover_macs();
    u64::try_from((num + den / 2) / den).unwrap_or(u64::MAX)
}

/// The time a node with the given E (fixed point) should need for `params`, in ns: the
/// inverse of [`e_fixed`]. A validator sets a challenge's deadline to a small multiple of
/// this (see the crate docs on simultaneous challenges). `e_fixed = 0` gives `u64::MAX`.
pub fn expected_time_ns(params: &TaskParams, e_fixed: u64) -> u64 {
    if e_fixed == 0 {
        return u64::MAX;
    }
    let num = u128::from(E_REFERENCE_NS) * u128::from(E_SCALE) * params.prover_macs();
    let den = u128::from(e_fixed) * STANDARD.prover_macs();
    u64::try_from(num.div_ceil(den)).unwrap_or(u64::MAX)
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
    /// The commitment arrived after the deadline.
    LateCommitment {
        /// Measured time from challenge to commitment.
        elapsed_ns: u64,
        /// The challenge's deadline.
        deadline_ns: u64,
    },
    /// The deadline passed without a commitment.
    NoCommitment,
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
    /// Why it failed; `None` when it passed.
    pub reason: Option<FailReason>,
}

impl Verdict {
    fn fail(reason: FailReason, elapsed_ns: Option<u64>) -> Verdict {
        Verdict {
            passed: false,
            e: 0,
            elapsed_ns,
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
    ChooseRows {
        root: Hash,
        committed_at: u64,
        elapsed_ns: u64,
    },
    AwaitOpening {
        root: Hash,
        committed_at: u64,
        elapsed_ns: u64,
        rows: Vec<u32>,
    },
    Done(Verdict),
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
/// `new` (challenge sent) -> `on_commitment` -> `rows_to_open` (fresh randomness) ->
/// `on_opening` -> [`Verdict`]. `on_timeout` ends a challenge whose answer does not come;
/// [`Verifier::next_timeout`] says when to call it.
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
    /// `rounds * n^2` multiply-adds).
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
            Phase::AwaitCommitment => {
                Some(self.issued_at.saturating_add(self.challenge.deadline_ns))
            }
            Phase::AwaitOpening { committed_at, .. } => {
                Some(committed_at.saturating_add(self.config.opening_timeout_ns))
            }
            Phase::ChooseRows { .. } | Phase::Done(_) => None,
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
    /// validator's clock. Returns the verdict when this ends the challenge (too late).
    pub fn on_commitment(
        &mut self,
        commitment: &Commitment,
        now: u64,
    ) -> Result<Option<Verdict>, VerifierError> {
        if !matches!(self.phase, Phase::AwaitCommitment) {
            return Err(self.wrong_phase("on_commitment"));
        }
        let elapsed_ns = now.saturating_sub(self.issued_at);
        if elapsed_ns > self.challenge.deadline_ns {
            let reason = FailReason::LateCommitment {
                elapsed_ns,
                deadline_ns: self.challenge.deadline_ns,
            };
            return Ok(Some(self.finish(Verdict::fail(reason, Some(elapsed_ns)))));
        }
        self.phase = Phase::ChooseRows {
            root: commitment.root,
            committed_at: now,
            elapsed_ns,
        };
        Ok(None)
    }

    /// Chooses the rows to open from `randomness`, which the validator draws fresh after the
    /// commitment arrived: `k` distinct rows, uniform, from `SHA-256("emc-poc-rows-v1" ||
    /// randomness || root || counter_le32)` by rejection sampling.
    pub fn rows_to_open(&mut self, randomness: &[u8; 32]) -> Result<OpenRequest, VerifierError> {
        let Phase::ChooseRows {
            root,
            committed_at,
            elapsed_ns,
        } = self.phase.clone()
        else {
            return Err(self.wrong_phase("rows_to_open"));
        };
        let rows = select_rows(
            randomness,
            &root,
            self.challenge.task.params.n,
            self.config.k,
        );
        self.phase = Phase::AwaitOpening {
            root,
            committed_at,
            elapsed_ns,
            rows: rows.clone(),
        };
        Ok(OpenRequest { rows })
    }

    /// The opening arrived at `now`: checks every row's proof against the root, then
    /// recomputes the first row asked and compares it, and only if it is right the other
    /// rows. Returns the verdict.
    ///
    /// Cost: a wrong first row, `rounds * n^2` generated entries plus as many multiply-adds;
    /// otherwise `2 * rounds * n^2` generated entries plus `k * rounds * n^2` multiply-adds,
    /// spread over [`Verifier::with_threads`] threads.
    pub fn on_opening(&mut self, opening: &Opening, now: u64) -> Result<Verdict, VerifierError> {
        let Phase::AwaitOpening {
            root,
            committed_at,
            elapsed_ns,
            rows,
        } = self.phase.clone()
        else {
            return Err(self.wrong_phase("on_opening"));
        };
        if now.saturating_sub(committed_at) > self.config.opening_timeout_ns {
            return Ok(self.finish(Verdict::fail(FailReason::LateOpening, Some(elapsed_ns))));
        }
        let v = self.check_opening(&root, &rows, opening, elapsed_ns);
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
            Phase::AwaitCommitment => Verdict::fail(FailReason::NoCommitment, None),
            Phase::AwaitOpening { elapsed_ns, .. } => {
                Verdict::fail(FailReason::NoOpening, Some(*elapsed_ns))
            }
            Phase::ChooseRows { .. } | Phase::Done(_) => return None,
        };
        Some(self.finish(v))
    }

    fn check_opening(
        &mut self,
        root: &Hash,
        rows: &[u32],
        opening: &Opening,
        elapsed_ns: u64,
    ) -> Verdict {
        let task: &Task = &self.challenge.task;
        let n = task.params.n;
        let malformed = |detail: String| {
            Verdict::fail(FailReason::MalformedOpening { detail }, Some(elapsed_ns))
        };
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
                return Verdict::fail(FailReason::BadProof { row: *want }, Some(elapsed_ns));
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
                    return Verdict::fail(
                        FailReason::WrongRow { row: got.index },
                        Some(elapsed_ns),
                    );
                }
            }
        }
        Verdict {
            passed: true,
            e: e_fixed(&task.params, elapsed_ns),
            elapsed_ns: Some(elapsed_ns),
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
            deadline_ns: 1_000_000_000,
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
