//! The validator's live status (its status endpoint and metrics read it).

use emc_consensus::Metrics;
use emc_types::NodeId;
use serde::Serialize;

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
    /// Compute receipts routers handed in and queued for proposals.
    pub receipts_recorded: u64,
    /// Compute receipts refused (forged, altered, stale, not monotone).
    pub receipts_refused: u64,
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
    /// Epoch snapshots and closed epochs the application holds (flat over time: closed
    /// epochs go to the anchor, snapshots of closed epochs are dropped).
    pub app_memory: AppMemory,
    /// Consensus counters.
    #[serde(skip)]
    pub consensus: Metrics,
}

fn hex_id<S: serde::Serializer>(id: &NodeId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(id.0))
}

/// What the validators' application holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AppMemory {
    /// Registry snapshots held (the current epoch's and the next one's).
    pub snapshots: usize,
    /// Closed epochs' data not yet handed to the anchor.
    pub closed_epochs: usize,
}
