//! [`EpochsApi`]: the epochs canister's calls the validators and the devnet make.

use crate::{IcClient, IcClientExt, IcError};
use candid::Principal;
use emc_epochs::{
    DataChunk, EpochDataHeader, EpochSummary, EpochsError, Payout, Stats, StoredCheckpoint,
};
use emc_types::{Checkpoint, CheckpointSignature, NodeId};
use std::sync::Arc;

/// Typed calls to the epochs canister (`candid/epochs.did`).
#[derive(Clone)]
pub struct EpochsApi {
    client: Arc<dyn IcClient>,
    canister: Principal,
}

impl std::fmt::Debug for EpochsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochsApi")
            .field("canister", &self.canister.to_text())
            .field("caller", &self.client.principal().to_text())
            .finish()
    }
}

impl EpochsApi {
    /// The epochs `canister`, called through `client`.
    pub fn new(client: Arc<dyn IcClient>, canister: Principal) -> Self {
        EpochsApi { client, canister }
    }

    /// The epochs canister's id.
    pub fn canister_id(&self) -> Principal {
        self.canister
    }

    /// The client calls go through.
    pub fn client(&self) -> &Arc<dyn IcClient> {
        &self.client
    }

    /// `submit_checkpoint` (update): a checkpoint with its validators' signatures.
    pub async fn submit_checkpoint(
        &self,
        checkpoint: Checkpoint,
        signatures: Vec<CheckpointSignature>,
    ) -> Result<Result<StoredCheckpoint, EpochsError>, IcError> {
        self.client
            .update_candid(self.canister, "submit_checkpoint", (checkpoint, signatures))
            .await
    }

    /// `latest_checkpoint` (query): the tip.
    pub async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, IcError> {
        self.client
            .query_candid(self.canister, "latest_checkpoint", ())
            .await
    }

    /// `checkpoint` (query): the accepted checkpoint at `height`.
    pub async fn checkpoint(&self, height: u64) -> Result<Option<StoredCheckpoint>, IcError> {
        self.client
            .query_candid(self.canister, "checkpoint", (height,))
            .await
    }

    /// `declare_epoch_data` (update): the header of an epoch's per-node data.
    pub async fn declare_epoch_data(
        &self,
        header: EpochDataHeader,
    ) -> Result<Result<EpochSummary, EpochsError>, IcError> {
        self.client
            .update_candid(self.canister, "declare_epoch_data", (header,))
            .await
    }

    /// `upload_chunk` (update): one chunk of an epoch's records with its Merkle path.
    pub async fn upload_chunk(
        &self,
        chunk: DataChunk,
    ) -> Result<Result<EpochSummary, EpochsError>, IcError> {
        self.client
            .update_candid(self.canister, "upload_chunk", (chunk,))
            .await
    }

    /// `close_epoch` (update).
    pub async fn close_epoch(
        &self,
        epoch: u64,
    ) -> Result<Result<EpochSummary, EpochsError>, IcError> {
        self.client
            .update_candid(self.canister, "close_epoch", (epoch,))
            .await
    }

    /// `run_payouts` (update): plans and mints one payout batch now (and sends pending penalty
    /// batches); the number of payouts attempted.
    pub async fn run_payouts(&self) -> Result<u64, IcError> {
        self.client
            .update_candid(self.canister, "run_payouts", ())
            .await
    }

    /// `epoch_summary` (query).
    pub async fn epoch_summary(&self, epoch: u64) -> Result<Option<EpochSummary>, IcError> {
        self.client
            .query_candid(self.canister, "epoch_summary", (epoch,))
            .await
    }

    /// `stats` (query).
    pub async fn stats(&self) -> Result<Stats, IcError> {
        self.client.query_candid(self.canister, "stats", ()).await
    }

    /// `owner_rewards` (query): the payouts of `owner`'s nodes in `epoch` (at most 1,000).
    pub async fn owner_rewards(
        &self,
        owner: Principal,
        epoch: u64,
    ) -> Result<Vec<Payout>, IcError> {
        self.client
            .query_candid(self.canister, "owner_rewards", (owner, epoch))
            .await
    }

    /// `node_reward` (query): the payout of `node` in `epoch`.
    pub async fn node_reward(&self, node: NodeId, epoch: u64) -> Result<Option<Payout>, IcError> {
        self.client
            .query_candid(self.canister, "node_reward", (node, epoch))
            .await
    }
}
