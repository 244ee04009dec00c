//! The node's side: a [`Prover`] computes the task's chain, a [`ProverSession`] commits to its
//! rows and answers openings. The compute role of the edge node is a thin shell over this:
//! receive a [`Challenge`], run a session until its window's end ([`ProverSession::run_window`]
//! with a [`crate::WindowStop`] on the node's clock), send its [`Commitment`], answer the
//! [`OpenRequest`] with [`ProverSession::open`].
//!
//! The four messages have a byte encoding for the network (`encode` / `decode`): a version byte
//! ([`WIRE_VERSION`]) then big-endian fields. Decoders are total: any bytes give a value or a
//! [`WireError`], never a panic, and they allocate only what the input's length backs.

use crate::merkle::{EmptyTree, Proof, RowTree};
use crate::task::{ParamsError, Task, TaskParams, MAX_N};
use emc_types::Hash;
use serde::{Deserialize, Serialize};

/// What a validator sends to a compute node: a seed, a matrix size, the most rounds the node
/// may run and the window it has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// Seed (fresh randomness of the validator) and size: `task.params.n` is the matrix size,
    /// `task.params.rounds` is `max_rounds`, the most rounds the node may run (it bounds the
    /// verifier's work, `k * rounds * n^2`). The node runs `r <= max_rounds` rounds.
    pub task: Task,
    /// The window, in nanoseconds on the validator's own clock from the moment it sends the
    /// challenge: a commitment after it fails. The same for every challenge of a round; E is
    /// the work done within it ([`crate::e_fixed`] of `r` rounds over the window).
    pub window_ns: u64,
}

impl Challenge {
    /// The most rounds the node may run (`task.params.rounds`).
    pub fn max_rounds(&self) -> u32 {
        self.task.params.rounds
    }
}

/// The node's answer: how many rounds it completed and the root of the tree over `C_rounds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitment {
    /// Rounds completed, `1 <= rounds <= max_rounds` (otherwise the challenge fails).
    pub rounds: u32,
    /// [`RowTree::root`] of the result after `rounds` rounds.
    pub root: Hash,
}

/// The validator's spot check, chosen after the commitment arrived.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRequest {
    /// Row indices (distinct, below `n`).
    pub rows: Vec<u32>,
}

/// One opened row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowOpening {
    /// The row's index.
    pub index: u32,
    /// The row's `n` entries.
    pub values: Vec<u32>,
    /// Its inclusion proof against the committed root.
    pub proof: Proof,
}

/// The node's answer to an [`OpenRequest`]: the rows in the order asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opening {
    /// One entry per requested row.
    pub rows: Vec<RowOpening>,
}

/// Why a prover could not compute or open.
#[derive(Debug, thiserror::Error)]
pub enum ProverError {
    /// The task's size is out of bounds.
    #[error(transparent)]
    Params(#[from] ParamsError),
    /// The Vulkan path failed.
    #[cfg(feature = "vulkan")]
    #[error(transparent)]
    Vulkan(#[from] crate::vulkan::VulkanError),
    /// A result of the wrong length was handed to [`ProverSession::from_output`].
    #[error("result has {got} entries, expected n * n = {expected}")]
    WrongOutputLength {
        /// Entries expected.
        expected: usize,
        /// Entries given.
        got: usize,
    },
    /// An opening asked for a row that does not exist.
    #[error("row {row} is out of range (n = {n})")]
    RowOutOfRange {
        /// The requested row.
        row: u32,
        /// The matrix size.
        n: u32,
    },
    /// The tree could not be built (no rows).
    #[error(transparent)]
    EmptyTree(#[from] EmptyTree),
}

/// A chain computed up to some round: `C_rounds`, `n * n` entries, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Computed {
    /// Rounds completed (0: the budget allowed none; `data` is then `A = C_0`).
    pub rounds: u32,
    /// `C_rounds`.
    pub data: Vec<u32>,
}

/// Something that computes the task's chain.
///
/// Two modes: a fixed number of rounds ([`Prover::compute`], the benchmark's) and "rounds while
/// the budget allows, at most `task.params.rounds`" ([`Prover::compute_rounds`], a challenge's,
/// with a [`crate::WindowStop`] on the node's clock as the budget). Both give the same bits for
/// the same number of rounds, on every prover.
pub trait Prover {
    /// A name for logs and benchmarks (e.g. the device).
    fn name(&self) -> String;

    /// Computes the chain of `task` for as many rounds as `budget` allows, at most
    /// `task.params.rounds`. Before each step the prover calls `budget(done)` with the rounds
    /// completed so far; it answers how many more rounds may start now (0: stop). The prover
    /// runs at most that many (it may run fewer and ask again: the Vulkan prover records
    /// batches of at most 8 rounds, `vulkan::ROUNDS_PER_SUBMIT`; the CPU prover asks every
    /// round). Reaching `task.params.rounds` ends the run without asking.
    fn compute_rounds(
        &self,
        task: &Task,
        budget: &mut dyn FnMut(u32) -> u32,
    ) -> Result<Computed, ProverError>;

    /// Computes `C_rounds` of the task (see [`crate::task::TaskParams`]): exactly
    /// `task.params.rounds` rounds.
    fn compute(&self, task: &Task) -> Result<Vec<u32>, ProverError> {
        let total = task.params.rounds;
        Ok(self
            .compute_rounds(task, &mut |done| total.saturating_sub(done))?
            .data)
    }
}

/// A computed result with its row tree: what a node keeps between commitment and opening.
#[derive(Clone, Debug)]
pub struct ProverSession {
    n: u32,
    rounds: u32,
    data: Vec<u32>,
    tree: RowTree,
}

impl ProverSession {
    /// Computes exactly `task.params.rounds` rounds with `prover` and builds the row tree.
    pub fn run(prover: &dyn Prover, task: &Task) -> Result<ProverSession, ProverError> {
        let data = prover.compute(task)?;
        ProverSession::from_output(task, data)
    }

    /// A challenge's session: runs rounds of `task` while `budget` allows (at most
    /// `task.params.rounds`, see [`Prover::compute_rounds`]) and builds the row tree over the
    /// result. `None` when the budget allowed no round (nothing worth committing to).
    pub fn run_window(
        prover: &dyn Prover,
        task: &Task,
        budget: &mut dyn FnMut(u32) -> u32,
    ) -> Result<Option<ProverSession>, ProverError> {
        let c = prover.compute_rounds(task, budget)?;
        if c.rounds == 0 {
            return Ok(None);
        }
        ProverSession::from_output(&task.with_rounds(c.rounds), c.data).map(Some)
    }

    /// Wraps an already computed result of `task.params.rounds` rounds (any content: tests
    /// build cheaters with it).
    pub fn from_output(task: &Task, data: Vec<u32>) -> Result<ProverSession, ProverError> {
        task.params.validate()?;
        let n = task.params.n_usize();
        if data.len() != n * n {
            return Err(ProverError::WrongOutputLength {
                expected: n * n,
                got: data.len(),
            });
        }
        let tree = RowTree::from_rows(&data, n)?;
        Ok(ProverSession {
            n: task.params.n,
            rounds: task.params.rounds,
            data,
            tree,
        })
    }

    /// The commitment to send: the rounds completed and the root.
    pub fn commitment(&self) -> Commitment {
        Commitment {
            rounds: self.rounds,
            root: self.tree.root(),
        }
    }

    /// Rounds completed.
    pub fn rounds(&self) -> u32 {
        self.rounds
    }

    /// The result, row-major.
    pub fn output(&self) -> &[u32] {
        &self.data
    }

    /// Row `i` of the result.
    pub fn row(&self, i: u32) -> Option<&[u32]> {
        let n = self.n as usize;
        let i = i as usize;
        self.data.get(i * n..(i + 1) * n)
    }

    /// Answers a spot check; refuses rows out of range.
    pub fn open(&self, request: &OpenRequest) -> Result<Opening, ProverError> {
        let rows = request
            .rows
            .iter()
            .map(|&index| {
                let out_of_range = ProverError::RowOutOfRange {
                    row: index,
                    n: self.n,
                };
                let values = self.row(index).ok_or(out_of_range)?.to_vec();
                let proof = self
                    .tree
                    .prove(index as usize)
                    .ok_or(ProverError::RowOutOfRange {
                        row: index,
                        n: self.n,
                    })?;
                Ok(RowOpening {
                    index,
                    values,
                    proof,
                })
            })
            .collect::<Result<Vec<_>, ProverError>>()?;
        Ok(Opening { rows })
    }
}

/// Version byte that starts every wire message of this module. Version 2: the challenge carries
/// a window and `max_rounds` (version 1: a deadline and a fixed number of rounds), the
/// commitment the rounds completed; version 1 messages are refused.
pub const WIRE_VERSION: u8 = 2;

/// Most rows an [`OpenRequest`] or [`Opening`] may carry on the wire (the standard opens 32).
pub const MAX_WIRE_ROWS: usize = 1024;

/// Most sibling hashes in one inclusion proof on the wire (a tree over [`MAX_N`] rows needs 14).
pub const MAX_PROOF_SIBLINGS: usize = 64;

/// Why bytes are not a valid wire message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input ended early.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// Bytes left after a complete message.
    #[error("{0} has trailing bytes")]
    Trailing(&'static str),
    /// A version this code does not know.
    #[error("{what}: unknown wire version {version}")]
    Version {
        /// The message.
        what: &'static str,
        /// The version byte found.
        version: u8,
    },
    /// A count above its cap.
    #[error("{what}: {len} exceeds the cap of {max}")]
    TooLarge {
        /// What was counted.
        what: &'static str,
        /// The count found.
        len: u64,
        /// The cap.
        max: u64,
    },
}

/// A cursor over untrusted bytes: every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// Starts reading `what`, checking its version byte.
    fn new(bytes: &'a [u8], what: &'static str) -> Result<Reader<'a>, WireError> {
        let mut r = Reader { bytes, at: 0, what };
        match r.u8()? {
            WIRE_VERSION => Ok(r),
            version => Err(WireError::Version { what, version }),
        }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .at
            .checked_add(len)
            .ok_or(WireError::Truncated(self.what))?;
        let s = self
            .bytes
            .get(self.at..end)
            .ok_or(WireError::Truncated(self.what))?;
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn hash(&mut self) -> Result<Hash, WireError> {
        Ok(Hash(self.array()?))
    }

    /// A count capped at `max`, whose items take at least `min_item` bytes each: refused
    /// before anything is allocated when the rest of the input cannot hold them.
    fn count(
        &mut self,
        what: &'static str,
        max: usize,
        min_item: usize,
    ) -> Result<usize, WireError> {
        let len = self.u32()?;
        if u64::from(len) > max as u64 {
            return Err(WireError::TooLarge {
                what,
                len: u64::from(len),
                max: max as u64,
            });
        }
        let len = len as usize;
        let need = len
            .checked_mul(min_item)
            .ok_or(WireError::Truncated(self.what))?;
        if self.bytes.len().saturating_sub(self.at) < need {
            return Err(WireError::Truncated(self.what));
        }
        Ok(len)
    }

    fn u32s(&mut self, len: usize) -> Result<Vec<u32>, WireError> {
        let raw = self.take(len.checked_mul(4).ok_or(WireError::Truncated(self.what))?)?;
        Ok(raw
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    fn finish(self) -> Result<(), WireError> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(WireError::Trailing(self.what))
        }
    }
}

fn put_u32s(out: &mut Vec<u8>, values: &[u32]) {
    out.reserve(values.len() * 4);
    for v in values {
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// `len` as a u32 for a count field (the caps keep every encoded count far below `u32::MAX`;
/// a larger one saturates and the decoder refuses it).
fn count_u32(len: usize) -> [u8; 4] {
    u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes()
}

impl Challenge {
    /// Encoded length: version, seed, n, max_rounds, window.
    pub const WIRE_LEN: usize = 1 + 32 + 4 + 4 + 8;

    /// `version || seed(32) || n_be32 || max_rounds_be32 || window_ns_be64`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::WIRE_LEN);
        out.push(WIRE_VERSION);
        out.extend_from_slice(&self.task.seed);
        out.extend_from_slice(&self.task.params.n.to_be_bytes());
        out.extend_from_slice(&self.task.params.rounds.to_be_bytes());
        out.extend_from_slice(&self.window_ns.to_be_bytes());
        out
    }

    /// Decodes untrusted bytes. The size is not validated here ([`TaskParams::validate`]).
    pub fn decode(bytes: &[u8]) -> Result<Challenge, WireError> {
        let mut r = Reader::new(bytes, "challenge")?;
        let seed = r.array::<32>()?;
        let n = r.u32()?;
        let rounds = r.u32()?;
        let window_ns = r.u64()?;
        r.finish()?;
        Ok(Challenge {
            task: Task {
                seed,
                params: TaskParams { n, rounds },
            },
            window_ns,
        })
    }
}

impl Commitment {
    /// Encoded length: version, rounds and root.
    pub const WIRE_LEN: usize = 1 + 4 + 32;

    /// `version || rounds_be32 || root(32)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::WIRE_LEN);
        out.push(WIRE_VERSION);
        out.extend_from_slice(&self.rounds.to_be_bytes());
        out.extend_from_slice(&self.root.0);
        out
    }

    /// Decodes untrusted bytes. The rounds are not checked here (the verifier fails a
    /// commitment with `rounds` outside `1..=max_rounds`).
    pub fn decode(bytes: &[u8]) -> Result<Commitment, WireError> {
        let mut r = Reader::new(bytes, "commitment")?;
        let rounds = r.u32()?;
        let root = r.hash()?;
        r.finish()?;
        Ok(Commitment { rounds, root })
    }
}

impl OpenRequest {
    /// `version || count_be32 || rows (be32 each)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + 4 * self.rows.len());
        out.push(WIRE_VERSION);
        out.extend_from_slice(&count_u32(self.rows.len()));
        put_u32s(&mut out, &self.rows);
        out
    }

    /// Decodes untrusted bytes (at most [`MAX_WIRE_ROWS`] rows; indices are not checked here).
    pub fn decode(bytes: &[u8]) -> Result<OpenRequest, WireError> {
        let mut r = Reader::new(bytes, "open request")?;
        let len = r.count("rows", MAX_WIRE_ROWS, 4)?;
        let rows = r.u32s(len)?;
        r.finish()?;
        Ok(OpenRequest { rows })
    }
}

impl Opening {
    /// `version || count_be32 || per row: index_be32 || len_be32 || values (be32 each) ||
    /// siblings_u8 || sibling hashes (32 each)`.
    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self
            .rows
            .iter()
            .map(|r| 9 + 4 * r.values.len() + 32 * r.proof.siblings.len())
            .sum();
        let mut out = Vec::with_capacity(5 + size);
        out.push(WIRE_VERSION);
        out.extend_from_slice(&count_u32(self.rows.len()));
        for row in &self.rows {
            out.extend_from_slice(&row.index.to_be_bytes());
            out.extend_from_slice(&count_u32(row.values.len()));
            put_u32s(&mut out, &row.values);
            out.push(u8::try_from(row.proof.siblings.len()).unwrap_or(u8::MAX));
            for h in &row.proof.siblings {
                out.extend_from_slice(&h.0);
            }
        }
        out
    }

    /// Decodes untrusted bytes: at most [`MAX_WIRE_ROWS`] rows of at most [`MAX_N`] values
    /// and [`MAX_PROOF_SIBLINGS`] siblings each.
    pub fn decode(bytes: &[u8]) -> Result<Opening, WireError> {
        let mut r = Reader::new(bytes, "opening")?;
        let count = r.count("rows", MAX_WIRE_ROWS, 9)?;
        let mut rows = Vec::with_capacity(count);
        for _ in 0..count {
            let index = r.u32()?;
            let len = r.count("row values", MAX_N as usize, 4)?;
            let values = r.u32s(len)?;
            let siblings = usize::from(r.u8()?);
            if siblings > MAX_PROOF_SIBLINGS {
                return Err(WireError::TooLarge {
                    what: "proof siblings",
                    len: siblings as u64,
                    max: MAX_PROOF_SIBLINGS as u64,
                });
            }
            let siblings = (0..siblings)
                .map(|_| r.hash())
                .collect::<Result<Vec<_>, _>>()?;
            rows.push(RowOpening {
                index,
                values,
                proof: Proof { siblings },
            });
        }
        r.finish()?;
        Ok(Opening { rows })
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;
    use crate::CpuProver;
    use rand::{Rng, RngCore, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn sample() -> (Challenge, Commitment, OpenRequest, Opening) {
        let task = Task {
            seed: [9; 32],
            params: TaskParams { n: 128, rounds: 1 },
        };
        let session = ProverSession::run(&CpuProver::new(1), &task).unwrap();
        let req = OpenRequest {
            rows: vec![0, 77, 127],
        };
        let opening = session.open(&req).unwrap();
        (
            Challenge {
                task,
                window_ns: 123_456_789,
            },
            session.commitment(),
            req,
            opening,
        )
    }

    #[test]
    fn messages_round_trip() {
        let (ch, c, req, op) = sample();
        assert_eq!(ch.encode().len(), Challenge::WIRE_LEN);
        assert_eq!(Challenge::decode(&ch.encode()), Ok(ch));
        assert_eq!(c.encode().len(), Commitment::WIRE_LEN);
        assert_eq!(Commitment::decode(&c.encode()), Ok(c));
        assert_eq!(OpenRequest::decode(&req.encode()), Ok(req));
        let empty = OpenRequest { rows: vec![] };
        assert_eq!(OpenRequest::decode(&empty.encode()), Ok(empty));
        assert_eq!(Opening::decode(&op.encode()), Ok(op));
    }

    #[test]
    fn every_truncation_and_extension_is_refused() {
        let (ch, c, req, op) = sample();
        type Accepts = fn(&[u8]) -> bool;
        let cases: Vec<(Vec<u8>, Accepts)> = vec![
            (ch.encode(), |b| Challenge::decode(b).is_ok()),
            (c.encode(), |b| Commitment::decode(b).is_ok()),
            (req.encode(), |b| OpenRequest::decode(b).is_ok()),
            (op.encode(), |b| Opening::decode(b).is_ok()),
        ];
        for (bytes, ok) in cases {
            assert!(ok(&bytes));
            for cut in 0..bytes.len() {
                assert!(!ok(&bytes[..cut]), "prefix of {cut} bytes accepted");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(!ok(&longer), "trailing byte accepted");
            for version in [0, 1, 3, 255] {
                let mut other = bytes.clone();
                other[0] = version;
                assert!(!ok(&other), "version {version} accepted");
            }
        }
    }

    #[test]
    fn caps_are_checked_before_allocating() {
        // A request claiming u32::MAX rows, and one claiming more than the cap.
        let mut b = vec![WIRE_VERSION];
        b.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            OpenRequest::decode(&b),
            Err(WireError::TooLarge { .. })
        ));
        assert!(matches!(
            Opening::decode(&b),
            Err(WireError::TooLarge { .. })
        ));
        // Within the cap but not backed by the input.
        let mut b = vec![WIRE_VERSION];
        b.extend_from_slice(&(MAX_WIRE_ROWS as u32).to_be_bytes());
        assert_eq!(
            OpenRequest::decode(&b),
            Err(WireError::Truncated("open request"))
        );
        // A row with more values than MAX_N.
        let mut b = vec![WIRE_VERSION];
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&(MAX_N + 1).to_be_bytes());
        b.extend_from_slice(&[0; 64]);
        assert!(matches!(
            Opening::decode(&b),
            Err(WireError::TooLarge { .. })
        ));
        // Too many siblings.
        let mut b = vec![WIRE_VERSION];
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.push(MAX_PROOF_SIBLINGS as u8 + 1);
        b.extend_from_slice(&[0; 32 * (MAX_PROOF_SIBLINGS + 1)]);
        assert!(matches!(
            Opening::decode(&b),
            Err(WireError::TooLarge { .. })
        ));
    }

    #[test]
    fn random_and_mutated_bytes_never_panic() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (ch, c, req, op) = sample();
        let valid = [ch.encode(), c.encode(), req.encode(), op.encode()];
        for i in 0..20_000 {
            let bytes = if i % 2 == 0 {
                let len = rng.gen_range(0..300);
                let mut b = vec![0u8; len];
                rng.fill_bytes(&mut b);
                if len > 0 && rng.gen_bool(0.8) {
                    b[0] = WIRE_VERSION;
                }
                b
            } else {
                let mut b = valid[(i / 2) % valid.len()].clone();
                for _ in 0..rng.gen_range(1..4) {
                    let at = rng.gen_range(0..b.len());
                    b[at] = rng.gen();
                }
                if rng.gen_bool(0.3) {
                    let cut = rng.gen_range(0..b.len());
                    b.truncate(cut);
                }
                b
            };
            let _ = Challenge::decode(&bytes);
            let _ = Commitment::decode(&bytes);
            let _ = OpenRequest::decode(&bytes);
            let _ = Opening::decode(&bytes);
        }
    }
}
