//! Proof-of-computing rounds and challenges, the validator's side, as rules (protocol sections
//! 5 and 11.2). The exchange itself (network requests, the verifier on the monotonic clock,
//! row checks on blocking threads) is the shell's (`edge-node`).
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
//! ([`challenger`]). One GPU behind several identities must then split one window among all
//! their tasks (see Windows), and a node computes one task per round, whatever the number of
//! validators. Over
//! the rounds of an epoch every validator challenges every node; a lying validator speaks for
//! only its share of the results, which the epoch's median and majority rule absorb.
//!
//! # One challenge
//! The challenger draws a fresh private seed ([`emc_poc::round_seed`] over its own random
//! bytes), sends the `Challenge` and runs the `Verifier` on its own monotonic clock
//! (`edge-node`'s `run_challenge`): the commitment must arrive within the window, the rows to
//! open are drawn only then, and the opened rows are recomputed through the committed rounds
//! on a blocking thread, never on the consensus task (a few at a time: one check recomputes
//! 32 rows through `r` rounds, `32 r n^2` multiply-adds: about 1e12 for an H100's ~1830 rounds
//! at n = 4096, at most 2.2e12 at `max_rounds` = 4096, a minute or more on one core). A late
//! answer, rounds outside `1..=max_rounds`, a bad row, a bad proof, undecodable bytes or no
//! answer fail with E = 0. The `Verdict` becomes a PoC state bit of the validator's next
//! proposal.
//!
//! # Windows
//! Every challenge of a round gets the same window ([`WindowPolicy`], a validator setting,
//! `poc_window`): E is the work a node completed within it (`emc_poc::e_fixed` of its rounds
//! over the window), never its own elapsed time, so one device behind several identities
//! completes at most its throughput times the window in all, however it splits its time, and
//! their E add up to at most one identity's (issue #21: the former per-node deadlines, adapted
//! to each node's last E, let one device serving 4 identities one after another collect
//! 2.08 times its E). Nothing about a node is kept from one round to the next; a node's
//! stopping rule within the window is `emc_poc::WindowStop`.

use emc_poc::{round_seed, Challenge, Task, TaskParams, Verdict};
use emc_types::{Hash, NodeId};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

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

/// What every challenge of a round asks: the same matrix size, the same most rounds and the
/// same window for every node (nothing depends on the node or its past).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowPolicy {
    /// Matrix size and `max_rounds` (`task.rounds`): the most rounds a node may run, which
    /// bounds the verifier's work (`k * max_rounds * n^2`).
    pub task: TaskParams,
    /// The window, ns on the challenger's clock from sending the challenge to the latest
    /// accepted commitment.
    pub window_ns: u64,
}

impl WindowPolicy {
    /// The challenge with `seed` under this policy.
    pub fn challenge(&self, seed: [u8; 32]) -> Challenge {
        Challenge {
            task: Task {
                seed,
                params: self.task,
            },
            window_ns: self.window_ns,
        }
    }
}

/// What a round asks of this validator ([`PocPlanner::plan`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundPlan {
    /// The round.
    pub round: Round,
    /// The challenges to send now, one per assigned node.
    pub challenges: Vec<(NodeId, Challenge)>,
    /// Assigned nodes skipped because our previous challenge to them still runs.
    pub skipped_busy: usize,
    /// Assigned nodes skipped because the round's block committed here too late to challenge
    /// at the same moment as the other validators.
    pub skipped_late: usize,
}

/// The validator's side of proof of computing between challenges: the nodes with a challenge
/// of ours in flight (never two at once to one node). Every challenge of a round gets the same
/// window ([`WindowPolicy`]). Which blocks start rounds and which nodes a round gives this
/// validator are the application's (`crate::app::EdgeApp::started_round`, `assigned_to`): the
/// same rules that admit the results.
#[derive(Clone, Debug)]
pub struct PocPlanner {
    policy: WindowPolicy,
    /// A round's block committed here later than this after its proposal is skipped.
    max_lag_ns: u64,
    inflight: BTreeSet<NodeId>,
}

impl PocPlanner {
    /// A planner whose challenges all follow `policy`. `max_lag_ns`: see [`RoundPlan`].
    pub fn new(policy: WindowPolicy, max_lag_ns: u64) -> PocPlanner {
        PocPlanner {
            policy,
            max_lag_ns,
            inflight: BTreeSet::new(),
        }
    }

    /// The policy every challenge follows.
    pub fn policy(&self) -> &WindowPolicy {
        &self.policy
    }

    /// The challenges of `round` to the nodes it gives this validator (`assigned`): a task
    /// seeded from `private` (this validator's fresh secret randomness) and the node id.
    /// `proposed_at_ns` is the round's block timestamp and `now_ns` the local commit time.
    pub fn plan(
        &mut self,
        round: Round,
        assigned: Vec<NodeId>,
        proposed_at_ns: u64,
        now_ns: u64,
        private: &[u8; 32],
    ) -> RoundPlan {
        let mut plan = RoundPlan {
            round,
            challenges: Vec::new(),
            skipped_busy: 0,
            skipped_late: 0,
        };
        if now_ns.saturating_sub(proposed_at_ns) > self.max_lag_ns {
            plan.skipped_late = assigned.len();
            return plan;
        }
        for node in assigned {
            if !self.inflight.insert(node) {
                plan.skipped_busy += 1;
                continue;
            }
            let challenge = self.policy.challenge(round_seed(private, &node));
            plan.challenges.push((node, challenge));
        }
        plan
    }

    /// A challenge to `node` ended: with a verdict, or `None` when it could not be judged
    /// for a reason of the validator's own. Only frees the node for the next round: no
    /// verdict changes what the node is asked next.
    pub fn on_verdict(&mut self, node: &NodeId, verdict: Option<&Verdict>) {
        let _ = verdict;
        self.inflight.remove(node);
    }

    /// Nodes with a challenge of ours in flight.
    pub fn inflight(&self) -> usize {
        self.inflight.len()
    }
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
    /// Rounds the commitment stated, when one came.
    pub rounds: Option<u32>,
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
                rounds: v.rounds,
                reason: v.reason.as_ref().map(|r| format!("{r:?}")),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    const POLICY: WindowPolicy = WindowPolicy {
        task: TaskParams { n: 128, rounds: 64 },
        window_ns: 2_000_000_000,
    };

    fn planner() -> PocPlanner {
        PocPlanner::new(POLICY, 5_000_000_000)
    }

    fn round(h: u64) -> Round {
        Round {
            height: h,
            randomness: round_randomness(&hash(h)),
        }
    }

    #[test]
    fn a_round_challenges_the_assigned_nodes_with_private_seeds_and_one_at_a_time() {
        let compute: Vec<NodeId> = (10..14u8).map(|i| NodeId([i; 32])).collect();
        let mut p = planner();
        let plan = p.plan(round(5), compute.clone(), 1_000, 1_000, &[7; 32]);
        assert_eq!(plan.challenges.len(), 4);
        let seeds: BTreeSet<[u8; 32]> = plan.challenges.iter().map(|(_, c)| c.task.seed).collect();
        assert_eq!(seeds.len(), 4, "one seed per node");
        for (n, c) in &plan.challenges {
            assert_eq!(c.task.seed, round_seed(&[7; 32], n));
            assert_eq!(
                (c.task.params, c.window_ns),
                (POLICY.task, POLICY.window_ns)
            );
        }
        assert_eq!(p.inflight(), 4);
        // The next round while all four still run: every node skipped.
        let next = p.plan(round(9), compute.clone(), 1_000, 1_000, &[8; 32]);
        assert_eq!((next.challenges.len(), next.skipped_busy), (0, 4));
        // A verdict frees its node; whatever it was, the next challenge has the round's one
        // window (issue #21: no per-node adaptation).
        let pass = Verdict {
            passed: true,
            e: 15_000,
            elapsed_ns: Some(1),
            rounds: Some(3),
            reason: None,
        };
        p.on_verdict(&compute[0], Some(&pass));
        p.on_verdict(&compute[1], None);
        let after = p.plan(round(13), compute.clone(), 1_000, 1_000, &[9; 32]);
        assert_eq!(after.challenges.len(), 2);
        for (_, c) in &after.challenges {
            assert_eq!(
                (c.task.params, c.window_ns),
                (POLICY.task, POLICY.window_ns)
            );
        }
        assert_eq!(p.policy(), &POLICY);
    }

    #[test]
    fn a_round_committed_late_here_is_skipped() {
        let compute = vec![NodeId([10; 32])];
        let mut p = planner();
        let late = p.plan(round(3), compute, 1_000, 1_000 + 6_000_000_000, &[0; 32]);
        assert_eq!((late.challenges.len(), late.skipped_late), (0, 1));
        assert_eq!(p.inflight(), 0);
    }

    #[test]
    fn status_records_verdicts() {
        let mut s = PocStatus::default();
        let v = Verdict {
            passed: true,
            e: 12,
            elapsed_ns: Some(3_000_000),
            rounds: Some(5),
            reason: None,
        };
        s.record(&NodeId([1; 32]), 40, &v);
        s.record(
            &NodeId([2; 32]),
            40,
            &Verdict::fail(emc_poc::FailReason::NoCommitment, None, None),
        );
        assert_eq!((s.passed, s.failed), (1, 1));
        let n = &s.nodes[&hex::encode([1u8; 32])];
        assert_eq!(
            (n.e_fixed, n.elapsed_ms, n.rounds),
            (12, Some(3.0), Some(5))
        );
        assert!(s.nodes[&hex::encode([2u8; 32])].reason.is_some());
    }
}
