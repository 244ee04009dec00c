//! Live status shared between a node's tasks, its status endpoint and its metrics.

use emc_consensus::Metrics;
use emc_types::NodeId;
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// A value shared by a node's tasks (cheap to clone; short critical sections only).
#[derive(Debug, Default)]
pub struct Shared<T>(Arc<Mutex<T>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T: Clone> Shared<T> {
    /// Wraps a value.
    pub fn new(v: T) -> Self {
        Shared(Arc::new(Mutex::new(v)))
    }

    /// A copy of the value.
    pub fn get(&self) -> T {
        match self.0.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Changes the value.
    pub fn update(&self, f: impl FnOnce(&mut T)) {
        match self.0.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

/// A validator's status.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ValidatorStatus {
    /// Its node id.
    #[serde(serialize_with = "hex_id")]
    pub id: NodeId,
    /// Last committed height.
    pub height: u64,
    /// Epoch of that height.
    pub epoch: u64,
    /// Round it was decided in.
    pub round: u32,
    /// The round of the height being decided (above 0: round changes are happening).
    pub current_round: u32,
    /// When it was committed, UNIX ns.
    pub last_commit_ns: u64,
    /// Blocks committed by this process.
    pub blocks_committed: u64,
    /// State bits committed by this process.
    pub state_bits: u64,
    /// Live connections.
    pub peers: usize,
    /// Nodes in the registry view.
    pub registered_nodes: usize,
    /// Height of the last checkpoint a quorum signed.
    pub last_checkpoint_ready: Option<u64>,
    /// Height of the IC's latest accepted checkpoint, as last seen.
    pub last_checkpoint_accepted: Option<u64>,
    /// Checkpoints this validator submitted that the IC accepted.
    pub checkpoints_submitted: u64,
    /// Epochs whose data this node saw fully uploaded.
    pub epochs_uploaded: u64,
    /// Last epoch seen closed on the IC.
    pub last_closed_epoch: Option<u64>,
    /// Node rewards minted so far (all nodes), e8s, as last seen.
    pub total_emitted_e8s: u64,
    /// Consensus counters.
    #[serde(skip)]
    pub consensus: Metrics,
}

fn hex_id<S: serde::Serializer>(id: &NodeId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(id.0))
}
