//! One proof-of-computing challenge, the validator's side of the exchange: send the
//! challenge, time the commitment on this process's monotonic clock (it must arrive within the
//! challenge's window), draw the rows to open from the OS's randomness only after it arrived,
//! ask for them, and recheck them through the committed rounds on a blocking thread. The rules
//! (rounds, challengers, the window, the planner) are `emc_edge_core::poc`'s and
//! `emc_poc::Verifier`'s.

use emc_edge_core::protocol::{PocOpen, KIND_POC_CHALLENGE, KIND_POC_OPEN};
use emc_poc::{
    Challenge, Commitment, FailReason, Opening, Verdict, Verifier, VerifierConfig, VerifierError,
};
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

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
    let wait = Duration::from_nanos(challenge.window_ns);
    let issued = mono_ns();
    let mut verifier = Verifier::new(challenge, config, issued)?;
    let answer = request(KIND_POC_CHALLENGE, payload, wait).await;
    let now = mono_ns();
    let commitment = match answer {
        Ok(bytes) => match Commitment::decode(&bytes) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "undecodable commitment");
                return Ok(Verdict::fail(FailReason::NoCommitment, None, None));
            }
        },
        Err(e) => {
            tracing::debug!(error = %e, "no commitment");
            return Ok(Verdict::fail(FailReason::NoCommitment, None, None));
        }
    };
    if let Some(late) = verifier.on_commitment(&commitment, now)? {
        return Ok(late);
    }
    let elapsed = now.saturating_sub(issued);
    let rounds = Some(commitment.rounds);
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
                return Ok(Verdict::fail(
                    FailReason::MalformedOpening { detail },
                    Some(elapsed),
                    rounds,
                ));
            }
        },
        Err(e) => {
            tracing::debug!(error = %e, "no opening");
            return Ok(Verdict::fail(FailReason::NoOpening, Some(elapsed), rounds));
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

#[cfg(test)]
mod tests {
    use super::*;
    use emc_poc::{CpuProver, OpenRequest, ProverSession, Task, TaskParams};
    use std::sync::{Arc, Mutex};

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

    async fn challenge(node: &Node, window: Duration) -> Verdict {
        let ch = Challenge {
            task: Task {
                seed: [5; 32],
                params: TaskParams { n: 128, rounds: 2 },
            },
            window_ns: window.as_nanos() as u64,
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
        assert!(v.elapsed_ns.is_some());
        // Both rounds (the node runs to max_rounds), counted over the 5 s window.
        assert_eq!(v.rounds, Some(2));
        assert_eq!(
            v.e,
            emc_poc::e_fixed(&TaskParams { n: 128, rounds: 2 }, 5_000_000_000)
        );

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

        // Too slow: the answer comes after the window (the transport gives up at it).
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
            window_ns: 5_000_000_000,
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
}
