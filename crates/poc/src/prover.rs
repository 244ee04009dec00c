//! The node's side: a [`Prover`] computes the task's result, a [`ProverSession`] commits to its
//! rows and answers openings. The compute role of the edge node is a thin shell over this:
//! receive a [`Challenge`], run a session, send its [`Commitment`], answer the
//! [`OpenRequest`] with [`ProverSession::open`].

use crate::merkle::{EmptyTree, Proof, RowTree};
use crate::task::{ParamsError, Task};
use emc_types::Hash;
use serde::{Deserialize, Serialize};

/// What a validator sends to a compute node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// Seed (fresh randomness of the validator) and size.
    pub task: Task,
    /// How long the validator waits for the commitment, in nanoseconds on the validator's
    /// own clock from the moment it sends the challenge. An answer after it fails.
    pub deadline_ns: u64,
}

/// The node's answer: the root of the tree over its result's rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitment {
    /// [`RowTree::root`] of the result.
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

/// Something that computes the task's result: `n * n` entries, row-major.
pub trait Prover {
    /// A name for logs and benchmarks (e.g. the device).
    fn name(&self) -> String;
    /// Computes `C_rounds` of the task (see [`crate::task::TaskParams`]).
    fn compute(&self, task: &Task) -> Result<Vec<u32>, ProverError>;
}

/// A computed result with its row tree: what a node keeps between commitment and opening.
#[derive(Clone, Debug)]
pub struct ProverSession {
    n: u32,
    data: Vec<u32>,
    tree: RowTree,
}

impl ProverSession {
    /// Computes the task with `prover` and builds the row tree.
    pub fn run(prover: &dyn Prover, task: &Task) -> Result<ProverSession, ProverError> {
        let data = prover.compute(task)?;
        ProverSession::from_output(task, data)
    }

    /// Wraps an already computed result (any content: tests build cheaters with it).
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
            data,
            tree,
        })
    }

    /// The commitment to send.
    pub fn commitment(&self) -> Commitment {
        Commitment {
            root: self.tree.root(),
        }
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
